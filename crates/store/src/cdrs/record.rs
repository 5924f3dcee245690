//! The call detail record: what the call path hands in ([`NewCdr`]), what the store hands out
//! ([`Cdr`]), and the small enums and the idempotency key they are made of.

use rand::Rng as _;

use crate::{CdrId, StoreError, TenantId, UserId};

/// The idempotency key of a CDR: 32 lower-case hex digits (128 random bits), chosen by whoever
/// produces the record, so that writing it twice (a journal retry, a replay after a crash)
/// stores it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CdrUuid(String);

impl CdrUuid {
    /// A fresh random key.
    pub fn random() -> Self {
        let bits: u128 = rand::rng().random();
        Self(format!("{bits:032x}"))
    }

    /// Validates `value`: exactly 32 lower-case hex digits.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        let ok = value.len() == 32
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            let shown: String = value.chars().take(40).collect();
            return Err(StoreError::invalid(
                "cdr.uuid",
                format!("{shown:?} is not 32 lower-case hex digits"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the stored spelling.
            pub fn parse(value: &str) -> Result<Self, StoreError> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    other => Err(StoreError::invalid(
                        $field,
                        format!(
                            "{other:?} is not one of {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Which side of a call a CDR describes.
    Leg, "cdr.leg" {
        /// The caller's leg (towards the platform).
        A = "a",
        /// The callee's leg (from the platform onwards).
        B = "b",
    }
);

text_enum!(
    /// Where a call came from and went to, seen from the billed customer.
    Direction, "cdr.direction" {
        /// From a carrier (a DID) to the customer.
        Inbound = "inbound",
        /// From the customer to a carrier.
        Outbound = "outbound",
        /// Between users of the platform, no carrier involved.
        Internal = "internal",
    }
);

text_enum!(
    /// How a call leg ended.
    Disposition, "cdr.disposition" {
        /// Answered (2xx); the only disposition with an `answered_at` and billable seconds.
        Answered = "answered",
        /// The callee was busy (486, 600).
        Busy = "busy",
        /// Nobody answered (408, 480, or a ring timeout).
        NoAnswer = "no_answer",
        /// The caller hung up before an answer (CANCEL, 487).
        Cancelled = "cancelled",
        /// Any other failure (4xx–6xx, no route, carrier down).
        Failed = "failed",
    }
);

/// Media quality of a leg as measured by the relay; each value is `None` when unknown (no RTP,
/// no RTCP, media not relayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Qos {
    /// RTP packets received from the endpoint.
    pub rtp_packets_rx: Option<u32>,
    /// RTP packets sent to the endpoint.
    pub rtp_packets_tx: Option<u32>,
    /// RTP packets lost on the way to us.
    pub rtp_lost: Option<u32>,
    /// Interarrival jitter (RFC 3550 §6.4.1), microseconds.
    pub jitter_us: Option<u32>,
    /// Round-trip time from RTCP, microseconds.
    pub rtt_us: Option<u32>,
    /// Estimated MOS times 100 (100–500), an integer so no float column is needed.
    pub mos_x100: Option<u16>,
}

/// A CDR to store. [`NewCdr::validate`] checks it; the store and the journal call it before
/// accepting a record. `duration_ms` and `billsec_ms` are derived from the timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCdr {
    /// Idempotency key, see [`CdrUuid`].
    pub uuid: CdrUuid,
    /// The tenant that is billed; reads are scoped by it.
    pub customer_id: TenantId,
    /// The platform user of the leg, if any.
    pub user_id: Option<UserId>,
    /// SIP Call-ID of the leg, 1–255 characters.
    pub call_id: String,
    /// Caller's or callee's leg.
    pub leg: Leg,
    /// Direction seen from the customer.
    pub direction: Direction,
    /// Calling number or user, at most 128 characters.
    pub caller: String,
    /// Called number or user, at most 128 characters.
    pub callee: String,
    /// INVITE received or sent, ms since the Unix epoch.
    pub started_at: i64,
    /// 2xx, if answered; not before `started_at`.
    pub answered_at: Option<i64>,
    /// Final response or BYE; not before `answered_at` (or `started_at`).
    pub ended_at: i64,
    /// How the leg ended; `Answered` exactly when `answered_at` is set.
    pub disposition: Disposition,
    /// Final SIP status (100–699), 200 for an answered call.
    pub sip_code: u16,
    /// Why it ended: `caller_bye`, `callee_bye`, `media_timeout`, … (1–64 characters).
    pub hangup_reason: String,
    /// The carrier the leg went through, if any (a `carriers` id; no foreign key, so the CDR
    /// outlives the carrier).
    pub carrier_id: Option<i64>,
    /// The rate-table prefix that priced the call: 1–32 digits, optionally after a `+`.
    pub rate_prefix: Option<String>,
    /// Amount billed in micro-units of `currency` (1 EUR = 1 000 000); set with `currency`.
    pub billed: Option<i64>,
    /// ISO 4217 code (three upper-case letters); set with `billed`.
    pub currency: Option<String>,
    /// Media quality.
    pub qos: Qos,
    /// Where the recording is stored, if the leg was recorded (1–1024 characters).
    pub recording: Option<String>,
}

impl NewCdr {
    /// Total duration: `ended_at - started_at`.
    pub fn duration_ms(&self) -> i64 {
        self.ended_at.saturating_sub(self.started_at)
    }

    /// Answered duration: `ended_at - answered_at`, 0 if never answered.
    pub fn billsec_ms(&self) -> i64 {
        self.answered_at
            .map_or(0, |a| self.ended_at.saturating_sub(a))
    }
}

/// A stored CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    /// Row id; increases with every insert (pages are keyed on it).
    pub id: CdrId,
    /// Idempotency key.
    pub uuid: CdrUuid,
    /// The billed tenant.
    pub customer_id: TenantId,
    /// The platform user of the leg, if any.
    pub user_id: Option<UserId>,
    /// SIP Call-ID.
    pub call_id: String,
    /// Caller's or callee's leg.
    pub leg: Leg,
    /// Direction seen from the customer.
    pub direction: Direction,
    /// Calling number or user.
    pub caller: String,
    /// Called number or user.
    pub callee: String,
    /// Ms since the Unix epoch.
    pub started_at: i64,
    /// Ms since the Unix epoch, if answered.
    pub answered_at: Option<i64>,
    /// Ms since the Unix epoch.
    pub ended_at: i64,
    /// `ended_at - started_at`.
    pub duration_ms: i64,
    /// `ended_at - answered_at`, 0 if never answered.
    pub billsec_ms: i64,
    /// How the leg ended.
    pub disposition: Disposition,
    /// Final SIP status.
    pub sip_code: u16,
    /// Why it ended.
    pub hangup_reason: String,
    /// Carrier id, if any.
    pub carrier_id: Option<i64>,
    /// Rate-table prefix, if priced.
    pub rate_prefix: Option<String>,
    /// Micro-units of `currency`, if priced.
    pub billed: Option<i64>,
    /// ISO 4217 code, if priced.
    pub currency: Option<String>,
    /// Media quality.
    pub qos: Qos,
    /// Recording location, if recorded.
    pub recording: Option<String>,
    /// When the row was stored, ms since the Unix epoch.
    pub created_at: i64,
}

/// Which CDRs [`crate::Store::list_cdrs`] returns, on top of the caller's scope. Every field
/// left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    /// Only this billed tenant.
    pub customer_id: Option<TenantId>,
    /// Only this user.
    pub user_id: Option<UserId>,
    /// Only this disposition.
    pub disposition: Option<Disposition>,
    /// Started at or after this time (ms since the Unix epoch).
    pub from_ms: Option<i64>,
    /// Started before this time (ms since the Unix epoch).
    pub to_ms: Option<i64>,
    /// Caller starts with this text (compared literally, case-sensitively).
    pub caller_prefix: Option<String>,
    /// Callee starts with this text (compared literally, case-sensitively).
    pub callee_prefix: Option<String>,
}
