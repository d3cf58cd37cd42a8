//! The embedded demo service: a small, self-contained HTTP target that looks
//! like a real image API (search, thumbnails, webhooks, health), so loadcheck
//! can be tried, tested and demonstrated without a staging deploy.
//!
//! Its latency is shaped on purpose (jitter with a long tail on search) and it
//! can stall periodically, which makes coordinated omission visible: a tool
//! that only times requests it managed to send would miss the stalls.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::latency::{Route, Shaping};
use serde::{Deserialize, Serialize};

/// Settings of one demo service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Value of the `x-app-version` header on every response.
    pub app_version: String,
    /// Length of the stall cycle, measured from service start; `None` (or zero) disables stalls.
    pub stall_every: Option<Duration>,
    /// How long each stall lasts at the start of every cycle; zero disables stalls.
    pub stall_for: Duration,
    /// Seed for the latency jitter; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// A simulated rollout to another version, seen only in the version
    /// header.
    pub rollout: Option<DemoRollout>,
    /// Where accepted webhooks are delivered, if anywhere.
    pub dispatcher: Option<DemoDispatcher>,
    /// Per-route latency (`--latency`, `--slow`, `--roll-slow`).
    pub shaping: Shaping,
}

/// The webhook dispatcher of a demo instance (compared by identity).
#[derive(Clone)]
pub struct DemoDispatcher(pub Arc<super::dispatch::Dispatcher>);

impl std::fmt::Debug for DemoDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoDispatcher")
    }
}

impl PartialEq for DemoDispatcher {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DemoDispatcher {}

/// A simulated rollout: from `at` after the service starts, a share of
/// responses rising linearly from 0 to 1 over `over` carries `to` instead of
/// the service's version; after that, all of them do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRollout {
    /// The version rolled out.
    pub to: String,
    /// When it starts, from the service's start.
    pub at: Duration,
    /// How long both versions serve.
    pub over: Duration,
}

impl DemoRollout {
    /// The share of responses with the new version `elapsed` after start.
    fn share(&self, elapsed: Duration) -> f64 {
        if elapsed < self.at {
            0.0
        } else if self.over.is_zero() || elapsed >= self.at + self.over {
            1.0
        } else {
            (elapsed - self.at).as_secs_f64() / self.over.as_secs_f64()
        }
    }
}

impl Default for DemoConfig {
    /// Version `v1`, no stalls, OS-seeded jitter.
    fn default() -> Self {
        Self {
            app_version: "v1".to_owned(),
            stall_every: None,
            stall_for: Duration::ZERO,
            seed: None,
            rollout: None,
            dispatcher: None,
            shaping: Shaping::default(),
        }
    }
}

/// Name of the header carrying the configured version.
const VERSION_HEADER: HeaderName = HeaderName::from_static("x-app-version");
/// Path of the health route, which never stalls.
const HEALTH_PATH: &str = "/health";
/// Size of every thumbnail body.
const THUMB_SIZE: usize = 4 * 1024;
/// The eight-byte PNG file signature that starts every thumbnail.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// Fixed part of the search latency.
const SEARCH_BASE: Duration = Duration::from_millis(2);
/// Mean of the exponential search jitter, in seconds.
const SEARCH_JITTER_MEAN_S: f64 = 0.001;
/// Upper bound of the exponential jitter, in seconds, so no draw is absurd.
const SEARCH_JITTER_CAP_S: f64 = 0.02;
/// Fraction of searches that land in the slow tail.
const SEARCH_SLOW_FRACTION: f64 = 0.01;
/// Range of slow-tail search latencies, in microseconds.
const SEARCH_SLOW_US: std::ops::RangeInclusive<u64> = 20_000..=50_000;
/// Number of hits in every search result.
const SEARCH_HITS: u64 = 3;
/// Most per-service generators one thread keeps (only tests run many services).
const MAX_RNGS_PER_THREAD: usize = 8;

/// Source of distinct ids for service instances (keys of the per-thread generators).
static NEXT_SERVICE_ID: AtomicU64 = AtomicU64::new(0);
/// Source of distinct indexes for threads (mixed into seeded generators).
static NEXT_THREAD_INDEX: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's index, mixed into seeds so threads draw different sequences.
    static THREAD_INDEX: u64 = NEXT_THREAD_INDEX.fetch_add(1, Ordering::Relaxed);
    /// This thread's generators, one per service instance, so the hot path takes no lock.
    static RNGS: RefCell<Vec<(u64, SmallRng)>> = const { RefCell::new(Vec::new()) };
}

/// The stall schedule, normalised so that it is never degenerate.
#[derive(Debug, Clone, Copy)]
struct Stall {
    /// Cycle length; never zero.
    every: Duration,
    /// Stall length at the start of each cycle; never zero, at most `every`.
    length: Duration,
}

impl Stall {
    /// Builds the schedule, or `None` when stalls are disabled.
    fn from_config(cfg: &DemoConfig) -> Option<Self> {
        let every = cfg.stall_every.filter(|every| !every.is_zero())?;
        let length = cfg.stall_for.min(every);
        (!length.is_zero()).then_some(Self { every, length })
    }

    /// Time left in the current stall `elapsed` after start, or `None` outside stalls.
    fn remaining(&self, elapsed: Duration) -> Option<Duration> {
        let phase = elapsed.as_nanos() % self.every.as_nanos();
        let phase = Duration::from_nanos(u64::try_from(phase).unwrap_or(u64::MAX));
        (phase < self.length).then(|| self.length - phase)
    }
}

/// State shared by all handlers of one service instance.
#[derive(Debug)]
struct Shared {
    /// Distinct id of this instance, keying the per-thread generators.
    id: u64,
    /// When the instance was built; stall cycles count from here.
    start: Instant,
    /// Stall schedule, if any.
    stall: Option<Stall>,
    /// Jitter seed, if any.
    seed: Option<u64>,
    /// The thumbnail body, built once and shared by reference count.
    thumb: Bytes,
    /// Delivers accepted webhooks, when configured.
    dispatcher: Option<Arc<super::dispatch::Dispatcher>>,
    /// Per-route latency.
    shaping: Shaping,
}

impl Shared {
    /// Builds the state for `cfg`, starting the stall clock now.
    fn new(cfg: &DemoConfig) -> Self {
        Self {
            id: NEXT_SERVICE_ID.fetch_add(1, Ordering::Relaxed),
            start: Instant::now(),
            stall: Stall::from_config(cfg),
            seed: cfg.seed,
            thumb: thumbnail_bytes(),
            dispatcher: cfg.dispatcher.as_ref().map(|d| d.0.clone()),
            shaping: cfg.shaping.clone(),
        }
    }

    /// Sleeps until the end of the current stall, if the service is in one.
    async fn wait_out_stall(&self) {
        let remaining = self.stall.and_then(|s| s.remaining(self.start.elapsed()));
        if let Some(remaining) = remaining {
            tokio::time::sleep(remaining).await;
        }
    }

    /// Runs `f` with this thread's generator for this instance, creating it on first use.
    fn with_rng<R>(&self, f: impl FnOnce(&mut SmallRng) -> R) -> R {
        RNGS.with(|cell| {
            let mut rngs = cell.borrow_mut();
            let index = match rngs.iter().position(|(id, _)| *id == self.id) {
                Some(index) => index,
                None => {
                    if rngs.len() >= MAX_RNGS_PER_THREAD {
                        rngs.remove(0);
                    }
                    rngs.push((self.id, self.new_rng()));
                    rngs.len() - 1
                }
            };
            f(&mut rngs[index].1)
        })
    }

    /// A new generator for the current thread: seeded from the config mixed with the thread index, or from the OS.
    fn new_rng(&self) -> SmallRng {
        let thread = THREAD_INDEX.with(|index| *index);
        match self.seed {
            Some(seed) => SmallRng::seed_from_u64(seed ^ thread.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            None => SmallRng::try_from_os_rng()
                .unwrap_or_else(|_| SmallRng::seed_from_u64(self.start.elapsed().as_nanos() as u64 ^ thread)),
        }
    }
}

/// Shared state as handlers see it.
type AppState = Arc<Shared>;

/// Builds the demo service's routes, with the version header on every response and the stall mode on all but `/health`.
pub fn router(cfg: DemoConfig) -> Router {
    let version = version_header_value(&cfg.app_version);
    let state: AppState = Arc::new(Shared::new(&cfg));
    let rollout = cfg
        .rollout
        .clone()
        .map(|r| (version_header_value(&r.to), r, state.start));
    let responses = Arc::new(AtomicU64::new(0));
    Router::new()
        .route("/v1/images/", get(search))
        .route("/v1/images/{id}/thumb/", get(thumb))
        .route("/api/v1/webhooks", post(webhook))
        .route(HEALTH_PATH, get(health))
        .route(DISPATCH_STATS_PATH, get(dispatch_stats))
        .layer(middleware::from_fn_with_state(state.clone(), stall))
        .layer(middleware::from_fn_with_state(
            (
                state.clone(),
                Arc::new(Versions {
                    version,
                    rollout,
                    responses,
                }),
            ),
            shape,
        ))
        .with_state(state)
}

/// The versions a response may carry, and the rollout's progress.
struct Versions {
    version: HeaderValue,
    rollout: Option<(HeaderValue, DemoRollout, Instant)>,
    responses: Arc<AtomicU64>,
}

impl Versions {
    /// Whether this request gets the new version: a low-discrepancy
    /// sequence spreads it evenly at the rollout's current share.
    fn draw_new(&self) -> bool {
        let Some((_, r, start)) = &self.rollout else {
            return false;
        };
        let n = self.responses.fetch_add(1, Ordering::Relaxed);
        let x = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
        x < r.share(start.elapsed())
    }
}

/// Middleware: picks the version before the handler runs (so a route can be
/// slower on the new version), holds the request for the route's shaped
/// latency, and stamps the version on the response.
async fn shape(State((state, versions)): State<(AppState, Arc<Versions>)>, request: Request, next: Next) -> Response {
    let new = versions.draw_new();
    let route = Route::of_path(request.uri().path());
    if let Some(delay) = route.and_then(|r| state.with_rng(|rng| state.shaping.draw(r, new, rng))) {
        super::latency::sleep_precisely(delay).await;
    }
    let mut response = next.run(request).await;
    let version = match (&versions.rollout, new) {
        (Some((to, _, _)), true) => to.clone(),
        _ => versions.version.clone(),
    };
    response.headers_mut().insert(VERSION_HEADER, version);
    response
}

/// Serve on an already bound listener until `shutdown` resolves, then drain in-flight requests (axum graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: DemoConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(cfg))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The version as a header value; bytes a header cannot carry become `_`.
fn version_header_value(version: &str) -> HeaderValue {
    let cleaned: String = version
        .chars()
        .map(|c| if c == '\t' || (' '..='~').contains(&c) { c } else { '_' })
        .collect();
    HeaderValue::from_str(&cleaned).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Middleware: holds requests (other than `/health`) through stalls, both on arrival and before answering.
async fn stall(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() == HEALTH_PATH {
        return next.run(request).await;
    }
    state.wait_out_stall().await;
    let response = next.run(request).await;
    state.wait_out_stall().await;
    response
}

/// Query of the search route.
#[derive(Debug, Deserialize)]
struct SearchParams {
    /// The search word; empty when absent.
    #[serde(default)]
    q: String,
}

/// Body of a search response.
#[derive(Debug, Serialize)]
struct SearchResults {
    /// The hits.
    results: Vec<SearchHit>,
    /// The query, echoed.
    q: String,
}

/// One search hit.
#[derive(Debug, Serialize)]
struct SearchHit {
    /// Image id, derived from the query.
    id: u64,
    /// Display title.
    title: String,
    /// Path of the hit's thumbnail.
    thumb: String,
}

/// `GET /v1/images/?q=WORD`: a few hits after a few milliseconds of long-tailed latency.
async fn search(State(state): State<AppState>, Query(params): Query<SearchParams>) -> Json<SearchResults> {
    // A shaped search has had its latency in the `shape` middleware.
    if !state.shaping.shapes(Route::Search) {
        let delay = state.with_rng(search_delay);
        tokio::time::sleep(delay).await;
    }
    let base = fnv1a(params.q.as_bytes()) % 1_000_000;
    let results = (0..SEARCH_HITS)
        .map(|n| SearchHit {
            id: base + n,
            title: format!("{} #{}", params.q, n + 1),
            thumb: format!("/v1/images/{}/thumb/", base + n),
        })
        .collect();
    Json(SearchResults { results, q: params.q })
}

/// Draws one search latency: base plus exponential jitter, or 20–50 ms for the slow tail.
fn search_delay(rng: &mut SmallRng) -> Duration {
    if rng.random_bool(SEARCH_SLOW_FRACTION) {
        return Duration::from_micros(rng.random_range(SEARCH_SLOW_US));
    }
    let uniform: f64 = rng.random();
    let jitter = -SEARCH_JITTER_MEAN_S * (1.0 - uniform).ln();
    SEARCH_BASE + Duration::from_secs_f64(jitter.clamp(0.0, SEARCH_JITTER_CAP_S))
}

/// FNV-1a hash, to derive stable ids from a query.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `GET /v1/images/{id}/thumb/`: 4 KiB of PNG-looking bytes, at once.
async fn thumb(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/png")], state.thumb.clone())
}

/// The thumbnail body: the PNG signature followed by a fixed byte pattern.
fn thumbnail_bytes() -> Bytes {
    let filler = (0..THUMB_SIZE - PNG_SIGNATURE.len()).map(|i| (i % 251) as u8);
    PNG_SIGNATURE.iter().copied().chain(filler).collect::<Vec<u8>>().into()
}

/// Body of a webhook acknowledgement.
#[derive(Debug, Serialize)]
struct WebhookAccepted {
    /// Random (version 4) UUID of the accepted event.
    id: String,
}

/// Path of the dispatcher's counters.
pub const DISPATCH_STATS_PATH: &str = "/_demo/dispatch";

/// `POST /api/v1/webhooks`: accepts any body and answers 202 with the
/// event's id: the body's `"id"` when it is a JSON object with a string id,
/// a fresh UUID otherwise. With a dispatcher, the event is queued for
/// delivery under that id (a full queue answers 503).
async fn webhook(State(state): State<AppState>, body: Bytes) -> Response {
    let given = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .filter(|id| !id.is_empty() && id.len() <= 200);
    let id = given.unwrap_or_else(|| {
        let random: [u8; 16] = state.with_rng(|rng| rng.random());
        uuid::Builder::from_random_bytes(random).into_uuid().to_string()
    });
    if let Some(d) = &state.dispatcher
        && d.enqueue(id.clone(), body).is_err()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "the delivery queue is full\n").into_response();
    }
    (StatusCode::ACCEPTED, Json(WebhookAccepted { id })).into_response()
}

/// `GET /_demo/dispatch`: the dispatcher's counters and breaker state.
async fn dispatch_stats(State(state): State<AppState>) -> Response {
    match &state.dispatcher {
        Some(d) => Json(d.stats()).into_response(),
        None => (StatusCode::NOT_FOUND, "this instance delivers no webhooks\n").into_response(),
    }
}

/// `GET /health`: `ok`, never stalled.
async fn health() -> &'static str {
    "ok"
}

#[cfg(test)]
mod rollout_tests {
    use super::*;

    #[test]
    fn the_new_version_share_rises_linearly() {
        let r = DemoRollout {
            to: "v2".into(),
            at: Duration::from_secs(7),
            over: Duration::from_secs(4),
        };
        assert_eq!(r.share(Duration::from_secs(6)), 0.0);
        assert_eq!(r.share(Duration::from_secs(9)), 0.5);
        assert_eq!(r.share(Duration::from_secs(11)), 1.0);
        let instant = DemoRollout {
            over: Duration::ZERO,
            ..r
        };
        assert_eq!(instant.share(Duration::from_secs(7)), 1.0);
    }
}
