//! One file per subcommand, each wiring the stages below it into its part
//! of the pipeline. `lib.rs` dispatches here.

pub mod actions;
pub mod baseline;
pub mod compare;
pub mod demo;
pub mod duet;
mod failure;
pub mod import;
pub mod merge;
pub mod publish;
pub mod report;
pub mod run;
pub mod sink;
pub mod validate;
pub mod verdict;

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Replaces `path` with `text` atomically: a temporary file beside it, then
/// a rename, so a reader never sees half a file and a crash leaves the old
/// one.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    crate::atomic::replace(path, text.as_bytes())?;
    Ok(())
}

/// `DIR/run.json` for a folder, the path itself for a file: how `verdict`
/// and `report` name a run.
fn run_json(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("run.json")
    } else {
        path.to_path_buf()
    }
}
