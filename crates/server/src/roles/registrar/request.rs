//! Reading a REGISTER (RFC 3261 §10.3 steps 4–6): the address of record, the contacts with
//! their expiry resolved against the registrar's policy, and what makes the request fail.

use trunkline_sip::{Contact, HeaderName, Host, Message, SipUri, Uri, unescape};

use crate::roles::registrar::contact_policy::ContactAddr;
use crate::roles::registrar::location::{BindingKey, ContactUpdate, Update};

/// Expiry limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Shorter non-zero requests get 423 Interval Too Brief with this as Min-Expires.
    pub min: u32,
    /// Longer requests are granted this.
    pub max: u32,
    /// Granted when neither the contact nor the request says.
    pub default: u32,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            min: 60,
            max: 3600,
            default: 3600,
        }
    }
}

/// A REGISTER, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    /// `user@host` of the To URI, host lower-cased.
    pub aor: String,
    /// The To URI's user part (what the digest username must match).
    pub user: String,
    /// The To URI's host, lower-cased (the domain, and the digest realm).
    pub domain: String,
    /// What to do with the bindings.
    pub update: Update,
    /// The IP-literal addresses of the contacts to bind (not those being removed), for the
    /// [`crate::roles::registrar::contact_policy`].
    pub addresses: Vec<ContactAddr>,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Path values, in order (RFC 3327).
    pub path: Vec<String>,
    /// User-Agent.
    pub user_agent: Option<String>,
}

/// Why a REGISTER cannot be processed, with the response it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// 400 with the reason phrase.
    BadRequest(&'static str),
    /// 423 Interval Too Brief, with `Min-Expires`.
    IntervalTooBrief(u32),
    /// 416: the To URI is not a SIP URI.
    UnsupportedScheme,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The comparison key of a contact URI: scheme, user and parameters as sent, host lower-cased
/// (RFC 3261 §19.1.4 compares hosts case-insensitively).
fn contact_key(uri: &SipUri<'_>) -> String {
    let scheme = if uri.secure { "sips" } else { "sip" };
    let user = uri
        .user
        .map(|u| format!("{}@", text(u)))
        .unwrap_or_default();
    let host = uri.host.to_string().to_ascii_lowercase();
    let port = uri.port.map(|p| format!(":{p}")).unwrap_or_default();
    let transport = uri
        .params
        .get("transport")
        .flatten()
        .map(|t| format!(";transport={}", text(t).to_ascii_lowercase()))
        .unwrap_or_default();
    format!("{scheme}:{user}{host}{port}{transport}")
}

/// Reads `msg` (a REGISTER that passed the front door's checks) against `policy`.
pub fn read(msg: &Message<'_>, policy: ExpiryPolicy) -> Result<RegisterRequest, Reject> {
    let to = msg.to().map_err(|_| Reject::BadRequest("Bad To"))?;
    let Uri::Sip(to_uri) = to.uri else {
        return Err(Reject::UnsupportedScheme);
    };
    let user = to_uri
        .user
        .map(|u| text(&unescape(u)))
        .ok_or(Reject::BadRequest("To has no user part"))?;
    let domain = to_uri.host.to_string().to_ascii_lowercase();
    let call_id = msg
        .call_id()
        .map_err(|_| Reject::BadRequest("Bad Call-ID"))?;
    let cseq = msg.cseq().map_err(|_| Reject::BadRequest("Bad CSeq"))?.seq;
    let header_expires = msg
        .expires()
        .map_err(|_| Reject::BadRequest("Bad Expires"))?;
    let mut contacts = Vec::new();
    let mut addresses = Vec::new();
    let mut star = false;
    for c in msg.contacts() {
        match c.map_err(|_| Reject::BadRequest("Bad Contact"))? {
            Contact::Star => star = true,
            Contact::Addr(addr) => contacts.push(addr),
        }
    }
    let update = if star {
        // §10.3 step 6: `*` only alone and only with Expires: 0.
        if !contacts.is_empty() || header_expires != Some(0) {
            return Err(Reject::BadRequest(
                "Contact * needs Expires: 0 and no other contact",
            ));
        }
        Update::RemoveAll
    } else if contacts.is_empty() {
        Update::Query
    } else {
        let mut updates = Vec::with_capacity(contacts.len());
        for addr in contacts {
            let Uri::Sip(uri) = addr.uri else {
                return Err(Reject::BadRequest("Contact is not a SIP URI"));
            };
            let requested = addr
                .expires()
                .map_err(|_| Reject::BadRequest("Bad Contact expires"))?
                .or(header_expires)
                .unwrap_or(policy.default);
            if requested != 0 && requested < policy.min {
                return Err(Reject::IntervalTooBrief(policy.min));
            }
            let ip = match uri.host {
                Host::V4(v4) => Some(v4.into()),
                Host::V6(v6) => Some(v6.into()),
                Host::Domain(_) => None,
            };
            if let Some(ip) = ip.filter(|_| requested != 0) {
                addresses.push(ContactAddr {
                    ip,
                    port: uri.port,
                    secure: uri.secure,
                });
            }
            let q = addr
                .q()
                .map_err(|_| Reject::BadRequest("Bad Contact q"))?
                .unwrap_or(1000);
            let instance = addr.instance().map(|i| text(i.as_ref()));
            let reg_id = addr
                .reg_id()
                .map_err(|_| Reject::BadRequest("Bad Contact reg-id"))?;
            let key = match (&instance, reg_id) {
                (Some(instance), Some(reg_id)) => BindingKey::Flow {
                    instance: instance.clone(),
                    reg_id,
                },
                _ => BindingKey::Contact(contact_key(&uri)),
            };
            updates.push(ContactUpdate {
                key,
                contact: text(addr.uri_raw),
                q,
                expires: requested.min(policy.max),
                instance,
                reg_id,
            });
        }
        Update::Contacts(updates)
    };
    let path = msg
        .values(HeaderName::Path)
        .filter_map(Result::ok)
        .map(text)
        .collect();
    let user_agent = msg.header(HeaderName::UserAgent).map(|h| text(h.value));
    Ok(RegisterRequest {
        aor: format!("{user}@{domain}"),
        user,
        domain,
        update,
        addresses,
        call_id: text(call_id),
        cseq,
        path,
        user_agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(extra: &str) -> Vec<u8> {
        format!(
            "REGISTER sip:Example.TEST SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:1001@example.test>;tag=a\r\nTo: <sip:1001@Example.TEST>\r\n\
             Call-ID: c1@192.0.2.1\r\nCSeq: 7 REGISTER\r\nMax-Forwards: 70\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn read_with(extra: &str) -> Result<RegisterRequest, Reject> {
        let bytes = register(extra);
        let msg = Message::parse(&bytes).unwrap();
        read(&msg, ExpiryPolicy::default())
    }

    #[test]
    fn contacts_and_expiry() {
        let r = read_with(
            "Contact: <sip:1001@192.0.2.1:5060;transport=UDP>;q=0.5, <sip:1001@PHONE.example>;expires=7200\r\nExpires: 600\r\nPath: <sip:edge.example;lr>\r\nUser-Agent: Yealink\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.aor.as_str(), r.user.as_str(), r.domain.as_str()),
            ("1001@example.test", "1001", "example.test")
        );
        assert_eq!((r.call_id.as_str(), r.cseq), ("c1@192.0.2.1", 7));
        assert_eq!(r.path, vec!["<sip:edge.example;lr>".to_owned()]);
        assert_eq!(r.user_agent.as_deref(), Some("Yealink"));
        let Update::Contacts(c) = r.update else {
            panic!("{:?}", r.update)
        };
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].expires, c[0].q), (600, 500));
        assert_eq!(
            c[0].key,
            BindingKey::Contact("sip:1001@192.0.2.1:5060;transport=udp".into())
        );
        assert_eq!((c[1].expires, c[1].q), (3600, 1000), "capped at max");
        assert_eq!(
            c[1].key,
            BindingKey::Contact("sip:1001@phone.example".into())
        );
    }

    #[test]
    fn star_query_too_brief_and_flows() {
        assert_eq!(
            read_with("Contact: *\r\nExpires: 0\r\n").unwrap().update,
            Update::RemoveAll
        );
        assert!(matches!(
            read_with("Contact: *\r\n"),
            Err(Reject::BadRequest(_))
        ));
        assert!(matches!(
            read_with("Contact: *, <sip:a@b>\r\nExpires: 0\r\n"),
            Err(Reject::BadRequest(_))
        ));
        assert_eq!(read_with("").unwrap().update, Update::Query);
        assert_eq!(
            read_with("Contact: <sip:a@b>;expires=30\r\n"),
            Err(Reject::IntervalTooBrief(60))
        );
        let r = read_with("Contact: <sip:a@b>;expires=0\r\n").unwrap();
        assert!(matches!(&r.update, Update::Contacts(c) if c[0].expires == 0));
        let r = read_with(
            "Contact: <sip:a@10.0.0.1;ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\n",
        )
        .unwrap();
        let Update::Contacts(c) = r.update else {
            panic!()
        };
        assert_eq!(
            c[0].key,
            BindingKey::Flow {
                instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into(),
                reg_id: 1
            }
        );
        assert!(matches!(
            read_with("Contact: <sip:a@b>;q=2\r\n"),
            Err(Reject::BadRequest(_))
        ));
    }
}
