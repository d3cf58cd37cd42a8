//! GitHub Actions expressions (`${{ … }}`), as much of them as action.yml
//! and the workflows use: literals (strings with `''` escapes, numbers,
//! `true`, `false`, `null`), context paths (`inputs.plan`,
//! `steps.run.outputs.exit-code`, `github.event.pull_request.number`),
//! `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`, parentheses, and the
//! status functions `success()`, `always()`, `failure()`, `cancelled()`.
//! Anything else is an error, so an expression the test cannot evaluate
//! fails the test rather than being guessed at.
//!
//! The semantics are GitHub's: names and string comparisons ignore case,
//! values of different types are compared as numbers, `&&` and `||` return
//! an operand, and a missing property is `null`.

use std::collections::BTreeMap;

/// A value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// Keys are stored lowercase: property names ignore case.
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// An object from `(key, value)` pairs.
    pub fn object<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.as_ref().to_lowercase(), v)).collect())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A JSON document as a value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::object(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), Value::from_json(v))),
            ),
            serde_json::Value::Object(map) => Value::object(map.iter().map(|(k, v)| (k, Value::from_json(v)))),
        }
    }

    /// The property `name`, or null.
    pub fn get(&self, name: &str) -> Value {
        match self {
            Value::Object(map) => map.get(&name.to_lowercase()).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Truthiness: `false`, `0`, `-0`, `NaN`, `''` and `null` are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// The value as interpolated into a string.
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Object(_) => "Object".to_string(),
        }
    }

    fn to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) if s.trim().is_empty() => 0.0,
            Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
            Value::Object(_) => f64::NAN,
        }
    }

    fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::String(a), Value::String(b)) => a.to_lowercase() == b.to_lowercase(),
            (Value::Null, Value::Null) => true,
            (Value::Object(_), _) | (_, Value::Object(_)) => false,
            _ => self.to_number() == other.to_number(),
        }
    }
}

/// How the steps so far went, for the status functions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Status {
    /// A step before this one failed.
    pub failed: bool,
    /// The run was cancelled (never, here).
    pub cancelled: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Ident(String),
    Op(&'static str),
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in `{src}`")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Num(text.parse().map_err(|_| format!("bad number {text}"))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = ["&&", "||", "==", "!=", "<=", ">="]
                .into_iter()
                .find(|op| *op == two)
                .or_else(|| {
                    ["!", "(", ")", ".", ",", "<", ">"]
                        .into_iter()
                        .find(|op| op.starts_with(c))
                })
                .ok_or_else(|| format!("`{c}` is not supported in `{src}`"))?;
            i += op.len();
            out.push(Token::Op(op));
        }
    }
    Ok(out)
}

/// The expression evaluator over one context (`inputs`, `github`, `steps`, …).
pub struct Eval<'a> {
    pub context: &'a Value,
    pub status: Status,
}

struct Parser<'a, 'b> {
    tokens: Vec<Token>,
    pos: usize,
    eval: &'b Eval<'a>,
    src: &'b str,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Op(o)) if *o == op);
        if found {
            self.pos += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Value, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = if left.truthy() { left } else { right };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Value, String> {
        let mut left = self.comparison()?;
        while self.eat("&&") {
            let right = self.comparison()?;
            left = if left.truthy() { right } else { left };
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Value, String> {
        let left = self.unary()?;
        let op = match self.peek() {
            Some(Token::Op(op)) if ["==", "!=", "<", "<=", ">", ">="].contains(op) => *op,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.unary()?;
        let (a, b) = (left.to_number(), right.to_number());
        Ok(Value::Bool(match op {
            "==" => left.loose_eq(&right),
            "!=" => !left.loose_eq(&right),
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            _ => a >= b,
        }))
    }

    fn unary(&mut self) -> Result<Value, String> {
        if self.eat("!") {
            return Ok(Value::Bool(!self.unary()?.truthy()));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| format!("`{}` ends early", self.src))?;
        self.pos += 1;
        match token {
            Token::Str(s) => Ok(Value::String(s)),
            Token::Num(n) => Ok(Value::Number(n)),
            Token::Op("(") => {
                let v = self.or()?;
                if !self.eat(")") {
                    return Err(format!("missing `)` in `{}`", self.src));
                }
                Ok(v)
            }
            Token::Ident(name) => self.name(&name),
            Token::Op(op) => Err(format!("unexpected `{op}` in `{}`", self.src)),
        }
    }

    fn name(&mut self, name: &str) -> Result<Value, String> {
        match name {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "null" => return Ok(Value::Null),
            _ => {}
        }
        if self.eat("(") {
            if !self.eat(")") {
                return Err(format!(
                    "function `{name}` with arguments is not supported in `{}`",
                    self.src
                ));
            }
            let s = self.eval.status;
            return match name.to_lowercase().as_str() {
                "success" => Ok(Value::Bool(!s.failed && !s.cancelled)),
                "always" => Ok(Value::Bool(true)),
                "failure" => Ok(Value::Bool(s.failed)),
                "cancelled" => Ok(Value::Bool(s.cancelled)),
                other => Err(format!("function `{other}()` is not supported in `{}`", self.src)),
            };
        }
        let mut value = self.eval.context.get(name);
        if value == Value::Null
            && !matches!(self.eval.context, Value::Object(m) if m.contains_key(&name.to_lowercase()))
        {
            return Err(format!("unknown context `{name}` in `{}`", self.src));
        }
        while self.eat(".") {
            match self.peek().cloned() {
                Some(Token::Ident(prop)) => {
                    self.pos += 1;
                    value = value.get(&prop);
                }
                Some(Token::Num(n)) => {
                    self.pos += 1;
                    value = value.get(&Value::Number(n).to_text());
                }
                _ => return Err(format!("a property name must follow `.` in `{}`", self.src)),
            }
        }
        Ok(value)
    }
}

impl Eval<'_> {
    /// Evaluates one expression (the text between `${{` and `}}`).
    pub fn eval(&self, src: &str) -> Result<Value, String> {
        let mut p = Parser {
            tokens: tokenize(src)?,
            pos: 0,
            eval: self,
            src,
        };
        let v = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!("unexpected {:?} in `{src}`", p.tokens[p.pos]));
        }
        Ok(v)
    }

    /// Replaces every `${{ … }}` in `text` with its value.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            let end = closing(after).ok_or_else(|| format!("unclosed `${{{{` in `{text}`"))?;
            out.push_str(&self.eval(&after[..end])?.to_text());
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A step's `if:`, as the runner reads it: `${{ }}` is optional, and an
    /// expression with no status function is `success() && (…)`.
    pub fn condition(&self, cond: Option<&str>) -> Result<bool, String> {
        let Some(cond) = cond.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(self.eval("success()")?.truthy());
        };
        let inner = match cond.strip_prefix("${{").and_then(|c| c.strip_suffix("}}")) {
            Some(inner) if closing(inner).is_none() => inner,
            _ => cond,
        };
        let has_status = tokenize(inner)?.windows(2).any(|w| {
            matches!(&w[0], Token::Ident(n) if ["success", "always", "failure", "cancelled"].contains(&n.to_lowercase().as_str()))
                && w[1] == Token::Op("(")
        });
        let full = if has_status {
            inner.to_string()
        } else {
            format!("success() && ({inner})")
        };
        Ok(self.eval(&full)?.truthy())
    }
}

/// Where the `}}` that closes an expression is, outside string literals.
fn closing(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_str = !in_str,
            b'}' if !in_str && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        Value::object([
            (
                "inputs",
                Value::object([("comment", Value::str("TRUE")), ("signoff", Value::str(""))]),
            ),
            (
                "steps",
                Value::object([(
                    "run",
                    Value::object([
                        ("outcome", Value::str("success")),
                        ("outputs", Value::object([("exit-code", Value::str("1"))])),
                    ]),
                )]),
            ),
        ])
    }

    #[test]
    fn evaluates_like_github() {
        let c = ctx();
        let e = Eval {
            context: &c,
            status: Status::default(),
        };
        assert!(
            e.eval("inputs.comment == 'true'").unwrap().truthy(),
            "strings compare ignoring case"
        );
        assert!(e.eval("inputs.signoff == ''").unwrap().truthy());
        assert!(
            e.eval("steps.run.outputs.exit-code == 1").unwrap().truthy(),
            "numbers coerce"
        );
        assert_eq!(e.eval("inputs.nope || 'x'").unwrap(), Value::str("x"));
        assert_eq!(e.eval("inputs.comment && 'y'").unwrap(), Value::str("y"));
        assert!(e.eval("!(inputs.signoff != '')").unwrap().truthy());
        assert!(e.eval("'it''s' == 'IT''S'").unwrap().truthy());
        assert!(e.eval("nope.x").is_err(), "an unknown context is an error");
        assert!(
            e.eval("contains('a', 'b')").is_err(),
            "unsupported functions are errors"
        );
        assert_eq!(
            e.interpolate("a ${{ steps.run.outputs.exit-code }} b").unwrap(),
            "a 1 b"
        );
        assert!(e.condition(Some("${{ inputs.comment == 'true' }}")).unwrap());
        let failed = Eval {
            context: &c,
            status: Status {
                failed: true,
                cancelled: false,
            },
        };
        assert!(
            !failed.condition(Some("inputs.comment == 'true'")).unwrap(),
            "success() is implied"
        );
        assert!(failed.condition(Some("always() && inputs.comment == 'true'")).unwrap());
        assert!(failed.condition(Some("failure()")).unwrap());
    }
}
