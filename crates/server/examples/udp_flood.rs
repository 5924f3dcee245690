//! Load generator for `bench/udp-pps`: keeps a window of OPTIONS requests in flight to a SIP
//! server over UDP from several sockets (one thread each) and counts the 200 responses.
//! Bounded in requests and in time, and only ever sends to a loopback address.
//!
//! ```text
//! udp_flood 127.0.0.1:5060 [--requests N] [--sockets S] [--window W] [--seconds T]
//! ```
//!
//! Prints one line: `sent=… answered=… ok=… seconds=… rps=… cpu=…` (`rps` counts 200s, `cpu`
//! is this process's own CPU seconds, to tell a saturated client from a saturated server).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Args {
    target: SocketAddr,
    requests: u64,
    sockets: u64,
    window: u64,
    seconds: u64,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let target: SocketAddr = it
        .next()
        .ok_or("usage: udp_flood IP:PORT [--requests N] [--sockets S] [--window W] [--seconds T]")?
        .parse()
        .map_err(|e| format!("target: {e}"))?;
    if !target.ip().is_loopback() {
        return Err(format!("{target}: only loopback targets are allowed"));
    }
    let mut args = Args {
        target,
        requests: 200_000,
        sockets: 4,
        window: 16,
        seconds: 20,
    };
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .ok_or(format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--requests" => args.requests = value,
            "--sockets" => args.sockets = value.clamp(1, 256),
            "--window" => args.window = value.clamp(1, 1024),
            "--seconds" => args.seconds = value.clamp(1, 600),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn request(me: SocketAddr, target: SocketAddr, worker: u64, seq: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK-f{worker}-{seq}\r\n\
From: <sip:flood@bench.invalid>;tag=f{worker}\r\n\
To: <sip:{target}>\r\n\
Call-ID: flood-{worker}-{seq}@bench.invalid\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[derive(Debug, Default)]
struct Totals {
    sent: AtomicU64,
    answered: AtomicU64,
    ok: AtomicU64,
}

/// One socket: sends until its share is used up or time runs out, refilling the window as
/// answers come back; a silent spell counts the window as lost and refills it.
fn worker(
    args: Args,
    id: u64,
    share: u64,
    deadline: Instant,
    totals: &Totals,
) -> std::io::Result<()> {
    let local = if args.target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let sock = UdpSocket::bind(local)?;
    sock.connect(args.target)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let me = sock.local_addr()?;
    let mut sent = 0u64;
    let mut in_flight = 0u64;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        while in_flight < args.window && sent < share {
            sock.send(&request(me, args.target, id, sent))?;
            sent += 1;
            in_flight += 1;
            totals.sent.fetch_add(1, Ordering::Relaxed);
        }
        if in_flight == 0 {
            break;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                in_flight = in_flight.saturating_sub(1);
                totals.answered.fetch_add(1, Ordering::Relaxed);
                if buf[..n].starts_with(b"SIP/2.0 200 ") {
                    totals.ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                in_flight = 0;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                in_flight = in_flight.saturating_sub(1);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("udp_flood: {e}");
            return ExitCode::from(2);
        }
    };
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let threads: Vec<_> = (0..args.sockets)
        .map(|id| {
            let totals = Arc::clone(&totals);
            let share = args.requests / args.sockets + u64::from(id < args.requests % args.sockets);
            std::thread::spawn(move || worker(args, id, share, deadline, &totals))
        })
        .collect();
    let mut failed = false;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("udp_flood: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let ok = totals.ok.load(Ordering::Relaxed);
    println!(
        "sent={} answered={} ok={} seconds={:.3} rps={:.0} cpu={:.2}",
        totals.sent.load(Ordering::Relaxed),
        totals.answered.load(Ordering::Relaxed),
        ok,
        seconds,
        ok as f64 / seconds,
        own_cpu_seconds().unwrap_or(f64::NAN),
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// utime + stime of this process from `/proc/self/stat`, assuming the usual 100 ticks/s.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
