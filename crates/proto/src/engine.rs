//! The transaction engine: matches every message to its transaction, runs the state machines,
//! keeps the timers, and queues what the driver must do. No I/O, no clock: the driver feeds
//! messages and `now`, then drains [`Engine::poll_output`] and sleeps until
//! [`Engine::poll_timeout`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Debug;
use std::time::Instant;

use bytes::Bytes;
use trunkline_sip::{Index, Message, Method, ParseError, ResponseBuilder, Via, ViaReceived};

mod ack;
mod id_map;

use crate::act::{Act, End, TxError};
use crate::invite_client::InviteClient;
use crate::invite_server::InviteServer;
use crate::key::{self, ClientKey, MergeKey, ServerKey};
use crate::non_invite_client::NonInviteClient;
use crate::non_invite_server::NonInviteServer;
use crate::timer::{TimerKind, Timers};
use ack::build_ack;
use id_map::IdMap;

/// Where a message came from or goes to, as the driver knows it (socket and address, or a
/// connection). The engine only asks the questions below.
pub trait Destination: Clone + Debug {
    /// Reliable transports (TCP, TLS, WS) get no retransmissions and zero-length wait timers.
    fn is_reliable(&self) -> bool;
    /// Where responses to a request that arrived from here go (RFC 3261 §18.2.2, RFC 3581).
    fn response_target(&self, top_via: Option<&Via<'_>>) -> Self;
    /// The `received`/`rport` values for the top Via of responses to a request from here.
    fn via_received(&self, top_via: Option<&Via<'_>>) -> ViaReceived;
}

/// A server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// A client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

/// Either kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    /// A server transaction.
    Server(ServerTxId),
    /// A client transaction.
    Client(ClientTxId),
}

/// A new request for the core.
#[derive(Debug, Clone)]
pub struct Incoming<D> {
    /// Its server transaction: answer with [`Engine::respond`].
    pub tx: ServerTxId,
    /// The request as received.
    pub bytes: Bytes,
    /// Where its parts are in `bytes`: [`Message::from_index`] gives it back unparsed.
    pub index: Index,
    /// Who sent it.
    pub from: D,
    /// For a CANCEL: the INVITE transaction it cancels (§9.2), if there is one.
    pub cancels: Option<ServerTxId>,
    /// A transaction for the same From tag, Call-ID and CSeq that arrived by another path
    /// (§8.2.2.2): a UAS answers 482.
    pub merged_with: Option<ServerTxId>,
}

/// What the driver must do next.
#[derive(Debug, Clone)]
pub enum Output<D> {
    /// Send bytes. `tx` names the transaction so a send failure can be reported with
    /// [`Engine::transport_error`].
    Transmit {
        /// Destination.
        to: D,
        /// The message.
        bytes: Bytes,
        /// The transaction that sent it, if any.
        tx: Option<TxId>,
    },
    /// A new request (never a retransmission).
    Request(Incoming<D>),
    /// An ACK for a 2xx (`tx` is the INVITE's transaction while it is in Accepted) or an ACK
    /// that matches no transaction: dialogs and proxies handle these.
    Ack {
        /// The ACK.
        bytes: Bytes,
        /// Where its parts are in `bytes`.
        index: Index,
        /// Who sent it.
        from: D,
        /// The INVITE server transaction, if it is still around.
        tx: Option<ServerTxId>,
    },
    /// A response for a client transaction.
    Response {
        /// The transaction.
        tx: ClientTxId,
        /// The status code.
        code: u16,
        /// The response as received.
        bytes: Bytes,
        /// Where its parts are in `bytes`.
        index: Index,
        /// Who sent it.
        from: D,
    },
    /// A response that matches no client transaction (a proxy may forward a stray 2xx).
    StrayResponse {
        /// The response.
        bytes: Bytes,
        /// Who sent it.
        from: D,
    },
    /// A client transaction failed without a final response: 408 for a timeout, 503 for a
    /// transport error (RFC 3261 §8.1.3.1, §17.1.4). The core treats it as that response.
    ClientFailed {
        /// The transaction.
        tx: ClientTxId,
        /// 408 or 503.
        code: u16,
    },
    /// A request that can have no transaction: unparseable, or without the top Via, From,
    /// To, Call-ID or CSeq that matching needs. The core may answer it statelessly.
    Unmatched {
        /// The bytes.
        bytes: Bytes,
        /// Who sent them.
        from: D,
        /// The parse error, when it did not parse at all.
        error: Option<ParseError>,
    },
    /// A transaction is gone.
    Ended {
        /// Which.
        tx: TxId,
        /// How.
        end: End,
    },
}

#[derive(Debug)]
enum ServerSm {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

#[derive(Debug)]
struct ServerEntry<D> {
    key: ServerKey,
    merge: Option<MergeKey>,
    sm: ServerSm,
    reply_to: D,
    request: Bytes,
    via: ViaReceived,
    timers: [Option<Instant>; TimerKind::COUNT],
}

#[derive(Debug)]
enum ClientSm {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

#[derive(Debug)]
struct ClientEntry<D> {
    key: ClientKey,
    sm: ClientSm,
    to: D,
    timers: [Option<Instant>; TimerKind::COUNT],
}

/// The transaction layer of one SIP element.
#[derive(Debug)]
pub struct Engine<D> {
    timers: Timers,
    next_id: u64,
    servers: IdMap<ServerTxId, ServerEntry<D>>,
    server_index: HashMap<ServerKey, ServerTxId>,
    merge_index: HashMap<MergeKey, ServerTxId>,
    clients: IdMap<ClientTxId, ClientEntry<D>>,
    client_index: HashMap<ClientKey, ClientTxId>,
    heap: BinaryHeap<Reverse<(Instant, TxId, TimerKind)>>,
    out: VecDeque<Output<D>>,
    acts: Vec<Act>,
}

impl<D: Destination> Engine<D> {
    /// An engine with these timer values.
    pub fn new(timers: Timers) -> Self {
        Engine {
            timers,
            next_id: 0,
            servers: IdMap::default(),
            server_index: HashMap::new(),
            merge_index: HashMap::new(),
            clients: IdMap::default(),
            client_index: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            acts: Vec::new(),
        }
    }

    /// Live server and client transactions.
    pub fn len(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output<D>> {
        self.out.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop entries whose timer was stopped or re-armed since they were queued.
        while let Some(Reverse((at, tx, kind))) = self.heap.peek().copied() {
            if self.timer_slot(tx, kind) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Whether `request` belongs to a server transaction already here (a retransmission):
    /// for a driver that sheds new work under overload but keeps serving what it admitted.
    pub fn knows(&self, request: &Message<'_>) -> bool {
        key::server_key(request, false).is_ok_and(|k| self.server_index.contains_key(&k))
    }

    /// A message from the network.
    pub fn receive(&mut self, bytes: Bytes, from: D, now: Instant) {
        let msg = match Message::parse(&bytes) {
            Ok(m) => m,
            Err(e) => {
                self.out.push_back(Output::Unmatched {
                    bytes: bytes.clone(),
                    from,
                    error: Some(e),
                });
                return;
            }
        };
        if let Some(status) = msg.status_line() {
            let code = status.code;
            self.receive_response(&msg, code, bytes.clone(), from, now);
        } else {
            self.receive_request(&msg, bytes.clone(), from, now);
        }
    }

    fn receive_request(&mut self, msg: &Message<'_>, bytes: Bytes, from: D, now: Instant) {
        let is_ack = msg.method() == Some(Method::Ack);
        let Ok(key) = key::server_key(msg, false) else {
            self.out.push_back(Output::Unmatched {
                bytes,
                from,
                error: None,
            });
            return;
        };
        if let Some(&id) = self.server_index.get(&key) {
            let t = self.timers;
            let mut acts = std::mem::take(&mut self.acts);
            if let Some(entry) = self.servers.get_mut(&id) {
                match (&mut entry.sm, is_ack) {
                    (ServerSm::Invite(sm), true) => sm.on_ack(&t, &mut acts),
                    (ServerSm::Invite(sm), false) => sm.on_request(&mut acts),
                    (ServerSm::NonInvite(sm), false) => sm.on_request(&mut acts),
                    (ServerSm::NonInvite(_), true) => {}
                }
            }
            let deliver = is_ack.then(|| Output::Ack {
                bytes,
                index: msg.index(),
                from,
                tx: Some(id),
            });
            self.apply(TxId::Server(id), &mut acts, deliver, now);
            self.acts = acts;
            return;
        }
        if is_ack {
            // An ACK for a 2xx whose transaction is gone, or for a dialog: the core's.
            self.out.push_back(Output::Ack {
                bytes,
                index: msg.index(),
                from,
                tx: None,
            });
            return;
        }
        let id = ServerTxId(self.bump());
        let cancels = if msg.method() == Some(Method::Cancel) {
            key::server_key(msg, true)
                .ok()
                .and_then(|k| self.server_index.get(&k).copied())
        } else {
            None
        };
        let merge = key::merge_key(msg);
        let merged_with = merge
            .as_ref()
            .and_then(|m| self.merge_index.get(m).copied());
        let top_via = msg.top_via().ok();
        let reply_to = from.response_target(top_via.as_ref());
        let via = from.via_received(top_via.as_ref());
        let reliable = from.is_reliable();
        let mut acts = std::mem::take(&mut self.acts);
        let sm = if msg.method() == Some(Method::Invite) {
            ServerSm::Invite(InviteServer::new(reliable, &self.timers, &mut acts))
        } else {
            ServerSm::NonInvite(NonInviteServer::new(reliable, &mut acts))
        };
        if let Some(m) = &merge
            && merged_with.is_none()
        {
            self.merge_index.insert(m.clone(), id);
        }
        self.server_index.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerEntry {
                key,
                merge: merge.filter(|_| merged_with.is_none()),
                sm,
                reply_to,
                request: bytes.clone(),
                via,
                timers: [None; TimerKind::COUNT],
            },
        );
        let deliver = Output::Request(Incoming {
            tx: id,
            bytes,
            index: msg.index(),
            from,
            cancels,
            merged_with,
        });
        self.apply(TxId::Server(id), &mut acts, Some(deliver), now);
        self.acts = acts;
    }

    fn receive_response(
        &mut self,
        msg: &Message<'_>,
        code: u16,
        bytes: Bytes,
        from: D,
        now: Instant,
    ) {
        let id = key::client_key(msg)
            .ok()
            .and_then(|k| self.client_index.get(&k).copied());
        let Some(id) = id else {
            self.out.push_back(Output::StrayResponse { bytes, from });
            return;
        };
        let t = self.timers;
        let mut acts = std::mem::take(&mut self.acts);
        if let Some(entry) = self.clients.get_mut(&id) {
            match &mut entry.sm {
                ClientSm::Invite(sm) => {
                    let request = sm.request().clone();
                    sm.on_response(code, &t, &mut acts, || build_ack(&request, msg))
                }
                ClientSm::NonInvite(sm) => sm.on_response(code, &t, &mut acts),
            }
        }
        let deliver = Output::Response {
            tx: id,
            code,
            bytes,
            index: msg.index(),
            from,
        };
        self.apply(TxId::Client(id), &mut acts, Some(deliver), now);
        self.acts = acts;
    }

    /// The core's response in a server transaction. The transaction sends it and, on UDP,
    /// retransmits it as long as RFC 3261 says.
    pub fn respond(&mut self, tx: ServerTxId, bytes: Bytes, now: Instant) -> Result<(), TxError> {
        let code = status_code(&bytes).ok_or(TxError::BadMessage("not a response"))?;
        let t = self.timers;
        let mut acts = std::mem::take(&mut self.acts);
        let result = match self.servers.get_mut(&tx).map(|e| &mut e.sm) {
            None => Err(TxError::Unknown),
            Some(ServerSm::Invite(sm)) => sm.respond(code, bytes, &t, &mut acts),
            Some(ServerSm::NonInvite(sm)) => sm.respond(code, bytes, &t, &mut acts),
        };
        if result.is_ok() {
            self.apply(TxId::Server(tx), &mut acts, None, now);
        }
        acts.clear();
        self.acts = acts;
        result
    }

    /// Starts a client transaction for a request the core built (top Via with a fresh
    /// RFC 3261 branch). ACKs are not transactions: send them with [`Engine::send_stateless`].
    pub fn request(&mut self, bytes: Bytes, to: D, now: Instant) -> Result<ClientTxId, TxError> {
        let msg = Message::parse(&bytes).map_err(|_| TxError::BadMessage("unparseable"))?;
        let method = msg.method().ok_or(TxError::BadMessage("not a request"))?;
        if method == Method::Ack {
            return Err(TxError::BadMessage("ACK has no transaction"));
        }
        let invite = method == Method::Invite;
        let key =
            key::client_key(&msg).map_err(|_| TxError::BadMessage("no Via branch or CSeq"))?;
        self.start_client(bytes, key, invite, to, now)
    }

    /// [`Engine::request`] for a request whose top Via `branch` and `method` (also its CSeq
    /// method) the caller wrote itself: the engine does not parse it again.
    pub fn request_keyed(
        &mut self,
        bytes: Bytes,
        branch: &str,
        method: Method<'_>,
        to: D,
        now: Instant,
    ) -> Result<ClientTxId, TxError> {
        if method == Method::Ack {
            return Err(TxError::BadMessage("ACK has no transaction"));
        }
        let key = ClientKey {
            branch: branch.as_bytes().into(),
            method: method.as_str().into(),
        };
        self.start_client(bytes, key, method == Method::Invite, to, now)
    }

    fn start_client(
        &mut self,
        bytes: Bytes,
        key: ClientKey,
        invite: bool,
        to: D,
        now: Instant,
    ) -> Result<ClientTxId, TxError> {
        if self.client_index.contains_key(&key) {
            return Err(TxError::BadMessage("branch already in use"));
        }
        let id = ClientTxId(self.bump());
        let reliable = to.is_reliable();
        let mut acts = std::mem::take(&mut self.acts);
        let sm = if invite {
            ClientSm::Invite(InviteClient::new(bytes, reliable, &self.timers, &mut acts))
        } else {
            ClientSm::NonInvite(NonInviteClient::new(
                bytes,
                reliable,
                &self.timers,
                &mut acts,
            ))
        };
        self.client_index.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientEntry {
                key,
                sm,
                to,
                timers: [None; TimerKind::COUNT],
            },
        );
        self.apply(TxId::Client(id), &mut acts, None, now);
        self.acts = acts;
        Ok(id)
    }

    /// Sends outside any transaction (ACK for 2xx, stateless answers, forwarded responses).
    pub fn send_stateless(&mut self, to: D, bytes: Bytes) {
        self.out.push_back(Output::Transmit {
            to,
            bytes,
            tx: None,
        });
    }

    /// The transport failed to send for `tx` (connection refused or closed, ICMP error).
    pub fn transport_error(&mut self, tx: TxId, now: Instant) {
        let mut acts = std::mem::take(&mut self.acts);
        match tx {
            TxId::Server(id) => match self.servers.get_mut(&id).map(|e| &mut e.sm) {
                Some(ServerSm::Invite(sm)) => sm.on_transport_error(&mut acts),
                Some(ServerSm::NonInvite(sm)) => sm.on_transport_error(&mut acts),
                None => {}
            },
            TxId::Client(id) => match self.clients.get_mut(&id).map(|e| &mut e.sm) {
                Some(ClientSm::Invite(sm)) => sm.on_transport_error(&mut acts),
                Some(ClientSm::NonInvite(sm)) => sm.on_transport_error(&mut acts),
                None => {}
            },
        }
        self.apply(tx, &mut acts, None, now);
        self.acts = acts;
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, tx, kind))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self.timer_slot(tx, kind) != Some(at) {
                continue;
            }
            self.set_slot(tx, kind, None);
            self.fire(tx, kind, now);
        }
    }

    fn fire(&mut self, tx: TxId, kind: TimerKind, now: Instant) {
        let t = self.timers;
        let mut acts = std::mem::take(&mut self.acts);
        match tx {
            TxId::Server(id) => {
                if let Some(entry) = self.servers.get_mut(&id) {
                    match &mut entry.sm {
                        ServerSm::Invite(sm) if kind == TimerKind::Trying => {
                            if !sm.has_responded()
                                && let Ok(req) = Message::parse(&entry.request)
                            {
                                let trying =
                                    ResponseBuilder::new(&req, 100, "Trying", None, entry.via)
                                        .finish(None);
                                sm.send_trying(Bytes::from(trying), &mut acts);
                            }
                        }
                        ServerSm::Invite(sm) => sm.on_timer(kind, &t, &mut acts),
                        ServerSm::NonInvite(sm) => sm.on_timer(kind, &mut acts),
                    }
                }
            }
            TxId::Client(id) => {
                if let Some(entry) = self.clients.get_mut(&id) {
                    match &mut entry.sm {
                        ClientSm::Invite(sm) => sm.on_timer(kind, &mut acts),
                        ClientSm::NonInvite(sm) => sm.on_timer(kind, &t, &mut acts),
                    }
                }
            }
        }
        self.apply(tx, &mut acts, None, now);
        self.acts = acts;
    }

    /// Carries out a state machine's acts in order.
    fn apply(
        &mut self,
        tx: TxId,
        acts: &mut Vec<Act>,
        mut deliver: Option<Output<D>>,
        now: Instant,
    ) {
        for act in acts.drain(..) {
            match act {
                Act::Send(bytes) => {
                    let to = match tx {
                        TxId::Server(id) => self.servers.get(&id).map(|e| e.reply_to.clone()),
                        TxId::Client(id) => self.clients.get(&id).map(|e| e.to.clone()),
                    };
                    if let Some(to) = to {
                        self.out.push_back(Output::Transmit {
                            to,
                            bytes,
                            tx: Some(tx),
                        });
                    }
                }
                Act::Deliver => {
                    if let Some(d) = deliver.take() {
                        self.out.push_back(d);
                    }
                }
                Act::Arm(kind, after) => {
                    let at = now + after;
                    self.set_slot(tx, kind, Some(at));
                    self.heap.push(Reverse((at, tx, kind)));
                }
                Act::Disarm(kind) => self.set_slot(tx, kind, None),
                Act::Terminate(end) => self.remove(tx, end),
            }
        }
    }

    fn remove(&mut self, tx: TxId, end: End) {
        match tx {
            TxId::Server(id) => {
                if let Some(e) = self.servers.remove(&id) {
                    self.server_index.remove(&e.key);
                    if let Some(m) = e.merge {
                        self.merge_index.remove(&m);
                    }
                }
            }
            TxId::Client(id) => {
                if let Some(e) = self.clients.remove(&id) {
                    self.client_index.remove(&e.key);
                }
                let code = match end {
                    End::Timeout => Some(408),
                    End::TransportError => Some(503),
                    End::Normal | End::NoAck => None,
                };
                if let Some(code) = code {
                    self.out.push_back(Output::ClientFailed { tx: id, code });
                }
            }
        }
        self.out.push_back(Output::Ended { tx, end });
    }

    fn timer_slot(&self, tx: TxId, kind: TimerKind) -> Option<Instant> {
        match tx {
            TxId::Server(id) => self.servers.get(&id)?.timers[kind.slot()],
            TxId::Client(id) => self.clients.get(&id)?.timers[kind.slot()],
        }
    }

    fn set_slot(&mut self, tx: TxId, kind: TimerKind, at: Option<Instant>) {
        let slot = match tx {
            TxId::Server(id) => self.servers.get_mut(&id).map(|e| &mut e.timers),
            TxId::Client(id) => self.clients.get_mut(&id).map(|e| &mut e.timers),
        };
        if let Some(timers) = slot {
            timers[kind.slot()] = at;
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The status code of a response the core built (`SIP/2.0 NNN ...`), without a full parse.
fn status_code(bytes: &[u8]) -> Option<u16> {
    match bytes.get(..12)? {
        [
            b'S',
            b'I',
            b'P',
            b'/',
            b'2',
            b'.',
            b'0',
            b' ',
            a,
            b,
            c,
            b' ',
        ] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            (100..=699).contains(&code).then_some(code)
        }
        _ => None,
    }
}
