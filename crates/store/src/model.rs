//! Rows as the store hands them out, and their decoding from either back end.

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AccountId, ApiKeyId, AuditId, DidId, DomainId, StoreError, TenantId, UserId};

/// Where a tenant sits in the hierarchy platform → reseller → customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantKind {
    /// The single root; owns resellers and direct customers.
    Platform,
    /// Sells to customers; sees only its own.
    Reseller,
    /// A company owning domains, users and DIDs.
    Customer,
}

impl TenantKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Reseller => "reseller",
            Self::Customer => "customer",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "platform" => Ok(Self::Platform),
            "reseller" => Ok(Self::Reseller),
            "customer" => Ok(Self::Customer),
            other => Err(StoreError::Corrupt(format!("tenants.kind {other:?}"))),
        }
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub id: TenantId,
    /// Level in the hierarchy.
    pub kind: TenantKind,
    /// `None` only for the platform.
    pub parent_id: Option<TenantId>,
    /// Unique among siblings.
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A SIP domain owned by a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Id.
    pub id: DomainId,
    /// Owning customer.
    pub customer_id: TenantId,
    /// Lower-case DNS name, unique platform-wide; the digest realm of its users.
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A hex digest HA1 (`H(user:realm:password)`). `Debug` never shows it: with it, anyone can
/// answer digest challenges as the user.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1(pub(crate) String);

impl Ha1 {
    /// The hex string, for a digest verifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ha1(redacted)")
    }
}

/// A SIP user (endpoint) with its credentials as HA1s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Owning customer (always the domain's owner).
    pub customer_id: TenantId,
    /// Domain.
    pub domain_id: DomainId,
    /// The domain's name, which is the digest realm.
    pub domain: String,
    /// SIP user part.
    pub username: String,
    /// `MD5(username:domain:password)`.
    pub ha1_md5: Ha1,
    /// `SHA-256(username:domain:password)`.
    pub ha1_sha256: Ha1,
    /// Caller-ID presented on outbound calls.
    pub caller_id: Option<String>,
    /// Concurrent call limit; `None` = no limit.
    pub max_calls: Option<u32>,
    /// Disabled users cannot register or call.
    pub enabled: bool,
    /// The relay records the user's relayed calls (both directions).
    pub record_calls: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A DID owned by a customer, optionally routed to one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Did {
    /// Id.
    pub id: DidId,
    /// Owning customer.
    pub customer_id: TenantId,
    /// E.164 with `+`.
    pub e164: String,
    /// Target user, if routed.
    pub user_id: Option<UserId>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What an API key may do within its tenant's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read and write.
    Admin,
    /// Read only.
    ReadOnly,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ReadOnly => "read_only",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(Self::Admin),
            "read_only" => Ok(Self::ReadOnly),
            other => Err(StoreError::invalid(
                "api_key.role",
                format!("{other:?} is not one of admin, read_only"),
            )),
        }
    }
}

/// An API key's metadata; the key itself is shown once at creation and only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// The tenant whose scope the key acts in.
    pub tenant_id: TenantId,
    /// Permissions within that scope.
    pub role: Role,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Revoked keys never authenticate.
    pub revoked: bool,
}

/// An API login account (the password hash never leaves the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// The tenant whose scope the account acts in.
    pub tenant_id: TenantId,
    /// Login name, lower case.
    pub login: String,
    /// Permissions within that scope.
    pub role: Role,
    /// Disabled accounts cannot log in.
    pub enabled: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// One audit-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id; increases with every write.
    pub id: AuditId,
    /// Tenant the changed row belongs to.
    pub tenant_id: TenantId,
    /// Who acted.
    pub actor: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// Table-level entity name, e.g. `user`.
    pub entity: String,
    /// Id of the changed row.
    pub entity_id: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// What changed (never secrets).
    pub detail: String,
}

/// Booleans are `BOOLEAN` in PostgreSQL and `INTEGER` 0/1 in SQLite (see the migrations).
pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    match row.try_get::<bool, _>(col) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(col)? != 0),
    }
}

pub(crate) fn tenant(row: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId(row.try_get("id")?),
        kind: TenantKind::parse(row.try_get("kind")?)?,
        parent_id: row.try_get::<Option<i64>, _>("parent_id")?.map(TenantId),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn domain(row: &AnyRow) -> Result<Domain, StoreError> {
    Ok(Domain {
        id: DomainId(row.try_get("id")?),
        customer_id: TenantId(row.try_get("customer_id")?),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Expects the `users` columns plus `domain` (the domain's name).
pub(crate) fn user(row: &AnyRow) -> Result<User, StoreError> {
    let max_calls = match row.try_get::<Option<i64>, _>("max_calls")? {
        None => None,
        Some(n) => Some(
            u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("users.max_calls {n}")))?,
        ),
    };
    Ok(User {
        id: UserId(row.try_get("id")?),
        customer_id: TenantId(row.try_get("customer_id")?),
        domain_id: DomainId(row.try_get("domain_id")?),
        domain: row.try_get("domain")?,
        username: row.try_get("username")?,
        ha1_md5: Ha1(row.try_get("ha1_md5")?),
        ha1_sha256: Ha1(row.try_get("ha1_sha256")?),
        caller_id: row.try_get("caller_id")?,
        max_calls,
        enabled: get_bool(row, "enabled")?,
        record_calls: get_bool(row, "record_calls")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn did(row: &AnyRow) -> Result<Did, StoreError> {
    Ok(Did {
        id: DidId(row.try_get("id")?),
        customer_id: TenantId(row.try_get("customer_id")?),
        e164: row.try_get("e164")?,
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn api_key(row: &AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: ApiKeyId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        role: Role::parse(row.try_get("role")?)
            .map_err(|e| StoreError::Corrupt(format!("api_keys.role: {e}")))?,
        created_at: row.try_get("created_at")?,
        revoked: get_bool(row, "revoked")?,
    })
}

pub(crate) fn account(row: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        login: row.try_get("login")?,
        role: Role::parse(row.try_get("role")?)
            .map_err(|e| StoreError::Corrupt(format!("accounts.role: {e}")))?,
        enabled: get_bool(row, "enabled")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn audit_entry(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: AuditId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        entity: row.try_get("entity")?,
        entity_id: row.try_get("entity_id")?,
        at: row.try_get("at")?,
        detail: row.try_get("detail")?,
    })
}
