//! The reports a run is rendered into. One [`Format`] trait, one file per
//! format: the terminal summary, Markdown (minijinja templates), SVG charts
//! (plotters), Mermaid and JUnit. Every format renders from the files of a
//! run only: `run.json` (a [`crate::metrics::RunResult`]) and, when there is one,
//! `comparison.json` (a [`crate::compare::ComparisonFile`]).

mod format;
pub mod junit;
pub mod knee;
pub mod markdown;
pub mod mermaid;
pub mod model;
pub mod scaling;
pub mod summary;
pub mod svg;

use std::path::Path;

pub use format::{Format, Input, Rendered};

/// Writes every rendered file into `dir`, atomically, one by one.
pub fn write_all(dir: &Path, files: &[Rendered]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in files {
        let path = dir.join(&f.file);
        crate::atomic::replace(&path, f.text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Every format, in the order they are written.
pub fn formats(templates: Option<&Path>) -> Vec<Box<dyn Format>> {
    vec![
        Box::new(summary::Terminal),
        Box::new(markdown::Markdown {
            templates: templates.map(Path::to_path_buf),
        }),
        Box::new(mermaid::Mermaid),
        Box::new(svg::Svg),
        Box::new(junit::Junit),
    ]
}

/// Every file of every format; an error names the format that failed.
pub fn render_all(input: &Input<'_>, templates: Option<&Path>) -> Result<Vec<Rendered>, String> {
    let mut out = Vec::new();
    for f in formats(templates) {
        out.extend(f.render(input).map_err(|e| format!("the {} report: {e}", f.name()))?);
    }
    Ok(out)
}
