//! Calls in progress as a node's signalling core reports them, and the requests the API sends
//! the core about them: types shared by both so that the API does not depend on the server.

use tokio::sync::{mpsc, oneshot};

use crate::TenantId;

/// What the relay measured of one party's media so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveMedia {
    /// RTP packets received from the party.
    pub packets: u64,
    /// Packets lost on the way from it (sequence numbers).
    pub lost: i64,
    /// Interarrival jitter, microseconds.
    pub jitter_us: u32,
    /// Estimated MOS × 100 of what it sends.
    pub mos_x100: u16,
    /// Whether the kernel forwards its RTP now (the relay's in-kernel fast path).
    pub kernel: bool,
}

/// One call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    pub call_id: String,
    /// `user@domain`, or the From URI of a caller who is not a user.
    pub caller: String,
    /// `user@domain`, or the Request-URI.
    pub callee: String,
    /// The customers of the parties that are platform users (who may see the call).
    pub customers: Vec<TenantId>,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    /// Whether its media goes through the relay.
    pub relayed: bool,
    /// Whether the relay records it.
    pub recording: bool,
    /// [caller, callee] as the relay measured them, when relayed.
    pub media: Option<[LiveMedia; 2]>,
}

/// What became of a request to record a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recording from now on (or already).
    Recording,
    /// No such call in progress.
    NotFound,
    /// The call's media does not go through the relay: there is nothing to record.
    NotRelayed,
}

/// A request to the signalling core.
#[derive(Debug)]
pub enum LiveRequest {
    /// The calls in progress.
    List(oneshot::Sender<Vec<LiveCall>>),
    /// Record the call with this Call-ID from now on.
    Record {
        call_id: String,
        reply: oneshot::Sender<RecordOutcome>,
    },
}

/// Where the API sends its requests: the core of the node it runs in.
pub type LiveHandle = mpsc::Sender<LiveRequest>;
