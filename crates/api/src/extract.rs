//! axum's extractors with RFC 9457 rejections, the pagination query and the list envelope.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use trunkline_store::Page;
use utoipa::{IntoParams, ToSchema};

use crate::problem::Problem;

/// JSON body (and response) whose rejections are problem documents naming the field. A body
/// must be a JSON object (serde would otherwise fill a struct from an array, positionally),
/// and integral numbers written with a fraction (`5.0`) count as integers, as JSON Schema's
/// `integer` type says.
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        // axum checks the content type, the size and the syntax.
        let axum::Json(mut value) = axum::Json::<Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                "the body must be a JSON object",
            ));
        }
        integral_floats(&mut value);
        // Deserialized from bytes again so that errors name the field path, as axum words them.
        let bytes = serde_json::to_vec(&value).map_err(|e| Problem::internal(&e))?;
        let axum::Json(body) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(body))
    }
}

/// Rewrites numbers like `5.0` as `5`, so integer fields accept them.
fn integral_floats(value: &mut Value) {
    /// 2^63 and 2^64, the ends of the i64 and u64 ranges, exactly representable as f64.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    match value {
        Value::Number(n) => {
            let Some(f) = n.as_f64() else { return };
            if !n.is_f64() || f.fract() != 0.0 || !f.is_finite() {
                return;
            }
            if (-I64_END..I64_END).contains(&f) {
                *value = Value::from(f as i64);
            } else if (0.0..U64_END).contains(&f) {
                *value = Value::from(f as u64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query string with problem-document rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub(crate) struct Query<T>(pub T);

/// Path parameters with problem-document rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub(crate) struct Path<T>(pub T);

/// Keyset pagination: `?after=<last id of the previous page>&limit=<1..1000>`.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Return rows with an id greater than this (the `next_after` of the previous page).
    pub after: Option<i64>,
    /// Rows per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub(crate) fn page(self) -> Page {
        Page {
            after: self.after,
            limit: self.limit.unwrap_or(Page::default().limit),
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    /// The rows, in id order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

impl<T> List<T> {
    /// A page of `items` fetched with `page`; `id` gives a row's id.
    pub(crate) fn new<R>(rows: Vec<R>, page: Page, id: impl Fn(&R) -> i64) -> Self
    where
        T: From<R>,
    {
        let full = rows.len() == page.limit as usize;
        let next_after = if full { rows.last().map(&id) } else { None };
        Self {
            items: rows.into_iter().map(T::from).collect(),
            next_after,
        }
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers() {
        let mut v: Value = serde_json::from_str(
            r#"{"a": 5.0, "b": -2.0, "c": 1.5, "d": [1e3, 7], "e": 1e19, "f": 1e300, "g": "5.0"}"#,
        )
        .unwrap();
        integral_floats(&mut v);
        assert_eq!(
            v.to_string(),
            r#"{"a":5,"b":-2,"c":1.5,"d":[1000,7],"e":10000000000000000000,"f":1e+300,"g":"5.0"}"#
        );
    }
}
