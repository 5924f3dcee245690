#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! The CDR repository, run on SQLite and on PostgreSQL.

mod cdr_support;
mod common;

use cdr_support::cdr;
use trunkline_store::*;

on_both_backends!(
    insert_get_round_trip,
    idempotent_by_uuid,
    large_batches,
    filters,
    prefix_filters_are_literal,
    pagination,
    customer_isolation,
    reseller_sees_only_its_customers,
    validation_names_the_field,
);

const P: Scope = Scope::Platform;

/// Platform ─┬─ reseller R1 ── customer A
///           └─ reseller R2 ── customer B
struct World {
    r1: TenantId,
    a: TenantId,
    b: TenantId,
}

async fn world(store: &Store) -> World {
    let ctx = Ctx::new(P, "test");
    let mk = async |kind, parent, name: &str| {
        store
            .create_tenant(&ctx, kind, parent, &TenantName::parse(name).unwrap())
            .await
            .unwrap()
            .id
    };
    let r1 = mk(TenantKind::Reseller, store.platform_id(), "R1").await;
    let r2 = mk(TenantKind::Reseller, store.platform_id(), "R2").await;
    let a = mk(TenantKind::Customer, r1, "A").await;
    let b = mk(TenantKind::Customer, r2, "B").await;
    World { r1, a, b }
}

fn all() -> CdrFilter {
    CdrFilter::default()
}

async fn list(store: &Store, scope: Scope, filter: &CdrFilter) -> Vec<Cdr> {
    store
        .list_cdrs(scope, filter, Page::first(1000))
        .await
        .unwrap()
}

async fn insert_get_round_trip(store: Store) {
    let w = world(&store).await;
    let answered = cdr(w.a, 1);
    let mut failed = cdr(w.a, 2);
    failed.user_id = Some(UserId(42));
    failed.leg = Leg::B;
    failed.direction = Direction::Internal;
    failed.answered_at = None;
    failed.disposition = Disposition::Failed;
    failed.sip_code = 503;
    failed.hangup_reason = "no_route".to_owned();
    failed.carrier_id = None;
    failed.rate_prefix = None;
    failed.billed = None;
    failed.currency = None;
    failed.qos = Qos::default();
    failed.recording = Some("/var/lib/trunkline/rec/x.wav".to_owned());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let n = store
        .insert_cdrs(&[answered.clone(), failed.clone()])
        .await
        .unwrap();
    assert_eq!(n, 2);
    let rows = list(&store, P, &all()).await;
    assert_eq!(rows.len(), 2);
    for (row, new) in rows.iter().zip([&answered, &failed]) {
        let got = store.get_cdr(P, row.id).await.unwrap();
        assert_eq!(&got, row);
        let back = NewCdr {
            uuid: got.uuid.clone(),
            customer_id: got.customer_id,
            user_id: got.user_id,
            call_id: got.call_id.clone(),
            leg: got.leg,
            direction: got.direction,
            caller: got.caller.clone(),
            callee: got.callee.clone(),
            started_at: got.started_at,
            answered_at: got.answered_at,
            ended_at: got.ended_at,
            disposition: got.disposition,
            sip_code: got.sip_code,
            hangup_reason: got.hangup_reason.clone(),
            carrier_id: got.carrier_id,
            rate_prefix: got.rate_prefix.clone(),
            billed: got.billed,
            currency: got.currency.clone(),
            qos: got.qos,
            recording: got.recording.clone(),
        };
        assert_eq!(&back, new, "every field survives the round trip");
        assert_eq!(
            (got.duration_ms, got.billsec_ms),
            (new.duration_ms(), new.billsec_ms())
        );
        assert!(got.created_at >= before);
    }
    assert_eq!((rows[0].duration_ms, rows[0].billsec_ms), (62_000, 60_000));
    assert_eq!((rows[1].duration_ms, rows[1].billsec_ms), (62_000, 0));
    assert!(matches!(
        store.get_cdr(P, CdrId(rows[1].id.get() + 1000)).await,
        Err(StoreError::NotFound { entity: "cdr", .. })
    ));
}

async fn idempotent_by_uuid(store: Store) {
    let w = world(&store).await;
    let batch: Vec<NewCdr> = (0..5).map(|i| cdr(w.a, i)).collect();
    assert_eq!(store.insert_cdrs(&batch).await.unwrap(), 5);
    // The same batch again (a journal retry) stores nothing new.
    assert_eq!(store.insert_cdrs(&batch).await.unwrap(), 0);
    // Overlapping batch, and a uuid twice within one batch.
    let mut next = batch[3..].to_vec();
    let fresh = cdr(w.a, 9);
    next.push(fresh.clone());
    next.push(fresh);
    assert_eq!(store.insert_cdrs(&next).await.unwrap(), 1);
    assert_eq!(store.insert_cdrs(&[]).await.unwrap(), 0);
    assert_eq!(list(&store, P, &all()).await.len(), 6);
    // A repeat keeps the first row as it was, even if the copy differs.
    let mut changed = batch[0].clone();
    changed.callee = "+4911".to_owned();
    assert_eq!(store.insert_cdrs(&[changed]).await.unwrap(), 0);
    let first = &list(&store, P, &all()).await[0];
    assert_eq!(first.callee, batch[0].callee);
}

async fn large_batches(store: Store) {
    let w = world(&store).await;
    // More rows than one INSERT statement carries.
    let batch: Vec<NewCdr> = (0..450).map(|i| cdr(w.a, i)).collect();
    assert_eq!(store.insert_cdrs(&batch).await.unwrap(), 450);
    assert_eq!(store.insert_cdrs(&batch).await.unwrap(), 0);
    assert_eq!(cdr_support::stored_uuids(&store).await.len(), 450);
}

async fn filters(store: Store) {
    let w = world(&store).await;
    let mut batch: Vec<NewCdr> = (0..6).map(|i| cdr(w.a, i)).collect();
    batch[1].disposition = Disposition::Busy;
    batch[1].answered_at = None;
    batch[1].sip_code = 486;
    batch[2].user_id = Some(UserId(7));
    batch[3].caller = "+4940555".to_owned();
    batch.push(cdr(w.b, 3));
    store.insert_cdrs(&batch).await.unwrap();
    let callees = |rows: Vec<Cdr>| rows.into_iter().map(|c| c.callee).collect::<Vec<_>>();

    let busy = CdrFilter {
        disposition: Some(Disposition::Busy),
        ..all()
    };
    assert_eq!(callees(list(&store, P, &busy).await), ["+4989000001"]);
    let user = CdrFilter {
        user_id: Some(UserId(7)),
        ..all()
    };
    assert_eq!(callees(list(&store, P, &user).await), ["+4989000002"]);
    let of_b = CdrFilter {
        customer_id: Some(w.b),
        ..all()
    };
    assert_eq!(list(&store, P, &of_b).await[0].customer_id, w.b);
    // Time range on started_at: [from, to).
    let range = CdrFilter {
        customer_id: Some(w.a),
        from_ms: Some(batch[2].started_at),
        to_ms: Some(batch[4].started_at),
        ..all()
    };
    assert_eq!(
        callees(list(&store, P, &range).await),
        ["+4989000002", "+4989000003"]
    );
    let caller = CdrFilter {
        caller_prefix: Some("+4940".to_owned()),
        ..all()
    };
    assert_eq!(callees(list(&store, P, &caller).await), ["+4989000003"]);
    let callee = CdrFilter {
        callee_prefix: Some("+498900000".to_owned()),
        customer_id: Some(w.a),
        disposition: Some(Disposition::Answered),
        ..all()
    };
    assert_eq!(list(&store, P, &callee).await.len(), 5);
    // A filter for another customer's id does not widen a customer's scope.
    assert!(list(&store, Scope::Customer(w.a), &of_b).await.is_empty());
}

async fn prefix_filters_are_literal(store: Store) {
    let w = world(&store).await;
    let mut batch: Vec<NewCdr> = (0..4).map(|i| cdr(w.a, i)).collect();
    batch[0].caller = "100%_x".to_owned();
    batch[1].caller = "100ab".to_owned();
    batch[2].caller = "ABC".to_owned();
    batch[3].caller = "abc'; DROP TABLE cdrs; --".to_owned();
    store.insert_cdrs(&batch).await.unwrap();
    let by = async |p: &str| {
        let f = CdrFilter {
            caller_prefix: Some(p.to_owned()),
            ..all()
        };
        list(&store, P, &f)
            .await
            .into_iter()
            .map(|c| c.caller)
            .collect::<Vec<_>>()
    };
    assert_eq!(by("100%").await, ["100%_x"], "% is not a wildcard");
    assert_eq!(by("100%_").await, ["100%_x"]);
    assert!(by("1_0").await.is_empty(), "_ is not a wildcard");
    assert_eq!(by("100").await.len(), 2);
    assert_eq!(
        by("abc").await,
        ["abc'; DROP TABLE cdrs; --"],
        "case-sensitive"
    );
    assert_eq!(by("abc'; DROP").await.len(), 1);
    assert_eq!(by("").await.len(), 4);
}

async fn pagination(store: Store) {
    let w = world(&store).await;
    for i in 0..25 {
        // Interleave another customer's CDRs, which must never show up in A's pages.
        store
            .insert_cdrs(&[cdr(w.a, i), cdr(w.b, i)])
            .await
            .unwrap();
    }
    let a = Scope::Customer(w.a);
    let mut seen = Vec::new();
    let mut page = Page::first(10);
    loop {
        let rows = store.list_cdrs(a, &all(), page).await.unwrap();
        assert!(rows.len() <= 10);
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id.get(), 10);
        seen.extend(rows.iter().map(|c| (c.customer_id, c.callee.clone())));
    }
    let want: Vec<_> = (0..25).map(|i| (w.a, format!("+4989{i:06}"))).collect();
    assert_eq!(seen, want);
    assert!(matches!(
        store.list_cdrs(a, &all(), Page::first(0)).await,
        Err(StoreError::Invalid {
            field: "page.limit",
            ..
        })
    ));
}

async fn customer_isolation(store: Store) {
    let w = world(&store).await;
    store
        .insert_cdrs(&[cdr(w.a, 1), cdr(w.b, 2)])
        .await
        .unwrap();
    let rows = list(&store, P, &all()).await;
    let (of_a, of_b) = (rows[0].id, rows[1].id);
    let (a, b) = (Scope::Customer(w.a), Scope::Customer(w.b));
    assert_eq!(list(&store, a, &all()).await.len(), 1);
    assert_eq!(list(&store, a, &all()).await[0].customer_id, w.a);
    assert_eq!(list(&store, b, &all()).await[0].customer_id, w.b);
    assert!(store.get_cdr(a, of_a).await.is_ok());
    // Another tenant's CDR looks exactly like one that does not exist.
    assert!(matches!(
        store.get_cdr(a, of_b).await,
        Err(StoreError::NotFound { entity: "cdr", .. })
    ));
    assert!(matches!(
        store.get_cdr(b, of_a).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn reseller_sees_only_its_customers(store: Store) {
    let w = world(&store).await;
    store
        .insert_cdrs(&[cdr(w.a, 1), cdr(w.b, 2), cdr(w.a, 3)])
        .await
        .unwrap();
    let r1 = Scope::Reseller(w.r1);
    let rows = list(&store, r1, &all()).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|c| c.customer_id == w.a));
    let of_b = list(&store, Scope::Customer(w.b), &all()).await[0].id;
    assert!(matches!(
        store.get_cdr(r1, of_b).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(list(&store, P, &all()).await.len(), 3);
}

async fn validation_names_the_field(store: Store) {
    let w = world(&store).await;
    let mut bad = cdr(w.a, 2);
    bad.sip_code = 700;
    // One invalid CDR fails the whole batch before the database is touched.
    let r = store.insert_cdrs(&[cdr(w.a, 1), bad]).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Invalid {
                field: "cdr.sip_code",
                ..
            })
        ),
        "{r:?}"
    );
    let mut long = cdr(w.a, 3);
    long.call_id = "c".repeat(256);
    assert!(matches!(
        store.insert_cdrs(&[long]).await,
        Err(StoreError::Invalid {
            field: "cdr.call_id",
            ..
        })
    ));
    let mut backwards = cdr(w.a, 4);
    backwards.ended_at = backwards.started_at - 1;
    backwards.answered_at = None;
    backwards.disposition = Disposition::Cancelled;
    assert!(matches!(
        store.insert_cdrs(&[backwards]).await,
        Err(StoreError::Invalid {
            field: "cdr.ended_at",
            ..
        })
    ));
    assert!(list(&store, P, &all()).await.is_empty());
    // Limits are inclusive.
    let mut edge = cdr(w.a, 5);
    edge.call_id = "c".repeat(255);
    edge.caller = "é".repeat(128);
    edge.hangup_reason = "r".repeat(64);
    edge.sip_code = 699;
    edge.qos.mos_x100 = Some(500);
    assert_eq!(store.insert_cdrs(&[edge]).await.unwrap(), 1);
}
