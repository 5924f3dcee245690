//! The RFC 4475 torture messages: the parser and validator verdict matches the RFC's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::PathBuf;

use trunkline_sip::{Message, check};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/rfc4475")
}

#[test]
fn every_message_gets_the_rfc_verdict() {
    let manifest = std::fs::read_to_string(corpus().join("manifest.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, expected) = (cols[0], cols[2]);
        let bytes = std::fs::read(corpus().join(format!("{name}.sip"))).unwrap();
        let verdict = match Message::parse(&bytes) {
            Err(e) => Err(e.to_string()),
            Ok(m) => check(&m).map_err(|d| d.to_string()),
        };
        let valid = verdict.is_ok();
        eprintln!("{name}: {expected} -> {verdict:?}");
        if valid != (expected == "valid") {
            wrong.push(format!("{name}: expected {expected}, got {verdict:?}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 49, "manifest lists 49 messages");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
