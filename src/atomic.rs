//! Replacing a file atomically: the new text goes to a temporary file
//! beside it, is synced to disk, and is renamed over the old one, so a
//! reader (or a crash at any instant) sees the old file whole or the new
//! one whole, never a mix.
//!
//! For tests only, `LOADCHECK_TEST_PAUSE_BEFORE_RENAME=<file name>` makes
//! the write of that file stop between the sync and the rename: it prints
//! `paused before renaming <path>` on stderr and waits (at most 60 s), so a
//! test can kill the process there deterministically.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// The test hook's variable.
pub const PAUSE_ENV: &str = "LOADCHECK_TEST_PAUSE_BEFORE_RENAME";

/// Writes `bytes` to `path` atomically.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("writing {}: {e}", tmp.display())));
    }
    if std::env::var(PAUSE_ENV).is_ok_and(|v| v == name) {
        eprintln!("paused before renaming {}", path.display());
        std::thread::sleep(Duration::from_secs(60));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("renaming {} to {}: {e}", tmp.display(), path.display()),
        ));
    }
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("lc-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        replace(&p, b"one").unwrap();
        replace(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(replace(&dir.join("missing/b.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
