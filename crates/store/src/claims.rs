//! Names that are unique platform-wide (domains, DIDs, device MACs, login names): what a caller
//! learns when the one it asks for is taken.
//!
//! A caller may learn that a name is taken by a row it can see (`Conflict`, 409). A name held
//! outside its tenancy scope is answered exactly like a name this caller may not have for any
//! other reason — `Invalid { field, "… is not available" }` (422) — so that another tenant's
//! domain, number, phone or login is never confirmed by its owner's identity or by a distinct
//! status (docs/provisioning.md, *Tenancy rules*). The platform settles disputes
//! (docs/security.md, *Disputed names and numbers*).

use sqlx::{Any, Transaction};

use crate::sql::Sql;
use crate::validate::quoted;
use crate::{Scope, StoreError};

/// One platform-wide unique value about to be written.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    /// The table, e.g. `domains` (a constant, never input).
    pub table: &'static str,
    /// The unique column, e.g. `name`.
    pub column: &'static str,
    /// The column holding the owning tenant, for the scope test.
    pub owner: &'static str,
    /// The input field named in errors, e.g. `domain.name`.
    pub field: &'static str,
    /// The value claimed.
    pub value: &'a str,
    /// The row being updated, which may keep its own value.
    pub except: Option<i64>,
}

impl Claim<'_> {
    /// The answer for a value this caller may not have: the same for a value another tenant
    /// holds as for one reserved by the platform.
    pub(crate) fn unavailable(field: &'static str, value: &str) -> StoreError {
        StoreError::invalid(field, format!("{} is not available", quoted(value)))
    }

    /// Checks, before the write, that the value is free: `Conflict { what }` when a row the
    /// scope can see holds it, [`Claim::unavailable`] when another tenant's row does.
    pub(crate) async fn check(
        &self,
        tx: &mut Transaction<'_, Any>,
        scope: Scope,
        what: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        let held = |visible: Option<Scope>| {
            let mut q = Sql::new("SELECT 1 FROM ");
            q.push(self.table)
                .push(" WHERE ")
                .push(self.column)
                .push(" = ")
                .bind(self.value);
            if let Some(id) = self.except {
                q.push(" AND id <> ").bind(id);
            }
            if let Some(scope) = visible {
                q.push(" AND ").scope(self.owner, scope);
            }
            q
        };
        if held(None)
            .query()
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(());
        }
        if held(Some(scope))
            .query()
            .fetch_optional(&mut **tx)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict { what: what() });
        }
        Err(Self::unavailable(self.field, self.value))
    }

    /// Maps a unique violation at write time (a concurrent writer won the race after
    /// [`Claim::check`]) to [`Claim::unavailable`], a foreign-key violation to
    /// `Conflict { foreign }`, anything else to a database error.
    pub(crate) fn map(&self, err: sqlx::Error, foreign: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return Self::unavailable(self.field, self.value);
            }
        }
        crate::error::map_constraint(err, "", foreign)
    }
}
