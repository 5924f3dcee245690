//! The media control interface the roles speak, the same for the in-process relay and for
//! remote media nodes (Trunkline nodes or rtpengine over ng): a role asks with a
//! [`MediaRequest`] (an [`Action::Media`](super::actions::Action::Media)) and, when it gave a
//! token, hears the [`MediaAnswer`] later as a [`MediaEvent`]. The media control layer
//! ([`crate::media_control`]) also tells the role when a relayed call's media stopped. Nothing
//! about which backend runs the media reaches the role, and no socket is bound on the SIP path.

use trunkline_media::{Branch, Side};
use trunkline_store::{Leg, Qos};

use super::proxy::calls::CallKey;

/// One request to the media layer about call `call`.
#[derive(Debug, Clone)]
pub(crate) struct MediaRequest {
    /// With a token the answer comes back as [`MediaEvent::Answer`]; without, nothing does.
    pub(crate) token: Option<u64>,
    pub(crate) call: CallKey,
    pub(crate) command: MediaCommand,
}

/// What the media layer is asked to do with a call.
#[derive(Debug, Clone)]
pub(crate) enum MediaCommand {
    /// `sender`'s SDP in the call, to be anchored: the answer is the SDP to send on.
    Sdp(Sdp),
    /// Callee-side fork branch `0` answered: the other branches' ports close.
    Keep(Branch),
    /// Callee-side fork branch `0` declined: its ports close.
    DropBranch(Branch),
    /// Record the call from `now_ms` on.
    Record { now_ms: u64 },
    /// The call is over: the answer is its figures for the CDR of `leg`.
    Delete { leg: Leg },
}

/// An SDP body to anchor.
#[derive(Debug, Clone)]
pub(crate) struct Sdp {
    pub(crate) sender: Side,
    pub(crate) body: Vec<u8>,
    /// It answers an offer (a response to a request with SDP, an ACK, a PRACK); else it is
    /// an offer.
    pub(crate) answers: bool,
    /// The tags of the message's sender and of the other party.
    pub(crate) sender_tag: Option<String>,
    pub(crate) other_tag: Option<String>,
    /// Start relaying on this SDP if it has not started, each leg on the relay address of its
    /// party's family (`[caller is IPv6, callee is IPv6]`).
    pub(crate) create: Option<[bool; 2]>,
    /// The callee-side fork branch it goes to or comes from (selected first, with ports of
    /// its own; IPv6 when the flag says so).
    pub(crate) branch: Option<(Branch, bool)>,
    /// Record the call from then on (at these ms since the epoch).
    pub(crate) record: Option<u64>,
}

impl MediaCommand {
    /// The answer to this command when the media layer cannot be asked: SDP unchanged, a
    /// call without figures.
    pub(crate) fn unanswered(&self) -> MediaAnswer {
        match self {
            MediaCommand::Sdp(_) => MediaAnswer::Sdp(None),
            MediaCommand::Delete { .. } => MediaAnswer::Ended {
                qos: Qos::default(),
                recording: None,
            },
            _ => MediaAnswer::Done,
        }
    }
}

/// What the media layer answered.
#[derive(Debug, Clone)]
pub(crate) enum MediaAnswer {
    /// The anchored SDP; `None`: send the SDP on unchanged (it could not be anchored, which
    /// the media layer logged).
    Sdp(Option<Vec<u8>>),
    /// The figures of a deleted call for its CDR, and the recording's file.
    Ended { qos: Qos, recording: Option<String> },
    /// Done, nothing to say.
    Done,
}

/// What the media layer tells a role.
#[derive(Debug)]
pub(crate) enum MediaEvent {
    /// The answer to the request with this token.
    Answer { token: u64, answer: MediaAnswer },
    /// No media arrived for the relayed call for the media timeout (or its node dropped it).
    Stopped(CallKey),
}
