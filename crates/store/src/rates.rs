//! Rates: the price of calls by number prefix within a rate table, the longest-prefix lookup,
//! and the cost of a call.

use sqlx::{Any, Row, Transaction};

use crate::catalog_model::{self, Rate};
use crate::error::map_constraint;
use crate::rate_tables::visible_table;
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::update::Update;
use crate::validate::quoted;
use crate::{
    Change, Ctx, Page, RateDescription, RateId, RatePrefix, RateTableId, Scope, Store, StoreError,
    TenantId,
};

const RATE_COLS: &str = "SELECT r.id, r.rate_table_id, r.prefix, r.description, \
     r.price_per_min, r.connect_fee, r.initial_increment_s, r.increment_s, r.created_at, \
     rt.tenant_id AS owner FROM rates r JOIN rate_tables rt ON rt.id = r.rate_table_id WHERE ";
const RATE_RETURNING: &str = " RETURNING id, rate_table_id, prefix, description, price_per_min, \
     connect_fee, initial_increment_s, increment_s, created_at";

/// Billing increments are 1 second to 1 hour.
const INCREMENT_S: std::ops::RangeInclusive<u32> = 1..=3600;
/// Longest number [`Store::rate_for`] accepts, in digits.
const MAX_NUMBER_DIGITS: usize = 32;

/// A rate to create.
#[derive(Debug, Clone)]
pub struct NewRate {
    /// The table.
    pub rate_table_id: RateTableId,
    /// Digits, unique per table.
    pub prefix: RatePrefix,
    /// Free text.
    pub description: Option<RateDescription>,
    /// Micro-units per minute, ≥ 0.
    pub price_per_min: i64,
    /// Micro-units per answered call, ≥ 0.
    pub connect_fee: i64,
    /// First billed block in seconds, 1–3600.
    pub initial_increment_s: u32,
    /// Later billed blocks in seconds, 1–3600.
    pub increment_s: u32,
}

impl NewRate {
    /// A rate without connect fee, billed per minute (60/60).
    pub fn new(rate_table_id: RateTableId, prefix: RatePrefix, price_per_min: i64) -> Self {
        Self {
            rate_table_id,
            prefix,
            description: None,
            price_per_min,
            connect_fee: 0,
            initial_increment_s: 60,
            increment_s: 60,
        }
    }
}

/// Changes to a rate; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RateUpdate {
    /// New prefix.
    pub prefix: Option<RatePrefix>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<RateDescription>>,
    /// New price per minute.
    pub price_per_min: Option<i64>,
    /// New connect fee.
    pub connect_fee: Option<i64>,
    /// New first block.
    pub initial_increment_s: Option<u32>,
    /// New later blocks.
    pub increment_s: Option<u32>,
}

/// Filters for [`Store::list_rates`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateFilter {
    /// Only rates of this table.
    pub rate_table_id: Option<RateTableId>,
}

impl Rate {
    /// What a call of `duration_ms` costs, in micro-units: nothing for an unanswered (0 ms)
    /// call; otherwise the connect fee plus the price of the billed time, which is the initial
    /// increment and then whole increments, the duration rounded up to them (and a started
    /// second counted whole). The price is rounded up to the next micro-unit; the result
    /// saturates at `i64::MAX`.
    pub fn cost(&self, duration_ms: i64) -> i64 {
        if duration_ms <= 0 {
            return 0;
        }
        let secs = (i128::from(duration_ms) + 999) / 1000;
        let initial = i128::from(self.initial_increment_s.max(1));
        let step = i128::from(self.increment_s.max(1));
        let billed = if secs <= initial {
            initial
        } else {
            initial + (secs - initial + step - 1) / step * step
        };
        let price = (i128::from(self.price_per_min.max(0)) * billed + 59) / 60;
        i64::try_from(i128::from(self.connect_fee.max(0)) + price).unwrap_or(i64::MAX)
    }
}

/// The largest price per minute or connect fee: 10^12 micro-units (a million currency units).
/// Far above any real tariff, and low enough that a rate, a CDR amount or a sum of many stays
/// far inside `i64`: a call of a year at this price costs about 5.3 × 10^17.
pub const MAX_MONEY: i64 = 1_000_000_000_000;

fn check_money(field: &'static str, v: i64) -> Result<i64, StoreError> {
    if !(0..=MAX_MONEY).contains(&v) {
        return Err(StoreError::invalid(
            field,
            format!("{v} is not within 0..={MAX_MONEY} (micro-units of the table's currency)"),
        ));
    }
    Ok(v)
}

fn check_increment(field: &'static str, v: u32) -> Result<i64, StoreError> {
    if !INCREMENT_S.contains(&v) {
        return Err(StoreError::invalid(
            field,
            format!(
                "{v} is not within {}..={} seconds",
                INCREMENT_S.start(),
                INCREMENT_S.end()
            ),
        ));
    }
    Ok(i64::from(v))
}

/// The digits of `number` (an optional `+` is dropped) and its candidate rate prefixes, longest
/// last.
fn prefixes(number: &str) -> Result<Vec<&str>, StoreError> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty()
        || digits.len() > MAX_NUMBER_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(StoreError::invalid(
            "number",
            format!(
                "{} is not an optional '+' and 1 to {MAX_NUMBER_DIGITS} digits",
                quoted(number)
            ),
        ));
    }
    let longest = digits.len().min(crate::catalog_validate::MAX_PREFIX_DIGITS);
    Ok((1..=longest).map(|n| &digits[..n]).collect())
}

async fn visible_rate(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: RateId,
) -> Result<(Rate, TenantId), StoreError> {
    let mut q = Sql::new(RATE_COLS);
    q.push("r.id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("rt.tenant_id", scope);
    let Some(row) = q.query().fetch_optional(&mut **tx).await? else {
        return Err(StoreError::not_found("rate", id));
    };
    Ok((catalog_model::rate(&row)?, TenantId(row.try_get("owner")?)))
}

fn rate_conflict(prefix: &str, table: RateTableId) -> String {
    format!("rate table {table} already has a rate for prefix {prefix}")
}

fn describe(r: &Rate) -> String {
    format!(
        "prefix {} {:?}: {}/min, connect {}, {}/{} s",
        r.prefix,
        r.description,
        r.price_per_min,
        r.connect_fee,
        r.initial_increment_s,
        r.increment_s
    )
}

impl Store {
    /// Adds a rate to a table visible in the scope.
    pub async fn create_rate(&self, ctx: &Ctx, new: &NewRate) -> Result<Rate, StoreError> {
        if let Scope::Customer(_) = ctx.scope {
            return Err(StoreError::Forbidden {
                what: "customers cannot own rate tables or rates".to_owned(),
            });
        }
        let price = check_money("rate.price_per_min", new.price_per_min)?;
        let fee = check_money("rate.connect_fee", new.connect_fee)?;
        let initial = check_increment("rate.initial_increment_s", new.initial_increment_s)?;
        let step = check_increment("rate.increment_s", new.increment_s)?;
        let mut tx = self.write_tx().await?;
        let table = visible_table(&mut tx, ctx.scope, new.rate_table_id).await?;
        let mut q = Sql::new(
            "INSERT INTO rates (rate_table_id, prefix, description, price_per_min, connect_fee, \
             initial_increment_s, increment_s, created_at) VALUES (",
        );
        q.bind(table.id.0)
            .push(", ")
            .bind(new.prefix.as_str())
            .push(", ")
            .bind(new.description.as_ref().map(|d| d.as_str().to_owned()))
            .push(", ")
            .bind(price)
            .push(", ")
            .bind(fee)
            .push(", ")
            .bind(initial)
            .push(", ")
            .bind(step)
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RATE_RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &rate_conflict(new.prefix.as_str(), table.id),
                &format!("rate table {} does not exist", table.id),
            )
        })?;
        let rate = catalog_model::rate(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: table.tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "rate",
                entity_id: rate.id.0,
                detail: format!("table {}: {}", table.id, describe(&rate)),
            },
            Change::RateUpserted(rate.clone()),
        )
        .await?;
        Ok(rate)
    }

    /// A rate whose table is visible in `scope`.
    pub async fn get_rate(&self, scope: Scope, id: RateId) -> Result<Rate, StoreError> {
        let mut tx = self.write_tx().await?;
        let (rate, _) = visible_rate(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(rate)
    }

    /// Rates of tables visible in `scope` that pass `filter`, in id order.
    pub async fn list_rates(
        &self,
        scope: Scope,
        filter: RateFilter,
        page: Page,
    ) -> Result<Vec<Rate>, StoreError> {
        let mut q = Sql::new(RATE_COLS);
        q.scope("rt.tenant_id", scope);
        if let Some(t) = filter.rate_table_id {
            q.push(" AND r.rate_table_id = ").bind(t.0);
        }
        q.page("r.id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(catalog_model::rate).collect()
    }

    /// Applies `update` to a rate whose table is visible in the scope.
    pub async fn update_rate(
        &self,
        ctx: &Ctx,
        id: RateId,
        update: &RateUpdate,
    ) -> Result<Rate, StoreError> {
        let price = update
            .price_per_min
            .map(|v| check_money("rate.price_per_min", v))
            .transpose()?;
        let fee = update
            .connect_fee
            .map(|v| check_money("rate.connect_fee", v))
            .transpose()?;
        let initial = update
            .initial_increment_s
            .map(|v| check_increment("rate.initial_increment_s", v))
            .transpose()?;
        let step = update
            .increment_s
            .map(|v| check_increment("rate.increment_s", v))
            .transpose()?;
        let mut tx = self.write_tx().await?;
        let (old, owner) = visible_rate(&mut tx, ctx.scope, id).await?;
        let mut u = Update::new("rates");
        if let Some(p) = &update.prefix {
            u.set("prefix", p.as_str(), format!("prefix {}", p.as_str()));
        }
        if let Some(d) = &update.description {
            let v = d.as_ref().map(|d| d.as_str().to_owned());
            u.set("description", v.clone(), format!("description {v:?}"));
        }
        if let Some(v) = price {
            u.set("price_per_min", v, format!("price_per_min {v}"));
        }
        if let Some(v) = fee {
            u.set("connect_fee", v, format!("connect_fee {v}"));
        }
        if let Some(v) = initial {
            u.set("initial_increment_s", v, format!("initial_increment_s {v}"));
        }
        if let Some(v) = step {
            u.set("increment_s", v, format!("increment_s {v}"));
        }
        if u.is_empty() {
            return Ok(old);
        }
        let (mut q, detail) = u.finish();
        q.push(" WHERE id = ").bind(id.0).push(RATE_RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &rate_conflict(
                    update.prefix.as_ref().map_or(&old.prefix, |p| p.as_str()),
                    old.rate_table_id,
                ),
                "rate table reference",
            )
        })?;
        let rate = catalog_model::rate(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: owner,
                actor: &ctx.actor,
                action: "update",
                entity: "rate",
                entity_id: id.0,
                detail,
            },
            Change::RateUpserted(rate.clone()),
        )
        .await?;
        Ok(rate)
    }

    /// Deletes a rate whose table is visible in the scope.
    pub async fn delete_rate(&self, ctx: &Ctx, id: RateId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let (rate, owner) = visible_rate(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM rates WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: owner,
                actor: &ctx.actor,
                action: "delete",
                entity: "rate",
                entity_id: id.0,
                detail: format!("table {}: prefix {}", rate.rate_table_id, rate.prefix),
            },
            Change::RateDeleted(id),
        )
        .await?;
        Ok(())
    }

    /// The rate of `table` (visible in `scope`) with the longest prefix of `number` (an
    /// optional `+`, then digits; the `+` is ignored), or `None` if no prefix matches.
    pub async fn rate_for(
        &self,
        scope: Scope,
        table: RateTableId,
        number: &str,
    ) -> Result<Option<Rate>, StoreError> {
        let candidates = prefixes(number)?;
        let mut q = Sql::new(RATE_COLS);
        q.push("r.rate_table_id = ")
            .bind(table.0)
            .push(" AND ")
            .scope("rt.tenant_id", scope)
            .push(" AND r.prefix IN (");
        for (i, p) in candidates.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*p);
        }
        q.push(") ORDER BY length(r.prefix) DESC LIMIT 1");
        if let Some(row) = q.query().fetch_optional(&self.pool).await? {
            return Ok(Some(catalog_model::rate(&row)?));
        }
        // No match: tell an unknown or invisible table apart from a table without the prefix.
        let mut tx = self.write_tx().await?;
        visible_table(&mut tx, scope, table).await?;
        tx.commit().await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(price_per_min: i64, connect_fee: i64, initial: u32, step: u32) -> Rate {
        Rate {
            id: RateId(1),
            rate_table_id: RateTableId(1),
            prefix: "49".to_owned(),
            description: None,
            price_per_min,
            connect_fee,
            initial_increment_s: initial,
            increment_s: step,
            created_at: 0,
        }
    }

    #[test]
    fn cost_per_minute() {
        // 0.012 per minute, 60/60.
        let r = rate(12_000, 0, 60, 60);
        assert_eq!(r.cost(0), 0);
        assert_eq!(r.cost(-5), 0);
        assert_eq!(r.cost(1), 12_000, "a started minute is billed whole");
        assert_eq!(r.cost(60_000), 12_000);
        assert_eq!(r.cost(60_001), 24_000);
        assert_eq!(r.cost(125_000), 36_000);
    }

    #[test]
    fn cost_with_increments_and_connect_fee() {
        // 30/6 billing, 0.01 per minute, 0.05 connect fee.
        let r = rate(10_000, 50_000, 30, 6);
        assert_eq!(
            r.cost(0),
            0,
            "unanswered calls cost nothing, not even the fee"
        );
        assert_eq!(r.cost(1_000), 50_000 + 5_000, "30 s minimum");
        assert_eq!(r.cost(30_000), 55_000);
        // 31 s → 30 + 6 = 36 s → 10 000 * 36 / 60 = 6 000.
        assert_eq!(r.cost(30_001), 50_000 + 6_000);
        assert_eq!(r.cost(36_000), 56_000);
        assert_eq!(r.cost(36_001), 50_000 + 7_000);
        // Per-second billing, rounding the price up to the next micro-unit.
        let s = rate(1, 0, 1, 1);
        assert_eq!(s.cost(1), 1, "1/60 of a micro-unit rounds up");
        assert_eq!(s.cost(60_000), 1);
        assert_eq!(s.cost(61_000), 2);
    }

    /// Issue 19, finding 7: `price_per_min = i64::MAX` was accepted.
    #[test]
    fn money_is_bounded() {
        for ok in [0, 1, MAX_MONEY] {
            assert_eq!(check_money("rate.price_per_min", ok).ok(), Some(ok));
        }
        for bad in [-1, MAX_MONEY + 1, i64::MAX, i64::MIN] {
            assert!(
                matches!(
                    check_money("rate.connect_fee", bad),
                    Err(StoreError::Invalid {
                        field: "rate.connect_fee",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // At the bounds a day's call is exact, far from overflow.
        let day = 24 * 3_600_000;
        let r = rate(MAX_MONEY, MAX_MONEY, 1, 1);
        assert_eq!(r.cost(day), MAX_MONEY + MAX_MONEY * 24 * 60);
        let year = 366 * day;
        assert_eq!(r.cost(year), MAX_MONEY + MAX_MONEY * 366 * 24 * 60);
    }

    #[test]
    fn cost_saturates() {
        let r = rate(i64::MAX, i64::MAX, 3600, 3600);
        assert_eq!(r.cost(i64::MAX), i64::MAX);
        let free = rate(0, 0, 60, 60);
        assert_eq!(free.cost(3_600_000), 0);
    }

    #[test]
    fn candidate_prefixes() {
        assert_eq!(prefixes("+4930").ok(), Some(vec!["4", "49", "493", "4930"]));
        assert_eq!(prefixes(&"1".repeat(25)).map(|p| p.len()).ok(), Some(20));
        for bad in ["", "+", "49 30", "49'; --", &"1".repeat(33)] {
            assert!(
                matches!(
                    prefixes(bad),
                    Err(StoreError::Invalid {
                        field: "number",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
