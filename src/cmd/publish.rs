//! `loadcheck publish --from DIR`: posts what a run (or `report`,
//! `compare`, `merge`, `import`) wrote to GitHub. The sticky pull request
//! comment, a comment on an issue, the plan's section of a release sign-off
//! issue, and a check run.
//!
//! It is fork-safe. `run` needs no write token, and `publish` can run in a
//! separate `workflow_run` job from the artifact a pull request's workflow
//! uploaded. The artifact is then untrusted, so it cannot choose where
//! anything goes. A `--pr` is accepted only when that pull request's head
//! commit is the triggering run's. A fork's run posts no issue or sign-off,
//! and its check run is `neutral`.
//!
//! Exits 0 when everything was posted (the verdict is in what was posted),
//! 2 on bad input (nothing sent), and 3 when GitHub could not be reached
//! after the retries, or refused (401, 403, 404: the message names the
//! permission). The local files are never changed.

mod target;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::PublishArgs;
use crate::compare;
use crate::exit::Exit;
use crate::github::runner;
use crate::github::{CheckAnnotation, GitHub, GitHubError, Identity, NewCheckRun};
use crate::metrics::RunResult;
use crate::metrics::result::VerdictResult;
use crate::report::{self, Input};

use super::failure::Failure;

/// The longest wait between two attempts of one call. GitHub's secondary
/// rate limits ask for a minute; a wait that long is honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The longest a whole publish may spend waiting on GitHub's retries: a
/// wait that would end past it fails the call at once (exit 3).
pub const BUDGET: Duration = Duration::from_secs(180);

/// Posts the folder's results.
pub async fn publish(args: &PublishArgs) -> Exit {
    match post(args).await {
        Ok(()) => Exit::Pass,
        Err(failure) => failure.exit(),
    }
}

/// What the folder holds, with the verdict its files reach.
struct Folder {
    run: RunResult,
    /// `comment.md`, `summary.md` and `signoff.md`: the folder's own, else
    /// rendered now (a folder `import`, `merge` or `compare` wrote has none).
    comment: String,
    signoff: String,
    /// The verdict line, plain text.
    title: String,
}

fn read_folder(args: &PublishArgs, untrusted: bool) -> Result<Folder, Failure> {
    let dir = &args.from;
    if !dir.is_dir() {
        return Err(Failure::Input(format!(
            "--from {}: not a folder (give the folder `run --out` wrote)",
            dir.display()
        )));
    }
    let comparison_path = dir.join(compare::FILE_NAME);
    let comparison = if comparison_path.is_file() {
        Some(compare::read_file(&comparison_path).map_err(Failure::Input)?)
    } else {
        None
    };
    let mut run = super::report::read_run(&run_file(dir, comparison.as_ref())?).map_err(Failure::Input)?;
    if let Some(c) = &comparison
        && c.run.id != run.id
    {
        return Err(Failure::Input(format!(
            "{}: it compares plan \"{}\", but the run is plan \"{}\"",
            comparison_path.display(),
            c.run.id,
            run.id
        )));
    }
    if !valid_id(&run.id) {
        return Err(Failure::Input(format!(
            "{}: field `id`: {:?} is not a plan id (letters, digits, `-`, `_` and `.`, at most 100)",
            dir.join("run.json").display(),
            run.id
        )));
    }
    let baseline_path = dir.join("baseline").join("run.json");
    let baseline = if baseline_path.is_file() {
        Some(super::report::read_run(&baseline_path).map_err(Failure::Input)?)
    } else {
        None
    };
    // The verdict these files reach, as `verdict` would decide it: the
    // recorded one is not trusted.
    run.verdict = Some(crate::verdict::decide_with(&run, comparison.as_ref()));
    let input = Input {
        run: &run,
        comparison: comparison.as_ref(),
        baseline: baseline.as_ref(),
    };
    let model = report::model::Model::of(&input);
    let rendered = report::render_all(&input, args.templates.as_deref()).map_err(Failure::Input)?;
    let pick = |name: &str| -> Result<String, Failure> {
        let own = dir.join(name);
        if own.is_file() && !untrusted {
            return std::fs::read_to_string(&own)
                .map_err(|e| Failure::Input(format!("{}: cannot read it: {e}", own.display())));
        }
        rendered
            .iter()
            .find(|r| r.file == name)
            .map(|r| r.text.clone())
            .ok_or_else(|| Failure::Input(format!("no {name} was rendered")))
    };
    Ok(Folder {
        comment: pick("comment.md")?,
        signoff: pick("signoff.md")?,
        title: model.verdict.plain.clone(),
        run,
    })
}

/// The run a folder holds: its `run.json`; for a folder `compare --out`
/// wrote (a comparison.json alone), the run file the comparison names.
/// That file is not followed under `workflow_run`, where the folder is an
/// untrusted artifact that must not point publish at other files.
fn run_file(dir: &Path, comparison: Option<&compare::ComparisonFile>) -> Result<PathBuf, Failure> {
    let own = dir.join("run.json");
    if own.is_file() {
        return Ok(own);
    }
    let untrusted = std::env::var("GITHUB_EVENT_NAME").is_ok_and(|e| e == "workflow_run");
    match comparison.and_then(|c| c.run.path.as_deref()) {
        Some(path) if !untrusted => Ok(super::run_json(Path::new(path))),
        _ => Err(Failure::Input(format!(
            "{}: no run.json (give the folder `run`, `report` or `import` wrote, or a comparison.json that names its run)",
            dir.display()
        ))),
    }
}

/// A plan id as markers and sections use it.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The hidden marker of a plan's sticky comment.
pub fn marker(id: &str) -> String {
    format!("<!-- loadcheck:{id} -->")
}

async fn post(args: &PublishArgs) -> Result<(), Failure> {
    let event = crate::github::event::Event::from_env().map_err(Failure::Input)?;
    // A fork's artifact is data, not text to post under the bot's name:
    // its Markdown is rendered again from its run.json.
    let untrusted = event.as_ref().is_some_and(|e| {
        e.workflow_run.as_ref().is_some_and(|r| r.from_fork) || e.pull_request.as_ref().is_some_and(|p| p.from_fork)
    });
    let folder = read_folder(args, untrusted)?;
    let (owner, repo) = split_repo(args.repo.as_deref())?;
    let gh = GitHub::from_env()
        .map_err(|e| match e {
            GitHubError::MissingToken | GitHubError::BadToken | GitHubError::BadUrl { .. } => {
                Failure::Input(e.to_string())
            }
            e => Failure::Operational(e.to_string()),
        })?
        .with_budget(MAX_WAIT, BUDGET);
    let targets = target::resolve(args, event.as_ref(), &gh, &owner, &repo).await?;
    runner::mask(&[gh.token().to_string()]);
    let id = folder.run.id.clone();
    let mut failures = Vec::new();
    let mut outputs = Vec::new();
    let needs_identity = targets.pr.is_some() || targets.issue.is_some() || targets.signoff.is_some();
    let me = if needs_identity {
        Some(
            gh.identity()
                .await
                .map_err(|e| Failure::Operational(gh.scrub(&e.to_string())))?,
        )
    } else {
        None
    };
    let conversations = [
        ("pull request", targets.pr, "comment-url"),
        ("issue", targets.issue, "issue-comment-url"),
    ];
    for (what, number, output) in conversations {
        let (Some(number), Some(me)) = (number, me.as_ref()) else {
            continue;
        };
        match comment(&gh, &owner, &repo, number, &id, &folder.comment, me).await {
            Ok(posted) => {
                eprintln!(
                    "{what} #{number}: comment {} ({})",
                    posted.url.as_deref().unwrap_or("posted"),
                    match posted.posting {
                        crate::github::Posting::Created => "created",
                        crate::github::Posting::Updated => "updated",
                        crate::github::Posting::Unchanged => "unchanged",
                    }
                );
                outputs.push((output.to_string(), posted.url.unwrap_or_default()));
            }
            Err(e) => fail(&gh, &mut failures, e)?,
        }
    }
    if let (Some(release), Some(me)) = (&targets.signoff, me.as_ref()) {
        match gh.signoff(&owner, &repo, release, &id, &folder.signoff, me).await {
            Ok(issue) => {
                eprintln!(
                    "sign-off of {release}: issue #{} {}{}",
                    issue.number,
                    issue.url.as_deref().unwrap_or(""),
                    if issue.created { " (created)" } else { "" }
                );
                outputs.push(("signoff-url".to_string(), issue.url.unwrap_or_default()));
            }
            Err(e) => fail(&gh, &mut failures, e)?,
        }
    }
    if let Some(sha) = &targets.check_sha {
        let check = check_run(args, &folder, sha, targets.from_fork);
        match gh.create_check_run(&owner, &repo, &check).await {
            Ok(run) => {
                eprintln!(
                    "check run {:?} on {}: {} {}",
                    check.name,
                    &sha[..sha.len().min(12)],
                    check.conclusion,
                    run.html_url.as_deref().unwrap_or("")
                );
                outputs.push(("check-run-url".to_string(), run.html_url.unwrap_or_default()));
            }
            Err(e) => fail(&gh, &mut failures, e)?,
        }
    }
    if runner::in_actions()
        && let Err(e) = runner::write_outputs(&outputs)
    {
        eprintln!("warning: GITHUB_OUTPUT: {e}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Operational(failures.join("\n")))
    }
}

async fn comment(
    gh: &GitHub,
    owner: &str,
    repo: &str,
    number: u64,
    id: &str,
    body: &str,
    me: &Identity,
) -> Result<crate::github::Posted, GitHubError> {
    gh.sticky_comment(owner, repo, number, &marker(id), body, me).await
}

/// Records a failed surface and goes on to the next, except when GitHub
/// refused the token or the route (401, 403 without a rate limit, 404):
/// the other surfaces would be refused too, so it ends at once.
fn fail(gh: &GitHub, failures: &mut Vec<String>, e: GitHubError) -> Result<(), Failure> {
    let fatal = matches!(e.status(), Some(401 | 403 | 404));
    let message = gh.scrub(&e.to_string());
    if fatal {
        return Err(Failure::Operational(message));
    }
    failures.push(message);
    Ok(())
}

fn split_repo(repo: Option<&str>) -> Result<(String, String), Failure> {
    let repo = repo
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| Failure::Input("no repository: set GITHUB_REPOSITORY or give --repo owner/name".into()))?;
    match repo.trim().split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => Ok((o.to_string(), r.to_string())),
        _ => Err(Failure::Input(format!("--repo {repo:?}: expected owner/name"))),
    }
}

/// The check run: its conclusion from the verdict (`neutral` for a fork's
/// results, which could be forged), the verdict line as its title, the PR
/// comment's text as its summary, and an annotation on the plan for each
/// reason the run did not pass.
fn check_run(args: &PublishArgs, folder: &Folder, sha: &str, from_fork: bool) -> NewCheckRun {
    let verdict = folder.run.verdict.as_ref();
    let conclusion = if from_fork {
        "neutral"
    } else {
        match verdict.map(|v| v.result) {
            Some(VerdictResult::Pass) => "success",
            _ => "failure",
        }
    };
    let title = if from_fork {
        format!("From a fork, not trusted as a check: {}", folder.title)
    } else {
        folder.title.clone()
    };
    let plan_path = args.plan.to_string_lossy().replace('\\', "/");
    let plan_text = std::fs::read_to_string(&args.plan).ok();
    let annotations = verdict
        .map(|v| {
            v.reasons
                .iter()
                .map(|r| {
                    let line = plan_text.as_deref().and_then(|t| line_of(t, &r.name)).unwrap_or(1);
                    CheckAnnotation {
                        path: plan_path.clone(),
                        start_line: line,
                        end_line: line,
                        annotation_level: if r.exit_code == 0 { "warning" } else { "failure" },
                        message: r.detail.clone(),
                        title: Some(r.name.chars().take(255).collect()),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    NewCheckRun {
        name: format!("loadcheck / {}", folder.run.id),
        head_sha: sha.to_string(),
        conclusion,
        details_url: actions_run_url(),
        external_id: Some(external_id(&folder.run.id)),
        title,
        summary: folder.comment.clone(),
        text: None,
        annotations,
    }
}

/// The line of the plan a reason names: the first line holding its
/// selector (the part before `: `), or its whole name.
fn line_of(plan: &str, name: &str) -> Option<u32> {
    let selector = name.split(": ").next().unwrap_or(name).trim();
    let needles = [selector, name.trim()];
    plan.lines()
        .position(|l| needles.iter().any(|n| !n.is_empty() && l.contains(n)))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// An id for this publish's check run: the plan, the Actions run and
/// attempt when inside one, and a random part, so that a creation whose
/// answer was lost is found by it and by nothing else.
fn external_id(plan: &str) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let nonce: u64 = rand::random();
    match (var("GITHUB_RUN_ID"), var("GITHUB_RUN_ATTEMPT")) {
        (Some(run), Some(attempt)) => format!("{plan}@{run}.{attempt}-{nonce:016x}"),
        (Some(run), None) => format!("{plan}@{run}-{nonce:016x}"),
        _ => format!("{plan}-{nonce:016x}"),
    }
}

/// This job's Actions run, from the runner's variables.
fn actions_run_url() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}
