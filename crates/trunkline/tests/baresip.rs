//! Real phones: two baresip instances register with digest auth, one calls the other through
//! Trunkline, each sends its own tone (1000 Hz and 600 Hz) for a few seconds and records what
//! it hears; each recording must carry the other side's tone. Media flows phone to phone.

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

#[test]
fn two_baresip_phones_call_each_other_and_hear_each_others_tone() {
    let data = common::data_dir("baresip");
    provision(&data, DOMAIN, 1001..1003);
    let s = Served::start(data, "");
    let server = format!("127.0.0.1:{}", s.port);
    let phone = |user: u32, tone_hz: f64| {
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
    alice.command("hangup", "");
    wait_status(&s, "calls 0\n", "hang-up", &[&alice, &bob]);

    hears(&alice, 600.0, 1000.0);
    hears(&bob, 1000.0, 600.0);
    common::assert_one_answered_call(&s.data, 3500);
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
