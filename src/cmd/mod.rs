//! One file per subcommand, each wiring the stages below it into its part
//! of the pipeline. `lib.rs` dispatches here.

pub mod actions;
pub mod baseline;
pub mod compare;
pub mod demo;
pub mod duet;
mod failure;
pub mod import;
pub mod merge;
pub mod publish;
pub mod report;
pub mod run;
pub mod sink;
pub mod validate;
pub mod verdict;

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Replaces `path` with `text` atomically: a temporary file beside it, then
/// a rename, so a reader never sees half a file and a crash leaves the old
/// one.
fn replace_file(path: &Path, text: &str) -> Result<()> {
    crate::atomic::replace(path, text.as_bytes())?;
    Ok(())
}

/// Creates `dir` and locks it for as long as the returned file lives:
/// `run` holds its output folder while it runs, so `verdict` and `report`
/// can tell a run still going from one whose process was killed (the
/// kernel drops the lock when the process ends, however it ends). `None`
/// when the folder cannot be locked (another process holds it, or the file
/// system has no locks): the run goes on all the same.
fn hold_folder(dir: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(dir).ok()?;
    let folder = std::fs::File::open(dir).ok()?;
    flock(&folder, libc::LOCK_EX).ok()?;
    Some(folder)
}

/// Whether a running `loadcheck run` holds the folder of `run_json`.
fn folder_held(run_json: &Path) -> bool {
    let dir = match run_json.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .is_ok_and(|f| flock(&f, libc::LOCK_SH).is_err_and(|e| e.raw_os_error() == Some(libc::EWOULDBLOCK)))
}

/// `flock(2)` of `file` with `op` (`LOCK_EX`, `LOCK_SH`), without waiting;
/// the lock lasts as long as the file is open.
fn flock(file: &std::fs::File, op: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open while `file` is borrowed, and flock
    // touches no memory.
    if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `DIR/run.json` for a folder, the path itself for a file: how `verdict`
/// and `report` name a run.
fn run_json(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("run.json")
    } else {
        path.to_path_buf()
    }
}
