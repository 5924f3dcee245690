//! The sans-IO SIP engine of Trunkline: the transaction layer of RFC 3261 §17 with RFC 6026's
//! Accepted states, CANCEL matching (§9.2), the RFC 2543 matching fallback and merged-request
//! detection (§8.2.2.2), with every timer as data; and the branch scheme that lets a proxy
//! tell loops from spirals (§16.3 item 4, [`branch`]).
//!
//! Nothing here reads a socket or a clock. The driver feeds messages and the current time,
//! drains [`Engine::poll_output`] and calls [`Engine::handle_timeout`] at
//! [`Engine::poll_timeout`] — the quinn-proto / str0m shape. Tests drive it with a simulated
//! clock and a lossy network.
#![warn(missing_docs)]

mod act;
pub mod branch;
mod engine;
pub mod fork;
pub mod forward;
mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;
mod received;
mod timer;

pub use act::{End, TxError};
pub use engine::{ClientTxId, Destination, Engine, Incoming, Output, ServerTxId, TxId};
pub use invite_client::InviteClientState;
pub use invite_server::InviteServerState;
pub use non_invite_client::NonInviteClientState;
pub use non_invite_server::NonInviteServerState;
pub use received::Received;
pub use timer::{TimerKind, Timers};
