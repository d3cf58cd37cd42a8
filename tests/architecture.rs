//! The layers of `docs/architecture.md`, enforced: every `crate::`,
//! `super::` and `self::` path in `src/` (in `use` lines and inline) goes
//! only to a lower layer or within its own module, and no files import each
//! other in a loop. The layer table is read from the doc itself, so the doc
//! and the code cannot drift apart.

#[path = "architecture/scan.rs"]
mod scan;

use std::path::Path;

use scan::{Layers, Source, check};

/// Every `.rs` file under `src/` except `main.rs` (a crate of its own that
/// only calls `loadcheck::run`), with its module path.
fn sources(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap();
            if rel == Path::new("main.rs") {
                continue;
            }
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            out.push(Source {
                file: format!("src/{}", rel.display()),
                module,
                text: std::fs::read_to_string(&path).unwrap(),
            });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

#[test]
fn imports_follow_the_layers_of_docs_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let layers = Layers::from_markdown(&doc);
    assert!(!layers.is_empty(), "docs/architecture.md has no layer table");
    let sources = sources(&root.join("src"));
    assert!(sources.len() > 50, "found only {} source files", sources.len());
    let problems = check(&sources, &layers);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker on a small fake tree.
mod fake {
    use super::*;

    const LAYERS: &str = "\
| layer | modules | owns |
|---|---|---|
| 1 | `base` | |
| 2 | `mid`, `side` | |
| 3 | `lib` | |
";

    fn src(file: &str, module: &str, text: &str) -> Source {
        Source {
            file: file.into(),
            module: module.split("::").filter(|s| !s.is_empty()).map(String::from).collect(),
            text: text.into(),
        }
    }

    fn run(files: Vec<Source>) -> Vec<String> {
        check(&files, &Layers::from_markdown(LAYERS))
    }

    fn tree(base: &str, mid: &str) -> Vec<Source> {
        vec![
            src(
                "src/lib.rs",
                "",
                "pub mod base;\npub mod mid;\npub mod side;\nuse mid::Thing;\n",
            ),
            src("src/base.rs", "base", base),
            src("src/mid/mod.rs", "mid", mid),
            src("src/mid/a.rs", "mid::a", "pub struct A;\n"),
            src("src/mid/b.rs", "mid::b", "pub struct B;\n"),
            src("src/side.rs", "side", "pub struct S;\n"),
        ]
    }

    #[test]
    fn a_clean_tree_passes() {
        let problems = run(tree(
            "pub struct Base;\n",
            "mod a;\nmod b;\npub use a::A;\nuse crate::base::Base;\npub struct Thing(Base);\n",
        ));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn an_upward_use_fails_naming_file_line_and_path() {
        let problems = run(tree(
            "// a comment: crate::mid::Thing is fine here\nuse crate::mid::Thing;\n",
            "pub struct Thing;\n",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("src/base.rs:2: `crate::mid::Thing`"),
            "{}",
            problems[0]
        );
        assert!(problems[0].contains("a higher layer"), "{}", problems[0]);
    }

    #[test]
    fn an_inline_path_in_a_type_fails() {
        let problems = run(tree(
            "pub struct Base {\n    s: \"crate::mid::x\",\n    t: crate::mid::Thing,\n}\n",
            "pub struct Thing;\n",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("src/base.rs:3: `crate::mid::Thing`"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_grouped_use_is_expanded() {
        let problems = run(tree(
            "use crate::{mid::{self, Thing}, base as _};\n",
            "pub struct Thing;\n",
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.starts_with("src/base.rs:1:")), "{problems:?}");
    }

    #[test]
    fn a_sideways_import_within_a_layer_fails() {
        let mut files = tree("", "pub struct Thing(crate::side::S);\n");
        files[2].text = "pub struct Thing(crate::side::S);\n".into();
        let problems = run(files);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("another module of its own layer"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_super_cycle_between_files_fails() {
        let mut files = tree("", "mod a;\nmod b;\n");
        files[3].text = "use super::b::B;\npub struct A(B);\n".into();
        files[4].text = "pub struct B(Option<Box<super::a::A>>);\n".into();
        let problems = run(files);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("loop"), "{}", problems[0]);
        assert!(problems[0].contains("src/mid/a.rs:1 `super::b::B`"), "{}", problems[0]);
        assert!(problems[0].contains("src/mid/b.rs:1 `super::a::A`"), "{}", problems[0]);
    }

    #[test]
    fn a_reexport_is_followed_to_the_defining_file() {
        // mid re-exports its child a; a uses mid's own Thing: no loop,
        // since the re-export is mid's public face. lib's use of
        // mid::A goes to mid/a.rs.
        let mut files = tree("", "mod a;\npub use a::A;\npub struct Thing;\n");
        files[3].text = "pub struct A(super::Thing);\n".into();
        assert_eq!(run(files), Vec::<String>::new());
        // But mid using a's item in its own code closes a loop.
        let mut files = tree("", "mod a;\nuse self::a::A;\npub struct Thing;\nfn f(_: A) {}\n");
        files[3].text = "pub struct A(super::Thing);\n".into();
        let problems = run(files);
        assert_eq!(problems.len(), 1, "{problems:?}");
        // Likewise a re-export whose name mid's own code uses, even once.
        let mut files = tree("", "mod a;\npub use a::A;\npub struct Thing;\nfn f(_: A) {}\n");
        files[3].text = "pub struct A(super::Thing);\n".into();
        let problems = run(files);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_loop_only_through_test_code_is_allowed_but_test_code_keeps_the_layers() {
        // b's unit test builds through a, which uses b: allowed.
        let mut files = tree("", "mod a;\nmod b;\n");
        files[3].text = "use super::b::B;\npub fn build() -> B { B }\n".into();
        files[4].text = "pub struct B;\n#[cfg(test)]\nmod tests {\n    use super::super::a::build;\n}\n".into();
        assert_eq!(run(files), Vec::<String>::new());
        // A test-only file (`#[cfg(test)] mod testing;`) likewise.
        let mut files = tree("", "mod a;\nmod b;\n#[cfg(test)]\nmod testing;\n");
        files[3].text = "use super::b::B;\npub fn build() -> B { B }\n".into();
        files[4].text = "pub struct B;\n#[cfg(test)]\nmod tests {\n    use super::super::testing::helper;\n}\n".into();
        files.push(src(
            "src/mid/testing.rs",
            "mid::testing",
            "pub fn helper() { super::a::build(); }\n",
        ));
        assert_eq!(run(files), Vec::<String>::new());
        // But a test may not import from a higher layer.
        let problems = run(tree(
            "#[cfg(test)]\nmod tests {\n    use crate::mid::Thing;\n}\n",
            "pub struct Thing;\n",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("a higher layer"), "{}", problems[0]);
    }

    #[test]
    fn a_module_without_a_layer_fails() {
        let mut files = tree("", "");
        files.push(src("src/extra.rs", "extra", ""));
        let problems = run(files);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`extra` has no layer"), "{}", problems[0]);
    }

    #[test]
    fn super_inside_an_inline_test_module_is_the_file_itself() {
        let problems = run(tree(
            "pub struct Base;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::base::Base as B;\n}\n",
            "",
        ));
        assert_eq!(problems, Vec::<String>::new());
    }
}
