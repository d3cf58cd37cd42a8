//! Runs the demo service as a standalone process, the way a deployed service
//! behaves: it announces itself on stderr and, on SIGTERM or SIGINT, stops
//! accepting connections and drains in-flight requests (for at most 10 s)
//! before returning. Rolling-deploy tests rely on that drain.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};

use super::service::{self, DemoConfig};

/// Longest time in-flight requests get to finish after a shutdown signal.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Serves the demo service on `listen` until SIGTERM or SIGINT, then drains in-flight requests (at most 10 s) and returns `Ok`.
///
/// A second signal during the drain stops waiting at once. Requests still
/// running when the drain gives up are dropped when the runtime shuts down.
pub async fn serve_standalone(listen: SocketAddr, cfg: DemoConfig) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install().context("installing SIGTERM/SIGINT handlers")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the demo service to {listen}"))?;
    let addr = listener.local_addr().context("reading the demo service's address")?;
    eprintln!(
        "demo service {} listening on {addr} (pid {})",
        cfg.app_version,
        std::process::id()
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(service::serve(listener, cfg, async move {
        // An error only means the sender is gone, which also means stop.
        let _ = stopped.await;
    }));
    tokio::select! {
        joined = &mut server => return server_outcome(joined),
        name = signals.next() => eprintln!(
            "demo service: {name} received, draining in-flight requests (at most {} s)",
            DRAIN_LIMIT.as_secs()
        ),
    }
    // An error only means the server already finished, which is what we want.
    let _ = stop.send(());
    drain(server, &mut signals).await
}

/// Waits for the stopped server to finish its in-flight requests, bounded by the drain limit and by a second signal.
async fn drain(mut server: JoinHandle<io::Result<()>>, signals: &mut ShutdownSignals) -> anyhow::Result<()> {
    tokio::select! {
        finished = tokio::time::timeout(DRAIN_LIMIT, &mut server) => match finished {
            Ok(joined) => server_outcome(joined),
            Err(_) => {
                eprintln!("demo service: drain gave up after {} s", DRAIN_LIMIT.as_secs());
                server.abort();
                Ok(())
            }
        },
        name = signals.next() => {
            eprintln!("demo service: second {name} received, stopping without draining");
            server.abort();
            Ok(())
        }
    }
}

/// Turns the server task's result into this function's result.
fn server_outcome(joined: Result<io::Result<()>, JoinError>) -> anyhow::Result<()> {
    joined
        .context("the demo service task failed")?
        .context("the demo service failed")
}

/// The signals that ask the standalone service to shut down.
struct ShutdownSignals {
    /// SIGTERM, as sent by deploy tooling.
    term: Signal,
    /// SIGINT, as sent by Ctrl-C.
    int: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers; from here on the signals no longer kill the process.
    fn install() -> io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next SIGTERM or SIGINT and names it.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
