//! Learning where a leg's peer really is (symmetric RTP, RFC 4961): phones behind NAT
//! advertise a private address in SDP but send from their NAT's public one, so the relay
//! answers to where packets come from. To resist hijacking (a stranger spraying packets at
//! relay ports, as RTP bleed/injection attacks do), the learnt source may move freely only
//! during the first packets; after that only packets that continue the same stream (same
//! SSRC) may move it, as when a NAT rebinds. A new offer (re-INVITE) starts learning again.

use std::net::SocketAddr;

/// Packets from the learnt source after which it is locked.
const LOCK_AFTER: u32 = 10;

/// What to do with an arriving packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the learnt source: relay it.
    Accept,
    /// The source is new (or moved, legitimately): relay it, and answer there from now on.
    Latched(SocketAddr),
    /// From a stranger: drop it.
    Drop,
}

/// The source learning of one port (RTP or RTCP) of one leg.
#[derive(Debug, Clone, Default)]
pub struct Latch {
    /// Where SDP says the peer is; used until something arrives.
    expected: Option<SocketAddr>,
    /// Where packets come from.
    learnt: Option<SocketAddr>,
    ssrc: Option<u32>,
    seen: u32,
}

impl Latch {
    /// The peer's address as its SDP gives it. A changed address (a new offer) lets the
    /// source be learnt afresh.
    pub fn expect(&mut self, addr: SocketAddr) {
        if self.expected != Some(addr) {
            self.expected = Some(addr);
            self.seen = 0;
        }
    }

    /// Where packets for this peer go: the learnt source, else the SDP address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.learnt.or(self.expected)
    }

    /// Where packets have been coming from, once something arrived.
    pub fn source(&self) -> Option<SocketAddr> {
        self.learnt
    }

    /// Whether the source can no longer move to a different stream.
    pub fn is_locked(&self) -> bool {
        self.seen >= LOCK_AFTER
    }

    /// A packet arrived from `from`, of stream `ssrc` when known.
    pub fn on_packet(&mut self, from: SocketAddr, ssrc: Option<u32>) -> Verdict {
        if self.learnt == Some(from) {
            self.seen = self.seen.saturating_add(1);
            if self.ssrc.is_none() {
                self.ssrc = ssrc;
            }
            return Verdict::Accept;
        }
        let same_stream = ssrc.is_some() && ssrc == self.ssrc;
        if self.learnt.is_some() && self.is_locked() && !same_stream {
            return Verdict::Drop;
        }
        self.learnt = Some(from);
        self.ssrc = ssrc.or(self.ssrc);
        self.seen = match same_stream {
            true => self.seen,
            false => 1,
        };
        Verdict::Latched(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_natted_phone_is_answered_where_it_sends_from() {
        let mut l = Latch::default();
        l.expect(addr("192.168.1.20:4000"));
        assert_eq!(l.destination(), Some(addr("192.168.1.20:4000")));
        let public = addr("203.0.113.7:61000");
        assert_eq!(l.on_packet(public, Some(1)), Verdict::Latched(public));
        assert_eq!(l.destination(), Some(public));
        assert_eq!(l.on_packet(public, Some(1)), Verdict::Accept);
    }

    #[test]
    fn a_stranger_cannot_take_over_a_locked_stream() {
        let mut l = Latch::default();
        let phone = addr("203.0.113.7:61000");
        for _ in 0..LOCK_AFTER {
            l.on_packet(phone, Some(1));
        }
        assert!(l.is_locked());
        let attacker = addr("198.51.100.66:5004");
        assert_eq!(l.on_packet(attacker, Some(99)), Verdict::Drop);
        assert_eq!(l.on_packet(attacker, None), Verdict::Drop);
        assert_eq!(l.destination(), Some(phone));
    }

    #[test]
    fn the_same_stream_may_move_when_the_nat_rebinds() {
        let mut l = Latch::default();
        let phone = addr("203.0.113.7:61000");
        for _ in 0..LOCK_AFTER {
            l.on_packet(phone, Some(7));
        }
        let rebound = addr("203.0.113.7:61044");
        assert_eq!(l.on_packet(rebound, Some(7)), Verdict::Latched(rebound));
        assert!(
            l.is_locked(),
            "still locked: a stranger still cannot take it"
        );
        assert_eq!(l.on_packet(phone, Some(8)), Verdict::Drop);
    }

    #[test]
    fn early_packets_may_move_and_a_new_offer_unlocks() {
        let mut l = Latch::default();
        let (a, b) = (addr("10.0.0.1:4000"), addr("203.0.113.7:61000"));
        l.on_packet(a, Some(1));
        assert_eq!(
            l.on_packet(b, Some(2)),
            Verdict::Latched(b),
            "not locked yet"
        );
        for _ in 0..LOCK_AFTER {
            l.on_packet(b, Some(2));
        }
        // A re-INVITE moves the call to another device.
        l.expect(addr("192.0.2.50:7000"));
        let c = addr("192.0.2.50:7000");
        assert_eq!(l.on_packet(c, Some(3)), Verdict::Latched(c));
    }
}
