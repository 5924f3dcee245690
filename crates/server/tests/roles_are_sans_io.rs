//! The roles stay sans-IO: no role touches the transaction engine, a socket, the clock, a
//! channel, a task or a file. They answer events with actions (`roles/actions.rs`), and the
//! driver carries those out. This test reads the roles' sources and fails on the names that
//! would break that, so a change that reaches for one has to move it into the driver instead.

use std::path::{Path, PathBuf};

/// What no role may name, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "tasks, channels and sockets are the driver's"),
    ("spawn(", "tasks are the driver's"),
    ("mpsc", "channels are the driver's"),
    ("oneshot", "channels are the driver's"),
    (
        "Engine",
        "the transaction engine is the driver's: answer with Actions",
    ),
    (
        "Instant::now",
        "the time comes in with the event (Env::now_ms)",
    ),
    (
        "SystemTime::now",
        "the time comes in with the event (Env::now_ms)",
    ),
    ("UdpSocket", "sockets are the transports'"),
    ("TcpStream", "sockets are the transports'"),
    (
        "find_or_dial",
        "the driver opens connections (Arrival::Dial)",
    ),
    (
        "std::fs",
        "files are the driver's or the location service's",
    ),
];

/// What a file of a role may name anyway: the nonces' salt starts from the wall clock once,
/// when the registrar is made.
const EXEMPT: &[(&str, &str)] = &[("registrar/auth.rs", "SystemTime::now")];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_role_names_the_engine_a_socket_the_clock_a_channel_or_a_task() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("roles.rs")];
    sources(&root.join("roles"), &mut files);
    assert!(
        files.len() > 20,
        "the roles' sources were not found: {files:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root.join("roles")).unwrap_or(file);
        let rel = rel.to_string_lossy().replace('\\', "/");
        // Tests drive the roles through the driver on simulated time: they may name it.
        if rel.ends_with("tests.rs") || rel.contains("/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests at the end of a file may use what they like.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (name, why) in FORBIDDEN {
                let exempt = EXEMPT.iter().any(|(f, x)| rel == *f && x == name);
                if line.contains(name) && !exempt {
                    found.push(format!("{rel}:{}: `{name}` ({why})", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "roles must stay sans-IO:\n{}",
        found.join("\n")
    );
}
