//! The proxy's side of media control, the same whether the in-process relay or remote media
//! nodes carry the media: which calls are relayed, and the steps that wait for the media
//! layer's answer. Anchoring an SDP body is a [`MediaRequest`] (an
//! [`Action::Media`](crate::roles::actions::Action::Media)); what needs the answer (the
//! forwarded INVITE or one fork branch of it, a re-INVITE, a response, an ACK, the CDR with
//! the call's figures) is set aside as a [`Deferred`] step until the [`MediaEvent`] comes back.
//! An SDP the media layer could not anchor goes on unchanged (the media layer logs why); a
//! CDR is never held back by a failure.

use std::collections::{HashMap, HashSet};

use trunkline_media::{Branch, Side};
use trunkline_proto::fork::BranchId;
use trunkline_proto::{Received, ServerTxId};
use trunkline_sip::Message;
use trunkline_store::NewCdr;

use super::calls::CallKey;
use super::media::has_sdp;
use super::{Peer, Pending, Target};
use crate::config::MediaMode;
use crate::roles::actions::{Action, Actions};
use crate::roles::media_control::{MediaAnswer, MediaCommand, MediaRequest, Sdp};

/// What waits for the media layer's answer.
#[derive(Debug)]
pub(super) enum Deferred {
    /// A request to forward once its SDP is anchored.
    Launch {
        stx: ServerTxId,
        pending: Box<Pending>,
    },
    /// A fork branch of the request of `stx` to start once its offer is anchored at ports of
    /// its own.
    Branch {
        stx: ServerTxId,
        branch: BranchId,
        target: Target,
    },
    /// A response to forward once its SDP is anchored.
    Respond {
        stx: ServerTxId,
        received: Received,
        source: Option<Peer>,
    },
    /// An ACK (with the answer to a late offer) to forward.
    Ack { received: Received, from: Peer },
    /// A CDR that gets the call's figures.
    Cdr(Box<NewCdr>),
}

/// How an SDP body is anchored, besides its call, sender and message.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct How {
    /// The SDP answers an offer.
    pub(super) answers: bool,
    /// Start relaying on it, legs on these families (`[caller is IPv6, callee is IPv6]`).
    pub(super) create: Option<[bool; 2]>,
    /// The callee-side fork branch (and whether its party is on IPv6).
    pub(super) branch: Option<(BranchId, bool)>,
    /// Record from then on (at these ms since the epoch).
    pub(super) record: Option<u64>,
}

/// The media layer's name for a fork branch.
pub(super) fn branch_of(b: BranchId) -> Branch {
    Branch::try_from(b.0).unwrap_or(Branch::MAX)
}

/// The proxy's relayed calls and what waits for the media layer.
#[derive(Debug)]
pub(crate) struct Anchoring {
    pub(super) mode: MediaMode,
    relayed: HashSet<CallKey>,
    deferred: HashMap<u64, Deferred>,
    next: u64,
}

impl Anchoring {
    pub(crate) fn new(mode: MediaMode) -> Self {
        Anchoring {
            mode,
            relayed: HashSet::new(),
            deferred: HashMap::new(),
            next: 0,
        }
    }

    /// Whether call `key` is relayed.
    pub(super) fn relays(&self, key: &CallKey) -> bool {
        self.relayed.contains(key)
    }

    /// Call `key` is relayed from now on.
    pub(super) fn relay(&mut self, key: CallKey) {
        self.relayed.insert(key);
    }

    /// Asks for `msg`'s SDP (sent by `sender` in call `key`) to be anchored and sets `then`
    /// aside until the answer comes. `then` comes back at once when `msg` has no SDP: go on
    /// without waiting.
    pub(super) fn anchor(
        &mut self,
        key: &CallKey,
        sender: Side,
        msg: &Message<'_>,
        how: How,
        then: Deferred,
        out: &mut Actions,
    ) -> Option<Deferred> {
        if !has_sdp(msg) {
            return Some(then);
        }
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
        let sdp = Sdp {
            sender,
            body: msg.body().to_vec(),
            answers: how.answers,
            sender_tag,
            other_tag,
            create: how.create,
            branch: how.branch.map(|(b, v6)| (branch_of(b), v6)),
            record: how.record,
        };
        self.ask(key, MediaCommand::Sdp(sdp), then, out);
        None
    }

    /// Tells the media layer something about call `key` that needs no answer.
    pub(super) fn tell(&self, key: &CallKey, command: MediaCommand, out: &mut Actions) {
        if self.relays(key) {
            out.push(Action::Media(MediaRequest {
                token: None,
                call: key.clone(),
                command,
            }));
        }
    }

    /// Ends the relaying of `key`; `cdr`, if any, waits for the call's figures. The CDR
    /// comes back when the call was not relayed (keep it as it is).
    pub(super) fn release(
        &mut self,
        key: &CallKey,
        cdr: Option<NewCdr>,
        out: &mut Actions,
    ) -> Option<NewCdr> {
        if !self.relayed.remove(key) {
            return cdr;
        }
        let leg = cdr.as_ref().map_or(trunkline_store::Leg::A, |c| c.leg);
        let delete = MediaCommand::Delete { leg };
        match cdr {
            Some(cdr) => self.ask(key, delete, Deferred::Cdr(Box::new(cdr)), out),
            None => out.push(Action::Media(MediaRequest {
                token: None,
                call: key.clone(),
                command: delete,
            })),
        }
        None
    }

    /// Lets go of a call the proxy no longer knows whose media the media layer still holds.
    pub(super) fn forget(&mut self, key: &CallKey, out: &mut Actions) {
        self.relayed.remove(key);
        out.push(Action::Media(MediaRequest {
            token: None,
            call: key.clone(),
            command: MediaCommand::Delete {
                leg: trunkline_store::Leg::A,
            },
        }));
    }

    fn ask(&mut self, key: &CallKey, command: MediaCommand, then: Deferred, out: &mut Actions) {
        self.next = self.next.wrapping_add(1);
        let token = self.next;
        self.deferred.insert(token, then);
        out.push(Action::Media(MediaRequest {
            token: Some(token),
            call: key.clone(),
            command,
        }));
    }

    /// The step an answer finishes, with the anchored SDP (`None`: unchanged). A CDR gets the
    /// call's figures here.
    pub(super) fn finish(
        &mut self,
        token: u64,
        answer: MediaAnswer,
    ) -> Option<(Deferred, Option<Vec<u8>>)> {
        let step = self.deferred.remove(&token)?;
        Some(match (step, answer) {
            (Deferred::Cdr(mut cdr), MediaAnswer::Ended { qos, recording }) => {
                cdr.qos = qos;
                cdr.recording = recording;
                (Deferred::Cdr(cdr), None)
            }
            (step, MediaAnswer::Sdp(sdp)) => (step, sdp),
            (step, _) => (step, None),
        })
    }

    /// Whether a step of `stx` waits for the media layer (its request is still needed: a
    /// branch is built from it, and the dialog of a 2xx is read from it).
    pub(super) fn holds(&self, stx: ServerTxId) -> bool {
        (self.deferred.values()).any(|d| match d {
            Deferred::Respond { stx: s, .. } | Deferred::Branch { stx: s, .. } => *s == stx,
            _ => false,
        })
    }

    /// A Launch waiting for `stx`, taken back (a CANCEL came first).
    pub(super) fn take_launch(&mut self, stx: ServerTxId) -> Option<Pending> {
        let token = (self.deferred.iter())
            .find(|(_, d)| matches!(d, Deferred::Launch { stx: s, .. } if *s == stx))
            .map(|(t, _)| *t)?;
        match self.deferred.remove(&token)? {
            Deferred::Launch { pending, .. } => Some(*pending),
            other => {
                self.deferred.insert(token, other);
                None
            }
        }
    }
}
