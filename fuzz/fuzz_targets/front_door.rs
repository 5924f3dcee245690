//! The whole per-message logic of the running server: bytes from a peer through
//! `FrontDoor::handle`, as a UDP datagram and as TCP (directly, and cut by the stream framer
//! the way a connection does, including the framing-error and end-of-stream paths).
//!
//! Invariant: nothing panics, and every reply the server would send parses as a SIP response
//! with the status code it reports. An unparseable response would break the peer's
//! transaction layer and could be a header-injection vector.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trunkline_server::front::{FrontDoor, Outcome};
use trunkline_server::{Config, Transport};
use trunkline_sip::{Frame, Message, ParseError, ParseErrorKind, StreamFramer};

const SOURCE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060);

fn config() -> &'static (FrontDoor, usize) {
    static DOOR: OnceLock<(FrontDoor, usize)> = OnceLock::new();
    DOOR.get_or_init(|| {
        let config = Config::default();
        (
            FrontDoor::new(&config.sip),
            config.sip.max_message_size as usize,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (door, max_size) = config();
    for transport in [Transport::Udp, Transport::Tcp] {
        assert_sendable(door.handle(data, SOURCE, transport));
    }
    stream(door, *max_size, data);
});

/// What a TCP connection does with the bytes (crates/server/src/tcp.rs), one read at a time.
fn stream(door: &FrontDoor, max_size: usize, data: &[u8]) {
    let mut framer = StreamFramer::new(max_size);
    framer.push(data);
    loop {
        match framer.next_frame() {
            Ok(None) => break,
            Ok(Some(Frame::Ping | Frame::Pong)) => {}
            Ok(Some(Frame::Message(bytes))) => {
                assert_sendable(door.handle(&bytes, SOURCE, Transport::Tcp));
            }
            Err(e) => {
                let pending = framer.take_buffered();
                assert_sendable(door.reject(&pending, e, SOURCE, Transport::Tcp));
                return;
            }
        }
    }
    // End of stream with a partial message left over.
    let pending = framer.take_buffered();
    if pending.iter().any(|&b| b != b'\r' && b != b'\n') {
        let e = ParseError {
            kind: ParseErrorKind::TruncatedBody,
            offset: pending.len(),
        };
        assert_sendable(door.reject(&pending, e, SOURCE, Transport::Tcp));
    }
}

fn assert_sendable(outcome: Outcome) {
    let Outcome::Reply(reply) = outcome else {
        return;
    };
    let parsed = match Message::parse(&reply.bytes) {
        Ok(m) => m,
        Err(e) => panic!(
            "the server would send an unparseable response ({e}): {:?}",
            String::from_utf8_lossy(&reply.bytes)
        ),
    };
    let status = parsed.status_line().map(|s| s.code);
    assert_eq!(
        status,
        Some(reply.code),
        "reply is not a response with its reported code: {:?}",
        String::from_utf8_lossy(&reply.bytes)
    );
    // A reply is one message: nothing may follow the body its Content-Length delimits.
    assert_eq!(
        parsed.raw().len(),
        reply.bytes.len(),
        "reply carries bytes after its body: {:?}",
        String::from_utf8_lossy(&reply.bytes)
    );
}
