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

use crate::{CallId, Ended, LegQos, MediaPlane, Side};

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
    /// learnt (latching corrects it once packets arrive) and the SDP names the port of the
    /// leg facing the other party. `create` starts the call on its first SDP; without it an
    /// unknown key is an error.
    pub fn rewrite(
        &self,
        key: &str,
        sender: Side,
        sdp: &[u8],
        create: bool,
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
                (None, false) => return Err(SessionError::UnknownCall),
                (None, true) => {
                    let (id, _, _) = self.plane.create().map_err(SessionError::NoPorts)?;
                    calls.insert(key.to_owned(), id);
                    id
                }
            }
        };
        (self.plane.set_peer(id, sender, rtp, audio.rtcp))
            .map_err(|_| SessionError::UnknownCall)?;
        let port = (self.plane.port(id, sender.other())).ok_or(SessionError::UnknownCall)?;
        let ip = self.plane.ip();
        for s in &streams {
            match s.index == audio.index {
                true => body.anchor(s.index, ip, port),
                false => body.reject(s.index),
            }
            .map_err(|e| SessionError::Sdp(e.to_string()))?;
        }
        Ok(body.to_bytes())
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
