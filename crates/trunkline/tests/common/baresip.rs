//! A headless `baresip` phone for tests: its own config dir, a WAV tone as microphone, every
//! call's received audio recorded by the `sndfile` module, driven over `ctrl_tcp` (netstring
//! JSON commands such as `dial` and `hangup`).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, tone};

/// Seconds after which a phone quits by itself (`-t`), whatever the test does.
const LIFETIME_SECS: u32 = 90;

/// A running baresip (our own child: ended by PID on drop).
pub struct Baresip {
    child: Child,
    /// Its config dir; recordings go to `rec/` in it.
    pub dir: PathBuf,
    ctrl: u16,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for SIP on UDP and TCP whose successor is free on TCP too: baresip also listens
/// for TLS on the next port.
fn sip_port() -> u16 {
    loop {
        let port = free_port();
        if TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// How a phone reaches the server and who it is.
pub struct Phone<'a> {
    pub user: u32,
    pub password: &'a str,
    pub domain: &'a str,
    /// The server's SIP address, `127.0.0.1:PORT` or `[::1]:PORT` (the phone then runs on
    /// IPv6 loopback).
    pub server: &'a str,
    /// `udp` or `tcp`.
    pub transport: &'a str,
    /// The tone it sends, in Hz.
    pub tone_hz: f64,
}

impl Baresip {
    /// Starts a phone under `parent/<user>` that registers as `phone.user` (auto-answer, PCMU).
    pub fn start(parent: &Path, phone: &Phone<'_>) -> Baresip {
        let dir = parent.join(format!("baresip-{}", phone.user));
        std::fs::create_dir_all(dir.join("rec")).unwrap();
        let wav = dir.join("tone.wav");
        tone::write_sine(&wav, phone.tone_hz, 30);
        let (sip, ctrl, rtp) = (sip_port(), free_port(), free_port());
        let (listen, interface) = match phone.server.starts_with('[') {
            true => (format!("[::1]:{sip}"), "::1"),
            false => (format!("127.0.0.1:{sip}"), "127.0.0.1"),
        };
        let config = format!(
            "module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module account.so\nmodule menu.so\nmodule ctrl_tcp.so\n\
             sip_listen {listen}\nnet_interface {interface}\n\
             rtp_ports {rtp}-{rtp_end}\n\
             audio_source aufile,{wav}\naudio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\nsnd_path {rec}\n",
            rtp_end = rtp + 20,
            wav = wav.display(),
            rec = dir.join("rec").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        let account = format!(
            "<sip:{user}@{domain};transport={t}>;auth_user={user};auth_pass={pass};\
             outbound=\"sip:{server};transport={t}\";regint=300;answermode=auto;\
             audio_codecs=PCMU\n",
            user = phone.user,
            domain = phone.domain,
            t = phone.transport,
            pass = phone.password,
            server = phone.server,
        );
        std::fs::write(dir.join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .args(["-t", &LIFETIME_SECS.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("baresip could not run ({e}); scripts/test installs it"));
        let b = Baresip { child, dir, ctrl };
        // baresip loads its modules first; on a 2-core machine busy with the other test
        // binaries that took over 10 s once.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", ctrl)).is_err() {
            assert!(
                Instant::now() < deadline,
                "baresip never opened its control port:\n{}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    /// Everything it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Runs a ctrl_tcp command; the response's `data`-carrying JSON (events are skipped).
    pub fn command(&self, command: &str, params: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let json = format!(r#"{{"command":"{command}","params":"{params}","token":"t"}}"#);
        write!(s, "{}:{json},", json.len()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if let Some(r) = responses(&got)
                .into_iter()
                .find(|m| m.contains(r#""response":true"#))
            {
                return r;
            }
        }
        panic!(
            "baresip gave no answer to {command}: {}\n{}",
            String::from_utf8_lossy(&got),
            self.log()
        );
    }

    /// The recording of what it received in its (first) call, once written.
    pub fn received(&self) -> PathBuf {
        let rec = self.dir.join("rec");
        std::fs::read_dir(&rec)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no recording in {}:\n{}", rec.display(), self.log()))
    }
}

/// The complete netstrings in `bytes`.
fn responses(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(colon) = rest.iter().position(|&b| b == b':') {
        let Some(len) = std::str::from_utf8(&rest[..colon])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        let body = colon + 1;
        if rest.len() < body + len + 1 {
            break;
        }
        out.push(String::from_utf8_lossy(&rest[body..body + len]).into_owned());
        rest = &rest[body + len + 1..];
    }
    out
}
