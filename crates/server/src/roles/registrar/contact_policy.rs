//! Which contact addresses the registrar binds (issue 19, finding 3). A binding is where calls
//! for a user go, so a subscriber must not be able to point one at no host, at many hosts, back
//! at this server, or into a network it does not sit in.
//!
//! Refused always (403): the unspecified address (`0.0.0.0`, `::`), multicast (224.0.0.0/4,
//! ff00::/8), broadcast (255.255.255.255), and this server's own SIP sockets (a loop: each
//! request forwarded there would come back to be forwarded again). Loopback contacts are bound
//! only for a REGISTER that came from loopback itself (a phone on this host). Private and
//! link-local contacts (RFC 1918, 100.64.0.0/10, 169.254.0.0/16, fc00::/7, fe80::/10) are bound
//! only behind NAT — the REGISTER came from another address, where requests are sent — unless
//! `registrar.allow_private_contacts` says the phones share a private network with the server.
//! Kamailio's registrar leaves this to the script (`sanity_check`, `nat_uac_test`); answering
//! 403 with a reason phrase as for other policy refusals is what its examples do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A contact's address, when its host is an IP literal (names are not resolved here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactAddr {
    /// The host.
    pub ip: IpAddr,
    /// The port, if the URI has one.
    pub port: Option<u16>,
    /// A `sips:` URI (default port 5061).
    pub secure: bool,
}

/// The registrar's rules for contact addresses.
#[derive(Debug, Clone, Default)]
pub struct ContactPolicy {
    /// This server's SIP sockets; an unspecified IP stands for loopback and `advertise`.
    own: Vec<SocketAddr>,
    /// The address written into Via/Record-Route for wildcard listeners.
    advertise: Option<IpAddr>,
    /// Bind private contacts that are the REGISTER's own source.
    allow_private: bool,
}

/// Loopback, private, shared (CGNAT) or link-local.
fn local_scope(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

impl ContactPolicy {
    /// A policy that binds private contacts from their own address when `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            ..Self::default()
        }
    }

    /// Knows this server's bound SIP sockets and advertised address, so contacts naming them
    /// are refused as loops.
    pub fn with_own_sockets(mut self, own: Vec<SocketAddr>, advertise: Option<IpAddr>) -> Self {
        self.own = own;
        self.advertise = advertise;
        self
    }

    fn is_own(&self, ip: IpAddr, port: u16) -> bool {
        self.own.iter().any(|s| {
            s.port() == port
                && (s.ip() == ip
                    || (s.ip().is_unspecified()
                        && s.is_ipv4() == ip.is_ipv4()
                        && (ip.is_loopback() || Some(ip) == self.advertise)))
        })
    }

    /// `Err(reason phrase)` for a contact at `c` in a REGISTER from `source`.
    pub fn check(&self, c: ContactAddr, source: SocketAddr) -> Result<(), &'static str> {
        let ip = c.ip.to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err("Forbidden (Contact Address)");
        }
        let port = c.port.unwrap_or(if c.secure { 5061 } else { 5060 });
        if self.is_own(ip, port) {
            return Err("Forbidden (Contact Is This Server)");
        }
        if !local_scope(ip) || self.allow_private {
            return Ok(());
        }
        let from = source.ip().to_canonical();
        let allowed = match ip.is_loopback() {
            // A loopback contact means this host: only a phone on this host may name it.
            true => from.is_loopback(),
            // Behind NAT: requests go to the source, never to the private contact.
            false => from != ip,
        };
        match allowed {
            true => Ok(()),
            false => Err("Forbidden (Private Contact)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> ContactAddr {
        let a: SocketAddr = s.parse().unwrap();
        ContactAddr {
            ip: a.ip(),
            port: Some(a.port()),
            secure: false,
        }
    }

    fn src(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn never_nowhere_everywhere_or_here() {
        let p = ContactPolicy::new(true).with_own_sockets(
            vec![src("127.0.0.70:5060"), src("0.0.0.0:5070")],
            "198.51.100.9".parse().ok(),
        );
        let phone = src("203.0.113.7:40000");
        for bad in [
            "0.0.0.0:5060",
            "[::]:5060",
            "224.0.0.1:5060",
            "239.1.2.3:5060",
            "[ff02::1]:5060",
            "[::ffff:224.0.0.1]:5060",
            "255.255.255.255:5060",
        ] {
            assert_eq!(
                p.check(at(bad), phone),
                Err("Forbidden (Contact Address)"),
                "{bad}"
            );
        }
        for own in ["127.0.0.70:5060", "127.0.0.1:5070", "198.51.100.9:5070"] {
            assert_eq!(
                p.check(at(own), src("127.0.0.1:5000")),
                Err("Forbidden (Contact Is This Server)"),
                "{own}"
            );
        }
        let no_port = ContactAddr {
            port: None,
            ..at("127.0.0.70:1")
        };
        assert!(
            p.check(no_port, src("127.0.0.70:9")).is_err(),
            "5060 by default"
        );
        assert!(
            p.check(at("127.0.0.70:5062"), src("127.0.0.1:5062"))
                .is_ok()
        );
        assert!(p.check(at("203.0.113.7:5060"), phone).is_ok());
    }

    #[test]
    fn private_only_behind_nat_loopback_only_from_loopback() {
        let p = ContactPolicy::new(false);
        // Behind NAT: the binding is reached at the source.
        assert!(
            p.check(at("192.168.1.20:5060"), src("203.0.113.7:40000"))
                .is_ok()
        );
        assert!(
            p.check(at("10.0.0.5:5060"), src("192.0.2.10:40000"))
                .is_ok()
        );
        // Not behind NAT: a private address registered from itself.
        for own_net in [
            "192.168.1.20:5060",
            "10.1.2.3:5060",
            "100.64.0.1:5060",
            "[fd00::1]:5060",
        ] {
            let c = at(own_net);
            let from = SocketAddr::new(c.ip, 5060);
            assert_eq!(
                p.check(c, from),
                Err("Forbidden (Private Contact)"),
                "{own_net}"
            );
            assert!(ContactPolicy::new(true).check(c, from).is_ok(), "{own_net}");
        }
        // Loopback: a phone on this host, as in every test of this suite.
        assert!(p.check(at("127.0.0.1:5999"), src("127.0.0.1:5999")).is_ok());
        assert!(p.check(at("127.0.0.1:5999"), src("127.0.0.2:5999")).is_ok());
        assert_eq!(
            p.check(at("127.0.0.1:5060"), src("203.0.113.7:40000")),
            Err("Forbidden (Private Contact)")
        );
        assert_eq!(
            p.check(at("[::1]:5060"), src("[2001:db8::7]:5060")),
            Err("Forbidden (Private Contact)")
        );
    }
}
