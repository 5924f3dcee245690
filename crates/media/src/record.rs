//! Call recording: both directions of a relayed call to one file. G.711 (PCMU, PCMA) becomes
//! a stereo WAV, 8 kHz 16-bit, the caller on the left and the callee on the right, each packet
//! placed by its RTP timestamp from where its stream started (jitter does not smear it, a gap
//! is silence); any other codec is kept as the RTP packets themselves in a pcap (raw IPv4/UDP,
//! for Wireshark's RTP player). The format is chosen by the first packet.
//!
//! Files are written by a recording thread of their own ([`Recordings`]): the relay hands it
//! copies of the packets through a bounded queue ([`Recorder`]) and never waits on the disk;
//! when the queue is full (a stalled disk), packets are left out of the recording, never out
//! of the call.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::Side;

/// 8 kHz, the G.711 clock.
const RATE: u64 = 8000;
/// Audio kept in memory before it goes to the file: late packets within it still land in
/// place.
const HOLD: u64 = RATE / 2;
/// A stream whose timestamp jumps further than this from the clock is re-anchored.
const JUMP: i64 = 10 * RATE as i64;

/// Where the recording goes before its format is known, and the file once it is.
#[derive(Debug)]
enum Sink<W> {
    /// The path without extension; nothing written yet.
    Pending(PathBuf),
    Wav(Wav<W>, PathBuf),
    Pcap(W, PathBuf),
    /// Writing failed: the call goes on unrecorded.
    Failed,
}

#[derive(Debug)]
struct Wav<W> {
    out: W,
    /// Sample frames written so far.
    written: u64,
    /// Frames not yet written, starting at frame `written`.
    held: VecDeque<[i16; 2]>,
    /// Per channel: (the frame its first packet went to, that packet's RTP timestamp).
    anchor: [Option<(u64, u32)>; 2],
}

/// One call's recording file.
#[derive(Debug)]
pub struct RecordFile<W = BufWriter<File>> {
    sink: Sink<W>,
    open: fn(&Path) -> io::Result<W>,
}

fn open_file(path: &Path) -> io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(BufWriter::with_capacity(64 * 1024, File::create(path)?))
}

impl RecordFile {
    /// A recording to `stem` plus `.wav` or `.pcap`.
    pub fn new(stem: PathBuf) -> Self {
        RecordFile {
            sink: Sink::Pending(stem),
            open: open_file,
        }
    }
}

impl<W: Write + Seek> RecordFile<W> {
    /// A recording whose file `open` makes (tests write to memory).
    pub fn with_opener(stem: PathBuf, open: fn(&Path) -> io::Result<W>) -> Self {
        RecordFile {
            sink: Sink::Pending(stem),
            open,
        }
    }

    /// The file, once the first packet chose its format.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::Wav(_, p) | Sink::Pcap(_, p) => Some(p),
            Sink::Pending(_) | Sink::Failed => None,
        }
    }

    /// An RTP packet from `side`'s party (`from` → the relay's `to`), `elapsed` after the call
    /// was created, at wall-clock time `wall`.
    pub fn packet(
        &mut self,
        side: Side,
        data: &[u8],
        (from, to): (SocketAddr, SocketAddr),
        elapsed: Duration,
        wall: SystemTime,
    ) {
        let Some(h) = trunkline_rtp::Header::parse(data) else {
            return;
        };
        if let Sink::Pending(stem) = &self.sink {
            let g711 = matches!(h.payload_type, 0 | 8);
            let path = stem.with_extension(if g711 { "wav" } else { "pcap" });
            let opened = (self.open)(&path).and_then(|mut out| {
                match g711 {
                    true => wav_header(&mut out, 0)?,
                    false => pcap_header(&mut out)?,
                }
                Ok(out)
            });
            self.sink = match (opened, g711) {
                (Ok(out), true) => Sink::Wav(
                    Wav {
                        out,
                        written: 0,
                        held: VecDeque::new(),
                        anchor: [None, None],
                    },
                    path,
                ),
                (Ok(out), false) => Sink::Pcap(out, path),
                (Err(e), _) => {
                    tracing::warn!(path = %path.display(), error = %e, "recording not started");
                    Sink::Failed
                }
            };
        }
        let result = match &mut self.sink {
            Sink::Wav(w, _) => w.packet(side, &h, data, elapsed),
            Sink::Pcap(out, _) => pcap_record(out, data, from, to, wall),
            Sink::Pending(_) | Sink::Failed => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "recording stopped: write failed");
            self.sink = Sink::Failed;
        }
    }

    /// Writes what is held, completes the file's header; the file, if anything was recorded.
    pub fn finish(self) -> Option<PathBuf> {
        let done = match self.sink {
            Sink::Wav(mut w, path) => w.finish().map(|()| path),
            Sink::Pcap(mut out, path) => out.flush().map(|()| path),
            Sink::Pending(_) | Sink::Failed => return None,
        };
        done.map_err(|e| tracing::warn!(error = %e, "recording not completed"))
            .ok()
    }
}

impl<W: Write + Seek> Wav<W> {
    fn packet(
        &mut self,
        side: Side,
        h: &trunkline_rtp::Header,
        data: &[u8],
        elapsed: Duration,
    ) -> io::Result<()> {
        let decode: fn(u8) -> i16 = match h.payload_type {
            0 => ulaw,
            8 => alaw,
            _ => return Ok(()), // DTMF events, comfort noise: not audio to mix in
        };
        let now = elapsed.as_micros() as u64 * RATE / 1_000_000;
        let ch = side.index();
        let (frame0, ts0) = *self.anchor[ch].get_or_insert((now, h.timestamp));
        let mut at = frame0 as i64 + i64::from(h.timestamp.wrapping_sub(ts0) as i32);
        if (at - now as i64).abs() > JUMP {
            // A new stream or a timestamp jump: it starts again where the clock is.
            self.anchor[ch] = Some((now, h.timestamp));
            at = now as i64;
        }
        let payload = trunkline_rtp::payload(data).unwrap_or(&[]);
        for (i, &b) in payload.iter().enumerate() {
            let Some(slot) = (at + i as i64 - self.written as i64).try_into().ok() else {
                continue; // already written: too late
            };
            let slot: usize = slot;
            if slot >= self.held.len() {
                self.held.resize(slot + 1, [0, 0]);
            }
            self.held[slot][ch] = decode(b);
        }
        // Everything more than HOLD behind the clock is final.
        let keep_from = now.saturating_sub(HOLD);
        self.write_until(keep_from)
    }

    fn write_until(&mut self, frame: u64) -> io::Result<()> {
        while self.written < frame {
            let f = self.held.pop_front().unwrap_or([0, 0]);
            self.out.write_all(&f[0].to_le_bytes())?;
            self.out.write_all(&f[1].to_le_bytes())?;
            self.written += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let end = self.written + self.held.len() as u64;
        self.write_until(end)?;
        self.out.seek(SeekFrom::Start(0))?;
        wav_header(&mut self.out, self.written * 4)?;
        self.out.flush()
    }
}

/// Jobs queued per recording thread before packets are left out.
const QUEUE: usize = 16_384;

#[derive(Debug)]
enum Job {
    Start(u64, PathBuf),
    Packet(Packet),
    Finish(u64),
}

#[derive(Debug)]
struct Packet {
    id: u64,
    side: Side,
    data: Vec<u8>,
    addrs: (SocketAddr, SocketAddr),
    elapsed: Duration,
    wall: SystemTime,
}

/// The recording thread of a relay, and what it has decided so far.
#[derive(Debug, Clone)]
pub struct Recordings {
    tx: SyncSender<Job>,
    /// Recording → its file, once its format is chosen.
    paths: Arc<Mutex<HashMap<u64, PathBuf>>>,
    next: Arc<AtomicU64>,
}

/// One call's recording as the relay holds it: a handle on the recording thread.
#[derive(Debug)]
pub struct Recorder {
    id: u64,
    recordings: Recordings,
    /// Packets left out because the queue was full.
    dropped: u64,
}

fn paths_of(m: &Mutex<HashMap<u64, PathBuf>>) -> std::sync::MutexGuard<'_, HashMap<u64, PathBuf>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recordings {
    /// Starts the recording thread; `None` when the thread cannot be started.
    pub fn start() -> Option<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let paths = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::clone(&paths);
        std::thread::Builder::new()
            .name("media-rec".to_owned())
            .spawn(move || write_recordings(rx, &shared))
            .map_err(|e| tracing::error!(error = %e, "recording thread not started"))
            .ok()?;
        Some(Recordings {
            tx,
            paths,
            next: Arc::new(AtomicU64::new(1)),
        })
    }

    /// A new recording to `stem` plus `.wav` or `.pcap`.
    pub fn recorder(&self, stem: PathBuf) -> Recorder {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // A start must not be lost (its packets would have nowhere to go): wait if full.
        let _ = self.tx.send(Job::Start(id, stem));
        Recorder {
            id,
            recordings: self.clone(),
            dropped: 0,
        }
    }
}

impl Recorder {
    /// Queues an RTP packet from `side`'s party (`from` → the relay's `to`), `elapsed` after
    /// the call was created, at wall-clock time `wall`. Never blocks.
    pub fn packet(
        &mut self,
        side: Side,
        data: &[u8],
        addrs: (SocketAddr, SocketAddr),
        elapsed: Duration,
        wall: SystemTime,
    ) {
        let job = Job::Packet(Packet {
            id: self.id,
            side,
            data: data.to_vec(),
            addrs,
            elapsed,
            wall,
        });
        if let Err(TrySendError::Full(_)) = self.recordings.tx.try_send(job) {
            self.dropped += 1;
        }
    }

    /// Ends the recording (the thread completes the file after the packets queued before);
    /// the file, if the recording has one by now.
    pub fn finish(self) -> Option<PathBuf> {
        let path = paths_of(&self.recordings.paths).get(&self.id).cloned();
        if self.dropped > 0 {
            tracing::warn!(
                dropped = self.dropped,
                "recording incomplete: the disk did not keep up"
            );
        }
        let _ = self.recordings.tx.send(Job::Finish(self.id));
        path
    }
}

/// The recording thread: writes every recording's packets until the relay is gone.
fn write_recordings(rx: Receiver<Job>, paths: &Mutex<HashMap<u64, PathBuf>>) {
    let mut files: HashMap<u64, RecordFile> = HashMap::new();
    while let Ok(job) = rx.recv() {
        match job {
            Job::Start(id, stem) => {
                files.insert(id, RecordFile::new(stem));
            }
            Job::Packet(p) => {
                let Some(f) = files.get_mut(&p.id) else {
                    continue;
                };
                let chosen = f.path().is_some();
                f.packet(p.side, &p.data, p.addrs, p.elapsed, p.wall);
                if !chosen && let Some(path) = f.path() {
                    paths_of(paths).insert(p.id, path.to_owned());
                }
            }
            Job::Finish(id) => {
                paths_of(paths).remove(&id);
                if let Some(f) = files.remove(&id)
                    && let Some(path) = f.finish()
                {
                    tracing::debug!(path = %path.display(), "recording completed");
                }
            }
        }
    }
}

/// The RIFF/WAVE header of `data_bytes` of 8 kHz stereo 16-bit PCM.
fn wav_header(out: &mut impl Write, data_bytes: u64) -> io::Result<()> {
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX - 36);
    out.write_all(b"RIFF")?;
    out.write_all(&(36 + data).to_le_bytes())?;
    out.write_all(b"WAVEfmt ")?;
    out.write_all(&16u32.to_le_bytes())?;
    out.write_all(&1u16.to_le_bytes())?; // PCM
    out.write_all(&2u16.to_le_bytes())?; // channels
    out.write_all(&(RATE as u32).to_le_bytes())?;
    out.write_all(&(RATE as u32 * 4).to_le_bytes())?; // bytes per second
    out.write_all(&4u16.to_le_bytes())?; // block align
    out.write_all(&16u16.to_le_bytes())?; // bits per sample
    out.write_all(b"data")?;
    out.write_all(&data.to_le_bytes())
}

/// The pcap global header, link type RAW (IPv4/IPv6 packets without a link layer).
fn pcap_header(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0u32.to_le_bytes())?; // time zone
    out.write_all(&0u32.to_le_bytes())?; // accuracy
    out.write_all(&65_535u32.to_le_bytes())?; // snap length
    out.write_all(&101u32.to_le_bytes()) // LINKTYPE_RAW
}

/// One packet as an IPv4/UDP datagram from `from` to `to` (IPv6 addresses are recorded as
/// 0.0.0.0: the RTP inside is what matters).
fn pcap_record(
    out: &mut impl Write,
    data: &[u8],
    from: SocketAddr,
    to: SocketAddr,
    wall: SystemTime,
) -> io::Result<()> {
    let since = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let len = 28 + data.len();
    out.write_all(&(since.as_secs() as u32).to_le_bytes())?;
    out.write_all(&since.subsec_micros().to_le_bytes())?;
    out.write_all(&(len as u32).to_le_bytes())?;
    out.write_all(&(len as u32).to_le_bytes())?;
    let v4 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => ip.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&v4(from));
    ip[16..20].copy_from_slice(&v4(to));
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    out.write_all(&ip)?;
    out.write_all(&from.port().to_be_bytes())?;
    out.write_all(&to.port().to_be_bytes())?;
    out.write_all(&((8 + data.len()) as u16).to_be_bytes())?;
    out.write_all(&0u16.to_be_bytes())?; // no UDP checksum
    out.write_all(data)
}

/// The IPv4 header checksum (RFC 791).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = (header.chunks(2))
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `YYYY-MM-DD/CALLID-TAG` for a call recorded from `now_ms` (Unix milliseconds) on: a
/// directory per day, the call's identifiers made safe for a file name.
pub fn recording_stem(call_id: &str, tag: &str, now_ms: u64) -> PathBuf {
    let safe = |s: &str| -> String {
        (s.chars().take(96))
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '_',
            })
            .collect()
    };
    let (y, m, d) = civil_date(now_ms / 86_400_000);
    PathBuf::from(format!("{y:04}-{m:02}-{d:02}")).join(format!("{}-{}", safe(call_id), safe(tag)))
}

/// The (year, month, day) of day `days` since 1970-01-01 (proleptic Gregorian calendar,
/// H. Hinnant's civil-from-days).
fn civil_date(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// G.711 μ-law to linear (ITU-T G.711).
pub fn ulaw(b: u8) -> i16 {
    let b = !b;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law to linear (ITU-T G.711).
pub fn alaw(b: u8) -> i16 {
    let b = b ^ 0x55;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn memory(_: &Path) -> io::Result<Cursor<Vec<u8>>> {
        Ok(Cursor::new(Vec::new()))
    }

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "127.0.0.1:4000".parse().unwrap(),
            "127.0.0.1:30000".parse().unwrap(),
        )
    }

    /// Runs `feed` on a memory recorder and returns the bytes it wrote.
    fn recorded(feed: impl FnOnce(&mut RecordFile<Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut r = RecordFile::with_opener(PathBuf::from("/x/call"), memory);
        feed(&mut r);
        let Sink::Wav(mut w, path) = r.sink else {
            panic!("not a WAV recording");
        };
        assert_eq!(path, PathBuf::from("/x/call.wav"));
        w.finish().unwrap();
        w.out.into_inner()
    }

    #[test]
    fn recordings_go_in_a_directory_per_day_under_a_safe_name() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(20_425), (2025, 12, 3));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        let stem = recording_stem("a/../b@c d", "t1", 20_425 * 86_400_000 + 5);
        assert_eq!(stem, PathBuf::from("2025-12-03/a_.._b_c_d-t1"));
    }

    #[test]
    fn g711_decodes_to_the_standard_values() {
        assert_eq!((ulaw(0xff), ulaw(0x7f)), (0, 0));
        assert_eq!((ulaw(0x80), ulaw(0x00)), (32124, -32124));
        assert_eq!((alaw(0xd5), alaw(0x55)), (8, -8));
        assert_eq!((alaw(0xaa), alaw(0x2a)), (32256, -32256));
    }

    #[test]
    fn both_directions_land_in_their_channel_at_their_time() {
        let wall = SystemTime::now();
        let out = recorded(|r| {
            // The caller from the start, the callee 40 ms later; each 3 packets of 20 ms,
            // the callee's second one arriving late (jitter) but placed by its timestamp.
            for (i, ms) in [(0u16, 0u64), (1, 20), (2, 40)] {
                let p = packet(0, i, 1000 + u32::from(i) * 160, &[0x80; 160]);
                r.packet(Side::Caller, &p, addrs(), Duration::from_millis(ms), wall);
            }
            for (i, ms) in [(0u16, 40u64), (2, 80), (1, 95)] {
                let p = packet(8, i, 5000 + u32::from(i) * 160, &[0xaa; 160]);
                r.packet(Side::Callee, &p, addrs(), Duration::from_millis(ms), wall);
            }
        });
        assert_eq!(&out[..4], b"RIFF");
        assert_eq!(&out[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([out[22], out[23]]), 2, "stereo");
        let data = u32::from_le_bytes([out[40], out[41], out[42], out[43]]) as usize;
        assert_eq!(data, out.len() - 44);
        let frames: Vec<[i16; 2]> = (out[44..].chunks(4))
            .map(|c| {
                [
                    i16::from_le_bytes([c[0], c[1]]),
                    i16::from_le_bytes([c[2], c[3]]),
                ]
            })
            .collect();
        // 40 ms + 60 ms of callee audio = 100 ms = 800 frames.
        assert_eq!(frames.len(), 800);
        assert!(
            frames[..480].iter().all(|f| f[0] == 32124),
            "caller for 60 ms"
        );
        assert!(frames[480..].iter().all(|f| f[0] == 0));
        assert!(frames[..320].iter().all(|f| f[1] == 0), "callee from 40 ms");
        assert!(
            frames[320..].iter().all(|f| f[1] == 32256),
            "no gap: the late packet fits"
        );
    }

    #[test]
    fn other_codecs_are_kept_as_packets_in_a_pcap() {
        let mut r = RecordFile::with_opener(PathBuf::from("/x/call"), memory);
        let p = packet(18, 1, 0, &[1, 2, 3]);
        r.packet(Side::Caller, &p, addrs(), Duration::ZERO, SystemTime::now());
        r.packet(Side::Callee, &p, addrs(), Duration::ZERO, SystemTime::now());
        let Sink::Pcap(out, path) = r.sink else {
            panic!("not a pcap");
        };
        assert_eq!(path, PathBuf::from("/x/call.pcap"));
        let bytes = out.into_inner();
        assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes());
        let record = 16 + 28 + p.len();
        assert_eq!(bytes.len(), 24 + 2 * record);
        assert_eq!(checksum(&bytes[24 + 16..24 + 36]), 0, "a valid IPv4 header");
    }
}
