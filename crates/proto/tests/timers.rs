//! Every transaction timer of RFC 3261 Table 4 and RFC 6026, on a simulated clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::{Duration, Instant};

use common::*;
use trunkline_proto::{End, Engine, Output, TxId};

const UDP: Peer = Peer {
    id: 1,
    reliable: false,
};
const TCP: Peer = Peer {
    id: 1,
    reliable: true,
};

fn transmit_times(log: &[(Duration, Output<Peer>)]) -> Vec<u64> {
    log.iter()
        .filter(|(_, o)| matches!(o, Output::Transmit { .. }))
        .map(|(t, _)| t.as_millis() as u64)
        .collect()
}

fn ended(log: &[(Duration, Output<Peer>)]) -> Vec<(u64, End)> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::Ended { end, .. } => Some((t.as_millis() as u64, *end)),
            _ => None,
        })
        .collect()
}

#[test]
fn timer_a_doubles_and_timer_b_gives_408() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let tx = e
        .request(request("INVITE", "z9hG4bKa", None), UDP, t0)
        .unwrap();
    assert_eq!(sent(&drain(&mut e)).len(), 1);
    let log = run_timers(&mut e, t0, Duration::from_secs(40));
    assert_eq!(
        transmit_times(&log),
        vec![500, 1500, 3500, 7500, 15500, 31500]
    );
    let outs: Vec<_> = log.into_iter().map(|(_, o)| o).collect();
    assert_eq!(responses(&outs, tx), vec![408]);
    assert_eq!(e.len(), (0, 0));
}

#[test]
fn timer_e_caps_at_t2_and_timer_f_gives_408() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let tx = e
        .request(request("OPTIONS", "z9hG4bKe", None), UDP, t0)
        .unwrap();
    drain(&mut e);
    let log = run_timers(&mut e, t0, Duration::from_secs(40));
    assert_eq!(
        transmit_times(&log),
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    let outs: Vec<_> = log.into_iter().map(|(_, o)| o).collect();
    assert_eq!(responses(&outs, tx), vec![408]);
}

#[test]
fn timer_e_paces_at_t2_after_a_provisional() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKp", None);
    e.request(req.clone(), UDP, t0).unwrap();
    drain(&mut e);
    e.receive(response_to(&req, 100), UDP, t0 + ms(100));
    drain(&mut e);
    let log = run_timers(&mut e, t0, Duration::from_secs(10));
    // The first E was armed at T1 before the 100; after it, every interval is T2.
    assert_eq!(transmit_times(&log), vec![500, 4500, 8500]);
}

#[test]
fn timer_g_retransmits_until_ack_then_timer_i() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKg", None);
    e.receive(req.clone(), UDP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.respond(inc.tx, response_to(&req, 486), t0).unwrap();
    assert_eq!(sent(&drain(&mut e)).len(), 1);
    let log = run_timers(&mut e, t0, ms(8000));
    assert_eq!(transmit_times(&log), vec![500, 1500, 3500, 7500]);
    // ACK at 9 s stops G; later retransmitted ACKs are absorbed; Timer I (T4) ends it.
    let ack = request("ACK", "z9hG4bKg", Some("uas-tag"));
    e.receive(ack.clone(), UDP, t0 + ms(9000));
    assert!(
        drain(&mut e).is_empty(),
        "ACK for a non-2xx never reaches the core"
    );
    e.receive(ack, UDP, t0 + ms(9100));
    assert!(drain(&mut e).is_empty());
    let log = run_timers(&mut e, t0 + ms(9000), Duration::from_secs(60));
    assert_eq!(transmit_times(&log), Vec::<u64>::new());
    assert_eq!(ended(&log), vec![(5000, End::Normal)]);
}

#[test]
fn timer_g_caps_at_t2_and_timer_h_ends_without_ack() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKh", None);
    e.receive(req.clone(), UDP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.respond(inc.tx, response_to(&req, 404), t0).unwrap();
    drain(&mut e);
    let log = run_timers(&mut e, t0, Duration::from_secs(40));
    assert_eq!(
        transmit_times(&log),
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(ended(&log), vec![(32000, End::NoAck)]);
}

#[test]
fn retransmitted_request_gets_the_last_response_and_never_reaches_the_core_twice() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKr", None);
    e.receive(req.clone(), UDP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    // Before any response: absorbed silently.
    e.receive(req.clone(), UDP, t0 + ms(10));
    assert!(drain(&mut e).is_empty());
    e.respond(inc.tx, response_to(&req, 180), t0 + ms(20))
        .unwrap();
    drain(&mut e);
    e.receive(req.clone(), UDP, t0 + ms(30));
    let out = drain(&mut e);
    assert!(requests(&out).is_empty());
    assert_eq!(
        sent(&out).iter().map(|b| code_of(b)).collect::<Vec<_>>(),
        vec![180]
    );
    e.respond(inc.tx, response_to(&req, 603), t0 + ms(40))
        .unwrap();
    drain(&mut e);
    e.receive(req, UDP, t0 + ms(50));
    assert_eq!(
        sent(&drain(&mut e))
            .iter()
            .map(|b| code_of(b))
            .collect::<Vec<_>>(),
        vec![603]
    );
}

#[test]
fn trying_timer_sends_100_after_200_ms_of_silence() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    e.receive(request("INVITE", "z9hG4bKt", None), UDP, t0);
    drain(&mut e);
    let log = run_timers(&mut e, t0, ms(300));
    let codes: Vec<_> = log
        .iter()
        .filter_map(|(t, o)| match o {
            Output::Transmit { bytes, .. } => Some((t.as_millis(), code_of(bytes))),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![(200, 100)]);
}

#[test]
fn timer_l_absorbs_invite_retransmissions_and_passes_acks_to_the_core() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKl", None);
    e.receive(req.clone(), UDP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.respond(inc.tx, response_to(&req, 200), t0).unwrap();
    drain(&mut e);
    e.receive(req, UDP, t0 + ms(600));
    assert!(drain(&mut e).is_empty(), "RFC 6026: absorbed in Accepted");
    e.receive(
        request("ACK", "z9hG4bKl", Some("uas-tag")),
        UDP,
        t0 + ms(700),
    );
    let out = drain(&mut e);
    assert!(matches!(out.as_slice(), [Output::Ack { tx: Some(t), .. }] if *t == inc.tx));
    let log = run_timers(&mut e, t0, Duration::from_secs(40));
    assert_eq!(ended(&log), vec![(32000, End::Normal)]);
}

#[test]
fn timer_d_acks_retransmitted_finals_then_ends() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKd", None);
    let tx = e.request(req.clone(), UDP, t0).unwrap();
    drain(&mut e);
    let busy = response_to(&req, 486);
    e.receive(busy.clone(), UDP, t0 + ms(100));
    let out = drain(&mut e);
    assert_eq!(responses(&out, tx), vec![486]);
    let acks = sent(&out);
    assert_eq!(acks.len(), 1);
    let ack = Message::parse(&acks[0]).unwrap();
    assert_eq!(ack.method().unwrap().as_str(), "ACK");
    assert_eq!(ack.to().unwrap().tag(), Some(&b"uas-tag"[..]));
    assert_eq!(ack.cseq().unwrap().method.as_str(), "ACK");
    assert_eq!(ack.top_via().unwrap().branch(), Some(&b"z9hG4bKd"[..]));
    assert_eq!(ack.name_addrs(trunkline_sip::HeaderName::Route).count(), 1);
    e.receive(busy, UDP, t0 + ms(600));
    let out = drain(&mut e);
    assert!(
        responses(&out, tx).is_empty(),
        "retransmitted final is absorbed"
    );
    assert_eq!(sent(&out).len(), 1, "and ACKed again");
    let log = run_timers(&mut e, t0 + ms(100), Duration::from_secs(40));
    assert_eq!(transmit_times(&log), Vec::<u64>::new(), "Timer A stopped");
    assert_eq!(ended(&log), vec![(32000, End::Normal)]);
}

use trunkline_sip::Message;

#[test]
fn timer_m_passes_every_2xx_then_ends() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKm", None);
    let tx = e.request(req.clone(), UDP, t0).unwrap();
    drain(&mut e);
    e.receive(response_to(&req, 200), UDP, t0 + ms(100));
    e.receive(response_to(&req, 200), UDP, t0 + ms(200));
    let out = drain(&mut e);
    assert_eq!(responses(&out, tx), vec![200, 200]);
    assert!(sent(&out).is_empty(), "the ACK for a 2xx is the core's");
    let log = run_timers(&mut e, t0 + ms(100), Duration::from_secs(40));
    assert_eq!(transmit_times(&log), Vec::<u64>::new());
    assert_eq!(ended(&log), vec![(32000, End::Normal)]);
}

#[test]
fn timer_c_is_reset_by_provisionals() {
    let mut e = Engine::new(timers());
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKc", None);
    let tx = e.request(req.clone(), TCP, t0).unwrap();
    drain(&mut e);
    e.receive(response_to(&req, 180), TCP, t0 + Duration::from_secs(10));
    drain(&mut e);
    let log = run_timers(&mut e, t0, Duration::from_secs(400));
    let outs: Vec<_> = log.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(responses(&outs, tx), vec![408]);
    assert_eq!(ended(&log), vec![(190_000, End::Timeout)]);
}

#[test]
fn timer_k_and_j_end_non_invite_transactions() {
    let t0 = Instant::now();
    let req = request("BYE", "z9hG4bKk", Some("uas-tag"));
    let mut uac = Engine::new(timers());
    let tx = uac.request(req.clone(), UDP, t0).unwrap();
    drain(&mut uac);
    uac.receive(response_to(&req, 200), UDP, t0 + ms(100));
    assert_eq!(responses(&drain(&mut uac), tx), vec![200]);
    uac.receive(response_to(&req, 200), UDP, t0 + ms(200));
    assert!(drain(&mut uac).is_empty(), "retransmitted final absorbed");
    let log = run_timers(&mut uac, t0 + ms(100), Duration::from_secs(60));
    assert_eq!(transmit_times(&log), Vec::<u64>::new());
    assert_eq!(ended(&log), vec![(5000, End::Normal)]);

    let mut uas = Engine::new(timers());
    uas.receive(req.clone(), UDP, t0);
    let inc = requests(&drain(&mut uas)).remove(0);
    uas.respond(inc.tx, response_to(&req, 200), t0).unwrap();
    drain(&mut uas);
    uas.receive(req, UDP, t0 + ms(1000));
    assert_eq!(
        sent(&drain(&mut uas)).len(),
        1,
        "final resent for the retransmission"
    );
    let log = run_timers(&mut uas, t0, Duration::from_secs(60));
    assert_eq!(ended(&log), vec![(32000, End::Normal)]);
}

#[test]
fn reliable_transports_never_retransmit_and_wait_zero() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let req = request("INVITE", "z9hG4bKrel", None);
    e.receive(req.clone(), TCP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.respond(inc.tx, response_to(&req, 486), t0).unwrap();
    drain(&mut e);
    e.receive(
        request("ACK", "z9hG4bKrel", Some("uas-tag")),
        TCP,
        t0 + ms(50),
    );
    let out = drain(&mut e);
    assert!(
        matches!(
            out.as_slice(),
            [Output::Ended {
                end: End::Normal,
                ..
            }]
        ),
        "{out:?}"
    );
    let opt = request("OPTIONS", "z9hG4bKrel2", None);
    e.receive(opt.clone(), TCP, t0);
    let inc = requests(&drain(&mut e)).remove(0);
    e.respond(inc.tx, response_to(&opt, 200), t0).unwrap();
    let out = drain(&mut e);
    assert_eq!(sent(&out).len(), 1);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Ended {
            end: End::Normal,
            ..
        }
    )));
    assert_eq!(e.len(), (0, 0));
    let tx = e
        .request(request("OPTIONS", "z9hG4bKrel3", None), TCP, t0)
        .unwrap();
    drain(&mut e);
    let log = run_timers(&mut e, t0, Duration::from_secs(40));
    assert_eq!(transmit_times(&log), Vec::<u64>::new());
    let outs: Vec<_> = log.into_iter().map(|(_, o)| o).collect();
    assert_eq!(responses(&outs, tx), vec![408]);
}

#[test]
fn transport_errors_surface_as_503() {
    let t0 = Instant::now();
    let mut e = Engine::new(timers());
    let tx = e
        .request(request("INVITE", "z9hG4bKx", None), UDP, t0)
        .unwrap();
    drain(&mut e);
    e.transport_error(TxId::Client(tx), t0);
    assert_eq!(responses(&drain(&mut e), tx), vec![503]);
    assert_eq!(e.len(), (0, 0));
}
