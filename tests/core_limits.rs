//! Limit enforcement: slow consumers, stale connections, payload / control-line / subscription /
//! connection limits. Limits are configured with natrix TOML keys (the harness translates them
//! for nats-server).
//!
//! Every test here also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`).

mod common;

use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use bytes::Bytes;
use futures::StreamExt;

use common::{bounded, sync_subs, RawConn, ServerOpts, TestServer, WAIT};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// A subscriber that never reads is disconnected once its pending bytes exceed
/// max_pending_bytes, while a healthy subscriber receives everything and the publisher is not
/// stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_disconnected_others_unaffected() {
    const MSGS: usize = 1000;
    const SIZE: usize = 64 * 1024; // 64 MiB in total, 32x max_pending
    let s = TestServer::start(ServerOpts::with_toml(
        "[limits]\nmax_pending_bytes = 2097152\nmax_payload_bytes = 1048576\n",
    ));

    // The slow consumer: small receive buffer, subscribes, then never reads again.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = bounded(
        "slow consumer connect",
        sock.connect(format!("127.0.0.1:{}", s.port).parse().unwrap()),
    )
    .await
    .unwrap();
    let mut slow = RawConn::from_stream(stream).await;
    slow.handshake(QUIET).await;
    slow.auto_pong = false;
    slow.send(b"SUB big 1\r\nPING\r\n").await;
    slow.expect(b"PONG\r\n").await;

    let publisher = s.client().await;
    let good = s
        .client_with(ConnectOptions::new().subscription_capacity(MSGS + 16))
        .await;
    let mut sub = good.subscribe("big").await.unwrap();
    sync_subs(&good, &[&publisher]).await;
    let reader = tokio::spawn(async move {
        for i in 0..MSGS {
            let m = match tokio::time::timeout(WAIT, sub.next()).await {
                Ok(Some(m)) => m,
                _ => panic!("healthy subscriber stalled at {i}"),
            };
            assert_eq!(m.payload.len(), SIZE);
            assert_eq!(
                u32::from_be_bytes(m.payload[..4].try_into().unwrap()),
                i as u32
            );
        }
        good
    });

    let t0 = Instant::now();
    let mut payload = vec![0xA5u8; SIZE];
    for i in 0..MSGS {
        payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
        bounded(
            "publish",
            publisher.publish("big", Bytes::copy_from_slice(&payload)),
        )
        .await
        .unwrap();
    }
    bounded("publisher flush", publisher.flush()).await.unwrap();
    let _good = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("healthy subscriber did not get everything within 30 s")
        .expect("healthy subscriber failed");
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "publisher + healthy subscriber took {elapsed:?}"
    );

    // The slow consumer was cut off: it reaches EOF well before receiving all that was sent.
    let received = slow.read_to_eof(Duration::from_secs(15)).await;
    let total = MSGS * (SIZE + 20);
    assert!(
        received.len() < total / 2,
        "slow consumer received {} of ~{total} bytes: not disconnected",
        received.len()
    );
    // The server itself is fine.
    let c = s.client().await;
    common::round_trip(&c).await;
}

/// Server PINGs every ping_interval_ms; a client that never answers gets
/// `-ERR 'Stale Connection'` once max_pings_outstanding PINGs are unanswered.
#[tokio::test]
async fn stale_connection() {
    let s = TestServer::start(ServerOpts::with_toml(
        "[limits]\nping_interval_ms = 1000\nmax_pings_outstanding = 2\n",
    ));
    let mut c = RawConn::connect_with(s.port, QUIET).await;
    c.auto_pong = false;
    let t0 = Instant::now();
    c.expect(b"PING\r\n").await;
    c.expect(b"PING\r\n").await;
    c.expect_err("Stale Connection").await;
    let elapsed = t0.elapsed();
    c.expect_closed().await;
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed <= Duration::from_secs(6),
        "stale detection after {elapsed:?} (expected ~2-3 s)"
    );
}

/// A client that answers the server's PINGs is not considered stale.
#[tokio::test]
async fn answered_pings_keep_connection_alive() {
    let s = TestServer::start(ServerOpts::with_toml(
        "[limits]\nping_interval_ms = 1000\nmax_pings_outstanding = 2\n",
    ));
    let mut c = RawConn::connect_with(s.port, QUIET).await;
    // auto_pong answers every server PING while we wait well past the stale deadline.
    c.expect_silence(Duration::from_millis(4500)).await;
    c.ping_pong().await;
    // async-nats answers PINGs too.
    let client = s.client().await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    common::round_trip(&client).await;
}

#[tokio::test]
async fn custom_max_payload() {
    let s = TestServer::start(ServerOpts::with_toml(
        "[limits]\nmax_payload_bytes = 1024\n",
    ));
    // async-nats learns the limit from INFO and refuses oversize publishes itself.
    let client = s.client().await;
    assert_eq!(client.server_info().max_payload, 1024);
    let other = s.client().await;
    let mut sub = other.subscribe("lim").await.unwrap();
    sync_subs(&other, &[&client]).await;
    client
        .publish("lim", vec![7u8; 1024].into())
        .await
        .expect("exactly max_payload must be accepted");
    let err = client
        .publish("lim", vec![7u8; 1025].into())
        .await
        .expect_err("max_payload + 1 must be refused");
    assert_eq!(
        err.kind(),
        async_nats::client::PublishErrorKind::MaxPayloadExceeded
    );
    let m = bounded("message", sub.next()).await.unwrap();
    assert_eq!(m.payload.len(), 1024);

    // Raw: the server enforces it on the control line.
    let mut c = RawConn::connect_with(s.port, QUIET).await;
    assert_eq!(c.info["max_payload"].as_u64(), Some(1024));
    c.send(b"SUB foo 1\r\n").await;
    let mut frame = b"PUB foo 1024\r\n".to_vec();
    frame.extend_from_slice(&[b'x'; 1024]);
    frame.extend_from_slice(b"\r\n");
    c.send(&frame).await;
    c.expect(b"MSG foo 1 1024\r\n").await;
    c.read_exact(1026).await;
    c.send(b"PUB foo 1025\r\n").await;
    c.expect_err_and_close("Maximum Payload Violation").await;
}

#[tokio::test]
async fn custom_max_control_line() {
    let s = TestServer::start(ServerOpts::with_toml(
        "[limits]\nmax_control_line_bytes = 256\n",
    ));
    let mut c = RawConn::connect_with(s.port, QUIET).await;
    // well under the limit: fine
    c.send(format!("SUB {} 1\r\n", "a".repeat(100)).as_bytes())
        .await;
    c.ping_pong().await;
    c.send(format!("SUB {} 2\r\n", "b".repeat(400)).as_bytes())
        .await;
    c.expect_err_and_close("maximum control line exceeded")
        .await;
}

#[tokio::test]
async fn max_subscriptions_keeps_connection() {
    let s = TestServer::start(ServerOpts::with_toml("[limits]\nmax_subscriptions = 3\n"));
    let mut c = RawConn::connect_with(s.port, QUIET).await;
    c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
    c.send(b"SUB d 4\r\n").await;
    c.expect_err("maximum subscriptions exceeded").await;
    c.ping_pong().await;
    // `d` was not subscribed; the others still work.
    c.send(b"PUB d 1\r\nx\r\nPUB a 1\r\ny\r\n").await;
    c.expect(b"MSG a 1 1\r\ny\r\n").await;
    // After an UNSUB there is room again.
    c.send(b"UNSUB 2\r\nSUB d 4\r\nPUB d 1\r\nz\r\n").await;
    c.expect(b"MSG d 4 1\r\nz\r\n").await;
    c.ping_pong().await;
}

#[tokio::test]
async fn max_connections() {
    let s = TestServer::start(ServerOpts::with_toml("[limits]\nmax_connections = 2\n"));
    let mut a = RawConn::connect_with(s.port, QUIET).await;
    let mut b = RawConn::connect_with(s.port, QUIET).await;
    // The third connection is greeted and then refused.
    let mut c = s.raw().await;
    c.expect_err_and_close("maximum connections exceeded").await;
    a.ping_pong().await;
    b.ping_pong().await;
    // Closing one frees a slot (the server notices the close asynchronously: bounded retries).
    drop(a);
    let mut ok = false;
    for _ in 0..100 {
        let mut d = s.raw().await;
        d.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n").await;
        let line = d.read_line().await;
        if line == b"PONG\r\n" {
            ok = true;
            break;
        }
        assert_eq!(
            line,
            b"-ERR 'maximum connections exceeded'\r\n".to_vec(),
            "unexpected: {}",
            common::show(&line)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "slot never freed after closing a connection");
    b.ping_pong().await;
}
