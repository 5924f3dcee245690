//! What a peer's RTCP says about the stream it receives from us (RFC 3550 §6.4): the report
//! blocks of its sender and receiver reports, with the round-trip time worked out from LSR
//! and DLSR (§6.4.1), parsed with `rtcp-types`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtcp_types::{Compound, Packet, ReportBlock};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A compound RTCP packet that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed RTCP: {0}")]
pub struct RtcpError(String);

/// One report block: what the reporter received from source `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportSummary {
    /// Who sent the report.
    pub reporter: u32,
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, 0.0–1.0.
    pub fraction_lost: f64,
    /// Packets lost since the start (24-bit signed in the packet).
    pub cumulative_lost: i32,
    /// Interarrival jitter in timestamp units of the source.
    pub jitter: u32,
    /// Round trip, when the reporter had a sender report of ours to refer to.
    pub rtt: Option<Duration>,
}

/// The middle 32 bits of the NTP timestamp of `t` (seconds in 16.16 fixed point), the unit
/// of LSR and DLSR.
pub fn ntp_mid32(t: SystemTime) -> u32 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 16) / 1_000_000_000;
    (((secs & 0xffff) << 16) | frac) as u32
}

/// The report blocks in a compound RTCP packet received when the clock's NTP middle 32 bits
/// were `arrival` (see [`ntp_mid32`]).
pub fn reports(data: &[u8], arrival: u32) -> Result<Vec<ReportSummary>, RtcpError> {
    let compound = Compound::parse(data).map_err(|e| RtcpError(format!("{e:?}")))?;
    let mut out = Vec::new();
    for packet in compound {
        let (reporter, blocks): (u32, Vec<ReportBlock<'_>>) = match packet {
            Ok(Packet::Sr(sr)) => (sr.ssrc(), sr.report_blocks().collect()),
            Ok(Packet::Rr(rr)) => (rr.ssrc(), rr.report_blocks().collect()),
            Ok(_) => continue,
            Err(e) => return Err(RtcpError(format!("{e:?}"))),
        };
        out.extend(blocks.iter().map(|b| summary(reporter, b, arrival)));
    }
    Ok(out)
}

fn summary(reporter: u32, b: &ReportBlock<'_>, arrival: u32) -> ReportSummary {
    // 24 bits, two's complement.
    let lost = b.cumulative_lost() & 0x00ff_ffff;
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    let (lsr, dlsr) = (
        b.last_sender_report_timestamp(),
        b.delay_since_last_sender_report_timestamp(),
    );
    let rtt = (lsr != 0).then(|| {
        let units = arrival.wrapping_sub(lsr).wrapping_sub(dlsr);
        // A negative result (clock trouble) wraps to a huge value: refuse it.
        (units < 0x8000_0000).then(|| Duration::from_micros((u64::from(units) * 1_000_000) >> 16))
    });
    ReportSummary {
        reporter,
        ssrc: b.ssrc(),
        fraction_lost: f64::from(b.fraction_lost()) / 256.0,
        cumulative_lost,
        jitter: b.interarrival_jitter(),
        rtt: rtt.flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp_types::{ReceiverReport, RtcpPacketWriter as _, RtcpPacketWriterExt as _};

    fn rr(lost: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
        let block = ReportBlock::builder(0x1111)
            .fraction_lost(64)
            .cumulative_lost(lost)
            .extended_sequence_number(1000)
            .interarrival_jitter(80)
            .last_sender_report_timestamp(lsr)
            .delay_since_last_sender_report_timestamp(dlsr);
        let rr = ReceiverReport::builder(0x2222).add_report_block(block);
        let mut buf = vec![0; rr.calculate_size().unwrap()];
        let n = rr.write_into(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_receiver_report_gives_loss_jitter_and_rtt() {
        // Our SR left at 100.0 s (mid32), the peer held it 0.5 s, its RR arrived at 100.6 s.
        let lsr = 100 << 16;
        let dlsr = 1 << 15;
        let arrival = (100 << 16) + (6 << 16) / 10;
        let r = reports(&rr(12, lsr, dlsr), arrival).unwrap();
        assert_eq!(r.len(), 1);
        let r = r[0];
        assert_eq!(
            (r.reporter, r.ssrc, r.cumulative_lost, r.jitter),
            (0x2222, 0x1111, 12, 80)
        );
        assert_eq!(r.fraction_lost, 0.25);
        let rtt = r.rtt.unwrap().as_millis();
        assert!((99..=101).contains(&rtt), "{rtt}");
    }

    #[test]
    fn no_sender_report_means_no_rtt_and_negative_loss_is_kept() {
        let r = reports(&rr(0x00ff_fffe, 0, 0), 12345).unwrap()[0];
        assert_eq!(r.rtt, None);
        assert_eq!(r.cumulative_lost, -2, "duplicates make loss negative");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(reports(&[0x80, 201, 0, 9, 1, 2], 0).is_err());
        assert!(reports(&[], 0).is_err());
    }

    #[test]
    fn ntp_middle_bits() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        let mid = ntp_mid32(t);
        assert_eq!(mid & 0xffff, 1 << 15, "half a second");
        assert_eq!(mid >> 16, ((NTP_UNIX_OFFSET + 1) & 0xffff) as u32);
    }
}
