//! The stream host's drive loop seen from a client: what the server publishes to itself
//! while answering (API replies captured by a stream) is never lost.
//!
//! Passes against nats-server 2.15.1: `NATRIX_TEST_SERVER=nats-server cargo test --test js_host`.

mod common;

use std::time::Duration;

use async_nats::jetstream::stream::Config;
use common::{bounded, js, ServerOpts, TestServer};

/// An API request answered on the owner in the same pass in which another reply was stored
/// (one read carries both requests): both replies, captured by a stream, are stored.
#[tokio::test]
async fn api_replies_captured_by_a_stream_are_all_stored() {
    // One core: the catalog, both streams and the client share the drive loop.
    let server = TestServer::start(ServerOpts {
        cores: 1,
        ..ServerOpts::default()
    });
    let client = server.client().await;
    let js = js(&client);
    for (name, subject) in [("A", "a.>"), ("LOG", "log.>")] {
        bounded(
            "create stream",
            js.create_stream(Config {
                name: name.to_string(),
                subjects: vec![subject.to_string()],
                ..Default::default()
            }),
        )
        .await
        .expect("create stream");
    }
    let mut raw = server.raw().await;
    raw.handshake("{\"verbose\":false}").await;
    raw.send(
        b"PUB $JS.API.STREAM.NAMES log.names 0\r\n\r\nPUB $JS.API.STREAM.INFO.A log.info 0\r\n\r\n",
    )
    .await;
    raw.ping_pong().await;
    let mut log = bounded("get LOG", js.get_stream("LOG")).await.expect("LOG");
    let mut messages = 0;
    for _ in 0..100 {
        messages = bounded("LOG info", log.info())
            .await
            .expect("info")
            .state
            .messages;
        if messages >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(messages, 2, "both API replies stored in LOG");
    let first = bounded("get 1", log.get_raw_message(1))
        .await
        .expect("msg 1");
    let second = bounded("get 2", log.get_raw_message(2))
        .await
        .expect("msg 2");
    assert_eq!(first.subject.as_str(), "log.names");
    assert_eq!(second.subject.as_str(), "log.info");
}
