//! JetStream consumer helpers shared by the consumer test suites: raw pull requests, consumer
//! info polling, and reading a delivery's status line, headers and `$JS.ACK` tokens.

use std::time::{Duration, Instant};

use async_nats::{Client, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use super::{bounded, js_api};

/// Consumer info as raw JSON (`$JS.API.CONSUMER.INFO`).
pub async fn cinfo(c: &Client, stream: &str, consumer: &str) -> Value {
    let v = js_api(
        c,
        &format!("CONSUMER.INFO.{stream}.{consumer}"),
        &Value::Null,
    )
    .await;
    assert!(v.get("error").is_none(), "consumer info: {v}");
    v
}

/// Polls consumer info (<= 5 s) until `field` is `want` (nats-server updates counters such as
/// `num_pending` and `num_waiting` asynchronously after a publish or a pull request); returns
/// the last info.
pub async fn wait_info(c: &Client, stream: &str, consumer: &str, field: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = cinfo(c, stream, consumer).await;
        if v[field].as_u64() == Some(want) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{stream}/{consumer}: {field} never became {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(consumer_seq, stream_seq)` of a `delivered` / `ack_floor` object.
pub fn seqs(v: &Value) -> (u64, u64) {
    (
        v["consumer_seq"].as_u64().unwrap(),
        v["stream_seq"].as_u64().unwrap(),
    )
}

/// Sends a raw pull request with `body` and returns the subscription on its reply inbox.
pub async fn pull_raw(c: &Client, stream: &str, consumer: &str, body: &str) -> Subscriber {
    let inbox = c.new_inbox();
    let sub = c.subscribe(inbox.clone()).await.unwrap();
    c.publish_with_reply(
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
        inbox,
        Bytes::from(body.to_string()),
    )
    .await
    .unwrap();
    c.flush().await.unwrap();
    sub
}

/// Next message on `sub` within `limit`, or `None`.
pub async fn next_within(sub: &mut Subscriber, limit: Duration) -> Option<async_nats::Message> {
    tokio::time::timeout(limit, sub.next()).await.ok().flatten()
}

/// Next message on `sub` (bounded by 10 s), panicking with `what` on timeout.
pub async fn next(sub: &mut Subscriber, what: &str) -> async_nats::Message {
    bounded(what, sub.next())
        .await
        .unwrap_or_else(|| panic!("{what}: subscription closed"))
}

pub fn status_of(m: &async_nats::Message) -> Option<(u16, String)> {
    m.status
        .map(|s| (s.as_u16(), m.description.clone().unwrap_or_default()))
}

pub fn header<'a>(m: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    m.headers.as_ref()?.get(name).map(|v| v.as_str())
}

/// Tokens of a `$JS.ACK` reply subject.
pub fn ack_tokens(m: &async_nats::Message) -> Vec<String> {
    m.reply
        .as_ref()
        .unwrap_or_else(|| panic!("delivery without reply: {m:?}"))
        .split('.')
        .map(str::to_string)
        .collect()
}

/// Stream sequence of a delivery (from its `$JS.ACK` reply).
pub fn sseq(m: &async_nats::Message) -> u64 {
    ack_tokens(m)[5].parse().unwrap()
}

/// Delivery count of a delivery (from its `$JS.ACK` reply).
pub fn dcount(m: &async_nats::Message) -> u64 {
    ack_tokens(m)[4].parse().unwrap()
}
