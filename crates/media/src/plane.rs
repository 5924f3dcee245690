//! A tokio data plane around the relay core: an RTP and an RTCP socket per leg on the relay's
//! address, a receive task per socket that asks the core where each packet goes and sends it
//! from the other leg's socket. One lock guards the core; the sockets are shared.
//!
//! This is the straightforward driver (one datagram per system call). The batched,
//! per-core data plane that the throughput goal needs builds on the same core.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::{CallId, LegQos, PortPool, Relay, RelayError, Side};

/// Tries of a fresh port pair when a port of the pool is taken by another program.
const BIND_TRIES: usize = 8;

#[derive(Debug, Default)]
struct Sockets {
    /// Local port → socket, for every relay port (RTP and RTCP).
    by_port: HashMap<u16, Arc<UdpSocket>>,
    tasks: HashMap<CallId, Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
struct State {
    relay: Relay,
    sockets: Sockets,
}

/// The relay with its sockets.
#[derive(Debug, Clone)]
pub struct MediaPlane {
    ip: IpAddr,
    state: Arc<Mutex<State>>,
}

impl MediaPlane {
    /// A relay on `ip` with RTP ports from `ports`.
    pub fn new(ip: IpAddr, ports: std::ops::RangeInclusive<u16>) -> Self {
        let relay = Relay::new(PortPool::new(ports), Instant::now(), SystemTime::now());
        MediaPlane {
            ip,
            state: Arc::new(Mutex::new(State {
                relay,
                sockets: Sockets::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under the lock is a few map operations: a panic cannot leave them
        // half done, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The relay's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// A new call with its four sockets bound and served: (call, caller-facing RTP port,
    /// callee-facing RTP port). Synchronous (binding is a few system calls), so that the
    /// SIP core can engage the relay in the middle of handling a message; it must run inside
    /// a tokio runtime, which serves the sockets.
    pub fn create(&self) -> Result<(CallId, u16, u16), io::Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        for _ in 0..BIND_TRIES {
            let (id, a, b) = self
                .lock()
                .relay
                .create(Instant::now())
                .map_err(|e| io::Error::other(e.to_string()))?;
            let bound = {
                let _entered = runtime.enter();
                self.bind_all([a, a + 1, b, b + 1])
            };
            match bound {
                Ok(sockets) => {
                    let mut state = self.lock();
                    let mut tasks = Vec::new();
                    for (port, socket) in sockets {
                        state.sockets.by_port.insert(port, Arc::clone(&socket));
                        tasks.push(runtime.spawn(serve(self.clone(), port, socket)));
                    }
                    state.sockets.tasks.insert(id, tasks);
                    return Ok((id, a, b));
                }
                Err(e) => {
                    debug!(error = %e, port = a, "relay port taken; trying another");
                    self.lock().relay.delete(id);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free relay port pair after several tries",
        ))
    }

    /// Binds the sockets of one call (inside the runtime, which registers them).
    fn bind_all(&self, ports: [u16; 4]) -> io::Result<Vec<(u16, Arc<UdpSocket>)>> {
        let mut out = Vec::with_capacity(4);
        for port in ports {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.ip, port))?;
            socket.set_nonblocking(true)?;
            out.push((port, Arc::new(UdpSocket::from_std(socket)?)));
        }
        Ok(out)
    }

    /// Where `side`'s SDP says its media is.
    pub fn set_peer(
        &self,
        call: CallId,
        side: Side,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), RelayError> {
        self.lock().relay.set_peer(call, side, rtp, rtcp)
    }

    /// The local RTP port of a call's leg.
    pub fn port(&self, call: CallId, side: Side) -> Option<u16> {
        self.lock().relay.port(call, side)
    }

    /// Both legs' figures so far.
    pub fn qos(&self, call: CallId) -> Option<[LegQos; 2]> {
        self.lock().relay.qos(call)
    }

    /// Calls silent for `timeout`.
    pub fn idle(&self, timeout: Duration) -> Vec<CallId> {
        self.lock().relay.idle(Instant::now(), timeout)
    }

    /// Records the call from now on, to `stem` plus `.wav` (G.711) or `.pcap`.
    pub fn record(&self, call: CallId, stem: std::path::PathBuf) -> Result<(), RelayError> {
        self.lock().relay.record(call, crate::Recorder::new(stem))
    }

    /// Ends a call: its tasks stop, its sockets close, its ports return to the pool, its
    /// recording is completed.
    pub fn delete(&self, call: CallId) -> Option<Ended> {
        let (qos, recorder) = self.remove(call)?;
        let recording = recorder.and_then(crate::Recorder::finish);
        Some(Ended { qos, recording })
    }

    fn remove(&self, call: CallId) -> Option<([LegQos; 2], Option<crate::Recorder>)> {
        let mut state = self.lock();
        for task in state.sockets.tasks.remove(&call).unwrap_or_default() {
            task.abort();
        }
        for side in [Side::Caller, Side::Callee] {
            if let Some(port) = state.relay.port(call, side) {
                state.sockets.by_port.remove(&port);
                state.sockets.by_port.remove(&(port + 1));
            }
        }
        let recorder = state.relay.take_recorder(call);
        Some((state.relay.delete(call)?, recorder))
    }
}

/// What is left of a deleted call.
#[derive(Debug)]
pub struct Ended {
    /// Both legs' final figures: [caller side, callee side].
    pub qos: [LegQos; 2],
    /// The recording's file, if the call was recorded and anything arrived.
    pub recording: Option<std::path::PathBuf>,
}

/// Receives on one relay socket until the call is deleted.
async fn serve(plane: MediaPlane, port: u16, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP port unreachable from a peer that went away, and the like.
                debug!(port, error = %e, "relay receive error");
                continue;
            }
        };
        let out = {
            let mut state = plane.lock();
            let fwd = state.relay.receive(port, from, &buf[..n], Instant::now());
            fwd.and_then(|f| Some((state.sockets.by_port.get(&f.from_port)?.clone(), f.to)))
        };
        if let Some((out, to)) = out
            && let Err(e) = out.send_to(&buf[..n], to).await
        {
            debug!(port, %to, error = %e, "relay send error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        trunkline_rtp::Header::pcmu(ssrc, seq)
    }

    async fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 2048];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some((buf[..n].to_vec(), from))
    }

    #[tokio::test]
    async fn two_phones_talk_through_the_relay_one_of_them_behind_nat() {
        let plane = MediaPlane::new("127.0.0.1".parse().unwrap(), 42000..=42999);
        let (id, a, b) = plane.create().unwrap();
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // The caller's SDP names an address it does not send from (a NAT in between).
        plane
            .set_peer(id, Side::Caller, "127.0.0.1:9".parse().unwrap(), None)
            .unwrap();
        plane
            .set_peer(id, Side::Callee, callee.local_addr().unwrap(), None)
            .unwrap();
        let relay_a: SocketAddr = format!("127.0.0.1:{a}").parse().unwrap();
        let relay_b: SocketAddr = format!("127.0.0.1:{b}").parse().unwrap();
        for seq in 0..5 {
            caller.send_to(&rtp(1, seq), relay_a).await.unwrap();
            let (got, from) = recv(&callee).await.expect("the callee hears the caller");
            assert_eq!((got, from), (rtp(1, seq), relay_b));
            callee.send_to(&rtp(2, seq), relay_b).await.unwrap();
            let (got, from) = recv(&caller).await.expect("latched: the caller hears back");
            assert_eq!((got, from), (rtp(2, seq), relay_a));
        }
        let q = plane.delete(id).unwrap().qos;
        assert_eq!((q[0].received.packets, q[1].received.packets), (5, 5));
        assert_eq!(q[0].received.lost, 0);
        // The sockets are closed: nothing comes back any more.
        caller.send_to(&rtp(1, 9), relay_a).await.unwrap();
        assert!(recv(&callee).await.is_none());
    }
}
