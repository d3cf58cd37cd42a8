//! `loadcheck demo`: the whole pipeline against the embedded demo service,
//! and `loadcheck demo serve`, the service on its own for rolling-deploy
//! tests.

use std::path::Path;
use std::time::Duration;

use crate::cli::{EngineArgs, ServeArgs};
use crate::demo::{DemoConfig, DemoDispatcher, DemoRollout, Shaping, breaker, dispatch, serve_standalone};
use crate::exit::Exit;
use crate::plan::Overrides;

/// The variable the demo plan's `[sink.signing]` names; `loadcheck demo`
/// supplies a fresh secret of its own.
const DEMO_SECRET_ENV: &str = "DEMO_WEBHOOK_SECRET";

/// A fresh Standard Webhooks secret (`whsec_` and 24 random bytes, base64).
fn demo_secret() -> String {
    use base64::Engine as _;
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The plan `loadcheck demo` runs (also `examples/demo.toml`).
pub const DEMO_PLAN: &str = include_str!("../../examples/demo.toml");

/// The dispatcher `demo serve --deliver-to` asks for, or why it cannot be
/// built (exit 2).
async fn dispatcher_for(args: &ServeArgs) -> Result<Option<DemoDispatcher>, String> {
    let Some(url) = &args.deliver_to else {
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("--deliver-to {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("--deliver-to {url}: only http and https URLs"));
    }
    let sign = match &args.webhook_secret_env {
        None => None,
        Some(var) => {
            let secret = std::env::var(var).map_err(|_| format!("--webhook-secret-env: {var} is not set"))?;
            Some(standard_webhooks_signer(&parsed, secret).map_err(|e| format!("--webhook-secret-env {var}: {e}"))?)
        }
    };
    let cfg = dispatch::DispatchConfig {
        url: url.clone(),
        sign,
        max_attempts: args.max_attempts.max(1),
        retry_backoff: args.retry_backoff,
        timeout: Duration::from_secs(5),
        queue: 100_000,
        concurrency: args.delivery_concurrency.max(1),
        breaker: breaker::BreakerConfig {
            failure_limit: args.failure_limit.max(1),
            half_open_after: args.half_open_after,
            redis_url: args.breaker_redis.clone(),
            key: args.breaker_key.clone(),
        },
    };
    Ok(Some(DemoDispatcher(dispatch::Dispatcher::start(cfg).await)))
}

/// Signs deliveries to `url` with Standard Webhooks.
fn standard_webhooks_signer(url: &reqwest::Url, secret: String) -> Result<dispatch::SignFn, String> {
    use crate::signing::{self, Message, SchemeConfig, SchemeKind};
    let scheme =
        signing::build(&SchemeConfig::new(SchemeKind::StandardWebhooks, vec![secret])).map_err(|e| e.to_string())?;
    let path = url.path().to_string();
    let query = url.query().unwrap_or("").to_string();
    Ok(std::sync::Arc::new(move |id: &str, ts: i64, body: &[u8]| {
        let mut out = Vec::with_capacity(3);
        scheme.sign(
            &Message {
                method: "POST",
                path: &path,
                query: &query,
                body,
                timestamp: ts,
                id,
            },
            &mut out,
        );
        out
    }))
}

/// `loadcheck demo serve`.
pub async fn serve(args: ServeArgs) -> Exit {
    let dispatcher = match dispatcher_for(&args).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let cfg = DemoConfig {
        dispatcher,
        app_version: args.app_version,
        stall_every: args.stall_every,
        stall_for: args.stall_for,
        seed: args.seed,
        rollout: args.roll_to.map(|to| DemoRollout {
            to,
            at: args.roll_at,
            over: args.roll_over,
        }),
        shaping: Shaping {
            base: args.latency,
            slow: args.slow,
            roll_slow: args.roll_slow,
        },
    };
    if let Err(e) = cfg.shaping.check() {
        eprintln!("error: {e}");
        return Exit::BadInput;
    }
    match serve_standalone(args.listen, cfg).await {
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Operational
        }
    }
}

/// `loadcheck demo`: starts the service on a free loopback port, runs the
/// demo plan against it, prints the summary and writes run.json.
pub async fn demo(args: &EngineArgs) -> Exit {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot bind the demo service on 127.0.0.1: {e}");
            return Exit::Operational;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Operational;
        }
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    // The sink's port and the webhook secret are this run's own.
    let sink_port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("error: cannot find a free port for the sink: {e}");
            return Exit::Operational;
        }
    };
    let secret = demo_secret();
    let overrides = Overrides {
        target: Some(format!("http://{addr}")),
        ..Overrides::default()
    };
    let env = |name: &str| {
        if name == DEMO_SECRET_ENV {
            Some(secret.clone())
        } else {
            std::env::var(name).ok()
        }
    };
    let mut plan = match crate::plan::parse_with_env(Path::new("examples/demo.toml"), DEMO_PLAN, &overrides, &env) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    if let Some(sink) = &mut plan.sink {
        sink.config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], sink_port));
    }
    let deliver_to = format!("http://127.0.0.1:{sink_port}/hooks");
    let signer = reqwest::Url::parse(&deliver_to)
        .map_err(|e| e.to_string())
        .and_then(|url| standard_webhooks_signer(&url, secret.clone()));
    let sign = match signer {
        Ok(sign) => sign,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Operational;
        }
    };
    let dispatcher = dispatch::Dispatcher::start(dispatch::DispatchConfig {
        url: deliver_to,
        sign: Some(sign),
        max_attempts: 5,
        retry_backoff: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        queue: 100_000,
        concurrency: 4,
        breaker: breaker::BreakerConfig {
            failure_limit: 5,
            half_open_after: Duration::from_secs(5),
            redis_url: None,
            key: "loadcheck:demo:breaker".into(),
        },
    })
    .await;
    // The service rolls from v1 to v2 7 s in, over 4 s; the plan's version
    // watcher marks that as the rollout.
    let cfg = DemoConfig {
        seed: args.seed,
        rollout: Some(DemoRollout {
            to: "v2".into(),
            at: Duration::from_secs(7),
            over: Duration::from_secs(4),
        }),
        dispatcher: Some(DemoDispatcher(dispatcher)),
        ..DemoConfig::default()
    };
    let server = tokio::spawn(crate::demo::serve(listener, cfg, async {
        let _ = shutdown_rx.await;
    }));
    eprintln!("demo service listening on http://{addr}, delivering webhooks to the sink on port {sink_port}");
    let code = super::run::run_plan(plan, args).await;
    let _ = shutdown_tx.send(());
    let _ = server.await;
    code
}
