//! One request from choice to measurement: pick the endpoint by weight,
//! render it, send it on a connection slot within the timeout, and turn
//! what happened into a [`Sample`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Request;
use rand::Rng;
use rand::rngs::SmallRng;
use tokio::sync::Notify;

use super::client::{Conn, Connector, Fresh};
use super::h2::{Leased, Pool, SendError};
use super::request::RequestFactory;
use super::wire::{Origin, Protocol};
use crate::metrics::live::Live;
use crate::metrics::{ErrorClass, Outcome, Sample};
use crate::plan::Plan;
use crate::plan::template::RenderCtx;

/// A connection slot: a connection kept between requests, or none yet.
#[derive(Default)]
pub struct Slot(Option<Conn>);

impl Slot {
    /// Whether the slot holds a connection that can take a request.
    pub fn is_usable(&mut self) -> bool {
        self.0.as_mut().is_some_and(Conn::is_usable)
    }

    /// Whether the slot holds a share of a pooled HTTP/2 connection, which
    /// the open model gives back after each request.
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Some(Conn::H2(_)))
    }
}

/// A worker's connections that requests share: its HTTP/2 pool, how many
/// streams one connection may carry for the scenario at hand, and, in the
/// open model, its idle connections.
#[derive(Clone, Copy)]
pub struct Sharing<'a> {
    /// The worker's HTTP/2 connections.
    pub pool: &'a Pool,
    /// The scenario's `h2_streams`.
    pub streams: u32,
    /// The open model's idle connections, per origin.
    pub idle: Option<&'a Idle>,
}

/// Connections being made at once per origin by one worker in the open
/// model. A TLS handshake costs about 100 µs of CPU: without a bound, at
/// 20,000 req/s every request that arrives while the first connections
/// are being made opens one more, and the generator spirals into
/// handshakes. With it, such a request waits for whichever comes first: a
/// connection that becomes idle, or a turn to connect. 64 keeps the ramp
/// fast for slow servers (64 connections per round trip per worker).
const MAX_CONNECTING: u32 = 64;

/// The open model's idle connections (one request at a time each), per
/// origin, and the connections being made.
pub struct Idle {
    slots: RefCell<Vec<Vec<Slot>>>,
    connecting: Vec<Cell<u32>>,
    /// A connection went idle, or a turn to connect came free.
    freed: Notify,
    /// Connections given back since the last sweep.
    given: Cell<u32>,
}

/// Every this many connections given back, the idle lists are swept of
/// connections the server has closed. The lists are stacks (the newest
/// connection goes out first, warm); after a burst, the ones at the bottom
/// may wait for many minutes, and a server that times them out leaves them
/// half-closed (`CLOSE_WAIT`), each holding a file descriptor.
const SWEEP_EVERY: u32 = 1024;

/// A turn to make a connection; given back when dropped.
struct ConnectTurn<'a>(&'a Idle, usize);

impl Drop for ConnectTurn<'_> {
    fn drop(&mut self) {
        let c = &self.0.connecting[self.1];
        c.set(c.get().saturating_sub(1));
        self.0.freed.notify_one();
    }
}

/// What a request without a connection gets.
enum Turn<'a> {
    Idle(Slot),
    Connect(ConnectTurn<'a>),
}

impl Idle {
    /// No idle connections yet, for `n_origins` origins.
    pub fn new(n_origins: usize) -> Self {
        Idle {
            slots: RefCell::new((0..n_origins).map(|_| Vec::new()).collect()),
            connecting: (0..n_origins).map(|_| Cell::new(0)).collect(),
            freed: Notify::new(),
            given: Cell::new(0),
        }
    }

    /// An idle connection to origin `o`, if one is at hand.
    pub fn take(&self, o: usize) -> Slot {
        self.slots.borrow_mut()[o].pop().unwrap_or_default()
    }

    /// Keeps a connection that finished its request, for the next one.
    pub fn give(&self, o: usize, slot: Slot) {
        let mut slots = self.slots.borrow_mut();
        slots[o].push(slot);
        let given = self.given.get() + 1;
        if given >= SWEEP_EVERY {
            // Closed connections are dropped, which closes their sockets.
            for list in slots.iter_mut() {
                list.retain_mut(Slot::is_usable);
            }
            self.given.set(0);
        } else {
            self.given.set(given);
        }
        drop(slots);
        self.freed.notify_one();
    }

    /// Waits for an idle connection or a turn to connect.
    async fn turn(&self, o: usize) -> Turn<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.slots.borrow_mut()[o].pop() {
                return Turn::Idle(slot);
            }
            let c = &self.connecting[o];
            if c.get() < MAX_CONNECTING {
                c.set(c.get() + 1);
                return Turn::Connect(ConnectTurn(self, o));
            }
            freed.await;
        }
    }
}

/// A request ready to send.
pub struct Prepared {
    /// The endpoint's index.
    pub endpoint: usize,
    key: usize,
    /// Boxed: it moves from the pacer to the send and on to the
    /// connection, and each future it passes through would keep its own
    /// 256 bytes for it.
    request: Box<Request<Bytes>>,
    /// The event id of a submission the sink will match deliveries with.
    event: Option<Box<str>>,
}

/// Submissions of one endpoint, matched by the sink with deliveries.
pub struct Correlator {
    /// The endpoint whose accepted requests are submissions.
    pub endpoint: usize,
    /// JSON pointer to the event id in its body.
    pub pointer: String,
    /// The sink's state.
    pub sink: std::sync::Arc<crate::sink::Sink>,
}

/// A measured request.
pub struct Measured {
    /// The stats key: `(phase × scenarios + scenario) × endpoints + endpoint`.
    pub key: usize,
    /// What was measured.
    pub sample: Sample,
    /// When it ended.
    pub end: Instant,
    /// The version header's value, if the response had one.
    pub version: Option<http::HeaderValue>,
}

/// How many times a request is sent again when a connection turned out to
/// be going away before anything was written.
const MAX_NOT_SENT: u32 = 3;

/// Everything needed to send requests of a plan; shared by every worker.
pub struct Exchange {
    plan: std::sync::Arc<Plan>,
    live: std::sync::Arc<Live>,
    factory: RequestFactory,
    connector: Connector,
    origins: Vec<Origin>,
    endpoint_origin: Vec<usize>,
    /// Per scenario: `(endpoint, cumulative weight)` and the total weight.
    weights: Vec<(Vec<(usize, u32)>, u32)>,
    /// Set when the plan's `[sink]` matches deliveries with submissions.
    pub(super) correlator: Option<Correlator>,
    /// Per origin: the preflight's connection spoke HTTP/2.
    pub(super) speaks_h2: Vec<bool>,
}

impl Exchange {
    /// Prepares the plan's endpoints for sending.
    pub fn new(
        plan: std::sync::Arc<Plan>,
        live: std::sync::Arc<Live>,
        connector: Connector,
        origins: Vec<Origin>,
        endpoint_origin: Vec<usize>,
    ) -> anyhow::Result<Self> {
        let authorities: Vec<_> = endpoint_origin.iter().map(|&o| origins[o].authority.clone()).collect();
        let factory = RequestFactory::new(&plan, &authorities)?;
        let weights = plan
            .scenarios
            .iter()
            .map(|s| {
                let mut total = 0;
                let cumulative = s
                    .endpoints
                    .iter()
                    .filter(|(_, w)| *w > 0)
                    .map(|&(e, w)| {
                        total += w;
                        (e, total)
                    })
                    .collect();
                (cumulative, total)
            })
            .collect();
        Ok(Exchange {
            plan,
            live,
            factory,
            connector,
            origins,
            endpoint_origin,
            weights,
            correlator: None,
            speaks_h2: Vec::new(),
        })
    }

    /// How many endpoints the plan has.
    pub fn n_endpoints(&self) -> usize {
        self.plan.endpoints.len()
    }

    /// How many distinct origins the plan sends to.
    pub fn n_origins(&self) -> usize {
        self.origins.len()
    }

    /// The origin index of an endpoint.
    pub fn origin_of(&self, endpoint: usize) -> usize {
        self.endpoint_origin[endpoint]
    }

    /// Picks an endpoint of scenario `si` by weight and renders its request,
    /// tagged with the current phase; with a `peer` (the baseline target of
    /// a duet), renders the same request for it too, from the same draws.
    /// `None` only if a rendered value is invalid in a request, which plan
    /// validation rules out.
    pub fn prepare(
        &self,
        peer: Option<&Exchange>,
        si: usize,
        rng: &mut SmallRng,
        vu: u64,
        iteration: u64,
    ) -> Option<(Prepared, Option<Prepared>)> {
        let (cumulative, total) = &self.weights[si];
        let endpoint = if cumulative.len() == 1 {
            cumulative[0].0
        } else {
            let r = rng.random_range(0..*total);
            cumulative[cumulative.partition_point(|&(_, c)| c <= r)].0
        };
        // The clock is read only for endpoints that render something, and
        // once for both sides of a duet: a signature's timestamp is the same.
        let now_unix = if self.factory.is_fixed(endpoint) {
            0
        } else {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        };
        let mirrored = match peer {
            // A copy of the generator's state: the peer's request takes
            // exactly the draws this one takes.
            Some(p) => Some(p.render(si, endpoint, &mut rng.clone(), vu, iteration, now_unix)?),
            None => None,
        };
        let prepared = self.render(si, endpoint, rng, vu, iteration, now_unix)?;
        Some((prepared, mirrored))
    }

    /// Renders endpoint `endpoint`'s request for scenario `si`.
    fn render(
        &self,
        si: usize,
        endpoint: usize,
        rng: &mut SmallRng,
        vu: u64,
        iteration: u64,
        now_unix: u64,
    ) -> Option<Prepared> {
        let mut scratch = String::new();
        let mut ctx = RenderCtx {
            vars: &self.plan.vars,
            vu,
            iteration,
            rng,
            now_unix,
        };
        let request = self.factory.build(endpoint, &mut ctx, &mut scratch).ok()?;
        let event = match &self.correlator {
            Some(c) if c.endpoint == endpoint => event_id(request.body(), &c.pointer),
            _ => None,
        };
        let phase = if self.plan.rollout.is_some() {
            self.live.phase().index()
        } else {
            0
        };
        Some(Prepared {
            endpoint,
            key: (phase * self.plan.scenarios.len() + si) * self.n_endpoints() + endpoint,
            request: Box::new(request),
            event,
        })
    }

    /// Sends a prepared request on `slot` (connecting first if needed) and
    /// measures it. `intended` is when it was meant to go: the open model's
    /// schedule, or now in the closed model. Returns the measurement, or
    /// `None` if `cut_at` (the scenario's hard end) came first: an
    /// interrupted request is not a measurement.
    pub async fn send(
        &self,
        slot: &mut Slot,
        sharing: Sharing<'_>,
        prepared: Prepared,
        intended: Instant,
        cut_at: Option<Instant>,
    ) -> Option<Measured> {
        let origin_index = self.endpoint_origin[prepared.endpoint];
        let origin = &self.origins[origin_index];
        let actual = Instant::now();
        let timeout_at = actual + self.plan.timeout;
        let cut = cut_at.filter(|c| *c < timeout_at);
        let mut protocol = None;
        // One timer per request covers both the request timeout and the cut.
        let result = tokio::time::timeout_at(cut.unwrap_or(timeout_at).into(), async {
            let mut request = prepared.request;
            let mut attempts = 0;
            loop {
                if !slot.is_usable() {
                    slot.0 = None;
                    let mut turn = None;
                    if let (Some(idle), false) = (sharing.idle, sharing.pool.speaks_h2(origin_index)) {
                        match idle.turn(origin_index).await {
                            Turn::Idle(other) => {
                                *slot = other;
                                continue;
                            }
                            Turn::Connect(t) => turn = Some(t),
                        }
                    }
                    slot.0 = Some(self.open_boxed(origin_index, sharing).await?);
                    drop(turn);
                }
                let conn = slot.0.as_mut().ok_or(ErrorClass::Connect)?;
                protocol = Some(conn.protocol());
                match conn.send(origin, request, self.live.version_header.as_ref()).await {
                    Ok(resp) => return Ok(resp),
                    Err(SendError::Failed(class)) => return Err(class),
                    Err(SendError::NotSent(back)) if attempts < MAX_NOT_SENT => {
                        // The connection was going away before the request
                        // went out: send it on another.
                        attempts += 1;
                        request = back;
                        slot.0 = None;
                    }
                    Err(SendError::NotSent(_)) => return Err(ErrorClass::Refused),
                }
            }
        })
        .await;
        let end = Instant::now();
        if result.is_err() && cut.is_some() {
            slot.0 = None;
            return None;
        }
        let mut version = None;
        let outcome = match result {
            Ok(Ok(resp)) => {
                version = resp.version;
                let ok = self.expects(prepared.endpoint, resp.status);
                if let (true, Some(event), Some(c)) = (ok, &prepared.event, &self.correlator) {
                    // Accepted: the service now owes a delivery of it.
                    c.sink.ledger.submitted(event, actual);
                }
                Outcome::Response {
                    status: resp.status,
                    ok,
                }
            }
            Ok(Err(class)) => Outcome::Failed(class),
            Err(_) => Outcome::Failed(ErrorClass::Timeout),
        };
        if let (Outcome::Failed(ErrorClass::Timeout), Some(Conn::H2(lease))) = (outcome, &slot.0) {
            lease.retire();
        }
        if matches!(outcome, Outcome::Failed(_)) {
            // The connection's state is unknown after a failure: start afresh.
            // (A share of an HTTP/2 connection is only given back: its other
            // streams go on, and the pool drops the connection if it broke.)
            slot.0 = None;
        }
        let sample = Sample {
            outcome,
            duration_us: end.saturating_duration_since(intended).as_micros() as u64,
            service_us: end.saturating_duration_since(actual).as_micros() as u64,
            http2: matches!(outcome, Outcome::Response { .. }) && protocol == Some(Protocol::Http2),
        };
        Some(Measured {
            key: prepared.key,
            sample,
            end,
            version,
        })
    }

    /// [`Self::open`], boxed. Made in a plain function, so that the future
    /// that awaits it holds only the box: a future built inside an `async`
    /// block keeps its own space there even after it is moved into a box,
    /// and this one would otherwise sit in every VU's state for the whole
    /// run although it is used only while connecting.
    fn open_boxed<'a>(
        &'a self,
        o: usize,
        sharing: Sharing<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Conn, ErrorClass>> + 'a>> {
        Box::pin(self.open(o, sharing))
    }

    /// The connector's `connect`, boxed, for the same reason.
    fn connect_boxed<'a>(
        &'a self,
        origin: &'a Origin,
    ) -> Pin<Box<dyn Future<Output = Result<Fresh, ErrorClass>> + 'a>> {
        Box::pin(self.connector.connect(origin))
    }

    /// A connection for a request to origin `o`: a share of a pooled
    /// HTTP/2 connection when the origin speaks HTTP/2, else a new one.
    async fn open(&self, o: usize, sharing: Sharing<'_>) -> Result<Conn, ErrorClass> {
        let origin = &self.origins[o];
        // A connection this request waited for was not made (its maker
        // timed out, failed, or got HTTP/1.1): try again, as its maker this
        // time if need be, so that a failure is this request's own. Each
        // pass either returns or makes a connection; the request's timeout
        // bounds them all.
        while sharing.streams > 1 && sharing.pool.speaks_h2(o) {
            match sharing.pool.lease(o, sharing.streams).await {
                Leased::Ready(lease) => return Ok(Conn::H2(lease)),
                Leased::Failed => continue,
                Leased::Connect(pending) => {
                    return match self.connect_boxed(origin).await? {
                        Fresh::H2(c) => Ok(Conn::H2(sharing.pool.fulfil(pending, c))),
                        Fresh::H1(c) => {
                            // ALPN picked HTTP/1.1 this time (`auto`): the
                            // origin changed its mind.
                            sharing.pool.not_h2(o);
                            drop(pending);
                            Ok(Conn::H1(c))
                        }
                    };
                }
            }
        }
        match self.connect_boxed(origin).await? {
            Fresh::H1(c) => Ok(Conn::H1(c)),
            // One stream per connection: the slot owns it and drives it.
            Fresh::H2(c) if sharing.streams <= 1 => Ok(Conn::H2Own(c.own())),
            Fresh::H2(c) => Ok(Conn::H2(sharing.pool.adopt(o, c))),
        }
    }

    /// A worker's HTTP/2 pool for this plan's origins.
    pub fn h2_pool(&self) -> Pool {
        let forced = self.connector.forces_h2();
        let known = |o: usize| forced || self.speaks_h2.get(o).copied().unwrap_or(false);
        Pool::new((0..self.origins.len()).map(known), self.connector.is_local())
    }

    fn expects(&self, endpoint: usize, status: u16) -> bool {
        let expect = &self.plan.endpoints[endpoint].expect;
        if expect.is_empty() {
            (200..400).contains(&status)
        } else {
            expect.contains(&status)
        }
    }
}

/// The event id at `pointer` in a JSON body (a string or a number).
fn event_id(body: &[u8], pointer: &str) -> Option<Box<str>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.as_str().into()),
        serde_json::Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10: the open model over TLS spiralled into one handshake per
    /// request at 20,000 req/s.
    #[tokio::test]
    async fn past_the_bound_a_request_waits_for_an_idle_connection_or_a_turn() {
        let idle = Idle::new(1);
        let mut turns = Vec::new();
        for _ in 0..MAX_CONNECTING {
            match idle.turn(0).await {
                Turn::Connect(t) => turns.push(t),
                Turn::Idle(_) => panic!("no connection is idle yet"),
            }
        }
        // The next request waits…
        let waiting = idle.turn(0);
        tokio::pin!(waiting);
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), &mut waiting).await;
        assert!(early.is_err(), "it waited while {MAX_CONNECTING} were being made");
        // …and takes the first connection that goes idle instead of making one.
        idle.give(0, Slot::default());
        assert!(matches!(waiting.await, Turn::Idle(_)));
        // A connection made frees a turn.
        drop(turns.pop());
        let again = idle.turn(0).await;
        assert!(matches!(again, Turn::Connect(_)));
        assert_eq!(idle.connecting[0].get(), MAX_CONNECTING);
    }

    /// Issue 17's soak: connections the server had closed waited at the
    /// bottom of the idle stack for the rest of the hour.
    #[tokio::test]
    async fn connections_the_server_closed_are_swept_from_the_idle_list() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let idle = Idle::new(1);
        let mut servers = Vec::new();
        for _ in 0..3 {
            let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
            let h1 = super::super::h1::H1::new(
                super::super::h1::Io::Tcp(client.unwrap()),
                crate::plan::ResponseLimits::default(),
            );
            idle.give(0, Slot(Some(Conn::H1(h1))));
            servers.push(server.unwrap().0);
        }
        // The server times out the two at the bottom of the stack.
        servers.truncate(1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(idle.slots.borrow()[0].len(), 3);
        for _ in 3..SWEEP_EVERY {
            idle.give(0, Slot::default());
        }
        let mut left = idle.slots.borrow_mut();
        assert_eq!(left[0].len(), 1, "only the open connection is kept");
        assert!(left[0][0].is_usable());
    }
}
