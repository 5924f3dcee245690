//! Transaction matching: CANCEL to INVITE (§9.2), merged requests (§8.2.2.2), the RFC 2543
//! fallback (§17.2.3), stray responses and ACKs, unmatchable requests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::Instant;

use common::*;
use trunkline_proto::{Engine, Output};

const UDP: Peer = Peer {
    id: 1,
    reliable: false,
};

#[test]
fn cancel_finds_its_invite() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    e.receive(request("INVITE", "z9hG4bK1", None), UDP, t0);
    let invite = requests(&drain(&mut e)).remove(0);
    e.receive(request("CANCEL", "z9hG4bK1", None), UDP, t0);
    let cancel = requests(&drain(&mut e)).remove(0);
    assert_eq!(cancel.cancels, Some(invite.tx));
    assert_ne!(cancel.tx, invite.tx);
    e.receive(request("CANCEL", "z9hG4bK2", None), UDP, t0);
    assert_eq!(requests(&drain(&mut e)).remove(0).cancels, None);
}

#[test]
fn merged_requests_are_flagged() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    e.receive(request("INVITE", "z9hG4bKm1", None), UDP, t0);
    let first = requests(&drain(&mut e)).remove(0);
    assert_eq!(first.merged_with, None);
    e.receive(request("INVITE", "z9hG4bKm2", None), UDP, t0);
    let second = requests(&drain(&mut e)).remove(0);
    assert_eq!(second.merged_with, Some(first.tx));
    // Other CSeq: not merged.
    e.receive(
        request_with("INVITE", "z9hG4bKm3", None, "f1", "call-1", 2),
        UDP,
        t0,
    );
    assert_eq!(requests(&drain(&mut e)).remove(0).merged_with, None);
}

#[test]
fn rfc2543_requests_match_without_a_branch() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let invite = request("INVITE", "", None);
    e.receive(invite.clone(), UDP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.receive(invite.clone(), UDP, t0);
    assert!(drain(&mut e).is_empty(), "retransmission absorbed");
    e.respond(inc.tx, response_to(&invite, 486), t0).unwrap();
    drain(&mut e);
    e.receive(request("ACK", "", Some("uas-tag")), UDP, t0 + ms(100));
    assert!(drain(&mut e).is_empty(), "ACK matched the transaction");
    let log = run_timers(&mut e, t0, std::time::Duration::from_secs(10));
    assert_eq!(
        sent(&log.into_iter().map(|(_, o)| o).collect::<Vec<_>>()).len(),
        0
    );
}

#[test]
fn strays_and_unmatchables_go_to_the_core() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    e.receive(
        response_to(&request("INVITE", "z9hG4bKs", None), 200),
        UDP,
        t0,
    );
    assert!(matches!(
        drain(&mut e).as_slice(),
        [Output::StrayResponse { .. }]
    ));
    e.receive(request("ACK", "z9hG4bKs", Some("t")), UDP, t0);
    assert!(matches!(
        drain(&mut e).as_slice(),
        [Output::Ack { tx: None, .. }]
    ));
    e.receive(bytes::Bytes::from_static(b"garbage"), UDP, t0);
    assert!(matches!(
        drain(&mut e).as_slice(),
        [Output::Unmatched { error: Some(_), .. }]
    ));
    e.receive(
        bytes::Bytes::from_static(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n"),
        UDP,
        t0,
    );
    assert!(matches!(
        drain(&mut e).as_slice(),
        [Output::Unmatched { error: None, .. }]
    ));
    assert_eq!(e.len(), (0, 0));
}

#[test]
fn cancel_responses_do_not_land_in_the_invite_transaction() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let invite = request("INVITE", "z9hG4bKcc", None);
    let cancel = request("CANCEL", "z9hG4bKcc", None);
    let itx = e.request(invite.clone(), UDP, t0).unwrap();
    let ctx = e.request(cancel.clone(), UDP, t0).unwrap();
    drain(&mut e);
    e.receive(response_to(&cancel, 200), UDP, t0);
    e.receive(response_to(&invite, 487), UDP, t0);
    let out = drain(&mut e);
    assert_eq!(responses(&out, ctx), vec![200]);
    assert_eq!(responses(&out, itx), vec![487]);
}

/// `Engine::knows`: a driver shedding new work under overload can tell a retransmission of an
/// admitted request (served) from a new one (refused), without touching the engine.
#[test]
fn knows_tells_retransmissions_from_new_requests() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let first = request("INVITE", "z9hG4bKk1", None);
    e.receive(first.clone(), UDP, t0);
    drain(&mut e);
    let known = trunkline_sip::Message::parse(&first).unwrap();
    assert!(e.knows(&known));
    let other = request("INVITE", "z9hG4bKk2", None);
    assert!(!e.knows(&trunkline_sip::Message::parse(&other).unwrap()));
}

/// A client transaction keyed by the branch its builder wrote (`request_keyed`, no parse)
/// matches its responses exactly as one the engine keyed by parsing (`request`).
#[test]
fn a_keyed_request_matches_its_responses() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let out = request("INVITE", "z9hG4bKkeyed", None);
    let method = trunkline_sip::Method::Invite;
    let tx = e
        .request_keyed(out.clone(), "z9hG4bKkeyed", method, UDP, t0)
        .unwrap();
    drain(&mut e);
    e.receive(response_to(&out, 180), UDP, t0);
    let got = drain(&mut e);
    assert!(
        got.iter()
            .any(|o| matches!(o, Output::Response { tx: t, code: 180, .. } if *t == tx)),
        "{got:?}"
    );
    // The same branch again is refused, as with `request`.
    assert!(
        e.request_keyed(out, "z9hG4bKkeyed", method, UDP, t0)
            .is_err()
    );
}
