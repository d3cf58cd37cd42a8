//! The webhook sink's request handling, for `fuzz/fuzz_targets/sink.rs`:
//! the signature checks of every scheme on their own (any secret, any
//! custom scheme, any headers and body), the programmed answers of a route
//! table as the control API takes it, and whole deliveries sent over HTTP
//! to real sinks (one per scheme and id source) serving on the loopback
//! interface.

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use rand::SeedableRng as _;

use crate::plan::{CustomPlan, IdSource, RouteConfig, Signing, SinkConfig};
use crate::signing::{
    HeaderList, InvalidReason, Message, Negative, Scheme, SchemeConfig, SchemeKind, Verification, build,
    build_wrong_key, sign_negative,
};
use crate::sink::RunningSink;
use crate::sink::behaviour::{Answer, MAX_HANG};

/// Every scheme, in a fixed order (a fuzzer's byte picks one).
pub const KINDS: [SchemeKind; 6] = [
    SchemeKind::Openverse,
    SchemeKind::Github,
    SchemeKind::Stripe,
    SchemeKind::StandardWebhooks,
    SchemeKind::Slack,
    SchemeKind::Custom,
];

/// Headers from raw pairs; `None` when a name or value is not valid in
/// HTTP (such a request never reaches a sink's handler).
pub fn header_map(pairs: &[(Vec<u8>, Vec<u8>)]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        map.append(name, value);
    }
    Some(map)
}

fn is_missing_id(scheme: &dyn Scheme, id: &str) -> bool {
    scheme.uses_id() && HeaderValue::from_str(id).is_err()
}

/// Whether a custom header reads `{id}` up to text the id itself holds
/// (`docs/signing.md`: such an id cannot be read back). Conservative: the
/// text up to the next brace.
fn id_runs_into_text(cfg: &SchemeConfig, id: &str) -> bool {
    let Some(custom) = &cfg.custom else { return false };
    custom.headers.iter().any(|(_, template)| {
        template.match_indices("{id}").any(|(at, _)| {
            let after = &template[at + 4..];
            let text = match after.split('{').next() {
                Some("") if after.starts_with("{{") => "{",
                Some(t) => t,
                None => "",
            };
            !text.is_empty() && id.contains(text)
        })
    })
}

/// A scheme signs `msg` and checks what it signed. `Err` when:
///
/// - what it signed does not verify at the time it was signed (unless its
///   id cannot be a header value, when the id header is left out and the
///   request is `Missing`, as `common::push_header` says);
/// - it verifies under the wrong key, or a stale time, or with its body
///   changed (for the schemes that sign the body);
/// - a negative mode signs something the scheme accepts though it says it
///   detects that mode.
///
/// `msg.timestamp` stays within 0 and 2^40 s, as a clock does (the
/// negative modes sign an hour earlier).
pub fn scheme_round_trip(cfg: &SchemeConfig, msg: &Message<'_>) -> Result<(), String> {
    let Ok(scheme) = build(cfg) else { return Ok(()) };
    let wrong = build_wrong_key(cfg).map_err(|e| format!("build works but build_wrong_key does not: {e}"))?;
    let mut out = HeaderList::new();
    scheme.sign(msg, &mut out);
    let headers: HeaderMap = out.into_iter().collect();
    let verify = |s: &dyn Scheme, body: &[u8], now: i64| s.verify(msg.method, msg.path, msg.query, &headers, body, now);
    let got = verify(&*scheme, msg.body, msg.timestamp);
    if is_missing_id(&*scheme, msg.id) || id_runs_into_text(cfg, msg.id) {
        // Left out of the headers, or not read back: `docs/signing.md`.
        return Ok(());
    }
    if got != Verification::Valid {
        return Err(format!(
            "{} signs {msg:?} with {headers:?} and verifies it as {got:?}",
            cfg.kind
        ));
    }
    let one_key = cfg.kind != SchemeKind::StandardWebhooks || cfg.secrets.len() == 1;
    let wrong_got = verify(&*wrong, msg.body, msg.timestamp);
    if one_key && wrong_got == Verification::Valid {
        return Err(format!("{} accepts {headers:?} under the wrong key", cfg.kind));
    }
    if scheme.detects(Negative::TamperedBody) {
        let mut body = msg.body.to_vec();
        match body.last_mut() {
            Some(b) => *b ^= 0x01,
            None => body.push(b'x'),
        }
        if verify(&*scheme, &body, msg.timestamp) == Verification::Valid {
            return Err(format!("{} accepts {headers:?} with the body changed", cfg.kind));
        }
    }
    if scheme.detects(Negative::StaleTimestamp) {
        let late = msg.timestamp.saturating_add_unsigned(cfg.tolerance_s).saturating_add(1);
        let stale = Verification::Invalid(InvalidReason::StaleTimestamp);
        let got = verify(&*scheme, msg.body, late);
        if got != stale {
            return Err(format!(
                "{} verifies {headers:?} {} s after it was signed as {got:?}",
                cfg.kind,
                cfg.tolerance_s + 1
            ));
        }
    }
    for negative in [Negative::StaleTimestamp, Negative::WrongKey, Negative::TamperedBody] {
        if !scheme.detects(negative) || (negative == Negative::WrongKey && !one_key) {
            continue;
        }
        if negative == Negative::StaleTimestamp && cfg.tolerance_s >= crate::signing::STALE_BY_S as u64 {
            continue;
        }
        let mut out = HeaderList::new();
        let body = sign_negative(&*scheme, &*wrong, msg, negative, &mut out);
        let h: HeaderMap = out.into_iter().collect();
        let got = scheme.verify(msg.method, msg.path, msg.query, &h, &body, msg.timestamp);
        if got == Verification::Valid {
            return Err(format!("{} accepts its own {negative:?} request {h:?}", cfg.kind));
        }
    }
    Ok(())
}

/// Any headers and body, checked by a scheme: the same answer twice, and
/// a request it accepts is refused under the wrong key and, when it signs
/// the body, with the body changed.
pub fn verify_any(
    cfg: &SchemeConfig,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verification, String> {
    let Ok(scheme) = build(cfg) else {
        return Ok(Verification::Missing);
    };
    let got = scheme.verify(method, path, query, headers, body, now);
    let again = scheme.verify(method, path, query, headers, body, now);
    if got != again {
        return Err(format!(
            "{} verifies the same request as {got:?}, then {again:?}",
            cfg.kind
        ));
    }
    if got == Verification::Valid {
        let one_key = cfg.kind != SchemeKind::StandardWebhooks || cfg.secrets.len() == 1;
        let wrong = build_wrong_key(cfg).map_err(|e| e.to_string())?;
        if one_key && wrong.verify(method, path, query, headers, body, now) == Verification::Valid {
            return Err(format!("{} accepts {headers:?} under the wrong key too", cfg.kind));
        }
        if scheme.detects(Negative::TamperedBody) {
            let mut changed = body.to_vec();
            changed.push(b'x');
            if scheme.verify(method, path, query, headers, &changed, now) == Verification::Valid {
                return Err(format!(
                    "{} accepts {headers:?} with a byte added to the body",
                    cfg.kind
                ));
            }
        }
    }
    Ok(got)
}

/// A route table as `PUT /_sink/routes/{name}` takes it (JSON): when it is
/// valid, it reads back as written (`GET /_sink/routes` shows it), and its
/// answers to the first POSTs are a success status (2xx) or a programmed
/// failure, never a hang longer than the limit, and its delays stay under
/// the limit.
pub fn route(json: &[u8], seed: u64) -> Result<(), String> {
    let Ok(config) = serde_json::from_slice::<RouteConfig>(json) else {
        return Ok(());
    };
    let text = serde_json::to_string(&config).map_err(|e| format!("a route does not serialize: {e}"))?;
    let again: RouteConfig =
        serde_json::from_str(&text).map_err(|e| format!("a route written does not read back: {e}: {text}"))?;
    if again != config {
        return Err(format!("a route reads back as {again:?}, not {config:?}"));
    }
    let Ok(behaviour) = config.behaviour() else {
        return Ok(());
    };
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    for n in (0..64).chain([u64::MAX / 2, u64::MAX - 1]) {
        match behaviour.answer(n) {
            Answer::Status { code, failed } => {
                if !(200..=599).contains(&code) {
                    return Err(format!("answer {n} of {config:?} is status {code}"));
                }
                if failed == (200..300).contains(&code) {
                    return Err(format!("answer {n} of {config:?}: status {code}, failed {failed}"));
                }
            }
            Answer::Reset => {}
            Answer::Hang(d) => {
                if d > MAX_HANG {
                    return Err(format!("answer {n} of {config:?} hangs {d:?}"));
                }
            }
        }
        let d = behaviour.delay.sample(&mut rng);
        if d > MAX_HANG {
            return Err(format!("a delay of {d:?} from {config:?}"));
        }
    }
    Ok(())
}

// -------------------------------------------------------- real sinks

/// The body limit of the sinks [`deliver`] sends to.
pub const MAX_BODY: usize = 512;

/// The secret of each scheme's sink (the format each scheme wants).
pub fn secret(kind: SchemeKind) -> &'static str {
    match kind {
        SchemeKind::Openverse => "ov-secret",
        SchemeKind::Github => "gh-secret",
        SchemeKind::Stripe => "whsec_stripe-secret",
        SchemeKind::StandardWebhooks => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        SchemeKind::Slack => "slack-secret",
        SchemeKind::Custom => "custom-secret",
    }
}

/// The custom scheme of the custom sink.
pub fn custom_plan() -> CustomPlan {
    CustomPlan {
        message: "{method}\n{path}{query}\n{timestamp}\n{id}\n{body}".into(),
        algorithm: "sha256".into(),
        encoding: "hex".into(),
        headers: vec![
            ("X-Signature".into(), "sha256={signature}".into()),
            ("X-Timestamp".into(), "{timestamp}".into()),
            ("X-Request-Id".into(), "{id}".into()),
        ],
    }
}

fn signing(kind: SchemeKind) -> Signing {
    Signing {
        scheme: kind,
        secret_env: vec!["FUZZ_SECRET".into()],
        secrets: vec![secret(kind).into()],
        tolerance: Duration::from_secs(300),
        id: None,
        custom: (kind == SchemeKind::Custom).then(custom_plan),
    }
}

struct Sinks {
    _runtime: tokio::runtime::Runtime,
    /// By `[unsigned, KINDS…] × [id in a header, id in the body]`.
    running: Vec<RunningSink>,
    schemes: Vec<Option<Arc<dyn Scheme>>>,
}

fn index(kind: Option<SchemeKind>, id_in_body: bool) -> usize {
    let k = kind.map_or(0, |k| 1 + KINDS.iter().position(|x| *x == k).unwrap_or(0));
    k * 2 + usize::from(id_in_body)
}

fn sinks() -> &'static Sinks {
    static SINKS: OnceLock<Sinks> = OnceLock::new();
    SINKS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the sinks");
        let mut running = Vec::new();
        let mut schemes = Vec::new();
        for kind in std::iter::once(None).chain(KINDS.map(Some)) {
            for id_in_body in [false, true] {
                let cfg = SinkConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    signing: kind.map(signing),
                    id: if id_in_body {
                        IdSource::Pointer("/id".into())
                    } else {
                        IdSource::Header("webhook-id".into())
                    },
                    max_body: MAX_BODY,
                    deadline: Duration::from_secs(30),
                    routes: vec![RouteConfig {
                        path: Some("/fail*".into()),
                        cycle: Some(vec![200, 503, 429, 201]),
                        retry_after: Some(1),
                        ..RouteConfig::default()
                    }],
                    limits: Default::default(),
                };
                let sink = runtime
                    .block_on(crate::sink::start(&cfg, Instant::now()))
                    .expect("a sink on the loopback interface");
                schemes.push(cfg.signing.as_ref().map(|s| s.build().expect("the sink's scheme")));
                running.push(sink);
            }
        }
        Sinks {
            _runtime: runtime,
            running,
            schemes,
        }
    })
}

thread_local! {
    static CONNS: RefCell<Vec<Option<TcpStream>>> = const { RefCell::new(Vec::new()) };
}

/// Headers a delivery may not set itself: they frame the request.
const FRAMING: [&str; 10] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// One delivery to a real sink.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// The sink's scheme (`None`: a sink that checks no signature).
    pub scheme: Option<SchemeKind>,
    /// The sink reads the id from the body's `/id` (else from the
    /// `webhook-id` header).
    pub id_in_body: bool,
    /// The method.
    pub method: &'a str,
    /// The path (routes `/fail*` answer 200, 503, 429, 201 in turn).
    pub path: &'a str,
    /// The query, without `?`.
    pub query: &'a str,
    /// Headers besides the signature's; framing headers are dropped.
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
    /// The body.
    pub body: &'a [u8],
    /// Signed first, as the service under test would: seconds from now,
    /// and the message id.
    pub sign: Option<(i16, &'a str)>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Sends `d` to its sink and reads the answer's status. `Ok(None)` when
/// the request is not one a sink's handler can get (not valid HTTP, or a
/// path of the control API). `Err` when the sink does not answer, or its
/// answer disagrees with the scheme's own check of the same request:
/// 413 exactly for a body over the limit, else 401 exactly when the
/// signature does not verify (when the check gives the same answer just
/// before and just after), else a status the routes program or 400 for
/// a delivery without an id.
pub fn deliver(d: &Delivery<'_>) -> Result<Option<u16>, String> {
    const METHODS: [&str; 6] = ["POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"];
    if !METHODS.contains(&d.method) || !d.path.starts_with('/') || d.path.contains("_sink") {
        return Ok(None);
    }
    let target = if d.query.is_empty() {
        d.path.to_string()
    } else {
        format!("{}?{}", d.path, d.query)
    };
    match target.parse::<http::uri::PathAndQuery>() {
        Ok(pq) if pq.path() == d.path && pq.query().unwrap_or("") == d.query && pq.as_str() == target => {}
        _ => return Ok(None),
    }
    let sinks = sinks();
    let i = index(d.scheme, d.id_in_body);
    let scheme = sinks.schemes[i].clone();
    let before = unix_now();
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"host".to_vec(), b"fuzz.test".to_vec())];
    if let (Some(scheme), Some((offset, id))) = (&scheme, d.sign) {
        let msg = Message {
            method: d.method,
            path: d.path,
            query: d.query,
            body: d.body,
            timestamp: before + i64::from(offset),
            id,
        };
        let mut out = HeaderList::new();
        scheme.sign(&msg, &mut out);
        pairs.extend(
            out.into_iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
        );
    }
    for (name, value) in d.headers {
        let lower = name.to_ascii_lowercase();
        if FRAMING.iter().any(|f| f.as_bytes() == lower.as_slice()) {
            continue;
        }
        // The wire trims a value's surrounding whitespace.
        if value.first().is_some_and(|b| b.is_ascii_whitespace())
            || value.last().is_some_and(|b| b.is_ascii_whitespace())
        {
            return Ok(None);
        }
        pairs.push((name.clone(), value.clone()));
    }
    pairs.push((b"content-length".to_vec(), d.body.len().to_string().into_bytes()));
    let Some(headers) = header_map(&pairs) else {
        return Ok(None);
    };
    let mut request = format!("{} {target} HTTP/1.1\r\n", d.method).into_bytes();
    for (name, value) in &pairs {
        request.extend_from_slice(name);
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(d.body);
    let (status, close) = exchange(i, sinks.running[i].addr, &request)?;
    let after = unix_now();
    if status == 400 && close {
        // hyper refused it as HTTP before the handler saw it.
        return Ok(None);
    }
    if d.body.len() > MAX_BODY {
        return if status == 413 {
            Ok(Some(status))
        } else {
            Err(format!(
                "a body of {} bytes over the {MAX_BODY}-byte limit got {status}",
                d.body.len()
            ))
        };
    }
    if status == 413 {
        return Err(format!("a body of {} bytes got 413", d.body.len()));
    }
    if let Some(scheme) = &scheme {
        let check = |now| scheme.verify(d.method, d.path, d.query, &headers, d.body, now);
        let (a, b) = (check(before), check(after));
        if a == b && (a == Verification::Valid) == (status == 401) {
            return Err(format!(
                "the {} sink answered {status} to a request its scheme finds {a:?}: {}",
                scheme.kind(),
                String::from_utf8_lossy(&request)
            ));
        }
    } else if status == 401 {
        return Err("a sink with no signing answered 401".into());
    }
    if ![200, 201, 400, 401, 429, 503].contains(&status) {
        return Err(format!(
            "the sink answered {status} to {}",
            String::from_utf8_lossy(&request)
        ));
    }
    Ok(Some(status))
}

/// Writes `request` on sink `i`'s kept-alive connection (a new one if it
/// has none, or when the old one turns out closed) and reads the status,
/// and whether the sink closed the connection after it.
fn exchange(i: usize, addr: SocketAddr, request: &[u8]) -> Result<(u16, bool), String> {
    CONNS.with_borrow_mut(|conns| {
        if conns.len() <= i {
            conns.resize_with(i + 1, || None);
        }
        for attempt in 0..2 {
            let fresh = conns[i].is_none();
            let stream = match &mut conns[i] {
                Some(s) => s,
                None => {
                    let s = TcpStream::connect(addr).map_err(|e| format!("connecting to the sink: {e}"))?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))
                        .map_err(|e| e.to_string())?;
                    s.set_nodelay(true).map_err(|e| e.to_string())?;
                    conns[i].insert(s)
                }
            };
            match write_and_read(stream, request) {
                Ok((status, close)) => {
                    if close {
                        conns[i] = None;
                    }
                    return Ok((status, close));
                }
                Err(e) => {
                    conns[i] = None;
                    if fresh || attempt == 1 {
                        return Err(format!("the sink did not answer: {e}"));
                    }
                }
            }
        }
        unreachable!("two attempts return")
    })
}

/// `stream.read`, again after a signal: libFuzzer's `-timeout` alarm
/// (SIGALRM) interrupts a blocking read now and then, and `read` does not
/// retry by itself.
fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The status, and whether the sink closes the connection after it.
fn write_and_read(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<(u16, bool)> {
    use std::io::{Error, ErrorKind};
    stream.write_all(request)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = read_some(stream, &mut chunk)?;
        if n == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "closed before an answer"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, format!("not an HTTP answer: {head}")))?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let close = head
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"));
    let mut have = buf.len() - head_end;
    while have < length {
        let n = read_some(stream, &mut chunk)?;
        if n == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "closed inside the body"));
        }
        have += n;
    }
    Ok((status, close))
}
