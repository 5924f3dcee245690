//! Transaction matching keys: RFC 3261 §17.1.3 (client), §17.2.3 (server, with the RFC 2543
//! fallback) and §9.2 (CANCEL to its INVITE).

use trunkline_sip::{HeaderName, Message, Method, Via};

/// What a server transaction is found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// The branch carries the magic cookie: branch, sent-by and method decide.
    Rfc3261 {
        branch: Box<[u8]>,
        sent_by: Box<[u8]>,
        method: MethodKey,
    },
    /// RFC 2543 peers: the request's identity fields decide (§17.2.3).
    Rfc2543 {
        request_uri: Box<[u8]>,
        to_tag: Option<Box<[u8]>>,
        from_tag: Option<Box<[u8]>>,
        call_id: Box<[u8]>,
        cseq: u32,
        top_via: Box<[u8]>,
        method: MethodKey,
    },
}

/// The method part of a key: ACK matches the INVITE's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum MethodKey {
    Invite,
    Cancel,
    Other(Box<str>),
}

impl MethodKey {
    fn of(m: Method<'_>) -> MethodKey {
        match m {
            Method::Invite | Method::Ack => MethodKey::Invite,
            Method::Cancel => MethodKey::Cancel,
            other => MethodKey::Other(other.as_str().into()),
        }
    }
}

/// Why no key could be formed: the request cannot have a transaction and is answered
/// statelessly, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoKey;

/// The key of the server transaction `req` belongs to. For a CANCEL, `as_invite` gives the
/// key of the INVITE it cancels instead (§9.2).
pub(crate) fn server_key(req: &Message<'_>, as_invite: bool) -> Result<ServerKey, NoKey> {
    let rl = req.request_line().ok_or(NoKey)?;
    let via = req.top_via().map_err(|_| NoKey)?;
    let method = if as_invite {
        MethodKey::Invite
    } else {
        MethodKey::of(rl.method)
    };
    if via.has_rfc3261_branch() {
        return Ok(ServerKey::Rfc3261 {
            branch: via.branch().ok_or(NoKey)?.into(),
            sent_by: sent_by(&via).into(),
            method,
        });
    }
    let from = req.from().map_err(|_| NoKey)?;
    let to = req.to().map_err(|_| NoKey)?;
    let cseq = req.cseq().map_err(|_| NoKey)?;
    let top_via = req
        .values(HeaderName::Via)
        .next()
        .and_then(Result::ok)
        .ok_or(NoKey)?;
    // The ACK carries the To tag of our response, the INVITE none: for the INVITE class the
    // To tag is left out of the key (§17.2.3).
    let to_tag = match method {
        MethodKey::Invite => None,
        _ => to.tag().map(Into::into),
    };
    Ok(ServerKey::Rfc2543 {
        request_uri: rl.uri.into(),
        to_tag,
        from_tag: from.tag().map(Into::into),
        call_id: req.call_id().map_err(|_| NoKey)?.into(),
        cseq: cseq.seq,
        top_via: top_via.into(),
        method,
    })
}

/// `host[:port]` of a Via, lower-cased, the port made explicit (5060 by default), so that
/// equivalent spellings match.
fn sent_by(via: &Via<'_>) -> Vec<u8> {
    let mut out = via.host.to_string().into_bytes();
    out.make_ascii_lowercase();
    out.push(b':');
    out.extend_from_slice(via.port.unwrap_or(5060).to_string().as_bytes());
    out
}

/// What a client transaction is found by: the branch it put in its Via and the CSeq method
/// (§17.1.3), so a CANCEL's responses do not land in its INVITE's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: Box<[u8]>,
    pub(crate) method: Box<str>,
}

/// The client key of a request we send or of a response we receive.
pub(crate) fn client_key(msg: &Message<'_>) -> Result<ClientKey, NoKey> {
    let via = msg.top_via().map_err(|_| NoKey)?;
    let cseq = msg.cseq().map_err(|_| NoKey)?;
    Ok(ClientKey {
        branch: via.branch().ok_or(NoKey)?.into(),
        method: cseq.method.as_str().into(),
    })
}

/// Identity of a request for merged-request detection (§8.2.2.2): From tag, Call-ID, CSeq.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    from_tag: Box<[u8]>,
    call_id: Box<[u8]>,
    cseq: u32,
    method: Box<str>,
}

/// The merge key of an out-of-dialog request (no To tag), if it has the fields.
pub(crate) fn merge_key(req: &Message<'_>) -> Option<MergeKey> {
    if req.to().ok()?.tag().is_some() {
        return None;
    }
    let cseq = req.cseq().ok()?;
    Some(MergeKey {
        from_tag: req.from().ok()?.tag()?.into(),
        call_id: req.call_id().ok()?.into(),
        cseq: cseq.seq,
        method: cseq.method.as_str().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(top_via: &str, method: &str, to_tag: &str) -> Vec<u8> {
        format!(
            "{method} sip:b@example.test SIP/2.0\r\nVia: {top_via}\r\nFrom: <sip:a@x>;tag=f\r\n\
To: <sip:b@example.test>{to_tag}\r\nCall-ID: c\r\nCSeq: 7 {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn key(top_via: &str, method: &str, to_tag: &str, as_invite: bool) -> ServerKey {
        server_key(
            &Message::parse(&msg(top_via, method, to_tag)).unwrap(),
            as_invite,
        )
        .unwrap()
    }

    #[test]
    fn ack_and_cancel_find_the_invite() {
        let via = "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bK1";
        let invite = key(via, "INVITE", "", false);
        assert_eq!(
            key(
                "SIP/2.0/UDP host.example;branch=z9hG4bK1",
                "ACK",
                ";tag=t",
                false
            ),
            invite
        );
        assert_eq!(key(via, "CANCEL", "", true), invite);
        assert_ne!(key(via, "CANCEL", "", false), invite);
        assert_ne!(
            key(
                "SIP/2.0/UDP host.example:5061;branch=z9hG4bK1",
                "INVITE",
                "",
                false
            ),
            invite
        );
    }

    #[test]
    fn rfc2543_fallback() {
        let via = "SIP/2.0/UDP old.example";
        let invite = key(via, "INVITE", "", false);
        assert!(matches!(invite, ServerKey::Rfc2543 { .. }));
        assert_eq!(key(via, "ACK", ";tag=x", false), invite);
        assert_ne!(
            key(via, "BYE", ";tag=x", false),
            key(via, "BYE", ";tag=y", false)
        );
    }
}
