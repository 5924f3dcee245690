//! Rate tables, rates, the longest-prefix lookup and a customer's rate table.

use serde_json::{Value, json};

use super::world::{create, id_of, ids, put, world};
use crate::common::Api;

pub async fn rate_tables_and_rates(api: Api) {
    let w = world(&api).await;
    let t = create(
        &api,
        &w.r1_key,
        "/api/v1/rate-tables",
        json!({"name": "Retail", "currency": "eur"}),
    )
    .await;
    assert_eq!(
        (&t["tenant_id"], &t["currency"]),
        (&json!(w.r1), &json!("EUR"))
    );
    let tid = t["id"].as_i64().unwrap();
    let tpath = format!("/api/v1/rate-tables/{tid}");
    assert_eq!(api.get(&tpath, &w.r1_key).await, (200, t.clone()));
    let (s, t) = api
        .patch(
            &tpath,
            &w.r1_key,
            json!({"name": "Retail 2026", "currency": "usd"}),
        )
        .await;
    assert_eq!(
        (s, &t["name"], &t["currency"]),
        (200, &json!("Retail 2026"), &json!("USD"))
    );
    let mut rates = Vec::new();
    for (prefix, price) in [("49", 10_000), ("4930", 5_000), ("491", 20_000)] {
        let r = create(
            &api,
            &w.r1_key,
            "/api/v1/rates",
            json!({"rate_table_id": tid, "prefix": prefix, "price_per_min": price,
                   "description": format!("to {prefix}")}),
        )
        .await;
        assert_eq!(
            (
                &r["connect_fee"],
                &r["initial_increment_s"],
                &r["increment_s"]
            ),
            (&json!(0), &json!(60), &json!(60))
        );
        rates.push(r["id"].as_i64().unwrap());
    }
    // The longest prefix wins; a `+` is ignored.
    for (number, prefix) in [
        ("%2B4930123456", Some("4930")),
        ("4915112345", Some("491")),
        ("494012345", Some("49")),
        ("3312345", None),
    ] {
        let (s, m) = api
            .get(&format!("{tpath}/lookup?number={number}"), &w.r1_key)
            .await;
        assert_eq!(s, 200, "{number}: {m}");
        assert_eq!(m["rate"]["prefix"].as_str(), prefix, "{number}: {m}");
    }
    let (s, p) = api
        .get(&format!("{tpath}/lookup?number=49abc"), &w.r1_key)
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("number")), "{p}");
    assert_eq!(
        api.get(&format!("{tpath}/lookup"), &w.r1_key).await.0,
        400,
        "number is required"
    );
    assert_eq!(
        api.get("/api/v1/rate-tables/999999/lookup?number=49", &w.r1_key)
            .await
            .0,
        404
    );
    // Rates: list by table, change, clear the description, delete.
    let (_, list) = api
        .get(&format!("/api/v1/rates?rate_table_id={tid}"), &w.r1_key)
        .await;
    assert_eq!(ids(&list), rates);
    let rpath = format!("/api/v1/rates/{}", rates[0]);
    let (s, r) = api
        .patch(
            &rpath,
            &w.r1_key,
            json!({"description": null, "price_per_min": 12_000, "connect_fee": 50_000,
                   "initial_increment_s": 30, "increment_s": 6}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (
            &r["price_per_min"],
            &r["connect_fee"],
            &r["initial_increment_s"],
            &r["increment_s"]
        ),
        (&json!(12_000), &json!(50_000), &json!(30), &json!(6))
    );
    assert!(r.get("description").is_none(), "{r}");
    assert_eq!(api.get(&rpath, &w.r1_key).await, (200, r));
    let (s, _) = api.patch(&rpath, &w.r1_key, json!({"prefix": "491"})).await;
    assert_eq!(s, 409, "prefixes are unique per table");
    assert_eq!(api.delete(&rpath, &w.r1_key).await.0, 204);
    assert_eq!(api.get(&rpath, &w.r1_key).await.0, 404);
    // Deleting the table deletes its rates.
    assert_eq!(api.delete(&tpath, &w.r1_key).await.0, 204);
    let rest = format!("/api/v1/rates/{}", rates[1]);
    assert_eq!(api.get(&rest, &api.root).await.0, 404);
}

pub async fn tenant_rate_table(api: Api) {
    let w = world(&api).await;
    let t1 = id_of(
        &api,
        &w.r1_key,
        "/api/v1/rate-tables",
        json!({"name": "R1 retail", "currency": "EUR"}),
    )
    .await;
    let t2 = id_of(
        &api,
        &w.r2_key,
        "/api/v1/rate-tables",
        json!({"name": "R2 retail", "currency": "EUR"}),
    )
    .await;
    let a_path = format!("/api/v1/tenants/{}/rate-table", w.a);
    let b_path = format!("/api/v1/tenants/{}/rate-table", w.b);
    assert_eq!(
        api.get(&a_path, &w.a_key).await,
        (200, json!({"tenant_id": w.a, "rate_table_id": null}))
    );
    let (s, out) = put(&api, &a_path, &w.r1_key, json!({"rate_table_id": t1})).await;
    assert_eq!(
        (s, out),
        (200, json!({"tenant_id": w.a, "rate_table_id": t1}))
    );
    // The customer sees its table id but may not change it.
    assert_eq!(api.get(&a_path, &w.a_key).await.1["rate_table_id"], t1);
    assert_eq!(
        put(&api, &a_path, &w.a_key, json!({"rate_table_id": null}))
            .await
            .0,
        403
    );
    // Another reseller's table, another reseller's customer.
    let (s, _) = put(&api, &a_path, &w.r1_key, json!({"rate_table_id": t2})).await;
    assert_eq!(s, 404);
    assert_eq!(
        put(&api, &b_path, &w.r1_key, json!({"rate_table_id": t1}))
            .await
            .0,
        404
    );
    assert_eq!(api.get(&b_path, &w.r1_key).await.0, 404);
    assert_eq!(
        put(&api, &b_path, &w.r2_key, json!({"rate_table_id": t2}))
            .await
            .0,
        200
    );
    // Only customers are billed; the field is required.
    let r1_path = format!("/api/v1/tenants/{}/rate-table", w.r1);
    let (s, p) = put(&api, &r1_path, &api.root, json!({"rate_table_id": t1})).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (422, Some("tenant.rate_table_id"))
    );
    let (s, p) = put(&api, &a_path, &w.r1_key, json!({})).await;
    assert_eq!(s, 400, "a missing field is malformed: {p}");
    assert!(p.to_string().contains("rate_table_id"), "{p}");
    // A table in use cannot be deleted until the customer is moved off it.
    let tpath = format!("/api/v1/rate-tables/{t1}");
    assert_eq!(api.delete(&tpath, &w.r1_key).await.0, 409);
    let (s, out) = put(&api, &a_path, &w.r1_key, json!({"rate_table_id": null})).await;
    assert_eq!((s, &out["rate_table_id"]), (200, &Value::Null));
    assert_eq!(api.delete(&tpath, &w.r1_key).await.0, 204);
}
