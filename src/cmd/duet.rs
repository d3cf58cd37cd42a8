//! The output side of a duet run (`[baseline] target`,
//! `--baseline-target`): the baseline target's result goes to
//! `DIR/baseline/run.json` (and `DIR/baseline/timeline.hlog`), a complete
//! `RunResult` of its own, and each side's result says which side it is.
//! The engine's `duet` module says how requests are mirrored.

use std::path::{Path, PathBuf};

use crate::engine::EngineOutput;
use crate::metrics::RunResult;
use crate::metrics::duet::{Duet, DuetRole};
use crate::metrics::result::RunStart;
use crate::outcome;
use crate::plan::Plan;
use crate::rollout::controller::RolloutReport;

/// The folder of the baseline target's result, inside the run's `DIR`.
pub const FOLDER: &str = "baseline";

/// `DIR/baseline`, when the plan is a duet.
pub fn dir(plan: &Plan, out: &Path) -> Option<PathBuf> {
    plan.baseline.target.as_ref().map(|_| out.join(FOLDER))
}

/// Builds the baseline side's result (judged by the same plan, with its
/// own verdict) from what the engine measured there, and marks both
/// results with their side. `None` when the plan is not a duet.
pub fn assemble(
    plan: &Plan,
    output: &EngineOutput,
    report: &RolloutReport,
    start: RunStart,
    target_result: &mut RunResult,
) -> Option<RunResult> {
    let baseline_url = plan.baseline.target.as_ref()?.url();
    let measured = output.baseline.as_deref()?;
    // A duet runs with no sink and no setup: nothing extra to record.
    let mut result = outcome::assemble(plan, measured, report, &outcome::Extra::default(), start);
    let target_url = plan.target.url();
    result.duet = Some(Duet {
        role: DuetRole::Baseline,
        url: baseline_url.clone(),
        peer: target_url.clone(),
    });
    target_result.duet = Some(Duet {
        role: DuetRole::Target,
        url: target_url,
        peer: baseline_url,
    });
    Some(result)
}
