#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! The CDR journal: delivery on both back ends, group-commit throughput, and recovery from a
//! crash, a torn tail, a damaged segment and a record the database can never take.

mod cdr_support;
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdr_support::{assert_stored_exactly, cdr};
use trunkline_store::*;

on_both_backends!(delivers_every_record_once);

const FLUSH: Duration = Duration::from_secs(60);

async fn delivers_every_record_once(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let customer = store
        .create_tenant(
            &Ctx::new(Scope::Platform, "test"),
            TenantKind::Customer,
            store.platform_id(),
            &TenantName::parse("A").unwrap(),
        )
        .await
        .unwrap()
        .id;
    let journal = CdrJournal::open(dir.path(), store.clone()).await.unwrap();
    let mut expected = BTreeSet::new();

    // One caller at a time: every record waits for its own fsync.
    let serial = 200;
    let t = Instant::now();
    for i in 0..serial {
        let c = cdr(customer, i);
        expected.insert(c.uuid.as_str().to_owned());
        journal.record(c).await.unwrap();
    }
    let serial_rate = f64::from(serial) / t.elapsed().as_secs_f64();

    // Many callers: concurrent records share one fsync (group commit).
    let (tasks, per_task) = (64u32, 50u32);
    let t = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let journal = journal.clone();
        handles.push(tokio::spawn(async move {
            let mut uuids = Vec::new();
            for i in 0..per_task {
                let c = cdr(customer, 10_000 + task * per_task + i);
                uuids.push(c.uuid.as_str().to_owned());
                journal.record(c).await.unwrap();
            }
            uuids
        }));
    }
    for h in handles {
        expected.extend(h.await.unwrap());
    }
    let concurrent_rate = f64::from(tasks * per_task) / t.elapsed().as_secs_f64();
    println!(
        "CDR journal ({:?}): {serial_rate:.0} records/s from one caller, \
         {concurrent_rate:.0} records/s from {tasks} concurrent callers (durable, fdatasync)",
        store.backend()
    );

    journal.flush_delivered(FLUSH).await.unwrap();
    assert_eq!(journal.pending(), 0);
    assert_stored_exactly(&store, &expected).await;
    journal.close().await;
    assert!(matches!(
        journal.record(cdr(customer, 1)).await,
        Err(JournalError::Closed)
    ));
    // Delivered segments are deleted; only the writer's current segment is left.
    assert_eq!(segments(dir.path()).len(), 1);
}

/// A store whose database is unreachable (its pool is closed), and one that works, on the same
/// SQLite file.
async fn stores(dir: &Path) -> (Store, String) {
    let url = dir.join("db.sqlite").to_str().unwrap().to_owned();
    let down = Store::connect(&url).await.unwrap();
    down.close().await;
    (down, url)
}

/// Live segment files, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    out.sort();
    out
}

fn files_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(suffix)
        })
        .count()
}

/// Records `n` CDRs while the database is down, closes the journal and returns their uuids in
/// recording order.
async fn record_offline(dir: &Path, down: &Store, n: u32, options: JournalOptions) -> Vec<String> {
    let journal = CdrJournal::open_with(dir, down.clone(), options)
        .await
        .unwrap();
    let mut uuids = Vec::new();
    for i in 0..n {
        let c = cdr(TenantId(5), i);
        uuids.push(c.uuid.as_str().to_owned());
        journal.record(c).await.unwrap();
    }
    assert_eq!(journal.pending(), u64::from(n));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        journal.pending(),
        u64::from(n),
        "nothing delivered while down"
    );
    journal.close().await;
    uuids
}

/// Reopens the journal on a working store, waits for delivery, closes it, returns the store.
async fn deliver(dir: &Path, url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    let journal = CdrJournal::open(dir, store.clone()).await.unwrap();
    journal.flush_delivered(FLUSH).await.unwrap();
    journal.close().await;
    store
}

fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes: 8 * 1024,
        batch_records: 64,
        ..JournalOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_replays_undelivered_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (down, url) = stores(tmp.path()).await;
    let uuids = record_offline(&dir, &down, 300, small_segments()).await;
    assert!(segments(&dir).len() > 10, "small segments rotate");

    let store = deliver(&dir, &url).await;
    assert_stored_exactly(&store, &uuids.iter().cloned().collect()).await;
    assert_eq!(segments(&dir).len(), 1, "delivered segments are deleted");

    // Reopening again delivers nothing twice.
    let store = deliver(&dir, &url).await;
    assert_stored_exactly(&store, &uuids.into_iter().collect()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_after_a_crash_without_close() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (down, url) = stores(tmp.path()).await;
    let journal = CdrJournal::open(&dir, down.clone()).await.unwrap();
    let c = cdr(TenantId(5), 1);
    let uuid = c.uuid.as_str().to_owned();
    journal.record(c).await.unwrap();
    // The process "dies": no close, the handle is simply gone.
    drop(journal);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = deliver(&dir, &url).await;
    assert_stored_exactly(&store, &BTreeSet::from([uuid])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_cut_and_earlier_records_delivered() {
    for tail in [
        // Half a record: a header announcing 500 bytes, then only 100.
        [&500u32.to_le_bytes()[..], &[0xab; 4], &[b'{'; 100]].concat(),
        // Zeros, as a file system may leave after a crash.
        vec![0; 3000],
        b"garbage".to_vec(),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("journal");
        let (down, url) = stores(tmp.path()).await;
        let uuids = record_offline(&dir, &down, 50, JournalOptions::default()).await;
        let last = segments(&dir).pop().unwrap();
        append(&last, &tail);

        let store = deliver(&dir, &url).await;
        assert_stored_exactly(&store, &uuids.into_iter().collect()).await;
        assert_eq!(
            files_ending(&dir, ".corrupt"),
            0,
            "a torn tail is not corruption"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_segment_is_set_aside_and_intact_records_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (down, url) = stores(tmp.path()).await;
    let mut uuids = record_offline(&dir, &down, 50, JournalOptions::default()).await;
    let seg = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    // Damage one byte inside the payload of record 25.
    let at = frame_offsets(&bytes)[25] + 20;
    bytes[at] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let store = deliver(&dir, &url).await;
    let lost = uuids.remove(25);
    assert_stored_exactly(&store, &uuids.into_iter().collect()).await;
    assert_eq!(
        files_ending(&dir, ".corrupt"),
        1,
        "the damaged file is kept"
    );
    let kept = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".corrupt"))
        .unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), bytes, "kept as it was");
    assert!(!lost.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_database_can_never_take_is_kept_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let (down, url) = stores(tmp.path()).await;
    let uuids = record_offline(&dir, &down, 10, JournalOptions::default()).await;
    // An intact record that is not a valid CDR (e.g. written by a buggy or newer version).
    let seg = segments(&dir).pop().unwrap();
    append(&seg, &frame(br#"{"uuid":"not-a-uuid","sip_code":200}"#));

    let store = deliver(&dir, &url).await;
    assert_stored_exactly(&store, &uuids.into_iter().collect()).await;
    let rejected = std::fs::read_to_string(dir.join("rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count(), 1);
    assert!(
        rejected.contains("not-a-uuid") && rejected.contains("not a CDR"),
        "{rejected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cdrs_are_refused_before_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let (down, _) = stores(tmp.path()).await;
    let journal = CdrJournal::open(&tmp.path().join("j"), down).await.unwrap();
    let mut c = cdr(TenantId(5), 1);
    c.sip_code = 42;
    assert!(matches!(
        journal.record(c).await,
        Err(JournalError::Invalid(StoreError::Invalid {
            field: "cdr.sip_code",
            ..
        }))
    ));
    let mut c = cdr(TenantId(5), 1);
    c.recording = Some("r".repeat(2000));
    assert!(journal.record(c).await.is_err());
    assert_eq!(journal.pending(), 0);
    journal.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_times_out_while_the_database_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let (down, _) = stores(tmp.path()).await;
    let journal = Arc::new(CdrJournal::open(&tmp.path().join("j"), down).await.unwrap());
    journal.record(cdr(TenantId(5), 1)).await.unwrap();
    let r = journal.flush_delivered(Duration::from_millis(300)).await;
    assert!(
        matches!(r, Err(JournalError::Timeout { pending: 1 })),
        "{r:?}"
    );
    journal.close().await;
    journal.close().await;
}

// Segment format, as documented in the journal's frame module: 8 bytes of magic, then records
// framed as `len u32 LE | crc32 u32 LE | payload`.

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 8 <= segment.len() {
        out.push(pos);
        let len = u32::from_le_bytes(segment[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    out
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}
