//! Other tools' results, read into loadcheck's terms. Today: k6's three
//! output formats (`--summary-export`, `handleSummary(data)` and `--out
//! json` points), read into typed records with k6's own statistics.
//! Turning them into a `run.json` (`loadcheck import k6`) comes next.

pub mod k6;
