//! Who may see and change what: tenancy isolation and read-only keys.

use reqwest::Method;
use serde_json::{Value, json};

use super::world::{carrier, id_of, ids, world};
use crate::common::{Api, send};

pub async fn catalog_isolation(api: Api) {
    let w = world(&api).await;
    let (c1, g1) = carrier(&api, &w.r1_key, w.r1, "C1").await;
    let t1 = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rate-tables",
        json!({"name": "R1 retail", "currency": "EUR"}),
    )
    .await;
    let rate1 = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rates",
        json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1}),
    )
    .await;
    let route1 = id_of(
        &api,
        &w.r1_key,
        "/api/v1/routes",
        json!({"prefix": "+1", "carrier_id": c1}),
    )
    .await;
    let dev_a = id_of(
        &api,
        &w.a_key,
        "/api/v1/devices",
        json!({"name": "A phone", "mac": "001122334455"}),
    )
    .await;
    let r1_rows = [
        format!("/api/v1/carriers/{c1}"),
        format!("/api/v1/gateways/{g1}"),
        format!("/api/v1/rate-tables/{t1}"),
        format!("/api/v1/rates/{rate1}"),
        format!("/api/v1/routes/{route1}"),
    ];
    // Reseller R2 can neither see nor change R1's catalog; customers see no carriers or
    // rate tables at all (not even their reseller's).
    for key in [&w.r2_key, &w.a_key, &w.b_key] {
        for path in &r1_rows {
            let (s, body) = api.get(path, key).await;
            assert_eq!(s, 404, "{path}: {body}");
            assert_eq!(api.patch(path, key, json!({})).await.0, 404, "{path}");
            assert_eq!(api.delete(path, key).await.0, 404, "{path}");
        }
        let (s, _) = api
            .get(&format!("/api/v1/rate-tables/{t1}/lookup?number=49"), key)
            .await;
        assert_eq!(s, 404);
        for list in [
            "/api/v1/carriers",
            "/api/v1/gateways",
            "/api/v1/rate-tables",
            "/api/v1/rates",
            "/api/v1/routes",
        ] {
            let (s, body) = api.get(list, key).await;
            assert_eq!((s, ids(&body)), (200, vec![]), "{list}");
        }
    }
    // R2 cannot hang gateways, rates or routes on R1's rows.
    for (path, body) in [
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "198.51.100.1"}),
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "33", "price_per_min": 1}),
        ),
        ("/api/v1/routes", json!({"prefix": "+33", "carrier_id": c1})),
        (
            "/api/v1/carriers",
            json!({"tenant_id": w.r1, "name": "X", "auth_mode": "ip"}),
        ),
    ] {
        assert_eq!(api.post(path, &w.r2_key, body).await.0, 404, "{path}");
    }
    // Customers cannot own carriers, gateways, rate tables or rates.
    for (path, body) in [
        (
            "/api/v1/carriers",
            json!({"name": "Mine", "auth_mode": "ip"}),
        ),
        (
            "/api/v1/gateways",
            json!({"carrier_id": c1, "host": "198.51.100.1"}),
        ),
        (
            "/api/v1/rate-tables",
            json!({"name": "Mine", "currency": "EUR"}),
        ),
        (
            "/api/v1/rates",
            json!({"rate_table_id": t1, "prefix": "33", "price_per_min": 1}),
        ),
    ] {
        assert_eq!(api.post(path, &w.a_key, body).await.0, 403, "{path}");
    }
    // Customer B cannot reach A's devices; R2 neither; R1 and the platform can.
    let dpath = format!("/api/v1/devices/{dev_a}");
    for key in [&w.b_key, &w.r2_key] {
        assert_eq!(api.get(&dpath, key).await.0, 404);
        assert_eq!(api.patch(&dpath, key, json!({"name": "x"})).await.0, 404);
        assert_eq!(api.delete(&dpath, key).await.0, 404);
        let (_, list) = api.get("/api/v1/devices", key).await;
        assert!(ids(&list).is_empty());
        let (_, list) = api.get("/api/v1/devices?mac=001122334455", key).await;
        assert!(ids(&list).is_empty(), "{list}");
        let (s, _) = api
            .post(
                "/api/v1/devices",
                key,
                json!({"customer_id": w.a, "name": "evil"}),
            )
            .await;
        assert_eq!(s, 404);
    }
    for key in [&w.r1_key, &api.root] {
        assert_eq!(api.get(&dpath, key).await.0, 200);
    }
    // The platform sees everything.
    for path in &r1_rows {
        assert_eq!(api.get(path, &api.root).await.0, 200, "{path}");
    }
}

pub async fn read_only_keys(api: Api) {
    let w = world(&api).await;
    let (c1, g1) = carrier(&api, &w.r1_key, w.r1, "C1").await;
    let t1 = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rate-tables",
        json!({"name": "T", "currency": "EUR"}),
    )
    .await;
    let rate = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rates",
        json!({"rate_table_id": t1, "prefix": "49", "price_per_min": 1}),
    )
    .await;
    let route = id_of(
        &api,
        &w.r1_key,
        "/api/v1/routes",
        json!({"tenant_id": w.a, "prefix": "+49", "carrier_id": c1}),
    )
    .await;
    let dev = id_of(&api, &w.a_key, "/api/v1/devices", json!({"name": "Phone"})).await;
    for tenant in [api.store.platform_id().0, w.r1, w.a] {
        let ro = api.key(tenant, "read_only").await;
        assert_eq!(api.get("/api/v1/routes", &ro).await.0, 200);
        assert_eq!(api.get(&format!("/api/v1/devices/{dev}"), &ro).await.0, 200);
        let writes = [
            (
                Method::POST,
                "/api/v1/devices".to_owned(),
                json!({"customer_id": w.a, "name": "x"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/devices/{dev}"),
                json!({"name": "x"}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/devices/{dev}"),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/carriers".to_owned(),
                json!({"name": "x", "auth_mode": "ip"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/carriers/{c1}"),
                json!({"enabled": false}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/carriers/{c1}"),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/gateways".to_owned(),
                json!({"carrier_id": c1, "host": "192.0.2.99"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/gateways/{g1}"),
                json!({"port": 5070}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/gateways/{g1}"),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/routes".to_owned(),
                json!({"prefix": "+1", "carrier_id": c1}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/routes/{route}"),
                json!({"enabled": false}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/routes/{route}"),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/rate-tables".to_owned(),
                json!({"name": "x", "currency": "EUR"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/rate-tables/{t1}"),
                json!({"name": "y"}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/rate-tables/{t1}"),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/rates".to_owned(),
                json!({"rate_table_id": t1, "prefix": "1", "price_per_min": 1}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/rates/{rate}"),
                json!({"price_per_min": 2}),
            ),
            (Method::DELETE, format!("/api/v1/rates/{rate}"), Value::Null),
            (
                Method::PUT,
                format!("/api/v1/tenants/{}/rate-table", w.a),
                json!({"rate_table_id": t1}),
            ),
        ];
        for (method, path, body) in writes {
            let mut req = api.req(method.clone(), &path, &ro);
            if !body.is_null() {
                req = req.json(&body);
            }
            let (s, p) = send(req).await;
            assert_eq!(s, 403, "{tenant} read-only {method} {path}: {p}");
        }
    }
    // Nothing changed.
    let (_, c) = api.get(&format!("/api/v1/carriers/{c1}"), &api.root).await;
    assert_eq!(c["enabled"], true);
    let (_, list) = api.get("/api/v1/devices", &api.root).await;
    assert_eq!(ids(&list), vec![dev]);
}
