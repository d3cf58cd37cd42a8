//! The event that started the workflow (`GITHUB_EVENT_PATH`): which pull
//! request it is about, its head commit, and whether it comes from a fork.

use serde::Deserialize;

/// What publishing needs from the triggering event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `GITHUB_EVENT_NAME`.
    pub name: String,
    /// For `pull_request` and `pull_request_target`: the pull request.
    pub pull_request: Option<EventPull>,
    /// For `workflow_run`: the run that triggered this one.
    pub workflow_run: Option<TriggeringRun>,
}

/// A pull request, as its own event gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPull {
    /// Its number.
    pub number: u64,
    /// Its head commit.
    pub head_sha: String,
    /// Whether its head is in another repository.
    pub from_fork: bool,
}

/// The run a `workflow_run` event reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggeringRun {
    /// The run's id.
    pub id: u64,
    /// The event that started it (`pull_request`, `push`, …).
    pub event: Option<String>,
    /// The commit it ran on.
    pub head_sha: String,
    /// Whether it ran on a fork's code.
    pub from_fork: bool,
    /// The pull requests GitHub links it to (empty for a fork's).
    pub pull_requests: Vec<u64>,
    /// Its page.
    pub html_url: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    pull_request: Option<RawPull>,
    #[serde(default)]
    workflow_run: Option<RawRun>,
    #[serde(default)]
    repository: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct RawRef {
    sha: String,
    #[serde(default)]
    repo: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    head: RawRef,
    base: RawRef,
}

#[derive(Deserialize)]
struct RawNumber {
    number: u64,
}

#[derive(Deserialize)]
struct RawRun {
    id: u64,
    #[serde(default)]
    event: Option<String>,
    head_sha: String,
    #[serde(default)]
    head_repository: Option<RawRepo>,
    #[serde(default)]
    repository: Option<RawRepo>,
    #[serde(default)]
    pull_requests: Vec<RawNumber>,
    #[serde(default)]
    html_url: Option<String>,
}

fn same(a: Option<&RawRepo>, b: Option<&RawRepo>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.full_name.eq_ignore_ascii_case(&b.full_name))
}

impl Event {
    /// The event from `GITHUB_EVENT_NAME` and the file `GITHUB_EVENT_PATH`
    /// names; `Ok(None)` outside Actions (neither set).
    pub fn from_env() -> Result<Option<Event>, String> {
        let name = std::env::var("GITHUB_EVENT_NAME").unwrap_or_default();
        let Some(path) = std::env::var_os("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("GITHUB_EVENT_PATH {}: cannot read it: {e}", path.to_string_lossy()))?;
        Event::parse(&name, &text)
            .map(Some)
            .map_err(|e| format!("GITHUB_EVENT_PATH {}: {e}", path.to_string_lossy()))
    }

    /// The event named `name` from its JSON payload.
    pub fn parse(name: &str, json: &str) -> Result<Event, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| format!("line {} column {}: not an event payload: {e}", e.line(), e.column()))?;
        let mut event = Event {
            name: name.to_string(),
            ..Event::default()
        };
        if matches!(name, "pull_request" | "pull_request_target") {
            let pr = raw
                .pull_request
                .ok_or_else(|| format!("a {name} event without `pull_request`"))?;
            event.pull_request = Some(EventPull {
                number: pr.number,
                head_sha: pr.head.sha,
                from_fork: !same(pr.head.repo.as_ref(), pr.base.repo.as_ref()),
            });
        }
        if name == "workflow_run" {
            let run = raw.workflow_run.ok_or("a workflow_run event without `workflow_run`")?;
            let base = run.repository.as_ref().or(raw.repository.as_ref());
            event.workflow_run = Some(TriggeringRun {
                id: run.id,
                event: run.event,
                from_fork: !same(run.head_repository.as_ref(), base),
                head_sha: run.head_sha,
                pull_requests: run.pull_requests.iter().map(|p| p.number).collect(),
                html_url: run.html_url,
            });
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_pull_request_is_seen_as_one() {
        let e = Event::parse(
            "pull_request",
            r#"{"pull_request": {"number": 7, "head": {"sha": "abc", "repo": {"full_name": "eve/app"}},
                "base": {"sha": "def", "repo": {"full_name": "acme/app"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            e.pull_request,
            Some(EventPull {
                number: 7,
                head_sha: "abc".into(),
                from_fork: true
            })
        );
    }

    #[test]
    fn a_workflow_run_names_its_head_and_fork() {
        let e = Event::parse(
            "workflow_run",
            r#"{"workflow_run": {"id": 9, "event": "pull_request", "head_sha": "abc",
                "head_repository": {"full_name": "acme/app"}, "repository": {"full_name": "acme/app"},
                "pull_requests": [{"number": 3}]}}"#,
        )
        .unwrap();
        let run = e.workflow_run.unwrap();
        assert!(!run.from_fork);
        assert_eq!(run.pull_requests, vec![3]);
        assert!(Event::parse("workflow_run", "{}").is_err());
        assert!(Event::parse("push", "{").is_err());
        assert_eq!(Event::parse("push", "{}").unwrap().pull_request, None);
    }
}
