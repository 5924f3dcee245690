#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! Writes made through one `Store` (another process: the admin CLI, another node) reach the
//! snapshot followed by a second `Store` on the same database through the audit-log tail.

use std::time::{Duration, Instant};

use trunkline_store::testing::{PgSchema, isolated};
use trunkline_store::*;

async fn cross_process(writer: Store, server: Store) {
    let handle = server.start_snapshot().await.unwrap();
    let ctx = Ctx::new(Scope::Platform, "cli");
    let c = writer
        .create_tenant(
            &ctx,
            TenantKind::Customer,
            writer.platform_id(),
            &TenantName::parse("C").unwrap(),
        )
        .await
        .unwrap();
    let d = writer
        .create_domain(&ctx, c.id, &DomainName::parse("x.test").unwrap())
        .await
        .unwrap();
    let mut samples = Vec::new();
    for i in 0..10 {
        let name = format!("{}", 3000 + i);
        let new = NewUser::new(
            d.id,
            Username::parse(&name).unwrap(),
            Password::parse("secret-password").unwrap(),
        );
        let started = Instant::now();
        let u = writer.create_user(&ctx, &new).await.unwrap();
        let committed = started.elapsed();
        while handle.load().user("x.test", &name).is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "user {name} never seen"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(started.elapsed());
        assert_eq!(handle.load().user("x.test", &name).unwrap().id, u.id);
        assert!(committed <= started.elapsed());
    }
    samples.sort();
    println!(
        "cross-process write→visible on {:?}: median {:?}, max {:?} (tail interval 200 ms)",
        server.backend(),
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
    // Updates, DIDs and deletes too.
    let u = writer
        .list_users(Scope::Platform, None, Page::default())
        .await
        .unwrap()[0]
        .clone();
    let e164 = E164::parse("+4930555000").unwrap();
    writer
        .create_did(&ctx, c.id, &e164, Some(u.id))
        .await
        .unwrap();
    writer
        .update_user(
            &ctx,
            u.id,
            &UserUpdate {
                enabled: Some(false),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    wait(&handle, |s| {
        s.did("+4930555000")
            .is_some_and(|d| d.user_id == Some(u.id))
            && s.user("x.test", &u.username).is_some_and(|x| !x.enabled)
    })
    .await;
    writer.delete_user(&ctx, u.id).await.unwrap();
    wait(&handle, |s| {
        s.user("x.test", &u.username).is_none()
            && s.did("+4930555000").is_some_and(|d| d.user_id.is_none())
    })
    .await;
}

async fn wait(handle: &SnapshotHandle, what: impl Fn(&Snapshot) -> bool) {
    let started = Instant::now();
    while !what(&handle.load()) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "change never seen"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cross_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let a = Store::connect(path.to_str().unwrap()).await.unwrap();
    let b = Store::connect(path.to_str().unwrap()).await.unwrap();
    cross_process(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cross_process() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let a = schema.connect(2).await;
    let b = schema.connect(2).await;
    let result = isolated(cross_process(a.clone(), b.clone())).await;
    a.close().await;
    b.close().await;
    schema.drop_schema().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
