//! `trunkline serve` as an operator runs it: real sockets, a real SIP peer (sipsak), and a
//! clean exit on SIGTERM and SIGINT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on UDP and TCP right now. Four digits: sipsak 0.9.8 truncates a five-digit
/// port in the Request-URI it builds from `-s` (sip:127.0.0.1:35499 goes out as ...:3549).
fn free_port() -> u16 {
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

struct Served {
    child: Child,
    port: u16,
    _data: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let port = free_port();
    let data = std::env::temp_dir().join(format!(
        "trunkline-serve-test-{}-{port}",
        std::process::id()
    ));
    let child = Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--sip-listen", &format!("udp:127.0.0.1:{port}")])
        .args(["--sip-listen", &format!("tcp:127.0.0.1:{port}")])
        .args(["--http-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
        .spawn()
        .unwrap();
    let log = data.with_extension("log");
    let served = Served {
        child,
        port,
        _data: data,
    };
    if !wait_until_answering(port) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("trunkline serve did not answer OPTIONS on port {port}; its log:\n{text}");
    }
    served
}

fn options(port: u16, local: std::net::SocketAddr) -> Vec<u8> {
    format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bKready\r\n\
From: <sip:t@example.test>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ready@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// True once the server answers an OPTIONS, false after 20 s without an answer.
fn wait_until_answering(port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let msg = options(port, sock.local_addr().unwrap());
        sock.send_to(&msg, ("127.0.0.1", port)).unwrap();
        if let Ok(n) = sock.recv(&mut buf)
            && buf[..n].starts_with(b"SIP/2.0 200")
        {
            return true;
        }
    }
    false
}

fn sipsak(args: &[&str]) -> std::process::Output {
    Command::new("sipsak")
        .args(args)
        .output()
        .expect("sipsak is installed (scripts/test installs it; apt-get install sipsak)")
}

#[test]
fn sipsak_options_gets_200_over_udp_and_tcp() {
    let s = serve();
    let target = format!("sip:127.0.0.1:{}", s.port);
    for transport in [&[][..], &["-E", "tcp"][..]] {
        let mut args = transport.to_vec();
        args.extend(["-vv", "-s", &target]);
        let out = sipsak(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "sipsak {args:?} failed: {text}");
        assert!(text.contains("SIP/2.0 200 OK"), "sipsak {args:?}: {text}");
        assert!(text.contains("Allow: "), "{text}");
    }
}

fn stops_cleanly_on(signal: &str) {
    let mut s = serve();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIG{signal}: {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_cleanly() {
    stops_cleanly_on("TERM");
}

#[test]
fn sigint_stops_cleanly() {
    stops_cleanly_on("INT");
}
