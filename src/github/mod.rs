//! The GitHub client: every call loadcheck makes to the GitHub API (the
//! rollout triggers' workflows and deployments; publishing's comments,
//! issues, sign-offs and check runs), with bounded retries and errors that
//! name the route, the status and the permission (and never the token);
//! and the Actions runner's files and workflow commands.
//!
//! The client is [`octocrab`]'s HTTP stack (TLS, timeouts, the base URL of
//! github.com or a GitHub Enterprise Server, the `Authorization` header);
//! the requests and the response types are loadcheck's own, so that routes,
//! bodies, retries and errors are exactly as written here. One file per
//! surface: `routes` (workflows, deployments), `comments`, `issues`,
//! `checks`, `pulls`, `identity`; `create` sends a creation once and looks
//! for it before sending it again; `signoff` is the sign-off issue's text,
//! `event` the triggering event, `runner` the runner's files.

mod checks;
mod client;
mod comments;
mod create;
mod errors;
pub mod event;
mod identity;
mod issues;
pub mod limits;
mod models;
mod pulls;
mod routes;
pub mod runner;
pub mod signoff;
#[cfg(test)]
mod tests;

pub use checks::{CheckAnnotation, NewCheckRun};
pub use client::{API_VERSION, DEFAULT_API_URL, GitHub, MAX_ATTEMPTS, MAX_RETRY_WAIT, MEDIA_TYPE};
pub use comments::{Posted, Posting};
pub use errors::GitHubError;
pub use identity::Identity;
pub use issues::SignoffIssue;
pub use models::{
    CheckRun, Comment, Deployment, DeploymentStatus, DispatchedRun, Issue, PullRequest, User, WorkflowRun,
};
pub use routes::RunQuery;
