//! The dependency rule of the exchange (../shared/ARCHITECTURE.md): integrations, authorizers
//! (`auth`), the outbound client (and the hosted-function host) are leaves. They may import `exchange`, `upstream`, `snapshot`, `http`,
//! `wire`, `gateway_response` and `tls`, never `pipeline`, `server` or `cache`: only the
//! pipeline calls them, and only its responder writes to the client.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 3] = ["crate::pipeline", "crate::server", "crate::cache"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `use` lines and inline paths naming a forbidden module, outside comments.
fn violations(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .filter(|l| FORBIDDEN.iter().any(|f| l.contains(f)))
        .map(str::to_string)
        .collect()
}

#[test]
fn leaves_do_not_import_the_pipeline_server_or_cache() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src/integration",
        "src/upstream",
        "src/exchange",
        "src/function",
        "src/auth",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() >= 8, "found {files:?}");
    let mut offending = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let found = violations(&std::fs::read_to_string(file).unwrap());
        if !found.is_empty() {
            offending.push((rel, found));
        }
    }
    assert!(offending.is_empty(), "forbidden imports: {offending:#?}");
}

#[test]
fn the_check_sees_a_forbidden_import() {
    assert_eq!(
        violations("use crate::exchange::Reply;\nuse crate::pipeline::Next;\n// crate::cache"),
        vec!["use crate::pipeline::Next;"]
    );
}

/// The control plane's rule (ARCHITECTURE.md): nothing but the node's wiring (the admin
/// listener and the process start) and the files' half of the control plane (`config`, which
/// reads OpenAPI files through `control::openapi`) imports `control`; the data plane sees only
/// the snapshot the control plane's APIs compile into.
#[test]
fn only_the_node_wiring_imports_the_control_plane() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let wiring = [
        "src/admin.rs",
        "src/server/mod.rs",
        "src/lib.rs",
        "src/main.rs",
    ];
    let offending: Vec<(String, Vec<String>)> = files
        .iter()
        .map(|f| {
            (
                f.strip_prefix(root).unwrap().to_string_lossy().to_string(),
                f,
            )
        })
        .filter(|(rel, _)| {
            !rel.starts_with("src/control/")
                && !rel.starts_with("src/config/")
                && !wiring.contains(&rel.as_str())
        })
        .filter_map(|(rel, f)| {
            let text = std::fs::read_to_string(f).unwrap();
            let found: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("//") && l.contains("crate::control"))
                .map(str::to_string)
                .collect();
            (!found.is_empty()).then_some((rel, found))
        })
        .collect();
    assert!(files.len() > 100, "found {} files", files.len());
    assert!(offending.is_empty(), "control imported by: {offending:#?}");
}
