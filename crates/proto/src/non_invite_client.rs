//! Non-INVITE client transaction (RFC 3261 §17.1.2, with RFC 4320's rule that a 100 does not
//! stop retransmissions from reaching T2 pacing).

use std::time::Duration;

use bytes::Bytes;

use crate::act::{Act, End};
use crate::timer::{TimerKind, Timers};

/// States of Figure 6 of RFC 3261.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Request sent, no response.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// The final response arrived; absorbing its retransmissions.
    Completed,
    /// Done.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteClient {
    pub(crate) state: NonInviteClientState,
    request: Bytes,
    reliable: bool,
    e: Duration,
}

impl NonInviteClient {
    pub(crate) fn new(request: Bytes, reliable: bool, t: &Timers, acts: &mut Vec<Act>) -> Self {
        acts.push(Act::Send(request.clone()));
        if !reliable {
            acts.push(Act::Arm(TimerKind::E, t.t1));
        }
        acts.push(Act::Arm(TimerKind::F, t.t1x64()));
        NonInviteClient {
            state: NonInviteClientState::Trying,
            request,
            reliable,
            e: t.t1,
        }
    }

    pub(crate) fn on_response(&mut self, code: u16, t: &Timers, acts: &mut Vec<Act>) {
        use NonInviteClientState::*;
        match (self.state, code) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                acts.push(Act::Deliver);
            }
            (Trying | Proceeding, 200..=699) => {
                self.state = Completed;
                acts.push(Act::Disarm(TimerKind::E));
                acts.push(Act::Disarm(TimerKind::F));
                acts.push(Act::Deliver);
                if self.reliable {
                    self.state = Terminated;
                    acts.push(Act::Terminate(End::Normal));
                } else {
                    acts.push(Act::Arm(TimerKind::K, t.t4));
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind, t: &Timers, acts: &mut Vec<Act>) {
        use NonInviteClientState::*;
        match (self.state, kind) {
            (Trying | Proceeding, TimerKind::E) => {
                acts.push(Act::Send(self.request.clone()));
                // Trying doubles up to T2; Proceeding paces at T2 (§17.1.2.2).
                self.e = if self.state == Trying {
                    (self.e * 2).min(t.t2)
                } else {
                    t.t2
                };
                acts.push(Act::Arm(TimerKind::E, self.e));
            }
            (Trying | Proceeding, TimerKind::F) => {
                self.state = Terminated;
                acts.push(Act::Terminate(End::Timeout));
            }
            (Completed, TimerKind::K) => {
                self.state = Terminated;
                acts.push(Act::Terminate(End::Normal));
            }
            _ => {}
        }
    }

    pub(crate) fn on_transport_error(&mut self, acts: &mut Vec<Act>) {
        if matches!(
            self.state,
            NonInviteClientState::Trying | NonInviteClientState::Proceeding
        ) {
            self.state = NonInviteClientState::Terminated;
            acts.push(Act::Terminate(End::TransportError));
        }
    }
}
