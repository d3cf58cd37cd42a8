//! Plans that read files: `[vars]` and bodies next to the plan, the
//! examples in `examples/`, and the JSON Schema in `schema/`.

use std::path::{Path, PathBuf};

use loadcheck::plan::{Body, Overrides, Var, load};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}

#[test]
fn load_reads_files_next_to_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("words.txt"), "alpha\n\n beta \n").unwrap();
    std::fs::write(dir.path().join("order.json"), "{\"fixed\": true}").unwrap();
    std::fs::write(
        dir.path().join("tpl.json"),
        "{\"id\": \"{{uuid}}\", \"w\": \"{{word}}\"}",
    )
    .unwrap();
    let plan_text = r#"
target = "http://127.0.0.1:1"
[vars]
word = { file = "words.txt" }
[[endpoint]]
name = "fixed"
method = "post"
path = "https://other.example:8443/hook?x={{word}}"
body = { file = "order.json" }
[[endpoint]]
name = "tpl"
method = "PUT"
path = "/t"
headers = { "X-B" = "b", "X-A" = "{{vu}}" }
body = { template_file = "tpl.json" }
[[endpoint]]
name = "inline"
path = "/i"
body = '{"static": 1}'
[load]
executor = "per-vu-iterations"
"#;
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, plan_text).unwrap();
    let plan = load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.name, "plan");
    assert!(matches!(&plan.vars["word"], Var::List(v) if v == &["alpha", "beta"]));
    let fixed = &plan.endpoints[0];
    assert_eq!(fixed.method, http::Method::POST);
    assert_eq!(
        fixed.origin.as_ref().map(|o| (o.host.as_str(), o.port)),
        Some(("other.example", 8443))
    );
    assert_eq!(fixed.path.source, "/hook?x={{word}}");
    assert!(matches!(&fixed.body, Some(Body::Fixed(b)) if &b[..] == b"{\"fixed\": true}"));
    let tpl = &plan.endpoints[1];
    let header_names: Vec<&str> = tpl.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(header_names, ["X-B", "X-A"], "file order");
    assert!(matches!(&tpl.body, Some(Body::Template(t)) if !t.is_static()));
    assert!(matches!(&plan.endpoints[2].body, Some(Body::Fixed(b)) if &b[..] == b"{\"static\": 1}"));

    std::fs::remove_file(dir.path().join("words.txt")).unwrap();
    let e = load(&path, &Overrides::default()).unwrap_err().to_string();
    assert!(e.contains(":4:") && e.contains("field `vars.word.file`"), "{e}");
    let missing = load(&dir.path().join("nope.toml"), &Overrides::default()).unwrap_err();
    assert!(missing.to_string().contains("nope.toml"), "{missing}");
}

#[test]
fn examples_are_valid() {
    // SAFETY: set before any plan in this test reads it; no other test reads
    // or writes this variable, and std serializes environment access.
    unsafe {
        std::env::set_var("WEBHOOK_API_TOKEN", "example-token");
        std::env::set_var("AUTH_TOKEN", "example-token");
        std::env::set_var("DEMO_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }
    let examples = examples();
    for path in &examples {
        load(path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        examples.len() >= 6,
        "demo.toml and one plan per seed, found {}",
        examples.len()
    );
}

#[test]
fn schema_accepts_the_examples_and_rejects_unknown_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schema/plan.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid draft 2020-12 schema");
    for path in examples() {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let json = serde_json::to_value(&doc).unwrap();
        let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for bad in [
        r#"{"scenario": [{"name": "a", "executor": "constant-vus", "executr": "x"}]}"#,
        r#"{"scenario": [{"name": "a", "executor": "constant-vus", "rate": 5}]}"#,
        r#"{"scenario": [{"name": "a", "executor": "constant-vu"}]}"#,
        r#"{"load": {"executor": "constant-vus", "name": "x"}}"#,
        r#"{"load": {"executor": "constant-vus"}, "scenario": [{"name": "a", "executor": "constant-vus"}]}"#,
        r#"{"timeout": "5x"}"#,
        r#"{"vars": {"vu": ["a"]}}"#,
        r#"{"endpoint": [{"name": "a", "path": "x"}]}"#,
    ] {
        let json: serde_json::Value = serde_json::from_str(bad).unwrap();
        assert!(!validator.is_valid(&json), "schema accepted {bad}");
    }
}
