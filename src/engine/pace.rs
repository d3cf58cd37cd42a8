//! Waiting for an open-model send's intended time to within tens of µs.
//!
//! tokio's timer rounds every deadline up to its next whole-millisecond
//! tick, so a send waited for with `sleep_until` leaves 0 to 1 ms late, by an
//! amount set by the phase of the schedule against the ticks: nearly constant
//! within a run and different in every run. `http_req_duration` is measured
//! from the intended time, so that lateness is in every latency; on a 5 ms
//! endpoint it moved p50 by up to 15% from one run to the next, more than the
//! regressions a baseline comparison has to find (bench/RESULTS.md, issue 13).
//!
//! On Linux each open-model loop owns a `timerfd`, armed to the exact
//! deadline and read through the worker's own reactor: one wake per send,
//! no spinning. A send due less than [`EARLY`] from now goes at once rather
//! than arming a timer whose wake would cost more than the wait; the loop
//! then measures it from its actual send, never from the later intended
//! time. Elsewhere, or if the kernel refuses a timerfd, the tokio timer takes
//! the task to a millisecond before the deadline and the rest is spent
//! yielding to the runtime.

use std::time::{Duration, Instant};

use tokio::time::sleep_until;

/// How early a send may go: a send due less than this after the one just
/// sent goes with it, so at most one wake is paid per window. Measured with
/// `bench/cpu_per_req.sh` at 20,000 req/s: a window of 250 µs cost 12.4 µs of
/// CPU per request, 500 µs 10.3 µs, 1 ms 8.4 µs, tokio's timer alone 8.8 µs
/// (bench/RESULTS.md). Below 1,000 sends a second per worker every send has
/// its own wake, on time.
pub const EARLY: Duration = Duration::from_micros(1000);

/// How long before a deadline the fallback stops trusting tokio's timer.
const FALLBACK_SPIN: Duration = Duration::from_micros(1100);

/// One open-model loop's timer.
pub struct Pacer {
    #[cfg(target_os = "linux")]
    timer: Option<linux::TimerFd>,
}

impl Pacer {
    pub fn new() -> Self {
        Pacer {
            #[cfg(target_os = "linux")]
            timer: linux::TimerFd::new().ok(),
        }
    }

    /// Returns at `t` or just after it, or at once when `t` is less than
    /// [`EARLY`] away.
    pub async fn until(&mut self, t: Instant) {
        let now = Instant::now();
        if t <= now + EARLY {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            if timer.wait(t - now).await.is_err() {
                // Never seen; the fallback below still keeps the schedule.
                self.timer = None;
            }
        }
        coarse_then_yield(t).await;
    }
}

/// The portable wait: the tokio timer to about a millisecond before `t`,
/// then yielding (the runtime polls its I/O between yields, so responses
/// keep being read).
async fn coarse_then_yield(t: Instant) {
    if let Some(early) = t.checked_sub(FALLBACK_SPIN)
        && early > Instant::now()
    {
        sleep_until(early.into()).await;
    }
    while Instant::now() < t {
        tokio::task::yield_now().await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// A non-blocking `CLOCK_MONOTONIC` timerfd (the clock `Instant` reads)
    /// registered with the current runtime.
    pub struct TimerFd(AsyncFd<OwnedFd>);

    impl TimerFd {
        pub fn new() -> io::Result<Self> {
            // SAFETY: timerfd_create takes no pointers; a non-negative
            // return is a new descriptor that nothing else owns.
            let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and is owned by nothing else.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: the OwnedFd is moved into the AsyncFd, so the
            // descriptor stays open and the same until the AsyncFd drops.
            let registered = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }?;
            Ok(TimerFd(registered))
        }

        /// Arms the timer `d` from now and waits for it to fire. Arming
        /// resets the expiry count, so a wait left unfinished (the loop
        /// stopped) cannot wake the next one early: a stale readiness reads
        /// `EAGAIN` and is waited past.
        pub async fn wait(&self, d: Duration) -> io::Result<()> {
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec {
                    tv_sec: d.as_secs() as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                },
            };
            let fd = self.0.get_ref().as_raw_fd();
            // SAFETY: `spec` is a valid itimerspec for the call's duration and
            // the old-value pointer may be null.
            if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            loop {
                let mut guard = self.0.readable().await?;
                let read = guard.try_io(|inner| {
                    let mut expiries = [0u8; 8];
                    // SAFETY: reads at most 8 bytes into an 8-byte buffer.
                    let n = unsafe { libc::read(inner.get_ref().as_raw_fd(), expiries.as_mut_ptr().cast(), 8) };
                    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
                });
                match read {
                    Ok(result) => {
                        // tokio keeps a readiness until a read fails with
                        // `EAGAIN`, since a socket may hold more than one
                        // read's worth. A timerfd does not: a successful
                        // read takes its whole count, and only another
                        // expiry (after the next wait arms it) makes it
                        // readable again, as a new edge. Dropping the
                        // readiness now spares the next wait a first read
                        // that could only fail (one system call per wake).
                        guard.clear_ready();
                        return result;
                    }
                    Err(_would_block) => continue,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn returns_on_time_never_more_than_early_before_and_rarely_long_after() {
        rt().block_on(async {
            let mut pacer = Pacer::new();
            let mut late = Vec::new();
            let start = Instant::now();
            // 300 deadlines 1.37 ms apart: off the millisecond grid, so a
            // tick-rounding timer would be late by a varying amount.
            for k in 1..=300u32 {
                let t = start + Duration::from_micros(1370) * k;
                pacer.until(t).await;
                let now = Instant::now();
                assert!(now + EARLY >= t, "woke {:?} early", t - now);
                late.push(now.saturating_duration_since(t));
            }
            late.sort();
            let median = late[late.len() / 2];
            // tokio's timer alone gives a median near 0.5 ms here.
            assert!(median < Duration::from_micros(250), "median lateness {median:?}");
            #[cfg(target_os = "linux")]
            assert!(pacer.timer.is_some(), "the timerfd failed and the fallback ran");
        });
    }

    /// This thread's `read`-family system calls so far (`syscr` in
    /// `/proc/thread-self/io`), or `None` where the kernel keeps no count.
    #[cfg(target_os = "linux")]
    fn reads_by_this_thread() -> Option<u64> {
        let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
        io.lines().find_map(|l| l.strip_prefix("syscr: ")?.trim().parse().ok())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_wake_costs_one_read_of_the_timerfd() {
        rt().block_on(async {
            let timer = linux::TimerFd::new().unwrap();
            // One wait first, so that the runtime's own set-up reads are done.
            timer.wait(Duration::from_millis(2)).await.unwrap();
            let Some(first) = reads_by_this_thread() else {
                eprintln!("no /proc/thread-self/io here: the count is not checked");
                return;
            };
            // Reading the count takes reads of its own: measured, and taken off.
            let before = reads_by_this_thread().unwrap();
            let own = before - first;
            let waits = 20;
            for _ in 0..waits {
                timer.wait(Duration::from_millis(2)).await.unwrap();
            }
            let reads = reads_by_this_thread().unwrap() - before - own;
            // A readiness kept after the read would cost every later wait a
            // read that fails with EAGAIN: 2 per wait. A read here and there
            // is allowed for a spurious wake.
            assert!(reads <= waits + 2, "{reads} reads for {waits} waits");
            assert!(
                reads >= waits,
                "{reads} reads for {waits} waits: the timerfd was not read"
            );
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_timerfd_is_used_and_a_stale_expiry_does_not_end_the_next_wait() {
        rt().block_on(async {
            let mut pacer = Pacer::new();
            // Abandon a wait, as the loop does when the run stops, and let
            // its timer fire unread while the reactor runs, so the runtime
            // holds a readiness that the next wait must not trust.
            tokio::select! {
                _ = pacer.until(Instant::now() + Duration::from_millis(2)) => panic!("the sleep should win"),
                _ = tokio::time::sleep(Duration::from_micros(500)) => {}
            }
            tokio::time::sleep(Duration::from_millis(4)).await;
            let timer = pacer.timer.as_ref().expect("a timerfd on Linux");
            let before = Instant::now();
            timer.wait(Duration::from_millis(5)).await.unwrap();
            let waited = before.elapsed();
            assert!(waited >= Duration::from_millis(5), "woke after {waited:?}");
        });
    }
}
