//! Compiles the in-kernel RTP fast path (`bpf/relay.bpf.c`) with clang for the BPF target.
//! Where clang or the kernel and libbpf headers are missing (a fresh machine that has only
//! a Rust toolchain), the object shipped in the repository (`bpf/relay.bpf.o`, refreshed by
//! `scripts/build-bpf`) is used if it was built from this very source; only when neither
//! works does the crate build without the fast path (the relay then forwards every packet
//! in userspace and says so when it starts).

use std::path::{Path, PathBuf};
use std::process::Command;

/// FNV-1a of the source, as `scripts/build-bpf` records it in `bpf/relay.bpf.o.source`.
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The shipped object, when it was built from the source as it is now.
fn shipped() -> Option<PathBuf> {
    let source = std::fs::read("bpf/relay.bpf.c").ok()?;
    let recorded = std::fs::read_to_string("bpf/relay.bpf.o.source").ok()?;
    let object = Path::new("bpf/relay.bpf.o");
    (recorded.trim() == fingerprint(&source) && object.is_file()).then(|| object.to_path_buf())
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(trunkline_bpf)");
    println!("cargo:rerun-if-changed=bpf/relay.bpf.c");
    println!("cargo:rerun-if-changed=bpf/relay.bpf.o");
    println!("cargo:rerun-if-changed=bpf/relay.bpf.o.source");
    println!("cargo:rerun-if-env-changed=CLANG");
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let object = out.join("relay.bpf.o");
    let built = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .args(["-c", "bpf/relay.bpf.c", "-o"])
        .arg(&object)
        .output();
    let why = match built {
        Ok(o) if o.status.success() => {
            println!("cargo:rustc-cfg=trunkline_bpf");
            return;
        }
        Ok(o) => format!(
            "{clang} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
        Err(e) => format!("{clang}: {e}"),
    };
    if let Some(shipped) = shipped()
        && std::fs::copy(&shipped, &object).is_ok()
    {
        println!("cargo:rustc-cfg=trunkline_bpf");
        return;
    }
    println!(
        "cargo:warning=media: the in-kernel fast path is left out ({why}), and the shipped \
         bpf/relay.bpf.o is not built from this source; install clang, llvm and libbpf-dev, \
         or run scripts/build-bpf"
    );
}
