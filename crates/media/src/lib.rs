//! Trunkline's media relay (the rtpengine role). This crate holds the sans-IO core: which
//! local ports belong to which call and leg, where a packet arriving on one leg goes, how a
//! leg learns its peer's real address behind NAT (latching) without letting a stranger take
//! the stream over, and what each stream's quality is. A UDP data plane feeds it packets and
//! sends what it says ([`MediaPlane`] is the data plane: worker threads on epoll, batching
//! their socket I/O through io_uring).

mod batch;
pub mod bencode;
mod kernel;
mod latch;
pub mod ng;
mod ng_client;
mod ng_stats;
mod plane;
mod pool;
mod record;
mod relay;
mod session;

pub use latch::{Latch, Verdict};
pub use ng_client::{Client as NgClient, NgError};
pub use plane::{Ended, MediaPlane};
pub use pool::PortPool;
pub use record::{RecordFile, Recorder, Recordings, alaw, recording_stem, ulaw};
pub use relay::{
    Branch, CallId, Forward, Handover, Kind, LegQos, RING_GRACE, Relay, RelayError, Side,
};
pub use session::{SessionError, Sessions};
