//! The SIP core task: every message from every transport arrives here, in one queue, runs
//! through the transaction engine, and every message to the network leaves from here, over a
//! UDP socket or a flow.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use trunkline_proto::{Destination, Engine, Output, Timers, TxId};
use trunkline_sip::{Via, ViaReceived};

use crate::config::Transport;
use crate::flow::{FlowId, Flows};
use crate::front::{self, FrontDoor, Outcome, TxContext};

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
    /// The UDP socket (listener shard) with this index.
    Udp(usize),
    /// A connection.
    Flow(FlowId),
}

/// A peer as the transaction engine sees it: how to reach it and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    arrival: Arrival,
    addr: SocketAddr,
    transport: Transport,
}

impl Destination for Peer {
    fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }

    fn response_target(&self, top_via: Option<&Via<'_>>) -> Self {
        Peer {
            addr: front::response_destination(top_via, self.addr, self.transport),
            ..*self
        }
    }

    fn via_received(&self, top_via: Option<&Via<'_>>) -> ViaReceived {
        front::via_received(top_via, self.addr)
    }
}

/// What the core needs to reach the network.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) udp: Vec<crate::udp::UdpOut>,
    pub(crate) flows: Arc<Flows>,
}

impl Network {
    /// Sends `bytes` to `to`; `false` when the transport refused it.
    async fn send(&self, to: &Peer, bytes: &[u8]) -> bool {
        match to.arrival {
            Arrival::Udp(i) => match self.udp.get(i) {
                Some(out) => out.send(to.addr, bytes).await,
                None => false,
            },
            Arrival::Flow(id) => match self.flows.send(id, bytes.to_vec()) {
                Ok(()) => true,
                Err(e) => {
                    debug!(error = %e, to = %to.addr, "flow send failed");
                    false
                }
            },
        }
    }
}

/// The core's state: the engine and the policy that answers requests.
struct Core {
    engine: Engine<Peer>,
    front: FrontDoor,
    net: Network,
}

/// Runs the core until every transport has hung up.
pub(crate) async fn run(mut inbound: mpsc::Receiver<Inbound>, front: FrontDoor, net: Network) {
    let mut core = Core {
        engine: Engine::new(Timers::default()),
        front,
        net,
    };
    loop {
        let deadline = core.engine.poll_timeout();
        tokio::select! {
            msg = inbound.recv() => match msg {
                Some(msg) => core.inbound(msg),
                None => return,
            },
            () = sleep_until(deadline), if deadline.is_some() => {
                core.engine.handle_timeout(Instant::now());
            }
        }
        core.drain().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

impl Core {
    fn inbound(&mut self, msg: Inbound) {
        let peer = Peer {
            arrival: msg.via,
            addr: msg.source,
            transport: msg.transport,
        };
        match msg.broken {
            // A stream that lost its framing: no transaction, a stateless 400 if possible.
            Some(e) => {
                let outcome = self.front.reject(&msg.bytes, e, msg.source, msg.transport);
                self.stateless(peer, outcome);
            }
            None => self
                .engine
                .receive(Bytes::from(msg.bytes), peer, Instant::now()),
        }
    }

    fn stateless(&mut self, peer: Peer, outcome: Outcome) {
        match outcome {
            Outcome::Reply(reply) => {
                let to = Peer {
                    addr: reply.destination,
                    ..peer
                };
                self.engine.send_stateless(to, Bytes::from(reply.bytes));
            }
            Outcome::Drop(why) => debug!(source = %peer.addr, why, "drop"),
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Transmit { to, bytes, tx } => {
                    if !self.net.send(&to, &bytes).await
                        && let Some(tx) = tx
                    {
                        self.engine.transport_error(tx, Instant::now());
                    }
                }
                Output::Request(inc) => {
                    let ctx = TxContext {
                        cancel_matched: inc.cancels.is_some(),
                        merged: inc.merged_with.is_some(),
                    };
                    let from = inc.from;
                    match self
                        .front
                        .handle_in(&inc.bytes, from.addr, from.transport, ctx)
                    {
                        Outcome::Reply(reply) => {
                            debug!(source = %from.addr, code = reply.code, "reply");
                            if let Err(e) = self.engine.respond(
                                inc.tx,
                                Bytes::from(reply.bytes),
                                Instant::now(),
                            ) {
                                warn!(error = %e, "response refused by its transaction");
                            }
                        }
                        Outcome::Drop(why) => debug!(source = %from.addr, why, "drop"),
                    }
                }
                Output::Unmatched { bytes, from, error } => {
                    let outcome = match error {
                        Some(e) => self.front.reject(&bytes, e, from.addr, from.transport),
                        None => self.front.handle(&bytes, from.addr, from.transport),
                    };
                    self.stateless(from, outcome);
                }
                // No dialogs, proxying or client transactions yet: nothing consumes these.
                Output::Ack { from, .. } => debug!(source = %from.addr, "ACK"),
                Output::StrayResponse { from, .. } => {
                    debug!(source = %from.addr, "unsolicited response dropped")
                }
                Output::Response { .. } | Output::ClientFailed { .. } => {}
                Output::Ended { tx, end } => {
                    if let TxId::Server(_) = tx {
                        debug!(?tx, ?end, "transaction ended");
                    }
                }
            }
        }
    }
}
