//! The one error type of the store.

/// What went wrong in a store operation. Messages name the field or entity and, except for
/// secrets, the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Input failed validation before reaching the database.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field, e.g. `user.username`.
        field: &'static str,
        /// Why, with the value quoted (never for secrets).
        reason: String,
    },
    /// The row does not exist, or exists outside the caller's tenancy scope (the two are
    /// deliberately indistinguishable).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Entity kind, e.g. `domain`.
        entity: &'static str,
        /// The id or name that was looked up.
        id: String,
    },
    /// A uniqueness rule or a reference from another row forbids the write.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts, e.g. `domain "example.test" already exists`.
        what: String,
    },
    /// The scope may see the row but not perform this change (e.g. a customer creating tenants).
    #[error("forbidden: {what}")]
    Forbidden {
        /// The refused action.
        what: String,
    },
    /// A stored value that this version cannot interpret (e.g. an unknown enum string).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database or the driver failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A sealed secret cannot be opened or sealed: no key, the wrong key, or a damaged value.
    /// The message names the column and the key id, never the secret.
    #[error("secret key: {0}")]
    Secret(String),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What kind of database failure a [`StoreError::Db`] is, for callers that must answer
/// differently (a client error, a retry-later, a bug) without depending on the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// A unique or foreign-key rule refused the write.
    Conflict,
    /// A CHECK or NOT NULL rule refused a value that validation let through.
    Constraint,
    /// The database could not be reached or the pool is exhausted; retrying may work.
    Unavailable,
    /// Anything else.
    Other,
}

impl StoreError {
    /// For [`StoreError::Db`], what kind of failure it is; `None` for other variants.
    pub fn db_failure(&self) -> Option<DbFailure> {
        use sqlx::error::ErrorKind;
        let Self::Db(e) = self else { return None };
        Some(match e {
            sqlx::Error::Database(d) => match d.kind() {
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => DbFailure::Conflict,
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => DbFailure::Constraint,
                _ => DbFailure::Other,
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => DbFailure::Unavailable,
            _ => DbFailure::Other,
        })
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

/// Maps a unique violation to `Conflict { what }` and a foreign-key violation to
/// `Conflict { in_use }`; anything else stays a database error.
pub(crate) fn map_constraint(err: sqlx::Error, unique: &str, foreign: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict {
                what: unique.to_owned(),
            };
        }
        if db.is_foreign_key_violation() {
            return StoreError::Conflict {
                what: foreign.to_owned(),
            };
        }
    }
    StoreError::Db(err)
}
