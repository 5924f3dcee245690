//! Opening a journal directory after a clean shutdown or a crash: drop what was delivered, cut
//! torn tails, set damaged segments aside (copying their intact records to a new segment), count
//! what is pending, and start a fresh segment for the writer.
//!
//! Blocking file I/O: runs on a blocking thread.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use super::JournalError;
use super::files::{self, Checkpoint};
use super::frame::{self, Found, HEADER_LEN};
use super::state::Segment;

/// The journal as found on disk, ready for the writer and the delivery task.
#[derive(Debug)]
pub(super) struct Recovered {
    /// Live segments; the last is the writer's fresh, empty one.
    pub segments: BTreeMap<u64, Segment>,
    /// The writer's segment.
    pub active: File,
    /// Its sequence number.
    pub active_seq: u64,
    /// Where delivery starts.
    pub cursor: Checkpoint,
    /// Records after the cursor.
    pub pending: u64,
}

/// Recovers `dir`, creating it if needed.
pub(super) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    fs::create_dir_all(dir).map_err(|e| JournalError::io("create directory", dir, e))?;
    files::remove_stale_tmp(dir)?;
    let checkpoint = files::read_checkpoint(dir)?;
    let (live, mut next_seq) = list(dir)?;

    let mut segments = BTreeMap::new();
    let mut starts = BTreeMap::new();
    let mut pending = 0u64;
    let mut salvaged: Vec<Vec<u8>> = Vec::new();
    let mut damaged = Vec::new();
    for seq in live {
        let start = match checkpoint {
            Some(cp) if seq < cp.seq => {
                // Fully delivered; a crash came between the checkpoint and the deletion.
                let path = files::segment_path(dir, seq);
                fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
                continue;
            }
            Some(cp) if seq == cp.seq => cp.offset,
            _ => HEADER_LEN,
        };
        match check_segment(dir, seq, start)? {
            Checked::Live {
                len,
                start,
                undelivered,
            } => {
                pending += undelivered;
                starts.insert(seq, start);
                segments.insert(
                    seq,
                    Segment {
                        durable_len: len,
                        sealed: true,
                    },
                );
            }
            Checked::Empty => {}
            Checked::Damaged { undelivered } => {
                salvaged.extend(undelivered);
                damaged.push(seq);
            }
        }
    }
    if !salvaged.is_empty() {
        let seq = next_seq;
        next_seq += 1;
        let len = write_salvage(dir, seq, &salvaged)?;
        pending += salvaged.len() as u64;
        tracing::warn!(
            records = salvaged.len(),
            segment = %files::segment_path(dir, seq).display(),
            "CDR journal: intact records of damaged segments copied for delivery"
        );
        segments.insert(
            seq,
            Segment {
                durable_len: len,
                sealed: true,
            },
        );
    }
    // Only once their records are safe in the new segment: a crash before this point finds
    // the damaged segments again and copies them again (the uuids absorb the repeat).
    for seq in damaged {
        let aside = files::set_aside(dir, seq)?;
        tracing::error!(
            segment = %aside.display(),
            "CDR journal: damaged segment set aside; its intact records are delivered, the file is kept for inspection"
        );
    }
    files::sync_dir(dir)?;

    let active_seq = next_seq;
    let active = files::create_segment(dir, active_seq)?;
    segments.insert(
        active_seq,
        Segment {
            durable_len: HEADER_LEN,
            sealed: false,
        },
    );
    // Older segments were removed above, so delivery starts in the first one left.
    let cursor = segments.keys().next().map_or(
        Checkpoint {
            seq: active_seq,
            offset: HEADER_LEN,
        },
        |&seq| Checkpoint {
            seq,
            offset: starts.get(&seq).copied().unwrap_or(HEADER_LEN),
        },
    );
    if pending > 0 {
        tracing::info!(
            pending,
            dir = %dir.display(),
            "CDR journal: replaying records not yet in the database"
        );
    }
    Ok(Recovered {
        segments,
        active,
        active_seq,
        cursor,
        pending,
    })
}

/// Live segment numbers in order, and the first number never used by any journal file.
fn list(dir: &Path) -> Result<(Vec<u64>, u64), JournalError> {
    let mut live = Vec::new();
    let mut next_seq = 1u64;
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        let Some((seq, is_live)) = entry.file_name().to_str().and_then(files::parse_name) else {
            continue;
        };
        next_seq = next_seq.max(seq.saturating_add(1));
        if is_live {
            live.push(seq);
        }
    }
    live.sort_unstable();
    Ok((live, next_seq))
}

enum Checked {
    /// Intact (after cutting a torn tail): `len` bytes, delivery resumes at `start`, where
    /// `undelivered` records follow.
    Live {
        len: u64,
        start: u64,
        undelivered: u64,
    },
    /// Held no records and was removed.
    Empty,
    /// Damaged, to be renamed `*.corrupt`; these intact records after the start still need
    /// delivering.
    Damaged { undelivered: Vec<Vec<u8>> },
}

fn check_segment(dir: &Path, seq: u64, start: u64) -> Result<Checked, JournalError> {
    let path = files::segment_path(dir, seq);
    let bytes = fs::read(&path).map_err(|e| JournalError::io("read", &path, e))?;
    let file_len = bytes.len() as u64;
    let scan = frame::scan(&bytes);
    let after_start = |f: &&Found| f.offset >= start;

    if scan.bad_magic || !scan.damaged.is_empty() {
        let undelivered: Vec<Vec<u8>> = scan
            .records
            .iter()
            .filter(after_start)
            .filter_map(|f| payload(&bytes, f).map(<[u8]>::to_vec))
            .collect();
        tracing::error!(
            segment = %path.display(),
            damaged = ?scan.damaged,
            bad_magic = scan.bad_magic,
            intact_records = scan.records.len(),
            "CDR journal: segment damaged in the middle (a failing disk?)"
        );
        return Ok(Checked::Damaged { undelivered });
    }
    if scan.valid_end < HEADER_LEN {
        // Its creation was cut short by a crash: no record was ever written to it.
        tracing::warn!(segment = %path.display(), "CDR journal: removing an empty, unfinished segment");
        fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
        return Ok(Checked::Empty);
    }
    let torn = scan.torn_bytes(file_len);
    if torn > 0 {
        tracing::warn!(
            segment = %path.display(),
            bytes = torn,
            "CDR journal: cutting a torn record at the end of a segment (a write cut short by a crash; it was never acknowledged)"
        );
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io("open", &path, e))?;
        f.set_len(scan.valid_end)
            .and_then(|()| f.sync_all())
            .map_err(|e| JournalError::io("truncate", &path, e))?;
    }
    let on_boundary = start == scan.valid_end || scan.records.iter().any(|f| f.offset == start);
    let start = if on_boundary {
        start
    } else {
        // The checkpoint does not sit on a record boundary, so it cannot be trusted for this
        // segment: deliver all of it again (the uuids make repeats harmless).
        tracing::warn!(segment = %path.display(), start, "CDR journal: checkpoint is not on a record boundary");
        HEADER_LEN
    };
    let undelivered = scan.records.iter().filter(|f| f.offset >= start).count() as u64;
    Ok(Checked::Live {
        len: scan.valid_end,
        start,
        undelivered,
    })
}

fn payload<'a>(bytes: &'a [u8], f: &Found) -> Option<&'a [u8]> {
    let at = usize::try_from(f.offset).ok()?;
    bytes.get(at + frame::FRAME_HEAD..at + f.frame_len)
}

/// Writes `records` to a new sealed segment `seq`; returns its length.
fn write_salvage(dir: &Path, seq: u64, records: &[Vec<u8>]) -> Result<u64, JournalError> {
    let mut file = files::create_segment(dir, seq)?;
    let mut buf = Vec::new();
    for r in records {
        frame::encode(r, &mut buf);
    }
    let path = files::segment_path(dir, seq);
    file.write_all(&buf)
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io("write", &path, e))?;
    Ok(HEADER_LEN + buf.len() as u64)
}
