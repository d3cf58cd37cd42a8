//! The plan file, end to end: what valid plans turn into, and how bad plans
//! are reported (file, line, field).

use std::path::Path;
use std::time::Duration;

use loadcheck::plan::{Body, Executor, Overrides, Plan, PlanError, Var, parse};

const BASE: &str = r#"
target = "http://127.0.0.1:8080"

[[endpoint]]
name = "search"
path = "/v1/images/?q={{word}}"

[[endpoint]]
name = "thumbnail"
path = "/v1/images/{{random_int:1..9999}}/thumb/"
weight = 3

[vars]
word = ["cat", "dog"]
"#;

fn try_parse(text: &str, overrides: &Overrides) -> Result<Plan, Box<PlanError>> {
    parse(Path::new("loadcheck.toml"), text, overrides).map_err(Box::new)
}

fn ok(text: &str) -> Plan {
    try_parse(text, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match try_parse(text, &Overrides::default()) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts the error starts with `loadcheck.toml:LINE:` and names `field`.
fn assert_at(e: &str, line: usize, field: &str) {
    assert!(
        e.starts_with(&format!("loadcheck.toml:{line}:")),
        "wrong line (want {line}): {e}"
    );
    assert!(
        e.contains(&format!("field `{field}`")),
        "wrong field (want {field}): {e}"
    );
}

fn with_scenario(scenario: &str) -> String {
    format!("{BASE}\n[[scenario]]\nname = \"s\"\n{scenario}\n")
}

#[test]
fn every_executor_parses() {
    let plan = ok(&format!(
        r#"{BASE}
[[scenario]]
name = "car"
executor = "constant-arrival-rate"
rate = 120
time_unit = "1m"
duration = "30s"

[[scenario]]
name = "rar"
executor = "ramping-arrival-rate"
start_rate = 10
stages = [{{ duration = "10s", target = 100 }}, {{ duration = "5s", target = 0 }}]
pre_allocated_vus = 5
max_vus = 50

[[scenario]]
name = "cv"
executor = "constant-vus"
vus = 5
duration = "1m"
think_time = "100ms..500ms"

[[scenario]]
name = "rv"
executor = "ramping-vus"
stages = [{{ duration = "5s", target = 10 }}, {{ duration = "5s", target = 0 }}]

[[scenario]]
name = "si"
executor = "shared-iterations"
vus = 2
iterations = 10

[[scenario]]
name = "pvi"
executor = "per-vu-iterations"
"#
    ));
    let ex: Vec<&Executor> = plan.scenarios.iter().map(|s| &s.executor).collect();
    assert_eq!(
        ex[0],
        &Executor::ConstantArrivalRate {
            rate: 2.0,
            duration: Duration::from_secs(30)
        }
    );
    assert!(
        matches!(ex[1], Executor::RampingArrivalRate { start_rate, stages } if *start_rate == 10.0 && stages.len() == 2 && stages[0].target == 100.0)
    );
    assert_eq!(
        ex[2],
        &Executor::ConstantVus {
            vus: 5,
            duration: Duration::from_secs(60)
        }
    );
    assert!(matches!(ex[3], Executor::RampingVus { start_vus: 1, stages } if stages[0].target == 10.0));
    let ten_min = Duration::from_secs(600);
    assert_eq!(
        ex[4],
        &Executor::SharedIterations {
            vus: 2,
            iterations: 10,
            max_duration: ten_min
        }
    );
    assert_eq!(
        ex[5],
        &Executor::PerVuIterations {
            vus: 1,
            iterations: 1,
            max_duration: ten_min
        }
    );
    // max_in_flight: rate × timeout (2/s × 10s), then max_vus, then the VU counts.
    let in_flight: Vec<usize> = plan.scenarios.iter().map(|s| s.max_in_flight).collect();
    assert_eq!(in_flight, [20, 50, 5, 10, 2, 1]);
    let think = plan.scenarios[2].think_time.unwrap();
    assert_eq!(
        (think.min, think.max),
        (Duration::from_millis(100), Duration::from_millis(500))
    );
    // Defaults: every endpoint with its own weight, start at 0, 3s grace.
    assert_eq!(plan.scenarios[0].endpoints, [(0, 1), (1, 3)]);
    assert_eq!(plan.scenarios[0].start_time, Duration::ZERO);
    assert_eq!(plan.scenarios[0].graceful_stop, Duration::from_secs(3));
    assert_eq!(plan.timeout, Duration::from_secs(10));
    assert_eq!(plan.name, "loadcheck");
}

#[test]
fn load_shorthand_is_one_default_scenario() {
    let plan = ok(&format!(
        "{BASE}\n[load]\nexecutor = \"constant-vus\"\nvus = 3\nduration = \"10s\"\nendpoints = {{ thumbnail = 2 }}\n"
    ));
    assert_eq!(plan.scenarios.len(), 1);
    assert_eq!(plan.scenarios[0].name, "default");
    assert_eq!(plan.scenarios[0].endpoints, [(1, 2)]);
    let both = format!(
        "{BASE}\n[load]\nexecutor = \"constant-vus\"\nduration = \"1s\"\n[[scenario]]\nname = \"x\"\nexecutor = \"constant-vus\"\nduration = \"1s\"\n"
    );
    assert!(err(&both).contains("cannot be used together"));
    assert!(err(BASE).contains("no scenario"));
}

#[test]
fn overrides_replace_target_duration_rate_and_vus() {
    let text = format!(
        r#"{BASE}
[[scenario]]
name = "car"
executor = "constant-arrival-rate"
rate = 10
duration = "1m"
[[scenario]]
name = "cv"
executor = "constant-vus"
duration = "1m"
[[scenario]]
name = "rv"
executor = "ramping-vus"
stages = [{{ duration = "7s", target = 4 }}]
"#
    );
    let overrides = Overrides {
        target: Some("https://staging.example.org/api/".into()),
        duration: Some(Duration::from_secs(5)),
        rate: Some(50.0),
        vus: Some(9),
        baseline_target: None,
    };
    let plan = try_parse(&text, &overrides).unwrap();
    assert_eq!(plan.target.host, "staging.example.org");
    assert_eq!((plan.target.port, plan.target.base_path.as_str()), (443, "/api"));
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::ConstantArrivalRate {
            rate: 50.0,
            duration: Duration::from_secs(5)
        }
    );
    assert_eq!(
        plan.scenarios[1].executor,
        Executor::ConstantVus {
            vus: 9,
            duration: Duration::from_secs(5)
        }
    );
    assert_eq!(
        plan.scenarios[2].executor.duration(),
        Duration::from_secs(7),
        "ramping stages are left alone"
    );
    // --target also stands in for a missing target.
    let no_target = text.replace("target = \"http://127.0.0.1:8080\"", "");
    assert!(try_parse(&no_target, &overrides).is_ok());
    let e = try_parse(&no_target, &Overrides::default()).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (Some(1), "target"));
    assert!(
        e.to_string().contains("set `target` in the plan or pass --target"),
        "{e}"
    );
    let bad = Overrides {
        target: Some("ftp://x".into()),
        ..Overrides::default()
    };
    assert!(try_parse(&text, &bad).unwrap_err().to_string().contains("--target"));
}

#[test]
fn bad_plans_name_file_line_and_field() {
    let scenario_line = BASE.lines().count() + 2; // the `[[scenario]]` header
    let e = err(&with_scenario("executr = \"constant-vus\""));
    assert_at(&e, scenario_line + 2, "scenario[0].executr");
    assert!(e.ends_with("did you mean \"executor\"?"), "{e}");

    let e = err(&with_scenario("executor = \"constant-vu\"\nduration = \"1s\""));
    assert_at(&e, scenario_line + 2, "scenario[0].executor");
    assert!(e.contains("did you mean \"constant-vus\"?"), "{e}");

    let e = err(&with_scenario("executor = \"constant-vus\"\nduration = \"10 minutes\""));
    assert_at(&e, scenario_line + 3, "scenario[0].duration");

    let e = err(&with_scenario("executor = \"constant-vus\"\nduration = \"0s\""));
    assert_at(&e, scenario_line + 3, "scenario[0].duration");

    let e = err(&with_scenario(
        "executor = \"constant-vus\"\nduration = \"1s\"\nendpoints = { search = 0, thumbnail = 0 }",
    ));
    assert_at(&e, scenario_line + 4, "scenario[0].endpoints");
    assert!(e.contains("every weight is 0"), "{e}");

    let e = err(&with_scenario(
        "executor = \"constant-vus\"\nduration = \"1s\"\nendpoints = { serch = 1 }",
    ));
    assert_at(&e, scenario_line + 4, "scenario[0].endpoints.serch");
    assert!(e.contains("did you mean \"search\"?"), "{e}");

    let e = err(&with_scenario(
        "executor = \"constant-vus\"\nduration = \"1s\"\nrate = 5",
    ));
    assert_at(&e, scenario_line + 4, "scenario[0].rate");
    assert!(e.contains("constant-vus"), "{e}");

    let e = err(&with_scenario(
        "executor = \"constant-arrival-rate\"\nrate = 5\nduration = \"1s\"\nthink_time = \"1s\"",
    ));
    assert_at(&e, scenario_line + 5, "scenario[0].think_time");

    let e = err(&with_scenario(
        "executor = \"constant-arrival-rate\"\nduration = \"1s\"",
    ));
    assert_at(&e, scenario_line, "scenario[0].rate");
}

#[test]
fn non_toml_is_reported_with_its_line() {
    let e = err("target = \"http://x\"\n\n[[endpoint]\nname = \"a\"\n");
    assert!(e.starts_with("loadcheck.toml:3:"), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
}

#[test]
fn bad_values_elsewhere_are_located() {
    let e = err(&BASE.replace("http://127.0.0.1:8080", "ftp://x"));
    assert_at(&e, 2, "target");
    let e = err(&BASE.replace("{{word}}", "{{wrd}}"));
    assert_at(&e, 6, "endpoint[0].path");
    assert!(e.contains("did you mean \"word\"?"), "{e}");
    // Single braces are text, but a [vars] name or a built-in in them is the
    // syntax before `{{…}}`: refused with the placeholder meant.
    let e = err(&BASE.replace("{{word}}", "{word}"));
    assert_at(&e, 6, "endpoint[0].path");
    assert!(e.ends_with("did you mean \"{{word}}\"?"), "{e}");
    let e = err(&BASE.replace("{{random_int:1..9999}}", "{random_int:1..9999}"));
    assert_at(&e, 10, "endpoint[1].path");
    assert!(e.contains("did you mean \"{{random_int:1..9999}}\"?"), "{e}");
    let e = err(&format!(
        "{BASE}\n[[endpoint]]\nname = \"post\"\npath = \"/p\"\nbody = '{{\"id\": \"{{uuid}}\"}}'\n"
    ));
    assert_at(&e, 19, "endpoint[2].body");
    assert!(e.contains("did you mean \"{{uuid}}\"?"), "{e}");
    let plan = ok(&format!(
        "{BASE}\n[[endpoint]]\nname = \"post\"\npath = \"/p/{{id}}\"\nbody = '{{\"a\": {{\"b\": [{{}}]}}}}'\n\
         [load]\nexecutor = \"constant-vus\"\nduration = \"1s\"\n"
    ));
    assert!(
        plan.endpoints[2].path.is_static(),
        "an unknown name in single braces is text"
    );
    assert!(matches!(&plan.endpoints[2].body, Some(Body::Fixed(b)) if &b[..] == br#"{"a": {"b": [{}]}}"#));
    let e = err(&BASE.replace("weight = 3", "weight = 3\nexpect = [200, 700]"));
    assert_at(&e, 12, "endpoint[1].expect[1]");
    let e = err(&format!("{BASE}[tls]\nresolve = [\"a.example:443:not-an-ip\"]\n"));
    assert_at(&e, 16, "tls.resolve[0]");
    let e = err(&format!("{BASE}[signing]\nscheme = \"github\"\n"));
    assert_at(&e, 15, "signing.secret_env");
    assert!(e.contains("name the environment variable"), "{e}");
    let e = err(&format!("{BASE}[signing]\nscheme = \"githb\"\nsecret_env = \"X\"\n"));
    assert_at(&e, 16, "signing.scheme");
    assert!(e.contains("did you mean \"github\"?"), "{e}");
}

#[test]
fn unset_secret_env_var_names_variable_and_line() {
    let text = format!("{BASE}token = {{ env = \"LOADCHECK_TEST_SURELY_UNSET_7F3A\", secret = true }}\n");
    let e = err(&text);
    assert_at(&e, 15, "vars.token.env");
    assert!(e.contains("LOADCHECK_TEST_SURELY_UNSET_7F3A is not set"), "{e}");
}

#[test]
fn secret_env_vars_are_secrets_and_never_serialized() {
    let path = std::env::var("PATH").expect("PATH is set");
    let text = format!(
        "{}token = {{ env = \"PATH\", secret = true }}\nplain = {{ env = \"PATH\" }}\n[[scenario]]\nname = \"s\"\nexecutor = \"constant-vus\"\nduration = \"1s\"\n",
        BASE
    );
    let plan = ok(&text);
    assert!(matches!(&plan.vars["token"], Var::Secret { env, value } if env == "PATH" && *value == path));
    assert!(matches!(&plan.vars["plain"], Var::List(v) if *v == [path.as_str()]));
    assert_eq!(plan.secrets(), [path.as_str()]);
    let mut redacted = plan.clone();
    redacted.vars.remove("plain");
    let json = serde_json::to_string(&redacted).unwrap();
    assert!(!json.contains(&path), "the secret leaked into {json}");
}

#[test]
fn thresholds_and_requirements() {
    let text = format!(
        r#"{}
[[scenario]]
name = "s"
executor = "constant-vus"
duration = "1s"

[thresholds]
"http_req_failed" = [{{ threshold = "rate==0", abort_on_fail = true }}]
"http_req_duration{{endpoint:search}}" = ["p(95)<500", "p(99.9) < 1000"]

[[requirement]]
name = "Search p99"
target = "< 1 s"
check = "http_req_duration{{endpoint:search}}: p(99)<1000"
note = "measured at the edge"
"#,
        BASE
    );
    let plan = ok(&text);
    let t: Vec<(&str, &str, bool)> = plan
        .thresholds
        .iter()
        .map(|t| (t.metric.as_str(), t.expression.as_str(), t.abort_on_fail))
        .collect();
    assert_eq!(
        t,
        [
            ("http_req_failed", "rate==0", true),
            ("http_req_duration{endpoint:search}", "p(95)<500", false),
            ("http_req_duration{endpoint:search}", "p(99.9) < 1000", false),
        ],
        "file order"
    );
    assert_eq!(plan.requirements[0].condition.to_string(), "p(99)<1000");

    let e = err(&text.replace("\"p(95)<500\"", "\"p95<500\""));
    assert_at(&e, 23, "thresholds.\"http_req_duration{endpoint:search}\"[0]");
    assert!(e.contains("threshold \"http_req_duration{endpoint:search}\""), "{e}");
    assert!(e.ends_with("did you mean \"p(95)<500\"?"), "{e}");
    let e = err(&text.replace(": p(99)<1000\"", ": P99.9 < 1000\""));
    assert_at(&e, 28, "requirement[0].check");
    assert!(e.ends_with("did you mean \"p(99.9)<1000\"?"), "{e}");
    let e = err(&text.replace("\"http_req_failed\" =", "\"http_req_faild\" ="));
    assert_at(&e, 22, "thresholds.http_req_faild");
    assert!(e.contains("did you mean \"http_req_failed\"?"), "{e}");
    let e = err(&text.replace("endpoint:search}\" =", "endpoint:serch}\" ="));
    assert!(e.contains("did you mean \"search\"?"), "{e}");
    let e = err(&text.replace("rate==0", "avg==0"));
    assert!(e.contains("does not apply"), "{e}");
    let e = err(&text.replace("{endpoint:search}: p(99)", "{status:200}: p(99)"));
    assert_at(&e, 28, "requirement[0].check");
    // Tag values that would select nothing (or everything) are refused.
    let errors = |filter: &str| {
        text.replace(
            "\"http_req_failed\" = [{ threshold = \"rate==0\"",
            &format!("\"http_errors{{{filter}}}\" = [{{ threshold = \"count==0\""),
        )
    };
    let e = err(&errors("class:status_5x"));
    assert_at(&e, 22, "thresholds.\"http_errors{class:status_5x}\"");
    assert!(e.contains("did you mean \"status_5xx\"?"), "{e}");
    let e = err(&errors("status:abc").replace("http_errors", "http_reqs"));
    assert!(e.contains("not an HTTP status code"), "{e}");
    ok(&errors("class:timeout"));
}

#[test]
fn garbage_never_panics() {
    let seed_text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.toml")).unwrap();
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        "=",
        "\n",
        ",",
        "..",
        "0",
        "-1",
        "p(",
        "é",
        "[[scenario]]",
        "{vu}",
        "{{vu}}",
        "{{",
        "}}",
        "ms",
    ];
    let mut x: u64 = 0x853c_49e6_748f_ea9b;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..400 {
        let mut text: Vec<char> = seed_text.chars().collect();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % (text.len() + 1);
            match next() % 3 {
                0 if at < text.len() => {
                    text.remove(at);
                }
                _ => {
                    let piece = pieces[(next() as usize) % pieces.len()];
                    for (i, c) in piece.chars().enumerate() {
                        text.insert((at + i).min(text.len()), c);
                    }
                }
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = try_parse(&text, &Overrides::default()) {
            assert!(e.to_string().starts_with("loadcheck.toml"), "{e}");
        }
    }
}

#[test]
fn a_probe_metric_is_a_selector_checked_once_in_the_plan() {
    let probe = |metric: &str| {
        format!(
            "{BASE}\n[[probe]]\nname = \"breaker\"\nurl = \"http://127.0.0.1:9/metrics\"\nmetric = '{metric}'\n\n[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n"
        )
    };
    let e = err(&probe("breaker_state{name="));
    assert_at(&e, 19, "probe[0].metric");
    assert!(e.contains("expected"), "{e}");
    // A good one is kept parsed, and written back as it was given.
    let plan = ok(&probe(r#"breaker_state{name="redis"}"#));
    let metric = plan.probes[0].metric.as_ref().expect("the selector");
    assert_eq!(metric.to_string(), r#"breaker_state{name="redis"}"#);
    let json = serde_json::to_value(&plan.probes[0]).unwrap();
    assert_eq!(json["metric"], r#"breaker_state{name="redis"}"#);
}

/// A one-line load, so that a plan gets as far as `[baseline]`.
const LOAD: &str = "[load]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n";

#[test]
fn bad_baseline_values_are_located() {
    let e = err(&format!("{BASE}{LOAD}[baseline]\nmin_effect = \"five\"\n"));
    assert_at(&e, 20, "baseline.min_effect");
    assert!(e.contains("write 0.05 or \"5%\""), "{e}");
    let e = err(&format!("{BASE}{LOAD}[baseline]\nhead_vs_tail = \"loud\"\n"));
    assert_at(&e, 20, "baseline.head_vs_tail");
    let e = err(&format!("{BASE}{LOAD}[baseline]\nhistory = 1\n"));
    assert_at(&e, 20, "baseline.history");
    let e = err(&format!("{BASE}{LOAD}[baseline]\ntarget = \"ftp://x\"\n"));
    assert_at(&e, 20, "baseline.target");
    let e = err(&format!("{BASE}{LOAD}[baseline]\nwarmup = \"5 parsecs\"\n"));
    assert_at(&e, 20, "baseline.warmup");
    let e = err(&format!("{BASE}{LOAD}[baseline.floors]\nerror_rate = \"150%\"\n"));
    assert_at(&e, 20, "baseline.floors.error_rate");
    let e = err(&format!("{BASE}{LOAD}[baseline]\nmin_efect = 0.1\n"));
    assert!(e.contains("did you mean \"min_effect\"?"), "{e}");
}

#[test]
fn baseline_section_reads_its_knobs_and_has_defaults() {
    let plan = try_parse(&format!("{BASE}{LOAD}"), &Overrides::default()).unwrap();
    assert_eq!(plan.baseline, loadcheck::plan::BaselineConfig::default());
    assert_eq!(plan.baseline.min_effect, 0.05);
    assert_eq!(plan.baseline.history, 20);
    assert_eq!(plan.baseline.head_vs_tail, loadcheck::plan::HeadVsTail::Report);
    let text = format!(
        "{BASE}{LOAD}[baseline]\npath = \"baselines/x.json\"\nhistory = 10\ntarget = \"http://127.0.0.1:9/v1/\"\nmin_effect = \"8%\"\nhead_vs_tail = \"fail\"\nwarmup = \"3s\"\n[baseline.floors]\np95 = \"2ms\"\nerror_rate = 0.002\n"
    );
    let b = try_parse(&text, &Overrides::default()).unwrap().baseline;
    assert!(b.path.as_ref().unwrap().ends_with("baselines/x.json"), "{:?}", b.path);
    assert!(b.path.as_ref().unwrap().is_absolute());
    assert_eq!(b.history, 10);
    assert_eq!(b.target.as_ref().unwrap().base_path, "/v1");
    assert!((b.min_effect - 0.08).abs() < 1e-12);
    assert_eq!(b.head_vs_tail, loadcheck::plan::HeadVsTail::Fail);
    assert_eq!(b.warmup, std::time::Duration::from_secs(3));
    assert_eq!(b.floors.p95, std::time::Duration::from_millis(2));
    assert_eq!(b.floors.p50, std::time::Duration::from_micros(500));
    assert_eq!(b.floors.error_rate, 0.002);
    assert_eq!(
        b.warmup_for(std::time::Duration::from_secs(4)),
        std::time::Duration::from_secs(2)
    );
}

#[test]
fn a_duet_target_is_refused_beside_a_rollout() {
    let text = format!(
        "{BASE}{LOAD}[rollout]\ntrigger = {{ command = \"true\" }}\nhead = \"5s\"\ntail = \"5s\"\n[baseline]\ntarget = \"http://127.0.0.1:9\"\n"
    );
    let e = err(&text);
    assert!(e.contains("baseline.target") && e.contains("[rollout]"), "{e}");
}

#[test]
fn baseline_target_flag_replaces_the_plans_and_is_checked_like_it() {
    let flag = |url: &str| Overrides {
        baseline_target: Some(url.into()),
        ..Overrides::default()
    };
    // It stands in for a missing `[baseline] target`, and replaces one.
    let plan = try_parse(&format!("{BASE}{LOAD}"), &flag("http://127.0.0.1:9/base/")).unwrap();
    let t = plan.baseline.target.expect("the flag's target");
    assert_eq!((t.port, t.base_path.as_str()), (9, "/base"));
    let text = format!("{BASE}{LOAD}[baseline]\ntarget = \"http://127.0.0.1:9\"\nhistory = 5\n");
    let b = try_parse(&text, &flag("http://127.0.0.1:10")).unwrap().baseline;
    assert_eq!((b.target.unwrap().port, b.history), (10, 5));
    // A bad URL names the flag, not the plan's field.
    let e = try_parse(&format!("{BASE}{LOAD}"), &flag("ftp://x")).unwrap_err();
    assert_eq!(e.field, "--baseline-target", "{e}");
    // Refused beside a rollout, a sink, setup, or an absolute endpoint URL.
    let rollout = format!("{BASE}{LOAD}[rollout]\ntrigger = {{ command = \"true\" }}\nhead = \"5s\"\ntail = \"5s\"\n");
    let e = try_parse(&rollout, &flag("http://127.0.0.1:9")).unwrap_err();
    assert_eq!(e.field, "--baseline-target", "{e}");
    assert!(e.to_string().contains("[rollout]"), "{e}");
    let absolute = format!("{BASE}{LOAD}[[endpoint]]\nname = \"ext\"\npath = \"http://127.0.0.1:7/x\"\n");
    assert!(
        try_parse(&absolute, &Overrides::default()).is_ok(),
        "fine without a duet"
    );
    let e = try_parse(&absolute, &flag("http://127.0.0.1:9")).unwrap_err();
    assert!(e.to_string().contains("endpoint `ext`'s absolute URL"), "{e}");
}

fn with_report(report: &str) -> String {
    with_scenario(&format!("executor = \"constant-vus\"\nduration = \"1s\"\n{report}"))
}

#[test]
fn the_report_table_is_read_and_recorded() {
    let plan = ok(&with_report(
        r#"[report]
title = "Search API: release check"
links = [{ name = "Runbook", url = "https://wiki.example.com/runbook" }]

[[report.signoff]]
name = "Redis failover RTO"
target = "< 10 s"
note = "chaos/redis-kill.sh, by hand"

[[report.signoff]]
name = "Security review"
"#,
    ));
    let r = &plan.report;
    assert_eq!(r.title.as_deref(), Some("Search API: release check"));
    assert_eq!(r.links[0].url, "https://wiki.example.com/runbook");
    assert_eq!(r.signoff.len(), 2);
    assert_eq!(r.signoff[1].target, None);
    // Recorded in run.json's plan, and read back from it.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["report"]["signoff"][0]["name"], "Redis failover RTO");
    let record = loadcheck::plan::record::PlanRecord::from_json(Path::new("run.json"), &json).unwrap();
    assert_eq!(record.report, plan.report);
    // A plan without it records nothing.
    let json = serde_json::to_value(ok(&with_report(""))).unwrap();
    assert!(json.get("report").is_none(), "{json}");
}

#[test]
fn a_bad_report_table_names_its_line_and_field() {
    let line = BASE.lines().count() + 2 + 4; // the line after `duration`
    let e = err(&with_report(
        "[report]\nlinks = [{ name = \"Runbook\", url = \"wiki/runbook\" }]",
    ));
    assert_at(&e, line + 1, "report.links[0].url");
    assert!(e.contains("expected an http:// or https:// URL"), "{e}");
    let e = err(&with_report("[report]\ntitle = \"\""));
    assert_at(&e, line + 1, "report.title");
    let e = err(&with_report(
        "[[report.signoff]]\nname = \"Review\"\n[[report.signoff]]\nname = \"Review\"",
    ));
    assert!(
        e.contains("report.signoff[1].name") && e.contains("listed twice"),
        "{e}"
    );
    let e = err(&with_report("[report]\ntitel = \"x\""));
    assert!(
        e.contains("report.titel") && e.contains("did you mean \"title\"?"),
        "{e}"
    );
}
