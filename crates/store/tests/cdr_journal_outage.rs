#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! A PostgreSQL outage in the middle of a stream of CDRs: the store talks to PostgreSQL through
//! a TCP proxy in this test, the proxy is cut (every connection closed, new ones dropped) while
//! CDRs keep being recorded, then restored. Every CDR must end up in the database exactly once.
//!
//! Skips only when `TRUNKLINE_TEST_POSTGRES_URL` is unset; fails when it is set but unreachable.

mod cdr_support;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cdr_support::{assert_stored_exactly, cdr, stored_uuids};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use trunkline_store::testing::{PG_ENV, PgSchema, isolated};
use trunkline_store::*;

/// A TCP proxy on 127.0.0.1 that can play a dead database.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (up, conns) = (Arc::clone(&up), Arc::clone(&conns));
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if !up.load(Ordering::SeqCst) {
                        // Down: the connection is closed at once.
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                    conns.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            port,
            up,
            conns,
            accept,
        }
    }

    /// The database "goes down": live connections are closed, new ones are refused.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// The database is back.
    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Splits a `postgres://user@host:port/db?…` URL into the upstream `host:port` and the same URL
/// pointing at `127.0.0.1:proxy_port` instead.
fn via_proxy(url: &str, proxy_port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    assert!(!hostport.is_empty(), "{PG_ENV} must name a TCP host");
    let upstream = match hostport.rsplit_once(':') {
        Some((_, p)) if p.bytes().all(|b| b.is_ascii_digit()) => hostport.to_owned(),
        _ => format!("{hostport}:5432"),
    };
    (
        upstream,
        format!("{scheme}://{user}127.0.0.1:{proxy_port}{tail}"),
    )
}

#[test]
fn url_rewriting() {
    assert_eq!(
        via_proxy("postgres://postgres@127.0.0.1:5432/test", 9),
        (
            "127.0.0.1:5432".to_owned(),
            "postgres://postgres@127.0.0.1:9/test".to_owned()
        )
    );
    assert_eq!(
        via_proxy("postgresql://u:p@db.example?sslmode=disable", 9),
        (
            "db.example:5432".to_owned(),
            "postgresql://u:p@127.0.0.1:9?sslmode=disable".to_owned()
        )
    );
}

/// Like `common::postgres`, but the store under test reaches PostgreSQL through a [`Proxy`];
/// the schema is created and dropped, and the result checked, over the direct URL.
async fn through_proxy<F, Fut>(body: F)
where
    F: FnOnce(Store, Store, Arc<Proxy>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let url = schema.url().to_owned();
    let options = |acquire: u64| ConnectOptions {
        acquire_timeout: Some(Duration::from_secs(acquire)),
        ..schema.options(4)
    };
    let direct = Store::connect_with(&url, options(10)).await.unwrap();
    let (upstream, _) = via_proxy(&url, 0);
    let proxy = Arc::new(Proxy::start(upstream).await);
    let (_, proxied_url) = via_proxy(&url, proxy.port);
    let store = Store::connect_with(&proxied_url, options(2)).await.unwrap();
    let result = isolated(body(store.clone(), direct.clone(), Arc::clone(&proxy))).await;
    store.close().await;
    direct.close().await;
    schema.drop_schema().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_mid_stream_loses_nothing() {
    through_proxy(outage_body).await;
}

async fn outage_body(store: Store, direct: Store, proxy: Arc<Proxy>) {
    const TASKS: u32 = 8;
    const PER_TASK: u32 = 250;
    const TOTAL: usize = (TASKS * PER_TASK) as usize;
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions {
        segment_bytes: 256 * 1024,
        batch_records: 200,
        db_timeout: Duration::from_secs(5),
        ..JournalOptions::default()
    };
    let journal = CdrJournal::open_with(dir.path(), store, options)
        .await
        .unwrap();
    let recorded = Arc::new(AtomicUsize::new(0));
    let uuids = Arc::new(Mutex::new(BTreeSet::new()));
    let mut producers = Vec::new();
    for task in 0..TASKS {
        let (journal, recorded, uuids) = (journal.clone(), recorded.clone(), uuids.clone());
        producers.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let c = cdr(TenantId(1 + i64::from(task)), task * PER_TASK + i);
                let uuid = c.uuid.as_str().to_owned();
                // Durable even while the database is down.
                journal.record(c).await.unwrap();
                uuids.lock().unwrap().insert(uuid);
                recorded.fetch_add(1, Ordering::SeqCst);
                // A steady call rate, so recording spans the whole outage.
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        }));
    }
    let wait_until = async |what: &str, done: &(dyn Fn() -> bool + Sync)| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };

    wait_until("the stream to start", &|| {
        recorded.load(Ordering::SeqCst) >= 400
    })
    .await;
    proxy.cut();
    let cut_at = Instant::now();
    let recorded_at_cut = recorded.load(Ordering::SeqCst);
    wait_until("records during the outage", &|| {
        recorded.load(Ordering::SeqCst) >= 1600 && cut_at.elapsed() >= Duration::from_secs(2)
    })
    .await;
    let recorded_at_restore = recorded.load(Ordering::SeqCst);
    let stored_while_down = stored_uuids(&direct).await.len();
    let pending_while_down = journal.pending();
    proxy.restore();
    println!(
        "outage of {:?}: {} CDRs recorded during it, {pending_while_down} waiting in the journal, \
         {stored_while_down} in the database",
        cut_at.elapsed(),
        recorded_at_restore - recorded_at_cut
    );
    assert!(
        stored_while_down <= recorded_at_cut,
        "nothing recorded after the cut reached the database while it was down"
    );
    assert!(pending_while_down >= (recorded_at_restore - recorded_at_cut) as u64);
    assert!(
        recorded_at_restore - recorded_at_cut >= 500,
        "recording went on during the outage"
    );

    for p in producers {
        p.await.unwrap();
    }
    let t = Instant::now();
    journal
        .flush_delivered(Duration::from_secs(60))
        .await
        .unwrap();
    println!("delivered the backlog {:?} after the restore", t.elapsed());
    journal.close().await;
    let expected = uuids.lock().unwrap().clone();
    assert_eq!(expected.len(), TOTAL);
    assert_stored_exactly(&direct, &expected).await;
}
