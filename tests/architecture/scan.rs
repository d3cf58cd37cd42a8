//! Reads the module paths in Rust sources and checks them against a table
//! of layers: an import goes only to a lower layer (or within its own
//! module), and no files import each other in a loop.
//!
//! This is a reader of Rust's paths, not a compiler: it tokenizes each file
//! (skipping comments, strings and character literals), finds every path
//! that starts at `crate`, `super`, `self` or a module the file declares,
//! in `use` lines and inline, expands `{…}` groups, and follows a module's
//! `pub use` re-exports to the file that defines the item.

use std::collections::{BTreeMap, BTreeSet};

/// One source file: its path (for messages) and its module path.
pub struct Source {
    pub file: String,
    pub module: Vec<String>,
    pub text: String,
}

/// The paths of one file, and the child files it declares test-only
/// (`#[cfg(test)] mod x;`).
struct Scanned {
    found: Vec<Found>,
    test_children: BTreeSet<String>,
    /// Names the file uses outside `use` statements and `mod` declarations.
    used: BTreeSet<String>,
}

/// The layers, bottom up: each entry is a module path (`sink`,
/// `demo::service`) and its layer's number.
pub struct Layers {
    entries: Vec<(Vec<String>, u32)>,
}

impl Layers {
    /// Reads the table of `docs/architecture.md`: rows `| N | `a`, `b::c` | … |`.
    pub fn from_markdown(md: &str) -> Layers {
        let mut entries = Vec::new();
        for line in md.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 || !cells[0].is_empty() {
                continue;
            }
            let Ok(layer) = cells[1].parse::<u32>() else { continue };
            for name in cells[2].split('`').skip(1).step_by(2) {
                entries.push((name.split("::").map(String::from).collect(), layer));
            }
        }
        Layers { entries }
    }

    /// The table entry a module belongs to: the longest one that is a prefix
    /// of it (the crate root, `lib`, is the entry named `lib`).
    fn unit(&self, module: &[String]) -> Option<(&[String], u32)> {
        let root = ["lib".to_string()];
        let module = if module.is_empty() { &root[..] } else { module };
        self.entries
            .iter()
            .filter(|(prefix, _)| module.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(prefix, layer)| (prefix.as_slice(), *layer))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A path found in a file.
#[derive(Debug, Clone)]
struct Found {
    line: usize,
    /// Absolute segments, from the crate root.
    path: Vec<String>,
    /// As written, for messages.
    written: String,
    /// In a `pub use` (a re-export).
    reexport: bool,
    /// In test-only code: a `#[cfg(test)]` module, inline or a file.
    test: bool,
}

/// An import from one file to another.
#[derive(Debug, Clone)]
struct Edge {
    from: usize,
    to: usize,
    line: usize,
    written: String,
    reexport: bool,
    test: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Punct(char),
}

/// Splits source into identifiers, `::` and single punctuation, with line
/// numbers; comments, strings and character literals are dropped.
fn tokenize(text: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let skip_string = |i: &mut usize, line: &mut usize, hashes: usize| {
        // At the opening quote.
        *i += 1;
        while *i < b.len() {
            match b[*i] {
                '\n' => *line += 1,
                '\\' if hashes == 0 => *i += 1,
                '"' if (0..hashes).all(|k| b.get(*i + 1 + k) == Some(&'#')) => {
                    *i += 1 + hashes;
                    return;
                }
                _ => {}
            }
            *i += 1;
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            skip_string(&mut i, &mut line, 0);
        } else if (c == 'r' || c == 'b') && raw_string_start(&b, i).is_some() {
            let (quote, hashes) = raw_string_start(&b, i).unwrap();
            i = quote;
            skip_string(&mut i, &mut line, hashes);
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1F600}') or a lifetime.
            if b.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let mut word: String = b[start..i].iter().collect();
            if word == "r" && b.get(i) == Some(&'#') {
                // A raw identifier, r#type.
                let s = i + 1;
                i = s;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                word = b[s..i].iter().collect();
            }
            out.push((Tok::Ident(word), line));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// At `r"`, `r#"`, `br"`, `b"`…: the index of the quote and the number of
/// `#`s.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == 'b' {
        j += 1;
        if b.get(j) == Some(&'"') {
            return Some((j, 0));
        }
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some((j, hashes))
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// Reads one use tree (or an inline path) at `i`: returns the full paths it
/// names, each as written segments (`{…}` groups expanded, `self` in a group
/// naming the group's prefix, `as` dropped), and the index after it.
fn read_tree(toks: &[(Tok, usize)], mut i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Ident(s)) if s == "self" && !prefix.is_empty() && path.len() == prefix.len() => {
                i += 1;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                i += 1;
            }
            Some(Tok::Punct('*')) => {
                i += 1;
                break;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        None => return i,
                        Some(Tok::Punct('}')) => return i + 1,
                        Some(Tok::Punct(',')) => i += 1,
                        _ => {
                            let next = read_tree(toks, i, &path, out);
                            i = if next == i { i + 1 } else { next };
                        }
                    }
                }
            }
            _ => break,
        }
        if toks.get(i).map(|t| &t.0) == Some(&Tok::Path) {
            i += 1;
        } else {
            break;
        }
    }
    if ident(toks.get(i)) == Some("as") {
        i += 2;
    }
    if path.len() > prefix.len() || !prefix.is_empty() {
        out.push(path);
    }
    i
}

/// Every path in one file that starts at the crate, `super`, `self` or a
/// child module the file declares, made absolute.
fn find_paths(src: &Source) -> Scanned {
    let toks = tokenize(&src.text);
    // Modules the file declares (`mod x;`), and inline modules (`mod x {`),
    // which change what `super` and `self` mean inside them.
    let declared: BTreeSet<String> = toks
        .windows(2)
        .filter(|w| ident(Some(&w[0])) == Some("mod"))
        .filter_map(|w| ident(Some(&w[1])).map(String::from))
        .collect();
    let mut found = Vec::new();
    let mut test_children = BTreeSet::new();
    // Inline modules entered: name, brace depth, test-only.
    let mut scope: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    // Just after `#[cfg(test)]`.
    let mut cfg_test = false;
    let mut i = 0;
    while i < toks.len() {
        if is_cfg_test(&toks, i) {
            cfg_test = true;
            i += 7;
            continue;
        }
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if scope.last().is_some_and(|(_, d, _)| *d == depth) {
                    scope.pop();
                }
            }
            Tok::Ident(m) if m == "mod" => {
                let test = cfg_test || scope.iter().any(|(_, _, t)| *t);
                cfg_test = false;
                match (ident(toks.get(i + 1)), toks.get(i + 2).map(|t| &t.0)) {
                    (Some(name), Some(Tok::Punct('{'))) => {
                        scope.push((name.to_string(), depth, test));
                        depth += 1;
                        i += 3;
                        continue;
                    }
                    (Some(name), Some(Tok::Punct(';'))) if test => {
                        test_children.insert(name.to_string());
                    }
                    _ => {}
                }
            }
            Tok::Ident(p) if p == "pub" => {}
            Tok::Punct('#') => {}
            _ => cfg_test = false,
        }
        let after_path = i > 0 && toks[i - 1].0 == Tok::Path;
        let in_use = ident(toks.get(i.wrapping_sub(1))) == Some("use");
        let first = ident(toks.get(i));
        let starts = match first {
            Some("crate" | "super" | "self") => toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path),
            Some(name) => declared.contains(name) && (in_use || toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path)),
            None => false,
        };
        if after_path || !starts || (first == Some("self") && !in_use && i > 0 && toks[i - 1].0 == Tok::Punct('.')) {
            i += 1;
            continue;
        }
        let reexport = in_use && is_pub(&toks, i - 1);
        let mut here: Vec<String> = src.module.clone();
        here.extend(scope.iter().map(|(n, _, _)| n.clone()));
        let test = scope.iter().any(|(_, _, t)| *t);
        let line = toks[i].1;
        let mut paths = Vec::new();
        let next = read_tree(&toks, i, &[], &mut paths);
        for written in paths {
            if let Some(path) = absolute(&here, &written) {
                found.push(Found {
                    line,
                    path,
                    written: written.join("::"),
                    reexport,
                    test,
                });
            }
        }
        i = next.max(i + 1);
    }
    Scanned {
        found,
        test_children,
        used: used_names(&toks),
    }
}

/// The names a file uses outside `use` statements and `mod` declarations.
fn used_names(toks: &[(Tok, usize)]) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut in_use = false;
    for (k, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Ident(w) if w == "use" => in_use = true,
            Tok::Punct(';') => in_use = false,
            Tok::Ident(name) if !in_use && ident(toks.get(k.wrapping_sub(1))) != Some("mod") => {
                used.insert(name.clone());
            }
            _ => {}
        }
    }
    used
}

/// Whether `#[cfg(test)]` starts at `i`.
fn is_cfg_test(toks: &[(Tok, usize)], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()].iter().zip(&want).all(|(t, w)| t.0 == *w)
}

/// Whether the `use` at `i` is `pub`, `pub(crate)` or `pub(super)`.
fn is_pub(toks: &[(Tok, usize)], i: usize) -> bool {
    if i >= 1 && ident(toks.get(i - 1)) == Some("pub") {
        return true;
    }
    i >= 4 && toks[i - 1].0 == Tok::Punct(')') && ident(toks.get(i - 4)) == Some("pub")
}

/// A written path from module `here`, as segments from the crate root.
fn absolute(here: &[String], written: &[String]) -> Option<Vec<String>> {
    let mut base = here.to_vec();
    let mut rest = written;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The checker's findings: each names the file, the line and the import.
pub fn check(sources: &[Source], layers: &Layers) -> Vec<String> {
    let by_module: BTreeMap<&[String], usize> = sources
        .iter()
        .enumerate()
        .map(|(n, s)| (s.module.as_slice(), n))
        .collect();
    let scanned: Vec<Scanned> = sources.iter().map(find_paths).collect();
    // A file its parent declares `#[cfg(test)] mod x;` is test-only.
    let test_files: BTreeSet<Vec<String>> = sources
        .iter()
        .zip(&scanned)
        .flat_map(|(s, sc)| {
            sc.test_children.iter().map(|c| {
                let mut m = s.module.clone();
                m.push(c.clone());
                m
            })
        })
        .collect();
    // A name a file re-exports and also uses in its own code is an import
    // of the file's too, not only its public face.
    let used: Vec<BTreeSet<String>> = scanned.iter().map(|sc| sc.used.clone()).collect();
    let found: Vec<Vec<Found>> = sources
        .iter()
        .zip(scanned)
        .map(|(s, sc)| {
            let whole = test_files.iter().any(|t| s.module.starts_with(t));
            sc.found
                .into_iter()
                .map(|f| Found {
                    test: f.test || whole,
                    ..f
                })
                .collect()
        })
        .collect();
    // Re-exports: (module, name) → the path it stands for.
    let mut reexports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (n, paths) in found.iter().enumerate() {
        for f in paths.iter().filter(|f| f.reexport) {
            if let Some(name) = f.path.last() {
                reexports.insert((sources[n].module.clone(), name.clone()), f.path.clone());
            }
        }
    }
    let resolve = |path: &[String]| -> Option<usize> {
        let mut path = path.to_vec();
        for _ in 0..8 {
            let mut module: Vec<String> = Vec::new();
            let mut file = by_module.get(&[][..]).copied();
            for seg in &path {
                module.push(seg.clone());
                match by_module.get(module.as_slice()) {
                    Some(&f) => file = Some(f),
                    None => {
                        module.pop();
                        break;
                    }
                }
            }
            let item = path.get(module.len());
            match item.and_then(|name| reexports.get(&(module.clone(), name.clone()))) {
                Some(target) if *target != path => path = target.clone(),
                _ => return file,
            }
        }
        None
    };
    let mut edges = Vec::new();
    for (n, paths) in found.iter().enumerate() {
        for f in paths {
            let used_here = f.path.last().is_some_and(|name| used[n].contains(name));
            if let Some(to) = resolve(&f.path)
                && to != n
            {
                edges.push(Edge {
                    from: n,
                    to,
                    line: f.line,
                    written: f.written.clone(),
                    reexport: f.reexport && !used_here,
                    test: f.test,
                });
            }
        }
    }
    let mut problems = Vec::new();
    for s in sources {
        if layers.unit(&s.module).is_none() {
            problems.push(format!("{}: module `{}` has no layer", s.file, display(&s.module)));
        }
    }
    for e in &edges {
        let (a, b) = (&sources[e.from], &sources[e.to]);
        let (Some((ua, la)), Some((ub, lb))) = (layers.unit(&a.module), layers.unit(&b.module)) else {
            continue;
        };
        if lb > la || (lb == la && ua != ub) {
            let how = if lb > la {
                "a higher layer"
            } else {
                "another module of its own layer"
            };
            problems.push(format!(
                "{}:{}: `{}` imports from {} ({}, layer {lb}; this file is {}, layer {la}); a module imports only from layers below it",
                a.file,
                e.line,
                e.written,
                how,
                display(ub),
                display(ua)
            ));
        }
    }
    problems.extend(cycles(sources, &edges));
    problems
}

/// Files that import each other in a loop, in the code that ships: a unit
/// test may reach its module through the module's front door. A module's
/// re-export of its own child (`pub use child::Item` in `mod.rs`) is its
/// public face, not a use: importers are followed through it to the child.
fn cycles(sources: &[Source], edges: &[Edge]) -> Vec<String> {
    let n = sources.len();
    let mut adj: Vec<Vec<&Edge>> = vec![Vec::new(); n];
    for e in edges {
        let facade = e.reexport && sources[e.to].module.starts_with(&sources[e.from].module);
        if !facade && !e.test {
            adj[e.from].push(e);
        }
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        adj: &'a [Vec<&'a Edge>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        comps: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for e in s.adj[v].clone() {
            match s.index[e.to] {
                None => {
                    visit(s, e.to);
                    s.low[v] = s.low[v].min(s.low[e.to]);
                }
                Some(i) if s.on[e.to] => s.low[v] = s.low[v].min(i),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            s.comps.push(comp);
        }
    }
    let mut s = State {
        adj: &adj,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        comps: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    let mut problems = Vec::new();
    for comp in s.comps.iter().filter(|c| c.len() > 1) {
        let members: BTreeSet<usize> = comp.iter().copied().collect();
        let mut files: Vec<&str> = comp.iter().map(|&v| sources[v].file.as_str()).collect();
        files.sort();
        let mut imports: Vec<String> = members
            .iter()
            .flat_map(|&v| adj[v].iter().filter(|e| members.contains(&e.to)))
            .map(|e| format!("{}:{} `{}`", sources[e.from].file, e.line, e.written))
            .collect();
        imports.dedup();
        problems.push(format!(
            "files import each other in a loop: {}; the imports: {}",
            files.join(", "),
            imports.join("; ")
        ));
    }
    problems
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("::")
    }
}
