//! Request templates: paths, headers and bodies with `{{placeholders}}`.
//!
//! `{{name}}` inserts a `[vars]` value; the built-ins are `{{vu}}`,
//! `{{iteration}}`, `{{uuid}}`, `{{timestamp}}` (unix seconds) and
//! `{{random_int:LO..HI}}` (inclusive), as Postman and Artillery write them.
//! A single `{` or `}` is literal text, so JSON and URLs are written as they
//! are: `{"id": "{{uuid}}"}`. Templates are parsed once, at validation, and
//! rendered per request into a reused buffer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::Rng as _;
use rand::rngs::SmallRng;
use serde::{Serialize, Serializer};

use crate::plan::Var;

/// The names of the built-in placeholders (`random_int` takes a range).
pub const BUILTINS: &[&str] = &["vu", "iteration", "uuid", "timestamp", "random_int"];

/// A parsed template. Serializes as its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written.
    pub source: String,
    /// Literal text and placeholders, in order.
    pub parts: Vec<Part>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A `[vars]` variable.
    Var(String),
    /// The VU number (`{{vu}}`).
    Vu,
    /// The VU's iteration number (`{{iteration}}`).
    Iteration,
    /// A random UUID v4 (`{{uuid}}`).
    Uuid,
    /// Unix time in seconds (`{{timestamp}}`).
    Timestamp,
    /// A uniform random integer in `lo..=hi` (`{{random_int:lo..hi}}`).
    RandomInt {
        /// Smallest value.
        lo: i64,
        /// Largest value.
        hi: i64,
    },
}

/// What rendering needs from the request being built.
pub struct RenderCtx<'a> {
    /// The plan's variables.
    pub vars: &'a BTreeMap<String, Var>,
    /// The VU number.
    pub vu: u64,
    /// The VU's iteration number.
    pub iteration: u64,
    /// Randomness for lists, `{{uuid}}` and `{{random_int}}`.
    pub rng: &'a mut SmallRng,
    /// The current unix time in seconds.
    pub now_unix: u64,
}

/// How substituted values are escaped. Literal text is never escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inserted as is (headers, bodies).
    None,
    /// Percent-encoded as a URI component, keeping `A-Za-z0-9-._~` (paths
    /// and queries).
    Url,
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl Template {
    /// Parses a template. `{{name}}` is a placeholder; any other brace is
    /// literal text, except that a built-in written with single braces
    /// (`{uuid}`, the syntax before `{{…}}`) is an error with the hint.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            // In a run of three or more braces, the last two open the
            // placeholder: `{{{uuid}}}` is `{`, the UUID, `}`.
            let run = rest[open..].bytes().take_while(|&b| b == b'{').count();
            let open = open + run - 2;
            lit.push_str(&rest[..open]);
            let inner_start = open + 2;
            let close = rest[inner_start..].find("}}").map(|j| inner_start + j).ok_or_else(|| {
                format!(
                    "unclosed `{{{{` at character {}; a placeholder is `{{{{name}}}}` (text with a literal `{{{{` can be sent from a file: body = {{ file = \"…\" }})",
                    char_pos(source, source.len() - rest.len() + open)
                )
            })?;
            let part = placeholder(&rest[inner_start..close])?;
            if !lit.is_empty() {
                check_single_braces(&lit)?;
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(part);
            rest = &rest[close + 2..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            check_single_braces(&lit)?;
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The names written `{name}`, with single braces, in the template's
    /// literal text: literal text now, but a `[vars]` name among them was
    /// meant as a placeholder (validation refuses it with the hint).
    pub fn single_brace_names(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Lit(s) => Some(single_braced(s)),
                _ => None,
            })
            .flatten()
    }

    /// Whether the template has no placeholder (renders the same every time).
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The literal text of a static template.
    pub fn literal(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Lit(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The `[vars]` names the template uses, in order (with repeats).
    pub fn var_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Appends the rendered template to `out`. Allocates nothing but
    /// `out`'s growth.
    pub fn render(&self, ctx: &mut RenderCtx, escape: Escape, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => match ctx.vars.get(name) {
                    Some(Var::List(values)) if !values.is_empty() => {
                        let v = &values[ctx.rng.random_range(0..values.len())];
                        push_escaped(out, v, escape);
                    }
                    Some(Var::Secret { value, .. }) => push_escaped(out, value, escape),
                    _ => {}
                },
                // Numbers and hyphenated UUIDs need no escaping.
                Part::Vu => _ = write!(out, "{}", ctx.vu),
                Part::Iteration => _ = write!(out, "{}", ctx.iteration),
                Part::Timestamp => _ = write!(out, "{}", ctx.now_unix),
                Part::RandomInt { lo, hi } => _ = write!(out, "{}", ctx.rng.random_range(*lo..=*hi)),
                Part::Uuid => {
                    let id = uuid::Builder::from_random_bytes(ctx.rng.random()).into_uuid();
                    _ = write!(out, "{}", id.hyphenated());
                }
            }
        }
    }
}

fn char_pos(s: &str, byte: usize) -> usize {
    s[..byte].chars().count() + 1
}

/// The names inside single braces in literal text: `{word}` gives
/// `word`, `{random_int:1..9}` gives `random_int`.
fn single_braced(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|after| {
        let inner = &after[..after.find('}')?];
        let name = inner.split_once(':').map_or(inner, |(n, _)| n).trim();
        is_identifier(name).then_some(name)
    })
}

/// A built-in written with single braces is the old syntax: refused, with
/// the placeholder meant.
fn check_single_braces(lit: &str) -> Result<(), String> {
    match single_braced(lit).find(|name| BUILTINS.contains(name)) {
        None => Ok(()),
        Some(name) => {
            let start = lit.find(&format!("{{{name}")).unwrap_or(0);
            let end = lit[start..].find('}').map_or(lit.len(), |e| start + e + 1);
            let written = &lit[start..end];
            Err(format!(
                "`{written}` is literal text: placeholders are written with double braces; did you mean \"{{{written}}}\"?"
            ))
        }
    }
}

/// Parses the inside of `{{…}}`.
fn placeholder(inner: &str) -> Result<Part, String> {
    let inner = inner.trim();
    if let Some(range) = inner.strip_prefix("random_int:") {
        return random_int(range);
    }
    let part = match inner {
        "vu" => Part::Vu,
        "iteration" => Part::Iteration,
        "uuid" => Part::Uuid,
        "timestamp" => Part::Timestamp,
        "random_int" => return Err("`{{random_int}}` needs a range: `{{random_int:1..9999}}`".into()),
        name if is_identifier(name) => Part::Var(name.to_string()),
        _ => {
            return Err(format!(
                "`{{{{{inner}}}}}` is not a placeholder; a placeholder is `{{{{name}}}}` with a name of letters, digits and `_`, or a built-in"
            ));
        }
    };
    Ok(part)
}

fn random_int(range: &str) -> Result<Part, String> {
    let bad = || format!("`{{{{random_int:{range}}}}}` needs an inclusive range of integers such as `1..9999`");
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(format!(
            "`{{{{random_int:{range}}}}}`: the low end {lo} is above the high end {hi}"
        ));
    }
    Ok(Part::RandomInt { lo, hi })
}

/// Whether `s` can be a variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `value`, percent-encoded when `escape` is [`Escape::Url`].
fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::Url => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            for b in value.bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(b as char);
                } else {
                    out.push('%');
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 0xF)] as char);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn render(t: &Template, vars: &BTreeMap<String, Var>, escape: Escape) -> String {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut ctx = RenderCtx {
            vars,
            vu: 3,
            iteration: 41,
            rng: &mut rng,
            now_unix: 1_700_000_000,
        };
        let mut out = String::new();
        t.render(&mut ctx, escape, &mut out);
        out
    }

    #[test]
    fn parses_parts() {
        let t = Template::parse("/v1/images/?q={{word}}&vu={{ vu }}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("/v1/images/?q=".into()),
                Part::Var("word".into()),
                Part::Lit("&vu=".into()),
                Part::Vu
            ]
        );
        assert!(!t.is_static());
        assert_eq!(t.var_names().collect::<Vec<_>>(), ["word"]);
        let r = Template::parse("{{random_int:1..9999}}").unwrap();
        assert_eq!(r.parts, vec![Part::RandomInt { lo: 1, hi: 9999 }]);
        assert_eq!(
            Template::parse("{{random_int:-5..-1}}").unwrap().parts,
            vec![Part::RandomInt { lo: -5, hi: -1 }]
        );
    }

    #[test]
    fn single_braces_are_literal() {
        let t = Template::parse(r#"{"id": "{{uuid}}", "n": {"a": [1, {}]}}"#).unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("{\"id\": \"".into()),
                Part::Uuid,
                Part::Lit("\", \"n\": {\"a\": [1, {}]}}".into())
            ]
        );
        // The last two braces of a run open the placeholder.
        let t = Template::parse("{{{uuid}}}").unwrap();
        assert_eq!(t.parts, vec![Part::Lit("{".into()), Part::Uuid, Part::Lit("}".into())]);
        let s = Template::parse("{}").unwrap();
        assert!(s.is_static());
        assert_eq!(s.literal(), "{}");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""{}""#);
        let w = Template::parse("/a/{word}/{x-y}").unwrap();
        assert!(w.is_static(), "an unknown single-braced name is text");
        assert_eq!(w.single_brace_names().collect::<Vec<_>>(), ["word"]);
    }

    #[test]
    fn rejects_bad_templates() {
        for (s, needle) in [
            ("{{word", "unclosed `{{`"),
            ("{{word}", "unclosed `{{`"),
            ("{{}}", "not a placeholder"),
            ("{{a b}}", "not a placeholder"),
            ("{{random_int}}", "needs a range"),
            ("{{random_int:9..1}}", "above"),
            ("{{random_int:a..b}}", "inclusive range"),
            ("{{random_int:1-2}}", "inclusive range"),
            // The syntax before `{{…}}`, for a built-in: refused with the hint.
            ("{uuid}", "did you mean \"{{uuid}}\"?"),
            (r#"{"id": "{uuid}"}"#, "did you mean \"{{uuid}}\"?"),
            ("/t/{random_int:1..9}", "did you mean \"{{random_int:1..9}}\"?"),
            ("{{vu}}-{iteration}", "did you mean \"{{iteration}}\"?"),
        ] {
            let e = Template::parse(s).unwrap_err();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }

    #[test]
    fn renders_builtins_and_vars() {
        let mut vars = BTreeMap::new();
        vars.insert("word".to_string(), Var::List(vec!["a b/é".into()]));
        vars.insert(
            "tok".to_string(),
            Var::Secret {
                env: "T".into(),
                value: "s3cr&t".into(),
            },
        );
        let t = Template::parse("{{word}}|{{tok}}|{{vu}}|{{iteration}}|{{timestamp}}").unwrap();
        assert_eq!(render(&t, &vars, Escape::None), "a b/é|s3cr&t|3|41|1700000000");
        assert_eq!(
            render(&t, &vars, Escape::Url),
            "a%20b%2F%C3%A9|s3cr%26t|3|41|1700000000"
        );
        let lit = Template::parse("/a b/{{vu}}").unwrap();
        assert_eq!(render(&lit, &vars, Escape::Url), "/a b/3", "literals are not escaped");
    }

    #[test]
    fn random_parts_stay_in_range_and_uuid_is_v4() {
        let vars = BTreeMap::new();
        let t = Template::parse("{{random_int:1..3}}").unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut ctx = RenderCtx {
            vars: &vars,
            vu: 0,
            iteration: 0,
            rng: &mut rng,
            now_unix: 0,
        };
        for _ in 0..200 {
            let mut out = String::new();
            t.render(&mut ctx, Escape::None, &mut out);
            assert!(["1", "2", "3"].contains(&out.as_str()), "{out}");
        }
        let u = render(&Template::parse("{{uuid}}").unwrap(), &vars, Escape::None);
        let parsed = uuid::Uuid::parse_str(&u).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn never_panics_on_garbage() {
        let pieces = [
            "{",
            "}",
            "{{",
            "}}",
            "{{{",
            "vu",
            "uuid",
            "random_int:",
            "..",
            "1",
            "-",
            "é",
            " ",
            "x",
            ":",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(x % 9) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            if let Ok(t) = Template::parse(&s) {
                let _ = render(&t, &BTreeMap::new(), Escape::Url);
            }
        }
    }
}
