//! Live progress on stderr: an indicatif bar on a terminal, one status line
//! every 5 s otherwise, wrapped in `::group::` inside GitHub Actions.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::Aggregator;
use crate::plan::Plan;

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

    /// Clears the bar and closes the group. `aborted` is why the run
    /// stopped early, when it did.
    pub fn finish(&mut self, agg: &Aggregator, elapsed: Duration, aborted: Option<&str>) {
        match &self.mode {
            Mode::Bar(bar) => bar.finish_and_clear(),
            Mode::Lines => {
                let (requests, failed) = agg.counts();
                eprintln!("{}", final_line(requests, failed, elapsed, aborted));
            }
            Mode::Quiet => {}
        }
        if self.github && !matches!(self.mode, Mode::Quiet) {
            eprintln!("::endgroup::");
        }
    }
}

/// The length progress is shown against: the end of the plan's last
/// scenario (not its graceful stop, which a run rarely needs), or
/// `--max-duration` when that comes first.
pub fn planned(plan: &Plan, max_duration: Option<Duration>) -> Duration {
    let end = plan.scenarios_end();
    max_duration.map_or(end, |cap| cap.min(end))
}

/// The last line of a run's progress: "done", or "aborted" and why.
fn final_line(requests: u64, failed: u64, elapsed: Duration, aborted: Option<&str>) -> String {
    let rps = requests as f64 / elapsed.as_secs_f64().max(1e-9);
    let how = match aborted {
        None => "done".to_string(),
        Some(why) => format!("aborted: {why}"),
    };
    format!(
        "[{:>4}s {how}] {requests} requests, {rps:.1} req/s on average, {failed} errors",
        elapsed.as_secs()
    )
}

fn status(agg: &Aggregator) -> String {
    let (requests, failed) = agg.counts();
    let row = agg.last_row();
    let rps = row.as_ref().map_or(0, |r| r.requests);
    let p95 = row
        .and_then(|r| r.p95_ms)
        .map_or("-".to_string(), |v| format!("{v:.1} ms"));
    format!("{requests} requests, {rps} req/s, p95 {p95}, {failed} errors")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan::{Overrides, parse};

    #[test]
    fn the_planned_length_is_the_scenarios_end_without_the_graceful_stop() {
        let plan = parse(
            Path::new("p.toml"),
            r#"
target = "http://127.0.0.1:1"
[[endpoint]]
name = "a"
path = "/"
[[scenario]]
name = "early"
executor = "constant-vus"
duration = "10s"
graceful_stop = "30s"
[[scenario]]
name = "late"
executor = "constant-vus"
start_time = "5s"
duration = "10s"
graceful_stop = "20s"
"#,
            &Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(planned(&plan, None), Duration::from_secs(15));
        assert_eq!(planned(&plan, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(planned(&plan, Some(Duration::from_secs(60))), Duration::from_secs(15));
    }

    #[test]
    fn an_aborted_run_does_not_say_done() {
        let done = final_line(100, 2, Duration::from_secs(10), None);
        assert_eq!(done, "[  10s done] 100 requests, 10.0 req/s on average, 2 errors");
        let aborted = final_line(30, 0, Duration::from_secs(3), Some("SIGTERM received"));
        assert_eq!(
            aborted,
            "[   3s aborted: SIGTERM received] 30 requests, 10.0 req/s on average, 0 errors"
        );
        assert!(!aborted.contains("done"));
    }
}
