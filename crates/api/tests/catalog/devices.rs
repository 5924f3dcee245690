//! Devices: CRUD, MAC normalisation and lookup, assignment to users.

use serde_json::json;

use super::world::{create, ids, world};
use crate::common::Api;

pub async fn devices(api: Api) {
    let w = world(&api).await;
    let d = create(
        &api,
        &w.a_key,
        "/api/v1/devices",
        json!({"name": " Reception ", "mac": "AA:BB:CC:DD:EE:01", "model": "Yealink T54W",
               "user_id": w.a_user}),
    )
    .await;
    assert_eq!(d["customer_id"], w.a, "defaults to the caller's tenant");
    assert_eq!(
        (&d["name"], &d["mac"], &d["user_id"]),
        (
            &json!("Reception"),
            &json!("aabbccddee01"),
            &json!(w.a_user)
        )
    );
    let id = d["id"].as_i64().unwrap();
    let path = format!("/api/v1/devices/{id}");
    assert_eq!(api.get(&path, &w.a_key).await, (200, d.clone()));
    assert_eq!(api.get(&path, &w.r1_key).await.0, 200);
    let (_, list) = api.get("/api/v1/devices", &w.a_key).await;
    assert_eq!(ids(&list), vec![id]);
    for q in [
        "mac=aa-bb-cc-dd-ee-01".to_owned(),
        format!("user_id={}", w.a_user),
        format!("customer_id={}&mac=AABBCCDDEE01", w.a),
    ] {
        let (s, list) = api.get(&format!("/api/v1/devices?{q}"), &api.root).await;
        assert_eq!((s, ids(&list)), (200, vec![id]), "{q}");
    }
    let (_, none) = api
        .get("/api/v1/devices?mac=aabb.ccdd.ee02", &api.root)
        .await;
    assert_eq!(ids(&none), Vec::<i64>::new());
    let (_, none) = api
        .get(
            &format!("/api/v1/devices?mac=aabbccddee01&after={id}"),
            &api.root,
        )
        .await;
    assert_eq!(ids(&none), Vec::<i64>::new());
    // PATCH: null clears, absent stays.
    let (s, d) = api
        .patch(
            &path,
            &w.a_key,
            json!({"model": null, "user_id": null, "name": "Lobby"}),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        (&d["name"], &d["mac"]),
        (&json!("Lobby"), &json!("aabbccddee01"))
    );
    assert!(
        d.get("model").is_none() && d.get("user_id").is_none(),
        "{d}"
    );
    // One MAC platform-wide, and another customer's is "not available" like any name it may
    // not have (issue 19, finding 4); a device can only go to a user of its own customer.
    let (s, p) = api
        .post(
            "/api/v1/devices",
            &w.b_key,
            json!({"name": "Clone", "mac": "aabbccddee01"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("device.mac")), "{p}");
    let (s, _) = api
        .patch(&path, &w.a_key, json!({"user_id": w.b_user}))
        .await;
    assert_eq!(s, 404);
    assert_eq!(api.delete(&path, &w.a_key).await.0, 204);
    assert_eq!(api.get(&path, &w.a_key).await.0, 404);
}
