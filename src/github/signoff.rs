//! A release sign-off issue's body: one section per plan, each between
//! hidden markers. loadcheck rewrites only its own plan's section; every
//! other section, every line outside the sections, and every box a person
//! ticked by hand are kept.
//!
//! A section records, in a hidden line, which boxes loadcheck ticked
//! itself. A box ticked in the issue that loadcheck did not tick was
//! ticked by a person, and stays ticked in the new section.

use std::collections::BTreeSet;

/// The label a sign-off issue carries.
pub const SIGNOFF_LABEL: &str = "loadcheck-signoff";

/// The title of the sign-off issue of `release`.
pub fn title(release: &str) -> String {
    format!("Release sign-off: {release}")
}

fn start(plan: &str) -> String {
    format!("<!-- loadcheck:{plan}:start -->")
}

fn end(plan: &str) -> String {
    format!("<!-- loadcheck:{plan}:end -->")
}

fn ticked_marker(plan: &str) -> String {
    format!("<!-- loadcheck:{plan}:ticked ")
}

/// The body of a new sign-off issue, holding one plan's section.
pub fn new_body(release: &str, plan: &str, section: &str) -> String {
    format!(
        "# {}\n\nloadcheck writes one section per plan below, between hidden markers, and rewrites only its own \
         section on each run. Tick boxes freely: a box ticked by hand stays ticked. Text outside the sections is \
         never changed.\n\n{}\n",
        title(release),
        wrap(plan, section, &BTreeSet::new())
    )
}

/// `body` with `plan`'s section replaced by `section` (or added at the
/// end), keeping everything else and every hand-ticked box.
pub fn merge(body: &str, plan: &str, section: &str) -> String {
    let body = body.replace("\r\n", "\n");
    let (s, e) = (start(plan), end(plan));
    match bounds(&body, plan) {
        Some((i, j)) => {
            let old = &body[i + s.len()..j];
            let hand = hand_ticked(old, plan);
            let before = &body[..i];
            let after = &body[j + e.len()..];
            format!("{before}{}{after}", wrap(plan, section, &hand))
        }
        None => {
            let sep = if body.is_empty() || body.ends_with("\n\n") {
                ""
            } else if body.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{body}{sep}{}\n", wrap(plan, section, &BTreeSet::new()))
        }
    }
}

/// The section between `plan`'s markers, when `body` has it.
pub fn section_of<'a>(body: &'a str, plan: &str) -> Option<&'a str> {
    let (i, j) = bounds(body, plan)?;
    Some(&body[i + start(plan).len()..j])
}

/// Where `plan`'s start marker begins and, after it, its end marker.
fn bounds(body: &str, plan: &str) -> Option<(usize, usize)> {
    let s = start(plan);
    let i = body.find(&s)?;
    let j = i + s.len() + body[i + s.len()..].find(&end(plan))?;
    Some((i, j))
}

/// The section between its markers, with the boxes `hand` names ticked and
/// the record of the boxes loadcheck ticked.
fn wrap(plan: &str, section: &str, hand: &BTreeSet<String>) -> String {
    let mut ours = Vec::new();
    let mut lines = Vec::new();
    for line in section.trim_matches('\n').lines() {
        match parse_box(line) {
            Some((true, key)) => {
                ours.push(key);
                lines.push(line.to_string());
            }
            Some((false, key)) if hand.contains(&key) => lines.push(tick(line)),
            _ => lines.push(line.to_string()),
        }
    }
    format!(
        "{}\n{}\n{}{} -->\n{}",
        start(plan),
        lines.join("\n"),
        ticked_marker(plan),
        ours.join(" "),
        end(plan)
    )
}

/// The boxes ticked in an old section that loadcheck did not tick.
fn hand_ticked(old: &str, plan: &str) -> BTreeSet<String> {
    let marker = ticked_marker(plan);
    let ours: BTreeSet<String> = old
        .lines()
        .find_map(|l| l.trim().strip_prefix(marker.as_str()))
        .map(|rest| {
            rest.trim_end_matches("-->")
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    old.lines()
        .filter_map(parse_box)
        .filter(|(checked, key)| *checked && !ours.contains(key))
        .map(|(_, key)| key)
        .collect()
}

/// A task-list line: whether it is ticked, and its key (the bold name, or
/// the text), spaces folded so that it fits the hidden record.
fn parse_box(line: &str) -> Option<(bool, String)> {
    let t = line.trim_start();
    let rest = t.strip_prefix("- [").or_else(|| t.strip_prefix("* ["))?;
    let mut chars = rest.chars();
    let mark = chars.next()?;
    let rest = chars.as_str().strip_prefix("] ")?;
    let checked = match mark {
        'x' | 'X' => true,
        ' ' => false,
        _ => return None,
    };
    let name = rest
        .strip_prefix("**")
        .and_then(|r| r.split_once("**"))
        .map_or(rest, |(name, _)| name);
    Some((checked, key(name)))
}

/// A box's key: its name, percent-encoded where it would break the record.
fn key(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        match c {
            ' ' => out.push('_'),
            '%' | '_' | '-' | '>' | '<' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_whitespace() => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

fn tick(line: &str) -> String {
    line.replacen("[ ]", "[x]", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTION: &str = "## Release sign-off: api\n\n- [x] **p95 search** (target < 500 ms): 210 ms\n- [ ] **p99 webhook** (target < 200 ms): 250 ms ✗\n- [ ] **Dashboards checked**\n";

    #[test]
    fn a_new_issue_holds_the_section_and_records_loadcheck_s_ticks() {
        let body = new_body("v2.3", "api", SECTION);
        assert!(body.starts_with("# Release sign-off: v2.3"));
        assert!(body.contains("<!-- loadcheck:api:ticked p95_search -->"));
        assert_eq!(merge(&body, "api", SECTION), body);
    }

    #[test]
    fn hand_ticks_other_sections_and_outside_text_survive() {
        let body = new_body("v2.3", "api", SECTION);
        let body = merge(&body, "web", "## web\n\n- [x] **home p95**: 90 ms\n");
        // A person ticks a manual box and writes a note outside the sections.
        let body = body.replace("- [ ] **Dashboards checked**", "- [x] **Dashboards checked**") + "\nSigned: Ana\n";
        // The next run's section: search now fails, webhook passes.
        let next = "## Release sign-off: api\n\n- [ ] **p95 search** (target < 500 ms): 620 ms ✗\n- [x] **p99 webhook** (target < 200 ms): 150 ms\n- [ ] **Dashboards checked**\n";
        let merged = merge(&body, "api", next);
        assert!(merged.contains("- [x] **Dashboards checked**"), "{merged}");
        assert!(
            merged.contains("- [ ] **p95 search** (target < 500 ms): 620 ms ✗"),
            "{merged}"
        );
        assert!(merged.contains("- [x] **p99 webhook**"));
        assert!(merged.contains("- [x] **home p95**: 90 ms"));
        assert!(merged.contains("Signed: Ana"));
        assert_eq!(merged.matches("<!-- loadcheck:api:start -->").count(), 1);
        // Unticking by hand is a person's choice too: a box loadcheck did
        // not tick and nobody ticked stays empty.
        let again = merge(&merged, "api", next);
        assert_eq!(again, merged);
    }

    #[test]
    fn an_end_marker_quoted_above_the_section_is_not_taken_for_its_end() {
        let body = format!(
            "Note: sections end with `<!-- loadcheck:api:end -->`.\n\n{}",
            new_body("v1", "api", SECTION)
        );
        let merged = merge(&body, "api", SECTION);
        assert_eq!(merged.matches("<!-- loadcheck:api:start -->").count(), 1, "{merged}");
        assert_eq!(merge(&merged, "api", SECTION), merged);
    }

    #[test]
    fn a_body_without_the_section_gets_it_at_the_end() {
        let merged = merge("Checklist by hand\n- [ ] legal", "api", SECTION);
        assert!(merged.starts_with("Checklist by hand\n- [ ] legal\n\n<!-- loadcheck:api:start -->"));
        assert!(section_of(&merged, "api").unwrap().contains("p95 search"));
        assert!(section_of(&merged, "web").is_none());
    }
}
