//! `[[setup]]`: requests run once before the load, in file order, signed
//! like the rest. Each one's captures (a JSON pointer into the body, or a
//! header) become secret variables that later setups and every endpoint
//! can use, such as `Authorization: Bearer {{token}}`.
//!
//! Setup is not the measured load: it goes through reqwest, with the
//! plan's TLS options, no redirects and the plan's timeout.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::errors::chain;
use crate::metrics::setup::SetupRecord;
use crate::plan::template::{Escape, RenderCtx};
use crate::plan::{Body, Capture, Plan, Setup, Signing, Target, Var};
use crate::signing::{HeaderList, Message};

/// A setup that failed: the run stops before any load, with exit 3.
#[derive(Debug, thiserror::Error)]
#[error("setup `{name}` failed: {why}")]
pub struct SetupError {
    /// The setup's name.
    pub name: String,
    /// What went wrong (never a captured value).
    pub why: String,
    /// What ran before it, and it.
    pub records: Vec<SetupRecord>,
}

/// Runs every setup in order, filling the plan's captured variables.
/// `on_secret` learns each captured value at once, so it is redacted from
/// everything printed afterwards.
pub async fn run(plan: &mut Plan, seed: u64, on_secret: &mut dyn FnMut(&str)) -> Result<Vec<SetupRecord>, SetupError> {
    let mut records = Vec::with_capacity(plan.setups.len());
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5e7u64);
    for i in 0..plan.setups.len() {
        let setup = plan.setups[i].clone();
        let started = Instant::now();
        let result = one(plan, &setup, &mut rng).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, outcome) = match result {
            Ok((status, captured)) => (Some(status), Ok(captured)),
            Err((status, why)) => (status, Err(why)),
        };
        let mut record = SetupRecord {
            name: setup.name.clone(),
            status,
            duration_ms,
            captured: Vec::new(),
        };
        match outcome {
            Ok(values) => {
                for (var, value) in values {
                    on_secret(&value);
                    if let Some(Var::Secret { value: slot, .. }) = plan.vars.get_mut(&var) {
                        *slot = value;
                    }
                    record.captured.push(var);
                }
                records.push(record);
            }
            Err(why) => {
                records.push(record);
                return Err(SetupError {
                    name: setup.name,
                    why,
                    records,
                });
            }
        }
    }
    Ok(records)
}

type Failure = (Option<u16>, String);

async fn one(plan: &Plan, setup: &Setup, rng: &mut SmallRng) -> Result<(u16, Vec<(String, String)>), Failure> {
    let origin = setup.origin.as_ref().unwrap_or(&plan.target);
    let client = client(plan, origin).map_err(|e| (None, e))?;
    let now_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut ctx = RenderCtx {
        vars: &plan.vars,
        vu: 0,
        iteration: 0,
        rng,
        now_unix,
    };
    let mut path = match &setup.origin {
        Some(o) => o.base_path.clone(),
        None => plan.target.base_path.clone(),
    };
    setup.path.render(&mut ctx, Escape::Url, &mut path);
    let body: Vec<u8> = match &setup.body {
        None => Vec::new(),
        Some(Body::Fixed(b)) => b.to_vec(),
        Some(Body::Template(t)) => {
            let mut s = String::new();
            t.render(&mut ctx, Escape::None, &mut s);
            s.into_bytes()
        }
    };
    let mut headers = http::HeaderMap::new();
    for (name, t) in &setup.headers {
        let mut v = String::new();
        t.render(&mut ctx, Escape::None, &mut v);
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| (None, format!("header {name}: {e}")))?;
        let value = http::HeaderValue::from_str(&v).map_err(|_| (None, format!("header {name}: not a valid value")))?;
        headers.append(name, value);
    }
    let body = bytes::Bytes::from(body);
    // Parsed first, so what is signed is the path and query reqwest sends.
    // Errors name the origin only: the path may hold a secret, encoded.
    let origin_text = format!("{}://{}", origin.scheme.as_str(), origin.host_port());
    let url = reqwest::Url::parse(&format!("{origin_text}{path}"))
        .map_err(|e| (None, format!("{} {origin_text}…: not a valid URL ({e})", setup.method)))?;
    if setup.signed
        && let Some(signing) = &plan.signing
    {
        sign(signing, setup, &url, &body, now_unix, &mut ctx, &mut headers)?;
    }
    let what = format!("{} {origin_text}…", setup.method);
    let resp = client
        .request(setup.method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| (None, format!("{what}: {}", chain(&e.without_url()))))?;
    let status = resp.status().as_u16();
    let ok = if setup.expect.is_empty() {
        (200..300).contains(&status)
    } else {
        setup.expect.contains(&status)
    };
    let resp_headers = resp.headers().clone();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| (Some(status), format!("reading the response: {}", chain(&e))))?;
    if !ok {
        let expected = if setup.expect.is_empty() {
            "2xx".to_string()
        } else {
            format!("{:?}", setup.expect)
        };
        return Err((Some(status), format!("{what} answered {status}, expected {expected}")));
    }
    let captured = capture(setup, status, &resp_headers, &bytes)?;
    Ok((status, captured))
}

/// Signs a setup request with the plan's scheme, as the engine signs load.
fn sign(
    signing: &Signing,
    setup: &Setup,
    url: &reqwest::Url,
    body: &[u8],
    now_unix: u64,
    ctx: &mut RenderCtx<'_>,
    headers: &mut http::HeaderMap,
) -> Result<(), Failure> {
    let scheme = signing.build().map_err(|e| (None, format!("signing: {e}")))?;
    let mut id = String::new();
    if let Some(t) = &signing.id {
        t.render(ctx, Escape::None, &mut id);
    }
    let msg = Message {
        method: setup.method.as_str(),
        path: url.path(),
        query: url.query().unwrap_or(""),
        body,
        timestamp: now_unix as i64,
        id: &id,
    };
    let mut out: HeaderList = Vec::new();
    scheme.sign(&msg, &mut out);
    for (n, v) in out {
        headers.insert(n, v);
    }
    Ok(())
}

/// The values a setup captures from its response: a header, or a JSON
/// pointer into the body. Each must be a non-empty value a header can
/// carry, since later requests send it.
fn capture(
    setup: &Setup,
    status: u16,
    resp_headers: &http::HeaderMap,
    bytes: &[u8],
) -> Result<Vec<(String, String)>, Failure> {
    let mut json: Option<serde_json::Value> = None;
    let mut captured = Vec::new();
    for (var, from) in &setup.captures {
        let value = match from {
            Capture::Header(h) => resp_headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| {
                    (
                        Some(status),
                        format!("capture `{var}`: no `{h}` header in the response"),
                    )
                })?,
            Capture::Pointer(p) => {
                if json.is_none() {
                    json = Some(serde_json::from_slice(bytes).map_err(|e| {
                        (
                            Some(status),
                            format!("capture `{var}`: the response body is not JSON ({e})"),
                        )
                    })?);
                }
                match json.as_ref().and_then(|j| j.pointer(p)) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(serde_json::Value::Bool(b)) => b.to_string(),
                    _ => {
                        return Err((
                            Some(status),
                            format!("capture `{var}`: nothing (or no string) at `{p}` in the response"),
                        ));
                    }
                }
            }
        };
        if value.is_empty() || http::HeaderValue::from_str(&value).is_err() {
            return Err((
                Some(status),
                format!(
                    "capture `{var}`: the value is empty, or has a character a header cannot carry (a control character or non-ASCII)"
                ),
            ));
        }
        captured.push((var.clone(), value));
    }
    Ok(captured)
}

fn client(plan: &Plan, origin: &Target) -> Result<reqwest::Client, String> {
    crate::net::http_client(origin, &plan.tls, plan.timeout, None, "setup")
}
