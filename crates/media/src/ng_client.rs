//! The other side of ng: a signalling server's client for remote media nodes (Trunkline's or
//! rtpengine). One UDP socket for every node; each request gets a fresh cookie, is resent
//! until answered (as rtpengine's clients do: UDP may lose it) and fails after its tries.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use crate::bencode::Value;

/// Sends per request, and how long to wait for an answer after each.
const TRIES: usize = 3;
const WAIT: Duration = Duration::from_millis(500);

/// Why an ng request failed.
#[derive(Debug, thiserror::Error)]
pub enum NgError {
    #[error("media node {0} did not answer")]
    Timeout(SocketAddr),
    #[error("media node {node} refused: {reason}")]
    Refused { node: SocketAddr, reason: String },
    #[error("ng socket: {0}")]
    Io(#[from] std::io::Error),
}

type Waiting = Arc<Mutex<HashMap<Vec<u8>, oneshot::Sender<Value>>>>;

/// A client for remote media nodes; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    socket: Arc<UdpSocket>,
    waiting: Waiting,
    next: Arc<AtomicU64>,
}

fn waiting(w: &Waiting) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, oneshot::Sender<Value>>> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// A client on `bind` (an ephemeral port of the address towards the nodes); its receive
    /// task runs until every clone is dropped.
    pub async fn bind(bind: SocketAddr) -> std::io::Result<Client> {
        let socket = Arc::new(UdpSocket::bind(bind).await?);
        let waiting: Waiting = Arc::default();
        let (rx_socket, rx_waiting) = (Arc::downgrade(&socket), Arc::downgrade(&waiting));
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Some(socket) = rx_socket.upgrade() else {
                    return;
                };
                let received =
                    tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await;
                drop(socket);
                let Ok(Ok((n, _))) = received else {
                    continue;
                };
                let Some(waiting) = rx_waiting.upgrade() else {
                    return;
                };
                let reply = &buf[..n];
                let Some(sp) = reply.iter().position(|&b| b == b' ') else {
                    continue;
                };
                let Ok(value) = Value::decode(&reply[sp + 1..]) else {
                    continue;
                };
                if let Some(tx) = self::waiting(&waiting).remove(&reply[..sp]) {
                    let _ = tx.send(value);
                }
            }
        });
        Ok(Client {
            socket,
            waiting,
            next: Arc::new(AtomicU64::new(rand_start())),
        })
    }

    /// Sends `pairs` (string values) as one command to `node`; its reply when `result` is
    /// `ok` (or `pong`).
    pub async fn request(
        &self,
        node: SocketAddr,
        pairs: &[(&str, &str)],
    ) -> Result<Value, NgError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let cookie = format!("t{n:x}").into_bytes();
        let dict: BTreeMap<Vec<u8>, Value> = (pairs.iter())
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
            .collect();
        let mut out = cookie.clone();
        out.push(b' ');
        Value::Dict(dict).encode(&mut out);
        let (tx, mut rx) = oneshot::channel();
        waiting(&self.waiting).insert(cookie.clone(), tx);
        let mut reply = None;
        for _ in 0..TRIES {
            if let Err(e) = self.socket.send_to(&out, node).await {
                waiting(&self.waiting).remove(&cookie);
                return Err(e.into());
            }
            if let Ok(r) = tokio::time::timeout(WAIT, &mut rx).await {
                reply = r.ok();
                break;
            }
        }
        waiting(&self.waiting).remove(&cookie);
        let reply = reply.ok_or(NgError::Timeout(node))?;
        match reply.get("result").and_then(Value::as_str) {
            Some("ok") | Some("pong") => Ok(reply),
            _ => Err(NgError::Refused {
                node,
                reason: (reply.get("error-reason").and_then(Value::as_str))
                    .unwrap_or("no reason")
                    .to_owned(),
            }),
        }
    }
}

/// Cookies of different clients (restarts) should not collide at a node.
fn rand_start() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MediaPlane;
    use crate::ng::Control;

    #[tokio::test]
    async fn a_client_drives_a_node_and_times_out_on_a_silent_one() {
        let node = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = node.local_addr().unwrap();
        let control = Arc::new(Control::new(MediaPlane::new(
            "127.0.0.1".parse().unwrap(),
            44400..=44499,
        )));
        tokio::spawn(Arc::clone(&control).serve(node));
        let c = Client::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let pong = c.request(addr, &[("command", "ping")]).await.unwrap();
        assert_eq!(pong.get("result").and_then(Value::as_str), Some("pong"));
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\n";
        let pairs = [
            ("command", "offer"),
            ("call-id", "c1"),
            ("from-tag", "f1"),
            ("sdp", sdp),
        ];
        let offer = c.request(addr, &pairs).await.unwrap();
        let text = offer.get("sdp").and_then(Value::as_str).unwrap();
        assert!(text.contains("c=IN IP4 127.0.0.1"), "{text}");
        let refused = c
            .request(addr, &[("command", "query"), ("call-id", "x")])
            .await;
        assert!(
            matches!(refused, Err(NgError::Refused { .. })),
            "{refused:?}"
        );
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let gone = c
            .request(silent.local_addr().unwrap(), &[("command", "ping")])
            .await;
        assert!(matches!(gone, Err(NgError::Timeout(_))), "{gone:?}");
    }
}
