//! The proxy's side of relayed calls: how a call's end releases its media (figures and
//! recording into the CDR), the media timeout that ends a call with a BYE to both parties,
//! the live view of calls and recording on request that the API and CLI use, and the steps
//! that wait for a remote media node's answer.

use bytes::Bytes;
use trunkline_media::Side;
use trunkline_store::{Leg, LiveCall, NewCdr, RecordOutcome};

use trunkline_proto::ServerTxId;
use trunkline_sip::{Message, Method};

use super::calls::{CallKey, Hangup};
use super::{Env, MEDIA_TIMEOUT_REASON, Pending, Proxy, remote};
use crate::roles::actions::{Actions, MediaReply};
use crate::transport::front::Outcome;

impl Proxy {
    /// The calls in progress with their media figures.
    pub(crate) fn live_calls(&self) -> Vec<LiveCall> {
        self.calls.live(|k| match (self.anchor(), &self.remote) {
            (Some(a), _) if a.relays(k) => Some(a.live(k)),
            (_, Some(r)) if r.relays(k) => Some(r.live(k)),
            _ => None,
        })
    }

    /// Records the call with Call-ID `call_id` from now on (the API's per-call recording).
    pub(crate) fn record_call(
        &mut self,
        call_id: &str,
        now_ms: u64,
        out: &mut Actions,
    ) -> RecordOutcome {
        let keys = self.calls.keys_of(call_id);
        if keys.is_empty() {
            return RecordOutcome::NotFound;
        }
        let mut outcome = RecordOutcome::NotRelayed;
        for key in keys {
            self.calls.record(&key);
            if self
                .anchor()
                .is_some_and(|a| a.relays(&key) && a.record(&key, now_ms))
                || self.remote.as_ref().is_some_and(|r| r.record(&key, out))
            {
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
        if let Some(r) = self.remote.as_mut()
            && r.relays(key)
        {
            if let Some(cdr) = r.release(key, cdr, env.out) {
                env.out.cdr(cdr);
            }
            return;
        }
        let leg = cdr.as_ref().map_or(Leg::A, |c| c.leg);
        let media = self.anchor().map(|a| a.release(key, leg));
        if let Some(mut cdr) = cdr {
            if let Some((qos, recording)) = media {
                cdr.qos = qos;
                cdr.recording = recording;
            }
            env.out.cdr(cdr);
        }
    }

    /// Ends answered call `key` now, as `how` says: its CDR and its media.
    pub(super) fn end_call(&mut self, env: &mut Env<'_>, key: &CallKey, how: Hangup) {
        let cdr = self.calls.ended(key, how, env.now_ms);
        self.closed(env, key, cdr);
    }

    /// Relayed calls whose media stopped: each party gets a BYE and the call ends.
    pub(super) fn media_timeouts(&mut self, env: &mut Env<'_>) {
        let Some((anchor, timeout)) = self.anchor.clone() else {
            return;
        };
        for key in anchor.idle(timeout) {
            if !self.owns(&key.call_id) {
                continue;
            }
            self.media_stopped(env, key);
        }
    }

    /// Relayed call `key`'s media stopped (found by the in-process relay, or a media node
    /// dropped the call for its timeout): each party gets a BYE and the call ends.
    fn media_stopped(&mut self, env: &mut Env<'_>, key: CallKey) {
        if !self.calls.contains(&key) {
            // A relayed call the proxy no longer knows: nothing to end but its media.
            self.closed(env, &key, None);
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

    /// A media node answered: the step that waited for it goes on.
    pub(crate) fn media_reply(&mut self, env: &mut Env<'_>, reply: MediaReply) {
        let Some((step, sdp)) = self.remote.as_mut().and_then(|r| r.finish(reply)) else {
            return;
        };
        match step {
            remote::Deferred::Launch { stx, mut pending } => {
                // The node has the call now: a recorded user's call is recorded from here.
                if let (Some(key), Some(r)) = (&pending.call, &self.remote)
                    && self.calls.records(key)
                {
                    r.record(key, env.out);
                }
                pending.template.body = sdp;
                self.launch(env, stx, pending);
            }
            remote::Deferred::Respond {
                stx,
                received,
                source,
            } => {
                self.forward_upstream(env, stx, &received, None, &[], source, Some(sdp));
                self.reap(stx);
            }
            remote::Deferred::Ack { received, from } => {
                self.forward_ack(env, &received, from, Some(sdp))
            }
            remote::Deferred::Cdr { cdr, .. } => env.out.cdr(cdr),
            remote::Deferred::Poll { key, gone } => {
                if gone {
                    self.media_stopped(env, key);
                }
            }
        }
    }

    /// Forwards `pending` (the request of `stx`), once its SDP is anchored when a media node
    /// relays call `key`.
    pub(super) fn launch_relayed(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        msg: &Message<'_>,
        pending: Pending,
    ) -> Option<Outcome> {
        let relayed = (pending.media.clone())
            .filter(|(k, _)| self.remote.as_ref().is_some_and(|r| r.relays(k)));
        let Some((key, sender)) = relayed else {
            return self.launch(env, stx, pending);
        };
        // ACK and PRACK carry answers; INVITE and UPDATE offers.
        let answers = matches!(msg.method(), Some(Method::Ack) | Some(Method::Prack));
        let then = remote::Deferred::Launch { stx, pending };
        match self
            .remote
            .as_mut()
            .map(|r| r.anchor(&key, sender, msg, answers, then, env.out))
        {
            Some(Some(remote::Deferred::Launch { stx, pending })) => self.launch(env, stx, pending),
            _ => None,
        }
    }
}
