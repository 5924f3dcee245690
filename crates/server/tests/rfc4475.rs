//! The 49 RFC 4475 torture messages sent over real UDP, TCP and TLS sockets to a running server:
//! each reply must satisfy the manifest's `check` column, and the server must still answer an
//! OPTIONS afterwards. The same corpus also runs through the sans-IO front door directly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use trunkline_server::front::{FrontDoor, Outcome};
use trunkline_server::{Config, Server, Transport};
use trunkline_sip::{Frame, HeaderName, Message, StreamFramer};

struct Case {
    name: String,
    check: String,
    bytes: Vec<u8>,
}

fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/rfc4475");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let cases: Vec<Case> = manifest
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Case {
                name: cols[0].to_string(),
                check: cols[4].to_string(),
                bytes: std::fs::read(dir.join(format!("{}.sip", cols[0]))).unwrap(),
            }
        })
        .collect();
    assert_eq!(cases.len(), 49);
    cases
}

/// What the test saw of one reply.
#[derive(Debug)]
struct Seen {
    code: u16,
    unsupported: bool,
    cseq_method: String,
}

fn seen(bytes: &[u8]) -> Seen {
    let m = Message::parse(bytes).expect("server replies parse");
    Seen {
        code: m.status_line().expect("a response").code,
        unsupported: m.header(HeaderName::Unsupported).is_some(),
        cseq_method: m.cseq().map(|c| c.method.to_string()).unwrap_or_default(),
    }
}

/// Evaluates the manifest's check column (see conformance/README.md).
fn verdict(check: &str, replies: &[Seen], stream: bool) -> Result<(), String> {
    let finals: Vec<u16> = replies
        .iter()
        .map(|r| r.code)
        .filter(|c| *c >= 200)
        .collect();
    let last = finals.first().copied();
    let mut parts = check.split(',');
    let main = parts.next().unwrap_or("");
    let ok = match main {
        "not400" => !finals.contains(&400),
        "reject" => last.is_some_and(|c| c >= 400),
        "reject-or-drop" => last.is_none_or(|c| c >= 400),
        "any" => true,
        "drop" => replies.is_empty(),
        m if m.starts_with("code=") => {
            let codes: Vec<u16> = m[5..].split('/').map(|c| c.parse().unwrap()).collect();
            last.is_some_and(|c| codes.contains(&c))
        }
        other => return Err(format!("unknown check {other}")),
    };
    if !ok {
        return Err(format!("{main}: replies {replies:?}"));
    }
    for extra in parts {
        match extra {
            "unsupported" if !replies.iter().any(|r| r.code == 420 && r.unsupported) => {
                return Err(format!("420 without Unsupported: {replies:?}"));
            }
            // On a datagram the octets after Content-Length are noise. On a stream they are,
            // by definition, the next message (RFC 3261 §18.3): the REGISTER must still get
            // its own reply. The two have different Call-IDs, so they may be handled by
            // different shards and answered in either order (SIP orders nothing across
            // transactions).
            "ignore-trailing" if !stream && replies.iter().any(|r| r.cseq_method == "INVITE") => {
                return Err(format!("answered the trailing octets: {replies:?}"));
            }
            "ignore-trailing" if stream && !replies.iter().any(|r| r.cseq_method == "REGISTER") => {
                return Err(format!("no reply is the REGISTER's: {replies:?}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Rewrites the top Via's sent-by to `addr` so replies come back to the test (the corpus
/// carries the RFC's fictitious addresses). Done textually, independent of our parser.
fn aim_top_via(bytes: &[u8], addr: SocketAddr) -> Vec<u8> {
    let text = bytes;
    let mut pos = 0;
    while pos < text.len() {
        let line_end = text[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| pos + p);
        let line = &text[pos..line_end];
        if line.is_empty() || line == b"\r" {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            if name == "via" || name == "v" {
                // Skip "SIP / 2.0 / XXX" with any LWS (folding included), then LWS.
                let mut i = pos + colon + 1;
                let ws = |b: u8| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n';
                for slash in 0..3 {
                    while ws(text[i]) {
                        i += 1;
                    }
                    while !ws(text[i]) && text[i] != b'/' {
                        i += 1;
                    }
                    while ws(text[i]) {
                        i += 1;
                    }
                    if slash < 2 {
                        i += 1;
                    }
                }
                let start = i;
                let mut end = start;
                while end < text.len() && !matches!(text[end], b';' | b',' | b'\r' | b'\n' | b' ') {
                    end += 1;
                }
                let mut out = text[..start].to_vec();
                out.extend_from_slice(addr.to_string().as_bytes());
                out.extend_from_slice(&text[end..]);
                return out;
            }
        }
        pos = line_end + 1;
    }
    bytes.to_vec()
}

fn options(via_addr: SocketAddr, target: SocketAddr, transport: &str, n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {via_addr};branch=z9hG4bKlive{n}\r\n\
From: <sip:probe@example.test>;tag=p\r\nTo: <sip:{target}>\r\nCall-ID: live{n}@test\r\n\
CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn start() -> (tokio::runtime::Runtime, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    cfg.sip.listen = vec![
        "udp:127.0.0.1:0".parse().unwrap(),
        "tcp:127.0.0.1:0".parse().unwrap(),
    ];
    let server = rt.block_on(Server::start(&cfg)).unwrap();
    (rt, server)
}

/// Replies on a UDP socket until a final one has been followed by a quiet spell, or `wait`.
fn udp_replies(sock: &UdpSocket, wait: Duration) -> Vec<Seen> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65535];
    loop {
        let now = Instant::now();
        let quiet = if out.iter().any(|s: &Seen| s.code >= 200) {
            Duration::from_millis(100)
        } else {
            deadline.saturating_duration_since(now)
        };
        if quiet.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(quiet)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => out.push(seen(&buf[..n])),
            Err(_) => return out,
        }
    }
}

fn expects_reply(check: &str) -> bool {
    !(check.starts_with("drop")
        || check.starts_with("any")
        || check.starts_with("reject-or-drop")
        || check.starts_with("not400"))
}

#[test]
fn corpus_over_udp() {
    let (_rt, server) = start();
    let target = server.local_addr(Transport::Udp).unwrap();
    let mut failures = Vec::new();
    for (n, case) in corpus().into_iter().enumerate() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(target).unwrap();
        let me = sock.local_addr().unwrap();
        sock.send(&aim_top_via(&case.bytes, me)).unwrap();
        let wait = if expects_reply(&case.check) {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(300)
        };
        let replies = udp_replies(&sock, wait);
        if let Err(e) = verdict(&case.check, &replies, false) {
            failures.push(format!("{}: {e}", case.name));
        }
        sock.send(&options(me, target, "UDP", n as u32)).unwrap();
        let live = udp_replies(&sock, Duration::from_secs(3));
        if live.first().map(|s| s.code) != Some(200) {
            failures.push(format!(
                "{}: server did not answer OPTIONS afterwards: {live:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends `bytes`, half-closes, and collects every reply until the server closes.
fn tcp_exchange(target: SocketAddr, bytes: &[u8]) -> Vec<Seen> {
    let mut s = TcpStream::connect(target).unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(&aim_top_via(bytes, me)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let mut framer = StreamFramer::new(1 << 20);
    framer.push(&all);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = framer.next_frame() {
        if let Frame::Message(m) = frame {
            out.push(seen(&m));
        }
    }
    out
}

#[test]
fn corpus_over_tcp() {
    let (_rt, server) = start();
    let target = server.local_addr(Transport::Tcp).unwrap();
    let mut failures = Vec::new();
    for (n, case) in corpus().into_iter().enumerate() {
        let replies = tcp_exchange(target, &case.bytes);
        if let Err(e) = verdict(&case.check, &replies, true) {
            failures.push(format!("{}: {e}", case.name));
        }
        let live = tcp_exchange(target, &options(target, target, "TCP", n as u32));
        if live.first().map(|s| s.code) != Some(200) {
            failures.push(format!(
                "{}: server did not answer OPTIONS afterwards: {live:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// [`tcp_exchange`] inside TLS: close_notify plays the part of the half-close.
fn tls_exchange(
    target: SocketAddr,
    client: &std::sync::Arc<rustls::ClientConfig>,
    bytes: &[u8],
) -> Vec<Seen> {
    let tcp = TcpStream::connect(target).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = tcp.local_addr().unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
    let conn = rustls::ClientConnection::new(client.clone(), name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(&aim_top_via(bytes, me)).unwrap();
    s.conn.send_close_notify();
    s.flush().unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let mut framer = StreamFramer::new(1 << 20);
    framer.push(&all);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = framer.next_frame() {
        if let Frame::Message(m) = frame {
            out.push(seen(&m));
        }
    }
    out
}

#[test]
fn corpus_over_tls() {
    let pki = common::Pki::new("rfc4475");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    cfg.sip.listen = vec!["tls:127.0.0.1:0".parse().unwrap()];
    cfg.sip.tls.cert = Some(pki.cert.clone());
    cfg.sip.tls.key = Some(pki.key.clone());
    let server = rt.block_on(Server::start(&cfg)).unwrap();
    let target = server.local_addr(Transport::Tls).unwrap();
    let client = pki.client(None);
    let mut failures = Vec::new();
    for (n, case) in corpus().into_iter().enumerate() {
        let replies = tls_exchange(target, &client, &case.bytes);
        if let Err(e) = verdict(&case.check, &replies, true) {
            failures.push(format!("{}: {e}", case.name));
        }
        let live = tls_exchange(target, &client, &options(target, target, "TLS", n as u32));
        if live.first().map(|s| s.code) != Some(200) {
            failures.push(format!(
                "{}: server did not answer OPTIONS afterwards: {live:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_through_the_front_door() {
    let mut cfg = Config::default().sip;
    cfg.listen = vec!["udp:127.0.0.1:5060".parse().unwrap()];
    let door = FrontDoor::new(&cfg);
    let source: SocketAddr = "192.0.2.200:5060".parse().unwrap();
    let mut failures = Vec::new();
    for case in corpus() {
        let replies: Vec<Seen> = match door.handle(&case.bytes, source, Transport::Udp) {
            Outcome::Reply(r) => vec![seen(&r.bytes)],
            Outcome::Drop(_) | Outcome::Route => vec![],
        };
        if let Err(e) = verdict(&case.check, &replies, false) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
