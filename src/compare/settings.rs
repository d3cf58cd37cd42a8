//! The settings a comparison uses: the plan's `[baseline]`, as validated or
//! as a `run.json` recorded it.

use crate::plan::baseline::{BaselineConfig, Floors, HeadVsTail};

/// The settings a comparison uses: the plan's `[baseline]`, as configured
/// or as recorded in a `run.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `min_effect`.
    pub min_effect: f64,
    /// The floors.
    pub floors: Floors,
    /// `head_vs_tail`.
    pub head_vs_tail: HeadVsTail,
}

impl Settings {
    /// From a validated plan.
    pub fn of(cfg: &BaselineConfig) -> Settings {
        Settings {
            min_effect: cfg.min_effect,
            floors: cfg.floors,
            head_vs_tail: cfg.head_vs_tail,
        }
    }

    /// From the plan recorded in a `run.json` (defaults for what it lacks:
    /// runs recorded before `[baseline]` existed).
    pub fn recorded(plan: &serde_json::Value) -> Settings {
        let d = BaselineConfig::default();
        let b = plan.get("baseline");
        let num = |k: &str| b.and_then(|b| b.get(k)).and_then(serde_json::Value::as_f64);
        let floor = |k: &str| {
            b.and_then(|b| b.pointer(&format!("/floors/{k}")))
                .and_then(serde_json::Value::as_f64)
        };
        let ms = |k: &str, dflt: std::time::Duration| {
            floor(k)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map_or(dflt, |v| std::time::Duration::from_secs_f64(v / 1000.0))
        };
        let f = d.floors;
        Settings {
            min_effect: num("min_effect")
                .filter(|v| *v > 0.0 && v.is_finite())
                .unwrap_or(d.min_effect),
            floors: Floors {
                p50: ms("p50", f.p50),
                p95: ms("p95", f.p95),
                p99: ms("p99", f.p99),
                delivery: ms("delivery", f.delivery),
                error_rate: floor("error_rate").unwrap_or(f.error_rate),
                throughput: floor("throughput").unwrap_or(f.throughput),
                dropped: floor("dropped").unwrap_or(f.dropped),
            },
            head_vs_tail: match b.and_then(|b| b.get("head_vs_tail")).and_then(|v| v.as_str()) {
                Some("off") => HeadVsTail::Off,
                Some("fail") => HeadVsTail::Fail,
                _ => HeadVsTail::Report,
            },
        }
    }
}
