//! Typed, lazy access to the headers a proxy and registrar read, on top of [`Message`].
//!
//! Nothing here runs unless asked: a message that is only forwarded never pays for parsing
//! its Contact or Route values.

use crate::error::{HeaderError, Problem};
use crate::header_name::HeaderName;
use crate::media_type::MediaType;
use crate::message::{Header, Message};
use crate::method::Method;
use crate::name_addr::{Contact, NameAddr};
use crate::scan::{self, CommaSplit};
use crate::via::Via;

/// `CSeq: 4711 INVITE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number (must fit 32 bits, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value; LWS (folding included) may separate number and method.
    pub fn parse(v: &'a [u8]) -> Result<CSeq<'a>, Problem> {
        let v = scan::trim(v);
        let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
        let seq = scan::parse_u32(&v[..digits]).ok_or(Problem::BadNumber)?;
        let rest = &v[digits..];
        if rest.is_empty() || !scan::is_lws(rest[0]) {
            return Err(Problem::BadMethod);
        }
        let method = Method::parse(scan::trim(rest)).ok_or(Problem::BadMethod)?;
        Ok(CSeq { seq, method })
    }
}

/// Iterator over every comma-separated element of a list header, across all its lines.
#[derive(Debug, Clone)]
pub struct Values<'m, 'a> {
    headers: std::slice::Iter<'m, Header<'a>>,
    name: HeaderName,
    current: Option<CommaSplit<'a>>,
}

impl<'a> Iterator for Values<'_, 'a> {
    /// `Err` for an element that cannot be separated (unterminated quote or bracket).
    type Item = Result<&'a [u8], Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(split) = &mut self.current
                && let Some(item) = split.next()
            {
                return Some(item.map_err(|_| Problem::Unterminated));
            }
            let h = self.headers.by_ref().find(|h| h.name == self.name)?;
            self.current = Some(CommaSplit::new(h.value));
        }
    }
}

fn herr(name: HeaderName, problem: Problem) -> HeaderError {
    HeaderError::new(name.as_str(), problem)
}

impl<'a> Message<'a> {
    /// Every comma-separated element of a list header, in order, across lines.
    pub fn values(&self, name: HeaderName) -> Values<'_, 'a> {
        Values {
            headers: self.headers().iter(),
            name,
            current: None,
        }
    }

    /// The value of a header that must appear at most once (RFC 3261 §7.3.1).
    pub fn single(&self, name: HeaderName) -> Result<Option<&'a [u8]>, HeaderError> {
        let mut it = self.headers_named(name);
        let first = it.next().map(|h| h.value);
        if it.next().is_some() {
            return Err(herr(name, Problem::Duplicate));
        }
        Ok(first)
    }

    fn required(&self, name: HeaderName) -> Result<&'a [u8], HeaderError> {
        self.single(name)?
            .ok_or_else(|| herr(name, Problem::Missing))
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, HeaderError>> + '_ {
        self.values(HeaderName::Via)
            .map(|v| v.and_then(Via::parse).map_err(|p| herr(HeaderName::Via, p)))
    }

    /// The topmost Via (RFC 3261 §8.2.6 copies all, responses route by this one).
    pub fn top_via(&self) -> Result<Via<'a>, HeaderError> {
        self.vias()
            .next()
            .unwrap_or_else(|| Err(herr(HeaderName::Via, Problem::Missing)))
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr<'a>, HeaderError> {
        self.name_addr(HeaderName::From)
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr<'a>, HeaderError> {
        self.name_addr(HeaderName::To)
    }

    fn name_addr(&self, name: HeaderName) -> Result<NameAddr<'a>, HeaderError> {
        NameAddr::parse(self.required(name)?).map_err(|p| herr(name, p))
    }

    /// Call-ID: `word ["@" word]`, opaque, compared byte for byte. Empty is `Empty`; white
    /// space inside (a folded line included) or a non-printable byte is `Trailing`: the word
    /// ends there.
    pub fn call_id(&self) -> Result<&'a [u8], HeaderError> {
        let v = self.required(HeaderName::CallId)?;
        if v.is_empty() {
            return Err(herr(HeaderName::CallId, Problem::Empty));
        }
        if v.iter()
            .any(|&b| scan::is_lws(b) || !(0x21..=0x7e).contains(&b))
        {
            return Err(herr(HeaderName::CallId, Problem::Trailing));
        }
        Ok(v)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq<'a>, HeaderError> {
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(|p| herr(HeaderName::CSeq, p))
    }

    /// Max-Forwards, `None` when absent. Values above 255 are tolerated (RFC 4475 §3.1.2.4).
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.single(HeaderName::MaxForwards)?
            .map(|v| scan::parse_u32(v).ok_or(herr(HeaderName::MaxForwards, Problem::BadNumber)))
            .transpose()
    }

    /// Expires in seconds; overlarge values saturate (RFC 3261 §20.19 allows any 32-bit value).
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.single(HeaderName::Expires)?
            .map(|v| {
                scan::parse_u32_saturating(v).ok_or(herr(HeaderName::Expires, Problem::BadNumber))
            })
            .transpose()
    }

    /// Content-Length as declared (the framing already checked it).
    pub fn content_length(&self) -> Option<usize> {
        self.header(HeaderName::ContentLength)
            .and_then(|h| scan::parse_u32(h.value))
            .map(|n| n as usize)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType<'a>>, HeaderError> {
        self.single(HeaderName::ContentType)?
            .map(|v| MediaType::parse(v).map_err(|p| herr(HeaderName::ContentType, p)))
            .transpose()
    }

    /// Every Contact value.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'a>, HeaderError>> + '_ {
        self.values(HeaderName::Contact).map(|v| {
            v.and_then(Contact::parse)
                .map_err(|p| herr(HeaderName::Contact, p))
        })
    }

    /// Every name-addr value of a list header such as Route, Record-Route or Path.
    pub fn name_addrs(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<NameAddr<'a>, HeaderError>> + '_ {
        self.values(name)
            .map(move |v| v.and_then(NameAddr::parse).map_err(|p| herr(name, p)))
    }

    /// Option tags of Require, Proxy-Require, Supported or Unsupported; empty elements are an
    /// error, as are non-token tags.
    pub fn option_tags(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<&'a str, HeaderError>> + '_ {
        // An empty header (`Supported:` with no tags, RFC 3261 §20.37; sent by baresip) holds
        // no element rather than a malformed one.
        let values = self
            .values(name)
            .filter(|v| !matches!(v, Ok(t) if t.is_empty()));
        values.map(move |v| {
            v.ok()
                .filter(|t| scan::is_token_str(t))
                .and_then(scan::ascii_str)
                .ok_or(herr(name, Problem::BadParam))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa, SIP/2.0/TCP [::1]\r\n\
v: SIP/2.0/UDP h3;branch=z9hG4bKc\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: Alice <sip:alice@example.com>\r\n\
Call-ID: abc@host\r\n\
CSeq: 0009\r\n  REGISTER\r\n\
Max-Forwards: 0068\r\n\
Contact: <sip:alice@192.0.2.1>;expires=60, \"x,y\" <sip:b@h>\r\n\
m: *\r\n\
Require: foo, bar\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn typed_access() {
        let m = Message::parse(REG).unwrap();
        assert_eq!(m.vias().count(), 3);
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bKa"[..]));
        assert_eq!(m.from().unwrap().tag(), Some(&b"1"[..]));
        assert_eq!(m.to().unwrap().tag(), None);
        assert_eq!(m.call_id().unwrap(), b"abc@host");
        assert_eq!(
            m.cseq().unwrap(),
            CSeq {
                seq: 9,
                method: Method::Register
            }
        );
        assert_eq!(m.max_forwards().unwrap(), Some(68));
        let contacts: Vec<_> = m.contacts().collect::<Result<_, _>>().unwrap();
        assert_eq!(contacts.len(), 3);
        assert_eq!(contacts[2], Contact::Star);
        let tags: Vec<_> = m
            .option_tags(HeaderName::Require)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tags, vec!["foo", "bar"]);
    }

    #[test]
    fn an_empty_option_tag_list_is_no_tags() {
        let m = Message::parse(b"OPTIONS sip:x SIP/2.0\r\nSupported:\r\nk: a\r\n\r\n").unwrap();
        let tags: Vec<_> = m.option_tags(HeaderName::Supported).collect();
        assert_eq!(tags, vec![Ok("a")]);
    }

    #[test]
    fn duplicates_and_missing() {
        let m = Message::parse(
            b"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\ni: b\r\nCSeq: 99999999999 OPTIONS\r\n\r\n",
        )
        .unwrap();
        assert_eq!(m.call_id().unwrap_err().problem, Problem::Duplicate);
        assert_eq!(m.cseq().unwrap_err().problem, Problem::BadNumber);
        assert_eq!(m.from().unwrap_err().to_string(), "From: missing");
        assert!(m.top_via().is_err());
    }
}
