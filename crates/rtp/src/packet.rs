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

/// Whether a packet on an RTP port is RTCP: its second byte (packet type) is in 192..=223
/// (RFC 5761 §4; RTP payload types 64–95 with the marker bit set are never used there).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, payload: usize) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678_u32.to_be_bytes());
        p.resize(12 + payload, 0xff);
        p
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
