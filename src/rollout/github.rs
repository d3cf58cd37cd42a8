//! GitHub rollout triggers (being written).

use tokio::sync::mpsc::UnboundedSender;

use super::TriggerEvent;
use crate::github::GitHub;
use crate::plan::{DeploymentSpec, WorkflowSpec};

/// Dispatches and follows a workflow run.
pub async fn follow_workflow(
    _gh: &GitHub,
    _spec: &WorkflowSpec,
    _tx: &UnboundedSender<TriggerEvent>,
) -> anyhow::Result<()> {
    anyhow::bail!("github_workflow is being written")
}

/// Watches an environment's deployments.
pub async fn watch_deployment(
    _gh: &GitHub,
    _spec: &DeploymentSpec,
    _since: chrono::DateTime<chrono::Utc>,
    _tx: &UnboundedSender<TriggerEvent>,
) -> anyhow::Result<()> {
    anyhow::bail!("github_deployment is being written")
}
