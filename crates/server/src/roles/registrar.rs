//! The registrar role (RFC 3261 §10): REGISTER handling with digest authentication against the
//! provisioning snapshot, on top of the location service; Path (RFC 3327), SIP Outbound
//! (RFC 5626) and public GRUUs (RFC 5627). Sans-IO: a parsed request, the snapshot and the time
//! in; the response to send and what changed out. The core writes changes to disk
//! ([`persist`]) before the response leaves.

pub mod auth;
pub(crate) mod config;
pub mod contact_policy;
pub mod location;
pub mod persist;
pub mod request;
pub mod service;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use trunkline_sip::{HeaderName, Message};
use trunkline_store::Snapshot;

use crate::config::{RegistrarConfig, Transport};
use crate::transport::flow::FlowId;
use auth::{Authenticator, Verdict};
use contact_policy::ContactPolicy;
use location::{Binding, FlowRef, Location, Origin, Received, Refused};
use request::{ExpiryPolicy, Reject};
use service::LocationService;

/// Option tags the registrar implements, for `Supported` in its answers.
pub const SUPPORTED: &str = "path, outbound, gruu";

/// Where and when a REGISTER arrived.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Source address.
    pub source: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// The connection, on stream transports.
    pub flow: Option<FlowId>,
    /// Wall-clock time, ms since the Unix epoch.
    pub now_ms: u64,
}

/// What happened besides the answer, for the edge guard and the persistence layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Nothing to record.
    None,
    /// Credentials were presented and refused (wrong password, unknown or disabled user):
    /// count it against the source and the claimed user.
    AuthFailed {
        /// The digest username tried, as sent.
        user: String,
    },
    /// The bindings of `aor` changed; persist them before the answer is sent.
    Changed {
        /// The address of record.
        aor: String,
    },
}

/// The registrar's answer to one REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Headers after Via/From/To/Call-ID/CSeq, in order.
    pub headers: Vec<(&'static str, String)>,
    /// What else happened.
    pub event: Event,
}

impl Answer {
    fn new(code: u16, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            headers: Vec::new(),
            event: Event::None,
        }
    }
}

/// The registrar: authenticator and location service.
#[derive(Debug)]
pub struct Registrar {
    policy: ExpiryPolicy,
    auth: Authenticator,
    location: Box<dyn LocationService>,
    flow_timer_secs: u32,
    contacts: ContactPolicy,
}

impl Registrar {
    /// A registrar with `config`'s limits, nonces keyed by `nonce_key`, keeping bindings in
    /// `location` (for this node: [`service::LocalLocation`], loaded from disk).
    pub fn new(
        config: &RegistrarConfig,
        nonce_key: [u8; 32],
        location: Box<dyn LocationService>,
    ) -> Self {
        Self {
            policy: ExpiryPolicy {
                min: config.min_expires,
                max: config.max_expires,
                default: config.default_expires,
            },
            auth: Authenticator::new(nonce_key, config.nonce_ttl_secs, config.algorithms()),
            location,
            flow_timer_secs: config.flow_timer_secs,
            contacts: ContactPolicy::new(config.allow_private_contacts),
        }
    }

    /// Refuses contacts that name one of `own` (this server's bound SIP sockets; `advertise`
    /// stands in for wildcard listeners), which would make every call to them loop.
    pub fn with_own_sockets(mut self, own: Vec<SocketAddr>, advertise: Option<IpAddr>) -> Self {
        self.contacts = self.contacts.with_own_sockets(own, advertise);
        self
    }

    /// Every binding this node knows, in memory (listing, keep-alives, counts).
    pub fn location(&self) -> &Location {
        self.location.view()
    }

    /// Makes the bindings changed so far survive a crash, before anything answers for them.
    pub fn persist(&mut self) {
        self.location.persist();
    }

    /// The digest authenticator, shared with the proxy (one nonce space, one replay ring).
    pub fn authenticator(&mut self) -> &mut Authenticator {
        &mut self.auth
    }

    /// The live bindings of `aor` (`user@domain`, domain lower-case), highest q first.
    pub fn lookup(&self, aor: &str, now_ms: u64) -> Vec<&Binding> {
        self.location.lookup(aor, now_ms)
    }

    /// Removes expired bindings; returns the addresses of record whose bindings changed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        self.location.expire(now_ms)
    }

    /// When the next binding expires, ms since the Unix epoch.
    pub fn next_expiry(&self) -> Option<u64> {
        self.location.next_expiry()
    }

    /// Handles a REGISTER that passed the front door's checks.
    pub fn register(&mut self, msg: &Message<'_>, snapshot: &Snapshot, at: Arrival) -> Answer {
        let req = match request::read(msg, self.policy) {
            Ok(r) => r,
            Err(Reject::BadRequest(why)) => return Answer::new(400, why),
            Err(Reject::UnsupportedScheme) => return Answer::new(416, "Unsupported URI Scheme"),
            Err(Reject::IntervalTooBrief(min)) => {
                let mut a = Answer::new(423, "Interval Too Brief");
                a.headers.push(("Min-Expires", min.to_string()));
                return a;
            }
        };
        if !snapshot.has_domain(&req.domain) {
            // Not a domain of ours: this registrar does not accept bindings for others.
            return Answer::new(403, "Forbidden");
        }
        let now_secs = at.now_ms / 1000;
        let (verdict, claimed) = self.auth.check_request(
            msg,
            HeaderName::Authorization,
            &req.domain,
            snapshot,
            now_secs,
        );
        let username = match verdict {
            Verdict::Authenticated { username } => username,
            Verdict::Challenge { stale, failed } => {
                let mut a = Answer::new(401, "Unauthorized");
                for c in self.auth.challenges(&req.domain, stale, now_secs) {
                    a.headers.push(("WWW-Authenticate", c));
                }
                if failed {
                    a.event = Event::AuthFailed {
                        user: claimed.unwrap_or_default(),
                    };
                }
                return a;
            }
        };
        // Valid credentials of one user do not let it bind another's address of record.
        if username != req.user {
            return Answer::new(403, "Forbidden");
        }
        for c in &req.addresses {
            if let Err(reason) = self.contacts.check(*c, at.source) {
                return Answer::new(403, reason);
            }
        }
        let origin = Origin {
            call_id: req.call_id,
            cseq: req.cseq,
            path: req.path,
            received: Received {
                source: at.source,
                transport: at.transport,
                flow: at.flow.map(FlowRef::local),
            },
            user_agent: req.user_agent,
        };
        let changed = !matches!(req.update, location::Update::Query);
        let bindings = match (self.location).apply(&req.aor, &origin, req.update, at.now_ms) {
            Ok(b) => b,
            // §10.3 step 7: an out-of-order or retransmitted REGISTER is refused with 500.
            Err(Refused::OutOfOrder) => {
                let mut a = Answer::new(500, "Server Internal Error");
                a.headers.push(("Retry-After", "1".to_owned()));
                return a;
            }
            Err(Refused::TooManyBindings) => return Answer::new(403, "Too Many Contacts"),
        };
        let mut a = Answer::new(200, "OK");
        let supported = |tag: &str| {
            msg.option_tags(HeaderName::Supported)
                .flatten()
                .any(|t| t.eq_ignore_ascii_case(tag))
        };
        let gruu = supported("gruu");
        for b in &bindings {
            a.headers
                .push(("Contact", contact_value(b, &req.aor, gruu, at.now_ms)));
        }
        if supported("path") {
            for p in &origin.path {
                a.headers.push(("Path", p.clone()));
            }
        }
        // RFC 5626 §6: a registration with reg-id from a client that supports outbound.
        if supported("outbound") && bindings.iter().any(|b| b.reg_id.is_some()) {
            a.headers.push(("Require", "outbound".to_owned()));
            a.headers
                .push(("Flow-Timer", self.flow_timer_secs.to_string()));
        }
        a.headers.push(("Supported", SUPPORTED.to_owned()));
        a.headers.push((
            "Date",
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_millis(at.now_ms)),
        ));
        if changed {
            a.event = Event::Changed { aor: req.aor };
        }
        a
    }
}

/// A binding as listed in a 200 OK: its URI, remaining lifetime, q, outbound parameters and,
/// when asked for, its public GRUU (RFC 5627 §5.3: the AOR with `gr` = the instance URN).
fn contact_value(b: &Binding, aor: &str, gruu: bool, now_ms: u64) -> String {
    let mut v = format!("<{}>;expires={}", b.contact, b.remaining_secs(now_ms));
    if b.q != 1000 {
        v.push_str(&format!(";q={}.{:03}", b.q / 1000, b.q % 1000));
    }
    if let Some(instance) = &b.instance {
        v.push_str(&format!(";+sip.instance=\"{instance}\""));
        if gruu {
            let urn = instance.trim_start_matches('<').trim_end_matches('>');
            v.push_str(&format!(";pub-gruu=\"sip:{aor};gr={urn}\""));
        }
    }
    if let Some(reg_id) = b.reg_id {
        v.push_str(&format!(";reg-id={reg_id}"));
    }
    v
}

#[cfg(test)]
mod tests;
