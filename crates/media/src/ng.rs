//! The rtpengine "ng" control protocol (bencoded dictionaries over UDP, each message
//! `COOKIE SP DICT` and its reply under the same cookie), so that Trunkline's proxy drives
//! remote media nodes with it and an existing Kamailio or OpenSIPS with its rtpengine module
//! can use a Trunkline media node. Commands: `ping`, `offer`, `answer`, `delete`, `query`,
//! `start recording` (Kamailio's `start_recording()`) and `stop recording`. Replies to `query`
//! and `delete` say what rtpengine's do (module `ng_stats`): totals for `$rtpstat`, MOS per
//! SSRC and the parties' tags and labels for the `mos_*` pseudo-variables.
//!
//! A call is keyed by its Call-ID; the `from-tag` of the first offer is the caller side, so a
//! re-INVITE from either party is placed on the right leg and keeps the call's ports
//! ([`Sessions`] does the anchoring).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tracing::debug;

use crate::bencode::Value;
use crate::ng_stats::{Parties, stats};
use crate::{LegQos, MediaPlane, Sessions, Side};

/// The ng command processor of one media node.
#[derive(Debug)]
pub struct Control {
    sessions: Sessions,
    /// Call-ID → its parties (the first offer's from-tag is the caller).
    callers: Mutex<HashMap<String, Parties>>,
    /// Where recordings go; `None`: `start recording` is refused.
    recordings: Option<PathBuf>,
}

/// A reply's dictionary.
type Dict = BTreeMap<Vec<u8>, Value>;

fn ok() -> Dict {
    let mut d = Dict::new();
    d.insert(b"result".to_vec(), Value::str("ok"));
    d
}

fn error(reason: &str) -> Dict {
    let mut d = Dict::new();
    d.insert(b"result".to_vec(), Value::str("error"));
    d.insert(b"error-reason".to_vec(), Value::str(reason));
    d
}

fn unix_now() -> std::time::Duration {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)).unwrap_or_default()
}

fn with_stats(q: Option<[LegQos; 2]>, parties: Option<&Parties>) -> Dict {
    match q {
        Some(q) => {
            let mut d = ok();
            d.extend(stats(&q, parties, unix_now().as_secs()));
            d
        }
        None => error("Unknown call-id"),
    }
}

impl Control {
    pub fn new(plane: MediaPlane) -> Self {
        Control {
            sessions: Sessions::new(plane),
            callers: Mutex::new(HashMap::new()),
            recordings: None,
        }
    }

    /// Records calls on `start recording` into `dir`.
    pub fn with_recordings(mut self, dir: PathBuf) -> Self {
        self.recordings = Some(dir);
        self
    }

    fn callers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Parties>> {
        self.callers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one datagram; `None` when it has no cookie (nothing to answer to).
    pub fn handle(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        let sp = datagram.iter().position(|&b| b == b' ')?;
        let (cookie, body) = (&datagram[..sp], &datagram[sp + 1..]);
        let reply = match Value::decode(body) {
            Ok(msg) => self.command(&msg),
            Err(e) => error(&e.to_string()),
        };
        let mut out = cookie.to_vec();
        out.push(b' ');
        Value::Dict(reply).encode(&mut out);
        Some(out)
    }

    fn command(&self, msg: &Value) -> Dict {
        let text = |k: &str| msg.get(k).and_then(Value::as_str);
        match text("command") {
            Some("ping") => {
                let mut d = Dict::new();
                d.insert(b"result".to_vec(), Value::str("pong"));
                d
            }
            Some("offer") | Some("answer") => {
                let (Some(call_id), Some(from_tag), Some(sdp)) =
                    (text("call-id"), text("from-tag"), text("sdp"))
                else {
                    return error("missing call-id, from-tag or sdp");
                };
                let answer = text("command") == Some("answer");
                let reply =
                    self.offer_answer(call_id, from_tag, sdp, answer, text("address family"));
                if let Some((side, parties)) = reply.1.zip(self.callers().get_mut(call_id)) {
                    // The answer names the callee's tag; either may carry a party's label.
                    if answer && parties.tags[1].is_none() {
                        parties.tags[1] = text("to-tag").map(str::to_owned);
                    }
                    if let Some(label) = text("label") {
                        parties.labels[side.index()] = Some(label.to_owned());
                    }
                }
                reply.0
            }
            Some("delete") => {
                let Some(call_id) = text("call-id") else {
                    return error("missing call-id");
                };
                let parties = self.callers().remove(call_id);
                let ended = self.sessions.delete(call_id);
                if let Some(path) = ended.as_ref().and_then(|e| e.recording.as_ref()) {
                    tracing::info!(call_id, path = %path.display(), "media relay: recording written");
                }
                with_stats(ended.map(|e| e.qos), parties.as_ref())
            }
            Some("start recording") => {
                let (Some(call_id), Some(dir)) = (text("call-id"), &self.recordings) else {
                    return error("missing call-id, or this node keeps no recordings");
                };
                let tag = (self.callers().get(call_id))
                    .and_then(|p| p.tags[0].clone())
                    .unwrap_or_default();
                let now = unix_now().as_millis() as u64;
                let stem = dir.join(crate::recording_stem(call_id, &tag, now));
                match self.sessions.record(call_id, stem) {
                    Ok(()) => ok(),
                    Err(e) => error(&e.to_string()),
                }
            }
            Some("stop recording") => match text("call-id") {
                // The recording is completed when the call is deleted; until then it goes on.
                Some(c) if self.sessions.contains(c) => ok(),
                _ => error("Unknown call-id"),
            },
            Some("query") => {
                let call_id = text("call-id").unwrap_or_default();
                let parties = self.callers().get(call_id).cloned();
                with_stats(self.sessions.qos(call_id), parties.as_ref())
            }
            Some(other) => error(&format!("Unrecognized command {other:?}")),
            None => error("no command"),
        }
    }

    fn offer_answer(
        &self,
        call_id: &str,
        from_tag: &str,
        sdp: &str,
        answer: bool,
        family: Option<&str>,
    ) -> (Dict, Option<Side>) {
        let caller_tag = (self.callers().get(call_id)).and_then(|p| p.tags[0].clone());
        if caller_tag.is_none() && answer {
            return (error("Unknown call-id"), None);
        }
        // For an answer, `from-tag` is still the offerer's (the dialog's From): the SDP is
        // the other party's.
        let offerer = match caller_tag.as_deref().is_none_or(|t| t == from_tag) {
            true => Side::Caller,
            false => Side::Callee,
        };
        let sender = match answer {
            false => offerer,
            true => offerer.other(),
        };
        // A new call: the caller's leg on the family of its SDP, the callee's on the family
        // rtpengine's `address family` names (IP4, IP6), else the same.
        let create = (!answer).then(|| {
            let offer_v6 = sdp.lines().any(|l| l.starts_with("c=IN IP6 "));
            let callee_v6 = match family {
                Some("IP6") => true,
                Some("IP4") => false,
                _ => offer_v6,
            };
            [offer_v6, callee_v6]
        });
        match self
            .sessions
            .rewrite(call_id, sender, sdp.as_bytes(), create)
        {
            Ok(body) => {
                if caller_tag.is_none() {
                    let parties = Parties::new(from_tag, unix_now().as_secs());
                    self.callers().insert(call_id.to_owned(), parties);
                }
                let mut d = ok();
                d.insert(b"sdp".to_vec(), Value::Bytes(body));
                (d, Some(sender))
            }
            Err(e) => (error(&e.to_string()), None),
        }
    }

    /// Deletes the calls no media arrived for in `timeout` (rtpengine's `timeout`): a
    /// signalling server that crashed or lost a BYE must not hold relay ports forever.
    /// Returns the Call-IDs deleted.
    pub fn sweep(&self, timeout: std::time::Duration) -> Vec<String> {
        let gone = self.sessions.idle(timeout);
        for key in &gone {
            self.callers().remove(key);
            self.sessions.delete(key);
        }
        gone
    }

    /// Answers ng requests on `socket` until the task is cancelled.
    pub async fn serve(self: Arc<Self>, socket: UdpSocket) {
        let mut buf = vec![0u8; 65_535];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(reply) = self.handle(&buf[..n])
                && let Err(e) = socket.send_to(&reply, from).await
            {
                debug!(%from, error = %e, "ng reply not sent");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;
    use trunkline_sdp::Sdp;

    fn request(cookie: &str, pairs: &[(&str, &str)]) -> Vec<u8> {
        let d: Dict = (pairs.iter())
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
            .collect();
        let mut out = format!("{cookie} ").into_bytes();
        Value::Dict(d).encode(&mut out);
        out
    }

    async fn call(c: &Control, cookie: &str, pairs: &[(&str, &str)]) -> Value {
        let reply = c.handle(&request(cookie, pairs)).unwrap();
        let (head, body) = reply.split_at(cookie.len() + 1);
        assert_eq!(head, format!("{cookie} ").as_bytes());
        Value::decode(body).unwrap()
    }

    fn sdp(ip: &str, port: u16) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n\
             m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        )
    }

    fn media_port(reply: &Value) -> (u16, String) {
        let text = reply.get("sdp").and_then(Value::as_str).unwrap().to_owned();
        let stream = Sdp::parse(text.as_bytes()).unwrap().streams()[0].clone();
        (stream.rtp.unwrap().port(), text)
    }

    #[tokio::test]
    async fn offer_answer_relay_query_delete() {
        let c = Control::new(MediaPlane::new("127.0.0.1".parse().unwrap(), 43000..=43999));
        let pong = call(&c, "c1", &[("command", "ping")]).await;
        assert_eq!(pong.get("result").and_then(Value::as_str), Some("pong"));

        let caller = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // The caller's SDP names a private address (it is behind NAT).
        let offer = sdp("192.168.1.20", 4000);
        let r = call(
            &c,
            "c2",
            &[
                ("command", "offer"),
                ("call-id", "x1"),
                ("from-tag", "ft"),
                ("label", "caller"),
                ("sdp", &offer),
            ],
        )
        .await;
        assert_eq!(r.get("result").and_then(Value::as_str), Some("ok"), "{r:?}");
        let (to_callee_port, text) = media_port(&r);
        assert!(text.contains("c=IN IP4 127.0.0.1\r\n"), "{text}");
        assert!(text.contains("m=video 0 "), "only audio is relayed: {text}");
        let callee_addr = callee.local_addr().unwrap();
        let answer = sdp("127.0.0.1", callee_addr.port());
        let r = call(
            &c,
            "c3",
            &[
                ("command", "answer"),
                ("call-id", "x1"),
                ("from-tag", "ft"),
                ("to-tag", "tt"),
                ("label", "callee"),
                ("sdp", &answer),
            ],
        )
        .await;
        let (to_caller_port, _) = media_port(&r);
        assert_ne!(to_caller_port, to_callee_port);

        // Media: the callee first (to the caller's SDP address, lost), then the caller from
        // its real address, latched; then the callee reaches it.
        let relay = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let rtp = trunkline_rtp::Header::pcmu;
        caller
            .send_to(&rtp(1, 1), relay(to_caller_port))
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let got = tokio::time::timeout(Duration::from_secs(2), callee.recv_from(&mut buf)).await;
        assert!(got.is_ok(), "the callee hears the caller");
        callee
            .send_to(&rtp(2, 1), relay(to_callee_port))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), caller.recv_from(&mut buf)).await;
        assert!(got.is_ok(), "the caller hears the callee through its NAT");

        let q = call(&c, "c4", &[("command", "query"), ("call-id", "x1")]).await;
        let packets = |side: &str| {
            q.get("totals")
                .and_then(|t| t.get(side))
                .and_then(|l| l.get("packets"))
                .cloned()
        };
        assert_eq!(
            (packets("caller"), packets("callee")),
            (Some(Value::Int(1)), Some(Value::Int(1)))
        );
        // rtpengine's view for Kamailio's mos_* pseudo-variables: a MOS per SSRC, and which
        // party (tag, label) sends which SSRC.
        assert!(matches!(q.get("created"), Some(Value::Int(t)) if *t > 1_700_000_000));
        for (ssrc, tag, label) in [(1, "ft", "caller"), (2, "tt", "callee")] {
            let mos = (q.get("SSRC").and_then(|d| d.get(&ssrc.to_string())))
                .and_then(|d| d.get("average MOS"))
                .unwrap_or_else(|| panic!("no MOS for SSRC {ssrc}: {q:?}"));
            assert!(matches!(mos.get("MOS"), Some(Value::Int(m)) if (10..=50).contains(m)));
            assert_eq!(mos.get("packet loss"), Some(&Value::Int(0)));
            assert_eq!(mos.get("samples"), Some(&Value::Int(1)));
            let party = q.get("tags").and_then(|t| t.get(tag)).unwrap();
            assert_eq!(party.get("label").and_then(Value::as_str), Some(label));
            let stream = match party.get("medias") {
                Some(Value::List(m)) => match m[0].get("streams") {
                    Some(Value::List(s)) => s[0].clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            };
            assert_eq!(stream.get("SSRC"), Some(&Value::Int(ssrc)));
        }
        let d = call(
            &c,
            "c5",
            &[("command", "delete"), ("call-id", "x1"), ("from-tag", "ft")],
        )
        .await;
        assert_eq!(d.get("result").and_then(Value::as_str), Some("ok"));
        let again = call(&c, "c6", &[("command", "delete"), ("call-id", "x1")]).await;
        assert_eq!(again.get("result").and_then(Value::as_str), Some("error"));
    }

    #[tokio::test]
    async fn silent_calls_are_swept() {
        let c = Control::new(MediaPlane::new("127.0.0.1".parse().unwrap(), 44100..=44199));
        let offer = sdp("192.168.1.20", 4000);
        let r = call(
            &c,
            "s1",
            &[
                ("command", "offer"),
                ("call-id", "quiet"),
                ("from-tag", "f"),
                ("sdp", &offer),
            ],
        )
        .await;
        assert_eq!(r.get("result").and_then(Value::as_str), Some("ok"));
        assert!(
            c.sweep(Duration::ZERO).is_empty(),
            "no media yet: it may still be ringing"
        );
        // One packet from the caller to its leg (the port below the callee's), then silence.
        let (port, _) = media_port(&r);
        let caller = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let packet = trunkline_rtp::Header::pcmu(1, 1);
        caller
            .send_to(&packet, ("127.0.0.1", port - 2))
            .await
            .unwrap();
        assert!(c.sweep(Duration::from_secs(3600)).is_empty());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut gone = Vec::new();
        while gone.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            gone = c.sweep(Duration::ZERO);
        }
        assert_eq!(gone, vec!["quiet".to_owned()]);
        let q = call(&c, "s2", &[("command", "query"), ("call-id", "quiet")]).await;
        assert_eq!(
            q.get("result").and_then(Value::as_str),
            Some("error"),
            "gone"
        );
    }

    #[tokio::test]
    async fn bad_requests_get_error_replies() {
        let c = Control::new(MediaPlane::new("127.0.0.1".parse().unwrap(), 44000..=44099));
        assert_eq!(c.handle(b"no-space-no-cookie"), None);
        let r = c.handle(b"k1 d7:command").unwrap();
        assert!(String::from_utf8_lossy(&r).contains("error"));
        let r = call(
            &c,
            "k2",
            &[
                ("command", "answer"),
                ("call-id", "nope"),
                ("from-tag", "a"),
                ("sdp", "v=0\r\n"),
            ],
        )
        .await;
        assert_eq!(r.get("result").and_then(Value::as_str), Some("error"));
        let r = call(
            &c,
            "k3",
            &[
                ("command", "offer"),
                ("call-id", "c"),
                ("from-tag", "a"),
                ("sdp", "garbage"),
            ],
        )
        .await;
        assert_eq!(r.get("result").and_then(Value::as_str), Some("error"));
        let r = call(&c, "k4", &[("command", "frobnicate")]).await;
        assert_eq!(r.get("result").and_then(Value::as_str), Some("error"));
    }
}
