//! One copy of a proxied request per target: each branch's request as it leaves (our Via,
//! Record-Route, what an untrusted hop must not see), the client transaction it starts,
//! and the CANCEL that ends it.

use bytes::Bytes;
use trunkline_proto::fork::BranchId;
use trunkline_proto::forward::{self, Forward};
use trunkline_proto::{ServerTxId, branch};
use trunkline_sip::Message;

use super::{BranchTx, Env, Proxy, Target, Template, privacy};
use crate::roles::actions::{Action, ClientRef};
use crate::transport::Peer;

impl Proxy {
    /// The request as it leaves for one target, and the branch of its Via.
    /// `n` is this copy's number ([`Proxy::bump_branch`]), from which its branch is made.
    pub(super) fn forwarded(
        &self,
        msg: &Message<'_>,
        tpl: &Template,
        t: &Target,
        from: Peer,
        n: u64,
    ) -> Option<(Vec<u8>, String)> {
        let branch = branch::forward_branch(msg, n)?;
        let via = self
            .ifaces
            .via(t.peer.transport, t.peer.addr.ip(), &branch)?;
        let mut rr = Vec::new();
        if tpl.record_route {
            let outward = self
                .ifaces
                .record_route(t.peer.transport, t.peer.addr.ip())?;
            let inward = self.ifaces.record_route(from.transport, from.addr.ip())?;
            rr.push(outward.clone());
            // RFC 5658: a second Record-Route when the request changes transport or family.
            if inward != outward {
                rr.push(inward);
            }
        }
        let mut remove = tpl.remove.clone();
        let mut add = tpl.add.clone();
        if !self.is_trusted_hop(t) {
            // Asserted identities go to trusted hops only (RFC 3325 §5), and what the caller's
            // Privacy header hides stays inside the trust domain (RFC 3323 §5).
            add.retain(|(n, _)| *n != "P-Asserted-Identity");
            privacy::Privacy::of(msg).removed_for_untrusted(&mut remove);
        }
        let fw = Forward {
            request_uri: t.request_uri.as_deref().map(str::as_bytes),
            via: &via,
            record_route: &rr,
            drop_routes: tpl.drop_routes,
            drop_last_route: tpl.drop_last_route,
            prepend_routes: &t.path,
            append_route: tpl.append_route.as_deref(),
            remove: &remove,
            add: &add,
            replace: tpl.contact.as_slice(),
            body: tpl.body.as_deref(),
        };
        Some((forward::request(msg, &fw), branch))
    }

    pub(super) fn is_trusted_hop(&self, t: &Target) -> bool {
        self.trusted.iter().any(|n| n.contains(&t.peer.addr.ip()))
    }

    /// A fresh number for a branch or keep-alive this proxy sends.
    pub(super) fn bump_branch(&mut self) -> u64 {
        self.next_branch = self.next_branch.wrapping_add(1);
        self.next_branch
    }

    /// Sends branch `b` of the request of `stx` towards `t`, with `offer` as its body when
    /// the media layer anchored one for it.
    pub(super) fn send_branch(
        &mut self,
        env: &mut Env<'_>,
        stx: ServerTxId,
        b: BranchId,
        t: Target,
        offer: Option<Vec<u8>>,
    ) {
        let n = self.bump_branch();
        let Some(p) = self.pending.get(&stx) else {
            return;
        };
        let Some(msg) = p.message() else {
            return;
        };
        let out = match offer {
            Some(body) => {
                let tpl = Template {
                    body: Some(body),
                    ..p.template.clone()
                };
                self.forwarded(&msg, &tpl, &t, p.from, n)
            }
            None => self.forwarded(&msg, &p.template, &t, p.from, n),
        };
        let started = out.map(|(out, branch)| {
            let out = Bytes::from(out);
            // Keyed by the branch it was built with: the engine need not parse it.
            let tx = self.start_client(env, out.clone(), t.peer, Some(branch));
            BranchTx {
                tx,
                forwarded: out,
                peer: t.peer,
            }
        });
        let Some(p) = self.pending.get_mut(&stx) else {
            return;
        };
        if p.branches.len() <= b.0 {
            p.branches.resize_with(b.0 + 1, || None);
        }
        match started {
            Some(bt) => {
                self.clients.insert(bt.tx, (stx, b));
                p.branches[b.0] = Some(bt);
            }
            None => {
                let mut steps = Vec::new();
                p.fork.failed(b, 503, &mut steps);
                self.apply(env, stx, steps);
            }
        }
    }

    /// Asks the driver for a client transaction sending `bytes` to `to`: its events come
    /// back under the name returned.
    pub(super) fn start_client(
        &mut self,
        env: &mut Env<'_>,
        bytes: Bytes,
        to: Peer,
        branch: Option<String>,
    ) -> ClientRef {
        self.next_client += 1;
        let key = ClientRef(self.next_client);
        env.out.push(Action::Request {
            key,
            bytes,
            to,
            branch,
        });
        key
    }

    pub(super) fn cancel_branch(&mut self, env: &mut Env<'_>, stx: ServerTxId, b: BranchId) {
        let Some(Some(bt)) = self.pending.get(&stx).and_then(|p| p.branches.get(b.0)) else {
            return;
        };
        let Ok(inv) = Message::parse(&bt.forwarded) else {
            return;
        };
        let Some(cancel) = forward::cancel(&inv) else {
            return;
        };
        let peer = bt.peer;
        let ctx = self.start_client(env, Bytes::from(cancel), peer, None);
        self.cancels.insert(ctx);
    }
}
