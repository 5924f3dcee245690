//! The relay core's cost per forwarded RTP packet (parse, latch check, statistics, route),
//! across many concurrent calls as a loaded media node has them.

#![allow(clippy::unwrap_used)] // a benchmark may panic on its own setup

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use trunkline_media::{PortPool, Relay, Side};
use trunkline_rtp::Header;

fn per_packet(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut relay = Relay::new(PortPool::new(20000..=60000), t0, SystemTime::now());
    let calls = 2000u32;
    let mut ports = Vec::new();
    for n in 0..calls {
        let (id, a, _) = relay.create(t0).unwrap();
        let peer: SocketAddr = format!("127.0.0.1:{}", 10000 + n).parse().unwrap();
        relay.set_peer(id, Side::Caller, peer, None).unwrap();
        relay
            .set_peer(id, Side::Callee, "127.0.0.2:5004".parse().unwrap(), None)
            .unwrap();
        ports.push((a, peer));
    }
    let packets: Vec<Vec<u8>> = (0..calls).map(|n| Header::pcmu(n, 0)).collect();
    c.bench_function("relay receive per RTP packet (2,000 calls)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let k = i % calls as usize;
            let (port, from) = ports[k];
            let mut p = packets[k].clone();
            let seq = (i / calls as usize) as u16;
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            let now = t0 + Duration::from_millis(i as u64 / 100);
            i += 1;
            black_box(relay.receive(port, from, black_box(&p), now))
        });
    });
}

criterion_group!(benches, per_packet);
criterion_main!(benches);
