//! SIP listener addresses: `Transport` and `ListenSpec` (`udp:0.0.0.0:5060`), parsed from config strings.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A SIP transport a listener can speak (RFC 3261 section 18, RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS (`sips:`).
    Tls,
    /// SIP over WebSocket (RFC 7118).
    Ws,
    /// SIP over secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// Every transport, in the order operators see them in messages.
    pub const ALL: [Transport; 5] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];

    /// The lowercase name used in config (`udp`, `tcp`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    /// The transport token of a `Via` header (RFC 3261 section 20.42, RFC 7118 section 5).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Whether the transport delivers in order without loss, which RFC 3261 section 17 uses to
    /// decide whether transactions retransmit.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A config string named no known transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (expected udp, tcp, tls, ws, wss)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTransport(s.to_owned()))
    }
}

/// One SIP listener: a transport and the local socket address to bind.
///
/// Written `TRANSPORT:IP:PORT`, IPv6 in brackets: `udp:0.0.0.0:5060`, `tcp:[::1]:5060`.
/// Listeners bind to IP addresses, never host names, so what the server binds is exactly what the
/// operator wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    /// The SIP transport spoken on this socket.
    pub transport: Transport,
    /// The local address to bind; port 0 asks the OS for a free port.
    pub addr: SocketAddr,
}

impl ListenSpec {
    /// Builds a listener spec from its parts.
    pub fn new(transport: Transport, addr: SocketAddr) -> Self {
        ListenSpec { transport, addr }
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SocketAddr's Display already brackets IPv6 addresses.
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// Why a listener string did not parse; every message starts with the string as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenSpecError {
    /// Nothing was written.
    #[error("\"\" is empty (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")")]
    Empty,
    /// The string starts with an address, not a transport.
    #[error("{input:?} has no transport (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")")]
    MissingTransport {
        /// The string as written.
        input: String,
    },
    /// A transport without an address.
    #[error(
        "{input:?} is missing an address and port (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")"
    )]
    MissingAddress {
        /// The string as written.
        input: String,
    },
    /// The transport name is not one we know.
    #[error("{input:?}: {error}")]
    UnknownTransport {
        /// The string as written.
        input: String,
        /// The unknown name.
        error: UnknownTransport,
    },
    /// An IP address without a port.
    #[error("{input:?} is missing a port{}", if *.ipv6 { " (write IPv6 addresses in brackets, e.g. \"udp:[::1]:5060\")" } else { "" })]
    MissingPort {
        /// The string as written.
        input: String,
        /// The address is IPv6 without brackets, so the last group may have been meant as port.
        ipv6: bool,
    },
    /// The port is not a number in 0..=65535.
    #[error("{input:?}: port {port:?} is not a number in 0..=65535")]
    BadPort {
        /// The string as written.
        input: String,
        /// The port part as written.
        port: String,
    },
    /// The host part is not an IP address (host names are not resolved for binding).
    #[error(
        "{input:?}: {host:?} is not an IP address (listeners bind to IP addresses, not host names)"
    )]
    BadAddress {
        /// The string as written.
        input: String,
        /// The host part as written.
        host: String,
    },
}

impl FromStr for ListenSpec {
    type Err = ListenSpecError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ListenSpecError::Empty);
        }
        let owned = || s.to_owned();
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(if s.parse::<Transport>().is_ok() {
                ListenSpecError::MissingAddress { input: owned() }
            } else if s.parse::<IpAddr>().is_ok() || s.starts_with('[') {
                ListenSpecError::MissingTransport { input: owned() }
            } else {
                ListenSpecError::UnknownTransport {
                    input: owned(),
                    error: UnknownTransport(s.to_owned()),
                }
            });
        };
        // "0.0.0.0:5060", "[::1]:5060" and "::1" start with an address rather than a name.
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ListenSpecError::MissingTransport { input: owned() });
        }
        let transport =
            scheme
                .parse::<Transport>()
                .map_err(|error| ListenSpecError::UnknownTransport {
                    input: owned(),
                    error,
                })?;
        if let Ok(addr) = rest.parse::<SocketAddr>() {
            return Ok(ListenSpec { transport, addr });
        }
        if rest.trim().is_empty() {
            return Err(ListenSpecError::MissingAddress { input: owned() });
        }
        Err(diagnose_addr(s, rest))
    }
}

/// Explains why `rest` (the part after the transport) is not an `IP:PORT`.
fn diagnose_addr(input: &str, rest: &str) -> ListenSpecError {
    let input = input.to_owned();
    let unbracketed = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(rest);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return ListenSpecError::MissingPort {
            input,
            ipv6: ip.is_ipv6() && !rest.starts_with('['),
        };
    }
    let Some((host, port)) = rest.rsplit_once(':') else {
        return ListenSpecError::BadAddress {
            input,
            host: rest.to_owned(),
        };
    };
    let host_is_ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map_or_else(
            || host.parse::<std::net::Ipv4Addr>().is_ok(),
            |h| h.parse::<std::net::Ipv6Addr>().is_ok(),
        );
    if host_is_ip {
        ListenSpecError::BadPort {
            input,
            port: port.to_owned(),
        }
    } else {
        ListenSpecError::BadAddress {
            input,
            host: host.to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for ListenSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;

        impl Visitor<'_> for SpecVisitor {
            type Value = ListenSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a listener string like \"udp:0.0.0.0:5060\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ListenSpec, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(SpecVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_ipv6() {
        let table = [
            ("udp:127.0.0.1:5070", Transport::Udp, "127.0.0.1:5070"),
            ("tcp:[::1]:5060", Transport::Tcp, "[::1]:5060"),
            ("tls:0.0.0.0:5061", Transport::Tls, "0.0.0.0:5061"),
            ("ws:[2001:db8::1]:8088", Transport::Ws, "[2001:db8::1]:8088"),
            ("wss:10.0.0.1:8089", Transport::Wss, "10.0.0.1:8089"),
            ("UDP:127.0.0.1:0", Transport::Udp, "127.0.0.1:0"),
            (" udp:127.0.0.1:5060 ", Transport::Udp, "127.0.0.1:5060"),
        ];
        for (input, transport, addr) in table {
            let spec: ListenSpec = input.parse().unwrap();
            assert_eq!(spec.transport, transport, "{input}");
            assert_eq!(spec.addr, addr.parse::<SocketAddr>().unwrap(), "{input}");
        }
    }

    #[test]
    fn displays_as_written() {
        for s in [
            "udp:0.0.0.0:5060",
            "tcp:[::1]:5060",
            "wss:[2001:db8::1]:443",
        ] {
            assert_eq!(s.parse::<ListenSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn errors_name_the_value() {
        let table = [
            ("udp:1.2.3.4", "\"udp:1.2.3.4\" is missing a port"),
            ("udp:[::1]", "\"udp:[::1]\" is missing a port"),
            (
                "udp:::1:5060",
                "\"udp:::1:5060\" is missing a port (write IPv6 addresses in brackets, e.g. \"udp:[::1]:5060\")",
            ),
            (
                "sctp:1.2.3.4:5060",
                "\"sctp:1.2.3.4:5060\": unknown transport \"sctp\" (expected udp, tcp, tls, ws, wss)",
            ),
            (
                "1.2.3.4:5060",
                "\"1.2.3.4:5060\" has no transport (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "[::1]:5060",
                "\"[::1]:5060\" has no transport (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "1.2.3.4",
                "\"1.2.3.4\" has no transport (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "udp:1.2.3.4:99999",
                "\"udp:1.2.3.4:99999\": port \"99999\" is not a number in 0..=65535",
            ),
            (
                "tcp:[::1]:x",
                "\"tcp:[::1]:x\": port \"x\" is not a number in 0..=65535",
            ),
            (
                "udp:sip.example.com:5060",
                "\"udp:sip.example.com:5060\": \"sip.example.com\" is not an IP address (listeners bind to IP addresses, not host names)",
            ),
            (
                "udp:localhost",
                "\"udp:localhost\": \"localhost\" is not an IP address (listeners bind to IP addresses, not host names)",
            ),
            (
                "",
                "\"\" is empty (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "udp",
                "\"udp\" is missing an address and port (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "tcp:",
                "\"tcp:\" is missing an address and port (expected TRANSPORT:IP:PORT, e.g. \"udp:0.0.0.0:5060\")",
            ),
            (
                "foo",
                "\"foo\": unknown transport \"foo\" (expected udp, tcp, tls, ws, wss)",
            ),
        ];
        for (input, want) in table {
            let err = input.parse::<ListenSpec>().unwrap_err();
            assert_eq!(err.to_string(), want, "{input}");
        }
    }

    #[test]
    fn transport_names() {
        assert_eq!(Transport::Wss.to_string(), "wss");
        assert_eq!(Transport::Wss.via_name(), "WSS");
        assert_eq!(Transport::Tcp.via_name(), "TCP");
        assert!(!Transport::Udp.is_reliable());
        assert!(Transport::Ws.is_reliable());
        assert_eq!("TLS".parse::<Transport>(), Ok(Transport::Tls));
    }
}
