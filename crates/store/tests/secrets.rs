#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! Issue 19, finding 2: carrier passwords are sealed at rest. The database file never holds
//! one in plaintext, plaintext left by an older version is sealed at connect, keys rotate, and
//! a wrong or missing key is a clear error.

use std::path::Path;
use std::sync::Arc;

use trunkline_store::testing::PgSchema;
use trunkline_store::{
    CarrierAuth, CarrierName, CarrierPassword, CarrierUsername, ConnectOptions, Ctx, Keyring,
    NewCarrier, Scope, Store, StoreError,
};

const PW: &str = "pw-in-the-clear-4711";
const LEGACY: &str = "legacy-plain-pw-0815";

fn options(keyring: &Arc<Keyring>) -> ConnectOptions {
    ConnectOptions {
        keyring: Some(Arc::clone(keyring)),
        ..ConnectOptions::default()
    }
}

async fn credentials_carrier(store: &Store) -> trunkline_store::CarrierId {
    let auth = CarrierAuth::Credentials {
        username: CarrierUsername::parse("acct").unwrap(),
        password: CarrierPassword::parse(PW).unwrap(),
        realm: None,
    };
    let new = NewCarrier::new(
        store.platform_id(),
        CarrierName::parse("Upstream").unwrap(),
        auth,
    );
    let ctx = Ctx::new(Scope::Platform, "test");
    store.create_carrier(&ctx, &new).await.unwrap().id
}

async fn password(store: &Store, id: trunkline_store::CarrierId) -> Result<String, StoreError> {
    match store.get_carrier(Scope::Platform, id).await?.auth {
        CarrierAuth::Credentials { password, .. } => Ok(password.expose().to_owned()),
        CarrierAuth::Ip => panic!("not a credentials carrier"),
    }
}

/// Every byte the SQLite database keeps on disk: the file, its WAL and its shared memory.
fn on_disk(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Overwrites the stored password of every carrier, as a version before sealing left it.
async fn store_plaintext(url: &str, schema: Option<&str>, value: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    if let Some(schema) = schema {
        let set = format!("SET search_path TO {schema}");
        sqlx::query(&set).execute(&mut c).await.unwrap();
    }
    sqlx::query("UPDATE carriers SET password = $1")
        .bind(value)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_file_never_holds_a_carrier_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trunkline.sqlite");
    let url = db.to_str().unwrap().to_owned();
    let k1 = Arc::new(Keyring::generate().unwrap());

    let store = Store::connect_with(&url, options(&k1)).await.unwrap();
    let id = credentials_carrier(&store).await;
    assert_eq!(password(&store, id).await.unwrap(), PW);
    store.close().await;
    assert!(
        !contains(&on_disk(&db), PW),
        "the password is on disk in plaintext"
    );

    // A database written before sealing: the password in plaintext. Connecting seals it.
    store_plaintext(&format!("sqlite://{url}"), None, LEGACY).await;
    assert!(contains(&on_disk(&db), LEGACY));
    let store = Store::connect_with(&url, options(&k1)).await.unwrap();
    assert_eq!(password(&store, id).await.unwrap(), LEGACY);
    store.close().await;
    assert!(
        !contains(&on_disk(&db), LEGACY),
        "plaintext left after sealing"
    );

    rotate_and_wrong_keys(&url, &k1, id).await;
}

/// Rotation round trip: re-sealed under a new key, readable with it alone; the old key alone
/// and a stranger's key give errors that say what is wrong.
async fn rotate_and_wrong_keys(url: &str, k1: &Arc<Keyring>, id: trunkline_store::CarrierId) {
    let k2 = Arc::new(k1.rotated().unwrap());
    let store = Store::connect_with(url, options(&k2)).await.unwrap();
    assert_eq!(store.reseal_secrets().await.unwrap(), 1);
    assert_eq!(store.reseal_secrets().await.unwrap(), 0, "already current");
    store.close().await;

    let only_k2 = Arc::new(k2.current_only().unwrap());
    let store = Store::connect_with(url, options(&only_k2)).await.unwrap();
    assert_eq!(password(&store, id).await.unwrap(), LEGACY);
    store.close().await;

    let store = Store::connect_with(url, options(k1)).await.unwrap();
    let Err(StoreError::Secret(e)) = password(&store, id).await else {
        panic!("opened without the key it was sealed with");
    };
    assert!(e.contains("k2") && e.contains("not in the keyring"), "{e}");
    store.close().await;

    let stranger = Arc::new(Keyring::generate().unwrap().rotated().unwrap());
    let store = Store::connect_with(url, options(&stranger)).await.unwrap();
    let Err(StoreError::Secret(e)) = password(&store, id).await else {
        panic!("opened with the wrong key");
    };
    assert!(e.contains("key is wrong"), "{e}");
    assert!(!e.contains(LEGACY));
    store.close().await;

    let store = Store::connect(url).await.unwrap();
    let Err(StoreError::Secret(e)) = password(&store, id).await else {
        panic!("opened without any key");
    };
    assert!(e.contains("no secret key"), "{e}");
    store.close().await;
}

#[tokio::test]
async fn postgres_seals_and_rotates() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let k1 = Arc::new(Keyring::generate().unwrap());
    let with = |k: &Arc<Keyring>| ConnectOptions {
        keyring: Some(Arc::clone(k)),
        ..schema.options(2)
    };
    let store = Store::connect_with(schema.url(), with(&k1)).await.unwrap();
    let id = credentials_carrier(&store).await;
    store.close().await;
    let name = schema.options(1).pg_schema.unwrap();
    store_plaintext(schema.url(), Some(&name), LEGACY).await;
    let store = Store::connect_with(schema.url(), with(&k1)).await.unwrap();
    assert_eq!(password(&store, id).await.unwrap(), LEGACY);
    store.close().await;
    let k2 = Arc::new(k1.rotated().unwrap());
    let store = Store::connect_with(schema.url(), with(&k2)).await.unwrap();
    assert_eq!(store.reseal_secrets().await.unwrap(), 1);
    store.close().await;
    let only = Arc::new(k2.current_only().unwrap());
    let store = Store::connect_with(schema.url(), with(&only))
        .await
        .unwrap();
    assert_eq!(password(&store, id).await.unwrap(), LEGACY);
    store.close().await;
    schema.drop_schema().await;
}
