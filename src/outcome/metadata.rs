//! What a run records about where and with what it ran: the testbed (what
//! makes two runs comparable), the code's revision, and the Actions run.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::result::{GitInfo, GithubRun, Metadata, Testbed};

/// Run metadata from the environment; `plan_dir` is where `git` is asked
/// for the revision when the Actions variables do not say.
pub fn metadata(workers: usize, seed: u64, plan_dir: &Path) -> Metadata {
    metadata_from(workers, seed, plan_dir, &|k| std::env::var(k).ok())
}

/// [`metadata`] with the environment read through `env`.
pub fn metadata_from(workers: usize, seed: u64, plan_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Metadata {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    Metadata {
        loadcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        workers,
        seed,
        testbed: testbed(),
        git: git(plan_dir, &env),
        github: github(&env),
        runner_name: env("RUNNER_NAME"),
        shard: None,
        merged: None,
    }
}

/// The machine: what must match for two runs' numbers to be compared.
fn testbed() -> Testbed {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Testbed {
        os: std::env::consts::OS.to_string(),
        os_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model: cpu_model(&cpuinfo),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: mem_total(&meminfo),
    }
}

/// `model name` from `/proc/cpuinfo` (x86), or `Model`/`CPU part` lines
/// elsewhere.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "cpu model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    })
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// The revision: Actions' variables first (on a PR, the head branch), else
/// `git` in the plan's folder when it is a work tree.
fn git(plan_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<GitInfo> {
    let from_actions = env("GITHUB_SHA").map(|sha| GitInfo {
        sha,
        branch: env("GITHUB_HEAD_REF").or_else(|| env("GITHUB_REF_NAME")),
    });
    from_actions.or_else(|| {
        let run = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(plan_dir)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        let sha = run(&["rev-parse", "HEAD"])?;
        let branch = run(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
        Some(GitInfo { sha, branch })
    })
}

/// The Actions run, when inside one.
fn github(env: &dyn Fn(&str) -> Option<String>) -> Option<GithubRun> {
    if env("GITHUB_ACTIONS").as_deref() != Some("true") {
        return None;
    }
    Some(GithubRun {
        server_url: env("GITHUB_SERVER_URL"),
        repository: env("GITHUB_REPOSITORY"),
        run_id: env("GITHUB_RUN_ID"),
        run_attempt: env("GITHUB_RUN_ATTEMPT"),
        pr_number: pr_number(env("GITHUB_REF").as_deref(), env("GITHUB_EVENT_PATH").as_deref()),
    })
}

/// The PR number: from `refs/pull/N/merge`, else from the event payload's
/// `pull_request.number` (as in `pull_request_target` and `workflow_run`
/// jobs, whose ref is a branch).
fn pr_number(git_ref: Option<&str>, event_path: Option<&str>) -> Option<u64> {
    let from_ref = git_ref
        .and_then(|r| r.strip_prefix("refs/pull/"))
        .and_then(|r| r.split('/').next())
        .and_then(|n| n.parse().ok());
    from_ref.or_else(|| {
        let text = std::fs::read_to_string(event_path?).ok()?;
        let event: serde_json::Value = serde_json::from_str(&text).ok()?;
        event.pointer("/pull_request/number")?.as_u64()
    })
}

/// A seed from the clock, for runs without `--seed`.
pub fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_variables_make_the_revision_and_the_run() {
        let event = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(event.path(), r#"{"pull_request": {"number": 57}}"#).unwrap();
        let path = event.path().to_string_lossy().into_owned();
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_REF_NAME", "57/merge"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_EVENT_PATH", path.as_str()),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "org/app"),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("RUNNER_NAME", "GitHub Actions 7"),
        ];
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let m = metadata_from(2, 7, Path::new("/nonexistent"), &env);
        let git = m.git.unwrap();
        assert_eq!((git.sha.as_str(), git.branch.as_deref()), ("abc123", Some("feature")));
        let gh = m.github.unwrap();
        assert_eq!(
            gh.pr_number,
            Some(57),
            "from the event payload, since the ref is a branch"
        );
        assert_eq!(gh.run_attempt.as_deref(), Some("2"));
        assert_eq!(m.runner_name.as_deref(), Some("GitHub Actions 7"));
        assert!(m.testbed.cpus >= 1);
    }

    #[test]
    fn pr_number_from_the_ref_and_cpu_and_memory_lines() {
        assert_eq!(pr_number(Some("refs/pull/12/merge"), None), Some(12));
        assert_eq!(pr_number(Some("refs/heads/main"), None), None);
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n").as_deref(),
            Some("AMD EPYC 7763 64-Core Processor")
        );
        assert_eq!(
            mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16 * 1024 * 1024)
        );
    }

    #[test]
    fn outside_actions_the_revision_comes_from_git_in_the_plan_folder() {
        let m = metadata_from(1, 1, Path::new(env!("CARGO_MANIFEST_DIR")), &|_| None);
        assert!(m.github.is_none());
        // The crate's own folder is a work tree in development and CI.
        if Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists() {
            let git = m.git.expect("the revision from git");
            assert_eq!(git.sha.len(), 40, "a full sha: {}", git.sha);
        }
    }
}
