//! A lean HTTP/1.1 client connection for the per-request path.
//!
//! hyper's connection-level client costs about 35 KB per connection here
//! (a request channel of two 9 KB blocks, an 8 KB read buffer, an 8 KB
//! header buffer, and a task of its own), which put 10,000 connections at
//! 364 MiB. This keeps one connection in the VU's own state: a 4 KB read
//! buffer that grows only for a large body, the request's bytes, and no task
//! or channel between the VU and its socket. Responses are parsed with
//! `httparse` (the parser hyper uses), and bodies are framed as RFC 9112
//! section 6 says: none for HEAD, 1xx, 204 and 304; chunked; a
//! `Content-Length`; or until the server closes.

use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Method, Request};
use std::future::Future as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::tls_stream::TlsStream;
use super::wire::Response;
use crate::metrics::ErrorClass;
use crate::plan::ResponseLimits;

/// The read buffer's first size; enough for a typical response's head.
const INIT_BUF: usize = 4 * 1024;
/// Room for header lines when a head is parsed: the most `[limits]
/// response_headers` may allow (uninitialized, so it costs nothing).
const HEADER_SLOTS: usize = ResponseLimits::MAX_HEADERS as usize;
/// A body up to this size is copied after the head, for one plain write.
const INLINE_BODY: usize = 4 * 1024;
/// First-size read buffers a worker keeps for reuse.
const MAX_SPARE: usize = 256;
/// A request buffer grown past this (a large inline body) is not kept.
const MAX_SPARE_OUT: usize = 2 * INLINE_BODY;
/// Small responses in a row before a grown read buffer shrinks back.
const SHRINK_AFTER: u8 = 16;

thread_local! {
    /// First-size read buffers not held by any connection. A connection
    /// takes one only once its response has begun to arrive, and gives it
    /// back when the response is read, so a connection waiting for its
    /// answer, or idle between requests, holds no read buffer: at 10,000
    /// connections that is 40 MB not spent. Each worker thread has its own,
    /// so nothing is shared on the per-request path.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Buffers a request is serialized into, likewise.
    static SPARE_OUT: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A first-size read buffer: a spare one, or a new one.
fn take_buffer() -> Vec<u8> {
    SPARE.with_borrow_mut(Vec::pop).unwrap_or_else(|| vec![0; INIT_BUF])
}

/// Gives a first-size read buffer back for another connection.
fn give_buffer(buf: Vec<u8>) {
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < MAX_SPARE {
            spare.push(buf);
        }
    });
}

/// The byte stream under a connection.
pub enum Io {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS (boxed: rustls' state is over 1 KB, and most runs are plain).
    Tls(Box<TlsStream>),
    /// An in-memory stream, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    Mem(tokio::io::DuplexStream),
}

impl Io {
    /// Waits until the socket has something to read (or has closed),
    /// without reading it.
    async fn readable(&mut self) -> std::io::Result<()> {
        match self {
            Io::Tcp(s) => s.readable().await,
            // Until application data has come (a session ticket that comes
            // first is taken on the way), or at once when some is buffered.
            Io::Tls(s) => s.readable().await,
            #[cfg(feature = "fuzzing")]
            Io::Mem(_) => Ok(()),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Tcp(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "fuzzing")]
            Io::Mem(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// One HTTP/1.1 connection: one request at a time, kept alive between them
/// when the server allows.
pub struct H1 {
    io: Io,
    /// Received bytes not yet consumed are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// False once either side has said the connection ends.
    open: bool,
    /// Small responses in a row since the read buffer last grew.
    small: u8,
    /// `[limits]`: a head over `response_head` bytes or
    /// `response_headers` lines is a `protocol` error; a body is read
    /// through at most `body_buffer` bytes.
    limits: ResponseLimits,
}

/// What a response head says.
struct Head {
    status: u16,
    /// Its length in bytes.
    len: usize,
    framing: Framing,
    keep_alive: bool,
    version: Option<HeaderValue>,
}

/// How the body's end is known (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    /// A `Content-Length` that does not parse, or several that differ,
    /// without a `Transfer-Encoding`: a `protocol` error, unless the
    /// response has no body anyway (to `HEAD`, or 1xx, 204, 304).
    Invalid,
}

impl H1 {
    /// A connection over `io`, with nothing sent yet.
    pub fn new(io: Io, limits: ResponseLimits) -> Self {
        H1 {
            io,
            buf: Vec::new(),
            start: 0,
            end: 0,
            open: true,
            small: 0,
            limits,
        }
    }

    /// Whether the connection would be kept for another request, as the
    /// last response left it (the fuzz targets compare it with hyper's).
    #[cfg(feature = "fuzzing")]
    pub fn keeps_alive(&self) -> bool {
        self.open
    }

    fn max_head(&self) -> usize {
        self.limits.response_head as usize
    }

    fn max_body_buf(&self) -> usize {
        self.limits.body_buffer as usize
    }

    /// Whether the connection can take another request: neither side has
    /// closed it, and the server has sent nothing unasked (an idle server
    /// that closed its end shows up here as end of file). Costs no system
    /// call while the socket has had nothing new to read.
    pub fn is_usable(&mut self) -> bool {
        if !self.open {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Outside tokio's cooperative budget: a task that has used its
        // budget would otherwise get `Pending` here, taken as "still open".
        let io = &mut self.io;
        let probe =
            tokio::task::coop::unconstrained(std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, &mut rb)));
        match std::pin::pin!(probe).poll(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(_) => {
                // End of file, an error, or bytes nobody asked for.
                self.open = false;
                false
            }
        }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, req: &Request<Bytes>, want: Option<&HeaderName>) -> Result<Response, ErrorClass> {
        let head_only = req.method() == Method::HEAD;
        let close_asked = req
            .headers()
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), b"close"));
        // The request's bytes go in a worker's spare buffer, given back once
        // written: a connection keeps none between requests.
        let mut out = SPARE_OUT.with_borrow_mut(Vec::pop).unwrap_or_default();
        Self::write_request(&mut out, req);
        let body = req.body();
        let mut written = if body.len() <= INLINE_BODY {
            self.io.write_all(&out).await
        } else {
            // A large body is not copied: head and body go out in one
            // vectored write.
            let mut both = bytes::Buf::chain(&out[..], &body[..]);
            self.io.write_all_buf(&mut both).await
        };
        if written.is_ok() {
            written = self.io.flush().await;
        }
        if out.capacity() <= MAX_SPARE_OUT {
            SPARE_OUT.with_borrow_mut(|spare| {
                if spare.len() < MAX_SPARE {
                    spare.push(out);
                }
            });
        }
        written.map_err(|_| ErrorClass::Reset)?;
        // Informational (1xx) heads come before the final one.
        let head = loop {
            let head = self.read_head(want).await?;
            self.start += head.len;
            if !(100..200).contains(&head.status) || head.status == 101 {
                break head;
            }
        };
        let framing = match head.status {
            _ if head_only => Framing::None,
            101 | 204 | 304 => Framing::None,
            _ => head.framing,
        };
        let body_bytes = match framing {
            Framing::Invalid => return Err(ErrorClass::Protocol),
            Framing::None => 0,
            Framing::Length(n) => {
                self.skip(n).await?;
                n
            }
            Framing::Chunked => self.read_chunked().await?,
            Framing::UntilClose => self.read_to_close().await?,
        };
        // A well-behaved server sends nothing after the response; anything
        // left over means the connection's state is not known.
        let clean = self.start == self.end;
        self.open = self.open
            && head.keep_alive
            && !close_asked
            && clean
            && framing != Framing::UntilClose
            && head.status != 101;
        // A buffer grown for a large body goes back to its first size once
        // bodies have been small for a while (not at once: endpoints that
        // alternate large and small bodies would regrow it every time).
        if self.buf.len() > INIT_BUF {
            if body_bytes < (self.buf.len() / 4) as u64 {
                self.small = self.small.saturating_add(1);
            } else {
                self.small = 0;
            }
            if self.small >= SHRINK_AFTER && self.start == self.end {
                self.buf = Vec::new();
                self.start = 0;
                self.end = 0;
                self.small = 0;
            }
        }
        if self.buf.len() == INIT_BUF && self.start == self.end {
            give_buffer(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
        Ok(Response {
            status: head.status,
            body_bytes,
            version: head.version,
        })
    }

    /// Serializes the request line and the headers into `out`, and the body
    /// too when it is small. The body's framing is always loadcheck's own:
    /// a `Content-Length` or `Transfer-Encoding` header from the plan is
    /// left out, so the length sent is the body's.
    fn write_request(out: &mut Vec<u8>, req: &Request<Bytes>) {
        out.clear();
        out.extend_from_slice(req.method().as_str().as_bytes());
        out.push(b' ');
        let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        out.extend_from_slice(if pq.is_empty() { b"/" } else { pq.as_bytes() });
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in req.headers() {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let body = req.body();
        if !body.is_empty() || expects_body(req.method()) {
            out.extend_from_slice(b"content-length: ");
            let _ = write!(out, "{}", body.len());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if body.len() <= INLINE_BODY {
            out.extend_from_slice(body);
        }
    }

    /// Reads until a whole response head is buffered, and parses it. A
    /// head that does not parse, or grows past its cap, is a `protocol`
    /// error; a connection that closes before the head is whole, a
    /// `reset`.
    async fn read_head(&mut self, want: Option<&HeaderName>) -> Result<Head, ErrorClass> {
        let cap = self.max_head();
        loop {
            if self.start < self.end {
                let max_headers = self.limits.response_headers as usize;
                if let Some(head) = parse_head(&self.buf[self.start..self.end], want, max_headers)? {
                    return Ok(head);
                }
                if self.end - self.start >= cap {
                    return Err(ErrorClass::Protocol);
                }
            }
            if self.fill(cap).await? == 0 {
                return Err(ErrorClass::Reset);
            }
        }
    }

    /// Reads more bytes after `buf[..end]`, compacting and growing the
    /// buffer (up to `cap`) as needed. Returns how many bytes came; 0 is end
    /// of file, and marks the connection closed.
    async fn fill(&mut self, cap: usize) -> Result<usize, ErrorClass> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            // Only now, with bytes to read, take a buffer.
            self.io.readable().await.map_err(|_| ErrorClass::Reset)?;
            self.buf = take_buffer();
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < cap {
                let grown = (self.buf.len() * 2).min(cap.max(self.buf.len()));
                self.buf.resize(grown, 0);
            } else {
                // A line (a head, a chunk size, a trailer) longer than its
                // cap.
                return Err(ErrorClass::Protocol);
            }
        }
        let n = match self.io.read(&mut self.buf[self.end..]).await {
            Ok(n) => n,
            // A TLS peer that closes without `close_notify`: an end of file
            // for a body read to the close, a reset everywhere else.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(_) => return Err(ErrorClass::Reset),
        };
        if n == 0 {
            self.open = false;
        }
        self.end += n;
        Ok(n)
    }

    /// Consumes `n` body bytes. While more is due than the buffer holds,
    /// each read doubles it (up to `body_buffer`, 64 KB by default), as
    /// hyper's adaptive buffer does.
    async fn skip(&mut self, mut n: u64) -> Result<(), ErrorClass> {
        let max_buf = self.max_body_buf();
        loop {
            let have = (self.end - self.start) as u64;
            if have >= n {
                self.start += n as usize;
                return Ok(());
            }
            n -= have;
            self.start = 0;
            self.end = 0;
            if n > self.buf.len() as u64 && self.buf.len() < max_buf {
                let grown = (self.buf.len() * 2).clamp(INIT_BUF, max_buf);
                self.buf.resize(grown, 0);
            }
            if self.fill(INIT_BUF).await? == 0 {
                return Err(ErrorClass::Reset);
            }
        }
    }

    /// Reads a chunked body and its trailers; returns the payload's length.
    /// A chunk size or line end that does not parse is a `protocol` error.
    async fn read_chunked(&mut self) -> Result<u64, ErrorClass> {
        let cap = self.max_head();
        let mut total = 0u64;
        loop {
            let size = loop {
                let pending = &self.buf[self.start..self.end];
                match parse_chunk_size(pending) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        // A line break inside the size line (in an
                        // extension) is not one, and a size line with no
                        // digit (httparse reads it as 0) is no size
                        // (RFC 9112 §7.1: 1*HEXDIG); hyper refuses both.
                        if pending[..used - 1].contains(&b'\n') || !pending[0].is_ascii_hexdigit() {
                            return Err(ErrorClass::Protocol);
                        }
                        self.start += used;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        // A size line that cannot become one (no digit
                        // first) is refused as it comes, as hyper refuses it.
                        if self.end - self.start >= cap
                            || pending.contains(&b'\n')
                            || pending.first().is_some_and(|b| !b.is_ascii_hexdigit())
                        {
                            return Err(ErrorClass::Protocol);
                        }
                        if self.fill(cap).await? == 0 {
                            return Err(ErrorClass::Reset);
                        }
                    }
                    Err(_) => return Err(ErrorClass::Protocol),
                }
            };
            if size == 0 {
                self.skip_trailers().await?;
                return Ok(total);
            }
            self.skip(size).await?;
            total += size;
            self.expect_crlf().await?;
        }
    }

    /// The CRLF after a chunk's data; a first byte that is not CR is
    /// refused as it comes (as hyper refuses it), not after another read.
    async fn expect_crlf(&mut self) -> Result<(), ErrorClass> {
        while self.end - self.start < 2 {
            if self.end > self.start && self.buf[self.start] != b'\r' {
                return Err(ErrorClass::Protocol);
            }
            if self.fill(self.max_head()).await? == 0 {
                return Err(ErrorClass::Reset);
            }
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(ErrorClass::Protocol);
        }
        self.start += 2;
        Ok(())
    }

    /// Trailer lines after the last chunk, up to the empty line.
    /// Trailers that do not parse as header fields are a `protocol` error,
    /// as in a head (they are read with the same parser, and dropped).
    async fn skip_trailers(&mut self) -> Result<(), ErrorClass> {
        let cap = self.max_head();
        loop {
            let pending = &self.buf[self.start..self.end];
            // Almost always: no trailers.
            if pending.starts_with(b"\r\n") {
                self.start += 2;
                return Ok(());
            }
            if pending.len() >= 2 || pending == b"\n" {
                let mut fields = [httparse::EMPTY_HEADER; 100];
                match httparse::parse_headers(pending, &mut fields) {
                    // httparse takes a bare LF for a line end; the trailer
                    // section's lines end in CRLF (RFC 9112 §7.1.2), and
                    // hyper refuses a bare LF there, as soon as it comes.
                    Ok(httparse::Status::Complete((used, _))) => {
                        if has_bare_lf(&pending[..used]) {
                            return Err(ErrorClass::Protocol);
                        }
                        self.start += used;
                        return Ok(());
                    }
                    Ok(httparse::Status::Partial) if has_bare_lf(pending) => return Err(ErrorClass::Protocol),
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err(ErrorClass::Protocol),
                }
            }
            if pending.len() >= cap {
                return Err(ErrorClass::Protocol);
            }
            if self.fill(cap).await? == 0 {
                return Err(ErrorClass::Reset);
            }
        }
    }

    /// A body that ends when the server closes the connection.
    async fn read_to_close(&mut self) -> Result<u64, ErrorClass> {
        let mut total = (self.end - self.start) as u64;
        self.start = self.end;
        loop {
            let n = self.fill(self.max_body_buf()).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.start = self.end;
        }
    }
}

/// Parses a response head from `bytes`; `None` while it is incomplete. A
/// head that is not HTTP/1.x (garbage, an HTTP/0.9 answer, bytes before
/// the status line), has more than `max_headers` lines, or frames its body
/// in a way that cannot be trusted is a `protocol` error.
fn parse_head(bytes: &[u8], want: Option<&HeaderName>, max_headers: usize) -> Result<Option<Head>, ErrorClass> {
    // Uninitialized: a response is parsed on every request, and zeroing
    // the header slots each time would be work for nothing.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
    let headers = &mut headers[..max_headers.clamp(1, HEADER_SLOTS)];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, bytes, headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorClass::Protocol),
    };
    // Three digits, from 100 (RFC 9110 §15; `020` parses, and is not one).
    let status = resp
        .code
        .filter(|c| (100..=999).contains(c))
        .ok_or(ErrorClass::Protocol)?;
    let http10 = resp.version == Some(0);
    let mut length: Option<u64> = None;
    let mut bad_length = false;
    let mut chunked = None;
    let mut close = false;
    let mut keep_alive = false;
    let mut version = None;
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            match parse_length(h.value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => bad_length = true,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides; empty list elements do not count.
            let last = h
                .value
                .rsplit(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .find(|c| !c.is_empty());
            chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
        } else if name.eq_ignore_ascii_case("connection") {
            close |= has_token(h.value, b"close");
            keep_alive |= has_token(h.value, b"keep-alive");
        }
        if version.is_none() && want.is_some_and(|w| name.eq_ignore_ascii_case(w.as_str())) {
            version = HeaderValue::from_bytes(h.value).ok();
        }
    }
    // Transfer-Encoding overrides Content-Length (RFC 9112, section 6.3),
    // except on HTTP/1.0, which has no Transfer-Encoding: such framing is
    // faulty (section 6.1), and refused, as hyper refuses it.
    let framing = match (chunked, length) {
        (Some(_), _) if http10 => Framing::Invalid,
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilClose,
        (None, _) if bad_length => Framing::Invalid,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        // Transfer-Encoding with Content-Length, or on HTTP/1.0, leaves the
        // message's end in doubt: the connection is not reused (RFC 9112,
        // sections 6.1 and 6.3).
        keep_alive: !(chunked.is_some() && (length.is_some() || bad_length || http10))
            && if http10 { keep_alive && !close } else { !close },
        version,
    }))
}

/// httparse's chunk-size line, except that leading zeros do not count
/// toward its 16 hex digits (hyper takes any number of them; RFC 9112 §7.1
/// sets no limit, only the value must fit).
fn parse_chunk_size(line: &[u8]) -> Result<httparse::Status<(usize, u64)>, httparse::InvalidChunkSize> {
    let zeros = line.iter().take_while(|&&b| b == b'0').count();
    // One zero stays, so that a size of zero still has its digit.
    let skip = zeros.saturating_sub(1);
    Ok(match httparse::parse_chunk_size(&line[skip..])? {
        httparse::Status::Complete((used, size)) => httparse::Status::Complete((used + skip, size)),
        httparse::Status::Partial => httparse::Status::Partial,
    })
}

/// Whether `bytes` hold an LF that no CR comes right before.
pub(crate) fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// A Content-Length value: decimal digits, or a list of equal values.
fn parse_length(value: &[u8]) -> Option<u64> {
    let mut found = None;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Leading zeros do not count (hyper reads `000…024` as 24).
        let digits = part
            .iter()
            .position(|&b| b != b'0')
            .map_or(&part[part.len() - 1..], |i| &part[i..]);
        if digits.len() > 19 {
            return None;
        }
        let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

/// Whether a comma-separated header value has `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Methods whose requests carry a body by convention, so an empty one is
/// sent as `content-length: 0` (as hyper and curl do).
fn expects_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each connection's requests with the given raw
    /// responses in turn, then closes (or keeps the connection open).
    async fn serve(
        responses: Vec<&'static [u8]>,
        close_after: bool,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for r in responses {
                let mut req = Vec::new();
                let mut b = [0u8; 4096];
                // Read until the end of the request head, plus any body
                // given by content-length.
                loop {
                    let n = s.read(&mut b).await.unwrap();
                    if n == 0 {
                        return seen;
                    }
                    req.extend_from_slice(&b[..n]);
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&req[..i]).to_lowercase();
                        let cl = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if req.len() >= i + 4 + cl {
                            break;
                        }
                    }
                }
                seen.push(req);
                s.write_all(r).await.unwrap();
            }
            if close_after {
                drop(s);
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            seen
        });
        (addr, handle)
    }

    async fn connect(addr: std::net::SocketAddr) -> H1 {
        H1::new(
            Io::Tcp(TcpStream::connect(addr).await.unwrap()),
            ResponseLimits::default(),
        )
    }

    fn get(path: &str) -> Request<Bytes> {
        let mut r = Request::new(Bytes::new());
        *r.uri_mut() = path.parse().unwrap();
        r.headers_mut().insert("host", HeaderValue::from_static("example.test"));
        r
    }

    #[tokio::test]
    async fn content_length_keep_alive_and_version_header() {
        let (addr, server) = serve(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App-Version: v2\r\n\r\nhello",
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            ],
            false,
        )
        .await;
        let mut c = connect(addr).await;
        let want = HeaderName::from_static("x-app-version");
        let a = c.send(&get("/a?q=1"), Some(&want)).await.unwrap();
        assert_eq!((a.status, a.body_bytes), (200, 5));
        assert_eq!(a.version.unwrap(), "v2");
        assert!(c.is_usable());
        let a = c.send(&get("/b"), Some(&want)).await.unwrap();
        assert_eq!((a.status, a.body_bytes), (404, 0));
        assert!(a.version.is_none());
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 2, "both requests went on one connection");
        let first = String::from_utf8(seen[0].clone()).unwrap();
        assert!(
            first.starts_with("GET /a?q=1 HTTP/1.1\r\nhost: example.test\r\n"),
            "{first}"
        );
        assert!(
            !first.contains("content-length"),
            "a GET without a body has no length: {first}"
        );
    }

    #[tokio::test]
    async fn chunked_body_with_trailers_and_interim_response() {
        let (addr, _server) = serve(
            vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n"],
            false,
        )
        .await;
        let mut c = connect(addr).await;
        let a = c.send(&get("/"), None).await.unwrap();
        assert_eq!((a.status, a.body_bytes), (200, 10));
        assert!(c.is_usable());
    }

    #[tokio::test]
    async fn post_body_is_framed_by_length() {
        let (addr, server) = serve(vec![b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"], false).await;
        let mut c = connect(addr).await;
        let mut req = get("/api");
        *req.method_mut() = Method::POST;
        *req.body_mut() = Bytes::from_static(b"{\"id\":1}");
        let a = c.send(&req, None).await.unwrap();
        assert_eq!((a.status, a.body_bytes), (202, 2));
        let seen = String::from_utf8(server.await.unwrap().remove(0)).unwrap();
        assert!(seen.starts_with("POST /api HTTP/1.1\r\n"), "{seen}");
        assert!(seen.ends_with("content-length: 8\r\n\r\n{\"id\":1}"), "{seen}");
    }

    #[tokio::test]
    async fn the_plan_cannot_misframe_the_body_and_a_large_body_goes_whole() {
        let ok: &'static [u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (addr, server) = serve(vec![ok, ok], false).await;
        let mut c = connect(addr).await;
        let mut req = get("/up");
        *req.method_mut() = Method::PUT;
        req.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from_static("10"));
        req.headers_mut()
            .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        *req.body_mut() = Bytes::from_static(b"12345678");
        assert_eq!(c.send(&req, None).await.unwrap().status, 204);
        let mut big = get("/big");
        *big.method_mut() = Method::POST;
        *big.body_mut() = Bytes::from(vec![b'b'; 100_000]);
        assert_eq!(c.send(&big, None).await.unwrap().status, 204);
        let seen = server.await.unwrap();
        let first = String::from_utf8(seen[0].clone()).unwrap();
        assert!(first.ends_with("content-length: 8\r\n\r\n12345678"), "{first}");
        assert!(!first.contains("chunked") && !first.contains(": 10"), "{first}");
        let second = &seen[1];
        assert!(second.ends_with(&[b'b'; 100_000]) && second.len() < 100_200);
        assert!(
            SPARE_OUT.with_borrow(|s| s.iter().all(|b| b.capacity() < 1024)),
            "a large body is not copied into the head buffer"
        );
    }

    #[test]
    fn transfer_encoding_edge_cases() {
        let head = |raw: &[u8]| parse_head(raw, None, 100).unwrap().unwrap();
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked,\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
        // HTTP/1.0 has no Transfer-Encoding: the framing is faulty (found by
        // the differential fuzz target: loadcheck waited for the close of a
        // `Transfer-Encoding: gzip` body where hyper refused).
        for raw in [
            &b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding:ked\r\n\r\n5\rTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
        ] {
            let h = head(raw);
            assert_eq!(h.framing, Framing::Invalid, "{}", String::from_utf8_lossy(raw));
            assert!(!h.keep_alive);
        }
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
    }

    #[tokio::test]
    async fn body_until_close_and_connection_close() {
        let (addr, _s) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nabcdef"], true).await;
        let mut c = connect(addr).await;
        let a = c.send(&get("/"), None).await.unwrap();
        assert_eq!((a.status, a.body_bytes), (200, 6));
        assert!(!c.is_usable(), "a body read to the close ends the connection");

        let (addr, _s) = serve(
            vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"],
            false,
        )
        .await;
        let mut c = connect(addr).await;
        c.send(&get("/"), None).await.unwrap();
        assert!(!c.is_usable(), "`Connection: close` ends the connection");

        let (addr, _s) = serve(vec![b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"], false).await;
        let mut c = connect(addr).await;
        c.send(&get("/"), None).await.unwrap();
        assert!(!c.is_usable(), "HTTP/1.0 without keep-alive ends the connection");
    }

    #[tokio::test]
    async fn head_and_no_content_have_no_body() {
        let (addr, _s) = serve(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                b"HTTP/1.1 204 No Content\r\n\r\n",
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
            ],
            false,
        )
        .await;
        let mut c = connect(addr).await;
        let mut head = get("/");
        *head.method_mut() = Method::HEAD;
        assert_eq!(c.send(&head, None).await.unwrap().body_bytes, 0);
        assert_eq!(c.send(&get("/"), None).await.unwrap().status, 204);
        assert_eq!(c.send(&get("/"), None).await.unwrap().status, 304);
        assert!(c.is_usable());
    }

    #[tokio::test]
    async fn a_large_body_in_many_reads() {
        static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let big = BIG.get_or_init(|| {
            let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n".to_vec();
            v.resize(v.len() + 300_000, b'z');
            v
        });
        let small = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (addr, _s) = serve(vec![big.as_slice(), small, small], false).await;
        let mut c = connect(addr).await;
        assert_eq!(c.send(&get("/"), None).await.unwrap().body_bytes, 300_000);
        let max = ResponseLimits::default().body_buffer as usize;
        assert_eq!(c.buf.len(), max, "a large body grows the buffer");
        assert_eq!(c.send(&get("/"), None).await.unwrap().status, 200);
        assert_eq!(c.buf.len(), max, "one small body does not shrink it");
        c.small = SHRINK_AFTER - 1;
        assert_eq!(c.send(&get("/"), None).await.unwrap().status, 200);
        assert_eq!(c.buf.len(), 0, "a run of small ones does, and gives the buffer back");
    }

    #[tokio::test]
    async fn a_connection_holds_no_read_buffer_between_responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (addr, _s) = serve(vec![ok, ok, ok], false).await;
        let mut c = connect(addr).await;
        assert_eq!(c.buf.len(), 0, "none before the first response");
        for _ in 0..3 {
            assert_eq!(c.send(&get("/"), None).await.unwrap().body_bytes, 2);
            assert_eq!(c.buf.len(), 0, "none once the response is read");
            assert!(c.is_usable());
        }
        assert!(
            SPARE.with_borrow(|s| !s.is_empty()),
            "the buffer went back to the worker's spares"
        );
    }

    #[tokio::test]
    async fn cut_responses_are_resets_and_invalid_ones_protocol_errors() {
        let many_headers = {
            let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..101 {
                v.extend_from_slice(format!("x-{i}: 1\r\n").as_bytes());
            }
            v.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            &*Box::leak(v.into_boxed_slice())
        };
        let endless_head = {
            let mut v = b"HTTP/1.1 200 OK\r\nx-long: ".to_vec();
            v.resize(70 * 1024, b'a');
            &*Box::leak(v.into_boxed_slice())
        };
        for (bad, class) in [
            // Cut short by the server's close.
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
                ErrorClass::Reset,
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Le", ErrorClass::Reset),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                ErrorClass::Reset,
            ),
            // Not valid HTTP.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
                ErrorClass::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ErrorClass::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
                ErrorClass::Protocol,
            ),
            (b"NOT HTTP AT ALL\r\n\r\n", ErrorClass::Protocol),
            (b"HTTP/1.1 020 OK\r\nContent-Length: 0\r\n\r\n", ErrorClass::Protocol),
            // Found by the differential fuzz target (hyper refuses both).
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;\n\r\n",
                ErrorClass::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\xff\xfer: 1\r\n\r\n",
                ErrorClass::Protocol,
            ),
            // A bare LF in the trailer section.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n",
                ErrorClass::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\n\r\n",
                ErrorClass::Protocol,
            ),
            // ... also before the section is whole: refused at once.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\nY",
                ErrorClass::Protocol,
            ),
            // A size line that does not start with a digit, refused before
            // its end.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n;;e",
                ErrorClass::Protocol,
            ),
            // Chunk data not followed by CR, refused before the next byte.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\r\n",
                ErrorClass::Protocol,
            ),
            // A chunk-size line with no digit (httparse reads it as 0).
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n0a\r\n0\r\n\r\n",
                ErrorClass::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;ext\r\n\r\n",
                ErrorClass::Protocol,
            ),
            (b"<html>an HTTP/0.9 answer</html>", ErrorClass::Protocol),
            (b"\0\0junk HTTP/1.1 200 OK\r\n\r\n", ErrorClass::Protocol),
            (many_headers, ErrorClass::Protocol),
            (endless_head, ErrorClass::Protocol),
        ] {
            let (addr, _s) = serve(vec![bad], true).await;
            let mut c = connect(addr).await;
            let got = c.send(&get("/"), None).await;
            assert_eq!(
                got.err(),
                Some(class),
                "{}",
                String::from_utf8_lossy(&bad[..bad.len().min(80)])
            );
        }
    }

    #[tokio::test]
    async fn a_bad_content_length_is_ignored_where_no_body_can_follow() {
        // Found by the differential fuzz target: to HEAD (and on 204/304)
        // the head ends the response, so its Content-Length frames nothing;
        // hyper reads such a response, and so does loadcheck.
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 100Content-L0\r\n\r\n";
        let (addr, _s) = serve(vec![bad, bad], false).await;
        let mut c = connect(addr).await;
        let mut head = get("/");
        *head.method_mut() = Method::HEAD;
        let r = c.send(&head, None).await.unwrap();
        assert_eq!((r.status, r.body_bytes), (200, 0));
        assert_eq!(c.send(&get("/"), None).await.err(), Some(ErrorClass::Protocol));
    }

    #[tokio::test]
    async fn limits_are_settable() {
        let head = b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\nContent-Length: 0\r\n\r\n";
        let (addr, _s) = serve(vec![head], true).await;
        let tight = ResponseLimits {
            response_headers: 3,
            ..ResponseLimits::default()
        };
        let mut c = H1::new(Io::Tcp(TcpStream::connect(addr).await.unwrap()), tight);
        assert_eq!(c.send(&get("/"), None).await.err(), Some(ErrorClass::Protocol));
        let (addr, _s) = serve(vec![head], true).await;
        let enough = ResponseLimits {
            response_headers: 4,
            ..ResponseLimits::default()
        };
        let mut c = H1::new(Io::Tcp(TcpStream::connect(addr).await.unwrap()), enough);
        assert_eq!(c.send(&get("/"), None).await.unwrap().status, 200);
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_not_usable() {
        let (addr, server) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], true).await;
        let mut c = connect(addr).await;
        c.send(&get("/"), None).await.unwrap();
        server.await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!c.is_usable());
    }

    #[test]
    fn lengths_and_tokens() {
        assert_eq!(parse_length(b"42"), Some(42));
        assert_eq!(parse_length(b"7, 7"), Some(7));
        assert_eq!(parse_length(b"7, 8"), None);
        assert_eq!(parse_length(b"-1"), None);
        // Leading zeros do not count toward the 19 digits (found by the
        // differential fuzz target: hyper reads this as 24).
        let zeros = format!("{}24", "0".repeat(71));
        assert_eq!(parse_length(zeros.as_bytes()), Some(24));
        assert_eq!(parse_length(b"0000"), Some(0));
        assert_eq!(parse_length(b"12345678901234567890"), None);
        assert_eq!(parse_length(b""), None);
        assert!(has_token(b"Keep-Alive, Upgrade", b"keep-alive"));
        assert!(!has_token(b"closed", b"close"));
    }

    /// Found by the differential fuzz target: hyper reads a chunk size with
    /// any number of leading zeros; httparse stops at 16 digits.
    #[test]
    fn chunk_sizes_with_leading_zeros() {
        use httparse::Status::{Complete, Partial};
        let line = format!("{}a;ext=1\r\n", "0".repeat(40));
        assert_eq!(parse_chunk_size(line.as_bytes()), Ok(Complete((line.len(), 10))));
        let last = format!("{};000000024\r\n", "0".repeat(22));
        assert_eq!(parse_chunk_size(last.as_bytes()), Ok(Complete((last.len(), 0))));
        assert_eq!(parse_chunk_size(b"0000000000000000000"), Ok(Partial));
        assert_eq!(parse_chunk_size(b"0\r\n"), Ok(Complete((3, 0))));
        // Significant digits still count: 17 of them do not fit.
        assert!(parse_chunk_size(b"00000000000000000\r\n").is_ok());
        assert!(parse_chunk_size(b"10000000000000000\r\n").is_err());
    }
}
