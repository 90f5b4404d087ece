//! The architecture invariants of ARCHITECTURE.md ("Invariants"), checked on the source
//! text: which module may name what. Comment lines and `*_tests.rs` files are skipped.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every production `.rs` file under `dir` (relative to `src/`), or the file itself.
fn files(rel: &str) -> Vec<PathBuf> {
    let root = src().join(rel);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("readable dir") {
                stack.push(e.expect("dir entry").path());
            }
        } else if p.extension().is_some_and(|e| e == "rs")
            && !p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.ends_with("_tests.rs") || n == "tests.rs"
            })
        {
            out.push(p);
        }
    }
    assert!(!out.is_empty(), "no files under src/{rel}");
    out.sort();
    out
}

/// Code lines (not comments) up to the first `#[cfg(test)]`, with their line numbers.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("readable source");
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// Lines of the files under `rels` where `pred` holds, as `path:line: text`.
fn offending(rels: &[&str], pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut bad = Vec::new();
    for rel in rels {
        for f in files(rel) {
            for (n, l) in code_lines(&f) {
                if pred(&l) {
                    bad.push(format!("{}:{n}: {}", f.display(), l.trim()));
                }
            }
        }
    }
    bad
}

/// Whether `line` holds `word` as a whole identifier.
fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn only_the_shell_and_server_know_glommio() {
    let everything_but_shell = [
        "cli.rs",
        "config.rs",
        "consumer",
        "engine.rs",
        "engine_sys.rs",
        "engine_leaf.rs",
        "engine_leaf_auth.rs",
        "engine_subs.rs",
        "engine_accounts.rs",
        "interest.rs",
        "jetstream",
        "js_ring.rs",
        "leaf",
        "mesh.rs",
        "protocol",
        "reload.rs",
        "session.rs",
        "store",
        "streams",
        "subject.rs",
        "sublist.rs",
    ];
    let bad = offending(&everything_but_shell, |l| l.contains("glommio"));
    assert!(
        bad.is_empty(),
        "glommio outside shell/ and server.rs:\n{bad:#?}"
    );
}

#[test]
fn nothing_sans_io_reads_a_clock() {
    let sans_io = [
        "consumer",
        "engine.rs",
        "engine_sys.rs",
        "engine_leaf.rs",
        "engine_leaf_auth.rs",
        "engine_subs.rs",
        "engine_accounts.rs",
        "interest.rs",
        "js_ring.rs",
        "leaf",
        "mesh.rs",
        "reload.rs",
        "session.rs",
        "store",
        "streams",
        "sublist.rs",
    ];
    let bad = offending(&sans_io, |l| {
        l.contains("SystemTime") || has_word(l, "Instant") || l.contains("UNIX_EPOCH")
    });
    assert!(
        bad.is_empty(),
        "a clock read in a sans-IO module:\n{bad:#?}"
    );
}

#[test]
fn the_router_names_no_streams_type() {
    let router = [
        "engine.rs",
        "mesh.rs",
        "js_ring.rs",
        "interest.rs",
        "session.rs",
        "sublist.rs",
    ];
    let bad = offending(&router, |l| {
        l.contains("streams::") || l.contains("StreamHost")
    });
    assert!(bad.is_empty(), "engine/mesh name a streams type:\n{bad:#?}");
}

#[test]
fn the_stream_host_never_touches_the_engine() {
    let bad = offending(&["streams", "consumer"], |l| {
        has_word(l, "Engine") || l.contains("add_internal_sub") || l.contains("publish_internal")
    });
    assert!(
        bad.is_empty(),
        "streams/ must use HostAction and EngineQueries, not the Engine:\n{bad:#?}"
    );
}

#[test]
fn only_jetstream_renders_api_json() {
    // Hand-built JSON (a `{"` literal) or `json!` outside jetstream/; streams/ serialises
    // only its own metadata files with serde.
    let others = ["consumer", "engine.rs", "shell", "store", "streams"];
    let bad = offending(&others, |l| l.contains("{\\\"") || l.contains("json!("));
    assert!(
        bad.is_empty(),
        "API JSON built outside jetstream/:\n{bad:#?}"
    );
}

#[test]
fn store_knows_no_api_error_codes() {
    let bad = offending(&["store"], |l| {
        l.contains("err_code") || l.contains("JsApiError")
    });
    assert!(bad.is_empty(), "API error codes in store/:\n{bad:#?}");
}

#[test]
fn stream_host_files_stay_small() {
    for f in files("streams").into_iter().chain(files("shell")) {
        let n = std::fs::read_to_string(&f)
            .expect("readable")
            .lines()
            .count();
        assert!(n <= 1000, "{} has {n} lines (max ~1,000)", f.display());
    }
}
