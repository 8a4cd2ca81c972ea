//! The architecture's rules, checked on the source (ARCHITECTURE.md explains them):
//!
//! - no import cycle among the SDK's modules;
//! - no status code or header handled outside `api.rs` and `transport/`;
//! - the server imports nothing of the SDK but `model/`, and the SDK never imports `server/`;
//! - no source file over about 500 lines;
//! - no `unsafe` outside `server/sqlite_limits.rs`, the one reviewed module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to (`src/task/flow.rs` → `task`); `None` for the crate
/// root and the binaries.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(SRC).expect("under src");
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_owned()),
    }
}

/// The source without comments (doc links are not imports).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a source file");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module → the crate modules it names (`crate::x`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(Path::new(SRC)) {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let code = code(&file);
        let entry = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            // `crate::` preceded by an identifier character is a longer path (`tiledb_cloud_tasks::`...).
            if code[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                entry.insert(name);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The modules that join or stand beside the SDK: not part of its layering.
const OUTSIDE_SDK: &[&str] = &["server", "local", "cli"];

#[test]
fn the_sdk_modules_import_each_other_without_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = imports()
        .into_iter()
        .filter(|(m, _)| !OUTSIDE_SDK.contains(&m.as_str()))
        .map(|(m, deps)| {
            let deps = deps
                .into_iter()
                .filter(|d| !OUTSIDE_SDK.contains(&d.as_str()))
                .collect();
            (m, deps)
        })
        .collect();
    assert!(
        graph.contains_key("api") && graph.contains_key("task"),
        "{graph:?}"
    );
    assert_eq!(
        find_cycle(&graph),
        None,
        "the SDK's module imports: {graph:#?}"
    );
    // The layers, one way: the transport knows nothing above it, the api nothing of the handle,
    // the list or the client.
    for (low, high) in [
        ("transport", "api"),
        ("transport", "task"),
        ("transport", "client"),
        ("api", "task"),
        ("api", "list"),
        ("api", "client"),
        ("task", "client"),
        ("list", "client"),
    ] {
        assert!(
            !graph[low].contains(high),
            "{low} imports {high}: data flows Client -> task/list -> api -> transport"
        );
    }
}

#[test]
fn the_server_imports_only_the_model_and_the_sdk_never_imports_the_server() {
    let graph = imports();
    let server: Vec<&String> = graph["server"].iter().collect();
    assert_eq!(server, ["model"], "the server may share model/ only");
    for (module, deps) in &graph {
        if module != "local" && module != "server" {
            assert!(!deps.contains("server"), "{module} imports the server");
        }
    }
}

/// What handling a status or a header looks like in this code base.
const HTTP_WORDS: &[&str] = &[
    "StatusCode",
    "HeaderMap",
    "HeaderValue",
    "header::",
    ".headers()",
    "reqwest::Response",
    "is_success()",
    "is_server_error()",
    "is_client_error()",
];

#[test]
fn no_status_code_or_header_is_handled_outside_api_and_transport() {
    let mut found = Vec::new();
    for file in rust_files(Path::new(SRC)) {
        let module = module_of(&file);
        if matches!(
            module.as_deref(),
            Some("api" | "transport" | "server" | "cli") | None
        ) {
            continue;
        }
        for (n, line) in code(&file).lines().enumerate() {
            if let Some(word) = HTTP_WORDS.iter().find(|w| line.contains(**w)) {
                found.push(format!("{}:{}: {word}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "HTTP handled outside api/transport:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_is_much_over_500_lines() {
    let long: Vec<String> = rust_files(Path::new(SRC))
        .into_iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(&f).ok()?.lines().count();
            (lines > 550).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concept:\n{}",
        long.join("\n")
    );
}

#[test]
fn unsafe_code_lives_in_the_one_reviewed_module_only() {
    let reviewed = Path::new(SRC).join("server/sqlite_limits.rs");
    let mut found = Vec::new();
    for file in rust_files(Path::new(SRC)) {
        let code = code(&file);
        let words = ["unsafe {", "unsafe fn", "unsafe impl", "allow(unsafe_code)"];
        for (n, line) in code.lines().enumerate() {
            if words.iter().any(|w| line.contains(w)) && file != reviewed {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    // The one `allow`, on that module's declaration.
    let declaration = "#[allow(unsafe_code)]\nmod sqlite_limits;";
    let server = std::fs::read_to_string(Path::new(SRC).join("server/mod.rs")).unwrap();
    assert!(
        server.contains(declaration),
        "sqlite_limits is declared with the allow"
    );
    found.retain(|f| !f.contains("server/mod.rs") || !f.contains("allow(unsafe_code)"));
    assert!(
        found.is_empty(),
        "unsafe code outside sqlite_limits.rs:\n{}",
        found.join("\n")
    );
    let root = std::fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    assert!(
        root.contains("#![deny(unsafe_code)]"),
        "the crate root denies unsafe code"
    );
}
