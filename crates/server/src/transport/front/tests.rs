use super::*;
use crate::config::Config;

fn door() -> FrontDoor {
    let mut cfg = Config::default().sip;
    cfg.listen = vec!["udp:127.0.0.1:5070".parse().unwrap()];
    cfg.aliases = vec!["sip.example.test".into()];
    FrontDoor::new(&cfg)
}

const SRC: &str = "192.0.2.9:40000";

fn request(start: &str, extra: &str, via: &str) -> Vec<u8> {
    format!(
        "{start}\r\nVia: {via}\r\nFrom: <sip:a@example.test>;tag=f\r\nTo: <sip:b@example.test>\r\n\
Call-ID: c1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        method = start.split(' ').next().unwrap()
    )
    .into_bytes()
}

fn reply(bytes: &[u8]) -> Reply {
    match door().handle(bytes, SRC.parse().unwrap(), Transport::Udp) {
        Outcome::Reply(r) => r,
        Outcome::Drop(why) => panic!("dropped: {why}"),
        Outcome::Route => panic!("handle() never routes"),
    }
}

const VIA: &str = "SIP/2.0/UDP 10.1.1.1:5099;branch=z9hG4bKa";

#[test]
fn options_to_itself_gets_200_with_capabilities() {
    for uri in ["sip:127.0.0.1:5070", "sip:sip.example.test:5070"] {
        let r = reply(&request(&format!("OPTIONS {uri} SIP/2.0"), "", VIA));
        let m = Message::parse(&r.bytes).unwrap();
        assert_eq!(r.code, 200);
        assert_eq!(m.header(HeaderName::Allow).unwrap().value, ALLOW.as_bytes());
        assert!(m.header(HeaderName::Accept).is_some());
        assert!(m.header(HeaderName::Supported).is_some());
        assert!(m.to().unwrap().tag().is_some());
    }
}

#[test]
fn destinations_follow_18_2_2_and_rport() {
    let r = reply(&request("OPTIONS sip:127.0.0.1:5070 SIP/2.0", "", VIA));
    assert_eq!(r.destination, "192.0.2.9:5099".parse().unwrap());
    let text = String::from_utf8(r.bytes).unwrap();
    assert!(text.contains("received=192.0.2.9"), "{text}");
    let r = reply(&request(
        "OPTIONS sip:127.0.0.1:5070 SIP/2.0",
        "",
        "SIP/2.0/UDP 10.1.1.1:5099;rport;branch=z9hG4bKa",
    ));
    assert_eq!(r.destination, SRC.parse().unwrap());
    assert!(
        String::from_utf8(r.bytes)
            .unwrap()
            .contains(";rport=40000;")
    );
    let r = reply(&request(
        "OPTIONS sip:127.0.0.1:5070 SIP/2.0",
        "",
        "SIP/2.0/UDP 10.1.1.1;maddr=203.0.113.1;branch=z9hG4bKa",
    ));
    assert_eq!(r.destination, "192.0.2.9:5060".parse().unwrap());
}

#[test]
fn policy_codes() {
    let cases: &[(&str, &str, u16)] = &[
        ("OPTIONS sip:127.0.0.1:5070 SIP/3.0", "", 505),
        ("OPTIONS mailto:x@example.test SIP/2.0", "", 416),
        (
            "OPTIONS sip:b@example.test SIP/2.0",
            "Max-Forwards: 0\r\n",
            400,
        ),
        (
            "INVITE sip:b@example.test SIP/2.0",
            "Proxy-Require: foo\r\n",
            420,
        ),
        (
            "INVITE sip:b@127.0.0.1:5070 SIP/2.0",
            "Require: 100rel\r\n",
            420,
        ),
        (
            "INVITE sip:b@example.test SIP/2.0",
            "Require: 100rel\r\n",
            404,
        ),
        ("FOO sip:127.0.0.1:5070 SIP/2.0", "", 501),
        ("CANCEL sip:b@example.test SIP/2.0", "", 481),
        ("REGISTER sip:example.test SIP/2.0", "", 404),
    ];
    for (start, extra, code) in cases {
        assert_eq!(
            reply(&request(start, extra, VIA)).code,
            *code,
            "{start} {extra}"
        );
    }
    let mf0 = request("OPTIONS sip:b@example.test SIP/2.0", "", VIA);
    let mf0 = String::from_utf8(mf0)
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(reply(mf0.as_bytes()).code, 483);
    let to_self = String::from_utf8(request("OPTIONS sip:127.0.0.1:5070 SIP/2.0", "", VIA))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(reply(to_self.as_bytes()).code, 200);
}

#[test]
fn unsupported_lists_the_tags() {
    let r = reply(&request(
        "INVITE sip:b@example.test SIP/2.0",
        "Proxy-Require: foo, bar\r\nRequire: baz\r\n",
        VIA,
    ));
    let m = Message::parse(&r.bytes).unwrap();
    assert_eq!(
        m.header(HeaderName::Unsupported).unwrap().value,
        b"foo, bar"
    );
}

#[test]
fn malformed_requests_get_400_naming_the_defect() {
    let bad = request(
        "INVITE sip:b@example.test SIP/2.0",
        "",
        "SIP/2.0/UDP 10.1.1.1;;,;",
    );
    let r = reply(&bad);
    assert_eq!(r.code, 400);
    let m = Message::parse(&r.bytes).unwrap();
    assert_eq!(
        m.status_line().unwrap().reason,
        b"Bad Request (Via: malformed parameter)"
    );
    let clerr = String::from_utf8(request("OPTIONS sip:b@example.test SIP/2.0", "", VIA))
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 99");
    let r = reply(clerr.as_bytes());
    assert_eq!(r.code, 400);
}

#[test]
fn drops_what_cannot_be_answered() {
    let d = door();
    let src = SRC.parse().unwrap();
    for bytes in [
        &b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"[..],
        b"\x00\x01garbage",
        b"",
        b"\r\n\r\n",
        &request("ACK sip:b@example.test SIP/2.0", "", VIA),
    ] {
        assert!(matches!(
            d.handle(bytes, src, Transport::Udp),
            Outcome::Drop(_)
        ));
    }
}

#[test]
fn a_request_that_comes_back_unchanged_is_a_loop() {
    let original = request("INVITE sip:b@example.test SIP/2.0", "", VIA);
    let m = Message::parse(&original).unwrap();
    let branch = trunkline_proto::branch::forward_branch(&m, 7).unwrap();
    let ours = format!("SIP/2.0/UDP 127.0.0.1:5070;branch={branch}");
    let looped = String::from_utf8(original.clone()).unwrap().replacen(
        "Via: ",
        &format!("Via: {ours}\r\nVia: "),
        1,
    );
    assert_eq!(reply(looped.as_bytes()).code, 482);
    // The same Via on a retargeted request is a spiral: no 482.
    let spiral = looped.replace("INVITE sip:b@example.test", "INVITE sip:c@example.test");
    assert_eq!(reply(spiral.as_bytes()).code, 404);
}

/// Issue 19, finding 7: a folded Call-ID was echoed raw (line break and all) in a 400 whose
/// reason called the header empty. Now the 400 says what is wrong with it and echoes the value
/// unfolded, as RFC 3261 §7.3.1 reads it.
#[test]
fn folded_values_are_echoed_as_judged() {
    let bytes = request("INVITE sip:b@example.test SIP/2.0", "", VIA);
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("Call-ID: c1", "Call-ID: c1 \r\n\t more")
        .replace(
            "From: <sip:a@example.test>;tag=f",
            "From: <sip:a@example.test>\r\n ;tag=f",
        );
    let r = reply(text.as_bytes());
    let answer = String::from_utf8(r.bytes).unwrap();
    assert_eq!(r.code, 400);
    assert!(
        answer.starts_with("SIP/2.0 400 Bad Request (Call-ID: unexpected trailing characters)\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("\r\nCall-ID: c1 more\r\n"), "{answer:?}");
    assert!(
        answer.contains("\r\nFrom: <sip:a@example.test> ;tag=f\r\n"),
        "{answer:?}"
    );
    assert!(
        !answer.contains("\r\n ") && !answer.contains("\r\n\t"),
        "a folded line: {answer:?}"
    );
    // Empty is still called empty.
    let empty = text.replace("Call-ID: c1 \r\n\t more", "Call-ID:\r\n ");
    let answer = String::from_utf8(reply(empty.as_bytes()).bytes).unwrap();
    assert!(answer.contains("(Call-ID: empty value)"), "{answer:?}");
}
