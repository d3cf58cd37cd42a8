//! Runs a composite action (action.yml) on this machine the way the GitHub
//! runner does, for tests/action.rs: inputs with their defaults, each step's
//! `if:` evaluated (expr.rs), `env:` and `with:` interpolated, each `run:`
//! step started with its `shell:` as the runner starts it (`bash --noprofile
//! --norc -eo pipefail {0}`), the step's own GITHUB_OUTPUT, GITHUB_ENV,
//! GITHUB_PATH and GITHUB_STEP_SUMMARY files read back after it (files.rs),
//! and the action's `outputs:` evaluated at the end.
//!
//! `uses:` steps are not run. Each must be named, with a reason, in the
//! caller's skip table; one that is not fails the test, and so does a name
//! in the table that no step has.

#![allow(dead_code)] // shared by tests/action.rs and tests/workflows.rs, which use different parts

pub mod expr;
pub mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expr::{Eval, Status, Value};
use serde::Deserialize;

/// action.yml, as far as the runner reads it.
#[derive(Debug, Deserialize)]
pub struct ActionFile {
    #[serde(default)]
    pub inputs: BTreeMap<String, InputDef>,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputDef>,
    pub runs: Runs,
}

/// One input.
#[derive(Debug, Deserialize)]
pub struct InputDef {
    pub description: String,
    pub default: Option<serde_norway::Value>,
}

/// One output.
#[derive(Debug, Deserialize)]
pub struct OutputDef {
    pub description: String,
    pub value: String,
}

/// `runs:`.
#[derive(Debug, Deserialize)]
pub struct Runs {
    pub using: String,
    pub steps: Vec<StepDef>,
}

/// One step.
#[derive(Debug, Deserialize)]
pub struct StepDef {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "if")]
    pub cond: Option<serde_norway::Value>,
    pub uses: Option<String>,
    pub run: Option<String>,
    pub shell: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    pub with: BTreeMap<String, serde_norway::Value>,
}

impl StepDef {
    /// The name the runner shows.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.id.clone())
            .or_else(|| self.uses.clone())
            .unwrap_or_else(|| "(unnamed step)".into())
    }
}

/// Reads an action file.
pub fn load(path: &Path) -> ActionFile {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML scalar as the runner passes it on: a string.
pub fn scalar(v: &serde_norway::Value) -> String {
    match v {
        serde_norway::Value::String(s) => s.clone(),
        serde_norway::Value::Bool(b) => b.to_string(),
        serde_norway::Value::Number(n) => n.to_string(),
        serde_norway::Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The job the action runs in.
pub struct Job {
    /// The working directory of every step (GITHUB_WORKSPACE).
    pub workspace: PathBuf,
    /// Where the step files and scripts go (RUNNER_TEMP).
    pub temp: PathBuf,
    /// The job's environment: the runner's variables and the job's `env:`.
    /// Nothing else from the test's own environment reaches a step.
    pub env: BTreeMap<String, String>,
    /// The `github` context.
    pub github: Value,
    /// The `runner` context.
    pub runner: Value,
}

/// How a step went.
#[derive(Clone, Debug, PartialEq)]
pub enum Ran {
    /// Its `if:` was false.
    Skipped,
    /// A `uses:` step whose `if:` was true: not run here, for the reason given.
    NotRun(String),
    /// It ran and exited with this code.
    Exit(i32),
}

/// One step's record.
#[derive(Debug)]
pub struct StepResult {
    pub label: String,
    pub ran: Ran,
    /// Its `env:`, interpolated.
    pub env: BTreeMap<String, String>,
    /// Its `with:`, interpolated.
    pub with: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub stdout: String,
    pub stderr: String,
}

/// The action's run.
#[derive(Debug)]
pub struct ActionRun {
    pub steps: Vec<StepResult>,
    /// The action's `outputs:`.
    pub outputs: BTreeMap<String, String>,
    /// The job summary: every step's GITHUB_STEP_SUMMARY, in order.
    pub summary: String,
    /// What the steps added to GITHUB_PATH.
    pub path: Vec<String>,
    /// A step failed, so the action did.
    pub failed: bool,
}

impl ActionRun {
    /// The step with this name.
    pub fn step(&self, label: &str) -> &StepResult {
        self.steps
            .iter()
            .find(|s| s.label == label)
            .unwrap_or_else(|| panic!("no step `{label}`"))
    }

    /// Every step's output, for a failure message.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            out.push_str(&format!("=== {} ({:?})\n{}{}", s.label, s.ran, s.stdout, s.stderr));
        }
        out
    }
}

/// What the test asks of one run of the action.
pub struct Options<'a> {
    /// The `with:` of the workflow step that uses the action.
    pub inputs: &'a [(&'a str, &'a str)],
    /// The `uses:` steps not run, by name, with the reason.
    pub skip: &'a [(&'a str, &'a str)],
    /// A folder put first on one step's PATH (a stand-in for a program).
    pub path_for_step: &'a [(&'a str, PathBuf)],
    /// The longest a step may take.
    pub step_timeout: Duration,
}

/// Runs the composite action in `action_dir` (its `action.yml`).
pub fn run(action_dir: &Path, job: &Job, opts: &Options) -> ActionRun {
    let action = load(&action_dir.join("action.yml"));
    assert_eq!(action.runs.using, "composite");
    check_skip_table(&action, opts);
    let mut github = job.github.clone();
    if let Value::Object(map) = &mut github {
        map.insert("action_path".into(), Value::str(action_dir.display().to_string()));
    }
    let inputs = resolve_inputs(&action, &github, opts);
    let mut state = State {
        env: job.env.clone(),
        added_path: Vec::new(),
        steps: BTreeMap::new(),
        status: Status::default(),
        summary: String::new(),
    };
    let mut results = Vec::new();
    for (i, step) in action.runs.steps.iter().enumerate() {
        let ctx = state.context(&inputs, &github, &job.runner);
        let result = run_step(i, step, &ctx, &mut state, job, action_dir, opts);
        if let Some(id) = &step.id {
            let outcome = match &result.ran {
                Ran::Skipped => "skipped",
                Ran::Exit(0) | Ran::NotRun(_) => "success",
                Ran::Exit(_) => "failure",
            };
            let outputs = Value::object(result.outputs.iter().map(|(k, v)| (k, Value::str(v.clone()))));
            state.steps.insert(
                id.to_lowercase(),
                Value::object([
                    ("outcome", Value::str(outcome)),
                    ("conclusion", Value::str(outcome)),
                    ("outputs", outputs),
                ]),
            );
        }
        if matches!(result.ran, Ran::Exit(code) if code != 0) {
            state.status.failed = true;
        }
        results.push(result);
    }
    let ctx = state.context(&inputs, &github, &job.runner);
    let eval = Eval {
        context: &ctx,
        status: state.status,
    };
    let outputs = action
        .outputs
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                eval.interpolate(&o.value).unwrap_or_else(|e| panic!("output {k}: {e}")),
            )
        })
        .collect();
    ActionRun {
        steps: results,
        outputs,
        summary: state.summary,
        path: state.added_path,
        failed: state.status.failed,
    }
}

/// Every `uses:` step is in the skip table, and every name in it is a step.
fn check_skip_table(action: &ActionFile, opts: &Options) {
    for step in &action.runs.steps {
        if step.uses.is_some() {
            let label = step.label();
            assert!(
                opts.skip.iter().any(|(name, _)| *name == label),
                "the `uses:` step `{label}` cannot be run here, and the test does not say why it skips it"
            );
        }
    }
    for (name, reason) in opts.skip {
        assert!(!reason.trim().is_empty(), "skipping `{name}` needs a reason");
        assert!(
            action.runs.steps.iter().any(|s| s.uses.is_some() && s.label() == *name),
            "the skip table names `{name}`, which is no `uses:` step of the action"
        );
    }
}

fn resolve_inputs(action: &ActionFile, github: &Value, opts: &Options) -> Value {
    for (name, _) in opts.inputs {
        assert!(action.inputs.contains_key(*name), "the action has no input `{name}`");
    }
    let ctx = Value::object([("github", github.clone())]);
    let eval = Eval {
        context: &ctx,
        status: Status::default(),
    };
    Value::object(action.inputs.iter().map(|(name, def)| {
        let given = opts.inputs.iter().find(|(n, _)| n == name).map(|(_, v)| v.to_string());
        let value = given.unwrap_or_else(|| {
            let default = def.default.as_ref().map(scalar).unwrap_or_default();
            eval.interpolate(&default)
                .unwrap_or_else(|e| panic!("input {name}: {e}"))
        });
        (name.clone(), Value::str(value))
    }))
}

struct State {
    env: BTreeMap<String, String>,
    added_path: Vec<String>,
    steps: BTreeMap<String, Value>,
    status: Status,
    summary: String,
}

impl State {
    fn context(&self, inputs: &Value, github: &Value, runner: &Value) -> Value {
        Value::object([
            ("inputs", inputs.clone()),
            ("github", github.clone()),
            ("runner", runner.clone()),
            (
                "env",
                Value::object(self.env.iter().map(|(k, v)| (k, Value::str(v.clone())))),
            ),
            ("steps", Value::Object(self.steps.clone())),
        ])
    }
}

fn run_step(
    index: usize,
    step: &StepDef,
    ctx: &Value,
    state: &mut State,
    job: &Job,
    action_dir: &Path,
    opts: &Options,
) -> StepResult {
    let label = step.label();
    let eval = Eval {
        context: ctx,
        status: state.status,
    };
    let cond = step.cond.as_ref().map(scalar);
    let go = eval
        .condition(cond.as_deref())
        .unwrap_or_else(|e| panic!("step `{label}` if: {e}"));
    let interpolate_map = |m: &BTreeMap<String, serde_norway::Value>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| {
                let v = eval
                    .interpolate(&scalar(v))
                    .unwrap_or_else(|e| panic!("step `{label}` {k}: {e}"));
                (k.clone(), v)
            })
            .collect()
    };
    let mut result = StepResult {
        label: label.clone(),
        ran: Ran::Skipped,
        env: BTreeMap::new(),
        with: BTreeMap::new(),
        outputs: BTreeMap::new(),
        stdout: String::new(),
        stderr: String::new(),
    };
    if !go {
        return result;
    }
    result.env = interpolate_map(&step.env);
    result.with = interpolate_map(&step.with);
    if step.uses.is_some() {
        let reason = opts.skip.iter().find(|(n, _)| *n == label).map(|(_, r)| r.to_string());
        result.ran = Ran::NotRun(reason.unwrap_or_default());
        return result;
    }
    let script = step
        .run
        .as_deref()
        .unwrap_or_else(|| panic!("step `{label}` has neither `run:` nor `uses:`"));
    let script = eval
        .interpolate(script)
        .unwrap_or_else(|e| panic!("step `{label}` run: {e}"));
    let shell = step
        .shell
        .as_deref()
        .unwrap_or_else(|| panic!("step `{label}`: a composite action's run step needs `shell:`"));
    let dir = job.temp.join(format!("step-{index}"));
    std::fs::create_dir_all(&dir).unwrap();
    let files = ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"].map(|f| (f, dir.join(f)));
    for (_, f) in &files {
        std::fs::write(f, "").unwrap();
    }
    let script_path = dir.join("script.sh");
    std::fs::write(&script_path, script).unwrap();
    let mut cmd = match shell {
        "bash" => {
            let mut c = Command::new("bash");
            c.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&script_path);
            c
        }
        "sh" => {
            let mut c = Command::new("sh");
            c.arg("-e").arg(&script_path);
            c
        }
        other => panic!("step `{label}`: shell `{other}` is not one this test runs"),
    };
    let mut path: Vec<String> = opts
        .path_for_step
        .iter()
        .filter(|(n, _)| *n == label)
        .map(|(_, p)| p.display().to_string())
        .collect();
    path.extend(state.added_path.iter().rev().cloned());
    path.extend(state.env.get("PATH").cloned());
    cmd.env_clear()
        .envs(&state.env)
        .envs(&result.env)
        .env("PATH", path.join(":"))
        .env("GITHUB_ACTION_PATH", action_dir)
        .envs(files.iter().map(|(k, v)| (*k, v.as_os_str())))
        .current_dir(&job.workspace)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    let code = wait(cmd, opts.step_timeout, &label);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    result.stdout = read("stdout");
    result.stderr = read("stderr");
    result.ran = Ran::Exit(code);
    result.outputs =
        files::read_key_values(&read("GITHUB_OUTPUT")).unwrap_or_else(|e| panic!("step `{label}` GITHUB_OUTPUT: {e}"));
    let env = files::read_key_values(&read("GITHUB_ENV")).unwrap_or_else(|e| panic!("step `{label}` GITHUB_ENV: {e}"));
    state.env.extend(env);
    state.added_path.extend(files::read_paths(&read("GITHUB_PATH")));
    state.summary.push_str(&read("GITHUB_STEP_SUMMARY"));
    result
}

/// Runs `cmd` to its end, or kills it after `timeout` and fails the test.
fn wait(mut cmd: Command, timeout: Duration, label: &str) -> i32 {
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("step `{label}`: {e}"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("step `{label}` ran past {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
