//! The natrix process as an operator sees it: bad configuration refused with key and line,
//! SIGTERM/SIGINT flushing clients and exiting 0, SIGHUP and SIGUSR1 logged, not fatal, and no
//! ERROR lines from a healthy server with file streams.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    free_port, js_api, js_publish_raw, natrix_bin, round_trip, two_free_ports, TestServer,
};

fn run_with_config(toml: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!(
        "natrix-life-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.toml");
    std::fs::write(&conf, toml).unwrap();
    let out = Command::new(natrix_bin())
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .output()
        .expect("run natrix");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let (code, err) = run_with_config("[server]\nport = 4999\n\n[limits]\nmax_payload = 5\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml:5"), "{err}");
    assert!(err.contains("max_payload"), "{err}");
}

#[test]
fn impossible_value_is_refused_with_key_and_line() {
    let (code, err) = run_with_config(
        "[server]\nport = 4999\n[limits]\nmax_payload_bytes = 1048576\nmax_pending_bytes = 1000\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml:5"), "{err}");
    assert!(err.contains("limits.max_pending_bytes"), "{err}");
}

#[test]
fn wrong_type_is_refused() {
    let (code, err) = run_with_config("[server]\nport = \"fast\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml:2"), "{err}");
}

#[test]
fn more_cores_than_cpus_is_refused() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let out = Command::new(natrix_bin())
        .args([
            "--port",
            &free_port().to_string(),
            "--cores",
            &(cpus + 1).to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run natrix");
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cores"), "{err}");
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("read line");
    line
}

#[test]
fn sigterm_flushes_queued_messages_and_exits_zero() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let (port, http_port) = two_free_ports();
        let mut child = Command::new(natrix_bin())
            .args([
                "--port",
                &port.to_string(),
                "--addr",
                "127.0.0.1",
                "--http-port",
                &http_port.to_string(),
            ])
            .args(["--cores", "2", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn natrix");
        let deadline = Instant::now() + Duration::from_secs(10);
        let sub = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("natrix did not start: {e}"),
            }
        };
        sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sub_w = sub.try_clone().unwrap();
        let mut sub_r = BufReader::new(sub);
        assert!(read_line(&mut sub_r).starts_with("INFO "));
        sub_w
            .write_all(b"CONNECT {\"verbose\":false}\r\nSUB drain 1\r\nPING\r\n")
            .unwrap();
        assert_eq!(read_line(&mut sub_r), "PONG\r\n");
        // A publisher on its own connection sends a burst, confirmed by its own PONG.
        let mut publ = TcpStream::connect(("127.0.0.1", port)).unwrap();
        publ.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let total = 2000;
        let mut burst = b"CONNECT {\"verbose\":false}\r\n".to_vec();
        for i in 0..total {
            let body = format!("{i:06}");
            burst.extend_from_slice(format!("PUB drain {}\r\n{}\r\n", body.len(), body).as_bytes());
        }
        burst.extend_from_slice(b"PING\r\n");
        publ.write_all(&burst).unwrap();
        let mut pr = BufReader::new(publ);
        assert!(read_line(&mut pr).starts_with("INFO "));
        assert_eq!(read_line(&mut pr), "PONG\r\n");
        // SIGTERM before the subscriber read anything: everything queued must still arrive.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let mut rest = Vec::new();
        sub_r
            .read_to_end(&mut rest)
            .expect("subscriber reads until the server closes");
        let got = String::from_utf8_lossy(&rest)
            .matches("MSG drain 1 6\r\n")
            .count();
        assert_eq!(got, total, "signal {sig}: queued messages lost at shutdown");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "natrix did not exit after signal {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The exit status is the proof that it stopped: probing the port afterwards is racy,
        // since a server of a test running alongside may have been given the freed port.
        assert_eq!(status.code(), Some(0), "signal {sig}");
    }
}

/// Waits (bounded) until the server's stderr contains `text`.
fn wait_for_stderr(server: &TestServer, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in stderr within 10 s:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// nats-server handles SIGHUP (reload) and SIGUSR1 (log reopen); natrix supports neither
/// yet, and must neither die of them (their default action) nor ignore them silently.
/// (SIGUSR2, lame duck mode, is tested in `tests/lame_duck.rs`.)
#[tokio::test]
async fn sighup_sigusr1_are_logged_and_the_server_keeps_serving() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    round_trip(&c).await;
    // SIGHUP reloads the configuration (unchanged here; logged at INFO, which tests do not
    // show: tests/reload.rs checks reloads); SIGUSR1 has no log file to reopen (a WARN).
    for (sig, natrix_says, nats_server_says) in [
        (libc::SIGHUP, None, "Trapped \"hangup\" signal"),
        (
            libc::SIGUSR1,
            Some("nothing to reopen"),
            "Trapped \"user defined signal 1\" signal",
        ),
    ] {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(server.pid() as i32, sig);
        }
        if !server.is_natrix() {
            wait_for_stderr(&server, nats_server_says);
            continue;
        }
        if let Some(natrix_says) = natrix_says {
            wait_for_stderr(&server, natrix_says);
            let line = server
                .stderr()
                .lines()
                .find(|l| l.contains(natrix_says))
                .map(str::to_owned)
                .unwrap_or_default();
            assert!(line.contains("WARN"), "logged as a warning: {line}");
        }
        server.assert_alive();
        round_trip(&c).await;
        let fresh = server.client().await;
        round_trip(&fresh).await;
    }
    server.assert_alive();
}

/// A healthy server with file streams (created, written, recovered) logs no ERROR line:
/// glommio's poll-ring probe on each core's first DMA file used to log one per core.
#[tokio::test]
async fn file_streams_log_no_error_lines() {
    let mut server = TestServer::start_default();
    for round in 0..2 {
        let c = server.client().await;
        for i in 0..4 {
            let name = format!("F{i}");
            if round == 0 {
                let r = js_api(
                    &c,
                    &format!("STREAM.CREATE.{name}"),
                    &serde_json::json!({"name": name, "subjects": [format!("f{i}.>")]}),
                )
                .await;
                assert!(r.get("error").is_none(), "{r}");
            }
            let ack = js_publish_raw(&c, &format!("f{i}.x"), &[], b"payload").await;
            assert_eq!(ack["seq"], round + 1, "{ack}");
        }
        drop(c);
        server.restart();
    }
    let log = server.stderr_all();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("[ERR]"))
        .collect();
    assert!(
        errors.is_empty(),
        "ERROR lines on a healthy server:\n{}",
        errors.join("\n")
    );
}
