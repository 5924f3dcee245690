//! Parser throughput on the messages a carrier sees most: an INVITE with SDP and a REGISTER
//! with digest credentials, parse only and parse plus typed access to the headers a proxy
//! and registrar read. Run with `cargo bench -p trunkline-sip`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code may panic

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use trunkline_sip::Message;

mod fixtures;
use fixtures::{INVITE, REGISTER, typed};

fn bench(c: &mut Criterion) {
    eprintln!("INVITE fixture: {} bytes", INVITE.len());
    let mut g = c.benchmark_group("parse");
    for (name, msg) in [("invite_sdp_1306B", INVITE), ("register_auth", REGISTER)] {
        Message::parse(msg).unwrap();
        g.bench_function(format!("{name}/frame"), |b| {
            b.iter(|| Message::parse(black_box(msg)).unwrap().headers().len())
        });
        g.bench_function(format!("{name}/frame+typed"), |b| {
            b.iter(|| typed(&Message::parse(black_box(msg)).unwrap()))
        });
    }
    g.bench_function("register_auth/frame+typed+credentials", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(REGISTER)).unwrap();
            let auth = m.header(trunkline_sip::HeaderName::Authorization).unwrap();
            let creds = trunkline_sip::digest::parse_credentials(auth.value).unwrap();
            typed(&m) + creds.username().map_or(0, |u| u.raw().len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
