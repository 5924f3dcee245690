//! One SIP shard's task: the messages whose Call-ID hashes to it arrive here, in one queue,
//! and go with the time to its [`Dispatch`] (the engine and the roles, sans-IO); what that
//! gives back leaves from here, over a UDP socket or a flow, and the ng requests of its
//! roles go to the media nodes from small tasks whose replies come back on a bounded queue.
//! State shared with the other shards (registrar, guard, per-user call counts) is in
//! [`crate::roles::shared::Shared`]; CDRs leave through a bounded queue; nothing here waits
//! on storage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, warn};
use trunkline_media::NgClient;

use super::dispatch::{Clock, Dispatch, NgRequest, Query, Sent, Transmit};
use crate::roles::actions::MediaReply;
use crate::transport::dial::DialEvent;
use crate::transport::flow::Flows;
use crate::transport::{Arrival, Inbound};

/// What the shard needs to reach the network.
#[derive(Debug)]
pub(crate) struct Network {
    pub(crate) udp: Vec<crate::transport::udp::UdpOut>,
    pub(crate) flows: Arc<Flows>,
    /// How outbound connections ended up (every shard hears of every dial; the one that
    /// sent on it acts).
    pub(crate) dialed: mpsc::Receiver<DialEvent>,
}

/// The shard's queues besides the inbound one, and its way to the media nodes.
#[derive(Debug)]
pub(crate) struct Mailboxes {
    /// Questions about this shard's calls (`trunkline calls`, the API's live calls).
    pub(crate) queries: mpsc::Receiver<Query>,
    /// Media nodes' answers to the proxy, and where the tasks that ask them send them.
    pub(crate) media: (mpsc::Sender<MediaReply>, mpsc::Receiver<MediaReply>),
    /// The ng client, when calls are anchored at media nodes.
    pub(crate) ng: Option<NgClient>,
}

/// Messages taken from the inbound queue per turn of the loop.
const BATCH: usize = 64;

/// How often the once-a-second work runs.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Network {
    /// Sends `bytes` to `to`.
    async fn send(&self, t: &Transmit) -> Sent {
        match t.to.arrival {
            Arrival::Udp(i) => match self.udp.get(i) {
                Some(out) if out.send(t.to.addr, &t.bytes).await => Sent::Out,
                _ => Sent::Refused,
            },
            Arrival::Flow(id) => match self.flows.send(id, t.bytes.to_vec()) {
                Ok(false) => Sent::Out,
                Ok(true) => Sent::Waiting,
                Err(e) => {
                    debug!(error = %e, to = %t.to.addr, "flow send failed");
                    Sent::Refused
                }
            },
        }
    }
}

/// Runs one shard until every transport has hung up.
pub(crate) async fn run(
    mut inbound: mpsc::Receiver<Inbound>,
    mut core: Dispatch,
    mut net: Network,
    mut mail: Mailboxes,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let deadline = [core.deadline(Clock::now()), Some(next_sweep)]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            n = inbound.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                let clock = Clock::now();
                for msg in batch.drain(..) {
                    core.inbound(msg, clock);
                }
            }
            Some(event) = net.dialed.recv() => core.dialed(event, Clock::now()),
            Some(reply) = mail.media.1.recv() => core.media_reply(reply, Clock::now()),
            Some(q) = mail.queries.recv() => core.query(q, Clock::now()),
            () = sleep_until(deadline) => {
                let clock = Clock::now();
                let second = clock.at >= next_sweep;
                core.timeout(clock, second);
                if second {
                    next_sweep = clock.at + SWEEP_EVERY;
                }
            }
        }
        let clock = Clock::now();
        while let Some(t) = core.next_transmit(clock) {
            let how = net.send(&t).await;
            core.sent(&t, how, clock);
        }
        core.persist();
        for req in core.take_ng() {
            ask_node(&mail, req);
        }
    }
}

/// Sends an ng request from a task of its own: the reply (or the failure) comes back on the
/// shard's media queue when the request has a token. The task waits when the shard is
/// behind; the shard never does.
fn ask_node(mail: &Mailboxes, req: NgRequest) {
    let Some(client) = mail.ng.clone() else {
        return;
    };
    let replies = mail.media.0.clone();
    tokio::spawn(async move {
        let pairs: Vec<(&str, &str)> = (req.pairs.iter()).map(|(k, v)| (*k, v.as_str())).collect();
        let result = client.request(req.node, &pairs).await;
        match req.token {
            Some(token) => {
                let _ = replies.send(MediaReply { token, result }).await;
            }
            None => {
                if let Err(e) = result {
                    warn!(error = %e, "media node: request failed");
                }
            }
        }
    });
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
