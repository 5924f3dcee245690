//! Bad input named by field, pagination, and the OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use super::world::{carrier, id_of, ids, world};
use crate::common::{Api, send};

pub async fn catalog_bad_input(api: Api) {
    let w = world(&api).await;
    let root = &api.root;
    let (c1, g1) = carrier(&api, root, w.r1, "C1").await;
    let t1 = id_of(
        &api,
        root,
        "/api/v1/rate-tables",
        json!({"tenant_id": w.r1, "name": "T", "currency": "EUR"}),
    )
    .await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/devices",
            json!({"customer_id": w.a, "name": "  "}),
            "device.name",
        ),
        (
            "/api/v1/devices",
            json!({"customer_id": w.a, "name": "x", "mac": "aa:bb"}),
            "device.mac",
        ),
        (
            "/api/v1/devices",
            json!({"customer_id": w.a, "name": "x", "model": "m".repeat(101)}),
            "device.model",
        ),
        (
            "/api/v1/devices",
            json!({"customer_id": w.r1, "name": "x"}),
            "customer_id",
        ),
        (
            "/api/v1/devices",
            json!({"customer_id": w.a, "name": "x", "serial": 1}),
            "serial",
        ),
        (
            "/api/v1/carriers",
            json!({"tenant_id": w.a, "name": "x", "auth_mode": "ip"}),
            "carrier.tenant_id",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "digest"}),
            "auth_mode",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "ip", "username": "u"}),
            "carrier.username",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "ip", "password": "p4ssword"}),
            "carrier.password",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "credentials", "password": "p4ssword"}),
            "carrier.username",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "credentials", "username": "u"}),
            "carrier.password",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "credentials", "username": "a b", "password": "p4ssword"}),
            "carrier.username",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "ip", "max_channels": -1}),
            "max_channels",
        ),
        (
            "/api/v1/carriers",
            json!({"name": "x", "auth_mode": "ip", "has_password": true}),
            "has_password",
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "1.2.3.400"}),
            "gateway.host",
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "h.example", "port": 0}),
            "gateway.port",
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "h.example", "port": 65536}),
            "port",
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "h.example", "transport": "sctp"}),
            "transport",
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": "one", "host": "h.example"}),
            "carrier_id",
        ),
        (
            "/api/v1/routes",
            json!({"prefix": "49x", "carrier_id": c1}),
            "route.prefix",
        ),
        (
            "/api/v1/routes",
            json!({"prefix": "+49", "carrier_id": c1, "strip": 21}),
            "route.strip",
        ),
        (
            "/api/v1/routes",
            json!({"prefix": "+49", "carrier_id": c1, "prepend": "#31#"}),
            "route.prepend",
        ),
        ("/api/v1/routes", json!({"carrier_id": c1}), "prefix"),
        (
            "/api/v1/rate-tables",
            json!({"name": "x", "currency": "EURO"}),
            "rate_table.currency",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "+49", "price_per_min": 1}),
            "rate.prefix",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "49", "price_per_min": -1}),
            "rate.price_per_min",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1, "connect_fee": -5}),
            "rate.connect_fee",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1, "increment_s": 0}),
            "rate.increment_s",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1, "initial_increment_s": 3601}),
            "rate.initial_increment_s",
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1.5}),
            "price_per_min",
        ),
    ];
    for (path, body, field) in cases {
        let (s, p) = api.post(path, root, body.clone()).await;
        assert!(s == 400 || s == 422, "{path} {body}: {s} {p}");
        let text = p.to_string();
        assert!(
            text.contains(field),
            "{path} {body}: should name {field}: {text}"
        );
        assert!(
            !text.contains("p4ssword"),
            "secrets are never echoed: {text}"
        );
    }
    // The same rules on PATCH.
    for (path, body, field) in [
        (
            format!("/api/v1/gateways/{g1}"),
            json!({"port": 0}),
            "gateway.port",
        ),
        (
            format!("/api/v1/carriers/{c1}"),
            json!({"auth_mode": "ip", "realm": "r"}),
            "carrier.realm",
        ),
        (
            format!("/api/v1/rate-tables/{t1}"),
            json!({"currency": "E1R"}),
            "rate_table.currency",
        ),
    ] {
        let (s, p) = api.patch(&path, root, body.clone()).await;
        assert_eq!(s, 422, "{path} {body}: {p}");
        assert!(p.to_string().contains(field), "{path}: {p}");
    }
    // A body that does not fit the schema (a value out of its type's range, not an object) is
    // malformed: 400, as docs/provisioning.md and the OpenAPI document say (issue 19).
    let (s, p) = api
        .patch(
            &format!("/api/v1/gateways/{g1}"),
            root,
            json!({"weight": 70000}),
        )
        .await;
    assert_eq!(s, 400, "{p}");
    assert!(p.to_string().contains("weight"), "{p}");
    // Bodies are objects; integral numbers may carry a fraction (JSON Schema's `integer`).
    let (s, p) = send(
        api.req(Method::PATCH, &format!("/api/v1/rate-tables/{t1}"), root)
            .json(&json!([null, "USD"])),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    let (s, g) = api
        .patch(
            &format!("/api/v1/gateways/{g1}"),
            root,
            json!({"port": 5070.0, "weight": 3.0}),
        )
        .await;
    assert_eq!(
        (s, &g["port"], &g["weight"]),
        (200, &json!(5070), &json!(3)),
        "{g}"
    );
    let (s, p) = api
        .patch(
            &format!("/api/v1/gateways/{g1}"),
            root,
            json!({"port": 5070.5}),
        )
        .await;
    assert_eq!(s, 400, "{p}");
    assert!(p.to_string().contains("port"), "{p}");
    for path in [
        "/api/v1/carriers/abc",
        "/api/v1/rates/1.5",
        "/api/v1/devices/99999999999999999999",
    ] {
        assert_eq!(api.get(path, root).await.0, 400, "{path}");
    }
    assert_eq!(
        api.get("/api/v1/devices?mac=zz", root).await.1["field"],
        "device.mac"
    );
    assert_eq!(api.get("/api/v1/carriers?enabled=maybe", root).await.0, 400);
}

pub async fn catalog_pagination(api: Api) {
    let w = world(&api).await;
    let t = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rate-tables",
        json!({"name": "T", "currency": "EUR"}),
    )
    .await;
    for i in 0..23 {
        let body =
            json!({"rate_table_id": t, "prefix": format!("{}", 100 + i), "price_per_min": i});
        id_of(&api, &w.r1_key, "/api/v1/rates", body).await;
        let body = json!({"name": format!("Phone {i}")});
        id_of(&api, &w.a_key, "/api/v1/devices", body).await;
    }
    for base in [
        format!("/api/v1/rates?rate_table_id={t}&"),
        "/api/v1/devices?".to_owned(),
    ] {
        let mut all = Vec::new();
        let mut path = format!("{base}limit=10");
        loop {
            let (s, page) = api.get(&path, &w.r1_key).await;
            assert_eq!(s, 200, "{page}");
            all.extend(ids(&page));
            match page["next_after"].as_i64() {
                Some(after) => path = format!("{base}limit=10&after={after}"),
                None => break,
            }
        }
        assert_eq!(all.len(), 23, "{base}");
        assert!(all.windows(2).all(|p| p[0] < p[1]));
    }
    for path in [
        "/api/v1/carriers?limit=0",
        "/api/v1/routes?limit=1001",
        "/api/v1/devices?mac=aabbccddeeff&limit=0",
    ] {
        let (s, p) = api.get(path, &api.root).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some("page.limit")),
            "{path}"
        );
    }
}

pub async fn catalog_openapi(api: Api) {
    let (s, doc) = send(api.client.get(format!("{}/api/v1/openapi.json", api.base))).await;
    assert_eq!(s, 200);
    for path in [
        "/devices",
        "/devices/{id}",
        "/carriers",
        "/carriers/{id}",
        "/gateways",
        "/gateways/{id}",
        "/routes",
        "/routes/{id}",
        "/rate-tables",
        "/rate-tables/{id}",
        "/rate-tables/{id}/lookup",
        "/rates",
        "/rates/{id}",
        "/tenants/{id}/rate-table",
    ] {
        assert!(doc["paths"][format!("/api/v1{path}")].is_object(), "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["CarrierOut"]["properties"]["password"].is_null());
    assert_eq!(
        schemas["NewCarrierIn"]["properties"]["password"]["writeOnly"],
        true
    );
    let price = &schemas["NewRateIn"]["properties"]["price_per_min"];
    assert_eq!(price["minimum"], 0);
    assert!(
        price["description"]
            .as_str()
            .unwrap()
            .contains("micro-units")
    );
    let port = &schemas["NewGatewayIn"]["properties"]["port"];
    assert_eq!(
        (&port["minimum"], &port["maximum"]),
        (&json!(1), &json!(65535))
    );
    assert_eq!(schemas["TransportIn"]["enum"], json!(["udp", "tcp", "tls"]));
}
