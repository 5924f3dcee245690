//! The proxy's side of relayed calls: how a call's end releases its media (figures and
//! recording into the CDR), the media timeout that ends a call with a BYE to both parties,
//! the live view of calls and recording on request that the API and CLI use, and the steps
//! that wait for the media layer's answer.

use bytes::Bytes;
use trunkline_media::Side;
use trunkline_proto::ServerTxId;
use trunkline_sip::{Message, Method};
use trunkline_store::{LiveCall, LiveMedia, NewCdr, RecordOutcome};

use super::anchoring::{Deferred, How};
use super::calls::{CallKey, Hangup};
use super::{Env, MEDIA_TIMEOUT_REASON, Pending, Proxy};
use crate::roles::media_control::{MediaCommand, MediaEvent};
use crate::transport::front::Outcome;

impl Proxy {
    /// The calls in progress with their media figures (`figures`: a relayed call's, from the
    /// media layer).
    pub(crate) fn live_calls(
        &self,
        figures: impl Fn(&CallKey) -> Option<[LiveMedia; 2]>,
    ) -> Vec<LiveCall> {
        (self.calls).live(|k| self.relays(k).then(|| figures(k)))
    }

    /// Records the call with Call-ID `call_id` from now on (the API's per-call recording).
    pub(crate) fn record_call(&mut self, env: &mut Env<'_>, call_id: &str) -> RecordOutcome {
        let keys = self.calls.keys_of(call_id);
        if keys.is_empty() {
            return RecordOutcome::NotFound;
        }
        let mut outcome = RecordOutcome::NotRelayed;
        for key in keys {
            self.calls.record(&key);
            if let Some(m) = self.media.as_ref().filter(|m| m.relays(&key)) {
                let now_ms = env.now_ms;
                m.tell(&key, MediaCommand::Record { now_ms }, env.out);
                outcome = RecordOutcome::Recording;
            }
        }
        outcome
    }

    /// After `key` ended or failed: its media is released (the figures go into its CDR)
    /// and its CDR is kept. Nothing happens while the call goes on (a failed branch of an
    /// answered call).
    pub(super) fn closed(&mut self, env: &mut Env<'_>, key: &CallKey, cdr: Option<NewCdr>) {
        if self.calls.contains(key) {
            return;
        }
        let cdr = match self.media.as_mut() {
            Some(m) => m.release(key, cdr, env.out),
            None => cdr,
        };
        if let Some(cdr) = cdr {
            env.out.cdr(cdr);
        }
    }

    /// Ends answered call `key` now, as `how` says: its CDR and its media.
    pub(super) fn end_call(&mut self, env: &mut Env<'_>, key: &CallKey, how: Hangup) {
        let cdr = self.calls.ended(key, how, env.now_ms);
        self.closed(env, key, cdr);
    }

    /// Relayed call `key`'s media stopped (no media for the media timeout, or its node
    /// dropped the call): each party gets a BYE and the call ends.
    fn media_stopped(&mut self, env: &mut Env<'_>, key: CallKey) {
        if !self.calls.contains(&key) {
            // A relayed call the proxy no longer knows: nothing to end but its media.
            if let Some(m) = self.media.as_mut() {
                m.forget(&key, env.out);
            }
            return;
        }
        let Some(dialog) = self.calls.dialog(&key).cloned() else {
            // Still ringing (the relay gives those a grace) or answered in a way the
            // proxy could not read: Timer C or the maximum duration ends it.
            return;
        };
        for side in [Side::Caller, Side::Callee] {
            let peer = dialog.end(side).peer;
            let branch = format!("z9hG4bK-mt{:x}", self.bump_branch());
            let Some(via) = self.ifaces.via(peer.transport, peer.addr.ip(), &branch) else {
                continue;
            };
            let bye = dialog.bye(side, &via, MEDIA_TIMEOUT_REASON);
            self.start_client(env, Bytes::from(bye), peer, None);
        }
        tracing::info!(
            call_id = key.call_id,
            "call ended: no media for media.timeout_secs"
        );
        self.end_call(env, &key, Hangup::MediaTimeout);
    }

    /// The media layer answered, or a call's media stopped: what waited goes on.
    pub(crate) fn media_event(&mut self, env: &mut Env<'_>, event: MediaEvent) {
        let (token, answer) = match event {
            MediaEvent::Stopped(key) => return self.media_stopped(env, key),
            MediaEvent::Answer { token, answer } => (token, answer),
        };
        let Some((step, sdp)) = self.media.as_mut().and_then(|m| m.finish(token, answer)) else {
            return;
        };
        match step {
            Deferred::Launch { stx, mut pending } => {
                pending.template.body = sdp;
                self.launch(env, stx, *pending);
            }
            Deferred::Branch {
                stx,
                branch,
                target,
            } => {
                self.branch_anchored(env, stx, branch, target, sdp);
                self.reap(stx);
            }
            Deferred::Respond {
                stx,
                received,
                source,
            } => {
                self.forward_upstream(env, stx, &received, None, &[], source, Some(sdp), None);
                self.reap(stx);
            }
            Deferred::Ack { received, from } => self.forward_ack(env, &received, from, Some(sdp)),
            Deferred::Cdr(cdr) => env.out.cdr(*cdr),
        }
    }

    /// Forwards `pending` (the request of `stx`), once its SDP is anchored when its call is
    /// relayed. An initial INVITE's offer is anchored per fork branch instead
    /// ([`Proxy::start_branch`]).
    pub(super) fn launch_relayed(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        msg: &Message<'_>,
        pending: Pending,
    ) -> Option<Outcome> {
        let relayed = (pending.media.clone()).filter(|(k, _)| self.relays(k));
        let Some((key, sender)) = relayed.filter(|_| pending.call.is_none()) else {
            return self.launch(env, stx, pending);
        };
        // ACK and PRACK carry answers; INVITE and UPDATE offers.
        let how = How {
            answers: matches!(msg.method(), Some(Method::Ack) | Some(Method::Prack)),
            ..How::default()
        };
        let then = Deferred::Launch {
            stx,
            pending: Box::new(pending),
        };
        match self.media.as_mut() {
            Some(m) => match m.anchor(&key, sender, msg, how, then, env.out) {
                Some(Deferred::Launch { stx, pending }) => self.launch(env, stx, *pending),
                _ => None,
            },
            None => None,
        }
    }
}
