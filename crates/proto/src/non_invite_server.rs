//! Non-INVITE server transaction (RFC 3261 §17.2.2).

use bytes::Bytes;

use crate::act::{Act, End, TxError};
use crate::timer::{TimerKind, Timers};

/// States of Figure 8 of RFC 3261.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// Request delivered, nothing sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// The final response was sent; request retransmissions get it again.
    Completed,
    /// Done.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteServer {
    pub(crate) state: NonInviteServerState,
    last: Option<Bytes>,
    reliable: bool,
}

impl NonInviteServer {
    pub(crate) fn new(reliable: bool, acts: &mut Vec<Act>) -> Self {
        acts.push(Act::Deliver);
        NonInviteServer {
            state: NonInviteServerState::Trying,
            last: None,
            reliable,
        }
    }

    /// A retransmission of the request: absorbed, answered with the last response.
    pub(crate) fn on_request(&mut self, acts: &mut Vec<Act>) {
        if matches!(
            self.state,
            NonInviteServerState::Proceeding | NonInviteServerState::Completed
        ) && let Some(last) = &self.last
        {
            acts.push(Act::Send(last.clone()));
        }
    }

    pub(crate) fn respond(
        &mut self,
        code: u16,
        bytes: Bytes,
        t: &Timers,
        acts: &mut Vec<Act>,
    ) -> Result<(), TxError> {
        match (self.state, code) {
            (NonInviteServerState::Trying | NonInviteServerState::Proceeding, 100..=199) => {
                self.state = NonInviteServerState::Proceeding;
            }
            (NonInviteServerState::Trying | NonInviteServerState::Proceeding, 200..=699) => {
                self.state = NonInviteServerState::Completed;
                if self.reliable {
                    acts.push(Act::Send(bytes));
                    self.state = NonInviteServerState::Terminated;
                    acts.push(Act::Terminate(End::Normal));
                    return Ok(());
                }
                acts.push(Act::Arm(TimerKind::J, t.t1x64()));
            }
            _ => return Err(TxError::WrongState),
        }
        acts.push(Act::Send(bytes.clone()));
        self.last = Some(bytes);
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind, acts: &mut Vec<Act>) {
        if self.state == NonInviteServerState::Completed && kind == TimerKind::J {
            self.state = NonInviteServerState::Terminated;
            acts.push(Act::Terminate(End::Normal));
        }
    }

    pub(crate) fn on_transport_error(&mut self, acts: &mut Vec<Act>) {
        if self.state != NonInviteServerState::Terminated {
            self.state = NonInviteServerState::Terminated;
            acts.push(Act::Terminate(End::TransportError));
        }
    }
}
