//! The writer thread: appends records to the active segment and acknowledges them only after
//! `fdatasync`. Records that arrive while one sync runs are written together and share the next
//! one (group commit), so throughput grows with concurrency instead of being one sync per CDR.
//!
//! A dedicated OS thread, not a tokio task: every group blocks in `fdatasync` for milliseconds.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::JournalError;
use super::files;
use super::frame;
use super::state::Shared;

/// Most records in one group commit.
const MAX_GROUP_RECORDS: usize = 1024;
/// Most bytes in one group commit.
const MAX_GROUP_BYTES: usize = 4 * 1024 * 1024;

/// Where the writer answers one append.
pub(super) type Ack = oneshot::Sender<Result<(), JournalError>>;

/// A request to the writer.
#[derive(Debug)]
pub(super) enum Msg {
    /// Append one encoded record; the answer comes once it is durable (or failed).
    Append { payload: Vec<u8>, ack: Ack },
    /// Finish the requests queued before this one, then stop.
    Close,
}

/// The segment being appended to.
#[derive(Debug)]
pub(super) struct Active {
    pub seq: u64,
    pub file: File,
    /// Bytes known durable; what follows (after a failed write) is garbage.
    pub durable_len: u64,
    /// After a failed write or sync the file's tail is unknown: start a new segment before
    /// writing again.
    pub must_rotate: bool,
}

/// Runs until a [`Msg::Close`] or until every sender is gone.
pub(super) fn run(
    mut active: Active,
    mut rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    segment_bytes: u64,
    group_wait: std::time::Duration,
) {
    let mut group: Vec<(Vec<u8>, Ack)> = Vec::new();
    let mut buf = Vec::new();
    let mut rotate_failing = false;
    loop {
        let mut closing = false;
        match rx.blocking_recv() {
            Some(Msg::Append { payload, ack }) => group.push((payload, ack)),
            Some(Msg::Close) | None => break,
        }
        // Let more records join this group: one fsync for all of them instead of one each.
        if !group_wait.is_zero() {
            std::thread::sleep(group_wait);
        }
        let mut bytes = group.iter().map(|(p, _)| p.len()).sum::<usize>();
        while group.len() < MAX_GROUP_RECORDS && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(Msg::Append { payload, ack }) => {
                    bytes += payload.len();
                    group.push((payload, ack));
                }
                Ok(Msg::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }

        if active.must_rotate || active.durable_len >= segment_bytes {
            match rotate(&shared.dir, &mut active, &shared) {
                Ok(()) => rotate_failing = false,
                Err(e) if !rotate_failing => {
                    rotate_failing = true;
                    tracing::error!(error = %e, "CDR journal: cannot start a new segment");
                }
                Err(_) => {}
            }
        }
        let result = if active.must_rotate {
            // Never append after an unknown tail: fail until a new segment can be created.
            Err(JournalError::io(
                "write",
                &files::segment_path(&shared.dir, active.seq),
                std::io::Error::other(
                    "an earlier write failed and no new segment could be created",
                ),
            ))
        } else {
            buf.clear();
            for (payload, _) in &group {
                frame::encode(payload, &mut buf);
            }
            append(&shared.dir, &mut active, &buf)
        };
        match result {
            Ok(()) => {
                shared.appended(active.seq, active.durable_len, group.len() as u64);
                for (_, ack) in group.drain(..) {
                    // A caller that stopped waiting still has its record journaled.
                    let _ = ack.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = group.len(), "CDR journal: write failed; the records were refused");
                for (_, ack) in group.drain(..) {
                    let _ = ack.send(Err(e.duplicate()));
                }
            }
        }
        if closing {
            break;
        }
    }
}

/// Appends `buf` and syncs it; on failure, tries to cut the file back to its durable length
/// and marks the segment for rotation either way.
fn append(dir: &Path, active: &mut Active, buf: &[u8]) -> Result<(), JournalError> {
    let path = files::segment_path(dir, active.seq);
    let written = active
        .file
        .write_all(buf)
        .map_err(|e| JournalError::io("write", &path, e))
        .and_then(|()| {
            active
                .file
                .sync_data()
                .map_err(|e| JournalError::io("fsync", &path, e))
        });
    match written {
        Ok(()) => {
            active.durable_len += buf.len() as u64;
            Ok(())
        }
        Err(e) => {
            // Best effort: a clean tail spares the next recovery a "damaged segment" report.
            // The segment is retired regardless, since after a failed fsync the kernel may
            // have dropped pages it reported as written.
            let _ = active
                .file
                .set_len(active.durable_len)
                .and_then(|()| active.file.sync_all());
            active.must_rotate = true;
            Err(e)
        }
    }
}

/// Seals the active segment and starts the next one.
fn rotate(dir: &Path, active: &mut Active, shared: &Shared) -> Result<(), JournalError> {
    let seq = active.seq + 1;
    let file = files::create_segment(dir, seq)?;
    shared.rotated(active.seq, seq);
    *active = Active {
        seq,
        file,
        durable_len: frame::HEADER_LEN,
        must_rotate: false,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::journal::state::Segment;

    fn append_msg(payload: &[u8]) -> (Msg, oneshot::Receiver<Result<(), JournalError>>) {
        let (ack, rx) = oneshot::channel();
        let msg = Msg::Append {
            payload: payload.to_vec(),
            ack,
        };
        (msg, rx)
    }

    /// A failed write is refused to its callers, and the writer carries on in a new segment
    /// rather than appending after a tail it cannot trust.
    #[test]
    fn a_failed_write_is_refused_and_the_next_goes_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        drop(files::create_segment(dir.path(), 1).unwrap());
        // Read-only: every write fails, as on a full or failing disk.
        let file = File::open(files::segment_path(dir.path(), 1)).unwrap();
        let segments = BTreeMap::from([(
            1,
            Segment {
                durable_len: frame::HEADER_LEN,
                sealed: false,
            },
        )]);
        let shared = Arc::new(Shared::new(dir.path().to_owned(), segments, 0));
        let active = Active {
            seq: 1,
            file,
            durable_len: frame::HEADER_LEN,
            must_rotate: false,
        };
        let (tx, rx) = mpsc::channel(8);
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || run(active, rx, shared, 1 << 20, std::time::Duration::ZERO))
        };

        let (msg, failed) = append_msg(b"first");
        tx.blocking_send(msg).unwrap();
        assert!(matches!(
            failed.blocking_recv().unwrap(),
            Err(JournalError::Io { op: "write", .. })
        ));
        assert_eq!(*shared.pending.borrow(), 0);

        let (msg, ok) = append_msg(b"second");
        tx.blocking_send(msg).unwrap();
        ok.blocking_recv().unwrap().unwrap();
        assert_eq!(*shared.pending.borrow(), 1);
        {
            let segs = shared.segments();
            assert!(segs[&1].sealed);
            assert_eq!(segs[&1].durable_len, frame::HEADER_LEN);
            assert!(!segs[&2].sealed);
        }
        let bytes = std::fs::read(files::segment_path(dir.path(), 2)).unwrap();
        assert_eq!(frame::scan(&bytes).records.len(), 1);

        tx.blocking_send(Msg::Close).unwrap();
        writer.join().unwrap();
    }
}
