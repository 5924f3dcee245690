//! RTP load for a media relay driven over ng (a Trunkline media node, or rtpengine): CALLS
//! calls set up with `offer`/`answer`, both parties of each sending G.711 20 ms packets (172
//! bytes, 50 per second) through the relay; every packet's arrival at the other party is
//! checked. After WARM seconds, SECONDS are measured: packets sent and relayed, loss, one-way
//! latency (p50, p99, max) and, with a PID, the relay's CPU time per relayed packet.
//!
//! All callers send from one socket and all callees from another, so that this generator
//! moves its packets with `sendmmsg`/`recvmmsg` and stays far below the relay's cost on its
//! own core; the relay still has its own ports per call and leg and latches each of them.
//!
//! `rtp_load NG_ADDR CALLS SECONDS [WARM] [PID]`; ends its calls with `delete`.
//!
//! `RTP_LOAD_IP` is the address its parties send from and name in their SDP (default
//! 127.0.0.1; another one when the generator runs in a network namespace of its own).
//! `RTP_LOAD_CORE=N` also reports how busy CPU N was over the measurement (the wall time
//! less its idle time in `/proc/stat`), per relayed packet: with the relay and
//! the receive processing of its packets on that core, this counts what a relay costs
//! wherever it does its work (in its threads, or in the kernel's softirqs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a load tool may stop on its own setup

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};
use rustix::net::addr::SocketAddrArg;
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
use trunkline_media::bencode::Value;

const PACKET: usize = 172;
const SLOTS: usize = 20; // a stream sends every 20 ms, in its own millisecond slot
const BATCH: usize = 64;

fn ng(sock: &UdpSocket, relay: SocketAddr, n: &mut u64, pairs: &[(&str, String)]) -> Value {
    *n += 1;
    let dict = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
        .collect();
    let mut out = format!("c{n} ").into_bytes();
    Value::Dict(dict).encode(&mut out);
    let mut buf = vec![0u8; 65_536];
    for _ in 0..5 {
        sock.send_to(&out, relay).unwrap();
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            let reply = &buf[..len];
            let sp = reply.iter().position(|&b| b == b' ').unwrap();
            if reply[..sp] == out[..sp] {
                return Value::decode(&reply[sp + 1..]).unwrap();
            }
        }
    }
    panic!("the relay does not answer ng at {relay}");
}

fn sdp(ip: IpAddr, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=load\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// The audio address of the SDP in an ng reply.
fn relay_addr(reply: &Value) -> SocketAddr {
    let text = reply.get("sdp").and_then(Value::as_str).unwrap_or_else(|| {
        panic!("ng refused: {reply:?}");
    });
    let sdp = trunkline_sdp::Sdp::parse(text.as_bytes()).unwrap();
    sdp.streams()[0].rtp.unwrap()
}

fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU `core`'s idle time so far (idle and I/O wait), in clock ticks (USER_HZ, 100 a second).
/// The kernel measures idle time exactly on a tickless system, while busy time is sampled by
/// a timer tick that does not run while an idle CPU wakes briefly for softirqs; so a core's
/// busy time is the wall time minus its idle time, not the sum of the busy columns.
fn core_idle(core: Option<usize>) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{} ", core?);
    let line = stat.lines().find(|l| l.starts_with(&name))?;
    let f: Vec<u64> = (line.split_whitespace().skip(1))
        .filter_map(|v| v.parse().ok())
        .collect();
    Some(f.get(3)? + f.get(4)?)
}

/// Latency histogram in 10 µs buckets up to 1 s.
struct Histogram(Vec<u64>);

impl Histogram {
    fn add(&mut self, us: u64) {
        let i = ((us / 10) as usize).min(self.0.len() - 1);
        self.0[i] += 1;
    }

    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.0.iter().sum();
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return i as u64 * 10 + 10;
            }
        }
        0
    }
}

struct Counters {
    received: u64,
    hist: Histogram,
    max_us: u64,
}

fn receive(
    sock: &UdpSocket,
    state: &UdpSocketState,
    storage: &mut [u8],
    meta: &mut [RecvMeta],
    t0: Instant,
    window: (u64, u64),
    c: &mut Counters,
) -> usize {
    let mut slots = storage.chunks_mut(2048);
    let mut bufs: Vec<IoSliceMut<'_>> = (0..meta.len())
        .map(|_| IoSliceMut::new(slots.next().unwrap()))
        .collect();
    let Ok(n) = state.recv(UdpSockRef::from(sock), &mut bufs, meta) else {
        return 0;
    };
    let now = t0.elapsed().as_nanos() as u64;
    for (m, buf) in meta[..n].iter().zip(bufs.iter()) {
        for p in buf[..m.len].chunks(m.stride.max(1)) {
            if p.len() < 20 {
                continue;
            }
            let sent = u64::from_be_bytes(p[12..20].try_into().unwrap());
            if sent >= window.0 && sent < window.1 {
                c.received += 1;
                let us = now.saturating_sub(sent) / 1000;
                c.hist.add(us);
                c.max_us = c.max_us.max(us);
            }
        }
    }
    n
}

fn send(sock: &UdpSocket, packets: &[(SocketAddr, [u8; PACKET])]) {
    for chunk in packets.chunks(BATCH) {
        let addrs: Vec<SocketAddrAny> = chunk.iter().map(|(to, _)| to.as_any()).collect();
        let iovs: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(_, p)| [IoSlice::new(p)]).collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = chunk
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut msgs: Vec<MMsgHdr<'_>> = (addrs.iter().zip(&iovs).zip(controls.iter_mut()))
            .map(|((a, iov), c)| MMsgHdr::new_with_addr(a, iov, c))
            .collect();
        let mut done = 0;
        while done < msgs.len() {
            match rustix::net::sendmmsg(sock, &mut msgs[done..], SendFlags::empty()) {
                Ok(n) => done += n.max(1),
                Err(rustix::io::Errno::AGAIN) => std::thread::yield_now(),
                Err(_) => done += 1, // a send error loses that packet: counted as lost
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: rtp_load NG_ADDR CALLS SECONDS [WARM_SECONDS] [RELAY_PID]");
        std::process::exit(2);
    }
    let relay: SocketAddr = args[1].parse().expect("NG_ADDR is IP:PORT");
    let calls: usize = args[2].parse().expect("CALLS is a number");
    let secs: u64 = args[3].parse().expect("SECONDS is a number");
    let warm: u64 = args
        .get(4)
        .map_or(5, |s| s.parse().expect("WARM is a number"));
    let pid: Option<u32> = args.get(5).and_then(|s| s.parse().ok());

    let local: IpAddr = std::env::var("RTP_LOAD_IP")
        .map_or(Ok([127, 0, 0, 1].into()), |s| s.parse())
        .expect("RTP_LOAD_IP is an IP address");
    let core: Option<usize> = std::env::var("RTP_LOAD_CORE")
        .ok()
        .map(|s| s.parse().expect("RTP_LOAD_CORE is a CPU number"));

    let control = UdpSocket::bind((local, 0)).unwrap();
    control
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let socket = || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let _ = s.set_recv_buffer_size(32 << 20);
        let _ = s.set_send_buffer_size(32 << 20);
        s.bind(&SocketAddr::from((local, 0)).into()).unwrap();
        let s: UdpSocket = s.into();
        s.set_nonblocking(true).unwrap();
        s
    };
    let (callers, callees) = (socket(), socket());
    let (ca, cb) = (callers.local_addr().unwrap(), callees.local_addr().unwrap());
    // Per call: where the caller sends (the relay's caller-facing port) and where the callee
    // sends (callee-facing).
    let mut n = 0;
    let mut targets = Vec::with_capacity(calls);
    for i in 0..calls {
        let id = format!("load-{i}-{}", std::process::id());
        let offer = ng(
            &control,
            relay,
            &mut n,
            &[
                ("command", "offer".into()),
                ("call-id", id.clone()),
                ("from-tag", format!("a{i}")),
                ("sdp", sdp(local, ca.port())),
            ],
        );
        let to_callee_port = relay_addr(&offer);
        let answer = ng(
            &control,
            relay,
            &mut n,
            &[
                ("command", "answer".into()),
                ("call-id", id.clone()),
                ("from-tag", format!("a{i}")),
                ("to-tag", format!("b{i}")),
                ("sdp", sdp(local, cb.port())),
            ],
        );
        targets.push((id, relay_addr(&answer), to_callee_port));
    }
    eprintln!("rtp_load: {calls} calls set up on {relay}; {warm} s warm-up, {secs} s measured");

    let qs = |s: &UdpSocket| UdpSocketState::new(UdpSockRef::from(s)).unwrap();
    let (qa, qb) = (qs(&callers), qs(&callees));
    let batch = quinn_udp::BATCH_SIZE;
    let mut storage = vec![0u8; batch * 2048];
    let mut meta = vec![RecvMeta::default(); batch];
    let t0 = Instant::now();
    let window = (warm * 1_000_000_000, (warm + secs) * 1_000_000_000);
    let stop = Duration::from_secs(warm + secs);
    let mut c = Counters {
        received: 0,
        hist: Histogram(vec![0; 100_000]),
        max_us: 0,
    };
    let mut sent = 0u64;
    let mut seq = vec![0u16; calls * 2];
    let mut tick = 0usize;
    let mut cpu = (None, None);
    let mut busy = (None, None);
    let mut out_a = Vec::with_capacity(calls);
    let mut out_b = Vec::with_capacity(calls);
    while t0.elapsed() < stop + Duration::from_millis(500) {
        let elapsed = t0.elapsed();
        if cpu.0.is_none() && elapsed.as_secs() >= warm {
            cpu.0 = Some((cpu_ticks(pid), Instant::now()));
            busy.0 = core_idle(core).map(|i| (i, Instant::now()));
        }
        // Every millisecond, the streams of this slot send one packet each.
        while elapsed < stop && Duration::from_millis(tick as u64) <= elapsed {
            let slot = tick % SLOTS;
            let now = t0.elapsed().as_nanos() as u64;
            out_a.clear();
            out_b.clear();
            for (i, (_, to_a, to_b)) in targets.iter().enumerate().skip(slot).step_by(SLOTS) {
                for (dir, to, out) in [(0, *to_a, &mut out_a), (1, *to_b, &mut out_b)] {
                    let s = i * 2 + dir;
                    seq[s] = seq[s].wrapping_add(1);
                    let mut p = [0xffu8; PACKET];
                    p[0] = 0x80;
                    p[1] = 0;
                    p[2..4].copy_from_slice(&seq[s].to_be_bytes());
                    p[4..8].copy_from_slice(&(u32::from(seq[s]) * 160).to_be_bytes());
                    p[8..12].copy_from_slice(&(s as u32).to_be_bytes());
                    p[12..20].copy_from_slice(&now.to_be_bytes());
                    out.push((to, p));
                    if now >= window.0 && now < window.1 {
                        sent += 1;
                    }
                }
            }
            send(&callers, &out_a);
            send(&callees, &out_b);
            tick += 1;
        }
        if elapsed >= stop && cpu.1.is_none() {
            cpu.1 = Some((cpu_ticks(pid), Instant::now()));
            busy.1 = core_idle(core).map(|i| (i, Instant::now()));
        }
        let got = receive(&callers, &qa, &mut storage, &mut meta, t0, window, &mut c)
            + receive(&callees, &qb, &mut storage, &mut meta, t0, window, &mut c);
        if got == 0 {
            std::hint::spin_loop();
        }
    }
    for (id, _, _) in &targets {
        ng(
            &control,
            relay,
            &mut n,
            &[("command", "delete".into()), ("call-id", id.clone())],
        );
    }
    let pps = sent / secs.max(1);
    let lost = sent.saturating_sub(c.received);
    let cpu_line = match cpu {
        (Some((Some(a), ta)), Some((Some(b), tb))) => {
            let cpu_s = (b - a) as f64 / 100.0; // clock ticks (USER_HZ 100)
            let wall = tb.duration_since(ta).as_secs_f64();
            format!(
                " relay_cpu={:.1}% us_per_pkt={:.2}",
                100.0 * cpu_s / wall,
                cpu_s * 1e6 / c.received.max(1) as f64
            )
        }
        _ => String::new(),
    };
    let core_line = match (core, busy) {
        (Some(n), (Some((i0, w0)), Some((i1, w1)))) => {
            let wall = w1.duration_since(w0).as_secs_f64();
            let busy_s = (wall - (i1 - i0) as f64 / 100.0).max(0.0);
            format!(
                " cpu{n}={:.1}% cpu{n}_us_per_pkt={:.2}",
                100.0 * busy_s / wall,
                busy_s * 1e6 / c.received.max(1) as f64
            )
        }
        _ => String::new(),
    };
    println!(
        "calls={calls} pps={pps} sent={sent} relayed={} lost={lost} loss={:.3}% p50_us={} p99_us={} max_us={}{cpu_line}{core_line}",
        c.received,
        100.0 * lost as f64 / sent.max(1) as f64,
        c.hist.quantile(0.5),
        c.hist.quantile(0.99),
        c.max_us
    );
}
