//! SIP syntax for Trunkline: a zero-copy parser, typed header access, URIs, a byte-exact
//! serializer, response/request builders, stream framing and digest authentication.
//!
//! This crate does no I/O and keeps no state between messages; transactions, dialogs and
//! transports live elsewhere. Every function here takes untrusted bytes and returns an error
//! naming the defect instead of panicking.
//!
//! ```
//! use trunkline_sip::{Message, Method};
//!
//! let bytes = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK776\r\n\
//! From: <sip:probe@example.test>;tag=1\r\nTo: <sip:127.0.0.1>\r\n\
//! Call-ID: a84b4c76e66710\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let msg = Message::parse(bytes).unwrap();
//! assert_eq!(msg.method(), Some(Method::Options));
//! assert_eq!(msg.top_via().unwrap().port, Some(5070));
//! assert_eq!(msg.cseq().unwrap().seq, 1);
//! ```
#![warn(missing_docs)]

mod builder;
pub mod digest;
mod edit;
mod error;
mod framing;
mod header_name;
mod headers;
mod host;
mod index;
mod media_type;
mod message;
mod method;
pub mod multipart;
mod name_addr;
mod params;
mod scan;
mod uri;
mod validate;
mod via;

pub use builder::{RequestBuilder, ResponseBuilder, ViaReceived};
pub use edit::Editor;
pub use error::{HeaderError, ParseError, ParseErrorKind, Problem};
pub use framing::{Frame, StreamFramer};
pub use header_name::HeaderName;
pub use headers::{CSeq, Values};
pub use host::Host;
pub use index::Index;
pub use media_type::MediaType;
#[cfg(feature = "count-parses")]
pub use message::PARSES;
pub use message::{Header, Message, RequestLine, StartLine, StatusLine, Version};
pub use method::Method;
pub use name_addr::{Contact, NameAddr, unquote};
pub use params::{ParamIter, Params};
pub use uri::{AbsoluteUri, SipUri, TelUri, Uri, UriParams, unescape};
pub use validate::{Defect, check};
pub use via::{MAGIC_COOKIE, Via};
