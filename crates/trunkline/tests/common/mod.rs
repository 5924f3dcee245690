//! What the binary's tests share: a `trunkline serve` child on throw-away ports and data dir,
//! the admin CLI against that data dir, and the real SIP peers' command lines.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code may panic

pub mod baresip;
pub mod tone;
pub mod ua;

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port free on UDP and TCP right now. Four digits: sipsak 0.9.8 truncates a five-digit
/// port in the Request-URI it builds from `-s` (sip:127.0.0.1:35499 goes out as ...:3549).
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let seed = (std::process::id() % 3000) as u16;
    loop {
        let step = NEXT.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
        let port = 6000 + seed.wrapping_add(step) % 3999;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

/// A fresh data directory under the system temp dir, removed by [`Served`]'s drop.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trunkline-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the admin CLI against `data`.
pub fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TRUNKLINE_CONFIG")
        .output()
        .unwrap()
}

/// [`cli`] that must succeed; its standard output.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = cli(data, args);
    assert!(
        out.status.success(),
        "trunkline {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A plain HTTP/1.1 GET; status and body.
pub fn get(port: u16, path: &str, key: &str) -> Option<(u16, String)> {
    http(port, "GET", path, key)
}

/// A plain HTTP/1.1 request without a body; status and body.
pub fn http(port: u16, method: &str, path: &str, key: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// A running `trunkline serve` (our own child: ended by PID on drop).
pub struct Served {
    child: Option<Child>,
    /// SIP port (UDP and TCP).
    pub port: u16,
    /// HTTP port.
    pub http: u16,
    /// The data directory.
    pub data: PathBuf,
    /// Listeners besides UDP and TCP on `port`, e.g. `ws:127.0.0.1:5066`.
    listen_more: Vec<String>,
    /// Extra TOML appended to the generated config.
    extra: String,
    /// Keep the data directory when dropped (the caller owns it).
    keep_data: bool,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop_child(false);
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

impl Served {
    /// Starts a server on `data` with SIP on udp+tcp 127.0.0.1 and `extra` TOML sections.
    pub fn start(data: PathBuf, extra: &str) -> Served {
        Self::start_listening(data, &[], extra)
    }

    /// Like [`Served::start`], with more listeners (`listen` entries) besides UDP and TCP.
    pub fn start_listening(data: PathBuf, listen_more: &[String], extra: &str) -> Served {
        let mut s = Served {
            child: None,
            port: free_port(),
            http: free_port(),
            data,
            listen_more: listen_more.to_vec(),
            extra: extra.to_owned(),
            keep_data: false,
        };
        s.spawn();
        s
    }

    /// Starts a server with its own data directory named after `name`.
    pub fn new(name: &str, extra: &str) -> Served {
        Self::start(data_dir(name), extra)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("serve.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let more: String = (self.listen_more.iter())
            .map(|l| format!(", \"{l}\""))
            .collect();
        let config = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{p}\", \"tcp:127.0.0.1:{p}\"{more}]\n\
             [http]\nlisten = \"127.0.0.1:{h}\"\n{extra}\n",
            p = self.port,
            h = self.http,
            extra = self.extra
        );
        let file = self.data.join("test.toml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("serve.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_trunkline"))
            .args(["serve", "--config"])
            .arg(&file)
            .arg("--data-dir")
            .arg(&self.data)
            .env_remove("TRUNKLINE_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while get(self.http, "/readyz", "").map(|r| r.0) != Some(200) {
            if started.elapsed() > Duration::from_secs(20) {
                panic!(
                    "trunkline serve never became ready; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_child(&mut self, hard: bool) {
        if let Some(mut child) = self.child.take() {
            if hard {
                let _ = child.kill(); // SIGKILL: nothing gets a chance to flush
            } else {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// `kill -9` and start again on the same data directory and ports.
    pub fn kill9_and_restart(&mut self) {
        self.stop_child(true);
        self.spawn();
    }

    /// Sends SIGTERM or SIGINT and waits up to 10 s; the exit status, `None` if it hung.
    pub fn signal_and_wait(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Keeps the data directory after drop.
    pub fn keep_data(&mut self) {
        self.keep_data = true;
    }
}

/// Runs `program` with `args` in `dir`, bounded by `timeout_secs` (it stops itself; `timeout`
/// ends it if it does not).
pub fn run_peer(dir: &Path, program: &str, args: &[&str], timeout_secs: u32) -> Output {
    Command::new("timeout")
        .arg(timeout_secs.to_string())
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}); scripts/test installs it"))
}

/// Runs `work` on the data dir's database (its own single-thread runtime), then closes it.
fn with_store<T, F: std::future::Future<Output = T>>(
    data: &Path,
    work: impl FnOnce(trunkline_store::Store) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store =
            trunkline_store::Store::connect(&data.join("trunkline.sqlite").to_string_lossy())
                .await
                .unwrap();
        work(store).await
    })
}

/// A customer with `domain` and users `n` (password `secret{n}`) for every `n` in `users`,
/// written to the data dir's database before the server starts.
/// Returns the customer's tenant id.
pub fn provision(data: &Path, domain: &str, users: std::ops::Range<u32>) -> i64 {
    with_store(data, |store| async move {
        let ctx = trunkline_store::Ctx::new(trunkline_store::Scope::Platform, "test");
        let name = trunkline_store::TenantName::parse("acme").unwrap();
        let customer = store
            .create_tenant(
                &ctx,
                trunkline_store::TenantKind::Customer,
                store.platform_id(),
                &name,
            )
            .await
            .unwrap();
        let domain = trunkline_store::DomainName::parse(domain).unwrap();
        let d = store
            .create_domain(&ctx, customer.id, &domain)
            .await
            .unwrap();
        for n in users {
            let user = trunkline_store::NewUser::new(
                d.id,
                trunkline_store::Username::parse(&n.to_string()).unwrap(),
                trunkline_store::Password::parse(&format!("secret{n}")).unwrap(),
            );
            store.create_user(&ctx, &user).await.unwrap();
        }
        store.close().await;
        customer.id.0
    })
}

/// The CDRs in the data dir's database, once `n` are there (the journal delivers them).
pub fn cdrs(data: &Path, n: usize) -> Vec<trunkline_store::Cdr> {
    with_store(data, |store| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = trunkline_store::Page {
                after: None,
                limit: 100,
            };
            let rows = store
                .list_cdrs(
                    trunkline_store::Scope::Platform,
                    &trunkline_store::CdrFilter::default(),
                    page,
                )
                .await
                .unwrap();
            if rows.len() >= n || Instant::now() > deadline {
                store.close().await;
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// The one CDR of a test: an answered call 1001 → 1002 ended by the caller, lasting at least
/// `min_billsec_ms`.
pub fn assert_one_answered_call(data: &Path, min_billsec_ms: i64) {
    let rows = cdrs(data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let c = &rows[0];
    assert_eq!(c.disposition, trunkline_store::Disposition::Answered);
    assert_eq!(
        (c.caller.as_str(), c.callee.as_str()),
        ("1001@example.test", "1002@example.test")
    );
    assert_eq!(c.hangup_reason, "caller_bye");
    assert!(c.billsec_ms >= min_billsec_ms, "{c:?}");
}
