//! Shared fixtures: a tenancy world and builders for catalog rows.

use std::time::{Duration, Instant};

use trunkline_store::*;

pub(crate) const P: Scope = Scope::Platform;

pub(crate) fn admin() -> Ctx {
    Ctx::new(P, "test")
}

pub(crate) fn name(s: &str) -> TenantName {
    TenantName::parse(s).unwrap()
}

/// Platform ─┬─ reseller R1 ── customer A
///           ├─ reseller R2 ── customer B
///           └─ customer C (direct)
pub(crate) struct World {
    pub(crate) p: TenantId,
    pub(crate) r1: TenantId,
    pub(crate) r2: TenantId,
    pub(crate) a: TenantId,
    pub(crate) b: TenantId,
    pub(crate) c: TenantId,
}

pub(crate) async fn world(store: &Store) -> World {
    let p = store.platform_id();
    let ctx = admin();
    let tenant = |kind, parent, n: &'static str| {
        let ctx = ctx.clone();
        let store = store.clone();
        async move {
            store
                .create_tenant(&ctx, kind, parent, &name(n))
                .await
                .unwrap()
                .id
        }
    };
    let r1 = tenant(TenantKind::Reseller, p, "R1").await;
    let r2 = tenant(TenantKind::Reseller, p, "R2").await;
    let a = tenant(TenantKind::Customer, r1, "A").await;
    let b = tenant(TenantKind::Customer, r2, "B").await;
    let c = tenant(TenantKind::Customer, p, "C").await;
    World { p, r1, r2, a, b, c }
}

pub(crate) async fn user(store: &Store, customer: TenantId, domain: &str, n: &str) -> User {
    let d = match store
        .domain_by_name(P, &DomainName::parse(domain).unwrap())
        .await
    {
        Ok(d) => d,
        Err(_) => store
            .create_domain(&admin(), customer, &DomainName::parse(domain).unwrap())
            .await
            .unwrap(),
    };
    let new = NewUser::new(
        d.id,
        Username::parse(n).unwrap(),
        Password::parse("secret1001").unwrap(),
    );
    store.create_user(&admin(), &new).await.unwrap()
}

pub(crate) fn device(customer: TenantId, n: &str, mac: Option<&str>) -> NewDevice {
    let mut d = NewDevice::new(customer, DeviceName::parse(n).unwrap());
    d.mac = mac.map(|m| MacAddress::parse(m).unwrap());
    d
}

pub(crate) fn ip_carrier(tenant: TenantId, n: &str) -> NewCarrier {
    NewCarrier::new(tenant, CarrierName::parse(n).unwrap(), CarrierAuth::Ip)
}

pub(crate) fn credentials(user: &str, password: &str) -> CarrierAuth {
    CarrierAuth::Credentials {
        username: CarrierUsername::parse(user).unwrap(),
        password: CarrierPassword::parse(password).unwrap(),
        realm: Some(CarrierRealm::parse("sip.carrier.example").unwrap()),
    }
}

pub(crate) async fn carrier(store: &Store, tenant: TenantId, n: &str) -> Carrier {
    store
        .create_carrier(&admin(), &ip_carrier(tenant, n))
        .await
        .unwrap()
}

pub(crate) async fn gateway(store: &Store, carrier: CarrierId, host: &str) -> Gateway {
    store
        .create_gateway(
            &admin(),
            &NewGateway::new(carrier, GatewayHost::parse(host).unwrap()),
        )
        .await
        .unwrap()
}

pub(crate) fn new_route(tenant: TenantId, prefix: &str, carrier: CarrierId) -> NewRoute {
    NewRoute::new(tenant, RoutePrefix::parse(prefix).unwrap(), carrier)
}

pub(crate) async fn route(
    store: &Store,
    tenant: TenantId,
    prefix: &str,
    carrier: CarrierId,
) -> Route {
    store
        .create_route(&admin(), &new_route(tenant, prefix, carrier))
        .await
        .unwrap()
}

pub(crate) async fn rate_table(store: &Store, tenant: TenantId, n: &str) -> RateTable {
    store
        .create_rate_table(
            &admin(),
            tenant,
            &RateTableName::parse(n).unwrap(),
            Currency::parse("EUR").unwrap(),
        )
        .await
        .unwrap()
}

pub(crate) async fn rate(store: &Store, table: RateTableId, prefix: &str, price: i64) -> Rate {
    store
        .create_rate(
            &admin(),
            &NewRate::new(table, RatePrefix::parse(prefix).unwrap(), price),
        )
        .await
        .unwrap()
}

pub(crate) fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::NotFound { .. })), "{r:?}");
}

pub(crate) fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
}

pub(crate) fn forbidden<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Forbidden { .. })), "{r:?}");
}

pub(crate) fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &str) {
    match r {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, expected),
        other => panic!("expected Invalid({expected}), got {other:?}"),
    }
}

pub(crate) async fn wait_for(handle: &SnapshotHandle, what: impl Fn(&Snapshot) -> bool) {
    let start = Instant::now();
    while !what(&handle.load()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "snapshot did not catch up"
        );
        tokio::task::yield_now().await;
    }
}

pub(crate) fn route_ids(s: &Snapshot, customer: TenantId, number: &str) -> Vec<RouteId> {
    s.routes_for(customer, number)
        .iter()
        .map(|t| t.route.id)
        .collect()
}
