//! Runs the plan's shell commands (the rollout trigger, faults and their
//! restores) with `sh -c` in the plan's folder, in their own process group so
//! that a timeout or the end of the run stops the whole tree.
//!
//! Output (stdout and stderr, interleaved as it arrives) is echoed to stderr
//! line by line with a prefix, and the last [`KEEP_BYTES`] are kept for the
//! report; both pass through the redactor first.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

use crate::plan::rollout::Command;
use crate::redact::Redactor;

/// How much of a command's output is kept for the report.
pub const KEEP_BYTES: usize = 16 * 1024;

/// How long a stopped command gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code (`None`: killed by a signal it did not
    /// choose).
    Exited(Option<i32>),
    /// It could not be started.
    NotStarted(String),
    /// loadcheck stopped it (timeout or the end of the run).
    Stopped,
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Finished {
    /// When it ended.
    pub ended_at: Instant,
    /// How.
    pub ended: Ended,
    /// The last [`KEEP_BYTES`] of its output, redacted.
    pub output: String,
}

impl Finished {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.ended == Ended::Exited(Some(0))
    }

    /// One line for people: `exit 0`, `exit 3`, `killed by a signal`, …
    pub fn describe(&self) -> String {
        match &self.ended {
            Ended::Exited(Some(c)) => format!("exit {c}"),
            Ended::Exited(None) => "killed by a signal".into(),
            Ended::NotStarted(e) => format!("could not start: {e}"),
            Ended::Stopped => "stopped by loadcheck".into(),
        }
    }
}

/// Runs `cmd` until it exits or `stop` resolves, whichever is first; on
/// `stop` the process group gets SIGTERM, then SIGKILL after a grace.
/// `label` prefixes echoed lines (`rollout`, a fault's name).
pub async fn run(
    cmd: &Command,
    label: &str,
    env: &[(String, String)],
    redactor: &Redactor,
    quiet: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Finished {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&cmd.run)
        .current_dir(&cmd.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Finished {
                ended_at: Instant::now(),
                ended: Ended::NotStarted(e.to_string()),
                output: String::new(),
            };
        }
    };
    let kept = Arc::new(Mutex::new(Tail::default()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(
            out,
            kept.clone(),
            label.to_string(),
            redactor.clone(),
            quiet,
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(
            err,
            kept.clone(),
            label.to_string(),
            redactor.clone(),
            quiet,
        )));
    }
    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status.ok().and_then(|s| s.code())),
        _ = stop => {
            terminate(&mut child).await;
            Ended::Stopped
        }
    };
    let ended_at = Instant::now();
    // A grandchild may hold the pipes open; do not wait for it forever.
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_millis(500), r).await;
    }
    let output = kept.lock().map(|t| t.text()).unwrap_or_default();
    Finished {
        ended_at,
        ended,
        output: redactor.redact(&output),
    }
}

/// SIGTERM to the group, then SIGKILL if it has not exited within the grace.
async fn terminate(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    let group = -(pid as i32);
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (it was started with process_group(0)); no memory is
    // touched.
    unsafe {
        libc::kill(group, libc::SIGTERM);
    }
    if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
        // SAFETY: as above.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = child.wait().await;
    }
}

/// The last bytes of output.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        if self.buf.len() > KEEP_BYTES {
            let cut = self.buf.len() - KEEP_BYTES;
            self.buf.drain(..cut);
            self.dropped = true;
        }
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.buf);
        if self.dropped {
            format!("[… earlier output cut …]\n{text}")
        } else {
            text.into_owned()
        }
    }
}

async fn pump(stream: impl AsyncRead + Unpin, kept: Arc<Mutex<Tail>>, label: String, redactor: Redactor, quiet: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Ok(mut t) = kept.lock() {
            t.push(&line);
        }
        if !quiet {
            let text = redactor.redact(String::from_utf8_lossy(&line).trim_end());
            eprintln!("{label}| {text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(run: &str) -> Command {
        Command {
            run: run.into(),
            dir: std::env::temp_dir(),
        }
    }

    #[tokio::test]
    async fn captures_output_and_exit_code_redacted() {
        let r = Redactor::new(vec!["s3cret".into()]);
        let f = run(
            &cmd("echo out s3cret; echo err >&2; exit 3"),
            "t",
            &[],
            &r,
            true,
            std::future::pending(),
        )
        .await;
        assert_eq!(f.ended, Ended::Exited(Some(3)));
        assert!(!f.ok());
        assert!(
            f.output.contains("out [REDACTED]") && f.output.contains("err"),
            "{}",
            f.output
        );
        assert!(!f.output.contains("s3cret"));
    }

    #[tokio::test]
    async fn stop_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("alive");
        let script = format!("(sleep 30; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let f = run(
            &cmd(&script),
            "t",
            &[],
            &Redactor::default(),
            true,
            tokio::time::sleep(Duration::from_millis(200)),
        )
        .await;
        assert_eq!(f.ended, Ended::Stopped);
        assert!(f.ended_at - started < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn env_is_passed_and_long_output_is_cut() {
        let f = run(
            &cmd("echo \"$LC_X\"; i=0; while [ $i -lt 3000 ]; do echo 0123456789; i=$((i+1)); done"),
            "t",
            &[("LC_X".into(), "hello".into())],
            &Redactor::default(),
            true,
            std::future::pending(),
        )
        .await;
        assert!(f.ok());
        assert!(f.output.starts_with("[… earlier output cut …]"));
        assert!(f.output.len() <= KEEP_BYTES + 64);
        let f = run(
            &cmd("echo \"$LC_X\""),
            "t",
            &[("LC_X".into(), "hello".into())],
            &Redactor::default(),
            true,
            std::future::pending(),
        )
        .await;
        assert_eq!(f.output.trim(), "hello");
    }
}
