//! What the relay core says to the data plane's in-kernel fast path: which streams have
//! settled enough to be forwarded without it, and taking in what was forwarded meanwhile.

use std::net::SocketAddr;
use std::time::Instant;

use trunkline_rtp::Carry;

use super::{CallId, Relay, Side};

/// A settled RTP stream that the data plane may forward without asking the core (in the
/// kernel): both legs' peers are latched and locked, the call is neither forked, recorded nor
/// held. Any packet the data plane cannot forward so comes back to the core, which first takes
/// in what was forwarded meanwhile ([`Relay::take_back`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handover {
    /// The leg's RTP port, where the stream arrives.
    pub port: u16,
    /// The one source it is accepted from.
    pub from: SocketAddr,
    /// The port of the other side's leg, where it leaves from.
    pub out_port: u16,
    /// Where it goes: the other side's peer.
    pub to: SocketAddr,
    /// Where its statistics stand.
    pub carry: Carry,
}

impl Relay {
    /// The call a local port (RTP or RTCP) belongs to.
    pub fn call_at(&self, port: u16) -> Option<CallId> {
        self.ports.get(&(port & !1)).map(|(id, _, _)| *id)
    }

    /// The stream arriving on RTP `port`, if it is settled enough to be forwarded without the
    /// core (see [`Handover`]).
    pub fn handover(&self, port: u16) -> Option<Handover> {
        let &(id, side, _) = self.ports.get(&port)?;
        let call = self.calls.get(&id)?;
        if call.callees.len() != 1 || call.selected != 0 || call.recorder.is_some() || call.held {
            return None;
        }
        let callee = call.callee()?;
        let (leg, other) = match side {
            Side::Caller => (&call.caller, callee),
            Side::Callee => (callee, &call.caller),
        };
        if leg.port != port || !leg.rtp.is_locked() || !other.rtp.is_locked() {
            return None;
        }
        Some(Handover {
            port,
            from: leg.rtp.source()?,
            out_port: other.port,
            to: other.rtp.source()?,
            carry: leg.stats.handover()?,
        })
    }

    /// Takes back what the data plane forwarded on its own of the stream arriving on RTP
    /// `port` since the last time: `packets` and `bytes` more, statistics standing at
    /// `carry`, the latest packet at `last`.
    pub fn take_back(
        &mut self,
        port: u16,
        (packets, bytes): (u64, u64),
        carry: Carry,
        last: Option<Instant>,
    ) {
        let Some(&(id, side, branch)) = self.ports.get(&port) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = match side {
            Side::Caller => Some(&mut call.caller),
            Side::Callee => (call.callees.iter_mut())
                .find(|(b, _)| *b == branch)
                .map(|(_, l)| l),
        };
        let Some(leg) = leg else {
            return;
        };
        leg.stats.take_back(packets, bytes, carry);
        if packets > 0 && last > leg.last_rx {
            leg.last_rx = last;
        }
    }
}
