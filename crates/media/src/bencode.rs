//! Bencode (the BitTorrent encoding) as the rtpengine "ng" control protocol uses it:
//! integers, byte strings, lists and dictionaries. Decoding is bounded (nesting depth and
//! input length) and never panics on hostile input; dictionaries keep their keys sorted, as
//! the encoding requires.

use std::collections::BTreeMap;

/// Deepest nesting accepted; ng messages nest two or three levels.
const MAX_DEPTH: usize = 32;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bencode: input ends early")]
    Truncated,
    #[error("bencode: unexpected byte at {0}")]
    Unexpected(usize),
    #[error("bencode: bad integer at {0}")]
    BadInt(usize),
    #[error("bencode: nested too deeply")]
    TooDeep,
    #[error("bencode: trailing bytes at {0}")]
    Trailing(usize),
}

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// The value as text, if it is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The entry `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                    out.extend_from_slice(k);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes exactly one value filling `input`.
    pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
        let mut d = Decoder { input, pos: 0 };
        let v = d.value(0)?;
        match d.pos == input.len() {
            true => Ok(v),
            false => Err(DecodeError::Trailing(d.pos)),
        }
    }
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.number(b'e')?;
                Ok(Value::Int(n))
            }
            b'l' => {
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                self.pos += 1;
                let mut dict = BTreeMap::new();
                while self.peek()? != b'e' {
                    let key = self.bytes()?;
                    let v = self.value(depth + 1)?;
                    dict.insert(key, v);
                }
                self.pos += 1;
                Ok(Value::Dict(dict))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            _ => Err(DecodeError::Unexpected(self.pos)),
        }
    }

    /// Digits (with an optional minus) up to `end`, which is consumed.
    fn number(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest
            .iter()
            .position(|&b| b == end)
            .ok_or(DecodeError::Truncated)?;
        let text = std::str::from_utf8(&rest[..len]).map_err(|_| DecodeError::BadInt(start))?;
        let n = text.parse().map_err(|_| DecodeError::BadInt(start))?;
        self.pos += len + 1;
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let at = self.pos;
        if !self.peek()?.is_ascii_digit() {
            return Err(DecodeError::Unexpected(at));
        }
        let len = usize::try_from(self.number(b':')?).map_err(|_| DecodeError::BadInt(at))?;
        let end = self.pos.checked_add(len).ok_or(DecodeError::BadInt(at))?;
        let b = self
            .input
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(b.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ng_offer_round_trips() {
        let msg = b"d7:call-id6:abc1237:command5:offer5:flagsl5:tracee8:from-tag3:xyz3:numi-42e3:sdp5:v=0\r\ne";
        let v = Value::decode(msg).unwrap();
        assert_eq!(v.get("command").and_then(Value::as_str), Some("offer"));
        assert_eq!(v.get("sdp").and_then(Value::as_str), Some("v=0\r\n"));
        assert_eq!(v.get("num"), Some(&Value::Int(-42)));
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, msg.to_vec());
    }

    #[test]
    fn hostile_input_is_an_error() {
        for bad in [
            &b""[..],
            b"i12",
            b"5:abc",
            b"99999999999999999999:x",
            b"d3:keye",
            b"ixe",
            b"x",
            b"le extra",
            b"18446744073709551615:x",
        ] {
            assert!(
                Value::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = [vec![b'l'; 100], vec![b'e'; 100]].concat();
        assert_eq!(Value::decode(&deep), Err(DecodeError::TooDeep));
    }
}
