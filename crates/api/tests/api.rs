#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! The REST API over real HTTP on 127.0.0.1, on SQLite and on PostgreSQL: authentication,
//! every role at every tenancy level, cross-tenant attempts, bad input and pagination.

mod common;

use common::{Api, send};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    health_and_openapi,
    authentication,
    read_only_role,
    tenancy_isolation,
    bad_input,
    pagination,
    login_sessions,
    cdrs_are_scoped,
);

async fn health_and_openapi(api: Api) {
    let r = api
        .client
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api
        .client
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api
        .client
        .get(format!("{}/api/v1/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/auth/login",
        "/api/v1/devices/{id}",
        "/api/v1/carriers/{id}",
        "/api/v1/gateways/{id}",
        "/api/v1/routes/{id}",
        "/api/v1/rate-tables/{id}/lookup",
        "/api/v1/rates/{id}",
        "/api/v1/tenants/{id}/rate-table",
        "/readyz",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let (status, body) = api.get("/api/v1/nowhere", &api.root).await;
    assert_eq!((status, body["status"].as_u64()), (404, Some(404)));
}

async fn authentication(api: Api) {
    for key in ["", "tlk_nope", "tlt_nope", "' OR 1=1 --", &"x".repeat(5000)] {
        let (status, body) = api.get("/api/v1/users", key).await;
        assert_eq!(status, 401, "{key}: {body}");
        assert_eq!(body["type"], "urn:trunkline:problem:unauthorized");
    }
    let r = api
        .client
        .get(format!("{}/api/v1/users", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let (status, _) = api.get("/api/v1/users", &api.root).await;
    assert_eq!(status, 200);
    // A revoked key stops working at once.
    let (_, created) = api
        .post("/api/v1/api-keys", &api.root, json!({"role": "admin"}))
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(api.get("/api/v1/auth/whoami", secret).await.0, 200);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        api.delete(&format!("/api/v1/api-keys/{id}"), &api.root)
            .await
            .0,
        204
    );
    assert_eq!(api.get("/api/v1/auth/whoami", secret).await.0, 401);
}

/// Platform ─┬─ reseller R1 ── customer A (domain a.test, user 1001, DID)
///           └─ reseller R2 ── customer B (domain b.test, user 2001)
struct World {
    r1: i64,
    r2: i64,
    a: i64,
    b: i64,
    a_user: i64,
    a_domain: i64,
    a_did: i64,
    b_user: i64,
}

async fn tenant(api: &Api, key: &str, kind: &str, parent: Option<i64>, name: &str) -> i64 {
    let (status, body) = api
        .post(
            "/api/v1/tenants",
            key,
            json!({"kind": kind, "parent_id": parent, "name": name}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn create(api: &Api, key: &str, path: &str, body: Value) -> i64 {
    let (status, out) = api.post(path, key, body).await;
    assert_eq!(status, 201, "{path}: {out}");
    out["id"].as_i64().unwrap()
}

async fn world(api: &Api) -> World {
    let root = &api.root;
    let r1 = tenant(api, root, "reseller", None, "R1").await;
    let r2 = tenant(api, root, "reseller", None, "R2").await;
    let r1_key = api.key(r1, "admin").await;
    // A reseller creates its own customer; the platform creates one for R2.
    let a = tenant(api, &r1_key, "customer", None, "A").await;
    let b = tenant(api, root, "customer", Some(r2), "B").await;
    let a_key = api.key(a, "admin").await;
    let a_domain = create(api, &a_key, "/api/v1/domains", json!({"name": "a.test"})).await;
    let a_user = create(
        api,
        &a_key,
        "/api/v1/users",
        json!({"domain_id": a_domain, "username": "1001", "password": "secret1001"}),
    )
    .await;
    let a_did = create(
        api,
        &a_key,
        "/api/v1/dids",
        json!({"e164": "+4930123456", "user_id": a_user}),
    )
    .await;
    let b_domain = create(
        api,
        root,
        "/api/v1/domains",
        json!({"customer_id": b, "name": "b.test"}),
    )
    .await;
    let b_user = create(
        api,
        root,
        "/api/v1/users",
        json!({"domain_id": b_domain, "username": "2001", "password": "secret2001"}),
    )
    .await;
    World {
        r1,
        r2,
        a,
        b,
        a_user,
        a_domain,
        a_did,
        b_user,
    }
}

fn ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn read_only_role(api: Api) {
    let w = world(&api).await;
    for (tenant, level) in [
        (api.store.platform_id().0, "platform"),
        (w.r1, "reseller"),
        (w.a, "customer"),
    ] {
        let ro = api.key(tenant, "read_only").await;
        let (status, me) = api.get("/api/v1/auth/whoami", &ro).await;
        assert_eq!((status, me["level"].as_str()), (200, Some(level)));
        assert_eq!(api.get("/api/v1/users", &ro).await.0, 200);
        assert_eq!(
            api.get(&format!("/api/v1/users/{}", w.a_user), &ro).await.0,
            200
        );
        for (method, path, body) in [
            (
                Method::POST,
                "/api/v1/domains".to_owned(),
                json!({"customer_id": w.a, "name": "ro.test"}),
            ),
            (
                Method::PATCH,
                format!("/api/v1/users/{}", w.a_user),
                json!({"enabled": false}),
            ),
            (
                Method::DELETE,
                format!("/api/v1/dids/{}", w.a_did),
                Value::Null,
            ),
            (
                Method::POST,
                "/api/v1/api-keys".to_owned(),
                json!({"role": "admin"}),
            ),
        ] {
            let mut req = api.req(method.clone(), &path, &ro);
            if !body.is_null() {
                req = req.json(&body);
            }
            let (status, problem) = send(req).await;
            assert_eq!(status, 403, "{level} read-only {method} {path}: {problem}");
        }
    }
    // Nothing changed.
    let (_, u) = api
        .get(&format!("/api/v1/users/{}", w.a_user), &api.root)
        .await;
    assert_eq!(u["enabled"], true);
}

async fn tenancy_isolation(api: Api) {
    let w = world(&api).await;
    let a_key = api.key(w.a, "admin").await;
    let b_key = api.key(w.b, "admin").await;
    let r1_key = api.key(w.r1, "admin").await;
    let r2_key = api.key(w.r2, "admin").await;

    // Customer B, and reseller R2, can neither read nor change anything of customer A.
    for key in [&b_key, &r2_key] {
        for path in [
            format!("/api/v1/users/{}", w.a_user),
            format!("/api/v1/domains/{}", w.a_domain),
            format!("/api/v1/dids/{}", w.a_did),
            format!("/api/v1/tenants/{}", w.a),
            format!("/api/v1/tenants/{}", w.r1),
        ] {
            let (status, body) = api.get(&path, key).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(!body.to_string().contains("1001"), "{body}");
        }
        let (s, _) = api
            .patch(
                &format!("/api/v1/users/{}", w.a_user),
                key,
                json!({"password": "hijacked-pw"}),
            )
            .await;
        assert_eq!(s, 404);
        assert_eq!(
            api.delete(&format!("/api/v1/users/{}", w.a_user), key)
                .await
                .0,
            404
        );
        assert_eq!(
            api.delete(&format!("/api/v1/domains/{}", w.a_domain), key)
                .await
                .0,
            404
        );
        let (s, _) = api
            .patch(
                &format!("/api/v1/dids/{}", w.a_did),
                key,
                json!({"user_id": w.b_user}),
            )
            .await;
        assert_eq!(s, 404);
        // Creating things in A's name or domain.
        let (s, _) = api
            .post(
                "/api/v1/users",
                key,
                json!({"domain_id": w.a_domain, "username": "evil", "password": "password123"}),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = api
            .post(
                "/api/v1/domains",
                key,
                json!({"customer_id": w.a, "name": "evil.test"}),
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = api
            .post(
                "/api/v1/api-keys",
                key,
                json!({"tenant_id": w.a, "role": "admin"}),
            )
            .await;
        assert_eq!(s, 404);
        // Lists never show A's rows.
        for path in [
            "/api/v1/users",
            "/api/v1/domains",
            "/api/v1/dids",
            "/api/v1/tenants",
            "/api/v1/audit",
            "/api/v1/api-keys",
        ] {
            let (s, body) = api.get(path, key).await;
            assert_eq!(s, 200);
            assert!(!body.to_string().contains("a.test"), "{path}: {body}");
            assert!(!body.to_string().contains("+4930123456"), "{path}: {body}");
        }
    }
    // A customer cannot reach its reseller, nor create tenants; its DID cannot point at B's user.
    assert_eq!(
        api.get(&format!("/api/v1/tenants/{}", w.r1), &a_key)
            .await
            .0,
        404
    );
    let (s, _) = api
        .post(
            "/api/v1/tenants",
            &a_key,
            json!({"kind": "customer", "name": "sub"}),
        )
        .await;
    assert!(s == 403 || s == 422, "{s}");
    let (s, _) = api
        .patch(
            &format!("/api/v1/dids/{}", w.a_did),
            &a_key,
            json!({"user_id": w.b_user}),
        )
        .await;
    assert_eq!(s, 404);
    // A reseller sees exactly its customers' rows.
    let (_, users) = api.get("/api/v1/users", &r1_key).await;
    assert_eq!(ids(&users), vec![w.a_user]);
    let (_, tenants) = api.get("/api/v1/tenants", &r1_key).await;
    let mut seen = ids(&tenants);
    seen.sort_unstable();
    assert_eq!(seen, vec![w.r1, w.a]);
    // ... and can manage them.
    let (s, body) = api
        .patch(
            &format!("/api/v1/users/{}", w.a_user),
            &r1_key,
            json!({"caller_id": "Reception"}),
        )
        .await;
    assert_eq!((s, body["caller_id"].as_str()), (200, Some("Reception")));
    // Platform sees everything.
    let (_, users) = api.get("/api/v1/users", &api.root).await;
    assert_eq!(ids(&users).len(), 2);
    // Responses never carry secrets.
    let (_, u) = api
        .get(&format!("/api/v1/users/{}", w.a_user), &api.root)
        .await;
    let text = u.to_string();
    assert!(
        !text.contains("secret1001") && !text.contains("ha1"),
        "{text}"
    );
}

async fn bad_input(api: Api) {
    let w = world(&api).await;
    let root = &api.root;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"domain_id": "one", "username": "1", "password": "password123"}),
            "domain_id",
        ),
        (
            json!({"domain_id": w.a_domain, "username": 1002, "password": "password123"}),
            "username",
        ),
        (
            json!({"domain_id": w.a_domain, "password": "password123"}),
            "username",
        ),
        (
            json!({"domain_id": w.a_domain, "username": "x".repeat(10_000), "password": "password123"}),
            "user.username",
        ),
        (
            json!({"domain_id": w.a_domain, "username": "1'; DROP TABLE users;--", "password": "password123"}),
            "user.username",
        ),
        (
            json!({"domain_id": w.a_domain, "username": "1003", "password": "short"}),
            "user.password",
        ),
        (
            json!({"domain_id": w.a_domain, "username": "1003", "password": "password123", "max_calls": -1}),
            "max_calls",
        ),
        (
            json!({"domain_id": w.a_domain, "username": "1003", "password": "password123", "admin": true}),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = api.post("/api/v1/users", root, body.clone()).await;
        assert!(status == 400 || status == 422, "{body}: {status} {problem}");
        let text = problem.to_string();
        assert!(
            text.contains(field),
            "{body}: the problem should name {field}: {text}"
        );
        assert!(
            !text.contains("password123"),
            "secrets are never echoed: {text}"
        );
    }
    // SQL metacharacters are data where they are allowed.
    let (s, t) = api
        .post(
            "/api/v1/tenants",
            root,
            json!({"kind": "reseller", "name": "O'Brien; DROP TABLE tenants;--"}),
        )
        .await;
    assert_eq!(
        (s, t["name"].as_str()),
        (201, Some("O'Brien; DROP TABLE tenants;--"))
    );
    let (s, _) = api
        .get("/api/v1/domains?customer_id=1%20OR%201=1", root)
        .await;
    assert_eq!(s, 400);
    // Not JSON, wrong content type, oversize body, bad path ids.
    let (s, _) = send(
        api.req(Method::POST, "/api/v1/domains", root)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        api.req(Method::POST, "/api/v1/domains", root)
            .body("name=x"),
    )
    .await;
    assert_eq!(s, 415);
    // The server answers 413 before reading the body and drops the connection; keep it out of
    // the client's pool so the next request does not try to reuse it.
    let big = json!({"name": "x".repeat(200_000)});
    let (s, _) = send(
        api.req(Method::POST, "/api/v1/domains", root)
            .header("connection", "close")
            .json(&big),
    )
    .await;
    assert_eq!(s, 413);
    for path in [
        "/api/v1/users/abc",
        "/api/v1/users/99999999999999999999",
        "/api/v1/users/1.5",
    ] {
        assert_eq!(api.get(path, root).await.0, 400, "{path}");
    }
    assert_eq!(api.get("/api/v1/users/-1", root).await.0, 404);
    // Conflicts.
    let (s, _) = api
        .post(
            "/api/v1/domains",
            root,
            json!({"customer_id": w.b, "name": "A.TEST"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = api
        .delete(&format!("/api/v1/domains/{}", w.a_domain), root)
        .await;
    assert_eq!(s, 409);
    // Wrong method.
    assert_eq!(
        send(api.req(Method::PUT, "/api/v1/users", root)).await.0,
        405
    );
}

async fn pagination(api: Api) {
    let w = world(&api).await;
    for i in 0..24 {
        create(
            &api,
            &api.root,
            "/api/v1/users",
            json!({"domain_id": w.a_domain, "username": format!("{}", 5000 + i), "password": "password123"}),
        )
        .await;
    }
    let mut all = Vec::new();
    let mut path = format!("/api/v1/users?domain_id={}&limit=10", w.a_domain);
    loop {
        let (s, page) = api.get(&path, &api.root).await;
        assert_eq!(s, 200);
        all.extend(ids(&page));
        match page["next_after"].as_i64() {
            Some(after) => {
                path = format!(
                    "/api/v1/users?domain_id={}&limit=10&after={after}",
                    w.a_domain
                )
            }
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|p| p[0] < p[1]));
    for bad in ["limit=0", "limit=1001"] {
        let (s, p) = api.get(&format!("/api/v1/users?{bad}"), &api.root).await;
        assert_eq!((s, p["field"].as_str()), (422, Some("page.limit")), "{bad}");
    }
    for bad in ["limit=abc", "limit=-1", "after=x"] {
        assert_eq!(
            api.get(&format!("/api/v1/users?{bad}"), &api.root).await.0,
            400,
            "{bad}"
        );
    }
}

async fn login_sessions(api: Api) {
    let w = world(&api).await;
    let (s, acct) = api
        .post(
            "/api/v1/accounts",
            &api.root,
            json!({"tenant_id": w.a, "login": "alice@a.test", "password": "correct horse", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201, "{acct}");
    assert!(!acct.to_string().contains("correct horse"));
    let login = |l: &str, p: &str| {
        send(
            api.client
                .post(format!("{}/api/v1/auth/login", api.base))
                .json(&json!({"login": l, "password": p})),
        )
    };
    let (s, session) = login("Alice@a.test", "correct horse").await;
    assert_eq!(s, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let (s, users) = api.get("/api/v1/users", &token).await;
    assert_eq!((s, ids(&users)), (200, vec![w.a_user]));
    assert_eq!(
        api.get(&format!("/api/v1/users/{}", w.b_user), &token)
            .await
            .0,
        404
    );
    // Unknown login and wrong password look the same.
    let (s1, p1) = login("alice@a.test", "wrong horse").await;
    let (s2, p2) = login("mallory@a.test", "wrong horse").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(p1, p2);
    // Logout ends the session.
    assert_eq!(
        send(api.req(Method::POST, "/api/v1/auth/logout", &token))
            .await
            .0,
        204
    );
    assert_eq!(api.get("/api/v1/users", &token).await.0, 401);
    // Brute force: after 5 failures (test setting) the address is refused even with the
    // right password.
    for _ in 0..3 {
        assert_eq!(login("alice@a.test", "guess").await.0, 401);
    }
    let (s, p) = login("alice@a.test", "correct horse").await;
    assert_eq!(s, 429, "{p}");
    assert!(p["retry_after"].as_u64().unwrap() > 0);
}

fn cdr(customer: i64, caller: &str, answered: bool) -> trunkline_store::NewCdr {
    use trunkline_store::*;
    NewCdr {
        uuid: CdrUuid::random(),
        customer_id: TenantId(customer),
        user_id: None,
        call_id: format!("{caller}@test"),
        leg: Leg::A,
        direction: Direction::Outbound,
        caller: caller.to_owned(),
        callee: "+4930999".to_owned(),
        started_at: 1_000,
        answered_at: answered.then_some(2_000),
        ended_at: 62_000,
        disposition: if answered {
            Disposition::Answered
        } else {
            Disposition::Busy
        },
        sip_code: if answered { 200 } else { 486 },
        hangup_reason: "caller_bye".to_owned(),
        carrier_id: None,
        rate_prefix: None,
        billed: None,
        currency: None,
        qos: Qos::default(),
        recording: None,
    }
}

async fn cdrs_are_scoped(api: Api) {
    let w = world(&api).await;
    api.store
        .insert_cdrs(&[
            cdr(w.a, "1001", true),
            cdr(w.a, "1001", false),
            cdr(w.b, "2001", true),
        ])
        .await
        .unwrap();
    let a_key = api.key(w.a, "read_only").await;
    let r1_key = api.key(w.r1, "read_only").await;
    let r2_key = api.key(w.r2, "read_only").await;
    let (s, list) = api.get("/api/v1/cdrs", &a_key).await;
    assert_eq!((s, ids(&list).len()), (200, 2));
    // Compare the callers, not the whole document: a random UUID can contain "2001".
    let callers: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["caller"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(callers, ["1001", "1001"]);
    let (_, answered) = api.get("/api/v1/cdrs?disposition=answered", &a_key).await;
    let items = answered["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["billsec_ms"].as_i64(),
            items[0]["sip_code"].as_u64()
        ),
        (Some(60_000), Some(200))
    );
    assert_eq!(ids(&api.get("/api/v1/cdrs", &r1_key).await.1).len(), 2);
    let (_, r2) = api.get("/api/v1/cdrs", &r2_key).await;
    assert_eq!(ids(&r2).len(), 1);
    let b_cdr = ids(&r2)[0];
    assert_eq!(
        api.get(&format!("/api/v1/cdrs/{b_cdr}"), &a_key).await.0,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/cdrs/{b_cdr}"), &r2_key).await.0,
        200
    );
    let (s, p) = api.get("/api/v1/cdrs?disposition=lost", &a_key).await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(
        ids(&api
            .get("/api/v1/cdrs?caller_prefix=10%25", &api.root)
            .await
            .1)
        .len(),
        0
    );
}
