//! The UDP listener: one socket, each datagram through the front door, replies sent back.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tracing::{debug, warn};

use crate::config::Transport;
use crate::front::{FrontDoor, Outcome};

/// Largest datagram accepted; anything bigger than a UDP payload cannot arrive anyway.
const MAX_DATAGRAM: usize = 65_535;

/// Serves one UDP socket until the task is cancelled.
pub(crate) async fn serve(socket: UdpSocket, front: Arc<FrontDoor>) {
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
        match front.handle(&buf[..n], source, Transport::Udp) {
            Outcome::Reply(reply) => {
                debug!(%source, code = reply.code, to = %reply.destination, "udp reply");
                if let Err(e) = socket.send_to(&reply.bytes, reply.destination).await {
                    warn!(error = %e, to = %reply.destination, "udp send failed");
                }
            }
            Outcome::Drop(why) => debug!(%source, why, "udp drop"),
        }
    }
}
