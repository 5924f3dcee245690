//! `trunkline serve` as an operator runs it: real sockets, a real SIP peer (sipsak), and a
//! clean exit on SIGTERM and SIGINT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

fn serve() -> Served {
    let s = Served::new("serve-test", "");
    assert!(
        wait_until_answering(s.port),
        "trunkline serve did not answer OPTIONS on port {}; its log:\n{}",
        s.port,
        s.log()
    );
    s
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
    match s.signal_and_wait(signal) {
        Some(status) => assert!(status.success(), "exit status after SIG{signal}: {status}"),
        None => panic!("still running 10 s after SIG{signal}"),
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
