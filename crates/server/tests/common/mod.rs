//! Shared by the integration tests that speak TLS: a throw-away PKI (a CA, a server
//! certificate for 127.0.0.1, ::1 and localhost, client certificates) written to a temporary
//! directory, and rustls client configurations that trust it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};

/// A CA, a server certificate signed by it, and the files `[sip.tls]` points to.
pub struct Pki {
    /// Directory holding the PEM files; removed on drop.
    pub dir: PathBuf,
    /// Server certificate chain (leaf, then CA).
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// The CA certificate, usable as `sip.tls.client_ca`.
    pub ca: PathBuf,
    ca_der: CertificateDer<'static>,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// Generates the PKI and writes it to a fresh directory named after `tag`.
    pub fn new(tag: &str) -> Pki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "trunkline-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let issuer = ca("Trunkline test CA");
        let server_key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .unwrap();
        let server = params.signed_by(&server_key, &issuer).unwrap();
        let (cert, key, ca) = (
            dir.join("chain.pem"),
            dir.join("key.pem"),
            dir.join("ca.pem"),
        );
        std::fs::write(&cert, format!("{}{}", server.pem(), issuer.pem())).unwrap();
        std::fs::write(&key, server_key.serialize_pem()).unwrap();
        std::fs::write(&ca, issuer.pem()).unwrap();
        Pki {
            dir,
            cert,
            key,
            ca,
            ca_der: issuer.der().clone(),
            issuer,
        }
    }

    /// A client certificate and key, signed by this PKI's CA or, when `trusted` is false, by
    /// a stranger's.
    pub fn client_identity(
        &self,
        trusted: bool,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["client.example.test".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client");
        let cert = if trusted {
            params.signed_by(&key, &self.issuer).unwrap()
        } else {
            params.signed_by(&key, &ca("Stranger CA")).unwrap()
        };
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], der)
    }

    /// A client configuration that trusts this PKI's CA, optionally with a client certificate.
    pub fn client(
        &self,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Arc<ClientConfig> {
        self.client_with(rustls::DEFAULT_VERSIONS, identity)
    }

    /// [`Pki::client`] limited to TLS 1.2.
    pub fn client_tls12(&self) -> Arc<ClientConfig> {
        self.client_with(&[&rustls::version::TLS12], None)
    }

    fn client_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        };
        Arc::new(config)
    }
}

/// An OPTIONS to the server itself, as a phone's keep-alive probe sends it.
pub fn options(target: std::net::SocketAddr, via: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bKtls{n}\r\n\
From: <sip:probe@example.test>;tag=t{n}\r\nTo: <sip:{target}>\r\nCall-ID: tls{n}@test\r\n\
CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}
