//! Offer/answer over the relay, for whoever does the signalling (the proxy in-process, or the
//! ng control for a remote one): a relayed call is named by the signalling's key for it, and
//! each SDP either party sends is anchored at the relay for the other. One audio stream per
//! call is relayed; further streams are refused in the SDP (port 0) rather than left to
//! bypass the relay. A new SDP on a known call (re-INVITE, hold, an answer) keeps its ports.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use trunkline_sdp::Sdp;

use crate::{Branch, CallId, Ended, LegQos, MediaPlane, Side};

/// Why an SDP could not be anchored.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("no audio stream to relay")]
    NoAudio,
    #[error("Unknown call-id")]
    UnknownCall,
    #[error("no media ports: {0}")]
    NoPorts(std::io::Error),
}

/// The relayed calls of one relay, by the signalling's name for each.
#[derive(Debug)]
pub struct Sessions {
    plane: MediaPlane,
    calls: Mutex<HashMap<String, CallId>>,
}

impl Sessions {
    pub fn new(plane: MediaPlane) -> Self {
        Sessions {
            plane,
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn calls(&self) -> MutexGuard<'_, HashMap<String, CallId>> {
        // Map operations only under the lock: a poisoned lock is still consistent.
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address the relay names in SDP.
    pub fn ip(&self) -> IpAddr {
        self.plane.ip()
    }

    /// Whether `key` is a relayed call.
    pub fn contains(&self, key: &str) -> bool {
        self.calls().contains_key(key)
    }

    /// `sender`'s SDP in call `key`, anchored at the relay: the sender's media address is
    /// learnt (latching corrects it once packets arrive) and the SDP names the address and
    /// port of the leg facing the other party. `create` starts the call on its first SDP,
    /// each leg on the relay address of its party's family (`[caller is IPv6, callee is
    /// IPv6]`); without it an unknown key is an error.
    pub fn rewrite(
        &self,
        key: &str,
        sender: Side,
        sdp: &[u8],
        create: Option<[bool; 2]>,
    ) -> Result<Vec<u8>, SessionError> {
        let mut body = Sdp::parse(sdp).map_err(|e| SessionError::Sdp(e.to_string()))?;
        let streams = body.streams();
        let audio = (streams.iter())
            .find(|s| s.media == "audio" && s.rtp.is_some())
            .ok_or(SessionError::NoAudio)?;
        let rtp = audio.rtp.ok_or(SessionError::NoAudio)?;
        let id = {
            let mut calls = self.calls();
            match (calls.get(key), create) {
                (Some(id), _) => *id,
                (None, None) => return Err(SessionError::UnknownCall),
                (None, Some(v6)) => {
                    let (id, _, _) = self.plane.create_for(v6).map_err(SessionError::NoPorts)?;
                    calls.insert(key.to_owned(), id);
                    id
                }
            }
        };
        (self.plane.set_peer(id, sender, rtp, audio.rtcp))
            .map_err(|_| SessionError::UnknownCall)?;
        let held = audio.direction == "inactive";
        (self.plane.sdp_seen(id, held)).map_err(|_| SessionError::UnknownCall)?;
        let port = (self.plane.port(id, sender.other())).ok_or(SessionError::UnknownCall)?;
        let ip = (self.plane.leg_ip(id, sender.other())).ok_or(SessionError::UnknownCall)?;
        for s in &streams {
            match s.index == audio.index {
                true => body.anchor(s.index, ip, port),
                false => body.reject(s.index),
            }
            .map_err(|e| SessionError::Sdp(e.to_string()))?;
        }
        Ok(body.to_bytes())
    }

    /// Selects callee-side `branch` of call `key`, a branch of a forked call, with ports of
    /// its own when it is new (on the relay address of the family of its party: IPv6 with
    /// `v6`): the next SDP of the callee side is that branch's, the next one of the caller
    /// is offered to it, and media flows with it. Nothing happens to an unknown call.
    pub fn select(&self, key: &str, branch: Branch, v6: bool) -> Result<(), SessionError> {
        let Some(id) = self.calls().get(key).copied() else {
            return Ok(());
        };
        self.plane
            .select(id, branch, v6)
            .map_err(SessionError::NoPorts)
    }

    /// Keeps callee-side `branch` of call `key` (it answered); the other branches end.
    pub fn keep(&self, key: &str, branch: Branch) {
        if let Some(id) = self.calls().get(key).copied() {
            self.plane.keep(id, branch);
        }
    }

    /// Ends callee-side `branch` of call `key` (its phone declined).
    pub fn drop_branch(&self, key: &str, branch: Branch) {
        if let Some(id) = self.calls().get(key).copied() {
            self.plane.drop_branch(id, branch);
        }
    }

    /// Both legs' figures so far: [caller side, callee side].
    pub fn qos(&self, key: &str) -> Option<[LegQos; 2]> {
        let id = *self.calls().get(key)?;
        self.plane.qos(id)
    }

    /// Every relayed call with its figures so far.
    pub fn list(&self) -> Vec<(String, [LegQos; 2])> {
        let calls: Vec<(String, CallId)> = (self.calls().iter())
            .map(|(k, id)| (k.clone(), *id))
            .collect();
        (calls.into_iter())
            .filter_map(|(k, id)| Some((k, self.plane.qos(id)?)))
            .collect()
    }

    /// Records relayed call `key` from now on, to `stem` plus `.wav` (G.711) or `.pcap`.
    pub fn record(&self, key: &str, stem: std::path::PathBuf) -> Result<(), SessionError> {
        let id = *self.calls().get(key).ok_or(SessionError::UnknownCall)?;
        (self.plane.record(id, stem)).map_err(|_| SessionError::UnknownCall)
    }

    /// Ends a relayed call; its final figures and recording.
    pub fn delete(&self, key: &str) -> Option<Ended> {
        let id = self.calls().remove(key)?;
        self.plane.delete(id)
    }

    /// The calls no media arrived for in `timeout` (a call that never had media gets the
    /// ring grace on top), still relayed: the caller decides what to do with each.
    pub fn idle(&self, timeout: Duration) -> Vec<String> {
        let idle = self.plane.idle(timeout);
        let mut keys: Vec<String> = (self.calls().iter())
            .filter(|(_, id)| idle.contains(id))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, UdpSocket};

    fn sdp(ip: &str, port: u16) -> String {
        let family = if ip.contains(':') { "IP6" } else { "IP4" };
        format!(
            "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
    }

    fn media(body: &[u8]) -> SocketAddr {
        Sdp::parse(body).unwrap().streams()[0].rtp.unwrap()
    }

    #[test]
    fn an_ipv4_caller_and_an_ipv6_callee_are_bridged() {
        let plane = MediaPlane::new("127.0.0.1".parse().unwrap(), 44200..=44299)
            .with_bridge("::1".parse().unwrap());
        let s = Sessions::new(plane);
        let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
        let callee = UdpSocket::bind("[::1]:0").unwrap();
        for sock in [&caller, &callee] {
            sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        let offer = sdp("127.0.0.1", caller.local_addr().unwrap().port());
        let to_callee = s
            .rewrite("c", Side::Caller, offer.as_bytes(), Some([false, true]))
            .unwrap();
        let relay_b = media(&to_callee);
        assert!(relay_b.is_ipv6(), "{}", String::from_utf8_lossy(&to_callee));
        assert!(String::from_utf8_lossy(&to_callee).contains("c=IN IP6 ::1\r\n"));
        let answer = sdp("::1", callee.local_addr().unwrap().port());
        let to_caller = s
            .rewrite("c", Side::Callee, answer.as_bytes(), None)
            .unwrap();
        let relay_a = media(&to_caller);
        assert!(relay_a.is_ipv4(), "{}", String::from_utf8_lossy(&to_caller));

        let mut buf = [0u8; 512];
        let p = trunkline_rtp::Header::pcmu(7, 1);
        caller.send_to(&p, relay_a).unwrap();
        let (n, from) = callee.recv_from(&mut buf).expect("over IPv6 to the callee");
        assert_eq!((&buf[..n], from), (&p[..], relay_b));
        let q = trunkline_rtp::Header::pcmu(8, 1);
        callee.send_to(&q, relay_b).unwrap();
        let (n, from) = caller.recv_from(&mut buf).expect("over IPv4 to the caller");
        assert_eq!((&buf[..n], from), (&q[..], relay_a));
        assert!(s.delete("c").is_some() && !s.contains("c"));
    }
}
