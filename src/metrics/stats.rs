//! Per-key request statistics: counters, statuses, error classes and the
//! three latency histograms. Everything merges with `+=`.

use std::ops::AddAssign;

use super::hist::Hist;
use crate::plan::registry::ErrorClass;

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response arrived; `ok` says whether its status was expected.
    Response {
        /// The status code.
        status: u16,
        /// Whether the endpoint expects this status.
        ok: bool,
    },
    /// No response: the class says why.
    Failed(ErrorClass),
}

/// One request's measurement, as the engine hands it to a recorder.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// What happened.
    pub outcome: Outcome,
    /// From the intended send (open model) or the actual send (closed model)
    /// to the end of the response or the failure, in µs.
    pub duration_us: u64,
    /// From the actual send, in µs.
    pub service_us: u64,
    /// The response came over HTTP/2 (false for HTTP/1.1 and for failures).
    pub http2: bool,
}

/// Statistics of a set of requests.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests sent (with or without a response).
    pub requests: u64,
    /// Requests whose status the endpoint expects.
    pub ok: u64,
    /// Failed requests by class, indexed like [`ErrorClass::ALL`].
    pub errors: [u64; ErrorClass::COUNT],
    /// Responses that came over HTTP/2; the rest of the responses came
    /// over HTTP/1.1.
    pub http2: u64,
    /// `(status, count)`, usually a handful, kept unsorted.
    pub statuses: Vec<(u16, u64)>,
    /// `http_req_duration`.
    pub duration: Hist,
    /// `http_req_service_duration`.
    pub service: Hist,
    /// `http_req_failure_duration`.
    pub failure: Hist,
}

impl Stats {
    /// Adds one request.
    #[inline]
    pub fn record(&mut self, s: &Sample) {
        self.requests += 1;
        match s.outcome {
            Outcome::Response { status, ok } => {
                self.add_status(status, 1);
                if ok {
                    self.ok += 1;
                } else {
                    self.errors[ErrorClass::of_status(status) as usize] += 1;
                }
                self.http2 += u64::from(s.http2);
                self.duration.record(s.duration_us);
                self.service.record(s.service_us);
            }
            Outcome::Failed(class) => {
                self.errors[class as usize] += 1;
                self.failure.record(s.duration_us);
            }
        }
    }

    fn add_status(&mut self, status: u16, n: u64) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => *c += n,
            None => self.statuses.push((status, n)),
        }
    }

    /// Requests that failed (no response or an unexpected status).
    pub fn failed(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// The count of one error class.
    pub fn errors_of(&self, class: ErrorClass) -> u64 {
        self.errors[class as usize]
    }

    /// The count of one status code.
    pub fn status_count(&self, status: u16) -> u64 {
        self.statuses.iter().find(|(s, _)| *s == status).map_or(0, |(_, c)| *c)
    }
}

impl Stats {
    /// `self += o` unless a count would pass `u64::MAX`; then nothing
    /// changes and the error names the count. What a file read back merges
    /// (a run's own counts cannot get there).
    pub fn try_add(&mut self, o: &Stats) -> Result<(), String> {
        let over = |what: &str| format!("{what} adds up past 2^64 with the other atoms of its key");
        let sum = |a: u64, b: u64, what: &str| a.checked_add(b).ok_or_else(|| over(what));
        sum(self.requests, o.requests, "requests")?;
        sum(self.ok, o.ok, "ok")?;
        sum(self.http2, o.http2, "http2")?;
        for (i, (a, b)) in self.errors.iter().zip(o.errors).enumerate() {
            sum(*a, b, ErrorClass::ALL[i].name())?;
        }
        for &(s, n) in &o.statuses {
            sum(self.status_count(s), n, &format!("status {s}"))?;
        }
        for (a, b, what) in [
            (&self.duration, &o.duration, "http_req_duration"),
            (&self.service, &o.service, "http_req_service_duration"),
            (&self.failure, &o.failure, "http_req_failure_duration"),
        ] {
            sum(a.len(), b.len(), what)?;
            sum(a.clamped(), b.clamped(), what)?;
        }
        *self += o;
        Ok(())
    }
}

impl AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.http2 += o.http2;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        for &(s, n) in &o.statuses {
            self.add_status(s, n);
        }
        self.duration += &o.duration;
        self.service += &o.service;
        self.failure += &o.failure;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(outcome: Outcome, us: u64) -> Sample {
        Sample {
            outcome,
            duration_us: us,
            service_us: us,
            http2: false,
        }
    }

    #[test]
    fn classes_statuses_and_merge() {
        let mut a = Stats::default();
        a.record(&sample(Outcome::Response { status: 200, ok: true }, 100));
        a.record(&sample(Outcome::Response { status: 429, ok: false }, 100));
        a.record(&sample(Outcome::Response { status: 200, ok: false }, 100));
        let mut b = Stats::default();
        b.record(&sample(Outcome::Failed(ErrorClass::Reset), 50));
        b.record(&sample(Outcome::Response { status: 503, ok: false }, 100));
        a += &b;
        assert_eq!(a.requests, 5);
        assert_eq!(a.ok, 1);
        assert_eq!(a.failed(), 4);
        assert_eq!(a.errors_of(ErrorClass::Status429), 1);
        assert_eq!(a.errors_of(ErrorClass::UnexpectedStatus), 1);
        assert_eq!(a.errors_of(ErrorClass::Status5xx), 1);
        assert_eq!(a.errors_of(ErrorClass::Reset), 1);
        assert_eq!(a.status_count(200), 2);
        assert_eq!(a.duration.len(), 4);
        assert_eq!(a.failure.len(), 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(ErrorClass::of_status(404), ErrorClass::Status4xx);
        assert_eq!(ErrorClass::of_status(429), ErrorClass::Status429);
        assert_eq!(ErrorClass::of_status(503), ErrorClass::Status5xx);
        assert_eq!(ErrorClass::of_status(200), ErrorClass::UnexpectedStatus);
    }
}
