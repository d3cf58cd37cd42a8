//! Cutting a Markdown text to a size, gracefully: at a line, never inside a
//! table row nor a fenced block, closing every `<details>` left open, and
//! saying so at the end with a pointer to the whole text.

/// GitHub's limit on a comment's body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// The room `publish` keeps for its hidden marker.
pub const MARKER_ROOM: usize = 200;
/// What `comment.md` may hold, so that it fits with the marker.
pub const COMMENT_BUDGET: usize = COMMENT_LIMIT - MARKER_ROOM;
/// GitHub's limit on a job summary: 1 MiB (counted here in characters,
/// each at most 4 bytes, so in bytes too once divided by 4; we count
/// bytes, the stricter).
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// `text` if it is at most `budget` long, else its head cut at a line that
/// leaves it whole, followed by `more`. Lengths are counted in bytes, which
/// is never less than GitHub's count in characters.
pub fn fit(text: &str, budget: usize, more: &str) -> String {
    if text.len() <= budget {
        return text.to_string();
    }
    // What the end needs: a blank line, the note, and a closing
    // `</details>` for each one left open (counted as we go).
    let note = format!("\n{more}\n");
    let mut kept = String::with_capacity(budget);
    // The kept text as of the last line that left no fence open.
    let mut safe_len = 0;
    let mut safe_depth = 0usize;
    let mut depth = 0usize;
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        let (opens, closes) = (
            trimmed.matches("<details").count(),
            trimmed.matches("</details>").count(),
        );
        let next_depth = (depth + opens).saturating_sub(closes);
        let need = kept.len() + line.len() + note.len() + closing(next_depth.max(safe_depth)).len() + 1;
        if need > budget {
            break;
        }
        kept.push_str(line);
        depth = next_depth;
        if fence {
            in_fence = !in_fence;
        }
        if !in_fence {
            safe_len = kept.len();
            safe_depth = depth;
        }
    }
    kept.truncate(safe_len);
    if !kept.ends_with('\n') && !kept.is_empty() {
        kept.push('\n');
    }
    // A cut table would run into the note: end it with a blank line.
    kept.push('\n');
    kept.push_str(&closing(safe_depth));
    kept.push_str(note.trim_start());
    kept
}

fn closing(depth: usize) -> String {
    "</details>\n\n".repeat(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize) -> String {
        let mut s = String::from("| a | b |\n|---|---|\n");
        for i in 0..rows {
            s.push_str(&format!("| row {i} | {} |\n", "x".repeat(40)));
        }
        s
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(fit("hello\n", 100, "more"), "hello\n");
    }

    #[test]
    fn a_cut_closes_details_and_fences_and_keeps_rows_whole() {
        let text = format!(
            "verdict\n\n<details><summary>s</summary>\n\n{}\n```mermaid\nxychart-beta\n{}```\n\n</details>\n",
            table(200),
            "    line [1, 2]\n".repeat(100)
        );
        for budget in [300, 1000, 5000, 10_000, 11_000, 12_000] {
            let out = fit(&text, budget, "*Cut: see report.md.*");
            assert!(out.len() <= budget, "{budget}: {}", out.len());
            assert!(out.starts_with("verdict\n"), "{budget}");
            assert!(out.ends_with("*Cut: see report.md.*\n"), "{budget}: {out}");
            assert_eq!(
                out.matches("<details>").count(),
                out.matches("</details>").count(),
                "{budget}: {out}"
            );
            assert_eq!(out.matches("```").count() % 2, 0, "{budget}: {out}");
            for line in out.lines().filter(|l| l.starts_with('|')) {
                assert!(line.ends_with('|'), "{budget}: a cut row {line:?}");
            }
        }
    }

    #[test]
    fn multibyte_text_is_cut_at_a_line_not_inside_a_character() {
        let text = "✓ é ✗ ü\n".repeat(10_000);
        let out = fit(&text, 1000, "more");
        assert!(out.len() <= 1000);
        assert!(out.ends_with("more\n"));
    }
}
