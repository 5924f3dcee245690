//! Transaction engine throughput, sans-IO: no sockets, no clock reads in the engine.
//! `cargo bench -p trunkline-proto`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code may panic

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trunkline_proto::{Destination, Engine, Output, Timers};
use trunkline_sip::{Message, ResponseBuilder, Via, ViaReceived};

#[derive(Debug, Clone, Copy)]
struct Peer;

impl Destination for Peer {
    fn is_reliable(&self) -> bool {
        false
    }
    fn response_target(&self, _: Option<&Via<'_>>) -> Self {
        Peer
    }
    fn via_received(&self, _: Option<&Via<'_>>) -> ViaReceived {
        ViaReceived::default()
    }
}

fn request(method: &str, i: usize) -> Bytes {
    Bytes::from(format!(
        "{method} sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-bench-{i}\r\n\
From: <sip:alice@example.test>;tag=a{i}\r\nTo: <sip:bob@example.test>\r\nCall-ID: bench-{i}@192.0.2.1\r\n\
CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn response(req: &[u8], code: u16) -> Bytes {
    let m = Message::parse(req).unwrap();
    Bytes::from(ResponseBuilder::new(&m, code, "X", Some("t"), ViaReceived::default()).finish(None))
}

const BATCH: usize = 4096;

fn bench(c: &mut Criterion) {
    let opts: Vec<(Bytes, Bytes)> = (0..BATCH)
        .map(|i| {
            let r = request("OPTIONS", i);
            let resp = response(&r, 200);
            (r, resp)
        })
        .collect();
    let invites: Vec<(Bytes, Bytes, Bytes)> = (0..BATCH)
        .map(|i| {
            let r = request("INVITE", i);
            let resp = response(&r, 486);
            let ack = Bytes::from(String::from_utf8_lossy(&request("ACK", i)).replace(
                "To: <sip:bob@example.test>",
                "To: <sip:bob@example.test>;tag=t",
            ));
            (r, resp, ack)
        })
        .collect();

    let mut g = c.benchmark_group("transactions");
    g.throughput(Throughput::Elements(BATCH as u64));
    // A server transaction's whole life: request in, final out, Timer J, gone.
    g.bench_function("non_invite_server_lifecycle", |b| {
        b.iter(|| {
            let mut e: Engine<Peer> = Engine::new(Timers::default());
            let t0 = Instant::now();
            for (req, resp) in &opts {
                e.receive(req.clone(), Peer, t0);
                while let Some(o) = e.poll_output() {
                    if let Output::Request(inc) = o {
                        e.respond(inc.tx, resp.clone(), t0).unwrap();
                    }
                }
            }
            e.handle_timeout(t0 + Duration::from_secs(40));
            while e.poll_output().is_some() {}
            black_box(e.len())
        })
    });
    // INVITE rejected with 486: request, final with Timer G/H, ACK, Timer I, gone.
    g.bench_function("invite_server_reject_lifecycle", |b| {
        b.iter(|| {
            let mut e: Engine<Peer> = Engine::new(Timers::default());
            let t0 = Instant::now();
            for (req, resp, ack) in &invites {
                e.receive(req.clone(), Peer, t0);
                while let Some(o) = e.poll_output() {
                    if let Output::Request(inc) = o {
                        e.respond(inc.tx, resp.clone(), t0).unwrap();
                    }
                }
                e.receive(ack.clone(), Peer, t0);
                while e.poll_output().is_some() {}
            }
            e.handle_timeout(t0 + Duration::from_secs(40));
            while e.poll_output().is_some() {}
            black_box(e.len())
        })
    });
    // Client and server engines talking: request, 200, both sides' wait timers.
    g.bench_function("non_invite_client_server_pair", |b| {
        b.iter(|| {
            let mut uac: Engine<Peer> = Engine::new(Timers::default());
            let mut uas: Engine<Peer> = Engine::new(Timers::default());
            let t0 = Instant::now();
            for (req, resp) in &opts {
                uac.request(req.clone(), Peer, t0).unwrap();
                while let Some(o) = uac.poll_output() {
                    if let Output::Transmit { bytes, .. } = o {
                        uas.receive(bytes, Peer, t0);
                    }
                }
                while let Some(o) = uas.poll_output() {
                    match o {
                        Output::Request(inc) => uas.respond(inc.tx, resp.clone(), t0).unwrap(),
                        Output::Transmit { bytes, .. } => uac.receive(bytes, Peer, t0),
                        _ => {}
                    }
                }
                while uac.poll_output().is_some() {}
            }
            uac.handle_timeout(t0 + Duration::from_secs(40));
            uas.handle_timeout(t0 + Duration::from_secs(40));
            black_box((uac.len(), uas.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
