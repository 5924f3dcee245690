//! The TLS listener (RFC 3261 §26.3.1, RFC 5630): loads the certificate from `[sip.tls]`,
//! handshakes each accepted connection within the configured time, then serves it exactly like
//! TCP. The secure WebSocket listener reuses the same configuration and handshake.

pub(crate) mod config;
mod stream;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};

pub(crate) use stream::TlsStream;
use tracing::debug;

use crate::config::{TlsConfig, Transport};
use crate::transport::flow::Flows;
use crate::transport::ingress::Ingress;
use crate::transport::limits::ConnectionLimits;
use crate::transport::tcp::{self, Limits};

/// Why the TLS settings could not be turned into a working server configuration. Each message
/// names the config key and the file, like the config checks do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A `tls` or `wss` listener, but no certificate or key configured.
    #[error("config: {key}: must be set for tls and wss listeners")]
    NotConfigured {
        /// The missing key.
        key: &'static str,
    },
    /// The file could not be read.
    #[error("config: {key}: {path:?}: {source}")]
    Read {
        /// The key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not well-formed PEM.
    #[error("config: {key}: {path:?}: bad PEM: {error}")]
    Pem {
        /// The key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM reader found wrong.
        error: pem::Error,
    },
    /// The file holds no item of the kind the key needs.
    #[error("config: {key}: {path:?}: no {what} found")]
    Missing {
        /// The key that names the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for, e.g. `PEM "CERTIFICATE" block`.
        what: &'static str,
    },
    /// rustls refused the certificate, the key, or the pair (for example a key that does not
    /// match the certificate).
    #[error("config: {key}: {path:?}: {error}")]
    Rejected {
        /// The key whose file was refused.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        error: rustls::Error,
    },
    /// The client CA file could not make a client certificate verifier.
    #[error("config: sip.tls.client_ca: {path:?}: {error}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// The verifier builder's reason.
        error: rustls::server::VerifierBuilderError,
    },
}

/// What every `tls` and `wss` listener shares: the rustls configuration with the certificate.
pub(crate) type Acceptor = Arc<rustls::ServerConfig>;

/// Builds the acceptor, reading the PEM files now so that a bad file stops the start rather
/// than the first client.
pub(crate) fn acceptor(config: &TlsConfig) -> Result<Acceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert_path = config.cert.as_deref().ok_or(TlsError::NotConfigured {
        key: "sip.tls.cert",
    })?;
    let key_path = config
        .key
        .as_deref()
        .ok_or(TlsError::NotConfigured { key: "sip.tls.key" })?;
    let chain = certificates("sip.tls.cert", cert_path)?;
    let key = private_key(key_path)?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rejected {
            key: "sip.tls.cert",
            path: cert_path.to_owned(),
            error,
        })?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => builder.with_client_cert_verifier(client_verifier(ca_path, provider)?),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Rejected {
            key: "sip.tls.key",
            path: key_path.to_owned(),
            error,
        })?;
    // Resumption tickets cost a stored session each (up to the cache's 256) and buy little:
    // SIP connections live for hours and reconnect rarely.
    server.send_tls13_tickets = 0;
    Ok(Arc::new(server))
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            key,
            path: path.to_owned(),
            error,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            key,
            path: path.to_owned(),
            what: "PEM \"CERTIFICATE\" block",
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key = "sip.tls.key";
    let pem = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::Missing {
            key,
            path: path.to_owned(),
            what: "PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block",
        },
        error => TlsError::Pem {
            key,
            path: path.to_owned(),
            error,
        },
    })
}

fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let key = "sip.tls.client_ca";
    let mut roots = RootCertStore::empty();
    for cert in certificates(key, path)? {
        roots.add(cert).map_err(|error| TlsError::Rejected {
            key,
            path: path.to_owned(),
            error,
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|error| TlsError::ClientCa {
            path: path.to_owned(),
            error,
        })
}

/// Runs the server side of the TLS handshake, giving up after `timeout` so that a client that
/// connects and stalls cannot hold the connection.
pub(crate) async fn handshake(
    acceptor: &Acceptor,
    stream: TcpStream,
    timeout: Duration,
) -> io::Result<TlsStream> {
    // Boxed: the handshake's state lives on the heap only while it runs, instead of sizing
    // the connection task's future (kept for the connection's whole life) by it.
    let accept = TlsStream::accept(stream, Arc::clone(acceptor));
    match Box::pin(tokio::time::timeout(timeout, accept)).await {
        Ok(done) => done,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Accepts TLS connections until the task is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: Acceptor,
    handshake_timeout: Duration,
    flows: Arc<Flows>,
    core: Ingress,
    limits: Limits,
    caps: Arc<ConnectionLimits>,
) {
    tcp::accept_limited(listener, Transport::Tls, caps, move |stream, peer| {
        let acceptor = Arc::clone(&acceptor);
        let flows = Arc::clone(&flows);
        let core = core.clone();
        async move {
            let tls = match handshake(&acceptor, stream, handshake_timeout).await {
                Ok(tls) => tls,
                Err(e) => {
                    debug!(%peer, error = %e, "tls handshake failed");
                    return;
                }
            };
            let (r, w) = tokio::io::split(tls);
            let flow = flows.register(Transport::Tls, peer);
            if let Err(e) = tcp::connection(r, w, peer, Transport::Tls, flow, &core, limits).await {
                debug!(%peer, error = %e, "tls connection ended");
            }
        }
    })
    .await;
}
