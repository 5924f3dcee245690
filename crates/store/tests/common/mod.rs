//! Runs one async test body against SQLite (a temp file) and PostgreSQL (a fresh schema in the
//! database at `TRUNKLINE_TEST_POSTGRES_URL`, dropped afterwards).

use std::future::Future;

use rand::Rng as _;
use sqlx::Connection as _;
use trunkline_store::{ConnectOptions, Store};

pub const PG_ENV: &str = "TRUNKLINE_TEST_POSTGRES_URL";

pub async fn sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = Store::connect(path.to_str().unwrap()).await.unwrap();
    let result = tokio::spawn(body(store.clone())).await;
    store.close().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

pub async fn postgres<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var(PG_ENV) else {
        eprintln!("{PG_ENV} is not set: skipping the PostgreSQL run of this test");
        return;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("t_{:016x}", rand::rng().random::<u64>());
    let mut admin = sqlx::AnyConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV}={url} is set but unreachable: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = ConnectOptions {
        pg_schema: Some(schema.clone()),
        max_connections: Some(4),
    };
    let connected = Store::connect_with(&url, options).await;
    let result = match connected {
        Ok(store) => {
            let r = tokio::spawn(body(store.clone())).await;
            store.close().await;
            r.map_err(|e| e.into_panic())
        }
        Err(e) => Err(Box::new(format!("connect: {e}")) as Box<dyn std::any::Any + Send>),
    };
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Declares each listed `async fn name(store: Store)` as two tests, `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::postgres(super::$name).await
                }
            )*
        }
    };
}
