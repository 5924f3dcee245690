//! Where received messages enter the shards: each goes to the shard a hash of its Call-ID
//! picks, found with a cheap scan of the header block (no parse), so that every message of a
//! call (requests, responses, CANCEL, ACK, BYE) meets the same transaction engine and proxy.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::transport::Inbound;

/// The shards' inbound queues, as transports see them. Cloning is cheap.
#[derive(Debug, Clone)]
pub(crate) struct Ingress {
    shards: Arc<[mpsc::Sender<Inbound>]>,
}

impl Ingress {
    /// Ingress over these shard queues (at least one).
    pub(crate) fn new(shards: Vec<mpsc::Sender<Inbound>>) -> Self {
        Ingress {
            shards: shards.into(),
        }
    }

    fn queue(&self, bytes: &[u8]) -> &mpsc::Sender<Inbound> {
        &self.shards[shard_of(call_id(bytes), self.shards.len())]
    }

    /// Hands `msg` to its shard without waiting; a full queue gives the message back.
    pub(crate) fn try_send(&self, msg: Inbound) -> Result<(), mpsc::error::TrySendError<Inbound>> {
        self.queue(&msg.bytes).try_send(msg)
    }

    /// Hands `msg` to its shard, waiting for room (stream transports: back-pressure on the
    /// connection instead of a refusal). Fails once the shard is gone.
    pub(crate) async fn send(&self, msg: Inbound) -> Result<(), mpsc::error::SendError<Inbound>> {
        self.queue(&msg.bytes).send(msg).await
    }
}

/// The shard of a Call-ID among `n`: FNV-1a, stable across runs and nodes.
pub(crate) fn shard_of(call_id: &[u8], n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as usize
}

/// The Call-ID of a message, trimmed, by a scan of its header lines (`Call-ID:` or the
/// compact `i:`, any case); empty when there is none before the blank line. Folded or odd
/// messages still land on one shard consistently, which is all this is for; the parser
/// judges them there.
pub(crate) fn call_id(bytes: &[u8]) -> &[u8] {
    header(bytes, b"call-id", b"i")
}

/// The first value of header `long` (or its compact form; `b""` for none) by the same scan:
/// for the edge's checks that run before the message is parsed (a scanner's User-Agent).
pub(crate) fn header<'a>(bytes: &'a [u8], long: &[u8], compact: &[u8]) -> &'a [u8] {
    let mut rest = bytes;
    // Skip the start line.
    let Some(nl) = memchr::memchr(b'\n', rest) else {
        return &[];
    };
    rest = &rest[nl + 1..];
    loop {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return &[];
        }
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = line[..colon].trim_ascii();
            if name.eq_ignore_ascii_case(long)
                || (!compact.is_empty() && name.eq_ignore_ascii_case(compact))
            {
                return line[colon + 1..].trim_ascii();
            }
        }
        if end >= rest.len() {
            return &[];
        }
        rest = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_call_id_in_either_form_and_any_case() {
        let long =
            b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\nCALL-id:  abc@h \r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(call_id(long), b"abc@h");
        let compact = b"SIP/2.0 200 OK\r\nv: x\r\ni:abc@h\r\n\r\nbody i: no";
        assert_eq!(call_id(compact), b"abc@h");
    }

    #[test]
    fn finds_other_headers_by_the_same_scan() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nuser-agent: friendly-scanner\r\ni: x\r\n\r\n";
        assert_eq!(header(m, b"user-agent", b""), b"friendly-scanner");
        assert_eq!(header(m, b"server", b""), b"");
    }

    #[test]
    fn a_missing_or_body_only_call_id_is_empty() {
        assert_eq!(
            call_id(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nCall-ID: body"),
            b""
        );
        assert_eq!(call_id(b"garbage"), b"");
        assert_eq!(call_id(b""), b"");
        assert_eq!(call_id(b"X\nCall-ID"), b"");
    }

    #[test]
    fn a_call_lands_on_one_shard_and_calls_spread() {
        assert_eq!(shard_of(b"abc", 1), 0);
        let a = shard_of(b"abc@h", 4);
        assert_eq!(a, shard_of(b"abc@h", 4));
        let used: std::collections::HashSet<usize> = (0..64)
            .map(|i| shard_of(format!("call-{i}").as_bytes(), 4))
            .collect();
        assert_eq!(used.len(), 4);
    }
}
