//! Forwarding by the proxy on simulated time: RFC 3261 §16 rules, authentication, forking
//! by q and in parallel, CANCEL, Timer C, NAT aliases, limits, privacy and DIDs.

use super::*;

#[test]
fn an_invite_reaches_the_callee_and_its_answers_come_back() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c1", "1002", "", ""));
    let inv = &s.one_to(6002);
    // §16.6: the Request-URI is the binding's Contact, our Via on top, Max-Forwards one less,
    // and a Record-Route of ours for a dialog-forming request.
    assert!(
        inv.starts_with("INVITE sip:1002@127.0.0.1:6002 SIP/2.0\r\n"),
        "{inv}"
    );
    let vias = header(inv, "Via");
    assert_eq!(vias.len(), 2);
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{inv}"
    );
    assert_eq!(header(inv, "Max-Forwards"), ["69"]);
    assert!(
        header(inv, "Record-Route")[0].contains("127.0.0.1:5060;lr"),
        "{inv}"
    );

    s.deliver(6002, &answer(inv, "180 Ringing", "b1", 6002, "", ""));
    let ringing = s.one_to(STRANGER);
    assert_eq!(code(&ringing), 180);
    assert_eq!(
        header(&ringing, "Via").len(),
        1,
        "our Via is removed: {ringing}"
    );
    s.deliver(6002, &answer(inv, "200 OK", "b1", 6002, "", ""));
    let ok = s.one_to(STRANGER);
    assert_eq!(code(&ok), 200);

    // The ACK and the BYE follow the route set through the proxy to the callee.
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c1"));
    assert!(s.one_to(6002).starts_with("ACK sip:callee@127.0.0.1:6002"));
    s.advance(30);
    s.deliver(STRANGER, &in_dialog(&ok, "BYE", 2, "c1-bye"));
    let bye = s.one_to(6002);
    assert_eq!(method(&bye), "BYE");
    s.deliver(6002, &answer(&bye, "200 OK", "b1", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 200);

    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1, "one CDR for the call");
    assert_eq!(cdrs[0].call_id, "c1");
}

#[test]
fn exhausted_max_forwards_unknown_users_and_absent_ones() {
    let mut s = Shard::new();
    let looped = invite("c2", "1002", "", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    s.deliver(STRANGER, &looped);
    assert_eq!(code(&s.one_to(STRANGER)), 483);
    s.deliver(STRANGER, &invite("c3", "nobody", "", ""));
    let out = s.sent();
    assert!(out.iter().any(|(_, m)| code(m) == 404), "{out:#?}");
    // A user with no binding is not reachable now.
    s.deliver(STRANGER, &invite("c4", "1003", "", ""));
    let out = s.sent();
    assert!(out.iter().any(|(_, m)| code(m) == 480), "{out:#?}");
}

#[test]
fn a_local_caller_proves_its_identity_first() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let call = |auth: &str| {
        format!(
            "INVITE sip:1002@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-l{}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=l1\r\nTo: <sip:1002@{DOMAIN}>\r\n\
             Call-ID: local-1\r\nCSeq: {} INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n",
            auth.len(),
            1 + u32::from(!auth.is_empty()),
        )
    };
    s.deliver(6001, &call(""));
    let out = s.sent();
    let challenge = &out.iter().find(|(_, m)| code(m) == 407).expect("407").1;
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "nothing reaches the callee"
    );
    let auth = credentials(
        challenge,
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "INVITE",
        &format!("sip:1002@{DOMAIN}"),
        "1001",
    );
    s.deliver(6001, &call(&auth));
    let inv = s.one_to(6002);
    assert_eq!(method(&inv), "INVITE");
    // The credentials for our realm stop here.
    assert!(header(&inv, "Proxy-Authorization").is_empty(), "{inv}");
}

/// A call from the stranger to 1002, whose phones at 6002 and 6012 both got the INVITE and
/// ring: the shard, and the INVITE each phone got (6002's first).
fn ringing_twice(call_id: &str) -> (Shard, Vec<(u16, String)>) {
    let mut s = Shard::new();
    s.register("1002", 6002);
    s.register("1002", 6012);
    s.deliver(STRANGER, &invite(call_id, "1002", "", ""));
    let mut branches: Vec<(u16, String)> = (s.sent().into_iter())
        .filter(|(p, _)| *p != STRANGER)
        .collect();
    branches.sort();
    assert_eq!(branches.len(), 2, "one INVITE per phone: {branches:#?}");
    assert_ne!(
        header(&branches[0].1, "Via")[0],
        header(&branches[1].1, "Via")[0],
        "each branch its own Via branch"
    );
    // §9.1: a branch is cancelled only once it answered provisionally.
    for (port, inv) in &branches {
        s.deliver(
            *port,
            &answer(inv, "180 Ringing", &format!("t{port}"), *port, "", ""),
        );
    }
    assert_eq!(s.sent().len(), 2, "both 180s go to the caller");
    (s, branches)
}

#[test]
fn parallel_branches_are_cancelled_when_one_answers() {
    let (mut s, branches) = ringing_twice("c5");
    let [(_, a), (_, b)] = [&branches[0], &branches[1]];
    s.deliver(6012, &answer(b, "200 OK", "t6012", 6012, "", ""));
    let out = s.sent();
    let ok: Vec<_> = out
        .iter()
        .filter(|(p, m)| *p == STRANGER && code(m) == 200)
        .collect();
    assert_eq!(ok.len(), 1, "{out:#?}");
    let cancel = &out
        .iter()
        .find(|(p, _)| *p == 6002)
        .expect("CANCEL to the loser")
        .1;
    assert_eq!(method(cancel), "CANCEL");
    assert_eq!(
        header(cancel, "Via")[0],
        header(a, "Via")[0],
        "§9.1: the INVITE's branch"
    );
    // The loser's 487 is absorbed: the caller sees one final answer.
    s.deliver(6002, &answer(cancel, "200 OK", "t6002", 6002, "", ""));
    s.deliver(
        6002,
        &answer(a, "487 Request Terminated", "t6002", 6002, "", ""),
    );
    let out = s.sent();
    assert!(out.iter().all(|(p, _)| *p != STRANGER), "{out:#?}");
    // The 487 is acknowledged hop by hop.
    assert!(
        out.iter().any(|(p, m)| *p == 6002 && method(m) == "ACK"),
        "{out:#?}"
    );
}

#[test]
fn the_callers_cancel_reaches_every_branch() {
    let (mut s, branches) = ringing_twice("c6");
    s.deliver(STRANGER, &cancel("c6", "1002"));
    let out = s.sent();
    assert!(
        out.iter()
            .any(|(p, m)| *p == STRANGER && code(m) == 200 && m.contains("CANCEL")),
        "{out:#?}"
    );
    for (port, inv) in &branches {
        let c = &out
            .iter()
            .find(|(p, _)| p == port)
            .expect("a CANCEL per branch")
            .1;
        assert_eq!(method(c), "CANCEL");
        s.deliver(
            *port,
            &answer(inv, "487 Request Terminated", "x", *port, "", ""),
        );
    }
    let out = s.sent();
    assert_eq!(invite_finals(&out), [487], "{out:#?}");
    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1);
}

#[test]
fn timer_c_cancels_a_call_nobody_answers() {
    let mut s = Shard::with(|c| c.proxy.ring_timeout_secs = 20, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c7", "1002", "", ""));
    let inv = s.one_to(6002);
    s.deliver(6002, &answer(&inv, "180 Ringing", "b7", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 180);
    s.advance(19);
    assert!(s.sent().is_empty(), "still ringing");
    s.advance(1);
    let mut out = s.sent();
    let cancel = out
        .iter()
        .find(|(p, _)| *p == 6002)
        .expect("a CANCEL")
        .1
        .clone();
    assert_eq!(method(&cancel), "CANCEL");
    s.deliver(6002, &answer(&cancel, "200 OK", "b7", 6002, "", ""));
    s.deliver(
        6002,
        &answer(&inv, "487 Request Terminated", "b7", 6002, "", ""),
    );
    out.extend(s.sent());
    assert_eq!(invite_finals(&out), [408], "Timer C: Request Timeout");
}

#[test]
fn a_callers_contact_behind_nat_gets_an_alias_the_way_back_uses() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let natted = invite("c8", "1002", "", "").replace(
        &format!("Contact: <sip:alice@127.0.0.1:{STRANGER}>"),
        "Contact: <sip:alice@10.0.0.5:5060>",
    );
    s.deliver(STRANGER, &natted);
    let inv = s.one_to(6002);
    let contact = header(&inv, "Contact")[0];
    assert!(
        contact.contains(&format!("alias=127.0.0.1~{STRANGER}~1")),
        "{contact}"
    );
    s.deliver(6002, &answer(&inv, "200 OK", "b8", 6002, "", ""));
    let _ok = s.one_to(STRANGER);
    // The callee hangs up: its BYE to the aliased Contact, along the Record-Route, reaches
    // the caller's public address, without the alias.
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bK-b8\r\nRoute: {}\r\n\
         From: <sip:1002@{DOMAIN}>;tag=b8\r\nTo: <sip:alice@far.test>;tag=a1\r\nCall-ID: c8\r\n\
         CSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        contact.trim_start_matches('<').trim_end_matches('>'),
        header(&inv, "Record-Route")[0],
    );
    s.deliver(6002, &bye);
    let out = s.one_to(STRANGER);
    assert!(
        out.starts_with("BYE sip:alice@10.0.0.5:5060 SIP/2.0"),
        "{out}"
    );
}

#[test]
fn a_users_call_limit_refuses_the_next_call() {
    let mut s = Shard::with(|_| {}, Some(1));
    s.register("1002", 6002);
    s.register("1003", 6003);
    let call = |n: u32, to: &str, auth: &str| {
        format!(
            "INVITE sip:{to}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-lim{n}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=l{n}\r\nTo: <sip:{to}@{DOMAIN}>\r\n\
             Call-ID: lim-{n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    let mut out = Vec::new();
    for (n, to) in [(1, "1002"), (2, "1003")] {
        s.deliver(6001, &call(n * 10, to, ""));
        let challenge = s.one_to(6001);
        let auth = credentials(
            &challenge,
            "Proxy-Authenticate",
            "Proxy-Authorization",
            "INVITE",
            &format!("sip:{to}@{DOMAIN}"),
            "1001",
        );
        s.deliver(6001, &call(n, to, &auth));
        out.extend(s.sent());
    }
    assert!(
        out.iter().any(|(p, m)| *p == 6002 && method(m) == "INVITE"),
        "{out:#?}"
    );
    assert!(
        out.iter().all(|(p, _)| *p != 6003),
        "the second call never rings: {out:#?}"
    );
    let refused = out
        .iter()
        .find(|(p, m)| *p == 6001 && code(m) >= 400)
        .expect("refused");
    assert!(matches!(code(&refused.1), 403 | 486 | 503), "{refused:?}");
}

#[test]
fn contacts_are_tried_by_q_one_group_after_the_other() {
    let mut s = Shard::new();
    s.register_q("1002", 6002, "0.5");
    s.register_q("1002", 6012, "1.0");
    s.deliver(STRANGER, &invite("c11", "1002", "", ""));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the lower q waits: {out:#?}"
    );
    let first = &out
        .iter()
        .find(|(p, _)| *p == 6012)
        .expect("the higher q first")
        .1;
    s.deliver(6012, &answer(first, "486 Busy Here", "b11", 6012, "", ""));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != STRANGER),
        "no final yet: {out:#?}"
    );
    let second = &out
        .iter()
        .find(|(p, m)| *p == 6002 && method(m) == "INVITE");
    let second = &second.expect("then the next q").1;
    s.deliver(6002, &answer(second, "200 OK", "b12", 6002, "", ""));
    let out = s.sent();
    assert_eq!(invite_finals(&out), [200], "{out:#?}");
}

#[test]
fn an_untrusted_callers_identity_and_private_headers_stay_behind() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let extra = "P-Asserted-Identity: <sip:boss@far.test>\r\nPrivacy: header\r\n\
                 User-Agent: Phone 1.0\r\nSubject: secret\r\nOrganization: ACME\r\n";
    s.deliver(STRANGER, &invite("c12", "1002", extra, ""));
    let inv = s.one_to(6002);
    // RFC 3325 §5: an identity asserted by an untrusted source is not believed; RFC 3323:
    // the privacy service removes what identifies the user.
    for name in [
        "P-Asserted-Identity",
        "User-Agent",
        "Subject",
        "Organization",
    ] {
        assert!(header(&inv, name).is_empty(), "{name} left: {inv}");
    }
}

#[test]
fn a_did_is_reached_by_a_subscriber_but_not_by_a_stranger() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    // From the internet, a telephone number of ours is refused: calls from the telephone
    // network come through a carrier.
    s.deliver(STRANGER, &invite("c15", DID, "", ""));
    let out = s.sent();
    assert!(out.iter().all(|(p, _)| *p != 6002), "{out:#?}");
    let refused = out.iter().find(|(p, m)| *p == STRANGER && code(m) >= 300);
    assert!(refused.is_some_and(|(_, m)| code(m) == 403), "{out:#?}");
    // A subscriber dials it and 1002 rings.
    let call = |cseq: u32, auth: &str| {
        format!(
            "INVITE sip:{DID}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-did{cseq}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=d1\r\nTo: <sip:{DID}@{DOMAIN}>\r\n\
             Call-ID: did-1\r\nCSeq: {cseq} INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    s.deliver(6001, &call(1, ""));
    let challenge = s.one_to(6001);
    let uri = format!("sip:{DID}@{DOMAIN}");
    let auth = credentials(
        &challenge,
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "INVITE",
        &uri,
        "1001",
    );
    s.deliver(6001, &call(2, &auth));
    let inv = s.one_to(6002);
    assert!(inv.starts_with("INVITE sip:1002@127.0.0.1:6002 "), "{inv}");
}
