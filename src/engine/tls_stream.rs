//! A client TLS stream over rustls' unbuffered API, for the per-request path.
//!
//! rustls' buffered `ClientConnection` (what tokio-rustls wraps) keeps a
//! 4 KB incoming-record buffer per connection for as long as the connection
//! lives, which put 10,000 idle TLS connections at 12.3 KiB each against
//! 4.6 KiB in plain text. Here the caller owns the buffers, so they are
//! treated as the HTTP/1.1 client treats its read buffer: a connection takes
//! a buffer from its worker's spare pool only while ciphertext is arriving,
//! and gives it back as soon as it holds no partial record. Decrypted bytes
//! that did not fit the reader's buffer wait in a side buffer (pooled too)
//! until read; outgoing records are encrypted into a pooled buffer, written
//! at once, and kept only while the socket has not taken them all. An idle
//! connection holds the TCP socket and rustls' own state, nothing more.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ClientConfig;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A buffer's first size: a small response's records fit.
const INIT_BUF: usize = 4 * 1024;
/// The largest record on the wire (TLS 1.2's limit; TLS 1.3's is lower).
const MAX_RECORD: usize = 5 + 16 * 1024 + 2048;
/// The incoming buffer never grows past this: a handshake message (at most
/// 64 KB) being reassembled, and the record after it.
const MAX_RX: usize = 64 * 1024 + 2 * MAX_RECORD;
/// Plaintext taken per write: one full record's worth.
const MAX_WRITE: usize = 16 * 1024;
/// Spare buffers a worker keeps.
const MAX_SPARE: usize = 64;

thread_local! {
    /// Buffers no connection holds, for incoming records, plaintext left
    /// over, and outgoing records alike. Within one worker a buffer is mostly
    /// taken and given back inside a single poll, so few are ever needed.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of at least `min` bytes (and [`INIT_BUF`]).
fn take(min: usize) -> Vec<u8> {
    let min = min.max(INIT_BUF);
    match SPARE.with_borrow_mut(Vec::pop) {
        Some(mut buf) => {
            if buf.len() < min {
                buf.resize(min, 0);
            }
            buf
        }
        None => vec![0; min],
    }
}

/// Gives a buffer back to the worker's spares (a huge one is freed).
fn give(buf: Vec<u8>) {
    if !buf.is_empty() && buf.len() <= MAX_RECORD + MAX_WRITE {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < MAX_SPARE {
                spare.push(buf);
            }
        });
    }
}

/// How many spare buffers this thread has (for tests).
#[cfg(test)]
fn spares() -> usize {
    SPARE.with_borrow(Vec::len)
}

/// Bytes `buf[start..end]` of a buffer that is held only while they are
/// there.
#[derive(Default)]
struct Span {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Span {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Gives the buffer back once its bytes are gone.
    fn release_if_empty(&mut self) {
        if self.is_empty() {
            give(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room for `n` more bytes after `end`.
    fn reserve(&mut self, n: usize) {
        if self.buf.is_empty() {
            self.buf = take(n);
        }
        if self.buf.len() - self.end < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < n {
                self.buf.resize(self.end + n, 0);
            }
        }
    }

    /// Appends `bytes`.
    fn push(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.reserve(bytes.len());
            self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }

    /// Appends what `fill` writes after `end`. `fill` fails with how many
    /// bytes it needs when the room left is too small (and is called again
    /// with that room), or with `None`.
    fn put(&mut self, mut fill: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>) -> Result<(), ()> {
        self.reserve(0);
        loop {
            match fill(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(Some(need)) if need > self.buf.len() - self.end => self.reserve(need),
                Err(_) => return Err(()),
            }
        }
    }

    /// Moves as much as fits into `out`.
    fn drain_into(&mut self, out: &mut ReadBuf<'_>) {
        let n = out.remaining().min(self.end - self.start);
        out.put_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.release_if_empty();
    }
}

fn encode_need(e: EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        EncodeError::AlreadyEncoded => None,
    }
}

fn encrypt_need(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// The buffers and flags beside rustls' state.
#[derive(Default)]
struct Bufs {
    /// Incoming ciphertext not yet processed.
    rx: Span,
    /// Decrypted bytes the reader has not taken yet.
    plain: Span,
    /// Encrypted bytes the socket has not taken yet.
    tx: Span,
    /// The peer sent `close_notify`: reads are at their end.
    read_closed: bool,
    /// The TCP stream ended without `close_notify`.
    eof: bool,
    /// `close_notify` was queued: nothing more may be written.
    write_closed: bool,
}

impl Drop for Bufs {
    fn drop(&mut self) {
        for span in [&mut self.rx, &mut self.plain, &mut self.tx] {
            give(std::mem::take(&mut span.buf));
        }
    }
}

/// Where processing the buffered ciphertext stopped.
enum Step<R> {
    /// Every whole record is processed and application data may be written:
    /// what the writer gave back.
    Write(R),
    /// The reader's buffer is full.
    Full,
    /// The handshake waits for the peer.
    Blocked,
    /// Both sides have sent `close_notify`.
    Closed,
}

/// A client TLS connection over TCP.
pub struct TlsStream {
    tcp: TcpStream,
    conn: UnbufferedClientConnection,
    bufs: Bufs,
}

/// Connects TLS over `tcp` to `name`. Boxed in a plain function: a future
/// built inside an `async fn` keeps its space in that function's state.
pub fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    tcp: TcpStream,
) -> Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>> {
    Box::pin(async move {
        let conn = UnbufferedClientConnection::new(config, name).map_err(tls_error)?;
        let mut stream = TlsStream {
            tcp,
            conn,
            bufs: Bufs::default(),
        };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    })
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "TCP closed without TLS close_notify")
}

/// Processes whole records in `bufs.rx` until rustls needs more bytes or
/// lets application data be written (then `write` runs). Decrypted bytes go
/// to `out` while it has room, then to the side buffer.
fn process<R>(
    conn: &mut UnbufferedClientConnection,
    bufs: &mut Bufs,
    mut out: Option<&mut ReadBuf<'_>>,
    write: impl FnOnce(WriteTraffic<'_, ClientConnectionData>, &mut Span) -> io::Result<R>,
) -> io::Result<Step<R>> {
    let mut write = Some(write);
    loop {
        let rx = &mut bufs.rx;
        let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut rx.buf[rx.start..rx.end]);
        let step = match state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record.map_err(tls_error)?;
                    discard += record.discard;
                    let mut payload = record.payload;
                    if let Some(out) = out.as_deref_mut() {
                        let n = out.remaining().min(payload.len());
                        out.put_slice(&payload[..n]);
                        payload = &payload[n..];
                    }
                    bufs.plain.push(payload);
                }
                match &out {
                    Some(out) if out.remaining() == 0 => Some(Step::Full),
                    _ => None,
                }
            }
            ConnectionState::EncodeTlsData(mut data) => {
                bufs.tx
                    .put(|tx| data.encode(tx).map_err(encode_need))
                    .map_err(|_| io::Error::other("TLS record encoding failed"))?;
                None
            }
            // What was encoded goes out, in order, before anything written
            // later: `bufs.tx` is flushed before it takes more.
            ConnectionState::TransmitTlsData(data) => {
                data.done();
                None
            }
            ConnectionState::PeerClosed => {
                bufs.read_closed = true;
                None
            }
            ConnectionState::Closed => Some(Step::Closed),
            ConnectionState::BlockedHandshake => Some(Step::Blocked),
            ConnectionState::WriteTraffic(traffic) => {
                let write = write.take().expect("runs once: it ends the loop");
                Some(Step::Write(write(traffic, &mut bufs.tx)?))
            }
            _ => return Err(io::Error::other("unexpected TLS state")),
        };
        bufs.rx.start += discard;
        if let Some(step) = step {
            return Ok(step);
        }
    }
}

impl TlsStream {
    /// The protocol ALPN chose, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Waits until a read would find something (or the end), without
    /// reading: at once when bytes are already buffered here.
    pub async fn readable(&self) -> io::Result<()> {
        let b = &self.bufs;
        if !b.plain.is_empty() || !b.rx.is_empty() || b.read_closed || b.eof {
            return Ok(());
        }
        self.tcp.readable().await
    }

    /// Whether the stream holds any buffer (for tests).
    #[cfg(test)]
    fn holds_buffers(&self) -> bool {
        let b = &self.bufs;
        !(b.rx.buf.is_empty() && b.plain.buf.is_empty() && b.tx.buf.is_empty())
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send(cx))?;
            match process(&mut self.conn, &mut self.bufs, None, |_, _| Ok(()))? {
                Step::Write(()) if self.bufs.tx.is_empty() => {
                    self.bufs.rx.release_if_empty();
                    return Poll::Ready(Ok(()));
                }
                Step::Write(()) => {}
                Step::Blocked if self.bufs.tx.is_empty() => {
                    ready!(self.poll_recv(cx))?;
                }
                Step::Blocked => {}
                Step::Full | Step::Closed => return Poll::Ready(Err(unexpected_eof())),
            }
        }
    }

    /// Reads more ciphertext into `bufs.rx`. A socket with nothing to read
    /// is `Pending` without taking a buffer.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            let rx = &mut self.bufs.rx;
            if rx.buf.is_empty() {
                rx.buf = take(0);
            } else if rx.start > 0 {
                rx.buf.copy_within(rx.start..rx.end, 0);
                rx.end -= rx.start;
                rx.start = 0;
            }
            // Room for the whole first record once its header says how long
            // it is; twice the buffer when it is full all the same (a
            // handshake message spanning records is kept whole).
            let mut want = rx.buf.len();
            if rx.end >= 5 {
                want = want.max(5 + usize::from(u16::from_be_bytes([rx.buf[3], rx.buf[4]])));
            }
            let full = rx.end == rx.buf.len();
            if full && want == rx.buf.len() {
                want = (want * 2).min(MAX_RX);
            }
            if want > MAX_RX || (full && want == rx.buf.len()) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "TLS message too large")));
            }
            rx.buf.resize(want.max(rx.buf.len()), 0);
            match self.tcp.try_read(&mut rx.buf[rx.end..]) {
                Ok(0) => {
                    self.bufs.eof = true;
                    rx.start = rx.end;
                    rx.release_if_empty();
                    return Poll::Ready(Err(unexpected_eof()));
                }
                Ok(n) => {
                    rx.end += n;
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => rx.release_if_empty(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes out `bufs.tx`; gives its buffer back once all is sent.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tx = &mut self.bufs.tx;
        while !tx.is_empty() {
            match ready!(Pin::new(&mut self.tcp).poll_write(cx, &tx.buf[tx.start..tx.end])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => tx.start += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        tx.release_if_empty();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if !this.bufs.plain.is_empty() {
            this.bufs.plain.drain_into(out);
            return Poll::Ready(Ok(()));
        }
        // Anything of ours still unsent (a record rustls queued while
        // reading) goes when the socket takes it.
        if !this.bufs.tx.is_empty() {
            let _ = this.poll_send(cx);
        }
        let before = out.filled().len();
        let mut fresh = !this.bufs.rx.is_empty();
        loop {
            if fresh {
                let step = process(&mut this.conn, &mut this.bufs, Some(&mut *out), |_, _| Ok(()))?;
                if matches!(step, Step::Closed) {
                    this.bufs.read_closed = true;
                }
                if this.bufs.read_closed {
                    // Nothing after `close_notify` counts.
                    this.bufs.rx.start = this.bufs.rx.end;
                }
                this.bufs.rx.release_if_empty();
                if out.filled().len() > before || this.bufs.read_closed {
                    return Poll::Ready(Ok(()));
                }
            }
            if this.bufs.read_closed {
                return Poll::Ready(Ok(()));
            }
            if this.bufs.eof {
                return Poll::Ready(Err(unexpected_eof()));
            }
            ready!(this.poll_recv(cx))?;
            fresh = true;
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Records already made go first.
        ready!(this.poll_send(cx))?;
        if this.bufs.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let encrypt = |mut traffic: WriteTraffic<'_, ClientConnectionData>, tx: &mut Span| {
            let mut taken = 0;
            for slice in bufs {
                let n = slice.len().min(MAX_WRITE - taken);
                if n > 0 {
                    tx.put(|out| traffic.encrypt(&slice[..n], out).map_err(encrypt_need))
                        .map_err(|_| io::Error::other("TLS encryption failed"))?;
                    taken += n;
                }
            }
            Ok(taken)
        };
        let taken = match process(&mut this.conn, &mut this.bufs, None, encrypt)? {
            Step::Write(taken) => taken,
            _ => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        };
        this.bufs.rx.release_if_empty();
        // One write; what the socket does not take now stays for the next
        // write or the flush.
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.bufs.write_closed {
            this.bufs.write_closed = true;
            let close = |mut traffic: WriteTraffic<'_, ClientConnectionData>, tx: &mut Span| {
                tx.put(|out| traffic.queue_close_notify(out).map_err(encrypt_need))
                    .map_err(|_| io::Error::other("TLS close_notify failed"))
            };
            // A connection that failed or is closed already sends none.
            let _ = process(&mut this.conn, &mut this.bufs, None, close);
            this.bufs.rx.release_if_empty();
        }
        ready!(this.poll_send(cx))?;
        match ready!(Pin::new(&mut this.tcp).poll_shutdown(cx)) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests;
