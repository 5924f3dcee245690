//! The wire: UDP sockets (with batched system calls), TCP/TLS/WebSocket connections and the
//! flows that reach them, outbound connects, the edge guard and the front door that judge
//! every message as it arrives, and the ingress that sends each to the shard of its Call-ID.
//! A message arrives as an [`Inbound`]; a peer, as the transaction engine sees it, is a
//! [`Peer`].

pub(crate) mod config;
pub(crate) mod dial;
pub mod flow;
pub mod front;
pub mod guard;
pub(crate) mod ingress;
pub mod limits;
pub(crate) mod listen;
pub mod stun;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod udp;
pub(crate) mod ws;

use std::net::SocketAddr;
use std::time::Instant;

use trunkline_proto::Destination;
use trunkline_sip::{Via, ViaReceived};

use crate::config::Transport;
use flow::FlowId;

/// Messages waiting for a shard before transports start shedding load.
pub(crate) const INBOUND_QUEUE: usize = 8192;

/// One message as a transport received it.
#[derive(Debug)]
pub struct Inbound {
    /// The whole message (a datagram, or one frame cut from a stream).
    pub bytes: Vec<u8>,
    /// Who sent it.
    pub source: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// Where it arrived: a UDP listener index, or the connection.
    pub via: Arrival,
    /// Set when a stream lost its framing at this message; it gets a 400 if possible.
    pub broken: Option<trunkline_sip::ParseError>,
    /// When the transport received it: how long it waited for its shard says whether the
    /// shard is overloaded.
    pub queued: Instant,
}

/// Where a message arrived, so that answers leave the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The UDP socket (listener shard) with this index.
    Udp(usize),
    /// A connection.
    Flow(FlowId),
    /// A TCP connection to the peer's address that the driver opens when the message is
    /// sent, unless one is open by then (a role never opens connections itself).
    Dial,
}

/// A peer as the transaction engine sees it: how to reach it and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) arrival: Arrival,
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
}

impl Destination for Peer {
    fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }

    fn response_target(&self, top_via: Option<&Via<'_>>) -> Self {
        Peer {
            addr: response_destination(top_via, self.addr, self.transport),
            ..*self
        }
    }

    fn via_received(&self, top_via: Option<&Via<'_>>) -> ViaReceived {
        via_received(top_via, self.addr)
    }
}

/// RFC 3261 §18.2.1 and RFC 3581: `received` when the sent-by is not the source address,
/// `rport` filled with the source port when asked for.
pub fn via_received(top: Option<&trunkline_sip::Via<'_>>, source: SocketAddr) -> ViaReceived {
    ViaReceived {
        received: top
            .filter(|v| !v.host.is_ip(source.ip()))
            .map(|_| source.ip()),
        rport: top.and_then(|v| v.rport()).map(|_| source.port()),
    }
}

/// RFC 3261 §18.2.2 with RFC 3581: on UDP, to the source address when rport was asked for,
/// else to the source IP at the sent-by port (default 5060). `maddr` is deliberately not
/// honoured: it would let anyone aim our responses at a third party.
pub fn response_destination(
    top: Option<&trunkline_sip::Via<'_>>,
    source: SocketAddr,
    transport: Transport,
) -> SocketAddr {
    if transport.is_reliable() {
        return source;
    }
    match top {
        Some(v) if v.rport().is_none() => SocketAddr::new(source.ip(), v.port.unwrap_or(5060)),
        _ => source,
    }
}
