//! A durable key → value log on local disk, for soft state that must survive a crash of the
//! process (registrations today): every change is appended as one framed record, the newest
//! record of a key wins on replay, and the file is rewritten with only the live keys when it has
//! grown well past them.
//!
//! Durability has two steps with different costs. [`KvLog::write`] hands the buffered records
//! to the kernel with one `write(2)`: from then on they survive the process being killed
//! (`kill -9`, a panic, an OOM kill), so a caller acknowledges a change only after it. A
//! background thread started by [`KvLog::start_syncer`] makes them survive a power loss too,
//! with `fdatasync` every interval (group commit, off the caller's path).
//!
//! Compaction runs on a thread of its own from the file itself ([`KvLog::start_compaction`]):
//! it copies the newest record of every live key into a new file while the owner keeps
//! appending to the old one; the owner then adds what it appended meanwhile and swaps the files
//! (in [`KvLog::write`]), so the caller never waits for a rewrite.
//!
//! Records use the CDR journal's framing (`len | crc32 | payload`); a payload is
//! `key_len: u16 LE | key | value`, and an empty value deletes the key.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::journal::frame::{self, MAX_RECORD};

/// First bytes of a key → value log (format version 1).
const MAGIC: &[u8; 8] = b"TLKVLG1\n";

/// Why a log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum KvLogError {
    /// The file could not be read, written or replaced.
    #[error("{path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A key or value is larger than a record can hold.
    #[error("record of {0} bytes is larger than the log allows")]
    TooLarge(usize),
}

/// The live keys and their values after a replay.
pub type Live = HashMap<Vec<u8>, Vec<u8>>;

/// What replaying the file found, for the operator's log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Intact records read.
    pub records: u64,
    /// Bytes of a half-written last record cut off (a crash during a write).
    pub torn_bytes: u64,
    /// Damaged stretches skipped with intact records after them (disk corruption).
    pub damaged: usize,
}

/// State shared with the sync thread.
#[derive(Debug)]
struct Shared {
    file: Mutex<Arc<File>>,
    dirty: AtomicBool,
    /// The directory holds a rename not yet synced.
    dir_dirty: AtomicBool,
    stop: AtomicBool,
}

/// A compaction in progress: the thread rewriting the file up to `end`, and what the owner
/// appended after `end` meanwhile.
#[derive(Debug)]
struct Compaction {
    thread: JoinHandle<io::Result<u64>>,
    tail: Vec<u8>,
    tail_records: u64,
}

/// An open log. Not `Sync`: one owner appends.
#[derive(Debug)]
pub struct KvLog {
    path: PathBuf,
    file: Arc<File>,
    pending: Vec<u8>,
    records: u64,
    /// Bytes in the file (what has been written).
    len: u64,
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
    compaction: Option<Compaction>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KvLogError + '_ {
    move |source| KvLogError::Io {
        path: path.to_owned(),
        source,
    }
}

fn decode(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes(payload.get(..2)?.try_into().ok()?) as usize;
    let key = payload.get(2..2 + len)?;
    Some((key, payload.get(2 + len..)?))
}

impl KvLog {
    /// Opens (or creates) the log at `path` and replays it: the live keys with their values.
    /// A torn last record is cut off; damaged records in the middle are skipped.
    pub fn open(path: &Path) -> Result<(KvLog, Live, Replayed), KvLogError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(path)(e)),
        };
        let scan = frame::scan_with(&bytes, MAGIC);
        let mut live = HashMap::new();
        for found in &scan.records {
            let start = usize::try_from(found.offset).unwrap_or(usize::MAX);
            let Some(framed) = bytes.get(start..start.saturating_add(found.frame_len)) else {
                continue;
            };
            let frame::Next::Record { payload, .. } = frame::next(framed) else {
                continue;
            };
            let Some((key, value)) = decode(payload) else {
                continue;
            };
            if value.is_empty() {
                live.remove(key);
            } else {
                live.insert(key.to_vec(), value.to_vec());
            }
        }
        let report = Replayed {
            records: scan.records.len() as u64,
            torn_bytes: scan.torn_bytes(bytes.len() as u64),
            damaged: scan.damaged.len() + usize::from(scan.bad_magic),
        };
        let mut log = if bytes.is_empty() || scan.bad_magic {
            // New, or not ours at the start: rewrite it with what could be read.
            let tmp = path.with_extension("compact");
            let mut buf = MAGIC.to_vec();
            for (k, v) in &live {
                encode(k, v, &mut buf)?;
            }
            write_synced(&tmp, &buf)?;
            std::fs::rename(&tmp, path).map_err(io_err(path))?;
            sync_dir(path)?;
            let file = open_rw(path)?;
            Self::with_file(path, file, live.len() as u64, buf.len() as u64)
        } else {
            let file = open_rw(path)?;
            if report.torn_bytes > 0 {
                file.set_len(scan.valid_end).map_err(io_err(path))?;
            }
            Self::with_file(path, file, report.records, scan.valid_end)
        };
        log.seek_end()?;
        Ok((log, live, report))
    }

    fn with_file(path: &Path, file: File, records: u64, len: u64) -> KvLog {
        let file = Arc::new(file);
        KvLog {
            path: path.to_owned(),
            file: Arc::clone(&file),
            pending: Vec::new(),
            records,
            len,
            shared: Arc::new(Shared {
                file: Mutex::new(file),
                dirty: AtomicBool::new(false),
                dir_dirty: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            }),
            syncer: None,
            compaction: None,
        }
    }

    fn seek_end(&mut self) -> Result<(), KvLogError> {
        use std::io::Seek as _;
        (&*self.file)
            .seek(io::SeekFrom::End(0))
            .map_err(io_err(&self.path))?;
        Ok(())
    }

    /// Buffers `key` = `value`; an empty `value` deletes `key`. Nothing reaches the file before
    /// [`KvLog::write`].
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvLogError> {
        encode(key, value, &mut self.pending)?;
        self.records += 1;
        if let Some(c) = self.compaction.as_mut() {
            c.tail_records += 1;
        }
        Ok(())
    }

    /// Buffers the deletion of `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), KvLogError> {
        self.put(key, &[])
    }

    /// Whether records wait for [`KvLog::write`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands every buffered record to the kernel in one write: after this returns they survive
    /// a crash of the process.
    pub fn write(&mut self) -> Result<(), KvLogError> {
        if self.pending.is_empty() {
            self.poll_compaction();
            return Ok(());
        }
        (&*self.file)
            .write_all(&self.pending)
            .map_err(io_err(&self.path))?;
        self.len += self.pending.len() as u64;
        if let Some(c) = self.compaction.as_mut() {
            c.tail.extend_from_slice(&self.pending);
        }
        self.pending.clear();
        self.shared.dirty.store(true, Ordering::Release);
        self.poll_compaction();
        Ok(())
    }

    /// Swaps in a finished compaction.
    fn poll_compaction(&mut self) {
        if (self.compaction.as_ref()).is_some_and(|c| c.thread.is_finished()) {
            self.finish_compaction();
        }
    }

    /// Writes and `fdatasync`s: after this returns the records survive a power loss.
    pub fn sync(&mut self) -> Result<(), KvLogError> {
        self.write()?;
        if self.shared.dir_dirty.swap(false, Ordering::AcqRel) {
            sync_dir(&self.path)?;
        }
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.shared.dirty.store(false, Ordering::Release);
        Ok(())
    }

    /// Records in the file, live or superseded: compare with the number of live keys to decide
    /// when to [`KvLog::compact`].
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether a compaction is running.
    pub fn is_compacting(&self) -> bool {
        self.compaction.is_some()
    }

    /// Starts rewriting the file with only the newest record of each live key, on a thread;
    /// [`KvLog::write`] puts the new file in place once it is done. No-op while one runs.
    pub fn start_compaction(&mut self) -> Result<(), KvLogError> {
        if self.compaction.is_some() {
            return Ok(());
        }
        self.write()?;
        let (path, end) = (self.path.clone(), self.len);
        let thread = std::thread::Builder::new()
            .name("kv-log-compact".into())
            .spawn(move || {
                background_priority();
                rewrite_live(&path, end)
            })
            .map_err(io_err(&self.path))?;
        self.compaction = Some(Compaction {
            thread,
            tail: Vec::new(),
            tail_records: 0,
        });
        Ok(())
    }

    /// Compacts now, waiting for the rewrite (at start-up, in tests).
    pub fn compact(&mut self) -> Result<(), KvLogError> {
        self.start_compaction()?;
        if let Some(c) = &self.compaction {
            while !c.thread.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.finish_compaction();
        Ok(())
    }

    /// Adds the tail to the finished rewrite and swaps it in; on any error the old file stays
    /// (it holds everything) and the error is logged.
    fn finish_compaction(&mut self) {
        let Some(c) = self.compaction.take() else {
            return;
        };
        let tmp = self.path.with_extension("compact");
        let result = match c.thread.join() {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("compaction thread panicked")),
        };
        let swapped = result.and_then(|records| {
            let file = OpenOptions::new().read(true).append(true).open(&tmp)?;
            (&file).write_all(&c.tail)?;
            let len = file.metadata()?.len();
            std::fs::rename(&tmp, &self.path)?;
            Ok((file, records, len))
        });
        match swapped {
            Ok((file, records, len)) => {
                self.file = Arc::new(file);
                self.records = records + c.tail_records;
                self.len = len;
                if let Ok(mut f) = self.shared.file.lock() {
                    *f = Arc::clone(&self.file);
                }
                // The new file's tail and the rename reach the disk with the next sync.
                self.shared.dirty.store(true, Ordering::Release);
                self.shared.dir_dirty.store(true, Ordering::Release);
                tracing::debug!(path = %self.path.display(), records = self.records, "log compacted");
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::error!(path = %self.path.display(), error = %e, "log compaction failed; the old file stays");
            }
        }
    }

    /// Starts a thread that `fdatasync`s the file every `interval` when something was written.
    pub fn start_syncer(&mut self, interval: Duration) -> Result<(), KvLogError> {
        if self.syncer.is_some() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let path = self.path.clone();
        let handle = std::thread::Builder::new()
            .name("kv-log-sync".into())
            .spawn(move || {
                background_priority();
                while !shared.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    if shared.dir_dirty.swap(false, Ordering::AcqRel)
                        && let Err(e) = sync_dir(&path)
                    {
                        shared.dir_dirty.store(true, Ordering::Release);
                        tracing::error!(error = %e, "directory sync failed");
                    }
                    if shared.dirty.swap(false, Ordering::AcqRel) {
                        let file = match shared.file.lock() {
                            Ok(f) => Arc::clone(&f),
                            Err(_) => return,
                        };
                        if let Err(e) = file.sync_data() {
                            shared.dirty.store(true, Ordering::Release);
                            tracing::error!(path = %path.display(), error = %e, "fdatasync failed");
                        }
                    }
                }
            })
            .map_err(io_err(&self.path))?;
        self.syncer = Some(handle);
        Ok(())
    }
}

impl Drop for KvLog {
    fn drop(&mut self) {
        if let Some(c) = &self.compaction {
            while !c.thread.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.finish_compaction();
        }
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "key-value log: final sync failed");
        }
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.syncer.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Lowers the calling thread's CPU priority to the least (nice 19): the log's own threads
/// (sync, compaction) must not take the core from the signalling thread they serve, which
/// otherwise sees their bursts as latency. Best effort.
pub(crate) fn background_priority() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
}

fn open_rw(path: &Path) -> Result<File, KvLogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), KvLogError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_data().map_err(io_err(path))
}

/// Makes a rename in `path`'s directory durable.
fn sync_dir(path: &Path) -> Result<(), KvLogError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir)),
        None => Ok(()),
    }
}

/// The compaction thread: reads `path` up to `end`, keeps the newest record of each live key
/// and writes them, framed as they were, to `path.compact`, synced. Returns the record count.
fn rewrite_live(path: &Path, end: u64) -> io::Result<u64> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    File::open(path)?.take(end).read_to_end(&mut bytes)?;
    let scan = frame::scan_with(&bytes, MAGIC);
    let mut newest: HashMap<&[u8], (usize, usize, bool)> = HashMap::new();
    for (i, found) in scan.records.iter().enumerate() {
        let start = usize::try_from(found.offset).unwrap_or(usize::MAX);
        let Some(framed) = bytes.get(start..start.saturating_add(found.frame_len)) else {
            continue;
        };
        if let frame::Next::Record { payload, .. } = frame::next(framed)
            && let Some((key, value)) = decode(payload)
        {
            newest.insert(key, (i, start, value.is_empty()));
        }
    }
    let mut live: Vec<(usize, usize)> = newest
        .values()
        .filter(|(_, _, deleted)| !deleted)
        .map(|(i, start, _)| (*i, *start))
        .collect();
    live.sort_unstable();
    let mut out = MAGIC.to_vec();
    for (i, start) in &live {
        let len = scan.records[*i].frame_len;
        out.extend_from_slice(&bytes[*start..*start + len]);
    }
    let tmp = path.with_extension("compact");
    let mut f = File::create(&tmp)?;
    f.write_all(&out)?;
    f.sync_data()?;
    Ok(live.len() as u64)
}

fn encode(key: &[u8], value: &[u8], out: &mut Vec<u8>) -> Result<(), KvLogError> {
    let size = 2 + key.len() + value.len();
    let key_len = u16::try_from(key.len()).map_err(|_| KvLogError::TooLarge(size))?;
    if size > MAX_RECORD {
        return Err(KvLogError::TooLarge(size));
    }
    let mut payload = Vec::with_capacity(size);
    payload.extend_from_slice(&key_len.to_le_bytes());
    payload.extend_from_slice(key);
    payload.extend_from_slice(value);
    frame::encode(&payload, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(map: &HashMap<Vec<u8>, Vec<u8>>) -> Vec<(String, String)> {
        let mut v: Vec<_> = map
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn newest_record_wins_and_deletes_stick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loc.log");
        {
            let (mut log, map, _) = KvLog::open(&path).unwrap();
            assert!(map.is_empty());
            log.put(b"a", b"1").unwrap();
            log.put(b"b", b"1").unwrap();
            log.put(b"a", b"2").unwrap();
            log.delete(b"b").unwrap();
            log.write().unwrap();
            // Written but never synced nor dropped: what a killed process leaves.
            std::mem::forget(log);
        }
        let (log, map, report) = KvLog::open(&path).unwrap();
        assert_eq!(live(&map), [("a".into(), "2".into())]);
        assert_eq!((report.records, log.records()), (4, 4));
    }

    #[test]
    fn torn_tail_is_cut_and_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loc.log");
        {
            let (mut log, _, _) = KvLog::open(&path).unwrap();
            log.put(b"a", b"1").unwrap();
            log.put(b"b", b"22").unwrap();
            log.sync().unwrap();
        }
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        {
            let (mut log, map, report) = KvLog::open(&path).unwrap();
            assert_eq!(live(&map), [("a".into(), "1".into())]);
            assert!(report.torn_bytes > 0);
            log.put(b"c", b"3").unwrap();
        }
        let (_, map, report) = KvLog::open(&path).unwrap();
        assert_eq!(
            live(&map),
            [("a".into(), "1".into()), ("c".into(), "3".into())]
        );
        assert_eq!(report.torn_bytes, 0);
    }

    #[test]
    fn compaction_keeps_only_live_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loc.log");
        let (mut log, _, _) = KvLog::open(&path).unwrap();
        log.start_syncer(Duration::from_millis(5)).unwrap();
        for i in 0..100u32 {
            log.put(b"k", i.to_string().as_bytes()).unwrap();
        }
        log.write().unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        log.compact().unwrap();
        assert_eq!(log.records(), 1);
        log.put(b"z", b"after").unwrap();
        drop(log);
        assert!(std::fs::metadata(&path).unwrap().len() < before);
        let (_, map, _) = KvLog::open(&path).unwrap();
        assert_eq!(
            live(&map),
            [("k".into(), "99".into()), ("z".into(), "after".into())]
        );
    }

    #[test]
    fn background_compaction_keeps_what_is_written_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loc.log");
        let (mut log, _, _) = KvLog::open(&path).unwrap();
        for i in 0..1000u32 {
            log.put(format!("k{}", i % 10).as_bytes(), i.to_string().as_bytes())
                .unwrap();
        }
        log.delete(b"k0").unwrap();
        log.start_compaction().unwrap();
        assert!(log.is_compacting());
        // Written while the thread runs: must survive the swap.
        log.put(b"late", b"1").unwrap();
        log.put(b"k1", b"late").unwrap();
        while log.is_compacting() {
            log.write().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(log.records(), 9 + 2);
        log.put(b"after", b"x").unwrap();
        drop(log);
        let (_, map, report) = KvLog::open(&path).unwrap();
        assert_eq!(report.records, 12);
        let got = live(&map);
        assert_eq!(got.len(), 11, "{got:?}");
        assert!(got.contains(&("k1".into(), "late".into())));
        assert!(got.contains(&("k9".into(), "999".into())));
        assert!(got.contains(&("late".into(), "1".into())));
        assert!(!got.iter().any(|(k, _)| k == "k0"));
    }

    #[test]
    fn garbage_file_is_replaced_and_oversize_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loc.log");
        std::fs::write(&path, b"not a log at all").unwrap();
        let (mut log, map, report) = KvLog::open(&path).unwrap();
        assert!(map.is_empty());
        assert_eq!(report.damaged, 1);
        assert!(matches!(
            log.put(b"k", &vec![1; MAX_RECORD]),
            Err(KvLogError::TooLarge(_))
        ));
    }
}
