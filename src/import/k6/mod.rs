//! k6's output, read as k6 wrote it.
//!
//! - [`summary`]: the end-of-test summary, from `--summary-export` or from
//!   `handleSummary(data)`. The two spell a threshold's outcome opposite
//!   ways (`true` is *failed* in the first, `ok: true` is *passed* in the
//!   second); both are read into [`summary::Threshold::passed`].
//! - [`points`]: the `--out json` NDJSON stream, read line by line and
//!   folded, per metric and tag set, into aggregates, so that any k6
//!   sub-metric (`http_req_duration{name:search}`) can be recomputed
//!   without keeping the samples.
//! - [`percentile`]: k6's percentile (linear interpolation between sorted
//!   samples), so that what is recomputed from points equals k6's summary.
//! - [`sketch`]: a trend's values in bounded memory, exact while they are
//!   few, then in bins 0.049 % wide, read with k6's percentile.
//! - [`requests`]: `http_req_duration` samples, as they are read, into a
//!   run's per-key statistics and its per-second timeline, whose seconds
//!   are written to `timeline.hlog` as they close.
//!
//! - [`convert`]: what was read, as a run's atoms, views, timeline,
//!   per-second histograms and k6's thresholds with their outcomes.
//!
//! Every error names the file, and for NDJSON the line.

pub mod convert;
mod error;
pub mod percentile;
pub mod points;
pub mod requests;
pub mod sketch;
pub mod summary;

pub use error::ImportError;
