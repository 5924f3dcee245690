//! The SIP core task: every message from every transport arrives here, in one queue, and
//! every message to the network leaves from here, over a UDP socket or a flow.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::config::Transport;
use crate::flow::{FlowId, Flows};
use crate::front::{FrontDoor, Outcome};

/// Messages waiting for the core before transports start shedding load.
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
}

/// Where a message arrived, so that answers leave the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The UDP listener with this index.
    Udp(usize),
    /// A connection.
    Flow(FlowId),
}

/// What the core needs to reach the network.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) udp: Vec<Arc<UdpSocket>>,
    pub(crate) flows: Arc<Flows>,
}

impl Network {
    /// Sends `bytes` the way `arrival` names: from the same UDP socket to `to`, or down the
    /// same connection.
    pub(crate) async fn send(&self, arrival: Arrival, to: SocketAddr, bytes: Vec<u8>) {
        match arrival {
            Arrival::Udp(i) => {
                let Some(sock) = self.udp.get(i) else { return };
                if let Err(e) = sock.send_to(&bytes, to).await {
                    warn!(error = %e, %to, "udp send failed");
                }
            }
            Arrival::Flow(id) => {
                if let Err(e) = self.flows.send(id, bytes) {
                    debug!(error = %e, %to, "flow send failed");
                }
            }
        }
    }
}

/// Runs the core until every transport has hung up.
pub(crate) async fn run(mut inbound: mpsc::Receiver<Inbound>, front: FrontDoor, net: Network) {
    while let Some(msg) = inbound.recv().await {
        let outcome = match msg.broken {
            Some(e) => front.reject(&msg.bytes, e, msg.source, msg.transport),
            None => front.handle(&msg.bytes, msg.source, msg.transport),
        };
        match outcome {
            Outcome::Reply(reply) => {
                debug!(source = %msg.source, code = reply.code, to = %reply.destination, "reply");
                net.send(msg.via, reply.destination, reply.bytes).await;
            }
            Outcome::Drop(why) => debug!(source = %msg.source, why, "drop"),
        }
    }
}
