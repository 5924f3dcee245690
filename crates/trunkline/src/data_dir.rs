//! The data directory's permissions: it holds users' HA1s (enough to register as them), the
//! nonce key, the secret key, the location log, recordings and CDRs, so nobody but the
//! server's own user may read anything in it, whatever umask the process was started with.
//!
//! New files: the process umask is 0o077 from the start of `main`, so every file and directory
//! the server, SQLite, the CDR journal or the recorder creates is 0600 / 0700. Old files: at
//! start every entry under the directory that grants group or other any access is narrowed,
//! with a warning naming it (a data dir made by an older version under umask 022).

use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;

/// The umask the process runs with: no access for group and other.
pub const UMASK: u32 = 0o077;

/// Sets the process umask to [`UMASK`].
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
}

/// Creates `dir` (mode 0700) if missing, then narrows the permissions of it and of everything
/// under it to the owner (directories 0700, other entries 0600 or less), warning for each
/// entry it had to change.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("data.dir: cannot create {}", dir.display()))?;
    narrow(dir, 0)
}

/// How deep [`narrow`] follows subdirectories (the data dir nests two levels today).
const MAX_DEPTH: usize = 8;

fn narrow(path: &Path, depth: usize) -> anyhow::Result<()> {
    // symlink_metadata: a link is never followed out of the data dir, nor its target changed.
    let meta = fs::symlink_metadata(path)
        .with_context(|| format!("data.dir: cannot inspect {}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = match meta.is_dir() {
        true => 0o700,
        false => mode & 0o600,
    };
    if mode & 0o077 != 0 || (meta.is_dir() && mode != wanted) {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted)).with_context(|| {
            format!(
                "data.dir: {} is mode {mode:04o} (readable by others) and cannot be changed",
                path.display()
            )
        })?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{mode:04o}"),
            now = format!("{wanted:04o}"),
            "data dir entry was accessible to other users; narrowed to the owner"
        );
    }
    if meta.is_dir() && depth < MAX_DEPTH {
        let entries = fs::read_dir(path)
            .with_context(|| format!("data.dir: cannot list {}", path.display()))?;
        for entry in entries {
            let entry =
                entry.with_context(|| format!("data.dir: cannot list {}", path.display()))?;
            narrow(&entry.path(), depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn existing_entries_are_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let sub = dir.join("cdr-journal");
        fs::create_dir_all(&sub).unwrap();
        let db = dir.join("trunkline.sqlite");
        let seg = sub.join("cdr-1.log");
        let exe = dir.join("hook");
        for (p, m) in [(&db, 0o644), (&seg, 0o666), (&exe, 0o755)] {
            fs::write(p, b"x").unwrap();
            fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        }
        for d in [&dir, &sub] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&seg), 0o600);
        assert_eq!(mode(&exe), 0o600);
        let fresh = tmp.path().join("fresh/nested");
        prepare(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }
}
