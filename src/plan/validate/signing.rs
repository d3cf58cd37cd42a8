//! `[signing]`, endpoint signing, `[[setup]]` and `[sink]`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::super::error::{FieldPath, PlanError, did_you_mean};
use super::super::raw::{OneOf, RawEndpointSigning, RawSetup, RawSigning, RawSink};
use super::super::signing::{Capture, CustomPlan, EndpointSigning, Setup, Signing};
use super::super::sink::{Correlate, DEFAULT_DEADLINE, DEFAULT_MAX_BODY, IdSource, PlanSink, SinkConfig, SinkLimits};
use super::super::template::Template;
use super::super::{Endpoint, Var};
use super::ctx::{Ctx, EnvLookup, check_name};
use super::request::{RequestParts, request_parts};
use crate::signing::{Negative, SchemeKind};

const SCHEMES: &[&str] = &[
    "openverse",
    "github",
    "stripe",
    "standard-webhooks",
    "svix",
    "slack",
    "custom",
];
const NEGATIVES: &[&str] = &["stale-timestamp", "wrong-key", "tampered-body"];

/// A `[signing]` table at `at`.
pub(in crate::plan) fn signing(
    ctx: &Ctx,
    at: &FieldPath,
    raw: RawSigning,
    env: EnvLookup,
) -> Result<Signing, PlanError> {
    let scheme = match raw.scheme.as_str() {
        "openverse" => SchemeKind::Openverse,
        "github" => SchemeKind::Github,
        "stripe" => SchemeKind::Stripe,
        "standard-webhooks" | "svix" => SchemeKind::StandardWebhooks,
        "slack" => SchemeKind::Slack,
        "custom" => SchemeKind::Custom,
        other => {
            return Err(ctx.err_near(
                &at.key("scheme"),
                format!("unknown scheme \"{other}\"; expected one of {}", SCHEMES.join(", ")),
                did_you_mean(other, SCHEMES.iter().copied()),
            ));
        }
    };
    let env_at = at.key("secret_env");
    let secret_env = match raw.secret_env.clone() {
        None => return Err(ctx.err(&env_at, "name the environment variable that holds the secret")),
        Some(OneOf::Str(s)) => vec![s],
        Some(OneOf::Seq(v)) if v.is_empty() => return Err(ctx.err(&env_at, "the list is empty")),
        Some(OneOf::Seq(v)) => v,
        Some(OneOf::Map(_)) => return Err(ctx.err(&env_at, "expected a string or an array of strings")),
    };
    if secret_env.len() > 1 && scheme != SchemeKind::StandardWebhooks {
        return Err(ctx.err(
            &env_at,
            "several secrets (key rotation) are for `standard-webhooks` only; give one",
        ));
    }
    let mut secrets = Vec::with_capacity(secret_env.len());
    for name in &secret_env {
        match ctx.env(env, &env_at, name)? {
            v if !v.is_empty() => secrets.push(v),
            _ => return Err(ctx.err(&env_at, format!("environment variable {name} is empty"))),
        }
    }
    let custom = if scheme == SchemeKind::Custom {
        Some(custom(ctx, at, &raw)?)
    } else {
        for (field, given) in [
            ("message", raw.message.is_some()),
            ("algorithm", raw.algorithm.is_some()),
            ("encoding", raw.encoding.is_some()),
            ("headers", !raw.headers.is_empty()),
        ] {
            if given {
                return Err(ctx.err(&at.key(field), format!("`{field}` is for scheme = \"custom\" only")));
            }
        }
        None
    };
    let uses_id = match scheme {
        SchemeKind::StandardWebhooks => true,
        SchemeKind::Custom => custom
            .as_ref()
            .is_some_and(|c| c.message.contains("{id}") || c.headers.iter().any(|(_, v)| v.contains("{id}"))),
        _ => false,
    };
    let id = match (raw.id, uses_id) {
        (Some(_), false) => return Err(ctx.err(&at.key("id"), "this scheme signs no message id")),
        (Some(t), true) => Some(Template::parse(&t).map_err(|m| ctx.err(&at.key("id"), m))?),
        (None, true) => Some(Template::parse("msg_{{uuid}}").map_err(|m| ctx.err(at, m))?),
        (None, false) => None,
    };
    let tolerance = raw.tolerance.map_or(Duration::from_secs(300), |d| d.0);
    if tolerance < Duration::from_secs(1) || tolerance.subsec_nanos() != 0 {
        return Err(ctx.err(
            &at.key("tolerance"),
            "timestamps are whole seconds: give a tolerance of at least 1s, in whole seconds",
        ));
    }
    let signing = Signing {
        scheme,
        secret_env,
        secrets,
        tolerance,
        id,
        custom,
    };
    // Builds it once now, so a malformed secret or template is bad input.
    if let Err(e) = signing.build() {
        return Err(ctx.err(at, e.to_string()));
    }
    Ok(signing)
}

fn custom(ctx: &Ctx, at: &FieldPath, raw: &RawSigning) -> Result<CustomPlan, PlanError> {
    let message = raw
        .message
        .clone()
        .ok_or_else(|| ctx.err(&at.key("message"), "scheme = \"custom\" needs a `message` template"))?;
    let algorithm = raw.algorithm.clone().unwrap_or_else(|| "sha256".into());
    if !["sha1", "sha256", "sha512"].contains(&algorithm.as_str()) {
        return Err(ctx.err(
            &at.key("algorithm"),
            format!("unknown algorithm \"{algorithm}\"; expected sha1, sha256 or sha512"),
        ));
    }
    let encoding = raw.encoding.clone().unwrap_or_else(|| "hex".into());
    if !["hex", "base64", "base64url"].contains(&encoding.as_str()) {
        return Err(ctx.err(
            &at.key("encoding"),
            format!("unknown encoding \"{encoding}\"; expected hex, base64 or base64url"),
        ));
    }
    let headers = ctx.file_order(&at.key("headers"), raw.headers.clone());
    for (name, _) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ctx.err(
                &at.key("headers").key(name),
                format!("\"{name}\" is not a valid header name"),
            ));
        }
    }
    if !headers.iter().any(|(_, v)| v.contains("{signature}")) {
        return Err(ctx.err(
            &at.key("headers"),
            "no header carries the signature: one value must contain `{signature}`",
        ));
    }
    Ok(CustomPlan {
        message,
        algorithm,
        encoding,
        headers,
    })
}

/// An endpoint's `signing` and `negative` fields.
pub(in crate::plan) fn endpoint_signing(
    ctx: &Ctx,
    at: &FieldPath,
    raw: Option<RawEndpointSigning>,
    negative: Option<String>,
    plan: Option<&Signing>,
    env: EnvLookup,
) -> Result<Option<EndpointSigning>, PlanError> {
    let signing = match raw {
        Some(RawEndpointSigning::Flag(false)) => None,
        Some(RawEndpointSigning::Flag(true)) => Some(plan.cloned().ok_or_else(|| {
            ctx.err(
                &at.key("signing"),
                "`signing = true` needs a [signing] table in the plan",
            )
        })?),
        Some(RawEndpointSigning::Table(t)) => Some(signing(ctx, &at.key("signing"), t, env)?),
        None => plan.cloned(),
    };
    let negative = match negative {
        None => None,
        Some(n) => Some(match n.as_str() {
            "stale-timestamp" => Negative::StaleTimestamp,
            "wrong-key" => Negative::WrongKey,
            "tampered-body" => Negative::TamperedBody,
            other => {
                return Err(ctx.err_near(
                    &at.key("negative"),
                    format!(
                        "unknown negative mode \"{other}\"; expected one of {}",
                        NEGATIVES.join(", ")
                    ),
                    did_you_mean(other, NEGATIVES.iter().copied()),
                ));
            }
        }),
    };
    match (signing, negative) {
        (None, Some(_)) => Err(ctx.err(&at.key("negative"), "a negative mode needs the endpoint to be signed")),
        (Some(s), Some(n)) if !s.build().is_ok_and(|scheme| scheme.detects(n)) => Err(ctx.err(
            &at.key("negative"),
            format!(
                "scheme \"{}\" cannot catch this mode: it signs no {}",
                s.scheme.as_str(),
                if n == Negative::TamperedBody {
                    "body"
                } else {
                    "timestamp"
                }
            ),
        )),
        (Some(signing), negative) => Ok(Some(EndpointSigning { signing, negative })),
        (None, None) => Ok(None),
    }
}

/// `[[setup]]` blocks. Their captured variables are added to `vars` as
/// secrets with no value yet; the run fills them in before the load.
pub(in crate::plan) fn setups(
    ctx: &Ctx,
    raw: Vec<RawSetup>,
    vars: &mut BTreeMap<String, Var>,
    signing: Option<&Signing>,
) -> Result<Vec<Setup>, PlanError> {
    let mut out: Vec<Setup> = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let at = FieldPath::root("setup").index(i);
        check_name(ctx, &at.key("name"), &s.name, "setup")?;
        if out.iter().any(|o| o.name == s.name) {
            return Err(ctx.err(&at.key("name"), format!("setup \"{}\" is defined twice", s.name)));
        }
        let RequestParts {
            method,
            origin,
            path,
            headers,
            body,
        } = request_parts(ctx, &at, s.method.as_deref(), &s.path, s.headers, s.body, vars)?;
        if s.sign == Some(true) && signing.is_none() {
            return Err(ctx.err(&at.key("sign"), "`sign = true` needs a [signing] table in the plan"));
        }
        let mut captures = Vec::new();
        for (var, from) in ctx.file_order(&at.key("capture"), s.capture) {
            let c_at = at.key("capture").key(&var);
            if !super::super::template::is_identifier(&var) {
                return Err(ctx.err(&c_at, format!("\"{var}\" is not a usable variable name")));
            }
            if vars.contains_key(&var) {
                return Err(ctx.err(&c_at, format!("`{var}` is already a variable")));
            }
            if super::super::template::BUILTINS.contains(&var.as_str()) {
                return Err(ctx.err(&c_at, format!("`{var}` is a built-in placeholder; choose another name")));
            }
            let capture = if let Some(h) = from.strip_prefix("header:") {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(ctx.err(&c_at, format!("\"{h}\" is not a valid header name")));
                }
                Capture::Header(h.to_ascii_lowercase())
            } else if from.is_empty() || from.starts_with('/') {
                Capture::Pointer(from)
            } else {
                return Err(ctx.err(
                    &c_at,
                    format!("expected a JSON pointer such as \"/access_token\" or \"header:name\", got \"{from}\""),
                ));
            };
            vars.insert(
                var.clone(),
                Var::Secret {
                    env: format!("setup:{}", s.name),
                    value: String::new(),
                },
            );
            captures.push((var, capture));
        }
        out.push(Setup {
            name: s.name,
            method,
            origin,
            path,
            headers,
            body,
            expect: s.expect,
            captures,
            signed: s.sign.unwrap_or(true) && signing.is_some(),
        });
    }
    Ok(out)
}

/// `[sink]` in a plan.
pub(in crate::plan) fn plan_sink(
    ctx: &Ctx,
    raw: Option<RawSink>,
    endpoints: &[Endpoint],
    env: EnvLookup,
) -> Result<Option<PlanSink>, PlanError> {
    let Some(mut raw) = raw else { return Ok(None) };
    let at = FieldPath::root("sink");
    let correlate = match raw.correlate.take() {
        None => None,
        Some(c) => {
            let c_at = at.key("correlate");
            let Some(index) = endpoints.iter().position(|e| e.name == c.endpoint) else {
                return Err(ctx.err_near(
                    &c_at.key("endpoint"),
                    format!("no endpoint is named \"{}\"", c.endpoint),
                    did_you_mean(&c.endpoint, endpoints.iter().map(|e| e.name.as_str())),
                ));
            };
            if !c.pointer.starts_with('/') {
                return Err(ctx.err(&c_at.key("pointer"), "a JSON pointer starts with `/`, such as \"/id\""));
            }
            if endpoints[index].body.is_none() {
                return Err(ctx.err(
                    &c_at.key("endpoint"),
                    format!("endpoint \"{}\" sends no body to find the event id in", c.endpoint),
                ));
            }
            Some(Correlate {
                endpoint: c.endpoint,
                index,
                pointer: c.pointer,
            })
        }
    };
    let config = sink_config(ctx, &at, raw, None, env)?;
    Ok(Some(PlanSink { config, correlate }))
}

/// A sink table (`[sink]` or all of `sink.toml`), with an optional
/// `--listen` that replaces its `listen`.
pub(in crate::plan) fn sink_config(
    ctx: &Ctx,
    at: &FieldPath,
    raw: RawSink,
    listen: Option<SocketAddr>,
    env: EnvLookup,
) -> Result<SinkConfig, PlanError> {
    if raw.correlate.is_some() {
        return Err(ctx.err(&at.key("correlate"), "`correlate` works inside a plan's [sink] only"));
    }
    let listen = match (listen, raw.listen) {
        (Some(l), _) => l,
        (None, Some(s)) => s.parse().map_err(|_| {
            ctx.err(
                &at.key("listen"),
                format!("\"{s}\" is not an address and port such as \"127.0.0.1:9944\""),
            )
        })?,
        (None, None) => {
            return Err(ctx.err(
                &at.key("listen"),
                "give the address to listen on, such as \"127.0.0.1:9944\"",
            ));
        }
    };
    let signing = match raw.signing {
        Some(s) => Some(signing(ctx, &at.key("signing"), s, env)?),
        None => None,
    };
    let id = match raw.id {
        None => IdSource::Header(match signing.as_ref().map(|s| s.scheme) {
            Some(SchemeKind::Github) => "x-github-delivery".into(),
            _ => "webhook-id".into(),
        }),
        Some(i) => match (i.header, i.pointer) {
            (Some(h), None) => {
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(ctx.err(
                        &at.key("id").key("header"),
                        format!("\"{h}\" is not a valid header name"),
                    ));
                }
                IdSource::Header(h.to_ascii_lowercase())
            }
            (None, Some(p)) if p.starts_with('/') => IdSource::Pointer(p),
            (None, Some(_)) => {
                return Err(ctx.err(
                    &at.key("id").key("pointer"),
                    "a JSON pointer starts with `/`, such as \"/id\"",
                ));
            }
            _ => return Err(ctx.err(&at.key("id"), "give exactly one of `header` or `pointer`")),
        },
    };
    let max_body = match raw.max_body {
        None => DEFAULT_MAX_BODY,
        Some(0) => return Err(ctx.err(&at.key("max_body"), "the body limit must be above 0")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let deadline = raw.deadline.map_or(DEFAULT_DEADLINE, |d| d.0);
    if deadline.is_zero() || deadline > Duration::from_secs(3600) {
        return Err(ctx.err(&at.key("deadline"), "the deadline must be above 0 and at most 1h"));
    }
    let limits = sink_limits(
        ctx,
        at,
        raw.max_ids,
        raw.header_timeout.map(|d| d.0),
        raw.max_connections,
    )?;
    let mut names: Vec<String> = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let r_at = at.key("route").index(i);
        let Some(path) = &r.path else {
            return Err(ctx.err(&r_at.key("path"), "give the route's path, or a prefix ending in `*`"));
        };
        if !(path.starts_with('/') || path == "*") {
            return Err(ctx.err(&r_at.key("path"), format!("\"{path}\" must start with `/` (or be `*`)")));
        }
        let name = r.name.clone().unwrap_or_else(|| path.clone());
        if names.contains(&name) {
            return Err(ctx.err(&r_at.key("name"), format!("route \"{name}\" is defined twice")));
        }
        names.push(name);
        if let Err((field, m)) = r.behaviour() {
            return Err(ctx.err(&r_at.key(field), m));
        }
    }
    Ok(SinkConfig {
        listen,
        signing,
        id,
        max_body,
        deadline,
        routes: raw.routes,
        limits,
    })
}

/// `max_ids`, `header_timeout` and `max_connections` of a sink table.
fn sink_limits(
    ctx: &Ctx,
    at: &FieldPath,
    max_ids: Option<u64>,
    header_timeout: Option<Duration>,
    max_connections: Option<u64>,
) -> Result<SinkLimits, PlanError> {
    let mut limits = SinkLimits::default();
    if let Some(n) = max_ids {
        if n == 0 {
            return Err(ctx.err(&at.key("max_ids"), "the ledger's cap must be above 0"));
        }
        limits.max_ids = n;
    }
    if let Some(d) = header_timeout {
        if d < Duration::from_millis(10) || d > Duration::from_secs(600) {
            return Err(ctx.err(&at.key("header_timeout"), "the header timeout must be 10ms to 10m"));
        }
        limits.header_timeout = d;
    }
    if let Some(n) = max_connections {
        if n == 0 || n > 1_000_000 {
            return Err(ctx.err(&at.key("max_connections"), "the connection limit must be 1 to 1000000"));
        }
        limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
    }
    Ok(limits)
}
