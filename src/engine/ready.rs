//! A plan made ready to send: its origins resolved and preflighted, its
//! requests prepared; in a duet, the baseline target's side too. Nothing
//! is sent here but the preflight's connections.

use std::sync::Arc;
use std::time::Duration;

use super::client;
use super::duet::Peer;
use super::exchange::{self, Exchange};
use super::preflight;
use crate::metrics::live::Live;
use crate::plan::{Plan, Scheme};

/// A plan made ready to send: origins resolved, requests prepared.
pub struct Ready {
    pub(super) exchange: Exchange,
    pub(super) live: Arc<Live>,
    /// The baseline target's side, in a duet.
    pub(super) peer: Option<Peer>,
}

impl Ready {
    /// The phase and version table the workers will use, for the rollout
    /// controller.
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// Makes endpoint `endpoint`'s accepted requests submissions that
    /// `sink` matches deliveries with (the event id at `pointer` in the
    /// body).
    pub fn correlate_with(&mut self, endpoint: usize, pointer: String, sink: Arc<crate::sink::Sink>) {
        self.exchange.correlator = Some(exchange::Correlator {
            endpoint,
            pointer,
            sink,
        });
    }
}

/// Resolves origins, prepares every endpoint's requests and, unless
/// `preflight` is false, connects once to each origin; in a duet, does the
/// same for the baseline target, and every error says which target it is
/// about. Errors here mean nothing was sent.
pub async fn prepare(plan: &Arc<Plan>, preflight: bool) -> Result<Ready, PrepareError> {
    let Some(baseline) = &plan.baseline.target else {
        let (exchange, live) = prepare_side(plan, preflight).await?;
        return Ok(Ready {
            exchange,
            live,
            peer: None,
        });
    };
    let (exchange, live) = prepare_side(plan, preflight)
        .await
        .map_err(|e| e.about(&format!("the target {}", plan.target.url())))?;
    let mut mirrored = (**plan).clone();
    mirrored.target = baseline.clone();
    let (peer_exchange, peer_live) = prepare_side(&Arc::new(mirrored), preflight)
        .await
        .map_err(|e| e.about(&format!("the baseline target {}", baseline.url())))?;
    let peer = Peer {
        exchange: peer_exchange,
        live: peer_live,
    };
    Ok(Ready {
        exchange,
        live,
        peer: Some(peer),
    })
}

/// [`prepare`] for one target: the plan's.
async fn prepare_side(plan: &Arc<Plan>, preflight: bool) -> Result<(Exchange, Arc<Live>), PrepareError> {
    let (targets, endpoint_origin) = preflight::origins_of(plan);
    let needs_tls = targets.iter().any(|t| t.scheme == Scheme::Https);
    let tls = if needs_tls {
        Some(crate::net::tls::client_config(&plan.tls).map_err(PrepareError::Input)?)
    } else {
        None
    };
    let connector = client::Connector::new(tls, plan.tls.http).with_limits(plan.limits);
    let mut origins = Vec::with_capacity(targets.len());
    for t in &targets {
        origins.push(preflight::resolve(plan, t).await.map_err(PrepareError::Unreachable)?);
    }
    let mut speaks_h2 = vec![false; origins.len()];
    if preflight {
        let timeout = plan.timeout.min(Duration::from_secs(5));
        speaks_h2 = preflight::check(&connector, &origins, timeout)
            .await
            .map_err(PrepareError::Unreachable)?;
    }
    let live = Arc::new(Live::new(
        plan.rollout.as_ref().and_then(|r| r.version_header.as_deref()),
    ));
    let mut exchange = Exchange::new(
        plan.clone(),
        live.clone(),
        connector.for_workers(),
        origins,
        endpoint_origin,
    )
    .map_err(PrepareError::Input)?;
    exchange.speaks_h2 = speaks_h2;
    Ok((exchange, live))
}

/// Why a plan could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The plan cannot be sent as written (exit 2).
    #[error("{0:#}")]
    Input(anyhow::Error),
    /// The target did not answer (exit 3).
    #[error("{0:#}")]
    Unreachable(anyhow::Error),
}

impl PrepareError {
    /// The same error, saying which target it is about (`the baseline
    /// target http://…`).
    fn about(self, which: &str) -> Self {
        match self {
            PrepareError::Input(e) => PrepareError::Input(e.context(which.to_string())),
            PrepareError::Unreachable(e) => PrepareError::Unreachable(e.context(which.to_string())),
        }
    }
}
