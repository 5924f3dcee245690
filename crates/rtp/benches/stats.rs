//! Per-packet cost of what the relay does to every RTP packet it forwards: parse the header
//! and update the stream's statistics.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use trunkline_rtp::{Header, ReceiveStats};

fn per_packet(c: &mut Criterion) {
    let packets: Vec<Vec<u8>> = (0..1024u16)
        .map(|seq| Header::pcmu(0x1234_5678, seq))
        .collect();
    c.bench_function("parse+stats per G.711 packet", |b| {
        let mut stats = ReceiveStats::new(8000);
        let mut i = 0usize;
        b.iter(|| {
            let p = &packets[i & 1023];
            i += 1;
            if let Some(h) = Header::parse(black_box(p)) {
                let arrival = Duration::from_millis(i as u64 * 20);
                stats.on_packet(h.ssrc, h.sequence, h.timestamp, p.len(), arrival);
            }
        });
        black_box(stats.qos());
    });
}

criterion_group!(benches, per_packet);
criterion_main!(benches);
