//! Validation of a [`NewCdr`]: the same rules as the table's CHECK constraints, checked before
//! the database (and before the journal) so that errors name the field and the value.

use crate::validate::{no_control, quoted};
use crate::{Disposition, NewCdr, StoreError};

/// Longest SIP Call-ID we store.
const MAX_CALL_ID: usize = 255;
/// Longest caller or callee.
const MAX_PARTY: usize = 128;
/// Longest hang-up reason.
const MAX_HANGUP_REASON: usize = 64;
/// Longest rate-table prefix.
const MAX_RATE_PREFIX: usize = 32;
/// Longest recording location.
const MAX_RECORDING: usize = 1024;

/// `value` has `min..=max` characters and no control characters.
fn text(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), StoreError> {
    let n = value.chars().count();
    if n < min {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    if n > max {
        return Err(StoreError::invalid(
            field,
            format!("{} is longer than {max} characters", quoted(value)),
        ));
    }
    no_control(field, value)
}

impl NewCdr {
    /// Checks every field; the error names the first bad one (`cdr.sip_code`, …).
    pub fn validate(&self) -> Result<(), StoreError> {
        text("cdr.call_id", &self.call_id, 1, MAX_CALL_ID)?;
        text("cdr.caller", &self.caller, 0, MAX_PARTY)?;
        text("cdr.callee", &self.callee, 0, MAX_PARTY)?;
        self.check_times()?;
        if !(100..=699).contains(&self.sip_code) {
            return Err(StoreError::invalid(
                "cdr.sip_code",
                format!("{} is not within 100..=699", self.sip_code),
            ));
        }
        text(
            "cdr.hangup_reason",
            &self.hangup_reason,
            1,
            MAX_HANGUP_REASON,
        )?;
        if let Some(p) = &self.rate_prefix {
            let digits = p.strip_prefix('+').unwrap_or(p);
            if digits.is_empty()
                || p.len() > MAX_RATE_PREFIX
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(StoreError::invalid(
                    "cdr.rate_prefix",
                    format!(
                        "{} is not 1 to {MAX_RATE_PREFIX} digits (optionally after '+')",
                        quoted(p)
                    ),
                ));
            }
        }
        self.check_money()?;
        if let Some(mos) = self.qos.mos_x100 {
            if !(100..=500).contains(&mos) {
                return Err(StoreError::invalid(
                    "cdr.qos.mos_x100",
                    format!("{mos} is not within 100..=500 (MOS 1.00 to 5.00)"),
                ));
            }
        }
        if let Some(r) = &self.recording {
            text("cdr.recording", r, 1, MAX_RECORDING)?;
        }
        Ok(())
    }

    fn check_times(&self) -> Result<(), StoreError> {
        if self.started_at < 0 {
            return Err(StoreError::invalid(
                "cdr.started_at",
                format!("{} is before the Unix epoch", self.started_at),
            ));
        }
        if let Some(a) = self.answered_at {
            if a < self.started_at {
                return Err(StoreError::invalid(
                    "cdr.answered_at",
                    format!("{a} is before started_at {}", self.started_at),
                ));
            }
        }
        let floor = self.answered_at.unwrap_or(self.started_at);
        if self.ended_at < floor {
            return Err(StoreError::invalid(
                "cdr.ended_at",
                format!(
                    "{} is before {} {floor}",
                    self.ended_at,
                    if self.answered_at.is_some() {
                        "answered_at"
                    } else {
                        "started_at"
                    }
                ),
            ));
        }
        let answered = self.disposition == Disposition::Answered;
        if answered != self.answered_at.is_some() {
            return Err(StoreError::invalid(
                "cdr.answered_at",
                format!(
                    "must be set exactly when the disposition is answered (disposition is {})",
                    self.disposition.as_str()
                ),
            ));
        }
        Ok(())
    }

    fn check_money(&self) -> Result<(), StoreError> {
        match (&self.billed, &self.currency) {
            (None, None) => Ok(()),
            (Some(b), Some(c)) => {
                if *b < 0 {
                    return Err(StoreError::invalid(
                        "cdr.billed",
                        format!("{b} is negative"),
                    ));
                }
                if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(StoreError::invalid(
                        "cdr.currency",
                        format!("{} is not an ISO 4217 code like EUR", quoted(c)),
                    ));
                }
                Ok(())
            }
            (Some(_), None) => Err(StoreError::invalid(
                "cdr.currency",
                "must be set when billed is set",
            )),
            (None, Some(_)) => Err(StoreError::invalid(
                "cdr.billed",
                "must be set when currency is set",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{CdrUuid, Direction, Leg, Qos, TenantId};

    fn ok() -> NewCdr {
        NewCdr {
            uuid: CdrUuid::random(),
            customer_id: TenantId(7),
            user_id: None,
            call_id: "a84b4c76e66710@pc33.example.test".to_owned(),
            leg: Leg::A,
            direction: Direction::Outbound,
            caller: "+4930123456".to_owned(),
            callee: "+4989654321".to_owned(),
            started_at: 1_000,
            answered_at: Some(3_000),
            ended_at: 63_000,
            disposition: Disposition::Answered,
            sip_code: 200,
            hangup_reason: "caller_bye".to_owned(),
            carrier_id: Some(2),
            rate_prefix: Some("+4989".to_owned()),
            billed: Some(12_500),
            currency: Some("EUR".to_owned()),
            qos: Qos {
                mos_x100: Some(430),
                ..Qos::default()
            },
            recording: None,
        }
    }

    fn field(c: &NewCdr) -> &'static str {
        match c.validate() {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_and_derived_durations() {
        let c = ok();
        c.validate().unwrap();
        assert_eq!((c.duration_ms(), c.billsec_ms()), (62_000, 60_000));
    }

    #[test]
    fn each_rule_names_its_field() {
        type Edit = fn(&mut NewCdr);
        let cases: &[(Edit, &str)] = &[
            (|c| c.call_id.clear(), "cdr.call_id"),
            (|c| c.call_id = "x".repeat(256), "cdr.call_id"),
            (|c| c.caller = "1\n2".to_owned(), "cdr.caller"),
            (|c| c.callee = "9".repeat(129), "cdr.callee"),
            (|c| c.started_at = -1, "cdr.started_at"),
            (|c| c.answered_at = Some(999), "cdr.answered_at"),
            (|c| c.ended_at = 2_999, "cdr.ended_at"),
            (|c| c.disposition = Disposition::Busy, "cdr.answered_at"),
            (|c| c.sip_code = 99, "cdr.sip_code"),
            (|c| c.sip_code = 700, "cdr.sip_code"),
            (|c| c.hangup_reason.clear(), "cdr.hangup_reason"),
            (
                |c| c.rate_prefix = Some("49%".to_owned()),
                "cdr.rate_prefix",
            ),
            (|c| c.rate_prefix = Some("+".to_owned()), "cdr.rate_prefix"),
            (|c| c.billed = Some(-1), "cdr.billed"),
            (|c| c.currency = None, "cdr.currency"),
            (|c| c.currency = Some("eur".to_owned()), "cdr.currency"),
            (|c| c.qos.mos_x100 = Some(501), "cdr.qos.mos_x100"),
            (|c| c.recording = Some(String::new()), "cdr.recording"),
        ];
        for (edit, want) in cases {
            let mut c = ok();
            edit(&mut c);
            assert_eq!(field(&c), *want, "{c:?}");
        }
    }

    #[test]
    fn unanswered_leg() {
        let mut c = ok();
        c.answered_at = None;
        c.disposition = Disposition::NoAnswer;
        c.sip_code = 480;
        c.validate().unwrap();
        assert_eq!(c.billsec_ms(), 0);
    }

    #[test]
    fn uuids_and_enums() {
        let u = CdrUuid::random();
        assert_eq!(CdrUuid::parse(u.as_str()).unwrap(), u);
        assert_ne!(CdrUuid::random(), u);
        for bad in ["", "ABCDEF0123456789abcdef0123456789", &"0".repeat(33)] {
            assert!(CdrUuid::parse(bad).is_err(), "{bad:?}");
        }
        for d in [
            Disposition::Answered,
            Disposition::Busy,
            Disposition::NoAnswer,
            Disposition::Cancelled,
            Disposition::Failed,
        ] {
            assert_eq!(Disposition::parse(d.as_str()).unwrap(), d);
        }
        assert!(matches!(
            Leg::parse("c"),
            Err(StoreError::Invalid {
                field: "cdr.leg",
                ..
            })
        ));
    }
}
