//! `loadcheck validate`: checks a plan without sending anything, and the
//! plan loading every command that takes a plan shares.

use std::path::Path;

use crate::cli::{DEFAULT_PLAN, PlanArgs, ValidateArgs};
use crate::exit::Exit;
use crate::plan::{self, Overrides, Plan};

/// `loadcheck validate`. An unset environment variable the plan reads is a
/// warning unless `--require-secrets`; `run` always refuses it.
pub fn validate(args: &ValidateArgs) -> Exit {
    let checked = if args.require_secrets {
        load_plan(&args.plan).map(|plan| (plan, Vec::new()))
    } else {
        plan::lint(&args.plan.plan_path(), &overrides(&args.plan)).map_err(|e| {
            eprintln!("error: {e}");
            Exit::BadInput
        })
    };
    match checked {
        Ok((plan, unset)) => {
            for e in &unset {
                eprintln!("warning: {e}; `run` needs it (--require-secrets makes this an error)");
            }
            println!(
                "{}: ok ({} scenarios, {} endpoints{})",
                args.plan.plan_path().display(),
                plan.scenarios.len(),
                plan.endpoints.len(),
                match unset.len() {
                    0 => String::new(),
                    n => format!(", {n} environment variable(s) unset"),
                }
            );
            Exit::Pass
        }
        Err(code) => code,
    }
}

fn overrides(args: &PlanArgs) -> Overrides {
    Overrides {
        target: args.target.clone(),
        duration: args.duration,
        rate: args.rate,
        vus: args.vus,
        baseline_target: args.baseline_target.clone(),
    }
}

/// Loads and validates a plan; a bad plan is reported and exits 2.
pub fn load_plan(args: &PlanArgs) -> Result<Plan, Exit> {
    plan::load(&args.plan_path(), &overrides(args)).map_err(|e| {
        eprintln!("error: {e}");
        super::actions::plan_error(&e);
        Exit::BadInput
    })
}

/// The plan `run` sends: the file named, else `./loadcheck.toml`; with
/// neither, and `--target URL`, quick mode's plan ([`quick_plan`]).
pub fn load_run_plan(args: &PlanArgs) -> Result<Plan, Exit> {
    match &args.target {
        Some(url) if args.plan.is_none() && !Path::new(DEFAULT_PLAN).exists() => quick_plan(url, args),
        _ => load_plan(args),
    }
}

/// VUs of quick mode's closed model when `--vus` is not given (hey's
/// workers and oha's connections default to 50 too).
pub const QUICK_VUS: u32 = 50;

/// How long quick mode runs when `--duration` is not given.
pub const QUICK_DURATION: &str = "10s";

/// Quick mode, like oha's: a plan made in memory from `--target URL`. One
/// endpoint, GET of the URL's path and query; one scenario,
/// `constant-arrival-rate` at `--rate` when given, else `constant-vus` with
/// `--vus` (default [`QUICK_VUS`]), for `--duration` (default
/// [`QUICK_DURATION`]); no thresholds. The plan is named after the host.
pub fn quick_plan(url: &str, args: &PlanArgs) -> Result<Plan, Exit> {
    let bad = |m: &str| {
        eprintln!("error: --target \"{url}\": {m}");
        Exit::BadInput
    };
    let Some(after_scheme) = url.find("://").map(|i| i + 3) else {
        return Err(bad(
            "quick mode (no plan file) needs a URL such as http://127.0.0.1:8080/path",
        ));
    };
    let split = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| i + after_scheme);
    let (origin, rest) = url.split_at(split);
    let path = match rest.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{rest}"),
        Some(_) => rest.to_string(),
    };
    let host = origin[after_scheme..]
        .rsplit_once(':')
        .map_or(&origin[after_scheme..], |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let s = |v: &str| toml::Value::String(v.to_string()).to_string();
    // --rate, --vus and --duration apply as overrides, checked as a plan's.
    let load = match args.rate {
        Some(_) => "executor = \"constant-arrival-rate\"\nrate = 1\n".to_string(),
        None => format!("executor = \"constant-vus\"\nvus = {QUICK_VUS}\n"),
    };
    let text = format!(
        "name = {}\ntarget = {}\n\n[[scenario]]\nname = \"quick\"\n{load}duration = {}\n\n[[endpoint]]\nname = \"get\"\npath = {}\n",
        s(host),
        s(origin),
        s(QUICK_DURATION),
        s(&path),
    );
    let overrides = Overrides {
        target: None,
        ..overrides(args)
    };
    plan::parse(Path::new(DEFAULT_PLAN), &text, &overrides).map_err(|e| {
        if e.field.starts_with("--") {
            eprintln!("error: {}: {}", e.field, e.message);
            Exit::BadInput
        } else {
            bad(&e.message)
        }
    })
}
