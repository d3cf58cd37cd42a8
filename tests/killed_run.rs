//! A run whose process was killed (`kill -9`, the OOM killer) is read back
//! from the files it left: `loadcheck verdict` and `report` on its folder
//! mark it `killed`, report the seconds its `timeline.hlog` holds whole,
//! and exit 3. A log cut mid-record is read up to its last whole second; a
//! run killed before its first second closed is `killed` with 0 seconds.
//! Every run goes to `loadcheck demo serve` on 127.0.0.1.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{KillOnDrop, RUN_START_KEYS};
use serde_json::{Value, json};

/// Upper bound on any wait for a process or a file.
const LIMIT: Duration = Duration::from_secs(30);

/// `loadcheck demo serve` on a free loopback port; its URL.
fn demo() -> (KillOnDrop, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args(["demo", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loadcheck demo serve");
    let proc = KillOnDrop(child);
    let until = Instant::now() + LIMIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the demo service does not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (proc, format!("http://127.0.0.1:{port}"))
}

/// An open-model plan of `duration` against the demo service, with a
/// latency threshold (judged again from the log) and a failure-rate one
/// (whose data the log does not hold).
fn plan(duration: &str) -> String {
    format!(
        r#"
name = "killed run"
target = "http://127.0.0.1:9"   # replaced by --target
timeout = "2s"

[[scenario]]
name = "steady"
executor = "constant-arrival-rate"
rate = 40
duration = "{duration}"
endpoints = {{ search = 1, thumbnail = 1 }}

[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/1/thumb/"

[thresholds]
"http_req_duration" = ["p(95)<5000"]
"http_req_failed" = ["rate<0.5"]
"#
    )
}

/// Starts `loadcheck run` of `plan` against `target` into `dir/out`.
fn start_run(dir: &Path, plan: &str, target: &str) -> (KillOnDrop, PathBuf) {
    let path = dir.join("loadcheck.toml");
    std::fs::write(&path, plan).unwrap();
    let out = dir.join("out");
    let child = common::loadcheck_command()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--seed", "1", "--threads", "1", "--target", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loadcheck run");
    (KillOnDrop(child), out)
}

/// Waits for the `running` run.json of `run`.
fn wait_for_start(run: &mut KillOnDrop, out: &Path) -> Value {
    let until = Instant::now() + LIMIT;
    loop {
        // Written atomically: a file that is there is whole.
        if let Ok(text) = std::fs::read_to_string(out.join("run.json")) {
            let doc: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["status"], "running", "{doc}");
            return doc;
        }
        if let Some(status) = run.0.try_wait().unwrap() {
            panic!("loadcheck run ended ({status}) before writing run.json");
        }
        assert!(Instant::now() < until, "no run.json within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn loadcheck(args: &[&str], dir: &Path) -> Output {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_loadcheck"))
        .args(args)
        .arg(dir)
        .timeout(LIMIT)
        .output()
        .expect("run loadcheck")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `running` file, as a killed run leaves it, from a run's run.json.
fn run_start(run: &Value) -> Value {
    let mut start = run.clone();
    start
        .as_object_mut()
        .unwrap()
        .retain(|k, _| RUN_START_KEYS.contains(&k.as_str()));
    start["status"] = json!("running");
    start
}

/// `loadcheck verdict DIR` on a killed run: exit 3, `killed` on stdout,
/// the seconds recovered on stderr; the file written back `killed`, true
/// to its schema, with the start's fields as they were. Returns it.
fn assert_killed(dir: &Path, start: &Value) -> Value {
    let out = loadcheck(&["verdict"], dir);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("ERROR") && stdout.contains("killed"), "{stdout}");
    let run = read(&dir.join("run.json"));
    common::assert_schema(&run);
    assert_eq!(run["status"], "killed");
    let seconds = run["recovered"]["seconds"].as_u64().unwrap();
    assert!(
        stderr.contains(&format!("the run was killed: {seconds} second")),
        "{stderr}"
    );
    assert_eq!(run["duration_s"].as_f64(), Some(seconds as f64));
    assert_eq!(run["timeline"]["total"].as_array().unwrap().len() as u64, seconds);
    for key in RUN_START_KEYS.iter().filter(|k| **k != "status") {
        assert_eq!(run[key], start[key], "{key} kept from the running file");
    }
    assert_eq!(run["verdict"]["exit_code"], 3);
    assert!(
        run["verdict"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "abort" && r["name"] == "killed"),
        "{}",
        run["verdict"]
    );
    // The failure rate is not in the log: not judged, never a pass.
    let failed = &run["thresholds"][1];
    assert_eq!(failed["metric"], "http_req_failed");
    assert_eq!(
        (failed["not_in_file"].clone(), failed["ok"].clone()),
        (json!(true), json!(false))
    );
    run
}

/// The acceptance test: `kill -9` at a random second (3 to 17) of a
/// 20-second run; `verdict` reports it killed with at least the seconds
/// before the one it was killed in, and exits 3; `report` renders it.
#[test]
fn a_run_killed_at_a_random_second_is_read_back_killed_with_its_seconds() {
    let (_demo, target) = demo();
    let dir = tempfile::tempdir().unwrap();
    let (mut run, out) = start_run(dir.path(), &plan("20s"), &target);
    let start = wait_for_start(&mut run, &out);
    // While it runs, its folder is held: nothing is judged or rewritten.
    let live = loadcheck(&["verdict"], &out);
    assert_eq!(live.status.code(), Some(3));
    assert!(text(&live.stderr).contains("still going"), "{}", text(&live.stderr));
    let live = loadcheck(&["report", "--out", dir.path().join("live").to_str().unwrap()], &out);
    assert_eq!(live.status.code(), Some(3), "{}", text(&live.stderr));
    assert_eq!(read(&out.join("run.json")), start, "a live run's file is left alone");

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let kill_second: u64 = std::env::var("LOADCHECK_TEST_KILL_SECOND")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3 + u64::from(now.subsec_nanos()) % 15);
    println!("kill -9 at second {kill_second} of the run (LOADCHECK_TEST_KILL_SECOND={kill_second} repeats it)");
    let started_ms = start["started_at_ms"].as_i64().unwrap();
    let kill_at = UNIX_EPOCH + Duration::from_millis((started_ms + kill_second as i64 * 1000 + 500) as u64);
    let wait = kill_at.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(wait < LIMIT, "{wait:?}");
    std::thread::sleep(wait);
    assert!(
        run.0.try_wait().unwrap().is_none(),
        "the run ended before second {kill_second}"
    );
    run.0.kill().unwrap(); // SIGKILL
    run.0.wait().unwrap();
    drop(run);

    let killed = assert_killed(&out, &start);
    let seconds = killed["recovered"]["seconds"].as_u64().unwrap();
    println!("recovered {seconds} seconds: {}", killed["recovered"]);
    assert!(
        seconds + 1 >= kill_second,
        "killed in second {kill_second}, {seconds} seconds recovered"
    );
    assert!(
        seconds <= kill_second + 1,
        "{seconds} seconds recovered of {kill_second}"
    );
    // The seconds hold what the load sent: 40 requests a second.
    let rows = killed["timeline"]["total"].as_array().unwrap();
    for row in rows.iter().skip(1) {
        assert!(row["requests"].as_u64().unwrap() >= 20, "{row}");
    }
    assert_eq!(
        rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum::<u64>(),
        killed["stats"]["total"]["requests"].as_u64().unwrap()
    );
    assert!(killed["thresholds"][0]["value"].as_f64().is_some() && killed["thresholds"][0]["ok"] == true);

    // Judged again, the file it wrote back reads the same.
    let again = loadcheck(&["verdict"], &out);
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(read(&out.join("run.json")), killed);

    // The report renders it, marked killed, and exits 3.
    let reports = dir.path().join("report");
    let out_report = loadcheck(&["report", "--out", reports.to_str().unwrap()], &out);
    assert_eq!(out_report.status.code(), Some(3), "{}", text(&out_report.stderr));
    let md = std::fs::read_to_string(reports.join("report.md")).unwrap();
    assert!(md.contains(&format!("killed ({seconds} second")), "{md}");
}

/// One interval line of a log: where it starts and ends (after its
/// newline), where its start time ends, and its second.
struct Line {
    start: usize,
    end: usize,
    after_time: usize,
    second: u64,
}

fn interval_lines(log: &[u8], started_ms: i64) -> Vec<Line> {
    let mut out = Vec::new();
    let mut at = 0;
    for raw in log.split_inclusive(|b| *b == b'\n') {
        let line = std::str::from_utf8(raw).unwrap();
        if line.starts_with("Tag=") {
            let tag_end = line.find(',').unwrap() + 1;
            let time_end = tag_end + line[tag_end..].find(',').unwrap();
            let secs: f64 = line[tag_end..time_end].parse().unwrap();
            let offset_ms = (secs * 1000.0).round() as i64 - started_ms;
            out.push(Line {
                start: at,
                end: at + raw.len(),
                after_time: at + time_end + 1,
                second: ((offset_ms as f64) / 1000.0).round() as u64,
            });
        }
        at += raw.len();
    }
    out
}

/// A `timeline.hlog` cut at byte offsets in and between its records is
/// read up to its last whole second, and each second read is the finished
/// run's own.
#[test]
fn a_timeline_hlog_cut_mid_record_is_read_up_to_its_last_whole_second() {
    let (_demo, target) = demo();
    let dir = tempfile::tempdir().unwrap();
    let (mut run, out) = start_run(dir.path(), &plan("3s"), &target);
    let until = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "the 3-second run did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let finished = read(&out.join("run.json"));
    let start = run_start(&finished);
    let log = std::fs::read(out.join("timeline.hlog")).unwrap();
    let started_ms = start["started_at_ms"].as_i64().unwrap();
    let lines = interval_lines(&log, started_ms);
    let last = lines.last().unwrap().second;
    for s in 0..=last {
        assert!(lines.iter().any(|l| l.second == s), "second {s} has no interval");
    }
    // Offsets: the end of each second, and in seconds 1 and 2, four places
    // in every record (its first byte, its start time cut, just after it,
    // its last byte before the newline).
    let mut cuts: Vec<(usize, u64)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let first_of_second = i == 0 || lines[i - 1].second != line.second;
        let last_of_second = lines.get(i + 1).is_none_or(|n| n.second != line.second);
        if last_of_second {
            cuts.push((line.end, line.second + 1));
        }
        if !(1..=2).contains(&line.second) {
            continue;
        }
        // Cut before its start time could be read, the first record of a
        // second leaves the second before it in doubt: it is left out too.
        let unread = if first_of_second { line.second - 1 } else { line.second };
        cuts.push((line.start + 1, unread));
        cuts.push((line.after_time - 3, unread));
        cuts.push((line.after_time, line.second));
        cuts.push((line.end - 1, line.second));
    }
    assert!(cuts.len() <= 60, "{} cuts", cuts.len());
    let case = dir.path().join("case");
    std::fs::create_dir_all(&case).unwrap();
    for (cut, want) in cuts {
        std::fs::write(case.join("run.json"), serde_json::to_vec_pretty(&start).unwrap()).unwrap();
        std::fs::write(case.join("timeline.hlog"), &log[..cut]).unwrap();
        let judged = loadcheck(&["verdict"], &case);
        assert_eq!(judged.status.code(), Some(3), "cut at {cut}: {}", text(&judged.stderr));
        let run = read(&case.join("run.json"));
        let recovered = &run["recovered"];
        assert_eq!(
            recovered["seconds"].as_u64(),
            Some(want),
            "cut at {cut} of {}",
            log.len()
        );
        assert_eq!(recovered["cut"], json!(log[cut - 1] != b'\n'), "cut at {cut}");
        // Every second read is whole: the finished run's row, to the
        // request and the percentile.
        for (row, whole) in run["timeline"]["total"]
            .as_array()
            .unwrap()
            .iter()
            .zip(finished["timeline"]["total"].as_array().unwrap())
        {
            for key in ["second", "requests", "p50_ms", "p95_ms", "p99_ms"] {
                assert_eq!(row[key], whole[key], "cut at {cut}: {key} of {row}");
            }
        }
        common::assert_schema(&run);
    }
}

/// A run killed before its first second closed leaves a `running` file and
/// no second in its log, or no log at all: `killed`, 0 seconds, exit 3.
#[test]
fn a_run_killed_in_its_first_second_is_killed_with_0_seconds() {
    let (_demo, target) = demo();
    let dir = tempfile::tempdir().unwrap();
    let (mut run, out) = start_run(dir.path(), &plan("20s"), &target);
    let start = wait_for_start(&mut run, &out);
    run.0.kill().unwrap(); // SIGKILL, at once
    run.0.wait().unwrap();
    drop(run);
    let log_path = out.join("timeline.hlog");
    let header: Vec<u8> = std::fs::read(&log_path)
        .unwrap_or_default()
        .split_inclusive(|b| *b == b'\n')
        .take_while(|l| !l.starts_with(b"Tag="))
        .flatten()
        .copied()
        .collect();
    let start_text = serde_json::to_vec_pretty(&start).unwrap();
    // Judged with another plan's checks, the file is left as it is.
    let other = loadcheck(
        &["verdict", "--plan", dir.path().join("loadcheck.toml").to_str().unwrap()],
        &out,
    );
    assert_eq!(other.status.code(), Some(3), "{}", text(&other.stderr));
    assert_eq!(
        read(&out.join("run.json")),
        start,
        "--plan leaves the running file alone"
    );
    for with_log in [false, true] {
        std::fs::write(out.join("run.json"), &start_text).unwrap();
        let _ = std::fs::remove_file(&log_path);
        if with_log {
            std::fs::write(&log_path, &header).unwrap();
        }
        let killed = assert_killed(&out, &start);
        assert_eq!(killed["recovered"]["seconds"], 0, "log: {with_log}");
        assert!(killed["recovered"].get("last_whole_second").is_none());
        assert_eq!(killed["stats"]["total"]["requests"], 0);
        assert_eq!(killed["timeline"].get("interval_log").is_some(), with_log);
        let not_found = killed["recovered"]["not_recovered"][0].as_str().unwrap();
        assert_eq!(not_found.contains("not found"), !with_log, "{not_found}");
        // The latency threshold has no sample: measured nothing, not a pass.
        assert_eq!(killed["thresholds"][0]["value"], Value::Null);
        let reports = dir.path().join(format!("report-{with_log}"));
        std::fs::write(out.join("run.json"), &start_text).unwrap();
        let report = loadcheck(&["report", "--out", reports.to_str().unwrap()], &out);
        assert_eq!(report.status.code(), Some(3), "{}", text(&report.stderr));
        assert!(text(&report.stdout).contains("killed (0 seconds recovered"));
    }
}
