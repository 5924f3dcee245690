//! Trunkline's SIP node on tokio. The folders follow a message's path:
//!
//! - [`transport`]: the wire (UDP, TCP, TLS, WS, WSS, flows), the edge guard and the front
//!   door that judge each message as it arrives, and the ingress to the shard of its Call-ID;
//! - [`driver`]: the shards (a transaction engine, the clock and the timers each), the CDR
//!   hand-off, the node's answers to the control socket and the API;
//! - [`roles`]: the registrar and the proxy, and the state they share across shards
//!   (routing decisions themselves are the `trunkline-routing` crate's);
//! - [`config`]: the config model.
//!
//! Each layer uses only those before it: `roles` the transport's types, `driver` both.
//!
//! [`Server::start_with`] is what `trunkline serve` calls, with the provisioning snapshot and
//! the data directory; [`Server::start`] runs the same without them, for tests and embedding.

pub mod config;
pub mod driver;
pub(crate) mod media_control;
pub mod roles;
pub mod transport;

// The public paths of the modules the binary and the tests use.
pub use driver::control;
pub use roles::registrar;
pub use transport::{flow, front, guard, limits, stun};

use driver::{cdr, commands, dispatch, shard};
use roles::{proxy, shared};
use transport::{dial, ingress, tcp, tls, udp, ws};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::info;

pub use config::{Config, ListenSpec, MediaMode, Transport};
pub use flow::Flows;
pub use front::FrontDoor;
pub use limits::ConnectionLimits;
pub use tls::TlsError;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("sip.listen: cannot bind {transport}:{addr}: {source}")]
    Bind {
        /// The transport of the listener.
        transport: Transport,
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `[sip.tls]` files could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The media relay's control listener could not be bound.
    #[error("media.ng_listen: cannot bind udp:{addr}: {source}")]
    MediaBind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The location file or the nonce key in the data directory could not be opened.
    #[error("data.dir: {0}")]
    State(String),
}

/// Media control's answers and stopped calls queued per shard.
const MEDIA_REPLIES: usize = 4096;

/// Media requests of all shards waiting for media control.
const MEDIA_REQUESTS: usize = 8192;

/// Dial events queued per shard (outbound TCP connects are rare).
const DIAL_EVENTS: usize = 1024;

/// What the roles need from outside the SIP config.
#[derive(Debug, Default, Clone)]
pub struct Services {
    /// Provisioning data (domains, users, credentials); without it every REGISTER is refused.
    pub snapshot: Option<trunkline_store::SnapshotHandle>,
    /// Directory for the location file, the nonce key and the control socket; without it,
    /// bindings live in memory only and there is no control socket.
    pub state_dir: Option<PathBuf>,
    /// Where the proxy writes a CDR for every call; without it, no CDRs are kept.
    pub cdrs: Option<trunkline_store::CdrJournal>,
}

/// The digest nonce key in `dir` (created on first start): shared by restarts so that
/// challenges issued before one stay valid after it.
fn nonce_key(dir: Option<&std::path::Path>) -> Result<[u8; 32], ServerError> {
    let Some(dir) = dir else {
        return Ok(rand::random());
    };
    let path = dir.join("nonce.key");
    let fail = |e: std::io::Error| ServerError::State(format!("{}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(k) => Ok(k),
            Err(_) => Err(ServerError::State(format!(
                "{}: must hold exactly 32 bytes; delete it to make a new key",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let key: [u8; 32] = rand::random();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(fail)?;
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(fail)?;
            Ok(key)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Serves the ng control protocol on `ng` over `plane` (recordings in `state_dir`), and
/// deletes calls without media for `timeout`.
async fn serve_ng(
    ng: SocketAddr,
    plane: trunkline_media::MediaPlane,
    state_dir: Option<&std::path::Path>,
    timeout: std::time::Duration,
    tasks: &mut JoinSet<()>,
) -> Result<(), ServerError> {
    let socket = tokio::net::UdpSocket::bind(ng)
        .await
        .map_err(|source| ServerError::MediaBind { addr: ng, source })?;
    info!(addr = %ng, relay = %plane.ip(), "media relay: ng control listening");
    let mut control = trunkline_media::ng::Control::new(plane);
    if let Some(dir) = state_dir {
        control = control.with_recordings(dir.join("recordings"));
    }
    let control = Arc::new(control);
    tasks.spawn(Arc::clone(&control).serve(socket));
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            for call_id in control.sweep(timeout) {
                info!(call_id, "media relay: call deleted after media timeout");
            }
        }
    });
    Ok(())
}

/// A media node on its own (`trunkline media`): the relay and its ng control listener, no
/// SIP, API or database; for Trunkline SIP nodes (`media.nodes`) or Kamailio/OpenSIPS.
#[derive(Debug)]
pub struct MediaNode {
    tasks: JoinSet<()>,
}

impl MediaNode {
    /// Starts the relay of `config.media` with its ng listener (`media.ng_listen`, which must
    /// be set); recordings go to `state_dir`.
    pub async fn start(
        config: &Config,
        state_dir: Option<&std::path::Path>,
    ) -> Result<MediaNode, ServerError> {
        let (Some(ng), ip) = (config.media.ng_addr(), config.media_ip()) else {
            return Err(ServerError::State(
                "media.ng_listen: a media node needs its ng control address".to_owned(),
            ));
        };
        let plane = media_plane(config, ip);
        let timeout = std::time::Duration::from_secs(u64::from(config.media.timeout_secs));
        let mut tasks = JoinSet::new();
        serve_ng(ng, plane, state_dir, timeout, &mut tasks).await?;
        Ok(MediaNode { tasks })
    }

    /// Stops the node.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        info!("media node stopped");
    }
}

/// The relay of `config.media` on `ip`: its worker threads, its bridge address and, when
/// `media.kernel` is on and the kernel lets it, the in-kernel fast path.
fn media_plane(config: &Config, ip: std::net::IpAddr) -> trunkline_media::MediaPlane {
    let ports = config.media.port_min..=config.media.port_max;
    let mut plane =
        trunkline_media::MediaPlane::with_threads(ip, ports, config.media.threads as usize);
    if let Some(b) = config.media.bridge_ip() {
        plane = plane.with_bridge(b);
    }
    if !config.media.kernel {
        return plane;
    }
    match plane.clone().with_fast_path() {
        Ok(p) => {
            let on = p.fast_path().unwrap_or_default().join(", ");
            info!(interfaces = %on, "media: settled RTP streams are forwarded in the kernel");
            p
        }
        Err(e) => {
            tracing::warn!(error = %e, "media: no in-kernel fast path (media.kernel); every packet is relayed in userspace");
            plane
        }
    }
}

/// A running server: its bound addresses and its tasks.
#[derive(Debug)]
pub struct Server {
    addrs: Vec<(Transport, SocketAddr)>,
    tasks: JoinSet<()>,
    connections: Arc<ConnectionLimits>,
    live: trunkline_store::LiveHandle,
}

impl Server {
    /// Binds every listener and starts serving, with no provisioning data and no state on
    /// disk. Port 0 binds an ephemeral port; see [`Server::local_addrs`].
    pub async fn start(config: &Config) -> Result<Server, ServerError> {
        Self::start_with(config, Services::default()).await
    }

    /// Loads the location service, binds every listener and starts serving.
    pub async fn start_with(config: &Config, services: Services) -> Result<Server, ServerError> {
        let state_dir = services.state_dir.as_deref();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let max_contacts = config.registrar.max_contacts as usize;
        let (location_file, location) = match state_dir {
            Some(dir) => {
                let (f, l) = registrar::persist::LocationFile::open(
                    dir,
                    max_contacts,
                    config.registrar.sync_interval(),
                    now_ms,
                )
                .map_err(|e| ServerError::State(e.to_string()))?;
                (Some(f), l)
            }
            None => (None, registrar::location::Location::new(max_contacts)),
        };
        let location = registrar::service::LocalLocation::new(location, location_file);
        let registrar =
            registrar::Registrar::new(&config.registrar, nonce_key(state_dir)?, Box::new(location));
        let (control_tx, control_rx) = mpsc::channel(16);
        let (live, live_rx) = mpsc::channel(16);
        let control = match state_dir {
            Some(dir) => Some(
                control::bind(dir)
                    .map_err(|e| ServerError::State(format!("control socket: {e}")))?,
            ),
            None => None,
        };
        let mut front = FrontDoor::new(&config.sip);
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut addrs = Vec::new();
        let mut ifaces = proxy::target::Interfaces {
            advertise: config.proxy.advertise_ip(),
            ..Default::default()
        };
        // Read the certificate before binding anything, so a bad file fails the start cleanly.
        let needs_tls = (config.sip.listen.iter())
            .any(|l| matches!(l.transport, Transport::Tls | Transport::Wss));
        let acceptor = match needs_tls {
            true => Some(tls::acceptor(&config.sip.tls)?),
            false => None,
        };
        let udp_shards = udp::shard_count(config.sip.udp_shards);
        for spec in &config.sip.listen {
            let bind_err = |source| ServerError::Bind {
                transport: spec.transport,
                addr: spec.addr,
                source,
            };
            match spec.transport {
                Transport::Udp => {
                    let (local, shards) =
                        udp::bind(spec.addr, udp_shards, config.sip.udp_batch).map_err(bind_err)?;
                    addrs.push((Transport::Udp, local));
                    ifaces.udp.extend(std::iter::repeat_n(local, shards.len()));
                    udp.extend(shards);
                }
                Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                    let l = TcpListener::bind(spec.addr).await.map_err(bind_err)?;
                    let local = l.local_addr().map_err(bind_err)?;
                    addrs.push((spec.transport, local));
                    ifaces.streams.push((spec.transport, local));
                    tcp.push((spec.transport, l));
                }
            }
        }
        front.set_ports(addrs.iter().map(|(_, a)| a.port()).collect());
        let limits = tcp::Limits {
            max_message_size: config.sip.max_message_size as usize,
            idle_timeout: config.sip.tcp_idle_timeout(),
            retry_after: config.guard.overload_retry_after_secs,
        };
        let shard_count = udp::shard_count(config.sip.shards);
        let (mut inbound, mut dial_events) = (Vec::new(), Vec::new());
        let (mut shard_in, mut shard_dials) = (Vec::new(), Vec::new());
        for _ in 0..shard_count {
            let (tx, rx) = mpsc::channel(transport::INBOUND_QUEUE);
            inbound.push(tx);
            shard_in.push(rx);
            let (tx, rx) = mpsc::channel(DIAL_EVENTS);
            dial_events.push(tx);
            shard_dials.push(rx);
        }
        let core_tx = ingress::Ingress::new(inbound);
        let flows = Arc::new(Flows::default());
        flows.set_dialer(dial::Dialer {
            core: core_tx.clone(),
            limits,
            events: dial_events.into(),
        });
        let connections = Arc::new(ConnectionLimits::new(
            config.sip.max_connections as usize,
            config.sip.max_connections_per_ip as usize,
        ));
        let mut tasks = JoinSet::new();
        let retry_after = config.guard.overload_retry_after_secs;
        let udp = udp::spawn(udp, &core_tx, &mut tasks, retry_after);
        let handshake_timeout = config.sip.tls.handshake_timeout();
        let secure = || {
            (acceptor.clone()).ok_or(ServerError::Tls(TlsError::NotConfigured {
                key: "sip.tls.cert",
            }))
        };
        for (transport, l) in tcp {
            let (flows, core) = (Arc::clone(&flows), core_tx.clone());
            let caps = Arc::clone(&connections);
            match transport {
                Transport::Tls => {
                    let acceptor = secure()?;
                    let serve =
                        tls::serve(l, acceptor, handshake_timeout, flows, core, limits, caps);
                    tasks.spawn(serve);
                }
                Transport::Ws | Transport::Wss => {
                    let tls = match transport {
                        Transport::Wss => Some(secure()?),
                        _ => None,
                    };
                    let ws = ws::Listener {
                        transport,
                        tls,
                        handshake_timeout,
                        flows,
                        core,
                        limits,
                        caps,
                    };
                    tasks.spawn(ws::serve(l, ws));
                }
                _ => {
                    tasks.spawn(tcp::serve(l, flows, core, limits, caps));
                }
            }
        }
        // One relay for the proxy's calls and the ng control's: they share its port range.
        let media_ip = config.media_ip();
        let wildcard = (config.sip.listen.iter()).any(|l| l.addr.ip().is_unspecified());
        let unset = config.media.address.is_empty();
        if config.media.mode != MediaMode::Off && media_ip.is_loopback() && wildcard && unset {
            tracing::warn!(
                relay = %media_ip,
                "media.address is not set: relayed calls name {media_ip} in their SDP, which only phones on this host reach; set media.address (or proxy.advertise) to this host's public address"
            );
        }
        let plane = Some(media_ip)
            .filter(|_| config.media.mode != MediaMode::Off || config.media.ng_addr().is_some())
            .map(|ip| media_plane(config, ip));
        let media_timeout = std::time::Duration::from_secs(u64::from(config.media.timeout_secs));
        let nodes = config.media.node_addrs();
        let local_relay = config.media.mode != MediaMode::Off && nodes.is_empty();
        let sessions = (plane.as_ref().filter(|_| local_relay))
            .map(|p| Arc::new(trunkline_media::Sessions::new(p.clone())));
        if let Some(plane) = plane.as_ref().filter(|_| local_relay) {
            info!(relay = %plane.ip(), mode = config.media.mode.as_str(), "media relay for proxied calls");
        }
        if config.media.mode != MediaMode::Off && !nodes.is_empty() {
            info!(nodes = ?nodes, mode = config.media.mode.as_str(), "media nodes for proxied calls");
        }
        let own = addrs.iter().map(|(_, a)| *a).collect();
        let shared = Arc::new(shared::Shared::new(
            registrar.with_own_sockets(own, config.proxy.advertise_ip()),
            guard::Guard::new(&config.guard),
        ));
        let cdr_queue = services.cdrs.map(|j| cdr::spawn_writer(j, &mut tasks));
        let overload = dispatch::Overload {
            max_wait: config.sip.overload_wait(),
            retry_after: config.guard.overload_retry_after_secs,
        };
        // Media control: the in-process relay, or the media nodes, driven from one task.
        let backend = match (&sessions, config.media.mode) {
            (_, MediaMode::Off) => None,
            (Some(sessions), _) => {
                Some(media_control::Backend::Local(media_control::local::Local {
                    sessions: Arc::clone(sessions),
                    recordings: state_dir.map(|d| d.join("recordings")),
                }))
            }
            (None, _) if !nodes.is_empty() => {
                // The ng client talks from the family of the first node.
                let any = match nodes[0].is_ipv6() {
                    true => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
                    false => SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)),
                };
                let client = trunkline_media::NgClient::bind(any)
                    .await
                    .map_err(|source| ServerError::MediaBind { addr: any, source })?;
                let n = media_control::nodes::Nodes::new(client, nodes.clone(), media_timeout);
                Some(media_control::Backend::Nodes(Arc::new(n)))
            }
            (None, _) => None,
        };
        let (media_tx, media_rx) = mpsc::channel(MEDIA_REQUESTS);
        let mut media_events = Vec::with_capacity(shard_count);
        let mut queries = Vec::with_capacity(shard_count);
        for (index, (inbound, dialed)) in shard_in.into_iter().zip(shard_dials).enumerate() {
            let mut proxy = proxy::Proxy::new(
                config.proxy.clone(),
                ifaces.clone(),
                config.guard.trusted_nets(),
                Arc::clone(&shared.user_calls),
            );
            if backend.is_some() {
                proxy = proxy.with_media(proxy::anchoring::Anchoring::new(config.media.mode));
            }
            let (query_tx, query_rx) = mpsc::channel(16);
            queries.push(query_tx);
            let (event_tx, event_rx) = mpsc::channel(MEDIA_REPLIES);
            media_events.push(event_tx);
            let roles = dispatch::Roles {
                index,
                shared: Arc::clone(&shared),
                snapshot: services.snapshot.clone(),
                proxy,
                cdrs: cdr::CdrSink::new(cdr_queue.clone()),
                overload,
            };
            let mail = shard::Mailboxes {
                index,
                queries: query_rx,
                media_events: event_rx,
                media: backend.as_ref().map(|_| media_tx.clone()),
            };
            let net = shard::Network {
                udp: udp.clone(),
                flows: Arc::clone(&flows),
                dialed,
            };
            let core =
                dispatch::Dispatch::new(front.clone(), Arc::clone(&flows), roles, backend.clone());
            let span = tracing::info_span!("shard", shard = index);
            tasks.spawn(tracing::Instrument::instrument(
                shard::run(inbound, core, net, mail),
                span,
            ));
        }
        drop(media_tx);
        if let Some(backend) = backend {
            tasks.spawn(media_control::run(
                backend,
                media_rx,
                media_events,
                media_timeout,
            ));
        }
        tasks.spawn(commands::serve(
            control_rx,
            live_rx,
            Arc::clone(&shared),
            queries,
        ));
        if let (Some(ng), Some(plane)) = (config.media.ng_addr(), plane) {
            serve_ng(ng, plane, state_dir, media_timeout, &mut tasks).await?;
        }
        info!(shards = shard_count, "SIP shards running");
        if let Some((listener, path)) = control {
            info!(path = %path.display(), "control socket listening");
            tasks.spawn(control::serve(listener, control_tx));
        }
        for (t, a) in &addrs {
            info!(transport = %t, addr = %a, "SIP listening");
        }
        Ok(Server {
            addrs,
            tasks,
            connections,
            live,
        })
    }

    /// The addresses actually bound, in config order.
    pub fn local_addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.addrs
    }

    /// The first bound address of a transport.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// Where the API asks about calls in progress.
    pub fn live(&self) -> trunkline_store::LiveHandle {
        self.live.clone()
    }

    /// The stream connection caps and their refusal counters.
    pub fn connection_limits(&self) -> &ConnectionLimits {
        &self.connections
    }

    /// Stops every listener and connection.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        info!("SIP listeners stopped");
    }
}
