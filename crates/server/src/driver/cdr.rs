//! How CDRs leave the shards: each shard pushes into one bounded queue without waiting, and
//! one writer task journals them (durable on disk, then delivered to the database), with a
//! bounded number waiting for their fsync at once. No task per CDR, and no shard ever waits
//! on the disk: a CDR the queue cannot take now stays with its shard until the next turn,
//! and while any does, the shard refuses new calls (its overload signal), so the backlog is
//! bounded by the calls already admitted.

use std::collections::VecDeque;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};
use trunkline_store::{CdrJournal, NewCdr};

/// CDRs queued for the writer, from every shard together.
const QUEUE: usize = 16_384;

/// CDRs the writer has handed to the journal and waits on (they share its group fsyncs).
const IN_FLIGHT: usize = 4096;

/// A shard's end of the CDR queue.
#[derive(Debug)]
pub(crate) struct CdrSink {
    queue: Option<mpsc::Sender<NewCdr>>,
    /// CDRs the queue had no room for yet, oldest first.
    backlog: VecDeque<NewCdr>,
}

impl CdrSink {
    /// A sink into `queue`; without one (no journal configured), CDRs are not kept.
    pub(crate) fn new(queue: Option<mpsc::Sender<NewCdr>>) -> Self {
        CdrSink {
            queue,
            backlog: VecDeque::new(),
        }
    }

    /// Hands `cdr` on, or keeps it for [`CdrSink::flush`] when the queue is full.
    pub(crate) fn push(&mut self, cdr: NewCdr) {
        let Some(queue) = &self.queue else {
            debug!(call_id = cdr.call_id, "no CDR journal: CDR not kept");
            return;
        };
        if !self.backlog.is_empty() {
            self.backlog.push_back(cdr);
            return self.flush();
        }
        match queue.try_send(cdr) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(cdr)) => {
                warn!(
                    "CDR queue full (the journal's disk is slow): new calls are refused until it drains"
                );
                self.backlog.push_back(cdr);
            }
            Err(mpsc::error::TrySendError::Closed(cdr)) => {
                error!(call_id = cdr.call_id, "CDR writer gone: CDR not recorded");
            }
        }
    }

    /// Moves what waited into the queue, as far as it has room.
    pub(crate) fn flush(&mut self) {
        let Some(queue) = &self.queue else {
            return;
        };
        while let Some(cdr) = self.backlog.pop_front() {
            match queue.try_send(cdr) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(cdr)) => {
                    self.backlog.push_front(cdr);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(cdr)) => {
                    error!(call_id = cdr.call_id, "CDR writer gone: CDR not recorded");
                }
            }
        }
    }

    /// Whether CDRs wait in the shard: the journal is behind, new calls should wait too.
    pub(crate) fn backed_up(&self) -> bool {
        !self.backlog.is_empty()
    }
}

/// Starts the writer for `journal` on `tasks`; returns the queue the shards push into.
pub(crate) fn spawn_writer(journal: CdrJournal, tasks: &mut JoinSet<()>) -> mpsc::Sender<NewCdr> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tasks.spawn(write(journal, rx));
    tx
}

async fn write(journal: CdrJournal, mut queue: mpsc::Receiver<NewCdr>) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            cdr = queue.recv(), if in_flight.len() < IN_FLIGHT => match cdr {
                Some(cdr) => in_flight.push(record(journal.clone(), cdr)),
                None => break,
            },
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
    // The shards are gone: what was handed over is still written.
    while in_flight.next().await.is_some() {}
}

async fn record(journal: CdrJournal, cdr: NewCdr) {
    let call_id = cdr.call_id.clone();
    if let Err(e) = journal.record(cdr).await {
        error!(call_id, error = %e, "CDR not recorded");
    }
}
