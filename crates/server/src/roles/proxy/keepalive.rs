//! NAT keep-alives: every `proxy.nat_ping_interval_secs`, a ping (OPTIONS or CRLF CRLF) to
//! each UDP binding behind NAT, from the socket its calls leave from, so that the phone's
//! pinhole stays open between registrations. Pings are spread evenly over the interval (each
//! binding has its own second in it, from a hash), so that a million bindings do not all get
//! theirs in the same second. Answers to the OPTIONS match no transaction and are dropped.

use bytes::Bytes;
use trunkline_sip::{Host, Method, RequestBuilder, Uri};

use super::target::{self, host_port};
use super::{Env, Proxy};
use crate::config::{NatPing, Transport};
use crate::roles::registrar::location::Binding;

impl Proxy {
    /// Sends the keep-alives due this second; called about once a second.
    pub(crate) fn keepalive(&mut self, env: &mut Env<'_>) {
        let interval = u64::from(self.config.nat_ping_interval_secs);
        if interval == 0 {
            return;
        }
        let slot = (env.now_ms / 1000) % interval;
        let all = self.config.nat_ping_all_udp;
        let registrar = env.shared.registrar();
        for (_, bindings) in registrar.location().iter() {
            for b in bindings {
                // The slot first: a hash, where needs_ping parses the Contact.
                if ping_slot(&b.contact, interval) != slot
                    || b.expires_at <= env.now_ms
                    || !needs_ping(b, all)
                {
                    continue;
                }
                let Ok(peer) = target::peer_for_binding(&self.ifaces, env.flows, b) else {
                    continue;
                };
                let ping = match self.config.nat_ping_method {
                    NatPing::Crlf => Some(Bytes::from_static(b"\r\n\r\n")),
                    NatPing::Options => {
                        let n = self.bump_branch();
                        let ip = peer.addr.ip();
                        let via = self
                            .ifaces
                            .via(Transport::Udp, ip, &format!("z9hG4bK-ka{n:x}"));
                        let local = self.ifaces.local(Transport::Udp, ip);
                        via.zip(local).map(|(via, local)| {
                            Bytes::from(options_ping(&b.contact, &via, local, n))
                        })
                    }
                };
                if let Some(ping) = ping {
                    env.out.send(peer, ping);
                }
            }
        }
    }
}

/// Whether binding `b` gets keep-alives: a UDP binding whose Contact is not the address its
/// REGISTER came from (the phone is behind NAT), or any UDP binding with `all`.
fn needs_ping(b: &Binding, all: bool) -> bool {
    if b.received.transport != Transport::Udp {
        // A stream binding lives on its connection; the client keeps that alive (RFC 5626).
        return false;
    }
    if all {
        return true;
    }
    let Ok(Uri::Sip(u)) = Uri::parse(b.contact.as_bytes()) else {
        return true;
    };
    let ip = match u.host {
        Host::V4(a) => std::net::IpAddr::V4(a),
        Host::V6(a) => std::net::IpAddr::V6(a),
        Host::Domain(_) => return true,
    };
    let src = b.received.source;
    ip != src.ip() || u.port.unwrap_or(5060) != src.port()
}

/// The second of the interval in which `contact` is pinged (FNV-1a of the Contact).
fn ping_slot(contact: &str, interval: u64) -> u64 {
    let hash = (contact.bytes()).fold(0xcbf2_9ce4_8422_2325_u64, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % interval
}

/// An OPTIONS keep-alive to `contact` with our `via`, from `local` (RFC 3261 §11).
fn options_ping(contact: &str, via: &str, local: std::net::SocketAddr, n: u64) -> Vec<u8> {
    let me = host_port(local);
    RequestBuilder::new(Method::Options, contact)
        .header("Via", via)
        .header("Max-Forwards", "70")
        .header("From", &format!("<sip:keepalive@{me}>;tag=ka{n:x}"))
        .header("To", &format!("<{contact}>"))
        .header("Call-ID", &format!("ka{n:x}@{me}"))
        .header("CSeq", "1 OPTIONS")
        .finish(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::registrar::location::{BindingKey, Received};

    fn binding(contact: &str, source: &str, transport: Transport) -> Binding {
        Binding {
            key: BindingKey::Contact(contact.to_owned()),
            contact: contact.to_owned(),
            q: 1000,
            expires_at: u64::MAX,
            call_id: "c".to_owned(),
            cseq: 1,
            path: Vec::new(),
            received: Received {
                source: source.parse().unwrap(),
                transport,
                flow: None,
            },
            instance: None,
            reg_id: None,
            user_agent: None,
        }
    }

    #[test]
    fn only_udp_bindings_behind_nat_are_pinged() {
        let natted = binding(
            "sip:1001@192.168.1.20:5060",
            "203.0.113.7:40312",
            Transport::Udp,
        );
        let port_mapped = binding("sip:1001@203.0.113.7", "203.0.113.7:40312", Transport::Udp);
        let named = binding("sip:1001@phone.example", "203.0.113.7:5060", Transport::Udp);
        let direct = binding(
            "sip:1001@203.0.113.7:5070",
            "203.0.113.7:5070",
            Transport::Udp,
        );
        let default_port = binding("sip:1001@203.0.113.7", "203.0.113.7:5060", Transport::Udp);
        let tcp = binding(
            "sip:1001@192.168.1.20;transport=tcp",
            "203.0.113.7:40312",
            Transport::Tcp,
        );
        assert!(needs_ping(&natted, false));
        assert!(needs_ping(&port_mapped, false));
        assert!(needs_ping(&named, false));
        assert!(!needs_ping(&direct, false));
        assert!(!needs_ping(&default_port, false));
        assert!(needs_ping(&direct, true));
        assert!(!needs_ping(&tcp, true));
    }

    #[test]
    fn pings_are_spread_over_the_interval() {
        let interval = 30;
        let mut per_slot = vec![0u32; interval as usize];
        for n in 0..3000 {
            let slot = ping_slot(&format!("sip:{n}@10.0.0.{}:5060", n % 250), interval);
            per_slot[slot as usize] += 1;
        }
        // 100 per second on average; no second gets more than twice that.
        assert!(
            per_slot.iter().all(|&c| (30..=200).contains(&c)),
            "{per_slot:?}"
        );
    }

    #[test]
    fn the_options_ping_is_a_valid_request() {
        let ping = options_ping(
            "sip:1001@192.168.1.20:5060",
            "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-ka7;rport",
            "198.51.100.1:5060".parse().unwrap(),
            7,
        );
        let msg = trunkline_sip::Message::parse(&ping).unwrap();
        assert_eq!(msg.method(), Some(trunkline_sip::Method::Options));
        assert!(trunkline_sip::check(&msg).is_ok());
    }
}
