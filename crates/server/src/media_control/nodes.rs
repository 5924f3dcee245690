//! Remote media nodes (`media.nodes`: Trunkline media nodes or rtpengine) as a media control
//! backend, over the ng protocol. Each request is an ng exchange from a task of its own, so
//! nothing waits for a node's round trip but that task.
//!
//! The node's call is named by the Call-ID, and a call always goes to the same node (by a
//! hash of it). The party that sent the first offer is the node's "caller" (the callee for a
//! late offer); the ng `from-tag` of each offer is its sender's tag and of each answer the
//! offerer's. The nodes are asked after their calls (ng `query`) every half media timeout:
//! the figures feed the live view and the CDRs of calls whose `delete` fails, and a call the
//! node no longer knows ("Unknown call-id": it dropped it when its media stopped for the
//! node's timeout, as rtpengine does too) is reported stopped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, warn};
use trunkline_media::bencode::Value;
use trunkline_media::{NgClient, NgError, Side};
use trunkline_store::{Leg, LiveMedia, Qos};

use crate::roles::media_control::{MediaAnswer, MediaCommand, MediaRequest, Sdp};
use crate::roles::proxy::calls::CallKey;

/// The ng error reason for a call a node does not have (rtpengine's words, and ours).
const UNKNOWN_CALL: &str = "Unknown call-id";

/// What is known of one call at its node.
#[derive(Debug, Default)]
struct NodeCall {
    /// Once the first offer went out: whether the node's "caller" is our callee.
    swapped: Option<bool>,
    /// The latest `query` reply.
    figures: Option<Value>,
    /// A `query` is out and not answered yet.
    polling: bool,
}

/// The media nodes and what is known of their calls.
#[derive(Debug)]
pub(crate) struct Nodes {
    client: NgClient,
    nodes: Vec<SocketAddr>,
    calls: Mutex<HashMap<CallKey, NodeCall>>,
    /// How often calls are asked after.
    pub(crate) poll_every: Duration,
}

impl Nodes {
    pub(crate) fn new(client: NgClient, nodes: Vec<SocketAddr>, timeout: Duration) -> Self {
        Nodes {
            client,
            nodes,
            calls: Mutex::new(HashMap::new()),
            poll_every: (timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(10)),
        }
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<CallKey, NodeCall>> {
        // Each update is one insert, remove or field write: a poisoned lock is consistent.
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node of a call (by its Call-ID, so every message of it goes to the same node).
    fn node(&self, call_id: &str) -> Option<SocketAddr> {
        // The same hash that picks a call's shard.
        let i = crate::transport::ingress::shard_of(call_id.as_bytes(), self.nodes.len());
        self.nodes.get(i).copied()
    }

    async fn ask(&self, node: SocketAddr, pairs: &[(&str, String)]) -> Result<Value, NgError> {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.client.request(node, &borrowed).await
    }

    /// Carries out `req` at the call's node and answers it (a failure is logged, and answered
    /// as "unchanged").
    pub(crate) async fn execute(&self, req: MediaRequest) -> MediaAnswer {
        let key = &req.call;
        let Some(node) = self.node(&key.call_id) else {
            return MediaAnswer::Done;
        };
        let id = ("call-id", key.call_id.clone());
        match req.command {
            MediaCommand::Sdp(sdp) => {
                let record = sdp.record.is_some();
                let answer = self.anchor(node, key, sdp).await;
                if record && answer.is_some() {
                    // The SDP is answered now; the recording starts on its own.
                    let (client, pairs) = (
                        self.client.clone(),
                        [("command", "start recording".to_owned()), id],
                    );
                    tokio::spawn(async move {
                        let pairs: Vec<(&str, &str)> =
                            pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        if let Err(e) = client.request(node, &pairs).await {
                            warn!(error = %e, "media node: recording not started");
                        }
                    });
                }
                MediaAnswer::Sdp(answer)
            }
            // The ng protocol has no fork branches: the node latches onto who sends.
            MediaCommand::Keep(_) | MediaCommand::DropBranch(_) => MediaAnswer::Done,
            MediaCommand::Record { .. } => {
                self.fire(node, vec![("command", "start recording".to_owned()), id])
                    .await;
                MediaAnswer::Done
            }
            MediaCommand::Delete { leg } => {
                let known = self.calls().remove(key).unwrap_or_default();
                let swapped = known.swapped.unwrap_or(false);
                let reply = self
                    .ask(node, &[("command", "delete".to_owned()), id])
                    .await;
                let figures = reply.ok().or(known.figures);
                let qos =
                    (figures.as_ref()).map_or_else(Qos::default, |v| cdr_qos(v, leg, swapped));
                MediaAnswer::Ended {
                    qos,
                    recording: None,
                }
            }
        }
    }

    /// Sends the ng `offer` or `answer` for an SDP; the node's SDP, or `None` (logged).
    async fn anchor(&self, node: SocketAddr, key: &CallKey, s: Sdp) -> Option<Vec<u8>> {
        let text = String::from_utf8(s.body).ok()?;
        let (command, ng_from, ng_to) = match s.answers {
            false => ("offer", s.sender_tag, s.other_tag),
            true => ("answer", s.other_tag, s.sender_tag),
        };
        {
            let mut calls = self.calls();
            let call = calls.entry(key.clone()).or_default();
            if call.swapped.is_none() && !s.answers {
                // The node's caller is whoever offers first: our callee for a late offer.
                call.swapped = Some(s.sender == Side::Callee);
            }
        }
        let mut pairs = vec![
            ("command", command.to_owned()),
            ("call-id", key.call_id.clone()),
            ("sdp", text),
        ];
        pairs.extend(ng_from.map(|t| ("from-tag", t)));
        pairs.extend(ng_to.map(|t| ("to-tag", t)));
        match self.ask(node, &pairs).await {
            Ok(v) => v.get("sdp")?.as_str().map(|s| s.as_bytes().to_vec()),
            Err(e) => {
                warn!(error = %e, call_id = key.call_id, "media node: SDP not anchored, media goes end to end");
                None
            }
        }
    }

    /// A request whose answer nothing needs (a failure is logged).
    async fn fire(&self, node: SocketAddr, pairs: Vec<(&str, String)>) {
        if let Err(e) = self.ask(node, &pairs).await {
            warn!(error = %e, "media node: request failed");
        }
    }

    /// The calls with an offer out and no `query` waiting: they are asked after now.
    pub(crate) fn due(&self) -> Vec<CallKey> {
        let mut calls = self.calls();
        (calls.iter_mut())
            .filter(|(_, c)| c.swapped.is_some() && !c.polling)
            .map(|(k, c)| {
                c.polling = true;
                k.clone()
            })
            .collect()
    }

    /// Asks call `key`'s node after it; true when the node no longer knows the call.
    pub(crate) async fn poll(&self, key: &CallKey) -> bool {
        let Some(node) = self.node(&key.call_id) else {
            return false;
        };
        let pairs = [
            ("command", "query".to_owned()),
            ("call-id", key.call_id.clone()),
        ];
        let reply = self.ask(node, &pairs).await;
        let mut calls = self.calls();
        let Some(call) = calls.get_mut(key) else {
            // Deleted meanwhile.
            return false;
        };
        call.polling = false;
        match reply {
            Ok(v) => {
                call.figures = Some(v);
                false
            }
            Err(NgError::Refused { reason, .. }) => reason == UNKNOWN_CALL,
            Err(e) => {
                debug!(error = %e, call_id = key.call_id, "media node: query failed");
                false
            }
        }
    }

    /// The latest figures of a call from its node: [caller, callee]; `None` before the
    /// first `query` or from a node that gives no per-party figures (rtpengine).
    pub(crate) fn live(&self, key: &CallKey) -> Option<[LiveMedia; 2]> {
        let calls = self.calls();
        let call = calls.get(key)?;
        let reply = call.figures.as_ref()?;
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
        Some(match call.swapped.unwrap_or(false) {
            false => [caller, callee],
            true => [callee, caller],
        })
    }
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
