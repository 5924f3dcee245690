//! Batched UDP syscalls, all in one place: `recvmmsg` with GRO through quinn-udp, `sendmmsg`
//! through rustix. Each call moves up to a batch of datagrams per kernel crossing instead of one.
//!
//! Why two crates: quinn-udp receives in batches (and splits GRO super-packets for us), but its
//! send path is one `sendmsg` per destination, with GSO only for equal-sized datagrams to one
//! peer, which SIP replies to many peers never are. rustix wraps `sendmmsg` safely and reports
//! how many datagrams went out, which a partial send needs.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per `recvmmsg`.
pub(crate) const RECV_BATCH: usize = quinn_udp::BATCH_SIZE;

/// Datagrams per `sendmmsg`.
pub(crate) const SEND_BATCH: usize = 64;

/// Bytes per receive slot: the largest UDP payload, which also bounds a GRO super-packet (the
/// kernel stops coalescing at 64 KiB).
const SLOT: usize = 65_536;

/// One datagram waiting to be sent.
#[derive(Debug)]
pub(crate) struct Datagram {
    /// Where it goes.
    pub(crate) to: SocketAddr,
    /// The payload.
    pub(crate) bytes: Vec<u8>,
}

/// Receives datagrams from one socket a batch at a time.
#[derive(Debug)]
pub(crate) struct BatchReceiver {
    state: UdpSocketState,
    /// `RECV_BATCH` slots of `SLOT` bytes; 2 MiB per socket, allocated once.
    storage: Box<[u8]>,
    meta: [RecvMeta; RECV_BATCH],
}

impl BatchReceiver {
    /// Prepares `socket` for batched receive (GRO where the kernel offers it).
    pub(crate) fn new(socket: &UdpSocket) -> io::Result<BatchReceiver> {
        let state = fragmentation_kept(socket, || UdpSocketState::new(UdpSockRef::from(socket)))?;
        Ok(BatchReceiver {
            state,
            storage: vec![0u8; RECV_BATCH * SLOT].into_boxed_slice(),
            meta: [RecvMeta::default(); RECV_BATCH],
        })
    }

    /// Waits until the socket is readable, receives one batch and hands every datagram in it
    /// (GRO super-packets split at their stride) to `each` with its source. Returns how many
    /// receive slots were filled; `RECV_BATCH` means more may be waiting.
    pub(crate) async fn recv(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let filled = loop {
            socket.readable().await?;
            let BatchReceiver {
                state,
                storage,
                meta,
            } = self;
            let received = socket.try_io(Interest::READABLE, || {
                let mut slots = storage.chunks_mut(SLOT);
                let mut bufs: [IoSliceMut<'_>; RECV_BATCH] =
                    std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
                state.recv(UdpSockRef::from(socket), &mut bufs, meta)
            });
            match received {
                Ok(n) => break n,
                // Spurious readiness: `try_io` cleared it, wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        for (meta, slot) in self.meta[..filled].iter().zip(self.storage.chunks(SLOT)) {
            let data = &slot[..meta.len.min(slot.len())];
            for datagram in data.chunks(meta.stride.max(1)) {
                each(meta.addr, datagram);
            }
        }
        Ok(filled)
    }
}

/// Sends as many of `batch` as the socket takes in one `sendmmsg`, waiting for writability
/// first. Returns how many were sent (at least one). An error is about `batch[0]`: the kernel
/// reports a failure only for the first datagram it could not send.
pub(crate) async fn send(socket: &UdpSocket, batch: &[Datagram]) -> io::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    loop {
        socket.writable().await?;
        match socket.try_io(Interest::WRITABLE, || sendmmsg(socket, batch)) {
            Ok(n) => return Ok(n.max(1)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(target_os = "linux")]
fn sendmmsg(socket: &UdpSocket, batch: &[Datagram]) -> io::Result<usize> {
    use rustix::net::addr::SocketAddrArg;
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    use std::io::IoSlice;

    let batch = &batch[..batch.len().min(SEND_BATCH)];
    let addrs: Vec<SocketAddrAny> = batch.iter().map(|d| d.to.as_any()).collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|d| [IoSlice::new(&d.bytes)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
        .collect();
    Ok(rustix::net::sendmmsg(
        socket,
        &mut msgs,
        SendFlags::empty(),
    )?)
}

/// Without `sendmmsg`: one datagram per call.
#[cfg(not(target_os = "linux"))]
fn sendmmsg(socket: &UdpSocket, batch: &[Datagram]) -> io::Result<usize> {
    socket.try_send_to(&batch[0].bytes, batch[0].to).map(|_| 1)
}

/// Runs `setup` (quinn-udp's socket preparation) and puts back the fragmentation settings it
/// changes. quinn-udp forbids IP fragmentation because QUIC sizes its own packets; SIP over UDP
/// relies on fragmentation for messages above the path MTU (an INVITE with a large SDP), which
/// would otherwise fail with `EMSGSIZE`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn fragmentation_kept<T>(
    socket: &UdpSocket,
    setup: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt::Ipv6DontFrag};
    use rustix::net::sockopt;

    let v6 = socket.local_addr()?.is_ipv6();
    // IPv4 settings also govern IPv4-mapped traffic on a dual-stack IPv6 socket; an option the
    // socket's family does not have reads as an error and is left alone.
    let ip = sockopt::ip_mtu_discover(socket).ok();
    let ip6 = v6
        .then(|| sockopt::ipv6_mtu_discover(socket).ok())
        .flatten();
    let dontfrag6 = v6.then(|| getsockopt(socket, Ipv6DontFrag).ok()).flatten();
    let value = setup()?;
    if let Some(ip) = ip {
        sockopt::set_ip_mtu_discover(socket, ip)?;
    }
    if let Some(ip6) = ip6 {
        sockopt::set_ipv6_mtu_discover(socket, ip6)?;
    }
    if let Some(dontfrag6) = dontfrag6 {
        setsockopt(socket, Ipv6DontFrag, &dontfrag6).map_err(io::Error::from)?;
    }
    Ok(value)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn fragmentation_kept<T>(
    _socket: &UdpSocket,
    setup: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    setup()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(local: &str) -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind(local).await.unwrap();
        let b = UdpSocket::bind(local).await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn sends_and_receives_a_batch() {
        let (server, client) = pair("127.0.0.1:0").await;
        let mut rx = BatchReceiver::new(&server).unwrap();
        let to = server.local_addr().unwrap();
        let batch: Vec<Datagram> = (0..10u8)
            .map(|i| Datagram {
                to,
                bytes: vec![i; 100 + usize::from(i)],
            })
            .collect();
        let mut sent = 0;
        while sent < batch.len() {
            sent += send(&client, &batch[sent..]).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < batch.len() {
            rx.recv(&server, |from, bytes| got.push((from, bytes.to_vec())))
                .await
                .unwrap();
        }
        let me = client.local_addr().unwrap();
        for (i, (from, bytes)) in got.iter().enumerate() {
            assert_eq!(*from, me);
            assert_eq!(bytes, &batch[i].bytes);
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn batched_receive_keeps_fragmentation_allowed() {
        use rustix::net::sockopt;
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let socket = UdpSocket::bind(local).await.unwrap();
            let before = sockopt::ip_mtu_discover(&socket).ok();
            let _rx = BatchReceiver::new(&socket).unwrap();
            assert_eq!(sockopt::ip_mtu_discover(&socket).ok(), before, "{local}");
            if local.starts_with('[') {
                let dontfrag =
                    nix::sys::socket::getsockopt(&socket, nix::sys::socket::sockopt::Ipv6DontFrag);
                assert_eq!(dontfrag, Ok(false));
            }
        }
    }
}
