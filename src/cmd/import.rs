//! `loadcheck import k6 FILE… --out DIR`: k6's results as a `run.json`
//! (and `timeline.hlog` when the points allow), judged by k6's own
//! thresholds, ready for `verdict`, `compare`, `report` and `publish`.
//!
//! Exit 0 when the conversion succeeds, whatever k6's thresholds said (the
//! verdict is in the file; `loadcheck verdict DIR` exits with it); 2 when a
//! file cannot be read, naming the file and, in NDJSON, the line; 3 when
//! the output cannot be written.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::failure::Failure;
use crate::cli::{ImportArgs, ImportK6Args, ImportTool};
use crate::exit::Exit;
use crate::import::k6::convert::{self, Inputs};
use crate::import::k6::requests::{REORDER_S, Requests};
use crate::import::k6::{ImportError, points, summary};
use crate::metrics::RunResult;
use crate::metrics::hlog::FILE_NAME;
use crate::metrics::result::{RunStart, RunStatus, SCHEMA, fingerprint};
use crate::redact::Redactor;

/// Runs `loadcheck import`.
pub fn import(args: &ImportArgs) -> Exit {
    match &args.tool {
        ImportTool::K6(k6) => match import_k6(k6) {
            Ok(result) => {
                print!("{}", crate::report::summary::verdict_lines(&result));
                Exit::Pass
            }
            Err(f) => f.exit(),
        },
    }
}

/// Which of k6's files a path is: opened, and told apart by its first
/// line (a stream's is a whole JSON object with a `type`).
enum K6File {
    Summary(Box<dyn BufRead>),
    Points(Box<dyn BufRead>),
}

fn open_k6(path: &Path) -> Result<K6File, ImportError> {
    let mut file = std::fs::File::open(path).map_err(|e| ImportError::new(path, format!("cannot open it: {e}")))?;
    // `k6 run --out json=FILE.gz` writes gzip: read through it.
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    std::io::Seek::rewind(&mut file).map_err(|e| ImportError::new(path, format!("cannot read it: {e}")))?;
    let source: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::with_capacity(1 << 16, source);
    let head = reader
        .fill_buf()
        .map_err(|e| ImportError::new(path, format!("cannot read it: {e}")))?;
    let first_line = head
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let is_stream = serde_json::from_str::<serde_json::Value>(&first_line)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(|t| t.as_str())
                .map(|t| t == "Metric" || t == "Point")
        })
        .unwrap_or(false);
    Ok(if is_stream {
        K6File::Points(Box::new(reader))
    } else {
        K6File::Summary(Box::new(reader))
    })
}

fn read_summary(path: &Path, mut reader: Box<dyn BufRead>) -> Result<summary::Summary, ImportError> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| ImportError::new(path, format!("cannot read it as UTF-8 text: {e}")))?;
    if text.trim().is_empty() {
        return Err(ImportError::new(
            path,
            "the file is empty; expected k6's --summary-export or handleSummary JSON, or its --out json stream",
        ));
    }
    summary::read(path, &text)
}

/// Puts `value`, read from `path`, in `slot`, which must be empty: k6
/// writes one summary and one stream a run.
fn fill_once<T>(slot: &mut Option<(PathBuf, T)>, path: &Path, value: T, what: &str) -> Result<(), Failure> {
    if let Some((first, _)) = slot {
        return Err(Failure::Input(format!(
            "{}: a second {what} (the first was {}); give at most one summary and one --out json file",
            path.display(),
            first.display()
        )));
    }
    *slot = Some((path.to_path_buf(), value));
    Ok(())
}

/// The output folder while an import writes its interval log: made if
/// missing, and on failure left as it was (the partial log removed, the
/// folder too if this import made it).
struct OutDir {
    dir: PathBuf,
    made: bool,
    partial: PathBuf,
    done: bool,
}

impl OutDir {
    fn open(dir: &Path) -> Result<Self, Failure> {
        let made = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| Failure::Operational(format!("creating {}: {e}", dir.display())))?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            made,
            partial: dir.join(format!("{FILE_NAME}.partial")),
            done: false,
        })
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.partial);
            if self.made {
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

fn import_k6(args: &ImportK6Args) -> Result<RunResult, Failure> {
    // Every file is told apart first, so that two of a kind are refused
    // before anything is read.
    let mut summaries = None;
    let mut streams = None;
    for path in &args.files {
        match open_k6(path).map_err(|e| Failure::Input(e.to_string()))? {
            K6File::Summary(r) => fill_once(&mut summaries, path, r, "k6 summary")?,
            K6File::Points(r) => fill_once(&mut streams, path, r, "--out json stream")?,
        }
    }
    let mut out = OutDir::open(&args.out)?;
    let mut inputs = Inputs::default();
    if let Some((path, reader)) = summaries {
        let s = read_summary(&path, reader).map_err(|e| Failure::Input(e.to_string()))?;
        inputs.summary = Some((path, s));
    }
    if let Some((path, reader)) = streams {
        let mut requests = Requests::new(Some(out.partial.clone()));
        let points = points::read(&path, reader, &mut |p| requests.point(p));
        if let Some(e) = requests.write_error.take() {
            return Err(Failure::Operational(e));
        }
        let points = points.map_err(|e| Failure::Input(e.to_string()))?;
        inputs.points = Some((path, points, requests));
    }
    let first = args.files.first().map(PathBuf::as_path).unwrap_or(Path::new("k6"));
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| format!("k6: {stem}"));
    let id = match &args.id {
        Some(id) => {
            let slug = crate::plan::slug(id);
            if slug != *id {
                return Err(Failure::Input(format!(
                    "--id {id:?}: an id is a slug (lower-case letters, digits, `-`, `_`, `.`), such as {slug:?}"
                )));
            }
            slug
        }
        None => crate::plan::slug(&format!("k6-{stem}")),
    };
    let c = convert::convert(inputs, &name, &id).map_err(|e| {
        let files: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
        Failure::Input(format!("{}: {e}", files.join(", ")))
    })?;
    if c.late_points > 0 {
        eprintln!(
            "warning: {} request samples came more than {REORDER_S} s after later ones; each is counted in the \
             oldest second still open",
            c.late_points
        );
    }
    let started_at = UNIX_EPOCH + Duration::from_millis(c.started_at_ms.max(0) as u64);
    if c.timeline.interval_log.is_some() {
        let path = args.out.join(FILE_NAME);
        std::fs::rename(&out.partial, &path).map_err(|e| Failure::Operational(format!("{}: {e}", path.display())))?;
    }
    let plan_dir = first.parent().unwrap_or(Path::new("."));
    let start = RunStart {
        schema: SCHEMA.to_string(),
        plan_fingerprint: fingerprint(&c.plan),
        plan: c.plan,
        id,
        started_at: crate::outcome::rfc3339(started_at),
        started_at_ms: c.started_at_ms,
        status: RunStatus::Completed,
        metadata: crate::outcome::metadata(0, 0, plan_dir),
    };
    let mut result = start.into_result(
        RunStatus::Completed,
        c.duration_s,
        c.stats,
        c.timeline,
        Some(c.generator),
    );
    result.thresholds = c.thresholds;
    result.imported = Some(c.imported);
    result.verdict = Some(crate::verdict::decide(&result));
    crate::cmd::run::write_run_json(&args.out, &result, &Redactor::new(Vec::new()))
        .map_err(|e| Failure::Operational(format!("{e:#}")))?;
    out.done = true;
    Ok(result)
}
