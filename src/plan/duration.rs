//! Durations as k6 and Go write them: `"500ms"`, `"1.5s"`, `"2m30s"`, `"1h"`.
//!
//! [`parse_duration`] reads them, [`format_duration`] writes the shortest
//! form back, [`serde_ms`] stores a `Duration` as milliseconds in `run.json`,
//! and [`DurationStr`] is the type raw plan structs deserialize, so that a
//! bad duration is reported at its place in the TOML file.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The units accepted, longest spelling first so `ms` wins over `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
];

/// Parses a k6/Go-style duration: one or more `<number><unit>` pairs, where
/// the number may have a fraction and the unit is one of `ns`, `us` (or
/// `µs`), `ms`, `s`, `m`, `h`. A bare `"0"` is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\"".into());
    }
    if text.starts_with('-') {
        return Err(format!("negative duration \"{text}\" is not allowed"));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, tail) = parse_component(rest, s)?;
        total = total.checked_add(nanos).ok_or_else(|| too_long(s))?;
        rest = tail;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_long(s))?;
    // The remainder is below 10^9, so it fits.
    let sub = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, sub))
}

fn too_long(s: &str) -> String {
    format!("duration \"{}\" is too long", s.trim())
}

/// Parses one `<number><unit>` at the start of `rest`, returning nanoseconds
/// and what follows.
fn parse_component<'a>(rest: &'a str, whole: &str) -> Result<(u128, &'a str), String> {
    let num_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let number = &rest[..num_len];
    let after = &rest[num_len..];
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let valid = (!int_part.is_empty() || !frac_part.is_empty())
        && int_part.bytes().all(|b| b.is_ascii_digit())
        && frac_part.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return Err(format!(
            "invalid duration \"{}\": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"1m30s\"",
            whole.trim()
        ));
    }
    let unit_len = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let unit = &after[..unit_len];
    if unit.is_empty() {
        return Err(format!(
            "duration \"{}\" is missing a unit; write e.g. \"{number}s\" or \"{number}ms\"",
            whole.trim()
        ));
    }
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "unknown unit \"{unit}\" in duration \"{}\"; expected one of: ns, us, ms, s, m, h",
            whole.trim()
        ));
    };
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_long(whole))?
    };
    let mut nanos = int.checked_mul(scale).ok_or_else(|| too_long(whole))?;
    // Fraction: only the digits that can matter at nanosecond precision.
    let mut place = scale;
    for digit in frac_part.bytes().take(20) {
        place /= 10;
        nanos = nanos.saturating_add(u128::from(digit - b'0') * place);
    }
    Ok((nanos, &after[unit_len..]))
}

/// Formats a duration in its shortest human form: `"2m30s"`, `"1.5s"`,
/// `"500ms"`, `"100µs"`, `"0s"`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < NANOS_PER_SEC {
        let (scale, unit) = if nanos < 1_000 {
            (1, "ns")
        } else if nanos < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let total_secs = d.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let sub = u128::from(d.subsec_nanos());
    if s > 0 || sub > 0 {
        out.push_str(&decimal(u128::from(s) * NANOS_PER_SEC + sub, NANOS_PER_SEC));
        out.push('s');
    }
    out
}

/// `value / scale` as a decimal with no trailing zeros.
fn decimal(value: u128, scale: u128) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// `#[serde(with = "duration::serde_ms")]`: a `Duration` as milliseconds,
/// an integer when whole, a float when it has a sub-millisecond part.
/// Deserializes from a number of milliseconds or a duration string.
pub mod serde_ms {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Serializes `d` as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() % 1_000_000 == 0 {
            s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        } else {
            s.serialize_f64(d.as_secs_f64() * 1_000.0)
        }
    }

    /// Deserializes milliseconds (integer or float) or a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(super::DurationVisitor { millis: true })
    }
}

/// `#[serde(with = "duration::serde_ms_opt")]`: an optional `Duration` as
/// milliseconds (serialize only; pair it with `skip_serializing_if`).
pub mod serde_ms_opt {
    use std::time::Duration;

    use serde::Serializer;

    /// Serializes `Some(d)` as milliseconds and `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serde_ms::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

/// A duration as written in the plan, deserialized from a string such as
/// `"30s"` (or the integer `0`). A bad value is a serde error, so the TOML
/// parser reports it with its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DurationStr(pub Duration);

impl<'de> serde::Deserialize<'de> for DurationStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let d = d.deserialize_any(DurationVisitor { millis: false })?;
        check_plan_duration(d).map(DurationStr).map_err(de::Error::custom)
    }
}

/// The longest duration a plan may hold anywhere, so that sums of
/// durations can never overflow.
pub const MAX_PLAN_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Rejects durations above [`MAX_PLAN_DURATION`].
pub fn check_plan_duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_PLAN_DURATION {
        Err(format!(
            "{} is longer than the longest supported duration (365 days)",
            format_duration(d)
        ))
    } else {
        Ok(d)
    }
}

/// Reads a duration string; with `millis`, numbers are milliseconds,
/// otherwise only `0` is accepted as a number.
struct DurationVisitor {
    millis: bool,
}

impl DurationVisitor {
    fn number<E: de::Error>(&self, ms: f64, shown: &str) -> Result<Duration, E> {
        if self.millis && ms.is_finite() && ms >= 0.0 {
            return Duration::try_from_secs_f64(ms / 1_000.0).map_err(E::custom);
        }
        if ms == 0.0 {
            return Ok(Duration::ZERO);
        }
        Err(E::custom(format!(
            "a duration needs a unit: write \"{shown}s\" or \"{shown}ms\" (as a string)"
        )))
    }
}

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string such as \"30s\", \"1m30s\" or \"250ms\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        if v < 0 {
            return Err(E::custom(format!("negative duration {v} is not allowed")));
        }
        self.number(v as f64, &v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        self.number(v as f64, &v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        if v < 0.0 {
            return Err(E::custom(format!("negative duration {v} is not allowed")));
        }
        self.number(v, &v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_k6_forms() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2m30s"), Ok(ms(150_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("100µs"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("250ns"), Ok(Duration::from_nanos(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("1h2m3.25s"), Ok(ms(3_723_250)));
        assert_eq!(parse_duration(" 10s "), Ok(ms(10_000)));
    }

    #[test]
    fn rejects_bad_input_clearly() {
        for (input, needle) in [
            ("", "empty"),
            ("-1s", "negative"),
            ("5", "missing a unit"),
            ("5 s", "unknown unit"),
            ("5d", "unknown unit \"d\""),
            ("s", "expected a number"),
            ("1..2s", "expected a number"),
            ("1.s.", "expected a number"),
            ("99999999999999999999999999h", "too long"),
            ("9999999999999999h", "too long"),
        ] {
            let err = parse_duration(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format_duration(ms(150_000)), "2m30s");
        assert_eq!(format_duration(ms(500)), "500ms");
        assert_eq!(format_duration(ms(1500)), "1.5s");
        assert_eq!(format_duration(ms(3_600_000)), "1h");
        assert_eq!(format_duration(ms(3_660_000)), "1h1m");
        assert_eq!(format_duration(Duration::from_micros(100)), "100µs");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn format_round_trips() {
        for n in [
            1u64,
            999,
            1_000,
            1_001,
            59_999,
            60_000,
            3_599_999,
            86_400_000,
            123_456_789,
        ] {
            let d = ms(n);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{n}");
        }
    }

    #[test]
    fn serde_ms_writes_milliseconds() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "serde_ms")]
            d: Duration,
        }
        let whole = serde_json::to_string(&T { d: ms(1500) }).unwrap();
        assert_eq!(whole, r#"{"d":1500}"#);
        let sub = serde_json::to_string(&T {
            d: Duration::from_micros(1500),
        })
        .unwrap();
        assert_eq!(sub, r#"{"d":1.5}"#);
        let back: T = serde_json::from_str(&sub).unwrap();
        assert_eq!(back.d, Duration::from_micros(1500));
        let text: T = serde_json::from_str(r#"{"d":"2s"}"#).unwrap();
        assert_eq!(text.d, ms(2000));
    }

    #[test]
    fn duration_str_rejects_unitless_numbers() {
        let ok: DurationStr = serde_json::from_str("\"3s\"").unwrap();
        assert_eq!(ok.0, ms(3000));
        let zero: DurationStr = serde_json::from_str("0").unwrap();
        assert_eq!(zero.0, Duration::ZERO);
        let err = serde_json::from_str::<DurationStr>("30").unwrap_err().to_string();
        assert!(err.contains("needs a unit"), "{err}");
        assert!(serde_json::from_str::<DurationStr>("-1").is_err());
        let long = serde_json::from_str::<DurationStr>("\"366d\"").unwrap_err().to_string();
        assert!(long.contains("unknown unit"), "{long}");
        let long = serde_json::from_str::<DurationStr>("\"8785h\"")
            .unwrap_err()
            .to_string();
        assert!(long.contains("365 days"), "{long}");
    }
}
