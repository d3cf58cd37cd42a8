//! Live progress on stderr: an indicatif bar on a terminal, one status line
//! every 5 s otherwise, wrapped in `::group::` inside GitHub Actions.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::Aggregator;

/// How progress is shown.
pub struct Progress {
    mode: Mode,
    planned: Duration,
    github: bool,
    last_line: Option<Instant>,
}

enum Mode {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl Progress {
    /// Starts showing progress for a run planned to last `planned`.
    pub fn start(planned: Duration, quiet: bool) -> Self {
        let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !github {
            let bar = ProgressBar::new(planned.as_secs().max(1));
            let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            Mode::Bar(bar)
        } else {
            Mode::Lines
        };
        if github && !quiet {
            eprintln!("::group::loadcheck progress");
        }
        Progress {
            mode,
            planned,
            github,
            last_line: None,
        }
    }

    /// Shows the state after a second has closed.
    pub fn update(&mut self, agg: &Aggregator, elapsed: Duration, phase: Option<&str>) {
        let msg = match phase {
            Some(p) => format!("{p}: {}", status(agg)),
            None => status(agg),
        };
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_position(elapsed.as_secs().min(self.planned.as_secs().max(1)));
                bar.set_message(msg);
            }
            Mode::Lines => {
                if self.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                    self.last_line = Some(Instant::now());
                    eprintln!("[{:>4}s/{}s] {msg}", elapsed.as_secs(), self.planned.as_secs());
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Clears the bar and closes the group.
    pub fn finish(&mut self, agg: &Aggregator, elapsed: Duration) {
        match &self.mode {
            Mode::Bar(bar) => bar.finish_and_clear(),
            Mode::Lines => {
                let (requests, failed) = agg.counts();
                let rps = requests as f64 / elapsed.as_secs_f64().max(1e-9);
                eprintln!(
                    "[{:>4}s done] {requests} requests, {rps:.1} req/s on average, {failed} errors",
                    elapsed.as_secs(),
                );
            }
            Mode::Quiet => {}
        }
        if self.github && !matches!(self.mode, Mode::Quiet) {
            eprintln!("::endgroup::");
        }
    }
}

fn status(agg: &Aggregator) -> String {
    let (requests, failed) = agg.counts();
    let row = agg.last_row();
    let rps = row.map_or(0, |r| r.requests);
    let p95 = row
        .and_then(|r| r.p95_ms)
        .map_or("-".to_string(), |v| format!("{v:.1} ms"));
    format!("{requests} requests, {rps} req/s, p95 {p95}, {failed} errors")
}
