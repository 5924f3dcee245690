//! The roles' side of the sans-IO interface: what a role asks the driver to do. A role is
//! handed events as method calls (a request with its server transaction, a response or a
//! failure on one of its client transactions, the time, a media node's reply) with the time
//! and the shared state lent in, and answers with [`Action`]s. The driver carries them out on
//! the transaction engine, the sockets and the queues; no role touches the engine, a socket,
//! the clock, a channel or a task.

use bytes::Bytes;
use trunkline_proto::ServerTxId;
use trunkline_store::NewCdr;

use super::media_control::MediaRequest;
use crate::transport::Peer;

/// A role's own name for one of its client transactions: the driver maps the engine's
/// transaction to it, and events on that transaction come back under this name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientRef(pub(crate) u64);

/// One thing a role asks the driver to do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Answers server transaction `tx` (a provisional or final response).
    Respond { tx: ServerTxId, bytes: Bytes },
    /// Starts a client transaction for request `bytes` towards `to`. Its responses, its
    /// failure (also when it cannot be started) and its end come back as events for `key`.
    /// `branch`: the top Via branch the role wrote (the method is the request line's and
    /// the CSeq's), so that the engine need not parse the request again.
    Request {
        key: ClientRef,
        bytes: Bytes,
        to: Peer,
        branch: Option<String>,
    },
    /// Sends outside any transaction (an ACK for a 2xx, a keep-alive).
    Send { to: Peer, bytes: Bytes },
    /// A request to the media layer; with a token its answer comes back as an event.
    Media(MediaRequest),
    /// A finished call's record for the CDR queue.
    Cdr(Box<NewCdr>),
}

/// The actions of one event, in order.
#[derive(Debug, Default)]
pub(crate) struct Actions(Vec<Action>);

impl Actions {
    pub(crate) fn push(&mut self, a: Action) {
        self.0.push(a);
    }

    pub(crate) fn respond(&mut self, tx: ServerTxId, bytes: impl Into<Bytes>) {
        self.push(Action::Respond {
            tx,
            bytes: bytes.into(),
        });
    }

    pub(crate) fn send(&mut self, to: Peer, bytes: impl Into<Bytes>) {
        self.push(Action::Send {
            to,
            bytes: bytes.into(),
        });
    }

    pub(crate) fn cdr(&mut self, cdr: NewCdr) {
        self.push(Action::Cdr(Box::new(cdr)));
    }

    /// Takes the actions out, oldest first.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Action> {
        self.0.drain(..)
    }
}
