//! One file per subcommand, each wiring the stages below it into its part
//! of the pipeline. `lib.rs` dispatches here.

pub mod demo;
pub mod duet;
pub mod run;
pub mod sink;
pub mod validate;
pub mod verdict;

use std::path::Path;

use anyhow::{Context, Result};

/// Replaces `path` with `text` atomically: a temporary file beside it, then
/// a rename, so a reader never sees half a file and a crash leaves the old
/// one.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
