//! The proxy against the scripted user agent (`common::ua`): a UDP caller reaches a callee
//! registered over WebSocket through double Record-Route, and an anonymous caller (RFC 3323)
//! is still authenticated and billed while its identity reaches only trusted hops, and a
//! phone behind NAT gets keep-alives on its pinhole.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::Duration;

use common::ua::{Link, Ua, header, status, uri_of, values};
use common::{Served, cdrs, free_port, provision};
use trunkline_sip::HeaderName;
use trunkline_store::Disposition;

const DOMAIN: &str = "example.test";
const WAIT: Duration = Duration::from_secs(5);
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn ua(link: Link, user: u32) -> Ua {
    Ua::new(link, &user.to_string(), DOMAIN, &format!("secret{user}"))
}

/// An INVITE from `from` (a name-addr with tag) to user `to`, with `extra` headers.
fn invite(caller: &mut Ua, from: &str, to: u32, call_id: &str, extra: &[String]) -> String {
    caller.request(
        "INVITE",
        &format!("sip:{to}@{DOMAIN}"),
        from,
        &format!("<sip:{to}@{DOMAIN}>"),
        call_id,
        extra,
        SDP,
    )
}

#[test]
fn a_udp_caller_reaches_a_callee_registered_over_websocket() {
    let ws = free_port();
    let data = common::data_dir("proxy-ws");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start_listening(data, &[format!("ws:127.0.0.1:{ws}")], "");
    let mut bob = ua(Link::ws(ws), 1002);
    bob.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let from = format!("<sip:1001@{DOMAIN}>;tag=alice1");
    let inv = invite(&mut alice, &from, 1002, "ws-call-1", &[]);
    alice
        .send_with_auth(&inv, "1001")
        .unwrap_or_else(|r| panic!("INVITE not challenged:\n{r}"));

    let got = bob
        .wait_request("INVITE", WAIT)
        .unwrap_or_else(|| panic!("no INVITE over WebSocket; log:\n{}", s.log()));
    // RFC 5658: the proxy records a route on each side, the WebSocket one first as seen here.
    let rr = values(&got, HeaderName::RecordRoute);
    assert_eq!(rr.len(), 2, "{got}");
    assert!(rr[0].contains("transport=ws"), "{rr:?}");
    assert!(!rr[1].contains("transport="), "{rr:?}");
    assert_eq!(header(&got, HeaderName::ProxyAuthorization), None);
    bob.respond(&got, 180, "Ringing", "bob1", "");
    bob.respond(&got, 200, "OK", "bob1", SDP);

    let ok = alice.wait_final(WAIT).expect("no 200 for the caller");
    assert_eq!(status(&ok), 200, "{ok}");
    // The caller sees the same two Record-Routes; reversed, its route set starts on UDP.
    let mut routes = values(&ok, HeaderName::RecordRoute);
    assert_eq!(routes, rr, "{ok}");
    routes.reverse();
    let target = uri_of(&header(&ok, HeaderName::Contact).unwrap());
    let to = header(&ok, HeaderName::To).unwrap();
    let invite_cseq = trunkline_sip::Message::parse(ok.as_bytes())
        .unwrap()
        .cseq()
        .unwrap()
        .seq;
    let ack = alice.dialog_request(
        "ACK",
        &target,
        &routes,
        &from,
        &to,
        "ws-call-1",
        Some(invite_cseq),
    );
    alice.send(&ack);
    bob.wait_request("ACK", WAIT)
        .unwrap_or_else(|| panic!("the ACK did not reach the WebSocket callee:\n{}", s.log()));

    // The callee hangs up over its connection, by the route set in the INVITE.
    let bob_target = uri_of(&header(&got, HeaderName::Contact).unwrap());
    let bob_from = format!("{};tag=bob1", header(&got, HeaderName::To).unwrap());
    let bob_to = header(&got, HeaderName::From).unwrap();
    let bye = bob.dialog_request(
        "BYE",
        &bob_target,
        &values(&got, HeaderName::RecordRoute),
        &bob_from,
        &bob_to,
        "ws-call-1",
        None,
    );
    bob.send(&bye);
    let bye_in = alice
        .wait_request("BYE", WAIT)
        .unwrap_or_else(|| panic!("the BYE did not reach the caller:\n{}", s.log()));
    alice.respond(&bye_in, 200, "OK", "alice1", "");
    let done = bob.wait_final(WAIT).expect("no 200 for the BYE");
    assert_eq!(status(&done), 200, "{done}");

    let rows = cdrs(&s.data, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].disposition, Disposition::Answered);
    assert_eq!(rows[0].hangup_reason, "callee_bye");
}

#[test]
fn an_anonymous_caller_is_authenticated_and_its_identity_stays_in_the_trust_domain() {
    let data = common::data_dir("proxy-privacy");
    provision(&data, DOMAIN, 1001..1004);
    // 127.0.0.2 is a trusted next hop (say a PBX of the operator's); 127.0.0.1 is not.
    let s = Served::start(data, "[guard]\ntrusted = [\"127.0.0.2/32\"]\n");
    let mut bob = ua(Link::udp_from([127, 0, 0, 2], s.port), 1002);
    bob.register();
    let mut carol = ua(Link::udp(s.port), 1003);
    carol.register();
    let mut alice = ua(Link::udp(s.port), 1001);
    let from = "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=anon1";
    let private = [
        "Privacy: id; header".to_owned(),
        format!("P-Preferred-Identity: <sip:1001@{DOMAIN}>"),
        "User-Agent: Alice's phone 1.0".to_owned(),
        "Organization: Alice Inc.".to_owned(),
    ];

    // To the trusted hop: the real identity is asserted; the preferred one is consumed.
    let inv = invite(&mut alice, from, 1002, "anon-call-1", &private);
    let sent = alice
        .send_with_auth(&inv, "1001")
        .unwrap_or_else(|r| panic!("an anonymous INVITE must be challenged:\n{r}"));
    let got = bob
        .wait_request("INVITE", WAIT)
        .unwrap_or_else(|| panic!("no INVITE at the trusted callee; log:\n{}", s.log()));
    assert!(
        header(&got, HeaderName::From)
            .unwrap()
            .contains("anonymous.invalid")
    );
    let asserted = header(&got, HeaderName::PAssertedIdentity).unwrap_or_default();
    assert!(asserted.contains(&format!("sip:1001@{DOMAIN}")), "{got}");
    assert_eq!(header(&got, HeaderName::PPreferredIdentity), None, "{got}");
    bob.respond(&got, 486, "Busy Here", "bob1", "");
    let busy = alice.wait_final(WAIT).expect("no 486 for the caller");
    assert_eq!(status(&busy), 486, "{busy}");
    alice.send(&common::ua::ack_for(&sent, &busy));

    // To an untrusted hop: no asserted identity, none of the headers Privacy hides.
    let inv = invite(&mut alice, from, 1003, "anon-call-2", &private);
    let sent = alice.send_with_auth(&inv, "1001").unwrap();
    let got = carol
        .wait_request("INVITE", WAIT)
        .unwrap_or_else(|| panic!("no INVITE at the untrusted callee; log:\n{}", s.log()));
    for hidden in [
        HeaderName::PAssertedIdentity,
        HeaderName::PPreferredIdentity,
        HeaderName::UserAgent,
        HeaderName::Organization,
    ] {
        assert_eq!(
            header(&got, hidden),
            None,
            "{} leaked:\n{got}",
            hidden.as_str()
        );
    }
    carol.respond(&got, 486, "Busy Here", "carol1", "");
    let busy = alice.wait_final(WAIT).expect("no 486 for the caller");
    alice.send(&common::ua::ack_for(&sent, &busy));

    // An anonymous caller may not prefer someone else's identity.
    let mut forged = private.clone();
    forged[1] = format!("P-Preferred-Identity: <sip:1003@{DOMAIN}>");
    let inv = invite(&mut alice, from, 1002, "anon-call-3", &forged);
    alice.send_with_auth(&inv, "1001").unwrap();
    let refused = alice
        .wait_final(WAIT)
        .expect("no answer to a forged identity");
    assert_eq!(status(&refused), 403, "{refused}");

    // Both calls are billed to the authenticated caller.
    let rows = cdrs(&s.data, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for c in &rows {
        assert_eq!(c.caller, format!("1001@{DOMAIN}"), "{c:?}");
        assert_eq!(c.disposition, Disposition::Busy, "{c:?}");
    }
}

#[test]
fn a_phone_behind_nat_gets_keepalives_through_its_pinhole() {
    let data = common::data_dir("proxy-natping");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(data, "[proxy]\nnat_ping_interval_secs = 2\n");
    // Its Contact names a private address; the REGISTER comes from another (the NAT's).
    let mut natted = ua(Link::udp(s.port), 1001);
    natted.contact_override = Some("<sip:1001@192.168.1.20:5060>".to_owned());
    natted.register();
    let mut direct = ua(Link::udp(s.port), 1002);
    direct.register();
    let ping = natted
        .wait_request("OPTIONS", WAIT)
        .unwrap_or_else(|| panic!("no keep-alive to the NATed phone; log:\n{}", s.log()));
    assert!(
        ping.starts_with("OPTIONS sip:1001@192.168.1.20:5060 SIP/2.0\r\n"),
        "{ping}"
    );
    natted.respond(&ping, 200, "OK", "ka", "");
    // The next one comes an interval later; the phone that is not behind NAT gets none.
    assert!(natted.wait_request("OPTIONS", WAIT).is_some());
    assert_eq!(direct.wait_request("OPTIONS", Duration::from_secs(3)), None);
    assert!(!s.log().contains("ERROR"), "{}", s.log());
}

/// A SIPp UAS answering one call on TCP `port` (it listens; nothing connects to it yet).
fn tcp_answerer(dir: &std::path::Path, port: u16) -> std::process::Child {
    let sf =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/sipp/answer.xml");
    std::process::Command::new("timeout")
        .args(["30", "sipp", "-sf"])
        .arg(sf)
        .args(["-t", "t1", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-m", "1", "-timeout", "25s", "-nostdin", "-trace_err"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp could not run; scripts/test installs it")
}

/// An INVITE from `from` straight to the TCP address 127.0.0.1:`port`.
fn to_address(caller: &mut Ua, from: &str, port: u16, call_id: &str) -> String {
    let target = format!("sip:pbx@127.0.0.1:{port};transport=tcp");
    caller.request(
        "INVITE",
        &target,
        from,
        &format!("<{target}>"),
        call_id,
        &[],
        SDP,
    )
}

#[test]
fn the_proxy_connects_over_tcp_to_an_address_no_connection_goes_to() {
    let data = common::data_dir("proxy-dial");
    let customer = provision(&data, DOMAIN, 1001..1002);
    // A PBX trunk customer: its subscribers may call an address (issue 19: nobody else may).
    let s = Served::start(data, &format!("[proxy]\nrelay_customers = [{customer}]\n"));
    let pbx = free_port();
    let mut uas = tcp_answerer(&s.data, pbx);
    std::thread::sleep(Duration::from_millis(500));
    let mut alice = ua(Link::udp(s.port), 1001);
    let from = format!("<sip:1001@{DOMAIN}>;tag=dial1");
    let inv = to_address(&mut alice, &from, pbx, "dial-1");
    alice
        .send_with_auth(&inv, "1001")
        .unwrap_or_else(|r| panic!("INVITE not challenged:\n{r}"));
    let ok = alice
        .wait_final(WAIT)
        .unwrap_or_else(|| panic!("no answer over the new TCP connection; log:\n{}", s.log()));
    assert_eq!(status(&ok), 200, "{ok}");
    // Double Record-Route: TCP towards the PBX, UDP towards the caller.
    let mut routes = values(&ok, HeaderName::RecordRoute);
    assert_eq!(routes.len(), 2, "{ok}");
    assert!(routes[0].contains("transport=tcp"), "{routes:?}");
    routes.reverse();
    let contact = uri_of(&header(&ok, HeaderName::Contact).unwrap());
    let to = header(&ok, HeaderName::To).unwrap();
    let ack = alice.dialog_request("ACK", &contact, &routes, &from, &to, "dial-1", Some(2));
    alice.send(&ack);
    let bye = alice.dialog_request("BYE", &contact, &routes, &from, &to, "dial-1", None);
    alice.send(&bye);
    let done = alice.wait_final(WAIT).expect("no answer to the BYE");
    assert_eq!(status(&done), 200, "{done}");
    let deadline = std::time::Instant::now() + WAIT;
    let exit = loop {
        if let Some(st) = uas.try_wait().unwrap() {
            break Some(st);
        }
        if std::time::Instant::now() > deadline {
            let _ = uas.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        exit.is_some_and(|e| e.success()),
        "the TCP callee failed; log:\n{}",
        s.log()
    );

    // Nobody listening: the branch fails when the connect does, not after Timer B.
    let closed = free_port();
    let inv = to_address(&mut alice, &from, closed, "dial-2");
    alice.send_with_auth(&inv, "1001").unwrap();
    let failed = alice
        .wait_final(WAIT)
        .expect("no answer for an unreachable TCP address");
    assert!(status(&failed) >= 400, "{failed}");

    let rows = cdrs(&s.data, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].disposition, Disposition::Answered, "{rows:?}");
    assert_eq!(rows[0].hangup_reason, "caller_bye", "{rows:?}");
    assert_ne!(rows[1].disposition, Disposition::Answered, "{rows:?}");
}

/// Issue 19 finding 3: an authenticated subscriber cannot use the proxy as an open relay,
/// neither with a Request-URI naming a host nor with a pre-loaded Route; a UAS listening there
/// never sees the INVITE.
#[test]
fn a_subscriber_cannot_relay_to_a_host_or_through_a_preloaded_route() {
    let data = common::data_dir("proxy-relay");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(data, "");
    let target = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port = target.local_addr().unwrap().port();
    let mut alice = ua(Link::udp(s.port), 1001);
    let from = format!("<sip:1001@{DOMAIN}>;tag=relay1");
    let host = format!("sip:x@127.0.0.1:{port}");
    let bob = format!("sip:1002@{DOMAIN}");
    // A Request-URI naming a host; then a pre-loaded Route to the same place, with a
    // Request-URI of a local user.
    let attempts = [
        (host.as_str(), "relay-1", Vec::new()),
        (
            bob.as_str(),
            "relay-2",
            vec![format!("Route: <sip:127.0.0.1:{port};lr>")],
        ),
    ];
    for (ruri, call_id, extra) in attempts {
        let to = format!("<{ruri}>");
        let inv = alice.request("INVITE", ruri, &from, &to, call_id, &extra, SDP);
        alice
            .send_with_auth(&inv, "1001")
            .unwrap_or_else(|r| panic!("INVITE not challenged:\n{r}"));
        let refused = alice.wait_final(WAIT).expect("no answer");
        assert_eq!(status(&refused), 403, "{call_id}: {refused}");
    }
    let mut buf = [0u8; 2048];
    assert!(
        target.recv_from(&mut buf).is_err(),
        "the INVITE was relayed; log:\n{}",
        s.log()
    );
}

/// Issue 20 (inbound): a source that is neither a carrier, a trusted source nor an
/// authenticated subscriber reaches no telephone number. A DID of ours, with or without its
/// `+`, and any other number get the same 403, and the DID's registered phone never rings.
#[test]
fn a_stranger_reaches_no_telephone_number() {
    let data = common::data_dir("proxy-did");
    provision(&data, DOMAIN, 1001..1003);
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_trunkline"))
        .args([
            "did",
            "add",
            "+493012345678",
            "--to",
            &format!("1002@{DOMAIN}"),
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(added.status.success(), "did add: {added:?}");
    let s = Served::start(data, "");
    let mut bob = ua(Link::udp(s.port), 1002);
    bob.register();
    let mut stranger = Ua::new(Link::udp(s.port), "mallory", "elsewhere.test", "none");
    for (n, number) in ["+493012345678", "493012345678", "+14155550100"]
        .into_iter()
        .enumerate()
    {
        let ruri = format!("sip:{number}@{DOMAIN}");
        let from = format!("<sip:mallory@elsewhere.test>;tag=m{n}");
        let to = format!("<{ruri}>");
        let call_id = format!("stranger-{n}");
        let inv = stranger.request("INVITE", &ruri, &from, &to, &call_id, &[], SDP);
        stranger.send(&inv);
        let answer = stranger.wait_final(WAIT).expect("no answer");
        assert_eq!(status(&answer), 403, "{number}: {answer}");
    }
    assert!(
        bob.wait_request("INVITE", Duration::from_millis(300))
            .is_none(),
        "the DID's phone rang; log:\n{}",
        s.log()
    );
    // The same DID dialled by a subscriber rings the phone.
    let mut alice = ua(Link::udp(s.port), 1001);
    let ruri = format!("sip:+493012345678@{DOMAIN}");
    let from = format!("<sip:1001@{DOMAIN}>;tag=sub1");
    let inv = alice.request(
        "INVITE",
        &ruri,
        &from,
        &format!("<{ruri}>"),
        "sub-1",
        &[],
        SDP,
    );
    alice
        .send_with_auth(&inv, "1001")
        .unwrap_or_else(|r| panic!("INVITE not challenged:\n{r}"));
    assert!(
        bob.wait_request("INVITE", WAIT).is_some(),
        "the subscriber's call did not ring the DID's phone; log:\n{}",
        s.log()
    );
}
