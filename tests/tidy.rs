//! Tidy tests, after rust-analyzer's: the invariants of ARCHITECTURE.md checked by reading the
//! manifests and the sources, so that a change that breaks one fails here with the offending
//! file and line instead of in a review.
//!
//! - Core crates do no IO, no async and read no wall clock: their manifests name none of the
//!   IO crates and none of the edge crates, and their sources (tests included: a core test
//!   reads files with `include_str!`, never at run time) use no `std::fs`, `std::net`,
//!   threads, processes or clocks.
//! - No import circle between the modules of `orderly-world` or of `orderly-api`.
//! - The alert engine (`orderly-world/src/alerts*`) imports no capability: capabilities reach
//!   it through typed messages and fact providers, never the other way round.
//! - Nothing chooses a rule by searching its text or its id.
//! - No component of the world is marked changed only to be looked at (`as_deref_mut()`
//!   before a filter).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The crates that may do no IO.
const CORE: &[&str] = &[
    "orderly-model",
    "orderly-floorplan",
    "orderly-rules",
    "orderly-world",
    "orderly-sim",
    "orderly-contract",
    "orderly-hl7",
];

/// What a core crate may not depend on: IO, async, networking, databases, and the edge crates.
const NOT_IN_CORE: &[&str] = &[
    "tokio",
    "tokio-stream",
    "futures-util",
    "sqlx",
    "rumqttc",
    "rumqttd",
    "axum",
    "tower",
    "tower-http",
    "ureq",
    "notify",
    "tracing-subscriber",
    "orderly-mqtt",
    "orderly-store",
    "orderly-api",
    "orderly-mllp",
    "orderly-outbound",
    "orderly",
];

/// What core sources may not name (IO, threads, processes, the wall clock).
const NOT_IN_CORE_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "std::env",
    "SystemTime",
    "Instant::now",
    "Utc::now",
    "Local::now",
    "tokio::",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Lines of code without their `//` comments, numbered from 1.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| {
        let code = match l.find("//") {
            Some(c) => &l[..c],
            None => l,
        };
        (i + 1, code)
    })
}

fn rel(p: &Path) -> String {
    p.strip_prefix(workspace())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn core_crates_depend_on_no_io_crate() {
    let mut bad = Vec::new();
    for krate in CORE {
        let manifest = workspace().join("crates").join(krate).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let doc: toml::Table = text.parse().unwrap();
        // Dev-dependencies may be anything: tests may read files; the crate itself may not.
        for section in ["dependencies", "build-dependencies"] {
            let Some(deps) = doc.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for name in deps.keys() {
                if NOT_IN_CORE.contains(&name.as_str()) {
                    let line = text
                        .lines()
                        .position(|l| l.trim_start().starts_with(name.as_str()))
                        .map_or(0, |i| i + 1);
                    bad.push(format!(
                        "{}:{line}: core crate {krate} depends on {name} (fix: do the IO in an edge crate or the binary and hand the core a value)",
                        rel(&manifest)
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn core_sources_do_no_io_and_read_no_clock() {
    let mut bad = Vec::new();
    let mut seen = 0;
    for krate in CORE {
        for file in rust_files(&workspace().join("crates").join(krate).join("src")) {
            seen += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, code) in code_lines(&text) {
                for word in NOT_IN_CORE_SOURCE {
                    if code.contains(word) {
                        bad.push(format!(
                            "{}:{n}: `{word}` in a core crate (fix: take the value or the time as a parameter; IO belongs to an edge crate or the binary)\n    {}",
                            rel(&file),
                            code.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(seen > 20, "found only {seen} core source files");
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

/// The top-level module of a crate a source file belongs to (`src/alerts/facts.rs` -> `alerts`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Which of the crate's top-level modules each module names through `crate::` (uses and paths).
fn module_graph(krate: &str) -> BTreeMap<String, BTreeMap<String, (PathBuf, usize)>> {
    let src = workspace().join("crates").join(krate).join("src");
    let files = rust_files(&src);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, (PathBuf, usize)>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        // Tests may reach anything.
        if from == "tests" || file.ends_with("tests.rs") {
            continue;
        }
        graph.entry(from.clone()).or_default();
        let text = std::fs::read_to_string(file).unwrap();
        let mut in_tests = false;
        for (n, code) in code_lines(&text) {
            if code.contains("#[cfg(test)]") {
                in_tests = true;
            }
            if in_tests {
                continue;
            }
            let mut names = Vec::new();
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
                // `use crate::{a, b::C}`
                if rest.starts_with('{') {
                    let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
                    for part in inner.split(',') {
                        names.push(
                            part.trim()
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect(),
                        );
                    }
                }
            }
            for name in names {
                if modules.contains(&name) && name != from && name != "lib" {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .entry(name)
                        .or_insert((file.clone(), n));
                }
            }
        }
    }
    graph
}

/// Every import circle, as the list of modules around it with where each edge is.
fn circles(graph: &BTreeMap<String, BTreeMap<String, (PathBuf, usize)>>) -> Vec<String> {
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, (PathBuf, usize)>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(edges) = s.graph.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
        .into_iter()
        .map(|mut comp| {
            comp.sort_unstable();
            let set: BTreeSet<&str> = comp.iter().copied().collect();
            let edges: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    graph[*a]
                        .iter()
                        .filter(|(b, _)| set.contains(b.as_str()))
                        .map(move |(b, (f, n))| format!("    {a} -> {b} ({}:{n})", rel(f)))
                })
                .collect();
            format!("circle of {}:\n{}", comp.join(", "), edges.join("\n"))
        })
        .collect()
}

#[test]
fn no_import_circle_inside_the_world_or_the_api() {
    let mut bad = Vec::new();
    for krate in ["orderly-world", "orderly-api"] {
        let g = module_graph(krate);
        assert!(g.len() > 3, "{krate}: found only {} modules", g.len());
        for c in circles(&g) {
            bad.push(format!("{krate}: {c}"));
        }
    }
    assert!(
        bad.is_empty(),
        "\n{}\n(fix: move what both sides need into a module of its own that imports neither)",
        bad.join("\n")
    );
}

/// The world's modules that are infrastructure, not capabilities: the alert engine may use them.
const ENGINE_MAY_USE: &[&str] = &["outbox", "registry", "facts", "clock", "command"];

#[test]
fn the_alert_engine_imports_no_capability() {
    let g = module_graph("orderly-world");
    let alerts = g.get("alerts").expect("orderly-world has an alerts module");
    let bad: Vec<String> = alerts
        .iter()
        .filter(|(m, _)| !ENGINE_MAY_USE.contains(&m.as_str()))
        .map(|(m, (f, n))| {
            format!(
                "{}:{n}: the alert engine imports the capability `{m}` (fix: let `{m}` send the engine a typed message or provide its facts)",
                rel(f)
            )
        })
        .collect();
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn no_rule_is_chosen_by_searching_its_text_or_id() {
    // A rule's dependencies come from its checked expression (`Rule::reads`), never its text.
    let patterns = [
        ".source.contains(",
        "rule.contains(",
        ".rule.starts_with(",
        ".rule.ends_with(",
        "rule.id.contains(",
        "r.id.contains(",
        "when.source.",
    ];
    let mut bad = Vec::new();
    // Tests may pick out the alerts of a rule they name; the code may not.
    for file in rust_files(&workspace().join("crates")) {
        if file.ends_with("tests.rs") || file.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_tests = false;
        for (n, code) in code_lines(&text) {
            in_tests |= code.contains("#[cfg(test)]");
            if in_tests {
                continue;
            }
            for p in patterns {
                if code.contains(p) {
                    bad.push(format!(
                        "{}:{n}: a rule chosen by its text (`{p}`) (fix: ask the rule which facts it reads: `Rule::reads`)\n    {}",
                        rel(&file),
                        code.trim()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

/// A component is looked at before it is written: in bevy, `as_deref_mut()` on an `Option<Mut<_>>`
/// marks the component changed whether or not anything is written after it, so a filter on it
/// wakes every system that watches for changes (this kept every heard tag's `Location` changed
/// at every step).
#[test]
fn no_component_is_marked_changed_to_look_at_it() {
    let mut bad = Vec::new();
    for file in rust_files(&workspace().join("crates/orderly-world/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut at = 0;
        while let Some(i) = text[at..].find("as_deref_mut()") {
            let end = at + i + "as_deref_mut()".len();
            let next = text[end..].trim_start();
            for look in [".filter(", ".is_some_and(", ".is_none_or(", ".map_or("] {
                if next.starts_with(look) {
                    let n = text[..end].lines().count();
                    bad.push(format!(
                        "{}:{n}: `as_deref_mut(){look}` marks the component changed before looking at it (fix: `.as_mut(){look}...)` and `&mut **` only for the one written, or `as_deref()` to look)",
                        rel(&file)
                    ));
                }
            }
            at = end;
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

/// The pages' scripts parse as ES modules (one stray parenthesis blanks every page), checked
/// with Node when it is installed (CI without Node skips, with a note).
#[test]
fn the_pages_scripts_parse() {
    let dir = workspace().join("crates/orderly-api/pages");
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: node is not installed; the pages' scripts were not parsed");
        return;
    }
    let mut bad = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    files.sort();
    for f in files {
        let out = std::process::Command::new("node")
            .args(["--check", "--input-type=module"])
            .stdin(std::fs::File::open(&f).unwrap())
            .output()
            .unwrap();
        if !out.status.success() {
            bad.push(format!(
                "{}: does not parse:\n{}",
                rel(&f),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}
