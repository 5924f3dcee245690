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

mod forwarding;
mod media;
