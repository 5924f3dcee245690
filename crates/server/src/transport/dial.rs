//! Outbound TCP connections: when the proxy must send to a TCP address that no connection
//! goes to (a Route or Request-URI with `transport=tcp`, an operator's PBX on TCP), a flow is
//! registered at once and connected in the background; what the core sends meanwhile waits
//! in the flow's queue and is written once the connection is up. A connect that fails or
//! times out closes the flow and is reported to the core, which fails the transactions that
//! sent on it (503, so a fork tries its next branch) instead of waiting for Timer B.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;

use crate::config::Transport;
use crate::transport::flow::{FlowId, Flows};
use crate::transport::ingress::Ingress;
use crate::transport::tcp;

/// How long a connect may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How an outbound connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialEvent {
    Connected(FlowId),
    Failed(FlowId),
}

/// What a connection needs once it is up: the core's queue and the connection limits.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) core: Ingress,
    pub(crate) limits: tcp::Limits,
    /// Every shard's dial events (a connect is rare; each shard checks whether it sent on it).
    pub(crate) events: Arc<[mpsc::Sender<DialEvent>]>,
}

impl Dialer {
    /// Starts connecting to `addr` over TCP; the flow's id is usable at once.
    pub(crate) fn dial(&self, flows: &Arc<Flows>, addr: SocketAddr) -> FlowId {
        let flow = flows.register_dialing(Transport::Tcp, addr);
        let id = flow.id;
        let (flows, this) = (Arc::clone(flows), self.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return this.failed(flow, addr, &e.to_string()),
                Err(_) => return this.failed(flow, addr, "timed out"),
            };
            let _ = stream.set_nodelay(true);
            flows.connected(id);
            this.tell(DialEvent::Connected(id));
            let (r, w) = stream.into_split();
            let (core, limits) = (&this.core, this.limits);
            if let Err(e) = tcp::connection(r, w, addr, Transport::Tcp, flow, core, limits).await {
                debug!(peer = %addr, error = %e, "outbound tcp connection ended");
            }
        });
        id
    }

    fn failed(&self, flow: crate::transport::flow::Registration, addr: SocketAddr, why: &str) {
        debug!(peer = %addr, error = why, "outbound tcp connect failed");
        let id = flow.id;
        drop(flow);
        self.tell(DialEvent::Failed(id));
    }

    fn tell(&self, event: DialEvent) {
        for shard in self.events.iter() {
            // A full queue loses only the early failure: the transaction still ends at Timer B.
            if shard.try_send(event).is_err() {
                debug!(?event, "dial event dropped: shard busy");
            }
        }
    }
}
