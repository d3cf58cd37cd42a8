//! The Prometheus text exposition format (version 0.0.4), as much as a
//! metric probe needs: sample lines, and series selectors. A bottom-layer
//! module: the plan parses a probe's selector (so a bad one is an error
//! with its line), and the probe reads sample lines with the same grammar.
//!
//! A sample line is `name{label="value",…} value [timestamp]`:
//!
//! - the name matches `[a-zA-Z_:][a-zA-Z0-9_:]*`, a label name
//!   `[a-zA-Z_][a-zA-Z0-9_]*`;
//! - label values are double-quoted, with `\\`, `\"` and `\n` as the only
//!   escapes (any other escape is an error, as in Prometheus);
//! - the braces may be empty or absent, and may end with a comma; blanks
//!   (spaces, tabs) may surround the tokens inside them;
//! - the value is a float as Go writes it (`1`, `-0.5`, `1e3`, `+Inf`,
//!   `-Inf`, `NaN`, any case), the timestamp an integer (milliseconds).
//!
//! Blank lines and `#` lines (`# HELP`, `# TYPE`, other comments, an
//! OpenMetrics `# EOF`) are skipped. Leading blanks and a trailing `\r` are
//! tolerated.
//!
//! A selector is `name` or `name{label="value",other="x"}`, with the same
//! lexical rules. A series matches when it has that name and at least those
//! labels with those values; as in PromQL, `label=""` also matches a series
//! without that label.

use std::fmt;

/// A series selector: `name` or `name{label="value",…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// Labels the series must have, with these values, in the order
    /// written.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    /// Whether a sample belongs to the selected series.
    pub fn matches(&self, sample: &Sample) -> bool {
        sample.name == self.name
            && self.labels.iter().all(|(name, want)| {
                let have = sample.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                have.unwrap_or("") == want
            })
    }
}

/// In the resolved plan of `run.json`, as written.
impl serde::Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Selector {
    /// Writes the selector back in its own syntax, values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (name, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// Its labels, unescaped, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The optional timestamp, in milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
}

/// Parses and checks a selector (`name` or `name{label="value",…}`);
/// surrounding blanks are ignored. The error says what was expected where.
pub fn parse_selector(s: &str) -> Result<Selector, String> {
    let mut cur = Cursor::new(s.trim_matches([' ', '\t']));
    let name = cur.metric_name()?;
    let labels = if cur.peek() == Some('{') {
        cur.labels()?
    } else {
        Vec::new()
    };
    if let Some(c) = cur.peek() {
        return Err(format!(
            "expected the end of the selector after `{}`, found `{c}` (a selector is `name` or `name{{label=\"value\",…}}`)",
            cur.consumed()
        ));
    }
    Ok(Selector { name, labels })
}

/// Parses one line: `Ok(None)` for blank and `#` lines.
pub fn parse_line(line: &str) -> Result<Option<Sample>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut cur = Cursor::new(line);
    let name = cur.metric_name()?;
    let labels = if cur.peek() == Some('{') {
        cur.labels()?
    } else {
        Vec::new()
    };
    if !cur.skip_blanks() {
        return match cur.peek() {
            Some(c) => Err(format!("expected a blank before the value, found `{c}`")),
            None => Err("expected a value after the series".to_string()),
        };
    }
    let value = cur.word();
    let value = parse_value(value)?;
    cur.skip_blanks();
    let timestamp = match cur.word() {
        "" => None,
        ts => Some(
            ts.parse::<i64>()
                .map_err(|_| format!("expected an integer timestamp, found `{ts}`"))?,
        ),
    };
    cur.skip_blanks();
    if let Some(c) = cur.peek() {
        return Err(format!("expected the end of the line after the timestamp, found `{c}`"));
    }
    Ok(Some(Sample {
        name,
        labels,
        value,
        timestamp,
    }))
}

/// Finds the first sample of the selected series in a text-format body.
///
/// The whole body must parse: an error names the first bad line
/// (1-based). No match is an error too.
pub fn find(body: &str, selector: &Selector) -> Result<f64, String> {
    let mut found = None;
    for (i, line) in body.split('\n').enumerate() {
        let sample = parse_line(line).map_err(|e| format!("not the Prometheus text format: line {}: {e}", i + 1))?;
        if found.is_none()
            && let Some(sample) = sample
            && selector.matches(&sample)
        {
            found = Some(sample.value);
        }
    }
    found.ok_or_else(|| format!("no series matches {selector}"))
}

/// A sample value: a Go-style float.
fn parse_value(s: &str) -> Result<f64, String> {
    // Rust's parser takes what Go writes: digits, exponents, signs, and
    // inf / infinity / nan in any case.
    if s.is_empty() {
        return Err("expected a value".to_string());
    }
    s.parse::<f64>().map_err(|_| format!("expected a number, found `{s}`"))
}

/// A position in a line or selector.
struct Cursor<'a> {
    /// The whole text.
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    /// The text not yet consumed.
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// The text consumed so far.
    fn consumed(&self) -> &'a str {
        self.text.get(..self.pos).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Skips spaces and tabs; whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Everything up to the next blank.
    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find([' ', '\t']).unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or("")
    }

    /// Takes characters while `ok(index, char)` holds.
    fn take_while(&mut self, ok: impl Fn(usize, char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !ok(i, c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        rest.get(..len).unwrap_or("")
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    fn metric_name(&mut self) -> Result<String, String> {
        let name =
            self.take_while(|i, c| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() {
            return Err(match self.peek() {
                Some(c) => format!("expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), found `{c}`"),
                None => "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)".to_string(),
            });
        }
        Ok(name.to_string())
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    fn label_name(&mut self) -> Result<String, String> {
        let name = self.take_while(|i, c| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() {
            return Err(match self.peek() {
                Some(c) => format!("expected a label name ([a-zA-Z_][a-zA-Z0-9_]*) or `}}`, found `{c}`"),
                None => "expected a label name or `}`, found the end".to_string(),
            });
        }
        Ok(name.to_string())
    }

    /// `{name="value",…}` starting at the `{`, with an optional trailing
    /// comma; duplicate label names are an error.
    fn labels(&mut self) -> Result<Vec<(String, String)>, String> {
        if self.bump() != Some('{') {
            return Err("expected `{`".to_string());
        }
        let mut labels: Vec<(String, String)> = Vec::new();
        loop {
            self.skip_blanks();
            if self.peek() == Some('}') {
                self.bump();
                return Ok(labels);
            }
            let name = self.label_name()?;
            self.skip_blanks();
            match self.bump() {
                Some('=') => {}
                Some(c) => return Err(format!("expected `=` after label `{name}`, found `{c}`")),
                None => return Err(format!("expected `=` after label `{name}`, found the end")),
            }
            self.skip_blanks();
            let value = self.label_value(&name)?;
            if labels.iter().any(|(n, _)| *n == name) {
                return Err(format!("label `{name}` appears twice"));
            }
            labels.push((name, value));
            self.skip_blanks();
            match self.bump() {
                Some(',') => {}
                Some('}') => return Ok(labels),
                Some(c) => return Err(format!("expected `,` or `}}` after a label value, found `{c}`")),
                None => return Err("expected `,` or `}` after a label value, found the end".to_string()),
            }
        }
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes.
    fn label_value(&mut self, name: &str) -> Result<String, String> {
        match self.bump() {
            Some('"') => {}
            Some(c) => {
                return Err(format!(
                    "expected a double-quoted value for label `{name}`, found `{c}`"
                ));
            }
            None => {
                return Err(format!(
                    "expected a double-quoted value for label `{name}`, found the end"
                ));
            }
        }
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    Some(c) => {
                        return Err(format!(
                            "invalid escape `\\{c}` in the value of label `{name}` (only \\\\, \\\" and \\n)"
                        ));
                    }
                    None => return Err(format!("unterminated value for label `{name}`")),
                },
                Some('\n') => return Err(format!("unescaped line feed in the value of label `{name}`")),
                Some(c) => value.push(c),
                None => {
                    return Err(format!(
                        "unterminated value for label `{name}` (expected a closing `\"`)"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(line: &str) -> Sample {
        match parse_line(line) {
            Ok(Some(s)) => s,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_and_labelled_lines() {
        let s = sample("up 1");
        assert_eq!(
            (s.name.as_str(), s.labels.len(), s.value, s.timestamp),
            ("up", 0, 1.0, None)
        );
        let s = sample(r#"http_requests_total{method="post",code="200"} 1027 1395066363000"#);
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(s.labels, labels(&[("method", "post"), ("code", "200")]));
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp, Some(1395066363000));
        let s = sample("  ns:rule_x{} -0.5\t-12\r");
        assert_eq!((s.name.as_str(), s.value, s.timestamp), ("ns:rule_x", -0.5, Some(-12)));
        let s = sample(r#"a{ x = "1" , y="2", } 1e3"#);
        assert_eq!(s.labels, labels(&[("x", "1"), ("y", "2")]));
        assert_eq!(s.value, 1000.0);
    }

    #[test]
    fn values() {
        assert_eq!(sample("a +Inf").value, f64::INFINITY);
        assert_eq!(sample("a -Inf").value, f64::NEG_INFINITY);
        assert!(sample("a NaN").value.is_nan());
        assert_eq!(sample("a 1.5E-3").value, 0.0015);
        assert_eq!(sample("a +7").value, 7.0);
        assert_eq!(sample("a .5").value, 0.5);
        assert!(parse_line("a one").is_err());
        assert!(parse_line("a 0x10").is_err());
        assert!(parse_line("a").is_err());
        assert!(parse_line("a ").is_err());
        assert!(parse_line("a 1 2.5").is_err());
        assert!(parse_line("a 1 2 3").is_err());
    }

    #[test]
    fn escapes_in_label_values() {
        let s = sample(r#"msg{text="say \"hi\"\\ \n done",b="}{,="} 2"#);
        assert_eq!(s.labels, labels(&[("text", "say \"hi\"\\ \n done"), ("b", "}{,=")]));
        let s = sample("m{v=\"héllo ✓\"} 3");
        assert_eq!(s.labels[0].1, "héllo ✓");
        assert!(parse_line(r#"m{v="\t"} 1"#).unwrap_err().contains("invalid escape"));
        assert!(parse_line(r#"m{v="abc} 1"#).unwrap_err().contains("unterminated"));
        assert!(parse_line(r#"m{v="abc\"#).unwrap_err().contains("unterminated"));
    }

    #[test]
    fn comments_and_blanks_are_skipped() {
        for line in [
            "",
            "   ",
            "# HELP up Whether up.",
            "# TYPE up gauge",
            "#",
            "# EOF",
            "  # indented",
            "\r",
        ] {
            assert_eq!(parse_line(line), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn malformed_lines() {
        for (line, want) in [
            ("1abc 1", "metric name"),
            ("{a=\"1\"} 1", "metric name"),
            ("a{1=\"x\"} 1", "label name"),
            ("a{b} 1", "`=`"),
            ("a{b=x} 1", "double-quoted"),
            ("a{b=\"x\" c=\"y\"} 1", "`,` or `}`"),
            ("a{b=\"x\"", "`,` or `}`"),
            ("a{b=\"x\",b=\"y\"} 1", "twice"),
            ("a{b=\"x\"}1", "blank"),
            ("a-b 1", "blank"),
            ("a 1 x", "timestamp"),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }

    #[test]
    fn selectors() {
        let s = parse_selector("breaker_state").unwrap();
        assert_eq!((s.name.as_str(), s.labels.len()), ("breaker_state", 0));
        let s = parse_selector(r#" breaker_state{name="redis", zone = "a\"b"} "#).unwrap();
        assert_eq!(s.labels, labels(&[("name", "redis"), ("zone", "a\"b")]));
        assert_eq!(s.to_string(), r#"breaker_state{name="redis",zone="a\"b"}"#);
        assert_eq!(parse_selector(&s.to_string()).unwrap(), s);
        assert_eq!(parse_selector("x{}").unwrap().labels, vec![]);
        for (sel, want) in [
            ("", "metric name"),
            ("9x", "metric name"),
            ("x{name=redis}", "double-quoted"),
            ("x{name=\"redis\"", "`,` or `}`"),
            ("x{name}", "`=`"),
            ("x{name=\"a\"} y", "end of the selector"),
            ("x y", "end of the selector"),
            ("x{a=\"1\",a=\"2\"}", "twice"),
            ("x{=\"1\"}", "label name"),
        ] {
            let err = parse_selector(sel).unwrap_err();
            assert!(err.contains(want), "{sel:?}: {err}");
        }
    }

    const BODY: &str = r#"# HELP breaker_state Circuit breaker state (0 closed, 1 open).
# TYPE breaker_state gauge
breaker_state{name="postgres"} 0
breaker_state{name="redis",zone="a"} 1
breaker_state{name="redis",zone="b"} 0.5
up 1
"#;

    #[test]
    fn find_takes_the_first_match_with_at_least_the_labels() {
        let sel = |s: &str| parse_selector(s).unwrap();
        assert_eq!(find(BODY, &sel(r#"breaker_state{name="redis"}"#)), Ok(1.0));
        assert_eq!(find(BODY, &sel(r#"breaker_state{zone="b",name="redis"}"#)), Ok(0.5));
        assert_eq!(find(BODY, &sel("breaker_state")), Ok(0.0));
        assert_eq!(find(BODY, &sel("up")), Ok(1.0));
        // `label=""` matches a series without the label, as in PromQL.
        assert_eq!(find(BODY, &sel(r#"up{job=""}"#)), Ok(1.0));
        let err = find(BODY, &sel(r#"breaker_state{name="kafka"}"#)).unwrap_err();
        assert_eq!(err, r#"no series matches breaker_state{name="kafka"}"#);
        assert!(find(BODY, &sel("breaker")).is_err());
        assert!(find("", &sel("up")).unwrap_err().contains("no series"));
    }

    #[test]
    fn find_rejects_a_body_that_is_not_the_format() {
        let sel = parse_selector("up").unwrap();
        let err = find("up 1\n<html>oops</html>\n", &sel).unwrap_err();
        assert!(err.starts_with("not the Prometheus text format: line 2:"), "{err}");
        assert!(find("{\"up\": 1}", &sel).is_err());
        // CRLF line ends are tolerated.
        assert_eq!(find("# TYPE up gauge\r\nup 1\r\n", &sel), Ok(1.0));
    }
}
