//! The on-disk format of a journal segment and how a damaged one is read.
//!
//! A segment is [`MAGIC`] followed by records, each framed as
//! `len: u32 LE | crc32(payload): u32 LE | payload (len bytes)`. The CRC tells a complete record
//! from a torn or damaged one; a record is never split across segments.
//!
//! A crash can leave the last record half-written (a *torn tail*); a failing disk can damage
//! bytes anywhere (*corruption*). [`scan`] tells them apart by looking for a valid record after
//! the damage: if there is none, the damage is a torn tail and nothing after it was ever
//! acknowledged; if there is one, acknowledged records follow a damaged stretch.

/// First bytes of every segment (format version 1).
pub(super) const MAGIC: &[u8; 8] = b"TLCDRJ1\n";
/// Offset of the first record.
pub(super) const HEADER_LEN: u64 = MAGIC.len() as u64;
/// Bytes before each payload.
pub(crate) const FRAME_HEAD: usize = 8;
/// Largest payload; a CDR encodes to about 1 kB.
pub(crate) const MAX_RECORD: usize = 64 * 1024;

/// Appends one framed record.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    // `payload.len() <= MAX_RECORD` is checked by the caller, so the cast cannot truncate.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What starts at the beginning of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'a> {
    /// A complete, intact record of `frame_len` bytes in all.
    Record {
        /// The payload.
        payload: &'a [u8],
        /// Header plus payload.
        frame_len: usize,
    },
    /// The buffer is empty.
    End,
    /// A plausible record starts but the buffer ends first.
    Incomplete,
    /// Not a record: an impossible length or a CRC mismatch.
    Bad,
}

fn le32(bytes: Option<&[u8]>) -> Option<u32> {
    Some(u32::from_le_bytes(bytes?.try_into().ok()?))
}

/// Reads the record at the start of `buf`.
pub(crate) fn next(buf: &[u8]) -> Next<'_> {
    if buf.is_empty() {
        return Next::End;
    }
    let (Some(len), Some(crc)) = (le32(buf.get(0..4)), le32(buf.get(4..FRAME_HEAD))) else {
        return Next::Incomplete;
    };
    let len = len as usize;
    if len == 0 || len > MAX_RECORD {
        return Next::Bad;
    }
    let Some(payload) = buf.get(FRAME_HEAD..FRAME_HEAD + len) else {
        return Next::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Next::Bad;
    }
    Next::Record {
        payload,
        frame_len: FRAME_HEAD + len,
    }
}

/// One intact record found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Offset of the frame in the segment.
    pub offset: u64,
    /// Header plus payload.
    pub frame_len: usize,
}

/// What [`scan`] found in a whole segment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Intact records in file order.
    pub records: Vec<Found>,
    /// Where the intact data ends: the file should be truncated here. Equal to the file length
    /// when there is no torn tail.
    pub valid_end: u64,
    /// Damaged stretches (start, end) followed by intact records: corruption, not a torn tail.
    pub damaged: Vec<(u64, u64)>,
    /// The segment does not start with [`MAGIC`].
    pub bad_magic: bool,
}

impl Scan {
    /// Bytes after `valid_end`: a torn tail to cut off.
    pub fn torn_bytes(&self, file_len: u64) -> u64 {
        file_len.saturating_sub(self.valid_end)
    }
}

/// Finds every intact record of a segment's bytes, resynchronising after damage.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    scan_with(bytes, MAGIC)
}

/// [`scan`] for a file that starts with `magic` (another log using the same framing).
pub(crate) fn scan_with(bytes: &[u8], magic: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut pos = if bytes.starts_with(magic) {
        magic.len()
    } else {
        // A segment whose creation was cut short holds a prefix of the magic and no records;
        // anything else is damage at the very start.
        out.bad_magic = !magic.starts_with(bytes);
        0
    };
    out.valid_end = pos as u64;
    let mut damage_start: Option<usize> = None;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        match next(rest) {
            Next::Record { frame_len, .. } => {
                if let Some(start) = damage_start.take() {
                    out.damaged.push((start as u64, pos as u64));
                }
                out.records.push(Found {
                    offset: pos as u64,
                    frame_len,
                });
                pos += frame_len;
                out.valid_end = pos as u64;
            }
            Next::End => break,
            Next::Incomplete | Next::Bad => {
                // Step one byte and look for the next intact record. Damage with no record
                // after it stays out of `damaged`: it is the torn tail beyond `valid_end`.
                damage_start.get_or_insert(pos);
                pos += 1;
            }
        }
    }
    if bytes.len() < magic.len() && !out.bad_magic {
        out.valid_end = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for p in payloads {
            encode(p, &mut out);
        }
        out
    }

    #[test]
    fn round_trip() {
        let seg = segment(&[b"one", b"two"]);
        let s = scan(&seg);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.valid_end, seg.len() as u64);
        assert!(s.damaged.is_empty() && !s.bad_magic);
        let first = s.records[0];
        let at = usize::try_from(first.offset).unwrap_or_default();
        assert_eq!(
            next(&seg[at..]),
            Next::Record {
                payload: b"one",
                frame_len: 11
            }
        );
    }

    #[test]
    fn torn_tails_are_cut() {
        let whole = segment(&[b"one", b"two"]);
        let good = segment(&[b"one"]).len();
        // Every possible cut inside the last record, then garbage and zeros after it.
        for cut in good + 1..whole.len() {
            let s = scan(&whole[..cut]);
            assert_eq!(
                (s.records.len(), s.valid_end),
                (1, good as u64),
                "cut {cut}"
            );
            assert!(s.damaged.is_empty());
        }
        for tail in [
            &b"\xff\xff\xff\x7fgarbage"[..],
            &[0u8; 4096][..],
            b"\x05\0\0\0abc",
        ] {
            let mut seg = segment(&[b"one"]);
            seg.extend_from_slice(tail);
            let s = scan(&seg);
            assert_eq!((s.records.len(), s.valid_end), (1, good as u64));
            assert_eq!(s.torn_bytes(seg.len() as u64), tail.len() as u64);
            assert!(s.damaged.is_empty());
        }
        // A segment whose creation was cut short.
        for cut in 0..MAGIC.len() {
            let s = scan(&MAGIC[..cut]);
            assert_eq!((s.records.len(), s.valid_end, s.bad_magic), (0, 0, false));
        }
    }

    #[test]
    fn damage_in_the_middle_is_corruption() {
        let mut seg = segment(&[b"one", b"two", b"three"]);
        // Flip a payload byte of "two".
        let two = segment(&[b"one"]).len() + FRAME_HEAD;
        seg[two] ^= 0x20;
        let s = scan(&seg);
        assert_eq!(s.records.len(), 2, "one and three survive");
        assert_eq!(s.damaged.len(), 1);
        assert_eq!(s.valid_end, seg.len() as u64);
        // A length field damaged to run past the end of the file is still not a torn tail.
        let mut seg = segment(&[b"one", b"two", b"three"]);
        seg[two - FRAME_HEAD] = 0xf0;
        let s = scan(&seg);
        assert_eq!((s.records.len(), s.damaged.len()), (2, 1));
        // Bad magic, records after it.
        let mut seg = segment(&[b"one"]);
        seg[0] = b'X';
        let s = scan(&seg);
        assert!(s.bad_magic);
        assert_eq!(s.records.len(), 1);
    }
}
