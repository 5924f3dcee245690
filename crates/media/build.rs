//! Compiles the in-kernel RTP fast path (`bpf/relay.bpf.c`) with clang for the BPF target.
//! Without clang or the kernel and libbpf headers the crate still builds, without the fast
//! path (the relay then forwards every packet in userspace and says so when it starts).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(trunkline_bpf)");
    println!("cargo:rerun-if-changed=bpf/relay.bpf.c");
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
    match built {
        Ok(o) if o.status.success() => println!("cargo:rustc-cfg=trunkline_bpf"),
        Ok(o) => println!(
            "cargo:warning=media: the in-kernel fast path is left out, {clang} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
        Err(e) => println!(
            "cargo:warning=media: the in-kernel fast path is left out ({clang}: {e}); \
             install clang, llvm and libbpf-dev to build it"
        ),
    }
}
