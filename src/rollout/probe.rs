//! Probes: a URL polled on a fixed schedule during the run, recording when
//! it was down and, for metric probes, a Prometheus series over time.
//!
//! - **Schedule.** Checks start at the run's start and every `interval`
//!   after it (`tokio::time::interval_at`, missed ticks skipped), one at a
//!   time: a check that outlasts the interval skips the ticks it covers.
//! - **A check.** One GET, bounded as a whole (connect, headers and, for
//!   metric probes, the body) by the probe's `timeout`; the connect alone by
//!   at most [`CONNECT_TIMEOUT`]. Redirects are not followed, proxies from
//!   the environment are not used. HTTPS uses the engine's TLS settings (the
//!   web PKI roots plus `ca_file`, or `insecure`), and `resolve` entries for
//!   the probe's host and port.
//! - **Up or down.** Up when the status passes [`Probe::is_up`] (and, for a
//!   metric probe, the body holds the series); down on any other status, a
//!   connection error, a timeout, or a body without the series or not in
//!   the text format. `last_error` keeps the reason of the last failed
//!   check.
//! - **Down intervals.** One starts at the send time of the first failing
//!   check and ends at the send time of the first passing check after it;
//!   times are milliseconds since the run's start. An interval still open
//!   when the probe stops has no end, and counts up to the stop in
//!   `down_s`.
//! - **Stopping.** The probe runs until `stop` becomes true or its sender is
//!   dropped; a check in flight then is abandoned and not counted.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::errors::chain;
use crate::metrics::deploy::{ProbeInterval, ProbeResult};
use crate::metrics::hist::ms_to_s;
use crate::plan::TlsOptions;
use crate::plan::rollout::Probe;

use crate::prometheus::{self, Selector};

/// The longest a probe's connect may take (less when its timeout is
/// shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The most of a response body a probe reads.
pub const MAX_BODY: usize = 16 << 20;

/// Polls `probe.url` from `run_start` every `probe.interval` until `stop`
/// becomes true or its sender is dropped, and returns what it saw. See the
/// module documentation for the rules.
///
/// Never fails: a client that cannot be built (an unreadable `ca_file`)
/// makes every check fail with that reason.
pub async fn run(probe: Probe, tls: TlsOptions, run_start: Instant, mut stop: watch::Receiver<bool>) -> ProbeResult {
    let client = client(&probe, &tls);
    let mut state = State::new(&probe);
    // A zero interval would panic in tokio; plan validation rejects it.
    let period = probe.interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::from_std(run_start), period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);

    // Each turn waits for a tick or a stop, so the loop lasts as long as
    // the run; each check is bounded by the probe's timeout.
    while !*stop.borrow_and_update() {
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = ticks.tick() => {
                let sent = since(run_start);
                let pending = check(&client, &probe);
                tokio::pin!(pending);
                // Bounded by the check's timeout.
                let outcome = loop {
                    tokio::select! {
                        biased;
                        changed = stop.changed() => {
                            if changed.is_err() || *stop.borrow_and_update() {
                                break None;
                            }
                        }
                        outcome = &mut pending => break Some(outcome),
                    }
                };
                match outcome {
                    Some(outcome) => state.record(sent, outcome),
                    None => break,
                }
            }
        }
    }
    state.finish(since(run_start))
}

/// Milliseconds since `start` (0 before it).
fn since(start: Instant) -> u64 {
    u64::try_from(Instant::now().saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}

/// Builds the probe's HTTP client, or says why it cannot be built.
fn client(probe: &Probe, tls: &TlsOptions) -> Result<reqwest::Client, String> {
    crate::net::http_client(
        &probe.origin,
        tls,
        probe.timeout,
        Some(probe.timeout.min(CONNECT_TIMEOUT)),
        "probe",
    )
}

/// What one check found.
#[derive(Debug)]
enum Health {
    /// Up; for metric probes, with the reading.
    Up(Option<f64>),
    /// Down, and why.
    Down(String),
}

/// One check, bounded by the probe's timeout as a whole.
async fn check(client: &Result<reqwest::Client, String>, probe: &Probe) -> Health {
    let client = match client {
        Ok(client) => client,
        Err(e) => return Health::Down(e.clone()),
    };
    match tokio::time::timeout(probe.timeout, get(client, probe, probe.metric.as_ref())).await {
        Ok(outcome) => outcome,
        Err(_) => Health::Down(format!("timeout after {} ms", probe.timeout.as_millis())),
    }
}

/// The GET, the status, and for metric probes the reading.
async fn get(client: &reqwest::Client, probe: &Probe, selector: Option<&Selector>) -> Health {
    let mut request = client.get(&probe.url);
    if selector.is_some() {
        request = request.header(reqwest::header::ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Health::Down(request_error(&e)),
    };
    let status = response.status().as_u16();
    if !probe.is_up(status) {
        return Health::Down(format!("status {status}"));
    }
    let Some(selector) = selector else {
        // Drain a little so the connection can be reused; a health check's
        // body does not decide anything.
        let mut drained = 0;
        while drained < 64 << 10 {
            match response.chunk().await {
                Ok(Some(chunk)) => drained += chunk.len(),
                _ => break,
            }
        }
        return Health::Up(None);
    };
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Health::Down(format!("metric: body larger than {} MiB", MAX_BODY >> 20));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Health::Down(format!("body: {}", request_error(&e))),
        }
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return Health::Down("metric: the body is not UTF-8".to_string());
    };
    match prometheus::find(text, selector) {
        Ok(value) => Health::Up(Some(value)),
        Err(e) => Health::Down(format!("metric: {e}")),
    }
}

/// A request error for `last_error`: what kind, then its causes.
fn request_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("{kind}: {}", chain(e))
}

/// The probe's running record.
struct State {
    /// The result so far (intervals closed ones only).
    result: ProbeResult,
    /// When the current down interval started (ms), if down.
    down_since: Option<u64>,
    /// The sum of closed intervals (ms).
    down_ms: u64,
}

impl State {
    fn new(probe: &Probe) -> Self {
        State {
            result: ProbeResult {
                name: probe.name.clone(),
                url: probe.url.clone(),
                interval_ms: u64::try_from(probe.interval.as_millis()).unwrap_or(u64::MAX),
                checks: 0,
                failed_checks: 0,
                down_s: 0.0,
                intervals: Vec::new(),
                metric: probe.metric.as_ref().map(|s| s.to_string()),
                values: Vec::new(),
                last_error: None,
            },
            down_since: None,
            down_ms: 0,
        }
    }

    /// Records a check sent at `sent` ms.
    fn record(&mut self, sent: u64, outcome: Health) {
        self.result.checks += 1;
        match outcome {
            Health::Up(value) => {
                if let Some(value) = value {
                    self.result.values.push((sent, value));
                }
                if let Some(start) = self.down_since.take() {
                    self.down_ms += sent.saturating_sub(start);
                    self.result.intervals.push(ProbeInterval {
                        start_s: ms_to_s(start),
                        end_s: Some(ms_to_s(sent)),
                    });
                }
            }
            Health::Down(reason) => {
                self.result.failed_checks += 1;
                self.result.last_error = Some(reason);
                if self.down_since.is_none() {
                    self.down_since = Some(sent);
                }
            }
        }
    }

    /// Closes the record at `end` ms: an open interval stays open (no end)
    /// but counts up to `end`.
    fn finish(mut self, end: u64) -> ProbeResult {
        if let Some(start) = self.down_since {
            self.down_ms += end.saturating_sub(start);
            self.result.intervals.push(ProbeInterval {
                start_s: ms_to_s(start),
                end_s: None,
            });
        }
        self.result.down_s = ms_to_s(self.down_ms);
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Scheme;
    use crate::plan::Target;

    fn probe() -> Probe {
        Probe {
            name: "ready".to_string(),
            url: "http://127.0.0.1:9/ready".to_string(),
            origin: Target {
                scheme: Scheme::Http,
                host: "127.0.0.1".to_string(),
                port: 9,
                base_path: String::new(),
            },
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(500),
            expect: Vec::new(),
            metric: None,
        }
    }

    #[test]
    fn state_records_intervals_and_transitions() {
        let mut s = State::new(&probe());
        s.record(0, Health::Up(None));
        s.record(100, Health::Down("status 503".into()));
        s.record(200, Health::Down("status 502".into()));
        s.record(300, Health::Up(Some(1.0)));
        s.record(400, Health::Down("connect: refused".into()));
        let r = s.finish(1000);
        assert_eq!((r.checks, r.failed_checks), (5, 3));
        assert_eq!(
            r.intervals,
            vec![
                ProbeInterval {
                    start_s: 0.1,
                    end_s: Some(0.3)
                },
                ProbeInterval {
                    start_s: 0.4,
                    end_s: None
                },
            ]
        );
        assert!((r.down_s - 0.8).abs() < 1e-9);
        assert_eq!(r.last_error.as_deref(), Some("connect: refused"));
        assert_eq!(r.values, vec![(300, 1.0)]);
        assert_eq!(r.transitions(), vec![(0.1, false), (0.3, true), (0.4, false)]);
    }

    #[test]
    fn serializes_without_values_and_empty_options() {
        let r = State::new(&probe()).finish(0);
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert!(json.get("values").is_none());
        assert!(json.get("metric").is_none());
        assert!(json.get("last_error").is_none());
        assert_eq!(json["interval_ms"], 100);
        let back: ProbeResult = serde_json::from_value(json).unwrap();
        assert_eq!(back.name, "ready");
    }

    #[tokio::test]
    async fn a_bad_ca_file_fails_every_check() {
        let mut p = probe();
        p.url = "https://127.0.0.1:9/ready".into();
        p.origin.scheme = Scheme::Https;
        let tls = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(run(p, tls, Instant::now(), rx));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _ = tx.send(true);
        let r = task.await.unwrap();
        assert!(r.checks >= 2, "{r:?}");
        assert_eq!(r.checks, r.failed_checks);
        assert!(r.last_error.as_deref().unwrap_or("").starts_with("TLS:"), "{r:?}");
        assert_eq!(r.intervals.len(), 1);
        assert_eq!(r.intervals[0].end_s, None);
    }

    #[tokio::test]
    async fn a_stop_before_the_start_returns_at_once() {
        let p = probe();
        let (tx, rx) = watch::channel(true);
        let r = run(p.clone(), TlsOptions::default(), Instant::now(), rx).await;
        assert_eq!(r.checks, 0);
        drop(tx);
        // A dropped sender stops it too.
        let (tx, rx) = watch::channel(false);
        drop(tx);
        let r = run(p, TlsOptions::default(), Instant::now(), rx).await;
        assert!(r.checks <= 1);
    }
}
