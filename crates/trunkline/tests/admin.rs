//! The admin CLI against the data dir while `trunkline serve` runs on it: every change is
//! visible to the running server's signalling snapshot without a restart, and the latency from
//! CLI start to visibility is measured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::{Duration, Instant};

use common::{Served, cli, get, ok};

fn serve() -> Served {
    Served::new("admin-test", "")
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
