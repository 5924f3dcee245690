//! Validated inputs: parse at the boundary, then work with types that cannot hold bad values.

use std::fmt;

use crate::StoreError;

/// Longest tenant name.
pub const MAX_TENANT_NAME: usize = 100;
/// Longest SIP user part we store (RFC 3261 sets no limit; phones and carriers do).
pub const MAX_USERNAME: usize = 64;
/// Longest caller-ID string.
pub const MAX_CALLER_ID: usize = 64;
/// Password length bounds; a short SIP password is brute-forced by scanners within hours.
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;

pub(crate) fn quoted(value: &str) -> String {
    // Bound what an error message echoes back, so a 1 MB input does not become a 1 MB log line.
    let mut s: String = value.chars().take(80).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Refuses control characters (for machine-made text such as CDR fields; names use the stricter
/// [`crate::text::plain`]).
pub(crate) fn no_control(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("{} contains control characters", quoted(value)),
        ));
    }
    Ok(())
}

/// A tenant's display name: 1–100 characters after surrounding spaces are trimmed; control,
/// format (bidi overrides, zero-width) and line/paragraph separator characters are refused
/// (see [`crate::text`]); any other text (quotes, semicolons, …) is stored verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "tenant.name";
        // Checked before trimming: `trim` would silently drop a leading or trailing U+0085.
        crate::text::plain(F, value)?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(StoreError::invalid(F, "must not be empty"));
        }
        if trimmed.chars().count() > MAX_TENANT_NAME {
            return Err(StoreError::invalid(
                F,
                format!(
                    "{} is longer than {MAX_TENANT_NAME} characters",
                    quoted(value)
                ),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SIP domain (the digest realm of its users): a DNS name of at least two labels, lower-cased,
/// at most 253 characters, labels of letters, digits and `-`; one trailing dot is dropped, so
/// `example.test.` and `example.test` are one name.
///
/// Never a tenant domain: IP literals (a Request-URI to the server's address would otherwise
/// reach one tenant's users from every tenant), `localhost` and `*.localhost` (this host,
/// RFC 6761 §6.3), and `*.invalid` (RFC 6761 §6.4; `anonymous.invalid` is the host of every
/// anonymous caller, RFC 3323). The server's own names are refused by the store it runs on
/// (see [`crate::ConnectOptions::reserved_domains`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    /// Validates and lower-cases `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "domain.name";
        let bad = |why: &str| StoreError::invalid(F, format!("{} {why}", quoted(value)));
        if value.is_empty() {
            return Err(StoreError::invalid(F, "must not be empty"));
        }
        let unbracketed = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(value);
        if unbracketed.parse::<std::net::IpAddr>().is_ok() {
            return Err(bad("is an IP address; a domain must be a DNS name"));
        }
        let name = value
            .strip_suffix('.')
            .unwrap_or(value)
            .to_ascii_lowercase();
        if name.len() > 253 {
            return Err(bad("is longer than 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("has an empty label or one longer than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad("may only hold letters, digits, '-' and '.'"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("has a label that starts or ends with '-'"));
            }
        }
        let Some((_, top)) = name.rsplit_once('.') else {
            return Err(bad(
                "is a single label; use a full DNS name such as pbx.example.com",
            ));
        };
        // RFC 3696 §2: no top-level label is all-numeric, so `127.0.0.70` and `1.2.3.400` are
        // addresses (or typos of one), never names.
        if top.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("is an IP address; a domain must be a DNS name"));
        }
        if top == "localhost" {
            return Err(bad("names this host (localhost), never a tenant's domain"));
        }
        if top == "invalid" {
            return Err(bad(
                "is under .invalid, which never resolves (anonymous.invalid stands for anonymous callers)",
            ));
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SIP user part: 1–64 of the characters RFC 3261 §25.1 allows unescaped in `user`
/// (unreserved and user-unreserved). Escapes (`%41`) are refused so one user has one spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "user.username";
        if value.is_empty() {
            return Err(StoreError::invalid(F, "must not be empty"));
        }
        if value.len() > MAX_USERNAME {
            return Err(StoreError::invalid(
                F,
                format!("{} is longer than {MAX_USERNAME} characters", quoted(value)),
            ));
        }
        let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b);
        if !value.bytes().all(ok) {
            return Err(StoreError::invalid(
                F,
                format!(
                    "{} has characters not allowed in a SIP user part",
                    quoted(value)
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The user part.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An E.164 number: `+`, then 8–15 digits, the first not `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

impl E164 {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "did.e164";
        let bad = || {
            StoreError::invalid(
                F,
                format!(
                    "{} is not E.164 ('+' then 8 to 15 digits, not starting with 0)",
                    quoted(value)
                ),
            )
        };
        let digits = value.strip_prefix('+').ok_or_else(bad)?;
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(bad());
        }
        Ok(Self(value.to_owned()))
    }

    /// The number with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SIP password, kept only long enough to compute HA1s. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Validates the length (8–128 characters) and refuses control characters. The error never
    /// echoes the value.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        Self::parse_as("user.password", value)
    }

    /// [`Password::parse`] for another input field (errors name `field`).
    pub fn parse_as(field: &'static str, value: &str) -> Result<Self, StoreError> {
        let n = value.chars().count();
        if !PASSWORD_LEN.contains(&n) {
            return Err(StoreError::invalid(
                field,
                format!(
                    "must be {} to {} characters, got {n}",
                    PASSWORD_LEN.start(),
                    PASSWORD_LEN.end()
                ),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(StoreError::invalid(field, "contains control characters"));
        }
        Ok(Self(value.to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

/// An API login name: 3–100 characters of lower-case letters, digits and `.-_@+` (an e-mail
/// address fits). Upper case is folded so `Alice@Example.test` and `alice@example.test` are one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    /// Validates and lower-cases `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "account.login";
        let v = value.to_ascii_lowercase();
        if !(3..=100).contains(&v.len()) {
            return Err(StoreError::invalid(
                F,
                format!("{} must be 3 to 100 characters", quoted(value)),
            ));
        }
        if let Some(c) = v
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@+".contains(*c)))
        {
            return Err(StoreError::invalid(
                F,
                format!(
                    "{} contains {c:?}; use letters, digits and .-_@+",
                    quoted(value)
                ),
            ));
        }
        Ok(Self(v))
    }

    /// The normalized login.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Caller-ID text shown to the called party: at most 64 characters, none that
/// [`crate::text`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId(String);

impl CallerId {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        const F: &str = "user.caller_id";
        if value.chars().count() > MAX_CALLER_ID {
            return Err(StoreError::invalid(
                F,
                format!(
                    "{} is longer than {MAX_CALLER_ID} characters",
                    quoted(value)
                ),
            ));
        }
        crate::text::plain(F, value)?;
        Ok(Self(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a list: up to `limit` rows with ids greater than `after` (keyset pagination, so a
/// page stays stable while rows are inserted before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Return rows with a larger id than this (the last id of the previous page).
    pub after: Option<i64>,
    /// Rows per page, 1–1000.
    pub limit: u32,
}

impl Page {
    /// Largest page.
    pub const MAX_LIMIT: u32 = 1000;

    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }

    /// The page after the row with id `after`.
    pub fn after(after: i64, limit: u32) -> Self {
        Self {
            after: Some(after),
            limit,
        }
    }

    pub(crate) fn checked_limit(&self) -> Result<i64, StoreError> {
        if self.limit == 0 || self.limit > Self::MAX_LIMIT {
            return Err(StoreError::invalid(
                "page.limit",
                format!("{} is not within 1..={}", self.limit, Self::MAX_LIMIT),
            ));
        }
        Ok(i64::from(self.limit))
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        assert_eq!(
            DomainName::parse("Example.TEST.").map(|d| d.0).ok(),
            Some("example.test".to_owned())
        );
        assert_eq!(
            DomainName::parse("xn--mnchen-3ya.example")
                .map(|d| d.0)
                .ok(),
            Some("xn--mnchen-3ya.example".to_owned())
        );
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a b",
            "x'; DROP TABLE users; --",
            &"a".repeat(64),
            &format!("{}.test", "a.".repeat(125)),
            "example.test..",
            // Issue 19, finding 1: the server's IP as a tenant domain intercepted other
            // tenants' calls.
            "127.0.0.70",
            "127.0.0.70.",
            "1.2.3.400",
            "::1",
            "[::1]",
            "2001:db8::1",
            "[2001:db8::1]",
            "localhost",
            "LocalHost.",
            "phones.localhost",
            "anonymous.invalid",
            "pbx",
        ] {
            assert!(
                matches!(
                    DomainName::parse(bad),
                    Err(StoreError::Invalid {
                        field: "domain.name",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn usernames() {
        for ok in ["1001", "alice.smith", "a+b", "o'hara"] {
            assert!(Username::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "a b",
            "a@b",
            "a%41",
            "'; DROP TABLE users; --",
            &"u".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn e164() {
        assert!(E164::parse("+4930123456").is_ok());
        assert!(E164::parse("+12345678").is_ok());
        assert!(E164::parse("+123456789012345").is_ok());
        for bad in [
            "4930123456",
            "+1234567",
            "+1234567890123456",
            "+0301234567",
            "+49 30 1234",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_errors_never_echo() {
        let Err(StoreError::Invalid { reason, .. }) = Password::parse("short") else {
            panic!("short password accepted");
        };
        assert!(!reason.contains("short"));
        assert_eq!(
            format!("{:?}", Password::parse("secret1001")),
            "Ok(Password(redacted))"
        );
    }

    #[test]
    fn oversize_tenant_name() {
        assert!(TenantName::parse(&"x".repeat(101)).is_err());
        assert!(TenantName::parse(&"x".repeat(100)).is_ok());
        assert!(TenantName::parse("'; DROP TABLE users; --").is_ok());
    }
}
