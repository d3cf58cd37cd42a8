//! `loadcheck demo`: the whole pipeline against the embedded demo service,
//! and `loadcheck demo serve`, the service on its own for rolling-deploy
//! tests.

pub mod breaker;
pub mod dispatch;
mod serve;
mod service;

use std::path::Path;
use std::time::Duration;

pub use serve::serve_standalone;
pub use service::{DemoConfig, DemoRollout, router, serve};

use crate::cli::{EngineArgs, ServeArgs};
use crate::exit::Exit;
use crate::plan::Overrides;

/// The plan `loadcheck demo` runs (also `examples/demo.toml`).
pub const DEMO_PLAN: &str = include_str!("../../examples/demo.toml");

/// `loadcheck demo serve`.
pub async fn serve_cli(args: ServeArgs) -> Exit {
    let cfg = DemoConfig {
        app_version: args.app_version,
        stall_every: args.stall_every,
        stall_for: args.stall_for,
        seed: args.seed,
        rollout: args.roll_to.map(|to| DemoRollout {
            to,
            at: args.roll_at,
            over: args.roll_over,
        }),
    };
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
pub async fn run_demo(args: &EngineArgs) -> Exit {
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
    // The service rolls from v1 to v2 7 s in, over 4 s; the plan's version
    // watcher marks that as the rollout.
    let cfg = DemoConfig {
        seed: args.seed,
        rollout: Some(DemoRollout {
            to: "v2".into(),
            at: Duration::from_secs(7),
            over: Duration::from_secs(4),
        }),
        ..DemoConfig::default()
    };
    let server = tokio::spawn(serve(listener, cfg, async {
        let _ = shutdown_rx.await;
    }));
    eprintln!("demo service listening on http://{addr}");
    let overrides = Overrides {
        target: Some(format!("http://{addr}")),
        ..Overrides::default()
    };
    let code = match crate::plan::parse(Path::new("examples/demo.toml"), DEMO_PLAN, &overrides) {
        Ok(plan) => crate::run_plan(plan, args).await,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInput
        }
    };
    let _ = shutdown_tx.send(());
    let _ = server.await;
    code
}
