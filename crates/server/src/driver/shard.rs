//! One SIP shard's task: the messages whose Call-ID hashes to it arrive here, in one queue,
//! and go with the time to its [`Dispatch`] (the engine and the roles, sans-IO); what that
//! gives back leaves from here, over a UDP socket or a flow, and its roles' media requests go
//! to media control ([`crate::media_control`]), whose answers come back on a bounded queue.
//! State shared with the other shards (registrar, guard, per-user call counts) is in
//! [`crate::roles::shared::Shared`]; CDRs leave through a bounded queue; nothing here waits
//! on storage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::dispatch::{Clock, Dispatch, Query, Sent, Transmit};
use crate::media_control::Request;
use crate::roles::media_control::{MediaEvent, MediaRequest};
use crate::transport::dial::DialEvent;
use crate::transport::flow::{FlowId, Flows};
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

/// The shard's queues besides the inbound one.
#[derive(Debug)]
pub(crate) struct Mailboxes {
    /// Which shard this is (media control answers it by this index).
    pub(crate) index: usize,
    /// Questions about this shard's calls (`trunkline calls`, the API's live calls).
    pub(crate) queries: mpsc::Receiver<Query>,
    /// Media control's answers and stopped calls.
    pub(crate) media_events: mpsc::Receiver<MediaEvent>,
    /// Requests to media control (none with `media.mode = off`).
    pub(crate) media: Option<mpsc::Sender<Request>>,
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
            Arrival::Flow(id) => self.on_flow(id, t),
            // A connection the role may have opened: the live one, or a new one.
            Arrival::Dial => match self.flows.find_or_dial(t.to.transport, t.to.addr) {
                Some(id) => self.on_flow(id, t),
                None => Sent::Refused,
            },
        }
    }

    fn on_flow(&self, id: FlowId, t: &Transmit) -> Sent {
        match self.flows.send(id, t.bytes.to_vec()) {
            Ok(false) => Sent::Out,
            Ok(true) => Sent::Waiting(id),
            Err(e) => {
                debug!(error = %e, to = %t.to.addr, "flow send failed");
                Sent::Refused
            }
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
            Some(event) = mail.media_events.recv() => core.media_event(event, Clock::now()),
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
        loop {
            while let Some(t) = core.next_transmit(clock) {
                let how = net.send(&t).await;
                core.sent(&t, how, clock);
            }
            core.persist();
            // A request media control cannot take is answered here, which may send more.
            let media = core.take_media();
            if media.is_empty() {
                break;
            }
            for req in media {
                hand_over(&mut core, &mail, req, clock);
            }
        }
    }
}

/// Hands a media request to media control without waiting: when its queue is full (or there
/// is no media control) a request that wants an answer gets the one for "not anchored" at
/// once, logged, so the call goes on with its SDP unchanged.
fn hand_over(core: &mut Dispatch, mail: &Mailboxes, req: MediaRequest, clock: Clock) {
    let req = match &mail.media {
        Some(q) => match q.try_send((mail.index, req)) {
            Ok(()) => return,
            Err(e) => e.into_inner().1,
        },
        None => req,
    };
    warn!(
        call_id = req.call.call_id,
        "media control is behind: SDP not anchored"
    );
    if let Some(token) = req.token {
        let answer = req.command.unanswered();
        core.media_event(MediaEvent::Answer { token, answer }, clock);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
