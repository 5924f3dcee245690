//! In-dialog requests and ACKs for 2xx: routed by the route set the proxy recorded (loose
//! routing, strict-router interop), never by the location service.

use bytes::Bytes;
use tracing::debug;
use trunkline_proto::fork::Fork;
use trunkline_proto::forward;
use trunkline_proto::{Received, ServerTxId};
use trunkline_sip::{Message, Method, Uri};

use trunkline_media::Side;

use super::anchoring::{Deferred, How};
use super::calls::{CallKey, Hangup};
use super::target::{self, Dial, Unreachable};
use super::{Env, Pending, Proxy, Target, Template, contact, sets_target};
use crate::transport::Peer;
use crate::transport::front::Outcome;

impl Proxy {
    /// An in-dialog request: follow the route set.
    pub(super) fn in_dialog(
        &mut self,
        env: &mut Env<'_>,
        tx: ServerTxId,
        bytes: &Bytes,
        msg: &Message<'_>,
        from: Peer,
    ) -> Option<Outcome> {
        let method = msg.method()?;
        let pre = forward::preprocess(msg, |u| Self::is_ours(env.front, u));
        if pre.drop_routes == 0 && pre.request_uri.is_none() {
            // Not a dialog we record-routed.
            return Self::reply(env, msg, from, 404, "Not Here", &[]);
        }
        let sent = self.sender(msg);
        if method == Method::Invite && sent.is_none() {
            // A re-INVITE needs a call we know: a forged Route must not make a new call.
            return Self::reply(env, msg, from, 481, "Call/Transaction Does Not Exist", &[]);
        }
        let (groups, template) = match self.next_hop(env, msg, &pre, from, method) {
            Ok(x) => x,
            Err(why) => return self.unreachable(env, msg, from, why),
        };
        if let Some((k, side)) = &sent
            && let Ok(cseq) = msg.cseq()
        {
            self.calls.saw_cseq(k, *side, cseq.seq);
        }
        if method == Method::Bye
            && let Some((k, side)) = &sent
        {
            let how = match side {
                Side::Caller => Hangup::CallerBye,
                Side::Callee => Hangup::CalleeBye,
            };
            self.end_call(env, k, how);
        }
        // A new offer or answer in a relayed call (re-INVITE, UPDATE, PRACK) is anchored too,
        // and so is the SDP of the responses to it.
        let media = sent.filter(|(k, _)| self.relays(k));
        let pending = Pending {
            request: bytes.clone(),
            index: msg.index(),
            from,
            fork: Fork::new(method == Method::Invite, groups),
            branches: Vec::new(),
            call: None,
            ring_deadline: None,
            template,
            media,
            offered: super::media::has_sdp(msg),
        };
        self.launch_relayed(env, tx, msg, pending)
    }

    /// Where an in-dialog request or an ACK goes after route preprocessing, and the edits.
    fn next_hop(
        &self,
        env: &Env<'_>,
        msg: &Message<'_>,
        pre: &forward::Preprocessed,
        from: Peer,
        method: Method<'_>,
    ) -> Result<(Vec<Vec<Target>>, Template), Unreachable> {
        let mut template = Template {
            drop_routes: pre.drop_routes,
            drop_last_route: pre.drop_last_route,
            ..Template::default()
        };
        if sets_target(method) {
            template.contact = contact::alias_edit(msg, from.addr, from.transport);
        }
        // A new connection only for a call this proxy placed.
        let dial = match call_key(msg).iter().any(|k| self.calls.contains(k)) {
            true => Dial::Allowed,
            false => Dial::Never,
        };
        let ruri: Vec<u8> = match &pre.request_uri {
            Some(u) => u.as_bytes().to_vec(),
            None => msg
                .request_line()
                .map(|rl| rl.uri.to_vec())
                .unwrap_or_default(),
        };
        let next = forward::routes(msg)
            .into_iter()
            .nth(pre.drop_routes)
            .filter(|_| pre.route_left);
        let target = match next {
            Some(route) => {
                let Uri::Sip(u) = route.uri else {
                    return Err(Unreachable::NotAnAddress);
                };
                let peer = target::peer_for_uri(&self.ifaces, env.flows, &u, dial)?;
                if u.is_loose_router() {
                    Target {
                        peer,
                        request_uri: pre.request_uri.clone(),
                        path: Vec::new(),
                    }
                } else {
                    template.append_route = Some(format!("<{}>", String::from_utf8_lossy(&ruri)));
                    template.drop_routes += 1;
                    Target {
                        peer,
                        request_uri: Some(String::from_utf8_lossy(route.uri_raw).into_owned()),
                        path: Vec::new(),
                    }
                }
            }
            None => {
                let Ok(Uri::Sip(u)) = Uri::parse(&ruri) else {
                    return Err(Unreachable::NotAnAddress);
                };
                let peer = target::peer_for_uri(&self.ifaces, env.flows, &u, dial)?;
                let stripped = contact::strip_alias(&ruri);
                Target {
                    peer,
                    request_uri: stripped
                        .map(|s| String::from_utf8_lossy(&s).into_owned())
                        .or_else(|| pre.request_uri.clone()),
                    path: Vec::new(),
                }
            }
        };
        Ok((vec![vec![target]], template))
    }

    /// An ACK the engine handed over: for a 2xx it is end-to-end and routed like any
    /// in-dialog request, statelessly; the ACK for a non-2xx final of ours is absorbed.
    pub(crate) fn ack(
        &mut self,
        env: &mut Env<'_>,
        received: &Received,
        from: Peer,
        tx: Option<ServerTxId>,
    ) {
        if tx.is_some_and(|t| !self.accepted.contains(&t)) {
            return;
        }
        self.forward_ack(env, received, from, None);
    }

    /// Forwards an ACK for a 2xx; `anchored` as for responses: the body a media node gave
    /// its SDP (the answer to a late offer), or `None` to anchor it first.
    pub(super) fn forward_ack(
        &mut self,
        env: &mut Env<'_>,
        received: &Received,
        from: Peer,
        anchored: Option<Option<Vec<u8>>>,
    ) {
        let Some(msg) = received.message() else {
            return;
        };
        let pre = forward::preprocess(&msg, |u| Self::is_ours(env.front, u));
        if pre.drop_routes == 0 && pre.request_uri.is_none() {
            debug!(source = %from.addr, "ACK not for a dialog of ours");
            return;
        }
        let Ok((groups, mut template)) = self.next_hop(env, &msg, &pre, from, Method::Ack) else {
            debug!(source = %from.addr, "ACK destination unreachable");
            return;
        };
        // The answer to an offer in a 2xx (a call set up with a late offer).
        let sent = self.sender(&msg);
        match (anchored, &sent) {
            (Some(body), _) => template.body = body,
            (None, Some((k, side))) => {
                if let Some(m) = self.media.as_mut().filter(|m| m.relays(k)) {
                    let then = Deferred::Ack {
                        received: received.clone(),
                        from,
                    };
                    let how = How {
                        answers: true,
                        ..How::default()
                    };
                    if m.anchor(k, *side, &msg, how, then, env.out).is_none() {
                        return;
                    }
                }
            }
            (None, None) => {}
        }
        let Some(t) = groups.into_iter().flatten().next() else {
            return;
        };
        let n = self.bump_branch();
        let Some((out, _)) = self.forwarded(&msg, &template, &t, from, n) else {
            return;
        };
        env.out.send(t.peer, out);
    }
}

impl Proxy {
    /// The call an in-dialog request belongs to and which party sent it.
    fn sender(&self, msg: &Message<'_>) -> Option<(CallKey, Side)> {
        (call_key(msg).into_iter())
            .zip([Side::Caller, Side::Callee])
            .find(|(k, _)| self.calls.contains(k))
    }
}

/// The call keys an in-dialog request may belong to: sent by the caller (From tag is the
/// caller's) or by the callee (To tag is).
pub(super) fn call_key(msg: &Message<'_>) -> Vec<CallKey> {
    let Ok(call_id) = msg.call_id() else {
        return Vec::new();
    };
    let call_id = String::from_utf8_lossy(call_id).into_owned();
    let tags = [
        msg.from().ok().and_then(|f| f.tag()),
        msg.to().ok().and_then(|t| t.tag()),
    ];
    tags.into_iter()
        .flatten()
        .map(|t| CallKey {
            call_id: call_id.clone(),
            caller_tag: String::from_utf8_lossy(t).into_owned(),
        })
        .collect()
}
