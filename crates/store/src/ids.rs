//! Typed row ids, so a `UserId` can never be passed where a `DomainId` is meant.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            /// The raw database id.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

id_type!(
    /// A row of `tenants` (platform, reseller or customer).
    TenantId,
    /// A row of `domains`.
    DomainId,
    /// A row of `users`.
    UserId,
    /// A row of `dids`.
    DidId,
    /// A row of `api_keys`.
    ApiKeyId,
    /// A row of `audit_log`.
    AuditId,
    /// A row of `accounts`.
    AccountId,
    /// A row of `devices`.
    DeviceId,
    /// A row of `carriers`.
    CarrierId,
    /// A row of `gateways`.
    GatewayId,
    /// A row of `routes`.
    RouteId,
    /// A row of `rate_tables`.
    RateTableId,
    /// A row of `rates`.
    RateId,
    /// A row of `cdrs`.
    CdrId,
);
