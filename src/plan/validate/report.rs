//! `[report]`.

use super::super::error::{FieldPath, PlanError};
use super::super::raw::RawReport;
use super::super::report::{ReportConfig, ReportLink, SignoffItem};
use super::ctx::Ctx;

/// Validates `[report]`; empty when absent.
pub(super) fn report(ctx: &Ctx, raw: Option<RawReport>) -> Result<ReportConfig, PlanError> {
    let Some(raw) = raw else {
        return Ok(ReportConfig::default());
    };
    let at = FieldPath::root("report");
    let text = |at: &FieldPath, v: Option<String>, what: &str| -> Result<Option<String>, PlanError> {
        match v {
            Some(v) if v.trim().is_empty() => Err(ctx.err(at, format!("{what} is empty"))),
            Some(v) if v.chars().any(char::is_control) => Err(ctx.err(
                at,
                format!("{what} has a control character (a line break?); expected one line of text"),
            )),
            v => Ok(v.map(|v| v.trim().to_string())),
        }
    };
    let title = text(&at.key("title"), raw.title, "the title")?;
    let mut links = Vec::with_capacity(raw.links.len());
    for (i, l) in raw.links.into_iter().enumerate() {
        let here = at.key("links").index(i);
        let name = text(&here.key("name"), Some(l.name), "the link's name")?.unwrap_or_default();
        let url = l.url.trim().to_string();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.contains(char::is_whitespace) || url.len() <= "https://".len() {
            return Err(ctx.err(
                &here.key("url"),
                format!("\"{url}\" is not a link; expected an http:// or https:// URL with no spaces"),
            ));
        }
        links.push(ReportLink { name, url });
    }
    let mut signoff: Vec<SignoffItem> = Vec::with_capacity(raw.signoff.len());
    for (i, s) in raw.signoff.into_iter().enumerate() {
        let here = at.key("signoff").index(i);
        let name = text(&here.key("name"), Some(s.name), "the item's name")?.unwrap_or_default();
        if signoff.iter().any(|o| o.name == name) {
            return Err(ctx.err(
                &here.key("name"),
                format!("\"{name}\" is listed twice; each sign-off item needs its own name"),
            ));
        }
        signoff.push(SignoffItem {
            name,
            target: text(&here.key("target"), s.target, "the target")?,
            note: text(&here.key("note"), s.note, "the note")?,
        });
    }
    Ok(ReportConfig { title, links, signoff })
}
