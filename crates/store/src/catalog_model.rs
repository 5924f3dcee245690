//! Catalog rows as the store hands them out (devices, carriers, gateways, routes, rate tables,
//! rates), and their decoding from either back end.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::get_bool;
use crate::{
    CarrierId, CarrierPassword, CarrierRealm, CarrierUsername, DeviceId, GatewayId, Keyring,
    RateId, RateTableId, RouteId, StoreError, TenantId, UserId,
};

/// A customer's phone, optionally handed to one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Id.
    pub id: DeviceId,
    /// Owning customer.
    pub customer_id: TenantId,
    /// Display name.
    pub name: String,
    /// 12 lower-case hex digits, unique platform-wide (phones fetch their configuration by it).
    pub mac: Option<String>,
    /// Vendor model.
    pub model: Option<String>,
    /// The user the phone registers as, if assigned (always a user of the same customer).
    pub user_id: Option<UserId>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// How a carrier and we authenticate each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierAuth {
    /// By address: the carrier trusts our source addresses, and we trust calls whose source
    /// address is one of the carrier's gateways (those with an IP-literal host).
    Ip,
    /// By digest: we answer the carrier's challenges with these credentials.
    Credentials {
        /// Digest username.
        username: CarrierUsername,
        /// Digest password, opened (sealed at rest, see [`crate::Keyring`]; `Debug` is
        /// redacted).
        password: CarrierPassword,
        /// Only answer challenges for this realm, if set.
        realm: Option<CarrierRealm>,
    },
}

impl CarrierAuth {
    /// The stored spelling of the mode: `ip` or `credentials`.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Credentials { .. } => "credentials",
        }
    }
}

/// An upstream trunk, owned by the platform or a reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    /// Id.
    pub id: CarrierId,
    /// Owning platform or reseller.
    pub tenant_id: TenantId,
    /// Unique per owner.
    pub name: String,
    /// Authentication mode and credentials.
    pub auth: CarrierAuth,
    /// Disabled carriers take no calls and are trusted for none.
    pub enabled: bool,
    /// Concurrent call limit; `None` = no limit.
    pub max_channels: Option<u32>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// SIP transport towards a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Parses `udp`, `tcp` or `tls` (any case).
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Self::Udp),
            "tcp" => Ok(Self::Tcp),
            "tls" => Ok(Self::Tls),
            _ => Err(StoreError::invalid(
                "gateway.transport",
                format!("{} is not one of udp, tcp, tls", crate::validate::quoted(s)),
            )),
        }
    }
}

/// One address of a carrier. Calls try gateways by ascending priority, spreading by weight
/// among equal priorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Id.
    pub id: GatewayId,
    /// The carrier it belongs to.
    pub carrier_id: CarrierId,
    /// IP literal (canonical form, no brackets) or lower-case DNS name.
    pub host: String,
    /// Port, 1–65535.
    pub port: u16,
    /// Transport.
    pub transport: Transport,
    /// Lower first.
    pub priority: u16,
    /// Share among gateways of equal priority.
    pub weight: u16,
    /// Disabled gateways are neither used nor trusted.
    pub enabled: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// An outbound route: numbers starting with `prefix` may leave through `carrier_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Id.
    pub id: RouteId,
    /// Platform (default for everyone), reseller (for its customers) or customer (its own).
    pub tenant_id: TenantId,
    /// Optional `+` and up to 20 digits; empty matches every number.
    pub prefix: String,
    /// The carrier, owned by `tenant_id` or one of its ancestors.
    pub carrier_id: CarrierId,
    /// Lower first, among routes of equal prefix length and tenant level.
    pub priority: u16,
    /// Leading characters of the number removed before sending (a leading `+` counts as one).
    pub strip: u8,
    /// Put in front of the number after stripping.
    pub prepend: String,
    /// Disabled routes are never candidates.
    pub enabled: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Route {
    /// The number as it is sent to the carrier: `strip` leading characters removed, then
    /// `prepend` put in front.
    pub fn rewrite(&self, number: &str) -> String {
        let cut = number
            .char_indices()
            .nth(usize::from(self.strip))
            .map_or(number.len(), |(i, _)| i);
        let mut out = String::with_capacity(self.prepend.len() + number.len() - cut);
        out.push_str(&self.prepend);
        out.push_str(&number[cut..]);
        out
    }
}

/// A price list, owned by the platform or a reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTable {
    /// Id.
    pub id: RateTableId,
    /// Owning platform or reseller.
    pub tenant_id: TenantId,
    /// Unique per owner.
    pub name: String,
    /// ISO 4217 code of every price in the table.
    pub currency: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// The price of calls to numbers starting with `prefix`. Money is in integer micro-units of the
/// table's currency (1 EUR = 1 000 000), so sums never suffer rounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// Id.
    pub id: RateId,
    /// The table it belongs to.
    pub rate_table_id: RateTableId,
    /// 1–20 digits, unique per table; the longest match wins.
    pub prefix: String,
    /// Free text, e.g. `Germany mobile`.
    pub description: Option<String>,
    /// Micro-units per minute.
    pub price_per_min: i64,
    /// Micro-units charged once per answered call.
    pub connect_fee: i64,
    /// The first billed block, in seconds (1–3600).
    pub initial_increment_s: u32,
    /// Every later billed block, in seconds (1–3600).
    pub increment_s: u32,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

fn narrow<T: TryFrom<i64>>(row: &AnyRow, col: &'static str) -> Result<T, StoreError> {
    let v: i64 = row.try_get(col)?;
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} {v}")))
}

fn corrupt(col: &str) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{col}: {e}"))
}

pub(crate) fn device(row: &AnyRow) -> Result<Device, StoreError> {
    Ok(Device {
        id: DeviceId(row.try_get("id")?),
        customer_id: TenantId(row.try_get("customer_id")?),
        name: row.try_get("name")?,
        mac: row.try_get("mac")?,
        model: row.try_get("model")?,
        user_id: row.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        created_at: row.try_get("created_at")?,
    })
}

/// A carrier row; a sealed password is opened with `keyring` (a value from before sealing
/// existed is read as it is, and sealed at the next connect with a keyring).
pub(crate) fn carrier(row: &AnyRow, keyring: Option<&Keyring>) -> Result<Carrier, StoreError> {
    let mode: String = row.try_get("auth_mode")?;
    let auth = match mode.as_str() {
        "ip" => CarrierAuth::Ip,
        "credentials" => {
            let username: Option<String> = row.try_get("username")?;
            let password: Option<String> = row.try_get("password")?;
            let realm: Option<String> = row.try_get("realm")?;
            let (Some(username), Some(password)) = (username, password) else {
                return Err(StoreError::Corrupt(
                    "carriers: credentials without username or password".to_owned(),
                ));
            };
            let password = match crate::secrets::is_sealed(&password) {
                false => password,
                true => keyring
                    .ok_or_else(|| {
                        StoreError::Secret(
                            "carriers.password is sealed, but no secret key is configured"
                                .to_owned(),
                        )
                    })?
                    .open("carriers.password", &password)?,
            };
            CarrierAuth::Credentials {
                username: CarrierUsername::parse(&username)
                    .map_err(corrupt("carriers.username"))?,
                password: CarrierPassword::parse(&password)
                    .map_err(corrupt("carriers.password"))?,
                realm: realm
                    .as_deref()
                    .map(CarrierRealm::parse)
                    .transpose()
                    .map_err(corrupt("carriers.realm"))?,
            }
        }
        other => return Err(StoreError::Corrupt(format!("carriers.auth_mode {other:?}"))),
    };
    let max_channels = match row.try_get::<Option<i64>, _>("max_channels")? {
        None => None,
        Some(n) => Some(
            u32::try_from(n)
                .map_err(|_| StoreError::Corrupt(format!("carriers.max_channels {n}")))?,
        ),
    };
    Ok(Carrier {
        id: CarrierId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        auth,
        enabled: get_bool(row, "enabled")?,
        max_channels,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn gateway(row: &AnyRow) -> Result<Gateway, StoreError> {
    let transport: String = row.try_get("transport")?;
    Ok(Gateway {
        id: GatewayId(row.try_get("id")?),
        carrier_id: CarrierId(row.try_get("carrier_id")?),
        host: row.try_get("host")?,
        port: narrow(row, "port")?,
        transport: Transport::parse(&transport)
            .map_err(|_| StoreError::Corrupt(format!("gateways.transport {transport:?}")))?,
        priority: narrow(row, "priority")?,
        weight: narrow(row, "weight")?,
        enabled: get_bool(row, "enabled")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn route(row: &AnyRow) -> Result<Route, StoreError> {
    Ok(Route {
        id: RouteId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        prefix: row.try_get("prefix")?,
        carrier_id: CarrierId(row.try_get("carrier_id")?),
        priority: narrow(row, "priority")?,
        strip: narrow(row, "strip")?,
        prepend: row.try_get("prepend")?,
        enabled: get_bool(row, "enabled")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn rate_table(row: &AnyRow) -> Result<RateTable, StoreError> {
    Ok(RateTable {
        id: RateTableId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
        currency: row.try_get("currency")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn rate(row: &AnyRow) -> Result<Rate, StoreError> {
    Ok(Rate {
        id: RateId(row.try_get("id")?),
        rate_table_id: RateTableId(row.try_get("rate_table_id")?),
        prefix: row.try_get("prefix")?,
        description: row.try_get("description")?,
        price_per_min: row.try_get("price_per_min")?,
        connect_fee: row.try_get("connect_fee")?,
        initial_increment_s: narrow(row, "initial_increment_s")?,
        increment_s: narrow(row, "increment_s")?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite() {
        let mut r = Route {
            id: RouteId(1),
            tenant_id: TenantId(1),
            prefix: "+49".to_owned(),
            carrier_id: CarrierId(1),
            priority: 0,
            strip: 0,
            prepend: String::new(),
            enabled: true,
            created_at: 0,
        };
        assert_eq!(r.rewrite("+4930123"), "+4930123");
        r.strip = 1;
        r.prepend = "00".to_owned();
        assert_eq!(r.rewrite("+4930123"), "004930123");
        r.strip = 20;
        assert_eq!(r.rewrite("+4930123"), "00");
    }
}
