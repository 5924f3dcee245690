//! Carriers and gateways: CRUD and isolation between resellers.

use trunkline_store::*;

use crate::fixtures::*;

pub(crate) async fn carriers_crud(store: Store) {
    let w = world(&store).await;
    let ip = carrier(&store, w.p, "Upstream IP").await;
    assert_eq!(
        (
            ip.tenant_id,
            ip.name.as_str(),
            &ip.auth,
            ip.enabled,
            ip.max_channels
        ),
        (w.p, "Upstream IP", &CarrierAuth::Ip, true, None)
    );
    let mut new = NewCarrier::new(
        w.r1,
        CarrierName::parse("R1 trunk").unwrap(),
        credentials("r1user", "s3cret-pass"),
    );
    new.max_channels = Some(30);
    let cred = store.create_carrier(&admin(), &new).await.unwrap();
    assert_eq!(cred.auth.mode(), "credentials");
    assert_eq!(cred.max_channels, Some(30));
    let CarrierAuth::Credentials { password, .. } = &cred.auth else {
        panic!("credentials expected");
    };
    assert_eq!(password.expose(), "s3cret-pass");
    assert_eq!(store.get_carrier(P, cred.id).await.unwrap(), cred);
    // A reseller may create carriers for itself.
    let r1_ctx = Ctx::new(Scope::Reseller(w.r1), "reseller-1");
    let own = store
        .create_carrier(&r1_ctx, &ip_carrier(w.r1, "R1 backup"))
        .await
        .unwrap();
    // Names are unique per owner, not globally.
    conflict(
        store
            .create_carrier(&admin(), &ip_carrier(w.r1, "R1 trunk"))
            .await,
    );
    carrier(&store, w.r2, "R1 trunk").await;
    // Customers own no carriers: refused outright in a customer scope, and invalid as owner.
    let a_ctx = Ctx::new(Scope::Customer(w.a), "customer-a");
    forbidden(
        store
            .create_carrier(&a_ctx, &ip_carrier(w.a, "A trunk"))
            .await,
    );
    invalid(
        store
            .create_carrier(&admin(), &ip_carrier(w.a, "A trunk"))
            .await,
        "carrier.tenant_id",
    );
    // Filters.
    let of_r1 = store
        .list_carriers(
            P,
            CarrierFilter {
                tenant_id: Some(w.r1),
                ..CarrierFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        of_r1.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![cred.id, own.id]
    );
    // Update: switch to ip auth, disable, limit channels, rename.
    let update = CarrierUpdate {
        name: Some(CarrierName::parse("R1 trunk (old)").unwrap()),
        auth: Some(CarrierAuth::Ip),
        enabled: Some(false),
        max_channels: Some(None),
    };
    let changed = store
        .update_carrier(&r1_ctx, cred.id, &update)
        .await
        .unwrap();
    assert_eq!(
        (
            changed.name.as_str(),
            &changed.auth,
            changed.enabled,
            changed.max_channels
        ),
        ("R1 trunk (old)", &CarrierAuth::Ip, false, None)
    );
    let disabled = store
        .list_carriers(
            P,
            CarrierFilter {
                enabled: Some(false),
                ..CarrierFilter::default()
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(disabled, vec![changed.clone()]);
    // And back to credentials.
    let back = CarrierUpdate {
        auth: Some(credentials("again", "another-pass")),
        ..CarrierUpdate::default()
    };
    let again = store
        .update_carrier(&admin(), cred.id, &back)
        .await
        .unwrap();
    assert_eq!(again.auth, credentials("again", "another-pass"));
    // Renaming onto a sibling's name conflicts.
    let clash = CarrierUpdate {
        name: Some(CarrierName::parse("R1 backup").unwrap()),
        ..CarrierUpdate::default()
    };
    conflict(store.update_carrier(&admin(), cred.id, &clash).await);
    // A carrier used by routes cannot be deleted; its gateways go with it otherwise.
    let r = route(&store, w.r1, "+49", own.id).await;
    let g = gateway(&store, own.id, "192.0.2.10").await;
    conflict(store.delete_carrier(&r1_ctx, own.id).await);
    store.delete_route(&r1_ctx, r.id).await.unwrap();
    store.delete_carrier(&r1_ctx, own.id).await.unwrap();
    not_found(store.get_carrier(P, own.id).await);
    not_found(store.get_gateway(P, g.id).await);
}

pub(crate) async fn gateways_crud(store: Store) {
    let w = world(&store).await;
    let c = carrier(&store, w.r1, "R1 trunk").await;
    let g = gateway(&store, c.id, "SIP.Carrier.Example").await;
    assert_eq!(
        (
            g.carrier_id,
            g.host.as_str(),
            g.port,
            g.transport,
            g.priority,
            g.weight,
            g.enabled
        ),
        (
            c.id,
            "sip.carrier.example",
            5060,
            Transport::Udp,
            0,
            1,
            true
        )
    );
    let mut new = NewGateway::new(c.id, GatewayHost::parse("[2001:DB8::10]").unwrap());
    new.port = 5061;
    new.transport = Transport::Tls;
    new.priority = 10;
    new.weight = 65535;
    let g6 = store.create_gateway(&admin(), &new).await.unwrap();
    assert_eq!(
        (
            g6.host.as_str(),
            g6.port,
            g6.transport,
            g6.priority,
            g6.weight
        ),
        ("2001:db8::10", 5061, Transport::Tls, 10, 65535)
    );
    // The same address, port and transport twice is a mistake.
    conflict(store.create_gateway(&admin(), &new).await);
    new.transport = Transport::Tcp;
    store.create_gateway(&admin(), &new).await.unwrap();
    // Port 0 is refused before the database sees it.
    let mut zero = NewGateway::new(c.id, GatewayHost::parse("192.0.2.1").unwrap());
    zero.port = 0;
    invalid(store.create_gateway(&admin(), &zero).await, "gateway.port");
    // Listing by carrier.
    let other = carrier(&store, w.r1, "Other").await;
    gateway(&store, other.id, "192.0.2.99").await;
    let of_c = store
        .list_gateways(
            P,
            GatewayFilter {
                carrier_id: Some(c.id),
            },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(of_c.len(), 3);
    assert!(of_c.iter().all(|x| x.carrier_id == c.id));
    // Update.
    let update = GatewayUpdate {
        host: Some(GatewayHost::parse("192.0.2.20").unwrap()),
        port: Some(5080),
        transport: Some(Transport::Tcp),
        priority: Some(5),
        weight: Some(0),
        enabled: Some(false),
    };
    let r1_ctx = Ctx::new(Scope::Reseller(w.r1), "reseller-1");
    let changed = store.update_gateway(&r1_ctx, g.id, &update).await.unwrap();
    assert_eq!(
        (
            changed.host.as_str(),
            changed.port,
            changed.transport,
            changed.priority,
            changed.weight,
            changed.enabled
        ),
        ("192.0.2.20", 5080, Transport::Tcp, 5, 0, false)
    );
    invalid(
        store
            .update_gateway(
                &admin(),
                g.id,
                &GatewayUpdate {
                    port: Some(0),
                    ..GatewayUpdate::default()
                },
            )
            .await,
        "gateway.port",
    );
    // Customers own no gateways; other resellers do not see them.
    let a_ctx = Ctx::new(Scope::Customer(w.a), "customer-a");
    forbidden(
        store
            .create_gateway(
                &a_ctx,
                &NewGateway::new(c.id, GatewayHost::parse("192.0.2.66").unwrap()),
            )
            .await,
    );
    not_found(store.get_gateway(Scope::Customer(w.a), g.id).await);
    let r2 = Scope::Reseller(w.r2);
    let r2_ctx = Ctx::new(r2, "reseller-2");
    not_found(store.get_gateway(r2, g.id).await);
    assert!(
        store
            .list_gateways(r2, GatewayFilter::default(), Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    not_found(
        store
            .create_gateway(
                &r2_ctx,
                &NewGateway::new(c.id, GatewayHost::parse("192.0.2.66").unwrap()),
            )
            .await,
    );
    not_found(store.update_gateway(&r2_ctx, g.id, &update).await);
    not_found(store.delete_gateway(&r2_ctx, g.id).await);
    // Delete.
    store.delete_gateway(&r1_ctx, g.id).await.unwrap();
    not_found(store.get_gateway(P, g.id).await);
}

pub(crate) async fn carriers_isolation(store: Store) {
    let w = world(&store).await;
    let pc = carrier(&store, w.p, "Platform trunk").await;
    let c1 = carrier(&store, w.r1, "R1 trunk").await;
    let c2 = carrier(&store, w.r2, "R2 trunk").await;
    let r1 = Scope::Reseller(w.r1);
    let r1_ctx = Ctx::new(r1, "reseller-1");
    // R1 sees its own carriers only: not R2's, not the platform's.
    let seen = store
        .list_carriers(r1, CarrierFilter::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(seen.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c1.id]);
    assert!(
        store
            .list_carriers(
                r1,
                CarrierFilter {
                    tenant_id: Some(w.r2),
                    ..CarrierFilter::default()
                },
                Page::default()
            )
            .await
            .unwrap()
            .is_empty()
    );
    not_found(store.get_carrier(r1, c2.id).await);
    not_found(store.get_carrier(r1, pc.id).await);
    let rename = CarrierUpdate {
        name: Some(CarrierName::parse("pwned").unwrap()),
        ..CarrierUpdate::default()
    };
    not_found(store.update_carrier(&r1_ctx, c2.id, &rename).await);
    not_found(store.update_carrier(&r1_ctx, pc.id, &rename).await);
    not_found(store.delete_carrier(&r1_ctx, c2.id).await);
    // Nor can it create carriers for R2 or the platform.
    not_found(
        store
            .create_carrier(&r1_ctx, &ip_carrier(w.r2, "Planted"))
            .await,
    );
    not_found(
        store
            .create_carrier(&r1_ctx, &ip_carrier(w.p, "Planted"))
            .await,
    );
    // Customers see none, not even their reseller's.
    for customer in [w.a, w.c] {
        let s = Scope::Customer(customer);
        assert!(
            store
                .list_carriers(s, CarrierFilter::default(), Page::default())
                .await
                .unwrap()
                .is_empty()
        );
        not_found(store.get_carrier(s, c1.id).await);
        not_found(store.get_carrier(s, pc.id).await);
        let ctx = Ctx::new(s, "customer");
        not_found(store.update_carrier(&ctx, c1.id, &rename).await);
        not_found(store.delete_carrier(&ctx, pc.id).await);
    }
    assert_eq!(store.get_carrier(P, c2.id).await.unwrap(), c2);
}
