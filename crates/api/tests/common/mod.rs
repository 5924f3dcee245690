//! Starts the API on 127.0.0.1 over a SQLite file or a fresh PostgreSQL schema
//! (`TRUNKLINE_TEST_POSTGRES_URL`, see `trunkline_store::testing`) and hands the test
//! a client with a platform admin key.

// Each test binary uses only some of the helpers.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use trunkline_api::{ApiOptions, ApiState};
use trunkline_store::testing::{PgSchema, isolated};
use trunkline_store::{Ctx, Role, Scope, Store};

/// A running API and a way to call it.
pub struct Api {
    pub base: String,
    pub client: Client,
    pub store: Store,
    /// The platform admin key.
    pub root: String,
}

impl Api {
    pub fn req(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.req(Method::GET, path, key)).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::POST, path, key).json(&body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::PATCH, path, key).json(&body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.req(Method::DELETE, path, key)).await
    }

    /// A key of `role` for `tenant`, made by the platform admin.
    pub async fn key(&self, tenant: i64, role: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/api-keys",
                &self.root,
                serde_json::json!({"tenant_id": tenant, "role": role}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["secret"].as_str().unwrap().to_owned()
    }
}

pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let res: Response = req.send().await.unwrap();
    let status = res.status().as_u16();
    let problem = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let text = res.text().await.unwrap();
    if status >= 400 {
        assert!(problem, "error {status} is not a problem document: {text}");
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

async fn start(store: Store) -> Api {
    let (_, root) = store
        .create_api_key(
            &Ctx::new(Scope::Platform, "test"),
            store.platform_id(),
            Role::Admin,
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ApiOptions {
        max_login_failures: 5,
        ..ApiOptions::default()
    };
    let state = ApiState::new(store.clone(), &options);
    tokio::spawn(trunkline_api::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Api {
        base: format!("http://{addr}"),
        client: Client::new(),
        store,
        root: root.expose().to_owned(),
    }
}

pub async fn sqlite<F, Fut>(body: F)
where
    F: FnOnce(Api) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = trunkline_store::testing::sqlite(&path).await;
    let api = start(store.clone()).await;
    let result = isolated(body(api)).await;
    store.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

pub async fn postgres<F, Fut>(body: F)
where
    F: FnOnce(Api) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store = schema.connect(4).await;
    let api = start(store.clone()).await;
    let result = isolated(body(api)).await;
    store.close().await;
    schema.drop_schema().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Declares each listed `async fn name(api: Api)` as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::postgres(super::$name).await
                }
            )*
        }
    };
}
