//! The UDP listener: one socket; each datagram goes to the SIP core.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::debug;

use crate::config::Transport;
use crate::core::{Arrival, Inbound};

/// Largest datagram accepted; anything bigger than a UDP payload cannot arrive anyway.
const MAX_DATAGRAM: usize = 65_535;

/// Receives on one socket until the core goes away.
pub(crate) async fn serve(socket: Arc<UdpSocket>, index: usize, core: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, source) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; keep serving.
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let msg = Inbound {
            bytes: buf[..n].to_vec(),
            source,
            transport: Transport::Udp,
            via: Arrival::Udp(index),
            broken: None,
        };
        match core.try_send(msg) {
            Ok(()) => {}
            // Back-pressure: a datagram the core cannot take now is dropped; the sender's
            // retransmission timers recover it.
            Err(mpsc::error::TrySendError::Full(_)) => {
                debug!(%source, "core busy, datagram dropped")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}
