//! Where the proxy sends requests: this server's own addresses per transport (for Via and
//! Record-Route), and the destination that a registered binding or a URI names, including the
//! `alias` parameter the proxy adds to the Contacts of NATed or connection-oriented UAs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use trunkline_sip::{Host, SipUri};

use crate::config::Transport;
use crate::roles::registrar::location::Binding;
use crate::roles::registrar::location::NodeId;
use crate::transport::flow::Flows;
use crate::transport::{Arrival, Peer};

/// This server's sockets, as the proxy advertises them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interfaces {
    /// Local address of each UDP socket, by shard index.
    pub(crate) udp: Vec<SocketAddr>,
    /// Local address of each stream listener.
    pub(crate) streams: Vec<(Transport, SocketAddr)>,
    /// The address written in Via and Record-Route for a wildcard listener.
    pub(crate) advertise: Option<IpAddr>,
}

impl Interfaces {
    /// The address to advertise for `transport` in the family of `towards`.
    pub(crate) fn local(&self, transport: Transport, towards: IpAddr) -> Option<SocketAddr> {
        let same_family = |a: &SocketAddr| a.is_ipv6() == towards.is_ipv6();
        let found = match transport {
            Transport::Udp => (self.udp.iter()).find(|a| same_family(a)).copied(),
            t => (self.streams.iter())
                .filter(|(lt, _)| *lt == t)
                .map(|(_, a)| *a)
                .find(same_family),
        }?;
        Some(self.advertised(found, towards))
    }

    fn advertised(&self, mut a: SocketAddr, towards: IpAddr) -> SocketAddr {
        if a.ip().is_unspecified() {
            let fallback = match towards {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            a.set_ip(match (self.advertise, towards.is_loopback()) {
                (_, true) => fallback,
                (Some(ip), false) => ip,
                (None, false) => fallback,
            });
        }
        a
    }

    /// The UDP socket to send from towards `to` (the first of its family).
    pub(crate) fn udp_shard(&self, to: IpAddr) -> Option<usize> {
        self.udp.iter().position(|a| a.is_ipv6() == to.is_ipv6())
    }

    /// Our Via for a request leaving over `transport` towards `to`, with `branch`.
    pub(crate) fn via(&self, transport: Transport, to: IpAddr, branch: &str) -> Option<String> {
        let local = self.local(transport, to)?;
        Some(format!(
            "SIP/2.0/{} {};branch={branch};rport",
            transport.via_name(),
            host_port(local)
        ))
    }

    /// Our Record-Route value for `transport` towards `to`.
    pub(crate) fn record_route(&self, transport: Transport, to: IpAddr) -> Option<String> {
        let local = self.local(transport, to)?;
        Some(match transport {
            Transport::Udp => format!("<sip:{};lr>", host_port(local)),
            t => format!("<sip:{};transport={};lr>", host_port(local), t.as_str()),
        })
    }
}

/// `ip:port`, with brackets for IPv6.
pub(crate) fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// The transport a URI asks for (its `transport` parameter; `sips:` means TLS).
pub(crate) fn uri_transport(u: &SipUri<'_>) -> Transport {
    match u.transport().map(<[u8]>::to_ascii_lowercase).as_deref() {
        Some(b"tcp") if u.secure => Transport::Tls,
        Some(b"tcp") => Transport::Tcp,
        Some(b"tls") => Transport::Tls,
        Some(b"ws") => Transport::Ws,
        Some(b"wss") => Transport::Wss,
        _ if u.secure => Transport::Tls,
        _ => Transport::Udp,
    }
}

/// The Kamailio-compatible transport code of an `alias` parameter.
pub(crate) fn alias_code(t: Transport) -> u8 {
    match t {
        Transport::Udp => 1,
        Transport::Tcp => 2,
        Transport::Tls => 3,
        Transport::Ws => 5,
        Transport::Wss => 6,
    }
}

/// `ip~port~code`, the value of the `alias` URI parameter for a UA reached at `addr`.
pub(crate) fn alias_value(addr: SocketAddr, t: Transport) -> String {
    format!("{}~{}~{}", addr.ip(), addr.port(), alias_code(t))
}

/// Parses an `alias` value back.
pub(crate) fn parse_alias(v: &[u8]) -> Option<(SocketAddr, Transport)> {
    let s = std::str::from_utf8(v).ok()?;
    let mut it = s.split('~');
    let ip: IpAddr = it.next()?.trim_matches(['[', ']']).parse().ok()?;
    let port: u16 = it.next()?.parse().ok()?;
    let t = match it.next()? {
        "1" => Transport::Udp,
        "2" => Transport::Tcp,
        "3" => Transport::Tls,
        "5" => Transport::Ws,
        "6" => Transport::Wss,
        _ => return None,
    };
    Some((SocketAddr::new(ip, port), t))
}

/// Why a destination cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreachable {
    /// A host name: this proxy forwards only to addresses (DNS is the router's job).
    NotAnAddress,
    /// A stream destination with no open connection (the UA's flow is gone), over a
    /// transport the proxy does not open connections for (TLS, WS).
    NoFlow,
    /// No socket of this family and transport.
    NoSocket,
}

/// Whether the proxy may open a TCP connection to reach a destination. Only for requests
/// it has reason to send there (an authenticated or trusted caller's route or address, a call
/// it knows): otherwise a forged in-dialog request could make it connect anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dial {
    Allowed,
    Never,
}

/// How to reach a UA at `addr` over `transport`: the UDP socket of its family, the connection
/// it opened, or with `dial` a new TCP connection.
pub(crate) fn peer_for(
    ifaces: &Interfaces,
    flows: &Arc<Flows>,
    addr: SocketAddr,
    transport: Transport,
    dial: Dial,
) -> Result<Peer, Unreachable> {
    let arrival = match (transport, dial) {
        (Transport::Udp, _) => {
            Arrival::Udp(ifaces.udp_shard(addr.ip()).ok_or(Unreachable::NoSocket)?)
        }
        (t, Dial::Allowed) => match flows.find(t, addr) {
            Some(id) => Arrival::Flow(id),
            // The driver connects when the message leaves.
            None if flows.dials(t) => Arrival::Dial,
            None => return Err(Unreachable::NoFlow),
        },
        (t, Dial::Never) => Arrival::Flow(flows.find(t, addr).ok_or(Unreachable::NoFlow)?),
    };
    Ok(Peer {
        arrival,
        addr,
        transport,
    })
}

/// A registered binding is reached where its REGISTER came from (the NAT's public side), over
/// the connection it came on when that is still open and this node holds it.
pub(crate) fn peer_for_binding(
    ifaces: &Interfaces,
    flows: &Arc<Flows>,
    b: &Binding,
) -> Result<Peer, Unreachable> {
    let r = &b.received;
    match (r.transport, r.flow) {
        (Transport::Udp, _) => peer_for(ifaces, flows, r.source, Transport::Udp, Dial::Never),
        (t, Some(f)) if f.node == NodeId::LOCAL && flows.is_open(f.id) => Ok(Peer {
            arrival: Arrival::Flow(f.id),
            addr: r.source,
            transport: t,
        }),
        (t, _) => peer_for(ifaces, flows, r.source, t, Dial::Never),
    }
}

/// Where a URI (a Route value or an in-dialog Request-URI) leads: its `alias` if it has one,
/// else its host and port.
pub(crate) fn peer_for_uri(
    ifaces: &Interfaces,
    flows: &Arc<Flows>,
    u: &SipUri<'_>,
    dial: Dial,
) -> Result<Peer, Unreachable> {
    if let Some(Some(v)) = u.params.get("alias")
        && let Some((addr, t)) = parse_alias(v)
    {
        return peer_for(ifaces, flows, addr, t, dial);
    }
    let ip = match u.host {
        Host::Domain(_) => return Err(Unreachable::NotAnAddress),
        h => h.ip().ok_or(Unreachable::NotAnAddress)?,
    };
    let t = uri_transport(u);
    let default_port = if matches!(t, Transport::Tls | Transport::Wss) {
        5061
    } else {
        5060
    };
    peer_for(
        ifaces,
        flows,
        SocketAddr::new(ip, u.port.unwrap_or(default_port)),
        t,
        dial,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_round_trip() {
        let a: SocketAddr = "[2001:db8::1]:5070".parse().unwrap();
        let v = alias_value(a, Transport::Ws);
        assert_eq!(v, "2001:db8::1~5070~5");
        assert_eq!(parse_alias(v.as_bytes()), Some((a, Transport::Ws)));
        assert_eq!(parse_alias(b"1.2.3.4~5060~4"), None);
        assert_eq!(parse_alias(b"x~5060~1"), None);
    }

    #[test]
    fn advertised_addresses() {
        let i = Interfaces {
            udp: vec!["0.0.0.0:5060".parse().unwrap()],
            streams: vec![(Transport::Tcp, "127.0.0.1:5061".parse().unwrap())],
            advertise: Some("192.0.2.7".parse().unwrap()),
        };
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            i.record_route(Transport::Udp, far).as_deref(),
            Some("<sip:192.0.2.7:5060;lr>")
        );
        assert_eq!(
            i.record_route(Transport::Tcp, lo).as_deref(),
            Some("<sip:127.0.0.1:5061;transport=tcp;lr>")
        );
        assert_eq!(
            i.via(Transport::Udp, lo, "z9hG4bKx").as_deref(),
            Some("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx;rport")
        );
        assert!(i.local(Transport::Ws, lo).is_none());
        assert!(i.udp_shard("::1".parse().unwrap()).is_none());
    }
}
