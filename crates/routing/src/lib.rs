//! Where an out-of-dialog request goes, decided from the provisioning snapshot and what the
//! proxy established about it (who the caller is, what the Request-URI names), and nothing
//! else: no I/O, no clock, no state. The proxy asks [`decide`] and acts on the [`Decision`].
//!
//! Today it knows local users (by AOR, or by DID for every caller but a stranger) and the
//! relaying policy; the carrier issue adds trunk plans (LCR) as another decision.
//!
//! ```
//! use trunkline_routing::{Caller, Decision, Policy, Request, decide};
//! use trunkline_store::Snapshot;
//!
//! let snapshot = Snapshot::default();
//! let request = Request {
//!     caller: Caller::Stranger,
//!     user: Some("1001"),
//!     host: "elsewhere.example",
//!     to_us: false,
//!     to_domain: None,
//!     preloaded_route: false,
//! };
//! // Strangers do not get relayed anywhere.
//! assert!(matches!(
//!     decide(&snapshot, &request, &Policy::default()),
//!     Decision::Reject(r) if r.code == 403
//! ));
//! ```

use std::collections::HashSet;

use trunkline_store::{Carrier, Snapshot, SnapshotUser, TenantId};

/// Who sends the request, as the proxy established it.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A subscriber that proved who it is (digest).
    Subscriber(&'a SnapshotUser),
    /// A source the operator trusts (`guard.trusted`: an SBC, a peer proxy); `domain` is the
    /// local domain its From claims, if any.
    Trusted {
        /// The caller's local domain, when its From names one.
        domain: Option<&'a str>,
    },
    /// An ip-authenticated carrier, recognised by its gateway's address.
    Carrier(&'a Carrier),
    /// Anyone else.
    Stranger,
}

/// What the proxy knows of the request that routing needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who sends it.
    pub caller: Caller<'a>,
    /// The Request-URI's user part, unescaped.
    pub user: Option<&'a str>,
    /// The Request-URI's host, lowercase.
    pub host: &'a str,
    /// The host is one of this server's own addresses or names.
    pub to_us: bool,
    /// The To header's host, lowercase.
    pub to_domain: Option<&'a str>,
    /// A Route header other than this server's own remains: the sender chose the next hop.
    pub preloaded_route: bool,
}

/// The operator's relaying policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Customers whose subscribers may choose the next hop themselves, with a pre-loaded
    /// Route or a Request-URI naming a host (a PBX trunk with its own route). Everyone
    /// else's calls leave only to local users and DIDs (later: through carriers, rated and
    /// limited).
    pub relay_customers: HashSet<TenantId>,
}

/// Why a request is refused: the status code and reason phrase to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'static str,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    /// To this local user's bindings (named by its AOR or one of its DIDs).
    User(&'a SnapshotUser),
    /// Onwards as addressed: along the pre-loaded Route, or to the host the Request-URI
    /// names. Only for callers the policy lets choose their next hop.
    AsAddressed,
    /// Refused.
    Reject(Reject),
}

const NOT_FOUND: Reject = Reject {
    code: 404,
    reason: "Not Found",
};
const FORBIDDEN_ROUTE: Reject = Reject {
    code: 403,
    reason: "Forbidden (Route)",
};
const FORBIDDEN_DID: Reject = Reject {
    code: 403,
    reason: "Forbidden (Unauthenticated)",
};
const FORBIDDEN_RELAY: Reject = Reject {
    code: 403,
    reason: "Forbidden (Relaying)",
};

/// Decides where `request` goes.
pub fn decide<'s>(snapshot: &'s Snapshot, request: &Request<'_>, policy: &Policy) -> Decision<'s> {
    let may_choose_hop = match request.caller {
        Caller::Trusted { .. } => true,
        Caller::Subscriber(u) => policy.relay_customers.contains(&u.customer_id),
        Caller::Carrier(_) | Caller::Stranger => false,
    };
    if request.preloaded_route {
        return match may_choose_hop {
            true => Decision::AsAddressed,
            false => Decision::Reject(FORBIDDEN_ROUTE),
        };
    }
    let Some(domain) = local_domain(snapshot, request) else {
        return match (request.to_us, may_choose_hop) {
            // Addressed to this server, in no domain of ours: no such user here.
            (true, _) => Decision::Reject(NOT_FOUND),
            (false, true) => Decision::AsAddressed,
            // No relaying (toll fraud, open relay): off-net calls go through routing.
            (false, false) => Decision::Reject(FORBIDDEN_RELAY),
        };
    };
    let Some(user) = request.user else {
        return Decision::Reject(NOT_FOUND);
    };
    let callee = match snapshot.user(domain, user) {
        Some(u) => Some(u),
        None => {
            // A DID of ours dialled as the user part, with or without its `+`. DIDs are
            // telephone numbers: they are reached from the telephone network (a carrier) or
            // from our own side, never by an unauthenticated source (no toll fraud through
            // the inbound door).
            // Any other number is the telephone network's, which a stranger does not reach
            // either; one answer for both, so a stranger cannot tell our numbers apart.
            if matches!(request.caller, Caller::Stranger) && is_number(user) {
                return Decision::Reject(FORBIDDEN_DID);
            }
            let did = (snapshot.did(user)).or_else(|| snapshot.did(&format!("+{user}")));
            did.and_then(|d| snapshot.user_by_id(d.user_id?))
        }
    };
    match callee.filter(|u| u.enabled) {
        Some(u) if reaches(snapshot, request.caller, u) => Decision::User(u),
        // The same answer whether the user is missing, disabled or out of the caller's
        // reach: nothing to learn about other tenants.
        _ => Decision::Reject(NOT_FOUND),
    }
}

/// The local domain the Request-URI names. A Request-URI addressed to this server's own
/// address or name means the caller's own domain (a subscriber's, or the one a trusted
/// source claims), never another tenant's; only a stranger, who has no domain here, is
/// placed by the To header.
fn local_domain<'r>(snapshot: &Snapshot, request: &Request<'r>) -> Option<&'r str> {
    if request.to_us {
        return match request.caller {
            Caller::Subscriber(u) => Some(u.domain.as_str()),
            Caller::Trusted { domain: Some(d) } => Some(d),
            Caller::Trusted { domain: None } | Caller::Carrier(_) | Caller::Stranger => {
                request.to_domain.filter(|d| snapshot.has_domain(d))
            }
        };
    }
    Some(request.host).filter(|h| snapshot.has_domain(h))
}

/// Whether a Request-URI user part is a telephone number: digits, with an optional leading
/// `+` (visual separators are not allowed in a SIP user part anyway).
fn is_number(user: &str) -> bool {
    let digits = user.strip_prefix('+').unwrap_or(user);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `caller` may reach `callee`: a carrier owned by a reseller delivers only to
/// customers of that reseller; the platform's carriers deliver to anyone.
fn reaches(snapshot: &Snapshot, caller: Caller<'_>, callee: &SnapshotUser) -> bool {
    match caller {
        Caller::Carrier(c) => {
            snapshot.is_platform(c.tenant_id) || snapshot.is_within(callee.customer_id, c.tenant_id)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
