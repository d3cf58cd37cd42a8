//! GitHub's size limits, and cutting a text to fit them. Every body
//! loadcheck sends goes through here, so none is ever refused for its size.

/// The longest issue or pull request comment, and issue body, in Unicode
/// characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// The longest check run `output.summary` or `output.text`, in characters.
pub const CHECK_TEXT_LIMIT: usize = 65_535;

/// The most annotations one check-run request may carry.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// `text` cut at a line so that it and `note` fit in `limit` characters,
/// with `note` after the cut. Unchanged when it fits.
pub fn fit_chars(text: &str, limit: usize, note: &str) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let room = limit.saturating_sub(note.chars().count() + 2);
    let end = text.char_indices().nth(room).map_or(text.len(), |(i, _)| i);
    let cut = text[..end].rfind('\n').unwrap_or(end);
    let fitted = format!("{}\n\n{note}", &text[..cut]);
    debug_assert!(fitted.chars().count() <= limit);
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_at_a_line_and_fits() {
        let text = "é line\n".repeat(20_000);
        let fitted = fit_chars(&text, COMMENT_LIMIT, "cut");
        assert!(fitted.chars().count() <= COMMENT_LIMIT);
        assert!(fitted.ends_with("\n\ncut"));
        assert!(fitted.trim_end_matches("\n\ncut").lines().all(|l| l == "é line"));
        assert_eq!(fit_chars("short", 10, "cut"), "short");
        // One line longer than the limit is cut inside it.
        assert!(fit_chars(&"x".repeat(100), 20, "cut").chars().count() <= 20);
    }
}
