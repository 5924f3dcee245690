//! The routing snapshot follows catalog writes.

use std::net::IpAddr;

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn snapshot_follows_routes(store: Store) {
    let w = world(&store).await;
    let pc = carrier(&store, w.p, "Platform trunk").await;
    gateway(&store, pc.id, "192.0.2.1").await;
    // Loaded from the database: a platform catch-all.
    let catch_all = route(&store, w.p, "", pc.id).await;
    let handle = store.start_snapshot().await.unwrap();
    assert_eq!(
        route_ids(&handle.load(), w.a, "+4930123"),
        vec![catch_all.id]
    );

    // Followed from the feed: a reseller carrier with two gateways, routes on three levels.
    let c1 = carrier(&store, w.r1, "R1 trunk").await;
    let mut backup = NewGateway::new(c1.id, GatewayHost::parse("192.0.2.12").unwrap());
    backup.priority = 10;
    let g_backup = store.create_gateway(&admin(), &backup).await.unwrap();
    let g_main = gateway(&store, c1.id, "sip.r1.example").await;
    let mut p49 = new_route(w.p, "+49", pc.id);
    p49.priority = 0;
    let p49 = store.create_route(&admin(), &p49).await.unwrap();
    let mut r49 = new_route(w.r1, "+49", c1.id);
    r49.priority = 5;
    let r49 = store.create_route(&admin(), &r49).await.unwrap();
    let mut a49 = new_route(w.a, "+49", pc.id);
    a49.priority = 9;
    let a49 = store.create_route(&admin(), &a49).await.unwrap();
    let mut r4930 = new_route(w.r1, "+4930", c1.id);
    r4930.strip = 1;
    r4930.prepend = RoutePrepend::parse("00").unwrap();
    let r4930 = store.create_route(&admin(), &r4930).await.unwrap();
    let mut r4930b = new_route(w.r1, "+4930", pc.id);
    r4930b.priority = 1;
    let r4930b = store.create_route(&admin(), &r4930b).await.unwrap();
    wait_for(&handle, |s| route_ids(s, w.a, "+4930123").len() == 6).await;
    let s = handle.load();
    // Longest prefix first; at equal length customer, reseller, platform; then priority.
    assert_eq!(
        route_ids(&s, w.a, "+4930123"),
        vec![r4930.id, r4930b.id, a49.id, r49.id, p49.id, catch_all.id]
    );
    let first = &s.routes_for(w.a, "+4930123")[0];
    assert_eq!(first.carrier.id, c1.id);
    assert_eq!(first.number("+4930123"), "004930123");
    assert_eq!(
        first.gateways.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![g_main.id, g_backup.id],
        "gateways by priority"
    );
    // Customer B (under R2) and C (under the platform) only get the platform's routes; a
    // number that matches no prefix only the catch-all.
    assert_eq!(route_ids(&s, w.b, "+4930123"), vec![p49.id, catch_all.id]);
    assert_eq!(route_ids(&s, w.c, "+4930123"), vec![p49.id, catch_all.id]);
    assert_eq!(route_ids(&s, w.a, "+33123"), vec![catch_all.id]);
    assert_eq!(route_ids(&s, w.a, "4930123"), vec![catch_all.id]);

    // Disabling a route, a carrier or its last gateway takes candidates away; re-enabling
    // brings them back.
    let off = RouteUpdate {
        enabled: Some(false),
        ..RouteUpdate::default()
    };
    store.update_route(&admin(), a49.id, &off).await.unwrap();
    wait_for(&handle, |s| {
        !route_ids(s, w.a, "+4930123").contains(&a49.id)
    })
    .await;
    store
        .update_carrier(
            &admin(),
            c1.id,
            &CarrierUpdate {
                enabled: Some(false),
                ..CarrierUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| {
        route_ids(s, w.a, "+4930123") == vec![r4930b.id, p49.id, catch_all.id]
    })
    .await;
    store
        .update_carrier(
            &admin(),
            c1.id,
            &CarrierUpdate {
                enabled: Some(true),
                ..CarrierUpdate::default()
            },
        )
        .await
        .unwrap();
    store
        .update_gateway(
            &admin(),
            g_main.id,
            &GatewayUpdate {
                enabled: Some(false),
                ..GatewayUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| {
        s.routes_for(w.a, "+4930123")
            .first()
            .is_some_and(|t| t.route.id == r4930.id && t.gateways.len() == 1)
    })
    .await;
    store.delete_gateway(&admin(), g_backup.id).await.unwrap();
    wait_for(&handle, |s| {
        route_ids(s, w.a, "+4930123") == vec![r4930b.id, p49.id, catch_all.id]
    })
    .await;
    // Moving a route to another prefix re-files it.
    store
        .update_route(
            &admin(),
            r4930b.id,
            &RouteUpdate {
                prefix: Some(RoutePrefix::parse("+4989").unwrap()),
                ..RouteUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| {
        route_ids(s, w.a, "+4930123") == vec![p49.id, catch_all.id]
            && route_ids(s, w.a, "+4989123") == vec![r4930b.id, p49.id, catch_all.id]
    })
    .await;
    store.delete_route(&admin(), catch_all.id).await.unwrap();
    wait_for(&handle, |s| route_ids(s, w.a, "+33123").is_empty()).await;
    // A freshly loaded snapshot agrees with the followed one.
    let fresh = store.start_snapshot().await.unwrap().load();
    let followed = handle.load();
    for number in ["+4930123", "+4989123", "+33123", ""] {
        for customer in [w.a, w.b, w.c] {
            assert_eq!(
                fresh.routes_for(customer, number),
                followed.routes_for(customer, number),
                "{number:?} for {customer}"
            );
        }
    }
}

pub(crate) async fn snapshot_trusts_carrier_sources(store: Store) {
    let w = world(&store).await;
    let ip: IpAddr = "192.0.2.50".parse().unwrap();
    let v6: IpAddr = "2001:db8::50".parse().unwrap();
    let handle = store.start_snapshot().await.unwrap();
    let trusted = carrier(&store, w.r1, "IP trunk").await;
    let g = gateway(&store, trusted.id, "192.0.2.50").await;
    gateway(&store, trusted.id, "[2001:DB8::50]").await;
    gateway(&store, trusted.id, "sip.r1.example").await;
    // A credentials carrier's gateways are never trusted sources.
    let cred = store
        .create_carrier(
            &admin(),
            &NewCarrier::new(
                w.r2,
                CarrierName::parse("Digest trunk").unwrap(),
                credentials("u", "password-x"),
            ),
        )
        .await
        .unwrap();
    gateway(&store, cred.id, "192.0.2.60").await;
    wait_for(&handle, |s| s.carrier_by_source(v6).is_some()).await;
    let s = handle.load();
    assert_eq!(s.carrier_by_source(ip).map(|c| c.id), Some(trusted.id));
    assert_eq!(s.carrier_by_source(v6).map(|c| c.id), Some(trusted.id));
    let mapped: IpAddr = "::ffff:192.0.2.50".parse().unwrap();
    assert_eq!(s.carrier_by_source(mapped).map(|c| c.id), Some(trusted.id));
    assert!(s.carrier_by_source("192.0.2.60".parse().unwrap()).is_none());
    assert!(s.carrier_by_source("192.0.2.51".parse().unwrap()).is_none());
    assert_eq!(s.carrier(cred.id).map(|c| c.id), Some(cred.id));
    // Switching the credentials carrier to ip auth makes its gateway trusted.
    store
        .update_carrier(
            &admin(),
            cred.id,
            &CarrierUpdate {
                auth: Some(CarrierAuth::Ip),
                ..CarrierUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| {
        s.carrier_by_source("192.0.2.60".parse().unwrap())
            .is_some_and(|c| c.id == cred.id)
    })
    .await;
    // Disabling the gateway, or the carrier, withdraws the trust.
    store
        .update_gateway(
            &admin(),
            g.id,
            &GatewayUpdate {
                enabled: Some(false),
                ..GatewayUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| s.carrier_by_source(ip).is_none()).await;
    store
        .update_carrier(
            &admin(),
            trusted.id,
            &CarrierUpdate {
                enabled: Some(false),
                ..CarrierUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| s.carrier_by_source(v6).is_none()).await;
    // Re-pointing a gateway moves the trust to the new address.
    store
        .update_gateway(
            &admin(),
            g.id,
            &GatewayUpdate {
                enabled: Some(true),
                host: Some(GatewayHost::parse("192.0.2.70").unwrap()),
                ..GatewayUpdate::default()
            },
        )
        .await
        .unwrap();
    store
        .update_carrier(
            &admin(),
            trusted.id,
            &CarrierUpdate {
                enabled: Some(true),
                ..CarrierUpdate::default()
            },
        )
        .await
        .unwrap();
    wait_for(&handle, |s| {
        s.carrier_by_source("192.0.2.70".parse().unwrap()).is_some()
            && s.carrier_by_source(v6).is_some()
    })
    .await;
    assert!(handle.load().carrier_by_source(ip).is_none());
    // Deleting the carrier removes it and its gateways.
    store.delete_carrier(&admin(), trusted.id).await.unwrap();
    wait_for(&handle, |s| {
        s.carrier_by_source(v6).is_none()
            && s.carrier_by_source("192.0.2.70".parse().unwrap()).is_none()
            && s.carrier(trusted.id).is_none()
    })
    .await;
    let fresh = store.start_snapshot().await.unwrap().load();
    for addr in ["192.0.2.50", "192.0.2.60", "192.0.2.70", "2001:db8::50"] {
        let addr: IpAddr = addr.parse().unwrap();
        assert_eq!(
            fresh.carrier_by_source(addr).map(|c| c.id),
            handle.load().carrier_by_source(addr).map(|c| c.id),
            "{addr}"
        );
    }
}
