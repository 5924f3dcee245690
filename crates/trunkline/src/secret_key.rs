//! Where the key that seals secrets at rest comes from: `TRUNKLINE_SECRET_KEY` (the keyring's
//! text, for set-ups that inject secrets through the environment), else the key file
//! `data.secret_key_file` (default `<data.dir>/secret.key`), created with mode 0600 at first
//! start. The key is never in the database, so a copy of the database alone reveals no carrier
//! password; keep the file out of database backups. `trunkline secrets rotate` replaces it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use trunkline_server::Config;
use trunkline_store::Keyring;

/// The environment variable that holds the keyring's text instead of a file.
pub const ENV: &str = "TRUNKLINE_SECRET_KEY";

/// Where the keyring lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// [`ENV`].
    Env,
    /// A key file.
    File(PathBuf),
}

/// Where `config` says the keyring lives.
pub fn source(config: &Config) -> Source {
    if std::env::var_os(ENV).is_some() {
        return Source::Env;
    }
    Source::File(match config.data.secret_key_file.as_os_str().is_empty() {
        true => config.data.dir.join("secret.key"),
        false => config.data.secret_key_file.clone(),
    })
}

/// Loads the keyring; a missing key file is created with a fresh key (mode 0600).
pub fn load(config: &Config) -> anyhow::Result<Arc<Keyring>> {
    match source(config) {
        Source::Env => {
            let text = std::env::var(ENV).with_context(|| format!("{ENV} is not UTF-8"))?;
            Ok(Arc::new(Keyring::parse(&text, ENV)?))
        }
        Source::File(path) => load_file(&path).map(Arc::new),
    }
}

fn load_file(path: &Path) -> anyhow::Result<Keyring> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keyring = Keyring::generate()?;
            write_new(path, &keyring.to_text())?;
            tracing::info!(path = %path.display(), "created the secret key file; back it up apart from the database");
            Ok(keyring)
        }
        Err(e) => Err(e).with_context(|| format!("secret key file {}", path.display())),
        Ok(meta) => {
            if !meta.is_file() {
                bail!("secret key file {} is not a regular file", path.display());
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("secret key file {}: cannot chmod", path.display()))?;
                tracing::warn!(path = %path.display(), was = format!("{mode:04o}"), "secret key file was readable by other users; narrowed to 0600");
            }
            let text = fs::read_to_string(path)
                .with_context(|| format!("secret key file {}", path.display()))?;
            Ok(Keyring::parse(&text, &path.display().to_string())?)
        }
    }
}

/// Writes a key file that must not exist yet, 0600 from its first byte.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write the secret key file {}", path.display()))
}

/// Replaces the key file with `keyring` atomically (a 0600 temporary file renamed over it), so
/// a crash leaves the old file or the new one, never half of either.
pub fn replace(path: &Path, keyring: &Keyring) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, &keyring.to_text())?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot replace the secret key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_0600_and_reread() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secret.key");
        let a = load_file(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let b = load_file(&path).unwrap();
        assert_eq!(a.to_text(), b.to_text());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        load_file(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let next = b.rotated().unwrap();
        replace(&path, &next).unwrap();
        assert_eq!(load_file(&path).unwrap().current_id(), "k2");
        fs::write(&path, "k1:short\n").unwrap();
        let e = load_file(&path).unwrap_err().to_string();
        assert!(e.contains("secret.key") && !e.contains("short"), "{e}");
    }
}
