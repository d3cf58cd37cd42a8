//! `loadcheck sink`: the webhook receiver on its own, until a signal or
//! `--max-duration`; then its counters on stdout (and `--stats-out`).

use std::path::Path;

use crate::cli::SinkArgs;
use crate::exit::Exit;
use crate::plan;
use crate::redact::Redactor;
use crate::sink;

/// `loadcheck sink`: serves until a signal or `--max-duration`, then
/// prints (and optionally writes) the final counters.
pub async fn sink(args: SinkArgs) -> Exit {
    let config = match &args.config {
        Some(path) => plan::load_sink(path, args.listen),
        None => match args.listen {
            Some(listen) => plan::parse_sink(Path::new("(no --config)"), "", Some(listen)),
            None => {
                eprintln!("error: give --listen ADDR or --config sink.toml with `listen`");
                return Exit::BadInput;
            }
        },
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    // Every connection up to `max_connections` holds a descriptor.
    let want = config.limits.max_connections as u64 + 64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < want => eprintln!(
            "warning: the open-files limit is {limit}, below the {want} that max_connections = {} needs; \
             connections beyond it wait in the listen queue",
            config.limits.max_connections
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-files limit: {e}"),
    }
    let redactor = Redactor::new(config.signing.iter().flat_map(|s| s.secrets.clone()).collect());
    let running = match sink::start(&config, std::time::Instant::now()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&format!("{e:#}")));
            return Exit::Operational;
        }
    };
    eprintln!(
        "sink listening on http://{} (stats at /_sink/stats, Prometheus at /_sink/metrics)",
        running.addr
    );
    let limit = async {
        match args.max_duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot watch SIGTERM: {e}");
            return Exit::Operational;
        }
    };
    tokio::select! {
        () = limit => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let stats = running.sink.view();
    running.stop().await;
    let text = serde_json::to_string_pretty(&stats).unwrap_or_default();
    println!("{}", redactor.redact(&text));
    if let Some(path) = &args.stats_out
        && let Err(e) = std::fs::write(path, redactor.redact(&text))
    {
        eprintln!("error: writing {}: {e}", path.display());
        return Exit::Operational;
    }
    Exit::Pass
}
