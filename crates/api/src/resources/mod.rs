//! The REST resources, one module each, and what their operations have in common.
//!
//! Request schemas mirror the store's validation (numeric ranges, lengths, and `pattern`s for
//! formatted text) so that input valid by the OpenAPI document is accepted and fuzzers reach
//! the handlers. utoipa takes patterns only as literals, so the common ones repeat per field:
//! a label is trimmed non-empty text without control characters, a digest token has no
//! spaces, control characters, `"` or `\`.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::{RefOr, Response, ResponseBuilder, schema::Ref};

pub(crate) mod accounts;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod calls;
pub(crate) mod carriers;
pub(crate) mod cdrs;
pub(crate) mod devices;
pub(crate) mod dids;
pub(crate) mod domains;
pub(crate) mod gateways;
pub(crate) mod rate_tables;
pub(crate) mod rates;
pub(crate) mod routes;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod tenant_rate_table;
pub(crate) mod tenants;
pub(crate) mod users;

/// The error responses every authenticated operation may give, as problem documents.
pub(crate) struct Problems;

impl utoipa::IntoResponses for Problems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (
                "400",
                "Malformed request (syntax, types, query or path parameters)",
            ),
            ("401", "Missing or unknown credential"),
            (
                "403",
                "The credential may not do this (read-only, or the wrong tenancy level)",
            ),
            ("404", "No such row, or one outside the caller's tenancy"),
            (
                "409",
                "Conflicts with existing data (duplicate, still in use)",
            ),
            ("415", "The body is not application/json"),
            ("422", "A field has an invalid value; `field` names it"),
            (
                "503",
                "The database is unavailable; retry after `Retry-After` seconds",
            ),
        ]
        .into_iter()
        .map(|(code, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build();
            (code.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}
