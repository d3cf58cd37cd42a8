//! The GitHub client: the few REST calls the GitHub rollout triggers make,
//! with bounded retries and errors that name the route and status (and
//! never the token).
//!
//! The client is [`octocrab`]'s HTTP stack (TLS, timeouts, the base URL of
//! github.com or a GitHub Enterprise Server, the `Authorization` header);
//! the requests and the response types are loadcheck's own, so that routes,
//! bodies, retries and errors are exactly as written here.

mod client;
mod errors;
mod models;
mod routes;
#[cfg(test)]
mod tests;

pub use client::{API_VERSION, DEFAULT_API_URL, GitHub, MAX_ATTEMPTS, MAX_RETRY_WAIT, MEDIA_TYPE};
pub use errors::GitHubError;
pub use models::{Deployment, DeploymentStatus, DispatchedRun, WorkflowRun};
pub use routes::RunQuery;
