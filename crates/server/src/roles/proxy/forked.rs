//! Media of a forked call at the in-process relay: each branch's phone is offered ports of
//! its own, so that two ringing phones' early media cannot collide on one latch; SDP in a
//! branch's response makes that branch the one the caller hears (the latest wins, as with
//! Kamailio and rtpengine's via-branch); the branch that answers is kept and the others'
//! ports are freed, as are a declining branch's.

use trunkline_media::Branch;
use trunkline_proto::fork::BranchId;
use trunkline_proto::{Received, ServerTxId};
use trunkline_sip::Message;

use super::calls::CallKey;
use super::media::{Anchor, has_sdp};
use super::{Env, Pending, Proxy, Target};
use crate::transport::Peer;

/// The relay's name for a fork branch.
fn branch_of(b: BranchId) -> Branch {
    Branch::try_from(b.0).unwrap_or(Branch::MAX)
}

impl Proxy {
    /// The in-process relay and the call, when `p` is a relayed call's initial INVITE (an
    /// in-dialog request has one branch: nothing to tell apart).
    fn forked(&self, p: &Pending) -> Option<(Anchor, CallKey)> {
        let key = p.call.clone()?;
        let a = self.anchor().filter(|a| a.relays(&key))?;
        Some((a.clone(), key))
    }

    /// The offer of `pending` as it goes to branch `b` towards `t`: anchored at the ports of
    /// that branch; `None` when the request carries no offer or is not relayed here.
    pub(super) fn branch_offer(
        &self,
        pending: &Pending,
        msg: &Message<'_>,
        b: BranchId,
        t: &Target,
    ) -> Option<Vec<u8>> {
        if !pending.offered {
            return None;
        }
        let (a, key) = self.forked(pending)?;
        a.select(&key, branch_of(b), t.peer.addr.is_ipv6())
            .then(|| a.rewrite(&key, trunkline_media::Side::Caller, msg, None, None))?
    }

    /// Forwards a provisional or 2xx response of branch `b` upstream, selecting or keeping
    /// the branch at the relay first. Once the call is answered, a further branch's response
    /// (another phone's 2xx) goes on unanchored: the relay talks to the answerer only.
    pub(super) fn forward_branch(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        b: BranchId,
        received: &Received,
        source: Option<Peer>,
    ) {
        let forked = self.pending.get(&stx).and_then(|p| self.forked(p));
        let Some((a, key)) = forked else {
            return self.forward_upstream(env, stx, received, None, &[], source, None);
        };
        if self.accepted.contains(&stx) {
            return self.forward_upstream(env, stx, received, None, &[], source, Some(None));
        }
        let Some(resp) = received.message() else {
            return;
        };
        let code = resp.status_line().map_or(0, |s| s.code);
        let v6 = source.is_some_and(|s| s.addr.is_ipv6());
        if has_sdp(&resp) {
            a.select(&key, branch_of(b), v6);
        }
        self.forward_upstream(env, stx, received, None, &[], source, None);
        if (200..300).contains(&code) {
            a.keep(&key, branch_of(b));
        }
    }

    /// Branch `b` of the request of `stx` ended without answering: its ports are freed.
    pub(super) fn branch_declined(&self, stx: ServerTxId, b: BranchId) {
        if let Some((a, key)) = self.pending.get(&stx).and_then(|p| self.forked(p)) {
            a.drop_branch(&key, branch_of(b));
        }
    }
}
