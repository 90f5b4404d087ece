//! Log output for operators and log shippers: no terminal colour codes when stderr is not a
//! terminal (as nats-server, which turns colours off when stderr is redirected), and
//! `[logging] format = "json"` (natrix only) writing one JSON object per line.
//!
//! Run: `cargo test --test logging` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test logging` (reference; the JSON format is
//! natrix's own and is skipped there with a printed reason).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ServerKind, TestServer, WAIT};

const ESC: u8 = 0x1b;

/// A natrix process of our own (the harness pins `--log-level warn`, and these tests need the
/// info lines of a normal start), with stderr to a file. Killed on drop.
struct LoggedNatrix {
    child: Child,
    dir: PathBuf,
}

impl LoggedNatrix {
    fn start(name: &str, toml: &str) -> LoggedNatrix {
        let (port, _) = common::two_free_ports();
        let dir =
            std::env::temp_dir().join(format!("natrix-logging-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("natrix.toml");
        std::fs::write(&conf, toml).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(common::natrix_bin())
            .arg("--config")
            .arg(&conf)
            .args(["--addr", "127.0.0.1", "--cores", "1", "--http-port", "0"])
            .args(["--log-level", "info", "--port", &port.to_string()])
            .arg("--store-dir")
            .arg(dir.join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn natrix");
        LoggedNatrix { child, dir }
    }

    fn stderr(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits (bounded) until stderr holds `needle`, then stops the server with SIGTERM and
    /// returns all of stderr.
    fn until_then_stop(mut self, needle: &str) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        while !String::from_utf8_lossy(&self.stderr()).contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "natrix exited ({status}) before logging {needle:?}; stderr:\n{}",
                    String::from_utf8_lossy(&self.stderr())
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in stderr within {WAIT:?}:\n{}",
                String::from_utf8_lossy(&self.stderr())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "natrix did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr()
    }
}

impl Drop for LoggedNatrix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn assert_no_escapes(log: &[u8]) {
    assert!(!log.is_empty(), "the server logged nothing to check");
    if let Some(at) = log.iter().position(|&b| b == ESC) {
        let from = at.saturating_sub(60);
        panic!(
            "colour/escape code at byte {at} of a piped stderr: {:?}",
            String::from_utf8_lossy(&log[from..(at + 20).min(log.len())])
        );
    }
}

#[test]
fn piped_stderr_has_no_colour_codes() {
    match ServerKind::from_env() {
        ServerKind::Natrix => {
            let log = LoggedNatrix::start("plain", "").until_then_stop("natrix ready");
            assert_no_escapes(&log);
            let text = String::from_utf8_lossy(&log);
            assert!(text.contains("INFO"), "no INFO level in:\n{text}");
            assert!(text.contains("natrix stopped"), "no stop line in:\n{text}");
        }
        ServerKind::NatsServer => {
            // nats-server logs its start-up banner at info; its stderr is a file here.
            let mut server = TestServer::start_default();
            server.stop();
            assert_no_escapes(server.stderr_all().as_bytes());
        }
    }
}

#[test]
fn json_format_writes_one_json_object_per_line() {
    if ServerKind::from_env() != ServerKind::Natrix {
        eprintln!("skipped: `[logging] format = \"json\"` is natrix's own (nats-server has none)");
        return;
    }
    let log = LoggedNatrix::start("json", "[logging]\nformat = \"json\"\n")
        .until_then_stop("natrix ready");
    assert_no_escapes(&log);
    let text = String::from_utf8(log).expect("UTF-8 log");
    let mut lines = 0;
    let mut saw_ready = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert!(v["timestamp"].is_string(), "no timestamp: {line}");
        assert!(v["level"].is_string(), "no level: {line}");
        assert!(v["target"].is_string(), "no target: {line}");
        if v["fields"]["message"] == "natrix ready" {
            saw_ready = true;
            assert_eq!(v["level"], "INFO", "{line}");
            assert!(
                v["fields"]["cores"].is_u64(),
                "structured field kept: {line}"
            );
        }
        lines += 1;
    }
    assert!(saw_ready, "no `natrix ready` object in:\n{text}");
    assert!(
        lines >= 3,
        "expected start-up and stop lines, got {lines}:\n{text}"
    );
}

#[test]
fn unknown_log_format_is_refused_naming_the_key() {
    if ServerKind::from_env() != ServerKind::Natrix {
        eprintln!("skipped: `[logging] format` is natrix's own configuration key");
        return;
    }
    let mut n = LoggedNatrix::start("badfmt", "[logging]\nformat = \"xml\"\n");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = n.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "natrix did not refuse the config"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
    let err = String::from_utf8_lossy(&n.stderr()).into_owned();
    assert!(
        err.contains("natrix.toml:2") && err.contains("logging.format"),
        "{err}"
    );
    assert_no_escapes(err.as_bytes());
}
