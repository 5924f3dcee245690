//! The proxy driven sans-IO on simulated time: SIP texts go into a shard's [`Dispatch`] (the
//! transaction engine, the registrar and the proxy, with no socket and no task), what it
//! would send comes out as texts, and time moves only when a test says so. RFC 3261 §16
//! rules, forking, CANCEL, Timer C, NAT aliases, limits and media-node replies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use trunkline_media::Side;
use trunkline_sip::digest::{CredentialsBuilder, Qop, Secret, parse_challenge};
use trunkline_store::{NewCdr, Snapshot};

use super::Proxy;
use super::target::Interfaces;
use crate::config::{Config, MediaMode, Transport};
use crate::driver::cdr::CdrSink;
use crate::driver::dispatch::{Clock, Dispatch, Overload, Roles, Sent};
use crate::roles::media_control::{MediaAnswer, MediaCommand, MediaEvent, Sdp as MediaSdp};
use crate::roles::registrar::Registrar;
use crate::roles::registrar::location::Location;
use crate::roles::registrar::service::LocalLocation;
use crate::roles::shared::{Shared, UserCalls};
use crate::transport::front::FrontDoor;
use crate::transport::guard::Guard;
use crate::transport::{Arrival, Inbound};

const DOMAIN: &str = "example.test";
const SERVER: &str = "127.0.0.1:5060";
/// 1002's DID.
const DID: &str = "+4930100";
/// A caller from another domain: not one of ours, so never challenged.
const STRANGER: u16 = 7000;

/// A shard with its clock and what it sent.
struct Shard {
    core: Dispatch,
    clock: Clock,
    /// Whole seconds of simulated time since the start (the proxy ticks once a second).
    seconds: u64,
    cdrs: mpsc::Receiver<NewCdr>,
    /// What the shard sent and no test looked at yet: (destination port, text).
    outbox: Vec<(u16, String)>,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn snapshot(max_calls_1001: Option<u32>) -> Snapshot {
    let mut s = Snapshot::default();
    for user in ["1001", "1002", "1003"] {
        let limit = max_calls_1001.filter(|_| user == "1001");
        s.insert_test_user_limited(DOMAIN, user, &format!("secret{user}"), true, limit);
    }
    // 1002 (the second user) also answers its DID.
    s.apply_test_change(trunkline_store::Change::DidUpserted(trunkline_store::Did {
        id: trunkline_store::DidId(1),
        customer_id: trunkline_store::TenantId(2),
        e164: DID.to_owned(),
        user_id: Some(trunkline_store::UserId(2)),
        created_at: 0,
    }));
    s
}

impl Shard {
    fn new() -> Shard {
        Shard::with(|_| {}, None)
    }

    /// A shard whose config `edit` changed, with 1001 limited to `max_calls`.
    fn with(edit: impl FnOnce(&mut Config), max_calls: Option<u32>) -> Shard {
        let mut config = Config::default();
        config.sip.listen = vec![format!("udp:{SERVER}").parse().unwrap()];
        edit(&mut config);
        let location = Location::new(config.registrar.max_contacts as usize);
        let registrar = Registrar::new(
            &config.registrar,
            [9; 32],
            Box::new(LocalLocation::new(location, None)),
        );
        let shared = Arc::new(Shared::new(registrar, Guard::new(&config.guard)));
        let ifaces = Interfaces {
            udp: vec![addr(5060)],
            streams: Vec::new(),
            advertise: None,
        };
        let mut proxy = Proxy::new(
            config.proxy.clone(),
            ifaces,
            config.guard.trusted_nets(),
            Arc::new(UserCalls::default()),
        );
        if config.media.mode != MediaMode::Off {
            proxy = proxy.with_media(super::anchoring::Anchoring::new(config.media.mode));
        }
        let (cdr_tx, cdrs) = mpsc::channel(64);
        let roles = Roles {
            index: 0,
            shared,
            snapshot: None,
            proxy,
            cdrs: CdrSink::new(Some(cdr_tx)),
            overload: Overload {
                max_wait: Duration::from_secs(3600),
                retry_after: 5,
            },
        };
        let core = Dispatch::new(FrontDoor::new(&config.sip), Arc::default(), roles, None)
            .with_snapshot(Arc::new(snapshot(max_calls)));
        Shard {
            core,
            clock: Clock {
                at: Instant::now(),
                ms: 1_800_000_000_000,
            },
            seconds: 0,
            cdrs,
            outbox: Vec::new(),
        }
    }

    /// `text` arrives from `port` over UDP.
    fn deliver(&mut self, port: u16, text: &str) {
        let msg = Inbound {
            bytes: text.as_bytes().to_vec(),
            source: addr(port),
            transport: Transport::Udp,
            via: Arrival::Udp(0),
            broken: None,
            queued: self.clock.at,
        };
        self.core.inbound(msg, self.clock);
        self.pump();
    }

    /// The media layer tells the shard `event`.
    fn media(&mut self, event: MediaEvent) {
        self.core.media_event(event, self.clock);
        self.pump();
    }

    /// Runs the engine's output through the roles; what leaves goes to the outbox.
    fn pump(&mut self) {
        while let Some(t) = self.core.next_transmit(self.clock) {
            self.core.sent(&t, Sent::Out, self.clock);
            let text = String::from_utf8_lossy(&t.bytes).into_owned();
            self.outbox.push((t.to.addr.port(), text));
        }
    }

    /// Everything the shard sends now, as (destination port, text).
    fn sent(&mut self) -> Vec<(u16, String)> {
        self.pump();
        std::mem::take(&mut self.outbox)
    }

    /// The one message the shard sends to `port` now (others are dropped).
    fn one_to(&mut self, port: u16) -> String {
        let mut to: Vec<String> = (self.sent().into_iter())
            .filter(|(p, _)| *p == port)
            .map(|(_, m)| m)
            .collect();
        assert_eq!(to.len(), 1, "expected one message to {port}, got {to:#?}");
        to.remove(0)
    }

    /// Moves simulated time on by `secs` seconds, a second at a time.
    fn advance(&mut self, secs: u64) {
        for _ in 0..secs {
            self.clock.at += Duration::from_secs(1);
            self.clock.ms += 1000;
            self.seconds += 1;
            self.core.timeout(self.clock, true);
            self.pump();
        }
    }

    /// Registers `user`'s phone at `port` (answering the digest challenge).
    fn register(&mut self, user: &str, port: u16) {
        self.register_q(user, port, "1.0");
    }

    /// Registers `user`'s phone at `port` with the Contact's `q`.
    fn register_q(&mut self, user: &str, port: u16, q: &str) {
        let call_id = format!("reg-{user}-{port}");
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}{cseq};rport\r\n\
                 From: <sip:{user}@{DOMAIN}>;tag=r{port}\r\nTo: <sip:{user}@{DOMAIN}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n\
                 Contact: <sip:{user}@127.0.0.1:{port}>;q={q}\r\nExpires: 3600\r\n\
                 {auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.deliver(port, &reg(1, ""));
        let challenge = self.one_to(port);
        assert_eq!(code(&challenge), 401, "{challenge}");
        let auth = credentials(
            &challenge,
            "WWW-Authenticate",
            "Authorization",
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            user,
        );
        self.deliver(port, &reg(2, &auth));
        let ok = self.one_to(port);
        assert_eq!(code(&ok), 200, "{ok}");
    }

    fn cdrs(&mut self) -> Vec<NewCdr> {
        let mut out = Vec::new();
        while let Ok(c) = self.cdrs.try_recv() {
            out.push(c);
        }
        out
    }
}

/// The `auth` header line answering the first challenge in `challenge`'s `asked` header.
fn credentials(
    challenge: &str,
    asked: &str,
    auth: &str,
    method: &str,
    uri: &str,
    user: &str,
) -> String {
    let value = header(challenge, asked)
        .into_iter()
        .next()
        .expect("a challenge");
    let c = parse_challenge(value.as_bytes()).unwrap();
    let nonce = c.nonce().unwrap().unescape();
    let password = format!("secret{user}");
    let value = CredentialsBuilder::new(user, Secret::Password(&password), DOMAIN, &nonce)
        .request(method, uri)
        .algorithm(c.algorithm().unwrap())
        .qop(Qop::Auth, 1, "c0ffee")
        .build()
        .unwrap();
    format!("{auth}: {value}\r\n")
}

/// The status code of response `text` (0 for a request).
fn code(text: &str) -> u16 {
    (text.strip_prefix("SIP/2.0 "))
        .and_then(|r| r.get(..3)?.parse().ok())
        .unwrap_or(0)
}

/// The request line's method.
fn method(text: &str) -> &str {
    text.split(' ').next().unwrap_or("")
}

/// The values of header `name` (full name, any case), in order.
fn header<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    (head.split("\r\n").skip(1))
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The codes of the final responses to the caller's INVITE among `out`.
fn invite_finals(out: &[(u16, String)]) -> Vec<u16> {
    (out.iter())
        .filter(|(p, m)| *p == STRANGER && code(m) >= 200)
        .filter(|(_, m)| {
            header(m, "CSeq")
                .first()
                .is_some_and(|c| c.ends_with("INVITE"))
        })
        .map(|(_, m)| code(m))
        .collect()
}

/// A response to `request` as a UA writes it: its Vias, From, To (with `tag` added), Call-ID
/// and CSeq, and `extra` lines; a 2xx or 18x gets a Contact at `port`.
fn answer(request: &str, status: &str, tag: &str, port: u16, extra: &str, sdp: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for v in header(request, "Via") {
        out += &format!("Via: {v}\r\n");
    }
    for rr in header(request, "Record-Route") {
        out += &format!("Record-Route: {rr}\r\n");
    }
    let to = header(request, "To")[0];
    let to = match to.contains(";tag=") {
        true => to.to_owned(),
        false => format!("{to};tag={tag}"),
    };
    out += &format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
        header(request, "From")[0],
        header(request, "Call-ID")[0],
        header(request, "CSeq")[0],
    );
    let c = code(&format!("SIP/2.0 {status}"));
    if (101..300).contains(&c) {
        out += &format!("Contact: <sip:callee@127.0.0.1:{port}>\r\n");
    }
    match sdp.is_empty() {
        true => out += &format!("{extra}Content-Length: 0\r\n\r\n"),
        false => {
            out += &format!(
                "{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            )
        }
    }
    out
}

/// An INVITE from the stranger at [`STRANGER`] to `to` (with `extra` lines and an SDP offer
/// when `sdp` is not empty).
fn invite(call_id: &str, to: &str, extra: &str, sdp: &str) -> String {
    let len = sdp.len();
    let ct = match sdp.is_empty() {
        true => "",
        false => "Content-Type: application/sdp\r\n",
    };
    format!(
        "INVITE sip:{to}@{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{STRANGER};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:alice@far.test>;tag=a1\r\nTo: <sip:{to}@{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:alice@127.0.0.1:{STRANGER}>\r\n{extra}{ct}Content-Length: {len}\r\n\r\n{sdp}"
    )
}

/// The CANCEL for [`invite`]'s `call_id`.
fn cancel(call_id: &str, to: &str) -> String {
    format!(
        "CANCEL sip:{to}@{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{STRANGER};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:alice@far.test>;tag=a1\r\nTo: <sip:{to}@{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// An in-dialog request of the caller: `method` to the callee's Contact along the route set
/// of `ok` (the 2xx as the caller got it).
fn in_dialog(ok: &str, method: &str, cseq: u32, branch: &str) -> String {
    let mut out = format!("{method} sip:callee@127.0.0.1:6002 SIP/2.0\r\n");
    out += &format!("Via: SIP/2.0/UDP 127.0.0.1:{STRANGER};branch=z9hG4bK-{branch}\r\n");
    // The caller's route set is the Record-Route of the 2xx, in order.
    for rr in header(ok, "Record-Route") {
        out += &format!("Route: {rr}\r\n");
    }
    out += &format!(
        "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(ok, "From")[0],
        header(ok, "To")[0],
        header(ok, "Call-ID")[0],
    );
    out
}

#[test]
fn an_invite_reaches_the_callee_and_its_answers_come_back() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c1", "1002", "", ""));
    let inv = &s.one_to(6002);
    // §16.6: the Request-URI is the binding's Contact, our Via on top, Max-Forwards one less,
    // and a Record-Route of ours for a dialog-forming request.
    assert!(
        inv.starts_with("INVITE sip:1002@127.0.0.1:6002 SIP/2.0\r\n"),
        "{inv}"
    );
    let vias = header(inv, "Via");
    assert_eq!(vias.len(), 2);
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{inv}"
    );
    assert_eq!(header(inv, "Max-Forwards"), ["69"]);
    assert!(
        header(inv, "Record-Route")[0].contains("127.0.0.1:5060;lr"),
        "{inv}"
    );

    s.deliver(6002, &answer(inv, "180 Ringing", "b1", 6002, "", ""));
    let ringing = s.one_to(STRANGER);
    assert_eq!(code(&ringing), 180);
    assert_eq!(
        header(&ringing, "Via").len(),
        1,
        "our Via is removed: {ringing}"
    );
    s.deliver(6002, &answer(inv, "200 OK", "b1", 6002, "", ""));
    let ok = s.one_to(STRANGER);
    assert_eq!(code(&ok), 200);

    // The ACK and the BYE follow the route set through the proxy to the callee.
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c1"));
    assert!(s.one_to(6002).starts_with("ACK sip:callee@127.0.0.1:6002"));
    s.advance(30);
    s.deliver(STRANGER, &in_dialog(&ok, "BYE", 2, "c1-bye"));
    let bye = s.one_to(6002);
    assert_eq!(method(&bye), "BYE");
    s.deliver(6002, &answer(&bye, "200 OK", "b1", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 200);

    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1, "one CDR for the call");
    assert_eq!(cdrs[0].call_id, "c1");
}

#[test]
fn exhausted_max_forwards_unknown_users_and_absent_ones() {
    let mut s = Shard::new();
    let looped = invite("c2", "1002", "", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    s.deliver(STRANGER, &looped);
    assert_eq!(code(&s.one_to(STRANGER)), 483);
    s.deliver(STRANGER, &invite("c3", "nobody", "", ""));
    let out = s.sent();
    assert!(out.iter().any(|(_, m)| code(m) == 404), "{out:#?}");
    // A user with no binding is not reachable now.
    s.deliver(STRANGER, &invite("c4", "1003", "", ""));
    let out = s.sent();
    assert!(out.iter().any(|(_, m)| code(m) == 480), "{out:#?}");
}

#[test]
fn a_local_caller_proves_its_identity_first() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let call = |auth: &str| {
        format!(
            "INVITE sip:1002@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-l{}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=l1\r\nTo: <sip:1002@{DOMAIN}>\r\n\
             Call-ID: local-1\r\nCSeq: {} INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n",
            auth.len(),
            1 + u32::from(!auth.is_empty()),
        )
    };
    s.deliver(6001, &call(""));
    let out = s.sent();
    let challenge = &out.iter().find(|(_, m)| code(m) == 407).expect("407").1;
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "nothing reaches the callee"
    );
    let auth = credentials(
        challenge,
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "INVITE",
        &format!("sip:1002@{DOMAIN}"),
        "1001",
    );
    s.deliver(6001, &call(&auth));
    let inv = s.one_to(6002);
    assert_eq!(method(&inv), "INVITE");
    // The credentials for our realm stop here.
    assert!(header(&inv, "Proxy-Authorization").is_empty(), "{inv}");
}

/// A call from the stranger to 1002, whose phones at 6002 and 6012 both got the INVITE and
/// ring: the shard, and the INVITE each phone got (6002's first).
fn ringing_twice(call_id: &str) -> (Shard, Vec<(u16, String)>) {
    let mut s = Shard::new();
    s.register("1002", 6002);
    s.register("1002", 6012);
    s.deliver(STRANGER, &invite(call_id, "1002", "", ""));
    let mut branches: Vec<(u16, String)> = (s.sent().into_iter())
        .filter(|(p, _)| *p != STRANGER)
        .collect();
    branches.sort();
    assert_eq!(branches.len(), 2, "one INVITE per phone: {branches:#?}");
    assert_ne!(
        header(&branches[0].1, "Via")[0],
        header(&branches[1].1, "Via")[0],
        "each branch its own Via branch"
    );
    // §9.1: a branch is cancelled only once it answered provisionally.
    for (port, inv) in &branches {
        s.deliver(
            *port,
            &answer(inv, "180 Ringing", &format!("t{port}"), *port, "", ""),
        );
    }
    assert_eq!(s.sent().len(), 2, "both 180s go to the caller");
    (s, branches)
}

#[test]
fn parallel_branches_are_cancelled_when_one_answers() {
    let (mut s, branches) = ringing_twice("c5");
    let [(_, a), (_, b)] = [&branches[0], &branches[1]];
    s.deliver(6012, &answer(b, "200 OK", "t6012", 6012, "", ""));
    let out = s.sent();
    let ok: Vec<_> = out
        .iter()
        .filter(|(p, m)| *p == STRANGER && code(m) == 200)
        .collect();
    assert_eq!(ok.len(), 1, "{out:#?}");
    let cancel = &out
        .iter()
        .find(|(p, _)| *p == 6002)
        .expect("CANCEL to the loser")
        .1;
    assert_eq!(method(cancel), "CANCEL");
    assert_eq!(
        header(cancel, "Via")[0],
        header(a, "Via")[0],
        "§9.1: the INVITE's branch"
    );
    // The loser's 487 is absorbed: the caller sees one final answer.
    s.deliver(6002, &answer(cancel, "200 OK", "t6002", 6002, "", ""));
    s.deliver(
        6002,
        &answer(a, "487 Request Terminated", "t6002", 6002, "", ""),
    );
    let out = s.sent();
    assert!(out.iter().all(|(p, _)| *p != STRANGER), "{out:#?}");
    // The 487 is acknowledged hop by hop.
    assert!(
        out.iter().any(|(p, m)| *p == 6002 && method(m) == "ACK"),
        "{out:#?}"
    );
}

#[test]
fn the_callers_cancel_reaches_every_branch() {
    let (mut s, branches) = ringing_twice("c6");
    s.deliver(STRANGER, &cancel("c6", "1002"));
    let out = s.sent();
    assert!(
        out.iter()
            .any(|(p, m)| *p == STRANGER && code(m) == 200 && m.contains("CANCEL")),
        "{out:#?}"
    );
    for (port, inv) in &branches {
        let c = &out
            .iter()
            .find(|(p, _)| p == port)
            .expect("a CANCEL per branch")
            .1;
        assert_eq!(method(c), "CANCEL");
        s.deliver(
            *port,
            &answer(inv, "487 Request Terminated", "x", *port, "", ""),
        );
    }
    let out = s.sent();
    assert_eq!(invite_finals(&out), [487], "{out:#?}");
    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1);
}

#[test]
fn timer_c_cancels_a_call_nobody_answers() {
    let mut s = Shard::with(|c| c.proxy.ring_timeout_secs = 20, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c7", "1002", "", ""));
    let inv = s.one_to(6002);
    s.deliver(6002, &answer(&inv, "180 Ringing", "b7", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 180);
    s.advance(19);
    assert!(s.sent().is_empty(), "still ringing");
    s.advance(1);
    let mut out = s.sent();
    let cancel = out
        .iter()
        .find(|(p, _)| *p == 6002)
        .expect("a CANCEL")
        .1
        .clone();
    assert_eq!(method(&cancel), "CANCEL");
    s.deliver(6002, &answer(&cancel, "200 OK", "b7", 6002, "", ""));
    s.deliver(
        6002,
        &answer(&inv, "487 Request Terminated", "b7", 6002, "", ""),
    );
    out.extend(s.sent());
    assert_eq!(invite_finals(&out), [408], "Timer C: Request Timeout");
}

#[test]
fn a_callers_contact_behind_nat_gets_an_alias_the_way_back_uses() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let natted = invite("c8", "1002", "", "").replace(
        &format!("Contact: <sip:alice@127.0.0.1:{STRANGER}>"),
        "Contact: <sip:alice@10.0.0.5:5060>",
    );
    s.deliver(STRANGER, &natted);
    let inv = s.one_to(6002);
    let contact = header(&inv, "Contact")[0];
    assert!(
        contact.contains(&format!("alias=127.0.0.1~{STRANGER}~1")),
        "{contact}"
    );
    s.deliver(6002, &answer(&inv, "200 OK", "b8", 6002, "", ""));
    let _ok = s.one_to(STRANGER);
    // The callee hangs up: its BYE to the aliased Contact, along the Record-Route, reaches
    // the caller's public address, without the alias.
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bK-b8\r\nRoute: {}\r\n\
         From: <sip:1002@{DOMAIN}>;tag=b8\r\nTo: <sip:alice@far.test>;tag=a1\r\nCall-ID: c8\r\n\
         CSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        contact.trim_start_matches('<').trim_end_matches('>'),
        header(&inv, "Record-Route")[0],
    );
    s.deliver(6002, &bye);
    let out = s.one_to(STRANGER);
    assert!(
        out.starts_with("BYE sip:alice@10.0.0.5:5060 SIP/2.0"),
        "{out}"
    );
}

#[test]
fn a_users_call_limit_refuses_the_next_call() {
    let mut s = Shard::with(|_| {}, Some(1));
    s.register("1002", 6002);
    s.register("1003", 6003);
    let call = |n: u32, to: &str, auth: &str| {
        format!(
            "INVITE sip:{to}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-lim{n}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=l{n}\r\nTo: <sip:{to}@{DOMAIN}>\r\n\
             Call-ID: lim-{n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    let mut out = Vec::new();
    for (n, to) in [(1, "1002"), (2, "1003")] {
        s.deliver(6001, &call(n * 10, to, ""));
        let challenge = s.one_to(6001);
        let auth = credentials(
            &challenge,
            "Proxy-Authenticate",
            "Proxy-Authorization",
            "INVITE",
            &format!("sip:{to}@{DOMAIN}"),
            "1001",
        );
        s.deliver(6001, &call(n, to, &auth));
        out.extend(s.sent());
    }
    assert!(
        out.iter().any(|(p, m)| *p == 6002 && method(m) == "INVITE"),
        "{out:#?}"
    );
    assert!(
        out.iter().all(|(p, _)| *p != 6003),
        "the second call never rings: {out:#?}"
    );
    let refused = out
        .iter()
        .find(|(p, m)| *p == 6001 && code(m) >= 400)
        .expect("refused");
    assert!(matches!(code(&refused.1), 403 | 486 | 503), "{refused:?}");
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

fn sdp_at(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    )
}

/// The one media request the shard made, as an SDP to anchor, with its token.
fn sdp_request(s: &mut Shard) -> (u64, MediaSdp) {
    let mut reqs = s.core.take_media();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let req = reqs.remove(0);
    match req.command {
        MediaCommand::Sdp(sdp) => (req.token.expect("an answer is waited for"), sdp),
        other => panic!("not an SDP: {other:?}"),
    }
}

#[test]
fn the_media_layers_answers_finish_the_forwarding_of_offer_and_answer() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c9", "1002", "", OFFER));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the INVITE waits for the media layer: {out:#?}"
    );
    let (token, offer) = sdp_request(&mut s);
    assert_eq!(offer.body, OFFER.as_bytes());
    assert!(!offer.answers);
    assert_eq!(offer.sender, Side::Caller);
    assert_eq!(offer.sender_tag.as_deref(), Some("a1"));
    assert_eq!(
        offer.create,
        Some([false, false]),
        "the call starts on its offer"
    );
    assert_eq!(
        offer.branch,
        Some((0, false)),
        "at the ports of the first branch"
    );

    let anchored = |sdp: &str| MediaAnswer::Sdp(Some(sdp.as_bytes().to_vec()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(&sdp_at(30000)),
    });
    let inv = s.one_to(6002);
    assert_eq!(
        body(&inv),
        sdp_at(30000),
        "the callee gets the anchored offer"
    );

    s.deliver(6002, &answer_to(&inv, "200 OK", "b9", &sdp_at(7078)));
    assert!(
        s.sent().iter().all(|(p, _)| *p != STRANGER),
        "the 200 waits for the media layer"
    );
    let mut reqs = s.core.take_media();
    assert_eq!(
        reqs.len(),
        2,
        "the answer, then keep the answering branch: {reqs:#?}"
    );
    assert!(matches!(reqs[1].command, MediaCommand::Keep(0)));
    let req = reqs.remove(0);
    let MediaCommand::Sdp(sdp) = req.command else {
        panic!("not an SDP");
    };
    assert!(sdp.answers);
    assert_eq!(sdp.sender, Side::Callee);
    s.media(MediaEvent::Answer {
        token: req.token.unwrap(),
        answer: anchored(&sdp_at(30002)),
    });
    let ok = s.one_to(STRANGER);
    assert_eq!(code(&ok), 200);
    assert_eq!(
        body(&ok),
        sdp_at(30002),
        "the caller gets the anchored answer"
    );

    s.deliver(STRANGER, &in_dialog(&ok, "BYE", 2, "c9-bye"));
    let bye = s.one_to(6002);
    s.deliver(6002, &answer(&bye, "200 OK", "b9", 6002, "", ""));
    assert_eq!(code(&s.one_to(STRANGER)), 200);
    let mut reqs = s.core.take_media();
    let delete = reqs.pop().expect("the media layer releases the call");
    assert!(
        matches!(delete.command, MediaCommand::Delete { .. }),
        "{delete:?}"
    );
    // The CDR waits for the call's figures.
    assert!(s.cdrs().is_empty());
    let qos = trunkline_store::Qos {
        rtp_packets_rx: Some(1500),
        ..Default::default()
    };
    let ended = MediaAnswer::Ended {
        qos,
        recording: None,
    };
    s.media(MediaEvent::Answer {
        token: delete.token.unwrap(),
        answer: ended,
    });
    s.advance(1);
    let cdrs = s.cdrs();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].qos.rtp_packets_rx, Some(1500));
}

#[test]
fn a_calls_stopped_media_ends_it_with_a_bye_to_each_party() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c10", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    let unchanged = MediaAnswer::Sdp(None);
    s.media(MediaEvent::Answer {
        token,
        answer: unchanged,
    });
    let inv = s.one_to(6002);
    assert_eq!(
        body(&inv),
        OFFER,
        "a failed anchoring leaves the SDP as it was"
    );
    s.deliver(6002, &answer(&inv, "200 OK", "b10", 6002, "", ""));
    let _keep = s.core.take_media();
    let ok = s.one_to(STRANGER);
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c10"));
    s.sent();
    let call = super::calls::CallKey {
        call_id: "c10".to_owned(),
        caller_tag: "a1".to_owned(),
    };
    s.media(MediaEvent::Stopped(call));
    let out = s.sent();
    let byes: Vec<_> = out.iter().filter(|(_, m)| method(m) == "BYE").collect();
    assert_eq!(byes.len(), 2, "{out:#?}");
    assert!(byes.iter().any(|(p, _)| *p == STRANGER) && byes.iter().any(|(p, _)| *p == 6002));
    assert!(
        byes.iter().all(|(_, m)| m.contains("media timeout")),
        "{byes:#?}"
    );
}

/// [`answer`] with an SDP body, from the callee at 6002.
fn answer_to(request: &str, status: &str, tag: &str, sdp: &str) -> String {
    answer(request, status, tag, 6002, "", sdp)
}

#[test]
fn contacts_are_tried_by_q_one_group_after_the_other() {
    let mut s = Shard::new();
    s.register_q("1002", 6002, "0.5");
    s.register_q("1002", 6012, "1.0");
    s.deliver(STRANGER, &invite("c11", "1002", "", ""));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the lower q waits: {out:#?}"
    );
    let first = &out
        .iter()
        .find(|(p, _)| *p == 6012)
        .expect("the higher q first")
        .1;
    s.deliver(6012, &answer(first, "486 Busy Here", "b11", 6012, "", ""));
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != STRANGER),
        "no final yet: {out:#?}"
    );
    let second = &out
        .iter()
        .find(|(p, m)| *p == 6002 && method(m) == "INVITE");
    let second = &second.expect("then the next q").1;
    s.deliver(6002, &answer(second, "200 OK", "b12", 6002, "", ""));
    let out = s.sent();
    assert_eq!(invite_finals(&out), [200], "{out:#?}");
}

#[test]
fn an_untrusted_callers_identity_and_private_headers_stay_behind() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    let extra = "P-Asserted-Identity: <sip:boss@far.test>\r\nPrivacy: header\r\n\
                 User-Agent: Phone 1.0\r\nSubject: secret\r\nOrganization: ACME\r\n";
    s.deliver(STRANGER, &invite("c12", "1002", extra, ""));
    let inv = s.one_to(6002);
    // RFC 3325 §5: an identity asserted by an untrusted source is not believed; RFC 3323:
    // the privacy service removes what identifies the user.
    for name in [
        "P-Asserted-Identity",
        "User-Agent",
        "Subject",
        "Organization",
    ] {
        assert!(header(&inv, name).is_empty(), "{name} left: {inv}");
    }
}

#[test]
fn a_call_cancelled_while_its_offer_is_at_the_media_layer_never_rings() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c13", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    s.deliver(STRANGER, &cancel("c13", "1002"));
    let out = s.sent();
    assert!(
        out.iter()
            .any(|(_, m)| code(m) == 200 && m.contains("CANCEL")),
        "{out:#?}"
    );
    let anchored = MediaAnswer::Sdp(Some(sdp_at(30000).into_bytes()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored,
    });
    let out = s.sent();
    assert!(
        out.iter().all(|(p, _)| *p != 6002),
        "the INVITE never leaves: {out:#?}"
    );
    assert_eq!(invite_finals(&out), [487], "{out:#?}");
    // The branch's ports are let go, and the call's media with its CDR.
    let reqs = s.core.take_media();
    assert!(
        reqs.iter()
            .any(|r| matches!(r.command, MediaCommand::DropBranch(0))),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter()
            .any(|r| matches!(r.command, MediaCommand::Delete { .. })),
        "{reqs:#?}"
    );
}

#[test]
fn a_re_invite_of_a_relayed_call_is_anchored_both_ways() {
    let mut s = Shard::with(|c| c.media.mode = MediaMode::Always, None);
    s.register("1002", 6002);
    s.deliver(STRANGER, &invite("c14", "1002", "", OFFER));
    let (token, _) = sdp_request(&mut s);
    let anchored = |port: u16| MediaAnswer::Sdp(Some(sdp_at(port).into_bytes()));
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30000),
    });
    let inv = s.one_to(6002);
    s.deliver(6002, &answer_to(&inv, "200 OK", "b14", &sdp_at(7078)));
    let reqs = s.core.take_media();
    s.media(MediaEvent::Answer {
        token: reqs[0].token.unwrap(),
        answer: anchored(30002),
    });
    let ok = s.one_to(STRANGER);
    s.deliver(STRANGER, &in_dialog(&ok, "ACK", 1, "c14"));
    s.sent();

    // The caller puts the call on hold: its new offer is anchored before it leaves.
    let reinvite = in_dialog(&ok, "INVITE", 2, "c14-re").replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Contact: <sip:alice@127.0.0.1:{STRANGER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
            OFFER.len()
        ),
    );
    s.deliver(STRANGER, &reinvite);
    assert!(
        s.sent().iter().all(|(p, _)| *p != 6002),
        "waits for the media layer"
    );
    let (token, offer) = sdp_request(&mut s);
    assert!(!offer.answers);
    assert_eq!(offer.sender, Side::Caller);
    assert_eq!(offer.create, None, "an existing call");
    assert_eq!(offer.branch, None, "in a dialog: no fork branch");
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30004),
    });
    let re = s.one_to(6002);
    assert!(re.starts_with("INVITE "), "{re}");
    assert_eq!(body(&re), sdp_at(30004));
    // And the callee's answer on its way back.
    s.deliver(6002, &answer_to(&re, "200 OK", "b14", &sdp_at(7080)));
    let (token, answer) = sdp_request(&mut s);
    assert!(answer.answers);
    assert_eq!(answer.sender, Side::Callee);
    s.media(MediaEvent::Answer {
        token,
        answer: anchored(30006),
    });
    let ok2 = s.one_to(STRANGER);
    assert_eq!(code(&ok2), 200);
    assert_eq!(body(&ok2), sdp_at(30006));
}

#[test]
fn a_did_is_reached_by_a_subscriber_but_not_by_a_stranger() {
    let mut s = Shard::new();
    s.register("1002", 6002);
    // From the internet, a telephone number of ours is refused: calls from the telephone
    // network come through a carrier.
    s.deliver(STRANGER, &invite("c15", DID, "", ""));
    let out = s.sent();
    assert!(out.iter().all(|(p, _)| *p != 6002), "{out:#?}");
    let refused = out.iter().find(|(p, m)| *p == STRANGER && code(m) >= 300);
    assert!(refused.is_some_and(|(_, m)| code(m) == 403), "{out:#?}");
    // A subscriber dials it and 1002 rings.
    let call = |cseq: u32, auth: &str| {
        format!(
            "INVITE sip:{DID}@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-did{cseq}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=d1\r\nTo: <sip:{DID}@{DOMAIN}>\r\n\
             Call-ID: did-1\r\nCSeq: {cseq} INVITE\r\nMax-Forwards: 70\r\n\
             Contact: <sip:1001@127.0.0.1:6001>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    s.deliver(6001, &call(1, ""));
    let challenge = s.one_to(6001);
    let uri = format!("sip:{DID}@{DOMAIN}");
    let auth = credentials(
        &challenge,
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "INVITE",
        &uri,
        "1001",
    );
    s.deliver(6001, &call(2, &auth));
    let inv = s.one_to(6002);
    assert!(inv.starts_with("INVITE sip:1002@127.0.0.1:6002 "), "{inv}");
}
