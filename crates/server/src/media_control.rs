//! Media control: carries out the roles' media requests ([`crate::roles::media_control`]) on
//! the in-process relay ([`local`]) or at remote media nodes ([`nodes`]), in one task of its
//! own, and tells each shard when a relayed call's media stopped. The shards hand requests
//! over without waiting and hear the answers as events on a bounded queue; ports are bound
//! and ng round trips made here, never on a SIP shard.

pub(crate) mod config;
pub(crate) mod local;
pub(crate) mod nodes;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;
use trunkline_store::LiveMedia;

use crate::roles::media_control::{MediaEvent, MediaRequest};
use crate::roles::proxy::calls::CallKey;
use local::Local;
use nodes::Nodes;

/// Where calls' media is relayed.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// The in-process relay.
    Local(Local),
    /// Remote media nodes.
    Nodes(Arc<Nodes>),
}

impl Backend {
    /// Live figures of a relayed call: [caller, callee] (the live view of calls).
    pub(crate) fn live(&self, key: &CallKey) -> Option<[LiveMedia; 2]> {
        match self {
            Backend::Local(l) => l.live(key),
            Backend::Nodes(n) => n.live(key),
        }
    }
}

/// A request and the shard it came from.
pub(crate) type Request = (usize, MediaRequest);

/// How often stopped media is looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Runs media control until every shard has hung up: `requests` from the shards, answers
/// and stopped calls to `shards` (by index; a call's events go to the shard of its Call-ID).
pub(crate) async fn run(
    backend: Backend,
    mut requests: mpsc::Receiver<Request>,
    shards: Vec<mpsc::Sender<MediaEvent>>,
    timeout: Duration,
) {
    let shards = Arc::new(shards);
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_poll = tokio::time::Instant::now();
    loop {
        tokio::select! {
            req = requests.recv() => {
                let Some((shard, req)) = req else {
                    return;
                };
                let Some(events) = shards.get(shard).cloned() else {
                    continue;
                };
                match &backend {
                    Backend::Local(l) => {
                        let answer = l.execute(&req);
                        if let Some(token) = req.token {
                            // This task waits when the shard is behind; the shard never does.
                            let _ = events.send(MediaEvent::Answer { token, answer }).await;
                        }
                    }
                    Backend::Nodes(n) => {
                        let n = Arc::clone(n);
                        tokio::spawn(async move {
                            let token = req.token;
                            let answer = n.execute(req).await;
                            if let Some(token) = token {
                                let _ = events.send(MediaEvent::Answer { token, answer }).await;
                            }
                        });
                    }
                }
            }
            _ = sweep.tick() => match &backend {
                Backend::Local(l) => {
                    for call in l.idle(timeout) {
                        stopped(&shards, call).await;
                    }
                }
                Backend::Nodes(n) => {
                    let now = tokio::time::Instant::now();
                    if now < next_poll {
                        continue;
                    }
                    next_poll = now + n.poll_every;
                    for call in n.due() {
                        let (n, shards) = (Arc::clone(n), Arc::clone(&shards));
                        tokio::spawn(async move {
                            if n.poll(&call).await {
                                stopped(&shards, call).await;
                            }
                        });
                    }
                }
            },
        }
    }
}

/// Tells the shard of `call` that its media stopped.
async fn stopped(shards: &[mpsc::Sender<MediaEvent>], call: CallKey) {
    let shard = crate::transport::ingress::shard_of(call.call_id.as_bytes(), shards.len());
    if let Some(s) = shards.get(shard) {
        debug!(call_id = call.call_id, "media stopped");
        let _ = s.send(MediaEvent::Stopped(call)).await;
    }
}
