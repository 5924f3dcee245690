//! Behaviour of the `trunkline` binary through its command line: version, `config check`,
//! `config show`, and how config errors are reported.

#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns: a failed temp-file write or spawn should fail the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The example config shipped at the workspace root.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../trunkline.example.toml")
}

/// A config file under the temp dir, removed when dropped.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(contents: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "trunkline-cli-test-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        TempConfig(path)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `trunkline ARGS` with no `TRUNKLINE_*` or `RUST_LOG` from the test's own environment,
/// plus `env`.
fn trunkline(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trunkline"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TRUNKLINE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_LOG")
        .args(args)
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `config check` on `contents` and returns the exit code and stderr.
fn check(contents: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let file = TempConfig::new(contents);
    let path = file.0.to_string_lossy().into_owned();
    let out = trunkline(&["config", "check", &path], env);
    let err = stderr(&out);
    if out.status.success() {
        assert_eq!(stdout(&out), format!("{path}: ok\n"));
    } else {
        assert!(err.contains(&path), "origin not named: {err}");
    }
    (out.status.code(), err)
}

#[test]
fn version() {
    let out = trunkline(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "trunkline 0.1.0\n");
}

#[test]
fn help_lists_the_commands() {
    let out = trunkline(&["--help"], &[]);
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(help.contains("serve") && help.contains("config"), "{help}");
}

#[test]
fn example_config_is_valid() {
    let path = example();
    let out = trunkline(&["config", "check", &path.to_string_lossy()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("trunkline.example.toml: ok\n"));
}

#[test]
fn empty_file_is_valid() {
    assert_eq!(check("", &[]).0, Some(0));
}

#[test]
fn wrong_type_names_key_and_value() {
    let (code, err) = check("[sip]\nmax_message_size = \"big\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(
            "error: config: sip.max_message_size: invalid type: found string \"big\", expected u32 (in "
        ),
        "{err}"
    );
}

#[test]
fn bad_listener_names_key_and_value() {
    let (code, err) = check("[sip]\nlisten = [\"udp:1.2.3.4\"]\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: config: sip.listen[0]: \"udp:1.2.3.4\" is missing a port (in "),
        "{err}"
    );
}

#[test]
fn out_of_range_names_key_and_value() {
    let (code, err) = check("[sip]\nmax_message_size = 10\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(
            "error: config: sip.max_message_size: 10 is out of range (1024..=1048576) (in "
        ),
        "{err}"
    );
}

#[test]
fn tls_listener_without_certificate_is_rejected() {
    let (code, err) = check(
        "[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"tcp:0.0.0.0:5060\", \"tls:0.0.0.0:5061\"]\n",
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(
            "error: config: sip.tls.cert: must be set for sip.listen[2] \"tls:0.0.0.0:5061\""
        ),
        "{err}"
    );
}

#[test]
fn unknown_key_is_named() {
    let (code, err) = check("[sip]\nmax_mesage_size = 2048\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: config: sip.max_mesage_size: unknown key (expected one of: "),
        "{err}"
    );
    let (code, err) = check("[database]\nurl = \"x\"\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: config: database: unknown key"),
        "{err}"
    );
}

#[test]
fn syntax_error_names_the_file() {
    let (code, err) = check("[sip\n", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("TOML parse error at line 1"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let out = trunkline(&["config", "check", "/nonexistent/trunkline.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: config: cannot read /nonexistent/trunkline.toml: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn env_override_can_make_a_valid_file_invalid() {
    let file = TempConfig::new("[sip]\nmax_message_size = 4096\n");
    let path = file.0.to_string_lossy().into_owned();
    let out = trunkline(
        &["config", "check", &path],
        &[("TRUNKLINE_SIP__MAX_MESSAGE_SIZE", "1")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: config: sip.max_message_size: 1 is out of range (1024..=1048576) \
         (in environment variable TRUNKLINE_SIP__MAX_MESSAGE_SIZE)\n"
    );
}

#[test]
fn env_type_error_names_the_variable() {
    let out = trunkline(
        &["config", "show"],
        &[("TRUNKLINE_SIP__MAX_MESSAGE_SIZE", "abc")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: config: sip.max_message_size: invalid type: found string \"abc\", expected u32 \
         (in environment variable TRUNKLINE_SIP__MAX_MESSAGE_SIZE)\n"
    );
}

#[test]
fn unknown_env_key_is_named() {
    let out = trunkline(&["config", "show"], &[("TRUNKLINE_SIP__LISTN", "x")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: config: sip.listn: unknown key"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("TRUNKLINE_SIP__LISTN"));
}

#[test]
fn show_applies_file_env_and_flags_in_order() {
    let file = TempConfig::new(
        "[sip]\nmax_message_size = 4096\nserver_header = \"FromFile\"\n[log]\nlevel = \"warn\"\n",
    );
    let out = trunkline(
        &[
            "config",
            "show",
            "--sip-listen",
            "udp:127.0.0.1:5070",
            "--sip-listen",
            "tcp:[::1]:5070",
            "--http-listen",
            "127.0.0.1:9999",
        ],
        &[
            ("TRUNKLINE_CONFIG", &file.0.to_string_lossy()),
            ("TRUNKLINE_SIP__MAX_MESSAGE_SIZE", "2048"),
            ("TRUNKLINE_SIP__LISTEN", "[\"udp:127.0.0.1:1\"]"),
            ("TRUNKLINE_LOG__LEVEL", "debug"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let toml = stdout(&out);
    for line in [
        "listen = [\"udp:127.0.0.1:5070\", \"tcp:[::1]:5070\"]",
        "max_message_size = 2048",
        "server_header = \"FromFile\"",
        "listen = \"127.0.0.1:9999\"",
        "level = \"debug\"",
        "dir = \"./trunkline-data\"",
    ] {
        assert!(toml.lines().any(|l| l == line), "{line:?} not in:\n{toml}");
    }
}

#[test]
fn show_output_checks_clean() {
    let out = trunkline(&["config", "show"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, err) = check(&stdout(&out), &[]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn bad_flag_value_is_a_usage_error() {
    let out = trunkline(&["serve", "--sip-listen", "sctp:0.0.0.0:5060"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--sip-listen"), "{err}");
    assert!(err.contains("unknown transport \"sctp\""), "{err}");
}

#[test]
fn serve_reports_config_errors_with_exit_1() {
    let out = trunkline(&["serve"], &[("TRUNKLINE_SIP__TCP_IDLE_TIMEOUT_SECS", "0")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: config: sip.tcp_idle_timeout_secs: 0 is out of range"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn test_suite_variables_are_not_config_keys() {
    // CI exports TRUNKLINE_TEST_POSTGRES_URL for the whole run; servers the tests start
    // must not take it for a misspelt config key.
    let file = TempConfig::new("");
    let path = file.0.to_string_lossy().into_owned();
    let out = trunkline(
        &["config", "check", &path],
        &[("TRUNKLINE_TEST_POSTGRES_URL", "postgres://127.0.0.1/test")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
