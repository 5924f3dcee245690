//! Parse errors: what is wrong and at which byte, never a panic.

use std::fmt;

/// A message-level parse failure: the framing, start line or a header line is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Offset from the start of the input where the problem was found.
    pub offset: usize,
}

/// The defects a message can have at the framing level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Nothing but white space.
    Empty,
    /// The input ends before the blank line that closes the header section.
    IncompleteHeaders,
    /// The start line is neither a Request-Line nor a Status-Line.
    BadStartLine,
    /// The method is not a token.
    BadMethod,
    /// The Request-URI is missing or holds white space.
    BadRequestUri,
    /// The SIP-Version is not `SIP/<digits>.<digits>`.
    BadVersion,
    /// The status code is not three digits.
    BadStatusCode,
    /// A header line has no colon or its name is not a token.
    BadHeaderLine,
    /// A header line holds a bare CR or LF that is not line folding.
    BadLineEnding,
    /// Content-Length is not a number.
    BadContentLength,
    /// Content-Length appears twice with different values.
    ConflictingContentLength,
    /// The body is shorter than Content-Length says.
    TruncatedBody,
    /// A stream message carries no Content-Length (RFC 3261 §18.3).
    MissingContentLength,
    /// The message exceeds the configured maximum size.
    TooLarge,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl ParseErrorKind {
    /// A short phrase for a 400 reason, e.g. `Bad Content-Length`.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseErrorKind::Empty => "empty message",
            ParseErrorKind::IncompleteHeaders => "header section not terminated",
            ParseErrorKind::BadStartLine => "malformed start line",
            ParseErrorKind::BadMethod => "malformed method",
            ParseErrorKind::BadRequestUri => "malformed Request-URI",
            ParseErrorKind::BadVersion => "malformed SIP version",
            ParseErrorKind::BadStatusCode => "malformed status code",
            ParseErrorKind::BadHeaderLine => "malformed header line",
            ParseErrorKind::BadLineEnding => "bare CR or LF in header",
            ParseErrorKind::BadContentLength => "malformed Content-Length",
            ParseErrorKind::ConflictingContentLength => "conflicting Content-Length values",
            ParseErrorKind::TruncatedBody => "body shorter than Content-Length",
            ParseErrorKind::MissingContentLength => "missing Content-Length on a stream",
            ParseErrorKind::TooLarge => "message too large",
        }
    }
}

/// A header value that does not follow its grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{header}: {problem}")]
pub struct HeaderError {
    /// The header's canonical name, e.g. `Via`.
    pub header: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

impl HeaderError {
    pub(crate) fn new(header: &'static str, problem: Problem) -> Self {
        HeaderError { header, problem }
    }
}

/// What can be wrong with a header value or a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A mandatory header is absent.
    #[error("missing")]
    Missing,
    /// A single-valued header appears more than once.
    #[error("appears more than once")]
    Duplicate,
    /// A value or element is empty where the grammar requires content.
    #[error("empty value")]
    Empty,
    /// A parameter is empty or not `name[=value]`.
    #[error("malformed parameter")]
    BadParam,
    /// A number is not digits or overflows.
    #[error("bad number")]
    BadNumber,
    /// A quoted string or `<...>` is not closed.
    #[error("unterminated quote or bracket")]
    Unterminated,
    /// A display name holds characters a token may not.
    #[error("malformed display name")]
    BadDisplayName,
    /// The URI scheme is missing or malformed.
    #[error("malformed URI scheme")]
    BadScheme,
    /// The host part is not a host name, IPv4 or `[IPv6]` address.
    #[error("malformed host")]
    BadHost,
    /// The port is not a number in 0..=65535.
    #[error("malformed port")]
    BadPort,
    /// The user or password part holds characters that must be escaped.
    #[error("malformed user part")]
    BadUser,
    /// A `%` is not followed by two hex digits.
    #[error("malformed %-escape")]
    BadEscape,
    /// URI `?headers` are not `name=value&...`.
    #[error("malformed URI headers")]
    BadUriHeaders,
    /// The sent-protocol of a Via is not `name/version/transport`.
    #[error("malformed sent-protocol")]
    BadProtocol,
    /// A method is not a token.
    #[error("malformed method")]
    BadMethod,
    /// Unexpected characters after the value.
    #[error("unexpected trailing characters")]
    Trailing,
    /// A media type is not `type/subtype`.
    #[error("malformed media type")]
    BadMediaType,
}
