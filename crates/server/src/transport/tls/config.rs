//! `[sip.tls]`: the certificate the `tls` and `wss` listeners present, and whether they ask
//! clients for one. Only paths live here; the files are read when the server starts.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, ListenSpec, Transport, check_range};

/// `[sip.tls]`: server certificate and client authentication for `tls` and `wss` listeners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate chain, leaf first. Required by `tls` and `wss`
    /// listeners.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM file with the CA certificates client certificates must chain to. When set, every
    /// `tls` and `wss` client must present a valid certificate (mutual TLS, as trunks between
    /// carriers often require); when unset, no client certificate is asked for.
    pub client_ca: Option<PathBuf>,
    /// Seconds a new connection has to finish its TLS handshake and, on `ws` and `wss`
    /// listeners, its WebSocket upgrade. Bounds what a client that connects and stalls can hold.
    pub handshake_timeout_secs: u64,
}

impl TlsConfig {
    /// Allowed values of `sip.tls.handshake_timeout_secs`.
    pub const HANDSHAKE_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=300;

    /// `handshake_timeout_secs` as a [`Duration`].
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    /// Checks the keys against each other and against the listeners that need them.
    pub(crate) fn validate(&self, listen: &[ListenSpec]) -> Result<(), ConfigError> {
        for (key, path) in [
            ("sip.tls.cert", &self.cert),
            ("sip.tls.key", &self.key),
            ("sip.tls.client_ca", &self.client_ca),
        ] {
            if path.as_deref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(ConfigError::Empty { key });
            }
        }
        let secure = listen
            .iter()
            .position(|l| matches!(l.transport, Transport::Tls | Transport::Wss));
        if let Some(index) = secure {
            let required = |key| ConfigError::Required {
                key,
                needed_by: format!("sip.listen[{index}]"),
                value: format!("\"{}\"", listen[index]),
            };
            if self.cert.is_none() {
                return Err(required("sip.tls.cert"));
            }
            if self.key.is_none() {
                return Err(required("sip.tls.key"));
            }
        }
        // A certificate without its key (or the reverse) is a half-finished edit even when no
        // listener uses it yet.
        match (&self.cert, &self.key) {
            (Some(cert), None) => {
                return Err(ConfigError::Required {
                    key: "sip.tls.key",
                    needed_by: "sip.tls.cert".to_owned(),
                    value: quoted(cert),
                });
            }
            (None, Some(key)) => {
                return Err(ConfigError::Required {
                    key: "sip.tls.cert",
                    needed_by: "sip.tls.key".to_owned(),
                    value: quoted(key),
                });
            }
            _ => {}
        }
        check_range(
            "sip.tls.handshake_timeout_secs",
            self.handshake_timeout_secs,
            Self::HANDSHAKE_TIMEOUT_RANGE,
        )
    }
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            client_ca: None,
            handshake_timeout_secs: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(specs: &[&str]) -> Vec<ListenSpec> {
        specs.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn with_files() -> TlsConfig {
        TlsConfig {
            cert: Some("/etc/tls/fullchain.pem".into()),
            key: Some("/etc/tls/key.pem".into()),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn plain_listeners_need_nothing() {
        let l = listen(&["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", "ws:0.0.0.0:8088"]);
        assert_eq!(TlsConfig::default().validate(&l), Ok(()));
    }

    #[test]
    fn errors_name_key_and_cause() {
        let l = listen(&["udp:0.0.0.0:5060", "wss:[::]:8089"]);
        let table: Vec<(TlsConfig, &str)> = vec![
            (
                TlsConfig::default(),
                "config: sip.tls.cert: must be set for sip.listen[1] \"wss:[::]:8089\"",
            ),
            (
                TlsConfig {
                    key: None,
                    ..with_files()
                },
                "config: sip.tls.key: must be set for sip.listen[1] \"wss:[::]:8089\"",
            ),
            (
                TlsConfig {
                    cert: Some(PathBuf::new()),
                    ..with_files()
                },
                "config: sip.tls.cert: must not be empty",
            ),
            (
                TlsConfig {
                    handshake_timeout_secs: 0,
                    ..with_files()
                },
                "config: sip.tls.handshake_timeout_secs: 0 is out of range (1..=300)",
            ),
        ];
        for (tls, want) in table {
            assert_eq!(tls.validate(&l).unwrap_err().to_string(), want);
        }
        let half = TlsConfig {
            cert: None,
            ..with_files()
        };
        assert_eq!(
            half.validate(&[]).unwrap_err().to_string(),
            "config: sip.tls.cert: must be set for sip.tls.key \"/etc/tls/key.pem\""
        );
    }

    #[test]
    fn secure_listeners_with_files_pass() {
        let l = listen(&["tls:127.0.0.1:5061", "wss:[::1]:8089"]);
        let tls = TlsConfig {
            client_ca: Some("/etc/tls/ca.pem".into()),
            handshake_timeout_secs: 300,
            ..with_files()
        };
        assert_eq!(tls.validate(&l), Ok(()));
        assert_eq!(tls.handshake_timeout(), Duration::from_secs(300));
    }
}
