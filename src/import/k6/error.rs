//! What is wrong with an input file: its path, the line when known, and
//! what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

/// A k6 file loadcheck cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1, when known.
    pub line: Option<u64>,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl ImportError {
    /// An error about `file` as a whole.
    pub fn new(file: &Path, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }

    /// An error at `line` of `file`.
    pub fn at(file: &Path, line: u64, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ImportError {}
