//! Official non-Rust clients against the server under test: nats-py's Key-Value API
//! (`tests/py/kv_test.py`: put/get/create/update/delete/purge/keys/history/watch). nats-py
//! exercises paths async-nats does not: STREAM.MSG.GET instead of direct get, legacy ephemeral
//! consumer creation, `deny_delete` buckets. Also nats-py with the newer JetStream headers
//! (`tests/py/newer_test.py`: `Nats-TTL`, `Nats-Incr`, `Nats-Required-Api-Level`).
//!
//! Needs `.venv/bin/python` with nats-py (`make test-deps`). When that is missing the test
//! prints `SKIP:` and passes, unless `LOADGEN_REQUIRE_SERVER` is set (as `make test` and CI do),
//! which turns the skip into a failure.
//!
//! Run: `cargo test --test py_clients` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test py_clients`.

mod common;

use std::time::Duration;

use common::py::{python_or_skip, run_script, run_script_with_args};
use common::TestServer;

#[test]
fn nats_py_key_value() {
    let Some(py) = python_or_skip("nats_py_key_value") else {
        return;
    };
    let server = TestServer::start_default();
    run_script(&py, "tests/py/kv_test.py", &server, Duration::from_secs(90));
}

/// nats-py against `[authorization]`: user/password, token, and the permission-violation
/// error callback (`tests/py/auth_test.py`).
#[test]
fn nats_py_auth() {
    let Some(py) = python_or_skip("nats_py_auth") else {
        return;
    };
    let users = TestServer::start(common::ServerOpts::with_toml(concat!(
        "[authorization]\n",
        "users = [ { user = \"alice\", password = \"alice-pw\" }, ",
        "{ user = \"reader\", password = \"reader-pw\", permissions = { publish = { deny = [\">\"] }, ",
        "subscribe = { allow = [\"a.>\", \"_INBOX.>\"] } } } ]\n",
    )));
    let token = TestServer::start(common::ServerOpts::with_toml(
        "[authorization]\ntoken = \"s3cr3t\"\n",
    ));
    run_script_with_args(
        &py,
        "tests/py/auth_test.py",
        &[users.url(), token.url()],
        Duration::from_secs(60),
    );
}

/// nats-py with the newer JetStream headers: `Nats-TTL`, `Nats-Incr` counters and
/// `Nats-Required-Api-Level` (`tests/py/newer_test.py`).
#[test]
fn nats_py_newer_jetstream_headers() {
    let Some(py) = python_or_skip("nats_py_newer_jetstream_headers") else {
        return;
    };
    let server = TestServer::start_default();
    run_script(
        &py,
        "tests/py/newer_test.py",
        &server,
        Duration::from_secs(60),
    );
}
