//! Configuration reload on SIGHUP (nats-server's `--signal reload`): the file is re-read, new
//! connections authenticate against the new `[authorization]` and get the new limits; a file
//! that does not load, or that changes a restart-only setting, is refused and the running
//! configuration stays.
//!
//! Run: `cargo test --test reload` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test reload` (reference).

mod common;

use std::time::{Duration, Instant};

use common::{RawConn, ServerKind, ServerOpts, TestServer, WAIT};

fn users(password: &str) -> String {
    format!(
        "[authorization]\nusers = [ {{ user = \"alice\", password = \"{password}\" }}, \
         {{ user = \"bob\", password = \"bob-pw\" }} ]\n"
    )
}

/// Whether a new connection logging in as `user`/`pass` is accepted (PONG) or refused
/// (`-ERR 'Authorization Violation'`); anything else fails the test.
async fn login(server: &TestServer, user: &str, pass: &str) -> bool {
    let mut c = RawConn::connect(server.port).await;
    let connect = serde_json::json!({"user": user, "pass": pass, "verbose": false});
    c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())
        .await;
    let line = String::from_utf8_lossy(&c.read_line().await).into_owned();
    match line.trim_end() {
        "PONG" => true,
        "-ERR 'Authorization Violation'" => false,
        other => panic!("unexpected answer to CONNECT as {user}: {other:?}"),
    }
}

/// Polls (bounded) until `login` gives `want`: a reload is applied within the cores' poll
/// period on natrix and at once on nats-server.
async fn until_login(server: &TestServer, user: &str, pass: &str, want: bool) {
    let deadline = Instant::now() + WAIT;
    while login(server, user, pass).await != want {
        assert!(
            Instant::now() < deadline,
            "login {user}/{pass} still {} after {WAIT:?}; stderr:\n{}",
            if want { "refused" } else { "accepted" },
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls (bounded) until the server's stderr contains `needle`.
async fn until_logged(server: &TestServer, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let err = server.stderr();
        if err.contains(needle) {
            return err;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in stderr within {WAIT:?}:\n{err}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn sighup_applies_a_changed_password_to_new_connections() {
    let server = TestServer::start(ServerOpts::with_toml(&users("old-pw")));
    assert!(login(&server, "alice", "old-pw").await);
    assert!(!login(&server, "alice", "new-pw").await);
    // Open connections: alice with the old password, bob unchanged.
    let alice_conn = r#"{"user":"alice","pass":"old-pw","verbose":false}"#;
    let mut alice = RawConn::connect_with(server.port, alice_conn).await;
    let bob_conn = r#"{"user":"bob","pass":"bob-pw","verbose":false}"#;
    let mut bob = RawConn::connect_with(server.port, bob_conn).await;

    server.rewrite_config(&users("new-pw"));
    server.signal(libc::SIGHUP);
    until_login(&server, "alice", "new-pw", true).await;
    // As nats-server: the open connection whose credentials no longer hold is closed.
    alice.expect_err_and_close("Authorization Violation").await;
    bob.send(b"PING\r\n").await;
    bob.expect(b"PONG\r\n").await;
    assert!(
        !login(&server, "alice", "old-pw").await,
        "old password still accepted after reload"
    );
    assert!(
        login(&server, "bob", "bob-pw").await,
        "unchanged user refused"
    );
}

#[tokio::test]
async fn sighup_can_remove_and_add_authorization() {
    let server = TestServer::start(ServerOpts::with_toml(&users("pw")));
    assert!(!login(&server, "nobody", "x").await);
    server.rewrite_config("");
    server.signal(libc::SIGHUP);
    until_login(&server, "nobody", "x", true).await;
    let c = RawConn::connect(server.port).await;
    assert_ne!(
        c.info["auth_required"], true,
        "INFO after reload: {}",
        c.info
    );

    server.rewrite_config(&users("pw"));
    server.signal(libc::SIGHUP);
    until_login(&server, "nobody", "x", false).await;
    let c = RawConn::connect(server.port).await;
    assert_eq!(
        c.info["auth_required"], true,
        "INFO after reload: {}",
        c.info
    );
    assert!(login(&server, "alice", "pw").await);
}

#[tokio::test]
async fn invalid_file_is_refused_and_the_old_configuration_stays() {
    let server = TestServer::start(ServerOpts::with_toml(&users("old-pw")));
    let (text, needle) = match server.kind {
        // A value natrix refuses: the error names file, line and key.
        ServerKind::Natrix => (
            format!("{}[limits]\nmax_payload_bytes = 0\n", users("new-pw")),
            "natrix.toml:4: limits.max_payload_bytes",
        ),
        // nats-server: a syntax error.
        ServerKind::NatsServer => (
            "authorization {\n  users = [\n    {user: alice, password: new-pw\n".to_owned(),
            "reload",
        ),
    };
    server.write_config_raw(&text);
    server.signal(libc::SIGHUP);
    let err = until_logged(&server, needle).await;
    if server.is_natrix() {
        assert!(err.contains("configuration reload refused"), "{err}");
    }
    assert!(login(&server, "alice", "old-pw").await, "old config lost");
    assert!(!login(&server, "alice", "new-pw").await, "half applied");

    // A good file afterwards still reloads.
    server.rewrite_config(&users("new-pw"));
    server.signal(libc::SIGHUP);
    until_login(&server, "alice", "new-pw", true).await;
}

#[tokio::test]
async fn sighup_applies_max_payload_to_new_connections() {
    let server = TestServer::start(ServerOpts::with_toml(
        "[limits]\nmax_payload_bytes = 65536\n",
    ));
    let before = RawConn::connect(server.port).await;
    assert_eq!(before.info["max_payload"], 65536);
    server.rewrite_config("[limits]\nmax_payload_bytes = 4096\n");
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + WAIT;
    let mut c = loop {
        let c = RawConn::connect(server.port).await;
        if c.info["max_payload"] == 4096 {
            break c;
        }
        assert!(Instant::now() < deadline, "INFO still {}", c.info);
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    c.handshake(r#"{"verbose":false}"#).await;
    // One write: the server refuses at the PUB line and closes, so a second write could
    // meet a closed socket (EPIPE) before the -ERR is read.
    let mut frame = format!("PUB big {}\r\n", 5000).into_bytes();
    frame.extend_from_slice(&[b'x'; 5000]);
    frame.extend_from_slice(b"\r\n");
    c.send(&frame).await;
    c.expect_err_and_close("Maximum Payload Violation").await;
}

#[tokio::test]
async fn restart_only_change_is_refused_whole() {
    let server = TestServer::start(ServerOpts::with_toml(&users("old-pw")));
    // Changing the server name needs a restart on both servers; the password in the same
    // file must not be applied either.
    let text = match server.kind {
        ServerKind::Natrix => format!(
            "[server]\nhttp_port = {}\nserver_name = \"renamed\"\n{}",
            server.http_port,
            users("new-pw")
        ),
        ServerKind::NatsServer => {
            "server_name: renamed\nauthorization {\n  users = [\n    {user: alice, password: new-pw}\n    {user: bob, password: bob-pw}\n  ]\n}\n"
                .to_owned()
        }
    };
    server.write_config_raw(&text);
    server.signal(libc::SIGHUP);
    let needle = match server.kind {
        ServerKind::Natrix => "config reload not supported for server.server_name",
        ServerKind::NatsServer => "not supported",
    };
    until_logged(&server, needle).await;
    assert!(login(&server, "alice", "old-pw").await, "old config lost");
    assert!(!login(&server, "alice", "new-pw").await, "half applied");
}
