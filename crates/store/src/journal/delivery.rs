//! The delivery task: reads durable records in journal order, stores them in batches with
//! [`Store::insert_cdrs`], and only after the commit moves the checkpoint past them. A fully
//! delivered segment is deleted.
//!
//! When the database (or the journal's own files) fail, nothing moves: the batch is retried
//! with capped exponential backoff, and the outage is logged once when it starts and once when
//! it ends. A batch may be stored and then retried (a crash or a lost commit reply between the
//! two); the uuids make the repeat a no-op.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::error::ErrorKind;
use tokio::sync::watch;

use super::files::{self, Checkpoint};
use super::frame::{self, HEADER_LEN, Next};
use super::state::Shared;
use super::{JournalError, reject, wire};
use crate::{NewCdr, Store, StoreError};

/// Bytes read per batch at most; larger than the largest frame, so a batch always progresses.
const READ_CHUNK: u64 = 1024 * 1024;
/// First retry delay after a failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Capped exponential backoff: 100 ms, 200 ms, … 5 s, 5 s, …
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF_MIN }
    }

    fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(BACKOFF_MAX);
        d
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Why a delivery step did not complete.
#[derive(Debug)]
enum Problem {
    /// The database failed or refused the batch (not for a reason specific to a record).
    Db(StoreError),
    /// The database did not answer in time.
    Timeout(Duration),
    /// Reading the journal or writing its checkpoint failed.
    Journal(JournalError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Db(e) => write!(f, "{e}"),
            Self::Timeout(t) => write!(f, "database did not answer within {t:?}"),
            Self::Journal(e) => write!(f, "{e}"),
        }
    }
}

/// What to do next.
enum Step {
    /// Deliver records of the cursor's segment up to `end`.
    Read { end: u64 },
    /// The cursor's segment is sealed and delivered: move on to `next`.
    Finish { next: u64 },
    /// Nothing durable to deliver yet.
    Wait,
}

/// Whether the task goes on.
enum Flow {
    Continue,
    Stop,
}

/// The delivery task's state.
#[derive(Debug)]
pub(super) struct Delivery {
    pub shared: Arc<Shared>,
    pub store: Store,
    pub cursor: Checkpoint,
    pub batch_records: usize,
    pub db_timeout: Duration,
    pub linger: Duration,
}

/// Runs `f` unless the journal is closed (or dropped) first.
async fn unless_closed<T>(
    closed: &mut watch::Receiver<bool>,
    f: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        v = f => Some(v),
        _ = closed.wait_for(|c| *c) => None,
    }
}

/// Runs blocking journal I/O off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(JournalError::io(
            "run",
            std::path::Path::new("blocking task"),
            std::io::Error::other(e.to_string()),
        ))
    })
}

/// Constraint violations are about the record, not the database's health: retrying cannot help.
fn permanent(e: &StoreError) -> bool {
    match e {
        StoreError::Invalid { .. } => true,
        StoreError::Db(sqlx::Error::Database(d)) => matches!(
            d.kind(),
            ErrorKind::CheckViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::ForeignKeyViolation
        ),
        _ => false,
    }
}

impl Delivery {
    /// Delivers until the journal is closed.
    pub(super) async fn run(mut self, mut closed: watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        let mut outage: Option<(Instant, u64)> = None;
        loop {
            let result = match self.step() {
                Step::Wait => {
                    let shared = Arc::clone(&self.shared);
                    if unless_closed(&mut closed, shared.wake.notified())
                        .await
                        .is_none()
                    {
                        return;
                    }
                    // Let the batch fill; a close cuts the wait short, not the delivery.
                    let _ = unless_closed(&mut closed, tokio::time::sleep(self.linger)).await;
                    continue;
                }
                Step::Finish { next } => self.finish_segment(next).await.map(|()| Flow::Continue),
                Step::Read { end } => self.deliver_batch(end, &mut closed).await,
            };
            match result {
                Ok(Flow::Stop) => return,
                Ok(Flow::Continue) => {
                    if let Some((since, failures)) = outage.take() {
                        tracing::info!(
                            after_ms = since.elapsed().as_millis() as u64,
                            failures,
                            pending = *self.shared.pending.borrow(),
                            "CDR journal: delivery recovered"
                        );
                    }
                    backoff.reset();
                }
                Err(problem) => {
                    match &mut outage {
                        Some((_, failures)) => *failures += 1,
                        None => {
                            let pending = *self.shared.pending.borrow();
                            if matches!(problem, Problem::Journal(_)) {
                                tracing::error!(error = %problem, pending, "CDR journal: delivery stopped by a journal error; retrying");
                            } else {
                                tracing::warn!(error = %problem, pending, "CDR journal: delivery to the database failed; records wait in the journal and are retried");
                            }
                            outage = Some((Instant::now(), 1));
                        }
                    }
                    let delay = backoff.delay();
                    if unless_closed(&mut closed, tokio::time::sleep(delay))
                        .await
                        .is_none()
                    {
                        return;
                    }
                }
            }
        }
    }

    fn step(&mut self) -> Step {
        let segs = self.shared.segments();
        let Some(seg) = segs.get(&self.cursor.seq) else {
            // Not reachable: the cursor's segment is removed only when the cursor leaves it.
            // Recover anyway by moving to the next segment that exists.
            return match segs.range(self.cursor.seq..).next() {
                Some((&next, _)) => Step::Finish { next },
                None => Step::Wait,
            };
        };
        if self.cursor.offset < seg.durable_len {
            Step::Read {
                end: seg.durable_len,
            }
        } else if seg.sealed {
            match segs.range(self.cursor.seq + 1..).next() {
                Some((&next, _)) => Step::Finish { next },
                None => Step::Wait,
            }
        } else {
            Step::Wait
        }
    }

    async fn deliver_batch(
        &mut self,
        end: u64,
        closed: &mut watch::Receiver<bool>,
    ) -> Result<Flow, Problem> {
        let path = files::segment_path(&self.shared.dir, self.cursor.seq);
        let (start, max) = (self.cursor.offset, self.batch_records);
        let (payloads, new_offset) = blocking(move || read_batch(&path, start, end, max))
            .await
            .map_err(Problem::Journal)?;
        let mut cdrs = Vec::with_capacity(payloads.len());
        let mut origin = Vec::with_capacity(payloads.len());
        let mut rejected = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            match wire::decode(p) {
                Ok(c) => {
                    cdrs.push(c);
                    origin.push(i);
                }
                Err(reason) => rejected.push((p.clone(), reason)),
            }
        }
        let Some(refused) = unless_closed(closed, self.insert(&cdrs)).await else {
            return Ok(Flow::Stop);
        };
        for (i, reason) in refused? {
            if let Some(p) = origin.get(i).and_then(|&o| payloads.get(o)) {
                rejected.push((p.clone(), reason));
            }
        }
        if !rejected.is_empty() {
            for (_, reason) in &rejected {
                tracing::error!(%reason, file = reject::REJECTED, "CDR journal: record can never be stored; kept in the rejected file");
            }
            let dir = self.shared.dir.clone();
            blocking(move || reject::append(&dir, &rejected))
                .await
                .map_err(Problem::Journal)?;
        }
        let cp = Checkpoint {
            seq: self.cursor.seq,
            offset: new_offset,
        };
        let dir = self.shared.dir.clone();
        blocking(move || files::write_checkpoint(&dir, cp))
            .await
            .map_err(Problem::Journal)?;
        self.cursor = cp;
        self.shared.delivered(payloads.len() as u64);
        Ok(Flow::Continue)
    }

    /// Stores `cdrs`; returns the ones (index, reason) the database refuses for good.
    async fn insert(&self, cdrs: &[NewCdr]) -> Result<Vec<(usize, String)>, Problem> {
        match self.insert_once(cdrs).await {
            Ok(()) => return Ok(Vec::new()),
            Err(Problem::Db(e)) if permanent(&e) => {
                tracing::warn!(error = %e, "CDR journal: the database refused a batch; storing its records one by one");
            }
            Err(p) => return Err(p),
        }
        let mut refused = Vec::new();
        for (i, c) in cdrs.iter().enumerate() {
            match self.insert_once(std::slice::from_ref(c)).await {
                Ok(()) => {}
                Err(Problem::Db(e)) if permanent(&e) => refused.push((i, e.to_string())),
                Err(p) => return Err(p),
            }
        }
        Ok(refused)
    }

    async fn insert_once(&self, cdrs: &[NewCdr]) -> Result<(), Problem> {
        match tokio::time::timeout(self.db_timeout, self.store.insert_cdrs(cdrs)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Problem::Db(e)),
            Err(_) => Err(Problem::Timeout(self.db_timeout)),
        }
    }

    /// The cursor's segment is delivered and sealed: checkpoint past it, then delete it.
    async fn finish_segment(&mut self, next: u64) -> Result<(), Problem> {
        let done = self.cursor.seq;
        let cp = Checkpoint {
            seq: next,
            offset: HEADER_LEN,
        };
        let dir = self.shared.dir.clone();
        blocking(move || {
            files::write_checkpoint(&dir, cp)?;
            let path = files::segment_path(&dir, done);
            std::fs::remove_file(&path).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(JournalError::io("remove", &path, e)),
            })
        })
        .await
        .map_err(Problem::Journal)?;
        self.shared.segments().remove(&done);
        self.cursor = cp;
        Ok(())
    }
}

/// Reads up to `max` records of `path` from `start`, never past `end`; returns them and the
/// offset after the last one.
fn read_batch(
    path: &std::path::Path,
    start: u64,
    end: u64,
    max: usize,
) -> Result<(Vec<Vec<u8>>, u64), JournalError> {
    let io = |e| JournalError::io("read", path, e);
    let mut f = File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let want = end.saturating_sub(start).min(READ_CHUNK);
    let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
    f.read_exact(&mut buf).map_err(io)?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while out.len() < max {
        match frame::next(buf.get(pos..).unwrap_or_default()) {
            Next::Record { payload, frame_len } => {
                out.push(payload.to_vec());
                pos += frame_len;
            }
            Next::End => break,
            // The chunk ended inside a record; the next batch starts with it.
            Next::Incomplete if pos > 0 => break,
            Next::Incomplete | Next::Bad => {
                return Err(JournalError::io(
                    "read",
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "damaged record at offset {} of a durable region; reopening the journal sets the segment aside",
                            start + pos as u64
                        ),
                    ),
                ));
            }
        }
    }
    Ok((out, start + pos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let ms: Vec<u128> = (0..9).map(|_| b.delay().as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.delay(), BACKOFF_MIN);
    }
}
