//! The reports a run is rendered into. Today the terminal summary; the
//! Markdown, SVG, JSON and JUnit formats join it here.

pub mod summary;
