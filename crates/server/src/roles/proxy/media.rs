//! Media anchoring for proxied calls: whether a call needs the relay (`media.mode`), every
//! offer and answer it carries rewritten to the relay (INVITE, 18x, 2xx, ACK, re-INVITE,
//! UPDATE), and the relayed call's figures for its CDR.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::debug;
use trunkline_media::{Branch, LegQos, Sessions, Side};
use trunkline_sdp::Sdp;
use trunkline_sip::{Host, Message, Uri};
use trunkline_store::{Leg, LiveMedia, Qos};

use super::Target;
use super::calls::CallKey;
use crate::config::MediaMode;
use crate::transport::Peer;

/// The proxy's hold on the in-process relay.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub(super) mode: MediaMode,
    sessions: Arc<Sessions>,
    /// Where recordings go (`recordings/` in the data directory); `None`: nowhere, calls
    /// are not recorded.
    recordings: Option<PathBuf>,
}

/// The relay's name for a call of the proxy.
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

impl Anchor {
    pub(crate) fn new(
        mode: MediaMode,
        sessions: Arc<Sessions>,
        recordings: Option<PathBuf>,
    ) -> Self {
        Anchor {
            mode,
            sessions,
            recordings,
        }
    }

    /// `msg`'s SDP sent by `sender` in relayed call `key`, anchored at the relay; `None` when
    /// `msg` has no SDP body or it cannot be anchored (then it goes on unchanged, logged).
    /// `create` starts the relaying on this SDP if it has not started, each leg on the relay
    /// address of its party's family (`[caller is IPv6, callee is IPv6]`). With `record`, the
    /// relay records the call from then on (at `now_ms`).
    pub(crate) fn rewrite(
        &self,
        key: &CallKey,
        sender: Side,
        msg: &Message<'_>,
        create: Option<[bool; 2]>,
        record: Option<u64>,
    ) -> Option<Vec<u8>> {
        if !has_sdp(msg) {
            return None;
        }
        let session = session_key(key);
        let body = match (self.sessions).rewrite(&session, sender, msg.body(), create) {
            Ok(body) => body,
            Err(e @ trunkline_media::SessionError::NoPorts(_)) => {
                tracing::warn!(call_id = key.call_id, error = %e, "media not relayed: widen media.port_min..media.port_max");
                return None;
            }
            Err(e) => {
                debug!(call_id = key.call_id, error = %e, "SDP not anchored at the relay");
                return None;
            }
        };
        if let Some(now_ms) = record {
            self.record(key, now_ms);
        }
        Some(body)
    }

    /// Starts recording relayed call `key` (at `now_ms`); false when it is not relayed or
    /// this node keeps no recordings.
    pub(crate) fn record(&self, key: &CallKey, now_ms: u64) -> bool {
        let Some(dir) = &self.recordings else {
            return false;
        };
        let stem = dir.join(trunkline_media::recording_stem(
            &key.call_id,
            &key.caller_tag,
            now_ms,
        ));
        match self.sessions.record(&session_key(key), stem) {
            Ok(()) => true,
            Err(e) => {
                debug!(call_id = key.call_id, error = %e, "recording not started");
                false
            }
        }
    }

    /// Selects callee-side `branch` of relayed call `key` (a fork branch towards a party on
    /// IPv6 with `v6`); false, logged, when its ports cannot be had (the branch then shares
    /// the selected one's).
    pub(crate) fn select(&self, key: &CallKey, branch: Branch, v6: bool) -> bool {
        match self.sessions.select(&session_key(key), branch, v6) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(call_id = key.call_id, error = %e, "fork branch not given its own media ports");
                false
            }
        }
    }

    /// Keeps callee-side `branch` of `key` (it answered); the other branches' ports close.
    pub(crate) fn keep(&self, key: &CallKey, branch: Branch) {
        self.sessions.keep(&session_key(key), branch);
    }

    /// Frees callee-side `branch` of `key` (it declined).
    pub(crate) fn drop_branch(&self, key: &CallKey, branch: Branch) {
        self.sessions.drop_branch(&session_key(key), branch);
    }

    /// Whether call `key` is relayed.
    pub(crate) fn relays(&self, key: &CallKey) -> bool {
        self.sessions.contains(&session_key(key))
    }

    /// Ends the relaying of `key`: the figures for the CDR of `leg` (default when the call
    /// was never relayed) and the recording's file, if it was recorded.
    pub(crate) fn release(&self, key: &CallKey, leg: Leg) -> (Qos, Option<String>) {
        match self.sessions.delete(&session_key(key)) {
            Some(e) => {
                // The CDR takes a location of at most 1,024 characters: a longer one (a very
                // deep data directory) is logged instead, so that the CDR is still valid.
                let recording =
                    (e.recording.map(|p| p.to_string_lossy().into_owned())).filter(|p| {
                        let fits = p.chars().count() <= 1024;
                        if !fits {
                            tracing::warn!(path = p, "recording path too long for the CDR");
                        }
                        fits
                    });
                (cdr_qos(&e.qos, leg), recording)
            }
            None => (Qos::default(), None),
        }
    }

    /// Relayed calls of the proxy silent for `timeout`.
    pub(crate) fn idle(&self, timeout: Duration) -> Vec<CallKey> {
        (self.sessions.idle(timeout).iter())
            .filter_map(|s| call_of(s))
            .collect()
    }

    /// Live figures of relayed call `key`: [caller, callee].
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

/// Whether a new call from `from` (its INVITE `msg`) to `targets` goes through the relay:
/// always, never, or (`nat`) when the caller's SDP or Contact names another address than
/// the one it signals from, a callee's binding is behind NAT, or caller and callee are on
/// different address families.
pub(super) fn needs_relay(
    mode: MediaMode,
    msg: &Message<'_>,
    from: Peer,
    targets: &[Vec<Target>],
) -> bool {
    match mode {
        MediaMode::Off => false,
        MediaMode::Always => true,
        MediaMode::Nat => {
            let source = from.addr.ip();
            let sdp_elsewhere = sdp_address(msg).is_some_and(|ip| ip != source);
            let contact_elsewhere = contact_host(msg).is_some_and(|h| h != Some(source));
            let callee_natted = (targets.iter().flatten()).any(|t| {
                let family = t.peer.addr.is_ipv4() != source.is_ipv4();
                let contact = (t.request_uri.as_deref())
                    .and_then(|u| uri_host(u.as_bytes()))
                    .is_some_and(|h| h != Some(t.peer.addr.ip()));
                family || contact
            });
            sdp_elsewhere || contact_elsewhere || callee_natted
        }
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

/// Whether the body is SDP (Content-Type application/sdp, or no type and an SDP start).
pub(super) fn has_sdp(msg: &Message<'_>) -> bool {
    let body = msg.body();
    if body.is_empty() {
        return false;
    }
    match msg.content_type() {
        Ok(Some(ct)) => ct.is("application", "sdp"),
        Ok(None) => body.starts_with(b"v=0"),
        Err(_) => false,
    }
}

/// The address of the first audio stream of `msg`'s SDP.
fn sdp_address(msg: &Message<'_>) -> Option<IpAddr> {
    if !has_sdp(msg) {
        return None;
    }
    let sdp = Sdp::parse(msg.body()).ok()?;
    let streams = sdp.streams();
    let audio = streams.iter().find(|s| s.media == "audio")?;
    Some(audio.rtp?.ip())
}

/// The host of the first Contact: `Some(Some(ip))`, `Some(None)` for a domain name.
fn contact_host(msg: &Message<'_>) -> Option<Option<IpAddr>> {
    let c = msg.contacts().next()?.ok()?;
    match c {
        trunkline_sip::Contact::Addr(na) => uri_host(na.uri_raw),
        _ => None,
    }
}

fn uri_host(uri: &[u8]) -> Option<Option<IpAddr>> {
    let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
        return None;
    };
    Some(match u.host {
        Host::V4(a) => Some(IpAddr::V4(a)),
        Host::V6(a) => Some(IpAddr::V6(a)),
        Host::Domain(_) => None,
    })
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
