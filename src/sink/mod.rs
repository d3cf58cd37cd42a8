//! The webhook sink: receives what the service under test delivers, checks
//! each delivery's signature, finds duplicates exactly, matches deliveries
//! with loadcheck's submissions, and answers as programmed.
//!
//! It runs on its own (`loadcheck sink --listen ADDR --config sink.toml`)
//! or inside `loadcheck run` (`[sink]` in the plan), where its figures land
//! in `run.json` under `delivery`.

pub(crate) mod behaviour;
pub(crate) mod ledger;
mod server;
pub(crate) mod stats;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use behaviour::Behaviour;
pub use ledger::Ledger;
pub use server::{RunningSink, start};
pub use stats::{Counters, Guards, StatsView};

use crate::metrics::delivery::{DeliveryReport, SinkStats};
use crate::plan::{IdSource, RouteConfig, SinkConfig};
use crate::signing::Scheme;

/// One route, live.
struct Route {
    name: String,
    /// The path; a prefix when `prefix`.
    path: String,
    prefix: bool,
    config: RouteConfig,
    behaviour: Behaviour,
    /// POSTs answered on this route since its behaviour was last set.
    count: Arc<AtomicU64>,
}

impl Route {
    fn new(config: RouteConfig) -> Result<Self, String> {
        let behaviour = config
            .behaviour()
            .map_err(|(field, m)| format!("field `{field}`: {m}"))?;
        let raw_path = config.path.clone().unwrap_or_else(|| "*".into());
        let (path, prefix) = match raw_path.strip_suffix('*') {
            Some(p) => (p.to_string(), true),
            None => (raw_path.clone(), false),
        };
        Ok(Route {
            name: config.name.clone().unwrap_or(raw_path),
            path,
            prefix,
            config,
            behaviour,
            count: Arc::new(AtomicU64::new(0)),
        })
    }

    fn matches(&self, path: &str) -> bool {
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// The sink's shared state.
pub struct Sink {
    id: IdSource,
    max_body: usize,
    deadline: Duration,
    scheme: Option<Arc<dyn Scheme>>,
    routes: RwLock<Vec<Route>>,
    fallback: Behaviour,
    /// One entry per delivery id.
    pub ledger: Ledger,
    counters: Counters,
    guards: Guards,
}

impl Sink {
    /// A sink for `cfg`; `epoch` is the clock submissions are timed on.
    pub fn new(cfg: &SinkConfig, epoch: Instant) -> Result<Sink, String> {
        let scheme = match &cfg.signing {
            Some(s) => Some(s.build().map_err(|e| format!("[signing]: {e}"))?),
            None => None,
        };
        let routes = cfg
            .routes
            .iter()
            .map(|r| Route::new(r.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sink {
            id: cfg.id.clone(),
            max_body: cfg.max_body,
            deadline: cfg.deadline,
            scheme,
            routes: RwLock::new(routes),
            fallback: RouteConfig::default()
                .behaviour()
                .map_err(|(f, m)| format!("{f}: {m}"))?,
            ledger: Ledger::with_cap(epoch, cfg.limits.max_ids),
            counters: Counters::default(),
            guards: Guards::default(),
        })
    }

    /// The counters now.
    pub fn stats(&self) -> SinkStats {
        self.counters.snapshot(self.scheme.is_some(), self.ledger.len() as u64)
    }

    /// The counters now, with what the limits turned away.
    pub fn view(&self) -> StatsView {
        self.guards.view(self.stats(), self.ledger.over_cap())
    }

    /// The final figures; `correlate` when loadcheck submitted events.
    pub fn report(&self, correlate: bool) -> DeliveryReport {
        let view = self.view();
        DeliveryReport {
            limits: Some(view.limits()),
            stats: view.stats,
            correlation: correlate.then(|| self.ledger.correlate(self.deadline)),
        }
    }

    /// The deadline for a delivery.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Replaces (or adds) the route `name`; its counter restarts.
    pub fn set_route(&self, name: &str, mut config: RouteConfig) -> Result<RouteConfig, String> {
        let mut routes = self.routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let existing = routes.iter().position(|r| r.name == name);
        if config.path.is_none() {
            config.path = match existing {
                Some(i) => routes[i].config.path.clone(),
                None => return Err(format!("route \"{name}\" is new: give its `path`")),
            };
        }
        if let Some(p) = &config.path
            && !(p.starts_with('/') || p == "*")
        {
            return Err(format!("path \"{p}\" must start with `/` (or be `*`)"));
        }
        config.name = Some(name.to_string());
        let route = Route::new(config.clone())?;
        match existing {
            Some(i) => routes[i] = route,
            None => routes.push(route),
        }
        Ok(config)
    }

    /// The routes as configured now.
    pub fn routes(&self) -> Vec<RouteConfig> {
        let routes = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.iter().map(|r| r.config.clone()).collect()
    }

    /// The behaviour for `path` and this POST's number on its route:
    /// an exact path wins, then the longest prefix, then the default (200).
    fn behaviour_for(&self, path: &str) -> (Behaviour, u64) {
        let routes = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let chosen = routes
            .iter()
            .filter(|r| r.matches(path))
            .max_by_key(|r| (!r.prefix, r.path.len()));
        match chosen {
            Some(r) => (
                r.behaviour.clone(),
                r.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ),
            None => (self.fallback.clone(), 0),
        }
    }
}
