//! The HTTP client against real servers, judged from the server's side.
//!
//! An in-process hyper server (tests/tls.rs) accepts what hyper's client
//! sends, so it missed a bug real servers refuse: over HTTP/2 the engine sent
//! a `host` header beside `:authority`, and nginx answers that with 400
//! ("client sent duplicate host header"). These tests start Debian's nginx
//! and HAProxy on loopback (each in its own temporary folder and process
//! group, with a fresh rcgen CA and a leaf for 127.0.0.1), run the
//! `loadcheck` binary against them, and read the servers' access logs, which
//! record each request's HTTP version (`$server_protocol`, `%HV`) and
//! status: those must match `[tls] http`, be 200 for every request, count
//! exactly the requests run.json counts (per endpoint too) and agree with
//! run.json's `stats.*.protocols`.
//!
//! Without nginx or HAProxy a test prints why and skips, except under
//! `CI=true`, where it fails (scripts/test installs both).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_loadcheck");
/// The Host a plan's endpoint sets in [`nginx_h2_sends_the_plans_host_as_authority`].
const STAGING: &str = "staging.example.test";
/// Closed model: 10 VUs for 2 s (thousands of requests; nginx's default
/// `keepalive_requests 1000` makes it end HTTP/2 connections with GOAWAY).
const VUS: &str = "executor = \"constant-vus\"\nvus = 10\nduration = \"2s\"";
/// Open model: 200 requests a second for 2 s.
const RATE: &str = "executor = \"constant-arrival-rate\"\nrate = 200\nduration = \"2s\"";
/// Two endpoints; the server's log tells them apart by the path's first segment.
const ENDPOINTS: &str = "[[endpoint]]\nname = \"home\"\npath = \"/home\"\n\n\
                         [[endpoint]]\nname = \"search\"\npath = \"/search?q={{random_int:1..999}}\"\n";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `name` from /usr/sbin, /usr/bin or PATH. Missing, it is a skip (`None`,
/// with the reason printed), or a failure under `CI=true`.
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = [PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} is not installed, which fails under CI=true (scripts/test installs it)");
        }
        eprintln!("skipping: {name} is not installed (apt-get install {name}); under CI=true this fails");
    }
    found
}

/// Writes a fresh CA (`ca.pem`) and a leaf for 127.0.0.1 and localhost that
/// it signed into `dir`: `cert.pem`, `key.pem`, and both in `site.pem` (for
/// HAProxy's `crt`).
fn write_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "real-servers CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("site.pem"), cert.pem() + &key.serialize_pem()).unwrap();
}

/// Fields of nginx's log lines (`log_format lc` in the fixture) after
/// protocol, status and URI, by index and name; HAProxy logs `{host}` there.
const CONNECTION: (usize, &str) = (3, "$connection");
const HOST: (usize, &str) = (5, "$host");
const HTTP_HOST: (usize, &str) = (6, "$http_host");

/// One access-log line, split at spaces: protocol, status, URI, more.
#[derive(Debug)]
struct Hit(Vec<String>);

impl Hit {
    /// `PROTOCOL STATUS`.
    fn outcome(&self) -> String {
        format!("{} {}", self.0[0], self.0[1])
    }

    /// The endpoint, by the path's first segment (HAProxy logs h2 requests
    /// with the scheme and authority in front).
    fn endpoint(&self) -> &str {
        let uri = match self.0[2].split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
            None => &self.0[2],
        };
        uri.trim_start_matches('/').split(['/', '?']).next().unwrap_or("")
    }
}

/// nginx or HAProxy on a free loopback port, in its own temporary folder and
/// process group; the group is killed on drop.
struct Server {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    /// The access log: one [`Hit`] a line.
    access: PathBuf,
}

impl Server {
    /// Starts `name` (`nginx` or `haproxy`) with its config from
    /// tests/fixtures/real_servers/, `listen` and `extra` filled into nginx's
    /// (`ssl http2`, `http2` for h2c, or empty for HTTP/1.1; extra server
    /// directives), and waits, at most 10 s, until its port accepts.
    fn start(name: &str, listen: &str, extra: &str) -> Option<Server> {
        let bin = tool(name)?;
        let dir = tempfile::tempdir().unwrap();
        write_pki(dir.path());
        let (d, port) = (dir.path().display().to_string(), free_port());
        let file = if name == "nginx" { "nginx.conf" } else { "haproxy.cfg" };
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real_servers")
            .join(file);
        let conf = std::fs::read_to_string(fixture).unwrap().replace("@DIR@", &d);
        let conf = conf.replace("@PORT@", &port.to_string()).replace("@LISTEN@", listen);
        std::fs::write(dir.path().join(file), conf.replace("@EXTRA@", extra)).unwrap();
        let mut cmd = Command::new(bin);
        let access = if name == "nginx" {
            cmd.args(["-p", &format!("{d}/"), "-e", &format!("{d}/error.log"), "-c"]);
            dir.path().join("access.log")
        } else {
            cmd.args(["-db", "-f"]);
            dir.path().join("stdout.log")
        };
        cmd.arg(dir.path().join(file)).stdin(Stdio::null()).process_group(0);
        cmd.stdout(File::create(dir.path().join("stdout.log")).unwrap());
        cmd.stderr(File::create(dir.path().join("stderr.log")).unwrap());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let mut s = Server {
            dir,
            child,
            port,
            access,
        };
        let (addr, t) = (([127, 0, 0, 1], port).into(), Duration::from_millis(200));
        let up = poll(10, || match s.child.try_wait().unwrap() {
            Some(status) => Some(Err(status)),
            None => TcpStream::connect_timeout(&addr, t).ok().map(|_| Ok(())),
        });
        match up {
            Some(Ok(())) => Some(s),
            Some(Err(status)) => panic!("{cmd:?} exited ({status}) before listening\n{}", s.diagnostics()),
            None => panic!("{cmd:?} not listening after 10 s\n{}", s.diagnostics()),
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The access log's lines, once it has at least `want` (waiting at most
    /// 5 s, as servers log just after the response), plus any late extras.
    fn hits(&self, want: u64) -> Vec<Hit> {
        let read = || -> Vec<Hit> {
            let text = std::fs::read_to_string(&self.access).unwrap_or_default();
            let split = |l: &str| Hit(l.split_whitespace().map(String::from).collect());
            text.lines().map(split).filter(|h| h.0.len() >= 3).collect()
        };
        poll(5, || (read().len() as u64 >= want).then_some(()));
        std::thread::sleep(Duration::from_millis(200));
        read()
    }

    /// The ends of the server's logs, for failure messages.
    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for name in ["error.log", "stderr.log", "stdout.log", "access.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            if text.contains("duplicate host header") {
                out += "NOTE: nginx logged \"client sent duplicate host header\": the client sent `host` beside \
                        `:authority` over HTTP/2 (the bug these tests guard against)\n";
            }
            out += &format!("--- server {name} (last lines) ---\n{}\n", tail(&text, 15));
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test started (nginx's
        // master and worker); no memory involved.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Calls `f` every 50 ms until it returns `Some`, for at most `secs` s.
fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A plan against `target` with `tls` in its `[tls]` table.
fn plan(target: &str, tls: &str, load: &str, endpoints: &str) -> String {
    format!(
        "name = \"real-servers\"\ntarget = \"{target}\"\ntimeout = \"5s\"\n\n\
         [tls]\n{tls}\n\n[load]\n{load}\n\n{endpoints}"
    )
}

/// The `ca_file` line for the server's CA.
fn ca(s: &Server) -> String {
    format!("ca_file = '{}'", s.dir.path().join("ca.pem").display())
}

/// A finished `loadcheck run`.
struct Run {
    code: Option<i32>,
    stderr: String,
    /// run.json, or `Null` when none was written.
    json: Value,
}

/// Runs the binary on `plan` (written to the server's folder) with two
/// worker threads, killing it after 60 s.
fn loadcheck(s: &Server, plan: &str) -> Run {
    let dir = s.dir.path();
    let (path, out, err) = (dir.join("plan.toml"), dir.join("out"), dir.join("loadcheck.stderr"));
    std::fs::write(&path, plan).unwrap();
    let mut cmd = Command::new(BIN);
    for var in ["LOADCHECK_TARGET", "GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_API_URL"] {
        cmd.env_remove(var);
    }
    cmd.arg("run").arg(&path).arg("--out").arg(&out);
    cmd.args(["-q", "--threads", "2"]).stdin(Stdio::null());
    cmd.stdout(Stdio::null()).stderr(File::create(&err).unwrap());
    let mut child = cmd.spawn().unwrap();
    let Some(status) = poll(60, || child.try_wait().unwrap()) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("loadcheck ran over 60 s\n{}", std::fs::read_to_string(&err).unwrap());
    };
    let json = std::fs::read_to_string(out.join("run.json")).map_or(Value::Null, |t| serde_json::from_str(&t).unwrap());
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    Run {
        code: status.code(),
        stderr,
        json,
    }
}

/// Asserts, from the server's log, that it saw exactly loadcheck's requests
/// (per endpoint too), each `proto` (`HTTP/2.0` or `HTTP/1.1`) and 200; then
/// that loadcheck passed and run.json's `stats.*.protocols` agrees. Returns
/// the hits.
fn assert_all_200(s: &Server, run: &Run, proto: &str) -> Vec<Hit> {
    let total = &run.json["stats"]["total"];
    let requests = total["requests"].as_u64().unwrap_or(0);
    let hits = s.hits(requests);
    let mut seen = BTreeMap::<String, u64>::new();
    for h in &hits {
        *seen.entry(h.outcome()).or_default() += 1;
    }
    let ctx = format!(
        "loadcheck exited {:?}; run.json: requests {requests}, ok {}, status {}, errors {}\n\
         the server logged {} requests: {seen:?}\n--- loadcheck stderr ---\n{}\n{}",
        run.code,
        total["ok"],
        total["status"],
        total["errors"],
        hits.len(),
        tail(&run.stderr, 20),
        s.diagnostics()
    );
    if run.code == Some(2) {
        panic!("loadcheck rejected the plan (exit 2): does the engine know `[tls] http` / `h2_streams`?\n{ctx}");
    }
    let check = |ok: bool, what: &str| assert!(ok, "{what}\n{ctx}");
    check(run.json.is_object(), "no run.json");
    check(requests > 0, "loadcheck sent nothing");
    let wrong = hits.iter().filter(|h| h.outcome() != format!("{proto} 200")).count();
    check(wrong == 0, &format!("{wrong} requests not `{proto} 200` at the server"));
    check(hits.len() as u64 == requests, "the server's count is not loadcheck's");
    check(total["ok"].as_u64() == Some(requests), "not every request ok");
    check(run.code == Some(0), "loadcheck did not pass");
    // run.json's `stats.*.protocols` (responses by HTTP version) must agree.
    let label = if proto == "HTTP/2.0" { "HTTP/2" } else { "HTTP/1.1" };
    let want = |st: &Value| json!({ label: st["requests"] });
    let p = &total["protocols"];
    check(
        *p == want(total),
        &format!("stats.total.protocols is {p}, not all {label}"),
    );
    for (name, ep) in run.json["stats"]["endpoints"].as_object().unwrap() {
        let n = hits.iter().filter(|h| h.endpoint() == name).count() as u64;
        check(
            Some(n) == ep["requests"].as_u64(),
            &format!("{name}: {n} at the server"),
        );
        let p = &ep["protocols"];
        check(*p == want(ep), &format!("stats.endpoints.{name}.protocols is {p}"));
    }
    eprintln!("{} requests, all `{proto} 200` at the server", hits.len());
    hits
}

/// Asserts nginx's log field is `want` in every hit of `endpoint`.
fn assert_field(hits: &[Hit], endpoint: &str, (i, field): (usize, &str), want: &str) {
    let of_endpoint = hits.iter().filter(|h| h.endpoint() == endpoint);
    let got: BTreeSet<&str> = of_endpoint.map(|h| h.0[i].as_str()).collect();
    assert_eq!(got, BTreeSet::from([want]), "nginx's {field} for endpoint {endpoint}");
}

/// nginx with `listen 127.0.0.1:PORT {listen};` and `extra` in its server block.
fn nginx(listen: &str, extra: &str) -> Option<Server> {
    Server::start("nginx", listen, extra)
}

fn haproxy() -> Option<Server> {
    Server::start("haproxy", "", "")
}

#[test]
fn nginx_h2_by_alpn_every_request_200() {
    let Some(s) = nginx("ssl http2", "") else { return };
    let run = loadcheck(&s, &plan(&s.url("https"), &ca(&s), VUS, ENDPOINTS));
    let hits = assert_all_200(&s, &run, "HTTP/2.0");
    assert_field(&hits, "home", HTTP_HOST, &format!("127.0.0.1:{}", s.port));
}

#[test]
fn nginx_http_1_1_when_the_plan_says_so() {
    let Some(s) = nginx("ssl http2", "") else { return };
    let tls = format!("{}\nhttp = \"1.1\"", ca(&s));
    let run = loadcheck(&s, &plan(&s.url("https"), &tls, RATE, ENDPOINTS));
    let hits = assert_all_200(&s, &run, "HTTP/1.1");
    assert_field(&hits, "search", HTTP_HOST, &format!("127.0.0.1:{}", s.port));
}

#[test]
fn nginx_h2_sends_the_plans_host_as_authority() {
    let Some(s) = nginx("ssl http2", "") else { return };
    let endpoints = format!(
        "[[endpoint]]\nname = \"staged\"\npath = \"/staged\"\nheaders = {{ Host = \"{STAGING}\" }}\n\n\
         [[endpoint]]\nname = \"plain\"\npath = \"/plain\"\n"
    );
    let run = loadcheck(&s, &plan(&s.url("https"), &ca(&s), RATE, &endpoints));
    let hits = assert_all_200(&s, &run, "HTTP/2.0");
    assert_field(&hits, "staged", HOST, STAGING);
    assert_field(&hits, "staged", HTTP_HOST, STAGING);
    assert_field(&hits, "plain", HTTP_HOST, &format!("127.0.0.1:{}", s.port));
}

#[test]
fn nginx_h2c_by_prior_knowledge_on_http() {
    // A plain `listen … http2` in nginx 1.22 speaks only HTTP/2 (prior
    // knowledge): an HTTP/1.1 request there gets no HTTP answer at all.
    let Some(s) = nginx("http2", "") else { return };
    let run = loadcheck(&s, &plan(&s.url("http"), "http = \"2\"", RATE, ENDPOINTS));
    assert_all_200(&s, &run, "HTTP/2.0");
}

#[test]
fn nginx_auto_on_plain_http_is_http_1_1() {
    let Some(s) = nginx("", "") else { return };
    let run = loadcheck(&s, &plan(&s.url("http"), "", RATE, ENDPOINTS));
    assert_all_200(&s, &run, "HTTP/1.1");
}

#[test]
fn nginx_h2_streams_share_a_connection() {
    // No GOAWAY after 1000 requests here, so the connections are the ones
    // the engine chose: 10 VUs, up to 10 a connection, and each of the two
    // workers (`--threads 2`) keeps its own, so at most 2, where one stream
    // a connection (the closed model's default) would take 10.
    let Some(s) = nginx("ssl http2", "keepalive_requests 1000000;") else {
        return;
    };
    let tls = format!("{}\nhttp = \"2\"\nh2_streams = 10", ca(&s));
    let run = loadcheck(&s, &plan(&s.url("https"), &tls, VUS, ENDPOINTS));
    let hits = assert_all_200(&s, &run, "HTTP/2.0");
    let conns: BTreeSet<&str> = hits.iter().map(|h| h.0[CONNECTION.0].as_str()).collect();
    eprintln!("{} requests on {} connections", hits.len(), conns.len());
    assert!(conns.len() <= 2, "10 VUs, h2_streams = 10: {} connections", conns.len());
}

#[test]
fn haproxy_h2_by_alpn_every_request_200() {
    let Some(s) = haproxy() else { return };
    let run = loadcheck(&s, &plan(&s.url("https"), &ca(&s), RATE, ENDPOINTS));
    assert_all_200(&s, &run, "HTTP/2.0");
}

#[test]
fn haproxy_http_1_1_when_the_plan_says_so() {
    let Some(s) = haproxy() else { return };
    let tls = format!("{}\nhttp = \"1.1\"", ca(&s));
    let run = loadcheck(&s, &plan(&s.url("https"), &tls, VUS, ENDPOINTS));
    assert_all_200(&s, &run, "HTTP/1.1");
}
