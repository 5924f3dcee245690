//! Trunkline's roles wired on tokio. Today: the SIP listeners (UDP, TCP, TLS, WS, WSS) and the front door
//! that validates every request at the wire; routing, registrar and media follow.
//!
//! [`run`] is what `trunkline serve` calls; [`Server::start`] is the same with a handle,
//! for tests and embedding.

pub mod config;
mod core;
pub mod flow;
pub mod front;
pub mod limits;
pub mod registrar;
mod tcp;
mod tls;
mod udp;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::info;

pub use config::{Config, ListenSpec, Transport};
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
}

/// A running server: its bound addresses and its tasks.
#[derive(Debug)]
pub struct Server {
    addrs: Vec<(Transport, SocketAddr)>,
    tasks: JoinSet<()>,
    connections: Arc<ConnectionLimits>,
}

impl Server {
    /// Binds every listener and starts serving. Port 0 binds an ephemeral port; see
    /// [`Server::local_addrs`].
    pub async fn start(config: &Config) -> Result<Server, ServerError> {
        let mut front = FrontDoor::new(&config.sip);
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut addrs = Vec::new();
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
                    udp.extend(shards);
                }
                Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                    let l = TcpListener::bind(spec.addr).await.map_err(bind_err)?;
                    addrs.push((spec.transport, l.local_addr().map_err(bind_err)?));
                    tcp.push((spec.transport, l));
                }
            }
        }
        front.set_ports(addrs.iter().map(|(_, a)| a.port()).collect());
        let limits = tcp::Limits {
            max_message_size: config.sip.max_message_size as usize,
            idle_timeout: config.sip.tcp_idle_timeout(),
        };
        let (core_tx, core_rx) = mpsc::channel(core::INBOUND_QUEUE);
        let flows = Arc::new(Flows::default());
        let connections = Arc::new(ConnectionLimits::new(
            config.sip.max_connections as usize,
            config.sip.max_connections_per_ip as usize,
        ));
        let mut tasks = JoinSet::new();
        let udp = udp::spawn(udp, &core_tx, &mut tasks);
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
        let net = core::Network { udp, flows };
        tasks.spawn(core::run(core_rx, front, net));
        for (t, a) in &addrs {
            info!(transport = %t, addr = %a, "SIP listening");
        }
        Ok(Server {
            addrs,
            tasks,
            connections,
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
