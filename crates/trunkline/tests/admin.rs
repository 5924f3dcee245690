//! The admin CLI against the data dir while `trunkline serve` runs on it: every change is
//! visible to the running server's signalling snapshot without a restart, and the latency from
//! CLI start to visibility is measured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Served {
    child: Child,
    http: u16,
    data: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TRUNKLINE_CONFIG")
        .output()
        .unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = cli(data, args);
    assert!(
        out.status.success(),
        "trunkline {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A plain HTTP/1.1 GET; returns status and body.
fn get(port: u16, path: &str, key: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn serve() -> Served {
    let data = std::env::temp_dir().join(format!(
        "trunkline-admin-test-{}-{}",
        std::process::id(),
        free_tcp_port()
    ));
    std::fs::create_dir_all(&data).unwrap();
    let http = free_tcp_port();
    let child = Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--sip-listen", "udp:127.0.0.1:0"])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .env_remove("TRUNKLINE_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let served = Served { child, http, data };
    let started = Instant::now();
    while get(http, "/readyz", "").map(|r| r.0) != Some(200) {
        if started.elapsed() > Duration::from_secs(20) {
            let log = std::fs::read_to_string(served.data.join("serve.log")).unwrap_or_default();
            panic!("trunkline serve never became ready; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    served
}

fn users_in_snapshot(port: u16, key: &str) -> u64 {
    let (status, body) = get(port, "/api/v1/status", key).unwrap();
    assert_eq!(status, 200, "{body}");
    let key = "\"users\":";
    let at = body.find(key).unwrap() + key.len();
    body[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cli_changes_reach_the_running_server() {
    let s = serve();
    let d = &s.data;
    assert!(ok(d, &["domain", "add", "example.test"]).contains("domain"));
    let key = ok(d, &["apikey", "create", "--role", "admin"])
        .trim()
        .to_owned();
    assert!(key.starts_with("tlk_"), "{key}");

    let mut latencies = Vec::new();
    for i in 0..5 {
        let aor = format!("{}@example.test", 1001 + i);
        let started = Instant::now();
        ok(d, &["user", "add", &aor, "--password", "secret1001"]);
        let cli_done = started.elapsed();
        while users_in_snapshot(s.http, &key) < i + 1 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{aor} never reached the server"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push((started.elapsed(), started.elapsed() - cli_done));
    }
    latencies.sort();
    let (total, after_commit) = latencies[latencies.len() / 2];
    println!(
        "CLI → running server's snapshot: median {total:?} from CLI start ({after_commit:?} after the CLI exited), max {:?}",
        latencies[latencies.len() - 1].0
    );

    // The rest of the operator's flow.
    ok(
        d,
        &["did", "add", "+4930123456", "--to", "1001@example.test"],
    );
    let list = ok(d, &["user", "list"]);
    assert_eq!(list.lines().count(), 5, "{list}");
    assert!(list.contains("1001@example.test\tenabled"), "{list}");
    assert!(ok(d, &["did", "list"]).contains("+4930123456\tcustomer 2\t→ 1001@example.test"));
    ok(d, &["user", "del", "1005@example.test"]);
    let started = Instant::now();
    while users_in_snapshot(s.http, &key) != 4 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "delete never reached the server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ok(d, &["apikey", "list"]).contains("admin\tactive"));

    // Mistakes are refused with a message naming what is wrong, and exit non-zero.
    for (args, expect) in [
        (
            vec![
                "user",
                "add",
                "1001@example.test",
                "--password",
                "secret1001",
            ],
            "already exists",
        ),
        (
            vec![
                "user",
                "add",
                "1009@nowhere.test",
                "--password",
                "secret1001",
            ],
            "domain nowhere.test not found",
        ),
        (
            vec!["user", "add", "1009@example.test", "--password", "short"],
            "user.password",
        ),
        (
            vec!["user", "add", "no-at-sign", "--password", "secret1001"],
            "user@domain",
        ),
        (
            vec!["did", "add", "4930", "--to", "1001@example.test"],
            "did.e164",
        ),
        (vec!["domain", "del", "example.test"], "conflict"),
    ] {
        let out = cli(d, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(
            !err.contains("secret1001"),
            "secrets are never echoed: {err}"
        );
    }
}
