//! The worker's spare buffers the TLS streams borrow, and the span of one
//! buffer a stream holds only while bytes are in it.

use std::cell::RefCell;

use tokio::io::ReadBuf;

/// The largest record on the wire (TLS 1.2's limit; TLS 1.3's is lower).
pub(super) const MAX_RECORD: usize = 5 + 16 * 1024 + 2048;

/// Plaintext taken per write: one full record's worth.
pub(super) const MAX_WRITE: usize = 16 * 1024;

/// A buffer's first size: a small response's records fit.
const INIT_BUF: usize = 4 * 1024;
/// Spare buffers a worker keeps.
const MAX_SPARE: usize = 64;
/// A spare buffer grown past this is freed rather than kept: an incoming
/// record plus a full write's records are the most the stream needs.
const MAX_KEEP: usize = MAX_RECORD + MAX_WRITE + 1024;

thread_local! {
    /// Buffers no connection holds, for incoming records, plaintext left
    /// over, and outgoing records alike. Within one worker a buffer is mostly
    /// taken and given back inside a single poll, so few are ever needed.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of at least `min` bytes (and [`INIT_BUF`]).
pub(super) fn take(min: usize) -> Vec<u8> {
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
pub(super) fn give(buf: Vec<u8>) {
    if !buf.is_empty() && buf.len() <= MAX_KEEP {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < MAX_SPARE {
                spare.push(buf);
            }
        });
    }
}

/// How many spare buffers this thread has (for tests).
#[cfg(test)]
pub(super) fn spares() -> usize {
    SPARE.with_borrow(Vec::len)
}

/// Bytes `buf[start..end]` of a buffer that is held only while they are
/// there.
#[derive(Default)]
pub(super) struct Span {
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Span {
    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Gives the buffer back once its bytes are gone.
    pub(super) fn release_if_empty(&mut self) {
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
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.reserve(bytes.len());
            self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }

    /// Appends what `fill` writes after `end`. `fill` fails with how many
    /// bytes it needs when the room left is too small (and is called again
    /// with that room), or with `None`.
    pub(super) fn put(&mut self, mut fill: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>) -> Result<(), ()> {
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
    pub(super) fn drain_into(&mut self, out: &mut ReadBuf<'_>) {
        let n = out.remaining().min(self.end - self.start);
        out.put_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.release_if_empty();
    }
}
