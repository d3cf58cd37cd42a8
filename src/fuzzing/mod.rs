//! Entry points for the fuzz targets in `fuzz/` (built only with the
//! `fuzzing` feature). Each takes bytes from outside, as an attacker or a
//! broken server would send them, through the code that reads them.
//!
//! The HTTP/1.1 client is driven on an in-memory connection: the bytes are
//! the server's whole answer, and the connection stays open after them (or
//! ends, when asked). A response that waits for bytes that never come ends
//! at once: the runtime's clock is paused, so the request's timeout fires
//! as soon as nothing else can move. [`h1_hyper`] gives the same bytes to
//! hyper's client, for the differential target.

pub mod readers;
use std::cell::RefCell;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::h1::{H1, Io, has_bare_lf};
use crate::plan::ResponseLimits;

/// How a client read one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A whole response.
    Response {
        /// Its status.
        status: u16,
        /// Its body's length.
        body: u64,
        /// Whether the connection would be used again.
        keep_alive: bool,
    },
    /// The client refused it (loadcheck's error class, or hyper's error).
    Refused(String),
    /// It waits for more bytes (the answer is incomplete so far).
    Waits,
}

/// One answer: the first byte says how to ask and what the server does
/// after the rest (bit 0: the request is `HEAD`; bit 1: the server closes
/// the connection after its bytes); the rest is the server's answer.
pub struct Case<'a> {
    /// The request is `HEAD` (no body may follow).
    pub head: bool,
    /// The server closes after its bytes.
    pub close: bool,
    /// The server's bytes.
    pub answer: &'a [u8],
}

impl<'a> Case<'a> {
    /// Splits a fuzzer's input.
    pub fn of(data: &'a [u8]) -> Option<Case<'a>> {
        let (&flags, answer) = data.split_first()?;
        Some(Case {
            head: flags & 1 != 0,
            close: flags & 2 != 0,
            answer,
        })
    }

    fn request(&self) -> Request<Bytes> {
        let method = if self.head { Method::HEAD } else { Method::GET };
        Request::builder()
            .method(method)
            .uri("/")
            .header(http::header::HOST, "fuzz.test")
            .body(Bytes::new())
            .expect("a valid request")
    }
}

/// Long enough for anything that can finish; the clock is paused, so a
/// timeout costs nothing but says "waits for more".
const PATIENCE: Duration = Duration::from_secs(60);

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime"),
    );
}

fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with_borrow(|rt| rt.block_on(f))
}

/// The server's side: as a server does, it reads the request's head, then
/// writes its bytes, then is silent (the connection open) or ends the
/// stream. (Bytes sent before the request are not an answer: hyper drops a
/// connection that sends them, as it should.)
async fn serve(mut server: tokio::io::DuplexStream, answer: Vec<u8>, close: bool) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match server.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let _ = server.write_all(&answer).await;
    if close {
        let _ = server.shutdown().await;
        drop(server);
        return;
    }
    // Open until the client is done.
    tokio::time::sleep(PATIENCE * 2).await;
    drop(server);
}

/// loadcheck's HTTP/1.1 client on the answer.
pub fn h1(case: &Case<'_>) -> Read {
    h1_with(case, ResponseLimits::default())
}

/// loadcheck's HTTP/1.1 client on the answer, with these limits.
pub fn h1_with(case: &Case<'_>, limits: ResponseLimits) -> Read {
    let req = case.request();
    let answer = case.answer.to_vec();
    let close = case.close;
    block_on(async move {
        let (client, server) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(serve(server, answer, close));
        let mut conn = H1::new(Io::Mem(client), limits);
        let read = match tokio::time::timeout(PATIENCE, conn.send(&req, None)).await {
            Err(_) => Read::Waits,
            Ok(Err(class)) => Read::Refused(class.name().to_string()),
            Ok(Ok(r)) => Read::Response {
                status: r.status,
                body: r.body_bytes,
                keep_alive: conn.keeps_alive(),
            },
        };
        server.abort();
        read
    })
}

/// hyper's HTTP/1.1 client (its defaults) on the same answer.
pub fn h1_hyper(case: &Case<'_>) -> Read {
    let req = case.request();
    let answer = case.answer.to_vec();
    let close = case.close;
    block_on(async move {
        let (client, server) = tokio::io::duplex(1 << 20);
        let server = tokio::spawn(serve(server, answer, close));
        let io = hyper_util::rt::TokioIo::new(client);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake::<_, http_body_util::Empty<Bytes>>(io).await
        else {
            server.abort();
            return Read::Refused("handshake".into());
        };
        let driver = tokio::spawn(conn);
        let (parts, _) = req.into_parts();
        let req = Request::from_parts(parts, http_body_util::Empty::<Bytes>::new());
        let read = match tokio::time::timeout(PATIENCE, sender.send_request(req)).await {
            Err(_) => Read::Waits,
            Ok(Err(e)) => Read::Refused(e.to_string()),
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                let mut body = resp.into_body();
                let mut len = 0u64;
                let mut outcome = None;
                loop {
                    match tokio::time::timeout(PATIENCE, body.frame()).await {
                        Err(_) => {
                            outcome = Some(Read::Waits);
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(Err(e))) => {
                            outcome = Some(Read::Refused(e.to_string()));
                            break;
                        }
                        Ok(Some(Ok(frame))) => {
                            if let Some(data) = frame.data_ref() {
                                len += data.len() as u64;
                            }
                        }
                    }
                }
                match outcome {
                    Some(o) => o,
                    None => {
                        // Kept alive: the connection is ready for another
                        // request; closed: it is not, and never will be.
                        let keep_alive = matches!(
                            tokio::time::timeout(Duration::from_secs(1), sender.ready()).await,
                            Ok(Ok(()))
                        );
                        Read::Response {
                            status,
                            body: len,
                            keep_alive,
                        }
                    }
                }
            }
        };
        driver.abort();
        server.abort();
        read
    })
}

/// Whether loadcheck's read and hyper's agree, or differ only in a way
/// `docs/engine.md` lists as intended; `Err` names the difference.
pub fn explained(case: &Case<'_>, ours: &Read, hyper: &Read) -> Result<(), String> {
    if framing_differs(case) {
        return Ok(());
    }
    match (ours, hyper) {
        (
            Read::Response {
                status: a,
                body: b,
                keep_alive: k,
            },
            Read::Response {
                status: c,
                body: d,
                keep_alive: e,
            },
        ) => {
            if a != c {
                return Err(format!("status {a} vs {c}"));
            }
            if b != d {
                return Err(format!("body {b} vs {d} bytes"));
            }
            // After a close, loadcheck still says "keep" (it decides from
            // the head; the close is seen before the next request), hyper
            // has already seen the end of the stream.
            if case.close || k == e {
                return Ok(());
            }
            let head = Head::of(case.answer);
            // RFC 9112 §6.1: a response with both Transfer-Encoding and
            // Content-Length "ought to be handled as an error" and the
            // connection closed after it; hyper keeps it.
            if !k && head.transfer_encoding && head.content_length {
                return Ok(());
            }
            Err(format!("keep-alive {k} vs {e}"))
        }
        (Read::Refused(_), Read::Refused(_)) | (Read::Waits, Read::Waits) => Ok(()),
        // loadcheck refuses as soon as the bytes so far cannot become a
        // valid answer (a broken trailer line); hyper may wait for the
        // rest before it looks. Both fail the request.
        (Read::Refused(_), Read::Waits) => Ok(()),
        // A bare LF in a chunked body's trailer section: loadcheck refuses
        // it (trailer lines end in CRLF, RFC 9112 §7.1.2), as hyper does,
        // except that hyper read one whose bare LF came first in the
        // section in one build and refused it in another.
        (Read::Refused(_), Read::Response { .. }) if bare_lf_in_trailers(case.answer) => Ok(()),
        _ => Err("one read a response, the other did not".into()),
    }
}

/// The reads differ in every way when the framing does: a
/// `Transfer-Encoding` whose list ends in an empty element after `chunked`
/// (`chunked,`) is chunked to loadcheck (RFC 9110 §5.6.1: empty list
/// elements are ignored) and read to the close by hyper, which looks only
/// at what follows the last comma.
fn framing_differs(case: &Case<'_>) -> bool {
    Head::of(case.answer).chunked_then_empty
}

/// Whether a bare LF follows the last chunk's size line (`0` CRLF): in the
/// trailer section.
fn bare_lf_in_trailers(answer: &[u8]) -> bool {
    let Some(at) = answer.windows(4).rposition(|w| w == b"\n0\r\n") else {
        return false;
    };
    has_bare_lf(&answer[at + 4..])
}

/// What a case's first response head holds, for telling the intended
/// differences apart.
#[derive(Debug, Default)]
struct Head {
    transfer_encoding: bool,
    content_length: bool,
    /// The last `Transfer-Encoding` field's last non-empty coding is
    /// `chunked`, and an empty element follows it.
    chunked_then_empty: bool,
}

impl Head {
    /// The final response's head: interim (1xx but 101) heads before it
    /// are passed over, as both clients pass over them.
    fn of(answer: &[u8]) -> Head {
        let mut rest = answer;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(rest) {
                Ok(httparse::Status::Complete(n)) if resp.code.is_some_and(|c| (100..200).contains(&c) && c != 101) => {
                    rest = &rest[n..];
                }
                _ => return Head::from_headers(resp.headers),
            }
        }
    }

    fn from_headers(headers: &[httparse::Header<'_>]) -> Head {
        let has = |name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
        let last_te = headers
            .iter()
            .rfind(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
            .map(|h| h.value);
        let chunked_then_empty = last_te.is_some_and(|v| {
            let mut codings = v.rsplit(|&b| b == b',').map(<[u8]>::trim_ascii);
            codings.next().is_some_and(<[u8]>::is_empty)
                && codings
                    .find(|c| !c.is_empty())
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
        });
        Head {
            transfer_encoding: has("transfer-encoding"),
            content_length: has("content-length"),
            chunked_then_empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(flags: u8, answer: &[u8]) -> (Read, Read) {
        let mut data = vec![flags];
        data.extend_from_slice(answer);
        let c = Case::of(&data).unwrap();
        (h1(&c), h1_hyper(&c))
    }

    #[test]
    fn an_unfinished_head_waits_in_both() {
        let (ours, hyper) = case(0, b"HTTP/1.1 200 OK\r\n");
        assert_eq!(ours, Read::Waits);
        assert_eq!(hyper, Read::Waits);
    }

    #[test]
    fn the_seeds_agree_with_hyper_or_differ_as_documented() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/h1_differential");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let c = Case::of(&data).unwrap();
            let (ours, hyper) = (h1(&c), h1_hyper(&c));
            eprintln!("{:?}: {ours:?} / {hyper:?}", String::from_utf8_lossy(c.answer));
            explained(&c, &ours, &hyper).unwrap();
            n += 1;
        }
        assert!(n > 10);
    }
}
