//! `[rollout]`, `[availability]`, `[[fault]]` and `[[probe]]`.
//!
//! Commands are checked before anything runs: the program a shell string
//! starts must exist (on `PATH`, or as a path relative to the plan), so a
//! typo fails at validation with exit 2 rather than mid-run.

use std::path::Path;
use std::time::Duration;

use super::ctx::Ctx;
use crate::plan::error::{FieldPath, PlanError};
use crate::plan::raw::{RawAvailability, RawDeployment, RawFault, RawProbe, RawRollout, RawTrigger, RawWorkflow};
use crate::plan::rollout::{Availability, Command, DeploymentSpec, Fault, Probe, Rollout, Trigger, WorkflowSpec};
use crate::plan::{Scheme, Target};
use crate::prometheus::parse_selector;

const DEFAULT_HEAD: Duration = Duration::from_secs(30);
const DEFAULT_TAIL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
const DEFAULT_POLL: Duration = Duration::from_secs(5);
const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// `[rollout]`.
pub(super) fn rollout(ctx: &Ctx, raw: Option<RawRollout>) -> Result<Option<Rollout>, PlanError> {
    let Some(raw) = raw else { return Ok(None) };
    let at = FieldPath::root("rollout");
    let timeout = raw.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    if timeout.is_zero() {
        return Err(ctx.err(&at.key("timeout"), "the rollout timeout must be above 0"));
    }
    let version_header = match raw.version_header {
        None => None,
        Some(h) => {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ctx.err(&at.key("version_header"), format!("\"{h}\" is not a valid header name")));
            }
            Some(h.to_ascii_lowercase())
        }
    };
    let trigger = match raw.trigger {
        None => None,
        Some(t) => Some(trigger(ctx, &at.key("trigger"), t)?),
    };
    if trigger.is_none() && version_header.is_none() {
        return Err(ctx.err(
            &at,
            "nothing marks the rollout: set `trigger` (command, github_workflow or github_deployment) or `version_header`",
        ));
    }
    let settle = raw.settle.map_or(DEFAULT_SETTLE, |d| d.0);
    if settle.is_zero() {
        return Err(ctx.err(&at.key("settle"), "the settle period must be above 0"));
    }
    Ok(Some(Rollout {
        head: raw.head.map_or(DEFAULT_HEAD, |d| d.0),
        tail: raw.tail.map_or(DEFAULT_TAIL, |d| d.0),
        timeout,
        trigger,
        version_header,
        settle,
        tolerance: raw.tolerance.unwrap_or(0),
    }))
}

fn trigger(ctx: &Ctx, at: &FieldPath, raw: RawTrigger) -> Result<Trigger, PlanError> {
    match (raw.command, raw.github_workflow, raw.github_deployment) {
        (Some(c), None, None) => Ok(Trigger::Command(command(ctx, &at.key("command"), c)?)),
        (None, Some(w), None) => Ok(Trigger::GithubWorkflow(workflow(ctx, &at.key("github_workflow"), w)?)),
        (None, None, Some(d)) => Ok(Trigger::GithubDeployment(deployment(
            ctx,
            &at.key("github_deployment"),
            d,
        )?)),
        (None, None, None) => Err(ctx.err(
            at,
            "expected one of `command = \"…\"`, `github_workflow = {…}` or `github_deployment = {…}`",
        )),
        _ => Err(ctx.err(
            at,
            "give exactly one of `command`, `github_workflow` or `github_deployment`",
        )),
    }
}

fn repo(ctx: &Ctx, at: &FieldPath, repo: &str) -> Result<(String, String), PlanError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((o, r)) if ok(o) && ok(r) => Ok((o.to_string(), r.to_string())),
        _ => Err(ctx.err(at, format!("\"{repo}\" is not a repository; write \"owner/name\""))),
    }
}

fn poll(ctx: &Ctx, at: &FieldPath, raw: Option<crate::plan::duration::DurationStr>) -> Result<Duration, PlanError> {
    let poll = raw.map_or(DEFAULT_POLL, |d| d.0);
    if poll < Duration::from_millis(10) {
        return Err(ctx.err(at, "the poll interval must be at least 10ms"));
    }
    Ok(poll)
}

fn workflow(ctx: &Ctx, at: &FieldPath, raw: RawWorkflow) -> Result<WorkflowSpec, PlanError> {
    let (owner, repo) = repo(ctx, &at.key("repo"), &raw.repo)?;
    if raw.workflow.trim().is_empty() || raw.workflow.contains('/') {
        return Err(ctx.err(
            &at.key("workflow"),
            "expected the workflow's file name (\"deploy.yml\") or numeric id",
        ));
    }
    if raw.git_ref.trim().is_empty() {
        return Err(ctx.err(&at.key("ref"), "the ref is empty; write e.g. \"main\""));
    }
    if raw.inputs.len() > 25 {
        return Err(ctx.err(&at.key("inputs"), "GitHub accepts at most 25 workflow_dispatch inputs"));
    }
    Ok(WorkflowSpec {
        owner,
        repo,
        workflow: raw.workflow,
        git_ref: raw.git_ref,
        inputs: raw.inputs,
        poll: poll(ctx, &at.key("poll"), raw.poll)?,
    })
}

fn deployment(ctx: &Ctx, at: &FieldPath, raw: RawDeployment) -> Result<DeploymentSpec, PlanError> {
    let (owner, repo) = repo(ctx, &at.key("repo"), &raw.repo)?;
    if raw.environment.trim().is_empty() {
        return Err(ctx.err(
            &at.key("environment"),
            "the environment is empty; write e.g. \"staging\"",
        ));
    }
    if let Some(sha) = &raw.sha
        && (sha.len() < 4 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ctx.err(&at.key("sha"), format!("\"{sha}\" is not a commit sha")));
    }
    Ok(DeploymentSpec {
        owner,
        repo,
        environment: raw.environment,
        sha: raw.sha,
        poll: poll(ctx, &at.key("poll"), raw.poll)?,
    })
}

/// A shell string whose program must exist.
fn command(ctx: &Ctx, at: &FieldPath, run: String) -> Result<Command, PlanError> {
    let dir = ctx.plan_dir();
    check_program(&run, &dir).map_err(|m| ctx.err(at, m))?;
    Ok(Command { run, dir })
}

/// Shell words that are not programs on disk.
const SHELL_WORDS: &[&str] = &[
    "cd", "exec", "export", "set", "unset", "eval", ".", "source", "true", "false", ":", "test", "[", "echo", "printf",
    "sleep", "kill", "wait", "if", "for", "while", "until", "case", "{", "(", "!", "exit", "trap", "umask", "command",
    "env",
];

/// Checks that the first program a shell string runs exists: a path
/// (relative to `dir`) that is an executable file, a shell builtin, or a
/// name found on `PATH`. Leading `VAR=value` assignments are skipped.
fn check_program(run: &str, dir: &Path) -> Result<(), String> {
    if run.trim().is_empty() {
        return Err("the command is empty".into());
    }
    let first = run
        .split_whitespace()
        .find(|w| !is_assignment(w))
        .ok_or_else(|| "the command only assigns variables; it runs nothing".to_string())?;
    let program = first.trim_matches(|c| c == '"' || c == '\'');
    if SHELL_WORDS.contains(&program) || program.starts_with('$') {
        return Ok(());
    }
    if program.contains('/') {
        let path = if Path::new(program).is_absolute() {
            program.into()
        } else {
            dir.join(program)
        };
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && is_executable(&m) => Ok(()),
            Ok(m) if m.is_file() => Err(format!(
                "{} is not executable; run `chmod +x {}` or write `sh {program}`",
                path.display(),
                program
            )),
            Ok(_) => Err(format!("{} is not a file", path.display())),
            Err(_) => Err(format!(
                "the program \"{program}\" does not exist (looked for {})",
                path.display()
            )),
        };
    }
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|p| std::fs::metadata(p.join(program)).is_ok_and(|m| m.is_file() && is_executable(&m)))
    });
    if on_path {
        Ok(())
    } else {
        Err(format!(
            "the program \"{program}\" is not on PATH and is not a shell builtin"
        ))
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

/// `[availability]`.
pub(super) fn availability(ctx: &Ctx, raw: Option<RawAvailability>) -> Result<Availability, PlanError> {
    let at = FieldPath::root("availability");
    let mut out = Availability::default();
    let Some(raw) = raw else { return Ok(out) };
    if let Some(slo) = raw.slo {
        if !(slo > 0.0 && slo <= 1.0) {
            return Err(ctx.err(
                &at.key("slo"),
                format!("slo {slo} is not a success rate; write a fraction such as 0.99 (99 %)"),
            ));
        }
        out.slo = slo;
    }
    if let Some(w) = raw.window {
        if w.0 < Duration::from_millis(100) {
            return Err(ctx.err(&at.key("window"), "the RTO window must be at least 100ms"));
        }
        out.window = w.0;
    }
    Ok(out)
}

/// `[[fault]]`, sorted by time. `cap` is the longest the run can last.
pub(super) fn faults(ctx: &Ctx, raw: Vec<RawFault>, cap: Duration) -> Result<Vec<Fault>, PlanError> {
    let mut out: Vec<Fault> = Vec::with_capacity(raw.len());
    for (i, f) in raw.into_iter().enumerate() {
        let at = FieldPath::root("fault").index(i);
        let name = f.name.unwrap_or_else(|| format!("fault-{}", i + 1));
        super::ctx::check_name(ctx, &at.key("name"), &name, "fault")?;
        if name == "rollout" || out.iter().any(|o| o.name == name) {
            return Err(ctx.err(&at.key("name"), format!("event name \"{name}\" is already used")));
        }
        let fmt = crate::plan::duration::format_duration;
        if f.at.0 >= cap {
            return Err(ctx.err(
                &at.key("at"),
                format!(
                    "the fault at {} comes after the run's end ({} at most)",
                    fmt(f.at.0),
                    fmt(cap)
                ),
            ));
        }
        let run = command(ctx, &at.key("run"), f.run)?;
        let (restore_at, restore) = match (f.restore_at, f.restore) {
            (None, None) => (None, None),
            (Some(_), None) => return Err(ctx.err(&at.key("restore"), "`restore_at` needs a `restore` command")),
            (None, Some(_)) => return Err(ctx.err(&at.key("restore_at"), "`restore` needs a `restore_at` time")),
            (Some(t), Some(r)) => {
                if t.0 <= f.at.0 {
                    return Err(ctx.err(
                        &at.key("restore_at"),
                        format!("restore_at ({}) must come after at ({})", fmt(t.0), fmt(f.at.0)),
                    ));
                }
                if t.0 >= cap {
                    return Err(ctx.err(
                        &at.key("restore_at"),
                        format!(
                            "the restore at {} comes after the run's end ({} at most)",
                            fmt(t.0),
                            fmt(cap)
                        ),
                    ));
                }
                (Some(t.0), Some(command(ctx, &at.key("restore"), r)?))
            }
        };
        out.push(Fault {
            name,
            at: f.at.0,
            run,
            restore_at,
            restore,
        });
    }
    out.sort_by_key(|f| f.at);
    Ok(out)
}

/// `[[probe]]`.
pub(super) fn probes(ctx: &Ctx, raw: Vec<RawProbe>) -> Result<Vec<Probe>, PlanError> {
    let mut out: Vec<Probe> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let at = FieldPath::root("probe").index(i);
        super::ctx::check_name(ctx, &at.key("name"), &p.name, "probe")?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(ctx.err(&at.key("name"), format!("probe \"{}\" is defined twice", p.name)));
        }
        let origin = probe_url(&p.url).map_err(|m| ctx.err(&at.key("url"), m))?;
        let interval = p.interval.map_or(DEFAULT_PROBE_INTERVAL, |d| d.0);
        if interval < Duration::from_millis(10) {
            return Err(ctx.err(&at.key("interval"), "the probe interval must be at least 10ms"));
        }
        let timeout = p.timeout.map_or(interval.min(Duration::from_secs(2)), |d| d.0);
        if timeout.is_zero() {
            return Err(ctx.err(&at.key("timeout"), "the probe timeout must be above 0"));
        }
        for (j, status) in p.expect.iter().enumerate() {
            if !(100..=599).contains(status) {
                return Err(ctx.err(
                    &at.key("expect").index(j),
                    format!("{status} is not an HTTP status (100..=599)"),
                ));
            }
        }
        let metric = match &p.metric {
            Some(m) => Some(parse_selector(m).map_err(|e| ctx.err(&at.key("metric"), e))?),
            None => None,
        };
        out.push(Probe {
            name: p.name,
            url: p.url,
            origin,
            interval,
            timeout,
            expect: p.expect,
            metric,
        });
    }
    Ok(out)
}

/// A probe URL: absolute http(s), with no placeholders.
fn probe_url(url: &str) -> Result<Target, String> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(format!(
            "probe URL \"{url}\" must be absolute, such as \"http://127.0.0.1:8081/ready\""
        ));
    }
    let (origin, rest) = super::url::endpoint_path(url)?;
    let Some(origin) = origin else {
        return Err(format!(
            "probe URL \"{url}\" must be absolute, such as \"http://127.0.0.1:8081/ready\""
        ));
    };
    if rest.contains(['{', '}']) || rest.contains(char::is_whitespace) {
        return Err(format!("probe URL \"{url}\" has a placeholder, brace or space"));
    }
    if origin.scheme == Scheme::Https && origin.host.is_empty() {
        return Err(format!("probe URL \"{url}\" has no host"));
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_must_exist() {
        let dir = std::env::temp_dir();
        assert!(check_program("sh -c 'exit 0'", &dir).is_ok());
        assert!(check_program("FOO=1 BAR=2 true", &dir).is_ok());
        assert!(check_program("kill -9 $PID", &dir).is_ok());
        let e = check_program("surely-not-a-program-7f3a --x", &dir).unwrap_err();
        assert!(e.contains("not on PATH"), "{e}");
        let e = check_program("./missing-deploy.sh", &dir).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(check_program("/bin/sh -c true", &dir).is_ok());
        assert!(check_program("  ", &dir).is_err());
        assert!(check_program("A=1", &dir).is_err());
    }

    #[test]
    fn probe_urls_parse() {
        assert!(probe_url("http://127.0.0.1:9/ready").is_ok());
        assert!(probe_url("/ready").is_err());
        assert!(probe_url("http//nope").is_err());
        assert!(probe_url("ftp://x/").is_err());
        assert!(probe_url("http://x/{y}").is_err());
    }

    #[test]
    fn assignments() {
        assert!(is_assignment("A=1") && is_assignment("_x=") && !is_assignment("=1") && !is_assignment("1A=2"));
    }
}
