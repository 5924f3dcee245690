//! Test support (feature `testing`, never in the binary): a throw-away PostgreSQL schema for one
//! test, so this crate's and the API's suites share one way to reach the database at
//! `TRUNKLINE_TEST_POSTGRES_URL`: skipped when the variable is unset, a failure when it is set
//! and unreachable.

// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::panic)]

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use rand::Rng as _;
use sqlx::{AnyConnection, Connection as _};

use crate::{ConnectOptions, Keyring, Store};

/// Connect options with a fresh keyring, so the store seals carrier passwords.
pub fn keyed() -> ConnectOptions {
    ConnectOptions {
        keyring: Some(Arc::new(Keyring::generate().expect("a test keyring"))),
        ..ConnectOptions::default()
    }
}

/// A migrated SQLite store at `path` with a fresh keyring.
pub async fn sqlite(path: &std::path::Path) -> Store {
    let url = path.to_str().expect("a UTF-8 path");
    Store::connect_with(url, keyed())
        .await
        .expect("connect to the test SQLite file")
}

/// The variable naming the test database.
pub const PG_ENV: &str = "TRUNKLINE_TEST_POSTGRES_URL";

/// A fresh schema in the test database, dropped by [`PgSchema::drop_schema`].
#[derive(Debug)]
pub struct PgSchema {
    url: String,
    name: String,
    admin: AnyConnection,
    keyring: Arc<Keyring>,
}

impl PgSchema {
    /// Creates a schema with a random name; `None` (with a note on stderr) when [`PG_ENV`] is
    /// unset. Panics when it is set but the database cannot be reached.
    pub async fn create() -> Option<Self> {
        let Ok(url) = std::env::var(PG_ENV) else {
            eprintln!("{PG_ENV} is not set: skipping the PostgreSQL run of this test");
            return None;
        };
        sqlx::any::install_default_drivers();
        let mut admin = AnyConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV}={url} is set but unreachable: {e}"));
        let name = format!("t_{:016x}", rand::rng().random::<u64>());
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE SCHEMA");
        let keyring = Arc::new(Keyring::generate().expect("a test keyring"));
        Some(Self {
            url,
            name,
            admin,
            keyring,
        })
    }

    /// The database URL (the schema is chosen by [`PgSchema::options`], not the URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connect options that put a store in this schema, with a small pool and the schema's
    /// keyring (the same for every store connected to it).
    pub fn options(&self, max_connections: u32) -> ConnectOptions {
        ConnectOptions {
            pg_schema: Some(self.name.clone()),
            max_connections: Some(max_connections),
            keyring: Some(Arc::clone(&self.keyring)),
            ..ConnectOptions::default()
        }
    }

    /// A migrated store in this schema.
    pub async fn connect(&self, max_connections: u32) -> Store {
        Store::connect_with(&self.url, self.options(max_connections))
            .await
            .expect("connect to the test schema")
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(mut self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&mut self.admin)
            .await
            .expect("DROP SCHEMA");
    }
}

/// Runs `body` on its own task so a panic in it still lets the caller clean up; the panic is
/// handed back for [`std::panic::resume_unwind`].
pub async fn isolated<Fut>(body: Fut) -> Result<(), Box<dyn Any + Send>>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(body)
        .await
        .map_err(tokio::task::JoinError::into_panic)
}
