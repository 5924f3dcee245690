//! Call detail records: one row per call leg, written in idempotent batches (normally by the
//! [`crate::CdrJournal`]) and read by customer scope.
//!
//! CDRs are neither audit-logged nor announced on the change feed: they are facts about calls,
//! not provisioning, and nothing on the call path reads them back.

mod check;
mod record;

pub use record::{Cdr, CdrFilter, CdrUuid, Direction, Disposition, Leg, NewCdr, Qos};

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::Sql;
use crate::store::now_ms;
use crate::{CdrId, Page, Scope, Store, StoreError, TenantId, UserId};

const COLS: &str = "SELECT id, uuid, customer_id, user_id, call_id, leg, direction, caller, \
     callee, started_at, answered_at, ended_at, duration_ms, billsec_ms, disposition, sip_code, \
     hangup_reason, carrier_id, rate_prefix, billed, currency, rtp_packets_rx, rtp_packets_tx, \
     rtp_lost, jitter_us, rtt_us, mos_x100, recording, created_at FROM cdrs WHERE ";

const INSERT: &str = "INSERT INTO cdrs (uuid, customer_id, user_id, call_id, leg, direction, \
     caller, callee, started_at, answered_at, ended_at, duration_ms, billsec_ms, disposition, \
     sip_code, hangup_reason, carrier_id, rate_prefix, billed, currency, rtp_packets_rx, \
     rtp_packets_tx, rtp_lost, jitter_us, rtt_us, mos_x100, recording, created_at) VALUES ";

/// Rows per INSERT statement. One: the statement text is then always the same, so it is
/// prepared once and cached, and SQLite binds its 28 `$n` parameters by name in no time.
/// Multi-row statements were slower: each batch size was a new statement to parse, and
/// name-binding thousands of `$n` parameters is quadratic (measured: 40% of the server's CPU
/// at 1,000 calls/s went to delivering CDRs).
const ROWS_PER_STATEMENT: usize = 1;

fn opt_u32(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

/// Appends one `(…)` tuple of values for `c`.
fn values(q: &mut Sql, c: &NewCdr, created_at: i64) {
    q.push("(")
        .bind(c.uuid.as_str())
        .push(", ")
        .bind(c.customer_id.0)
        .push(", ")
        .bind(c.user_id.map(UserId::get))
        .push(", ")
        .bind(c.call_id.as_str())
        .push(", ")
        .bind(c.leg.as_str())
        .push(", ")
        .bind(c.direction.as_str())
        .push(", ")
        .bind(c.caller.as_str())
        .push(", ")
        .bind(c.callee.as_str())
        .push(", ")
        .bind(c.started_at)
        .push(", ")
        .bind(c.answered_at)
        .push(", ")
        .bind(c.ended_at)
        .push(", ")
        .bind(c.duration_ms())
        .push(", ")
        .bind(c.billsec_ms())
        .push(", ")
        .bind(c.disposition.as_str())
        .push(", ")
        .bind(i64::from(c.sip_code))
        .push(", ")
        .bind(c.hangup_reason.as_str())
        .push(", ")
        .bind(c.carrier_id)
        .push(", ")
        .bind(c.rate_prefix.clone())
        .push(", ")
        .bind(c.billed)
        .push(", ")
        .bind(c.currency.clone())
        .push(", ")
        .bind(opt_u32(c.qos.rtp_packets_rx))
        .push(", ")
        .bind(opt_u32(c.qos.rtp_packets_tx))
        .push(", ")
        .bind(opt_u32(c.qos.rtp_lost))
        .push(", ")
        .bind(opt_u32(c.qos.jitter_us))
        .push(", ")
        .bind(opt_u32(c.qos.rtt_us))
        .push(", ")
        .bind(c.qos.mos_x100.map(i64::from))
        .push(", ")
        .bind(c.recording.clone())
        .push(", ")
        .bind(created_at)
        .push(")");
}

/// `col` starts with `prefix`, compared literally: no LIKE, so `%` and `_` in the prefix are
/// plain characters, and the comparison is case-sensitive on both back ends.
fn starts_with(q: &mut Sql, col: &'static str, prefix: &str) {
    q.push(" AND substr(")
        .push(col)
        .push(", 1, length(")
        .bind(prefix)
        .push(")) = ")
        .bind(prefix);
}

fn int<T: TryFrom<i64>>(row: &AnyRow, col: &'static str) -> Result<T, StoreError> {
    let v: i64 = row.try_get(col)?;
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("cdrs.{col} {v}")))
}

fn opt_int<T: TryFrom<i64>>(row: &AnyRow, col: &'static str) -> Result<Option<T>, StoreError> {
    match row.try_get::<Option<i64>, _>(col)? {
        None => Ok(None),
        Some(v) => T::try_from(v)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("cdrs.{col} {v}"))),
    }
}

fn corrupt(col: &'static str) -> impl FnOnce(StoreError) -> StoreError {
    move |e| StoreError::Corrupt(format!("cdrs.{col}: {e}"))
}

fn cdr(row: &AnyRow) -> Result<Cdr, StoreError> {
    Ok(Cdr {
        id: CdrId(row.try_get("id")?),
        uuid: CdrUuid::parse(row.try_get("uuid")?).map_err(corrupt("uuid"))?,
        customer_id: TenantId(row.try_get("customer_id")?),
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        call_id: row.try_get("call_id")?,
        leg: Leg::parse(row.try_get("leg")?).map_err(corrupt("leg"))?,
        direction: Direction::parse(row.try_get("direction")?).map_err(corrupt("direction"))?,
        caller: row.try_get("caller")?,
        callee: row.try_get("callee")?,
        started_at: row.try_get("started_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_ms: row.try_get("duration_ms")?,
        billsec_ms: row.try_get("billsec_ms")?,
        disposition: Disposition::parse(row.try_get("disposition")?)
            .map_err(corrupt("disposition"))?,
        sip_code: int(row, "sip_code")?,
        hangup_reason: row.try_get("hangup_reason")?,
        carrier_id: row.try_get("carrier_id")?,
        rate_prefix: row.try_get("rate_prefix")?,
        billed: row.try_get("billed")?,
        currency: row.try_get("currency")?,
        qos: Qos {
            rtp_packets_rx: opt_int(row, "rtp_packets_rx")?,
            rtp_packets_tx: opt_int(row, "rtp_packets_tx")?,
            rtp_lost: opt_int(row, "rtp_lost")?,
            jitter_us: opt_int(row, "jitter_us")?,
            rtt_us: opt_int(row, "rtt_us")?,
            mos_x100: opt_int(row, "mos_x100")?,
        },
        recording: row.try_get("recording")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores `cdrs` in one transaction and returns how many rows were new. A CDR whose uuid is
    /// already stored is skipped, so delivering a batch twice stores it once. Every CDR is
    /// validated first; one invalid CDR fails the whole batch before the database is touched.
    ///
    /// Not scoped: CDRs come from the call path (through the journal), never from a tenant.
    pub async fn insert_cdrs(&self, cdrs: &[NewCdr]) -> Result<usize, StoreError> {
        for c in cdrs {
            c.validate()?;
        }
        if cdrs.is_empty() {
            return Ok(0);
        }
        let created_at = now_ms();
        let mut inserted = 0u64;
        let mut tx = self.write_tx().await?;
        for chunk in cdrs.chunks(ROWS_PER_STATEMENT) {
            let mut q = Sql::new(INSERT);
            for (i, c) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                values(&mut q, c, created_at);
            }
            q.push(" ON CONFLICT (uuid) DO NOTHING");
            inserted += q.query().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
    }

    /// A CDR whose customer is visible in `scope`.
    pub async fn get_cdr(&self, scope: Scope, id: CdrId) -> Result<Cdr, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(cdr)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("cdr", id))
    }

    /// CDRs of customers visible in `scope` that match `filter`, in id (insertion) order.
    pub async fn list_cdrs(
        &self,
        scope: Scope,
        filter: &CdrFilter,
        page: Page,
    ) -> Result<Vec<Cdr>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("customer_id", scope);
        if let Some(c) = filter.customer_id {
            q.push(" AND customer_id = ").bind(c.0);
        }
        if let Some(u) = filter.user_id {
            q.push(" AND user_id = ").bind(u.0);
        }
        if let Some(d) = filter.disposition {
            q.push(" AND disposition = ").bind(d.as_str());
        }
        if let Some(from) = filter.from_ms {
            q.push(" AND started_at >= ").bind(from);
        }
        if let Some(to) = filter.to_ms {
            q.push(" AND started_at < ").bind(to);
        }
        if let Some(p) = &filter.caller_prefix {
            starts_with(&mut q, "caller", p);
        }
        if let Some(p) = &filter.callee_prefix {
            starts_with(&mut q, "callee", p);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(cdr).collect()
    }
}
