//! Transaction behaviour seen by a real peer, SIPp over UDP: Timer G retransmissions of an
//! un-ACKed final response, and absorption of a retransmitted request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::{Path, PathBuf};
use std::process::Command;

use trunkline_server::{Config, Server, Transport};

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

fn start() -> (tokio::runtime::Runtime, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    cfg.sip.listen = vec!["udp:127.0.0.1:0".parse().unwrap()];
    let server = rt.block_on(Server::start(&cfg)).unwrap();
    (rt, server)
}

/// Runs SIPp once with `scenario` against `port`; returns its message trace.
fn sipp(scenario: &Path, port: u16, tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("trunkline-sipp-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("messages.log");
    // SIPp binds 5060 by default; tests run in parallel, so give each its own free port.
    let local = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let local_port = local.local_addr().unwrap().port();
    drop(local);
    let status = Command::new("sipp")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(scenario)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(["-p", &local_port.to_string()])
        .args(["-trace_msg", "-message_file"])
        .arg(&trace)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sipp is installed (scripts/test installs sip-tester)");
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        status.success(),
        "sipp {} failed ({status}); trace:\n{text}",
        scenario.display()
    );
    text
}

/// (seconds since epoch of the entry, "sent"/"received", first line) for each trace entry.
fn entries(trace: &str) -> Vec<(f64, bool, String)> {
    let mut out = Vec::new();
    let mut lines = trace.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(stamp) = line.strip_prefix("----------------------------------------------- ")
        else {
            continue;
        };
        // "2026-11-22 02:39:23.823978"
        let time = stamp.rsplit(' ').next().unwrap_or("");
        let secs: f64 = time
            .split(':')
            .map(|p| p.parse::<f64>().unwrap_or(0.0))
            .fold(0.0, |acc, v| acc * 60.0 + v);
        let kind = lines.next().unwrap_or("");
        let first = lines
            .by_ref()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        out.push((secs, kind.contains("received"), first));
    }
    out
}

#[test]
fn timer_g_retransmits_the_final_until_the_ack() {
    let (_rt, server) = start();
    let port = server.local_addr(Transport::Udp).unwrap().port();
    let trace = sipp(&scenario("timer_g.xml"), port, "g");
    let e = entries(&trace);
    let finals: Vec<f64> = e
        .iter()
        .filter(|(_, rx, l)| *rx && l.starts_with("SIP/2.0 404"))
        .map(|(t, _, _)| *t)
        .collect();
    let ack = e
        .iter()
        .find(|(_, rx, l)| !*rx && l.starts_with("ACK"))
        .map(|(t, _, _)| *t)
        .expect("SIPp sent the ACK");
    // Before the ACK (3.7 s after the first 404): the 404 and retransmissions after T1, 2·T1
    // and 4·T1 (0.5, 1.0, 2.0 s apart).
    let before: Vec<f64> = finals.iter().copied().filter(|t| *t < ack).collect();
    assert_eq!(
        before.len(),
        4,
        "404 arrivals before the ACK: {before:?}\n{trace}"
    );
    let gaps: Vec<f64> = before.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([0.5, 1.0, 2.0]) {
        assert!(
            (gap - expected).abs() < 0.25,
            "Timer G gaps {gaps:?}, expected 0.5/1.0/2.0 s"
        );
    }
    // After the ACK the transaction is Confirmed: nothing more for the remaining 6 s.
    assert!(
        finals.iter().all(|t| *t < ack),
        "404 retransmitted after the ACK: {finals:?} (ACK at {ack})"
    );
}

#[test]
fn retransmitted_request_is_absorbed() {
    let (_rt, server) = start();
    let port = server.local_addr(Transport::Udp).unwrap().port();
    let trace = sipp(&scenario("retransmit_absorbed.xml"), port, "r");
    // Both answers must be the same bytes: the same To tag means one pass through the core.
    let mut answers = Vec::new();
    let mut current: Option<String> = None;
    for line in trace.lines() {
        if line.starts_with("-----------------") {
            if let Some(c) = current.take() {
                answers.push(c);
            }
            continue;
        }
        if line.starts_with("UDP message received") {
            current = Some(String::new());
            continue;
        }
        if line.starts_with("UDP message sent") {
            continue;
        }
        if let Some(c) = current.as_mut() {
            if c.is_empty() && line.trim().is_empty() {
                continue;
            }
            c.push_str(line);
            c.push('\n');
        }
    }
    if let Some(c) = current.take() {
        answers.push(c);
    }
    let answers: Vec<String> = answers
        .into_iter()
        .filter(|a| a.starts_with("SIP/2.0 200"))
        .collect();
    assert!(answers.len() >= 2, "at least two 200s expected:\n{trace}");
    assert!(
        answers.iter().all(|a| a.trim() == answers[0].trim()),
        "a retransmission was answered differently (processed twice)"
    );
}
