//! Test kit: a destination type, message builders, and a simulated network of two engines.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use trunkline_proto::{ClientTxId, Destination, Engine, Incoming, Output, Timers};
use trunkline_sip::{Message, ResponseBuilder, Via, ViaReceived};

/// A peer by number; reliability is per test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub id: u8,
    pub reliable: bool,
}

impl Destination for Peer {
    fn is_reliable(&self) -> bool {
        self.reliable
    }
    fn response_target(&self, _top_via: Option<&Via<'_>>) -> Self {
        *self
    }
    fn via_received(&self, _top_via: Option<&Via<'_>>) -> ViaReceived {
        ViaReceived::default()
    }
}

pub fn request(method: &str, branch: &str, to_tag: Option<&str>) -> Bytes {
    request_with(method, branch, to_tag, "f1", "call-1", 1)
}

pub fn request_with(
    method: &str,
    branch: &str,
    to_tag: Option<&str>,
    from_tag: &str,
    call_id: &str,
    cseq: u32,
) -> Bytes {
    let via = if branch.is_empty() {
        "SIP/2.0/UDP uac.example.test:5060".to_string()
    } else {
        format!("SIP/2.0/UDP uac.example.test:5060;branch={branch}")
    };
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    Bytes::from(format!(
        "{method} sip:bob@uas.example.test SIP/2.0\r\nVia: {via}\r\nRoute: <sip:proxy.example.test;lr>\r\n\
From: <sip:alice@example.test>;tag={from_tag}\r\nTo: <sip:bob@example.test>{to_tag}\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ))
}

pub fn response_to(req: &[u8], code: u16) -> Bytes {
    let m = Message::parse(req).unwrap();
    Bytes::from(
        ResponseBuilder::new(&m, code, "Test", Some("uas-tag"), ViaReceived::default())
            .finish(None),
    )
}

pub fn code_of(bytes: &[u8]) -> u16 {
    Message::parse(bytes).unwrap().status_line().unwrap().code
}

pub fn method_of(bytes: &[u8]) -> String {
    Message::parse(bytes).unwrap().method().unwrap().to_string()
}

/// Drains an engine's outputs.
pub fn drain<D: Destination>(e: &mut Engine<D>) -> Vec<Output<D>> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

/// The bytes of every Transmit in `out`.
pub fn sent<D>(out: &[Output<D>]) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Output::Transmit { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// Runs `e`'s timers from `start` until `end`, returning (offset, output) for each output.
pub fn run_timers<D: Destination>(
    e: &mut Engine<D>,
    start: Instant,
    end: Duration,
) -> Vec<(Duration, Output<D>)> {
    let mut log = Vec::new();
    while let Some(at) = e.poll_timeout() {
        if at > start + end {
            break;
        }
        e.handle_timeout(at);
        for o in drain(e) {
            log.push((at - start, o));
        }
    }
    log
}

pub fn timers() -> Timers {
    Timers::default()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The new requests in `out`.
pub fn requests<D: Clone>(out: &[Output<D>]) -> Vec<Incoming<D>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Request(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

/// Responses delivered for `tx` in `out`.
pub fn responses<D>(out: &[Output<D>], tx: ClientTxId) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Output::Response { tx: t, code, .. } if *t == tx => Some(*code),
            Output::ClientFailed { tx: t, code } if *t == tx => Some(*code),
            _ => None,
        })
        .collect()
}
