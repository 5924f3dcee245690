//! The TCP stream framer fed in pieces: the first two bytes choose where the rest is split, so
//! the fuzzer explores messages, pings and pongs cut at every boundary.
//!
//! Invariants: nothing panics; no frame exceeds the size cap; every message frame either
//! parses with `Message::parse_stream` to exactly its own length, or returns an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_sip::{Frame, Message, StreamFramer};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let (cuts, rest) = match data {
        [a, b, rest @ ..] => ([usize::from(*a), usize::from(*b)], rest),
        _ => return,
    };
    let mut framer = StreamFramer::new(MAX);
    let mut at = 0;
    for cut in cuts.iter().chain(std::iter::once(&rest.len())) {
        let end = (at + cut).min(rest.len());
        framer.push(&rest[at..end]);
        at = end;
        if !drain(&mut framer) {
            return;
        }
    }
    let _ = framer.buffered();
    let _ = framer.take_buffered();
});

/// Takes every complete frame; false once the framing is lost (the connection would close).
fn drain(framer: &mut StreamFramer) -> bool {
    loop {
        match framer.next_frame() {
            Ok(None) => return true,
            Ok(Some(Frame::Ping | Frame::Pong)) => {}
            Ok(Some(Frame::Message(bytes))) => {
                assert!(
                    bytes.len() <= MAX,
                    "frame of {} bytes exceeds the cap",
                    bytes.len()
                );
                if let Ok(m) = Message::parse_stream(&bytes) {
                    let _ = m.headers().len();
                    // Framer and parser agree on where the message ends: no octet of the
                    // stream is dropped or smuggled into the next message. (The parser skips
                    // CRLFs before a start line, which the framer leaves in the frame.)
                    let lead = bytes.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
                    assert_eq!(lead + m.raw().len(), bytes.len(), "framer and parser disagree");
                }
            }
            Err(_) => return false,
        }
    }
}
