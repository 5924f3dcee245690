//! Receive statistics of one RTP stream (one SSRC): packets, bytes, the extended highest
//! sequence number with wrap-around and resynchronisation after a large jump (RFC 3550 A.1),
//! expected and lost packets (A.3) and interarrival jitter (A.8). Sans-IO: arrival times are
//! given by the caller.

use std::time::Duration;

/// A jump this far ahead is taken as a restart of the sender's sequence, not loss.
const MAX_DROPOUT: u16 = 3000;
/// A packet this far behind is late (reordered), not a restart.
const MAX_MISORDER: u16 = 100;

/// The statistics of one received stream.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    ssrc: Option<u32>,
    packets: u64,
    bytes: u64,
    base_seq: u32,
    max_seq: u16,
    /// Sequence wraps seen, shifted left 16 (RFC 3550's `cycles`).
    cycles: u32,
    /// Packets expected under earlier numberings of this SSRC (before a restart).
    expected_carry: u64,
    /// After a large jump: the sequence number that would confirm a restart.
    bad_seq: Option<u16>,
    /// Relative transit time of the previous packet, in timestamp units.
    transit: Option<i64>,
    /// Interarrival jitter in timestamp units.
    jitter: f64,
}

/// The tracking state of a stream handed to someone else to carry on (RFC 3550 A.1's
/// `max_seq` and `cycles`, A.8's jitter in timestamp units times 16, as its integer form
/// keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carry {
    pub ssrc: u32,
    pub clock_rate: u32,
    pub max_seq: u16,
    pub cycles: u32,
    pub jitter16: u32,
}

/// A stream's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Qos {
    pub packets: u64,
    pub bytes: u64,
    /// Packets the sequence numbers say should have arrived.
    pub expected: u64,
    /// Expected minus received; negative when duplicates arrived.
    pub lost: i64,
    /// `lost / expected`, 0 when nothing was expected, never below 0.
    pub loss_fraction: f64,
    /// Interarrival jitter.
    pub jitter: Duration,
}

impl ReceiveStats {
    /// Statistics for a stream whose RTP clock runs at `clock_rate` Hz (8000 for G.711).
    pub fn new(clock_rate: u32) -> Self {
        ReceiveStats {
            clock_rate: clock_rate.max(1),
            ssrc: None,
            packets: 0,
            bytes: 0,
            base_seq: 0,
            max_seq: 0,
            cycles: 0,
            expected_carry: 0,
            bad_seq: None,
            transit: None,
            jitter: 0.0,
        }
    }

    /// Counts a packet of `ssrc` with sequence number `seq` and RTP timestamp `timestamp`,
    /// `bytes` long, that arrived at `arrival` (any monotonic origin, the same for every
    /// packet). A packet of another SSRC restarts the statistics (the sender changed).
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        bytes: usize,
        arrival: Duration,
    ) {
        if self.ssrc != Some(ssrc) {
            *self = ReceiveStats::new(self.clock_rate);
            self.ssrc = Some(ssrc);
            self.restart(seq);
        } else if !self.update_seq(seq) {
            return;
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        self.update_jitter(timestamp, arrival);
    }

    fn restart(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.cycles = 0;
        self.bad_seq = None;
        self.packets = 0;
        self.bytes = 0;
        self.transit = None;
    }

    /// RFC 3550 A.1: whether `seq` counts (a large jump counts only once confirmed by the
    /// next packet, which then restarts the sequence).
    fn update_seq(&mut self, seq: u16) -> bool {
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
            self.bad_seq = None;
            true
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A very large jump: a restart if the next packet follows it.
            if self.bad_seq == Some(seq) {
                // Keep the counts: the packets did arrive, only the numbering restarted.
                let (packets, bytes) = (self.packets, self.bytes);
                let carry = self.expected_carry + self.era_expected();
                self.restart(seq);
                (self.packets, self.bytes, self.expected_carry) = (packets, bytes, carry);
                true
            } else {
                self.bad_seq = Some(seq.wrapping_add(1));
                false
            }
        } else {
            // Late or duplicate: counted, the highest sequence stays.
            true
        }
    }

    /// RFC 3550 A.8: J += (|D| - J) / 16, with transit times in timestamp units.
    fn update_jitter(&mut self, timestamp: u32, arrival: Duration) {
        let arrival_ts = (arrival.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as i64;
        // Timestamps wrap at 2^32; the difference of two transit times stays small.
        let transit = arrival_ts.wrapping_sub(i64::from(timestamp));
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// The extended highest sequence number received (cycles and sequence, A.1).
    pub fn extended_max(&self) -> u32 {
        self.cycles | u32::from(self.max_seq)
    }

    /// Interarrival jitter in timestamp units, as an RTCP report block carries it.
    pub fn jitter_units(&self) -> u32 {
        self.jitter as u32
    }

    /// Packets expected under the current numbering.
    fn era_expected(&self) -> u64 {
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }

    /// Where the sequence and jitter tracking stand, for someone else (the kernel fast path)
    /// to carry on with the same stream; `None` before the first packet.
    pub fn handover(&self) -> Option<Carry> {
        Some(Carry {
            ssrc: self.ssrc?,
            clock_rate: self.clock_rate,
            max_seq: self.max_seq,
            cycles: self.cycles,
            jitter16: (self.jitter * 16.0) as u32,
        })
    }

    /// Takes back what was carried on elsewhere: `packets` and `bytes` more arrived, and the
    /// tracking stands at `carry` (of the same SSRC; another SSRC's figures are ignored). The
    /// next packet's transit time starts afresh, as the other side's clock origin differs.
    /// Nothing changes when nothing more arrived there: the tracking then stands where it was
    /// handed over, and a restart this side is waiting to confirm is kept.
    pub fn take_back(&mut self, packets: u64, bytes: u64, carry: Carry) {
        if packets == 0 || self.ssrc != Some(carry.ssrc) {
            return;
        }
        self.packets += packets;
        self.bytes += bytes;
        self.max_seq = carry.max_seq;
        self.cycles = carry.cycles;
        self.jitter = f64::from(carry.jitter16) / 16.0;
        self.bad_seq = None;
        self.transit = None;
    }

    /// The stream's SSRC, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// The figures so far.
    pub fn qos(&self) -> Qos {
        let expected = match self.ssrc {
            Some(_) => self.expected_carry + self.era_expected(),
            None => 0,
        };
        let lost = expected as i64 - self.packets as i64;
        let loss_fraction = match expected {
            0 => 0.0,
            e => (lost.max(0) as f64 / e as f64).min(1.0),
        };
        Qos {
            packets: self.packets,
            bytes: self.bytes,
            expected,
            lost,
            loss_fraction,
            jitter: Duration::from_secs_f64(self.jitter / f64::from(self.clock_rate)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0xabcd;

    /// Feeds `seqs` as 20 ms G.711 packets arriving exactly on time.
    fn feed(s: &mut ReceiveStats, seqs: impl IntoIterator<Item = u16>) {
        for seq in seqs {
            let n = u64::from(seq);
            s.on_packet(
                SSRC,
                seq,
                (n * 160) as u32,
                172,
                Duration::from_millis(n * 20),
            );
        }
    }

    #[test]
    fn a_stream_carried_on_elsewhere_and_taken_back_counts_as_one() {
        let mut whole = ReceiveStats::new(8000);
        feed(&mut whole, 0..40);
        let mut split = ReceiveStats::new(8000);
        feed(&mut split, 0..20);
        let carry = split.handover().map(|c| Carry { max_seq: 39, ..c });
        split.take_back(20, 20 * 172, carry.unwrap());
        assert_eq!(split.qos(), whole.qos());
        assert_eq!(split.extended_max(), 39);
        // Another stream's figures do not count.
        let other = Carry {
            ssrc: 1,
            ..carry.unwrap()
        };
        split.take_back(5, 5, other);
        assert_eq!(split.qos().packets, 40);
    }

    #[test]
    fn a_clean_stream_has_no_loss_and_no_jitter() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 0..500);
        let q = s.qos();
        assert_eq!(
            (q.packets, q.expected, q.lost, q.bytes),
            (500, 500, 0, 500 * 172)
        );
        assert_eq!(q.loss_fraction, 0.0);
        assert_eq!(q.jitter, Duration::ZERO);
    }

    #[test]
    fn gaps_count_as_loss_and_late_packets_are_not_lost() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, (0..100).filter(|n| n % 10 != 3));
        let q = s.qos();
        assert_eq!((q.expected, q.lost), (100, 10));
        assert!((q.loss_fraction - 0.1).abs() < 1e-9);
        // Two of them arrive late after all.
        feed(&mut s, [13, 23]);
        assert_eq!(s.qos().lost, 8);
        assert_eq!(s.extended_max(), 99);
    }

    #[test]
    fn the_sequence_wraps_without_losing_count() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, (65_000..=65_535).chain(0..1000).map(|n| n as u16));
        let q = s.qos();
        assert_eq!((q.expected, q.lost), (1536, 0));
        assert_eq!(s.extended_max(), (1 << 16) | 999);
    }

    #[test]
    fn a_restarted_sequence_is_followed_after_two_packets() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 0..50);
        // The sender restarts its numbering (say after a re-INVITE to another device).
        feed(&mut s, 30_000..30_050);
        let q = s.qos();
        assert_eq!(
            q.packets, 99,
            "the first packet after the jump waits for confirmation"
        );
        assert_eq!(q.lost, 0);
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        let mut s = ReceiveStats::new(8000);
        // Every other packet 10 ms late: |D| alternates 80 units; J converges towards 80.
        for n in 0..2000u64 {
            let late = if n % 2 == 1 { 10 } else { 0 };
            s.on_packet(
                SSRC,
                n as u16,
                (n * 160) as u32,
                172,
                Duration::from_millis(n * 20 + late),
            );
        }
        let j = s.jitter_units();
        assert!((78..=80).contains(&j), "{j}");
        let ms = s.qos().jitter.as_secs_f64() * 1000.0;
        assert!((9.7..=10.0).contains(&ms), "{ms}");
    }

    #[test]
    fn a_new_ssrc_starts_over() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, 0..10);
        s.on_packet(SSRC + 1, 500, 0, 100, Duration::from_secs(1));
        let q = s.qos();
        assert_eq!((q.packets, q.expected, q.bytes), (1, 1, 100));
    }
}
