//! RTP and RTCP for Trunkline's media relay: a view of an RTP packet's header, per-stream
//! receive statistics (RFC 3550 A.1 sequence tracking, A.3 loss, A.8 jitter), what a peer's
//! RTCP reports say (loss, jitter, round-trip time) and an estimated MOS from a simplified
//! ITU-T G.107 E-model. Sans-IO: callers pass packets and arrival times.

pub mod mos;
pub mod packet;
pub mod rtcp;
pub mod stream;

pub use mos::{Codec, mos};
pub use packet::{Header, is_rtcp, payload};
pub use rtcp::{ReportSummary, RtcpError, ntp_mid32, reports};
pub use stream::{Carry, Qos, ReceiveStats};
