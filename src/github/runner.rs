//! The Actions runner's files and workflow commands: the step summary
//! (`$GITHUB_STEP_SUMMARY`), the step's outputs (`$GITHUB_OUTPUT`),
//! annotations (`::error::`, `::warning::`) and masks (`::add-mask::`),
//! written exactly as the runner parses them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The most a step summary may hold: the runner refuses a bigger one.
pub const STEP_SUMMARY_LIMIT: usize = 1 << 20;

/// Whether loadcheck runs inside a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::error::`
    Error,
    /// `::warning::`
    Warning,
    /// `::notice::`
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// Where an annotation points: a file, with its line and column when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The path, relative to `GITHUB_WORKSPACE` (see [`workspace_relative`]).
    pub file: String,
    /// The line, from 1.
    pub line: Option<usize>,
    /// The column, from 1.
    pub col: Option<usize>,
}

/// A workflow command's message, escaped as the runner unescapes it.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value, escaped as the runner unescapes it.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=…,line=…,col=…,title=…::message`, one line.
pub fn annotation(level: Level, title: Option<&str>, at: Option<&Location>, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(at) = at {
        props.push(format!("file={}", escape_property(&at.file)));
        if let Some(line) = at.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = at.col {
            props.push(format!("col={col}"));
        }
    }
    if let Some(title) = title {
        props.push(format!("title={}", escape_property(title)));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::{}{props}::{}", level.command(), escape_data(message))
}

/// `::add-mask::value`, one line per line of a multi-line secret (the
/// runner masks line by line). Empty lines are left out: masking nothing
/// masks everything.
pub fn mask_lines(secret: &str) -> Vec<String> {
    let mut lines: Vec<String> = secret
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("::add-mask::{}", escape_data(l)))
        .collect();
    // The whole value too, when it spans lines, so its escaped form is
    // masked wherever it is printed whole.
    if secret.contains('\n') && !secret.trim().is_empty() {
        lines.push(format!("::add-mask::{}", escape_data(secret)));
    }
    lines
}

/// Prints `::add-mask::` for every secret, on stdout, when inside Actions.
/// The runner reads workflow commands from stdout; this is the one line a
/// secret is ever printed on.
pub fn mask(secrets: &[String]) {
    if !in_actions() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for secret in secrets {
        for line in mask_lines(secret) {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();
}

/// Prints an annotation on stdout, when inside Actions.
pub fn annotate(level: Level, title: Option<&str>, at: Option<&Location>, message: &str) {
    if in_actions() {
        println!("{}", annotation(level, title, at, message));
    }
}

/// `path` relative to `GITHUB_WORKSPACE`, with `/` separators, so an
/// annotation shows on the file's line in a pull request's diff. A path
/// outside the workspace is given as it is.
pub fn workspace_relative(path: &Path) -> String {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    let absolute = absolute.canonicalize().unwrap_or(absolute);
    let relative = std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from).and_then(|w| {
        let w = w.canonicalize().unwrap_or(w);
        absolute.strip_prefix(&w).ok().map(Path::to_path_buf)
    });
    match relative {
        Some(r) => r.to_string_lossy().replace('\\', "/"),
        None => path.to_string_lossy().into_owned(),
    }
}

/// The step's outputs, appended to `$GITHUB_OUTPUT` in the runner's
/// `name<<DELIMITER` form, which holds any value (several lines, `=`).
pub fn outputs_text(pairs: &[(String, String)]) -> String {
    let mut text = String::new();
    for (name, value) in pairs {
        let delimiter = delimiter_for(value);
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    text
}

/// A delimiter that no line of `value` equals.
fn delimiter_for(value: &str) -> String {
    let mut n = 0u32;
    loop {
        let candidate = if n == 0 {
            "LOADCHECK_EOF".to_string()
        } else {
            format!("LOADCHECK_EOF_{n}")
        };
        if !value.lines().any(|l| l == candidate) {
            return candidate;
        }
        n += 1;
    }
}

/// Appends `text` to the file an environment variable names (the runner's
/// files), when it is set. `Ok(false)` when it is not.
fn append_to(var: &str, text: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(true)
}

/// Appends the outputs to `$GITHUB_OUTPUT`, when set.
pub fn write_outputs(pairs: &[(String, String)]) -> std::io::Result<bool> {
    append_to("GITHUB_OUTPUT", &outputs_text(pairs))
}

/// Appends `markdown` to `$GITHUB_STEP_SUMMARY`, when set, cut to
/// [`STEP_SUMMARY_LIMIT`] bytes at a line (the runner drops a bigger
/// summary whole).
pub fn write_step_summary(markdown: &str) -> std::io::Result<bool> {
    append_to("GITHUB_STEP_SUMMARY", &fit_summary(markdown))
}

/// `markdown` cut at a line to fit the step summary, with a note.
pub fn fit_summary(markdown: &str) -> String {
    if markdown.len() <= STEP_SUMMARY_LIMIT {
        return markdown.to_string();
    }
    const NOTE: &str = "\n\n_Cut to fit the step summary's 1 MiB; the full report is in the run's output folder._\n";
    let room = STEP_SUMMARY_LIMIT - NOTE.len();
    let mut cut = room;
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = markdown[..cut].rfind('\n').unwrap_or(cut);
    format!("{}{NOTE}", &markdown[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_as_the_runner_unescapes() {
        let at = Location {
            file: "plans/a,b:c.toml".into(),
            line: Some(12),
            col: Some(3),
        };
        assert_eq!(
            annotation(Level::Error, Some("plan"), Some(&at), "100% wrong\nsecond line"),
            "::error file=plans/a%2Cb%3Ac.toml,line=12,col=3,title=plan::100%25 wrong%0Asecond line"
        );
        assert_eq!(annotation(Level::Warning, None, None, "x"), "::warning::x");
    }

    #[test]
    fn masks_cover_every_line_and_skip_empty_ones() {
        assert_eq!(mask_lines("abc"), vec!["::add-mask::abc"]);
        assert!(mask_lines("").is_empty());
        assert!(mask_lines("  \n ").is_empty());
        let lines = mask_lines("one\ntwo");
        assert_eq!(
            lines,
            vec!["::add-mask::one", "::add-mask::two", "::add-mask::one%0Atwo"]
        );
    }

    #[test]
    fn outputs_use_a_delimiter_no_line_holds() {
        let text = outputs_text(&[
            ("verdict".into(), "pass".into()),
            ("tricky".into(), "a\nLOADCHECK_EOF\nb".into()),
        ]);
        assert_eq!(
            text,
            "verdict<<LOADCHECK_EOF\npass\nLOADCHECK_EOF\ntricky<<LOADCHECK_EOF_1\na\nLOADCHECK_EOF\nb\nLOADCHECK_EOF_1\n"
        );
    }

    #[test]
    fn a_big_summary_is_cut_at_a_line() {
        let line = "| a | b |\n";
        let big = line.repeat(STEP_SUMMARY_LIMIT / line.len() + 10);
        let fitted = fit_summary(&big);
        assert!(fitted.len() <= STEP_SUMMARY_LIMIT);
        assert!(fitted.contains("Cut to fit"));
        let body = fitted.split("\n\n_Cut").next().unwrap();
        assert!(body.lines().all(|l| l == "| a | b |"));
        assert_eq!(fit_summary("small"), "small");
    }
}
