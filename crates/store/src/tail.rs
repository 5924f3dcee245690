//! Following writes made by *other* processes (the admin CLI, other nodes) by tailing the audit
//! log: every admin write leaves an audit row in its own transaction, so the rows after the
//! last one seen name exactly the entities to re-read.
//!
//! Identity values are handed out at insert time but become visible at commit, so a
//! transaction can commit a lower id after a higher one was already read. Each poll therefore
//! re-reads a window of ids below the highest seen and skips the ones already handled.

use std::collections::BTreeSet;

use sqlx::Row as _;

use crate::sql::Sql;
use crate::{Change, DidId, DomainId, Scope, Store, StoreError, TenantId, UserId};

/// How far below the highest seen id each poll looks again for late commits.
const LATE_WINDOW: i64 = 256;
/// Rows read per poll; a longer backlog is worked off over several polls.
const BATCH: i64 = 1000;

/// What a poll found.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    /// Changes to apply, re-read from the database.
    pub changes: Vec<Change>,
    /// An entity the snapshot holds changed but cannot be re-read one by one: reload it all.
    pub resync: bool,
}

/// Position in the audit log.
#[derive(Debug)]
pub(crate) struct AuditTail {
    highest: i64,
    seen: BTreeSet<i64>,
}

impl AuditTail {
    /// Starts after everything committed so far; call before loading the snapshot.
    pub(crate) async fn start(store: &Store) -> Result<Self, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM audit_log")
            .fetch_one(&store.pool)
            .await?;
        Ok(Self {
            highest: row.try_get("m")?,
            seen: BTreeSet::new(),
        })
    }

    /// Reads audit rows committed since the last poll and re-reads what they name.
    pub(crate) async fn poll(&mut self, store: &Store) -> Result<Polled, StoreError> {
        let floor = self.highest.saturating_sub(LATE_WINDOW);
        let mut q = Sql::new("SELECT id, action, entity, entity_id FROM audit_log WHERE id > ");
        q.bind(floor).push(" ORDER BY id LIMIT ").bind(BATCH);
        let rows = q.query().fetch_all(&store.pool).await?;
        let mut out = Polled::default();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if id <= self.highest && self.seen.contains(&id) {
                continue;
            }
            let entity: String = row.try_get("entity")?;
            let action: String = row.try_get("action")?;
            let entity_id: i64 = row.try_get("entity_id")?;
            reread(store, &entity, &action, entity_id, &mut out).await?;
            self.seen.insert(id);
            self.highest = self.highest.max(id);
        }
        let keep_from = self.highest.saturating_sub(LATE_WINDOW);
        self.seen = self.seen.split_off(&keep_from);
        Ok(out)
    }
}

/// The current state of one changed entity, as a change event.
async fn reread(
    store: &Store,
    entity: &str,
    action: &str,
    id: i64,
    out: &mut Polled,
) -> Result<(), StoreError> {
    let deleted = action == "delete";
    let change = match entity {
        "tenant" => match store.get_tenant(Scope::Platform, TenantId(id)).await {
            Ok(t) if !deleted => Change::TenantUpserted(t),
            Ok(_) | Err(StoreError::NotFound { .. }) => Change::TenantDeleted(TenantId(id)),
            Err(e) => return Err(e),
        },
        "domain" => match store.get_domain(Scope::Platform, DomainId(id)).await {
            Ok(d) if !deleted => Change::DomainUpserted(d),
            Ok(_) | Err(StoreError::NotFound { .. }) => Change::DomainDeleted(DomainId(id)),
            Err(e) => return Err(e),
        },
        "user" => match store.get_user(Scope::Platform, UserId(id)).await {
            Ok(u) if !deleted => Change::UserUpserted(u),
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                // Deleting a user also unassigned its DIDs, in the same transaction.
                out.resync = true;
                Change::UserDeleted(UserId(id))
            }
            Err(e) => return Err(e),
        },
        "did" => match store.get_did(Scope::Platform, DidId(id)).await {
            Ok(d) if !deleted => Change::DidUpserted(d),
            Ok(_) | Err(StoreError::NotFound { .. }) => Change::DidDeleted(DidId(id)),
            Err(e) => return Err(e),
        },
        // Not held by the snapshot: API credentials are checked against the database, and
        // devices and rates are read when provisioning or billing, not per call.
        "api_key" | "account" | "device" | "rate" | "rate_table" => return Ok(()),
        // Carriers, gateways and routes (a carrier deletion removes its gateways in the same
        // transaction), and anything newer: re-read everything.
        _ => {
            out.resync = true;
            return Ok(());
        }
    };
    out.changes.push(change);
    Ok(())
}
