//! What a source stores is taken as nats-server takes a sourced message: the origin already
//! checked its headers, so a `Nats-TTL` or `Nats-Rollup` the sourcing stream would refuse from
//! a client is stored (the TTL not applied without `allow_msg_ttl`, the rollup not carried
//! out without `allow_rollup_hdrs`) instead of stalling the source. A message the sourcing
//! stream does refuse (too large) is retried from its own sequence: nothing before it is
//! stored twice.
//!
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_sourced_headers` runs them against
//! nats-server 2.15.1.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{js_api, js_publish_raw, TestServer};

const CATCH_UP: Duration = Duration::from_secs(30);

async fn create(c: &async_nats::Client, cfg: Value) {
    let name = cfg["name"].as_str().expect("name").to_owned();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert!(r.get("error").is_none(), "create {name}: {r}");
}

async fn publish(c: &async_nats::Client, subject: &str, headers: &[(&str, &str)]) {
    let ack = js_publish_raw(c, subject, headers, b"x").await;
    assert!(ack.get("error").is_none(), "{subject}: {ack}");
}

/// Waits until `stream` holds `messages` with last sequence `last_seq`.
async fn wait_state(c: &async_nats::Client, stream: &str, messages: u64, last_seq: u64) {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let i = js_api(c, &format!("STREAM.INFO.{stream}"), &Value::Null).await;
        let s = &i["state"];
        if s["messages"] == messages && s["last_seq"] == last_seq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stream} never held {messages} messages up to {last_seq}: {i}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sourced_ttl_and_rollup_headers_are_stored_not_refused() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "ORIGIN", "subjects": ["o.>"], "allow_msg_ttl": true,
               "allow_rollup_hdrs": true}),
    )
    .await;
    create(&c, json!({"name": "COPY", "sources": [{"name": "ORIGIN"}]})).await;
    publish(&c, "o.a", &[]).await;
    publish(&c, "o.a", &[]).await;
    // A TTL: COPY has no allow_msg_ttl, it stores the message anyway.
    publish(&c, "o.t", &[("Nats-TTL", "1h")]).await;
    wait_state(&c, "COPY", 3, 3).await;
    // A subject rollup: COPY does not allow rollups; it stores the message, rolls nothing up.
    publish(&c, "o.a", &[("Nats-Rollup", "sub")]).await;
    wait_state(&c, "COPY", 4, 4).await;
    // And the source goes on.
    publish(&c, "o.b", &[]).await;
    wait_state(&c, "COPY", 5, 5).await;
}

#[tokio::test]
async fn a_refused_sourced_message_duplicates_nothing_before_it() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "BIG", "subjects": ["big.>"]})).await;
    create(
        &c,
        json!({"name": "SMALL", "max_msg_size": 64, "sources": [{"name": "BIG"}]}),
    )
    .await;
    publish(&c, "big.a", &[]).await;
    wait_state(&c, "SMALL", 1, 1).await;
    // Too large for SMALL: refused there, over and over; what came before stays single.
    let ack = js_publish_raw(&c, "big.b", &[], &[b'x'; 200]).await;
    assert!(ack.get("error").is_none(), "{ack}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let i = js_api(&c, "STREAM.INFO.SMALL", &Value::Null).await;
    assert_eq!(i["state"]["messages"], 1, "{i}");
    assert_eq!(i["state"]["last_seq"], 1, "{i}");
}
