//! The registrar driven sans-IO: REGISTER texts in, answers out, time as a number.

use trunkline_sip::digest::{Algorithm, CredentialsBuilder, Qop, Secret, parse_challenge};

use super::*;

const DOMAIN: &str = "example.test";
const T0: u64 = 1_800_000_000_000;

fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    s.insert_test_user(DOMAIN, "1001", "secret1001", true);
    s.insert_test_user(DOMAIN, "1002", "secret1002", true);
    s.insert_test_user(DOMAIN, "1003", "secret1003", false);
    s
}

/// A registrar offering SHA-256 first (the helpers below rely on that order).
fn registrar() -> Registrar {
    let config = RegistrarConfig {
        digest_algorithms: vec!["SHA-256".into(), "MD5".into()],
        ..RegistrarConfig::default()
    };
    let location = Location::new(config.max_contacts as usize);
    Registrar::new(
        &config,
        [7; 32],
        Box::new(super::service::LocalLocation::new(location, None)),
    )
}

fn at(now_ms: u64) -> Arrival {
    Arrival {
        source: "192.0.2.10:40000".parse().unwrap(),
        transport: Transport::Udp,
        flow: None,
        now_ms,
    }
}

/// A REGISTER for `aor_user` with `extra` header lines (each ending in CRLF).
fn register(aor_user: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{call_id}{cseq};rport\r\n\
         From: <sip:{aor_user}@{DOMAIN}>;tag=f1\r\nTo: <sip:{aor_user}@{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn send(r: &mut Registrar, snap: &Snapshot, text: &str, now_ms: u64) -> Answer {
    let msg = Message::parse(text.as_bytes()).unwrap();
    r.register(&msg, snap, at(now_ms))
}

fn header<'a>(a: &'a Answer, name: &str) -> Vec<&'a str> {
    (a.headers.iter())
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The Authorization line answering the first challenge of `a` (SHA-256) or the MD5 one.
fn authorization(a: &Answer, user: &str, password: &str, md5: bool, nc: u32) -> String {
    let challenges = header(a, "WWW-Authenticate");
    let c = parse_challenge(challenges[usize::from(md5)].as_bytes()).unwrap();
    let nonce = c.nonce().unwrap().unescape();
    let alg = c.algorithm().unwrap();
    assert_eq!(
        alg,
        if md5 {
            Algorithm::Md5
        } else {
            Algorithm::Sha256
        }
    );
    let value = CredentialsBuilder::new(user, Secret::Password(password), DOMAIN, &nonce)
        .request("REGISTER", &format!("sip:{DOMAIN}"))
        .algorithm(alg)
        .qop(Qop::Auth, nc, "c0ffee")
        .build()
        .unwrap();
    format!("Authorization: {value}\r\n")
}

/// Registers `extra` contacts for 1001, answering the challenge; returns the 200.
fn registered(r: &mut Registrar, snap: &Snapshot, cseq: u32, extra: &str, now: u64) -> Answer {
    let first = send(r, snap, &register("1001", "reg-1", cseq, extra), now);
    assert_eq!(first.code, 401);
    let auth = authorization(&first, "1001", "secret1001", false, 1);
    send(
        r,
        snap,
        &register("1001", "reg-1", cseq + 1, &format!("{auth}{extra}")),
        now,
    )
}

#[test]
fn challenge_then_register_with_either_algorithm() {
    let (mut r, snap) = (registrar(), snapshot());
    let contact = "Contact: <sip:1001@10.0.0.5:5060>\r\nExpires: 600\r\n";
    let a = send(&mut r, &snap, &register("1001", "c", 1, contact), T0);
    assert_eq!((a.code, a.event.clone()), (401, Event::None));
    let ch = header(&a, "WWW-Authenticate");
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
    assert!(ch.iter().all(|c| c.contains("qop=\"auth\"")));
    for (md5, cseq) in [(false, 2), (true, 3)] {
        let auth = authorization(&a, "1001", "secret1001", md5, cseq);
        let ok = send(
            &mut r,
            &snap,
            &register("1001", "c", cseq, &format!("{auth}{contact}")),
            T0,
        );
        assert_eq!(ok.code, 200, "{ok:?}");
        assert_eq!(
            header(&ok, "Contact"),
            ["<sip:1001@10.0.0.5:5060>;expires=600"]
        );
        assert_eq!(
            ok.event,
            Event::Changed {
                aor: "1001@example.test".into()
            }
        );
        assert_eq!(header(&ok, "Date").len(), 1);
    }
    let b = r.lookup("1001@example.test", T0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].received.source, at(T0).source);
    // The same Authorization again (same nonce-count) is a replay: a new challenge, stale.
    let auth = authorization(&a, "1001", "secret1001", true, 3);
    let replay = send(
        &mut r,
        &snap,
        &register("1001", "c", 4, &format!("{auth}{contact}")),
        T0,
    );
    assert_eq!(replay.code, 401);
    assert!(header(&replay, "WWW-Authenticate")[0].contains("stale=true"));
}

#[test]
fn unknown_disabled_and_wrong_password_look_the_same() {
    let (mut r, snap) = (registrar(), snapshot());
    let challenge = send(&mut r, &snap, &register("1001", "c", 1, ""), T0);
    let attempts = [
        ("1001", "wrong-password"),
        ("9999", "secret1001"),
        ("1003", "secret1003"),
    ];
    let mut shapes = Vec::new();
    for (i, (user, password)) in attempts.iter().enumerate() {
        let auth = authorization(&challenge, user, password, true, 1);
        let a = send(&mut r, &snap, &register(user, "c", 2 + i as u32, &auth), T0);
        assert_eq!(
            a.event,
            Event::AuthFailed {
                user: (*user).to_owned()
            }
        );
        let names: Vec<&str> = a.headers.iter().map(|(n, _)| *n).collect();
        let stale: Vec<bool> = (header(&a, "WWW-Authenticate").iter())
            .map(|v| v.contains("stale"))
            .collect();
        shapes.push((a.code, a.reason, names, stale));
    }
    assert_eq!(shapes[0].0, 401);
    assert!(shapes.windows(2).all(|w| w[0] == w[1]), "{shapes:?}");
}

#[test]
fn identity_domain_and_policy_refusals() {
    let (mut r, snap) = (registrar(), snapshot());
    // 1002's valid credentials cannot bind 1001's address of record.
    let challenge = send(&mut r, &snap, &register("1001", "c", 1, ""), T0);
    let auth = authorization(&challenge, "1002", "secret1002", false, 1);
    let a = send(&mut r, &snap, &register("1001", "c", 2, &auth), T0);
    assert_eq!(a.code, 403);
    // A domain this server does not serve.
    let other = register("1001", "c", 3, "").replace(DOMAIN, "elsewhere.test");
    assert_eq!(send(&mut r, &snap, &other, T0).code, 403);
    // Too brief: 423 with Min-Expires, before any challenge.
    let brief = register(
        "1001",
        "c",
        4,
        "Contact: <sip:1001@10.0.0.5>;expires=10\r\n",
    );
    let a = send(&mut r, &snap, &brief, T0);
    assert_eq!((a.code, header(&a, "Min-Expires")), (423, vec!["60"]));
    // Star without Expires: 0.
    let star = register("1001", "c", 5, "Contact: *\r\n");
    assert_eq!(send(&mut r, &snap, &star, T0).code, 400);
}

#[test]
fn several_contacts_query_order_and_star() {
    let (mut r, snap) = (registrar(), snapshot());
    let two = "Contact: <sip:1001@10.0.0.5:5060>;q=0.5, <sip:1001@10.0.0.6:5060>;expires=120\r\n";
    let ok = registered(&mut r, &snap, 1, two, T0);
    assert_eq!(ok.code, 200);
    let listed = header(&ok, "Contact");
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&"<sip:1001@10.0.0.5:5060>;expires=3600;q=0.500"));
    assert!(listed.contains(&"<sip:1001@10.0.0.6:5060>;expires=120"));
    let order: Vec<_> = (r.lookup("1001@example.test", T0).iter())
        .map(|b| b.contact.clone())
        .collect();
    assert_eq!(order[0], "sip:1001@10.0.0.6:5060", "highest q first");
    // A query (no Contact) lists them with the time left and changes nothing.
    let first = send(&mut r, &snap, &register("1001", "q", 1, ""), T0 + 20_000);
    let auth = authorization(&first, "1001", "secret1001", false, 1);
    let q = send(&mut r, &snap, &register("1001", "q", 2, &auth), T0 + 20_000);
    assert_eq!(q.event, Event::None);
    assert!(header(&q, "Contact").contains(&"<sip:1001@10.0.0.6:5060>;expires=100"));
    // The same Call-ID with a CSeq not higher than the binding's: out of order, 500.
    let first = send(&mut r, &snap, &register("1001", "reg-1", 2, two), T0);
    let auth = authorization(&first, "1001", "secret1001", false, 1);
    let stale = register("1001", "reg-1", 2, &format!("{auth}{two}"));
    assert_eq!(send(&mut r, &snap, &stale, T0).code, 500);
    // Contact: * with Expires: 0 removes everything.
    let first = send(&mut r, &snap, &register("1001", "reg-1", 9, ""), T0);
    let auth = authorization(&first, "1001", "secret1001", false, 1);
    let star = register(
        "1001",
        "reg-1",
        10,
        &format!("{auth}Contact: *\r\nExpires: 0\r\n"),
    );
    let a = send(&mut r, &snap, &star, T0);
    assert_eq!((a.code, header(&a, "Contact").len()), (200, 0));
    assert!(r.lookup("1001@example.test", T0).is_empty());
}

#[test]
fn expiry_on_time() {
    let (mut r, snap) = (registrar(), snapshot());
    let c = "Contact: <sip:1001@10.0.0.5:5060>;expires=60\r\n";
    assert_eq!(registered(&mut r, &snap, 1, c, T0).code, 200);
    assert_eq!(r.next_expiry(), Some(T0 + 60_000));
    assert!(r.expire(T0 + 59_999).is_empty());
    assert_eq!(r.expire(T0 + 60_000), vec!["1001@example.test".to_owned()]);
    assert!(r.lookup("1001@example.test", T0 + 60_000).is_empty());
}

#[test]
fn outbound_gruu_and_path() {
    let (mut r, snap) = (registrar(), snapshot());
    let extra = "Supported: path, outbound, gruu\r\n\
                 Path: <sip:edge.example.net;lr>\r\n\
                 Contact: <sip:1001@10.0.0.5:5060;ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\n";
    let ok = registered(&mut r, &snap, 1, extra, T0);
    assert_eq!(ok.code, 200, "{ok:?}");
    let contact = header(&ok, "Contact");
    assert_eq!(contact.len(), 1);
    assert!(
        contact[0].contains(
            "pub-gruu=\"sip:1001@example.test;gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128\""
        ),
        "{}",
        contact[0]
    );
    assert!(contact[0].contains(";reg-id=1"));
    assert_eq!(header(&ok, "Require"), ["outbound"]);
    assert_eq!(header(&ok, "Flow-Timer"), ["120"]);
    assert_eq!(header(&ok, "Path"), ["<sip:edge.example.net;lr>"]);
    let b = &r.lookup("1001@example.test", T0)[0];
    assert_eq!(b.path, ["<sip:edge.example.net;lr>"]);
    assert_eq!(b.reg_id, Some(1));
}

/// Issue 19, finding 3: an authenticated subscriber bound multicast, broadcast, unspecified
/// addresses and the server's own socket. Each is refused with 403 and nothing is bound; a
/// contact naming a phone's own host is still bound.
#[test]
fn contacts_that_are_no_phone_are_refused() {
    let snap = snapshot();
    let own = "198.51.100.1:5060".parse().unwrap();
    let mut r = registrar().with_own_sockets(vec![own], None);
    for (contact, reason) in [
        ("<sip:1001@224.0.0.1>", "Forbidden (Contact Address)"),
        ("<sip:1001@[ff02::1]:5060>", "Forbidden (Contact Address)"),
        (
            "<sip:1001@255.255.255.255:5060>",
            "Forbidden (Contact Address)",
        ),
        ("<sip:1001@0.0.0.0:5060>", "Forbidden (Contact Address)"),
        ("<sip:1001@[::]>", "Forbidden (Contact Address)"),
        (
            "<sip:1001@198.51.100.1>",
            "Forbidden (Contact Is This Server)",
        ),
        ("<sip:1001@127.0.0.1:5060>", "Forbidden (Private Contact)"),
        (
            "<sip:1001@192.0.2.50>, <sip:1001@239.1.1.1>",
            "Forbidden (Contact Address)",
        ),
    ] {
        let a = registered(&mut r, &snap, 1, &format!("Contact: {contact}\r\n"), T0);
        assert_eq!((a.code, a.reason), (403, reason), "{contact}");
        assert!(
            r.lookup("1001@example.test", T0).is_empty(),
            "{contact} bound"
        );
    }
    // Removing such a binding is not binding it; a phone's own address binds.
    let a = registered(
        &mut r,
        &snap,
        1,
        "Contact: <sip:1001@224.0.0.1>;expires=0\r\n",
        T0,
    );
    assert_eq!(a.code, 200);
    let a = registered(
        &mut r,
        &snap,
        1,
        "Contact: <sip:1001@192.0.2.10:5060>\r\n",
        T0,
    );
    assert_eq!(a.code, 200);
    assert_eq!(r.lookup("1001@example.test", T0).len(), 1);
}
