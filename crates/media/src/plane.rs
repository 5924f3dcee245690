//! The relay's data plane: an RTP and an RTCP socket per leg on the relay's address, served by
//! worker threads of their own (`threads`, each a core's worth), outside any async runtime. A
//! worker waits on an epoll set of its calls' sockets, and for every batch of ready sockets
//! takes the core's lock once: it reads one datagram from each, asks the core where each goes,
//! then sends them all after letting go of the lock. A call's sockets belong to one worker.
//!
//! The receives of a batch go to the kernel in one io_uring submission and its sends in
//! another ([`crate::batch`]); without io_uring, one `recvfrom` and one `sendto` per packet.
//! Either way the `epoll_wait` and the lock are shared by the whole batch: no task wake-ups,
//! no per-packet locking. Settled streams are handed to the kernel ([`fast`]) and never
//! reach the workers.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use rustix::event::epoll;
use tracing::debug;

use crate::batch::{Batch, MTU};
use crate::kernel::{FastPath, interfaces_for, monotonic_ns};
use crate::{
    Branch, CallId, Kind, LegQos, PortPool, Recorder, Recordings, Relay, RelayError, Side,
};

mod fast;
use fast::Handed;

/// Tries of a fresh port pair when a port of the pool is taken by another program.
const BIND_TRIES: usize = 8;

/// Ready sockets taken per `epoll_wait`.
const EVENTS: usize = 256;

/// How often an idle worker checks whether its plane still exists.
const WAKE: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct State {
    relay: Relay,
    /// Local port → its socket, for every relay port (RTP and RTCP).
    sockets: HashMap<u16, Arc<UdpSocket>>,
    /// Which worker serves each call.
    owner: HashMap<CallId, usize>,
    /// The recording thread, once a call is recorded.
    recordings: Option<Recordings>,
    /// The in-kernel fast path, when it could be loaded.
    fast: Option<FastPath>,
    /// RTP port → the stream the fast path forwards there.
    handed: HashMap<u16, Handed>,
    /// Packets the fast path forwarded, as far as they were taken back.
    kernel_forwarded: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// One epoll set per worker.
    polls: Vec<OwnedFd>,
}

/// The relay with its sockets and workers.
#[derive(Debug, Clone)]
pub struct MediaPlane {
    ip: IpAddr,
    /// An address of the other family, for legs towards parties on it (IPv4 ↔ IPv6).
    bridge: Option<IpAddr>,
    shared: Arc<Shared>,
}

fn unknown() -> io::Error {
    io::Error::other(RelayError::UnknownCall.to_string())
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update under the lock is a few map operations: a panic cannot leave them half
    // done, so a poisoned lock is still consistent.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl MediaPlane {
    /// A relay on `ip` with RTP ports from `ports` and one worker thread.
    pub fn new(ip: IpAddr, ports: std::ops::RangeInclusive<u16>) -> Self {
        Self::with_threads(ip, ports, 1)
    }

    /// A relay on `ip` with RTP ports from `ports` and `threads` worker threads (at least
    /// one). A worker that cannot be started leaves the plane with fewer.
    pub fn with_threads(ip: IpAddr, ports: std::ops::RangeInclusive<u16>, threads: usize) -> Self {
        let relay = Relay::new(PortPool::new(ports), Instant::now(), SystemTime::now());
        let polls: Vec<OwnedFd> = (0..threads.max(1))
            .filter_map(|_| epoll::create(epoll::CreateFlags::CLOEXEC).ok())
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                relay,
                sockets: HashMap::new(),
                owner: HashMap::new(),
                recordings: None,
                fast: None,
                handed: HashMap::new(),
                kernel_forwarded: 0,
            }),
            polls,
        });
        for worker in 0..shared.polls.len() {
            let weak = Arc::downgrade(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("media-{worker}"))
                .spawn(move || serve(weak, worker));
            if let Err(e) = spawned {
                tracing::error!(error = %e, worker, "media worker not started");
            }
        }
        MediaPlane {
            ip,
            bridge: None,
            shared,
        }
    }

    /// Also relays for parties of the other address family, on `bridge` (ignored unless of
    /// the other family): a call between an IPv4 and an IPv6 party gets a leg on each.
    pub fn with_bridge(mut self, bridge: IpAddr) -> Self {
        if bridge.is_ipv6() != self.ip.is_ipv6() {
            self.bridge = Some(bridge);
        }
        self
    }

    /// Forwards settled RTP streams in the kernel (module `kernel`), on the ingress of
    /// loopback and of the interfaces holding the relay's addresses; when the program cannot
    /// be loaded (no privilege, an old kernel, built without clang) every packet stays in
    /// userspace, and the error says why.
    pub fn with_fast_path(self) -> io::Result<Self> {
        let addrs: Vec<IpAddr> = std::iter::once(self.ip).chain(self.bridge).collect();
        let fast = FastPath::load(interfaces_for(&addrs))?;
        self.lock().fast = Some(fast);
        Ok(self)
    }

    /// The interfaces the fast path is attached to, if it is.
    pub fn fast_path(&self) -> Option<Vec<String>> {
        self.lock().fast.as_ref().map(|f| f.interfaces().to_vec())
    }

    /// Packets the fast path has forwarded since the start (read from the kernel when a call's
    /// figures are asked for, when a call changes or ends, and at each idle sweep).
    pub fn kernel_forwarded(&self) -> u64 {
        self.lock().kernel_forwarded
    }

    /// How many streams the fast path forwards now.
    pub fn handed_over(&self) -> usize {
        self.lock().handed.values().filter(|h| h.in_kernel).count()
    }

    /// The relay's address for parties on IPv6 (`true`) or IPv4: the bridge address when the
    /// main one is of the other family and a bridge is set.
    pub fn ip_for(&self, v6: bool) -> IpAddr {
        match self.bridge {
            Some(b) if b.is_ipv6() == v6 => b,
            _ => self.ip,
        }
    }

    /// The address of a call's leg.
    pub fn leg_ip(&self, call: CallId, side: Side) -> Option<IpAddr> {
        let state = self.lock();
        let port = state.relay.port(call, side)?;
        Some(state.sockets.get(&port)?.local_addr().ok()?.ip())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// The relay's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// A new call with its four sockets bound and served: (call, caller-facing RTP port,
    /// callee-facing RTP port). Synchronous (binding is a few system calls), so that the SIP
    /// core can engage the relay in the middle of handling a message.
    pub fn create(&self) -> Result<(CallId, u16, u16), io::Error> {
        self.create_for([self.ip.is_ipv6(); 2])
    }

    /// [`MediaPlane::create`] with each leg on the relay address of its party's family
    /// (`[caller is IPv6, callee is IPv6]`).
    pub fn create_for(&self, v6: [bool; 2]) -> Result<(CallId, u16, u16), io::Error> {
        let ips = [self.ip_for(v6[0]), self.ip_for(v6[1])];
        let workers = self.shared.polls.len();
        if workers == 0 {
            return Err(io::Error::other("the media relay has no worker"));
        }
        for _ in 0..BIND_TRIES {
            let (id, a, b) = self
                .lock()
                .relay
                .create(Instant::now())
                .map_err(|e| io::Error::other(e.to_string()))?;
            let worker = (id.0 as usize) % workers;
            match self.bind_all(&[(ips[0], a), (ips[1], b)], worker) {
                Ok(sockets) => {
                    let mut state = self.lock();
                    state.sockets.extend(sockets);
                    state.owner.insert(id, worker);
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

    /// Selects callee-side `branch` of a forked call (see [`Relay::select`]); a new branch
    /// gets its sockets, on the relay address of its party's family.
    pub fn select(&self, call: CallId, branch: Branch, v6: bool) -> io::Result<()> {
        let ip = self.ip_for(v6);
        for _ in 0..BIND_TRIES {
            let (port, worker) = {
                let mut state = self.lock();
                let worker = *state.owner.get(&call).ok_or_else(unknown)?;
                state.take_back_call(call, true);
                match state.relay.select(call, branch) {
                    Ok((_, false)) => return Ok(()),
                    Ok((port, true)) => (port, worker),
                    Err(e) => return Err(io::Error::other(e.to_string())),
                }
            };
            match self.bind_all(&[(ip, port)], worker) {
                Ok(sockets) => {
                    self.lock().sockets.extend(sockets);
                    return Ok(());
                }
                Err(e) => {
                    debug!(error = %e, port, "relay port taken; trying another");
                    self.lock().relay.drop_branch(call, branch);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free relay port pair after several tries",
        ))
    }

    /// Keeps callee-side `branch` of a call, the one that answered: the other branches'
    /// sockets close.
    pub fn keep(&self, call: CallId, branch: Branch) {
        let freed = {
            let mut state = self.lock();
            state.take_back_call(call, true);
            state.relay.keep(call, branch)
        };
        self.close(call, &freed);
    }

    /// Frees callee-side `branch` of a forked call (its phone declined).
    pub fn drop_branch(&self, call: CallId, branch: Branch) {
        let freed = {
            let mut state = self.lock();
            state.take_back_call(call, true);
            state.relay.drop_branch(call, branch)
        };
        self.close(call, freed.as_slice());
    }

    /// Closes the sockets of RTP `ports` (and the RTCP ports above) of a call.
    fn close(&self, call: CallId, ports: &[u16]) {
        if ports.is_empty() {
            return;
        }
        let (sockets, worker) = {
            let mut state = self.lock();
            let sockets: Vec<Arc<UdpSocket>> = (ports.iter())
                .flat_map(|p| [*p, p + 1])
                .filter_map(|p| state.sockets.remove(&p))
                .collect();
            (sockets, state.owner.get(&call).copied())
        };
        if let Some(poll) = worker.and_then(|w| self.shared.polls.get(w)) {
            for s in &sockets {
                let _ = epoll::delete(poll, s.as_ref());
            }
        }
    }

    /// Binds the sockets of legs (each leg's RTP port and the RTCP port above it, on the
    /// leg's address) and adds them to `worker`'s set.
    fn bind_all(
        &self,
        legs: &[(IpAddr, u16)],
        worker: usize,
    ) -> io::Result<Vec<(u16, Arc<UdpSocket>)>> {
        let poll = self.shared.polls.get(worker).ok_or_else(unknown)?;
        let mut out = Vec::with_capacity(4);
        for (ip, port) in legs.iter().flat_map(|&(ip, p)| [(ip, p), (ip, p + 1)]) {
            let socket = UdpSocket::bind(SocketAddr::new(ip, port))?;
            socket.set_nonblocking(true)?;
            out.push((port, Arc::new(socket)));
        }
        for (port, socket) in &out {
            let data = epoll::EventData::new_u64(u64::from(*port));
            epoll::add(poll, socket, data, epoll::EventFlags::IN)?;
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
        let mut state = self.lock();
        state.take_back_call(call, true);
        state.relay.set_peer(call, side, rtp, rtcp)
    }

    /// A new SDP for the call arrived; `held` when nobody sends any more (`a=inactive`).
    pub fn sdp_seen(&self, call: CallId, held: bool) -> Result<(), RelayError> {
        let mut state = self.lock();
        state.take_back_call(call, true);
        state.relay.sdp_seen(call, held, Instant::now())
    }

    /// The local RTP port of a call's leg.
    pub fn port(&self, call: CallId, side: Side) -> Option<u16> {
        self.lock().relay.port(call, side)
    }

    /// Both legs' figures so far.
    pub fn qos(&self, call: CallId) -> Option<[LegQos; 2]> {
        let mut state = self.lock();
        state.take_back_call(call, false);
        let mut q = state.relay.qos(call)?;
        for (leg, side) in q.iter_mut().zip([Side::Caller, Side::Callee]) {
            let port = state.relay.port(call, side);
            leg.kernel = port.is_some_and(|p| state.handed.get(&p).is_some_and(|h| h.in_kernel));
        }
        Some(q)
    }

    /// Calls silent for `timeout`.
    ///
    /// What the kernel forwarded only makes calls less silent, so only the calls the core
    /// finds silent have their figures read from it, and each call in the kernel is read
    /// about once a timeout rather than at every sweep.
    pub fn idle(&self, timeout: Duration) -> Vec<CallId> {
        let mut state = self.lock();
        let now = Instant::now();
        let silent = state.relay.idle(now, timeout);
        if silent.is_empty() || state.handed.is_empty() {
            return silent;
        }
        for &call in &silent {
            state.take_back_call(call, false);
        }
        // Figures only ever make a call less silent: these are among the first ones.
        state.relay.idle(now, timeout)
    }

    /// Records the call from now on, to `stem` plus `.wav` (G.711) or `.pcap`; the recording
    /// thread starts with the first recording.
    pub fn record(&self, call: CallId, stem: std::path::PathBuf) -> Result<(), RelayError> {
        let mut state = self.lock();
        if state.relay.is_recording(call) {
            return Ok(());
        }
        if state.recordings.is_none() {
            state.recordings = Recordings::start();
        }
        let recordings = state.recordings.clone().ok_or(RelayError::UnknownCall)?;
        state.take_back_call(call, true);
        state.relay.record(call, recordings.recorder(stem))
    }

    /// Ends a call: its sockets leave their worker and close, its ports return to the pool,
    /// its recording is completed.
    pub fn delete(&self, call: CallId) -> Option<Ended> {
        let ports = {
            let mut state = self.lock();
            state.take_back_call(call, true);
            state.relay.ports(call)
        };
        self.close(call, &ports);
        let (qos, recorder) = {
            let mut state = self.lock();
            state.owner.remove(&call);
            let recorder = state.relay.take_recorder(call);
            (state.relay.delete(call)?, recorder)
        };
        let recording = recorder.and_then(Recorder::finish);
        Some(Ended { qos, recording })
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

/// A worker's way of moving datagrams: batched through io_uring, or a system call each.
enum Io {
    Ring(Box<Batch>),
    Plain(Box<[[u8; MTU]]>),
}

impl Io {
    fn new(worker: usize) -> Io {
        match Batch::new(EVENTS) {
            Ok(b) => Io::Ring(Box::new(b)),
            Err(e) => {
                tracing::warn!(worker, error = %e, "media worker without io_uring: one system call per packet");
                Io::plain()
            }
        }
    }

    fn plain() -> Io {
        Io::Plain(vec![[0u8; MTU]; EVENTS].into_boxed_slice())
    }

    /// After a failed wait on the ring: plain system calls from now on.
    fn fall_back(&mut self, e: &io::Error) {
        tracing::error!(error = %e, "media worker: io_uring failed; one system call per packet from now on");
        if let Io::Ring(b) = std::mem::replace(self, Io::plain()) {
            (*b).abandon();
        }
    }

    /// One datagram from each socket, slot `i` from `sockets[i]`, into `got[i]`.
    fn receive(
        &mut self,
        sockets: &[(Arc<UdpSocket>, u16)],
        fds: &mut Vec<RawFd>,
        got: &mut Vec<Option<(usize, SocketAddr)>>,
    ) {
        match self {
            Io::Ring(b) => {
                fds.clear();
                fds.extend(sockets.iter().map(|(s, _)| s.as_raw_fd()));
                if let Err(e) = b.receive(fds, got) {
                    self.fall_back(&e);
                }
            }
            Io::Plain(bufs) => {
                got.clear();
                for ((socket, port), buf) in sockets.iter().zip(bufs.iter_mut()) {
                    got.push(match socket.recv_from(buf) {
                        Ok(x) => Some(x),
                        Err(e) => {
                            // Spurious readiness, or ICMP unreachable from a peer that left.
                            if e.kind() != io::ErrorKind::WouldBlock {
                                debug!(port, error = %e, "relay receive error");
                            }
                            None
                        }
                    });
                }
            }
        }
    }

    fn datagram(&self, slot: usize, len: usize) -> &[u8] {
        match self {
            Io::Ring(b) => b.datagram(slot, len),
            Io::Plain(bufs) => (bufs.get(slot)).map_or(&[], |b| &b[..len.min(MTU)]),
        }
    }

    /// Each `(slot, len, socket, to)`: the slot's datagram from the socket to `to`.
    fn send(
        &mut self,
        sends: &[(usize, usize, Arc<UdpSocket>, SocketAddr)],
        ring_sends: &mut Vec<(usize, usize, RawFd, SocketAddr)>,
    ) {
        match self {
            Io::Ring(b) => {
                ring_sends.clear();
                ring_sends.extend(
                    (sends.iter()).map(|(slot, len, s, to)| (*slot, *len, s.as_raw_fd(), *to)),
                );
                if let Err(e) = b.send(ring_sends) {
                    self.fall_back(&e);
                }
            }
            Io::Plain(_) => {
                for (slot, len, socket, to) in sends {
                    if let Err(e) = socket.send_to(self.datagram(*slot, *len), to) {
                        debug!(%to, error = %e, "relay send error");
                    }
                }
            }
        }
    }
}

/// One worker: waits for ready sockets and relays a datagram from each, until the plane is
/// dropped.
fn serve(shared: Weak<Shared>, worker: usize) {
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut io = Io::new(worker);
    let mut inbound: Vec<(Arc<UdpSocket>, u16)> = Vec::with_capacity(EVENTS);
    let mut got: Vec<Option<(usize, SocketAddr)>> = Vec::with_capacity(EVENTS);
    let mut fds: Vec<RawFd> = Vec::with_capacity(EVENTS);
    let mut outbound: Vec<(usize, usize, Arc<UdpSocket>, SocketAddr)> = Vec::with_capacity(EVENTS);
    let mut ring_sends = Vec::with_capacity(EVENTS);
    let wake = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: WAKE.as_nanos() as _,
    };
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(poll) = shared.polls.get(worker) else {
            return;
        };
        events.clear();
        let waited = epoll::wait(
            poll,
            rustix::buffer::spare_capacity(&mut events),
            Some(&wake),
        );
        if let Err(e) = waited {
            if e != rustix::io::Errno::INTR {
                tracing::error!(error = %e, worker, "media worker stopped: epoll failed");
                return;
            }
            continue;
        }
        if events.is_empty() {
            continue;
        }
        inbound.clear();
        {
            let state = lock(&shared.state);
            for ev in &events {
                let port = ev.data.u64() as u16;
                if let Some(s) = state.sockets.get(&port) {
                    inbound.push((Arc::clone(s), port));
                }
            }
        }
        // One datagram from each ready socket (level-triggered: one with more waiting is
        // ready again at the next wait), then each routed under one lock.
        io.receive(&inbound, &mut fds, &mut got);
        let now = Instant::now();
        outbound.clear();
        {
            let mut state = lock(&shared.state);
            for (i, ((_, port), got)) in inbound.iter().zip(&got).enumerate() {
                let Some((n, from)) = *got else {
                    continue;
                };
                let kernel = state.handed.get(port).is_some_and(|h| h.in_kernel);
                if kernel {
                    // The fast path passed it up: the core decides, with the figures so far.
                    state.take_back(*port, false, now, monotonic_ns());
                }
                let Some(f) = state.relay.receive(*port, from, io.datagram(i, n), now) else {
                    continue;
                };
                if f.kind == Kind::Rtp && port & 1 == 0 {
                    match (kernel, state.relay.call_at(*port)) {
                        (true, Some(call)) => state.refresh_call(call, now, monotonic_ns()),
                        _ => state.hand_over(*port),
                    }
                }
                if let Some(out) = state.sockets.get(&f.from_port) {
                    outbound.push((i, n, Arc::clone(out), f.to));
                }
            }
        }
        io.send(&outbound, &mut ring_sends);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UdpSocket;

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        trunkline_rtp::Header::pcmu(ssrc, seq)
    }

    /// Both ways of moving datagrams (io_uring where it works, plain calls where not) do
    /// the same: one datagram per ready socket in, each sent on from another socket.
    #[test]
    fn batched_and_plain_io_relay_the_same() {
        let mut ways = vec![Io::plain()];
        ways.extend(Batch::new(EVENTS).ok().map(|b| Io::Ring(Box::new(b))));
        for mut io in ways {
            let bind = || Arc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
            let (a, b, peer) = (bind(), bind(), bind());
            peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            a.set_nonblocking(true).unwrap();
            b.set_nonblocking(true).unwrap();
            peer.send_to(&rtp(1, 1), a.local_addr().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let sockets = vec![(Arc::clone(&a), 0), (Arc::clone(&b), 1)];
            let (mut fds, mut got) = (Vec::new(), Vec::new());
            io.receive(&sockets, &mut fds, &mut got);
            let from = peer.local_addr().unwrap();
            assert_eq!(got, vec![Some((172, from)), None]);
            assert_eq!(io.datagram(0, 172), &rtp(1, 1)[..]);
            io.send(&[(0, 172, Arc::clone(&b), from)], &mut Vec::new());
            let mut buf = [0u8; 256];
            let (n, src) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], src), (&rtp(1, 1)[..], b.local_addr().unwrap()));
        }
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
