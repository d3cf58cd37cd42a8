//! The webhook sink's request handling (`src/sink/`, `src/signing/`):
//! signature checks for every scheme, route tables, and whole deliveries.
//! It never panics or hangs, and (`loadcheck::fuzzing::readers::sink`):
//!
//! - what a scheme signs, it verifies; under the wrong key, with the body
//!   changed (when it signs the body) or after its tolerance (when it
//!   signs a time) it does not; its own negative modes are refused;
//! - the delivery's own headers and body are checked the same way twice,
//!   and what is accepted is refused under the wrong key or with a body
//!   byte added;
//! - a route table that reads, reads back as written, and answers every
//!   POST with a 2xx success or a programmed failure, within the limits;
//! - a real sink of the scheme (on the loopback interface, with the
//!   scheme's fixed secret) answers the delivery: 413 exactly for a body
//!   over its limit, else 401 exactly when the scheme's own check refuses
//!   the request, else a status its routes program or 400 for a delivery
//!   without an id.
//!
//! The input is a delivery as it goes on the wire, after one line that
//! says how to check it (values percent-decoded, keys optional):
//!
//! ```text
//! stripe secret=whsec_x tolerance=300 ts=1700000000 now=1700000010 id=msg_1 sign=-5 idsrc=body route={"cycle":[500]}
//! POST /hook?a=1 HTTP/1.1
//! stripe-signature: t=1700000000,v1=…
//!
//! {"id":"evt_1"}
//! ```
//!
//! The first word is the scheme (`none` for a sink that checks nothing);
//! `secret` (repeated for several keys), `tolerance`, and for `custom`
//! `message`, `header=Name:template` (repeated), `alg`, `enc` configure
//! it; `ts` and `id` are what the scheme signs in the round trip, `now`
//! the time the delivery's own headers are checked at; `sign` has the
//! delivery to the real sink signed that many seconds from now (else it
//! goes with its own headers only); `idsrc` says where the sink finds the
//! id (`header`: `webhook-id`; `body`: `/id`); `route` is a route table as
//! `PUT /_sink/routes/{name}` takes it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::readers::sink::{
    Delivery, KINDS, custom_plan, deliver, header_map, route, scheme_round_trip, secret, verify_any,
};
use loadcheck::signing::{Algorithm, CustomSpec, Encoding, Message, SchemeConfig, SchemeKind};

fn percent_decoded(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            s[i],
            s.get(i + 1).copied().and_then(hex),
            s.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(&percent_decoded(v)).into_owned()
}

/// Splits off one line (without its `\r\n` or `\n`).
fn line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let l = &rest[..end];
    *rest = rest.get(end + 1..).unwrap_or(&[]);
    l.strip_suffix(b"\r").unwrap_or(l)
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let control = line(&mut rest);
    let mut words = control.split(|b| *b == b' ').filter(|w| !w.is_empty());
    let kind = match words.next().unwrap_or(b"none") {
        b"openverse" => Some(SchemeKind::Openverse),
        b"github" => Some(SchemeKind::Github),
        b"stripe" => Some(SchemeKind::Stripe),
        b"standard-webhooks" => Some(SchemeKind::StandardWebhooks),
        b"slack" => Some(SchemeKind::Slack),
        b"custom" => Some(SchemeKind::Custom),
        _ => None,
    };
    let plan = custom_plan();
    let mut secrets = Vec::new();
    let mut tolerance_s = 300;
    let mut message = plan.message;
    let mut headers_spec = Vec::new();
    let (mut algorithm, mut encoding) = (Algorithm::Sha256, Encoding::Hex);
    let (mut ts, mut now, mut id) = (1_700_000_000_i64, None, "msg_1".to_string());
    let (mut sign, mut id_in_body, mut route_json) = (None, false, Vec::new());
    for w in words {
        let (key, value) = match w.iter().position(|b| *b == b'=') {
            Some(p) => (&w[..p], &w[p + 1..]),
            None => (w, &b""[..]),
        };
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse::<i64>().ok());
        match key {
            b"secret" => secrets.push(text(value)),
            b"tolerance" => tolerance_s = number().map_or(300, |n| n.unsigned_abs()),
            b"message" => message = text(value),
            b"header" => {
                let t = text(value);
                let (name, template) = t.split_once(':').unwrap_or((&t, ""));
                headers_spec.push((name.to_string(), template.to_string()));
            }
            b"alg" => {
                algorithm = match value {
                    b"sha1" => Algorithm::Sha1,
                    b"sha512" => Algorithm::Sha512,
                    _ => Algorithm::Sha256,
                }
            }
            b"enc" => {
                encoding = match value {
                    b"base64" => Encoding::Base64,
                    b"base64url" => Encoding::Base64Url,
                    _ => Encoding::Hex,
                }
            }
            // A clock's range: 0 to 2^40 s.
            b"ts" => ts = number().unwrap_or(ts).clamp(0, 1 << 40),
            b"now" => now = number().map(|n| n.clamp(-(1 << 40), 1 << 40)),
            b"id" => id = text(value),
            b"sign" => sign = number().map(|n| n.clamp(-10_000, 10_000) as i16),
            b"idsrc" => id_in_body = value == b"body",
            b"route" => route_json = percent_decoded(value),
            _ => {}
        }
    }

    // The request: its line, its header fields, a blank line, the body.
    let request_line = line(&mut rest);
    let mut parts = request_line.split(|b| *b == b' ');
    let method = String::from_utf8_lossy(parts.next().unwrap_or(b"POST")).into_owned();
    let target = String::from_utf8_lossy(parts.next().unwrap_or(b"/")).into_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let l = line(&mut rest);
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = l[colon + 1..].trim_ascii();
        headers.push((l[..colon].to_vec(), value.to_vec()));
    }
    let body = rest;

    if let Some(kind) = kind {
        if secrets.is_empty() {
            secrets.push(secret(kind).to_string());
        }
        if headers_spec.is_empty() {
            headers_spec = plan.headers;
        }
        let cfg = SchemeConfig {
            kind,
            secrets,
            tolerance_s,
            custom: (kind == SchemeKind::Custom).then(|| CustomSpec {
                message,
                algorithm,
                encoding,
                headers: headers_spec,
            }),
        };
        let msg = Message {
            method: &method,
            path,
            query,
            body,
            timestamp: ts,
            id: &id,
        };
        if let Err(why) = scheme_round_trip(&cfg, &msg) {
            panic!("{why}");
        }
        if let Some(map) = header_map(&headers) {
            let at = now.unwrap_or(ts);
            if let Err(why) = verify_any(&cfg, &method, path, query, &map, body, at) {
                panic!("{why}");
            }
        }
    }
    if let Err(why) = route(&route_json, data.len() as u64) {
        panic!("{why}");
    }
    let delivery = Delivery {
        scheme: kind.filter(|k| KINDS.contains(k)),
        id_in_body,
        method: &method,
        path,
        query,
        headers: &headers,
        body,
        sign: sign.map(|s| (s, id.as_str())),
    };
    if let Err(why) = deliver(&delivery) {
        panic!("{why}");
    }
});
