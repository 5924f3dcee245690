//! An estimated MOS from a simplified ITU-T G.107 E-model: R = 93.2 − Id − Ie,eff, with the
//! delay impairment Id from the one-way delay (jitter counted twice, as a jitter buffer adds
//! it, plus 10 ms of packetisation) and the equipment impairment Ie,eff from the codec and the
//! packet loss (G.113 Appendix I values). Good for comparing calls and spotting bad ones, not a
//! substitute for a listening test.

/// How a codec reacts to loss (G.113 Appendix I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Codec {
    /// Equipment impairment without loss.
    pub ie: f64,
    /// Packet-loss robustness.
    pub bpl: f64,
}

impl Codec {
    /// G.711 with packet loss concealment (what phones do).
    pub const G711: Codec = Codec { ie: 0.0, bpl: 25.1 };
    /// G.729A with VAD.
    pub const G729: Codec = Codec {
        ie: 11.0,
        bpl: 19.0,
    };
}

/// The MOS (1.0–4.5) of a stream with this one-way `delay_ms`, `jitter_ms` and
/// `loss_fraction` (0.0–1.0).
pub fn mos(delay_ms: f64, jitter_ms: f64, loss_fraction: f64, codec: Codec) -> f64 {
    let d = delay_ms.max(0.0) + 2.0 * jitter_ms.max(0.0) + 10.0;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = (loss_fraction.clamp(0.0, 1.0)) * 100.0;
    let ie_eff = codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl);
    let r = 93.2 - id - ie_eff;
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).clamp(1.0, 4.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_local_call_scores_as_g711_does() {
        let m = mos(20.0, 0.0, 0.0, Codec::G711);
        assert!((4.35..=4.45).contains(&m), "{m}");
    }

    #[test]
    fn loss_delay_and_jitter_lower_the_score() {
        let clean = mos(20.0, 0.0, 0.0, Codec::G711);
        let lossy = mos(20.0, 0.0, 0.05, Codec::G711);
        let far = mos(300.0, 0.0, 0.0, Codec::G711);
        let jittery = mos(20.0, 60.0, 0.0, Codec::G711);
        assert!(lossy < clean && far < clean && jittery < clean);
        assert!((3.6..=4.1).contains(&lossy), "5 % loss: {lossy}");
        assert!(mos(20.0, 0.0, 0.0, Codec::G729) < clean);
        assert_eq!(mos(2000.0, 500.0, 1.0, Codec::G711), 1.0);
    }
}
