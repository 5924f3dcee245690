//! The driver: the SIP shards (each a transaction engine and its roles on one task, fed by
//! the transports, owning the clock and the timers), the CDR hand-off, and the node's answers
//! to the control socket and the API.

pub(crate) mod cdr;
pub(crate) mod commands;
pub mod control;
pub(crate) mod dispatch;
pub(crate) mod shard;
