//! Inputs the fuzzers once broke us with (`fuzz/regressions/<target>/`), replayed on every
//! test run with the `message` target's invariants.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::path::PathBuf;

use trunkline_sip::{Editor, Message, Uri, check};

#[test]
fn regressions_hold() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let Ok(targets) = std::fs::read_dir(&root) else {
        return;
    };
    let mut replayed = 0;
    for target in targets {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            for m in [Message::parse(&bytes), Message::parse_stream(&bytes)]
                .into_iter()
                .flatten()
            {
                let _ = check(&m);
                assert_eq!(Editor::new(&m).write(), m.raw());
            }
            let _ = Message::parse_head(&bytes);
            let _ = Uri::parse(&bytes);
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regressions");
}
