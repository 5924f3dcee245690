//! Interop: Kamailio 5.6 (Debian) with its rtpengine module anchors a call's media at a
//! Trunkline media node (`[media] ng_listen`). The scripted UAs call through Kamailio; each
//! side's SDP names the relay, and RTP sent by each reaches the other through it; Kamailio's
//! `start_recording()` has the node record the call, and its `$rtpstat` (an ng `query`) shows
//! the node's figures when the call ends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ua::{Link, Ua, header, status, uri_of, values};
use common::{Served, free_port};
use trunkline_sip::HeaderName;

const WAIT: Duration = Duration::from_secs(5);

/// Kamailio as our child; SIGTERM on drop (it ends its own worker processes).
struct Kamailio(Child);

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// The audio port an SDP body (at the end of `msg`) names.
fn audio_port(msg: &str) -> u16 {
    let line = msg
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("no m=audio");
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Sends 20 RTP packets from `from` to `to`; how many `at` received.
fn rtp_flows(from: &UdpSocket, to: u16, at: &UdpSocket, ssrc: u32) -> usize {
    for seq in 0..20 {
        from.send_to(&trunkline_rtp::Header::pcmu(ssrc, seq), ("127.0.0.1", to))
            .unwrap();
    }
    at.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 512];
    let mut got = 0;
    while let Ok(n) = at.recv(&mut buf) {
        if n == 172 && buf[8..12] == ssrc.to_be_bytes() {
            got += 1;
        }
    }
    got
}

#[test]
fn kamailio_anchors_media_at_a_trunkline_media_node() {
    let ng = free_port();
    let s = Served::new(
        "kamailio-rtpengine",
        &format!("[media]\nng_listen = \"127.0.0.1:{ng}\"\nport_min = 46400\nport_max = 46499\n"),
    );
    let kam_port = free_port();
    let mut bob = Ua::new(Link::udp(kam_port), "bob", "example.test", "x");
    let mut alice = Ua::new(Link::udp(kam_port), "alice", "example.test", "x");
    let cfg = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/kamailio/rtpengine.cfg");
    let log = std::fs::File::create(s.data.join("kamailio.log")).unwrap();
    let _kamailio = Kamailio(
        Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-A"])
            .arg(format!("CALLEE=\"sip:{}\"", bob.address()))
            .arg("-A")
            .arg(format!("NG=\"udp:127.0.0.1:{ng}\""))
            .arg("-A")
            .arg(format!("CTL=\"unix:{}\"", s.data.join("kam.ctl").display()))
            .arg("-l")
            .arg(format!("udp:127.0.0.1:{kam_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio could not run; scripts/test installs it"),
    );
    let kam_log = || std::fs::read_to_string(s.data.join("kamailio.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kam_log().contains("support for it enabled") {
        assert!(
            Instant::now() < deadline,
            "Kamailio never found the media node:\n{}",
            kam_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let media_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = "<sip:alice@example.test>;tag=a1";
    let offer = sdp(media_a.local_addr().unwrap().port());
    let inv = alice.request(
        "INVITE",
        "sip:bob@example.test",
        from,
        "<sip:bob@example.test>",
        "kam-1",
        &[],
        &offer,
    );
    alice.send(&inv);
    let got = bob
        .wait_request("INVITE", WAIT)
        .unwrap_or_else(|| panic!("no INVITE through Kamailio:\n{}", kam_log()));
    let to_relay_from_b = audio_port(&got);
    assert!(
        (46400..=46499).contains(&to_relay_from_b),
        "the callee's SDP names the relay:\n{got}"
    );
    bob.respond(
        &got,
        200,
        "OK",
        "b1",
        &sdp(media_b.local_addr().unwrap().port()),
    );
    let ok = alice
        .wait_final(WAIT)
        .unwrap_or_else(|| panic!("no 200:\n{}", kam_log()));
    assert_eq!(status(&ok), 200, "{ok}");
    let to_relay_from_a = audio_port(&ok);
    assert!(
        (46400..=46499).contains(&to_relay_from_a),
        "the caller's SDP names the relay:\n{ok}"
    );
    assert_ne!(to_relay_from_a, to_relay_from_b);

    let mut routes = values(&ok, HeaderName::RecordRoute);
    routes.reverse();
    let target = uri_of(&header(&ok, HeaderName::Contact).unwrap());
    let to = header(&ok, HeaderName::To).unwrap();
    let ack = alice.dialog_request("ACK", &target, &routes, from, &to, "kam-1", Some(1));
    alice.send(&ack);

    // Media both ways through the relay.
    assert!(
        rtp_flows(&media_a, to_relay_from_a, &media_b, 1) >= 15,
        "caller → callee"
    );
    assert!(
        rtp_flows(&media_b, to_relay_from_b, &media_a, 2) >= 15,
        "callee → caller"
    );

    let bye = alice.dialog_request("BYE", &target, &routes, from, &to, "kam-1", None);
    alice.send(&bye);
    let bye_in = bob.wait_request("BYE", WAIT).expect("no BYE at the callee");
    bob.respond(&bye_in, 200, "OK", "b1", "");
    let done = alice.wait_final(WAIT).expect("no 200 for the BYE");
    assert_eq!(status(&done), 200, "{done}");
    let log = kam_log();
    assert!(!log.contains("ERROR"), "{log}");
    // 20 packets of 172 bytes each way, as the relay counted them.
    assert!(
        log.contains("rtpstat kam-1: RTP: 6880 bytes, 40 packets, 0 errors; RTCP: 0 bytes"),
        "{log}"
    );
    // The delete's reply filled Kamailio's MOS pseudo-variables: a clean G.711 call scores
    // above 4 overall and for each party (found by the label its offer or answer gave it).
    let mos = log
        .lines()
        .find(|l| l.contains("mos kam-1: "))
        .unwrap_or_else(|| panic!("no MOS line:\n{log}"));
    let value = |key: &str| -> f64 {
        let rest = mos.split(&format!("{key} ")).nth(1).unwrap_or("");
        rest.split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(0.0)
    };
    assert!(value("average") > 4.0, "{mos}");
    assert_eq!(value("loss"), 0.0, "{mos}");
    assert_eq!(value("samples"), 1.0, "{mos}");
    assert!(value("caller") > 4.0 && value("callee") > 4.0, "{mos}");
    // The node recorded the call for Kamailio, both directions in one stereo WAV.
    let rec = s.data.join("recordings");
    let wav = std::fs::read_dir(&rec)
        .ok()
        .and_then(|mut days| days.next()?.ok())
        .and_then(|day| std::fs::read_dir(day.path()).ok()?.next()?.ok())
        .map(|f| f.path())
        .unwrap_or_else(|| panic!("no recording in {}:\n{}", rec.display(), s.log()));
    assert_eq!(wav.extension().and_then(|e| e.to_str()), Some("wav"));
    // The recording thread completes the file just after the delete.
    let deadline = Instant::now() + Duration::from_secs(3);
    let len = || std::fs::metadata(&wav).map_or(0, |m| m.len());
    while len() <= 44 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(len() > 44, "{} bytes", len());
}
