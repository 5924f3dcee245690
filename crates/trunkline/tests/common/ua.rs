//! A small scripted SIP user agent for what SIPp and baresip 1.0 cannot do here: SIP over
//! WebSocket (RFC 7118) and checks on the exact headers a request arrives with. It registers
//! with digest auth, sends requests, answers them, and reads messages with a timeout.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use trunkline_sip::digest::{Algorithm, CredentialsBuilder, Qop, Secret, parse_challenge};
use trunkline_sip::{HeaderName, Message};
use tungstenite::client::IntoClientRequest as _;
use tungstenite::{Message as WsMessage, WebSocket};

/// How the agent reaches the server.
pub enum Link {
    Udp {
        socket: UdpSocket,
        server: SocketAddr,
    },
    Ws(Box<WebSocket<TcpStream>>),
}

impl Link {
    /// A UDP socket on 127.0.0.1 that talks to the server's `port`.
    pub fn udp(port: u16) -> Link {
        Self::udp_from([127, 0, 0, 1], port)
    }

    /// A UDP socket on `ip` (a loopback address) that talks to 127.0.0.1:`port`.
    pub fn udp_from(ip: [u8; 4], port: u16) -> Link {
        let socket = UdpSocket::bind((std::net::Ipv4Addr::from(ip), 0)).unwrap();
        Link::Udp {
            socket,
            server: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// A WebSocket connection to `ws://127.0.0.1:port/` with the `sip` subprotocol.
    pub fn ws(port: u16) -> Link {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut request = format!("ws://127.0.0.1:{port}/")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
        let (ws, response) = tungstenite::client::client(request, stream).unwrap();
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.as_bytes()),
            Some(&b"sip"[..]),
            "the server must accept the sip subprotocol"
        );
        Link::Ws(Box::new(ws))
    }

    /// The `sent-by` and Contact host:port this agent puts in its messages. A WebSocket
    /// client has no reachable address: an `.invalid` name, as browsers use (RFC 7118 §5.2).
    fn local(&self) -> String {
        match self {
            Link::Udp { socket, .. } => socket.local_addr().unwrap().to_string(),
            Link::Ws(_) => "ws-client.invalid".to_owned(),
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Link::Udp { .. } => "UDP",
            Link::Ws(_) => "WS",
        }
    }

    fn send(&mut self, msg: &str) {
        match self {
            Link::Udp { socket, server } => {
                socket.send_to(msg.as_bytes(), *server).unwrap();
            }
            Link::Ws(ws) => ws.send(WsMessage::text(msg)).unwrap(),
        }
    }

    /// The next SIP message, or `None` after `timeout`. Keep-alives are skipped.
    fn recv(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let left = left.max(Duration::from_millis(1));
            let got = match self {
                Link::Udp { socket, .. } => {
                    socket.set_read_timeout(Some(left)).unwrap();
                    let mut buf = vec![0u8; 65536];
                    match socket.recv_from(&mut buf) {
                        Ok((n, _)) => Some(buf[..n].to_vec()),
                        Err(e) if is_timeout(&e) => None,
                        Err(e) => panic!("UDP receive failed: {e}"),
                    }
                }
                Link::Ws(ws) => {
                    ws.get_mut().set_read_timeout(Some(left)).unwrap();
                    match ws.read() {
                        Ok(WsMessage::Text(t)) => Some(t.as_bytes().to_vec()),
                        Ok(WsMessage::Binary(b)) => Some(b.to_vec()),
                        Ok(_) => Some(Vec::new()),
                        Err(tungstenite::Error::Io(e)) if is_timeout(&e) => None,
                        Err(e) => panic!("WebSocket receive failed: {e}"),
                    }
                }
            };
            match got {
                None => return None,
                Some(b) if b.iter().all(|c| c.is_ascii_whitespace()) => continue,
                Some(b) => return Some(String::from_utf8_lossy(&b).into_owned()),
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Every value of header `name` in `msg` (comma-separated values split).
pub fn values(msg: &str, name: HeaderName) -> Vec<String> {
    let Ok(m) = Message::parse(msg.as_bytes()) else {
        return Vec::new();
    };
    m.values(name)
        .flatten()
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .collect()
}

/// The URI inside the first `<…>` of a name-addr value.
pub fn uri_of(value: &str) -> String {
    let start = value.find('<').map_or(0, |i| i + 1);
    let end = value[start..].find('>').map_or(value.len(), |i| start + i);
    value[start..end].to_owned()
}

/// The value of the first header `name` in `msg`, if any.
pub fn header(msg: &str, name: HeaderName) -> Option<String> {
    let m = Message::parse(msg.as_bytes()).ok()?;
    let h = m.header(name)?;
    Some(String::from_utf8_lossy(h.value).into_owned())
}

/// Every line of header `name` in `msg`, as received (name included).
pub fn header_lines(msg: &str, name: HeaderName) -> Vec<String> {
    let Ok(m) = Message::parse(msg.as_bytes()) else {
        return Vec::new();
    };
    m.headers_named(name)
        .map(|h| String::from_utf8_lossy(m.header_line(h)).into_owned())
        .collect()
}

/// The status code of a response, 0 for a request.
pub fn status(msg: &str) -> u16 {
    Message::parse(msg.as_bytes())
        .ok()
        .and_then(|m| m.status_line().map(|s| s.code))
        .unwrap_or(0)
}

/// A registered (or calling) user agent.
pub struct Ua {
    pub link: Link,
    pub user: String,
    pub domain: String,
    password: String,
    /// A Contact to send instead of this agent's own address (a phone behind NAT).
    pub contact_override: Option<String>,
    cseq: u32,
    /// Messages received while waiting for something else.
    backlog: Vec<String>,
}

impl Ua {
    pub fn new(link: Link, user: &str, domain: &str, password: &str) -> Ua {
        Ua {
            link,
            user: user.to_owned(),
            domain: domain.to_owned(),
            password: password.to_owned(),
            contact_override: None,
            cseq: 0,
            backlog: Vec::new(),
        }
    }

    /// This agent's `host:port` as it puts it in Via and Contact.
    pub fn address(&self) -> String {
        self.link.local()
    }

    /// This agent's Contact URI.
    pub fn contact(&self) -> String {
        if let Some(c) = &self.contact_override {
            return c.clone();
        }
        let transport = match self.link {
            Link::Ws(_) => ";transport=ws",
            Link::Udp { .. } => "",
        };
        format!("<sip:{}@{}{transport}>", self.user, self.link.local())
    }

    fn via(&self) -> String {
        let branch: u64 = rand_u64();
        format!(
            "Via: SIP/2.0/{} {};branch=z9hG4bK{branch:x};rport",
            self.link.transport(),
            self.link.local()
        )
    }

    /// A request from this agent (a new Via branch and CSeq each time).
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        method: &str,
        ruri: &str,
        from: &str,
        to: &str,
        call_id: &str,
        extra: &[String],
        body: &str,
    ) -> String {
        self.cseq += 1;
        let mut out = format!(
            "{method} {ruri} SIP/2.0\r\n{}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {} {method}\r\nContact: {}\r\n",
            self.via(),
            self.cseq,
            self.contact()
        );
        for h in extra {
            out.push_str(h);
            out.push_str("\r\n");
        }
        if !body.is_empty() {
            out.push_str("Content-Type: application/sdp\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        out
    }

    pub fn send(&mut self, msg: &str) {
        self.link.send(msg);
    }

    /// The next message for which `pick` holds, within `timeout`; others wait in a backlog.
    pub fn wait_for(&mut self, timeout: Duration, pick: impl Fn(&str) -> bool) -> Option<String> {
        if let Some(i) = self.backlog.iter().position(|m| pick(m)) {
            return Some(self.backlog.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let m = self.link.recv(left)?;
            if pick(&m) {
                return Some(m);
            }
            self.backlog.push(m);
        }
    }

    /// The next request with this method.
    pub fn wait_request(&mut self, method: &str, timeout: Duration) -> Option<String> {
        let prefix = format!("{method} ");
        self.wait_for(timeout, |m| m.starts_with(&prefix))
    }

    /// The next final response (provisional ones are skipped).
    pub fn wait_final(&mut self, timeout: Duration) -> Option<String> {
        self.wait_for(timeout, |m| status(m) >= 200)
    }

    /// Sends `req`; on a 401/407 (the challenge of an INVITE ACKed) sends it again with
    /// credentials for `auth_user` and returns that request. Any other final response to the
    /// first request is the error.
    pub fn send_with_auth(&mut self, req: &str, auth_user: &str) -> Result<String, String> {
        self.send(req);
        let first = self
            .wait_final(Duration::from_secs(5))
            .expect("no final response");
        let answer_name = match status(&first) {
            401 => "Authorization",
            407 => "Proxy-Authorization",
            _ => return Err(first),
        };
        let challenge_name = match answer_name {
            "Authorization" => HeaderName::WwwAuthenticate,
            _ => HeaderName::ProxyAuthenticate,
        };
        if req.starts_with("INVITE ") {
            self.send(&ack_for(req, &first));
        }
        let challenge = header(&first, challenge_name).expect("challenge header");
        let parsed = parse_challenge(challenge.as_bytes()).unwrap();
        let realm = parsed.realm().unwrap().unescape().into_owned();
        let nonce = parsed.nonce().unwrap().unescape().into_owned();
        let m = Message::parse(req.as_bytes()).unwrap();
        let rl = m.request_line().unwrap();
        let method = rl.method.as_str().to_owned();
        let uri = String::from_utf8_lossy(rl.uri).into_owned();
        let cnonce = format!("{:x}", rand_u64());
        let credentials =
            CredentialsBuilder::new(auth_user, Secret::Password(&self.password), &realm, &nonce)
                .request(&method, &uri)
                .algorithm(Algorithm::Md5)
                .qop(Qop::Auth, 1, &cnonce)
                .build()
                .unwrap();
        // The same request with a new branch, the next CSeq and the credentials.
        self.cseq += 1;
        let (head, body) = req.split_once("\r\n\r\n").unwrap_or((req, ""));
        let mut again = String::new();
        for line in head.split("\r\n") {
            if line.starts_with("Via:") {
                again.push_str(&self.via());
            } else if let Some(rest) = line.strip_prefix("CSeq: ") {
                let method = rest.split(' ').nth(1).unwrap_or_default();
                again.push_str(&format!("CSeq: {} {method}", self.cseq));
            } else {
                again.push_str(line);
            }
            again.push_str("\r\n");
        }
        again.push_str(&format!("{answer_name}: {credentials}\r\n\r\n{body}"));
        self.send(&again);
        Ok(again)
    }

    /// A request inside a dialog: to `target` via `routes`, with the dialog's From and To,
    /// the Call-ID and, for an ACK, the INVITE's CSeq number `ack_of`.
    #[allow(clippy::too_many_arguments)]
    pub fn dialog_request(
        &mut self,
        method: &str,
        target: &str,
        routes: &[String],
        from: &str,
        to: &str,
        call_id: &str,
        ack_of: Option<u32>,
    ) -> String {
        let route: Vec<String> = routes.iter().map(|r| format!("Route: {r}")).collect();
        let mut req = self.request(method, target, from, to, call_id, &route, "");
        if let Some(n) = ack_of {
            self.cseq -= 1;
            req = req.replace(
                &format!("CSeq: {} ACK", self.cseq + 1),
                &format!("CSeq: {n} ACK"),
            );
        }
        req
    }

    /// Registers this agent's Contact for 300 s; panics unless the registrar says 200.
    pub fn register(&mut self) {
        let aor = format!("<sip:{}@{}>", self.user, self.domain);
        let req = self.request(
            "REGISTER",
            &format!("sip:{}", self.domain),
            &format!("{aor};tag=r{:x}", rand_u64()),
            &aor,
            &format!("reg-{:x}", rand_u64()),
            &["Expires: 300".to_owned()],
            "",
        );
        let user = self.user.clone();
        // A trusted address may be registered without a challenge.
        let resp = match self.send_with_auth(&req, &user) {
            Ok(_) => self
                .wait_final(Duration::from_secs(5))
                .expect("no answer to the authenticated REGISTER"),
            Err(resp) => resp,
        };
        assert_eq!(status(&resp), 200, "registration failed:\n{resp}");
    }

    /// Answers request `req` with `code`: its Vias, From, To (with `to_tag` added), Call-ID,
    /// CSeq and, for a dialog-forming answer, its Record-Routes and our Contact.
    pub fn respond(&mut self, req: &str, code: u16, reason: &str, to_tag: &str, body: &str) {
        let m = Message::parse(req.as_bytes()).unwrap();
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        let dialog = (101..300).contains(&code);
        copy_lines(&m, &mut out, |name| match name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => true,
            HeaderName::RecordRoute => dialog,
            _ => false,
        });
        let to = header_lines(req, HeaderName::To).remove(0);
        let tag = match code > 100 && !to.contains(";tag=") {
            true => format!(";tag={to_tag}"),
            false => String::new(),
        };
        out.push_str(&format!("{to}{tag}\r\n"));
        if dialog {
            out.push_str(&format!("Contact: {}\r\n", self.contact()));
        }
        if !body.is_empty() {
            out.push_str("Content-Type: application/sdp\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.send(&out);
    }
}

/// Appends the header lines of `m` whose name `pick` selects, in order, each with its CRLF.
fn copy_lines(m: &Message<'_>, out: &mut String, pick: impl Fn(HeaderName) -> bool) {
    for h in m.headers().iter().filter(|h| pick(h.name)) {
        out.push_str(&String::from_utf8_lossy(m.header_line(h)));
        out.push_str("\r\n");
    }
}

/// The ACK for a non-2xx final response to INVITE `req` (same branch, RFC 3261 §17.1.1.3).
pub fn ack_for(req: &str, resp: &str) -> String {
    let m = Message::parse(req.as_bytes()).unwrap();
    let rl = m.request_line().unwrap();
    let mut out = format!("ACK {} SIP/2.0\r\n", String::from_utf8_lossy(rl.uri));
    let cseq = m.cseq().unwrap().seq;
    copy_lines(&m, &mut out, |name| {
        matches!(
            name,
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::Route
        )
    });
    let to = header_lines(resp, HeaderName::To).remove(0);
    out.push_str(&format!(
        "{to}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ));
    out
}

/// A random number for tags, branches and Call-IDs (no extra crate: the clock's nanoseconds
/// mixed with a counter).
fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    (t ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}
