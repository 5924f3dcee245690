//! Issue 19 through the binary: the data directory under umask 022 (finding 2), the secret key
//! file and its rotation, and domains the CLI refuses (finding 1).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, data_dir, free_port, get, ok};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every entry under `dir` (and `dir` itself) with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    out.push((dir.display().to_string(), mode(dir)));
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            modes(&p, out);
        } else {
            out.push((p.display().to_string(), mode(&p)));
        }
    }
}

/// Finding 2: a data dir left world-readable by an older version, and a server started under
/// umask 022. At start every entry is narrowed (with a warning naming it); everything the
/// server creates (database, WAL, location log, nonce and secret keys, control socket, CDR
/// journal) is owner-only.
#[test]
fn data_dir_is_owner_only_under_umask_022() {
    let data = data_dir("perm");
    let old = data.join("left-by-an-old-version.log");
    std::fs::write(&old, "x").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (port, http) = (free_port(), free_port());
    let config = data.join("test.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n"
        ),
    )
    .unwrap();
    let log_path = std::env::temp_dir().join(format!("trunkline-perm-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    // `sh` sets the umask of the server it execs: no unsafe pre_exec in the test.
    let mut child = Command::new("sh")
        .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_trunkline"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("TRUNKLINE_CONFIG")
        .env_remove("TRUNKLINE_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(http, "/readyz", "").map(|r| r.0) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never ready: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Writes through the running server's database and journal, so WAL and segments exist.
    let key = ok(&data, &["apikey", "create", "--role", "admin"]);
    assert_eq!(
        get(http, "/api/v1/cdrs", key.trim()).map(|r| r.0),
        Some(200)
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);

    let mut all = Vec::new();
    modes(&data, &mut all);
    for name in ["trunkline.sqlite", "nonce.key", "secret.key", "cdr-journal"] {
        assert!(
            all.iter().any(|(p, _)| p.ends_with(name)),
            "{name} missing: {all:?}"
        );
    }
    for (path, m) in &all {
        assert_eq!(m & 0o077, 0, "{path} is {m:04o}, readable by others");
    }
    assert_eq!(mode(&data), 0o700);
    assert!(
        log.contains("narrowed to the owner") && log.contains("left-by-an-old-version.log"),
        "no warning naming the old file:\n{log}"
    );
    std::fs::remove_dir_all(&data).unwrap();
}

/// Finding 1 at the CLI: IP literals and localhost are refused with an error naming the
/// field; a DNS name is accepted.
#[test]
fn cli_refuses_addresses_as_domains() {
    let data = data_dir("domains");
    for bad in ["127.0.0.70", "::1", "[::1]", "localhost", "pbx.localhost"] {
        let out = cli(&data, &["domain", "add", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(err.contains("domain.name"), "{bad}: {err}");
    }
    assert!(ok(&data, &["domain", "add", "pbx.example.test"]).contains("domain"));
    std::fs::remove_dir_all(&data).unwrap();
}

/// Finding 2: `secrets rotate` keeps the key file 0600, adds a key, and `--retire` leaves only
/// the newest.
#[test]
fn secrets_rotate_rewrites_the_key_file() {
    let data = data_dir("rotate");
    ok(&data, &["domain", "add", "rotate.example.test"]);
    let file = data.join("secret.key");
    assert_eq!(mode(&file), 0o600);
    let ids = |f: &Path| -> Vec<String> {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| l.split(':').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&file), ["k1"]);
    let out = cli(&data, &["secrets", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a key file rotation prints no key");
    assert_eq!(ids(&file), ["k1", "k2"]);
    assert_eq!(mode(&file), 0o600);
    let out = cli(&data, &["secrets", "rotate", "--retire"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids(&file), ["k3"]);
    assert_eq!(mode(&file), 0o600);
    std::fs::remove_dir_all(&data).unwrap();
}
