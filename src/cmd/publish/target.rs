//! Where `publish` posts: the pull request, the issue, the sign-off and the
//! check run's commit, from the flags and the triggering event, and never
//! from the files (under `workflow_run` they come from an untrusted
//! artifact).

use crate::cli::PublishArgs;
use crate::github::GitHub;
use crate::github::event::Event;

use crate::cmd::failure::Failure;

/// Where to post.
#[derive(Debug, Default)]
pub(super) struct Targets {
    /// The pull request for the sticky comment.
    pub pr: Option<u64>,
    /// The issue for a comment.
    pub issue: Option<u64>,
    /// The release for the sign-off.
    pub signoff: Option<String>,
    /// The commit for the check run.
    pub check_sha: Option<String>,
    /// Whether the results come from a fork's code.
    pub from_fork: bool,
}

/// The targets the flags and the event allow.
pub(super) async fn resolve(
    args: &PublishArgs,
    event: Option<&Event>,
    gh: &GitHub,
    owner: &str,
    repo: &str,
) -> Result<Targets, Failure> {
    let mut t = Targets {
        issue: args.issue,
        signoff: args.signoff.clone().filter(|s| !s.trim().is_empty()),
        ..Targets::default()
    };
    let env_sha = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty());
    match event {
        Some(e) if e.pull_request.is_some() => {
            let pr = e.pull_request.as_ref().expect("checked");
            if let Some(n) = args.pr
                && n != pr.number
            {
                return Err(Failure::Input(format!(
                    "--pr {n}: this {} event is pull request #{}; publish posts only to it",
                    e.name, pr.number
                )));
            }
            t.pr = Some(pr.number);
            t.from_fork = pr.from_fork;
            t.check_sha = Some(pr.head_sha.clone());
            if pr.from_fork && (t.issue.is_some() || t.signoff.is_some()) {
                return Err(Failure::Input(format!(
                    "--issue and --signoff are refused for pull request #{} from a fork: its results could be forged",
                    pr.number
                )));
            }
        }
        Some(e) if e.workflow_run.is_some() => {
            let run = e.workflow_run.as_ref().expect("checked");
            t.from_fork = run.from_fork;
            t.check_sha = Some(run.head_sha.clone());
            // An artifact from a fork must not steer publish to an issue
            // or a sign-off.
            if run.from_fork && (t.issue.is_some() || t.signoff.is_some()) {
                return Err(Failure::Input(
                    "--issue and --signoff are refused under workflow_run when the triggering run is a fork's: \
                     its results could be forged"
                        .into(),
                ));
            }
            let wanted = args.pr.or(match run.pull_requests.as_slice() {
                [only] => Some(*only),
                _ => None,
            });
            if let Some(n) = wanted {
                let pull = gh
                    .get_pull(owner, repo, n)
                    .await
                    .map_err(|e| Failure::Operational(format!("checking --pr {n}: {e}")))?;
                if !pull.head.sha.eq_ignore_ascii_case(&run.head_sha) {
                    return Err(Failure::Input(format!(
                        "--pr {n} refused: its head commit is {}, but the run that triggered this one \
                         (workflow_run {}) ran on {}; an artifact may only post to its own pull request",
                        pull.head.sha, run.id, run.head_sha
                    )));
                }
                t.from_fork |= pull.from_fork();
                t.pr = Some(n);
            }
        }
        _ => {
            t.pr = args.pr;
            t.check_sha = env_sha;
        }
    }
    if let Some(sha) = &args.sha {
        // The event names the commit the results are for; a check run may
        // not be put on another (main's, say).
        match &t.check_sha {
            Some(head)
                if event.is_some_and(|e| e.pull_request.is_some() || e.workflow_run.is_some())
                    && !head.eq_ignore_ascii_case(sha) =>
            {
                return Err(Failure::Input(format!(
                    "--sha {sha}: this event's results are for commit {head}; a check run goes only on it"
                )));
            }
            _ => t.check_sha = Some(sha.clone()),
        }
    }
    if args.no_comment {
        t.pr = None;
    }
    if args.no_check {
        t.check_sha = None;
    }
    if let Some(sha) = &t.check_sha
        && !(sha.len() >= 7 && sha.len() <= 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Failure::Input(format!("the commit {sha:?} is not a commit sha")));
    }
    if t.pr.is_none() && t.issue.is_none() && t.signoff.is_none() && t.check_sha.is_none() {
        return Err(Failure::Input(
            "nothing to publish to: give --pr, --issue or --signoff, or run on a pull_request or workflow_run \
             event (or with GITHUB_SHA set, for a check run)"
                .into(),
        ));
    }
    Ok(t)
}
