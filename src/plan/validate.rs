//! Raw plan → validated [`Plan`], in one place.
//!
//! This file does the top level, variables and endpoints;
//! `validate/url.rs` the target, endpoint URLs and `[tls]`, `validate/scenario.rs`
//! and `validate/executor.rs` the scenarios, and `validate/checks.rs`
//! thresholds and requirements. Every error is located
//! through [`SourceMap`], so it names the line and the field path.

mod baseline;
mod checks;
mod ctx;
mod executor;
mod report;
mod request;
mod rollout;
mod scenario;
mod signing;
mod url;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use self::ctx::{Ctx, EnvLookup, check_name};
use self::request::{RequestParts, request_parts};
use super::checks::{CheckNames, Checks};
use super::error::{FieldPath, PlanError};
use super::raw::{OneOf, RawChecks, RawEndpoint, RawPlan, RawRequirement, RawThreshold, RawVarTable};
use super::template;
use super::{Endpoint, Overrides, Plan, Var};

/// Validates a raw plan, applying `overrides`. `text` is the file's text, for
/// positions.
pub(super) fn validate(path: &Path, text: &str, raw: RawPlan, overrides: &Overrides) -> Result<Plan, PlanError> {
    validate_with_env(path, text, raw, overrides, &|name| std::env::var(name).ok())
}

/// [`validate`] with a custom environment.
pub(super) fn validate_with_env(
    path: &Path,
    text: &str,
    raw: RawPlan,
    overrides: &Overrides,
    env: EnvLookup,
) -> Result<Plan, PlanError> {
    validate_plan(&Ctx::new(path, text), path, raw, overrides, env)
}

/// [`validate_with_env`] as a lint: an environment variable the plan reads
/// and the environment lacks is returned beside the plan, as the error a
/// run would give, instead of failing it. The plan holds a stand-in value
/// for each; it is for reporting, never for running.
pub(super) fn lint_with_env(
    path: &Path,
    text: &str,
    raw: RawPlan,
    overrides: &Overrides,
    env: EnvLookup,
) -> Result<(Plan, Vec<PlanError>), PlanError> {
    let ctx = Ctx::lint(path, text);
    let plan = validate_plan(&ctx, path, raw, overrides, env)?;
    Ok((plan, ctx.take_unset_env()))
}

fn validate_plan(
    ctx: &Ctx,
    path: &Path,
    raw: RawPlan,
    overrides: &Overrides,
    env: EnvLookup,
) -> Result<Plan, PlanError> {
    scenario::check_overrides(ctx, overrides)?;
    let target = url::target(ctx, raw.target.as_deref(), overrides.target.as_deref())?;
    let timeout = match raw.timeout {
        Some(t) if t.0.is_zero() => return Err(ctx.err(&FieldPath::root("timeout"), "the timeout must be above 0")),
        Some(t) => t.0,
        None => Duration::from_secs(10),
    };
    let tls = url::tls(ctx, raw.tls)?;
    let limits = url::limits(ctx, raw.limits)?;
    let mut vars = vars(ctx, raw.vars, env)?;
    let plan_signing = match raw.signing {
        Some(s) => Some(signing::signing(ctx, &FieldPath::root("signing"), s, env)?),
        None => None,
    };
    let setups = signing::setups(ctx, raw.setups, &mut vars, plan_signing.as_ref())?;
    let mut endpoints = Vec::with_capacity(raw.endpoints.len());
    let mut weights = Vec::with_capacity(raw.endpoints.len());
    for (i, e) in raw.endpoints.into_iter().enumerate() {
        let (endpoint, weight) = endpoint(ctx, i, e, &vars, &endpoints, plan_signing.as_ref(), env)?;
        endpoints.push(endpoint);
        weights.push(weight);
    }
    let sink = signing::plan_sink(ctx, raw.sink, &endpoints, env)?;
    let rollout = rollout::rollout(ctx, raw.rollout)?;
    let availability = rollout::availability(ctx, raw.availability)?;
    let probes = rollout::probes(ctx, raw.probes)?;
    let sc = scenario::Inputs {
        endpoints: &endpoints,
        weights: &weights,
        overrides,
        timeout,
        default_duration: rollout.as_ref().map(|r| r.head + r.timeout + r.tail),
    };
    let scenarios = scenario::scenarios(ctx, raw.scenarios, raw.load, &sc)?;
    let cap = scenarios
        .iter()
        .map(|s| s.start_time + s.executor.duration())
        .max()
        .unwrap_or_default();
    let faults = rollout::faults(ctx, raw.faults, cap)?;
    let mut events: Vec<String> = faults.iter().map(|f| f.name.clone()).collect();
    if rollout.is_some() {
        events.insert(0, "rollout".to_string());
    }
    let names = CheckNames {
        endpoints: endpoints.iter().map(|e| e.name.clone()).collect(),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        events,
        probes: probes.iter().map(|p| p.name.clone()).collect(),
        has_rollout: rollout.is_some(),
    };
    let thresholds = checks::thresholds(ctx, raw.thresholds, &names)?;
    let requirements = checks::requirements(ctx, raw.requirements, &names)?;
    let name = match raw.name {
        Some(n) if n.trim().is_empty() => return Err(ctx.err(&FieldPath::root("name"), "the name is empty")),
        Some(n) => n,
        None => path
            .file_stem()
            .map_or_else(|| "plan".to_string(), |s| s.to_string_lossy().into_owned()),
    };
    let id = plan_id(ctx, raw.id, &name)?;
    let refuse_duet = baseline::duet_refusal(rollout.is_some(), sink.is_some(), !setups.is_empty(), &endpoints);
    let baseline = baseline::baseline(ctx, raw.baseline, refuse_duet.as_deref(), overrides)?;
    let report = report::report(ctx, raw.report)?;
    Ok(Plan {
        name,
        id,
        source: path.to_path_buf(),
        target,
        timeout,
        tls,
        limits,
        scenarios,
        endpoints,
        vars,
        thresholds,
        requirements,
        rollout,
        availability,
        faults,
        probes,
        signing: plan_signing,
        setups,
        sink,
        baseline,
        report,
    })
}

/// The plan's `id`: as written (letters, digits, `_`, `.`, `-`, at most 64
/// characters), or a slug of its name.
fn plan_id(ctx: &Ctx, raw: Option<String>, name: &str) -> Result<String, PlanError> {
    let Some(id) = raw else {
        return Ok(slug(name));
    };
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(id)
    } else {
        Err(ctx.err_near(
            &FieldPath::root("id"),
            format!(
                "id \"{id}\" must be 1 to {MAX_ID} letters, digits, `_`, `.` or `-`: file names, comment markers and sign-off sections use it"
            ),
            Some(slug(&id)),
        ))
    }
}

/// The longest plan id.
const MAX_ID: usize = 64;

/// A slug of a plan's name: lower-case letters, digits, `_` and `.`, with
/// every other run of characters made one `-`; `plan` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(MAX_ID).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "plan".to_string() } else { out }
}

/// Thresholds and requirements read back from a run's file: checked by the
/// same rules as a plan's, with errors naming the field (a recorded plan
/// has no lines).
pub(super) fn recorded_checks(
    source: &Path,
    thresholds: Vec<(String, Vec<OneOf<RawThreshold>>)>,
    requirements: Vec<RawRequirement>,
    names: &CheckNames,
) -> Result<Checks, PlanError> {
    let ctx = Ctx::recorded(source);
    Ok(Checks {
        thresholds: checks::thresholds_in_order(&ctx, thresholds, names)?,
        requirements: checks::requirements(&ctx, requirements, names)?,
    })
}

/// Another plan file's `[thresholds]` and `[[requirement]]`, checked
/// against a run's names; the rest of the file is not read.
pub(super) fn checks_file(path: &Path, text: &str, raw: RawChecks, names: &CheckNames) -> Result<Checks, PlanError> {
    let ctx = Ctx::new(path, text);
    Ok(Checks {
        thresholds: checks::thresholds(&ctx, raw.thresholds, names)?,
        requirements: checks::requirements(&ctx, raw.requirements, names)?,
    })
}

/// Validates a `sink.toml`; `listen` (from `--listen`) replaces its own.
pub(super) fn sink_file(
    path: &Path,
    text: &str,
    raw: super::raw::RawSink,
    listen: Option<std::net::SocketAddr>,
    env: EnvLookup,
) -> Result<super::sink::SinkConfig, PlanError> {
    let ctx = Ctx::new(path, text);
    signing::sink_config(&ctx, &FieldPath::top(), raw, listen, env)
}

fn vars(
    ctx: &Ctx,
    raw: BTreeMap<String, OneOf<RawVarTable>>,
    env: EnvLookup,
) -> Result<BTreeMap<String, Var>, PlanError> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let at = FieldPath::root("vars").key(&name);
        if !template::is_identifier(&name) {
            return Err(ctx.err(
                &at,
                format!("variable name \"{name}\" must be letters, digits and `_`, not starting with a digit"),
            ));
        }
        if template::BUILTINS.contains(&name.as_str()) {
            return Err(ctx.err(&at, format!("`{name}` is a built-in placeholder; choose another name")));
        }
        let var = match value {
            OneOf::Seq(list) if list.is_empty() => return Err(ctx.err(&at, "the list of values is empty")),
            OneOf::Seq(list) => Var::List(list),
            OneOf::Str(s) => Var::List(vec![s]),
            OneOf::Map(t) => var_table(ctx, &at, t, env)?,
        };
        out.insert(name, var);
    }
    Ok(out)
}

fn var_table(ctx: &Ctx, at: &FieldPath, t: RawVarTable, env: EnvLookup) -> Result<Var, PlanError> {
    match (t.file, t.env) {
        (Some(_), Some(_)) => Err(ctx.err(at, "give either `file` or `env`, not both")),
        (None, None) => Err(ctx.err(at, "expected `file = \"…\"` or `env = \"NAME\"`")),
        (Some(file), None) => {
            if t.secret.is_some() {
                return Err(ctx.err(&at.key("secret"), "`secret` applies to `env` variables only"));
            }
            let p = ctx.resolve_path(&file);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| ctx.err(&at.key("file"), format!("cannot read {}: {e}", p.display())))?;
            let values: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            if values.is_empty() {
                return Err(ctx.err(&at.key("file"), format!("{} has no non-empty line", p.display())));
            }
            Ok(Var::List(values))
        }
        (None, Some(name)) => {
            let value = ctx.env(env, &at.key("env"), &name)?;
            Ok(if t.secret == Some(true) {
                Var::Secret { env: name, value }
            } else {
                Var::List(vec![value])
            })
        }
    }
}

fn endpoint(
    ctx: &Ctx,
    i: usize,
    raw: RawEndpoint,
    vars: &BTreeMap<String, Var>,
    seen: &[Endpoint],
    plan_signing: Option<&crate::plan::Signing>,
    env: EnvLookup,
) -> Result<(Endpoint, u32), PlanError> {
    let at = FieldPath::root("endpoint").index(i);
    check_name(ctx, &at.key("name"), &raw.name, "endpoint")?;
    if seen.iter().any(|e| e.name == raw.name) {
        return Err(ctx.err(&at.key("name"), format!("endpoint \"{}\" is defined twice", raw.name)));
    }
    let RequestParts {
        method,
        origin,
        path,
        headers,
        body,
    } = request_parts(ctx, &at, raw.method.as_deref(), &raw.path, raw.headers, raw.body, vars)?;
    for (j, status) in raw.expect.iter().enumerate() {
        if !(100..=599).contains(status) {
            return Err(ctx.err(
                &at.key("expect").index(j),
                format!("{status} is not an HTTP status (100..=599)"),
            ));
        }
    }
    let signing = signing::endpoint_signing(ctx, &at, raw.signing, raw.negative, plan_signing, env)?;
    let mut expect = raw.expect;
    if expect.is_empty() && signing.as_ref().is_some_and(|s| s.negative.is_some()) {
        // A deliberately bad signature is answered correctly by a refusal.
        expect = vec![401, 403];
    }
    let endpoint = Endpoint {
        name: raw.name,
        method,
        origin,
        path,
        headers,
        body,
        expect,
        signing,
    };
    Ok((endpoint, raw.weight.unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: EnvLookup) -> Result<Plan, PlanError> {
        let path = Path::new("t.toml");
        let raw = super::super::raw::parse(path, text)?;
        validate_with_env(path, text, raw, &Overrides::default(), env)
    }

    const PLAN: &str = "target = \"http://h\"\n[vars]\nk = { env = \"K\", secret = true }\n[[endpoint]]\nname = \"e\"\npath = \"/{{k}}\"\n[load]\nexecutor = \"constant-vus\"\nduration = \"1s\"\n";

    #[test]
    fn secrets_come_from_the_environment() {
        let plan = run(PLAN, &|n| (n == "K").then(|| "v".to_string())).unwrap();
        assert!(matches!(&plan.vars["k"], Var::Secret { env, value } if env == "K" && value == "v"));
        let e = run(PLAN, &|_| None).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(3), "vars.k.env"));
        let plain = PLAN.replace(", secret = true", "");
        let plan = run(&plain, &|_| Some("v".into())).unwrap();
        assert!(matches!(&plan.vars["k"], Var::List(v) if v == &["v"]));
    }

    #[test]
    fn var_names_must_be_usable() {
        let e = run(&PLAN.replace("k = {", "vu = {"), &|_| Some("v".into())).unwrap_err();
        assert!(e.message.contains("built-in"), "{e}");
        let e = run(&PLAN.replace("k = {", "\"a-b\" = {"), &|_| Some("v".into())).unwrap_err();
        assert!(e.message.contains("letters, digits"), "{e}");
    }
}
