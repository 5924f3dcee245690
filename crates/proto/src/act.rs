//! What a transaction state machine asks the engine to do.

use std::time::Duration;

use bytes::Bytes;

use crate::timer::TimerKind;

/// One step a state machine wants taken, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// Transmit to the transaction's peer.
    Send(Bytes),
    /// Hand the message being processed to the core.
    Deliver,
    /// (Re)start a timer to fire after the duration.
    Arm(TimerKind, Duration),
    /// Stop a timer.
    Disarm(TimerKind),
    /// The transaction is over.
    Terminate(End),
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It ran its course.
    Normal,
    /// No final response in time (client: Timer B or F, surfaced as 408).
    Timeout,
    /// No ACK for a non-2xx final response (server: Timer H).
    NoAck,
    /// The transport reported an error (surfaced as 503, RFC 3261 §8.1.3.1).
    TransportError,
}

/// Why the core's request to a transaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// No such transaction (never existed or already terminated).
    #[error("no such transaction")]
    Unknown,
    /// The transaction is past the point where this response can be sent.
    #[error("transaction does not accept this response in its state")]
    WrongState,
    /// The message is not a response or not a request as needed, or lacks what matching needs.
    #[error("message cannot be used here: {0}")]
    BadMessage(&'static str),
}
