//! Carriers and gateways: CRUD, and the carrier password that goes in but never comes out.

use serde_json::json;
use trunkline_store::{CarrierAuth, CarrierId, Scope};

use super::world::{create, id_of, ids, world};
use crate::common::Api;

pub async fn carriers_and_gateways(api: Api) {
    let w = world(&api).await;
    let c = create(
        &api,
        &w.r1_key,
        "/api/v1/carriers",
        json!({"name": "Upstream", "auth_mode": "ip", "max_channels": 30}),
    )
    .await;
    assert_eq!(
        (
            &c["tenant_id"],
            &c["auth_mode"],
            &c["has_password"],
            &c["enabled"]
        ),
        (&json!(w.r1), &json!("ip"), &json!(false), &json!(true))
    );
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/carriers/{id}");
    assert_eq!(api.get(&path, &w.r1_key).await, (200, c.clone()));
    let (_, list) = api.get("/api/v1/carriers?enabled=true", &w.r1_key).await;
    assert_eq!(ids(&list), vec![id]);
    let (_, list) = api.get("/api/v1/carriers?enabled=false", &w.r1_key).await;
    assert!(ids(&list).is_empty());
    let (s, c) = api
        .patch(
            &path,
            &w.r1_key,
            json!({"name": "Upstream 2", "enabled": false, "max_channels": null}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (&c["name"], &c["enabled"]),
        (&json!("Upstream 2"), &json!(false))
    );
    assert!(c.get("max_channels").is_none(), "{c}");
    // Duplicate name for the same owner.
    let (s, _) = api
        .post(
            "/api/v1/carriers",
            &w.r1_key,
            json!({"name": "Upstream 2", "auth_mode": "ip"}),
        )
        .await;
    assert_eq!(s, 409);

    // Gateways.
    let g = create(
        &api,
        &w.r1_key,
        "/api/v1/gateways",
        json!({"carrier_id": id, "host": "SIP.Example.COM.", "transport": "tls",
               "priority": 65535}),
    )
    .await;
    assert_eq!(
        (
            &g["host"],
            &g["port"],
            &g["transport"],
            &g["priority"],
            &g["weight"]
        ),
        (
            &json!("sip.example.com"),
            &json!(5060),
            &json!("tls"),
            &json!(65535),
            &json!(1)
        )
    );
    let gid = g["id"].as_i64().unwrap();
    let gpath = format!("/api/v1/gateways/{gid}");
    let other = id_of(
        &api,
        &w.r1_key,
        "/api/v1/gateways",
        json!({"carrier_id": id, "host": "[2001:DB8::1]", "port": 5080}),
    )
    .await;
    let (_, list) = api
        .get(&format!("/api/v1/gateways?carrier_id={id}"), &w.r1_key)
        .await;
    assert_eq!(ids(&list), vec![gid, other]);
    let (_, g6) = api
        .get(&format!("/api/v1/gateways/{other}"), &w.r1_key)
        .await;
    assert_eq!(g6["host"], "2001:db8::1");
    let (s, g) = api
        .patch(
            &gpath,
            &w.r1_key,
            json!({"port": 5061, "transport": "tcp", "enabled": false}),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(
        (&g["port"], &g["transport"], &g["enabled"]),
        (&json!(5061), &json!("tcp"), &json!(false))
    );
    let (s, _) = api
        .post(
            "/api/v1/gateways",
            &w.r1_key,
            json!({"carrier_id": id, "host": "sip.example.com", "port": 5061, "transport": "tcp"}),
        )
        .await;
    assert_eq!(s, 409, "same host, port and transport");
    assert_eq!(api.delete(&gpath, &w.r1_key).await.0, 204);
    assert_eq!(api.get(&gpath, &w.r1_key).await.0, 404);
    // Deleting the carrier deletes its gateways.
    assert_eq!(api.delete(&path, &w.r1_key).await.0, 204);
    assert_eq!(api.get(&path, &w.r1_key).await.0, 404);
    assert_eq!(
        api.get(&format!("/api/v1/gateways/{other}"), &api.root)
            .await
            .0,
        404
    );
}

pub async fn carrier_password_is_write_only(api: Api) {
    let w = world(&api).await;
    const PW: &str = "Very-Secret-Carrier-PW";
    let (s, c) = api
        .post(
            "/api/v1/carriers",
            &w.r1_key,
            json!({"name": "Digest", "auth_mode": "credentials", "username": "acct1",
                   "password": PW, "realm": "sip.carrier.example"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (&c["username"], &c["realm"], &c["has_password"]),
        (&json!("acct1"), &json!("sip.carrier.example"), &json!(true))
    );
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/carriers/{id}");
    let stored = |api: &Api| {
        let store = api.store.clone();
        async move {
            match store.get_carrier(Scope::Platform, CarrierId(id)).await {
                Ok(c) => c.auth,
                Err(e) => panic!("{e}"),
            }
        }
    };
    // A new username keeps the password; a new password replaces it; realm null clears it.
    let mut seen = vec![c];
    let (s, c) = api
        .patch(
            &path,
            &w.r1_key,
            json!({"username": "acct2", "realm": null}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (&c["username"], &c["has_password"]),
        (&json!("acct2"), &json!(true))
    );
    assert!(c.get("realm").is_none(), "{c}");
    let CarrierAuth::Credentials { password, .. } = stored(&api).await else {
        panic!("not a credentials carrier any more");
    };
    assert_eq!(password.expose(), PW);
    seen.push(c);
    let (s, c) = api
        .patch(&path, &w.r1_key, json!({"password": "rotated-secret-pw"}))
        .await;
    assert_eq!(s, 200, "{c}");
    let CarrierAuth::Credentials { password, .. } = stored(&api).await else {
        panic!("not a credentials carrier any more");
    };
    assert_eq!(password.expose(), "rotated-secret-pw");
    seen.push(c);
    seen.push(api.get(&path, &w.r1_key).await.1);
    seen.push(api.get("/api/v1/carriers", &api.root).await.1);
    seen.push(api.get("/api/v1/audit", &api.root).await.1);
    for body in &seen {
        let text = body.to_string();
        assert!(
            !text.contains(PW) && !text.contains("rotated-secret-pw"),
            "the password leaked: {text}"
        );
        assert!(!text.contains("\"password\""), "{text}");
    }
    // Switching to ip drops the credentials; back to credentials needs a password again.
    let (s, c) = api
        .patch(&path, &w.r1_key, json!({"auth_mode": "ip"}))
        .await;
    assert_eq!((s, &c["has_password"]), (200, &json!(false)), "{c}");
    assert!(c.get("username").is_none(), "{c}");
    assert_eq!(stored(&api).await, CarrierAuth::Ip);
    let (s, p) = api
        .patch(
            &path,
            &w.r1_key,
            json!({"auth_mode": "credentials", "username": "acct3"}),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("carrier.password")),
        "{p}"
    );
    let (s, p) = api
        .patch(&path, &w.r1_key, json!({"password": "lonely-password"}))
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("carrier.password")),
        "{p}"
    );
    assert!(!p.to_string().contains("lonely-password"), "{p}");
    let (s, c) = api
        .patch(
            &path,
            &w.r1_key,
            json!({"auth_mode": "credentials", "username": "acct3", "password": "third-secret"}),
        )
        .await;
    assert_eq!((s, &c["has_password"]), (200, &json!(true)), "{c}");
    assert!(!c.to_string().contains("third-secret"));
}
