//! Out-of-dialog requests: the caller's authentication (407), the routing decision
//! ([`trunkline_routing::decide`]: a local user by AOR or DID, onwards as addressed when the
//! relaying policy allows, or a refusal), the callee's contacts from the location service,
//! call limits, and the fork that places them.

use bytes::Bytes;
use tracing::{debug, info};
use trunkline_media::Side;
use trunkline_proto::ServerTxId;
use trunkline_proto::fork::Fork;
use trunkline_proto::forward;
use trunkline_routing::{self as routing, Decision};
use trunkline_sip::{HeaderName, Message, Method, Uri, unescape};
use trunkline_store::SnapshotUser;

use super::calls::Party;
use super::dialog::call_key;
use super::privacy;
use super::target::{self, Dial, Unreachable};
use super::{
    Env, Pending, Proxy, Target, Template, caller_party, contact, record_routes, sets_target,
};
use crate::roles::registrar::auth::Verdict;
use crate::transport::Peer;
use crate::transport::front::Outcome;

impl Proxy {
    /// An out-of-dialog request: authenticate a local caller, find the callee's contacts,
    /// fork.
    pub(super) fn initial(
        &mut self,
        env: &mut Env<'_>,
        tx: ServerTxId,
        bytes: &Bytes,
        msg: &Message<'_>,
        from: Peer,
        method: Method<'_>,
    ) -> Option<Outcome> {
        // Who the caller claims to be: its From, or for an anonymous From (RFC 3323) its
        // P-Preferred-Identity or the called domain. A local claim must be proven (407).
        let privacy::Claimed {
            user: from_user,
            domain: from_domain,
            anonymous,
        } = privacy::claimed(msg)?;
        let trusted = env.shared.guard().is_trusted(from.addr.ip());
        let caller_local = env.snapshot.has_domain(&from_domain);
        let mut caller: Option<&SnapshotUser> = None;
        if caller_local && !trusted {
            let (verdict, claimed) = env.shared.registrar().authenticator().check_request(
                msg,
                HeaderName::ProxyAuthorization,
                &from_domain,
                env.snapshot,
                env.now_ms / 1000,
            );
            match verdict {
                Verdict::Authenticated { username } => {
                    // RFC 3261 §22.3 leaves identity policy to the proxy: a user calls as
                    // itself (an anonymous caller that names no identity is the digest user).
                    let claims_itself = match anonymous {
                        true => from_user.as_deref().is_none_or(|u| u == username),
                        false => from_user.as_deref() == Some(username.as_str()),
                    };
                    if !claims_itself {
                        return Self::reply(env, msg, from, 403, "Forbidden (From mismatch)", &[]);
                    }
                    caller = env.snapshot.user(&from_domain, &username);
                }
                Verdict::Challenge { stale, failed } => {
                    if failed {
                        let user = format!("{}@{from_domain}", claimed.unwrap_or_default());
                        info!(source = %from.addr, user, method = method.as_str(), "authentication failed");
                        env.shared
                            .guard()
                            .auth_failed(from.addr.ip(), &user, env.now_ms);
                    }
                    let challenges = env.shared.registrar().authenticator().challenges(
                        &from_domain,
                        stale,
                        env.now_ms / 1000,
                    );
                    let headers: Vec<(&str, &str)> = (challenges.iter())
                        .map(|c| ("Proxy-Authenticate", c.as_str()))
                        .collect();
                    return Self::reply(
                        env,
                        msg,
                        from,
                        407,
                        "Proxy Authentication Required",
                        &headers,
                    );
                }
            }
        }
        let pre = forward::preprocess(msg, |u| Self::is_ours(env.front, u));
        let ruri_raw = match &pre.request_uri {
            Some(u) => u.as_bytes().to_vec(),
            None => msg.request_line()?.uri.to_vec(),
        };
        let ruri = Uri::parse(&ruri_raw).ok()?;
        // The callee as the CDR names it when it is not one of our users: the Request-URI.
        let named_by_ruri = || Party {
            name: String::from_utf8_lossy(&ruri_raw).into_owned(),
            ..Party::default()
        };
        let Uri::Sip(ruri_sip) = ruri else {
            return Self::reply(env, msg, from, 416, "Unsupported URI Scheme", &[]);
        };
        let mut template = Template {
            drop_routes: pre.drop_routes,
            drop_last_route: pre.drop_last_route,
            record_route: record_routes(method),
            ..Template::default()
        };
        // RFC 3325: an identity asserted by an untrusted source is not believed.
        if !trusted {
            template.remove.push(HeaderName::PAssertedIdentity);
        }
        if caller_local {
            // Credentials for our realm are consumed here, and the preferred identity is
            // replaced by the asserted one (RFC 3325 §9.1).
            template.remove.push(HeaderName::ProxyAuthorization);
            template.remove.push(HeaderName::PPreferredIdentity);
        }
        if sets_target(method) {
            template.contact = contact::alias_edit(msg, from.addr, from.transport);
        }
        let host = ruri_sip.host.to_string().to_ascii_lowercase();
        let user = (ruri_sip.user).map(|u| String::from_utf8_lossy(&unescape(u)).into_owned());
        let to_domain = msg.to().ok().and_then(|t| match t.uri {
            Uri::Sip(u) => Some(u.host.to_string().to_ascii_lowercase()),
            _ => None,
        });
        let who = match (caller, trusted) {
            (Some(u), _) => routing::Caller::Subscriber(u),
            (None, true) => routing::Caller::Trusted {
                domain: caller_local.then_some(from_domain.as_str()),
            },
            (None, false) => match env.snapshot.carrier_by_source(from.addr.ip()) {
                Some(c) => routing::Caller::Carrier(c),
                None => routing::Caller::Stranger,
            },
        };
        let request = routing::Request {
            caller: who,
            user: user.as_deref(),
            host: &host,
            to_us: Self::is_ours(env.front, &ruri_sip),
            to_domain: to_domain.as_deref(),
            preloaded_route: pre.route_left,
        };
        let callee_party;
        let groups: Vec<Vec<Target>> = match routing::decide(env.snapshot, &request, &self.policy) {
            Decision::Reject(r) if r.code == 403 => {
                return Self::reply(env, msg, from, r.code, r.reason, &[]);
            }
            Decision::Reject(r) => {
                let party = named_by_ruri();
                return self.refuse(env, msg, from, caller, party, r.code, r.reason);
            }
            Decision::AsAddressed if pre.route_left => {
                let next = forward::routes(msg).into_iter().nth(pre.drop_routes)?;
                let Uri::Sip(next_uri) = next.uri else {
                    return Self::reply(env, msg, from, 416, "Unsupported URI Scheme", &[]);
                };
                let dial = Dial::Allowed;
                let peer = match target::peer_for_uri(&self.ifaces, env.flows, &next_uri, dial) {
                    Ok(p) => p,
                    Err(why) => return self.unreachable(env, msg, from, why),
                };
                callee_party = named_by_ruri();
                if !next_uri.is_loose_router() {
                    // §16.12: a strict router next gets the Request-URI, ours goes last.
                    template.append_route =
                        Some(format!("<{}>", String::from_utf8_lossy(&ruri_raw)));
                    template.drop_routes += 1;
                    let uri = String::from_utf8_lossy(next.uri_raw).into_owned();
                    vec![vec![Target {
                        peer,
                        request_uri: Some(uri),
                        path: Vec::new(),
                    }]]
                } else {
                    vec![vec![Target {
                        peer,
                        request_uri: pre.request_uri.clone(),
                        path: Vec::new(),
                    }]]
                }
            }
            Decision::AsAddressed => {
                let dial = Dial::Allowed;
                let peer = match target::peer_for_uri(&self.ifaces, env.flows, &ruri_sip, dial) {
                    Ok(p) => p,
                    Err(why) => return self.unreachable(env, msg, from, why),
                };
                callee_party = named_by_ruri();
                vec![vec![Target {
                    peer,
                    request_uri: pre.request_uri.clone(),
                    path: Vec::new(),
                }]]
            }
            Decision::User(callee) => {
                let party = Party {
                    user: Some(callee.id),
                    customer: Some(callee.customer_id),
                    name: format!("{}@{}", callee.username, callee.domain),
                };
                let aor = format!("{}@{}", callee.username, callee.domain);
                if method == Method::Invite
                    && let Some(max) = callee.max_calls
                    && self.calls.active(callee.id) >= max
                {
                    return self.refuse(env, msg, from, caller, party, 486, "Busy Here");
                }
                let groups = self.contacts(env, &aor);
                if groups.is_empty() {
                    let code = (480, "Temporarily Unavailable");
                    return self.refuse(env, msg, from, caller, party, code.0, code.1);
                }
                callee_party = party;
                groups
            }
        };
        self.fork(
            env,
            tx,
            bytes,
            msg,
            from,
            method,
            template,
            groups,
            caller,
            callee_party,
        )
    }

    /// The fork groups of `aor`'s reachable bindings: one group per q value, highest first
    /// (parallel within a group, serial across them).
    fn contacts(&self, env: &Env<'_>, aor: &str) -> Vec<Vec<Target>> {
        let registrar = env.shared.registrar();
        let mut groups: Vec<Vec<Target>> = Vec::new();
        let mut last_q = None;
        for b in registrar.lookup(aor, env.now_ms) {
            let Ok(peer) = target::peer_for_binding(&self.ifaces, env.flows, b) else {
                debug!(
                    aor,
                    contact = b.contact,
                    "binding unreachable (flow closed)"
                );
                continue;
            };
            let t = Target {
                peer,
                request_uri: Some(b.contact.clone()),
                path: b.path.clone(),
            };
            match (last_q == Some(b.q), groups.last_mut()) {
                (true, Some(g)) => g.push(t),
                _ => groups.push(vec![t]),
            }
            last_q = Some(b.q);
        }
        groups
    }

    /// Answers an INVITE the proxy cannot place with `code`, and writes the call's CDR.
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &mut self,
        env: &mut Env<'_>,
        msg: &Message<'_>,
        from: Peer,
        caller: Option<&SnapshotUser>,
        callee: Party,
        code: u16,
        reason: &str,
    ) -> Option<Outcome> {
        if msg.method() == Some(Method::Invite)
            && let Some(key) = call_key(msg).into_iter().next()
            && self
                .calls
                .begin(key.clone(), caller_party(msg, caller), callee, env.now_ms)
            && let Some(cdr) = self.calls.failed(&key, code, env.now_ms)
        {
            env.out.cdr(cdr);
        }
        Self::reply(env, msg, from, code, reason, &[])
    }

    pub(super) fn unreachable(
        &self,
        env: &Env<'_>,
        msg: &Message<'_>,
        from: Peer,
        why: Unreachable,
    ) -> Option<Outcome> {
        match why {
            Unreachable::NotAnAddress => {
                Self::reply(env, msg, from, 404, "Not Found (no route)", &[])
            }
            Unreachable::NoFlow => Self::reply(env, msg, from, 480, "Temporarily Unavailable", &[]),
            Unreachable::NoSocket => Self::reply(env, msg, from, 503, "Service Unavailable", &[]),
        }
    }

    /// Starts forwarding `msg` to `groups`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fork(
        &mut self,
        env: &mut Env<'_>,
        tx: ServerTxId,
        bytes: &Bytes,
        msg: &Message<'_>,
        from: Peer,
        method: Method<'_>,
        mut template: Template,
        groups: Vec<Vec<Target>>,
        caller: Option<&SnapshotUser>,
        callee: Party,
    ) -> Option<Outcome> {
        let invite = method == Method::Invite;
        let mut call = None;
        if invite {
            if let Some(c) = caller
                && let Some(max) = c.max_calls
                && self.calls.active(c.id) >= max
            {
                return Self::reply(env, msg, from, 403, "Forbidden (too many calls)", &[]);
            }
            let key = call_key(msg).into_iter().next()?;
            // Recorded when either party is a user with recording on.
            let record = caller.is_some_and(|c| c.record_calls)
                || (callee.user)
                    .and_then(|id| env.snapshot.user_by_id(id))
                    .is_some_and(|u| u.record_calls);
            if self
                .calls
                .begin(key.clone(), caller_party(msg, caller), callee, env.now_ms)
            {
                if record {
                    self.calls.record(&key);
                }
                call = Some(key);
            }
            if let Some(c) = caller {
                let display = c.caller_id.as_deref().unwrap_or(&c.username);
                template.add.push((
                    "P-Asserted-Identity",
                    format!(
                        "\"{}\" <sip:{}@{}>",
                        display.replace('"', ""),
                        c.username,
                        c.domain
                    ),
                ));
            }
        }
        // The relay, when the call needs it: the offer is anchored per branch as it starts
        // (or, for a late offer, in the 2xx), the answer in the responses.
        let media = match (&call, &mut self.media) {
            (Some(key), Some(m)) if super::media::needs_relay(m.mode, msg, from, &groups) => {
                m.relay(key.clone());
                Some((key.clone(), Side::Caller))
            }
            _ => None,
        };
        let ring_deadline = invite.then(|| env.now_ms + self.config.ring_timeout_secs * 1000);
        let pending = Pending {
            request: bytes.clone(),
            index: msg.index(),
            from,
            fork: Fork::new(invite, groups),
            branches: Vec::new(),
            call,
            ring_deadline,
            template,
            media,
            offered: super::media::has_sdp(msg),
        };
        self.launch_relayed(env, tx, msg, pending)
    }
}
