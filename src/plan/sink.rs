//! The sink's configuration, as `[sink]` in a plan or `sink.toml` gives it:
//! where it listens, how deliveries are verified and identified, and how
//! each route answers. The sink itself (`crate::sink`) runs it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::signing::Signing;

/// Where a delivery's id is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdSource {
    /// A header, such as `webhook-id`.
    Header(String),
    /// A JSON pointer into the body, such as `/data/id`.
    Pointer(String),
}

/// A validated sink configuration (from `[sink]` or `sink.toml`).
#[derive(Debug, Clone, Serialize)]
pub struct SinkConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// How deliveries are verified (`None`: they are not).
    pub signing: Option<Signing>,
    /// Where each delivery's id is.
    pub id: IdSource,
    /// The largest body accepted, in bytes; larger ones get 413.
    pub max_body: usize,
    /// After this long, an undelivered submission is lost and a later
    /// delivery is late.
    #[serde(with = "super::duration::serde_ms")]
    pub deadline: Duration,
    /// The programmed routes, in file order.
    pub routes: Vec<RouteConfig>,
    /// What the sink holds out against: the ledger's cap, the header
    /// timeout and the connection limit.
    #[serde(flatten)]
    pub limits: SinkLimits,
}

/// The sink's defences against senders that are not the service under
/// test: `max_ids`, `header_timeout` and `max_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SinkLimits {
    /// The most delivery ids the ledger keeps. Past it, a new id is still
    /// answered as programmed but is not recorded (nor deduplicated), and
    /// is counted in `ids_over_cap`.
    pub max_ids: u64,
    /// A connection that has not sent a whole request head within this is
    /// closed, and counted in `header_timeouts`.
    #[serde(with = "super::duration::serde_ms")]
    pub header_timeout: Duration,
    /// The most connections served at once; one more is closed as soon as
    /// it is accepted, and counted in `connections_refused`.
    pub max_connections: usize,
}

/// The default cap on the ledger: a million ids (at most 160 MB).
pub const DEFAULT_MAX_IDS: u64 = 1_000_000;
/// The default header timeout.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default connection limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

impl Default for SinkLimits {
    fn default() -> Self {
        SinkLimits {
            max_ids: DEFAULT_MAX_IDS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// The default deadline for a delivery.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// A route as written: where it applies and how it answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name, for the control API (default: its path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The path, or a prefix ending in `*` (`"*"` alone matches every path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The status of a successful answer (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The status of a failed answer (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_status: Option<u16>,
    /// Answer successfully this many times, then fail every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_after: Option<u64>,
    /// Fail this many times, then answer successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_times: Option<u64>,
    /// Fail every n-th POST (the n-th, the 2n-th, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_every: Option<u64>,
    /// Answer with these statuses in turn, over and over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<Vec<u16>>,
    /// Delay before every answer: `"20ms"`, `"10ms..50ms"` (uniform),
    /// `"exp(20ms)"` (exponential with that mean) or `"normal(50ms,10ms)"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
    /// Failures hang: no answer for this long, then the connection is
    /// reset. With no failure pattern, every POST hangs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<String>,
    /// Failures reset the connection instead of answering. With no failure
    /// pattern, every POST is reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
    /// A `Retry-After` header (seconds) on failed answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// `[sink]` in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSink {
    /// The sink itself.
    #[serde(flatten)]
    pub config: SinkConfig,
    /// Which submissions deliveries are matched with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlate: Option<Correlate>,
}

/// `[sink] correlate`.
#[derive(Debug, Clone, Serialize)]
pub struct Correlate {
    /// The endpoint's name.
    pub endpoint: String,
    /// Its index.
    #[serde(skip)]
    pub index: usize,
    /// JSON pointer to the event id in the request body.
    pub pointer: String,
}
