//! The Markdown reports, from minijinja templates: `report.md` (the full
//! report), `comment.md` (a PR comment, which must fit with publish's
//! marker), `summary.md` (the job summary, at most 1 MiB) and
//! `signoff.md` (a release sign-off checklist). The templates live in
//! `templates/`, embedded in the binary; `--templates DIR` overrides any
//! of them by name.

mod fit;

use std::path::{Path, PathBuf};

use minijinja::{Environment, Value, context};

use super::model::Model;
use super::{Format, Input, Rendered};

pub use fit::{COMMENT_BUDGET, COMMENT_LIMIT, MARKER_ROOM, SUMMARY_LIMIT, fit};

/// The embedded templates, by file name.
pub const TEMPLATES: [(&str, &str); 5] = [
    ("macros.md.j2", include_str!("../../templates/macros.md.j2")),
    ("report.md.j2", include_str!("../../templates/report.md.j2")),
    ("comment.md.j2", include_str!("../../templates/comment.md.j2")),
    ("summary.md.j2", include_str!("../../templates/summary.md.j2")),
    ("signoff.md.j2", include_str!("../../templates/signoff.md.j2")),
];

/// The Markdown format.
#[derive(Debug, Clone, Default)]
pub struct Markdown {
    /// A folder whose templates replace the embedded ones of the same name.
    pub templates: Option<PathBuf>,
}

impl Format for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String> {
        let model = Model::of(input);
        let env = environment(self.templates.as_deref())?;
        let mermaid = super::mermaid::blocks(input);
        let charts = super::svg::files(input);
        let full_report = match &model.run_url {
            Some(url) => format!("[the full report]({url}) (`report.md` in the run's artifacts)"),
            None => "the full report (`report.md`, next to this file)".to_string(),
        };
        let ctx = context! {
            m => Value::from_serialize(&model),
            mermaid => mermaid,
            charts => charts,
            full_report => full_report,
        };
        let render = |name: &str| -> Result<String, String> {
            let t = env.get_template(name).map_err(|e| describe(&e))?;
            t.render(&ctx).map(|text| tidy(&text)).map_err(|e| describe(&e))
        };
        let more = format!("*Cut to fit: the rest is in {full_report}.*");
        Ok(vec![
            Rendered {
                file: "report.md".into(),
                text: render("report.md.j2")?,
            },
            Rendered {
                file: "comment.md".into(),
                text: fit(&render("comment.md.j2")?, COMMENT_BUDGET, &more),
            },
            Rendered {
                file: "summary.md".into(),
                text: fit(&render("summary.md.j2")?, SUMMARY_LIMIT, &more),
            },
            Rendered {
                file: "signoff.md".into(),
                text: render("signoff.md.j2")?,
            },
        ])
    }
}

/// A template error with its file and line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("template {name}, line {line}: {e}"),
        (Some(name), None) => format!("template {name}: {e}"),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}

/// The templates, with `dir`'s files in place of the embedded ones of the
/// same name.
fn environment(dir: Option<&Path>) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_filter("cell", cell);
    env.add_filter("code", code);
    for (name, text) in TEMPLATES {
        let text = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
            Some(path) => {
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read template {}: {e}", path.display()))?
            }
            None => text.to_string(),
        };
        env.add_template_owned(name.to_string(), text)
            .map_err(|e| describe(&e))?;
    }
    if let Some(dir) = dir {
        let known = |n: &str| TEMPLATES.iter().any(|(t, _)| *t == n);
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read templates folder {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".j2") && !known(&name) {
                return Err(format!(
                    "{}: not a template loadcheck renders; expected one of {}",
                    dir.join(&name).display(),
                    TEMPLATES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    Ok(env)
}

/// Text made safe for a Markdown table cell: one line, no `|`, no HTML.
fn cell(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for a code span in a table cell: one line, `|` escaped (GFM
/// splits cells at a `|` even inside a code span), nothing else touched
/// (a code span shows `&lt;` as it is).
fn code(value: &str) -> String {
    value.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Runs of blank lines (template sections that were empty) as one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_one_cell() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b &lt;c&gt;");
        assert_eq!(code("p(95)<250|x"), "p(95)<250\\|x");
        assert_eq!(tidy("a\n\n\n\nb\n\n"), "a\n\nb\n\n");
    }

    #[test]
    fn a_template_override_must_be_one_loadcheck_renders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("reprot.md.j2"), "x").unwrap();
        let e = environment(Some(dir.path())).unwrap_err();
        assert!(e.contains("reprot.md.j2") && e.contains("report.md.j2"), "{e}");
        std::fs::remove_file(dir.path().join("reprot.md.j2")).unwrap();
        std::fs::write(dir.path().join("signoff.md.j2"), "{{ m.title }} custom\n").unwrap();
        let env = environment(Some(dir.path())).unwrap();
        let t = env.get_template("signoff.md.j2").unwrap();
        assert_eq!(
            t.render(context! { m => context! { title => "T" } }).unwrap(),
            "T custom\n"
        );
    }

    #[test]
    fn a_broken_template_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.md.j2"), "line one\n{% if %}\n").unwrap();
        let e = environment(Some(dir.path())).unwrap_err();
        assert!(e.contains("report.md.j2") && e.contains("line 2"), "{e}");
    }
}
