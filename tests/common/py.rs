//! Running the official Python client (nats-py, installed in `.venv` by `make test-deps`)
//! against the server under test. When nats-py is missing a test prints `SKIP:` and passes,
//! unless `LOADGEN_REQUIRE_SERVER` is set (as `make test` and CI do), which makes it a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::TestServer;

/// The venv python with nats-py importable, or why it is unusable.
fn python_with_nats_py() -> Result<PathBuf, String> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if !py.exists() {
        return Err(format!("{} missing (run `make test-deps`)", py.display()));
    }
    let ok = Command::new(&py)
        .args(["-c", "import nats.js.kv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("run {}: {e}", py.display()))?;
    if !ok.success() {
        return Err(format!(
            "nats-py not installed in {} (run `make test-deps`)",
            py.display()
        ));
    }
    Ok(py)
}

/// The python to use, `None` to skip (panics instead when the environment requires it).
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    match python_with_nats_py() {
        Ok(p) => Some(p),
        Err(e) if std::env::var_os("LOADGEN_REQUIRE_SERVER").is_some_and(|v| !v.is_empty()) => {
            panic!("{test}: nats-py required but unavailable: {e}")
        }
        Err(e) => {
            eprintln!("SKIP: {test}: {e}");
            None
        }
    }
}

/// Runs `script` with the server URL, bounded by `limit`; panics with its output on failure.
pub fn run_script(py: &Path, script: &str, server: &TestServer, limit: Duration) {
    run_script_with_args(py, script, &[server.url()], limit)
}

/// Runs `script` with `args` (e.g. several server URLs), bounded by `limit`; panics with its
/// output on failure.
pub fn run_script_with_args(py: &Path, script: &str, args: &[String], limit: Duration) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut child = Command::new(py)
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", script.display()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "{} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                script.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("collect output");
    assert!(
        status.success(),
        "{} exited with {status}\nstdout:\n{}\nstderr:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
