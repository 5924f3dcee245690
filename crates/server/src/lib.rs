//! Trunkline's roles wired on tokio. Today: the SIP listeners (UDP, TCP) and the front door
//! that validates every request at the wire; routing, registrar and media follow.
//!
//! [`run`] is what `trunkline serve` calls; [`Server::start`] is the same with a handle,
//! for tests and embedding.

pub mod config;
mod core;
pub mod flow;
pub mod front;
mod tcp;
mod udp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::info;

pub use config::{Config, ListenSpec, Transport};
pub use flow::Flows;
pub use front::FrontDoor;

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
    /// The config asks for something this build cannot serve.
    #[error("sip.listen: transport {0} is not supported yet")]
    Unsupported(Transport),
}

/// A running server: its bound addresses and its tasks.
#[derive(Debug)]
pub struct Server {
    addrs: Vec<(Transport, SocketAddr)>,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds every listener and starts serving. Port 0 binds an ephemeral port; see
    /// [`Server::local_addrs`].
    pub async fn start(config: &Config) -> Result<Server, ServerError> {
        let mut front = FrontDoor::new(&config.sip);
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut addrs = Vec::new();
        for spec in &config.sip.listen {
            let bind_err = |source| ServerError::Bind {
                transport: spec.transport,
                addr: spec.addr,
                source,
            };
            match spec.transport {
                Transport::Udp => {
                    let s = UdpSocket::bind(spec.addr).await.map_err(bind_err)?;
                    addrs.push((Transport::Udp, s.local_addr().map_err(bind_err)?));
                    udp.push(s);
                }
                Transport::Tcp => {
                    let l = TcpListener::bind(spec.addr).await.map_err(bind_err)?;
                    addrs.push((Transport::Tcp, l.local_addr().map_err(bind_err)?));
                    tcp.push(l);
                }
                other => return Err(ServerError::Unsupported(other)),
            }
        }
        front.set_ports(addrs.iter().map(|(_, a)| a.port()).collect());
        let limits = tcp::Limits {
            max_message_size: config.sip.max_message_size as usize,
            idle_timeout: config.sip.tcp_idle_timeout(),
        };
        let (core_tx, core_rx) = mpsc::channel(core::INBOUND_QUEUE);
        let flows = Arc::new(Flows::default());
        let udp: Vec<Arc<UdpSocket>> = udp.into_iter().map(Arc::new).collect();
        let mut tasks = JoinSet::new();
        for (i, s) in udp.iter().enumerate() {
            tasks.spawn(udp::serve(Arc::clone(s), i, core_tx.clone()));
        }
        for l in tcp {
            tasks.spawn(tcp::serve(l, Arc::clone(&flows), core_tx.clone(), limits));
        }
        let net = core::Network { udp, flows };
        tasks.spawn(core::run(core_rx, front, net));
        for (t, a) in &addrs {
            info!(transport = %t, addr = %a, "SIP listening");
        }
        Ok(Server { addrs, tasks })
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

    /// Stops every listener and connection.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        info!("SIP listeners stopped");
    }
}

/// Runs the server until `shutdown` resolves, then stops it cleanly.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let server = Server::start(&config).await?;
    shutdown.await;
    info!("shutting down");
    server.shutdown().await;
    Ok(())
}
