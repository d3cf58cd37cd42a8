//! The runner's file commands: the files a step appends to
//! (`GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`) and
//! how the runner reads them once the step has ended.

use std::collections::BTreeMap;

/// Reads a `GITHUB_OUTPUT` or `GITHUB_ENV` file: `name=value` lines, and the
/// multi-line form `name<<DELIMITER`, the value's lines, then `DELIMITER`
/// alone on a line. A later value of a name replaces an earlier one, as the
/// runner does.
pub fn read_key_values(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("bad line `{line}`"));
                }
                let mut value = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delimiter => break,
                        Some(l) => value.push(l),
                        None => return Err(format!("`{name}`: no closing `{delimiter}`")),
                    }
                }
                out.insert(name.to_string(), value.join("\n"));
            }
            (_, Some(e)) if e > 0 => {
                out.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            _ => return Err(format!("bad line `{line}`")),
        }
    }
    Ok(out)
}

/// Reads a `GITHUB_PATH` file: one directory a line.
pub fn read_paths(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms() {
        let text = "verdict=pass\np95<<EOF_1\n{\"a\": 1,\n\"b\": 2}\nEOF_1\nempty=\nverdict=fail\n";
        let kv = read_key_values(text).unwrap();
        assert_eq!(kv["verdict"], "fail", "a later value wins");
        assert_eq!(kv["p95"], "{\"a\": 1,\n\"b\": 2}");
        assert_eq!(kv["empty"], "");
        assert!(read_key_values("x<<EOF\nno end\n").is_err());
        assert!(read_key_values("no equals\n").is_err());
        assert_eq!(read_key_values("url=a=b\n").unwrap()["url"], "a=b");
    }
}
