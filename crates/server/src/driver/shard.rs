//! One SIP shard: the messages whose Call-ID hashes to it arrive here, in one queue, run
//! through its transaction engine and its proxy, and everything it sends leaves from here,
//! over a UDP socket or a flow. State shared with the other shards (registrar, guard,
//! per-user call counts) is in [`Shared`]; CDRs leave through a bounded queue
//! ([`CdrSink`]); nothing here waits on storage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use trunkline_proto::{Engine, Incoming, Output, Received, Timers, TxId};
use trunkline_sip::{HeaderName, Message, Method, Uri};
use trunkline_store::{LiveCall, RecordOutcome, Snapshot, SnapshotHandle};

use crate::driver::cdr::CdrSink;
use crate::roles::proxy::{Env, Proxy};
use crate::roles::registrar::{self, Event};
use crate::roles::shared::Shared;
use crate::transport::dial::DialEvent;
use crate::transport::flow::{FlowId, Flows};
use crate::transport::front::{FrontDoor, Outcome, TxContext};
use crate::transport::guard::{Admission, Class};
use crate::transport::{Arrival, Inbound, Peer};

/// What the core needs to reach the network.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) udp: Vec<crate::transport::udp::UdpOut>,
    pub(crate) flows: Arc<Flows>,
    /// How outbound connections ended up (every shard hears of every dial; the one that
    /// sent on it acts).
    pub(crate) dialed: mpsc::Receiver<DialEvent>,
    /// Client transactions that sent on an outbound connection still connecting: they fail
    /// at once if the connect does.
    pub(crate) dialing: HashMap<FlowId, Vec<TxId>>,
}

/// What became of a message handed to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Out,
    /// Queued on an outbound connection still connecting.
    Waiting,
    Refused,
}

impl Network {
    /// Sends `bytes` to `to`.
    async fn send(&self, to: &Peer, bytes: &[u8]) -> Sent {
        match to.arrival {
            Arrival::Udp(i) => match self.udp.get(i) {
                Some(out) if out.send(to.addr, bytes).await => Sent::Out,
                _ => Sent::Refused,
            },
            Arrival::Flow(id) => match self.flows.send(id, bytes.to_vec()) {
                Ok(false) => Sent::Out,
                Ok(true) => Sent::Waiting,
                Err(e) => {
                    debug!(error = %e, to = %to.addr, "flow send failed");
                    Sent::Refused
                }
            },
        }
    }
}

/// What a shard owns besides the engine and the network: its proxy, and the queues it is
/// asked and told things on.
#[derive(Debug)]
pub(crate) struct Roles {
    /// Which shard this is (shard 0 also runs the node-wide sweeps).
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) snapshot: Option<SnapshotHandle>,
    pub(crate) proxy: Proxy,
    pub(crate) cdrs: CdrSink,
    /// Questions about this shard's calls (`trunkline calls`, the API's live calls).
    pub(crate) queries: mpsc::Receiver<Query>,
    /// Media nodes' answers to the proxy.
    pub(crate) media: mpsc::Receiver<crate::roles::proxy::remote::MediaReply>,
    /// New INVITEs and REGISTERs that waited longer than this in the inbound queue are
    /// refused with 503 before any work is spent on them.
    pub(crate) overload: Overload,
}

/// When a shard counts as overloaded, and what it tells clients then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Overload {
    /// Queueing delay beyond which new INVITEs and REGISTERs are refused.
    pub(crate) max_wait: Duration,
    /// The Retry-After of the 503.
    pub(crate) retry_after: u32,
}

/// A question to one shard about its own state.
#[derive(Debug)]
pub(crate) enum Query {
    /// The calls in progress on this shard.
    Calls(oneshot::Sender<Vec<LiveCall>>),
    /// Record this call from now on (the shard of its Call-ID is asked).
    Record {
        call_id: String,
        reply: oneshot::Sender<RecordOutcome>,
    },
    /// Calls in progress and requests being proxied.
    Counts(oneshot::Sender<(usize, usize)>),
}

/// The shard's state: the engine and the policy that answers requests.
struct Core {
    engine: Engine<Peer>,
    front: FrontDoor,
    net: Network,
    roles: Roles,
    empty: Arc<Snapshot>,
    /// This shard buffered location records that must reach the file before it sends.
    unsaved: bool,
    /// Requests refused for overload since the last warning.
    shed: u64,
}

/// Messages taken from the inbound queue per turn of the loop.
const BATCH: usize = 64;

/// How often idle guard state is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Wall-clock time in ms since the Unix epoch (bindings expire in wall-clock time, so that they
/// survive a restart with their real lifetimes).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs one shard until every transport has hung up.
pub(crate) async fn run(
    mut inbound: mpsc::Receiver<Inbound>,
    front: FrontDoor,
    net: Network,
    roles: Roles,
) {
    let mut core = Core {
        engine: Engine::new(Timers::default()),
        front,
        net,
        roles,
        empty: Arc::new(Snapshot::default()),
        unsaved: false,
        shed: 0,
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    let main = core.roles.index == 0;
    loop {
        let expiry = main.then(|| core.expiry_deadline()).flatten();
        let deadline = [core.engine.poll_timeout(), expiry, Some(next_sweep)]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            n = inbound.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                let now = now_ms();
                for msg in batch.drain(..) {
                    core.inbound(msg, now);
                }
            }
            Some(event) = core.net.dialed.recv() => core.dialed(event),
            Some(reply) = core.roles.media.recv() => {
                core.with_proxy(|proxy, env| proxy.media_reply(env, reply));
            }
            Some(q) = core.roles.queries.recv() => core.query(q),
            () = sleep_until(deadline) => {
                let now = Instant::now();
                core.engine.handle_timeout(now);
                if main {
                    core.expire();
                }
                if now >= next_sweep {
                    if main {
                        core.roles.shared.guard().sweep(now_ms());
                    }
                    core.with_proxy(|proxy, env| proxy.tick(env, main));
                    core.roles.cdrs.flush();
                    core.report_shed();
                    next_sweep = now + SWEEP_EVERY;
                }
            }
        }
        core.drain().await;
        core.persist();
    }
}

/// The span a request is handled in: its Call-ID, method and role, so that one call's log
/// lines can be followed whichever shard handles them.
fn span(msg: &Message<'_>, role: &'static str) -> tracing::Span {
    let call_id =
        (msg.header(HeaderName::CallId)).map_or("", |h| std::str::from_utf8(h.value).unwrap_or(""));
    let method = msg.method().map_or("", |m| m.as_str());
    tracing::info_span!("sip", call_id, method, role)
}

/// The span of a message the proxy handles without parsing it here (ACKs, responses): its
/// Call-ID by a scan.
fn scanned_span(bytes: &[u8], what: &'static str) -> tracing::Span {
    let call_id = std::str::from_utf8(crate::transport::ingress::call_id(bytes)).unwrap_or("");
    tracing::info_span!("sip", call_id, method = what, role = "proxy")
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

impl Core {
    fn inbound(&mut self, msg: Inbound, now_ms: u64) {
        let class = Class::of(&msg.bytes);
        {
            // One lock for both edge checks. The scanner check runs before the engine, so a
            // dropped request leaves no transaction behind, and by a scan of the header
            // lines, so the message is still parsed only once.
            let mut guard = self.roles.shared.guard();
            if guard.admit(msg.source.ip(), class, now_ms) == Admission::Drop {
                return;
            }
            if guard.has_scanner_list() && !msg.bytes.starts_with(b"SIP/") {
                let ua = crate::transport::ingress::header(&msg.bytes, b"user-agent", b"");
                if !ua.is_empty() && guard.is_scanner(ua) {
                    debug!(source = %msg.source, "scanner User-Agent dropped");
                    return;
                }
            }
        }
        let peer = Peer {
            arrival: msg.via,
            addr: msg.source,
            transport: msg.transport,
        };
        if msg.broken.is_none()
            && matches!(class, Class::Register | Class::Invite)
            && (self.roles.cdrs.backed_up() || msg.queued.elapsed() > self.roles.overload.max_wait)
            && self.shed_new(&msg.bytes, peer)
        {
            return;
        }
        if msg.broken.is_none() && class == Class::Register {
            return self.register_stateless(&msg.bytes, peer);
        }
        match msg.broken {
            // A stream that lost its framing: no transaction, a stateless 400 if possible.
            Some(e) => {
                let outcome = self.front.reject(&msg.bytes, e, msg.source, msg.transport);
                self.stateless(peer, outcome);
            }
            None => self
                .engine
                .receive(Bytes::from(msg.bytes), peer, Instant::now()),
        }
    }

    /// Overload (RFC 6357): a new INVITE or REGISTER that waited too long in the queue is
    /// answered 503 with Retry-After at once, before authentication or routing costs
    /// anything, so that the shard keeps serving the calls it admitted (retransmissions, ACK,
    /// CANCEL, BYE and in-dialog requests still go through). Returns whether it was refused.
    fn shed_new(&mut self, bytes: &[u8], peer: Peer) -> bool {
        let Ok(msg) = Message::parse_head(bytes) else {
            return false;
        };
        let new = match msg.method() {
            Some(Method::Register) => true,
            // A retransmission of an INVITE already admitted, or a re-INVITE, is served.
            Some(Method::Invite) => {
                (msg.to().ok()).is_some_and(|t| t.tag().is_none()) && !self.engine.knows(&msg)
            }
            _ => false,
        };
        if !new {
            return false;
        }
        let retry = self.roles.overload.retry_after.to_string();
        let outcome = self.front.reply(
            &msg,
            peer.addr,
            peer.transport,
            503,
            "Service Unavailable",
            &[("Retry-After", retry.as_str())],
        );
        self.stateless(peer, outcome);
        self.shed += 1;
        true
    }

    /// One warning a second at most while requests are being refused for overload.
    fn report_shed(&mut self) {
        if self.shed > 0 {
            warn!(
                shard = self.roles.index,
                refused = self.shed,
                "overload: new INVITEs/REGISTERs refused with 503 in the last second"
            );
            self.shed = 0;
        }
    }

    /// Answers a question about this shard.
    fn query(&mut self, q: Query) {
        match q {
            Query::Calls(reply) => {
                let _ = reply.send(self.roles.proxy.live_calls());
            }
            Query::Record { call_id, reply } => {
                let _ = reply.send(self.roles.proxy.record_call(&call_id, now_ms()));
            }
            Query::Counts(reply) => {
                let p = &self.roles.proxy;
                let _ = reply.send((p.call_count(), p.pending_count()));
            }
        }
    }

    fn stateless(&mut self, peer: Peer, outcome: Outcome) {
        match outcome {
            Outcome::Reply(reply) => {
                let to = Peer {
                    addr: reply.destination,
                    ..peer
                };
                self.engine.send_stateless(to, Bytes::from(reply.bytes));
            }
            Outcome::Drop(why) => debug!(source = %peer.addr, why, "drop"),
            Outcome::Route => {}
        }
    }

    /// When the next binding expires, as an `Instant`.
    fn expiry_deadline(&self) -> Option<Instant> {
        let at = self.roles.shared.registrar().next_expiry()?;
        let wait = at.saturating_sub(now_ms());
        Some(Instant::now() + Duration::from_millis(wait))
    }

    fn expire(&mut self) {
        let now = now_ms();
        let mut registrar = self.roles.shared.registrar();
        if registrar.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        for aor in registrar.expire(now) {
            debug!(aor, "bindings expired");
        }
        self.unsaved = true;
    }

    /// Writes buffered location records; called before anything leaves for the network, so
    /// a 200 OK is never sent for a binding a crash could lose.
    fn persist(&mut self) {
        if std::mem::take(&mut self.unsaved) {
            self.roles.shared.registrar().persist();
        }
    }

    /// An outbound connection is up (its queued messages are on their way) or failed (the
    /// transactions that sent on it fail now).
    fn dialed(&mut self, event: DialEvent) {
        match event {
            DialEvent::Connected(id) => {
                self.net.dialing.remove(&id);
            }
            DialEvent::Failed(id) => {
                for tx in self.net.dialing.remove(&id).unwrap_or_default() {
                    self.engine.transport_error(tx, Instant::now());
                }
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Transmit { to, bytes, tx } => {
                    self.persist();
                    match (tx, self.net.send(&to, &bytes).await, to.arrival) {
                        (Some(tx), Sent::Refused, _) => {
                            self.engine.transport_error(tx, Instant::now())
                        }
                        (Some(tx), Sent::Waiting, Arrival::Flow(id)) => {
                            self.net.dialing.entry(id).or_default().push(tx);
                        }
                        _ => {}
                    }
                }
                Output::Request(inc) => self.request(inc),
                Output::Unmatched { bytes, from, error } => {
                    let outcome = match error {
                        Some(e) => self.front.reject(&bytes, e, from.addr, from.transport),
                        None => self.front.handle(&bytes, from.addr, from.transport),
                    };
                    self.stateless(from, outcome);
                }
                Output::Ack {
                    bytes,
                    index,
                    from,
                    tx,
                } => {
                    let _span = scanned_span(&bytes, "ACK").entered();
                    let ack = Received { bytes, index };
                    self.with_proxy(|proxy, env| proxy.ack(env, &ack, from, tx))
                }
                Output::StrayResponse { from, .. } => {
                    debug!(source = %from.addr, "response for no transaction dropped")
                }
                Output::Response {
                    tx,
                    code,
                    bytes,
                    index,
                    ..
                } => {
                    let _span = scanned_span(&bytes, "response").entered();
                    let response = Received { bytes, index };
                    self.with_proxy(|proxy, env| proxy.response(env, tx, code, response))
                }
                Output::ClientFailed { tx, code } => {
                    self.with_proxy(|proxy, env| proxy.client_failed(env, tx, code))
                }
                Output::Ended { tx, end } => match tx {
                    TxId::Server(id) => {
                        debug!(?tx, ?end, "transaction ended");
                        self.roles.proxy.server_ended(id);
                    }
                    TxId::Client(id) => self.roles.proxy.client_ended(id),
                },
            }
        }
    }

    /// A request the transaction layer delivered: the front door's checks, then the role
    /// (registrar, or the proxy for everything else).
    fn request(&mut self, inc: Incoming<Peer>) {
        let (tx, from) = (inc.tx, inc.from);
        let ctx = TxContext {
            cancel_matched: inc.cancels.is_some(),
            merged: inc.merged_with.is_some(),
        };
        // Parsed once, by the engine: rebuilt from its index.
        let msg = match Message::from_index(&inc.bytes, &inc.index)
            .ok_or(())
            .or_else(|()| Message::parse(&inc.bytes))
        {
            Ok(m) => m,
            Err(e) => {
                let outcome = self.front.reject(&inc.bytes, e, from.addr, from.transport);
                return self.respond(tx, from, outcome);
            }
        };
        // REGISTER gets its span in `register`.
        let _span = (msg.method() != Some(Method::Register)).then(|| span(&msg, "proxy").entered());
        let outcome = match self.front.screen(&msg, from.addr, from.transport, ctx) {
            Outcome::Route if msg.method() == Some(Method::Register) => self.register(&msg, from),
            Outcome::Route => {
                let bytes = inc.bytes.clone();
                match self.with_proxy(|proxy, env| proxy.request(env, tx, &bytes, &msg, from)) {
                    Some(o) => o,
                    None => return,
                }
            }
            other => other,
        };
        self.respond(tx, from, outcome);
        if let Some(invite) = inc.cancels
            && msg.method() == Some(Method::Cancel)
        {
            self.with_proxy(|proxy, env| proxy.cancel(env, invite));
        }
    }

    /// Runs `f` on the proxy with the rest of the shard lent to it, then hands the CDRs it
    /// produced to the CDR queue.
    fn with_proxy<R>(&mut self, f: impl FnOnce(&mut Proxy, &mut Env<'_>) -> R) -> R {
        let snapshot = match &self.roles.snapshot {
            Some(h) => h.load(),
            None => Arc::clone(&self.empty),
        };
        let mut cdrs = Vec::new();
        let result = {
            let mut env = Env {
                engine: &mut self.engine,
                front: &self.front,
                shared: &self.roles.shared,
                snapshot: &snapshot,
                flows: &self.net.flows,
                now_ms: now_ms(),
                cdrs: &mut cdrs,
            };
            f(&mut self.roles.proxy, &mut env)
        };
        for cdr in cdrs {
            self.roles.cdrs.push(cdr);
        }
        result
    }

    /// REGISTER is answered statelessly, as Kamailio's registrars do with `sl`: no server
    /// transaction is kept for 32 s per registration (at thousands per second that would be
    /// most of the registrar's memory and CPU). A retransmitted REGISTER is simply handled
    /// again: unauthenticated it gets a new challenge, authenticated its nonce-count is a
    /// replay and it gets `stale=true`, after which the phone re-authenticates.
    fn register_stateless(&mut self, bytes: &[u8], from: Peer) {
        let outcome = match Message::parse(bytes) {
            Ok(msg) => self.answer_parsed(&msg, from, TxContext::default()),
            Err(e) => self.front.reject(bytes, e, from.addr, from.transport),
        };
        self.stateless(from, outcome);
    }

    fn answer_parsed(&mut self, msg: &Message<'_>, from: Peer, ctx: TxContext) -> Outcome {
        match self.front.screen(msg, from.addr, from.transport, ctx) {
            Outcome::Route if msg.method() == Some(Method::Register) => self.register(msg, from),
            Outcome::Route => self.front.not_found(msg, from.addr, from.transport),
            other => other,
        }
    }

    fn register(&mut self, msg: &Message<'_>, from: Peer) -> Outcome {
        let now = now_ms();
        let snapshot = match &self.roles.snapshot {
            Some(h) => h.load(),
            None => Arc::clone(&self.empty),
        };
        let at = registrar::Arrival {
            source: from.addr,
            transport: from.transport,
            flow: match from.arrival {
                Arrival::Flow(id) => Some(id),
                Arrival::Udp(_) => None,
            },
            now_ms: now,
        };
        let _span = span(msg, "registrar").entered();
        let answer = self.roles.shared.registrar().register(msg, &snapshot, at);
        // The location service buffered the change; it is written before anything is sent.
        if let Event::Changed { .. } = &answer.event {
            self.unsaved = true;
        }
        match &answer.event {
            Event::None => {}
            Event::AuthFailed { user } => {
                let domain = msg
                    .to()
                    .ok()
                    .and_then(|t| match t.uri {
                        Uri::Sip(u) => Some(u.host.to_string().to_ascii_lowercase()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let user = match user.is_empty() {
                    true => String::new(),
                    false => format!("{user}@{domain}"),
                };
                info!(source = %from.addr, user, "REGISTER authentication failed");
                self.roles
                    .shared
                    .guard()
                    .auth_failed(from.addr.ip(), &user, now);
            }
            Event::Changed { .. } => {}
        }
        let headers: Vec<(&str, &str)> = (answer.headers.iter())
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        self.front.reply(
            msg,
            from.addr,
            from.transport,
            answer.code,
            answer.reason,
            &headers,
        )
    }

    fn respond(&mut self, tx: trunkline_proto::ServerTxId, from: Peer, outcome: Outcome) {
        match outcome {
            Outcome::Reply(reply) => {
                debug!(source = %from.addr, code = reply.code, "reply");
                if let Err(e) = self
                    .engine
                    .respond(tx, Bytes::from(reply.bytes), Instant::now())
                {
                    warn!(error = %e, "response refused by its transaction");
                }
            }
            Outcome::Drop(why) => debug!(source = %from.addr, why, "drop"),
            Outcome::Route => {}
        }
    }
}
