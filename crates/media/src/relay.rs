//! Calls of two sides (caller and callee), each side a leg: a local RTP port with its RTCP
//! port above it. A packet from a leg's peer arrives on that leg's port and leaves from the
//! other side's port towards the other peer, where the other leg's latch says it is. Per leg:
//! receive statistics of what its peer sends, what its peer's RTCP reports, packets dropped
//! as strangers', and when something last arrived (for the media timeout).
//!
//! A forked call has a callee leg per branch (each branch's phone is offered its own port,
//! so that two ringing phones' early media cannot collide on one latch). One branch is
//! selected at a time, the one whose SDP came last: media flows between the caller and it,
//! what the other branches send is counted but goes nowhere. The answering branch is kept
//! and the others' ports are freed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use trunkline_rtp::{Codec, Header, Qos, ReceiveStats, ReportSummary, is_rtcp, mos};

use crate::latch::{Latch, Verdict};
use crate::pool::PortPool;
use crate::record::Recorder;

mod handover;
pub use handover::Handover;

/// How much longer than the media timeout a call without any media yet is kept: as long as
/// the proxy lets an INVITE ring (Timer C, 180 s by default).
pub const RING_GRACE: Duration = Duration::from_secs(180);

/// A call of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A callee-side branch of a forked call, named by the signalling (the proxy's fork
/// branch); a call starts with branch 0.
pub type Branch = u32;

/// Which party a leg faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    /// The party across the call.
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }

    /// Its place in a pair of per-side figures: the caller's first.
    pub fn index(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Callee => 1,
        }
    }
}

/// RTP or RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rtp,
    Rtcp,
}

/// Send the packet, unchanged, from local `from_port` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub from_port: u16,
    pub to: SocketAddr,
    pub kind: Kind,
}

/// Why the relay refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("no relay ports left")]
    NoPorts,
    #[error("no such call")]
    UnknownCall,
}

/// The quality of what one leg's peer sent, and what that peer reports about what it got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegQos {
    /// What arrived from this leg's peer.
    pub received: Qos,
    /// Packets from strangers (not the latched source) that were dropped.
    pub dropped: u64,
    /// RTCP packets and bytes that arrived from this leg's peer.
    pub rtcp: (u64, u64),
    /// The peer's latest RTCP report on the stream the relay sends it.
    pub peer_report: Option<ReportSummary>,
    /// Estimated MOS of what arrived from this peer (G.711; delay from the RTCP round trip
    /// when known).
    pub mos: f64,
    /// Whether the kernel forwards this peer's RTP now (the data plane's fast path).
    pub kernel: bool,
    /// The SSRC of the stream arriving from this peer, once one arrived.
    pub ssrc: Option<u32>,
}

#[derive(Debug)]
struct Leg {
    port: u16,
    rtp: Latch,
    rtcp: Latch,
    stats: ReceiveStats,
    peer_report: Option<ReportSummary>,
    dropped: u64,
    rtcp_in: (u64, u64),
    last_rx: Option<Instant>,
}

impl Leg {
    fn new(port: u16) -> Self {
        Leg {
            port,
            rtp: Latch::default(),
            rtcp: Latch::default(),
            stats: ReceiveStats::new(8000),
            peer_report: None,
            dropped: 0,
            rtcp_in: (0, 0),
            last_rx: None,
        }
    }

    fn qos(&self) -> LegQos {
        let received = self.stats.qos();
        let delay_ms =
            (self.peer_report.and_then(|r| r.rtt)).map_or(0.0, |rtt| rtt.as_secs_f64() * 500.0);
        let jitter_ms = received.jitter.as_secs_f64() * 1000.0;
        LegQos {
            received,
            dropped: self.dropped,
            rtcp: self.rtcp_in,
            peer_report: self.peer_report,
            mos: mos(delay_ms, jitter_ms, received.loss_fraction, Codec::G711),
            kernel: false,
            ssrc: self.stats.ssrc(),
        }
    }
}

#[derive(Debug)]
struct Call {
    caller: Leg,
    /// The callee leg of each branch, in the order they were added.
    callees: Vec<(Branch, Leg)>,
    /// Which of `callees` media flows with.
    selected: usize,
    created: Instant,
    recorder: Option<Recorder>,
    /// On hold with nobody sending (`a=inactive`): exempt from the media timeout.
    held: bool,
    /// When the latest SDP arrived: silence is counted from then at the earliest.
    touched: Option<Instant>,
}

/// The relay's state.
#[derive(Debug)]
pub struct Relay {
    pool: PortPool,
    calls: HashMap<CallId, Call>,
    /// RTP port → its call, side and (callee side) branch.
    ports: HashMap<u16, (CallId, Side, Branch)>,
    next: u64,
    epoch: Instant,
    /// The wall clock at `epoch`, for the NTP times RTCP round trips are measured in.
    epoch_wall: SystemTime,
}

impl Call {
    fn callee(&self) -> Option<&Leg> {
        self.callees.get(self.selected).map(|(_, l)| l)
    }

    fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::Caller => Some(&mut self.caller),
            Side::Callee => self.callees.get_mut(self.selected).map(|(_, l)| l),
        }
    }

    fn legs(&self) -> impl Iterator<Item = &Leg> {
        std::iter::once(&self.caller).chain(self.callees.iter().map(|(_, l)| l))
    }

    fn qos(&self) -> Option<[LegQos; 2]> {
        Some([self.caller.qos(), self.callee()?.qos()])
    }
}

impl Relay {
    /// A relay handing out ports from `pool`; `now` is its time origin and `wall` the wall
    /// clock at that moment.
    pub fn new(pool: PortPool, now: Instant, wall: SystemTime) -> Self {
        Relay {
            pool,
            calls: HashMap::new(),
            ports: HashMap::new(),
            next: 0,
            epoch: now,
            epoch_wall: wall,
        }
    }

    /// A new call with a port for each leg: (call, caller-facing port, callee-facing port).
    pub fn create(&mut self, now: Instant) -> Result<(CallId, u16, u16), RelayError> {
        let a = self.pool.take().ok_or(RelayError::NoPorts)?;
        let Some(b) = self.pool.take() else {
            self.pool.give(a);
            return Err(RelayError::NoPorts);
        };
        self.next += 1;
        let id = CallId(self.next);
        self.ports.insert(a, (id, Side::Caller, 0));
        self.ports.insert(b, (id, Side::Callee, 0));
        let call = Call {
            caller: Leg::new(a),
            callees: vec![(0, Leg::new(b))],
            selected: 0,
            created: now,
            recorder: None,
            held: false,
            touched: None,
        };
        self.calls.insert(id, call);
        Ok((id, a, b))
    }

    /// Selects callee-side `branch` of the call, with a port of its own if it is new: (its
    /// RTP port, whether it is new).
    pub fn select(&mut self, call: CallId, branch: Branch) -> Result<(u16, bool), RelayError> {
        let c = self.calls.get_mut(&call).ok_or(RelayError::UnknownCall)?;
        if let Some(i) = c.callees.iter().position(|(b, _)| *b == branch) {
            c.selected = i;
            return Ok((c.callees[i].1.port, false));
        }
        let port = self.pool.take().ok_or(RelayError::NoPorts)?;
        c.callees.push((branch, Leg::new(port)));
        c.selected = c.callees.len() - 1;
        self.ports.insert(port, (call, Side::Callee, branch));
        Ok((port, true))
    }

    /// Keeps callee-side `branch` (the one that answered) and frees the others: their RTP
    /// ports. A branch the call does not have changes nothing (the relaying started with
    /// the answer, a late offer, so the call has one branch only).
    pub fn keep(&mut self, call: CallId, branch: Branch) -> Vec<u16> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        if !c.callees.iter().any(|(b, _)| *b == branch) {
            return Vec::new();
        }
        let mut freed = Vec::new();
        c.callees.retain(|(b, leg)| {
            let keep = *b == branch;
            if !keep {
                freed.push(leg.port);
            }
            keep
        });
        c.selected = 0;
        for port in &freed {
            self.ports.remove(port);
            self.pool.give(*port);
        }
        freed
    }

    /// Frees callee-side `branch` of the call (its phone declined, or its port could not be
    /// bound): its RTP port. The latest remaining branch is selected. The call's last
    /// branch stays.
    pub fn drop_branch(&mut self, call: CallId, branch: Branch) -> Option<u16> {
        let c = self.calls.get_mut(&call)?;
        let i = c.callees.iter().position(|(b, _)| *b == branch)?;
        if c.callees.len() == 1 {
            return None;
        }
        let (_, leg) = c.callees.remove(i);
        c.selected = c.callees.len() - 1;
        self.ports.remove(&leg.port);
        self.pool.give(leg.port);
        Some(leg.port)
    }

    /// Records the call's RTP (both directions) with `recorder` from now on.
    pub fn record(&mut self, call: CallId, recorder: Recorder) -> Result<(), RelayError> {
        let c = self.calls.get_mut(&call).ok_or(RelayError::UnknownCall)?;
        c.recorder.get_or_insert(recorder);
        Ok(())
    }

    /// Whether the call is being recorded.
    pub fn is_recording(&self, call: CallId) -> bool {
        self.calls.get(&call).is_some_and(|c| c.recorder.is_some())
    }

    /// The call's recorder, to finish.
    pub fn take_recorder(&mut self, call: CallId) -> Option<Recorder> {
        self.calls.get_mut(&call)?.recorder.take()
    }

    /// The local RTP port of a call's leg (callee side: the selected branch's).
    pub fn port(&self, call: CallId, side: Side) -> Option<u16> {
        let c = self.calls.get(&call)?;
        match side {
            Side::Caller => Some(c.caller.port),
            Side::Callee => c.callee().map(|l| l.port),
        }
    }

    /// Every local RTP port of a call, all branches'.
    pub fn ports(&self, call: CallId) -> Vec<u16> {
        (self.calls.get(&call).into_iter())
            .flat_map(|c| c.legs().map(|l| l.port))
            .collect()
    }

    /// Where `side`'s SDP says its media is (RTCP on the next port unless given).
    pub fn set_peer(
        &mut self,
        call: CallId,
        side: Side,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), RelayError> {
        let leg = (self.calls.get_mut(&call))
            .and_then(|c| c.leg_mut(side))
            .ok_or(RelayError::UnknownCall)?;
        leg.rtp.expect(rtp);
        let rtcp = rtcp.unwrap_or_else(|| SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)));
        leg.rtcp.expect(rtcp);
        Ok(())
    }

    /// A packet arrived on local `port` from `from`: where to send it, if anywhere.
    pub fn receive(
        &mut self,
        port: u16,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
    ) -> Option<Forward> {
        let (rtp_port, on_rtcp_port) = match port & 1 {
            0 => (port, false),
            _ => (port.wrapping_sub(1), true),
        };
        let &(id, side, branch) = self.ports.get(&rtp_port)?;
        let arrival = now.saturating_duration_since(self.epoch);
        let epoch_wall = self.epoch_wall;
        let call = self.calls.get_mut(&id)?;
        let selected = call.selected;
        let (leg, other) = match side {
            Side::Caller => (&mut call.caller, call.callees.get(selected).map(|(_, l)| l)),
            Side::Callee => {
                let i = call.callees.iter().position(|(b, _)| *b == branch)?;
                // Only the selected branch is heard; another one's media is counted.
                let heard = (i == selected).then_some(&call.caller);
                (&mut call.callees[i].1, heard)
            }
        };
        let kind = match on_rtcp_port || is_rtcp(data) {
            true => Kind::Rtcp,
            false => Kind::Rtp,
        };
        match kind {
            Kind::Rtp => {
                let h = Header::parse(data)?;
                if leg.rtp.on_packet(from, Some(h.ssrc)) == Verdict::Drop {
                    leg.dropped += 1;
                    return None;
                }
                leg.stats
                    .on_packet(h.ssrc, h.sequence, h.timestamp, data.len(), arrival);
                if let (Some(r), Some(_)) = (&mut call.recorder, other) {
                    let since = now.saturating_duration_since(call.created);
                    let local = SocketAddr::new(from.ip(), leg.port);
                    r.packet(side, data, (from, local), since, epoch_wall + arrival);
                }
            }
            Kind::Rtcp => {
                let sender = data
                    .get(4..8)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let latch = match on_rtcp_port {
                    true => &mut leg.rtcp,
                    false => &mut leg.rtp,
                };
                if latch.on_packet(from, sender) == Verdict::Drop {
                    leg.dropped += 1;
                    return None;
                }
                leg.rtcp_in.0 += 1;
                leg.rtcp_in.1 += data.len() as u64;
                // Only RTCP needs the wall clock (its round trips are in NTP time).
                let ntp = trunkline_rtp::ntp_mid32(epoch_wall + arrival);
                if let Ok(reports) = trunkline_rtp::reports(data, ntp)
                    && let Some(r) = reports.last()
                {
                    leg.peer_report = Some(*r);
                }
            }
        }
        leg.last_rx = Some(now);
        let other = other?;
        let (from_port, to) = match (kind, on_rtcp_port) {
            (Kind::Rtcp, true) => (other.port.wrapping_add(1), other.rtcp.destination()?),
            _ => (other.port, other.rtp.destination()?),
        };
        Some(Forward {
            from_port,
            to,
            kind,
        })
    }

    /// A new SDP for the call arrived at `now`; `held` when it puts the stream on hold with
    /// nobody sending (`a=inactive`).
    pub fn sdp_seen(&mut self, call: CallId, held: bool, now: Instant) -> Result<(), RelayError> {
        let c = self.calls.get_mut(&call).ok_or(RelayError::UnknownCall)?;
        c.held = held;
        c.touched = Some(now);
        Ok(())
    }

    /// Calls from whose parties nothing arrived for `timeout`, counted from the latest SDP at
    /// the earliest (a resumed call gets time to start sending again). A call that never had
    /// media gets [`RING_GRACE`] more, counted from its start: it may still be ringing. A call
    /// on hold with nobody sending is never idle.
    pub fn idle(&self, now: Instant, timeout: Duration) -> Vec<CallId> {
        let mut out: Vec<CallId> = (self.calls.iter())
            .filter(|(_, c)| {
                let last = c.legs().filter_map(|l| l.last_rx).max();
                match last {
                    _ if c.held => false,
                    Some(last) => {
                        let since = c.touched.map_or(last, |t| t.max(last));
                        now.saturating_duration_since(since) >= timeout
                    }
                    None => now.saturating_duration_since(c.created) >= timeout + RING_GRACE,
                }
            })
            .map(|(id, _)| *id)
            .collect();
        out.sort();
        out
    }

    /// Both legs' figures: [caller side, callee side].
    pub fn qos(&self, call: CallId) -> Option<[LegQos; 2]> {
        self.calls.get(&call)?.qos()
    }

    /// Ends a call, frees its ports and returns its final figures.
    pub fn delete(&mut self, call: CallId) -> Option<[LegQos; 2]> {
        let c = self.calls.remove(&call)?;
        for leg in c.legs() {
            self.ports.remove(&leg.port);
            self.pool.give(leg.port);
        }
        c.qos()
    }

    /// Calls in the relay.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is relayed.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        trunkline_rtp::Header::pcmu(ssrc, seq)
    }

    /// A call whose caller advertised a private address but sends from its NAT's.
    fn natted_call(now: Instant) -> (Relay, CallId, u16, u16) {
        let mut r = Relay::new(PortPool::new(40000..=40099), now, SystemTime::now());
        let (id, a, b) = r.create(now).unwrap();
        r.set_peer(id, Side::Caller, addr("192.168.1.20:4000"), None)
            .unwrap();
        r.set_peer(id, Side::Callee, addr("198.51.100.2:5004"), None)
            .unwrap();
        (r, id, a, b)
    }

    #[test]
    fn packets_cross_over_and_the_natted_side_is_answered_where_it_sends_from() {
        let t0 = Instant::now();
        let (mut r, id, a, b) = natted_call(t0);
        // The callee speaks first: towards the caller's SDP address, as nothing came yet.
        let f = r
            .receive(b, addr("198.51.100.2:5004"), &rtp(2, 1), t0)
            .unwrap();
        assert_eq!(
            (f.from_port, f.to, f.kind),
            (a, addr("192.168.1.20:4000"), Kind::Rtp)
        );
        // The caller's first packet comes from its NAT: latched, relayed to the callee.
        let nat = addr("203.0.113.7:61000");
        let f = r.receive(a, nat, &rtp(1, 1), t0).unwrap();
        assert_eq!((f.from_port, f.to), (b, addr("198.51.100.2:5004")));
        let f = r
            .receive(b, addr("198.51.100.2:5004"), &rtp(2, 2), t0)
            .unwrap();
        assert_eq!(f.to, nat, "the way back goes through the NAT now");
        let q = r.qos(id).unwrap();
        assert_eq!((q[0].received.packets, q[1].received.packets), (1, 2));
    }

    #[test]
    fn a_stranger_spraying_a_relay_port_is_dropped_and_counted() {
        let t0 = Instant::now();
        let (mut r, id, a, _) = natted_call(t0);
        let nat = addr("203.0.113.7:61000");
        for seq in 0..20 {
            assert!(r.receive(a, nat, &rtp(1, seq), t0).is_some());
        }
        assert_eq!(r.receive(a, addr("192.0.2.66:9999"), &rtp(66, 1), t0), None);
        assert_eq!(r.receive(a, nat, b"not rtp at all", t0), None);
        assert_eq!(r.qos(id).unwrap()[0].dropped, 1);
        assert_eq!(r.qos(id).unwrap()[0].rtcp, (0, 0));
        assert_eq!(r.qos(id).unwrap()[0].received.packets, 20);
    }

    #[test]
    fn rtcp_goes_port_plus_one_to_port_plus_one_and_its_report_is_kept() {
        let t0 = Instant::now();
        let (mut r, id, a, b) = natted_call(t0);
        // A receiver report from the callee about the stream it gets from us.
        let mut rr = vec![0x81, 201, 0, 7];
        rr.extend_from_slice(&2u32.to_be_bytes());
        rr.extend_from_slice(&1u32.to_be_bytes()); // reportee SSRC
        rr.extend_from_slice(&[64, 0, 0, 3]); // 25 % lost, 3 cumulative
        rr.extend_from_slice(&100u32.to_be_bytes());
        rr.extend_from_slice(&40u32.to_be_bytes()); // jitter
        rr.extend_from_slice(&[0; 8]); // no LSR/DLSR
        let f = r
            .receive(b + 1, addr("198.51.100.2:5005"), &rr, t0)
            .unwrap();
        assert_eq!(
            (f.from_port, f.to, f.kind),
            (a + 1, addr("192.168.1.20:4001"), Kind::Rtcp)
        );
        let report = r.qos(id).unwrap()[1].peer_report.unwrap();
        assert_eq!((report.cumulative_lost, report.jitter), (3, 40));
        assert_eq!(r.qos(id).unwrap()[1].rtcp, (1, rr.len() as u64));
        assert_eq!(report.fraction_lost, 0.25);
    }

    #[test]
    fn a_forked_call_talks_with_the_branch_that_sent_sdp_last_and_keeps_the_answerer() {
        let t0 = Instant::now();
        let (mut r, id, a, b0) = natted_call(t0);
        let (b1, new) = r.select(id, 1).unwrap();
        assert!(new && b1 != b0, "the second phone gets a port of its own");
        assert_eq!(r.select(id, 1).unwrap(), (b1, false));
        r.set_peer(id, Side::Callee, addr("198.51.100.3:7000"), None)
            .unwrap();
        // Both phones ring with early media; branch 1's SDP came last: it is heard.
        let first = addr("198.51.100.2:5004");
        let second = addr("198.51.100.3:7000");
        assert_eq!(r.receive(b0, first, &rtp(2, 1), t0), None);
        let f = r.receive(b1, second, &rtp(3, 1), t0).unwrap();
        assert_eq!((f.from_port, f.to), (a, addr("192.168.1.20:4000")));
        let f = r
            .receive(a, addr("203.0.113.7:61000"), &rtp(1, 1), t0)
            .unwrap();
        assert_eq!((f.from_port, f.to), (b1, second));
        // Branch 0 sends a new SDP (its 183, then its 200): selected, then kept.
        assert_eq!(r.select(id, 0).unwrap(), (b0, false));
        assert_eq!(r.port(id, Side::Callee), Some(b0));
        assert!(r.receive(b0, first, &rtp(2, 2), t0).is_some());
        assert_eq!(
            r.keep(id, 7),
            Vec::<u16>::new(),
            "no such branch: nothing changes"
        );
        let (b2, _) = r.select(id, 2).unwrap();
        assert_eq!(r.drop_branch(id, 2), Some(b2), "declined: freed");
        assert_eq!(
            r.port(id, Side::Callee),
            Some(b1),
            "the latest remaining is selected"
        );
        r.select(id, 0).unwrap();
        assert_eq!(r.keep(id, 0), vec![b1]);
        assert_eq!(r.ports(id), vec![a, b0]);
        assert_eq!(r.receive(b1, second, &rtp(3, 2), t0), None);
        let f = r
            .receive(a, addr("203.0.113.7:61000"), &rtp(1, 2), t0)
            .unwrap();
        assert_eq!((f.from_port, f.to), (b0, first));
        let q = r.qos(id).unwrap();
        assert_eq!((q[0].received.packets, q[1].received.packets), (2, 2));
        r.delete(id).unwrap();
        assert!(r.ports.is_empty());
    }

    #[test]
    fn silent_calls_are_found_and_deleting_frees_the_ports() {
        let t0 = Instant::now();
        let mut r = Relay::new(PortPool::new(40000..=40003), t0, SystemTime::now());
        let (id, a, _) = r.create(t0).unwrap();
        assert_eq!(r.create(t0), Err(RelayError::NoPorts));
        r.set_peer(id, Side::Callee, addr("198.51.100.2:5004"), None)
            .unwrap();
        r.receive(
            a,
            addr("203.0.113.7:61000"),
            &rtp(1, 1),
            t0 + Duration::from_secs(5),
        );
        let timeout = Duration::from_secs(30);
        assert!(r.idle(t0 + Duration::from_secs(34), timeout).is_empty());
        assert_eq!(r.idle(t0 + Duration::from_secs(35), timeout), vec![id]);
        // A call that is still ringing (no media yet) gets the ring grace on top.
        let mut ringing = Relay::new(PortPool::new(41000..=41003), t0, SystemTime::now());
        let (quiet, _, _) = ringing.create(t0).unwrap();
        assert!(
            ringing
                .idle(t0 + timeout + Duration::from_secs(1), timeout)
                .is_empty()
        );
        assert_eq!(
            ringing.idle(t0 + timeout + RING_GRACE, timeout),
            vec![quiet]
        );
        // Put on hold with nobody sending: never idle; resumed: silence counts from then.
        r.sdp_seen(id, true, t0 + Duration::from_secs(40)).unwrap();
        assert!(r.idle(t0 + Duration::from_secs(3600), timeout).is_empty());
        r.sdp_seen(id, false, t0 + Duration::from_secs(3600))
            .unwrap();
        assert!(r.idle(t0 + Duration::from_secs(3620), timeout).is_empty());
        assert_eq!(r.idle(t0 + Duration::from_secs(3630), timeout), vec![id]);
        let last = r.delete(id).unwrap();
        assert_eq!(last[0].received.packets, 1);
        assert!(last[0].mos > 4.0, "{}", last[0].mos);
        assert!(r.is_empty());
        assert!(r.create(t0).is_ok(), "its ports are free again");
        assert_eq!(
            r.receive(40100, addr("203.0.113.7:1"), &rtp(1, 1), t0),
            None
        );
    }
}
