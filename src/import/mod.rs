//! Other tools' results, read into loadcheck's terms. Today: k6's three
//! output formats (`--summary-export`, `handleSummary(data)` and `--out
//! json` points), read into typed records with k6's own statistics, then
//! converted into a run's statistics, timeline and judged thresholds
//! (`k6::convert`), which `loadcheck import k6` writes as a `run.json`.

pub mod k6;
