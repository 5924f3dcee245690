#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! Issue 19 over real HTTP on 127.0.0.x, on SQLite and PostgreSQL: another tenant's names
//! (finding 4), domains that are addresses (finding 1), gateway hosts that are not one host
//! (finding 3), bounded money and 400 for malformed bodies (finding 7), and the per-account
//! login backoff (finding 7).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Api, send};
use serde_json::{Value, json};

on_both_backends!(
    names_of_other_tenants,
    addresses_are_not_domains_or_gateways,
    money_and_malformed_bodies,
    login_backoff_spares_the_users_address,
);

async fn tenant(api: &Api, key: &str, body: Value) -> i64 {
    let (s, t) = api.post("/api/v1/tenants", key, body).await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_i64().unwrap()
}

/// Two resellers, a customer each, a customer admin key each.
async fn two_customers(api: &Api) -> (i64, String, i64, String) {
    let root = &api.root;
    let r1 = tenant(api, root, json!({"kind": "reseller", "name": "R1"})).await;
    let r2 = tenant(api, root, json!({"kind": "reseller", "name": "R2"})).await;
    let a = tenant(
        api,
        root,
        json!({"kind": "customer", "name": "A", "parent_id": r1}),
    )
    .await;
    let b = tenant(
        api,
        root,
        json!({"kind": "customer", "name": "B", "parent_id": r2}),
    )
    .await;
    (a, api.key(a, "admin").await, b, api.key(b, "admin").await)
}

/// Finding 4: creating a domain or DID that another tenant holds answered 409 "already
/// exists"; now it is the 422 any unavailable name gets, naming the field, and nothing about
/// the holder. The holder itself still gets 409.
async fn names_of_other_tenants(api: Api) {
    let (a, a_key, b, b_key) = two_customers(&api).await;
    let (s, p) = api
        .post(
            "/api/v1/domains",
            &a_key,
            json!({"customer_id": a, "name": "acme.example"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, p) = api
        .post(
            "/api/v1/dids",
            &a_key,
            json!({"customer_id": a, "e164": "+4930123456"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");

    let (s, p) = api
        .post(
            "/api/v1/domains",
            &b_key,
            json!({"customer_id": b, "name": "ACME.example."}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("domain.name")), "{p}");
    assert_eq!(p["detail"], json!("\"acme.example\" is not available"));
    let (s, p) = api
        .post(
            "/api/v1/dids",
            &b_key,
            json!({"customer_id": b, "e164": "+4930123456"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("did.e164")), "{p}");
    let text = p.to_string();
    assert!(
        !text.contains("exists") && !text.contains("tenant"),
        "{text}"
    );

    let (s, _) = api
        .post(
            "/api/v1/domains",
            &a_key,
            json!({"customer_id": a, "name": "acme.example"}),
        )
        .await;
    assert_eq!(s, 409);
}

/// Findings 1 and 3: the server's address as a tenant domain let C1 intercept C2's calls;
/// gateways accepted multicast, broadcast and unspecified addresses.
async fn addresses_are_not_domains_or_gateways(api: Api) {
    let (a, a_key, _, _) = two_customers(&api).await;
    for name in [
        "127.0.0.70",
        "::1",
        "[::1]",
        "localhost",
        "x.localhost",
        "pbx",
    ] {
        let (s, p) = api
            .post(
                "/api/v1/domains",
                &a_key,
                json!({"customer_id": a, "name": name}),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some("domain.name")),
            "{name}: {p}"
        );
    }
    let root = &api.root;
    let (s, c) = api
        .post(
            "/api/v1/carriers",
            root,
            json!({"tenant_id": 1, "name": "Up", "auth_mode": "ip"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let carrier = c["id"].as_i64().unwrap();
    for host in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
        let (s, p) = api
            .post(
                "/api/v1/gateways",
                root,
                json!({"carrier_id": carrier, "host": host}),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some("gateway.host")),
            "{host}: {p}"
        );
    }
}

/// Finding 7: `price_per_min = i64::MAX` was accepted; a wrong type answered 422 where the
/// docs say 400.
async fn money_and_malformed_bodies(api: Api) {
    let root = &api.root;
    let (s, t) = api
        .post(
            "/api/v1/rate-tables",
            root,
            json!({"tenant_id": 1, "name": "Retail", "currency": "EUR"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let table = t["id"].as_i64().unwrap();
    let max = trunkline_store::MAX_MONEY;
    let rate = |prefix: &str, price: i64, fee: i64| json!({"rate_table_id": table, "prefix": prefix, "price_per_min": price, "connect_fee": fee});
    let (s, p) = api.post("/api/v1/rates", root, rate("49", max, max)).await;
    assert_eq!(s, 201, "{p}");
    for (body, field) in [
        (rate("491", i64::MAX, 0), "rate.price_per_min"),
        (rate("492", max + 1, 0), "rate.price_per_min"),
        (rate("493", 0, max + 1), "rate.connect_fee"),
        (rate("494", -1, 0), "rate.price_per_min"),
    ] {
        let (s, p) = api.post("/api/v1/rates", root, body).await;
        assert_eq!((s, p["field"].as_str()), (422, Some(field)), "{p}");
    }
    for body in [
        json!({"kind": "reseller", "name": 5}),
        json!({"kind": "reseller"}),
        json!({"kind": "reseller", "name": "X", "bogus": 1}),
        json!(["reseller", "X"]),
    ] {
        let (s, p) = api.post("/api/v1/tenants", root, body.clone()).await;
        assert_eq!(s, 400, "{body}: {p}");
    }
}

fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .unwrap()
}

async fn login(api: &Api, client: &reqwest::Client, password: &str) -> u16 {
    let url = format!("{}/api/v1/auth/login", api.base);
    let body = json!({"login": "alice@a.test", "password": password});
    send(client.post(url).json(&body)).await.0
}

/// Finding 7: bans were per address only. Guesses from many addresses (each under its own
/// ban) now slow the account down: even the right password waits from a new address. The
/// address Alice logged in from before is never slowed, so the guesser cannot lock her out.
async fn login_backoff_spares_the_users_address(api: Api) {
    let (a, _, _, _) = two_customers(&api).await;
    let (s, p) = api
        .post(
            "/api/v1/accounts",
            &api.root,
            json!({"tenant_id": a, "login": "alice@a.test", "password": "correct horse", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let office = from([127, 0, 0, 2]);
    assert_eq!(login(&api, &office, "correct horse").await, 200);
    for n in 0..6u8 {
        assert_eq!(login(&api, &from([127, 0, 1, n]), "guess").await, 401);
    }
    assert_eq!(
        login(&api, &from([127, 0, 2, 1]), "correct horse").await,
        429,
        "a new address waits"
    );
    assert_eq!(login(&api, &office, "correct horse").await, 200);
}
