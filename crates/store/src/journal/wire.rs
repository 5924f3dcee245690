//! A journal record's payload: a [`NewCdr`] as JSON, through a private mirror so the public type
//! needs no serde and the stored field names stay stable when the Rust type changes.
//!
//! Missing optional fields read as `None`, so a journal written by an older version (with
//! fewer fields) still replays.

use serde::{Deserialize, Serialize};

use crate::{CdrUuid, Direction, Disposition, Leg, NewCdr, Qos, StoreError, TenantId, UserId};

#[derive(Serialize, Deserialize)]
struct WireCdr {
    uuid: String,
    customer_id: i64,
    user_id: Option<i64>,
    call_id: String,
    leg: String,
    direction: String,
    caller: String,
    callee: String,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: i64,
    disposition: String,
    sip_code: u16,
    hangup_reason: String,
    carrier_id: Option<i64>,
    rate_prefix: Option<String>,
    billed: Option<i64>,
    currency: Option<String>,
    rtp_packets_rx: Option<u32>,
    rtp_packets_tx: Option<u32>,
    rtp_lost: Option<u32>,
    jitter_us: Option<u32>,
    rtt_us: Option<u32>,
    mos_x100: Option<u16>,
    recording: Option<String>,
}

/// The payload for `cdr`.
pub(super) fn encode(c: &NewCdr) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WireCdr {
        uuid: c.uuid.as_str().to_owned(),
        customer_id: c.customer_id.0,
        user_id: c.user_id.map(UserId::get),
        call_id: c.call_id.clone(),
        leg: c.leg.as_str().to_owned(),
        direction: c.direction.as_str().to_owned(),
        caller: c.caller.clone(),
        callee: c.callee.clone(),
        started_at: c.started_at,
        answered_at: c.answered_at,
        ended_at: c.ended_at,
        disposition: c.disposition.as_str().to_owned(),
        sip_code: c.sip_code,
        hangup_reason: c.hangup_reason.clone(),
        carrier_id: c.carrier_id,
        rate_prefix: c.rate_prefix.clone(),
        billed: c.billed,
        currency: c.currency.clone(),
        rtp_packets_rx: c.qos.rtp_packets_rx,
        rtp_packets_tx: c.qos.rtp_packets_tx,
        rtp_lost: c.qos.rtp_lost,
        jitter_us: c.qos.jitter_us,
        rtt_us: c.qos.rtt_us,
        mos_x100: c.qos.mos_x100,
        recording: c.recording.clone(),
    })
}

/// The CDR in `payload`, validated; the error says why it can never be stored.
pub(super) fn decode(payload: &[u8]) -> Result<NewCdr, String> {
    let w: WireCdr = serde_json::from_slice(payload).map_err(|e| format!("not a CDR: {e}"))?;
    let cdr = from_wire(w).map_err(|e| e.to_string())?;
    cdr.validate().map_err(|e| e.to_string())?;
    Ok(cdr)
}

fn from_wire(w: WireCdr) -> Result<NewCdr, StoreError> {
    Ok(NewCdr {
        uuid: CdrUuid::parse(&w.uuid)?,
        customer_id: TenantId(w.customer_id),
        user_id: w.user_id.map(UserId),
        call_id: w.call_id,
        leg: Leg::parse(&w.leg)?,
        direction: Direction::parse(&w.direction)?,
        caller: w.caller,
        callee: w.callee,
        started_at: w.started_at,
        answered_at: w.answered_at,
        ended_at: w.ended_at,
        disposition: Disposition::parse(&w.disposition)?,
        sip_code: w.sip_code,
        hangup_reason: w.hangup_reason,
        carrier_id: w.carrier_id,
        rate_prefix: w.rate_prefix,
        billed: w.billed,
        currency: w.currency,
        qos: Qos {
            rtp_packets_rx: w.rtp_packets_rx,
            rtp_packets_tx: w.rtp_packets_tx,
            rtp_lost: w.rtp_lost,
            jitter_us: w.jitter_us,
            rtt_us: w.rtt_us,
            mos_x100: w.mos_x100,
        },
        recording: w.recording,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn round_trip_and_old_records() {
        let c = NewCdr {
            uuid: CdrUuid::random(),
            customer_id: TenantId(3),
            user_id: Some(UserId(9)),
            call_id: "x@y".to_owned(),
            leg: Leg::B,
            direction: Direction::Inbound,
            caller: "\"Ann\" <sip:ann@a.test>".to_owned(),
            callee: "+4930".to_owned(),
            started_at: 10,
            answered_at: None,
            ended_at: 20,
            disposition: Disposition::Busy,
            sip_code: 486,
            hangup_reason: "busy".to_owned(),
            carrier_id: None,
            rate_prefix: None,
            billed: None,
            currency: None,
            qos: Qos {
                jitter_us: Some(1200),
                ..Qos::default()
            },
            recording: None,
        };
        assert_eq!(decode(&encode(&c).unwrap()).unwrap(), c);
        // An older writer that knew no QoS and no recording.
        let old = format!(
            r#"{{"uuid":"{}","customer_id":3,"call_id":"x@y","leg":"a","direction":"internal",
               "caller":"1","callee":"2","started_at":1,"ended_at":1,"disposition":"failed",
               "sip_code":503,"hangup_reason":"no_route"}}"#,
            c.uuid.as_str()
        );
        let d = decode(old.as_bytes()).unwrap();
        assert_eq!((d.qos, d.recording), (Qos::default(), None));
        assert!(decode(b"{}").is_err());
        assert!(decode(br#"{"uuid":"nope"}"#).is_err());
    }
}
