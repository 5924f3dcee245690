//! Runs one parse variant N times, for instruction counts under `valgrind --tool=callgrind`
//! (exact and repeatable on a busy machine, unlike wall time): see `bench/parse-instructions`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // measurement code may panic

use std::hint::black_box;

use trunkline_sip::Message;

#[path = "../benches/fixtures/mod.rs"]
mod fixtures;
use fixtures::{INVITE, REGISTER, typed};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let variant = args.get(1).map_or("invite-frame", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut sink = 0usize;
    for _ in 0..n {
        sink += match variant {
            "invite-frame" => Message::parse(black_box(INVITE)).unwrap().headers().len(),
            "invite-typed" => typed(&Message::parse(black_box(INVITE)).unwrap()),
            "register-frame" => Message::parse(black_box(REGISTER)).unwrap().headers().len(),
            "register-typed" => typed(&Message::parse(black_box(REGISTER)).unwrap()),
            "none" => 0,
            other => panic!("unknown variant {other}"),
        };
    }
    println!("{variant} x{n}: {sink}");
}
