//! Lame duck mode (SIGUSR2) for rolling deploys, as nats-server 2.15.1: the server stops
//! accepting clients, tells the connected ones (`INFO` with `"ldm":true`), closes them after
//! the grace period spread over the rest of the duration, and exits 0; a client given two
//! servers moves to the other one without losing a request.
//!
//! Run: `cargo test --test lame_duck` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test lame_duck` (reference).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bounded, RawConn, ServerOpts, TestServer, WAIT};
use futures::StreamExt;

/// A grace period long enough to look at the server in it. The duration is nats-server's
/// minimum (30 s); with few clients the server is done long before it, since it pauses at
/// most 1 s between two closes.
const SLOW_LDM: &str =
    "[server]\nlame_duck_duration_ms = 30000\nlame_duck_grace_period_ms = 1500\n";
/// A short grace period for the client test.
const QUICK_LDM: &str =
    "[server]\nlame_duck_duration_ms = 30000\nlame_duck_grace_period_ms = 200\n";
/// What a server may take beyond grace + 1 s per client to flush and exit.
const EXIT_SLACK: Duration = Duration::from_secs(4);

/// Reads lines until the lame duck INFO; returns its JSON. Bounded in lines and time.
async fn read_ldm_info(c: &mut RawConn) -> serde_json::Value {
    for _ in 0..16 {
        let line = bounded("a line after SIGUSR2", c.read_line()).await;
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(json) = text.strip_prefix("INFO ") {
            let v: serde_json::Value = serde_json::from_str(json.trim_end()).expect("INFO JSON");
            if v.get("ldm").is_some() {
                return v;
            }
        }
    }
    panic!("no INFO with ldm in 16 lines");
}

/// Whether a TCP connect to `port` is refused (or reset before the INFO arrives).
async fn refused(port: u16) -> bool {
    match tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(("127.0.0.1", port))).await {
        Err(_) => panic!("connect timed out"),
        Ok(Err(_)) => true,
        Ok(Ok(mut s)) => {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            !matches!(
                tokio::time::timeout(Duration::from_secs(1), s.read(&mut b)).await,
                Ok(Ok(1))
            )
        }
    }
}

/// Waits (bounded by `within`) for the server to exit by itself; returns how long it took.
fn wait_exit(server: &mut TestServer, since: Instant, within: Duration) -> Duration {
    loop {
        if let Some(status) = server.exited() {
            assert!(status.success(), "exit status {status}");
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "server still running {within:?} after SIGUSR2; stderr:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGUSR2: each client gets `INFO {..."ldm":true}` at once, new connections are refused,
/// the connections keep working during the grace period, then are closed, and the process
/// exits 0 soon after (at most 1 s between two closes, plus a flush).
#[tokio::test]
async fn sigusr2_tells_clients_refuses_new_ones_closes_them_and_exits_0() {
    let mut server = TestServer::start(ServerOpts::with_toml(SLOW_LDM));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut c = RawConn::connect_with(server.port, r#"{"protocol":1,"verbose":false}"#).await;
        // The INFO after the first PONG (`connect_info`), as nats-server.
        let line = String::from_utf8_lossy(&c.read_line().await).into_owned();
        assert!(line.contains("\"connect_info\":true"), "{line}");
        c.ping_pong().await;
        clients.push(c);
    }
    // A protocol 0 client cannot take async INFO: it is not told, only closed.
    let mut old = RawConn::connect_with(server.port, r#"{"verbose":false}"#).await;
    let signalled = Instant::now();
    server.signal(libc::SIGUSR2);
    for c in clients.iter_mut() {
        let info = read_ldm_info(c).await;
        assert_eq!(info["ldm"], true, "{info}");
        assert!(info["server_id"].is_string(), "{info}");
    }
    // Every listener closes (natrix: one per core), well within the grace period.
    let mut tries = 0;
    while !refused(server.port).await {
        tries += 1;
        assert!(tries < 20, "new connections still accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused(server.port).await);
    assert!(signalled.elapsed() < Duration::from_millis(1500));
    // Still served during the grace period.
    for c in clients.iter_mut() {
        c.ping_pong().await;
    }
    old.ping_pong().await;
    server.assert_alive();
    // Then closed, and the process exits 0.
    for c in clients.iter_mut() {
        c.read_to_eof(WAIT).await;
    }
    let rest = String::from_utf8_lossy(&old.read_to_eof(WAIT).await).into_owned();
    assert!(
        !rest.contains("ldm"),
        "a protocol 0 client got async INFO: {rest}"
    );
    let closed_after = signalled.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1500),
        "closed before the grace period ended: {closed_after:?}"
    );
    // Five clients: four pauses of at most 1 s after the grace period.
    let took = wait_exit(
        &mut server,
        signalled,
        Duration::from_millis(5500) + EXIT_SLACK,
    );
    assert!(took >= Duration::from_millis(1500), "exited after {took:?}");
}

/// A server without clients leaves lame duck mode at once (nats-server shuts down
/// immediately when no client is connected).
#[tokio::test]
async fn sigusr2_without_clients_exits_0_at_once() {
    let mut server = TestServer::start(ServerOpts::with_toml(SLOW_LDM));
    // Let the server forget the harness's readiness probe connection (nats-server would
    // otherwise count it as a client and wait the grace period).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    server.signal(libc::SIGUSR2);
    let took = wait_exit(&mut server, signalled, Duration::from_millis(1400));
    assert!(took < Duration::from_millis(1400), "{took:?}");
}

/// A real client given two servers keeps getting every request answered while the first
/// enters lame duck mode: it sees the ldm INFO, is closed, reconnects to the second (the
/// first refuses it), and a publisher that retries loses nothing.
#[tokio::test]
async fn client_moves_to_the_other_server_and_loses_no_request() {
    let mut a = TestServer::start(ServerOpts::with_toml(QUICK_LDM));
    let b = TestServer::start(ServerOpts::default());
    // One responder per server, answering with its name.
    let mut responders = Vec::new();
    for (server, name) in [(&a, "A"), (&b, "B")] {
        let c = server.client().await;
        let mut sub = c.subscribe("ldm.echo").await.expect("subscribe");
        c.flush().await.expect("flush");
        let rc = c.clone();
        responders.push(c);
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(reply) = m.reply {
                    let body = format!("{name}:{}", String::from_utf8_lossy(&m.payload));
                    let _ = rc.publish(reply, body.into()).await;
                }
            }
        });
    }
    let told = Arc::new(AtomicBool::new(false));
    let seen = told.clone();
    let urls = [a.url(), b.url()];
    let client = bounded(
        "connect with two servers",
        async_nats::ConnectOptions::new()
            .retain_servers_order()
            .ignore_discovered_servers()
            .request_timeout(Some(Duration::from_millis(500)))
            .reconnect_delay_callback(|_| Duration::from_millis(50))
            .event_callback(move |e| {
                let seen = seen.clone();
                async move {
                    if matches!(e, async_nats::Event::LameDuckMode) {
                        seen.store(true, Ordering::SeqCst);
                    }
                }
            })
            .connect(&urls[..]),
    )
    .await
    .expect("connect");
    assert_eq!(
        client.server_info().port,
        a.port,
        "starts on the first server"
    );

    let mut answered_by = Vec::new();
    let mut signalled = None;
    let mut a_exit = None;
    let start = Instant::now();
    let mut i = 0u32;
    // Bounded: until A has exited and B has answered 10 requests since, or 20 s.
    while a_exit.is_none() || answered_by.iter().rev().take_while(|n| *n == "B").count() < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no progress: {answered_by:?}"
        );
        if signalled.is_none() && answered_by.len() == 10 {
            a.signal(libc::SIGUSR2);
            signalled = Some(Instant::now());
        }
        // The retrying publisher: the same request until it is answered.
        let mut tries = 0;
        let body = loop {
            tries += 1;
            assert!(tries <= 100, "request {i} never answered");
            match client.request("ldm.echo", i.to_string().into()).await {
                Ok(m) => break String::from_utf8_lossy(&m.payload).into_owned(),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let (name, n) = body.split_once(':').expect("name:n");
        assert_eq!(n, i.to_string(), "request {i} answered with {body}");
        answered_by.push(name.to_string());
        i += 1;
        if a_exit.is_none() {
            if let Some(t) = signalled {
                if let Some(status) = a.exited() {
                    assert!(status.success(), "A exited with {status}");
                    a_exit = Some(t.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = a_exit.expect("A exited");
    assert!(
        took < Duration::from_millis(200 + 3 * 1000) + EXIT_SLACK,
        "A took {took:?} to exit"
    );
    assert!(
        told.load(Ordering::SeqCst),
        "the client saw no lame duck INFO"
    );
    assert_eq!(&answered_by[..10], vec!["A"; 10].as_slice());
    assert_eq!(
        client.server_info().port,
        b.port,
        "moved to the second server"
    );
    drop(responders);
}

/// SIGTERM during lame duck mode: natrix cuts it short and shuts down at once (within the
/// grace period, with a client still connected); nats-server handles signals one at a time,
/// so it finishes lame duck mode first (here: the grace period and one close). Both exit 0.
#[tokio::test]
async fn sigterm_during_lame_duck_mode_shuts_down_at_once() {
    let mut server = TestServer::start(ServerOpts::with_toml(SLOW_LDM));
    let mut c = RawConn::connect_with(server.port, r#"{"protocol":1,"verbose":false}"#).await;
    c.read_line().await;
    server.signal(libc::SIGUSR2);
    read_ldm_info(&mut c).await;
    let t = Instant::now();
    let status = server.stop();
    assert!(status.success(), "exit status {status}");
    let took = t.elapsed();
    let bound = if server.is_natrix() {
        Duration::from_millis(1200)
    } else {
        Duration::from_millis(1500) + EXIT_SLACK
    };
    assert!(took < bound, "SIGTERM took {took:?}");
    c.read_to_eof(WAIT).await;
}

/// Every payload stored in `server`'s stream `LDM` (read back by sequence).
async fn stored_payloads(server: &TestServer) -> Vec<u32> {
    let c = server.client().await;
    let stream = common::js(&c).get_stream("LDM").await.expect("stream LDM");
    let state = stream.cached_info().state.clone();
    let mut out = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(
                String::from_utf8_lossy(&m.payload)
                    .parse()
                    .expect("payload"),
            );
        }
    }
    out
}

/// A JetStream publisher given two servers (each with its own stream `LDM`) that retries
/// until it gets a PubAck, with `Nats-Msg-Id` so a retry on the same server is not stored
/// twice: while the first server drains in lame duck mode and exits, the publisher moves
/// to the second, and every message is stored on one of them (the first's store is read
/// back after a restart).
#[tokio::test]
async fn jetstream_publisher_moves_to_the_other_server_and_loses_no_message() {
    let mut a = TestServer::start(ServerOpts::with_toml(QUICK_LDM));
    let b = TestServer::start(ServerOpts::default());
    for server in [&a, &b] {
        let c = server.client().await;
        common::js(&c)
            .create_stream(async_nats::jetstream::stream::Config {
                name: "LDM".into(),
                subjects: vec!["ldm.js.>".into()],
                ..Default::default()
            })
            .await
            .expect("create stream");
    }
    let urls = [a.url(), b.url()];
    let client = bounded(
        "connect with two servers",
        async_nats::ConnectOptions::new()
            .retain_servers_order()
            .ignore_discovered_servers()
            .reconnect_delay_callback(|_| Duration::from_millis(50))
            .connect(&urls[..]),
    )
    .await
    .expect("connect");
    assert_eq!(client.server_info().port, a.port);
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(500))
        .build(client.clone());

    let (mut acked_on_b_after_exit, mut signalled, mut a_exit) = (0, None, None);
    let start = Instant::now();
    let mut i = 0u32;
    // Bounded: until A has exited and 10 more are acked since, or 30 s.
    while a_exit.is_none() || acked_on_b_after_exit < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no progress at message {i}"
        );
        if signalled.is_none() && i == 10 {
            a.signal(libc::SIGUSR2);
            signalled = Some(Instant::now());
        }
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(tries <= 200, "message {i} never acked");
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", i.to_string().as_str());
            let acked = match js
                .publish_with_headers(format!("ldm.js.{i}"), headers, i.to_string().into())
                .await
            {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if acked {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if a_exit.is_some() {
            acked_on_b_after_exit += 1;
        } else if signalled.is_some() {
            if let Some(status) = a.exited() {
                assert!(status.success(), "A exited with {status}");
                a_exit = Some(Instant::now());
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        client.server_info().port,
        b.port,
        "moved to the second server"
    );
    drop((js, client));
    // A finished its group commits before exiting: its store has what it acked.
    a.start_again();
    let mut stored = stored_payloads(&a).await;
    let on_a = stored.len();
    stored.extend(stored_payloads(&b).await);
    stored.sort_unstable();
    stored.dedup();
    assert_eq!(stored, (0..i).collect::<Vec<_>>(), "lost messages");
    assert!(on_a >= 10, "A stored {on_a} before lame duck");
    assert!(on_a < i as usize, "B stored none");
}
