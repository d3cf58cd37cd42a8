//! Driving rustls' unbuffered state machine over the records a stream has
//! buffered: what [`process`] does with each state, and where it stops.

use std::io;

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic};
use tokio::io::ReadBuf;

use super::spare::{Span, give};

fn encode_need(e: EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        EncodeError::AlreadyEncoded => None,
    }
}

pub(super) fn encrypt_need(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// The buffers and flags beside rustls' state.
#[derive(Default)]
pub(super) struct Bufs {
    /// Incoming ciphertext not yet processed.
    pub(super) rx: Span,
    /// Decrypted bytes the reader has not taken yet.
    pub(super) plain: Span,
    /// Encrypted bytes the socket has not taken yet.
    pub(super) tx: Span,
    /// The peer sent `close_notify`: reads are at their end.
    pub(super) read_closed: bool,
    /// The TCP stream ended without `close_notify`.
    pub(super) eof: bool,
    /// rustls holds a decrypted record nobody has taken yet (`readable`
    /// stopped at it).
    pub(super) pending: bool,
    /// `close_notify` was queued: nothing more may be written.
    pub(super) write_closed: bool,
}

impl Drop for Bufs {
    fn drop(&mut self) {
        for span in [&mut self.rx, &mut self.plain, &mut self.tx] {
            give(std::mem::take(&mut span.buf));
        }
    }
}

/// Where processing the buffered ciphertext stopped.
pub(super) enum Step<R> {
    /// Every whole record is processed and application data may be written:
    /// what the writer gave back.
    Write(R),
    /// The reader's buffer is full, or (peeking) a record's plaintext is
    /// ready.
    Data,
    /// The handshake waits for the peer.
    Blocked,
    /// Both sides have sent `close_notify`.
    Closed,
}

pub(super) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Where decrypted bytes go.
pub(super) enum Sink<'a, 'b> {
    /// To the reader while it has room, then to the side buffer.
    Read(&'a mut ReadBuf<'b>),
    /// To the side buffer.
    Keep,
    /// Nowhere yet: processing stops at the first record with data, which
    /// rustls keeps.
    Peek,
}

/// Processes whole records in `bufs.rx` until rustls needs more bytes or
/// lets application data be written (then `write` runs), or as `sink`
/// says.
pub(super) fn process<R>(
    conn: &mut UnbufferedClientConnection,
    bufs: &mut Bufs,
    mut sink: Sink<'_, '_>,
    write: impl FnOnce(WriteTraffic<'_, ClientConnectionData>, &mut Span) -> io::Result<R>,
) -> io::Result<Step<R>> {
    let mut write = Some(write);
    loop {
        let rx = &mut bufs.rx;
        let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut rx.buf[rx.start..rx.end]);
        let step = match state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(_) if matches!(sink, Sink::Peek) => {
                bufs.pending = true;
                Some(Step::Data)
            }
            ConnectionState::ReadTraffic(mut traffic) => {
                bufs.pending = false;
                while let Some(record) = traffic.next_record() {
                    let record = record.map_err(tls_error)?;
                    discard += record.discard;
                    let mut payload = record.payload;
                    if let Sink::Read(out) = &mut sink {
                        let n = out.remaining().min(payload.len());
                        out.put_slice(&payload[..n]);
                        payload = &payload[n..];
                    }
                    bufs.plain.push(payload);
                }
                match &sink {
                    Sink::Read(out) if out.remaining() == 0 => Some(Step::Data),
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
