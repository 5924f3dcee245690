//! `/cdrs`: call detail records, one per call leg, read-only and scoped to the caller's tenancy.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use trunkline_store::{Cdr, CdrFilter, CdrId, Disposition, TenantId, UserId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_cdrs))
        .routes(routes!(get_cdr))
}

/// Media quality of a leg, as measured by the relay.
#[derive(Debug, Serialize, ToSchema)]
pub struct QosOut {
    rtp_packets_rx: Option<u32>,
    rtp_packets_tx: Option<u32>,
    rtp_lost: Option<u32>,
    /// Interarrival jitter, microseconds.
    jitter_us: Option<u32>,
    /// Round-trip time, microseconds.
    rtt_us: Option<u32>,
    /// Estimated MOS × 100.
    mos_x100: Option<u16>,
}

/// One call leg.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdrOut {
    id: i64,
    /// Idempotency key (32 hex digits).
    uuid: String,
    customer_id: i64,
    user_id: Option<i64>,
    call_id: String,
    /// `a` (caller's leg) or `b` (callee's leg).
    leg: String,
    /// `inbound`, `outbound` or `internal`.
    direction: String,
    caller: String,
    callee: String,
    /// Milliseconds since the Unix epoch.
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: i64,
    duration_ms: i64,
    billsec_ms: i64,
    /// `answered`, `busy`, `no_answer`, `cancelled` or `failed`.
    disposition: String,
    sip_code: u16,
    hangup_reason: String,
    carrier_id: Option<i64>,
    rate_prefix: Option<String>,
    /// Micro-units of `currency`.
    billed: Option<i64>,
    currency: Option<String>,
    qos: QosOut,
    recording: Option<String>,
    created_at: i64,
}

impl From<Cdr> for CdrOut {
    fn from(c: Cdr) -> Self {
        Self {
            id: c.id.0,
            uuid: c.uuid.as_str().to_owned(),
            customer_id: c.customer_id.0,
            user_id: c.user_id.map(|u| u.0),
            call_id: c.call_id,
            leg: c.leg.as_str().to_owned(),
            direction: c.direction.as_str().to_owned(),
            caller: c.caller,
            callee: c.callee,
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            duration_ms: c.duration_ms,
            billsec_ms: c.billsec_ms,
            disposition: c.disposition.as_str().to_owned(),
            sip_code: c.sip_code,
            hangup_reason: c.hangup_reason,
            carrier_id: c.carrier_id,
            rate_prefix: c.rate_prefix,
            billed: c.billed,
            currency: c.currency,
            qos: QosOut {
                rtp_packets_rx: c.qos.rtp_packets_rx,
                rtp_packets_tx: c.qos.rtp_packets_tx,
                rtp_lost: c.qos.rtp_lost,
                jitter_us: c.qos.jitter_us,
                rtt_us: c.qos.rtt_us,
                mos_x100: c.qos.mos_x100,
            },
            recording: c.recording,
            created_at: c.created_at,
        }
    }
}

/// Longest caller/callee prefix filter (the columns hold at most 128 characters).
const MAX_PREFIX: usize = 128;

/// CDR list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CdrQuery {
    /// Only this billed customer.
    customer_id: Option<i64>,
    /// Only this user.
    user_id: Option<i64>,
    /// Only this disposition.
    #[param(pattern = "^(answered|busy|no_answer|cancelled|failed)$")]
    disposition: Option<String>,
    /// Started at or after (ms since the Unix epoch).
    from_ms: Option<i64>,
    /// Started before (ms since the Unix epoch).
    to_ms: Option<i64>,
    /// Caller starts with this (literal).
    #[param(max_length = 128)] // MAX_PREFIX
    caller_prefix: Option<String>,
    /// Callee starts with this (literal).
    #[param(max_length = 128)]
    callee_prefix: Option<String>,
}

/// CDRs visible to the caller, oldest first.
#[utoipa::path(get, path = "/cdrs", tag = "cdrs", params(CdrQuery, PageQuery),
    responses((status = 200, body = List<CdrOut>), Problems), security(("bearer" = [])))]
async fn list_cdrs(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<CdrQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<CdrOut>>, Problem> {
    for (field, value) in [
        ("caller_prefix", &q.caller_prefix),
        ("callee_prefix", &q.callee_prefix),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_PREFIX)
        {
            return Err(Problem::invalid(
                field,
                format!("longer than {MAX_PREFIX} characters"),
            ));
        }
    }
    let filter = CdrFilter {
        customer_id: q.customer_id.map(TenantId),
        user_id: q.user_id.map(UserId),
        disposition: q
            .disposition
            .as_deref()
            .map(Disposition::parse)
            .transpose()?,
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        caller_prefix: q.caller_prefix,
        callee_prefix: q.callee_prefix,
    };
    let page = p.page();
    let rows = s.store.list_cdrs(caller.scope(), &filter, page).await?;
    Ok(Json(List::new(rows, page, |c| c.id.0)))
}

/// One CDR.
#[utoipa::path(get, path = "/cdrs/{id}", tag = "cdrs", params(("id" = i64, Path)),
    responses((status = 200, body = CdrOut), Problems), security(("bearer" = [])))]
async fn get_cdr(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<CdrOut>, Problem> {
    let c = s.store.get_cdr(caller.scope(), CdrId(id)).await?;
    Ok(Json(c.into()))
}
