//! `/calls`: the calls in progress on this node, with the relay's live media figures, scoped to
//! the caller's tenancy (a call is visible to the tenancy of either party's customer); and
//! recording a call from now on (`POST /calls/{call_id}/recording`).

use std::collections::HashMap;

use axum::extract::State;
use serde::Serialize;
use tokio::sync::oneshot;
use trunkline_store::{
    LiveCall, LiveHandle, LiveMedia, LiveRequest, RecordOutcome, Scope, TenantId,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, Path};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls))
        .routes(routes!(record_call))
}

/// What the relay received from one party so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaOut {
    packets: u64,
    lost: i64,
    /// Interarrival jitter, microseconds.
    jitter_us: u32,
    /// Estimated MOS × 100.
    mos_x100: u16,
    /// Whether the kernel forwards this party's RTP now (the relay's in-kernel fast path).
    kernel: bool,
}

/// A call in progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallOut {
    call_id: String,
    caller: String,
    callee: String,
    /// `ringing` or `answered`.
    state: String,
    /// Milliseconds since the Unix epoch.
    started_at: i64,
    answered_at: Option<i64>,
    /// Whether its media goes through the relay.
    relayed: bool,
    /// Whether the relay records it.
    recording: bool,
    /// The caller's media, when relayed.
    caller_media: Option<MediaOut>,
    /// The callee's media, when relayed.
    callee_media: Option<MediaOut>,
}

impl From<LiveCall> for CallOut {
    fn from(c: LiveCall) -> Self {
        let out = |m: LiveMedia| MediaOut {
            packets: m.packets,
            lost: m.lost,
            jitter_us: m.jitter_us,
            mos_x100: m.mos_x100,
            kernel: m.kernel,
        };
        let [a, b] = c
            .media
            .map_or([None, None], |[a, b]| [Some(out(a)), Some(out(b))]);
        Self {
            state: match c.answered_at {
                Some(_) => "answered",
                None => "ringing",
            }
            .to_owned(),
            call_id: c.call_id,
            caller: c.caller,
            callee: c.callee,
            started_at: c.started_at,
            answered_at: c.answered_at,
            relayed: c.relayed,
            recording: c.recording,
            caller_media: a,
            callee_media: b,
        }
    }
}

/// The calls in progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsOut {
    items: Vec<CallOut>,
}

fn core(s: &ApiState) -> Result<&LiveHandle, Problem> {
    s.live
        .as_ref()
        .ok_or_else(|| Problem::not_found("this node runs no SIP core"))
}

fn gone() -> Problem {
    Problem::unavailable("the SIP core is not answering")
}

/// The calls in progress that `caller` may see.
async fn visible(s: &ApiState, caller: &Caller) -> Result<Vec<LiveCall>, Problem> {
    let (tx, rx) = oneshot::channel();
    core(s)?
        .send(LiveRequest::List(tx))
        .await
        .map_err(|_| gone())?;
    let calls = rx.await.map_err(|_| gone())?;
    let scope = caller.scope();
    if scope == Scope::Platform {
        return Ok(calls);
    }
    let mut seen: HashMap<TenantId, bool> = HashMap::new();
    let mut out = Vec::new();
    for c in calls {
        let mut ok = false;
        for t in &c.customers {
            let v = match seen.get(t) {
                Some(v) => *v,
                None => {
                    let v = s.store.get_tenant(scope, *t).await.is_ok();
                    seen.insert(*t, v);
                    v
                }
            };
            ok |= v;
        }
        if ok {
            out.push(c);
        }
    }
    Ok(out)
}

/// The calls in progress on this node, with live media figures for relayed ones.
#[utoipa::path(get, path = "/calls", tag = "calls",
    responses((status = 200, body = CallsOut), Problems), security(("bearer" = [])))]
async fn list_calls(State(s): State<ApiState>, caller: Caller) -> Result<Json<CallsOut>, Problem> {
    let items = visible(&s, &caller).await?;
    Ok(Json(CallsOut {
        items: items.into_iter().map(CallOut::from).collect(),
    }))
}

/// Records a call in progress from now on (both directions, linked from its CDR). 409 when
/// its media is not relayed (`media.mode`).
#[utoipa::path(post, path = "/calls/{call_id}/recording", tag = "calls",
    params(("call_id" = String, Path, max_length = 255)),
    responses((status = 200, body = CallOut), Problems), security(("bearer" = [])))]
async fn record_call(
    State(s): State<ApiState>,
    caller: Caller,
    Path(call_id): Path<String>,
) -> Result<Json<CallOut>, Problem> {
    caller.writer()?;
    let not_found = || Problem::not_found("no such call in progress");
    if !visible(&s, &caller)
        .await?
        .iter()
        .any(|c| c.call_id == call_id)
    {
        return Err(not_found());
    }
    let (tx, rx) = oneshot::channel();
    let request = LiveRequest::Record {
        call_id: call_id.clone(),
        reply: tx,
    };
    core(&s)?.send(request).await.map_err(|_| gone())?;
    match rx.await.map_err(|_| gone())? {
        RecordOutcome::Recording => {}
        RecordOutcome::NotFound => return Err(not_found()),
        RecordOutcome::NotRelayed => {
            return Err(Problem::new(
                axum::http::StatusCode::CONFLICT,
                "not-relayed",
                "the call's media does not go through the relay; there is nothing to record",
            ));
        }
    }
    let call = (visible(&s, &caller).await?.into_iter())
        .find(|c| c.call_id == call_id)
        .ok_or_else(not_found)?;
    Ok(Json(call.into()))
}
