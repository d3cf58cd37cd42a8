//! What every validation step carries: the file being validated, its
//! positions (so an error names the line and the field), and the checks
//! of names that several tables share.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::error::{FieldPath, PlanError, SourceMap};

/// Reads environment variables; tests substitute their own.
pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a variable the environment lacks reads as when the check is only a
/// lint ([`Ctx::lint`]): a `standard-webhooks` secret (`whsec_` and
/// base64), which every other scheme takes too.
const STAND_IN: &str = "whsec_bG9hZGNoZWNrIHZhbGlkYXRlOiB1bnNldA==";

/// The file being validated and its positions.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    dir: PathBuf,
    map: SourceMap<'a>,
    /// Whether positions mean anything (not for a plan read back from
    /// `run.json`).
    positioned: bool,
    /// In a lint, the environment variables the plan reads and the
    /// environment lacks, each as the error `run` would give.
    unset_env: Option<RefCell<Vec<PlanError>>>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(file: &'a Path, text: &'a str) -> Self {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ctx {
            file,
            dir,
            map: SourceMap::new(text),
            positioned: true,
            unset_env: None,
        }
    }

    /// A context for a plan read back from a file that has no lines to
    /// point at: errors name the field only.
    pub(super) fn recorded(file: &'a Path) -> Self {
        Ctx {
            positioned: false,
            ..Ctx::new(file, "")
        }
    }

    /// A context for a lint (`loadcheck validate`): an unset environment
    /// variable is recorded (see [`Ctx::take_unset_env`]) and reads as a stand-in
    /// value, instead of failing the plan.
    pub(super) fn lint(file: &'a Path, text: &'a str) -> Self {
        Ctx {
            unset_env: Some(RefCell::new(Vec::new())),
            ..Ctx::new(file, text)
        }
    }

    /// Reads environment variable `name`, which the field at `at` names.
    /// Unset, it is an error, or in a lint a warning and a stand-in value.
    pub(super) fn env(&self, env: EnvLookup, at: &FieldPath, name: &str) -> Result<String, PlanError> {
        if let Some(value) = env(name) {
            return Ok(value);
        }
        let e = self.err(at, format!("environment variable {name} is not set"));
        match &self.unset_env {
            Some(unset) => {
                unset.borrow_mut().push(e);
                Ok(STAND_IN.to_string())
            }
            None => Err(e),
        }
    }

    /// The unset environment variables a lint found, taken out.
    pub(super) fn take_unset_env(&self) -> Vec<PlanError> {
        self.unset_env.as_ref().map(RefCell::take).unwrap_or_default()
    }

    /// An error about the field at `at`, located at the field, or at the
    /// nearest table around it that the file has. A missing top-level field
    /// (such as `target`) is reported at the start of the file.
    pub(super) fn err(&self, at: &FieldPath, message: impl Into<String>) -> PlanError {
        if !self.positioned {
            return PlanError::new(self.file, format!("plan.{at}"), message);
        }
        let (line, col) = self.map.position(at).unwrap_or((1, 1));
        PlanError::new(self.file, at.to_string(), message).at(line, col)
    }

    /// [`err`](Self::err) with a "did you mean".
    pub(super) fn err_near(&self, at: &FieldPath, message: impl Into<String>, suggestion: Option<String>) -> PlanError {
        self.err(at, message).with_suggestion(suggestion)
    }

    /// The plan's folder, absolute, where commands run.
    pub(super) fn plan_dir(&self) -> PathBuf {
        let dir = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    /// A file named in the plan, relative to the plan's folder.
    pub(super) fn resolve_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The keys of the table at `table`, in the order the file has them.
    pub(super) fn file_order<V>(&self, table: &FieldPath, map: BTreeMap<String, V>) -> Vec<(String, V)> {
        let mut entries: Vec<(Option<usize>, String, V)> = map
            .into_iter()
            .map(|(k, v)| (self.map.find(&table.key(&k)), k, v))
            .collect();
        entries.sort_by_key(|e| e.0.unwrap_or(usize::MAX));
        entries.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

/// Whether a name can be used in a `{tag:value}` filter.
pub(super) fn check_name(ctx: &Ctx, at: &FieldPath, name: &str, what: &str) -> Result<(), PlanError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ctx.err(
            at,
            format!("{what} name \"{name}\" must be non-empty letters, digits, `_`, `-` or `.`"),
        ))
    }
}
