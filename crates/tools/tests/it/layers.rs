//! Issue 11: the layers hold. Cargo itself refuses a dependency from a lower crate to a
//! higher one (core <- node <- tools); these tests pin what Cargo cannot see:
//! - `votechain-core` and `votechain-verify` never depend, even transitively, on an I/O
//!   crate (tokio, rdkafka, the AWS SDK, ractor, axum, hyper, reqwest);
//! - the production binary's package does not carry the failpoint crate unless the
//!   `chaos` feature asks for it;
//! - inside every crate, the top-level modules import each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const IO_CRATES: [&str; 8] = [
    "tokio", "rdkafka", "aws-", "ractor", "axum", "hyper", "reqwest", "mio",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The host's target triple, from `rustc -vV`.
fn host() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// `cargo metadata` of the workspace, for `features` of the node (`[]` or `["chaos"]`).
fn metadata(features: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root()).args([
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        &host(),
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Names of every package `name` depends on through normal dependencies, transitively.
fn normal_closure(meta: &serde_json::Value, name: &str) -> BTreeSet<String> {
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve");
    let name_of = |id: &str| {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_string())
    };
    let by_id: BTreeMap<&str, &serde_json::Value> = nodes
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = by_id
        .keys()
        .find(|id| name_of(id).as_deref() == Some(name))
        .copied()
        .expect("package in the workspace");
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(id) = todo.pop() {
        for d in by_id[id]["deps"].as_array().unwrap() {
            let normal = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = d["pkg"].as_str().unwrap();
            if normal && seen.insert(pkg.to_string()) {
                todo.push(by_id[pkg]["id"].as_str().unwrap());
            }
        }
    }
    seen.iter().filter_map(|id| name_of(id)).collect()
}

fn io_crates_in(deps: &BTreeSet<String>) -> Vec<&String> {
    deps.iter()
        .filter(|d| IO_CRATES.iter().any(|io| d.starts_with(io)))
        .collect()
}

#[test]
fn core_and_the_offline_verifier_need_no_io_crate() {
    let meta = metadata(&[]);
    for pkg in ["votechain-core", "votechain-verify"] {
        let deps = normal_closure(&meta, pkg);
        assert!(
            deps.contains("sha2"),
            "{pkg}: the closure was computed: {deps:?}"
        );
        assert!(
            io_crates_in(&deps).is_empty(),
            "{pkg} depends on I/O crates {:?}",
            io_crates_in(&deps)
        );
    }
    // The check can fail: the node does depend on them.
    assert!(!io_crates_in(&normal_closure(&meta, "votechain")).is_empty());
}

#[test]
fn the_production_build_has_no_failpoint_crate() {
    assert!(!normal_closure(&metadata(&[]), "votechain").contains("fail"));
    assert!(normal_closure(&metadata(&["votechain/chaos"]), "votechain").contains("fail"));
}

/// Top-level modules of a crate's `src/` and the `crate::x` modules each refers to.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if e.is_dir() {
                dirs.push(e);
            } else if e.extension().is_some_and(|x| x == "rs") {
                files.push(e);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let top = |f: &Path| {
        f.strip_prefix(src)
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string()
    };
    for f in files {
        let me = top(&f);
        if me == "main" || me == "lib" {
            continue; // the crate roots declare every module
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let refs = graph.entry(me.clone()).or_default();
        for part in code.split("crate::").skip(1) {
            let names: Vec<&str> = match part.strip_prefix('{') {
                Some(list) => list
                    .split('}')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap())
                    .collect(),
                None => vec![
                    part.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap(),
                ],
            };
            refs.extend(
                names
                    .into_iter()
                    .filter(|n| !n.is_empty() && *n != me && *n != "failpoint")
                    .map(String::from),
            );
        }
    }
    graph
}

/// A cycle in the graph, if any, as the modules along it.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            return Some(path[i..].iter().cloned().chain([n.to_string()]).collect());
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|k| visit(k, g, &mut vec![], &mut done))
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    for src in [
        "src",
        "crates/core/src",
        "crates/tools/src",
        "crates/verify/src",
    ] {
        let g = module_graph(&root().join(src));
        assert!(
            find_cycle(&g).is_none(),
            "{src}: import cycle {:?}",
            find_cycle(&g)
        );
    }
    // The check can fail.
    let cyclic = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert!(find_cycle(&cyclic).is_some());
}
