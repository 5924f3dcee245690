//! Real phones: two baresip instances register with digest auth, one calls the other through
//! Trunkline, each sends its own tone (1000 Hz and 600 Hz) for a few seconds and records what
//! it hears; each recording must carry the other side's tone. Media flows phone to phone, and
//! again through the relay (`media.mode = "always"`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::{Duration, Instant};

use common::baresip::{Baresip, Phone};
use common::{Served, provision, tone};

const DOMAIN: &str = "example.test";

/// Waits until the server's `status` contains `line`.
fn wait_status(s: &Served, line: &str, what: &str, phones: &[&Baresip]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = common::ok(&s.data, &["status"]);
        if status.contains(line) {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<_> = phones.iter().map(|p| p.log()).collect();
            panic!(
                "{what} never happened ({status}); phones:\n{}\nserver:\n{}",
                logs.join("\n----\n"),
                s.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that the recording at `phone` carries `hz` and not `other`.
fn hears(phone: &Baresip, hz: f64, other: f64) {
    let samples = tone::read_samples(&phone.received());
    let s = tone::analyse(&samples, &[hz, other]);
    let secs = samples.len() as f64 / f64::from(tone::RATE);
    assert!(
        secs >= 2.0 && s.rms > 0.1 && s.share[0].1 > 0.5 && s.share[1].1 < 0.05,
        "{}: {secs:.1} s recorded, rms {:.3}, share of {hz} Hz {:.3}, of {other} Hz {:.3}\n{}",
        phone.dir.display(),
        s.rms,
        s.share[0].1,
        s.share[1].1,
        phone.log()
    );
}

/// Two phones on a server with `extra` config: alice calls bob, they talk for 4 s, alice
/// hangs up; each must have heard the other's tone. `during` runs while they talk. With
/// `bob_v6`, bob registers and talks over IPv6 loopback.
fn call(name: &str, extra: &str, bob_v6: bool, during: impl FnOnce(&Served)) -> Served {
    let data = common::data_dir(name);
    provision(&data, DOMAIN, 1001..1003);
    let v6 = common::free_port();
    let more = match bob_v6 {
        true => vec![format!("udp:[::1]:{v6}")],
        false => Vec::new(),
    };
    let s = Served::start_listening(data, &more, extra);
    let phone = |user: u32, tone_hz: f64| {
        let server = match user == 1002 && bob_v6 {
            true => format!("[::1]:{v6}"),
            false => format!("127.0.0.1:{}", s.port),
        };
        let password = format!("secret{user}");
        Baresip::start(
            &s.data,
            &Phone {
                user,
                password: &password,
                domain: DOMAIN,
                server: &server,
                transport: "udp",
                tone_hz,
            },
        )
    };
    let (alice, bob) = (phone(1001, 1000.0), phone(1002, 600.0));
    wait_status(&s, "bindings 2\n", "registration", &[&alice, &bob]);

    alice.command("dial", &format!("sip:1002@{DOMAIN}"));
    wait_status(&s, "calls 1\n", "answer", &[&alice, &bob]);
    std::thread::sleep(Duration::from_secs(4));
    during(&s);
    alice.command("hangup", "");
    wait_status(&s, "calls 0\n", "hang-up", &[&alice, &bob]);

    hears(&alice, 600.0, 1000.0);
    hears(&bob, 1000.0, 600.0);
    common::assert_one_answered_call(&s.data, 3500);
    s
}

#[test]
fn two_baresip_phones_call_each_other_and_hear_each_others_tone() {
    let s = call("baresip", "", false, |s| {
        let live = common::ok(&s.data, &["calls"]);
        assert!(live.contains("direct"), "not relayed: {live}");
    });
    assert_eq!(common::cdrs(&s.data, 1)[0].qos.rtp_packets_rx, None);
}

#[test]
fn two_baresip_phones_hear_each_other_through_the_relay() {
    let media = "[media]\nmode = \"always\"\nport_min = 46200\nport_max = 46299\n";
    let s = call("baresip-relayed", media, false, |s| {
        // Each phone sends to the port the relay put in the SDP it got: packets from both
        // arrive at the relay (at 50 packets per second, well over 100 in 4 s).
        let live = common::ok(&s.data, &["calls"]);
        let counts: Vec<u64> = (live.split(" pkts").filter_map(|p| p.rsplit(' ').next()))
            .filter_map(|n| n.parse().ok())
            .collect();
        assert!(
            live.contains("relayed") && counts.len() == 2 && counts.iter().all(|&n| n > 100),
            "{live}"
        );
    });
    let q = common::cdrs(&s.data, 1)[0].qos;
    assert!(
        q.rtp_packets_rx.is_some_and(|n| n > 150) && q.rtp_packets_tx.is_some_and(|n| n > 150),
        "{q:?}"
    );
    assert!(q.mos_x100.is_some_and(|m| m >= 400), "{q:?}");
}

#[test]
fn an_ipv4_phone_and_an_ipv6_phone_hear_each_other_through_the_bridging_relay() {
    // Different address families: the relay is engaged (media.mode = "nat") with a leg on
    // each family.
    let media = "[media]\nbridge_address = \"::1\"\nport_min = 46500\nport_max = 46599\n";
    call("baresip-v6", media, true, |s| {
        let live = common::ok(&s.data, &["calls"]);
        assert!(live.contains("relayed"), "{live}");
    });
}

#[test]
fn a_tone_written_reads_back_as_that_tone() {
    let path = std::env::temp_dir().join(format!("tone-{}.wav", std::process::id()));
    tone::write_sine(&path, 1000.0, 1);
    let s = tone::analyse(&tone::read_samples(&path), &[600.0, 1000.0]);
    let _ = std::fs::remove_file(&path);
    assert!(s.share[1].1 > 0.9 && s.share[0].1 < 0.01, "{:?}", s.share);
    assert!((s.rms - 0.354).abs() < 0.01, "{}", s.rms);
}
