//! Which characters free text (names, caller-IDs, descriptions) may hold: everything printable,
//! but no character that changes how the text around it is shown.
//!
//! Refused, never silently removed: C0 and C1 controls (including U+0085 NEXT LINE), the line
//! and paragraph separators U+2028/U+2029, and every format character (Unicode category Cf) —
//! among them the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, which
//! can make `Bank` + U+202E + `lanigiro` read as another name in an admin's list (CVE-2021-42574 style
//! spoofing), and zero-width characters that make two names look alike.

use crate::StoreError;
use crate::validate::quoted;

/// Every code point of Unicode's general category Cf (format), as inclusive ranges (Unicode
/// 15.1, `DerivedGeneralCategory.txt`).
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` may not appear in free text, and why.
fn forbidden(c: char) -> Option<&'static str> {
    let n = u32::from(c);
    if c.is_control() {
        Some("a control character")
    } else if n == 0x2028 || n == 0x2029 {
        Some("a line or paragraph separator")
    } else if FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&n)) {
        Some("a formatting character (bidi override, zero-width, …)")
    } else {
        None
    }
}

/// Refuses `value` for `field` if it holds a character that [`forbidden`] names; the error
/// says which one, by code point.
pub(crate) fn plain(field: &'static str, value: &str) -> Result<(), StoreError> {
    match value.chars().find_map(|c| forbidden(c).map(|why| (c, why))) {
        Some((c, why)) => Err(StoreError::invalid(
            field,
            format!("{} contains U+{:04X}, {why}", quoted(value), u32::from(c)),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofing_characters_are_refused() {
        for bad in [
            "evil\u{202E}gnp.exe",
            "a\u{2066}b\u{2069}",
            "line\u{2028}break",
            "para\u{2029}",
            "next\u{0085}line",
            "nul\u{0}",
            "tab\t",
            "zero\u{200B}width",
            "bom\u{FEFF}",
            "tag\u{E0041}",
        ] {
            let Err(StoreError::Invalid { field, reason }) = plain("tenant.name", bad) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(field, "tenant.name");
            assert!(reason.contains("U+"), "{reason}");
        }
        for ok in [
            "ACME GmbH",
            "Müller & Söhne",
            "東京",
            "O'Brien; --",
            "a\u{00A0}b",
        ] {
            assert!(plain("tenant.name", ok).is_ok(), "{ok:?}");
        }
    }
}
