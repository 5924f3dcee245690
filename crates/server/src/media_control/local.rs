//! The in-process relay as a media control backend: each request is carried out on the
//! relay's sessions ([`trunkline_media::Sessions`]) by the media control task, so that
//! allocating ports (binding sockets) never happens on a SIP shard.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};
use trunkline_media::{LegQos, Sessions};
use trunkline_store::{Leg, LiveMedia, Qos};

use crate::roles::media_control::{MediaAnswer, MediaCommand, MediaRequest, Sdp};
use crate::roles::proxy::calls::CallKey;

/// The in-process relay's sessions and where recordings go.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) sessions: Arc<Sessions>,
    /// Where recordings go (`recordings/` in the data directory); `None`: nowhere, calls
    /// are not recorded.
    pub(crate) recordings: Option<PathBuf>,
}

/// The relay's name for a call.
pub(crate) fn session_key(key: &CallKey) -> String {
    // A Call-ID cannot hold a line break: the key splits back unambiguously.
    format!("{}\n{}", key.call_id, key.caller_tag)
}

/// The call a relay key names.
pub(crate) fn call_of(session: &str) -> Option<CallKey> {
    let (call_id, tag) = session.rsplit_once('\n')?;
    Some(CallKey {
        call_id: call_id.to_owned(),
        caller_tag: tag.to_owned(),
    })
}

impl Local {
    /// Carries out `req` and answers it.
    pub(crate) fn execute(&self, req: &MediaRequest) -> MediaAnswer {
        let session = session_key(&req.call);
        match &req.command {
            MediaCommand::Sdp(sdp) => MediaAnswer::Sdp(self.anchor(&req.call, &session, sdp)),
            MediaCommand::Keep(b) => {
                self.sessions.keep(&session, *b);
                MediaAnswer::Done
            }
            MediaCommand::DropBranch(b) => {
                self.sessions.drop_branch(&session, *b);
                MediaAnswer::Done
            }
            MediaCommand::Record { now_ms } => {
                self.record(&req.call, &session, *now_ms);
                MediaAnswer::Done
            }
            MediaCommand::Delete { leg } => {
                let (qos, recording) = self.release(&session, *leg);
                MediaAnswer::Ended { qos, recording }
            }
        }
    }

    /// The SDP anchored at the relay; `None` when it cannot be (then it goes on unchanged,
    /// logged). A fork branch is selected first (with ports of its own when it is new); a
    /// branch whose ports cannot be had shares the selected one's.
    fn anchor(&self, call: &CallKey, session: &str, s: &Sdp) -> Option<Vec<u8>> {
        if let (Some(families), Some(_)) = (s.create, s.branch)
            && !self.sessions.contains(session)
        {
            // A branch is selected in a call that exists: the first SDP starts it.
            self.rewrite(call, session, s, Some(families))?;
        }
        if let Some((branch, v6)) = s.branch
            && let Err(e) = self.sessions.select(session, branch, v6)
        {
            warn!(call_id = call.call_id, error = %e, "fork branch not given its own media ports");
        }
        let body = self.rewrite(call, session, s, s.create)?;
        if let Some(now_ms) = s.record {
            self.record(call, session, now_ms);
        }
        Some(body)
    }

    fn rewrite(
        &self,
        call: &CallKey,
        session: &str,
        s: &Sdp,
        create: Option<[bool; 2]>,
    ) -> Option<Vec<u8>> {
        match self.sessions.rewrite(session, s.sender, &s.body, create) {
            Ok(body) => Some(body),
            Err(e @ trunkline_media::SessionError::NoPorts(_)) => {
                warn!(call_id = call.call_id, error = %e, "media not relayed: widen media.port_min..media.port_max");
                None
            }
            Err(e) => {
                debug!(call_id = call.call_id, error = %e, "SDP not anchored at the relay");
                None
            }
        }
    }

    /// Starts recording the call (at `now_ms`), when this node keeps recordings.
    fn record(&self, call: &CallKey, session: &str, now_ms: u64) {
        let Some(dir) = &self.recordings else {
            return;
        };
        let stem = dir.join(trunkline_media::recording_stem(
            &call.call_id,
            &call.caller_tag,
            now_ms,
        ));
        if let Err(e) = self.sessions.record(session, stem) {
            debug!(call_id = call.call_id, error = %e, "recording not started");
        }
    }

    /// Ends the relaying of a call: the figures for the CDR of `leg` (default when the call
    /// was never relayed) and the recording's file, if it was recorded.
    fn release(&self, session: &str, leg: Leg) -> (Qos, Option<String>) {
        match self.sessions.delete(session) {
            Some(e) => {
                // The CDR takes a location of at most 1,024 characters: a longer one (a very
                // deep data directory) is logged instead, so that the CDR is still valid.
                let recording =
                    (e.recording.map(|p| p.to_string_lossy().into_owned())).filter(|p| {
                        let fits = p.chars().count() <= 1024;
                        if !fits {
                            warn!(path = p, "recording path too long for the CDR");
                        }
                        fits
                    });
                (cdr_qos(&e.qos, leg), recording)
            }
            None => (Qos::default(), None),
        }
    }

    /// Relayed calls silent for `timeout`.
    pub(crate) fn idle(&self, timeout: Duration) -> Vec<CallKey> {
        (self.sessions.idle(timeout).iter())
            .filter_map(|s| call_of(s))
            .collect()
    }

    /// Live figures of a relayed call: [caller, callee].
    pub(crate) fn live(&self, key: &CallKey) -> Option<[LiveMedia; 2]> {
        let q = self.sessions.qos(&session_key(key))?;
        let media = |l: &LegQos| LiveMedia {
            packets: l.received.packets,
            lost: l.received.lost.max(0),
            jitter_us: u32::try_from(l.received.jitter.as_micros()).unwrap_or(u32::MAX),
            mos_x100: (l.mos * 100.0).round().clamp(100.0, 500.0) as u16,
            kernel: l.kernel,
        };
        Some([media(&q[0]), media(&q[1])])
    }
}

/// A CDR leg's figures: what its endpoint sent (A: the caller, B: the callee) and what was
/// sent to it; the MOS is the worse of the two directions.
pub(crate) fn cdr_qos(q: &[LegQos; 2], leg: Leg) -> Qos {
    let (mine, theirs) = match leg {
        Leg::A => (&q[0], &q[1]),
        Leg::B => (&q[1], &q[0]),
    };
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    let any = mine.received.packets + theirs.received.packets > 0;
    let mos = mine.mos.min(theirs.mos);
    Qos {
        rtp_packets_rx: Some(clamp(mine.received.packets)),
        rtp_packets_tx: Some(clamp(theirs.received.packets)),
        rtp_lost: Some(clamp(mine.received.lost.max(0) as u64)),
        jitter_us: Some(micros(mine.received.jitter)),
        rtt_us: (mine.peer_report.and_then(|r| r.rtt)).map(micros),
        mos_x100: any.then(|| (mos * 100.0).round().clamp(100.0, 500.0) as u16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_name_their_call() {
        let k = CallKey {
            call_id: "a@b".to_owned(),
            caller_tag: "t1".to_owned(),
        };
        assert_eq!(call_of(&session_key(&k)), Some(k));
        assert_eq!(call_of("no-line-break"), None);
    }
}
