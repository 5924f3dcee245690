//! Header parameters (`;name[=value]` lists after Via, name-addr, Content-Type …), with LWS.

use crate::error::Problem;
use crate::scan;

/// A validated `;`-separated parameter list borrowed from a header value.
///
/// Values are token, host (`[v6]` allowed) or quoted-string (RFC 3261 §25.1 `generic-param`);
/// quoted values are returned with their quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    /// Validates `raw` (empty, or starting with `;`).
    pub fn parse(raw: &'a [u8]) -> Result<Params<'a>, Problem> {
        let mut i = 0;
        while i < raw.len() {
            i = next_param(raw, i)?.2;
        }
        Ok(Params { raw })
    }

    /// The list as received.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates `(name, value)`; names as received (compare case-insensitively).
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            raw: self.raw,
            pos: 0,
        }
    }

    /// `Some(value)` when a parameter named `name` (case-insensitive) is present; the value is
    /// `None` for a flag parameter such as `lr`.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when a parameter named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over a validated [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.raw.len() {
            return None;
        }
        // The list was validated on construction, so this cannot fail; stop quietly if it does.
        let (name, value, next) = next_param(self.raw, self.pos).ok()?;
        self.pos = next;
        Some((name, value))
    }
}

#[inline]
fn is_value_char(b: u8) -> bool {
    scan::is_token(b) || matches!(b, b':' | b'[' | b']')
}

/// Parses one `; name [= value]` at `i`; returns name, value and the index after it.
fn next_param(s: &[u8], i: usize) -> Result<(&str, Option<&[u8]>, usize), Problem> {
    let mut i = scan::skip_lws(s, i);
    if s.get(i) != Some(&b';') {
        return Err(Problem::Trailing);
    }
    i = scan::skip_lws(s, i + 1);
    let name_start = i;
    i = scan::token_end(s, i);
    if i == name_start {
        return Err(Problem::BadParam);
    }
    let name = scan::ascii_str(&s[name_start..i]).ok_or(Problem::BadParam)?;
    let after_name = scan::skip_lws(s, i);
    if s.get(after_name) != Some(&b'=') {
        return Ok((name, None, after_name));
    }
    i = scan::skip_lws(s, after_name + 1);
    let value_start = i;
    if s.get(i) == Some(&b'"') {
        i = scan::quoted_end(s, i).ok_or(Problem::Unterminated)?;
    } else {
        while i < s.len() && is_value_char(s[i]) {
            i += 1;
        }
        if i == value_start {
            return Err(Problem::BadParam);
        }
    }
    let value = &s[value_start..i];
    Ok((name, Some(value), scan::skip_lws(s, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_everywhere() {
        let p = Params::parse(b" ;   tag    = 1918181833n ; lr;x=\"a;b\"").unwrap();
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![
                ("tag", Some(&b"1918181833n"[..])),
                ("lr", None),
                ("x", Some(&b"\"a;b\""[..]))
            ]
        );
        assert_eq!(p.get("TAG"), Some(Some(&b"1918181833n"[..])));
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(Params::parse(b";;"), Err(Problem::BadParam));
        assert_eq!(Params::parse(b";a="), Err(Problem::BadParam));
        assert_eq!(Params::parse(b";a=\"x"), Err(Problem::Unterminated));
        assert_eq!(Params::parse(b"x"), Err(Problem::Trailing));
        assert!(Params::parse(b";received=[2001:db8::1]").is_ok());
    }
}
