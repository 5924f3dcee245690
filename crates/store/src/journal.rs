//! The durable CDR journal: a CDR is acknowledged only once it is on disk (fsync), then
//! delivered to the database in the background; a database outage or a crash loses nothing.
//!
//! ```text
//! record() ──► writer thread ──► segment files ──► delivery task ──► Store::insert_cdrs
//!   (await)    group commit,      cdr-….log         batches, retry     (idempotent by uuid)
//!              fdatasync, ack                       with backoff, then
//!                                                   checkpoint, delete
//! ```
//!
//! The on-disk format is in `frame.rs`, the directory layout in `files.rs`, what happens after a
//! crash in `recover.rs`.

mod delivery;
mod error;
mod files;
pub(crate) mod frame;
mod recover;
mod reject;
mod state;
mod wire;
mod writer;

pub use error::JournalError;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::{NewCdr, Store};
use state::Shared;
use writer::Msg;

/// Records that may wait for the writer; `record` waits for room beyond this (back-pressure).
const QUEUE: usize = 8192;

/// Tuning for [`CdrJournal::open_with`]; the defaults suit production.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// A segment is closed and a new one started once it reaches this size (default 64 MiB).
    /// Delivered segments are deleted whole, so this bounds the disk kept by delivered records.
    pub segment_bytes: u64,
    /// Most CDRs per database transaction (default 500).
    pub batch_records: usize,
    /// How long one database transaction may take before it counts as failed (default 30 s).
    /// A timed-out batch may still have been committed; its retry is then skipped by uuid.
    pub db_timeout: Duration,
    /// How long the writer waits, once a record arrives, for more to share its fsync (default
    /// 10 ms). A record is acknowledged once durable, so this is added to the time `record`
    /// takes; it turns one fsync per CDR at moderate load into one per group.
    pub group_wait: Duration,
    /// How long delivery waits, once records arrive after a quiet spell, for more to join the
    /// batch (default 250 ms). Records are already durable in the journal; waiting turns a
    /// database transaction and a checkpoint write per few records into one per batch.
    pub linger: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            batch_records: 500,
            db_timeout: Duration::from_secs(30),
            group_wait: Duration::from_millis(10),
            linger: Duration::from_millis(250),
        }
    }
}

/// The durable CDR journal; clones share it.
///
/// Guarantees: once [`CdrJournal::record`] returns `Ok`, the CDR survives a process crash,
/// a power cut (the file system honouring fsync) and any database outage, and it ends up in the
/// database exactly once (at-least-once delivery made exactly-once by the uuid). When `record`
/// returns an error, the CDR is not safe and the caller must handle it.
///
/// One directory belongs to one journal at a time; two processes must not share it.
///
/// ```no_run
/// # async fn demo(store: trunkline_store::Store, cdr: trunkline_store::NewCdr)
/// # -> Result<(), trunkline_store::JournalError> {
/// use std::time::Duration;
/// use trunkline_store::CdrJournal;
/// let journal = CdrJournal::open("/var/lib/trunkline/cdr-journal".as_ref(), store).await?;
/// journal.record(cdr).await?; // durable from here on
/// journal.flush_delivered(Duration::from_secs(10)).await?; // e.g. before a planned shutdown
/// journal.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CdrJournal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    /// `true` (or dropped) stops the delivery task.
    closed: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<Option<Tasks>>,
}

#[derive(Debug)]
struct Tasks {
    writer: std::thread::JoinHandle<()>,
    delivery: tokio::task::JoinHandle<()>,
}

impl CdrJournal {
    /// Opens (or creates) the journal in `dir`, replays what the database does not have yet,
    /// and starts the writer thread and the delivery task. Must run inside a tokio runtime.
    pub async fn open(dir: &Path, store: Store) -> Result<Self, JournalError> {
        Self::open_with(dir, store, JournalOptions::default()).await
    }

    /// [`CdrJournal::open`] with tuning.
    pub async fn open_with(
        dir: &Path,
        store: Store,
        options: JournalOptions,
    ) -> Result<Self, JournalError> {
        let owned = dir.to_path_buf();
        let rec = tokio::task::spawn_blocking(move || recover::recover(&owned))
            .await
            .map_err(|e| {
                JournalError::io("recover", dir, std::io::Error::other(e.to_string()))
            })??;
        let shared = Arc::new(Shared::new(dir.to_path_buf(), rec.segments, rec.pending));
        let (tx, rx) = mpsc::channel(QUEUE);
        let active = writer::Active {
            seq: rec.active_seq,
            file: rec.active,
            durable_len: frame::HEADER_LEN,
            must_rotate: false,
        };
        let segment_bytes = options.segment_bytes.max(frame::HEADER_LEN + 1);
        let group_wait = options.group_wait;
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("cdr-journal".to_owned())
                .spawn(move || {
                    // Its fsyncs and copies must not take the core from the SIP thread.
                    crate::kv_log::background_priority();
                    writer::run(active, rx, shared, segment_bytes, group_wait)
                })
                .map_err(|e| JournalError::io("start writer thread", dir, e))?
        };
        let (closed, closed_rx) = watch::channel(false);
        let delivery = delivery::Delivery {
            shared: Arc::clone(&shared),
            store,
            cursor: rec.cursor,
            batch_records: options.batch_records.max(1),
            db_timeout: options.db_timeout,
            linger: options.linger,
        };
        let delivery = tokio::spawn(delivery.run(closed_rx));
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                shared,
                closed,
                tasks: tokio::sync::Mutex::new(Some(Tasks { writer, delivery })),
            }),
        })
    }

    /// Journals `cdr` and returns once it is durable on disk. Concurrent calls share one fsync.
    ///
    /// An error means the CDR is **not** safe: it failed validation, or the journal could not
    /// write it (disk full, I/O error), or the journal is closed.
    pub async fn record(&self, cdr: NewCdr) -> Result<(), JournalError> {
        cdr.validate().map_err(JournalError::Invalid)?;
        let payload = wire::encode(&cdr).map_err(|e| {
            JournalError::Invalid(crate::StoreError::Corrupt(format!("encoding: {e}")))
        })?;
        if payload.len() > frame::MAX_RECORD {
            return Err(JournalError::TooLarge {
                bytes: payload.len(),
                limit: frame::MAX_RECORD,
            });
        }
        let (ack, done) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Append { payload, ack })
            .await
            .map_err(|_| JournalError::Closed)?;
        done.await.map_err(|_| JournalError::Closed)?
    }

    /// Records durable in the journal but not yet in the database.
    pub fn pending(&self) -> u64 {
        *self.inner.shared.pending.borrow()
    }

    /// Waits until every durable record is in the database ([`CdrJournal::pending`] is 0), for
    /// at most `timeout`. For tests and graceful shutdown.
    pub async fn flush_delivered(&self, timeout: Duration) -> Result<(), JournalError> {
        let mut rx = self.inner.shared.pending.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|p| *p == 0)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(JournalError::Closed),
            Err(_) => Err(JournalError::Timeout {
                pending: self.pending(),
            }),
        }
    }

    /// Stops the journal: records queued before the call are still written and acknowledged,
    /// later ones fail with [`JournalError::Closed`]; delivery stops (undelivered records stay
    /// on disk for the next open). Returns once the writer thread and the delivery task are
    /// gone, so the directory can be reopened. Closing twice is harmless.
    pub async fn close(&self) {
        let Some(tasks) = self.inner.tasks.lock().await.take() else {
            return;
        };
        // Fails only if the writer is already gone.
        let _ = self.inner.tx.send(Msg::Close).await;
        if let Ok(Err(_)) = tokio::task::spawn_blocking(move || tasks.writer.join()).await {
            tracing::error!("CDR journal: the writer thread panicked");
        }
        let _ = self.inner.closed.send(true);
        if let Err(e) = tasks.delivery.await {
            tracing::error!(error = %e, "CDR journal: the delivery task failed");
        }
    }
}
