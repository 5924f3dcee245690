//! Connecting to a back end chosen by URL, migrating it, and the audit trail every write leaves.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use tokio::sync::broadcast;

use crate::secrets::{Keyring, is_sealed};
use crate::sql::Sql;
use crate::{Change, DomainName, StoreError, TenantId};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How many change events may wait for a slow subscriber before it has to resync.
const CHANGE_FEED_CAPACITY: usize = 4096;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL (or a compatible engine).
    Postgres,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PostgreSQL only: the schema to create tables in and read from (`SET search_path` on every
    /// pooled connection). Letters, digits and `_`, starting with a letter or `_`. Used to give
    /// each test run its own schema in a shared database.
    pub pg_schema: Option<String>,
    /// Pool size; default 4 for SQLite, 8 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long a query waits for a pooled connection, including connecting; default 10 s.
    /// While the database is unreachable, this is how long each attempt takes to fail.
    pub acquire_timeout: Option<Duration>,
    /// The keys that seal carrier passwords at rest (see [`Keyring`]). Without one, the store
    /// can neither write nor read a sealed password; with one, passwords still stored in
    /// plaintext (written before sealing existed) are sealed at connect.
    pub keyring: Option<Arc<Keyring>>,
    /// This server's own host names (its SIP aliases, its host name): never a tenant's
    /// domain, since a request addressed to the server by one of them would otherwise reach
    /// that tenant from every tenant. Compared lower-case, without a trailing dot. IP literals
    /// and `localhost` are refused by [`DomainName::parse`] whatever this holds.
    pub reserved_domains: Vec<String>,
}

/// The provisioning store: a connection pool plus the in-process change feed.
///
/// Cheap to clone; clones share the pool and the feed.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    platform: TenantId,
    changes: broadcast::Sender<Change>,
    pub(crate) keyring: Option<Arc<Keyring>>,
    reserved: Arc<[String]>,
}

/// Turns what an operator writes into a URL sqlx understands: `sqlite://…` and `postgres://…`
/// pass through; anything without a scheme is a SQLite file path, created if missing.
fn normalize_url(url: &str) -> Result<(String, Backend), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres));
    }
    if url.starts_with("sqlite:") {
        return Ok((url.to_owned(), Backend::Sqlite));
    }
    if url.contains("://") {
        return Err(StoreError::invalid(
            "store.url",
            format!("{url:?} has an unsupported scheme (use sqlite://… or postgres://…)"),
        ));
    }
    if url.is_empty() {
        return Err(StoreError::invalid("store.url", "must not be empty"));
    }
    Ok((format!("sqlite://{url}?mode=rwc"), Backend::Sqlite))
}

fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 63
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc`, a plain file path, or `postgres://…`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// [`Store::connect`] with extra options.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self, StoreError> {
        install_default_drivers();
        let (url, backend) = normalize_url(url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            }))
            .acquire_timeout(options.acquire_timeout.unwrap_or(Duration::from_secs(10)));
        if let Some(schema) = options.pg_schema {
            if backend != Backend::Postgres || !valid_schema(&schema) {
                return Err(StoreError::invalid(
                    "store.pg_schema",
                    format!("{schema:?} is not a lower-case identifier for a PostgreSQL URL"),
                ));
            }
            // The name was checked to be a plain identifier above; identifiers cannot be bound.
            let set = format!("SET search_path TO {schema}");
            pool = pool.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(set.as_str()).await?;
                    Ok(())
                })
            });
        }
        if backend == Backend::Sqlite {
            // WAL: a commit is one append and one fsync of the log (synchronous=FULL keeps it
            // durable), not a rollback journal created, synced and deleted per transaction;
            // readers (the API, the CLI) do not block the CDR writer. secure_delete: what a
            // write replaces (an HA1, a password sealed under a retired key) is overwritten
            // with zeros, not left in a free page of the file.
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA secure_delete = ON",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect(&url).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let row = sqlx::query("SELECT id FROM tenants WHERE kind = 'platform'")
            .fetch_one(&pool)
            .await?;
        let platform = TenantId(row.try_get("id")?);
        let (changes, _) = broadcast::channel(CHANGE_FEED_CAPACITY);
        tracing::info!(?backend, "store connected and migrated");
        let reserved = (options.reserved_domains.iter())
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let store = Self {
            pool,
            backend,
            platform,
            changes,
            keyring: options.keyring,
            reserved,
        };
        let sealed = store.seal_plaintext_secrets().await?;
        if sealed > 0 {
            tracing::info!(
                carriers = sealed,
                "carrier passwords stored in plaintext are now sealed"
            );
        }
        store.warn_unfit_domains().await?;
        Ok(store)
    }

    /// Whether `name` (lower-case) is one of this server's own names.
    pub(crate) fn is_reserved_domain(&self, name: &str) -> bool {
        self.reserved.iter().any(|r| r == name)
    }

    /// Logs a warning for every stored domain that would not be accepted today (an IP
    /// literal, `localhost`, a single label, one of this server's names): it keeps working,
    /// because refusing to start would take every other tenant down with it, but the operator
    /// should move its users to a real domain (docs/security.md, *Domains*).
    async fn warn_unfit_domains(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, customer_id, name FROM domains")
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let name: String = row.try_get("name")?;
            let why = match DomainName::parse(&name) {
                Err(StoreError::Invalid { reason, .. }) => reason,
                Err(e) => return Err(e),
                Ok(d) if self.is_reserved_domain(d.as_str()) => {
                    format!("{name:?} is a name of this server")
                }
                Ok(_) => continue,
            };
            let id: i64 = row.try_get("id")?;
            let customer: i64 = row.try_get("customer_id")?;
            tracing::warn!(
                domain = %name,
                id,
                customer,
                "a tenant holds a domain that is no longer accepted: {why}; \
                 move its users to a DNS name the customer owns (docs/security.md)"
            );
        }
        Ok(())
    }

    /// Seals every carrier password still stored in plaintext; returns how many. Without a
    /// keyring, nothing (the values stay readable, and this runs again at the next connect
    /// that has one).
    async fn seal_plaintext_secrets(&self) -> Result<usize, StoreError> {
        let Some(keyring) = &self.keyring else {
            return Ok(0);
        };
        self.reseal(keyring, |stored| !is_sealed(stored)).await
    }

    /// Re-seals every carrier password not sealed under the keyring's current key (after
    /// [`Keyring::rotated`]); returns how many were re-sealed. Old values must still open with
    /// one of the keyring's keys.
    pub async fn reseal_secrets(&self) -> Result<usize, StoreError> {
        let keyring = self.keyring()?;
        self.reseal(keyring, |stored| !keyring.is_current(stored))
            .await
    }

    /// The keyring, or the error every sealed read or write gives without one.
    pub(crate) fn keyring(&self) -> Result<&Keyring, StoreError> {
        self.keyring.as_deref().ok_or_else(|| {
            StoreError::Secret(
                "no secret key is configured (data.secret_key_file or TRUNKLINE_SECRET_KEY)"
                    .to_owned(),
            )
        })
    }

    async fn reseal(
        &self,
        keyring: &Keyring,
        stale: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query("SELECT id, password FROM carriers WHERE password IS NOT NULL")
            .fetch_all(&mut *tx)
            .await?;
        let mut count = 0;
        for row in &rows {
            let stored: String = row.try_get("password")?;
            if !stale(&stored) {
                continue;
            }
            let id: i64 = row.try_get("id")?;
            let plain = match is_sealed(&stored) {
                true => keyring.open("carriers.password", &stored)?,
                false => stored,
            };
            let mut q = Sql::new("UPDATE carriers SET password = ");
            q.bind(keyring.seal(&plain)?).push(" WHERE id = ").bind(id);
            q.query().execute(&mut *tx).await?;
            count += 1;
        }
        tx.commit().await?;
        if count > 0 && self.backend == Backend::Sqlite {
            // The replaced values are still in the WAL's frames until a checkpoint copies the
            // pages back and the log is cut to nothing.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(count)
    }

    /// The back end in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The platform tenant, created by the first migration.
    pub fn platform_id(&self) -> TenantId {
        self.platform
    }

    /// Subscribes to every change committed through this store (and its clones) from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes cannot wait
    /// for a concurrent writer and fails with "database is locked" instead.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn emit(&self, change: Change) {
        // No subscriber is not an error: the CLI runs without a snapshot.
        let _ = self.changes.send(change);
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One audit row, written in the same transaction as the change it records.
pub(crate) struct Audit<'a> {
    pub tenant: TenantId,
    pub actor: &'a str,
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: i64,
    /// What changed, without secrets.
    pub detail: String,
}

impl Store {
    /// Ends a write: records `a` in the audit log inside `tx`, commits, then emits `change` on
    /// the feed (only after the commit, so no subscriber sees a change that was rolled back).
    pub(crate) async fn commit_audited(
        &self,
        mut tx: Transaction<'_, Any>,
        a: Audit<'_>,
        change: Change,
    ) -> Result<(), StoreError> {
        audit(&mut tx, a).await?;
        tx.commit().await?;
        self.emit(change);
        Ok(())
    }
}

pub(crate) async fn audit(tx: &mut Transaction<'_, Any>, a: Audit<'_>) -> Result<(), StoreError> {
    let mut q = Sql::new(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, at, detail) VALUES (",
    );
    q.bind(a.tenant.0)
        .push(", ")
        .bind(a.actor)
        .push(", ")
        .bind(a.action)
        .push(", ")
        .bind(a.entity)
        .push(", ")
        .bind(a.entity_id)
        .push(", ")
        .bind(now_ms())
        .push(", ")
        .bind(a.detail)
        .push(")");
    q.query().execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            normalize_url("/var/lib/trunkline/db.sqlite").ok(),
            Some((
                "sqlite:///var/lib/trunkline/db.sqlite?mode=rwc".to_owned(),
                Backend::Sqlite
            ))
        );
        assert!(matches!(
            normalize_url("postgres://u@h/db"),
            Ok((_, Backend::Postgres))
        ));
        assert!(normalize_url("mysql://h/db").is_err());
        assert!(valid_schema("t_abc123"));
        assert!(!valid_schema("t; DROP"));
        assert!(!valid_schema("Upper"));
    }
}
