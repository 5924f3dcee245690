//! Validated catalog inputs (devices, carriers, gateways, routes, rates): parse at the boundary,
//! then work with types that cannot hold bad values. Errors name the field.

use std::fmt;
use std::net::IpAddr;

use crate::StoreError;
use crate::validate::quoted;

/// Longest digit string in a route or rate prefix, and in a route's `prepend`.
pub const MAX_PREFIX_DIGITS: usize = 20;

/// Trims `value` and checks it is 1–`max` characters, none that [`crate::text`] refuses
/// (checked before trimming, so nothing is silently dropped).
fn label(field: &'static str, value: &str, max: usize) -> Result<String, StoreError> {
    crate::text::plain(field, value)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(StoreError::invalid(
            field,
            format!("{} is longer than {max} characters", quoted(value)),
        ));
    }
    Ok(trimmed.to_owned())
}

macro_rules! label_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (surrounding whitespace is trimmed).
            pub fn parse(value: &str) -> Result<Self, StoreError> {
                label($field, value, $max).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

label_type!(
    /// A device's display name: 1–100 characters, no control or format characters.
    DeviceName,
    "device.name",
    100
);
label_type!(
    /// A device's model, e.g. `Yealink T54W`: 1–100 characters, no control or format characters.
    DeviceModel,
    "device.model",
    100
);
label_type!(
    /// A carrier's name, unique per owning tenant: 1–100 characters, no control or format characters.
    CarrierName,
    "carrier.name",
    100
);
label_type!(
    /// A rate table's name, unique per owning tenant: 1–100 characters, no control or format characters.
    RateTableName,
    "rate_table.name",
    100
);
label_type!(
    /// A rate's description, e.g. `Germany mobile`: 1–200 characters, no control or format characters.
    RateDescription,
    "rate.description",
    200
);

/// A device's MAC address: 12 hex digits, stored lower-case without separators. Accepts
/// `aabbccddeeff`, `AA:BB:CC:DD:EE:FF`, `aa-bb-cc-dd-ee-ff` and `aabb.ccdd.eeff`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MacAddress(String);

impl MacAddress {
    /// Validates and normalizes `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        let bad = || {
            StoreError::invalid(
                "device.mac",
                format!(
                    "{} is not a MAC address (12 hex digits, optionally separated by ':' or '-')",
                    quoted(value)
                ),
            )
        };
        let bytes = value.as_bytes();
        // Separators must sit at the positions of one of the usual spellings, all alike.
        let hex: Vec<u8> = match bytes.len() {
            12 => bytes.to_vec(),
            17 => {
                let sep = bytes[2];
                if !matches!(sep, b':' | b'-') || (2..17).step_by(3).any(|i| bytes[i] != sep) {
                    return Err(bad());
                }
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 3 != 2)
                    .map(|(_, b)| *b)
                    .collect()
            }
            14 => {
                if bytes[4] != b'.' || bytes[9] != b'.' {
                    return Err(bad());
                }
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 5 != 4)
                    .map(|(_, b)| *b)
                    .collect()
            }
            _ => return Err(bad()),
        };
        if hex.len() != 12 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        Ok(Self(
            hex.iter()
                .map(|b| char::from(b.to_ascii_lowercase()))
                .collect(),
        ))
    }

    /// 12 lower-case hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters allowed in a carrier's digest username and realm: printable, no spaces, and none
/// that would need escaping inside a digest quoted-string (`"` and `\`).
fn digest_token(field: &'static str, value: &str, max: usize) -> Result<String, StoreError> {
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(StoreError::invalid(
            field,
            format!("{} is longer than {max} characters", quoted(value)),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\')
    {
        return Err(StoreError::invalid(
            field,
            format!(
                "{} may not hold spaces, control characters, '\"' or '\\'",
                quoted(value)
            ),
        ));
    }
    Ok(value.to_owned())
}

/// The username a carrier gave us for digest authentication: 1–128 printable characters
/// without spaces, `"` or `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierUsername(String);

impl CarrierUsername {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        digest_token("carrier.username", value, 128).map(Self)
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The digest realm a carrier challenges with, when it should be pinned: 1–253 printable
/// characters without spaces, `"` or `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierRealm(String);

impl CarrierRealm {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        digest_token("carrier.realm", value, 253).map(Self)
    }

    /// The realm.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The password a carrier gave us, kept in plaintext because we must answer the carrier's
/// digest challenges, whose realm, nonce and algorithm the carrier chooses per challenge.
/// `Debug` never shows it, error messages never echo it, and audit rows never record it.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierPassword(String);

impl CarrierPassword {
    /// Validates `value`: 1–128 characters, no control characters.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "carrier.password";
        let n = value.chars().count();
        if !(1..=128).contains(&n) {
            return Err(StoreError::invalid(
                F,
                format!("must be 1 to 128 characters, got {n}"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(StoreError::invalid(F, "contains control characters"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The plaintext, for computing a digest response. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CarrierPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CarrierPassword(redacted)")
    }
}

/// A gateway's host: an IPv4 or IPv6 literal (brackets optional, stored in canonical form
/// without them) or a lower-cased DNS name. An address must be one host: never unspecified
/// (`0.0.0.0`, `::`), multicast (224.0.0.0/4, ff00::/8) or broadcast (255.255.255.255),
/// which would send calls nowhere, to every host on a segment, or back to this server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayHost(String);

impl GatewayHost {
    /// Validates and normalizes `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "gateway.host";
        let bad = |why: &str| StoreError::invalid(F, format!("{} {why}", quoted(value)));
        if value.is_empty() {
            return Err(StoreError::invalid(F, "must not be empty"));
        }
        let literal = match value.strip_prefix('[') {
            Some(inner) => Some(
                inner
                    .strip_suffix(']')
                    .and_then(|v| v.parse::<std::net::Ipv6Addr>().ok())
                    .map(IpAddr::V6)
                    .ok_or_else(|| bad("is not a bracketed IPv6 address"))?,
            ),
            None => value.parse::<IpAddr>().ok(),
        };
        if let Some(ip) = literal {
            if let Some(why) = not_one_host(ip) {
                return Err(bad(why));
            }
            return Ok(Self(ip.to_string()));
        }
        let name = value
            .strip_suffix('.')
            .unwrap_or(value)
            .to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(bad("is not 1 to 253 characters long"));
        }
        for l in name.split('.') {
            if l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad("is neither an IP address nor a DNS name"));
            }
        }
        // RFC 3696 §2: a top-level label is never all-numeric, so `1.2.3.400` is a typo of an
        // address, not a name.
        if name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("is neither an IP address nor a DNS name"));
        }
        Ok(Self(name))
    }

    /// The host as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.parse().ok()
    }
}

/// Why `ip` does not name one host, if it does not.
pub(crate) fn not_one_host(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    if ip.is_unspecified() {
        Some("is the unspecified address, not a host")
    } else if ip.is_multicast() {
        Some("is a multicast address, not a host")
    } else if ip == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("is the broadcast address, not a host")
    } else {
        None
    }
}

fn digits(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_digit())
}

/// An outbound route's prefix: an optional `+`, then 0–20 digits. Empty matches every number.
/// It is compared with the dialled number character by character, so `+49` matches
/// `+4930…` but not `004930…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RoutePrefix(String);

impl RoutePrefix {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        let rest = value.strip_prefix('+').unwrap_or(value);
        if rest.len() > MAX_PREFIX_DIGITS || !digits(rest) {
            return Err(StoreError::invalid(
                "route.prefix",
                format!(
                    "{} is not an optional '+' and up to {MAX_PREFIX_DIGITS} digits",
                    quoted(value)
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a route puts in front of the number after stripping: an optional `+`, then digits;
/// at most 20 characters in all. May be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutePrepend(String);

impl RoutePrepend {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        let rest = value.strip_prefix('+').unwrap_or(value);
        if value.len() > MAX_PREFIX_DIGITS || !digits(rest) {
            return Err(StoreError::invalid(
                "route.prepend",
                format!(
                    "{} is not up to {MAX_PREFIX_DIGITS} characters of digits and a leading '+'",
                    quoted(value)
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A rate's prefix: 1–20 digits, matched against a number without its `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RatePrefix(String);

impl RatePrefix {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        if value.is_empty() || value.len() > MAX_PREFIX_DIGITS || !digits(value) {
            return Err(StoreError::invalid(
                "rate.prefix",
                format!("{} is not 1 to {MAX_PREFIX_DIGITS} digits", quoted(value)),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 4217 currency code: three letters, stored upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Validates `value` and upper-cases it.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => Ok(Self([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(StoreError::invalid(
                "rate_table.currency",
                format!("{} is not a three-letter ISO 4217 code", quoted(value)),
            )),
        }
    }

    /// The code, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<T: fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
        match r {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn macs() {
        for ok in [
            "aabbccddeeff",
            "AA:BB:CC:DD:EE:FF",
            "aa-bb-cc-dd-ee-ff",
            "aabb.ccdd.eeff",
        ] {
            assert_eq!(
                MacAddress::parse(ok).map(|m| m.0).ok().as_deref(),
                Some("aabbccddeeff"),
                "{ok:?}"
            );
        }
        for bad in [
            "",
            "aabbccddeef",
            "aabbccddeeffa",
            "aa:bb-cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:fg",
            "aabbc:cddeeff",
            "a:abb:cc:dd:ee:ff",
            "'; DROP TABLE devices; --",
        ] {
            assert_eq!(field(MacAddress::parse(bad)), "device.mac", "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        for (input, stored) in [
            ("192.0.2.1", "192.0.2.1"),
            ("2001:DB8::1", "2001:db8::1"),
            ("[2001:db8:0::1]", "2001:db8::1"),
            ("SIP.Carrier.example.", "sip.carrier.example"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(
                GatewayHost::parse(input).map(|h| h.0).ok().as_deref(),
                Some(stored),
                "{input:?}"
            );
        }
        for bad in [
            "",
            "1.2.3.400",
            "[192.0.2.1]",
            "a..b",
            "-a.example",
            "host name",
            "sip.example:5060",
            "'; DROP TABLE gateways; --",
            // Issue 19, finding 3: not one host.
            "0.0.0.0",
            "::",
            "[::]",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "[ff02::1]",
            "::ffff:224.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(field(GatewayHost::parse(bad)), "gateway.host", "{bad:?}");
        }
        assert!(GatewayHost::parse("sip.example").is_ok_and(|h| h.ip().is_none()));
    }

    #[test]
    fn prefixes() {
        for ok in ["", "+", "+49", "0049", &"1".repeat(20)] {
            assert!(RoutePrefix::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["49+", "++49", "4 9", "x", &"1".repeat(21)] {
            assert_eq!(field(RoutePrefix::parse(bad)), "route.prefix", "{bad:?}");
        }
        for ok in ["", "+", "00", "+49"] {
            assert!(RoutePrepend::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in ["0+0", "#31#", &"1".repeat(21)] {
            assert_eq!(field(RoutePrepend::parse(bad)), "route.prepend", "{bad:?}");
        }
        assert!(RatePrefix::parse("49").is_ok());
        for bad in ["", "+49", "4a", &"1".repeat(21)] {
            assert_eq!(field(RatePrefix::parse(bad)), "rate.prefix", "{bad:?}");
        }
    }

    #[test]
    fn currencies() {
        assert_eq!(
            Currency::parse("eur")
                .ok()
                .map(|c| c.to_string())
                .as_deref(),
            Some("EUR")
        );
        for bad in ["", "EU", "EURO", "E1R", "€UR"] {
            assert_eq!(
                field(Currency::parse(bad)),
                "rate_table.currency",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn carrier_credentials() {
        assert!(CarrierUsername::parse("user@carrier.example").is_ok());
        assert_eq!(field(CarrierUsername::parse("a b")), "carrier.username");
        assert_eq!(field(CarrierRealm::parse("a\"b")), "carrier.realm");
        let Err(StoreError::Invalid { reason, .. }) = CarrierPassword::parse("bad\npassword")
        else {
            panic!("control character accepted");
        };
        assert!(!reason.contains("password"));
        assert_eq!(
            format!("{:?}", CarrierPassword::parse("hunter2hunter2")),
            "Ok(CarrierPassword(redacted))"
        );
        assert_eq!(field(CarrierPassword::parse("")), "carrier.password");
    }

    #[test]
    fn labels() {
        assert_eq!(
            DeviceName::parse("  Reception phone ")
                .map(|n| n.0)
                .ok()
                .as_deref(),
            Some("Reception phone")
        );
        assert_eq!(field(DeviceName::parse("   ")), "device.name");
        assert_eq!(field(DeviceModel::parse(&"m".repeat(101))), "device.model");
        assert_eq!(field(CarrierName::parse("a\u{7}")), "carrier.name");
        assert_eq!(
            field(RateDescription::parse(&"d".repeat(201))),
            "rate.description"
        );
    }
}
