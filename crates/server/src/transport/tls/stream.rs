//! A server-side TLS stream over rustls' unbuffered API that holds no buffer while idle.
//!
//! rustls' buffered connection (what tokio-rustls wraps) keeps a 4 KiB record buffer for as
//! long as the connection lives, because its next read writes there. A SIP connection is idle
//! for hours between REGISTER refreshes, and a carrier edge holds tens of thousands of them, so
//! this stream waits for the socket to become readable first and only then allocates: while
//! idle, all it holds is the rustls session state (keys, sequence numbers). Every buffer here is
//! released as soon as it is drained.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes asked of the socket per read. Records up to 16 KiB arrive over several reads.
const READ_CHUNK: usize = 4096;

/// Unprocessed TLS bytes one connection may hold: a 64 KiB handshake message (rustls' own
/// limit) with its record framing. More means a broken or hostile peer.
const MAX_INCOMING: usize = 80 * 1024;

/// One TLS connection accepted by this server.
pub(crate) struct TlsStream {
    io: TcpStream,
    tls: UnbufferedServerConnection,
    /// TLS records received and not yet processed.
    incoming: Vec<u8>,
    /// Encrypted bytes for the peer; `outgoing[sent..]` is still to be written.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted application data; `plaintext[taken..]` is still to be read.
    plaintext: Vec<u8>,
    taken: usize,
    /// The peer's close_notify or TCP EOF: no more application data will come.
    read_closed: bool,
    /// Our close_notify is queued.
    write_closed: bool,
}

/// Where the connection stands after processing what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// The handshake needs more bytes from the peer.
    Handshaking,
    /// Established and idle: application data may flow both ways.
    Open,
    /// Both sides sent close_notify.
    Closed,
}

/// Something to encrypt once the connection allows application data.
#[derive(Debug, Clone, Copy)]
enum Emit<'a> {
    Nothing,
    Data(&'a [u8]),
    CloseNotify,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Appends what `write` produces to `out`, growing `out` to the size the encoder asks for.
fn write_grown(
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<InsufficientSizeError>>,
) -> io::Result<()> {
    let start = out.len();
    let mut room = 0;
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(InsufficientSizeError { required_size })) if required_size > room => {
                room = required_size;
            }
            Err(_) => {
                out.truncate(start);
                return Err(io::Error::other("TLS encoder refused the data"));
            }
        }
    }
}

impl TlsStream {
    /// Runs the server handshake on `io`. Not time-limited here: the caller wraps it in the
    /// handshake timeout.
    pub(crate) async fn accept(io: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let tls = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut stream = TlsStream {
            io,
            tls,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            taken: 0,
            read_closed: false,
            write_closed: false,
        };
        match std::future::poll_fn(|cx| stream.poll_handshake(cx)).await {
            Ok(()) => Ok(stream),
            Err(e) => {
                stream.send_alert();
                Err(e)
            }
        }
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let status = self.process(Emit::Nothing)?;
            ready!(self.poll_write_out(cx))?;
            match status {
                Status::Open => return Poll::Ready(Ok(())),
                Status::Closed => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                Status::Handshaking if self.read_closed => {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                Status::Handshaking => {
                    if ready!(self.poll_fill(cx))? == 0 {
                        self.read_closed = true;
                    }
                }
            }
        }
    }

    /// After a failed handshake, sends the alert rustls queued (a bad certificate, say) if the
    /// socket takes it at once; the connection is dropped either way.
    fn send_alert(&mut self) {
        let UnbufferedStatus { state, .. } = self.tls.process_tls_records(&mut self.incoming);
        if let Ok(ConnectionState::EncodeTlsData(mut enc)) = state {
            let mut alert = Vec::new();
            let encoded = write_grown(&mut alert, |buf| {
                enc.encode(buf).map_err(|e| match e {
                    EncodeError::InsufficientSize(s) => Some(s),
                    _ => None,
                })
            });
            if encoded.is_ok() {
                let _ = self.io.try_write(&alert);
            }
        }
    }

    /// Runs the rustls state machine over the received bytes until it waits for the network:
    /// decrypts application data into `plaintext`, encodes handshake records into `outgoing`,
    /// and encrypts `send` once application data may be sent.
    fn process(&mut self, mut send: Emit<'_>) -> io::Result<Status> {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.tls.process_tls_records(&mut self.incoming);
            let mut status = None;
            match state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut enc) => {
                    write_grown(&mut self.outgoing, |buf| {
                        enc.encode(buf).map_err(|e| match e {
                            EncodeError::InsufficientSize(s) => Some(s),
                            _ => None,
                        })
                    })?;
                }
                // `outgoing` is written in order by `poll_write_out`; rustls only needs to
                // know the records left its hands.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::BlockedHandshake => status = Some(Status::Handshaking),
                ConnectionState::PeerClosed => self.read_closed = true,
                ConnectionState::Closed => {
                    self.read_closed = true;
                    status = Some(Status::Closed);
                }
                ConnectionState::WriteTraffic(mut traffic) => {
                    let mut encrypt = |buf: &mut [u8]| match send {
                        Emit::Data(data) => traffic.encrypt(data, buf),
                        Emit::CloseNotify => traffic.queue_close_notify(buf),
                        Emit::Nothing => Ok(0),
                    };
                    write_grown(&mut self.outgoing, |buf| {
                        encrypt(buf).map_err(|e| match e {
                            EncryptError::InsufficientSize(s) => Some(s),
                            _ => None,
                        })
                    })?;
                    send = Emit::Nothing;
                    // In TLS 1.3 the server may send before the client's Finished arrives;
                    // the handshake is over only when that has been checked too.
                    status = Some(if self.tls.is_handshaking() {
                        Status::Handshaking
                    } else {
                        Status::Open
                    });
                }
                // Early data is never enabled; anything else is a rustls addition this code
                // does not know how to drive.
                _ => return Err(io::Error::other("unexpected TLS state")),
            }
            self.incoming.drain(..discard);
            if self.incoming.is_empty() {
                self.incoming = Vec::new();
            }
            match (status, send) {
                // Not yet allowed to send application data: the caller retries later.
                (Some(Status::Handshaking), Emit::Data(_) | Emit::CloseNotify) => {
                    return Err(io::Error::other("TLS handshake not complete"));
                }
                (Some(s), _) => return Ok(s),
                (None, _) => {}
            }
        }
    }

    /// Reads what the socket has into `incoming`; `Ok(0)` at EOF. Allocates only once the
    /// socket is readable, so an idle connection holds no read buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.incoming.len() >= MAX_INCOMING {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS record buffer full",
            )));
        }
        loop {
            ready!(self.io.poll_read_ready(cx))?;
            self.incoming.reserve(READ_CHUNK);
            match self.io.try_read_buf(&mut self.incoming) {
                Ok(n) => {
                    if self.incoming.is_empty() {
                        self.incoming = Vec::new();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes `outgoing` to the socket, then frees it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.taken < this.plaintext.len() {
                let n = buf.remaining().min(this.plaintext.len() - this.taken);
                buf.put_slice(&this.plaintext[this.taken..this.taken + n]);
                this.taken += n;
                if this.taken == this.plaintext.len() {
                    this.plaintext = Vec::new();
                    this.taken = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Records produced while reading (alerts, key update answers) go out meanwhile;
            // a socket that cannot take them yet must not stop the reading.
            if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
                return Poll::Ready(Err(e));
            }
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            this.process(Emit::Nothing)?;
            if this.taken < this.plaintext.len() || this.read_closed {
                continue;
            }
            if ready!(this.poll_fill(cx))? == 0 {
                // EOF without close_notify. SIP's own framing detects a truncated message,
                // so this is an ordinary end of stream.
                this.read_closed = true;
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // One batch in flight at a time: back-pressure from the socket reaches the writer.
        ready!(this.poll_write_out(cx))?;
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let had_plaintext = this.plaintext.len();
        if this.process(Emit::Data(data))? == Status::Closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if this.plaintext.len() > had_plaintext {
            // Processing decrypted data the reader has not seen.
            cx.waker().wake_by_ref();
        }
        if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            this.write_closed = true;
            // Without an open session there is nothing to close politely.
            let _ = this.process(Emit::CloseNotify);
        }
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_grown_sizes_to_the_request() {
        let mut out = b"abc".to_vec();
        write_grown(&mut out, |buf| {
            if buf.len() < 5 {
                Err(Some(InsufficientSizeError { required_size: 5 }))
            } else {
                buf[..5].copy_from_slice(b"defgh");
                Ok(5)
            }
        })
        .unwrap();
        assert_eq!(out, b"abcdefgh");
        assert!(write_grown(&mut out, |_| Err(None)).is_err());
        assert_eq!(out, b"abcdefgh");
    }
}
