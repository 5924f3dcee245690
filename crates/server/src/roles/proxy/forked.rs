//! Media of a forked call: each branch's phone is offered ports of its own, so that two
//! ringing phones' early media cannot collide on one latch; SDP in a branch's response makes
//! that branch the one the caller hears (the latest wins, as with Kamailio and rtpengine's
//! via-branch); the branch that answers is kept and the others' ports are freed, as are a
//! declining branch's. The media layer does the work ([`MediaCommand`]); a backend without
//! fork branches (ng nodes) takes the commands as plain offers and answers.

use trunkline_media::Side;
use trunkline_proto::fork::BranchId;
use trunkline_proto::{Received, ServerTxId};

use super::anchoring::{Deferred, How, branch_of};
use super::calls::CallKey;
use super::{Env, Pending, Proxy, Target};
use crate::roles::media_control::MediaCommand;
use crate::transport::Peer;

impl Proxy {
    /// The call, when `p` is a relayed call's initial INVITE (an in-dialog request has one
    /// branch: nothing to tell apart).
    fn forked(&self, p: &Pending) -> Option<CallKey> {
        p.call.clone().filter(|k| self.relays(k))
    }

    /// Starts branch `b` of the request of `stx` towards `t`: a relayed call's offer is
    /// anchored for that branch first (the branch starts when the media layer answers).
    pub(super) fn start_branch(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        b: BranchId,
        t: Target,
    ) {
        let Some(p) = self.pending.get(&stx) else {
            return;
        };
        let key = self.forked(p).filter(|_| p.offered);
        let (Some(key), Some(msg)) = (key, p.message()) else {
            return self.send_branch(env, stx, b, t, None);
        };
        let v6 = t.peer.addr.is_ipv6();
        let how = How {
            answers: false,
            create: Some([p.from.addr.is_ipv6(), v6]),
            branch: Some((b, v6)),
            // The call is recorded from its first branch on.
            record: (b.0 == 0 && self.calls.records(&key)).then_some(env.now_ms),
        };
        let then = Deferred::Branch {
            stx,
            branch: b,
            target: t,
        };
        let Some(m) = self.media.as_mut() else {
            return;
        };
        if let Some(Deferred::Branch { target, .. }) =
            m.anchor(&key, Side::Caller, &msg, how, then, env.out)
        {
            self.send_branch(env, stx, b, target, None);
        }
    }

    /// A branch whose offer the media layer anchored (`offer`: the body for it, `None`:
    /// unchanged) goes out, unless it is no longer wanted (the caller cancelled, another
    /// branch answered, Timer C fired): then it ends as cancelled without ever going out.
    pub(super) fn branch_anchored(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        b: BranchId,
        t: Target,
        offer: Option<Vec<u8>>,
    ) {
        let Some(p) = self.pending.get_mut(&stx) else {
            return;
        };
        if p.fork.answered() || p.fork.is_unwanted(b) {
            let mut steps = Vec::new();
            p.fork.failed(b, 487, &mut steps);
            self.branch_declined(env, stx, b);
            self.apply(env, stx, steps);
            return;
        }
        self.send_branch(env, stx, b, t, offer);
    }

    /// Forwards a provisional or 2xx response of branch `b` upstream, its SDP anchored for
    /// that branch; a 2xx keeps the branch at the relay. Once the call is answered, a further
    /// branch's response (another phone's 2xx) goes on unanchored: the relay talks to the
    /// answerer only.
    pub(super) fn forward_branch(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        b: BranchId,
        received: &Received,
        source: Option<Peer>,
    ) {
        let forked = self.pending.get(&stx).and_then(|p| self.forked(p));
        let Some(key) = forked else {
            return self.forward_upstream(env, stx, received, None, &[], source, None, None);
        };
        if self.accepted.contains(&stx) {
            let unchanged = Some(None);
            return self.forward_upstream(env, stx, received, None, &[], source, unchanged, None);
        }
        let code = received
            .message()
            .and_then(|r| r.status_line().map(|s| s.code));
        self.forward_upstream(env, stx, received, None, &[], source, None, Some(b));
        if code.is_some_and(|c| (200..300).contains(&c))
            && let Some(m) = &self.media
        {
            m.tell(&key, MediaCommand::Keep(branch_of(b)), env.out);
        }
    }

    /// Branch `b` of the request of `stx` ended without answering: its ports are freed.
    pub(super) fn branch_declined(&self, env: &mut Env<'_>, stx: ServerTxId, b: BranchId) {
        if let (Some(key), Some(m)) = (
            self.pending.get(&stx).and_then(|p| self.forked(p)),
            &self.media,
        ) {
            m.tell(&key, MediaCommand::DropBranch(branch_of(b)), env.out);
        }
    }
}
