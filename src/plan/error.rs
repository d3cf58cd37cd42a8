//! Plan errors, and where in the file they are.
//!
//! [`PlanError`] names the file, the line and column, the field path
//! (`scenario[0].executor`) and, when a near miss is likely, a suggestion.
//! `SourceMap` finds positions: it maps a byte offset to a field path (for
//! errors the TOML deserializer reports) and a field path to a byte offset
//! (for errors that validation finds across fields).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// An error in a plan file. Display renders it the way compilers do:
///
/// ```text
/// loadcheck.toml:12:3: field `scenario[0].executor`: unknown executor "constant-vu"; expected one of: …; did you mean "constant-vus"?
/// ```
#[derive(Debug, thiserror::Error)]
pub struct PlanError {
    /// The plan file.
    pub file: PathBuf,
    /// 1-based line, when the offending key or value exists in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), with `line`.
    pub column: Option<usize>,
    /// The field path, e.g. `scenario[0].executor`; empty when the error is
    /// about the file as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The nearest valid name, when the error is a misspelling.
    pub suggestion: Option<String>,
}

impl PlanError {
    /// An error about `field` with no position yet.
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        PlanError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: field.into(),
            message: message.into(),
            suggestion: None,
        }
    }

    /// The plan file could not be read.
    pub fn io(path: &Path, err: &io::Error) -> Self {
        PlanError::new(path, "", format!("cannot read the plan: {err}"))
    }

    /// Sets the position.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Sets the suggestion.
    pub fn with_suggestion(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }

    /// Builds the error for a TOML syntax or deserialization error.
    pub(crate) fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let map = SourceMap::new(text);
        let offset = err.span().map(|s| s.start);
        let mut path = offset.and_then(|o| map.path_at(o)).unwrap_or_default();
        let raw = err.message().trim().to_string();
        let (message, suggestion) = if !map.syntax_ok {
            (format!("invalid TOML: {raw}"), None)
        } else if let Some(rest) = raw.strip_prefix("missing field ") {
            let name = backticked(rest).into_iter().next().unwrap_or_default();
            path = path.key(&name);
            ("missing required field".to_string(), None)
        } else if raw.starts_with("unknown field ") || raw.starts_with("unknown variant ") {
            match path.0.as_slice() {
                [Seg::Key(k)] if LATER.contains(&k.as_str()) => {
                    (format!("[{k}] is not supported by this version of loadcheck yet"), None)
                }
                _ => unknown_name_message(&raw),
            }
        } else {
            (plain_words(&raw), None)
        };
        let mut e = PlanError::new(file, path.to_string(), message).with_suggestion(suggestion);
        if let Some(o) = offset {
            let (line, col) = map.line_col(o);
            e = e.at(line, col);
        }
        e
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean \"{s}\"?")?;
        }
        Ok(())
    }
}

/// Top-level sections that later versions of loadcheck add.
const LATER: &[&str] = &[];

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into
/// loadcheck's form, with the nearest valid name as the suggestion.
fn unknown_name_message(raw: &str) -> (String, Option<String>) {
    let what = if raw.starts_with("unknown field") {
        "field"
    } else {
        "value"
    };
    let names = backticked(raw);
    let Some((unknown, expected)) = names.split_first() else {
        return (raw.to_string(), None);
    };
    let suggestion = did_you_mean(unknown, expected.iter().map(String::as_str));
    let message = if expected.is_empty() {
        format!("unknown {what} \"{unknown}\"; this table takes no fields")
    } else {
        format!("unknown {what} \"{unknown}\"; expected one of: {}", expected.join(", "))
    };
    (message, suggestion)
}

/// Replaces serde's type names with words people use in TOML.
fn plain_words(raw: &str) -> String {
    const WORDS: [(&str, &str); 7] = [
        ("expected a sequence", "expected an array"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a map", "expected a table"),
    ];
    WORDS.iter().fold(raw.to_string(), |s, (from, to)| s.replace(from, to))
}

/// The `` `quoted` `` names in a serde message, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// misspelling (Jaro-Winkler similarity of 0.85 or more, or one edit away).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| *score >= 0.85 || strsim::damerau_levenshtein(word, c) <= 1)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path to a field, displayed as `scenario[0].endpoints.search` (keys that
/// are not bare TOML keys are quoted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(pub(crate) Vec<Seg>);

impl FieldPath {
    /// The file's top level, for files that are one table (`sink.toml`).
    pub(crate) fn top() -> Self {
        FieldPath(Vec::new())
    }

    /// A top-level key.
    pub(crate) fn root(key: &str) -> Self {
        FieldPath(vec![Seg::Key(key.to_string())])
    }

    /// This path followed by a key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    /// This path followed by an array index.
    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare { f.write_str(k)? } else { write!(f, "{k:?}")? }
                }
            }
        }
        Ok(())
    }
}

/// Positions in a plan's text.
pub(crate) struct SourceMap<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
    /// Whether the text is valid TOML.
    pub(crate) syntax_ok: bool,
}

impl<'a> SourceMap<'a> {
    /// Indexes `text` (best effort when it is not valid TOML).
    pub(crate) fn new(text: &'a str) -> Self {
        let (root, errors) = DeTable::parse_recoverable(text);
        SourceMap {
            text,
            root,
            syntax_ok: errors.is_empty(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let bytes = &self.text.as_bytes()[..offset.min(self.text.len())];
        let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        // Count characters: every byte that is not a UTF-8 continuation byte.
        let col = bytes[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
        (line, col)
    }

    /// The byte offset of the field at `path`: the key for a table entry, the
    /// element for an array item. Falls back to the deepest part of the path
    /// that exists; `None` when not even the first step does.
    pub(crate) fn locate(&self, path: &FieldPath) -> Option<usize> {
        self.walk(path).0
    }

    /// Like [`locate`](Self::locate), but only when the whole path exists.
    pub(crate) fn find(&self, path: &FieldPath) -> Option<usize> {
        match self.walk(path) {
            (found, true) => found,
            _ => None,
        }
    }

    /// 1-based line and column of the field at `path` (see `locate`).
    pub(crate) fn position(&self, path: &FieldPath) -> Option<(usize, usize)> {
        self.locate(path).map(|o| self.line_col(o))
    }

    fn walk(&self, path: &FieldPath) -> (Option<usize>, bool) {
        let mut table: Option<&DeTable<'a>> = Some(self.root.get_ref());
        let mut value: Option<&Spanned<DeValue<'a>>> = None;
        let mut found = None;
        for seg in &path.0 {
            let next = match (seg, table, value.map(Spanned::get_ref)) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref() == k)
                    .map(|(key, v)| (key.span().start, v)),
                (Seg::Index(i), _, Some(DeValue::Array(a))) => a.get(*i).map(|v| (v.span().start, v)),
                _ => None,
            };
            let Some((offset, v)) = next else {
                return (found, false);
            };
            found = Some(offset);
            value = Some(v);
            table = match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        (found, true)
    }

    /// The deepest field path whose key or value contains `offset`.
    pub(crate) fn path_at(&self, offset: usize) -> Option<FieldPath> {
        let mut path = FieldPath::default();
        search_table(self.root.get_ref(), offset, &mut path).then_some(path)
    }
}

fn search_table(table: &DeTable<'_>, offset: usize, path: &mut FieldPath) -> bool {
    for (key, value) in table.iter() {
        path.0.push(Seg::Key(key.get_ref().to_string()));
        if key.span().contains(&offset) || search_value(value, offset, path) {
            return true;
        }
        path.0.pop();
    }
    false
}

fn search_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut FieldPath) -> bool {
    let deeper = match value.get_ref() {
        DeValue::Table(t) => search_table(t, offset, path),
        DeValue::Array(items) => items.iter().enumerate().any(|(i, item)| {
            path.0.push(Seg::Index(i));
            let hit = search_value(item, offset, path);
            if !hit {
                path.0.pop();
            }
            hit
        }),
        _ => false,
    };
    deeper || value.span().contains(&offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name = \"x\"\n[[scenario]]\nname = \"a\"\nendpoints = { search = 6 }\n\n[[scenario]]\nname = \"b\"\n[thresholds]\n\"http_req_failed{phase:rollout}\" = [\n  \"rate<0.01\",\n  \"bad\",\n]\n";

    #[test]
    fn display_has_every_part() {
        let e = PlanError::new(
            Path::new("loadcheck.toml"),
            "scenario[0].executor",
            "unknown executor \"constant-vu\"",
        )
        .at(12, 3)
        .with_suggestion(Some("constant-vus".into()));
        assert_eq!(
            e.to_string(),
            "loadcheck.toml:12:3: field `scenario[0].executor`: unknown executor \"constant-vu\"; did you mean \"constant-vus\"?"
        );
        let io = PlanError::io(Path::new("p.toml"), &io::Error::new(io::ErrorKind::NotFound, "gone"));
        assert_eq!(io.to_string(), "p.toml: cannot read the plan: gone");
    }

    #[test]
    fn paths_display_and_locate() {
        let map = SourceMap::new(DOC);
        let p = FieldPath::root("scenario").index(0).key("endpoints").key("search");
        assert_eq!(p.to_string(), "scenario[0].endpoints.search");
        assert_eq!(map.position(&p), Some((4, 15)));
        assert_eq!(map.position(&FieldPath::root("scenario").index(1)), Some((6, 1)));
        // Missing tail: falls back to the scenario header.
        let missing = FieldPath::root("scenario").index(1).key("executor");
        assert_eq!(map.position(&missing), Some((6, 1)));
        assert_eq!(map.find(&missing), None);
        let th = FieldPath::root("thresholds")
            .key("http_req_failed{phase:rollout}")
            .index(1);
        assert_eq!(th.to_string(), "thresholds.\"http_req_failed{phase:rollout}\"[1]");
        assert_eq!(map.position(&th), Some((11, 3)));
        assert_eq!(map.position(&FieldPath::root("nothing")), None);
    }

    #[test]
    fn offsets_map_back_to_paths() {
        let map = SourceMap::new(DOC);
        let at = |needle: &str| map.path_at(DOC.find(needle).unwrap()).unwrap().to_string();
        assert_eq!(at("search"), "scenario[0].endpoints.search");
        assert_eq!(at("\"b\""), "scenario[1].name");
        assert_eq!(at("\"bad\""), "thresholds.\"http_req_failed{phase:rollout}\"[1]");
        assert_eq!(map.line_col(DOC.len() + 10).0, DOC.lines().count() + 1);
    }

    #[test]
    fn suggestions_pick_near_misses_only() {
        assert_eq!(
            did_you_mean("executr", ["name", "executor", "rate"]),
            Some("executor".into())
        );
        assert_eq!(
            did_you_mean("constant-vu", ["constant-vus", "ramping-vus"]),
            Some("constant-vus".into())
        );
        assert_eq!(did_you_mean("zzz", ["name", "executor"]), None);
    }

    #[test]
    fn unknown_field_messages_are_rewritten() {
        let (m, s) = unknown_name_message("unknown field `executr`, expected one of `name`, `executor`");
        assert_eq!(m, "unknown field \"executr\"; expected one of: name, executor");
        assert_eq!(s.as_deref(), Some("executor"));
    }
}
