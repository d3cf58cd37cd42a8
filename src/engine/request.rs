//! Builds each request from its endpoint's templates.
//!
//! Everything that does not change per request (a static path, header
//! values, a fixed body) is built once here and cloned by reference count
//! per request; only template parts are rendered on the hot path.

use anyhow::{Result, bail};
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue, USER_AGENT};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri};

use crate::plan::template::{Escape, RenderCtx};
use crate::plan::{Body, Plan, Template, Var};
use crate::signing::{self, HeaderList, Message, Negative, Scheme};

enum HeaderTpl {
    Fixed(HeaderValue),
    Template(Template),
}

enum BodyTpl {
    Empty,
    Fixed(Bytes),
    Template(Template),
}

struct EndpointReq {
    method: Method,
    base_path: String,
    path: Template,
    fixed_path: Option<PathAndQuery>,
    host: HeaderValue,
    headers: Vec<(HeaderName, HeaderTpl)>,
    body: BodyTpl,
    /// How its requests are signed.
    signer: Option<Signer>,
    /// No template part anywhere and no signature: decided once here, read
    /// per request.
    fixed: bool,
}

/// An endpoint's signing, built once.
struct Signer {
    scheme: std::sync::Arc<dyn Scheme>,
    /// The same scheme with a wrong key, for `negative = "wrong-key"`.
    wrong_key: Option<std::sync::Arc<dyn Scheme>>,
    negative: Option<Negative>,
    /// The message id's template.
    id: Option<Template>,
}

/// Builds requests for every endpoint of a plan.
pub struct RequestFactory {
    endpoints: Vec<EndpointReq>,
    user_agent: HeaderValue,
}

impl RequestFactory {
    /// Prepares every endpoint; `authorities[i]` is endpoint `i`'s `host[:port]`.
    pub fn new(plan: &Plan, authorities: &[http::uri::Authority]) -> Result<Self> {
        let mut endpoints = Vec::with_capacity(plan.endpoints.len());
        for (ep, authority) in plan.endpoints.iter().zip(authorities) {
            let base_path = match &ep.origin {
                Some(o) => o.base_path.clone(),
                None => plan.target.base_path.clone(),
            };
            let fixed_path = if ep.path.is_static() {
                let full = format!("{base_path}{}", ep.path.literal());
                Some(full.parse::<PathAndQuery>().map_err(|e| {
                    anyhow::anyhow!("endpoint `{}`: path `{full}` is not a valid URI path: {e}", ep.name)
                })?)
            } else {
                None
            };
            let mut headers = Vec::with_capacity(ep.headers.len());
            for (name, tpl) in &ep.headers {
                let hname = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| anyhow::anyhow!("endpoint `{}`: `{name}` is not a valid header name", ep.name))?;
                check_header_vars(plan, &ep.name, name, tpl)?;
                let value = if tpl.is_static() {
                    HeaderTpl::Fixed(HeaderValue::from_str(&tpl.literal()).map_err(|_| {
                        anyhow::anyhow!(
                            "endpoint `{}`: header `{name}` has a character not allowed in headers",
                            ep.name
                        )
                    })?)
                } else {
                    HeaderTpl::Template(tpl.clone())
                };
                headers.push((hname, value));
            }
            let body = match &ep.body {
                None => BodyTpl::Empty,
                Some(Body::Fixed(b)) => BodyTpl::Fixed(b.clone()),
                Some(Body::Template(t)) => BodyTpl::Template(t.clone()),
            };
            let signer = match &ep.signing {
                None => None,
                Some(es) => {
                    let cfg = es.signing.config();
                    let scheme =
                        signing::build(&cfg).map_err(|e| anyhow::anyhow!("endpoint `{}`: signing: {e}", ep.name))?;
                    let wrong_key = match es.negative {
                        Some(Negative::WrongKey) => Some(
                            signing::build_wrong_key(&cfg)
                                .map_err(|e| anyhow::anyhow!("endpoint `{}`: signing: {e}", ep.name))?,
                        ),
                        _ => None,
                    };
                    Some(Signer {
                        scheme,
                        wrong_key,
                        negative: es.negative,
                        id: es.signing.id.clone(),
                    })
                }
            };
            let fixed = fixed_path.is_some()
                && signer.is_none()
                && !matches!(body, BodyTpl::Template(_))
                && headers.iter().all(|(_, h)| matches!(h, HeaderTpl::Fixed(_)));
            endpoints.push(EndpointReq {
                signer,
                fixed,
                method: ep.method.clone(),
                base_path,
                path: ep.path.clone(),
                fixed_path,
                host: HeaderValue::from_str(authority.as_str())?,
                headers,
                body,
            });
        }
        let user_agent = HeaderValue::from_static(concat!("loadcheck/", env!("CARGO_PKG_VERSION")));
        Ok(RequestFactory { endpoints, user_agent })
    }

    /// Whether endpoint `i` renders nothing per request (no template parts).
    pub fn is_fixed(&self, i: usize) -> bool {
        self.endpoints[i].fixed
    }

    /// Builds one request for endpoint `i`, and returns it with its body as
    /// sent. `scratch` is reused between calls to avoid allocating. Fails
    /// only if a rendered value is not valid in a URI, which
    /// percent-encoding prevents.
    pub fn build(&self, i: usize, ctx: &mut RenderCtx, scratch: &mut String) -> Result<Request<Bytes>, http::Error> {
        let ep = &self.endpoints[i];
        let pq = match &ep.fixed_path {
            Some(pq) => pq.clone(),
            None => {
                scratch.clear();
                scratch.push_str(&ep.base_path);
                ep.path.render(ctx, Escape::Url, scratch);
                PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(scratch.as_bytes()))?
            }
        };
        let mut body = match &ep.body {
            BodyTpl::Empty => Bytes::new(),
            BodyTpl::Fixed(b) => b.clone(),
            BodyTpl::Template(t) => {
                scratch.clear();
                t.render(ctx, Escape::None, scratch);
                Bytes::copy_from_slice(scratch.as_bytes())
            }
        };
        let mut signed: HeaderList = Vec::new();
        if let Some(signer) = &ep.signer {
            body = sign(signer, &ep.method, &pq, body, ctx, scratch, &mut signed);
        }
        // Filled in place: cheaper than `Request::builder()`, which
        // re-validates every part on the per-request path.
        let mut req = Request::new(body);
        *req.method_mut() = ep.method.clone();
        *req.uri_mut() = Uri::from(pq);
        let headers = req.headers_mut();
        // Room for the signature's headers too: growing the map mid-request
        // reallocates and moves every entry.
        headers.reserve(2 + ep.headers.len() + signed.len());
        headers.insert(HOST, ep.host.clone());
        headers.insert(USER_AGENT, self.user_agent.clone());
        for (name, value) in &ep.headers {
            let value = match value {
                HeaderTpl::Fixed(v) => v.clone(),
                HeaderTpl::Template(t) => {
                    scratch.clear();
                    t.render(ctx, Escape::None, scratch);
                    HeaderValue::from_str(scratch)?
                }
            };
            if name == HOST {
                // The plan's Host replaces the target's: two would be a 400.
                headers.insert(HOST, value);
            } else {
                headers.append(name.clone(), value);
            }
        }
        for (name, value) in signed {
            headers.insert(name, value);
        }
        Ok(req)
    }
}

/// Signs exactly what goes on the wire: the path and query as encoded, the
/// body as sent, and the timestamp that goes in the header. Returns the
/// body to send (a tampered one for `negative = "tampered-body"`).
fn sign(
    signer: &Signer,
    method: &Method,
    pq: &PathAndQuery,
    body: Bytes,
    ctx: &mut RenderCtx,
    scratch: &mut String,
    out: &mut HeaderList,
) -> Bytes {
    let id = match &signer.id {
        Some(t) => {
            scratch.clear();
            t.render(ctx, Escape::None, scratch);
            scratch.as_str()
        }
        None => "",
    };
    let msg = Message {
        method: method.as_str(),
        path: pq.path(),
        query: pq.query().unwrap_or(""),
        body: &body,
        timestamp: ctx.now_unix as i64,
        id,
    };
    match (signer.negative, &signer.wrong_key) {
        (None, _) => {
            signer.scheme.sign(&msg, out);
            body.clone()
        }
        (Some(negative), wrong) => {
            let wrong = wrong.as_deref().unwrap_or(&*signer.scheme);
            signing::sign_negative(&*signer.scheme, wrong, &msg, negative, out)
        }
    }
}

/// Header values must not contain control characters; check every value a
/// header template can take, so the hot path never meets a bad one.
fn check_header_vars(plan: &Plan, endpoint: &str, header: &str, tpl: &Template) -> Result<()> {
    for name in tpl.var_names() {
        let values: Vec<&str> = match plan.vars.get(name) {
            Some(Var::List(v)) => v.iter().map(String::as_str).collect(),
            Some(Var::Secret { value, .. }) => vec![value.as_str()],
            None => continue,
        };
        if values.iter().any(|v| HeaderValue::from_str(v).is_err()) {
            bail!(
                "endpoint `{endpoint}`: header `{header}` uses `{{{{{name}}}}}`, which has a value with a control character"
            );
        }
    }
    Ok(())
}
