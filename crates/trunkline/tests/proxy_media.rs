//! The proxy with its in-process media relay (`[media]`): a caller whose SDP names an address
//! it does not send from (a phone behind NAT) gets its call anchored, each side's SDP names
//! the relay, RTP flows both ways through it (latched to the caller's real address), the
//! live call listing and the CDR carry the relay's figures, the caller's recording setting
//! gets the call recorded to a stereo WAV; a call whose media stops is ended by the proxy
//! with a BYE to both parties; a settled call's streams go through the kernel with the same
//! figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::ua::{Link, Ua, header, status, uri_of, values};
use common::{Served, cdrs, provision};
use trunkline_sdp::Sdp;
use trunkline_sip::HeaderName;
use trunkline_store::Disposition;

const DOMAIN: &str = "example.test";
const WAIT: Duration = Duration::from_secs(5);

fn ua(link: Link, user: u32) -> Ua {
    Ua::new(link, &user.to_string(), DOMAIN, &format!("secret{user}"))
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// The audio address a message's SDP names.
fn media_of(msg: &str) -> SocketAddr {
    let body = msg.split("\r\n\r\n").nth(1).expect("a body");
    let sdp = Sdp::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {msg}"));
    sdp.streams()[0].rtp.expect("an audio stream")
}

fn rtp_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

/// Sends 20 PCMU packets of SSRC `ssrc`, each sample `byte`, from `from` to `to`; `peer`
/// must get each one from `relay_out`.
fn talk(from: &UdpSocket, to: SocketAddr, peer: &UdpSocket, relay_out: SocketAddr, ssrc: u32) {
    let mut buf = [0u8; 512];
    let byte = (ssrc & 0xff) as u8;
    for seq in 0..20u16 {
        let packet = trunkline_rtp::Header {
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
            marker: false,
            payload_len: 160,
        }
        .write(&[byte; 160]);
        from.send_to(&packet, to).unwrap();
        let (n, src) = peer
            .recv_from(&mut buf)
            .expect("the packet went through the relay");
        assert_eq!((&buf[..n], src), (&packet[..], relay_out));
    }
}

/// A call set up between `alice` (whose SDP names `alice_sdp`) and `bob` (media on
/// `bob_rtp`): the INVITE as bob got it and the 200 as alice got it.
struct Call {
    from: String,
    invite: String,
    ok: String,
}

fn set_up(
    s: &Served,
    alice: &mut Ua,
    bob: &mut Ua,
    call_id: &str,
    alice_sdp: &str,
    bob_rtp: SocketAddr,
) -> Call {
    let from = format!("<sip:1001@{DOMAIN}>;tag=a-{call_id}");
    let inv = alice.request(
        "INVITE",
        &format!("sip:1002@{DOMAIN}"),
        &from,
        &format!("<sip:1002@{DOMAIN}>"),
        call_id,
        &[],
        alice_sdp,
    );
    alice
        .send_with_auth(&inv, "1001")
        .unwrap_or_else(|r| panic!("INVITE not challenged:\n{r}"));
    let invite = bob
        .wait_request("INVITE", WAIT)
        .unwrap_or_else(|| panic!("no INVITE for the callee; log:\n{}", s.log()));
    let answer = sdp("127.0.0.1", bob_rtp.port());
    bob.respond(&invite, 200, "OK", &format!("b-{call_id}"), &answer);
    let ok = alice.wait_final(WAIT).expect("no 200 for the caller");
    assert_eq!(status(&ok), 200, "{ok}");
    let mut routes = values(&ok, HeaderName::RecordRoute);
    routes.reverse();
    let target = uri_of(&header(&ok, HeaderName::Contact).unwrap());
    let to = header(&ok, HeaderName::To).unwrap();
    let cseq = trunkline_sip::Message::parse(ok.as_bytes())
        .unwrap()
        .cseq()
        .unwrap()
        .seq;
    let ack = alice.dialog_request("ACK", &target, &routes, &from, &to, call_id, Some(cseq));
    alice.send(&ack);
    bob.wait_request("ACK", WAIT)
        .expect("the ACK reaches the callee");
    Call { from, invite, ok }
}

/// Alice ends `call` (Call-ID `call_id`) with a BYE along its route set; Bob answers it.
fn hang_up(alice: &mut Ua, bob: &mut Ua, call: &Call, call_id: &str) {
    let target = uri_of(&header(&call.ok, HeaderName::Contact).unwrap());
    let mut routes = values(&call.ok, HeaderName::RecordRoute);
    routes.reverse();
    let to = header(&call.ok, HeaderName::To).unwrap();
    let bye = alice.dialog_request("BYE", &target, &routes, &call.from, &to, call_id, None);
    alice.send(&bye);
    let got = bob
        .wait_request("BYE", WAIT)
        .expect("the BYE reaches the callee");
    bob.respond(&got, 200, "OK", &format!("b-{call_id}"), "");
    assert_eq!(status(&alice.wait_final(WAIT).unwrap()), 200);
}

/// `trunkline media` as our child (ended by PID on drop), ng on 127.0.0.1:`ng`.
struct MediaNode {
    child: std::process::Child,
    data: std::path::PathBuf,
}

impl MediaNode {
    fn start(ng: u16) -> MediaNode {
        let data = common::data_dir("media-node");
        let config = data.join("media.toml");
        let text = format!(
            "[media]\nng_listen = \"127.0.0.1:{ng}\"\nport_min = 46600\nport_max = 46699\n\
             timeout_secs = 3\n"
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(data.join("media.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_trunkline"))
            .args(["media", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("TRUNKLINE_CONFIG")
            .stderr(log)
            .spawn()
            .unwrap();
        let node = MediaNode { child, data };
        // Ready when it answers an ng ping.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 64];
        loop {
            probe
                .send_to(b"p1 d7:command4:pinge", ("127.0.0.1", ng))
                .unwrap();
            if probe
                .recv(&mut buf)
                .is_ok_and(|n| buf[..n].windows(4).any(|w| w == b"pong"))
            {
                return node;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no media node:\n{}",
                node.log()
            );
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("media.log")).unwrap_or_default()
    }
}

impl Drop for MediaNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

const MEDIA: &str = "[media]\nport_min = 46000\nport_max = 46099\n";

#[test]
fn a_caller_behind_nat_is_anchored_latched_and_its_call_measured() {
    let data = common::data_dir("proxy-media-nat");
    provision(&data, DOMAIN, 1001..1003);
    common::ok(
        &data,
        &["user", "set", "1001@example.test", "--record", "true"],
    );
    let s = Served::start(data, MEDIA);
    let mut bob = ua(Link::udp(s.port), 1002);
    bob.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let (alice_rtp, bob_rtp) = (rtp_socket(), rtp_socket());
    // Alice's SDP names a private address she cannot be reached at: she is behind NAT.
    let offer = sdp("192.168.1.20", 4000);
    let call = set_up(
        &s,
        &mut alice,
        &mut bob,
        "media-nat-1",
        &offer,
        bob_rtp.local_addr().unwrap(),
    );

    let to_bob = media_of(&call.invite);
    let to_alice = media_of(&call.ok);
    for a in [to_bob, to_alice] {
        assert_eq!(a.ip().to_string(), "127.0.0.1", "the relay's address");
        assert!(
            (46000..=46099).contains(&a.port()),
            "a port of the range: {a}"
        );
    }
    assert_ne!(to_bob.port(), to_alice.port());

    // Alice first (her packets teach the relay her real address), then Bob back to her;
    // their samples are 0x80 and 0x00 (G.711 µ-law full scale, + and −).
    talk(&alice_rtp, to_alice, &bob_rtp, to_bob, 0xa1180);
    talk(&bob_rtp, to_bob, &alice_rtp, to_alice, 0xb0b00);

    let live = common::ok(&s.data, &["calls"]);
    assert!(
        live.contains("media-nat-1") && live.contains("answered"),
        "{live}"
    );
    assert!(live.contains("relayed: caller 20 pkts 0 lost"), "{live}");
    assert!(live.contains("; recording"), "{live}");
    // The same through the API, for an operator's key.
    let key = common::ok(&s.data, &["apikey", "create", "--role", "admin"]);
    let (code, body) = common::get(s.http, "/api/v1/calls", key.trim()).unwrap();
    assert_eq!(code, 200, "{body}");
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed = &calls["items"][0];
    assert_eq!(listed["call_id"], "media-nat-1", "{body}");
    assert_eq!(
        (listed["relayed"].as_bool(), listed["state"].as_str()),
        (Some(true), Some("answered"))
    );
    assert_eq!(listed["caller_media"]["packets"], 20, "{body}");
    assert_eq!(listed["callee_media"]["packets"], 20, "{body}");
    // Another customer sees none of it; the parties' customer sees it, read-only.
    common::ok(&s.data, &["tenant", "add", "other"]);
    let other = common::ok(
        &s.data,
        &["apikey", "create", "--role", "admin", "--tenant", "other"],
    );
    let (_, body) = common::get(s.http, "/api/v1/calls", other.trim()).unwrap();
    assert_eq!(body, r#"{"items":[]}"#);
    let path = "/api/v1/calls/media-nat-1/recording";
    let (code, _) = common::http(s.http, "POST", path, other.trim()).unwrap();
    assert_eq!(code, 404, "not visible, so not found");
    let acme = [
        "apikey",
        "create",
        "--role",
        "read-only",
        "--tenant",
        "acme",
    ];
    let reader = common::ok(&s.data, &acme);
    let (_, body) = common::get(s.http, "/api/v1/calls", reader.trim()).unwrap();
    assert!(body.contains("media-nat-1"), "{body}");
    let (code, _) = common::http(s.http, "POST", path, reader.trim()).unwrap();
    assert_eq!(code, 403, "read-only");

    hang_up(&mut alice, &mut bob, &call, "media-nat-1");

    let rows = cdrs(&s.data, 1);
    assert_eq!(rows[0].disposition, Disposition::Answered, "{rows:?}");
    let q = &rows[0].qos;
    assert_eq!(
        (q.rtp_packets_rx, q.rtp_packets_tx, q.rtp_lost),
        (Some(20), Some(20), Some(0)),
        "{q:?}"
    );
    assert!(q.mos_x100.is_some_and(|m| m > 400), "{q:?}");
    // Alice records her calls: both directions, one per channel of a stereo WAV.
    let wav = rows[0].recording.clone().expect("a recording in the CDR");
    assert!(
        wav.ends_with(".wav") && wav.contains("/recordings/"),
        "{wav}"
    );
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(
        (&bytes[..4], u16::from_le_bytes([bytes[22], bytes[23]])),
        (&b"RIFF"[..], 2)
    );
    let frames: Vec<(i16, i16)> = (bytes[44..].chunks_exact(4))
        .map(|c| {
            (
                i16::from_le_bytes([c[0], c[1]]),
                i16::from_le_bytes([c[2], c[3]]),
            )
        })
        .collect();
    let left = frames.iter().filter(|f| f.0 == 32124).count();
    let right = frames.iter().filter(|f| f.1 == -32124).count();
    assert_eq!(
        (left, right),
        (3200, 3200),
        "20 packets of 160 samples on each side"
    );
    // The relay let the call go: its ports take no more media.
    alice_rtp
        .send_to(&trunkline_rtp::Header::pcmu(0xa11ce, 99), to_alice)
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        bob_rtp.recv_from(&mut buf).is_err(),
        "nothing relayed after the BYE"
    );
}

/// Nothing comes to `peer` from `from` through the relay at `to` for a short while.
fn unheard(from: &UdpSocket, to: SocketAddr, peer: &UdpSocket) {
    from.send_to(&trunkline_rtp::Header::pcmu(0x5117, 1), to)
        .unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        peer.recv_from(&mut buf).is_err(),
        "relayed, and should not be"
    );
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
}

#[test]
fn a_forked_call_gives_each_phone_its_own_ports_and_keeps_the_answerer() {
    let data = common::data_dir("proxy-media-fork");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(
        data,
        "[media]\nmode = \"always\"\nport_min = 46700\nport_max = 46799\n",
    );
    // Bob has two phones: the INVITE forks to both.
    let (mut desk, mut mobile) = (ua(Link::udp(s.port), 1002), ua(Link::udp(s.port), 1002));
    desk.register();
    mobile.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let (alice_rtp, desk_rtp, mobile_rtp) = (rtp_socket(), rtp_socket(), rtp_socket());
    let call_id = "media-fork-1";
    let from = format!("<sip:1001@{DOMAIN}>;tag=a-{call_id}");
    let offer = sdp("127.0.0.1", alice_rtp.local_addr().unwrap().port());
    let inv = alice.request(
        "INVITE",
        &format!("sip:1002@{DOMAIN}"),
        &from,
        &format!("<sip:1002@{DOMAIN}>"),
        call_id,
        &[],
        &offer,
    );
    alice.send_with_auth(&inv, "1001").unwrap();
    let mut invites = Vec::new();
    for phone in [&mut desk, &mut mobile] {
        let got = (phone.wait_request("INVITE", WAIT))
            .unwrap_or_else(|| panic!("no INVITE for a phone; log:\n{}", s.log()));
        invites.push(got);
    }
    let (to_desk, to_mobile) = (media_of(&invites[0]), media_of(&invites[1]));
    assert_ne!(to_desk, to_mobile, "each phone is offered ports of its own");

    // Both ring with early media; the mobile's 183 comes last, so it is the one heard.
    let early = |phone: &mut Ua, invite: &str, tag: &str, rtp: &UdpSocket| {
        let answer = sdp("127.0.0.1", rtp.local_addr().unwrap().port());
        phone.respond(invite, 183, "Session Progress", tag, &answer);
    };
    early(&mut desk, &invites[0], "desk", &desk_rtp);
    let progress = |alice: &mut Ua| {
        let got = alice.wait_for(WAIT, |m| status(m) == 183).expect("a 183");
        media_of(&got)
    };
    let to_alice = progress(&mut alice);
    early(&mut mobile, &invites[1], "mobile", &mobile_rtp);
    assert_eq!(
        progress(&mut alice),
        to_alice,
        "one port towards the caller"
    );
    talk(&mobile_rtp, to_mobile, &alice_rtp, to_alice, 0x3001);
    talk(&alice_rtp, to_alice, &mobile_rtp, to_mobile, 0xa1);
    unheard(&desk_rtp, to_desk, &alice_rtp);

    // The desk phone answers: it is heard from now on, the mobile's ports close.
    let answer = sdp("127.0.0.1", desk_rtp.local_addr().unwrap().port());
    desk.respond(&invites[0], 200, "OK", "desk", &answer);
    let ok = alice.wait_final(WAIT).expect("the 200");
    assert_eq!((status(&ok), media_of(&ok)), (200, to_alice), "{ok}");
    let cancel = (mobile.wait_request("CANCEL", WAIT)).expect("the mobile stops ringing");
    mobile.respond(&cancel, 200, "OK", "mobile", "");
    mobile.respond(&invites[1], 487, "Request Terminated", "mobile", "");
    let mut routes = values(&ok, HeaderName::RecordRoute);
    routes.reverse();
    let target = uri_of(&header(&ok, HeaderName::Contact).unwrap());
    let to = header(&ok, HeaderName::To).unwrap();
    let cseq = (trunkline_sip::Message::parse(ok.as_bytes()).unwrap().cseq())
        .unwrap()
        .seq;
    let ack = alice.dialog_request("ACK", &target, &routes, &from, &to, call_id, Some(cseq));
    alice.send(&ack);
    desk.wait_request("ACK", WAIT)
        .expect("the desk gets the ACK");
    talk(&desk_rtp, to_desk, &alice_rtp, to_alice, 0xde5c);
    talk(&alice_rtp, to_alice, &desk_rtp, to_desk, 0xa2);
    unheard(&mobile_rtp, to_mobile, &alice_rtp);

    let call = Call {
        from,
        invite: invites.remove(0),
        ok,
    };
    hang_up(&mut alice, &mut desk, &call, call_id);
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows[0].disposition, Disposition::Answered, "{rows:?}");
    let q = &rows[0].qos;
    assert_eq!(
        (q.rtp_packets_rx, q.rtp_packets_tx),
        (Some(20), Some(20)),
        "each side's latest stream (SSRC): the caller's second, the answering phone's: {q:?}"
    );
}

#[test]
fn a_call_whose_media_stops_is_ended_with_a_bye_to_both_parties() {
    let data = common::data_dir("proxy-media-timeout");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(
        data,
        "[media]\nmode = \"always\"\nport_min = 46100\nport_max = 46199\ntimeout_secs = 2\n",
    );
    let mut bob = ua(Link::udp(s.port), 1002);
    bob.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let (alice_rtp, bob_rtp) = (rtp_socket(), rtp_socket());
    let offer = sdp("127.0.0.1", alice_rtp.local_addr().unwrap().port());
    let call = set_up(
        &s,
        &mut alice,
        &mut bob,
        "media-stop-1",
        &offer,
        bob_rtp.local_addr().unwrap(),
    );
    let (to_bob, to_alice) = (media_of(&call.invite), media_of(&call.ok));
    assert!(
        (46100..=46199).contains(&to_bob.port()),
        "always relayed: {to_bob}"
    );
    // Nobody records this call until the operator asks for it, through the API.
    let key = common::ok(&s.data, &["apikey", "create", "--role", "admin"]);
    let key = key.trim();
    let (code, _) = common::http(s.http, "POST", "/api/v1/calls/nope/recording", key).unwrap();
    assert_eq!(code, 404);
    let (code, body) =
        common::http(s.http, "POST", "/api/v1/calls/media-stop-1/recording", key).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"recording\":true"), "{body}");
    talk(&alice_rtp, to_alice, &bob_rtp, to_bob, 0xff);

    // Then nothing: within the timeout (2 s) and the proxy's next tick, both get a BYE.
    for (party, tag) in [(&mut alice, "a-media-stop-1"), (&mut bob, "b-media-stop-1")] {
        let bye = party
            .wait_request("BYE", Duration::from_secs(8))
            .unwrap_or_else(|| panic!("no BYE for {}; log:\n{}", party.user, s.log()));
        let reason = bye.lines().find(|l| l.starts_with("Reason:"));
        assert!(reason.is_some_and(|r| r.contains("media timeout")), "{bye}");
        party.respond(&bye, 200, "OK", tag, "");
    }
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows[0].hangup_reason, "media_timeout", "{rows:?}");
    assert_eq!(rows[0].qos.rtp_packets_rx, Some(20));
    let wav = rows[0]
        .recording
        .clone()
        .expect("recorded since the API asked");
    assert!(std::fs::metadata(&wav).is_ok_and(|m| m.len() > 44), "{wav}");
    let live = common::ok(&s.data, &["calls"]);
    assert!(!live.contains("media-stop-1"), "{live}");
}

/// The relay's in-kernel fast path took the call's streams, where it could load: required
/// when `TRUNKLINE_TEST_BPF` is set (CI), else only when the log says it loaded.
fn fast_path_expected(s: &Served) -> bool {
    let loaded = s.log().contains("forwarded in the kernel");
    if std::env::var_os("TRUNKLINE_TEST_BPF").is_some() {
        assert!(loaded, "TRUNKLINE_TEST_BPF is set: {}", s.log());
    }
    loaded
}

#[test]
fn a_settled_call_goes_through_the_kernel_keeps_its_figures_and_still_times_out() {
    let data = common::data_dir("proxy-media-kernel");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(
        data,
        "[media]\nmode = \"always\"\nport_min = 46800\nport_max = 46899\ntimeout_secs = 2\n",
    );
    let kernel = fast_path_expected(&s);
    let mut bob = ua(Link::udp(s.port), 1002);
    bob.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let (alice_rtp, bob_rtp) = (rtp_socket(), rtp_socket());
    let offer = sdp("127.0.0.1", alice_rtp.local_addr().unwrap().port());
    let call_id = "media-kernel-1";
    let call = set_up(
        &s,
        &mut alice,
        &mut bob,
        call_id,
        &offer,
        bob_rtp.local_addr().unwrap(),
    );
    let (to_bob, to_alice) = (media_of(&call.invite), media_of(&call.ok));
    // Both talk at once, a packet every 20 ms each, for 3 s: longer than the media timeout,
    // so a relay that missed what the kernel forwarded would end the call meanwhile.
    let mut buf = [0u8; 512];
    for seq in 0..150u16 {
        for (from, to, peer, out, ssrc) in [
            (&alice_rtp, to_alice, &bob_rtp, to_bob, 0xa1u32),
            (&bob_rtp, to_bob, &alice_rtp, to_alice, 0xb0),
        ] {
            let packet = trunkline_rtp::Header::pcmu(ssrc, seq);
            from.send_to(&packet, to).unwrap();
            let (n, src) = peer.recv_from(&mut buf).expect("relayed");
            assert_eq!((&buf[..n], src), (&packet[..], out));
        }
        std::thread::sleep(Duration::from_millis(20));
        if seq == 20 && kernel {
            let live = common::ok(&s.data, &["calls"]);
            assert_eq!(live.matches("(kernel)").count(), 2, "{live}");
        }
    }
    assert!(
        alice
            .wait_request("BYE", Duration::from_millis(100))
            .is_none(),
        "a call that talks is not timed out; log:\n{}",
        s.log()
    );
    if kernel {
        let key = common::ok(&s.data, &["apikey", "create", "--role", "admin"]);
        let (code, body) = common::get(s.http, "/api/v1/calls", key.trim()).unwrap();
        assert_eq!(code, 200, "{body}");
        let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
        let listed = &calls["items"][0];
        assert_eq!(listed["caller_media"]["kernel"], true, "{body}");
        assert_eq!(listed["callee_media"]["kernel"], true, "{body}");
        assert_eq!(listed["caller_media"]["packets"], 150, "{body}");
    }
    // Then silence: the timeout ends it with a BYE to both.
    for (party, tag) in [
        (&mut alice, "a-media-kernel-1"),
        (&mut bob, "b-media-kernel-1"),
    ] {
        let bye = party
            .wait_request("BYE", Duration::from_secs(8))
            .unwrap_or_else(|| panic!("no BYE for {}; log:\n{}", party.user, s.log()));
        party.respond(&bye, 200, "OK", tag, "");
    }
    let rows = cdrs(&s.data, 1);
    assert_eq!(rows[0].hangup_reason, "media_timeout", "{rows:?}");
    let q = &rows[0].qos;
    assert_eq!(
        (q.rtp_packets_rx, q.rtp_packets_tx, q.rtp_lost),
        (Some(150), Some(150), Some(0)),
        "{q:?}"
    );
}

#[test]
fn a_remote_media_node_relays_the_proxys_calls_over_ng() {
    // A media node (`trunkline media`: the relay and its ng listener only) and a SIP node
    // that uses it.
    let ng = common::free_port();
    let node = MediaNode::start(ng);
    let data = common::data_dir("proxy-media-remote");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(
        data,
        &format!("[media]\nnodes = [\"127.0.0.1:{ng}\"]\ntimeout_secs = 3\n"),
    );
    let mut bob = ua(Link::udp(s.port), 1002);
    bob.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let (alice_rtp, bob_rtp) = (rtp_socket(), rtp_socket());
    let offer = sdp("192.168.1.20", 4000);
    let bob_at = bob_rtp.local_addr().unwrap();
    let call = set_up(&s, &mut alice, &mut bob, "media-remote-1", &offer, bob_at);
    let (to_bob, to_alice) = (media_of(&call.invite), media_of(&call.ok));
    for a in [to_bob, to_alice] {
        assert!(
            (46600..=46699).contains(&a.port()),
            "the node's port range: {a}"
        );
    }
    talk(&alice_rtp, to_alice, &bob_rtp, to_bob, 0xa11ff);
    // Recording asked of the SIP node happens at the media node.
    let key = common::ok(&s.data, &["apikey", "create", "--role", "admin"]);
    let path = "/api/v1/calls/media-remote-1/recording";
    let (code, body) = common::http(s.http, "POST", path, key.trim()).unwrap();
    assert_eq!(code, 200, "{body}");
    let live = common::ok(&s.data, &["calls"]);
    assert!(
        live.contains("media-remote-1") && live.contains("; recording"),
        "{live}"
    );
    std::thread::sleep(Duration::from_millis(200)); // the node gets the request
    talk(&bob_rtp, to_bob, &alice_rtp, to_alice, 0xb0bff);

    hang_up(&mut alice, &mut bob, &call, "media-remote-1");
    // The node's figures reach the SIP node's CDR through the delete reply.
    let rows = cdrs(&s.data, 1);
    let q = &rows[0].qos;
    assert_eq!(
        (q.rtp_packets_rx, q.rtp_packets_tx, q.rtp_lost),
        (Some(20), Some(20), Some(0)),
        "{q:?}\n{}",
        node.log()
    );
    assert!(q.mos_x100.is_some_and(|m| m > 400), "{q:?}");
    assert_eq!(
        rows[0].recording, None,
        "the node keeps the file; its log names it"
    );
    let day = std::fs::read_dir(node.data.join("recordings"))
        .ok()
        .and_then(|mut d| d.next()?.ok())
        .unwrap_or_else(|| panic!("no recording at the node:\n{}", node.log()));
    let files: Vec<_> = std::fs::read_dir(day.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // A second call whose media stops: the proxy's queries show the node's figures live,
    // then the node drops the silent call (its timeout, 3 s) and the proxy ends it with a
    // BYE to both parties.
    let offer = sdp("192.168.1.20", 4002);
    let call = set_up(&s, &mut alice, &mut bob, "media-remote-2", &offer, bob_at);
    let (to_bob, to_alice) = (media_of(&call.invite), media_of(&call.ok));
    talk(&alice_rtp, to_alice, &bob_rtp, to_bob, 0xa12);
    let figures = "relayed: caller 20 pkts 0 lost";
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let live = loop {
        let live = common::ok(&s.data, &["calls"]);
        if live.contains(figures) || std::time::Instant::now() > deadline {
            break live;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(live.contains(figures), "{live}");
    for (party, tag) in [
        (&mut alice, "a-media-remote-2"),
        (&mut bob, "b-media-remote-2"),
    ] {
        let bye = (party.wait_request("BYE", Duration::from_secs(10))).unwrap_or_else(|| {
            panic!(
                "no BYE for {}; log:\n{}\nnode:\n{}",
                party.user,
                s.log(),
                node.log()
            )
        });
        assert!(bye.contains("media timeout"), "{bye}");
        party.respond(&bye, 200, "OK", tag, "");
    }
    let rows = cdrs(&s.data, 2);
    let row = (rows.iter().find(|r| r.call_id == "media-remote-2")).expect("its CDR");
    assert_eq!(row.hangup_reason, "media_timeout", "{rows:?}");
    assert_eq!(
        row.qos.rtp_packets_rx,
        Some(20),
        "the node's last figures: {rows:?}"
    );
}
