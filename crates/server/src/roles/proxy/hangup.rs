//! Ending an answered call from the middle (the media timeout): the dialog as the proxy saw it
//! set up (RFC 3261 §12.1) and the BYE each party gets in it, as if the other party had sent
//! it (§15.1.1): the remote target from the party's Contact, the route set from the 2xx's
//! Record-Route without this proxy's own entries, and a CSeq above every one that party's
//! peer has used.

use trunkline_media::Side;
use trunkline_sip::{HeaderName, Message, Method, RequestBuilder, SipUri, Uri};

use crate::transport::Peer;

/// One party of a dialog, as requests to it are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    /// The next hop towards it: where its messages came from.
    pub(crate) peer: Peer,
    /// Its remote target (Contact URI).
    pub(crate) target: String,
    /// Route values for requests to it (the route set beyond this proxy).
    pub(crate) routes: Vec<String>,
    /// Its own From/To value with its tag.
    pub(crate) name: String,
    /// The highest CSeq it has sent in the dialog (0: none yet).
    pub(crate) cseq: u32,
}

/// An answered call's dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    /// [caller, callee].
    pub(crate) ends: [End; 2],
}

impl Dialog {
    /// The dialog of `invite` (from `caller`) answered by `ok` (from `callee`); `is_ours`
    /// recognises this proxy's Record-Route URIs. `None` when a header it needs is missing.
    pub(crate) fn answered(
        invite: &Message<'_>,
        caller: Peer,
        ok: &Message<'_>,
        callee: Peer,
        is_ours: impl Fn(&SipUri<'_>) -> bool,
    ) -> Option<Dialog> {
        let contact = |m: &Message<'_>| match m.contacts().next()?.ok()? {
            trunkline_sip::Contact::Addr(na) => {
                Some(String::from_utf8_lossy(na.uri_raw).into_owned())
            }
            _ => None,
        };
        let value = |m: &Message<'_>, name| {
            let v = m.headers().iter().find(|h| h.name == name)?.value;
            Some(String::from_utf8_lossy(v).trim().to_owned())
        };
        // The route set as the callee sees it, top first: entries above ours lead to the
        // callee, entries below ours (reversed) to the caller.
        let rr: Vec<(String, bool)> = (ok.name_addrs(HeaderName::RecordRoute).flatten())
            .map(|na| {
                let ours = matches!(na.uri, Uri::Sip(u) if is_ours(&u));
                (format!("<{}>", String::from_utf8_lossy(na.uri_raw)), ours)
            })
            .collect();
        let first = rr.iter().position(|(_, o)| *o).unwrap_or(rr.len());
        let last = rr.iter().rposition(|(_, o)| *o).map_or(rr.len(), |i| i + 1);
        let to_callee = rr[..first].iter().map(|(v, _)| v.clone()).collect();
        let to_caller = (rr.get(last..).unwrap_or(&[]).iter().rev())
            .map(|(v, _)| v.clone())
            .collect();
        let caller_end = End {
            peer: caller,
            target: contact(invite)?,
            routes: to_caller,
            name: value(invite, HeaderName::From)?,
            cseq: invite.cseq().ok()?.seq,
        };
        let callee_end = End {
            peer: callee,
            target: contact(ok)?,
            routes: to_callee,
            name: value(ok, HeaderName::To)?,
            cseq: 0,
        };
        Some(Dialog {
            call_id: String::from_utf8_lossy(invite.call_id().ok()?).into_owned(),
            ends: [caller_end, callee_end],
        })
    }

    /// `side` sent a request with CSeq `n` in the dialog.
    pub(crate) fn saw_cseq(&mut self, side: Side, n: u32) {
        let end = &mut self.ends[side.index()];
        end.cseq = end.cseq.max(n);
    }

    /// The party on `side`.
    pub(crate) fn end(&self, side: Side) -> &End {
        &self.ends[side.index()]
    }

    /// The BYE to `side` with our `via`, in the name of the other party; `reason` is a
    /// Reason header value (RFC 3326).
    pub(crate) fn bye(&self, side: Side, via: &str, reason: &str) -> Vec<u8> {
        let to = self.end(side);
        let from = self.end(side.other());
        let mut b = RequestBuilder::new(Method::Bye, &to.target)
            .header("Via", via)
            .header("Max-Forwards", "70");
        for r in &to.routes {
            b = b.header("Route", r);
        }
        b.header("From", &from.name)
            .header("To", &to.name)
            .header("Call-ID", &self.call_id)
            .header("CSeq", &format!("{} BYE", from.cseq.saturating_add(1)))
            .header("Reason", reason)
            .finish(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;
    use crate::transport::Arrival;

    fn peer(addr: &str) -> Peer {
        Peer {
            arrival: Arrival::Udp(0),
            addr: addr.parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    const INVITE: &str = "INVITE sip:1002@example.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1\r\n\
From: \"Alice\" <sip:1001@example.test>;tag=a1\r\nTo: <sip:1002@example.test>\r\n\
Call-ID: c1@x\r\nCSeq: 7 INVITE\r\nContact: <sip:1001@192.168.1.20:5060>\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1\r\n\
Record-Route: <sip:p2.test;lr>, <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:p1.test;lr>\r\n\
From: \"Alice\" <sip:1001@example.test>;tag=a1\r\nTo: <sip:1002@example.test>;tag=b2\r\n\
Call-ID: c1@x\r\nCSeq: 7 INVITE\r\nContact: <sip:1002@10.0.0.7:5062>\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn each_party_gets_a_bye_in_the_other_ones_name() {
        let invite = Message::parse(INVITE.as_bytes()).unwrap();
        let ok = Message::parse(OK.as_bytes()).unwrap();
        let ours = |u: &SipUri<'_>| u.host.to_string() == "10.0.0.1";
        let caller = peer("203.0.113.5:40000");
        let callee = peer("10.0.0.7:5062");
        let mut d = Dialog::answered(&invite, caller, &ok, callee, ours).unwrap();
        d.saw_cseq(Side::Callee, 3);
        d.saw_cseq(Side::Caller, 5);
        let reason = "Q.850;cause=102;text=\"media timeout\"";

        let bye = d.bye(Side::Callee, "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", reason);
        let m = Message::parse(&bye).unwrap();
        assert!(trunkline_sip::check(&m).is_ok());
        assert_eq!(m.request_line().unwrap().uri, b"sip:1002@10.0.0.7:5062");
        let routes: Vec<_> = (m.name_addrs(HeaderName::Route).flatten())
            .map(|r| r.uri_raw.to_vec())
            .collect();
        assert_eq!(routes, [b"sip:p2.test;lr".to_vec()]);
        assert_eq!(m.from().unwrap().tag(), Some(&b"a1"[..]));
        assert_eq!(m.to().unwrap().tag(), Some(&b"b2"[..]));
        assert_eq!(m.cseq().unwrap().seq, 8, "above the caller's INVITE");

        let bye = d.bye(Side::Caller, "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy", reason);
        let m = Message::parse(&bye).unwrap();
        assert_eq!(m.request_line().unwrap().uri, b"sip:1001@192.168.1.20:5060");
        let routes: Vec<_> = (m.name_addrs(HeaderName::Route).flatten())
            .map(|r| r.uri_raw.to_vec())
            .collect();
        assert_eq!(routes, [b"sip:p1.test;lr".to_vec()]);
        assert_eq!(m.from().unwrap().tag(), Some(&b"b2"[..]));
        assert_eq!(m.to().unwrap().tag(), Some(&b"a1"[..]));
        assert_eq!(m.cseq().unwrap().seq, 4, "above the callee's own requests");
        assert_eq!(d.end(Side::Caller).peer, caller);
    }
}
