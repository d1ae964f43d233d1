//! The server's layering, checked on its source: HTTP (axum) → service (the rules) → store
//! (traits; sled behind them) and live (in-memory registries). Fails when a rule module names
//! axum or sled, when service/, store/, live/ or the records reach up into the HTTP layer,
//! when store/ or live/ reach up into the rules, or when modules import each other in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as paths relative to `src/` with `/` separators.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// A file's code without its comments (so a doc comment may mention a layer by name).
fn code(file: &str) -> String {
    let text = std::fs::read_to_string(src().join(file)).unwrap();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `text` contains `word` as a whole identifier (case-sensitive).
fn names(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn the_rules_name_neither_axum_nor_sled() {
    let rules = files(&src().join("service"));
    assert!(rules.len() >= 10, "the service layer went missing: {rules:?}");
    for file in rules {
        let text = std::fs::read_to_string(src().join(&file)).unwrap().to_lowercase();
        for word in ["axum", "sled", "hyper", "tower"] {
            assert!(!names(&text, word), "{file} names {word}: the rules must not know HTTP or the storage engine");
        }
    }
}

#[test]
fn lower_layers_do_not_reach_up() {
    let below_http: Vec<String> = ["service", "store", "live"]
        .iter()
        .flat_map(|d| files(&src().join(d)))
        .chain(["model.rs".to_owned(), "nonces.rs".to_owned(), "audit.rs".to_owned()])
        .collect();
    for file in &below_http {
        let text = code(file);
        assert!(!text.contains("crate::http"), "{file} uses the HTTP layer");
        assert!(!names(&text, "axum"), "{file} names axum");
    }
    let below_service: Vec<String> = ["store", "live"]
        .iter()
        .flat_map(|d| files(&src().join(d)))
        .chain(["model.rs".to_owned(), "nonces.rs".to_owned()])
        .collect();
    for file in &below_service {
        let text = code(file);
        for rules in ["crate::service", "crate::app", "crate::challenges", "crate::enrollments", "crate::phone"] {
            assert!(!text.contains(rules), "{file} uses the rules ({rules})");
        }
    }
}

/// The module (file) a `crate::a::b::…` path lands in.
fn target(path: &[&str]) -> Option<String> {
    for n in (1..=path.len()).rev() {
        let stem = path[..n].join("/");
        for candidate in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if src().join(&candidate).is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Module → modules it refers to (by `crate::` and `super::` paths in code), without the
/// parent `mod.rs` re-export hubs and the crate root.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for file in files(&src()) {
        if file == "lib.rs" || file == "main.rs" {
            continue;
        }
        let text = code(&file);
        let dir = file.rsplit_once('/').map(|(d, _)| d.to_owned()).unwrap_or_default();
        let mut edges = BTreeSet::new();
        for (prefix, base) in [("crate::", String::new()), ("super::", dir.clone())] {
            for (i, _) in text.match_indices(prefix) {
                if prefix == "super::" && file.ends_with("mod.rs") {
                    continue;
                }
                let rest: String = text[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let mut path: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
                path.extend(rest.split("::").filter(|s| !s.is_empty()));
                // `use crate::service::{a, b}` lists its modules in braces.
                let braces = &text[i + prefix.len() + rest.len()..];
                if braces.starts_with('{') {
                    let inner = &braces[1..braces.find('}').unwrap_or(1)];
                    for item in inner.split(',') {
                        let item = item.trim().split("::").next().unwrap_or("").trim();
                        let mut p = path.clone();
                        p.push(item);
                        if let Some(t) = target(&p) {
                            edges.insert(t);
                        }
                    }
                }
                if let Some(t) = target(&path) {
                    edges.insert(t);
                }
            }
        }
        edges.retain(|t| t != &file && !t.ends_with("mod.rs"));
        graph.insert(file, edges);
    }
    graph
}

#[test]
fn no_module_imports_another_in_a_circle() {
    let graph = graph();
    assert!(graph.get("service/phone.rs").is_some_and(|e| e.contains("service/pin.rs")), "the scan finds no edges");
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_pin_failure_policy_exists_once() {
    // Only service/pin.rs moves a device's PIN-failure count or blocks it.
    for file in files(&src()) {
        let text = code(&file);
        let writes = ["pin_failures = ", "pin_failures += ", "blocked = true", ".blocked = record"];
        if file == "service/pin.rs" {
            assert!(writes.iter().any(|w| text.contains(w)), "the policy left service/pin.rs");
            continue;
        }
        for w in writes {
            // An administrator's unblock sets the count to 0 and is not the policy.
            let allowed = file == "service/admin.rs" && (w == "pin_failures = ");
            assert!(allowed || !text.contains(w), "{file} writes the PIN-failure state ({w:?}) outside service/pin.rs");
        }
    }
}
