//! Request templates (`Template::parse`, `src/plan/template.rs`): paths,
//! headers and bodies with `{{placeholders}}`. It never panics, and a
//! template that parses:
//!
//! - keeps its text, and says the same thing written out again from its
//!   parts (literal text, `{{name}}`, the built-ins), which parses back to
//!   the same parts;
//! - renders as its parts say: literal text as is, variables (escaped in
//!   URLs, percent-encoding all but `A-Za-z0-9-._~`), `{{vu}}`,
//!   `{{iteration}}` and `{{timestamp}}` as numbers, `{{uuid}}` as 36
//!   characters, `{{random_int:LO..HI}}` within its range;
//! - when static, renders its literal text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::readers::{ITERATION, NOW, VAR_VALUE, VU, render};
use loadcheck::plan::template::Escape;
use loadcheck::plan::{Part, Template};

fn url_escaped(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn written(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Var(n) => format!("{{{{{n}}}}}"),
            Part::Vu => "{{vu}}".into(),
            Part::Iteration => "{{iteration}}".into(),
            Part::Uuid => "{{uuid}}".into(),
            Part::Timestamp => "{{timestamp}}".into(),
            Part::RandomInt { lo, hi } => format!("{{{{random_int:{lo}..{hi}}}}}"),
        })
        .collect()
}

/// Whether `out` is what `parts` render to (backtracking over where a
/// random integer ends, as literal digits may follow it).
fn matches(parts: &[Part], out: &str, value: &str) -> bool {
    let Some((part, rest)) = parts.split_first() else {
        return out.is_empty();
    };
    let fixed = match part {
        Part::Lit(s) => s.clone(),
        Part::Var(_) => value.to_string(),
        Part::Vu => VU.to_string(),
        Part::Iteration => ITERATION.to_string(),
        Part::Timestamp => NOW.to_string(),
        Part::Uuid => {
            let Some((id, after)) = out.split_at_checked(36) else {
                return false;
            };
            let uuid = id.bytes().enumerate().all(|(i, b)| {
                if [8, 13, 18, 23].contains(&i) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
            return uuid && matches(rest, after, value);
        }
        Part::RandomInt { lo, hi } => {
            let end = out
                .char_indices()
                .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
                .map_or(out.len(), |(i, _)| i);
            return (1..=end).any(|k| {
                out[..k]
                    .parse::<i64>()
                    .is_ok_and(|n| n >= *lo && n <= *hi && n.to_string() == out[..k])
                    && matches(rest, &out[k..], value)
            });
        }
    };
    out.strip_prefix(fixed.as_str())
        .is_some_and(|after| matches(rest, after, value))
}

fn renders_as_parts(t: &Template, out: &str, escape: Escape) {
    let value = match escape {
        Escape::None => VAR_VALUE.to_string(),
        Escape::Url => url_escaped(VAR_VALUE),
    };
    assert!(
        matches(&t.parts, out, &value),
        "{:?} renders as {out:?}, not as its parts {:?} say",
        t.source,
        t.parts
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(t) = Template::parse(text) else { return };
    assert_eq!(t.source, text);
    let again = written(&t.parts);
    let back = Template::parse(&again).unwrap_or_else(|e| panic!("{text:?} written as {again:?}: {e}"));
    assert_eq!(back.parts, t.parts, "{text:?} written as {again:?}");
    // Matching random integers backtracks: a few at most.
    if t.parts.iter().filter(|p| matches!(p, Part::RandomInt { .. })).count() <= 4 {
        for escape in [Escape::None, Escape::Url] {
            let out = render(&t, escape, u64::from(seed));
            renders_as_parts(&t, &out, escape);
        }
    }
    if t.is_static() {
        assert_eq!(render(&t, Escape::Url, 0), t.literal());
        assert_eq!(t.literal(), text);
    }
});
