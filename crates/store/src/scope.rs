//! Tenancy scopes and who performs a write.

use crate::TenantId;

/// What a caller may see. Every read and write takes one, and the rule is applied in the SQL
/// `WHERE` clause, so rows outside the scope are never fetched (they look like `NotFound`).
///
/// - `Platform` sees everything.
/// - `Reseller(r)` sees tenant `r` and the customers whose parent is `r`, and their rows.
/// - `Customer(c)` sees tenant `c` and its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The platform operator.
    Platform,
    /// A reseller and its customers.
    Reseller(TenantId),
    /// One customer.
    Customer(TenantId),
}

/// A scope plus the name of whoever acts, recorded in the audit log (`cli`, `apikey:12`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    /// What the actor may touch.
    pub scope: Scope,
    /// Who acts; stored verbatim in `audit_log.actor`.
    pub actor: String,
}

impl Ctx {
    /// A context for `actor` acting within `scope`.
    pub fn new(scope: Scope, actor: impl Into<String>) -> Self {
        Self {
            scope,
            actor: actor.into(),
        }
    }
}
