//! The one registry of metric names.
//!
//! Thresholds, requirements, `run.json` and `docs/metrics.md` all name
//! metrics; this table is where those names come from, so an expression that
//! names a metric loadcheck does not measure is caught at validation time.
//! The error classes live here too: `{class:…}` filters are checked against
//! them, and `metrics` counts by them.

/// Why a request failed. A failed request is data: it is counted here and
/// the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The TCP connection could not be made.
    Connect,
    /// The connection broke before a whole response arrived.
    Reset,
    /// No whole response within the request timeout.
    Timeout,
    /// The TLS handshake failed (or, with `http = "2"`, the server would
    /// not speak HTTP/2).
    Tls,
    /// The server refused the request without processing it: an HTTP/2
    /// `RST_STREAM` with `REFUSED_STREAM`, or a stream cut by a graceful
    /// `GOAWAY` (RFC 9113 §8.7: safe to retry, and counted, not retried).
    Refused,
    /// The server's answer was not valid HTTP: bytes that do not parse as a
    /// response (garbage, an HTTP/0.9 answer, bytes before the status
    /// line), a head over its cap (size or header count), or a body whose
    /// framing breaks (a bad chunk size, a conflicting `Content-Length`).
    /// Not a network fault: the server (or a proxy) spoke something else.
    Protocol,
    /// A 4xx status the endpoint does not expect (429 has its own class).
    Status4xx,
    /// A 429 the endpoint does not expect.
    Status429,
    /// A 5xx status the endpoint does not expect.
    Status5xx,
    /// Any other status the endpoint does not expect (a 200 where 202 is expected).
    UnexpectedStatus,
}

impl ErrorClass {
    /// Every class, in `run.json` order.
    pub const ALL: [ErrorClass; ErrorClass::COUNT] = [
        ErrorClass::Connect,
        ErrorClass::Reset,
        ErrorClass::Timeout,
        ErrorClass::Tls,
        ErrorClass::Refused,
        ErrorClass::Protocol,
        ErrorClass::Status4xx,
        ErrorClass::Status429,
        ErrorClass::Status5xx,
        ErrorClass::UnexpectedStatus,
    ];

    /// How many classes there are.
    pub const COUNT: usize = 10;

    /// The class's name in `run.json` and in `{class:…}` tags.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Reset => "reset",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::Refused => "refused",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Status4xx => "status_4xx",
            ErrorClass::Status429 => "status_429",
            ErrorClass::Status5xx => "status_5xx",
            ErrorClass::UnexpectedStatus => "unexpected_status",
        }
    }

    /// The class of a status the endpoint did not expect.
    pub fn of_status(status: u16) -> ErrorClass {
        match status {
            429 => ErrorClass::Status429,
            400..=499 => ErrorClass::Status4xx,
            500..=599 => ErrorClass::Status5xx,
            _ => ErrorClass::UnexpectedStatus,
        }
    }
}

/// How a metric aggregates, which decides the aggregations it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A distribution of durations: `avg`, `min`, `max`, `med`, `p(N)`, `count`.
    Trend,
    /// A fraction of events that were "true": `rate`.
    Rate,
    /// A count of events: `count`, and `rate` (per second).
    Counter,
    /// One value for the run: `value`.
    Gauge,
}

/// A tag that selects a subset of a metric's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    /// The endpoint's name from the plan.
    Endpoint,
    /// The deployment window: `head`, `rollout` or `tail`.
    Phase,
    /// The scenario's name from the plan.
    Scenario,
    /// The error class (`connect`, `reset`, `timeout`, …).
    Class,
    /// The HTTP status code.
    Status,
    /// The value of the plan's version header.
    Version,
    /// A rollout or fault event.
    Event,
    /// A probe's name.
    Probe,
}

impl Tag {
    /// Every tag, in the order the docs list them.
    pub const ALL: [Tag; 8] = [
        Tag::Endpoint,
        Tag::Phase,
        Tag::Scenario,
        Tag::Class,
        Tag::Status,
        Tag::Version,
        Tag::Event,
        Tag::Probe,
    ];

    /// The tag's name as written in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Endpoint => "endpoint",
            Tag::Phase => "phase",
            Tag::Scenario => "scenario",
            Tag::Class => "class",
            Tag::Status => "status",
            Tag::Version => "version",
            Tag::Event => "event",
            Tag::Probe => "probe",
        }
    }

    /// Looks a tag up by the name written in an expression.
    pub fn from_name(name: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One metric loadcheck measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MetricDef {
    /// The name used in expressions and reports.
    pub name: &'static str,
    /// How it aggregates.
    pub kind: MetricKind,
    /// The unit of its values (`ms`, `requests`, …), empty for rates.
    pub unit: &'static str,
    /// The tags that select a subset of it.
    pub tags: &'static [Tag],
    /// One line for people.
    pub description: &'static str,
}

const HTTP_TAGS: &[Tag] = &[Tag::Endpoint, Tag::Scenario, Tag::Phase];
const HTTP_COUNT_TAGS: &[Tag] = &[Tag::Endpoint, Tag::Scenario, Tag::Phase, Tag::Status];
const ERROR_TAGS: &[Tag] = &[Tag::Endpoint, Tag::Scenario, Tag::Phase, Tag::Class];
const GENERATOR_TAGS: &[Tag] = &[Tag::Scenario];
const EVENT_TAGS: &[Tag] = &[Tag::Event];
const PROBE_TAGS: &[Tag] = &[Tag::Probe];
const NO_TAGS: &[Tag] = &[];

/// Every metric this version of loadcheck measures.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "http_req_duration",
        kind: MetricKind::Trend,
        unit: "ms",
        tags: HTTP_TAGS,
        description: "Latency of every request that got a response, whatever its status; in the open model measured from the intended send time.",
    },
    MetricDef {
        name: "http_req_service_duration",
        kind: MetricKind::Trend,
        unit: "ms",
        tags: HTTP_TAGS,
        description: "Latency of every request that got a response, measured from the actual send.",
    },
    MetricDef {
        name: "http_req_failure_duration",
        kind: MetricKind::Trend,
        unit: "ms",
        tags: HTTP_TAGS,
        description: "Time to failure of requests that got no response (connect, reset, timeout, tls).",
    },
    MetricDef {
        name: "http_req_failed",
        kind: MetricKind::Rate,
        unit: "",
        tags: HTTP_TAGS,
        description: "Fraction of requests that failed: no response, or a status the endpoint does not expect.",
    },
    MetricDef {
        name: "http_reqs",
        kind: MetricKind::Counter,
        unit: "requests",
        tags: HTTP_COUNT_TAGS,
        description: "Requests sent, with or without a response.",
    },
    MetricDef {
        name: "http_errors",
        kind: MetricKind::Counter,
        unit: "requests",
        tags: ERROR_TAGS,
        description: "Failed requests, by error class.",
    },
    MetricDef {
        name: "dropped_sends",
        kind: MetricKind::Counter,
        unit: "sends",
        tags: GENERATOR_TAGS,
        description: "Open-model sends that were due while max_in_flight was full, and were dropped and counted.",
    },
    MetricDef {
        name: "send_lag",
        kind: MetricKind::Trend,
        unit: "ms",
        tags: GENERATOR_TAGS,
        description: "Open-model delay from a request's intended send time to its actual send.",
    },
    MetricDef {
        name: "downtime_seconds",
        kind: MetricKind::Gauge,
        unit: "s",
        tags: &[],
        description: "Total length of the outages: clusters of failed requests (by intended send time) whose success rate is below the plan's SLO, each from its first failure to its last.",
    },
    MetricDef {
        name: "rto_seconds",
        kind: MetricKind::Gauge,
        unit: "s",
        tags: EVENT_TAGS,
        description: "From a rollout or fault event to the start of the first window (availability.window, 5 s) back at the SLO; the largest over the selected events, unmeasured if one never recovered.",
    },
    MetricDef {
        name: "time_to_detect_seconds",
        kind: MetricKind::Gauge,
        unit: "s",
        tags: EVENT_TAGS,
        description: "From a rollout or fault event to the first failed request after it; the largest over the selected events, unmeasured if one saw no failure.",
    },
    MetricDef {
        name: "rollout_failed_requests",
        kind: MetricKind::Counter,
        unit: "requests",
        tags: &[],
        description: "Failed requests sent during the rollout phase; the zero-downtime rule allows rollout.tolerance of them (0 by default).",
    },
    MetricDef {
        name: "rollout_reset_requests",
        kind: MetricKind::Counter,
        unit: "requests",
        tags: &[],
        description: "Requests of the rollout phase whose connection broke before a whole response arrived (in flight when a backend died).",
    },
    MetricDef {
        name: "probe_down_seconds",
        kind: MetricKind::Gauge,
        unit: "s",
        tags: PROBE_TAGS,
        description: "Total time a probe was down: from the first failing check to the next passing one; the largest over the selected probes.",
    },
    MetricDef {
        name: "delivery_duration",
        kind: MetricKind::Trend,
        unit: "ms",
        tags: NO_TAGS,
        description: "End to end: from loadcheck sending a submission the service accepted to the sink accepting its first delivery. Needs `[sink] correlate`.",
    },
    MetricDef {
        name: "delivery_duplicates",
        kind: MetricKind::Counter,
        unit: "deliveries",
        tags: NO_TAGS,
        description: "Accepted deliveries of an id the sink had already accepted (exact: one entry per id for the whole run).",
    },
    MetricDef {
        name: "delivery_lost",
        kind: MetricKind::Counter,
        unit: "events",
        tags: NO_TAGS,
        description: "Accepted submissions never delivered by the end of the run plus the sink's drain (at most `deadline`).",
    },
    MetricDef {
        name: "delivery_late",
        kind: MetricKind::Counter,
        unit: "events",
        tags: NO_TAGS,
        description: "Submissions first delivered more than `deadline` after they were sent.",
    },
    MetricDef {
        name: "delivery_failed_posts",
        kind: MetricKind::Counter,
        unit: "posts",
        tags: NO_TAGS,
        description: "POSTs the sink failed as programmed (a failing status, a reset or a hang): what a sender's circuit breaker sees.",
    },
    MetricDef {
        name: "delivery_invalid_signature",
        kind: MetricKind::Counter,
        unit: "posts",
        tags: NO_TAGS,
        description: "Deliveries whose signature was wrong, stale or missing (answered 401).; measured when the sink verifies.",
    },
    MetricDef {
        name: "delivery_verified",
        kind: MetricKind::Rate,
        unit: "",
        tags: NO_TAGS,
        description: "Share of checked deliveries whose signature verified.",
    },
    MetricDef {
        name: "delivery_posts_per_event",
        kind: MetricKind::Gauge,
        unit: "posts",
        tags: NO_TAGS,
        description: "Verified POSTs per submitted event: 1 when nothing is retried; above 1 is retry amplification.",
    },
];

/// Looks a metric up by name.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for m in METRICS {
            assert_eq!(lookup(m.name), Some(m));
            assert_eq!(METRICS.iter().filter(|o| o.name == m.name).count(), 1);
        }
        assert!(lookup("http_req_durations").is_none());
    }

    #[test]
    fn tags_round_trip() {
        for t in Tag::ALL {
            assert_eq!(Tag::from_name(t.name()), Some(t));
        }
    }
}
