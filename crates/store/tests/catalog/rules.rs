//! Rules every catalog entity follows: pagination, validation, secrets, audit.

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn pagination(store: Store) {
    let w = world(&store).await;
    let t = rate_table(&store, w.r1, "R1 retail").await;
    let t2 = rate_table(&store, w.r2, "R2 retail").await;
    let mut devices = Vec::new();
    let mut rates = Vec::new();
    for i in 0..25 {
        devices.push(
            store
                .create_device(&admin(), &device(w.a, &format!("Phone {i}"), None))
                .await
                .unwrap()
                .id,
        );
        // Interleave another tenant's rows, which must never show up in these pages.
        store
            .create_device(&admin(), &device(w.b, &format!("Phone {i}"), None))
            .await
            .unwrap();
        rates.push(rate(&store, t.id, &format!("{}", 100 + i), i).await.id);
        rate(&store, t2.id, &format!("{}", 100 + i), i).await;
    }
    let a = Scope::Customer(w.a);
    let mut seen = Vec::new();
    let mut page = Page::first(10);
    loop {
        let rows = store
            .list_devices(a, DeviceFilter::default(), page)
            .await
            .unwrap();
        assert!(rows.len() <= 10);
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id.get(), 10);
        seen.extend(rows.iter().map(|d| d.id));
    }
    assert_eq!(seen, devices);
    let r1 = Scope::Reseller(w.r1);
    let mut seen = Vec::new();
    let mut page = Page::first(7);
    loop {
        let rows = store
            .list_rates(r1, RateFilter::default(), page)
            .await
            .unwrap();
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id.get(), 7);
        seen.extend(rows.iter().map(|r| r.id));
    }
    assert_eq!(seen, rates);
    for bad in [0, 1001] {
        invalid(
            store
                .list_carriers(P, CarrierFilter::default(), Page::first(bad))
                .await,
            "page.limit",
        );
        invalid(
            store
                .list_routes(P, RouteFilter::default(), Page::first(bad))
                .await,
            "page.limit",
        );
    }
}

pub(crate) async fn validation_names_the_field(store: Store) {
    let w = world(&store).await;
    invalid(DeviceName::parse(""), "device.name");
    invalid(MacAddress::parse("not a mac"), "device.mac");
    invalid(DeviceModel::parse(&"m".repeat(101)), "device.model");
    invalid(CarrierName::parse(&"c".repeat(101)), "carrier.name");
    invalid(CarrierUsername::parse("has space"), "carrier.username");
    invalid(CarrierPassword::parse(""), "carrier.password");
    invalid(CarrierRealm::parse(""), "carrier.realm");
    invalid(GatewayHost::parse("1.2.3.999"), "gateway.host");
    invalid(Transport::parse("sctp"), "gateway.transport");
    invalid(RoutePrefix::parse("+49x"), "route.prefix");
    invalid(RoutePrepend::parse("0+0"), "route.prepend");
    invalid(RateTableName::parse(" "), "rate_table.name");
    invalid(Currency::parse("EURO"), "rate_table.currency");
    invalid(RatePrefix::parse(""), "rate.prefix");
    invalid(RateDescription::parse(&"d".repeat(201)), "rate.description");
    // Ranges checked at write time.
    let pc = carrier(&store, w.p, "Platform trunk").await;
    let mut r = new_route(w.p, "+1", pc.id);
    r.strip = 21;
    invalid(store.create_route(&admin(), &r).await, "route.strip");
    let t = rate_table(&store, w.p, "Default").await;
    let prefix = RatePrefix::parse("1").unwrap();
    let mut bad = NewRate::new(t.id, prefix.clone(), -1);
    invalid(
        store.create_rate(&admin(), &bad).await,
        "rate.price_per_min",
    );
    bad = NewRate::new(t.id, prefix.clone(), 1);
    bad.connect_fee = -1;
    invalid(store.create_rate(&admin(), &bad).await, "rate.connect_fee");
    bad = NewRate::new(t.id, prefix.clone(), 1);
    bad.initial_increment_s = 0;
    invalid(
        store.create_rate(&admin(), &bad).await,
        "rate.initial_increment_s",
    );
    bad = NewRate::new(t.id, prefix.clone(), 1);
    bad.increment_s = 3601;
    invalid(store.create_rate(&admin(), &bad).await, "rate.increment_s");
    let ok = rate(&store, t.id, "1", 1).await;
    invalid(
        store
            .update_rate(
                &admin(),
                ok.id,
                &RateUpdate {
                    price_per_min: Some(-5),
                    ..RateUpdate::default()
                },
            )
            .await,
        "rate.price_per_min",
    );
    // Free text with SQL in it is stored verbatim.
    let nasty = "'; DROP TABLE carriers; --";
    let c = carrier(&store, w.p, nasty).await;
    assert_eq!(store.get_carrier(P, c.id).await.unwrap().name, nasty);
    assert_eq!(
        store
            .list_carriers(P, CarrierFilter::default(), Page::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

pub(crate) async fn carrier_passwords_never_leak(store: Store) {
    const SECRET: &str = "Very-Secret-Carrier-Pass";
    const SECRET2: &str = "Second-Secret-Pass";
    let w = world(&store).await;
    let handle = store.start_snapshot().await.unwrap();
    let mut feed = store.subscribe();
    let new = NewCarrier::new(
        w.r1,
        CarrierName::parse("R1 trunk").unwrap(),
        credentials("r1user", SECRET),
    );
    assert!(!format!("{new:?}").contains(SECRET));
    let c = store.create_carrier(&admin(), &new).await.unwrap();
    let g = gateway(&store, c.id, "192.0.2.7").await;
    route(&store, w.a, "+49", c.id).await;
    let update = CarrierUpdate {
        auth: Some(credentials("r1user", SECRET2)),
        ..CarrierUpdate::default()
    };
    assert!(!format!("{update:?}").contains(SECRET2));
    let c2 = store.update_carrier(&admin(), c.id, &update).await.unwrap();
    for text in [
        format!("{c:?}"),
        format!("{c2:?}"),
        format!("{:?}", store.get_carrier(P, c.id).await.unwrap()),
        format!(
            "{:?}",
            store
                .list_carriers(P, CarrierFilter::default(), Page::default())
                .await
                .unwrap()
        ),
        format!("{:?}", feed.recv().await.unwrap()),
    ] {
        assert!(!text.contains(SECRET) && !text.contains(SECRET2), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
    wait_for(&handle, |s| {
        s.routes_for(w.a, "+4930")
            .first()
            .is_some_and(|t| t.carrier.auth == credentials("r1user", SECRET2))
    })
    .await;
    let snap = handle.load();
    let targets = snap.routes_for(w.a, "+4930");
    for text in [format!("{snap:?}"), format!("{targets:?}")] {
        assert!(!text.contains(SECRET) && !text.contains(SECRET2), "{text}");
    }
    let _ = g;
    // The audit trail records that a password was set, never what it is.
    let all = store.list_audit(P, Page::first(1000)).await.unwrap();
    let carrier_rows: Vec<_> = all.iter().filter(|e| e.entity == "carrier").collect();
    assert_eq!(carrier_rows.len(), 2);
    for e in &all {
        assert!(
            !e.detail.contains(SECRET) && !e.detail.contains(SECRET2),
            "{e:?}"
        );
    }
    assert!(
        carrier_rows
            .iter()
            .all(|e| e.detail.contains("password set"))
    );
}

pub(crate) async fn catalog_audit(store: Store) {
    let w = world(&store).await;
    let before = store.list_audit(P, Page::first(1000)).await.unwrap().len();
    let d = store
        .create_device(&admin(), &device(w.a, "Phone", Some("aabbccddeeff")))
        .await
        .unwrap();
    let c = carrier(&store, w.r1, "R1 trunk").await;
    let g = gateway(&store, c.id, "192.0.2.1").await;
    let r = route(&store, w.a, "+49", c.id).await;
    let t = rate_table(&store, w.r1, "R1 retail").await;
    let rt = rate(&store, t.id, "49", 1).await;
    store
        .set_tenant_rate_table(&admin(), w.a, Some(t.id))
        .await
        .unwrap();
    let ctx = Ctx::new(Scope::Reseller(w.r1), "apikey:9");
    store.delete_rate(&ctx, rt.id).await.unwrap();
    store.delete_route(&ctx, r.id).await.unwrap();
    store.delete_gateway(&ctx, g.id).await.unwrap();
    store.delete_device(&ctx, d.id).await.unwrap();
    let all = store.list_audit(P, Page::first(1000)).await.unwrap();
    let rows: Vec<_> = all[before..]
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.entity.as_str(),
                e.entity_id,
                e.tenant_id,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("create", "device", d.id.get(), w.a),
            ("create", "carrier", c.id.get(), w.r1),
            ("create", "gateway", g.id.get(), w.r1),
            ("create", "route", r.id.get(), w.a),
            ("create", "rate_table", t.id.get(), w.r1),
            ("create", "rate", rt.id.get(), w.r1),
            ("update", "tenant", w.a.get(), w.a),
            ("delete", "rate", rt.id.get(), w.r1),
            ("delete", "route", r.id.get(), w.a),
            ("delete", "gateway", g.id.get(), w.r1),
            ("delete", "device", d.id.get(), w.a),
        ]
    );
    assert!(all[before + 7..].iter().all(|e| e.actor == "apikey:9"));
    // R2 sees none of it.
    assert!(
        store
            .list_audit(Scope::Reseller(w.r2), Page::first(1000))
            .await
            .unwrap()
            .iter()
            .all(|e| e.tenant_id == w.r2 || e.tenant_id == w.b)
    );
}
