//! How an error is shown to people: on one line, with its sources. Probes,
//! setup requests and GitHub calls all report errors this way.

/// An error and its sources, joined with `: `; a source whose text the
/// line already holds (reqwest repeats the URL) is left out, and at most
/// eight parts are kept.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
        if parts.len() >= 8 {
            break;
        }
    }
    parts.join(": ")
}
