//! The RTP header fields a relay reads (RFC 3550 §5.1), parsed with bounds checks by
//! `rtp-types`, and the RTP/RTCP demultiplexing rule for a shared port (RFC 5761 §4).

/// What a relay needs from an RTP packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
    /// Payload bytes (padding excluded).
    pub payload_len: usize,
}

impl Header {
    /// The header of `data`, or `None` when it is not a well-formed RTP version 2 packet
    /// (short, bad CSRC count, extension or padding length).
    pub fn parse(data: &[u8]) -> Option<Header> {
        let p = rtp_types::RtpPacket::parse(data).ok()?;
        Some(Header {
            payload_type: p.payload_type(),
            sequence: p.sequence_number(),
            timestamp: p.timestamp(),
            ssrc: p.ssrc(),
            marker: p.marker_bit(),
            payload_len: p.payload_len(),
        })
    }
}

impl Header {
    /// A packet with this header (no CSRCs, no extension, no padding) and `payload`;
    /// `payload_len` is ignored.
    pub fn write(&self, payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.push(0x80);
        p.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        p.extend_from_slice(&self.sequence.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// A 20 ms G.711 µ-law packet of stream `ssrc` numbered `seq` (timestamp `seq × 160`),
    /// carrying silence: what tests and tone generators start from.
    pub fn pcmu(ssrc: u32, seq: u16) -> Vec<u8> {
        let h = Header {
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq).wrapping_mul(160),
            ssrc,
            marker: false,
            payload_len: 160,
        };
        h.write(&[0xff; 160])
    }
}

/// The payload of RTP packet `data` (after CSRCs and extension, without padding).
pub fn payload(data: &[u8]) -> Option<&[u8]> {
    let p = rtp_types::RtpPacket::parse(data).ok()?;
    let start = (p.payload().as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    data.get(start..start + p.payload_len())
}

/// Whether a packet on an RTP port is RTCP: its second byte (packet type) is in 192..=223
/// (RFC 5761 §4; RTP payload types 64–95 with the marker bit set are never used there).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, payload: usize) -> Vec<u8> {
        let h = Header {
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 0x1234_5678,
            marker: false,
            payload_len: payload,
        };
        h.write(&vec![0xff; payload])
    }

    #[test]
    fn parses_the_fixed_header() {
        let h = Header::parse(&rtp(7, 160, 160)).unwrap();
        assert_eq!(
            (
                h.payload_type,
                h.sequence,
                h.timestamp,
                h.ssrc,
                h.payload_len
            ),
            (0, 7, 160, 0x1234_5678, 160)
        );
        assert!(!is_rtcp(&rtp(7, 160, 160)));
        let p = Header::pcmu(9, 3);
        assert_eq!(p.len(), 172);
        assert_eq!(
            Header::parse(&p).map(|h| (h.ssrc, h.sequence, h.timestamp)),
            Some((9, 3, 480))
        );
    }

    #[test]
    fn refuses_what_is_not_rtp() {
        assert_eq!(Header::parse(&[0x80, 0, 0, 1]), None, "short");
        let mut v1 = rtp(1, 1, 10);
        v1[0] = 0x40;
        assert_eq!(Header::parse(&v1), None, "version 1");
        let mut csrc = rtp(1, 1, 0);
        csrc[0] = 0x8f; // 15 CSRCs announced, none there
        assert_eq!(Header::parse(&csrc), None);
    }

    #[test]
    fn tells_rtcp_from_rtp() {
        // A receiver report with no blocks: V=2, PT=201, length 1.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        assert!(!is_rtcp(&rr[..4]));
    }
}
