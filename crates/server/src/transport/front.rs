//! The front door: validates every request at the wire and answers what can be answered
//! before routing exists (RFC 3261 §8.2, §16.3, RFC 4475). Sans-IO: bytes and a source
//! address in, at most one response and its destination out.

use std::net::{IpAddr, SocketAddr};

use trunkline_sip::{Defect, HeaderName, Host, Message, Method, ParseError, ResponseBuilder, Uri};

use crate::config::{SipConfig, Transport};
use crate::transport::{response_destination, via_received};

/// Methods a request may carry that Trunkline understands (the proxy forwards them all).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, REFER, NOTIFY, SUBSCRIBE, MESSAGE";

/// Body types Trunkline accepts.
pub const ACCEPT: &str = "application/sdp";

/// Option tags Trunkline implements (RFC 3261 §19.2): the registrar's Path (RFC 3327),
/// SIP Outbound (RFC 5626) and GRUU (RFC 5627).
const SUPPORTED: &[&str] = &["path", "outbound", "gruu"];

/// What to do with one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send nothing; the reason is for logs and counters.
    Drop(&'static str),
    /// Send this response.
    Reply(Reply),
    /// A valid request for the roles behind the front door (registrar, router).
    Route,
}

/// A response and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code, for logs.
    pub code: u16,
    /// The serialized response.
    pub bytes: Vec<u8>,
    /// Where to send it on an unreliable transport (RFC 3261 §18.2.2, RFC 3581). On a
    /// connection the response goes back over the connection it came from.
    pub destination: SocketAddr,
}

/// The names and ports under which this server is addressed.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    hosts: Vec<String>,
    ips: Vec<IpAddr>,
    wildcard: bool,
    ports: Vec<u16>,
    server_header: Option<String>,
}

impl FrontDoor {
    /// Builds the local identity from the SIP config: aliases, listener addresses, and for
    /// wildcard listeners the loopback addresses.
    pub fn new(sip: &SipConfig) -> FrontDoor {
        let mut ips = Vec::new();
        let mut wildcard = false;
        let mut ports = Vec::new();
        for l in &sip.listen {
            if l.addr.ip().is_unspecified() {
                wildcard = true;
            } else {
                ips.push(l.addr.ip());
            }
            ports.push(l.addr.port());
        }
        let mut hosts = Vec::new();
        for a in &sip.aliases {
            match a.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => hosts.push(a.to_ascii_lowercase()),
            }
        }
        FrontDoor {
            hosts,
            ips,
            wildcard,
            ports,
            server_header: sip.server_header().map(str::to_owned),
        }
    }

    /// Ports the listeners are bound to, once known (port 0 in config resolves at bind time).
    pub fn set_ports(&mut self, ports: Vec<u16>) {
        self.ports = ports;
    }

    /// Handles one message as received from `source` over `transport`, outside any
    /// transaction.
    /// With no role behind it, a request the front door lets through is answered 404.
    pub fn handle(&self, bytes: &[u8], source: SocketAddr, transport: Transport) -> Outcome {
        match self.handle_in(bytes, source, transport, TxContext::default()) {
            Outcome::Route => match Message::parse(bytes) {
                Ok(msg) => self.not_found(&msg, source, transport),
                Err(_) => Outcome::Drop("unparseable"),
            },
            other => other,
        }
    }

    /// Handles a request the transaction layer delivered, with what it knows about it.
    pub fn handle_in(
        &self,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
        ctx: TxContext,
    ) -> Outcome {
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(bytes, e, source, transport),
        };
        self.screen(&msg, source, transport, ctx)
    }

    /// The front door's checks on a parsed message: an answer, a drop, or [`Outcome::Route`]
    /// for a valid request the roles must handle.
    pub fn screen(
        &self,
        msg: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        ctx: TxContext,
    ) -> Outcome {
        if !msg.is_request() {
            // Without transactions every response is unsolicited (RFC 3261 §18.1.2).
            return Outcome::Drop("unsolicited response");
        }
        if msg.method() == Some(Method::Ack) {
            // Never answered; ACKs for our non-2xx finals are absorbed here.
            return Outcome::Drop("ACK");
        }
        match trunkline_sip::check(msg) {
            Ok(()) => {}
            Err(Defect::Version(_)) => {
                return self.reply(msg, source, transport, 505, "Version Not Supported", &[]);
            }
            Err(d) => {
                let reason = format!("Bad Request ({d})");
                return self.reply(msg, source, transport, 400, &reason, &[]);
            }
        }
        if ctx.merged {
            // RFC 3261 §8.2.2.2: the same request arrived by another path.
            return self.reply(msg, source, transport, 482, "Loop Detected", &[]);
        }
        self.route(msg, source, transport, ctx)
    }

    /// Policy for a well-formed request, in the order of RFC 3261 §16.3 then §8.2.
    fn route(
        &self,
        msg: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        ctx: TxContext,
    ) -> Outcome {
        let Some(rl) = msg.request_line() else {
            return Outcome::Drop("not a request");
        };
        let uri = match Uri::parse(rl.uri) {
            Ok(u) => u,
            Err(_) => return Outcome::Drop("unparseable Request-URI"),
        };
        let sip_uri = match &uri {
            Uri::Sip(u) => Some(u),
            Uri::Tel(_) => None,
            Uri::Absolute(_) => {
                return self.reply(msg, source, transport, 416, "Unsupported URI Scheme", &[]);
            }
        };
        let to_us = sip_uri.is_some_and(|u| self.is_local(&u.host, u.port));
        let options_to_us = to_us
            && msg.method() == Some(Method::Options)
            && sip_uri.is_some_and(|u| u.user.is_none());
        // Max-Forwards guards forwarding; a request this server answers itself is not
        // forwarded (RFC 3261 §16.3 item 3 lets an OPTIONS to the proxy be answered).
        if matches!(msg.max_forwards(), Ok(Some(0))) && !options_to_us {
            return self.reply(msg, source, transport, 483, "Too Many Hops", &[]);
        }
        // §16.3 item 4: a request carrying one of our own Vias with an unchanged loop hash has
        // come back to us: a loop, not a spiral.
        if trunkline_proto::branch::is_loop(msg, |via| self.is_local(&via.host, via.port)) {
            return self.reply(msg, source, transport, 482, "Loop Detected", &[]);
        }
        let mut unsupported: Vec<&str> = unknown_tags(msg, HeaderName::ProxyRequire);
        if to_us {
            unsupported.extend(unknown_tags(msg, HeaderName::Require));
        }
        if !unsupported.is_empty() {
            let list = unsupported.join(", ");
            return self.reply(
                msg,
                source,
                transport,
                420,
                "Bad Extension",
                &[("Unsupported", &list)],
            );
        }
        match msg.method() {
            Some(Method::Options) if options_to_us => self.reply(
                msg,
                source,
                transport,
                200,
                "OK",
                &[
                    ("Allow", ALLOW),
                    ("Accept", ACCEPT),
                    ("Supported", &SUPPORTED.join(", ")),
                ],
            ),
            // §9.2: a CANCEL that matches a transaction is answered 200 whatever the state of
            // the INVITE (here always already answered, as nothing is forwarded yet).
            Some(Method::Cancel) if ctx.cancel_matched => {
                self.reply(msg, source, transport, 200, "OK", &[])
            }
            Some(Method::Cancel) => self.reply(
                msg,
                source,
                transport,
                481,
                "Call/Transaction Does Not Exist",
                &[],
            ),
            Some(Method::Extension(_)) => self.reply(
                msg,
                source,
                transport,
                501,
                "Not Implemented",
                &[("Allow", ALLOW)],
            ),
            _ => Outcome::Route,
        }
    }

    /// 404 for a request no role could place.
    pub fn not_found(
        &self,
        msg: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
    ) -> Outcome {
        self.reply(msg, source, transport, 404, "Not Found", &[])
    }

    /// Whether `host:port` names this server (a listener address or an alias).
    pub(crate) fn is_local(&self, host: &Host<'_>, port: Option<u16>) -> bool {
        let port_ok = self.ports.contains(&port.unwrap_or(5060));
        let host_ok = match host {
            Host::Domain(d) => {
                self.hosts.iter().any(|h| h.eq_ignore_ascii_case(d))
                    || (self.wildcard && d.eq_ignore_ascii_case("localhost"))
            }
            other => other
                .ip()
                .is_some_and(|ip| self.ips.contains(&ip) || (self.wildcard && (ip.is_loopback()))),
        };
        host_ok && port_ok
    }

    /// A message that does not parse: a 400 when enough of a request survives to address
    /// one, silence otherwise (RFC 3261 §16.3: garbage and broken responses are dropped).
    /// Stream transports call it when framing fails.
    pub fn reject(
        &self,
        bytes: &[u8],
        err: ParseError,
        source: SocketAddr,
        transport: Transport,
    ) -> Outcome {
        match Message::parse_head(bytes) {
            Ok(head) if head.is_request() && head.method() != Some(Method::Ack) => {
                if head.header(HeaderName::Via).is_none() {
                    return Outcome::Drop("malformed request without Via");
                }
                let reason = format!("Bad Request ({})", err.kind);
                self.reply(&head, source, transport, 400, &reason, &[])
            }
            _ => Outcome::Drop("malformed message"),
        }
    }

    /// A response to `req` with `headers` (and the configured Server header).
    pub fn reply(
        &self,
        req: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        code: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let top = req.top_via().ok();
        let via = via_received(top.as_ref(), source);
        let tag = format!("{:016x}", rand::random::<u64>());
        let mut b = ResponseBuilder::new(req, code, reason, Some(&tag), via);
        for (name, value) in headers {
            b = b.header(name, value);
        }
        if let Some(server) = &self.server_header {
            b = b.header("Server", server);
        }
        let destination = response_destination(top.as_ref(), source, transport);
        Outcome::Reply(Reply {
            code,
            bytes: b.finish(None),
            destination,
        })
    }
}

/// `503 Service Unavailable` with `Retry-After` for a request that arrived while the core's
/// queue was full; `None` for anything that must not be answered (responses, ACKs, garbage).
/// Works from the head alone, so it stays cheap when the server is busiest.
pub fn overloaded(
    bytes: &[u8],
    source: SocketAddr,
    transport: Transport,
    retry_after: u32,
) -> Option<Reply> {
    let head = Message::parse_head(bytes).ok()?;
    if !head.is_request() || head.method() == Some(Method::Ack) {
        return None;
    }
    let top = head.top_via().ok()?;
    let via = via_received(Some(&top), source);
    let retry = retry_after.to_string();
    let bytes = ResponseBuilder::new(&head, 503, "Service Unavailable", None, via)
        .header("Retry-After", &retry)
        .finish(None);
    Some(Reply {
        code: 503,
        bytes,
        destination: response_destination(Some(&top), source, transport),
    })
}

/// What the transaction layer knows about a request that the answer depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxContext {
    /// A CANCEL that matched an INVITE transaction (§9.2).
    pub cancel_matched: bool,
    /// A request merged with one that arrived by another path (§8.2.2.2).
    pub merged: bool,
}

/// Option tags in `name` that this server does not implement, in order, without repeats.
fn unknown_tags<'a>(msg: &Message<'a>, name: HeaderName) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = Vec::new();
    for tag in msg.option_tags(name).flatten() {
        if !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)) && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[cfg(test)]
mod tests;
