//! A shard's sans-IO heart: the transaction engine and the roles, with nothing of tokio. The
//! shard's task ([`super::shard`]) hands it what arrived (messages, connection outcomes, media
//! events, questions) with the time, sends what it gives back ([`Transmit`]s, and media
//! requests to media control) and reports how each send went. Every role answers with
//! [`Action`]s, carried out here on the engine; the client transactions a role starts are
//! recorded here with the role's name for them, so its events reach it under that name.
//! Tests drive it on simulated time ([`crate::roles::proxy`]'s tests).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};
use trunkline_proto::{ClientTxId, Engine, Incoming, Output, Received, Timers, TxId};
use trunkline_sip::{HeaderName, Message, Method, Uri};
use trunkline_store::{LiveCall, RecordOutcome, Snapshot, SnapshotHandle};

use crate::driver::cdr::CdrSink;
use crate::media_control::Backend;
use crate::roles::actions::{Action, Actions, ClientRef};
use crate::roles::media_control::{MediaEvent, MediaRequest};
use crate::roles::proxy::{Env, Proxy};
use crate::roles::registrar::{self, Event};
use crate::roles::shared::Shared;
use crate::transport::dial::DialEvent;
use crate::transport::flow::{FlowId, Flows};
use crate::transport::front::{FrontDoor, Outcome, TxContext};
use crate::transport::guard::{Admission, Class};
use crate::transport::{Arrival, Inbound, Peer};

/// The time of an event: the monotonic instant the engine's timers run on, and wall-clock
/// ms since the Unix epoch for what outlives the process (binding expiry, CDR times).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) at: Instant,
    pub(crate) ms: u64,
}

impl Clock {
    /// The time now.
    pub(crate) fn now() -> Clock {
        Clock {
            at: Instant::now(),
            ms: now_ms(),
        }
    }
}

/// Wall-clock time in ms since the Unix epoch (bindings expire in wall-clock time, so that they
/// survive a restart with their real lifetimes).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a shard owns besides the engine: its roles and what they share.
#[derive(Debug)]
pub(crate) struct Roles {
    /// Which shard this is (shard 0 also runs the node-wide sweeps).
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) snapshot: Option<SnapshotHandle>,
    pub(crate) proxy: Proxy,
    pub(crate) cdrs: CdrSink,
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

/// A message to put on the wire; `tx` is the transaction that sent it, told when it fails.
#[derive(Debug)]
pub(crate) struct Transmit {
    pub(crate) to: Peer,
    pub(crate) bytes: Bytes,
    pub(crate) tx: Option<TxId>,
}

/// What became of a message handed to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Out,
    /// Queued on this outbound connection, still connecting.
    Waiting(FlowId),
    Refused,
}

/// The shard's state: the engine, the roles, and what waits to leave.
#[derive(Debug)]
pub(crate) struct Dispatch {
    engine: Engine<Peer>,
    front: FrontDoor,
    flows: Arc<Flows>,
    pub(crate) roles: Roles,
    /// The snapshot routed with when there is no live one.
    empty: Arc<Snapshot>,
    /// This shard buffered location records that must reach the file before it sends.
    unsaved: bool,
    /// Requests refused for overload since the last warning.
    shed: u64,
    /// The proxy's client transactions, by the engine's name.
    clients: HashMap<ClientTxId, ClientRef>,
    /// Client transactions that sent on an outbound connection still connecting: they fail
    /// at once if the connect does.
    dialing: HashMap<FlowId, Vec<TxId>>,
    /// The actions of the event being handled.
    actions: Actions,
    transmits: VecDeque<Transmit>,
    /// Requests for the media layer, to hand over.
    media: Vec<MediaRequest>,
    /// Where calls' media is relayed, for the live view of calls.
    backend: Option<Backend>,
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

impl Dispatch {
    pub(crate) fn new(
        front: FrontDoor,
        flows: Arc<Flows>,
        roles: Roles,
        backend: Option<Backend>,
    ) -> Self {
        Dispatch {
            engine: Engine::new(Timers::default()),
            front,
            flows,
            roles,
            empty: Arc::new(Snapshot::default()),
            unsaved: false,
            shed: 0,
            clients: HashMap::new(),
            dialing: HashMap::new(),
            actions: Actions::default(),
            transmits: VecDeque::new(),
            media: Vec::new(),
            backend,
        }
    }

    /// Routes with `snapshot` when there is no live one (tests of the roles).
    #[cfg(test)]
    pub(crate) fn with_snapshot(mut self, snapshot: Arc<Snapshot>) -> Self {
        self.empty = snapshot;
        self
    }

    /// The provisioning snapshot for one event.
    fn snapshot(&self) -> Arc<Snapshot> {
        match &self.roles.snapshot {
            Some(h) => h.load(),
            None => Arc::clone(&self.empty),
        }
    }

    /// Whether this shard runs the node-wide sweeps.
    pub(crate) fn is_main(&self) -> bool {
        self.roles.index == 0
    }

    /// When the engine or (on the main shard) the location service next needs the time.
    pub(crate) fn deadline(&mut self, clock: Clock) -> Option<Instant> {
        let expiry = self
            .is_main()
            .then(|| self.expiry_deadline(clock))
            .flatten();
        [self.engine.poll_timeout(), expiry]
            .into_iter()
            .flatten()
            .min()
    }

    /// A message a transport received.
    pub(crate) fn inbound(&mut self, msg: Inbound, clock: Clock) {
        let class = Class::of(&msg.bytes);
        {
            // One lock for both edge checks. The scanner check runs before the engine, so a
            // dropped request leaves no transaction behind, and by a scan of the header
            // lines, so the message is still parsed only once.
            let mut guard = self.roles.shared.guard();
            if guard.admit(msg.source.ip(), class, clock.ms) == Admission::Drop {
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
        let waited = clock.at.saturating_duration_since(msg.queued);
        if msg.broken.is_none()
            && matches!(class, Class::Register | Class::Invite)
            && (self.roles.cdrs.backed_up() || waited > self.roles.overload.max_wait)
            && self.shed_new(&msg.bytes, peer)
        {
            return;
        }
        if msg.broken.is_none() && class == Class::Register {
            return self.register_stateless(&msg.bytes, peer, clock);
        }
        match msg.broken {
            // A stream that lost its framing: no transaction, a stateless 400 if possible.
            Some(e) => {
                let outcome = self.front.reject(&msg.bytes, e, msg.source, msg.transport);
                self.stateless(peer, outcome);
            }
            None => self.engine.receive(Bytes::from(msg.bytes), peer, clock.at),
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
    pub(crate) fn query(&mut self, q: Query, clock: Clock) {
        match q {
            Query::Calls(reply) => {
                let backend = self.backend.as_ref();
                let figures = |k: &_| backend.and_then(|b| b.live(k));
                let _ = reply.send(self.roles.proxy.live_calls(figures));
            }
            Query::Record { call_id, reply } => {
                let outcome = self.with_proxy(clock, |proxy, env| proxy.record_call(env, &call_id));
                let _ = reply.send(outcome);
            }
            Query::Counts(reply) => {
                let p = &self.roles.proxy;
                let _ = reply.send((p.call_count(), p.pending_count()));
            }
        }
    }

    /// The engine's timers that are due, and with `second` the once-a-second work: the
    /// proxy's tick, and on the main shard the guard's sweep.
    pub(crate) fn timeout(&mut self, clock: Clock, second: bool) {
        self.engine.handle_timeout(clock.at);
        let main = self.is_main();
        if main {
            self.expire(clock);
        }
        if second {
            if main {
                self.roles.shared.guard().sweep(clock.ms);
            }
            self.with_proxy(clock, |proxy, env| proxy.tick(env, main));
            self.roles.cdrs.flush();
            self.report_shed();
        }
    }

    /// The media layer answered a request, or a call's media stopped.
    pub(crate) fn media_event(&mut self, event: MediaEvent, clock: Clock) {
        self.with_proxy(clock, |proxy, env| proxy.media_event(env, event));
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
    fn expiry_deadline(&self, clock: Clock) -> Option<Instant> {
        let at = self.roles.shared.registrar().next_expiry()?;
        Some(clock.at + Duration::from_millis(at.saturating_sub(clock.ms)))
    }

    fn expire(&mut self, clock: Clock) {
        let mut registrar = self.roles.shared.registrar();
        if registrar.next_expiry().is_none_or(|at| at > clock.ms) {
            return;
        }
        for aor in registrar.expire(clock.ms) {
            debug!(aor, "bindings expired");
        }
        self.unsaved = true;
    }

    /// Writes buffered location records; called before anything leaves for the network, so
    /// a 200 OK is never sent for a binding a crash could lose.
    pub(crate) fn persist(&mut self) {
        if std::mem::take(&mut self.unsaved) {
            self.roles.shared.registrar().persist();
        }
    }

    /// An outbound connection is up (its queued messages are on their way) or failed (the
    /// transactions that sent on it fail now).
    pub(crate) fn dialed(&mut self, event: DialEvent, clock: Clock) {
        match event {
            DialEvent::Connected(id) => {
                self.dialing.remove(&id);
            }
            DialEvent::Failed(id) => {
                for tx in self.dialing.remove(&id).unwrap_or_default() {
                    self.engine.transport_error(tx, clock.at);
                }
            }
        }
    }

    /// The next message to send, after everything the engine has to say was handled. Buffered
    /// location records are written first.
    pub(crate) fn next_transmit(&mut self, clock: Clock) -> Option<Transmit> {
        loop {
            if let Some(t) = self.transmits.pop_front() {
                self.persist();
                return Some(t);
            }
            let out = self.engine.poll_output()?;
            self.output(out, clock);
        }
    }

    /// How the network took a message [`Dispatch::next_transmit`] gave.
    pub(crate) fn sent(&mut self, t: &Transmit, how: Sent, clock: Clock) {
        match (t.tx, how) {
            (Some(tx), Sent::Refused) => self.engine.transport_error(tx, clock.at),
            (Some(tx), Sent::Waiting(id)) => self.dialing.entry(id).or_default().push(tx),
            _ => {}
        }
    }

    /// The media requests the roles made since the last call.
    pub(crate) fn take_media(&mut self) -> Vec<MediaRequest> {
        std::mem::take(&mut self.media)
    }

    fn output(&mut self, out: Output<Peer>, clock: Clock) {
        match out {
            Output::Transmit { to, bytes, tx } => {
                self.transmits.push_back(Transmit { to, bytes, tx })
            }
            Output::Request(inc) => self.request(inc, clock),
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
                self.with_proxy(clock, |proxy, env| proxy.ack(env, &ack, from, tx))
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
                let Some(&key) = self.clients.get(&tx) else {
                    return;
                };
                let response = Received { bytes, index };
                self.with_proxy(clock, |proxy, env| proxy.response(env, key, code, response))
            }
            Output::ClientFailed { tx, code } => {
                if let Some(&key) = self.clients.get(&tx) {
                    self.with_proxy(clock, |proxy, env| proxy.client_failed(env, key, code))
                }
            }
            Output::Ended { tx, end } => match tx {
                TxId::Server(id) => {
                    debug!(?tx, ?end, "transaction ended");
                    self.roles.proxy.server_ended(id);
                }
                TxId::Client(id) => {
                    if let Some(key) = self.clients.remove(&id) {
                        self.roles.proxy.client_ended(key);
                    }
                }
            },
        }
    }

    /// A request the transaction layer delivered: the front door's checks, then the role
    /// (registrar, or the proxy for everything else).
    fn request(&mut self, inc: Incoming<Peer>, clock: Clock) {
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
                return self.respond(tx, from, outcome, clock);
            }
        };
        // REGISTER gets its span in `register`.
        let _span = (msg.method() != Some(Method::Register)).then(|| span(&msg, "proxy").entered());
        let outcome = match self.front.screen(&msg, from.addr, from.transport, ctx) {
            Outcome::Route if msg.method() == Some(Method::Register) => {
                self.register(&msg, from, clock)
            }
            Outcome::Route => {
                let bytes = inc.bytes.clone();
                match self.with_proxy(clock, |proxy, env| {
                    proxy.request(env, tx, &bytes, &msg, from)
                }) {
                    Some(o) => o,
                    None => return,
                }
            }
            other => other,
        };
        self.respond(tx, from, outcome, clock);
        if let Some(invite) = inc.cancels
            && msg.method() == Some(Method::Cancel)
        {
            self.with_proxy(clock, |proxy, env| proxy.cancel(env, invite));
        }
    }

    /// Hands an event to the proxy with the time and the shared state lent to it, then
    /// carries out the actions it answered with.
    fn with_proxy<R>(&mut self, clock: Clock, f: impl FnOnce(&mut Proxy, &mut Env<'_>) -> R) -> R {
        let snapshot = self.snapshot();
        let result = {
            let mut env = Env {
                front: &self.front,
                shared: &self.roles.shared,
                snapshot: &snapshot,
                flows: &self.flows,
                now_ms: clock.ms,
                out: &mut self.actions,
            };
            f(&mut self.roles.proxy, &mut env)
        };
        self.carry_out(clock);
        result
    }

    /// Carries out the proxy's actions. A client transaction the engine refuses to start
    /// fails at once: the proxy hears of it as of any other failed transaction (and its end).
    fn carry_out(&mut self, clock: Clock) {
        let mut refused = Vec::new();
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain() {
            match action {
                Action::Respond { tx, bytes } => {
                    if let Err(e) = self.engine.respond(tx, bytes, clock.at) {
                        debug!(error = %e, "response refused by its server transaction");
                    }
                }
                Action::Request {
                    key,
                    bytes,
                    to,
                    branch,
                } => {
                    let keyed = branch.as_deref().zip(request_method(&bytes));
                    let started = match keyed {
                        Some((b, m)) => {
                            (self.engine).request_keyed(bytes.clone(), b, m, to, clock.at)
                        }
                        None => self.engine.request(bytes.clone(), to, clock.at),
                    };
                    match started {
                        Ok(ctx) => {
                            self.clients.insert(ctx, key);
                        }
                        Err(e) => {
                            debug!(error = %e, "client transaction not started");
                            refused.push(key);
                        }
                    }
                }
                Action::Send { to, bytes } => self.engine.send_stateless(to, bytes),
                Action::Media(req) => self.media.push(req),
                Action::Cdr(cdr) => self.roles.cdrs.push(*cdr),
            }
        }
        // The buffer is kept for the next event.
        self.actions = actions;
        for key in refused {
            self.with_proxy(clock, |proxy, env| {
                proxy.client_failed(env, key, 503);
                proxy.client_ended(key);
            });
        }
    }

    /// REGISTER is answered statelessly, as Kamailio's registrars do with `sl`: no server
    /// transaction is kept for 32 s per registration (at thousands per second that would be
    /// most of the registrar's memory and CPU). A retransmitted REGISTER is simply handled
    /// again: unauthenticated it gets a new challenge, authenticated its nonce-count is a
    /// replay and it gets `stale=true`, after which the phone re-authenticates.
    fn register_stateless(&mut self, bytes: &[u8], from: Peer, clock: Clock) {
        let outcome = match Message::parse(bytes) {
            Ok(msg) => {
                match self
                    .front
                    .screen(&msg, from.addr, from.transport, TxContext::default())
                {
                    Outcome::Route if msg.method() == Some(Method::Register) => {
                        self.register(&msg, from, clock)
                    }
                    Outcome::Route => self.front.not_found(&msg, from.addr, from.transport),
                    other => other,
                }
            }
            Err(e) => self.front.reject(bytes, e, from.addr, from.transport),
        };
        self.stateless(from, outcome);
    }

    fn register(&mut self, msg: &Message<'_>, from: Peer, clock: Clock) -> Outcome {
        let snapshot = self.snapshot();
        let at = registrar::Arrival {
            source: from.addr,
            transport: from.transport,
            flow: match from.arrival {
                Arrival::Flow(id) => Some(id),
                Arrival::Udp(_) | Arrival::Dial => None,
            },
            now_ms: clock.ms,
        };
        let _span = span(msg, "registrar").entered();
        let answer = self.roles.shared.registrar().register(msg, &snapshot, at);
        match &answer.event {
            // The location service buffered the change; it is written before anything is
            // sent.
            Event::Changed { .. } => self.unsaved = true,
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
                    .auth_failed(from.addr.ip(), &user, clock.ms);
            }
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

    fn respond(
        &mut self,
        tx: trunkline_proto::ServerTxId,
        from: Peer,
        outcome: Outcome,
        clock: Clock,
    ) {
        match outcome {
            Outcome::Reply(reply) => {
                debug!(source = %from.addr, code = reply.code, "reply");
                if let Err(e) = self.engine.respond(tx, Bytes::from(reply.bytes), clock.at) {
                    warn!(error = %e, "response refused by its transaction");
                }
            }
            Outcome::Drop(why) => debug!(source = %from.addr, why, "drop"),
            Outcome::Route => {}
        }
    }
}

/// The method of request `bytes`, from its request line.
fn request_method(bytes: &[u8]) -> Option<Method<'_>> {
    let end = bytes.iter().position(|b| *b == b' ')?;
    Method::parse(&bytes[..end])
}
