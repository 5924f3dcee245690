//! The journal directory's files and their durable updates: segment names, segment creation,
//! the delivery checkpoint (write-temp, fsync, rename, fsync the directory) and setting a
//! damaged segment aside.
//!
//! ```text
//! <dir>/cdr-0000000000000001.log           segments, oldest first
//! <dir>/cdr-0000000000000003.log.corrupt   a damaged segment, kept for inspection
//! <dir>/checkpoint                         (segment, offset) of the first undelivered record
//! <dir>/rejected.jsonl                     records the database refused for good
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::JournalError;
use super::frame::MAGIC;

const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_TMP: &str = "checkpoint.tmp";
/// Suffix of a segment set aside because it is damaged.
pub(super) const CORRUPT_SUFFIX: &str = ".corrupt";

/// The path of segment `seq`.
pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("cdr-{seq:016x}.log"))
}

/// A journal file name: `Some((seq, true))` for a live segment, `Some((seq, false))` for one
/// set aside (`….log.corrupt…`), `None` for anything else.
pub(super) fn parse_name(name: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix("cdr-")?;
    let hex = rest.get(..16)?;
    let tail = rest.get(16..)?;
    let seq = u64::from_str_radix(hex, 16).ok()?;
    match tail {
        ".log" => Some((seq, true)),
        t if t.starts_with(".log.") => Some((seq, false)),
        _ => None,
    }
}

/// Makes renames, creations and deletions in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync directory", dir, e))
}

/// Creates segment `seq` holding only the magic, durably (file and directory entry).
pub(super) fn create_segment(dir: &Path, seq: u64) -> Result<File, JournalError> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(|e| JournalError::io("create", &path, e))?;
    file.write_all(MAGIC)
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io("write", &path, e))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Renames segment `seq` to `….log.corrupt` (or `.corrupt.N` if that exists), so it is kept
/// for inspection and never read again.
pub(super) fn set_aside(dir: &Path, seq: u64) -> Result<PathBuf, JournalError> {
    let from = segment_path(dir, seq);
    let base = from.as_os_str().to_string_lossy().into_owned() + CORRUPT_SUFFIX;
    let mut to = PathBuf::from(&base);
    let mut n = 1;
    while to.exists() {
        to = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    fs::rename(&from, &to).map_err(|e| JournalError::io("rename", &from, e))?;
    Ok(to)
}

/// Where delivery stands: every record before `offset` in segment `seq`, and every record of
/// an older segment, is in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoint {
    /// Segment.
    pub seq: u64,
    /// Offset of the first undelivered record in it.
    pub offset: u64,
}

impl Checkpoint {
    fn encode(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        let crc = crc32fast::hash(&b[..16]);
        b[16..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; 20] = b.try_into().ok()?;
        let (body, crc) = b.split_at(16);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let (seq, offset) = body.split_at(8);
        Some(Self {
            seq: u64::from_le_bytes(seq.try_into().ok()?),
            offset: u64::from_le_bytes(offset.try_into().ok()?),
        })
    }
}

/// The stored checkpoint; `None` if there is none. A damaged one is reported and ignored:
/// delivery then starts at the oldest segment, and the uuids make the repeats harmless.
pub(super) fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, JournalError> {
    let path = dir.join(CHECKPOINT);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JournalError::io("read", &path, e)),
    };
    let cp = Checkpoint::decode(&bytes);
    if cp.is_none() {
        tracing::warn!(
            path = %path.display(),
            "CDR journal: checkpoint is damaged; redelivering every segment (duplicates are skipped by uuid)"
        );
    }
    Ok(cp)
}

/// Replaces the checkpoint atomically and durably.
pub(super) fn write_checkpoint(dir: &Path, cp: Checkpoint) -> Result<(), JournalError> {
    let tmp = dir.join(CHECKPOINT_TMP);
    let mut f = File::create(&tmp).map_err(|e| JournalError::io("create", &tmp, e))?;
    f.write_all(&cp.encode())
        .and_then(|()| f.sync_all())
        .map_err(|e| JournalError::io("write", &tmp, e))?;
    let path = dir.join(CHECKPOINT);
    fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename", &tmp, e))?;
    sync_dir(dir)
}

/// Removes a leftover temporary checkpoint (a crash between its write and its rename).
pub(super) fn remove_stale_tmp(dir: &Path) -> Result<(), JournalError> {
    let tmp = dir.join(CHECKPOINT_TMP);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(JournalError::io("remove", &tmp, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names() {
        let p = segment_path(Path::new("/j"), 0x1f);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "cdr-000000000000001f.log");
        assert_eq!(parse_name(name), Some((0x1f, true)));
        assert_eq!(
            parse_name("cdr-000000000000001f.log.corrupt.2"),
            Some((0x1f, false))
        );
        for other in ["checkpoint", "cdr-1.log", "cdr-000000000000001f.logx", "x"] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn checkpoint_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), None);
        let cp = Checkpoint {
            seq: 7,
            offset: 4096,
        };
        write_checkpoint(dir.path(), cp).unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), Some(cp));
        let path = dir.path().join(CHECKPOINT);
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), None);
    }
}
