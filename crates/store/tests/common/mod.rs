//! Runs one async test body against SQLite (a temp file) and PostgreSQL (a fresh schema in the
//! database at `TRUNKLINE_TEST_POSTGRES_URL`, dropped afterwards).

use std::future::Future;

use trunkline_store::Store;
use trunkline_store::testing::{PgSchema, isolated};

pub async fn sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = trunkline_store::testing::sqlite(&path).await;
    let result = isolated(body(store.clone())).await;
    store.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

pub async fn postgres<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store = schema.connect(4).await;
    let result = isolated(body(store.clone())).await;
    store.close().await;
    schema.drop_schema().await;
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
