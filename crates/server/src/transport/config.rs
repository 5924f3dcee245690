//! `[sip]`: the listeners, the names this server answers to, message limits, the UDP path,
//! the shards and their overload threshold, and connection caps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::config::{ConfigError, ListenSpec, TlsConfig, Transport, check_range};

/// `[sip]`: where SIP is served and the limits applied to every message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Sockets to listen on; never empty after validation.
    #[serde(deserialize_with = "listen_list")]
    pub listen: Vec<ListenSpec>,
    /// Extra host names and IP addresses this server treats as itself (for example a public name
    /// or a NAT's external address), besides its listener addresses.
    pub aliases: Vec<String>,
    /// Largest SIP message accepted, in bytes; bigger messages on stream transports are rejected.
    pub max_message_size: u32,
    /// Value of the `Server` / `User-Agent` header; empty means the header is not sent.
    pub server_header: String,
    /// Seconds of silence after which an inbound TCP connection is closed.
    pub tcp_idle_timeout_secs: u64,
    /// Sockets bound to each UDP listener address (with `SO_REUSEPORT`), each with its own
    /// receive task; 0 means one per CPU core.
    pub udp_shards: u16,
    /// SIP shards: each runs its own transaction engine and proxy on its own task, and every
    /// message goes to the shard its Call-ID hashes to; 0 means one per CPU core.
    pub shards: u16,
    /// Milliseconds a new INVITE or REGISTER may wait for its shard before it is refused with
    /// 503 and Retry-After (overload control, RFC 6357); requests of admitted calls are
    /// always served.
    pub overload_wait_ms: u32,
    /// Move UDP datagrams a batch per system call (`recvmmsg`/`sendmmsg`); `false` means one
    /// `recvfrom`/`sendto` per datagram.
    pub udp_batch: bool,
    /// Most stream connections (TCP, TLS, WS, WSS) open at once.
    pub max_connections: u32,
    /// Most stream connections open at once from one IPv4 address or IPv6 /64.
    pub max_connections_per_ip: u32,
    /// `[sip.tls]`: certificate and client authentication for `tls` and `wss` listeners.
    pub tls: TlsConfig,
}

impl SipConfig {
    /// Allowed values of `sip.max_message_size`: below 1 KiB even a REGISTER with a few
    /// headers may not fit; above 1 MiB one connection could pin too much memory.
    pub const MAX_MESSAGE_SIZE_RANGE: RangeInclusive<u32> = 1024..=1_048_576;
    /// Allowed values of `sip.tcp_idle_timeout_secs` (at most one day, so deadline arithmetic
    /// never overflows).
    pub const TCP_IDLE_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=86_400;
    /// Allowed values of `sip.udp_shards` (0 = one per CPU core).
    pub const UDP_SHARDS_RANGE: RangeInclusive<u16> = 0..=1024;
    /// Allowed values of `sip.shards` (0 = one per CPU core).
    pub const SHARDS_RANGE: RangeInclusive<u16> = 0..=256;
    /// Allowed values of `sip.overload_wait_ms`: below 10 ms a scheduling hiccup would refuse
    /// calls; above 10 s the phone has retransmitted long before.
    pub const OVERLOAD_WAIT_RANGE: RangeInclusive<u32> = 10..=10_000;
    /// Allowed values of `sip.max_connections` and `sip.max_connections_per_ip`.
    pub const MAX_CONNECTIONS_RANGE: RangeInclusive<u32> = 1..=10_000_000;

    /// `tcp_idle_timeout_secs` as a [`Duration`].
    pub fn tcp_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.tcp_idle_timeout_secs)
    }

    /// `overload_wait_ms` as a [`Duration`].
    pub fn overload_wait(&self) -> Duration {
        Duration::from_millis(u64::from(self.overload_wait_ms))
    }

    /// The `Server` / `User-Agent` value to send, or `None` when disabled.
    pub fn server_header(&self) -> Option<&str> {
        Some(self.server_header.as_str()).filter(|s| !s.is_empty())
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        SipConfig {
            listen: vec![
                ListenSpec::new(Transport::Udp, SocketAddr::new(any, 5060)),
                ListenSpec::new(Transport::Tcp, SocketAddr::new(any, 5060)),
            ],
            aliases: Vec::new(),
            max_message_size: 65_535,
            server_header: "Trunkline".to_owned(),
            tcp_idle_timeout_secs: 600,
            udp_shards: 1,
            shards: 0,
            overload_wait_ms: 100,
            udp_batch: true,
            max_connections: 10_000,
            max_connections_per_ip: 100,
            tls: TlsConfig::default(),
        }
    }
}

impl SipConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::Empty { key: "sip.listen" });
        }
        for (index, spec) in self.listen.iter().enumerate() {
            // TCP, TLS, WS and WSS all take a TCP port, so `tcp:X` and `tls:X` collide too.
            // Port 0 is excluded: each such listener gets its own port from the OS.
            let same_socket = |other: &ListenSpec| {
                other.addr == spec.addr
                    && spec.addr.port() != 0
                    && other.transport.is_reliable() == spec.transport.is_reliable()
            };
            if let Some(first) = self.listen[..index].iter().position(same_socket) {
                return Err(ConfigError::DuplicateListener {
                    index,
                    spec: *spec,
                    first,
                    first_spec: self.listen[first],
                });
            }
        }
        for (index, alias) in self.aliases.iter().enumerate() {
            if !is_host(alias) {
                return Err(ConfigError::Invalid {
                    key: format!("sip.aliases[{index}]"),
                    value: alias.clone(),
                    reason: "is not a host name or IP address (write it without scheme or port)"
                        .to_owned(),
                });
            }
        }
        check_range(
            "sip.max_message_size",
            self.max_message_size,
            Self::MAX_MESSAGE_SIZE_RANGE,
        )?;
        // The value goes verbatim into a header line: CR or LF would inject headers.
        if self.server_header.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                key: "sip.server_header".to_owned(),
                value: self.server_header.clone(),
                reason: "contains a control character".to_owned(),
            });
        }
        check_range(
            "sip.tcp_idle_timeout_secs",
            self.tcp_idle_timeout_secs,
            Self::TCP_IDLE_TIMEOUT_RANGE,
        )?;
        check_range("sip.udp_shards", self.udp_shards, Self::UDP_SHARDS_RANGE)?;
        check_range("sip.shards", self.shards, Self::SHARDS_RANGE)?;
        check_range(
            "sip.overload_wait_ms",
            self.overload_wait_ms,
            Self::OVERLOAD_WAIT_RANGE,
        )?;
        check_range(
            "sip.max_connections",
            self.max_connections,
            Self::MAX_CONNECTIONS_RANGE,
        )?;
        check_range(
            "sip.max_connections_per_ip",
            self.max_connections_per_ip,
            Self::MAX_CONNECTIONS_RANGE,
        )?;
        self.tls.validate(&self.listen)
    }
}

/// An IP address (IPv6 optionally in brackets) or an RFC 3261 `hostname`.
pub(crate) fn is_host(s: &str) -> bool {
    let unbracketed = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Some(v6) = unbracketed {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // RFC 3261 `toplabel` starts with a letter, which also keeps "1.2.3" from passing as a name.
    let top_ok = name
        .rsplit('.')
        .next()
        .is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()));
    labels_ok && top_ok
}

/// Deserializes `sip.listen`: a list of listener strings, or one string for a single listener
/// (handy in `TRUNKLINE_SIP__LISTEN`).
fn listen_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ListenSpec>, D::Error> {
    struct ListVisitor;

    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<ListenSpec>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of listeners like [\"udp:0.0.0.0:5060\"]")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.parse().map_err(E::custom)?])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // Element by element, so the deserializer can put the failing index in its path.
            let mut specs = Vec::new();
            while let Some(spec) = seq.next_element::<ListenSpec>()? {
                specs.push(spec);
            }
            Ok(specs)
        }
    }

    deserializer.deserialize_any(ListVisitor)
}
