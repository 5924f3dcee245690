//! Test tones: a sine written as an 8 kHz mono 16-bit WAV (what baresip's `aufile` plays) and,
//! for a recording, the energy at one frequency (Goertzel) and the overall RMS.

use std::path::Path;

/// Sample rate of the tones and of G.711 recordings.
pub const RATE: u32 = 8000;

/// Writes `secs` seconds of a sine at `hz`, half of full scale, to `path`.
pub fn write_sine(path: &Path, hz: f64, secs: u32) {
    let samples: Vec<i16> = (0..RATE * secs)
        .map(|n| {
            let t = f64::from(n) / f64::from(RATE);
            (16384.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}

/// The 16-bit samples of a PCM WAV file's `data` chunk (empty when there is none).
pub fn read_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut at = 12; // after "RIFF", size, "WAVE"
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body = at + 8;
        // A writer killed mid-call leaves the data size unwritten: take what is there.
        let end = (body + len as usize).min(bytes.len());
        if id == b"data" {
            return bytes[body..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        at = end + (len as usize & 1);
    }
    Vec::new()
}

/// What a recording holds: its RMS (full scale 1.0) and the power at each asked frequency,
/// relative to the total power (1.0 = all of it).
pub struct Spectrum {
    pub rms: f64,
    pub share: Vec<(f64, f64)>,
}

/// Analyses `samples` at `freqs` (Goertzel over the whole recording).
pub fn analyse(samples: &[i16], freqs: &[f64]) -> Spectrum {
    let n = samples.len().max(1) as f64;
    let total: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    let share = freqs
        .iter()
        .map(|&hz| {
            let w = 2.0 * std::f64::consts::PI * hz / f64::from(RATE);
            let coeff = 2.0 * w.cos();
            let (mut s1, mut s2) = (0.0, 0.0);
            for &x in samples {
                let s0 = f64::from(x) + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
            // A pure sine of amplitude A over N samples: Goertzel power (A·N/2)², total A²·N/2.
            (
                hz,
                if total > 0.0 {
                    2.0 * power / (n * total)
                } else {
                    0.0
                },
            )
        })
        .collect();
    Spectrum {
        rms: (total / n).sqrt() / 32768.0,
        share,
    }
}
