//! Where requests go: the target, absolute endpoint URLs and `[tls]`.
//!
//! Only `http` and `https` are accepted, with a host, an optional port and
//! (for the target) an optional base path. URLs are parsed by hand, so that
//! an endpoint URL may carry `{placeholders}` in its path and query.

use std::net::Ipv6Addr;

use super::ctx::Ctx;
use crate::plan::error::{FieldPath, PlanError};
use crate::plan::raw::{RawLimits, RawTls};
use crate::plan::template::{Part, Template};
use crate::plan::{HttpVersion, Resolve, ResponseLimits, Scheme, Target, TlsOptions};

/// The plan's target, or the `--target` override.
pub(super) fn target(ctx: &Ctx, in_plan: Option<&str>, overridden: Option<&str>) -> Result<Target, PlanError> {
    let at = FieldPath::root("target");
    let (text, from_cli) = match (overridden, in_plan) {
        (Some(t), _) => (t, true),
        (None, Some(t)) => (t, false),
        (None, None) => return Err(ctx.err(&at, "missing target: set `target` in the plan or pass --target")),
    };
    let fail = |m: String| {
        if from_cli {
            PlanError::new(ctx.file, "--target", m)
        } else {
            ctx.err(&at, m)
        }
    };
    base_url(text).map_err(fail)
}

/// A base URL (the target, or the baseline's duet target): an origin and
/// a path with no query, fragment, placeholder or space.
pub(super) fn base_url(text: &str) -> Result<Target, String> {
    let (mut t, rest) = origin(text)?;
    if rest.contains(['?', '#']) {
        return Err(format!("target \"{text}\" must not have a query or fragment"));
    }
    if rest.contains(['{', '}']) || rest.contains(char::is_whitespace) {
        return Err(format!(
            "target \"{text}\" has a placeholder, brace or space in its path"
        ));
    }
    t.base_path = rest.trim_end_matches('/').to_string();
    Ok(t)
}

/// Splits an endpoint's `path`: an absolute URL gives its origin and its
/// path and query; anything else must start with `/`.
pub(super) fn endpoint_path(path: &str) -> Result<(Option<Target>, String), String> {
    if is_absolute(path) {
        let (origin, rest) = origin(path)?;
        let rest = match rest.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{rest}"),
            Some(_) => rest.to_string(),
        };
        Ok((Some(origin), rest))
    } else if path.starts_with('/') {
        Ok((None, path.to_string()))
    } else {
        Err(format!(
            "path \"{path}\" must start with `/`, or be an absolute http:// or https:// URL"
        ))
    }
}

/// Parses a path template and checks its literal text can go in a request
/// line.
pub(super) fn path_template(path: &str) -> Result<Template, String> {
    let t = Template::parse(path)?;
    let bad = t.parts.iter().any(|p| match p {
        Part::Lit(s) => s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#'),
        _ => false,
    });
    if bad {
        return Err(format!(
            "path \"{path}\" has a space, control character or `#`; percent-encode it (e.g. %20)"
        ));
    }
    Ok(t)
}

/// The most streams `h2_streams` may ask for on one connection; servers
/// rarely allow more than 128 (nginx) or 100 (HAProxy) anyway.
const MAX_H2_STREAMS: i64 = 1000;

/// `[tls]`: the CA file (relative to the plan) and the `--resolve` entries.
pub(super) fn tls(ctx: &Ctx, raw: Option<RawTls>) -> Result<TlsOptions, PlanError> {
    let Some(raw) = raw else {
        return Ok(TlsOptions::default());
    };
    let at = FieldPath::root("tls");
    let ca_file = match raw.ca_file {
        Some(name) => {
            let p = ctx.resolve_path(&name);
            if !p.is_file() {
                return Err(ctx.err(&at.key("ca_file"), format!("CA file {} does not exist", p.display())));
            }
            Some(p)
        }
        None => None,
    };
    let mut resolve = Vec::with_capacity(raw.resolve.len());
    for (i, entry) in raw.resolve.iter().enumerate() {
        resolve.push(resolve_entry(entry).map_err(|m| ctx.err(&at.key("resolve").index(i), m))?);
    }
    let http = match raw.http.as_deref() {
        None | Some("auto") => HttpVersion::Auto,
        Some("1.1") => HttpVersion::Http1,
        Some("2") => HttpVersion::Http2,
        Some(other) => {
            return Err(ctx.err(
                &at.key("http"),
                format!("\"{other}\" is not an HTTP version: expected \"auto\", \"1.1\" or \"2\""),
            ));
        }
    };
    let h2_streams = match raw.h2_streams {
        None => None,
        Some(n) if (1..=MAX_H2_STREAMS).contains(&n) => Some(n as u32),
        Some(n) => {
            return Err(ctx.err(
                &at.key("h2_streams"),
                format!("{n} is not a stream count: expected 1 to {MAX_H2_STREAMS}"),
            ));
        }
    };
    Ok(TlsOptions {
        ca_file,
        insecure: raw.insecure,
        resolve,
        http,
        h2_streams,
    })
}

/// `[limits]`, each within what the engine can honour.
pub(super) fn limits(ctx: &Ctx, raw: Option<RawLimits>) -> Result<ResponseLimits, PlanError> {
    let mut limits = ResponseLimits::default();
    let Some(raw) = raw else {
        return Ok(limits);
    };
    let at = FieldPath::root("limits");
    let set = |key: &str, value: Option<i64>, (lo, hi): (i64, i64), unit: &str, slot: &mut u32| match value {
        None => Ok(()),
        Some(n) if (lo..=hi).contains(&n) => {
            *slot = n as u32;
            Ok(())
        }
        Some(n) => Err(ctx.err(
            &at.key(key),
            format!("{n} is out of range: expected {lo} to {hi} {unit}"),
        )),
    };
    let max_headers = i64::from(ResponseLimits::MAX_HEADERS);
    set(
        "response_head",
        raw.response_head,
        (1024, 16 << 20),
        "bytes",
        &mut limits.response_head,
    )?;
    set(
        "response_headers",
        raw.response_headers,
        (1, max_headers),
        "header lines",
        &mut limits.response_headers,
    )?;
    set(
        "body_buffer",
        raw.body_buffer,
        (4096, 16 << 20),
        "bytes",
        &mut limits.body_buffer,
    )?;
    Ok(limits)
}

/// Parses curl's `host:port:addr`.
fn resolve_entry(entry: &str) -> Result<Resolve, String> {
    let bad = || format!("\"{entry}\" is not `host:port:address` (e.g. \"api.example.org:443:10.0.0.5\")");
    let (host, rest) = entry.split_once(':').ok_or_else(bad)?;
    let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let addr_text = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
    let addr = addr_text
        .parse()
        .map_err(|_| format!("\"{addr}\" in \"{entry}\" is not an IP address"))?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Resolve {
        host: host.to_ascii_lowercase(),
        port,
        addr,
    })
}

fn is_absolute(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Parses `scheme://host[:port]` at the start of `url`; returns the origin
/// (with an empty base path) and the rest, from the first `/`, `?` or `#`.
fn origin(url: &str) -> Result<(Target, &str), String> {
    let (scheme_text, after) = url
        .split_once("://")
        .ok_or_else(|| format!("\"{url}\" is not a URL such as \"https://staging.example.org\""))?;
    let scheme = match scheme_text.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("URL scheme \"{other}\" is not supported; use http or https")),
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err(format!("\"{url}\" must not contain credentials"));
    }
    let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, tail) = v6
            .split_once(']')
            .ok_or_else(|| format!("\"{url}\" has an unclosed `[`"))?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| format!("\"{addr}\" in \"{url}\" is not an IPv6 address"))?;
        let port = match tail {
            "" => None,
            t => Some(
                t.strip_prefix(':')
                    .ok_or_else(|| format!("\"{url}\" has text after `]`"))?,
            ),
        };
        (addr.to_ascii_lowercase(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    let v6 = authority.starts_with('[');
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') || (v6 && c == ':'))
    {
        return Err(format!("\"{url}\" has no valid host"));
    }
    let port = match port_text {
        None => scheme.default_port(),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("\"{p}\" in \"{url}\" is not a port (1..=65535)"))?,
    };
    Ok((
        Target {
            scheme,
            host,
            port,
            base_path: String::new(),
        },
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let (t, rest) = origin("HTTPS://Api.Example.org:8443/base/?x").unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.port, rest),
            (Scheme::Https, "api.example.org", 8443, "/base/?x")
        );
        let (t, _) = origin("http://[::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        let (t, _) = origin("http://[::1]:9000/").unwrap();
        assert_eq!(t.port, 9000);
        for bad in [
            "ftp://x",
            "x",
            "http://",
            "http://u:p@h",
            "http://h:0",
            "http://h:99999",
            "http://[zz]",
            "http://h h",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_paths() {
        assert_eq!(endpoint_path("/a?q={w}").unwrap(), (None, "/a?q={w}".to_string()));
        let (o, p) = endpoint_path("https://cdn.example.org?x={w}").unwrap();
        assert_eq!((o.unwrap().host.as_str(), p.as_str()), ("cdn.example.org", "/?x={w}"));
        assert!(endpoint_path("a/b").is_err());
        assert!(path_template("/a b").is_err());
        assert!(path_template("/a%20b/{w}").is_ok());
    }

    #[test]
    fn resolve_entries() {
        let r = resolve_entry("api.example.org:443:10.0.0.5").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.addr.to_string()),
            ("api.example.org", 443, "10.0.0.5".into())
        );
        assert_eq!(resolve_entry("h:80:[::1]").unwrap().addr.to_string(), "::1");
        assert_eq!(resolve_entry("h:80:::1").unwrap().addr.to_string(), "::1");
        for bad in ["h:80", "h:x:1.2.3.4", ":80:1.2.3.4", "h:0:1.2.3.4", "h:80:host"] {
            assert!(resolve_entry(bad).is_err(), "{bad}");
        }
    }
}
