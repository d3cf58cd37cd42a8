//! The copyable workflows in workflows/ (what users copy, with
//! `uses: org/loadcheck@v1`): every input they give the action is one it
//! has, and staging-deploy.yml fits examples/staging-deploy.toml (its
//! permissions, its timeout, the deploy workflow it names). The linters in
//! .ci/run check their schema and their security (check-jsonschema, zizmor).

mod action_runner;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_norway::Value as Yaml;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workflow(name: &str) -> Yaml {
    let path = root().join("workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workflow_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

fn inputs_of(action: &str) -> BTreeSet<String> {
    action_runner::load(&root().join(action)).inputs.into_keys().collect()
}

/// Every step of every job, with its job's name.
fn steps(wf: &Yaml) -> Vec<(String, &Yaml)> {
    let mut out = Vec::new();
    for (job, def) in wf["jobs"].as_mapping().expect("jobs") {
        for step in def["steps"].as_sequence().expect("steps") {
            out.push((job.as_str().unwrap().to_string(), step));
        }
    }
    out
}

#[test]
fn every_input_the_workflows_give_the_actions_is_one_they_have() {
    let main = inputs_of("action.yml");
    let install = inputs_of("install/action.yml");
    let mut uses_of_the_action = 0;
    for name in workflow_files() {
        let wf = workflow(&name);
        for (job, step) in steps(&wf) {
            let Some(uses) = step["uses"].as_str() else { continue };
            let known = match uses.split('@').next().unwrap() {
                "org/loadcheck" => &main,
                "org/loadcheck/install" => &install,
                _ => continue,
            };
            uses_of_the_action += 1;
            assert!(
                uses.ends_with("@v1"),
                "{name}, job {job}: users are shown `@v1`, not `{uses}`"
            );
            if let Some(with) = step["with"].as_mapping() {
                for key in with.keys() {
                    let key = key.as_str().unwrap();
                    assert!(known.contains(key), "{name}, job {job}: `{uses}` has no input `{key}`");
                }
            }
        }
    }
    assert!(
        uses_of_the_action >= 7,
        "the workflows use the action {uses_of_the_action} times"
    );
}

#[test]
fn every_job_has_a_timeout_and_its_own_permissions() {
    for name in workflow_files() {
        let wf = workflow(&name);
        assert!(wf["permissions"].is_mapping(), "{name}: no workflow-level permissions");
        for (job, def) in wf["jobs"].as_mapping().unwrap() {
            let job = job.as_str().unwrap();
            assert!(def["timeout-minutes"].is_u64(), "{name}, job {job}: no timeout-minutes");
            assert!(
                def["permissions"].is_mapping() || wf["permissions"].as_mapping().is_some_and(|m| !m.is_empty()),
                "{name}, job {job}: no permissions"
            );
        }
    }
}

/// Minutes in a plan duration such as "2m" or "90s".
fn minutes(d: &str) -> f64 {
    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap());
    let n: f64 = n.parse().unwrap();
    match unit {
        "s" => n / 60.0,
        "m" => n,
        "h" => n * 60.0,
        other => panic!("unit {other}"),
    }
}

#[test]
fn staging_deploy_fits_its_plan() {
    let wf = workflow("staging-deploy.yml");
    let text = std::fs::read_to_string(root().join("workflows/staging-deploy.yml")).unwrap();
    let plan: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("examples/staging-deploy.toml")).unwrap()).unwrap();
    let (job, step) = steps(&wf)
        .into_iter()
        .find(|(_, s)| s["uses"].as_str() == Some("org/loadcheck@v1"))
        .expect("a step that uses the action");
    let def = &wf["jobs"][job.as_str()];

    // The plan, copied into the user's repository under the same name.
    assert_eq!(step["with"]["plan"].as_str(), Some("loadcheck/staging-deploy.toml"));
    assert!(
        text.contains("examples/staging-deploy.toml"),
        "says where the plan comes from"
    );
    let args = step["with"]["args"].as_str().unwrap_or("");
    assert!(
        !args.contains("--duration"),
        "the plan's 15 minutes, not an override: {args}"
    );

    // 2-minute head, 15 minutes in all: head + the rollout's timeout + tail.
    let rollout = &plan["rollout"];
    let head = minutes(rollout["head"].as_str().unwrap());
    let total = head + minutes(rollout["timeout"].as_str().unwrap()) + minutes(rollout["tail"].as_str().unwrap());
    let scenario = minutes(plan["scenario"][0]["duration"].as_str().unwrap());
    assert_eq!((head, scenario), (2.0, 15.0));
    assert!(total <= scenario, "the rollout fits in the load: {total} min");
    let timeout = def["timeout-minutes"].as_u64().unwrap() as f64;
    assert!(
        timeout >= scenario + 5.0,
        "the job's {timeout} min leaves room for the install and the upload"
    );
    assert!(
        text.contains("2-minute head") && text.contains("15 minutes"),
        "the header says so"
    );

    // The plan dispatches the deploy workflow: the job may, and says which.
    let trigger = &rollout["trigger"]["github_workflow"];
    let deploy = trigger["workflow"].as_str().expect("a github_workflow trigger");
    assert_eq!(def["permissions"]["actions"].as_str(), Some("write"));
    assert!(text.contains(deploy), "names {deploy}");

    // A passing run joins the history in the branch a PR reads.
    assert_eq!(def["permissions"]["contents"].as_str(), Some("write"));
    assert!(text.contains("--store git:loadcheck-baselines"));
    assert!(text.contains("git show origin/loadcheck-baselines:baselines/staging-deploy.json"));
    assert!(
        wf["concurrency"]["cancel-in-progress"].as_bool() == Some(false),
        "a deploy is never cancelled"
    );
}
