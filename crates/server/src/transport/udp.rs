//! The UDP listeners: each configured address is served by one or more sockets (shards bound
//! with `SO_REUSEPORT`, the kernel spreading peers over them by address hash), each with its
//! own receive task handing every datagram to the SIP core.
//!
//! Two ways to move datagrams, chosen by `sip.udp_batch`:
//! - batched (default): `recvmmsg` with GRO in, `sendmmsg` out ([`batch`]), a batch of datagrams
//!   per system call; the core queues replies to a per-socket send task through [`UdpOut`];
//! - plain: one `recv_from` / `send_to` per datagram, kept as the baseline to benchmark against
//!   and as a fallback.
//!
//! Every shard socket gets its own index in `Arrival::Udp`, so a reply leaves through the
//! socket its request came in on (same local address and port either way).

mod batch;
mod send_log;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::debug;

use self::batch::{BatchReceiver, Datagram, SEND_BATCH};
use self::send_log::{FAILURES, sendable};
use crate::config::Transport;
use crate::transport::ingress::Ingress;
use crate::transport::{Arrival, Inbound};

/// Largest datagram accepted; anything bigger than a UDP payload cannot arrive anyway.
const MAX_DATAGRAM: usize = 65_535;

/// Replies queued per socket for the batched sender before the core waits.
const SEND_QUEUE: usize = 4096;

/// How many sockets serve each UDP listener: `sip.udp_shards`, where 0 means one per CPU the
/// process may run on.
pub(crate) fn shard_count(configured: u16) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        n => usize::from(n),
    }
}

/// One bound UDP socket of a listener, not yet serving.
#[derive(Debug)]
pub(crate) struct Shard {
    socket: Arc<UdpSocket>,
    batch: Option<Box<BatchReceiver>>,
}

/// Binds `shards` sockets to `addr` (at least one) and returns the address actually bound.
/// With port 0 the first socket picks the port and the others join it.
pub(crate) fn bind(
    addr: SocketAddr,
    shards: usize,
    batch: bool,
) -> io::Result<(SocketAddr, Vec<Shard>)> {
    let reuse_port = shards > 1;
    let first = bind_one(addr, reuse_port)?;
    let local = first.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..shards {
        sockets.push(bind_one(local, reuse_port)?);
    }
    let shards = sockets
        .into_iter()
        .map(|socket| {
            let batch = if batch {
                Some(Box::new(BatchReceiver::new(&socket)?))
            } else {
                None
            };
            Ok(Shard {
                socket: Arc::new(socket),
                batch,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok((local, shards))
}

/// Receive and send buffer asked for on every UDP socket.
const SOCKET_BUFFER: usize = 4 << 20;

/// Receive buffer asked for beyond `net.core.rmem_max` where the process may
/// (`CAP_NET_ADMIN`, `SO_RCVBUFFORCE`): about 0.3 s of a saturated shard's datagrams on
/// loopback (each small datagram costs ~2 kB of buffer). Under overload the datagrams must
/// wait in the queue the shard sheds from (503 to new calls, the admitted ones served), not
/// be dropped by the kernel: a dropped BYE or 200 leaves an admitted call retransmitting.
const SOCKET_BUFFER_FORCED: usize = 32 << 20;

fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Only for shards: on a lone socket it would let another process of the same user bind
    // the port too and silently take part of the traffic.
    if reuse_port {
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        #[cfg(not(unix))]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sip.udp_shards > 1 needs SO_REUSEPORT",
        ));
    }
    socket.set_nonblocking(true)?;
    // A burst of a few thousand datagrams (phones re-registering after an outage, a SIPp run)
    // overflows the default ~200 kB buffer while the core is busy; the kernel caps the request
    // at net.core.rmem_max / wmem_max, which is fine.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, SOCKET_BUFFER_FORCED)
        .is_err()
    {
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    }
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Starts a receive task (and, when batched, a send task) per shard. `shards[i]` becomes
/// `Arrival::Udp(i)`; the returned senders are in the same order.
pub(crate) fn spawn(
    shards: Vec<Shard>,
    core: &Ingress,
    tasks: &mut JoinSet<()>,
    retry_after: u32,
) -> Vec<UdpOut> {
    let mut outs = Vec::with_capacity(shards.len());
    for (index, shard) in shards.into_iter().enumerate() {
        let socket = shard.socket;
        let queue = match shard.batch {
            Some(receiver) => {
                tasks.spawn(serve_batched(
                    Arc::clone(&socket),
                    receiver,
                    index,
                    core.clone(),
                    retry_after,
                ));
                let (tx, rx) = mpsc::channel(SEND_QUEUE);
                tasks.spawn(send_batched(Arc::clone(&socket), rx));
                Some(tx)
            }
            None => {
                tasks.spawn(serve_plain(
                    Arc::clone(&socket),
                    index,
                    core.clone(),
                    retry_after,
                ));
                None
            }
        };
        outs.push(UdpOut { socket, queue });
    }
    outs
}

/// How the core sends from one UDP socket: straight `send_to`, or through the socket's
/// batched send task.
#[derive(Debug, Clone)]
pub(crate) struct UdpOut {
    socket: Arc<UdpSocket>,
    queue: Option<mpsc::Sender<Datagram>>,
}

impl UdpOut {
    /// Sends `bytes` to `to` from this socket; `false` when it could not. Batched, this only
    /// queues (a send error is then logged by the send task, not returned): the send task puts
    /// everything queued meanwhile into one `sendmmsg`. Waits only while the queue is full.
    pub(crate) async fn send(&self, to: SocketAddr, bytes: &[u8]) -> bool {
        if !sendable(to) {
            return false;
        }
        match &self.queue {
            Some(queue) => {
                let datagram = Datagram {
                    to,
                    bytes: bytes.to_vec(),
                };
                queue.send(datagram).await.is_ok()
            }
            None => match self.socket.send_to(bytes, to).await {
                Ok(_) => true,
                Err(e) => {
                    FAILURES.failed(&e, to);
                    false
                }
            },
        }
    }
}

/// Where a datagram arrived, and what to answer when the core cannot take it.
struct Arrived<'a> {
    socket: &'a UdpSocket,
    index: usize,
    core: &'a Ingress,
    retry_after: u32,
}

/// Hands one datagram to the core; false once the core is gone.
fn deliver(at: &Arrived<'_>, source: SocketAddr, bytes: &[u8]) -> bool {
    let (core, index) = (at.core, at.index);
    if crate::transport::stun::is_stun(bytes) {
        // An outbound keep-alive (RFC 5626 §4.4.2): answered here, never a SIP message.
        if let Some(answer) = crate::transport::stun::binding_response(bytes, source)
            && sendable(source)
        {
            let _ = at.socket.try_send_to(&answer, source);
        }
        return true;
    }
    let msg = Inbound {
        bytes: bytes.to_vec(),
        source,
        transport: Transport::Udp,
        via: Arrival::Udp(index),
        broken: None,
        queued: std::time::Instant::now(),
    };
    match core.try_send(msg) {
        Ok(()) => true,
        // Overload: a request the core cannot take now is answered 503 with Retry-After
        // (RFC 3261 §21.5.4), so the client backs off instead of retransmitting into a full
        // queue; anything else is dropped.
        Err(mpsc::error::TrySendError::Full(msg)) => {
            debug!(%source, "core busy, datagram refused");
            if let Some(reply) = crate::transport::front::overloaded(
                &msg.bytes,
                source,
                Transport::Udp,
                at.retry_after,
            ) && sendable(reply.destination)
            {
                let _ = at.socket.try_send_to(&reply.bytes, reply.destination);
            }
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Receives one datagram per system call until the core goes away.
async fn serve_plain(socket: Arc<UdpSocket>, index: usize, core: Ingress, retry_after: u32) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let at = Arrived {
                    socket: &socket,
                    index,
                    core: &core,
                    retry_after,
                };
                if !deliver(&at, source, &buf[..n]) {
                    return;
                }
            }
            // ICMP errors from earlier sends can surface here; keep serving.
            Err(e) => debug!(error = %e, "udp receive error"),
        }
    }
}

/// Receives a batch per system call until the core goes away.
async fn serve_batched(
    socket: Arc<UdpSocket>,
    mut receiver: Box<BatchReceiver>,
    index: usize,
    core: Ingress,
    retry_after: u32,
) {
    let mut open = true;
    loop {
        let at = Arrived {
            socket: &socket,
            index,
            core: &core,
            retry_after,
        };
        let received = receiver
            .recv(&socket, |source, bytes| {
                open = open && deliver(&at, source, bytes);
            })
            .await;
        if !open {
            return;
        }
        if let Err(e) = received {
            debug!(error = %e, "udp receive error");
        }
        // Let the core work through the batch before taking the next one: with one worker
        // thread this keeps the core's queue short and its replies batched.
        tokio::task::yield_now().await;
    }
}

/// Sends everything queued, up to a batch per `sendmmsg`, until every [`UdpOut`] is dropped.
async fn send_batched(socket: Arc<UdpSocket>, mut queue: mpsc::Receiver<Datagram>) {
    let mut pending = Vec::with_capacity(SEND_BATCH);
    while queue.recv_many(&mut pending, SEND_BATCH).await > 0 {
        let mut done = 0;
        while done < pending.len() {
            match batch::send(&socket, &pending[done..]).await {
                Ok(n) => done += n,
                Err(e) => {
                    // The kernel names no culprit beyond the first unsent datagram: skip it.
                    FAILURES.failed(&e, pending[done].to);
                    done += 1;
                }
            }
        }
        pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shards_share_one_port() {
        let (local, shards) = bind("127.0.0.1:0".parse().unwrap(), 3, false).unwrap();
        assert_ne!(local.port(), 0);
        assert_eq!(shards.len(), 3);
        for s in &shards {
            assert_eq!(s.socket.local_addr().unwrap(), local);
        }
    }

    #[tokio::test]
    async fn one_shard_keeps_the_port_exclusive() {
        let (local, _shards) = bind("127.0.0.1:0".parse().unwrap(), 1, true).unwrap();
        assert!(bind(local, 1, true).is_err());
        assert!(bind(local, 2, true).is_err());
    }

    #[test]
    fn zero_shards_means_one_per_cpu() {
        assert!(shard_count(0) >= 1);
        assert_eq!(shard_count(3), 3);
    }

    /// Every datagram a shard receives reaches the core with that shard's index, and replies
    /// sent through `UdpOut` arrive, batched or not.
    #[tokio::test]
    async fn datagrams_reach_the_core_and_replies_leave() {
        for batched in [false, true] {
            let (local, shards) = bind("127.0.0.1:0".parse().unwrap(), 2, batched).unwrap();
            let (tx, mut rx) = mpsc::channel(64);
            let mut tasks = JoinSet::new();
            let outs = spawn(shards, &Ingress::new(vec![tx]), &mut tasks, 5);
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            for i in 0..20u8 {
                client.send_to(&[i], local).await.unwrap();
            }
            let mut seen = Vec::new();
            while seen.len() < 20 {
                let msg = rx.recv().await.unwrap();
                assert_eq!(msg.source, client.local_addr().unwrap());
                let Arrival::Udp(i) = msg.via else {
                    panic!("not udp")
                };
                let reply = [b"re", &msg.bytes[..]].concat();
                assert!(outs[i].send(msg.source, &reply).await);
                seen.push(msg.bytes[0]);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..20).collect::<Vec<u8>>());
            let mut buf = [0u8; 16];
            for _ in 0..20 {
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, local);
                assert_eq!(&buf[..2], b"re");
                assert_eq!(n, 3);
            }
            tasks.shutdown().await;
        }
    }

    /// A request that finds the core's queue full is answered 503 with Retry-After straight
    /// from the receive path; a response in the same situation is dropped.
    #[tokio::test]
    async fn a_full_core_queue_answers_503() {
        let (local, shards) = bind("127.0.0.1:0".parse().unwrap(), 1, false).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let mut tasks = JoinSet::new();
        let _outs = spawn(shards, &Ingress::new(vec![tx]), &mut tasks, 7);
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = client.local_addr().unwrap().port();
        let options = format!(
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKo;rport\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: ov\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        // The first fills the queue (nobody reads it); the second gets the 503.
        client
            .send_to(b"SIP/2.0 200 OK\r\n\r\n", local)
            .await
            .unwrap();
        client
            .send_to(b"SIP/2.0 200 OK\r\n\r\n", local)
            .await
            .unwrap();
        client.send_to(options.as_bytes(), local).await.unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.recv_from(&mut buf),
        )
        .await
        .unwrap()
        .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("SIP/2.0 503 "), "{text}");
        assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");
    }
}
