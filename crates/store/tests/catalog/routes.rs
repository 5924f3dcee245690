//! Outbound routes: CRUD, the carrier-ownership rule, isolation.

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn routes_crud_and_carrier_rule(store: Store) {
    let w = world(&store).await;
    let pc = carrier(&store, w.p, "Platform trunk").await;
    let c1 = carrier(&store, w.r1, "R1 trunk").await;
    let c2 = carrier(&store, w.r2, "R2 trunk").await;
    // Platform routes use platform carriers.
    let pr = route(&store, w.p, "", pc.id).await;
    assert_eq!(
        (
            pr.tenant_id,
            pr.prefix.as_str(),
            pr.carrier_id,
            pr.priority,
            pr.strip,
            pr.prepend.as_str(),
            pr.enabled
        ),
        (w.p, "", pc.id, 0, 0, "", true)
    );
    not_found(
        store
            .create_route(&admin(), &new_route(w.p, "+1", c1.id))
            .await,
    );
    // A reseller's routes use its own or the platform's carriers, never another reseller's.
    let r1_ctx = Ctx::new(Scope::Reseller(w.r1), "reseller-1");
    let mut new = new_route(w.r1, "+49", c1.id);
    new.priority = 7;
    new.strip = 1;
    new.prepend = RoutePrepend::parse("00").unwrap();
    let r = store.create_route(&r1_ctx, &new).await.unwrap();
    assert_eq!((r.priority, r.strip, r.prepend.as_str()), (7, 1, "00"));
    assert_eq!(r.rewrite("+4930123"), "004930123");
    store
        .create_route(&r1_ctx, &new_route(w.r1, "+49", pc.id))
        .await
        .unwrap();
    not_found(
        store
            .create_route(&r1_ctx, &new_route(w.r1, "+44", c2.id))
            .await,
    );
    not_found(
        store
            .create_route(&admin(), &new_route(w.r1, "+44", c2.id))
            .await,
    );
    // A customer's routes use its reseller's or the platform's carriers.
    let a_ctx = Ctx::new(Scope::Customer(w.a), "customer-a");
    let ar = store
        .create_route(&a_ctx, &new_route(w.a, "+4930", c1.id))
        .await
        .unwrap();
    store
        .create_route(&a_ctx, &new_route(w.a, "+4930", pc.id))
        .await
        .unwrap();
    not_found(
        store
            .create_route(&a_ctx, &new_route(w.a, "+44", c2.id))
            .await,
    );
    // Customer C sits directly under the platform: R1's carriers are not its ancestors'.
    not_found(
        store
            .create_route(&admin(), &new_route(w.c, "+44", c1.id))
            .await,
    );
    store
        .create_route(&admin(), &new_route(w.c, "+44", pc.id))
        .await
        .unwrap();
    // Same tenant, prefix and carrier twice conflicts.
    conflict(store.create_route(&r1_ctx, &new).await);
    // Read, filter, update.
    assert_eq!(store.get_route(P, r.id).await.unwrap(), r);
    let via_c1 = store
        .list_routes(
            P,
            RouteFilter {
                carrier_id: Some(c1.id),
                ..RouteFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        via_c1.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![r.id, ar.id]
    );
    let update = RouteUpdate {
        prefix: Some(RoutePrefix::parse("+491").unwrap()),
        carrier_id: Some(pc.id),
        priority: Some(1),
        strip: Some(0),
        prepend: Some(RoutePrepend::parse("").unwrap()),
        enabled: Some(false),
    };
    let changed = store.update_route(&r1_ctx, r.id, &update).await.unwrap();
    assert_eq!(
        (
            changed.prefix.as_str(),
            changed.carrier_id,
            changed.priority,
            changed.strip,
            changed.prepend.as_str(),
            changed.enabled
        ),
        ("+491", pc.id, 1, 0, "", false)
    );
    // Re-pointing at a foreign carrier is refused like creating.
    let foreign = RouteUpdate {
        carrier_id: Some(c2.id),
        ..RouteUpdate::default()
    };
    not_found(store.update_route(&r1_ctx, r.id, &foreign).await);
    not_found(store.update_route(&a_ctx, ar.id, &foreign).await);
    // Routes hold carriers: they must go first.
    conflict(store.delete_carrier(&admin(), c1.id).await);
    store.delete_route(&a_ctx, ar.id).await.unwrap();
    not_found(store.get_route(P, ar.id).await);
    store.delete_carrier(&admin(), c1.id).await.unwrap();
}

pub(crate) async fn routes_isolation(store: Store) {
    let w = world(&store).await;
    let pc = carrier(&store, w.p, "Platform trunk").await;
    let c1 = carrier(&store, w.r1, "R1 trunk").await;
    let c2 = carrier(&store, w.r2, "R2 trunk").await;
    let pr = route(&store, w.p, "", pc.id).await;
    let r1r = route(&store, w.r1, "+49", c1.id).await;
    let ar = route(&store, w.a, "+4930", c1.id).await;
    let r2r = route(&store, w.r2, "+44", c2.id).await;
    let br = route(&store, w.b, "+44", c2.id).await;
    let ids = |rs: Vec<Route>| rs.iter().map(|r| r.id).collect::<Vec<_>>();
    // Reseller R1 sees its own and its customers' routes.
    let r1 = Scope::Reseller(w.r1);
    assert_eq!(
        ids(store
            .list_routes(r1, RouteFilter::default(), Page::default())
            .await
            .unwrap()),
        vec![r1r.id, ar.id]
    );
    for other in [pr.id, r2r.id, br.id] {
        not_found(store.get_route(r1, other).await);
    }
    let r1_ctx = Ctx::new(r1, "reseller-1");
    let off = RouteUpdate {
        enabled: Some(false),
        ..RouteUpdate::default()
    };
    not_found(store.update_route(&r1_ctx, r2r.id, &off).await);
    not_found(store.update_route(&r1_ctx, pr.id, &off).await);
    not_found(store.delete_route(&r1_ctx, br.id).await);
    not_found(
        store
            .create_route(&r1_ctx, &new_route(w.b, "+1", c1.id))
            .await,
    );
    not_found(
        store
            .create_route(&r1_ctx, &new_route(w.p, "+1", c1.id))
            .await,
    );
    // Customer A sees only its own.
    let a = Scope::Customer(w.a);
    assert_eq!(
        ids(store
            .list_routes(a, RouteFilter::default(), Page::default())
            .await
            .unwrap()),
        vec![ar.id]
    );
    not_found(store.get_route(a, r1r.id).await);
    not_found(store.get_route(a, br.id).await);
    let a_ctx = Ctx::new(a, "customer-a");
    not_found(store.delete_route(&a_ctx, br.id).await);
    not_found(store.update_route(&a_ctx, r1r.id, &off).await);
    not_found(
        store
            .create_route(&a_ctx, &new_route(w.b, "+1", c2.id))
            .await,
    );
    assert!(store.get_route(P, br.id).await.unwrap().enabled);
}
