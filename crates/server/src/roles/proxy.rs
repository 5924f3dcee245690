//! The stateful proxy role (RFC 3261 §16): calls between registered users. Initial requests
//! are authenticated (407), placed on the location service's contacts (parallel forking per q,
//! serial across q values), record-routed (twice when the transport changes) and tracked as
//! calls for limits and CDRs; in-dialog requests follow their route set; CANCEL reaches every
//! branch. The response context ([`trunkline_proto::fork`]) and the message edits
//! ([`trunkline_proto::forward`]) are sans-IO, and so is this role: it is handed events
//! (requests, responses, client transaction failures and ends, the time, media nodes' replies)
//! and answers with [`Actions`](crate::roles::actions::Actions) the driver carries out.

pub(crate) mod anchoring;
mod branches;
pub(crate) mod calls;
pub(crate) mod config;
pub(crate) mod contact;
mod dialog;
mod forked;
mod hangup;
mod initial;
mod keepalive;
pub(crate) mod media;
mod privacy;
mod relayed;
pub(crate) mod target;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use ipnet::IpNet;
use trunkline_media::Side;
use trunkline_proto::fork::{BranchId, Fork, Step};
use trunkline_proto::forward;
use trunkline_proto::{Received, ServerTxId};
use trunkline_sip::{HeaderName, Index, Message, Method, SipUri, Uri};
use trunkline_store::{Snapshot, SnapshotUser};

use crate::config::ProxyConfig;
use crate::roles::actions::{Actions, ClientRef};
use crate::roles::shared::{Shared, UserCalls};
use crate::transport::Peer;
use crate::transport::flow::Flows;
use crate::transport::front::{FrontDoor, Outcome};
use anchoring::{Anchoring, Deferred, How};
use calls::{CallKey, Calls, Hangup, Party};
use target::Interfaces;

/// The Reason (RFC 3326) of the BYEs the proxy sends when a relayed call's media stops.
const MEDIA_TIMEOUT_REASON: &str = "Q.850;cause=102;text=\"media timeout\"";

/// What the proxy borrows from the core for one event.
pub(crate) struct Env<'a> {
    pub(crate) front: &'a FrontDoor,
    /// The registrar and the guard, shared with the other shards (lock, use, let go).
    pub(crate) shared: &'a Shared,
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) flows: &'a Arc<Flows>,
    pub(crate) now_ms: u64,
    /// What the proxy asks the driver to do.
    pub(crate) out: &'a mut Actions,
}

/// Where a branch goes.
#[derive(Debug, Clone)]
struct Target {
    peer: Peer,
    request_uri: Option<String>,
    path: Vec<String>,
}

#[derive(Debug)]
struct BranchTx {
    tx: ClientRef,
    forwarded: Bytes,
    peer: Peer,
}

/// One request being proxied: its server transaction, its fork and the call it belongs to.
#[derive(Debug)]
struct Pending {
    request: Bytes,
    /// Where `request`'s parts are: it is never parsed again.
    index: Index,
    from: Peer,
    fork: Fork<Target>,
    branches: Vec<Option<BranchTx>>,
    call: Option<CallKey>,
    /// Timer C (ms since the epoch), INVITE only.
    ring_deadline: Option<u64>,
    /// What a branch's request looks like apart from its target.
    template: Template,
    /// The relayed call the request belongs to and who sent it: the SDP of its responses is
    /// anchored too.
    media: Option<(CallKey, Side)>,
    /// Whether the request carried SDP (an offer): then SDP in its responses answers it.
    offered: bool,
}

impl Pending {
    /// The request, rebuilt from its index.
    fn message(&self) -> Option<Message<'_>> {
        Message::from_index(&self.request, &self.index)
    }
}

/// The edits every branch of a request shares.
#[derive(Debug, Clone, Default)]
struct Template {
    drop_routes: usize,
    drop_last_route: bool,
    append_route: Option<String>,
    record_route: bool,
    remove: Vec<HeaderName>,
    add: Vec<(&'static str, String)>,
    contact: Option<(usize, Vec<u8>)>,
    /// The body anchored at the relay.
    body: Option<Vec<u8>>,
}

/// The proxy's state.
#[derive(Debug)]
pub(crate) struct Proxy {
    config: ProxyConfig,
    ifaces: Interfaces,
    /// Next hops that get P-Asserted-Identity (the guard's trusted networks).
    trusted: Vec<IpNet>,
    /// Who may choose the next hop (`proxy.relay_customers`).
    policy: trunkline_routing::Policy,
    pending: HashMap<ServerTxId, Pending>,
    clients: HashMap<ClientRef, (ServerTxId, BranchId)>,
    cancels: HashSet<ClientRef>,
    /// INVITE server transactions answered 2xx: an ACK matching one is end-to-end.
    accepted: HashSet<ServerTxId>,
    calls: Calls,
    next_branch: u64,
    /// The name of the next client transaction this proxy starts.
    next_client: u64,
    /// The relayed calls and what waits for the media layer (none with `media.mode = off`).
    media: Option<Anchoring>,
}

/// Methods whose initial request makes a dialog the proxy stays in.
fn record_routes(m: Method<'_>) -> bool {
    matches!(
        m,
        Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
    )
}

/// Methods whose Contact is a (new) remote target.
fn sets_target(m: Method<'_>) -> bool {
    matches!(
        m,
        Method::Invite | Method::Subscribe | Method::Refer | Method::Notify | Method::Update
    )
}

impl Proxy {
    pub(crate) fn new(
        config: ProxyConfig,
        ifaces: Interfaces,
        trusted: Vec<IpNet>,
        user_calls: Arc<UserCalls>,
    ) -> Self {
        Proxy {
            policy: config.routing_policy(),
            config,
            ifaces,
            trusted,
            pending: HashMap::new(),
            clients: HashMap::new(),
            cancels: HashSet::new(),
            accepted: HashSet::new(),
            calls: Calls::new(user_calls),
            next_branch: rand::random::<u32>() as u64,
            next_client: 0,
            media: None,
        }
    }

    /// Relays calls' media as `media.mode` says.
    pub(crate) fn with_media(mut self, media: Anchoring) -> Self {
        self.media = Some(media);
        self
    }

    /// Whether call `key` is relayed.
    fn relays(&self, key: &CallKey) -> bool {
        self.media.as_ref().is_some_and(|m| m.relays(key))
    }

    /// Calls in progress.
    pub(crate) fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Requests being proxied.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// A request the front door let through that no local role answers. Returns the answer
    /// when the proxy answers itself, `None` when it forwarded the request.
    pub(crate) fn request(
        &mut self,
        env: &mut Env<'_>,
        tx: ServerTxId,
        bytes: &Bytes,
        msg: &Message<'_>,
        from: Peer,
    ) -> Option<Outcome> {
        let method = msg.method()?;
        if method == Method::Cancel {
            return None;
        }
        let in_dialog = msg.to().ok().is_some_and(|t| t.tag().is_some());
        match in_dialog {
            true => self.in_dialog(env, tx, bytes, msg, from),
            false => self.initial(env, tx, bytes, msg, from, method),
        }
    }

    fn reply(
        env: &Env<'_>,
        msg: &Message<'_>,
        from: Peer,
        code: u16,
        reason: &str,
        headers: &[(&str, &str)],
    ) -> Option<Outcome> {
        Some(
            env.front
                .reply(msg, from.addr, from.transport, code, reason, headers),
        )
    }

    fn is_ours(front: &FrontDoor, u: &SipUri<'_>) -> bool {
        front.is_local(&u.host, u.port)
    }

    /// Starts the first branches of `pending`, the context of server transaction `tx`.
    fn launch(
        &mut self,
        env: &mut Env<'_>,
        tx: ServerTxId,
        mut pending: Pending,
    ) -> Option<Outcome> {
        let mut steps = Vec::new();
        pending.fork.start(&mut steps);
        self.pending.insert(tx, pending);
        self.apply(env, tx, steps);
        None
    }

    /// Carries out what the fork asked for.
    fn apply(&mut self, env: &mut Env<'_>, stx: ServerTxId, steps: Vec<Step<Target>>) {
        for step in steps {
            match step {
                Step::Start { branch, target } => self.start_branch(env, stx, branch, target),
                Step::Cancel(b) => self.cancel_branch(env, stx, b),
                Step::Forward(branch, received) => {
                    // The callee's Contact is fixed up when it is behind NAT or on a connection.
                    let source = (self.pending.get(&stx))
                        .and_then(|p| p.branches.get(branch.0)?.as_ref().map(|b| b.peer));
                    self.forward_branch(env, stx, branch, &received, source)
                }
                Step::Final {
                    code,
                    response,
                    challenges,
                } => self.final_response(env, stx, code, response, &challenges),
            }
        }
        self.reap(stx);
    }

    /// Forwards a response upstream. `anchored` is the body the media layer gave it
    /// (`Some`: already asked, `Some(None)`: unchanged); without it, SDP of a relayed call is
    /// anchored first, the response set aside until the answer comes. `branch`: the fork
    /// branch it came from, when that matters to the media layer.
    #[allow(clippy::too_many_arguments)]
    fn forward_upstream(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        received: &Received,
        status: Option<(u16, &str)>,
        challenges: &[(HeaderName, String)],
        source: Option<Peer>,
        anchored: Option<Option<Vec<u8>>>,
        branch: Option<BranchId>,
    ) {
        let Some(resp) = received.message() else {
            return;
        };
        let code = resp.status_line().map_or(0, |s| s.code);
        let is_invite = resp.cseq().is_ok_and(|c| c.method == Method::Invite);
        let contact: Vec<_> = match (source, code) {
            (Some(src), 101..=299) => contact::alias_edit(&resp, src.addr, src.transport),
            _ => None,
        }
        .into_iter()
        .collect();
        let p = self.pending.get(&stx);
        let relayed = (p.and_then(|p| p.media.clone())).filter(|(k, _)| self.relays(k));
        if let (None, Some((key, sender)), 101..=299) = (&anchored, relayed, code) {
            // The answerer is the party the request went to. A late offer in the answer
            // starts the relaying: the caller where the request came from, the callee where
            // this response did.
            let caller_v6 = p.is_some_and(|p| p.from.addr.is_ipv6());
            let callee_v6 = source.map_or(caller_v6, |s| s.addr.is_ipv6());
            let how = How {
                answers: p.is_some_and(|p| p.offered),
                create: Some([caller_v6, callee_v6]),
                branch: branch.map(|b| (b, callee_v6)),
                record: self.calls.records(&key).then_some(env.now_ms),
            };
            let then = Deferred::Respond {
                stx,
                received: received.clone(),
                source,
            };
            if let Some(m) = self.media.as_mut()
                && m.anchor(&key, sender.other(), &resp, how, then, env.out)
                    .is_none()
            {
                return;
            }
        }
        let body = anchored.flatten();
        let Some(out) = forward::response(&resp, status, challenges, &contact, body.as_deref())
        else {
            return;
        };
        if is_invite && (200..300).contains(&code) {
            self.accepted.insert(stx);
            if let Some(p) = self.pending.get(&stx)
                && let Some(key) = p.call.clone()
            {
                let dialog = source.and_then(|callee| {
                    let invite = p.message()?;
                    let is_ours = |u: &SipUri<'_>| Self::is_ours(env.front, u);
                    hangup::Dialog::answered(&invite, p.from, &resp, callee, is_ours)
                });
                self.calls.answered(&key, env.now_ms, dialog);
            }
        }
        env.out.respond(stx, out);
    }

    fn final_response(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        code: u16,
        response: Option<Received>,
        challenges: &[(HeaderName, String)],
    ) {
        match response {
            Some(received) => {
                // §16.7 item 6: a 503 is not passed on as such (it would stop the caller's
                // other servers too).
                let status = (code == 503).then_some((500, "Server Internal Error"));
                self.forward_upstream(env, stx, &received, status, challenges, None, None, None);
            }
            None => {
                let Some(p) = self.pending.get(&stx) else {
                    return;
                };
                let Some(msg) = p.message() else {
                    return;
                };
                let reason = match code {
                    408 => "Request Timeout",
                    480 => "Temporarily Unavailable",
                    503 => "Service Unavailable",
                    _ => "Server Internal Error",
                };
                let code = if code == 503 { 480 } else { code };
                if let Outcome::Reply(r) =
                    env.front
                        .reply(&msg, p.from.addr, p.from.transport, code, reason, &[])
                {
                    env.out.respond(stx, r.bytes);
                }
            }
        }
        if code >= 300
            && let Some(key) = self.pending.get(&stx).and_then(|p| p.call.clone())
        {
            let cdr = self.calls.failed(&key, code, env.now_ms);
            self.closed(env, &key, cdr);
        }
    }

    /// A response on one of our client transactions.
    pub(crate) fn response(
        &mut self,
        env: &mut Env<'_>,
        ctx: ClientRef,
        code: u16,
        received: Received,
    ) {
        if code >= 300 {
            self.declined(env, ctx);
        }
        if (300..400).contains(&code) && self.config.follow_redirects {
            let targets = redirect_targets(&received, &self.ifaces, env.flows);
            self.feed(env, ctx, |fork, b, steps| {
                fork.redirect(b, code, received, targets, steps)
            });
        } else {
            self.feed(env, ctx, |fork, b, steps| {
                fork.response(b, code, received, steps)
            });
        }
    }

    /// A client transaction failed without a final response (408 timeout, 503 transport).
    pub(crate) fn client_failed(&mut self, env: &mut Env<'_>, ctx: ClientRef, code: u16) {
        self.declined(env, ctx);
        self.feed(env, ctx, |fork, b, steps| fork.failed(b, code, steps));
    }

    /// Client transaction `ctx` (a branch of a request) ended without an answer.
    fn declined(&self, env: &mut Env<'_>, ctx: ClientRef) {
        if let Some(&(stx, b)) = self.clients.get(&ctx)
            && !self.cancels.contains(&ctx)
        {
            self.branch_declined(env, stx, b);
        }
    }

    /// Gives what happened on client transaction `ctx` to its request's response context and
    /// carries out the steps that follow. Our own CANCELs and finished requests are ignored.
    fn feed(
        &mut self,
        env: &mut Env<'_>,
        ctx: ClientRef,
        event: impl FnOnce(&mut Fork<Target>, BranchId, &mut Vec<Step<Target>>),
    ) {
        if self.cancels.contains(&ctx) {
            return;
        }
        let Some(&(stx, b)) = self.clients.get(&ctx) else {
            return;
        };
        let Some(p) = self.pending.get_mut(&stx) else {
            return;
        };
        let mut steps = Vec::new();
        event(&mut p.fork, b, &mut steps);
        self.apply(env, stx, steps);
    }

    /// The caller's CANCEL for the INVITE of `stx` (already answered 200 by the front door).
    pub(crate) fn cancel(&mut self, env: &mut Env<'_>, stx: ServerTxId) {
        if let Some(pending) = self.media.as_mut().and_then(|m| m.take_launch(stx)) {
            // Cancelled while its offer was at a media node: it never went out.
            if let Some(msg) = pending.message()
                && let Outcome::Reply(r) = env.front.reply(
                    &msg,
                    pending.from.addr,
                    pending.from.transport,
                    487,
                    "Request Terminated",
                    &[],
                )
            {
                env.out.respond(stx, r.bytes);
            }
            if let Some(key) = pending.call {
                let cdr = self.calls.failed(&key, 487, env.now_ms);
                self.closed(env, &key, cdr);
            }
            return;
        }
        let Some(p) = self.pending.get_mut(&stx) else {
            return;
        };
        let mut steps = Vec::new();
        p.fork.cancel(&mut steps);
        self.apply(env, stx, steps);
    }

    /// A client transaction is gone.
    pub(crate) fn client_ended(&mut self, ctx: ClientRef) {
        self.cancels.remove(&ctx);
        if let Some((stx, _)) = self.clients.remove(&ctx) {
            self.reap(stx);
        }
    }

    /// A server transaction is gone.
    pub(crate) fn server_ended(&mut self, stx: ServerTxId) {
        self.accepted.remove(&stx);
    }

    /// Forgets a request whose final answer went upstream and whose branches all ended. One
    /// that is answered but still has branches (an INVITE's client transactions wait 32 s in
    /// Accepted for late 2xx) keeps only what routes those: the request and the forwarded
    /// copies, needed to start and cancel branches, are let go.
    pub(super) fn reap(&mut self, stx: ServerTxId) {
        let Some(p) = self.pending.get_mut(&stx) else {
            return;
        };
        if !p.fork.answered() || self.media.as_ref().is_some_and(|m| m.holds(stx)) {
            return;
        }
        let live = (p.branches.iter().flatten()).any(|b| self.clients.contains_key(&b.tx));
        if !live {
            self.pending.remove(&stx);
        } else {
            p.request = Bytes::new();
            p.template = Template::default();
            p.fork.settle();
            // A branch still without its final may yet need a CANCEL, built from its copy.
            for (i, b) in p.branches.iter_mut().enumerate() {
                if let Some(b) = b
                    && p.fork.is_done(BranchId(i))
                {
                    b.forwarded = Bytes::new();
                }
            }
        }
    }

    /// The proxy's second: Timer C, overdue calls, and on the `main` shard the NAT
    /// keep-alives of every binding.
    pub(crate) fn tick(&mut self, env: &mut Env<'_>, main: bool) {
        let due: Vec<ServerTxId> = (self.pending.iter())
            .filter(|(_, p)| p.ring_deadline.is_some_and(|d| d <= env.now_ms) && !p.fork.answered())
            .map(|(k, _)| *k)
            .collect();
        for stx in due {
            let Some(p) = self.pending.get_mut(&stx) else {
                continue;
            };
            p.ring_deadline = None;
            let mut steps = Vec::new();
            p.fork.expire(&mut steps);
            self.apply(env, stx, steps);
        }
        let max_ms = self.config.max_call_secs * 1000;
        for key in self.calls.overdue(env.now_ms, max_ms) {
            self.end_call(env, &key, Hangup::Timeout);
        }
        if main {
            self.keepalive(env);
        }
    }
}

/// The calling side of a call: the authenticated user, or the From URI of a stranger.
fn caller_party(msg: &Message<'_>, caller: Option<&SnapshotUser>) -> Party {
    match caller {
        Some(c) => Party {
            user: Some(c.id),
            customer: Some(c.customer_id),
            name: format!("{}@{}", c.username, c.domain),
        },
        None => Party {
            name: (msg.from().ok())
                .map(|f| String::from_utf8_lossy(f.uri_raw).into_owned())
                .unwrap_or_default(),
            ..Party::default()
        },
    }
}

/// The Contacts of a 3xx the proxy may recurse to (addresses only; no DNS here).
fn redirect_targets(received: &Received, ifaces: &Interfaces, flows: &Arc<Flows>) -> Vec<Target> {
    let Some(msg) = received.message() else {
        return Vec::new();
    };
    (msg.contacts().flatten())
        .filter_map(|c| match c {
            trunkline_sip::Contact::Addr(na) => Some(na),
            _ => None,
        })
        .filter_map(|na| {
            let Uri::Sip(u) = na.uri else {
                return None;
            };
            let peer = target::peer_for_uri(ifaces, flows, &u, target::Dial::Never).ok()?;
            Some(Target {
                peer,
                request_uri: Some(String::from_utf8_lossy(na.uri_raw).into_owned()),
                path: Vec::new(),
            })
        })
        .take(8)
        .collect()
}
