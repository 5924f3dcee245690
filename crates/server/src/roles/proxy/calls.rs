//! Call tracking for the proxy, sans-IO: every INVITE it forwards is a call from setup to BYE
//! (or to its failure), so that concurrent-call limits per user hold and one CDR per call is
//! written with its times, disposition and SIP code.

use std::collections::HashMap;
use std::sync::Arc;

use trunkline_media::Side;
use trunkline_store::{
    CdrUuid, Direction, Disposition, Leg, LiveCall, LiveMedia, NewCdr, Qos, TenantId, UserId,
};

use super::hangup::Dialog;
use crate::roles::shared::UserCalls;

/// A call is known by its Call-ID and the caller's From tag (a fork's dialogs share both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CallKey {
    pub(crate) call_id: String,
    pub(crate) caller_tag: String,
}

/// One side of a call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Party {
    /// The platform user, when the side is one.
    pub(crate) user: Option<UserId>,
    /// Its customer.
    pub(crate) customer: Option<TenantId>,
    /// `user@domain` or the URI as it came, for the CDR.
    pub(crate) name: String,
}

#[derive(Debug, Clone)]
struct Call {
    caller: Party,
    callee: Party,
    started_ms: u64,
    answered_ms: Option<u64>,
    /// The dialog of the answer, so that the proxy can end the call itself.
    dialog: Option<Dialog>,
    /// The relay records the call.
    record: bool,
}

/// How a call ended, for the CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hangup {
    /// The caller sent BYE.
    CallerBye,
    /// The callee sent BYE.
    CalleeBye,
    /// The call outlived `proxy.max_call_secs` without a BYE.
    Timeout,
    /// No media from either party for `media.timeout_secs`: the proxy sent both a BYE.
    MediaTimeout,
}

impl Hangup {
    fn as_str(self) -> &'static str {
        match self {
            Hangup::CallerBye => "caller_bye",
            Hangup::CalleeBye => "callee_bye",
            Hangup::Timeout => "max_duration",
            Hangup::MediaTimeout => "media_timeout",
        }
    }
}

/// The calls in progress.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    calls: HashMap<CallKey, Call>,
    /// Per-user counts, shared by every shard's calls.
    per_user: Arc<UserCalls>,
}

impl Calls {
    /// Calls tracked here, counted per user in `per_user` with every other shard's.
    pub(crate) fn new(per_user: Arc<UserCalls>) -> Self {
        Calls {
            calls: HashMap::new(),
            per_user,
        }
    }

    /// Calls `user` is in now (ringing or answered), on any shard.
    pub(crate) fn active(&self, user: UserId) -> u32 {
        self.per_user.active(user)
    }

    /// Calls in progress.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether `key` is a call in progress.
    pub(crate) fn contains(&self, key: &CallKey) -> bool {
        self.calls.contains_key(key)
    }

    /// A new call; false if one with this key exists already.
    pub(crate) fn begin(
        &mut self,
        key: CallKey,
        caller: Party,
        callee: Party,
        now_ms: u64,
    ) -> bool {
        if self.calls.contains_key(&key) {
            return false;
        }
        for u in [caller.user, callee.user].into_iter().flatten() {
            self.per_user.begin(u);
        }
        self.calls.insert(
            key,
            Call {
                caller,
                callee,
                started_ms: now_ms,
                answered_ms: None,
                dialog: None,
                record: false,
            },
        );
        true
    }

    /// The call was answered (its first 2xx), in `dialog` when the proxy could read it.
    pub(crate) fn answered(&mut self, key: &CallKey, now_ms: u64, dialog: Option<Dialog>) {
        if let Some(c) = self.calls.get_mut(key) {
            c.answered_ms.get_or_insert(now_ms);
            if c.dialog.is_none() {
                c.dialog = dialog;
            }
        }
    }

    /// The call is to be recorded.
    pub(crate) fn record(&mut self, key: &CallKey) {
        if let Some(c) = self.calls.get_mut(key) {
            c.record = true;
        }
    }

    /// Whether the call is to be recorded.
    pub(crate) fn records(&self, key: &CallKey) -> bool {
        self.calls.get(key).is_some_and(|c| c.record)
    }

    /// `side` sent a request with CSeq `n` in the call's dialog.
    pub(crate) fn saw_cseq(&mut self, key: &CallKey, side: Side, n: u32) {
        if let Some(d) = self.calls.get_mut(key).and_then(|c| c.dialog.as_mut()) {
            d.saw_cseq(side, n);
        }
    }

    /// The dialog of an answered call.
    pub(crate) fn dialog(&self, key: &CallKey) -> Option<&Dialog> {
        self.calls.get(key)?.dialog.as_ref()
    }

    /// The calls in progress, oldest first; `qos` says whether a call is relayed (`Some`)
    /// and its figures when known (a remote node's are not).
    pub(crate) fn live(
        &self,
        qos: impl Fn(&CallKey) -> Option<Option<[LiveMedia; 2]>>,
    ) -> Vec<LiveCall> {
        let mut calls: Vec<(&CallKey, &Call)> = self.calls.iter().collect();
        calls.sort_by_key(|(k, c)| (c.started_ms, &k.call_id));
        (calls.into_iter())
            .map(|(key, c)| {
                let q = qos(key);
                LiveCall {
                    call_id: key.call_id.clone(),
                    caller: c.caller.name.clone(),
                    callee: c.callee.name.clone(),
                    customers: [c.caller.customer, c.callee.customer]
                        .into_iter()
                        .flatten()
                        .collect(),
                    started_at: c.started_ms as i64,
                    answered_at: c.answered_ms.map(|a| a as i64),
                    relayed: q.is_some(),
                    recording: c.record && q.is_some(),
                    media: q.flatten(),
                }
            })
            .collect()
    }

    /// The keys of the calls with Call-ID `call_id` (one, unless Call-IDs collide).
    pub(crate) fn keys_of(&self, call_id: &str) -> Vec<CallKey> {
        (self.calls.keys())
            .filter(|k| k.call_id == call_id)
            .cloned()
            .collect()
    }

    /// The call failed with final response `code` before an answer: its CDR.
    pub(crate) fn failed(&mut self, key: &CallKey, code: u16, now_ms: u64) -> Option<NewCdr> {
        if self.calls.get(key)?.answered_ms.is_some() {
            return None;
        }
        let call = self.remove(key)?;
        let disposition = match code {
            486 | 600 => Disposition::Busy,
            408 | 480 => Disposition::NoAnswer,
            487 => Disposition::Cancelled,
            _ => Disposition::Failed,
        };
        cdr(key, call, now_ms, disposition, code, "failed")
    }

    /// An answered call ended: its CDR.
    pub(crate) fn ended(&mut self, key: &CallKey, how: Hangup, now_ms: u64) -> Option<NewCdr> {
        self.calls.get(key)?.answered_ms?;
        let call = self.remove(key)?;
        cdr(key, call, now_ms, Disposition::Answered, 200, how.as_str())
    }

    /// Answered calls older than `max_ms`, to be ended as timed out.
    pub(crate) fn overdue(&self, now_ms: u64, max_ms: u64) -> Vec<CallKey> {
        (self.calls.iter())
            .filter(|(_, c)| {
                c.answered_ms
                    .is_some_and(|a| now_ms.saturating_sub(a) > max_ms)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn remove(&mut self, key: &CallKey) -> Option<Call> {
        let call = self.calls.remove(key)?;
        for u in [call.caller.user, call.callee.user].into_iter().flatten() {
            self.per_user.end(u);
        }
        Some(call)
    }
}

/// The CDR of a call: billed to the caller's customer when the caller is a platform user
/// (the A leg), else to the callee's (an inbound call, the B leg); `None` when neither side
/// belongs to a customer.
fn cdr(
    key: &CallKey,
    call: Call,
    now_ms: u64,
    disposition: Disposition,
    sip_code: u16,
    hangup: &str,
) -> Option<NewCdr> {
    let (leg, direction, billed) = match (call.caller.customer, call.callee.customer) {
        (Some(_), Some(_)) => (Leg::A, Direction::Internal, &call.caller),
        (Some(_), None) => (Leg::A, Direction::Outbound, &call.caller),
        (None, Some(_)) => (Leg::B, Direction::Inbound, &call.callee),
        (None, None) => return None,
    };
    let customer_id = billed.customer?;
    let hangup_reason = match disposition {
        Disposition::Answered => hangup.to_owned(),
        Disposition::Cancelled => "caller_cancel".to_owned(),
        _ => format!("sip_{sip_code}"),
    };
    Some(NewCdr {
        uuid: CdrUuid::random(),
        customer_id,
        user_id: billed.user,
        call_id: truncate(&key.call_id, 255),
        leg,
        direction,
        caller: truncate(&call.caller.name, 128),
        callee: truncate(&call.callee.name, 128),
        started_at: call.started_ms as i64,
        answered_at: call.answered_ms.map(|a| a as i64),
        ended_at: now_ms.max(call.started_ms) as i64,
        disposition,
        sip_code,
        hangup_reason,
        carrier_id: None,
        rate_prefix: None,
        billed: None,
        currency: None,
        qos: Qos::default(),
        recording: None,
    })
}

/// At most `max` characters of `s`, cut on a character boundary.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(user: i64, customer: i64) -> Party {
        Party {
            user: Some(UserId(user)),
            customer: Some(TenantId(customer)),
            name: format!("{user}@example.test"),
        }
    }

    fn key(n: u32) -> CallKey {
        CallKey {
            call_id: format!("call-{n}"),
            caller_tag: "t".to_owned(),
        }
    }

    #[test]
    fn limits_count_ringing_and_answered_calls() {
        let mut c = Calls::default();
        assert!(c.begin(key(1), party(1, 10), party(2, 10), 1000));
        assert!(
            !c.begin(key(1), party(1, 10), party(2, 10), 1000),
            "same key twice"
        );
        assert!(c.begin(key(2), party(3, 10), party(2, 10), 1000));
        assert_eq!((c.active(UserId(1)), c.active(UserId(2))), (1, 2));
        let cdr = c.failed(&key(2), 486, 2000).unwrap();
        assert_eq!(cdr.disposition, Disposition::Busy);
        assert_eq!(cdr.hangup_reason, "sip_486");
        assert_eq!(c.active(UserId(2)), 1);
        c.answered(&key(1), 3000, None);
        assert!(
            c.failed(&key(1), 487, 3500).is_none(),
            "answered calls do not fail"
        );
        let cdr = c.ended(&key(1), Hangup::CalleeBye, 8000).unwrap();
        assert_eq!(cdr.disposition, Disposition::Answered);
        assert_eq!(
            (cdr.started_at, cdr.answered_at, cdr.ended_at),
            (1000, Some(3000), 8000)
        );
        assert_eq!((cdr.leg, cdr.direction), (Leg::A, Direction::Internal));
        assert_eq!(cdr.hangup_reason, "callee_bye");
        assert!(cdr.validate().is_ok());
        assert_eq!(c.len(), 0);
        assert_eq!(c.active(UserId(2)), 0);
    }

    #[test]
    fn inbound_calls_bill_the_callee_and_old_calls_expire() {
        let mut c = Calls::default();
        let outsider = Party {
            name: "sip:x@198.51.100.1".to_owned(),
            ..Party::default()
        };
        c.begin(key(1), outsider.clone(), party(2, 20), 0);
        c.answered(&key(1), 10, None);
        assert!(c.overdue(1000, 5000).is_empty());
        let cdrs: Vec<NewCdr> = (c.overdue(10_000, 5000).iter())
            .filter_map(|k| c.ended(k, Hangup::Timeout, 10_000))
            .collect();
        assert_eq!(cdrs.len(), 1);
        assert_eq!(cdrs[0].customer_id, TenantId(20));
        assert_eq!(
            (cdrs[0].leg, cdrs[0].direction),
            (Leg::B, Direction::Inbound)
        );
        assert_eq!(cdrs[0].hangup_reason, "max_duration");
        c.begin(key(2), outsider.clone(), outsider, 0);
        assert!(c.failed(&key(2), 404, 1).is_none(), "nobody to bill");
    }
}
