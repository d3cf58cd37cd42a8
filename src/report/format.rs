//! The trait every report format implements, and what it renders from and
//! into.

use crate::compare::ComparisonFile;
use crate::metrics::RunResult;

/// What every format renders from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The run (`run.json`).
    pub run: &'a RunResult,
    /// Its comparisons (`comparison.json`), when there are any.
    pub comparison: Option<&'a ComparisonFile>,
    /// A baseline run to lay over the run's charts (a duet's
    /// `baseline/run.json`), when there is one.
    pub baseline: Option<&'a RunResult>,
}

/// One file a format wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Its file name inside the output folder (`report.md`, `latency.svg`).
    pub file: String,
    /// Its contents.
    pub text: String,
}

/// A report format.
pub trait Format {
    /// Its name, for errors (`markdown`, `svg`).
    fn name(&self) -> &'static str;
    /// Every file it renders from `input`.
    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String>;
}
