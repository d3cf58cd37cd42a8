//! Raw plan → validated [`Plan`], in one place.
//!
//! This file does the top level, variables and endpoints;
//! `validate/url.rs` the target, endpoint URLs and `[tls]`, `validate/scenario.rs`
//! and `validate/executor.rs` the scenarios, and `validate/checks.rs`
//! thresholds and requirements. Every error is located
//! through [`SourceMap`], so it names the line and the field path.

mod checks;
mod executor;
mod rollout;
mod scenario;
mod signing;
mod url;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{FieldPath, PlanError, SourceMap, did_you_mean};
use super::raw::{OneOf, RawBodyTable, RawEndpoint, RawPlan, RawVarTable};
use super::template::{self, Template};
use super::{Body, Endpoint, Overrides, Plan, Var};

/// Reads environment variables; tests substitute their own.
pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

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
    let ctx = Ctx::new(path, text);
    scenario::check_overrides(&ctx, overrides)?;
    let target = url::target(&ctx, raw.target.as_deref(), overrides.target.as_deref())?;
    let timeout = match raw.timeout {
        Some(t) if t.0.is_zero() => return Err(ctx.err(&FieldPath::root("timeout"), "the timeout must be above 0")),
        Some(t) => t.0,
        None => Duration::from_secs(10),
    };
    let tls = url::tls(&ctx, raw.tls)?;
    let mut vars = vars(&ctx, raw.vars, env)?;
    let plan_signing = match raw.signing {
        Some(s) => Some(signing::signing(&ctx, &FieldPath::root("signing"), s, env)?),
        None => None,
    };
    let setups = signing::setups(&ctx, raw.setups, &mut vars, plan_signing.as_ref())?;
    let mut endpoints = Vec::with_capacity(raw.endpoints.len());
    let mut weights = Vec::with_capacity(raw.endpoints.len());
    for (i, e) in raw.endpoints.into_iter().enumerate() {
        let (endpoint, weight) = endpoint(&ctx, i, e, &vars, &endpoints, plan_signing.as_ref(), env)?;
        endpoints.push(endpoint);
        weights.push(weight);
    }
    let sink = signing::plan_sink(&ctx, raw.sink, &endpoints, env)?;
    let rollout = rollout::rollout(&ctx, raw.rollout)?;
    let availability = rollout::availability(&ctx, raw.availability)?;
    let probes = rollout::probes(&ctx, raw.probes)?;
    let sc = scenario::Inputs {
        endpoints: &endpoints,
        weights: &weights,
        overrides,
        timeout,
        default_duration: rollout.as_ref().map(|r| r.head + r.timeout + r.tail),
    };
    let scenarios = scenario::scenarios(&ctx, raw.scenarios, raw.load, &sc)?;
    let cap = scenarios
        .iter()
        .map(|s| s.start_time + s.executor.duration())
        .max()
        .unwrap_or_default();
    let faults = rollout::faults(&ctx, raw.faults, cap)?;
    let mut events: Vec<&str> = faults.iter().map(|f| f.name.as_str()).collect();
    if rollout.is_some() {
        events.insert(0, "rollout");
    }
    let names = checks::Names {
        endpoints: endpoints.iter().map(|e| e.name.as_str()).collect(),
        scenarios: scenarios.iter().map(|s| s.name.as_str()).collect(),
        events,
        probes: probes.iter().map(|p| p.name.as_str()).collect(),
        has_rollout: rollout.is_some(),
    };
    let thresholds = checks::thresholds(&ctx, raw.thresholds, &names)?;
    let requirements = checks::requirements(&ctx, raw.requirements, &names)?;
    let name = match raw.name {
        Some(n) if n.trim().is_empty() => return Err(ctx.err(&FieldPath::root("name"), "the name is empty")),
        Some(n) => n,
        None => path
            .file_stem()
            .map_or_else(|| "plan".to_string(), |s| s.to_string_lossy().into_owned()),
    };
    Ok(Plan {
        name,
        source: path.to_path_buf(),
        target,
        timeout,
        tls,
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
    })
}

/// Validates a `sink.toml`; `listen` (from `--listen`) replaces its own.
pub(super) fn sink_file(
    path: &Path,
    text: &str,
    raw: super::raw::RawSink,
    listen: Option<std::net::SocketAddr>,
    env: EnvLookup,
) -> Result<crate::sink::SinkConfig, PlanError> {
    let ctx = Ctx::new(path, text);
    signing::sink_config(&ctx, &FieldPath::top(), raw, listen, env)
}

/// The file being validated and its positions.
pub(super) struct Ctx<'a> {
    file: &'a Path,
    dir: PathBuf,
    map: SourceMap<'a>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a Path, text: &'a str) -> Self {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ctx {
            file,
            dir,
            map: SourceMap::new(text),
        }
    }

    /// An error about the field at `at`, located at the field, or at the
    /// nearest table around it that the file has. A missing top-level field
    /// (such as `target`) is reported at the start of the file.
    pub(super) fn err(&self, at: &FieldPath, message: impl Into<String>) -> PlanError {
        let (line, col) = self.map.position(at).unwrap_or((1, 1));
        PlanError::new(self.file, at.to_string(), message).at(line, col)
    }

    /// [`err`](Self::err) with a "did you mean".
    pub(super) fn err_near(&self, at: &FieldPath, message: impl Into<String>, suggestion: Option<String>) -> PlanError {
        self.err(at, message).with_suggestion(suggestion)
    }

    /// The plan's folder, absolute, where commands run.
    pub(super) fn plan_dir(&self) -> PathBuf {
        let dir = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    /// A file named in the plan, relative to the plan's folder.
    pub(super) fn resolve_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The keys of the table at `table`, in the order the file has them.
    pub(super) fn file_order<V>(&self, table: &FieldPath, map: BTreeMap<String, V>) -> Vec<(String, V)> {
        let mut entries: Vec<(Option<usize>, String, V)> = map
            .into_iter()
            .map(|(k, v)| (self.map.find(&table.key(&k)), k, v))
            .collect();
        entries.sort_by_key(|e| e.0.unwrap_or(usize::MAX));
        entries.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
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
            let Some(value) = env(&name) else {
                return Err(ctx.err(&at.key("env"), format!("environment variable {name} is not set")));
            };
            Ok(if t.secret == Some(true) {
                Var::Secret { env: name, value }
            } else {
                Var::List(vec![value])
            })
        }
    }
}

/// Whether a name can be used in a `{tag:value}` filter.
pub(super) fn check_name(ctx: &Ctx, at: &FieldPath, name: &str, what: &str) -> Result<(), PlanError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ctx.err(
            at,
            format!("{what} name \"{name}\" must be non-empty letters, digits, `_`, `-` or `.`"),
        ))
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

/// The request of an `[[endpoint]]` or a `[[setup]]`, validated.
pub(super) struct RequestParts {
    pub method: http::Method,
    pub origin: Option<super::Target>,
    pub path: Template,
    pub headers: Vec<(String, Template)>,
    pub body: Option<Body>,
}

/// Method, path (or absolute URL), headers and body of the request table
/// at `at`: the checks endpoints and setup requests share.
pub(super) fn request_parts(
    ctx: &Ctx,
    at: &FieldPath,
    method: Option<&str>,
    raw_path: &str,
    raw_headers: BTreeMap<String, String>,
    raw_body: Option<OneOf<RawBodyTable>>,
    vars: &BTreeMap<String, Var>,
) -> Result<RequestParts, PlanError> {
    let method_text = method.unwrap_or("GET").to_ascii_uppercase();
    let method = http::Method::from_bytes(method_text.as_bytes())
        .map_err(|_| ctx.err(&at.key("method"), format!("\"{method_text}\" is not an HTTP method")))?;
    let (origin, path_text) = url::endpoint_path(raw_path).map_err(|m| ctx.err(&at.key("path"), m))?;
    let path = url::path_template(&path_text).map_err(|m| ctx.err(&at.key("path"), m))?;
    check_vars(ctx, &at.key("path"), &path, vars)?;
    let mut headers = Vec::with_capacity(raw_headers.len());
    for (name, value) in ctx.file_order(&at.key("headers"), raw_headers) {
        let h_at = at.key("headers").key(&name);
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ctx.err(&h_at, format!("\"{name}\" is not a valid header name")));
        }
        let t = Template::parse(&value).map_err(|m| ctx.err(&h_at, m))?;
        if t.parts
            .iter()
            .any(|p| matches!(p, template::Part::Lit(s) if s.chars().any(|c| c.is_control() && c != '\t')))
        {
            return Err(ctx.err(&h_at, "a header value cannot contain control characters or line breaks"));
        }
        check_vars(ctx, &h_at, &t, vars)?;
        headers.push((name, t));
    }
    let body = match raw_body {
        None => None,
        Some(b) => Some(body(ctx, &at.key("body"), b, vars)?),
    };
    Ok(RequestParts {
        method,
        origin,
        path,
        headers,
        body,
    })
}

fn body(ctx: &Ctx, at: &FieldPath, raw: OneOf<RawBodyTable>, vars: &BTreeMap<String, Var>) -> Result<Body, PlanError> {
    let (t, t_at) = match raw {
        OneOf::Seq(_) => return Err(ctx.err(at, "a body is a string or a table")),
        OneOf::Str(s) => {
            let t = Template::parse(&s).map_err(|m| ctx.err(at, m))?;
            if t.is_static() {
                return Ok(Body::Fixed(bytes::Bytes::from(t.literal())));
            }
            (t, at.clone())
        }
        OneOf::Map(m) => match (m.file, m.template, m.template_file) {
            (Some(f), None, None) => {
                let p = ctx.resolve_path(&f);
                let data = std::fs::read(&p)
                    .map_err(|e| ctx.err(&at.key("file"), format!("cannot read {}: {e}", p.display())))?;
                return Ok(Body::Fixed(bytes::Bytes::from(data)));
            }
            (None, Some(s), None) => (
                Template::parse(&s).map_err(|m| ctx.err(&at.key("template"), m))?,
                at.key("template"),
            ),
            (None, None, Some(f)) => {
                let f_at = at.key("template_file");
                let p = ctx.resolve_path(&f);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| ctx.err(&f_at, format!("cannot read {}: {e}", p.display())))?;
                let t = Template::parse(&text).map_err(|m| ctx.err(&f_at, format!("in {}: {m}", p.display())))?;
                (t, f_at)
            }
            _ => return Err(ctx.err(at, "give exactly one of `file`, `template` or `template_file`")),
        },
    };
    check_vars(ctx, &t_at, &t, vars)?;
    Ok(Body::Template(t))
}

/// Every variable a template uses must be in `[vars]`.
fn check_vars(ctx: &Ctx, at: &FieldPath, t: &Template, vars: &BTreeMap<String, Var>) -> Result<(), PlanError> {
    for name in t.var_names() {
        if !vars.contains_key(name) {
            let candidates = vars
                .keys()
                .map(String::as_str)
                .chain(template::BUILTINS.iter().copied());
            return Err(ctx.err_near(
                at,
                format!("unknown variable `{{{name}}}`; define it in [vars] or use a built-in ({{vu}}, {{iteration}}, {{uuid}}, {{timestamp}}, {{random_int:1..100}})"),
                did_you_mean(name, candidates),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: EnvLookup) -> Result<Plan, PlanError> {
        let path = Path::new("t.toml");
        let raw = super::super::raw::parse(path, text)?;
        validate_with_env(path, text, raw, &Overrides::default(), env)
    }

    const PLAN: &str = "target = \"http://h\"\n[vars]\nk = { env = \"K\", secret = true }\n[[endpoint]]\nname = \"e\"\npath = \"/{k}\"\n[load]\nexecutor = \"constant-vus\"\nduration = \"1s\"\n";

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
