//! The proxy against real peers: SIPp callees register with digest auth, SIPp callers
//! authenticate (407) and call through Trunkline; answered calls, CANCEL before answer,
//! forking to two contacts, an unregistered callee (480), a callee on TCP, a caller behind a
//! simulated NAT whose RTP the relay latches onto; and a CDR per call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Served, cdrs, free_port, provision, run_peer};
use trunkline_store::Disposition;

const DOMAIN: &str = "example.test";

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../bench/sipp/{name}.xml"))
}

fn server(name: &str) -> Served {
    let data = common::data_dir(name);
    provision(&data, DOMAIN, 1001..1006);
    Served::start(data, "")
}

/// Registers `user` from 127.0.0.1:`port` over `transport` (`u1` or `t1`).
fn register(s: &Served, user: u32, port: u16, transport: &str) {
    let csv = s.data.join(format!("reg-{user}-{port}.csv"));
    std::fs::write(
        &csv,
        format!(
            "SEQUENTIAL\n{user};{DOMAIN};[authentication username={user} password=secret{user}]\n"
        ),
    )
    .unwrap();
    let target = format!("127.0.0.1:{}", s.port);
    let sf = scenario("register_auth");
    let port = port.to_string();
    let out = run_peer(
        &s.data,
        "sipp",
        &[
            "-sf",
            sf.to_str().unwrap(),
            "-inf",
            csv.to_str().unwrap(),
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            transport,
            "-m",
            "1",
            "-timeout",
            "15s",
            "-nostdin",
            &target,
        ],
        30,
    );
    assert!(
        out.status.success(),
        "registration of {user} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A SIPp callee on `port` running `name`, in the background (ended by `timeout` at worst).
fn callee(s: &Served, name: &str, port: u16, transport: &str) -> Child {
    callee_with(s, name, port, transport, &[])
}

/// [`callee`] with more SIPp arguments.
fn callee_with(s: &Served, name: &str, port: u16, transport: &str, more: &[&str]) -> Child {
    let sf = scenario(name);
    let target = format!("127.0.0.1:{}", s.port);
    Command::new("timeout")
        .args([
            "40",
            "sipp",
            "-sf",
            sf.to_str().unwrap(),
            "-i",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .args([
            "-t",
            transport,
            "-m",
            "1",
            "-timeout",
            "30s",
            "-nostdin",
            "-trace_err",
            "-trace_msg",
        ])
        .args(more)
        .arg(&target)
        .current_dir(&s.data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp could not run; scripts/test installs it")
}

/// Runs the caller scenario `name` as `caller` calling `callee`; whether SIPp succeeded.
fn call(s: &Served, name: &str, caller: u32, callee: u32, hold_ms: u32) -> (bool, String) {
    let csv = s.data.join(format!("call-{caller}-{callee}.csv"));
    std::fs::write(
        &csv,
        format!(
            "SEQUENTIAL\n{caller};{DOMAIN};{callee};[authentication username={caller} password=secret{caller}]\n"
        ),
    )
    .unwrap();
    let sf = scenario(name);
    let target = format!("127.0.0.1:{}", s.port);
    let port = free_port().to_string();
    let d = hold_ms.to_string();
    let out = run_peer(
        &s.data,
        "sipp",
        &[
            "-sf",
            sf.to_str().unwrap(),
            "-inf",
            csv.to_str().unwrap(),
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-m",
            "1",
            "-d",
            &d,
            "-timeout",
            "30s",
            "-nostdin",
            "-trace_err",
            "-trace_msg",
            &target,
        ],
        40,
    );
    let errors = std::fs::read_dir(&s.data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    (
        out.status.success(),
        format!("{}\n{errors}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// Waits for a callee; on failure SIPp's error log from `dir` is printed.
fn wait(mut child: Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}

#[test]
fn an_authenticated_call_connects_and_hangs_up_with_a_cdr() {
    let s = server("proxy-call");
    let port = free_port();
    register(&s, 1002, port, "u1");
    let uas = callee(&s, "answer", port, "u1");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, log) = call(&s, "call_auth", 1001, 1002, 1000);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    assert!(wait(uas), "callee failed; server log:\n{}", s.log());
    common::assert_one_answered_call(&s.data, 900);
    // The call is over; only the INVITE's context stays, for 2xx retransmissions (Timer M).
    std::thread::sleep(Duration::from_secs(6));
    let status = common::ok(&s.data, &["status"]);
    assert!(status.contains("calls 0\nproxied 1\n"), "{status}");
}

#[test]
fn a_sipp_caller_behind_nat_gets_its_rtp_relayed_and_echoed_back() {
    let data = common::data_dir("proxy-rtp-nat");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(data, "[media]\nport_min = 46300\nport_max = 46399\n");
    // Two seconds of PCMU silence (0xFF), which SIPp sends as 20 ms packets.
    let audio = s.data.join("silence.pcmu");
    std::fs::write(&audio, vec![0xffu8; 16_000]).unwrap();
    let (port, media) = (free_port(), free_port());
    register(&s, 1002, port, "u1");
    // The callee echoes every RTP packet back to where it came from (the relay).
    let media = media.to_string();
    let echo = ["-mi", "127.0.0.1", "-mp", &media, "-rtp_echo"];
    let uas = callee_with(&s, "answer", port, "u1", &echo);
    std::thread::sleep(Duration::from_millis(300));
    let (ok, log) = call(&s, "call_rtp_nat", 1001, 1002, 3000);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    assert!(wait(uas), "callee failed; server log:\n{}", s.log());
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows[0].disposition, Disposition::Answered, "{rows:?}");
    // The caller's SDP named 192.0.2.33: only latching onto where its packets really came
    // from let the relay take them; the callee got them from the relay and echoed them.
    let q = rows[0].qos;
    let (rx, tx) = (q.rtp_packets_rx.unwrap_or(0), q.rtp_packets_tx.unwrap_or(0));
    assert!(rx >= 50 && tx >= 50 && tx <= rx, "{q:?}\n{}", s.log());
}

#[test]
fn cancel_before_answer_reaches_the_callee_and_the_caller_gets_487() {
    let s = server("proxy-cancel");
    let port = free_port();
    register(&s, 1002, port, "u1");
    let uas = callee(&s, "ring_cancel", port, "u1");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, log) = call(&s, "cancel_auth", 1001, 1002, 500);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    assert!(wait(uas), "callee failed; server log:\n{}", s.log());
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].disposition, Disposition::Cancelled);
    assert_eq!(rows[0].sip_code, 487);
}

#[test]
fn a_fork_to_two_contacts_connects_one_and_cancels_the_other() {
    let s = server("proxy-fork");
    let (a, b) = (free_port(), free_port());
    register(&s, 1002, a, "u1");
    register(&s, 1002, b, "u1");
    let answers = callee(&s, "answer_late", a, "u1");
    let rings = callee(&s, "ring_cancel", b, "u1");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, log) = call(&s, "call_auth", 1001, 1002, 500);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    assert!(
        wait(answers),
        "answering callee failed; server log:\n{}",
        s.log()
    );
    assert!(
        wait(rings),
        "cancelled callee failed; server log:\n{}",
        s.log()
    );
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].disposition, Disposition::Answered);
}

#[test]
fn a_call_to_an_unregistered_user_gets_480_and_a_no_answer_cdr() {
    let s = server("proxy-480");
    let (ok, log) = call(&s, "call_fails", 1001, 1003, 0);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].disposition, rows[0].sip_code),
        (Disposition::NoAnswer, 480)
    );
}

#[test]
fn a_udp_caller_reaches_a_callee_registered_over_tcp() {
    let s = server("proxy-tcp");
    let csv = s.data.join("reg-tcp.csv");
    std::fs::write(
        &csv,
        format!("SEQUENTIAL\n1002;{DOMAIN};[authentication username=1002 password=secret1002]\n"),
    )
    .unwrap();
    // One SIPp registers over TCP and answers the call (its out-of-call scenario) on the
    // connection it registered on: the only way back to it.
    let (reg, answer) = (scenario("register_hold"), scenario("answer"));
    let target = format!("127.0.0.1:{}", s.port);
    let uas = Command::new("timeout")
        .args([
            "40",
            "sipp",
            "-sf",
            reg.to_str().unwrap(),
            "-oocsf",
            answer.to_str().unwrap(),
        ])
        .args([
            "-inf",
            csv.to_str().unwrap(),
            "-i",
            "127.0.0.1",
            "-t",
            "t1",
            "-m",
            "1",
        ])
        .args(["-timeout", "30s", "-nostdin", "-trace_err", &target])
        .current_dir(&s.data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp could not run; scripts/test installs it");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !common::ok(&s.data, &["location", "list"]).contains("1002@") {
        assert!(
            Instant::now() < deadline,
            "TCP callee never registered:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let binding = common::ok(&s.data, &["location", "list"]);
    assert!(binding.contains("tcp:127.0.0.1"), "{binding}");
    let (ok, log) = call(&s, "call_auth", 1001, 1002, 500);
    assert!(ok, "caller failed: {log}\nserver log:\n{}", s.log());
    assert!(wait(uas), "TCP callee failed; server log:\n{}", s.log());
    // The UDP caller saw both of the proxy's Record-Routes (RFC 5658): TCP side and UDP side.
    let trace: String = (std::fs::read_dir(&s.data).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("call_auth_"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let tcp_rr = format!("<sip:127.0.0.1:{};transport=tcp;lr>", s.port);
    let udp_rr = format!("<sip:127.0.0.1:{};lr>", s.port);
    assert!(
        trace.contains(&tcp_rr) && trace.contains(&udp_rr),
        "{trace}"
    );
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].disposition, Disposition::Answered);
}
