//! Media anchored at remote media nodes (`media.nodes`: Trunkline media nodes or rtpengine)
//! over the ng protocol. An ng exchange takes a network round trip, so the proxy never waits
//! for one: what needs the node's answer (the forwarded INVITE or re-INVITE, a response, an
//! ACK, the CDR with the node's figures) is set aside as a [`Deferred`] step, the request is
//! an [`Action::Ng`] the driver sends, and the reply comes back as a [`MediaReply`] event that
//! finishes the step. A node that does not answer leaves the SDP unchanged (logged); a CDR is never
//! held back by it.
//!
//! The proxy asks the nodes after their calls (ng `query`) every half media timeout: the
//! figures feed the live view, and a call the node no longer knows ("Unknown call-id": it
//! dropped it when its media stopped for the node's timeout, as rtpengine does too) is ended
//! with a BYE to both parties, like a media timeout of the in-process relay.
//!
//! The node's call is named by the Call-ID; the party that sent the first offer is the
//! node's "caller" (the callee for a late offer), the ng `from-tag` of each offer is its
//! sender's tag and of each answer the offerer's.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use tracing::{debug, warn};
use trunkline_media::bencode::Value;
use trunkline_media::{NgError, Side};
use trunkline_proto::{Received, ServerTxId};
use trunkline_sip::Message;
use trunkline_store::{Leg, LiveMedia, NewCdr, Qos};

use super::calls::CallKey;
use super::{Peer, Pending};
use crate::config::MediaMode;
use crate::roles::actions::{Action, Actions, MediaReply};

/// What waits for a node's answer.
#[derive(Debug)]
pub(super) enum Deferred {
    /// A request to forward once its SDP is anchored.
    Launch { stx: ServerTxId, pending: Pending },
    /// A response to forward once its SDP is anchored.
    Respond {
        stx: ServerTxId,
        received: Received,
        source: Option<Peer>,
    },
    /// An ACK (with the answer to a late offer) to forward.
    Ack { received: Received, from: Peer },
    /// A CDR that gets the node's figures from its `delete` reply (else from the latest
    /// `query`, `last`).
    Cdr {
        cdr: NewCdr,
        swapped: bool,
        last: Option<Value>,
    },
    /// A `query` of call `key`; `gone` once the node said it does not know the call.
    Poll { key: CallKey, gone: bool },
}

/// The proxy's remote media nodes.
#[derive(Debug)]
pub(crate) struct Remote {
    pub(super) mode: MediaMode,
    nodes: Vec<SocketAddr>,
    /// Relayed calls; once the first offer went out, whether the node's "caller" is our
    /// callee (a late offer).
    relayed: HashMap<CallKey, Option<bool>>,
    deferred: HashMap<u64, Deferred>,
    next: u64,
    /// How often calls are asked after, and when next (ms since the epoch).
    poll_every_ms: u64,
    next_poll_ms: u64,
    /// Calls asked after and not answered yet: one `query` at a time per call.
    polling: HashSet<CallKey>,
    /// Each call's latest `query` reply.
    figures: HashMap<CallKey, Value>,
}

/// The ng error reason for a call a node does not have (rtpengine's words, and ours).
const UNKNOWN_CALL: &str = "Unknown call-id";

/// Whether the body is SDP, and its text.
fn sdp_of<'a>(msg: &Message<'a>) -> Option<&'a str> {
    if !super::media::has_sdp(msg) {
        return None;
    }
    std::str::from_utf8(msg.body()).ok()
}

impl Remote {
    pub(crate) fn new(mode: MediaMode, nodes: Vec<SocketAddr>, timeout: Duration) -> Self {
        let poll_every = (timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(10));
        Remote {
            mode,
            nodes,
            relayed: HashMap::new(),
            deferred: HashMap::new(),
            next: 0,
            poll_every_ms: u64::try_from(poll_every.as_millis()).unwrap_or(10_000),
            next_poll_ms: 0,
            polling: HashSet::new(),
            figures: HashMap::new(),
        }
    }

    /// Asks the nodes after their calls (those with an offer out), when it is time to.
    pub(super) fn poll(&mut self, now_ms: u64, out: &mut Actions) {
        if now_ms < self.next_poll_ms {
            return;
        }
        self.next_poll_ms = now_ms + self.poll_every_ms;
        let due: Vec<CallKey> = (self.relayed.iter())
            .filter(|(k, roles)| roles.is_some() && !self.polling.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(node) = self.node(&key.call_id) else {
                continue;
            };
            let pairs = vec![
                ("command", "query".to_owned()),
                ("call-id", key.call_id.clone()),
            ];
            self.polling.insert(key.clone());
            self.send(out, node, pairs, Deferred::Poll { key, gone: false });
        }
    }

    /// The latest figures of call `key` from its node: [caller, callee]; `None` before the
    /// first `query` or from a node that gives no per-party figures (rtpengine).
    pub(super) fn live(&self, key: &CallKey) -> Option<[LiveMedia; 2]> {
        let reply = self.figures.get(key)?;
        let swapped = self.relayed.get(key).copied().flatten().unwrap_or(false);
        let party = |name: &str| -> Option<LiveMedia> {
            let p = reply.get("totals")?.get(name)?;
            let int = |k: &str| match p.get(k) {
                Some(Value::Int(n)) => *n,
                _ => 0,
            };
            Some(LiveMedia {
                packets: u64::try_from(int("packets")).unwrap_or(0),
                lost: int("lost").max(0),
                jitter_us: u32::try_from(int("jitter")).unwrap_or(0),
                mos_x100: u16::try_from((int("mos") * 10).clamp(100, 500)).unwrap_or(100),
                kernel: int("kernel") == 1,
            })
        };
        let (caller, callee) = (party("caller")?, party("callee")?);
        Some(match swapped {
            false => [caller, callee],
            true => [callee, caller],
        })
    }

    /// The node of a call (by its Call-ID, so every message of it goes to the same node).
    fn node(&self, call_id: &str) -> Option<SocketAddr> {
        let hash = (call_id.bytes()).fold(0xcbf2_9ce4_8422_2325_u64, |h, c| {
            (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
        });
        let n = self.nodes.len() as u64;
        self.nodes
            .get(usize::try_from(hash % n.max(1)).ok()?)
            .copied()
    }

    /// Whether call `key` is relayed by a node.
    pub(super) fn relays(&self, key: &CallKey) -> bool {
        self.relayed.contains_key(key)
    }

    /// Call `key` is relayed from now on.
    pub(super) fn relay(&mut self, key: CallKey) {
        self.relayed.entry(key).or_insert(None);
    }

    /// Sends the ng command for `msg`'s SDP (sent by `sender` in call `key`) and sets `then`
    /// aside until the node answers. `then` comes back when `msg` has no SDP or the call has
    /// no node: go on without waiting. `answers_offer`: whether the SDP answers one
    /// (a response to a request with SDP, an ACK), else it is an offer.
    pub(super) fn anchor(
        &mut self,
        key: &CallKey,
        sender: Side,
        msg: &Message<'_>,
        answers_offer: bool,
        then: Deferred,
        out: &mut Actions,
    ) -> Option<Deferred> {
        let (Some(sdp), Some(node)) = (sdp_of(msg), self.node(&key.call_id)) else {
            return Some(then);
        };
        let tag = |t: Option<&[u8]>| t.map(|t| String::from_utf8_lossy(t).into_owned());
        let (from, to) = (msg.from().ok(), msg.to().ok());
        let (from_tag, to_tag) = (
            tag(from.and_then(|f| f.tag())),
            tag(to.and_then(|t| t.tag())),
        );
        // Who sent this SDP, by tag: a request's sender is its From, a response's its To.
        let (sender_tag, other_tag) = match msg.method() {
            Some(_) => (from_tag, to_tag),
            None => (to_tag, from_tag),
        };
        let (command, ng_from, ng_to) = match answers_offer {
            false => ("offer", sender_tag, other_tag),
            true => ("answer", other_tag, sender_tag),
        };
        if let Some(roles) = self.relayed.get_mut(key)
            && roles.is_none()
            && !answers_offer
        {
            // The node's caller is whoever offers first: our callee for a late offer.
            *roles = Some(sender == Side::Callee);
        }
        let mut pairs = vec![
            ("command", command.to_owned()),
            ("call-id", key.call_id.clone()),
            ("sdp", sdp.to_owned()),
        ];
        pairs.extend(ng_from.map(|t| ("from-tag", t)));
        pairs.extend(ng_to.map(|t| ("to-tag", t)));
        self.send(out, node, pairs, then);
        None
    }

    /// Ends the relaying of `key`: `delete` at its node; `cdr`, if any, waits for the node's
    /// figures. The CDR comes back when the call was not relayed (keep it as it is).
    pub(super) fn release(
        &mut self,
        key: &CallKey,
        cdr: Option<NewCdr>,
        out: &mut Actions,
    ) -> Option<NewCdr> {
        let last = self.figures.remove(key);
        let (Some(roles), Some(node)) = (self.relayed.remove(key), self.node(&key.call_id)) else {
            return cdr;
        };
        let swapped = roles.unwrap_or(false);
        let pairs = vec![
            ("command", "delete".to_owned()),
            ("call-id", key.call_id.clone()),
        ];
        match cdr {
            Some(cdr) => self.send(out, node, pairs, Deferred::Cdr { cdr, swapped, last }),
            None => fire(out, node, pairs),
        }
        None
    }

    fn send(
        &mut self,
        out: &mut Actions,
        node: SocketAddr,
        pairs: Vec<(&'static str, String)>,
        then: Deferred,
    ) {
        self.next = self.next.wrapping_add(1);
        let token = self.next;
        self.deferred.insert(token, then);
        out.push(Action::Ng {
            node,
            pairs,
            token: Some(token),
        });
    }

    /// Has the node of relayed call `key` record it (ng `start recording`); false when the
    /// call is not relayed by a node.
    pub(super) fn record(&self, key: &CallKey, out: &mut Actions) -> bool {
        let (true, Some(node)) = (self.relays(key), self.node(&key.call_id)) else {
            return false;
        };
        let pairs = vec![
            ("command", "start recording".to_owned()),
            ("call-id", key.call_id.clone()),
        ];
        fire(out, node, pairs);
        true
    }

    /// The step a reply finishes, with the anchored SDP (`None`: unchanged).
    pub(super) fn finish(&mut self, reply: MediaReply) -> Option<(Deferred, Option<Vec<u8>>)> {
        let step = self.deferred.remove(&reply.token)?;
        if let Deferred::Poll { key, .. } = step {
            self.polling.remove(&key);
            let relayed = self.relayed.contains_key(&key);
            let gone = match reply.result {
                Ok(v) if relayed => {
                    self.figures.insert(key.clone(), v);
                    false
                }
                Err(NgError::Refused { reason, .. }) => relayed && reason == UNKNOWN_CALL,
                Err(e) => {
                    debug!(error = %e, call_id = key.call_id, "media node: query failed");
                    false
                }
                Ok(_) => false,
            };
            return Some((Deferred::Poll { key, gone }, None));
        }
        let value = match reply.result {
            Ok(v) => Some(v),
            Err(e) => {
                if !matches!(step, Deferred::Cdr { .. }) {
                    warn!(error = %e, "media node: SDP not anchored, media goes end to end");
                }
                None
            }
        };
        let sdp =
            (value.as_ref()).and_then(|v| v.get("sdp")?.as_str().map(|s| s.as_bytes().to_vec()));
        let step = match step {
            Deferred::Cdr {
                mut cdr,
                swapped,
                last,
            } => {
                if let Some(v) = value.as_ref().or(last.as_ref()) {
                    cdr.qos = cdr_qos(v, cdr.leg, swapped);
                }
                Deferred::Cdr {
                    cdr,
                    swapped,
                    last: None,
                }
            }
            step => step,
        };
        Some((step, sdp))
    }

    /// Whether a response of `stx` waits for its node (its request is still needed: the
    /// dialog of a 2xx is read from it).
    pub(super) fn holds_response(&self, stx: ServerTxId) -> bool {
        (self.deferred.values()).any(|d| matches!(d, Deferred::Respond { stx: s, .. } if *s == stx))
    }

    /// A Launch waiting for `stx`, taken back (a CANCEL came first).
    pub(super) fn take_launch(&mut self, stx: ServerTxId) -> Option<Pending> {
        let token = (self.deferred.iter())
            .find(|(_, d)| matches!(d, Deferred::Launch { stx: s, .. } if *s == stx))
            .map(|(t, _)| *t)?;
        match self.deferred.remove(&token)? {
            Deferred::Launch { pending, .. } => Some(pending),
            other => {
                self.deferred.insert(token, other);
                None
            }
        }
    }
}

/// An ng request whose answer nothing waits for (a failure is logged by the driver).
fn fire(out: &mut Actions, node: SocketAddr, pairs: Vec<(&'static str, String)>) {
    out.push(Action::Ng {
        node,
        pairs,
        token: None,
    });
}

/// A CDR leg's figures from a Trunkline node's per-party totals (`caller`, `callee`: what
/// arrived from each); a node without them (rtpengine) gives none.
fn cdr_qos(reply: &Value, leg: Leg, swapped: bool) -> Qos {
    let party = |name: &str| reply.get("totals")?.get(name).cloned();
    let (ours, theirs) = match (leg, swapped) {
        (Leg::A, false) | (Leg::B, true) => ("caller", "callee"),
        (Leg::B, false) | (Leg::A, true) => ("callee", "caller"),
    };
    let (Some(mine), Some(other)) = (party(ours), party(theirs)) else {
        return Qos::default();
    };
    let int = |v: &Value, k: &str| match v.get(k) {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let clamp = |n: Option<i64>| n.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX));
    let mos = match (int(&mine, "mos"), int(&other, "mos")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Qos {
        rtp_packets_rx: clamp(int(&mine, "packets")),
        rtp_packets_tx: clamp(int(&other, "packets")),
        rtp_lost: clamp(int(&mine, "lost")),
        jitter_us: None,
        rtt_us: None,
        mos_x100: (mos.filter(|m| *m > 0)).map(|m| (m * 10).clamp(100, 500) as u16),
    }
}
