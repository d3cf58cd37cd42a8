//! A client TLS stream over rustls' unbuffered API, for the per-request path.
//!
//! rustls' buffered `ClientConnection` (what tokio-rustls wraps) keeps a
//! 4 KB incoming-record buffer per connection for as long as the connection
//! lives: 10,000 TLS connections cost 12.3 KiB each against 4.6 KiB in plain
//! text. Here the caller owns the buffers, and treats them as the HTTP/1.1
//! client treats its read buffer: a connection takes one from its worker's
//! spares only while ciphertext is arriving, and gives it back as soon as it
//! holds no partial record. Decrypted bytes the reader had no room for wait
//! in a pooled side buffer; outgoing records are encrypted into a pooled
//! buffer, written at once (one write per request), and kept only while the
//! socket has not taken them all. An idle connection holds its socket and
//! rustls' own state (about 3 KB), nothing more. [`TlsStream::readable`]
//! waits past records that carry no data (the session tickets a server sends
//! after the handshake, a KeyUpdate), so that the HTTP/1.1 client does not
//! take its read buffer before a response has begun to arrive.
//!
//! rustls 0.23 decrypts a record in place in the caller's buffer, then
//! copies its plaintext into a `Vec` of its own (`ReadTraffic`), and encodes
//! each outgoing record into one before copying it out: one allocation per
//! record each way inside rustls, as with its buffered API. TLS 1.3 and 1.2
//! both go through this path.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ClientConfig;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::unbuffered::WriteTraffic;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use records::{Bufs, Sink, Step, encrypt_need, process, tls_error};
#[cfg(test)]
use spare::spares;
use spare::{MAX_RECORD, MAX_WRITE, Span, take};

/// The incoming buffer never grows past this: a handshake message (at most
/// 64 KB) being reassembled, and the record after it.
const MAX_RX: usize = 64 * 1024 + 2 * MAX_RECORD;

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

fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "TCP closed without TLS close_notify")
}

impl TlsStream {
    /// The protocol ALPN chose, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Waits until a read would find application data or the end (at once
    /// when some is buffered here). Records that carry none (a session
    /// ticket, a KeyUpdate) are processed on the way, so that a reader that
    /// takes its own buffer only once this returns does not hold it while a
    /// slow response is still to come.
    pub async fn readable(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_readable(cx)).await
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut fresh = !self.bufs.rx.is_empty();
        loop {
            let b = &self.bufs;
            if !b.plain.is_empty() || b.pending || b.read_closed || b.eof {
                return Poll::Ready(Ok(()));
            }
            if fresh {
                if let Step::Closed = process(&mut self.conn, &mut self.bufs, Sink::Peek, |_, _| Ok(()))? {
                    self.bufs.read_closed = true;
                }
                self.bufs.rx.release_if_empty();
                if self.bufs.pending || self.bufs.read_closed {
                    return Poll::Ready(Ok(()));
                }
            }
            ready!(self.poll_recv(cx)).or_else(|e| if self.bufs.eof { Ok(()) } else { Err(e) })?;
            fresh = true;
        }
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
            match process(&mut self.conn, &mut self.bufs, Sink::Keep, |_, _| Ok(()))? {
                Step::Write(()) if self.bufs.tx.is_empty() => {
                    self.bufs.rx.release_if_empty();
                    return Poll::Ready(Ok(()));
                }
                Step::Write(()) => {}
                Step::Blocked if self.bufs.tx.is_empty() => {
                    ready!(self.poll_recv(cx))?;
                }
                Step::Blocked => {}
                Step::Data | Step::Closed => return Poll::Ready(Err(unexpected_eof())),
            }
        }
    }

    /// Reads more ciphertext into `bufs.rx`. A socket with nothing to read
    /// is `Pending` without taking a buffer.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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
        // tokio's read, not `try_read`: a short read tells it the socket
        // is drained, so that the next wait costs no system call.
        let mut read = ReadBuf::new(&mut rx.buf[rx.end..]);
        match Pin::new(&mut self.tcp).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if read.filled().is_empty() => {
                self.bufs.eof = true;
                rx.start = rx.end;
                rx.release_if_empty();
                Poll::Ready(Err(unexpected_eof()))
            }
            Poll::Ready(Ok(())) => {
                rx.end += read.filled().len();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                rx.release_if_empty();
                Poll::Pending
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
        let mut fresh = !this.bufs.rx.is_empty() || this.bufs.pending;
        loop {
            if fresh {
                let step = process(&mut this.conn, &mut this.bufs, Sink::Read(out), |_, _| Ok(()))?;
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
        let taken = match process(&mut this.conn, &mut this.bufs, Sink::Keep, encrypt)? {
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
            let _ = process(&mut this.conn, &mut this.bufs, Sink::Keep, close);
            this.bufs.rx.release_if_empty();
        }
        ready!(this.poll_send(cx))?;
        match ready!(Pin::new(&mut this.tcp).poll_shutdown(cx)) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

mod records;
mod spare;
#[cfg(test)]
mod tests;
