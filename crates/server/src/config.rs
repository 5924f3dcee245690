//! The validated configuration model: sections, defaults, and the cross-field checks run at start.
//!
//! This module only describes and checks configuration; reading files and the environment is the
//! binary's job (`crates/trunkline/src/load.rs`). Every field has a default, so an empty document
//! deserializes to [`Config::default()`], and unknown keys are rejected so a typo never silently
//! falls back to a default.
//!
//! ```
//! use trunkline_server::config::{Config, Transport};
//!
//! let config = Config::default();
//! config.validate()?;
//! assert_eq!(config.sip.listen[0].transport, Transport::Udp);
//! # Ok::<(), trunkline_server::config::ConfigError>(())
//! ```

mod data;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

use serde::de;
use serde::{Deserialize, Deserializer};

// Each section is defined next to what it configures.
pub use crate::media_control::config::{MediaConfig, MediaMode};
pub use crate::roles::proxy::config::{NatPing, ProxyConfig};
pub use crate::roles::registrar::config::RegistrarConfig;
pub use crate::transport::config::SipConfig;
pub use crate::transport::guard::config::GuardConfig;
pub use crate::transport::listen::{ListenSpec, ListenSpecError, Transport, UnknownTransport};
pub use crate::transport::tls::config::TlsConfig;
pub use data::DataConfig;

/// The whole configuration, one field per `[section]` of the TOML file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[sip]`: listeners and SIP protocol limits.
    pub sip: SipConfig,
    /// `[registrar]`: REGISTER handling and the location service.
    pub registrar: RegistrarConfig,
    /// `[guard]`: rate limits, bans and scanner filtering at the edge.
    pub guard: GuardConfig,
    /// `[proxy]`: call forwarding.
    pub proxy: ProxyConfig,
    /// `[media]`: the media relay and its control listener.
    pub media: MediaConfig,
    /// `[http]`: the HTTP API and metrics listener.
    pub http: HttpConfig,
    /// `[data]`: where local state lives.
    pub data: DataConfig,
    /// `[log]`: what is logged and how.
    pub log: LogConfig,
}

/// `[http]`: the HTTP listener (API, health, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port to bind.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: a level (`info`) or directives (`info,trunkline_sip=debug`).
    /// `RUST_LOG`, when set, takes precedence.
    pub level: String,
    /// Line format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Full human-readable lines with span context.
    #[default]
    Text,
    /// Shorter single lines.
    Compact,
}

impl LogFormat {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Compact => "compact",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value that is well-formed but not acceptable; the message names the key path
/// and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A number outside its allowed range.
    #[error("config: {key}: {value} is out of range ({min}..={max})")]
    OutOfRange {
        /// Key path, e.g. `sip.max_message_size`.
        key: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A list or string that must not be empty.
    #[error("config: {key}: must not be empty")]
    Empty {
        /// Key path, e.g. `sip.listen`.
        key: &'static str,
    },
    /// A key left unset that another setting needs.
    #[error("config: {key}: must be set for {needed_by} {value}")]
    Required {
        /// Key path, e.g. `sip.tls.cert`.
        key: &'static str,
        /// Key path of the setting that needs it, e.g. `sip.listen[2]`.
        needed_by: String,
        /// That setting's value, quoted.
        value: String,
    },
    /// Two listeners would bind the same socket.
    #[error(
        "config: sip.listen[{index}]: \"{spec}\" binds the same {} socket as sip.listen[{first}] \"{first_spec}\"",
        if .spec.transport.is_reliable() { "TCP" } else { "UDP" }
    )]
    DuplicateListener {
        /// Position of the later listener in `sip.listen`.
        index: usize,
        /// The later listener.
        spec: ListenSpec,
        /// Position of the earlier listener.
        first: usize,
        /// The earlier listener.
        first_spec: ListenSpec,
    },
    /// Any other invalid value.
    #[error("config: {key}: {value:?} {reason}")]
    Invalid {
        /// Key path, e.g. `sip.aliases[0]`.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// The key path the error is about, e.g. `sip.listen[2]`.
    pub fn key(&self) -> String {
        match self {
            ConfigError::OutOfRange { key, .. }
            | ConfigError::Empty { key }
            | ConfigError::Required { key, .. } => (*key).to_owned(),
            ConfigError::DuplicateListener { index, .. } => format!("sip.listen[{index}]"),
            ConfigError::Invalid { key, .. } => key.clone(),
        }
    }

    /// The key whose value caused the error: [`ConfigError::key`], except for a missing key,
    /// where it is the setting that needs it (which, unlike the missing key, was set somewhere
    /// an operator can be pointed to).
    pub fn cause_key(&self) -> String {
        match self {
            ConfigError::Required { needed_by, .. } => needed_by.clone(),
            other => other.key(),
        }
    }
}

impl Config {
    /// Checks ranges and cross-field rules that deserialization cannot express; returns the
    /// first problem found, in file order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sip.validate()?;
        self.registrar.validate()?;
        self.guard.validate()?;
        self.proxy.validate()?;
        self.media.validate()?;
        self.data.validate()?;
        self.log.validate()
    }
}

impl DataConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(ConfigError::Empty { key: "data.dir" });
        }
        Ok(())
    }
}

const LEVELS_HINT: &str = "expected off, error, warn, info, debug, trace or TARGET=LEVEL";

impl LogConfig {
    /// Level names accepted by `tracing`'s `LevelFilter` (numbers 0..=5 included).
    const LEVELS: [&'static str; 12] = [
        "off", "error", "warn", "info", "debug", "trace", "0", "1", "2", "3", "4", "5",
    ];

    fn validate(&self) -> Result<(), ConfigError> {
        if self.level.trim().is_empty() {
            return Err(ConfigError::Empty { key: "log.level" });
        }
        // `tracing` reads a bare word as "this target at TRACE", so a typo like `debgu` would
        // quietly turn logging off for everything else. Here a bare word must be a level; a
        // target needs `target=level`.
        for directive in self.level.split(',').map(str::trim) {
            let level = match directive.rsplit_once('=') {
                Some((_, level)) => level,
                None if directive.contains('[') => continue,
                None => directive,
            };
            if !Self::LEVELS
                .iter()
                .any(|l| l.eq_ignore_ascii_case(level.trim()))
            {
                return Err(ConfigError::Invalid {
                    key: "log.level".to_owned(),
                    value: self.level.clone(),
                    reason: if directive == self.level.trim() {
                        format!("is not a level ({LEVELS_HINT})")
                    } else {
                        format!("has {level:?} where a level belongs ({LEVELS_HINT})")
                    },
                });
            }
        }
        Ok(())
    }
}

pub(crate) fn check_range<T: Copy + PartialOrd + Into<u64>>(
    key: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            key,
            value: value.into(),
            min: (*range.start()).into(),
            max: (*range.end()).into(),
        })
    }
}

/// Deserializes a `SocketAddr` from a string, with an error that names the value.
fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(deserializer)?;
    s.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "{s:?} is not an IP address and port (expected e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::config::is_host;
    use std::path::PathBuf;
    use std::time::Duration;

    fn spec(s: &str) -> ListenSpec {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_valid() {
        let config = Config::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(
            config.sip.listen,
            [spec("udp:0.0.0.0:5060"), spec("tcp:0.0.0.0:5060")]
        );
        assert_eq!(config.sip.max_message_size, 65_535);
        assert_eq!(config.sip.server_header(), Some("Trunkline"));
        assert_eq!(config.sip.tcp_idle_timeout(), Duration::from_secs(600));
        assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.data.dir, PathBuf::from("./trunkline-data"));
        assert_eq!(config.log.level, "info");
        assert_eq!(config.log.format, LogFormat::Text);
    }

    /// An edit of the default config.
    type Change = fn(&mut Config);

    /// Applies `change` to the default config and returns the validation message.
    fn error_after(change: Change) -> String {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_errors_name_key_and_value() {
        let table: Vec<(Change, &str)> = vec![
            (
                |c| c.sip.max_message_size = 10,
                "config: sip.max_message_size: 10 is out of range (1024..=1048576)",
            ),
            (
                |c| c.sip.max_message_size = 2_000_000,
                "config: sip.max_message_size: 2000000 is out of range (1024..=1048576)",
            ),
            (
                |c| c.sip.tcp_idle_timeout_secs = 0,
                "config: sip.tcp_idle_timeout_secs: 0 is out of range (1..=86400)",
            ),
            (
                |c| c.sip.listen.clear(),
                "config: sip.listen: must not be empty",
            ),
            (
                |c| c.sip.listen.push(spec("tls:0.0.0.0:5061")),
                "config: sip.tls.cert: must be set for sip.listen[2] \"tls:0.0.0.0:5061\"",
            ),
            (
                |c| c.sip.listen.push(spec("ws:0.0.0.0:5060")),
                "config: sip.listen[2]: \"ws:0.0.0.0:5060\" binds the same TCP socket as sip.listen[1] \"tcp:0.0.0.0:5060\"",
            ),
            (
                |c| c.sip.listen.push(spec("udp:0.0.0.0:5060")),
                "config: sip.listen[2]: \"udp:0.0.0.0:5060\" binds the same UDP socket as sip.listen[0] \"udp:0.0.0.0:5060\"",
            ),
            (
                |c| c.sip.aliases = vec!["sip.example.com".into(), "sip:x.example.com".into()],
                "config: sip.aliases[1]: \"sip:x.example.com\" is not a host name or IP address (write it without scheme or port)",
            ),
            (
                |c| c.sip.server_header = "Trunkline\r\nX-Evil: 1".into(),
                "config: sip.server_header: \"Trunkline\\r\\nX-Evil: 1\" contains a control character",
            ),
            (
                |c| c.data.dir = PathBuf::new(),
                "config: data.dir: must not be empty",
            ),
            (
                |c| c.log.level = " ".into(),
                "config: log.level: must not be empty",
            ),
            (
                |c| c.log.level = "debgu".into(),
                "config: log.level: \"debgu\" is not a level (expected off, error, warn, info, debug, trace or TARGET=LEVEL)",
            ),
            (
                |c| c.log.level = "info,trunkline_sip=loud".into(),
                "config: log.level: \"info,trunkline_sip=loud\" has \"loud\" where a level belongs (expected off, error, warn, info, debug, trace or TARGET=LEVEL)",
            ),
        ];
        for (change, want) in table {
            assert_eq!(error_after(change), want);
        }
    }

    #[test]
    fn accepted_edge_values() {
        let mut config = Config::default();
        config.sip.max_message_size = 1024;
        config.sip.tcp_idle_timeout_secs = 1;
        config.sip.server_header = String::new();
        config.sip.aliases = vec![
            "sip.example.com".into(),
            "example.com.".into(),
            "203.0.113.7".into(),
            "2001:db8::1".into(),
            "[2001:db8::1]".into(),
            "localhost".into(),
        ];
        config.sip.listen = vec![
            spec("udp:127.0.0.1:5060"),
            spec("tcp:127.0.0.1:5060"),
            spec("udp:[::1]:5060"),
            spec("udp:127.0.0.1:0"),
            spec("udp:127.0.0.1:0"),
        ];
        config.log.level = "warn,trunkline_sip=DEBUG,h2[conn{id=1}]=trace".into();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.sip.server_header(), None);

        config.sip.max_message_size = 1_048_576;
        config.sip.tcp_idle_timeout_secs = 86_400;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn rejects_odd_aliases() {
        for bad in [
            "",
            "a b",
            "-x.com",
            "x-.com",
            "1.2.3",
            "example.com:5060",
            "a..b",
            "[1.2.3.4]",
        ] {
            assert!(!is_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn error_key_paths() {
        let err = ConfigError::DuplicateListener {
            index: 2,
            spec: spec("tls:0.0.0.0:5061"),
            first: 0,
            first_spec: spec("tcp:0.0.0.0:5061"),
        };
        assert_eq!(err.key(), "sip.listen[2]");
        let err = ConfigError::Required {
            key: "sip.tls.key",
            needed_by: "sip.listen[0]".into(),
            value: "\"tls:[::]:5061\"".into(),
        };
        assert_eq!(err.key(), "sip.tls.key");
        assert_eq!(err.cause_key(), "sip.listen[0]");
        assert_eq!(
            ConfigError::Empty { key: "data.dir" }.cause_key(),
            "data.dir"
        );
        let err = ConfigError::Empty { key: "data.dir" };
        assert_eq!(err.key(), "data.dir");
    }

    #[test]
    fn udp_and_connection_keys() {
        let sip = Config::default().sip;
        assert_eq!(sip.udp_shards, 1);
        assert!(sip.udp_batch);
        assert_eq!(sip.max_connections, 10_000);
        assert_eq!(sip.max_connections_per_ip, 100);
        let table: Vec<(Change, &str)> = vec![
            (
                |c| c.sip.udp_shards = 1025,
                "config: sip.udp_shards: 1025 is out of range (0..=1024)",
            ),
            (
                |c| c.sip.max_connections = 0,
                "config: sip.max_connections: 0 is out of range (1..=10000000)",
            ),
            (
                |c| c.sip.max_connections_per_ip = 0,
                "config: sip.max_connections_per_ip: 0 is out of range (1..=10000000)",
            ),
        ];
        for (change, want) in table {
            assert_eq!(error_after(change), want);
        }
        let mut config = Config::default();
        config.sip.udp_shards = 0;
        config.sip.udp_batch = false;
        config.sip.max_connections = 1;
        config.sip.max_connections_per_ip = 10_000_000;
        assert_eq!(config.validate(), Ok(()));
    }
}
