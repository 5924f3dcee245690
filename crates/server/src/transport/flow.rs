//! Flows: the connections (TCP, TLS, WS, WSS) the SIP core can write to, by id and by peer.
//!
//! A connection task registers itself and gets a bounded queue of outbound messages; the core
//! sends to a flow by id (the connection a request arrived on) or looks one up by peer address
//! to reuse a connection the peer opened (RFC 5923 alias-style reuse, RFC 5626 flows).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use crate::config::Transport;
use crate::transport::dial::Dialer;

/// Outbound messages queued per connection before the connection counts as stuck.
const QUEUE: usize = 256;

/// Identifies one connection for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(u64);

#[cfg(test)]
impl FlowId {
    /// A flow id for tests that need one without a connection.
    pub(crate) fn from_raw(n: u64) -> Self {
        FlowId(n)
    }
}

/// Why a message could not be handed to a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The connection is gone.
    #[error("flow closed")]
    Closed,
    /// The connection does not drain its queue (a slow or dead peer).
    #[error("flow queue full")]
    Full,
}

#[derive(Debug)]
struct Entry {
    transport: Transport,
    peer: SocketAddr,
    tx: mpsc::Sender<Vec<u8>>,
    /// An outbound connection still being set up.
    connecting: bool,
}

/// All live connections.
#[derive(Debug, Default)]
pub struct Flows {
    next: AtomicU64,
    inner: Mutex<Inner>,
    /// Opens outbound TCP connections; unset, only connections peers opened are used.
    dialer: OnceLock<Dialer>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<FlowId, Entry>,
    by_peer: HashMap<(Transport, SocketAddr), FlowId>,
}

/// A connection's registration; dropping it removes the flow.
#[derive(Debug)]
pub struct Registration {
    flows: Arc<Flows>,
    /// The flow's id.
    pub id: FlowId,
    /// Messages the core wants written to this connection.
    pub outbound: mpsc::Receiver<Vec<u8>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.flows.remove(self.id);
    }
}

impl Flows {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each update is
        // a single insert or remove), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection from `peer`.
    pub fn register(self: &Arc<Self>, transport: Transport, peer: SocketAddr) -> Registration {
        self.insert(transport, peer, false)
    }

    /// Registers an outbound connection to `peer` that is still connecting.
    pub(crate) fn register_dialing(
        self: &Arc<Self>,
        transport: Transport,
        peer: SocketAddr,
    ) -> Registration {
        self.insert(transport, peer, true)
    }

    /// The outbound connection `id` is up.
    pub(crate) fn connected(&self, id: FlowId) {
        if let Some(e) = self.lock().by_id.get_mut(&id) {
            e.connecting = false;
        }
    }

    /// Lets [`Flows::find_or_dial`] open TCP connections (once; later calls are ignored).
    pub(crate) fn set_dialer(&self, dialer: Dialer) {
        let _ = self.dialer.set(dialer);
    }

    /// Whether [`Flows::find_or_dial`] opens new connections over `transport`.
    pub(crate) fn dials(&self, transport: Transport) -> bool {
        transport == Transport::Tcp && self.dialer.get().is_some()
    }

    /// The live connection to `peer` over `transport`, or for TCP a new one being opened.
    pub(crate) fn find_or_dial(
        self: &Arc<Self>,
        transport: Transport,
        peer: SocketAddr,
    ) -> Option<FlowId> {
        if let Some(id) = self.find(transport, peer) {
            return Some(id);
        }
        match (transport, self.dialer.get()) {
            (Transport::Tcp, Some(d)) => Some(d.dial(self, peer)),
            _ => None,
        }
    }

    fn insert(
        self: &Arc<Self>,
        transport: Transport,
        peer: SocketAddr,
        connecting: bool,
    ) -> Registration {
        let id = FlowId(self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, outbound) = mpsc::channel(QUEUE);
        let mut inner = self.lock();
        inner.by_id.insert(
            id,
            Entry {
                transport,
                peer,
                tx,
                connecting,
            },
        );
        inner.by_peer.insert((transport, peer), id);
        Registration {
            flows: Arc::clone(self),
            id,
            outbound,
        }
    }

    fn remove(&self, id: FlowId) {
        let mut inner = self.lock();
        if let Some(e) = inner.by_id.remove(&id)
            && inner.by_peer.get(&(e.transport, e.peer)) == Some(&id)
        {
            inner.by_peer.remove(&(e.transport, e.peer));
        }
    }

    /// Queues `bytes` for the connection `id`; `Ok(true)` when it is an outbound connection
    /// still connecting (the message waits for it).
    pub fn send(&self, id: FlowId, bytes: Vec<u8>) -> Result<bool, FlowError> {
        let (tx, connecting) = self
            .lock()
            .by_id
            .get(&id)
            .map(|e| (e.tx.clone(), e.connecting))
            .ok_or(FlowError::Closed)?;
        tx.try_send(bytes).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => FlowError::Full,
            mpsc::error::TrySendError::Closed(_) => FlowError::Closed,
        })?;
        Ok(connecting)
    }

    /// The live connection to `peer` over `transport`, if any.
    pub fn find(&self, transport: Transport, peer: SocketAddr) -> Option<FlowId> {
        self.lock().by_peer.get(&(transport, peer)).copied()
    }

    /// Whether the connection `id` is still open.
    pub fn is_open(&self, id: FlowId) -> bool {
        self.lock().by_id.contains_key(&id)
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True when no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn register_send_find_drop() {
        let flows = Arc::new(Flows::default());
        let peer: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut reg = flows.register(Transport::Tcp, peer);
        assert_eq!(flows.find(Transport::Tcp, peer), Some(reg.id));
        assert_eq!(flows.find(Transport::Tls, peer), None);
        assert!(
            !flows.send(reg.id, b"x".to_vec()).unwrap(),
            "an accepted flow is connected"
        );
        assert_eq!(reg.outbound.recv().await.unwrap(), b"x");
        let id = reg.id;
        drop(reg);
        assert_eq!(flows.find(Transport::Tcp, peer), None);
        assert_eq!(flows.send(id, b"y".to_vec()), Err(FlowError::Closed));
        assert!(flows.is_empty());
    }
}
