//! The SIP core task: every message from every transport arrives here, in one queue, runs
//! through the transaction engine, and every message to the network leaves from here, over a
//! UDP socket or a flow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};
use trunkline_proto::{Destination, Engine, Incoming, Output, Timers, TxId};
use trunkline_sip::{HeaderName, Message, Method, Uri, Via, ViaReceived};
use trunkline_store::{CdrJournal, LiveRequest, NewCdr, Snapshot, SnapshotHandle};

use crate::config::Transport;
use crate::control;
use crate::dial::DialEvent;
use crate::flow::{FlowId, Flows};
use crate::front::{self, FrontDoor, Outcome, TxContext};
use crate::guard::{Admission, Class, Guard};
use crate::proxy::{Env, Proxy};
use crate::registrar::persist::LocationFile;
use crate::registrar::{self, Event, Registrar};

/// Messages waiting for the core before transports start shedding load.
pub(crate) const INBOUND_QUEUE: usize = 8192;

/// One message as a transport received it.
#[derive(Debug)]
pub struct Inbound {
    /// The whole message (a datagram, or one frame cut from a stream).
    pub bytes: Vec<u8>,
    /// Who sent it.
    pub source: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// Where it arrived: a UDP listener index, or the connection.
    pub via: Arrival,
    /// Set when a stream lost its framing at this message; it gets a 400 if possible.
    pub broken: Option<trunkline_sip::ParseError>,
}

/// Where a message arrived, so that answers leave the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The UDP socket (listener shard) with this index.
    Udp(usize),
    /// A connection.
    Flow(FlowId),
}

/// A peer as the transaction engine sees it: how to reach it and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) arrival: Arrival,
    pub(crate) addr: SocketAddr,
    pub(crate) transport: Transport,
}

impl Destination for Peer {
    fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }

    fn response_target(&self, top_via: Option<&Via<'_>>) -> Self {
        Peer {
            addr: front::response_destination(top_via, self.addr, self.transport),
            ..*self
        }
    }

    fn via_received(&self, top_via: Option<&Via<'_>>) -> ViaReceived {
        front::via_received(top_via, self.addr)
    }
}

/// What the core needs to reach the network.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) udp: Vec<crate::udp::UdpOut>,
    pub(crate) flows: Arc<Flows>,
    /// How outbound connections the proxy asked for ended up.
    pub(crate) dialed: mpsc::UnboundedReceiver<DialEvent>,
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

/// What the core answers with besides the front door: the registrar and the edge guard, with
/// the provisioning snapshot they read.
#[derive(Debug)]
pub(crate) struct Roles {
    pub(crate) registrar: Registrar,
    pub(crate) location_file: Option<LocationFile>,
    pub(crate) snapshot: Option<SnapshotHandle>,
    pub(crate) guard: Guard,
    pub(crate) proxy: Proxy,
    pub(crate) cdrs: Option<CdrJournal>,
    pub(crate) control: mpsc::Receiver<control::Command>,
    /// The API's requests about calls in progress.
    pub(crate) live: mpsc::Receiver<LiveRequest>,
    /// Media nodes' answers to the proxy.
    pub(crate) media: mpsc::UnboundedReceiver<crate::proxy::remote::MediaReply>,
}

/// The core's state: the engine and the policy that answers requests.
struct Core {
    engine: Engine<Peer>,
    front: FrontDoor,
    net: Network,
    roles: Roles,
    empty: Arc<Snapshot>,
}

/// Messages taken from the inbound queue per turn of the loop.
const BATCH: usize = 64;

/// How often idle guard state is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Wall-clock time in ms since the Unix epoch (bindings expire in wall-clock time, so that they
/// survive a restart with their real lifetimes).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The calls in progress, a line each (`trunkline calls`): Call-ID, caller, callee, state,
/// seconds since it started, and for a relayed call what the relay received from each party
/// (packets, lost, jitter, MOS) and whether it records.
fn calls_report(calls: &[trunkline_store::LiveCall], now_ms: u64) -> String {
    let mut out = String::new();
    for c in calls {
        let state = match c.answered_at {
            Some(_) => "answered",
            None => "ringing",
        };
        let secs = (now_ms as i64).saturating_sub(c.started_at) / 1000;
        let media = match &c.media {
            Some(m) => {
                let leg = |l: &trunkline_store::LiveMedia| {
                    format!(
                        "{} pkts {} lost {:.1} ms jitter MOS {:.1}{}",
                        l.packets,
                        l.lost,
                        f64::from(l.jitter_us) / 1000.0,
                        f64::from(l.mos_x100) / 100.0,
                        if l.kernel { " (kernel)" } else { "" }
                    )
                };
                let rec = if c.recording { "; recording" } else { "" };
                format!("relayed: caller {}; callee {}{rec}", leg(&m[0]), leg(&m[1]))
            }
            None if c.relayed => {
                let rec = if c.recording { "; recording" } else { "" };
                format!("relayed by a media node{rec}")
            }
            None => "direct".to_owned(),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{state}\t{secs} s\t{media}\n",
            c.call_id, c.caller, c.callee
        ));
    }
    out
}

/// Runs the core until every transport has hung up.
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
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let deadline = [
            core.engine.poll_timeout(),
            core.expiry_deadline(),
            Some(next_sweep),
        ]
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
            Some(cmd) = core.roles.control.recv() => {
                let answer = core.command(&cmd.line);
                let _ = cmd.reply.send(answer);
            }
            Some(reply) = core.roles.media.recv() => {
                core.with_proxy(|proxy, env| proxy.media_reply(env, reply));
            }
            Some(req) = core.roles.live.recv() => match req {
                LiveRequest::List(reply) => {
                    let _ = reply.send(core.roles.proxy.live_calls());
                }
                LiveRequest::Record { call_id, reply } => {
                    let outcome = core.roles.proxy.record_call(&call_id, now_ms());
                    let _ = reply.send(outcome);
                }
            },
            () = sleep_until(deadline) => {
                let now = Instant::now();
                core.engine.handle_timeout(now);
                core.expire();
                if now >= next_sweep {
                    core.roles.guard.sweep(now_ms());
                    core.with_proxy(|proxy, env| proxy.tick(env));
                    next_sweep = now + SWEEP_EVERY;
                }
            }
        }
        core.drain().await;
        core.persist();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

impl Core {
    fn inbound(&mut self, msg: Inbound, now_ms: u64) {
        let guard = &mut self.roles.guard;
        if guard.admit(msg.source.ip(), Class::of(&msg.bytes), now_ms) == Admission::Drop {
            return;
        }
        let peer = Peer {
            arrival: msg.via,
            addr: msg.source,
            transport: msg.transport,
        };
        if msg.broken.is_none() && Class::of(&msg.bytes) == Class::Register {
            return self.register_stateless(&msg.bytes, peer);
        }
        // Before the engine, so that a dropped request leaves no transaction behind.
        if guard.has_scanner_list()
            && let Ok(head) = Message::parse_head(&msg.bytes)
            && self.is_scanner(&head, peer)
        {
            return;
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
        let at = self.roles.registrar.next_expiry()?;
        let wait = at.saturating_sub(now_ms());
        Some(Instant::now() + Duration::from_millis(wait))
    }

    fn expire(&mut self) {
        let now = now_ms();
        if self.roles.registrar.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        for aor in self.roles.registrar.expire(now) {
            debug!(aor, "bindings expired");
            self.save(&aor, now);
        }
    }

    /// Buffers the current bindings of `aor` for the location file.
    fn save(&mut self, aor: &str, now_ms: u64) {
        let Some(file) = self.roles.location_file.as_mut() else {
            return;
        };
        let bindings = self.roles.registrar.lookup(aor, now_ms);
        if let Err(e) = file.save(aor, &bindings) {
            error!(aor, error = %e, "cannot record bindings");
        }
    }

    /// Writes buffered location records; called before anything leaves for the network, so
    /// a 200 OK is never sent for a binding a crash could lose.
    fn persist(&mut self) {
        let Some(file) = self.roles.location_file.as_mut() else {
            return;
        };
        if !file.has_pending() {
            return;
        }
        if let Err(e) = file.write() {
            error!(error = %e, "cannot write the location file");
        }
        if let Err(e) = file.compact_if_large(self.roles.registrar.location()) {
            error!(error = %e, "cannot compact the location file");
        }
    }

    fn command(&mut self, line: &str) -> String {
        let now = now_ms();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ban", "list"] => {
                let mut out = String::new();
                for b in self.roles.guard.bans(now) {
                    out.push_str(&format!(
                        "{}\t{}\t{} s left\t{} dropped\n",
                        b.addr,
                        b.reason.as_str(),
                        b.remaining_secs,
                        b.dropped
                    ));
                }
                out
            }
            ["ban", "remove", ip] => match ip.parse::<std::net::IpAddr>() {
                Ok(ip) if self.roles.guard.unban(ip) => format!("{ip} unbanned\n"),
                Ok(ip) => format!("error: {ip} is not banned\n"),
                Err(_) => format!("error: {ip:?} is not an IP address\n"),
            },
            ["location", "list"] => {
                let mut out = String::new();
                let loc = self.roles.registrar.location();
                let mut aors: Vec<_> = loc.iter().map(|(a, _)| a).collect();
                aors.sort_unstable();
                for aor in aors {
                    for b in loc.lookup(aor, now) {
                        out.push_str(&format!(
                            "{aor}\t{}\t{} s\t{}:{}\n",
                            b.contact,
                            b.remaining_secs(now),
                            b.received.transport,
                            b.received.source
                        ));
                    }
                }
                out
            }
            ["calls"] => calls_report(&self.roles.proxy.live_calls(), now),
            ["status"] => {
                let g = self.roles.guard.stats();
                let loc = self.roles.registrar.location();
                format!(
                    "aors {}\nbindings {}\ncalls {}\nproxied {}\nflood_bans {}\nauth_bans {}\ndropped_banned {}\ndropped_scanners {}\nauth_failures {}\n",
                    loc.aor_count(),
                    loc.len(),
                    self.roles.proxy.call_count(),
                    self.roles.proxy.pending_count(),
                    g.flood_bans,
                    g.auth_bans,
                    g.dropped_banned,
                    g.dropped_scanners,
                    g.auth_failures
                )
            }
            _ => format!(
                "error: unknown command {line:?} (ban list | ban remove IP | calls | location list | status)\n"
            ),
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
                Output::Ack { bytes, from, tx } => {
                    self.with_proxy(|proxy, env| proxy.ack(env, &bytes, from, tx))
                }
                Output::StrayResponse { from, .. } => {
                    debug!(source = %from.addr, "response for no transaction dropped")
                }
                Output::Response {
                    tx, code, bytes, ..
                } => self.with_proxy(|proxy, env| proxy.response(env, tx, code, bytes)),
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
        let msg = match Message::parse(&inc.bytes) {
            Ok(m) => m,
            Err(e) => {
                let outcome = self.front.reject(&inc.bytes, e, from.addr, from.transport);
                return self.respond(tx, from, outcome);
            }
        };
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

    /// Runs `f` on the proxy with the rest of the core lent to it, then hands the CDRs it
    /// produced to the journal.
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
                registrar: &mut self.roles.registrar,
                guard: &mut self.roles.guard,
                snapshot: &snapshot,
                flows: &self.net.flows,
                now_ms: now_ms(),
                cdrs: &mut cdrs,
            };
            f(&mut self.roles.proxy, &mut env)
        };
        self.record_cdrs(cdrs);
        result
    }

    /// Writes CDRs through the journal, each acknowledged once it is on disk.
    fn record_cdrs(&self, cdrs: Vec<NewCdr>) {
        if cdrs.is_empty() {
            return;
        }
        let Some(journal) = &self.roles.cdrs else {
            debug!(count = cdrs.len(), "no CDR journal: CDRs not kept");
            return;
        };
        for cdr in cdrs {
            let journal = journal.clone();
            tokio::spawn(async move {
                let call_id = cdr.call_id.clone();
                if let Err(e) = journal.record(cdr).await {
                    error!(call_id, error = %e, "CDR not recorded");
                }
            });
        }
    }

    /// REGISTER is answered statelessly, as Kamailio's registrars do with `sl`: no server
    /// transaction is kept for 32 s per registration (at thousands per second that would be
    /// most of the registrar's memory and CPU). A retransmitted REGISTER is simply handled
    /// again: unauthenticated it gets a new challenge, authenticated its nonce-count is a
    /// replay and it gets `stale=true`, after which the phone re-authenticates.
    fn register_stateless(&mut self, bytes: &[u8], from: Peer) {
        let outcome = match Message::parse(bytes) {
            Ok(msg) if self.is_scanner(&msg, from) => return,
            Ok(msg) => self.answer_parsed(&msg, from, TxContext::default()),
            Err(e) => self.front.reject(bytes, e, from.addr, from.transport),
        };
        self.stateless(from, outcome);
    }

    /// Whether `msg` comes from a scanner the guard drops unanswered.
    fn is_scanner(&mut self, msg: &Message<'_>, from: Peer) -> bool {
        let guard = &mut self.roles.guard;
        let hit = guard.has_scanner_list()
            && msg
                .header(HeaderName::UserAgent)
                .is_some_and(|ua| guard.is_scanner(ua.value));
        if hit {
            debug!(source = %from.addr, "scanner User-Agent dropped");
        }
        hit
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
        let answer = self.roles.registrar.register(msg, &snapshot, at);
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
                self.roles.guard.auth_failed(from.addr.ip(), &user, now);
            }
            Event::Changed { aor } => {
                let aor = aor.clone();
                self.save(&aor, now);
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
