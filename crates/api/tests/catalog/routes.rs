//! Outbound routes: CRUD and the rule that a route's carrier is its tenant's or an ancestor's.

use serde_json::json;

use super::world::{carrier, create, id_of, ids, world};
use crate::common::Api;

pub async fn routes(api: Api) {
    let w = world(&api).await;
    let root = &api.root;
    let (p_carrier, _) = carrier(&api, root, api.store.platform_id().0, "P").await;
    let (c1, _) = carrier(&api, &w.r1_key, w.r1, "C1").await;
    let (c2, _) = carrier(&api, &w.r2_key, w.r2, "C2").await;
    let r = create(
        &api,
        &w.r1_key,
        "/api/v1/routes",
        json!({"tenant_id": w.a, "prefix": "+49", "carrier_id": c1, "strip": 1,
               "prepend": "00", "priority": 10}),
    )
    .await;
    assert_eq!(
        (
            &r["tenant_id"],
            &r["prefix"],
            &r["strip"],
            &r["prepend"],
            &r["enabled"]
        ),
        (
            &json!(w.a),
            &json!("+49"),
            &json!(1),
            &json!("00"),
            &json!(true)
        )
    );
    let rid = r["id"].as_i64().unwrap();
    let path = format!("/api/v1/routes/{rid}");
    assert_eq!(api.get(&path, &w.a_key).await, (200, r.clone()));
    // A customer routes its own calls through its reseller's or the platform's carriers.
    let own = id_of(
        &api,
        &w.a_key,
        "/api/v1/routes",
        json!({"prefix": "", "carrier_id": p_carrier}),
    )
    .await;
    let (s, _) = api
        .post(
            "/api/v1/routes",
            &w.a_key,
            json!({"prefix": "+1", "carrier_id": c2}),
        )
        .await;
    assert_eq!(s, 404, "another reseller's carrier");
    let (_, list) = api.get("/api/v1/routes", &w.a_key).await;
    assert_eq!(ids(&list), vec![rid, own]);
    let (_, list) = api.get("/api/v1/routes", &w.r2_key).await;
    assert!(ids(&list).is_empty(), "{list}");
    let (_, list) = api
        .get(&format!("/api/v1/routes?carrier_id={c1}"), &w.r1_key)
        .await;
    assert_eq!(ids(&list), vec![rid]);
    let (s, r) = api
        .patch(
            &path,
            &w.r1_key,
            json!({"prefix": "+4930", "strip": 0, "prepend": "", "enabled": false, "carrier_id": p_carrier}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (
            &r["prefix"],
            &r["strip"],
            &r["prepend"],
            &r["enabled"],
            &r["carrier_id"]
        ),
        (
            &json!("+4930"),
            &json!(0),
            &json!(""),
            &json!(false),
            &json!(p_carrier)
        )
    );
    let (s, _) = api
        .post(
            "/api/v1/routes",
            &w.r1_key,
            json!({"tenant_id": w.a, "prefix": "+4930", "carrier_id": p_carrier}),
        )
        .await;
    assert_eq!(s, 409, "same tenant, prefix and carrier");
    // A carrier in use cannot be deleted.
    assert_eq!(
        api.delete(&format!("/api/v1/carriers/{p_carrier}"), root)
            .await
            .0,
        409
    );
    assert_eq!(api.delete(&path, &w.a_key).await.0, 204);
    assert_eq!(api.get(&path, &w.r1_key).await.0, 404);
}
