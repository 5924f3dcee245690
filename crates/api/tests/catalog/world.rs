//! The catalog tests' shared world (two resellers with a customer each, admin keys for all)
//! and small request helpers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Api, send};

/// Platform ─┬─ reseller R1 ── customer A (domain a.test, user 1001)
///           └─ reseller R2 ── customer B (domain b.test, user 2001)
/// with an admin key for each.
pub struct World {
    pub r1: i64,
    pub r2: i64,
    pub a: i64,
    pub b: i64,
    pub a_user: i64,
    pub b_user: i64,
    pub r1_key: String,
    pub r2_key: String,
    pub a_key: String,
    pub b_key: String,
}

pub async fn create(api: &Api, key: &str, path: &str, body: Value) -> Value {
    let (status, out) = api.post(path, key, body).await;
    assert_eq!(status, 201, "{path}: {out}");
    out
}

pub async fn id_of(api: &Api, key: &str, path: &str, body: Value) -> i64 {
    create(api, key, path, body).await["id"].as_i64().unwrap()
}

pub async fn put(api: &Api, path: &str, key: &str, body: Value) -> (u16, Value) {
    send(api.req(Method::PUT, path, key).json(&body)).await
}

pub async fn world(api: &Api) -> World {
    let root = &api.root;
    let tenant = |kind: &'static str, parent: Option<i64>, name: &'static str| {
        id_of(
            api,
            root,
            "/api/v1/tenants",
            json!({"kind": kind, "parent_id": parent, "name": name}),
        )
    };
    let r1 = tenant("reseller", None, "R1").await;
    let r2 = tenant("reseller", None, "R2").await;
    let a = tenant("customer", Some(r1), "A").await;
    let b = tenant("customer", Some(r2), "B").await;
    let mut users = Vec::new();
    for (customer, domain, username) in [(a, "a.test", "1001"), (b, "b.test", "2001")] {
        let d = id_of(
            api,
            root,
            "/api/v1/domains",
            json!({"customer_id": customer, "name": domain}),
        )
        .await;
        let body = json!({"domain_id": d, "username": username, "password": "password123"});
        users.push(id_of(api, root, "/api/v1/users", body).await);
    }
    World {
        r1,
        r2,
        a,
        b,
        a_user: users[0],
        b_user: users[1],
        r1_key: api.key(r1, "admin").await,
        r2_key: api.key(r2, "admin").await,
        a_key: api.key(a, "admin").await,
        b_key: api.key(b, "admin").await,
    }
}

pub fn ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

/// A credentials carrier of `owner` with one gateway; returns (carrier, gateway).
pub async fn carrier(api: &Api, key: &str, owner: i64, name: &str) -> (i64, i64) {
    let c = id_of(
        api,
        key,
        "/api/v1/carriers",
        json!({"tenant_id": owner, "name": name, "auth_mode": "credentials",
               "username": "trunk", "password": "carrier-secret-pw"}),
    )
    .await;
    let g = id_of(
        api,
        key,
        "/api/v1/gateways",
        json!({"carrier_id": c, "host": "192.0.2.10"}),
    )
    .await;
    (c, g)
}
