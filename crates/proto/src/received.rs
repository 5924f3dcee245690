//! A message as received: its bytes and the index of its one parse, carried together through
//! the engine, the fork and the proxy so that no layer parses it again.

use bytes::Bytes;
use trunkline_sip::{Index, Message};

/// A received message with its parsed index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message as it arrived.
    pub bytes: Bytes,
    /// Where its parts are in `bytes`.
    pub index: Index,
}

impl Received {
    /// Parses `bytes` (the one parse of a message that enters here from elsewhere).
    pub fn parse(bytes: Bytes) -> Option<Received> {
        let index = Message::parse(&bytes).ok()?.index();
        Some(Received { bytes, index })
    }

    /// The message, rebuilt from its index without parsing.
    pub fn message(&self) -> Option<Message<'_>> {
        Message::from_index(&self.bytes, &self.index)
    }
}
