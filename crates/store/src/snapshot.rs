//! The in-memory view signalling reads: domains → users with HA1s and settings, DIDs, and
//! outbound routes with their carriers and gateways (`snapshot/routes.rs`).
//!
//! Built from the database once, then kept fresh from the change feed; lookups are hash-map
//! reads on an immutable [`Snapshot`] behind an `ArcSwap`, so the call path never waits for the
//! database nor for a lock held by a writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::task::JoinHandle;

use crate::model::{self, Did, Ha1, User};
use crate::tail::AuditTail;
use crate::{Change, DidId, DomainId, Store, StoreError, TenantId, UserId};

mod routes;
pub use routes::RouteTarget;

/// What the registrar and router need to know about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUser {
    /// Id.
    pub id: UserId,
    /// Owning customer.
    pub customer_id: TenantId,
    /// Domain id.
    pub domain_id: DomainId,
    /// Domain name (digest realm).
    pub domain: String,
    /// SIP user part.
    pub username: String,
    /// `MD5(username:realm:password)`.
    pub ha1_md5: Ha1,
    /// `SHA-256(username:realm:password)`.
    pub ha1_sha256: Ha1,
    /// Caller-ID.
    pub caller_id: Option<String>,
    /// Concurrent call limit.
    pub max_calls: Option<u32>,
    /// Whether the user may register and call.
    pub enabled: bool,
    /// Whether the user's relayed calls are recorded.
    pub record_calls: bool,
}

impl From<User> for SnapshotUser {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            customer_id: u.customer_id,
            domain_id: u.domain_id,
            domain: u.domain,
            username: u.username,
            ha1_md5: u.ha1_md5,
            ha1_sha256: u.ha1_sha256,
            caller_id: u.caller_id,
            max_calls: u.max_calls,
            enabled: u.enabled,
            record_calls: u.record_calls,
        }
    }
}

/// An immutable view of the provisioning data signalling needs.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    version: u64,
    /// Domain name → user part → user.
    domains: HashMap<String, HashMap<String, Arc<SnapshotUser>>>,
    domain_names: HashMap<DomainId, String>,
    users: HashMap<UserId, Arc<SnapshotUser>>,
    dids: HashMap<String, Did>,
    did_numbers: HashMap<DidId, String>,
    routing: routes::Routing,
}

impl Snapshot {
    /// The user `username` in `domain` (a lower-case domain name), enabled or not.
    pub fn user(&self, domain: &str, username: &str) -> Option<&SnapshotUser> {
        self.domains.get(domain)?.get(username).map(Arc::as_ref)
    }

    /// A user by id (e.g. a DID's target).
    pub fn user_by_id(&self, id: UserId) -> Option<&SnapshotUser> {
        self.users.get(&id).map(Arc::as_ref)
    }

    /// Whether `domain` (lower-case) is served here.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(domain)
    }

    /// A DID by its E.164 number with `+`.
    pub fn did(&self, e164: &str) -> Option<&Did> {
        self.dids.get(e164)
    }

    /// Counts every change applied since the snapshot was built; bumps on every update.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Number of domains.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Number of DIDs.
    pub fn did_count(&self) -> usize {
        self.dids.len()
    }

    /// Adds a user (and its domain) without a database, for tests and benchmarks of the
    /// signalling roles.
    #[cfg(feature = "testing")]
    pub fn insert_test_user(
        &mut self,
        domain: &str,
        username: &str,
        password: &str,
        enabled: bool,
    ) {
        self.insert_test_user_limited(domain, username, password, enabled, None);
    }

    /// [`Snapshot::insert_test_user`] with at most `max_calls` calls at a time.
    #[cfg(feature = "testing")]
    pub fn insert_test_user_limited(
        &mut self,
        domain: &str,
        username: &str,
        password: &str,
        enabled: bool,
        max_calls: Option<u32>,
    ) {
        use trunkline_sip::digest::{Algorithm, ha1};
        let id = self.users.len() as i64 + 1;
        self.apply(Change::UserUpserted(User {
            id: UserId(id),
            customer_id: TenantId(2),
            domain_id: DomainId(1),
            domain: domain.to_owned(),
            username: username.to_owned(),
            ha1_md5: Ha1(ha1(Algorithm::Md5, username, domain, password).to_string()),
            ha1_sha256: Ha1(ha1(Algorithm::Sha256, username, domain, password).to_string()),
            caller_id: None,
            max_calls,
            enabled,
            record_calls: false,
            created_at: 0,
        }));
    }

    /// Adds an enabled user of `customer` in `domain` (and the domain) without a database, for
    /// tests that need users of several tenants; returns its id.
    #[cfg(feature = "testing")]
    pub fn insert_test_customer_user(
        &mut self,
        customer: TenantId,
        domain: &str,
        username: &str,
    ) -> UserId {
        let id = UserId(self.users.len() as i64 + 1);
        let domain_id = DomainId(self.domain_names.len() as i64 + 1);
        if !self.domains.contains_key(domain) {
            self.apply(Change::DomainUpserted(crate::Domain {
                id: domain_id,
                customer_id: customer,
                name: domain.to_owned(),
                created_at: 0,
            }));
        }
        self.apply(Change::UserUpserted(User {
            id,
            customer_id: customer,
            domain_id,
            domain: domain.to_owned(),
            username: username.to_owned(),
            ha1_md5: Ha1(String::new()),
            ha1_sha256: Ha1(String::new()),
            caller_id: None,
            max_calls: None,
            enabled: true,
            record_calls: false,
            created_at: 0,
        }));
        id
    }

    /// Applies a change as the change feed would, without a database: for tests of the
    /// signalling roles and routing that need tenants, DIDs, carriers and gateways.
    #[cfg(feature = "testing")]
    pub fn apply_test_change(&mut self, change: Change) {
        self.apply(change);
    }

    fn apply(&mut self, change: Change) {
        self.version += 1;
        match change {
            Change::DomainUpserted(d) => {
                self.domains.entry(d.name.clone()).or_default();
                self.domain_names.insert(d.id, d.name);
            }
            Change::DomainDeleted(id) => {
                if let Some(name) = self.domain_names.remove(&id) {
                    self.domains.remove(&name);
                }
            }
            Change::UserUpserted(u) => {
                let u = Arc::new(SnapshotUser::from(u));
                self.domain_names.insert(u.domain_id, u.domain.clone());
                self.domains
                    .entry(u.domain.clone())
                    .or_default()
                    .insert(u.username.clone(), Arc::clone(&u));
                self.users.insert(u.id, u);
            }
            Change::UserDeleted(id) => {
                if let Some(u) = self.users.remove(&id)
                    && let Some(users) = self.domains.get_mut(&u.domain)
                {
                    users.remove(&u.username);
                }
            }
            Change::DidUpserted(d) => {
                self.did_numbers.insert(d.id, d.e164.clone());
                self.dids.insert(d.e164.clone(), d);
            }
            Change::DidDeleted(id) => {
                if let Some(n) = self.did_numbers.remove(&id) {
                    self.dids.remove(&n);
                }
            }
            other => self.routing.apply(other),
        }
    }

    async fn load(store: &Store) -> Result<Self, StoreError> {
        let pool = &store.pool;
        let mut s = Self::default();
        let rows = sqlx::query("SELECT id, customer_id, name, created_at FROM domains")
            .fetch_all(pool)
            .await?;
        for row in &rows {
            s.apply(Change::DomainUpserted(model::domain(row)?));
        }
        let rows = sqlx::query(
            "SELECT u.id, u.customer_id, u.domain_id, d.name AS domain, u.username, u.ha1_md5, \
             u.ha1_sha256, u.caller_id, u.max_calls, u.enabled, u.record_calls, u.created_at \
             FROM users u JOIN domains d ON d.id = u.domain_id",
        )
        .fetch_all(pool)
        .await?;
        for row in &rows {
            s.apply(Change::UserUpserted(model::user(row)?));
        }
        let rows = sqlx::query("SELECT id, customer_id, e164, user_id, created_at FROM dids")
            .fetch_all(pool)
            .await?;
        for row in &rows {
            s.apply(Change::DidUpserted(model::did(row)?));
        }
        s.routing = routes::Routing::load(pool, store.keyring.as_deref()).await?;
        s.version = 0;
        Ok(s)
    }
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A live snapshot; cheap to clone. The updating task stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SnapshotHandle {
    current: Arc<ArcSwap<Snapshot>>,
    _task: Arc<AbortOnDrop>,
}

impl SnapshotHandle {
    /// The current snapshot. Hold it for the duration of one request, then load again.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }
}

/// How often the audit log is polled for writes of other processes.
const TAIL_INTERVAL: Duration = Duration::from_millis(200);

/// Applies this process's changes as they are emitted, and other processes' changes found by
/// tailing the audit log.
async fn follow(
    store: Store,
    mut rx: broadcast::Receiver<Change>,
    mut tail: AuditTail,
    current: Arc<ArcSwap<Snapshot>>,
) {
    let mut tick = tokio::time::interval(TAIL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tail_failing = false;
    loop {
        let first = tokio::select! {
            received = rx.recv() => match received {
                Ok(c) => c,
                Err(RecvError::Closed) => return,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "snapshot fell behind the change feed; reloading");
                    resync(&store, &current).await;
                    continue;
                }
            },
            _ = tick.tick() => {
                match tail.poll(&store).await {
                    Ok(polled) => {
                        if tail_failing {
                            tracing::info!("audit-log tail recovered");
                            tail_failing = false;
                        }
                        if polled.resync {
                            resync(&store, &current).await;
                        } else if !polled.changes.is_empty() {
                            let mut next = Snapshot::clone(&current.load());
                            for c in polled.changes {
                                next.apply(c);
                            }
                            current.store(Arc::new(next));
                        }
                    }
                    Err(e) => {
                        if !tail_failing {
                            tracing::warn!(error = %e, "cannot read the audit log; the snapshot may miss other processes' writes until it recovers");
                            tail_failing = true;
                        }
                    }
                }
                continue;
            }
        };
        // Apply everything already queued in one copy of the snapshot.
        let mut next = Snapshot::clone(&current.load());
        next.apply(first);
        let mut lagged = false;
        loop {
            match rx.try_recv() {
                Ok(c) => next.apply(c),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                Err(TryRecvError::Lagged(_)) => {
                    lagged = true;
                    break;
                }
            }
        }
        current.store(Arc::new(next));
        if lagged {
            resync(&store, &current).await;
        }
    }
}

async fn resync(store: &Store, current: &ArcSwap<Snapshot>) {
    loop {
        match Snapshot::load(store).await {
            Ok(mut s) => {
                s.version = current.load().version + 1;
                current.store(Arc::new(s));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot reload failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl Store {
    /// Loads the snapshot and starts a task that applies every later change: this store's own
    /// at once from its feed, and other processes' within [`TAIL_INTERVAL`] from the audit log.
    /// Must be called inside a tokio runtime.
    pub async fn start_snapshot(&self) -> Result<SnapshotHandle, StoreError> {
        // Subscribe before loading so nothing committed in between is missed; replaying an
        // already-loaded change is harmless because every event carries the whole row.
        let rx = self.subscribe();
        let tail = AuditTail::start(self).await?;
        let snapshot = Snapshot::load(self).await?;
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        let task = tokio::spawn(follow(self.clone(), rx, tail, Arc::clone(&current)));
        Ok(SnapshotHandle {
            current,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }
}
