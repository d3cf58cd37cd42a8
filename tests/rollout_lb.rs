//! Rolling deploys behind a real load balancer: HAProxy (Debian's package)
//! on loopback in front of two `loadcheck demo serve` processes, deployed by
//! the shell scripts in `tests/fixtures/rollout/` while loadcheck sends load
//! through HAProxy. The hard-deploy and fault scripts write the truth (epoch
//! ms of the kill, and of HAProxy's DOWN and UP from its runtime API) to a
//! file, and the tests compare loadcheck's availability figures with it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_loadcheck");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// HAProxy and two backends, killed (process groups and all) on drop.
struct Lb {
    dir: tempfile::TempDir,
    haproxy: Child,
    frontend: u16,
}

impl Lb {
    fn start() -> Lb {
        let dir = tempfile::tempdir().unwrap();
        let ports = [free_port(), free_port()];
        for (i, port) in ports.iter().enumerate() {
            std::fs::write(dir.path().join(format!("s{}.port", i + 1)), port.to_string()).unwrap();
        }
        // The backends are started by the same script function the deploy
        // scripts use, in the background of a shell that exits: they are not
        // this process's children, so a stopped one never lingers as a zombie.
        let out = Command::new(fixtures().join("start-backends.sh"))
            .envs(env_for(dir.path()))
            .output()
            .unwrap();
        assert!(out.status.success(), "starting the backends: {}", stderr(&out));
        let frontend = free_port();
        let sock = dir.path().join("admin.sock");
        let cfg = format!(
            "global\n    stats socket {sock} mode 600 level admin\n    maxconn 4096\n\n\
             defaults\n    mode http\n    timeout connect 500ms\n    timeout client 10s\n    timeout server 10s\n    \
             retries 0\n    option http-keep-alive\n\n\
             frontend fe\n    bind 127.0.0.1:{frontend}\n    default_backend app\n\n\
             backend app\n    balance roundrobin\n    option httpchk GET /health\n    \
             default-server inter 100ms fall 2 rise 2\n    \
             server s1 127.0.0.1:{p1} check\n    server s2 127.0.0.1:{p2} check\n",
            sock = sock.display(),
            p1 = ports[0],
            p2 = ports[1],
        );
        let cfg_path = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let haproxy = Command::new(haproxy_bin())
            .arg("-db")
            .arg("-f")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start haproxy");
        let lb = Lb { dir, haproxy, frontend };
        lb.wait_until(Duration::from_secs(10), |lb| {
            lb.status("s1") == "UP" && lb.status("s2") == "UP" && lb.get("/health").is_some()
        });
        lb
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.frontend)
    }

    /// The environment the fixture scripts read.
    fn env(&self) -> Vec<(&'static str, String)> {
        env_for(self.dir())
    }

    fn admin(&self, cmd: &str) -> String {
        let Ok(mut s) = UnixStream::connect(self.dir().join("admin.sock")) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(format!("{cmd}\n").as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// A server's status in `show stat` (`UP`, `DOWN`, `MAINT`, …).
    fn status(&self, server: &str) -> String {
        self.admin("show stat")
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == "app" && f[1] == server)
            .map(|f| f[17].to_string())
            .unwrap_or_default()
    }

    /// One GET through the frontend: the status line and the version header.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.frontend)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let version = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-app-version:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        Some((status, version))
    }

    fn wait_until(&self, limit: Duration, ok: impl Fn(&Lb) -> bool) {
        let end = Instant::now() + limit;
        while !ok(self) {
            assert!(Instant::now() < end, "HAProxy and its backends did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self, server: &str) -> i32 {
        std::fs::read_to_string(self.dir().join(format!("{server}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// `kill=…`, `down=…`, … from the truth file the scripts write.
    fn truth(&self) -> BTreeMap<String, i64> {
        let text = std::fs::read_to_string(self.dir().join("truth.txt")).expect("truth.txt");
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap()))
            .collect()
    }

    /// Runs `loadcheck run` on `plan` with the scripts' environment.
    fn run(&self, plan: &str) -> (Output, Value) {
        let path = self.dir().join("loadcheck.toml");
        std::fs::write(&path, plan).unwrap();
        let out_dir = self.dir().join("out");
        let out = Command::new(BIN)
            .env_remove("LOADCHECK_TARGET")
            .env_remove("GITHUB_ACTIONS")
            .envs(self.env())
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out_dir)
            .arg("-q")
            .output()
            .unwrap();
        let text = std::fs::read_to_string(out_dir.join("run.json"))
            .unwrap_or_else(|e| panic!("no run.json ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        (out, serde_json::from_str(&text).unwrap())
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        // The scripts replace backends, so read the PIDs as they are now.
        for s in ["s1", "s2"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir().join(format!("{s}.pid"))) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    // SAFETY: kill(2) on a PID this test started; no memory involved.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

/// The environment the fixture scripts read, for state folder `dir`.
fn env_for(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("LC_SOCK", dir.join("admin.sock").display().to_string()),
        ("LC_BIN", BIN.to_string()),
        ("LC_DIR", dir.display().to_string()),
    ]
}

fn haproxy_bin() -> String {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("haproxy")
        .to_string()
}

fn plan(target: &str, rollout: &str) -> String {
    format!(
        "name = \"rolling\"\ntarget = \"{target}\"\ntimeout = \"2s\"\n\n[[endpoint]]\nname = \"search\"\npath = \"/v1/images/?q=cat\"\n\n[[scenario]]\nname = \"steady\"\nexecutor = \"constant-arrival-rate\"\nrate = 200\nduration = \"60s\"\nendpoints = [\"search\"]\n\n{rollout}"
    )
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The rollout's start in epoch ms, from run.json.
fn rollout_start_ms(r: &Value) -> f64 {
    let start = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "rollout_start")
        .expect("rollout_start event");
    r["started_at_ms"].as_f64().unwrap() + 1000.0 * f(&start["at_s"])
}

#[test]
fn lb_harness_detects_a_kill_and_records_the_truth() {
    let lb = Lb::start();
    assert_eq!(lb.get("/health"), Some((200, "v1".into())));
    let old = lb.pid("s1");
    let out = Command::new(fixtures().join("deploy-hard.sh"))
        .envs(lb.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let t = lb.truth();
    let (kill, down, up) = (t["kill"], t["down"], t["up"]);
    assert!(kill < down && down < up, "{t:?}");
    assert!(
        (100..1500).contains(&(down - kill)),
        "DOWN {} ms after the kill",
        down - kill
    );
    assert_ne!(lb.pid("s1"), old, "s1 has a new PID");
    assert_eq!(lb.status("s1"), "UP");
    let versions: Vec<String> = (0..6).filter_map(|_| lb.get("/health")).map(|(_, v)| v).collect();
    assert!(
        versions.contains(&"v2".to_string()) && versions.contains(&"v1".to_string()),
        "{versions:?}"
    );
}

#[test]
fn a_graceful_rolling_deploy_passes() {
    let lb = Lb::start();
    let pids = (lb.pid("s1"), lb.pid("s2"));
    let rollout = format!(
        "[rollout]\nhead = \"3s\"\ntail = \"3s\"\ntimeout = \"60s\"\nversion_header = \"x-app-version\"\ntrigger = {{ command = \"{}\" }}\n",
        fixtures().join("deploy-graceful.sh").display()
    );
    let (out, r) = lb.run(&plan(&lb.url(), &rollout));
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr(&out), r["rollout"]);
    assert_eq!(r["rollout"]["status"], "succeeded");
    let rollout_stats = &r["stats"]["phases"]["rollout"];
    // Two backends, each with 2 s of both versions after it: > 4 s at 200 req/s.
    assert!(rollout_stats["requests"].as_u64().unwrap() > 700, "{rollout_stats}");
    assert_eq!(rollout_stats["failed"], 0, "{rollout_stats}");
    assert_eq!(r["rollout"]["zero_downtime"]["failed_requests"], 0);
    assert!(r["stats"]["total"]["requests"].as_u64().unwrap() >= 200 * 10);
    // v1, then both for at least a second, then only v2.
    let rows: Vec<Vec<String>> = r["timeline"]["total"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["requests"].as_u64().unwrap_or(0) > 0)
        .map(|row| row["versions"].as_object().unwrap().keys().cloned().collect())
        .collect();
    let both = |v: &Vec<String>| v.len() == 2;
    let first_both = rows.iter().position(both).expect("a second with both versions");
    let last_both = rows.iter().rposition(both).unwrap();
    assert!(rows[..first_both].iter().all(|v| v == &["v1"]), "{rows:?}");
    assert!(rows[first_both..=last_both].iter().all(both), "{rows:?}");
    assert!(rows[last_both + 1..].iter().all(|v| v == &["v2"]), "{rows:?}");
    assert!(rows.len() > last_both + 1, "ends with only v2: {rows:?}");
    assert!(f(&r["versions"]["overlap_s"]) >= 1.0, "{}", r["versions"]);
    eprintln!(
        "graceful deploy: {} requests in the rollout, {} failed; versions overlapped {} s; rows {rows:?}",
        rollout_stats["requests"], rollout_stats["failed"], r["versions"]["overlap_s"]
    );
    // Both backends are new processes.
    assert_ne!(lb.pid("s1"), pids.0);
    assert_ne!(lb.pid("s2"), pids.1);
}

#[test]
fn a_hard_deploy_fails_and_its_downtime_and_rto_match_the_truth() {
    let lb = Lb::start();
    let rollout = format!(
        "[rollout]\nhead = \"3s\"\ntail = \"7s\"\ntimeout = \"30s\"\nversion_header = \"x-app-version\"\ntrigger = {{ command = \"{}\" }}\n",
        fixtures().join("deploy-hard.sh").display()
    );
    let (out, r) = lb.run(&plan(&lb.url(), &rollout));
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stderr(&out), r["rollout"]);
    assert_eq!(r["rollout"]["status"], "succeeded", "the deploy itself worked");
    assert!(r["stats"]["phases"]["rollout"]["failed"].as_u64().unwrap() > 0);
    assert_eq!(r["rollout"]["zero_downtime"]["ok"], false);
    let t = lb.truth();
    let a = &r["availability"];
    let tolerance = f(&a["resolution_ms"]) + 250.0;
    let downtime_ms = 1000.0 * f(&a["downtime_s"]);
    let truth_downtime = (t["down"] - t["kill"]) as f64;
    assert!(
        (downtime_ms - truth_downtime).abs() <= tolerance,
        "downtime {downtime_ms} ms, truth {truth_downtime} ms (± {tolerance})\n{a}"
    );
    let ev = a["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "rollout")
        .unwrap();
    let rto_ms = 1000.0 * f(&ev["rto_s"]);
    let truth_rto = t["down"] as f64 - rollout_start_ms(&r);
    eprintln!(
        "hard deploy: downtime {downtime_ms:.0} ms (truth {truth_downtime:.0}), RTO {rto_ms:.0} ms (truth {truth_rto:.0}), {} failed in the rollout, tolerance ±{tolerance:.0} ms",
        r["stats"]["phases"]["rollout"]["failed"]
    );
    assert!(
        (rto_ms - truth_rto).abs() <= tolerance,
        "RTO {rto_ms} ms, truth {truth_rto} ms (± {tolerance})\n{a}"
    );
}

#[test]
fn a_timed_fault_gets_an_rto_within_a_second_of_the_truth() {
    let lb = Lb::start();
    let faults = format!(
        "[[fault]]\nname = \"kill-s1\"\nat = \"10s\"\nrun = \"{}\"\nrestore_at = \"20s\"\nrestore = \"{}\"\n",
        fixtures().join("fault-kill.sh").display(),
        fixtures().join("fault-restore.sh").display()
    );
    let text = plan(&lb.url(), &faults).replace("duration = \"60s\"", "duration = \"30s\"");
    let (out, r) = lb.run(&text);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let t = lb.truth();
    let ev = r["availability"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "kill-s1")
        .expect("the fault's availability")
        .clone();
    let fault_ms = r["started_at_ms"].as_f64().unwrap() + 1000.0 * f(&ev["at_s"]);
    let truth_rto = t["down"] as f64 - fault_ms;
    let rto_ms = 1000.0 * f(&ev["rto_s"]);
    eprintln!(
        "fault: RTO {rto_ms:.0} ms (truth {truth_rto:.0}), downtime {} s",
        r["availability"]["downtime_s"]
    );
    assert!(
        (rto_ms - truth_rto).abs() <= 1000.0,
        "RTO {rto_ms} ms, truth {truth_rto} ms"
    );
    assert!(t["restore"] > t["down"] && t.contains_key("up"), "{t:?}");
    assert_eq!(ev["recovered"], true);
}
