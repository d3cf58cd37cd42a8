//! The request of an `[[endpoint]]` or a `[[setup]]`: method, path or URL,
//! headers and body, checked the same way for both.

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::url;
use crate::plan::error::{FieldPath, PlanError, did_you_mean};
use crate::plan::raw::{OneOf, RawBodyTable};
use crate::plan::template::{self, Template};
use crate::plan::{Body, Target, Var};

/// The request of an `[[endpoint]]` or a `[[setup]]`, validated.
pub(super) struct RequestParts {
    pub method: http::Method,
    pub origin: Option<Target>,
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

/// Every variable a template uses must be in `[vars]`, and a `[vars]` name
/// written with single braces (`{word}`, the syntax before `{{word}}`) is
/// refused with the placeholder meant, not sent as text.
fn check_vars(ctx: &Ctx, at: &FieldPath, t: &Template, vars: &BTreeMap<String, Var>) -> Result<(), PlanError> {
    if let Some(name) = t.single_brace_names().find(|n| vars.contains_key(*n)) {
        return Err(ctx.err_near(
            at,
            format!("`{{{name}}}` is literal text: placeholders are written with double braces"),
            Some(format!("{{{{{name}}}}}")),
        ));
    }
    for name in t.var_names() {
        if !vars.contains_key(name) {
            let candidates = vars
                .keys()
                .map(String::as_str)
                .chain(template::BUILTINS.iter().copied());
            return Err(ctx.err_near(
                at,
                format!("unknown variable `{{{{{name}}}}}`; define it in [vars] or use a built-in ({{{{vu}}}}, {{{{iteration}}}}, {{{{uuid}}}}, {{{{timestamp}}}}, {{{{random_int:1..100}}}})"),
                did_you_mean(name, candidates),
            ));
        }
    }
    Ok(())
}
