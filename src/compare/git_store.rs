//! A baseline store kept in a git branch (`--store git:<branch>[:<path>]`),
//! through the git CLI, so that CI can keep the history without committing
//! to the main branch.
//!
//! The store file is read from the branch as the remote has it (`origin`,
//! fetched first), and a new commit on top of it is made with git's
//! plumbing (`hash-object`, a temporary index, `commit-tree`), so the
//! working tree, the index and the checked-out branch are never touched.
//! The commit is pushed to `origin`; a push refused because another job
//! pushed first is retried from a fresh fetch.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The prefix that names a git store.
pub const PREFIX: &str = "git:";

/// A store file in a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitStore {
    /// The branch (`loadcheck-baselines`).
    pub branch: String,
    /// The file's path inside the branch (`baselines/<id>.json`).
    pub path: String,
    /// The repository's folder (where git is run).
    pub repo: PathBuf,
}

/// Why a write did not land.
#[derive(Debug)]
pub enum WriteError {
    /// The remote moved on: read again and retry.
    Raced(String),
    /// Anything else.
    Failed(String),
}

impl GitStore {
    /// `git:<branch>` or `git:<branch>:<path>`; `None` when `spec` is not
    /// a git store. The path defaults to `default_path`.
    pub fn parse(spec: &str, default_path: &Path, repo: &Path) -> Option<Result<GitStore, String>> {
        let rest = spec.strip_prefix(PREFIX)?;
        let (branch, path) = match rest.split_once(':') {
            Some((b, p)) => (b, p.to_string()),
            None => (rest, default_path.to_string_lossy().replace('\\', "/")),
        };
        Some(GitStore::new(branch, &path, repo))
    }

    fn new(branch: &str, path: &str, repo: &Path) -> Result<GitStore, String> {
        let bad = |why: &str| Err(format!("--store git:{branch}:{path}: {why}"));
        if branch.is_empty() || branch.starts_with('-') {
            return bad("no branch (write git:<branch> or git:<branch>:<path>)");
        }
        let path = path.trim_start_matches("./").to_string();
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return bad("the file's path must be relative, inside the branch (baselines/<id>.json)");
        }
        let store = GitStore {
            branch: branch.to_string(),
            path,
            repo: repo.to_path_buf(),
        };
        store
            .git(&["check-ref-format", "--branch", branch])
            .map_err(|e| format!("--store git:{branch}: not a branch name git accepts: {e}"))?;
        Ok(store)
    }

    /// Runs git in the repository; its stdout when it succeeds.
    fn git(&self, args: &[&str]) -> Result<String, String> {
        self.git_with(args, None, &[])
    }

    fn git_with(&self, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Result<String, String> {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.repo)
            .args(args)
            .envs(env.iter().copied())
            .env("GIT_TERMINAL_PROMPT", "0")
            // Messages in English, whatever the machine's locale: a refused
            // push is told from its text.
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("running git (is it installed?): {e}"))?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes).map_err(|e| format!("git {}: {e}", args[0]))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("git {}: {e}", args[0]))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(format!(
                "git {} failed ({}): {} {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            )
            .trim_end()
            .to_string())
        }
    }

    /// Whether the repository has a remote named `origin`.
    fn has_origin(&self) -> bool {
        self.git(&["remote", "get-url", "origin"]).is_ok()
    }

    /// The branch's commit: `origin`'s (fetched now) when there is a
    /// remote, else the local branch's; `None` when the branch does not
    /// exist yet.
    pub fn tip(&self) -> Result<Option<String>, String> {
        if self.has_origin() {
            let heads = self.git(&["ls-remote", "--heads", "origin", &format!("refs/heads/{}", self.branch)])?;
            if heads.trim().is_empty() {
                return Ok(None);
            }
            let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.branch);
            self.git(&["fetch", "--quiet", "--no-tags", "origin", &refspec])?;
            return self
                .git(&[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/remotes/origin/{}^{{commit}}", self.branch),
                ])
                .map(Some);
        }
        Ok(self
            .git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{}^{{commit}}", self.branch),
            ])
            .ok())
    }

    /// The store file's text at `tip`, `None` when it is not there.
    pub fn read_at(&self, tip: Option<&str>) -> Result<Option<String>, String> {
        let Some(tip) = tip else { return Ok(None) };
        let object = format!("{tip}:{}", self.path);
        if self.git(&["cat-file", "-e", &object]).is_err() {
            return Ok(None);
        }
        self.git(&["show", &object]).map(Some)
    }

    /// Commits `text` as the store file on top of `tip` (the branch's
    /// commit it was read from), moves the local branch there, and pushes
    /// it to `origin` when there is one. The working tree is not touched.
    pub fn write(&self, tip: Option<&str>, text: &str, message: &str) -> Result<String, WriteError> {
        let failed = WriteError::Failed;
        if self
            .git(&["symbolic-ref", "--quiet", "--short", "HEAD"])
            .ok()
            .as_deref()
            == Some(self.branch.as_str())
        {
            return Err(failed(format!(
                "--store git:{0}: {0} is the checked-out branch; keep baselines in a branch of their own",
                self.branch
            )));
        }
        let blob = self
            .git_with(&["hash-object", "-w", "--stdin"], Some(text.as_bytes()), &[])
            .map_err(failed)?;
        let index = TempIndex::new();
        let index_path = index.0.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        match tip {
            Some(tip) => self.git_with(&["read-tree", tip], None, &env),
            None => self.git_with(&["read-tree", "--empty"], None, &env),
        }
        .map_err(failed)?;
        let cacheinfo = format!("100644,{blob},{}", self.path);
        self.git_with(&["update-index", "--add", "--cacheinfo", &cacheinfo], None, &env)
            .map_err(failed)?;
        let tree = self.git_with(&["write-tree"], None, &env).map_err(failed)?;
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(tip) = tip {
            args.extend(["-p", tip]);
        }
        let identity = self.identity();
        let identity: Vec<(&str, &str)> = identity.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let commit = self.git_with(&args, None, &identity).map_err(failed)?;
        if self.has_origin() {
            let refspec = format!("{commit}:refs/heads/{}", self.branch);
            if let Err(e) = self.git(&["push", "--porcelain", "origin", &refspec]) {
                // `--porcelain` prints `!  <src>:<dst>  [rejected] (fetch
                // first)` (or `(non-fast-forward)`) when another push came
                // first, and `[remote rejected] (failed to update ref)`
                // ("cannot lock ref … is at X but expected Y") when another
                // push won the ref's lock at the same instant. Any other
                // `[remote rejected]` (a protected branch, a hook) is a
                // refusal, not a race.
                let raced = e.contains("cannot lock ref")
                    || e.lines().any(|l| {
                        (l.contains("[rejected]") && (l.contains("fetch first") || l.contains("non-fast-forward")))
                            || (l.contains("[remote rejected]")
                                && ["failed to update ref", "incorrect old value", "stale info"]
                                    .iter()
                                    .any(|m| l.contains(m)))
                    });
                return Err(if raced { WriteError::Raced(e) } else { failed(e) });
            }
        }
        // The local branch moves only from the commit it was read at, so a
        // local-only store (no `origin`) is not overwritten by a racing
        // writer either.
        let old = tip.unwrap_or("0000000000000000000000000000000000000000");
        let local = format!("refs/heads/{}", self.branch);
        let current = self.git(&["rev-parse", "--verify", "--quiet", &local]).ok();
        let expected = if self.has_origin() {
            current.as_deref().unwrap_or("0000000000000000000000000000000000000000")
        } else {
            old
        };
        if let Err(e) = self.git(&["update-ref", &local, &commit, expected]) {
            return Err(if self.has_origin() {
                failed(e)
            } else {
                WriteError::Raced(e)
            });
        }
        Ok(commit)
    }

    /// An author for the commit when git has none configured (a fresh CI
    /// runner): loadcheck's own.
    fn identity(&self) -> Vec<(&'static str, String)> {
        let configured = |key: &str| self.git(&["config", "--get", key]).is_ok_and(|v| !v.is_empty());
        let mut env = Vec::new();
        if !configured("user.name") && std::env::var_os("GIT_AUTHOR_NAME").is_none() {
            env.push(("GIT_AUTHOR_NAME", "loadcheck".to_string()));
            env.push(("GIT_COMMITTER_NAME", "loadcheck".to_string()));
        }
        if !configured("user.email") && std::env::var_os("GIT_AUTHOR_EMAIL").is_none() {
            env.push(("GIT_AUTHOR_EMAIL", "loadcheck@users.noreply.github.com".to_string()));
            env.push(("GIT_COMMITTER_EMAIL", "loadcheck@users.noreply.github.com".to_string()));
        }
        env
    }
}

/// A temporary index file, removed when dropped.
struct TempIndex(PathBuf);

impl TempIndex {
    fn new() -> TempIndex {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        TempIndex(std::env::temp_dir().join(format!("loadcheck-index-{}-{nanos}", std::process::id())))
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_branch_and_a_path() {
        let here = Path::new(".");
        assert!(GitStore::parse("baselines/x.json", Path::new("b.json"), here).is_none());
        let s = GitStore::parse("git:loadcheck-baselines", Path::new("baselines/api.json"), here)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.branch.as_str(), s.path.as_str()),
            ("loadcheck-baselines", "baselines/api.json")
        );
        let s = GitStore::parse("git:perf:history/api.json", Path::new("x"), here)
            .unwrap()
            .unwrap();
        assert_eq!((s.branch.as_str(), s.path.as_str()), ("perf", "history/api.json"));
        for bad in [
            "git:",
            "git:-x",
            "git:a..b",
            "git:b:/abs.json",
            "git:b:../up.json",
            "git:b:a//c",
        ] {
            assert!(
                GitStore::parse(bad, Path::new("x.json"), here).unwrap().is_err(),
                "{bad}"
            );
        }
    }
}
