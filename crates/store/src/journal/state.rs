//! What the writer thread and the delivery task share: which segments exist and how much of
//! each is durable, the pending count, and the wake-up for new records.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, watch};

/// One live segment as delivery may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    /// Bytes known durable and intact; delivery never reads past this.
    pub durable_len: u64,
    /// The writer has moved on to a newer segment: nothing will be appended any more.
    pub sealed: bool,
}

/// Shared between the [`super::CdrJournal`] handle, the writer thread and the delivery task.
#[derive(Debug)]
pub(super) struct Shared {
    /// The journal directory.
    pub dir: PathBuf,
    segments: Mutex<BTreeMap<u64, Segment>>,
    /// Records durable in the journal but not yet committed to the database.
    pub pending: watch::Sender<u64>,
    /// Signalled by the writer after each group commit and each rotation.
    pub wake: Notify,
}

impl Shared {
    pub(super) fn new(dir: PathBuf, segments: BTreeMap<u64, Segment>, pending: u64) -> Self {
        Self {
            dir,
            segments: Mutex::new(segments),
            pending: watch::Sender::new(pending),
            wake: Notify::new(),
        }
    }

    /// The segment table. A panic while it was held cannot leave it half-updated (every update
    /// is a single assignment or insert), so a poisoned lock is still usable.
    pub(super) fn segments(&self) -> MutexGuard<'_, BTreeMap<u64, Segment>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the writer after `records` more records became durable in segment `seq`.
    pub(super) fn appended(&self, seq: u64, durable_len: u64, records: u64) {
        if let Some(s) = self.segments().get_mut(&seq) {
            s.durable_len = durable_len;
        }
        self.pending.send_modify(|p| *p += records);
        self.wake.notify_one();
    }

    /// Called by the writer when it starts segment `new` after `old`.
    pub(super) fn rotated(&self, old: u64, new: u64) {
        {
            let mut segs = self.segments();
            segs.insert(
                new,
                Segment {
                    durable_len: super::frame::HEADER_LEN,
                    sealed: false,
                },
            );
            if let Some(s) = segs.get_mut(&old) {
                s.sealed = true;
            }
        }
        self.wake.notify_one();
    }

    /// Called by delivery after `records` were committed to the database (or rejected).
    pub(super) fn delivered(&self, records: u64) {
        self.pending.send_modify(|p| *p = p.saturating_sub(records));
    }
}
