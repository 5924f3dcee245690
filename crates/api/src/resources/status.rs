//! `/status`: what the signalling snapshot of this node holds (platform operators only).

use axum::extract::State;
use serde::Serialize;
use trunkline_store::Scope;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::Json;
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The node's view of provisioning data.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    /// Changes applied to the snapshot since it was loaded.
    snapshot_version: u64,
    domains: usize,
    users: usize,
    dids: usize,
    /// CDRs in the durable journal not yet stored in the database (absent without a journal).
    #[serde(skip_serializing_if = "Option::is_none")]
    cdrs_pending: Option<u64>,
}

/// This node's signalling snapshot.
#[utoipa::path(get, path = "/status", tag = "status",
    responses((status = 200, body = StatusOut), Problems), security(("bearer" = [])))]
async fn status(State(s): State<ApiState>, caller: Caller) -> Result<Json<StatusOut>, Problem> {
    if caller.scope() != Scope::Platform {
        return Err(Problem::forbidden("node status is for platform operators"));
    }
    let Some(handle) = &s.snapshot else {
        return Err(Problem::not_found("this node keeps no signalling snapshot"));
    };
    let snap = handle.load();
    Ok(Json(StatusOut {
        snapshot_version: snap.version(),
        domains: snap.domain_count(),
        users: snap.user_count(),
        dids: snap.did_count(),
        cdrs_pending: s.journal.as_ref().map(|j| j.pending()),
    }))
}
