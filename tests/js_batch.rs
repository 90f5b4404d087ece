//! Atomic batch publish (`allow_atomic`, nats-server 2.12), with raw requests and headers
//! (`Nats-Batch-Id`, `Nats-Batch-Sequence`, `Nats-Batch-Commit`) as a client library sends
//! them, against natrix and nats-server 2.15.1:
//!
//! * every message before the commit is answered with an empty message and nothing is
//!   visible; the commit stores all of them and its ack says `batch` and `count`; the stored
//!   messages keep the batch headers, the last one with `Nats-Batch-Commit: 1` (also when the
//!   batch ended with `eob`, whose own message is not stored);
//! * refusals with nats-server's codes: not an atomic stream (10174), no sequence (10175),
//!   gaps, unknown and abandoned batches (10176), an unsupported header (10177), a long id
//!   (10179), too large (10199), a bad commit (10200), duplicate ids (10201), too many open
//!   batches (10210), expected sequences and rollups inside a batch (10071, 10164, 10111) —
//!   and nothing of a refused batch is stored;
//! * a batch left open past the timeout (10 s) is dropped;
//! * the limits come from the configuration (natrix `jetstream.max_batch_*`, nats-server
//!   `jetstream { limits { batch { … } } }`), with the same refusals;
//! * a committed batch survives a restart, an open one does not; after kill -9 in the middle
//!   of committing batches, each batch is there whole or not at all.
//!
//! Run: `cargo test --test js_batch` or `NATRIX_TEST_SERVER=nats-server cargo test --test js_batch`.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use common::{assert_js_error, bounded, js_api, ServerOpts, TestServer};

/// One reply to a batch message: `None` for the empty answer to a staged message.
async fn send(
    c: &async_nats::Client,
    subject: &str,
    id: &str,
    seq: u64,
    commit: Option<&str>,
    extra: &[(&str, &str)],
    payload: &[u8],
) -> Option<Value> {
    let mut h = async_nats::HeaderMap::new();
    h.append("Nats-Batch-Id", id);
    h.append("Nats-Batch-Sequence", seq.to_string().as_str());
    if let Some(v) = commit {
        h.append("Nats-Batch-Commit", v);
    }
    for (k, v) in extra {
        h.append(*k, *v);
    }
    let m = bounded(
        "batch reply",
        c.request_with_headers(subject.to_string(), h, Bytes::copy_from_slice(payload)),
    )
    .await
    .unwrap_or_else(|e| panic!("batch message {id}/{seq}: {e}"));
    if m.payload.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(&m.payload).expect("publish ack JSON"))
}

/// Stages message `seq` of batch `id` and checks the empty answer.
async fn stage(c: &async_nats::Client, subject: &str, id: &str, seq: u64) {
    let r = send(c, subject, id, seq, None, &[], b"x").await;
    assert_eq!(r, None, "staged {id}/{seq}");
}

async fn create(c: &async_nats::Client, cfg: Value) {
    let name = cfg["name"].as_str().expect("name").to_owned();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert!(r.get("error").is_none(), "create {name}: {r}");
}

async fn messages(c: &async_nats::Client, stream: &str) -> u64 {
    let r = js_api(c, &format!("STREAM.INFO.{stream}"), &Value::Null).await;
    r["state"]["messages"]
        .as_u64()
        .unwrap_or_else(|| panic!("info: {r}"))
}

/// Subject and header lines (sorted: a client may send headers in any order) of the
/// stored message `seq`.
async fn stored_headers(c: &async_nats::Client, stream: &str, seq: u64) -> (String, Vec<String>) {
    let r = js_api(
        c,
        &format!("STREAM.MSG.GET.{stream}"),
        &json!({ "seq": seq }),
    )
    .await;
    let m = &r["message"];
    let hdrs = base64::engine::general_purpose::STANDARD
        .decode(m["hdrs"].as_str().unwrap_or(""))
        .expect("base64 headers");
    let text = String::from_utf8(hdrs).expect("utf-8 headers");
    assert!(
        text.starts_with("NATS/1.0\r\n") && text.ends_with("\r\n\r\n"),
        "{text:?}"
    );
    let mut lines: Vec<String> = text
        .trim_end()
        .lines()
        .skip(1)
        .map(|l| l.trim_end().to_owned())
        .collect();
    lines.sort();
    (m["subject"].as_str().unwrap_or_default().to_owned(), lines)
}

fn lines(hdrs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = hdrs.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn commit_stores_the_whole_batch_at_once_and_acks_batch_and_count() {
    let server = TestServer::start_default();
    let c = server.client().await;
    for storage in ["file", "memory"] {
        let name = format!("B{storage}");
        let subj = format!("{storage}.b");
        create(
            &c,
            json!({"name": name, "subjects": [format!("{storage}.>")], "storage": storage, "allow_atomic": true}),
        )
        .await;
        for seq in 1..=4 {
            stage(&c, &subj, "a", seq).await;
        }
        assert_eq!(
            messages(&c, &name).await,
            0,
            "{storage}: visible before commit"
        );
        let ack = send(&c, &subj, "a", 5, Some("1"), &[], b"last").await;
        assert_eq!(
            ack,
            Some(json!({"stream": name, "seq": 5, "batch": "a", "count": 5})),
            "{storage}"
        );
        assert_eq!(messages(&c, &name).await, 5);
        assert_eq!(
            stored_headers(&c, &name, 1).await,
            (
                subj.clone(),
                lines(&["Nats-Batch-Id: a", "Nats-Batch-Sequence: 1"])
            )
        );
        assert_eq!(
            stored_headers(&c, &name, 5).await.1,
            lines(&[
                "Nats-Batch-Id: a",
                "Nats-Batch-Sequence: 5",
                "Nats-Batch-Commit: 1"
            ])
        );
        // `eob` ends a batch without being stored; the last stored message says commit 1.
        stage(&c, &subj, "e", 1).await;
        stage(&c, &subj, "e", 2).await;
        let ack = send(
            &c,
            &format!("{storage}.eob"),
            "e",
            3,
            Some("eob"),
            &[],
            b"not stored",
        )
        .await;
        assert_eq!(
            ack,
            Some(json!({"stream": name, "seq": 7, "batch": "e", "count": 2})),
            "{storage}"
        );
        assert_eq!(messages(&c, &name).await, 7);
        assert_eq!(
            stored_headers(&c, &name, 7).await,
            (
                subj.clone(),
                lines(&[
                    "Nats-Batch-Id: e",
                    "Nats-Batch-Sequence: 2",
                    "Nats-Batch-Commit: 1"
                ])
            )
        );
        // A one-message batch, and the same id again once committed.
        let ack = send(&c, &subj, "a", 1, Some("1"), &[], b"x").await;
        assert_eq!(
            ack,
            Some(json!({"stream": name, "seq": 8, "batch": "a", "count": 1}))
        );
        // An empty id is an ordinary publish.
        let ack = send(&c, &subj, "", 1, Some("1"), &[], b"x").await;
        assert_eq!(ack, Some(json!({"stream": name, "seq": 9})));
    }
}

#[tokio::test]
async fn intermediate_messages_without_reply_and_consumers_see_the_batch_only_once_committed() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "N", "subjects": ["n.>"], "allow_atomic": true}),
    )
    .await;
    let r = js_api(
        &c,
        "CONSUMER.CREATE.N.W",
        &json!({"stream_name": "N", "config": {"durable_name": "W", "ack_policy": "explicit"}}),
    )
    .await;
    assert!(r.get("error").is_none(), "{r}");
    for seq in 1..=3 {
        let mut h = async_nats::HeaderMap::new();
        h.append("Nats-Batch-Id", "nr");
        h.append("Nats-Batch-Sequence", seq.to_string().as_str());
        c.publish_with_headers("n.x", h, Bytes::from_static(b"p"))
            .await
            .expect("publish");
    }
    c.flush().await.expect("flush");
    // Nothing to deliver yet.
    let r = next(&c, "N", "W").await;
    assert!(r.is_none(), "delivered before the commit: {r:?}");
    let ack = send(&c, "n.x", "nr", 4, Some("1"), &[], b"p").await;
    assert_eq!(
        ack,
        Some(json!({"stream": "N", "seq": 4, "batch": "nr", "count": 4}))
    );
    for want in 1..=4u64 {
        let seq = next(&c, "N", "W")
            .await
            .expect("delivered after the commit");
        assert_eq!(seq, want);
    }
}

/// One `no_wait` pull of one message: its stream sequence, `None` when there is nothing (404).
async fn next(c: &async_nats::Client, stream: &str, consumer: &str) -> Option<u64> {
    let inbox = c.new_inbox();
    let mut sub = c.subscribe(inbox.clone()).await.expect("subscribe");
    c.publish_with_reply(
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
        inbox,
        Bytes::from_static(br#"{"batch":1,"no_wait":true}"#),
    )
    .await
    .expect("pull");
    let m = bounded("pull reply", futures::StreamExt::next(&mut sub))
        .await
        .expect("reply");
    if m.status.is_some() {
        return None;
    }
    // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
    let reply = m.reply.expect("ack subject");
    reply.split('.').nth(5).and_then(|t| t.parse().ok())
}

#[tokio::test]
async fn refusals_have_nats_server_codes_and_store_nothing() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "P", "subjects": ["p.>"]})).await;
    create(
        &c,
        json!({"name": "R", "subjects": ["r.>"], "allow_atomic": true, "allow_rollup_hdrs": true}),
    )
    .await;
    let err = |v: Option<Value>, code, err_code, text: &str| {
        let v = v.unwrap_or_else(|| panic!("no error, expected {err_code}"));
        assert_js_error(&v, code, err_code, text);
        assert_eq!(v["seq"], 0, "{v}");
    };
    err(
        send(&c, "p.x", "a", 1, None, &[], b"x").await,
        400,
        10174,
        "atomic publish is disabled",
    );
    // Staging problems.
    err(
        send(&c, "r.x", "f", 1, Some("eob"), &[], b"x").await,
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    err(
        send(&c, "r.x", "g", 2, None, &[], b"x").await,
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    stage(&c, "r.x", "g", 1).await;
    err(
        send(&c, "r.x", "g", 3, None, &[], b"x").await,
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    err(
        send(&c, "r.x", "g", 2, Some("1"), &[], b"x").await,
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    let mut h = async_nats::HeaderMap::new();
    h.append("Nats-Batch-Id", "h");
    let m = bounded("reply", c.request_with_headers("r.x", h, Bytes::new()))
        .await
        .expect("reply");
    err(
        serde_json::from_slice(&m.payload).ok(),
        400,
        10175,
        "atomic publish sequence is missing",
    );
    let mut h = async_nats::HeaderMap::new();
    h.append("Nats-Batch-Id", "h");
    h.append("Nats-Batch-Sequence", "abc");
    let m = bounded("reply", c.request_with_headers("r.x", h, Bytes::new()))
        .await
        .expect("reply");
    err(
        serde_json::from_slice(&m.payload).ok(),
        400,
        10175,
        "atomic publish sequence is missing",
    );
    err(
        send(&c, "r.x", &"x".repeat(65), 1, None, &[], b"x").await,
        400,
        10179,
        "atomic publish batch ID is invalid",
    );
    err(
        send(&c, "r.x", "i", 1, Some("yes"), &[], b"x").await,
        400,
        10200,
        "atomic publish batch commit is invalid",
    );
    err(
        send(&c, "r.x", "k", 1001, None, &[], b"x").await,
        400,
        10199,
        "atomic publish batch is too large: 1000",
    );
    // Commit-time checks: the whole batch is refused.
    let commit_fails = |extra: &'static [(&'static str, &'static str)], at: u64| {
        let c = c.clone();
        async move {
            let id = format!("c{at}{}", extra.first().map_or("", |e| e.0));
            for seq in 1..at {
                stage(&c, "r.y", &id, seq).await;
            }
            send(&c, "r.y", &id, at, Some("1"), extra, b"x").await
        }
    };
    err(
        commit_fails(&[("Nats-Expected-Last-Msg-Id", "m")], 1).await,
        400,
        10177,
        "atomic publish unsupported header used: Nats-Expected-Last-Msg-Id",
    );
    err(
        commit_fails(&[("Nats-Expected-Last-Sequence", "7")], 1).await,
        400,
        10071,
        "wrong last sequence: 0",
    );
    // On the second message the batch's own first message counts: 1, refused as constant.
    err(
        commit_fails(&[("Nats-Expected-Last-Sequence", "1")], 2).await,
        400,
        10164,
        "wrong last sequence",
    );
    err(
        commit_fails(&[("Nats-Expected-Last-Subject-Sequence", "1")], 2).await,
        400,
        10164,
        "wrong last sequence",
    );
    err(
        commit_fails(&[("Nats-Rollup", "all")], 2).await,
        500,
        10111,
        "batch rollup all invalid",
    );
    err(
        commit_fails(&[("Nats-Rollup", "sub")], 2).await,
        500,
        10111,
        "batch rollup sub invalid",
    );
    err(
        commit_fails(&[("Nats-Expected-Stream", "OTHER")], 3).await,
        400,
        10060,
        "expected stream does not match",
    );
    err(
        commit_fails(&[("Nats-TTL", "5s")], 2).await,
        400,
        10166,
        "per-message TTL is disabled",
    );
    assert_eq!(
        messages(&c, "R").await,
        0,
        "a refused batch stored something"
    );
    // Message ids: one already stored, or twice in a batch.
    let ack = send(
        &c,
        "r.z",
        "d1",
        1,
        Some("1"),
        &[("Nats-Msg-Id", "m1")],
        b"x",
    )
    .await;
    assert_eq!(
        ack,
        Some(json!({"stream": "R", "seq": 1, "batch": "d1", "count": 1}))
    );
    err(
        send(
            &c,
            "r.z",
            "d2",
            1,
            Some("1"),
            &[("Nats-Msg-Id", "m1")],
            b"x",
        )
        .await,
        400,
        10201,
        "atomic publish batch contains duplicate message id",
    );
    assert_eq!(
        send(&c, "r.z", "d3", 1, None, &[("Nats-Msg-Id", "m2")], b"x").await,
        None
    );
    err(
        send(
            &c,
            "r.z",
            "d3",
            2,
            Some("1"),
            &[("Nats-Msg-Id", "m2")],
            b"x",
        )
        .await,
        400,
        10201,
        "atomic publish batch contains duplicate message id",
    );
    // A refused commit ends the batch.
    err(
        send(&c, "r.z", "d3", 3, Some("1"), &[], b"x").await,
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    assert_eq!(messages(&c, "R").await, 1);
    // A rollup of everything as the first message works.
    stage(&c, "r.q", "ra", 1).await;
    let ack = send(&c, "r.q", "ra", 2, Some("1"), &[], b"x").await;
    assert_eq!(ack.as_ref().map(|a| &a["count"]), Some(&json!(2)));
    let ack = send(&c, "r.w", "rb", 1, None, &[("Nats-Rollup", "all")], b"x").await;
    assert_eq!(ack, None);
    let ack = send(&c, "r.w", "rb", 2, Some("1"), &[], b"x").await;
    assert_eq!(
        ack,
        Some(json!({"stream": "R", "seq": 5, "batch": "rb", "count": 2}))
    );
    assert_eq!(messages(&c, "R").await, 2);
}

#[tokio::test]
async fn fifty_open_batches_per_stream_then_429() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "F", "subjects": ["f.>"], "allow_atomic": true}),
    )
    .await;
    for i in 0..50 {
        stage(&c, "f.x", &format!("in{i}"), 1).await;
    }
    let r = send(&c, "f.x", "in50", 1, None, &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        429,
        10210,
        "atomic publish too many inflight",
    );
    // Open batches still go on; a committed one makes room.
    let ack = send(&c, "f.x", "in0", 2, Some("1"), &[], b"x").await;
    assert_eq!(ack.as_ref().map(|a| &a["count"]), Some(&json!(2)));
    stage(&c, "f.x", "in50", 1).await;
    // Another stream has its own allowance.
    create(
        &c,
        json!({"name": "G", "subjects": ["g.>"], "allow_atomic": true}),
    )
    .await;
    stage(&c, "g.x", "in0", 1).await;
}

#[tokio::test]
async fn an_abandoned_batch_is_dropped_after_the_timeout() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "T", "subjects": ["t.>"], "allow_atomic": true}),
    )
    .await;
    stage(&c, "t.x", "slow", 1).await;
    stage(&c, "t.x", "slow", 2).await;
    // Turning atomic publish off and on drops open batches too.
    stage(&c, "t.x", "upd", 1).await;
    let off = js_api(
        &c,
        "STREAM.UPDATE.T",
        &json!({"name": "T", "subjects": ["t.>"], "allow_atomic": false}),
    )
    .await;
    assert!(off.get("error").is_none(), "{off}");
    let r = send(&c, "t.x", "upd", 2, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10174,
        "atomic publish is disabled",
    );
    let on = js_api(
        &c,
        "STREAM.UPDATE.T",
        &json!({"name": "T", "subjects": ["t.>"], "allow_atomic": true}),
    )
    .await;
    assert!(on.get("error").is_none(), "{on}");
    let r = send(&c, "t.x", "upd", 2, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    // nats-server's default timeout is 10 s after the last message.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(10_600)).await;
    let r = send(&c, "t.x", "slow", 3, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(messages(&c, "T").await, 0);
}

/// natrix's `jetstream.max_batch_*` keys and nats-server's `jetstream.limits.batch` block,
/// with the same small limits. One natrix core: its open-batch total counts per core.
const BATCH_LIMITS_TOML: &str = "[jetstream]\nmax_batch_size = 3\nmax_batch_inflight_per_stream = 2\nmax_batch_inflight_total = 3\nmax_batch_timeout_ms = 2000\n";
const BATCH_LIMITS_NATS: &str = "jetstream {\n  limits {\n    batch {\n      max_msgs: 3\n      max_inflight_per_stream: 2\n      max_inflight_total: 3\n      timeout: \"2s\"\n    }\n  }\n}\n";

#[tokio::test]
async fn batch_limits_come_from_the_configuration() {
    let opts = ServerOpts {
        cores: 1,
        ..ServerOpts::with_toml(BATCH_LIMITS_TOML)
    };
    let server = TestServer::start_with_nats_conf(opts, Some(BATCH_LIMITS_NATS));
    let c = server.client().await;
    for name in ["L", "M"] {
        let subject = format!("{}.>", name.to_lowercase());
        create(
            &c,
            json!({"name": name, "subjects": [subject], "allow_atomic": true}),
        )
        .await;
    }
    // max_msgs: three messages commit, a fourth is too many and drops the batch.
    stage(&c, "l.x", "ok", 1).await;
    stage(&c, "l.x", "ok", 2).await;
    let ack = send(&c, "l.x", "ok", 3, Some("1"), &[], b"x").await;
    assert_eq!(ack.as_ref().map(|a| &a["count"]), Some(&json!(3)));
    for seq in 1..=3 {
        stage(&c, "l.x", "big", seq).await;
    }
    let r = send(&c, "l.x", "big", 4, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10199,
        "atomic publish batch is too large: 3",
    );
    let r = send(&c, "l.x", "big", 5, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10199,
        "atomic publish batch is too large: 3",
    );
    // An end-of-batch marker does not count.
    for seq in 1..=3 {
        stage(&c, "l.x", "eob", seq).await;
    }
    let ack = send(&c, "l.x", "eob", 4, Some("eob"), &[], b"").await;
    assert_eq!(ack.as_ref().map(|a| &a["count"]), Some(&json!(3)));
    assert_eq!(messages(&c, "L").await, 6);

    // max_inflight_per_stream: two open batches on L, the third is refused.
    stage(&c, "l.x", "o1", 1).await;
    stage(&c, "l.x", "o2", 1).await;
    let r = send(&c, "l.x", "o3", 1, None, &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        429,
        10210,
        "atomic publish too many inflight",
    );
    // max_inflight_total: one more on M makes three in all; a fourth is refused.
    stage(&c, "m.x", "p1", 1).await;
    let r = send(&c, "m.x", "p2", 1, None, &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        429,
        10210,
        "atomic publish too many inflight",
    );

    // timeout: 2 s without a message drops the open batches.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let r = send(&c, "l.x", "o1", 2, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    stage(&c, "m.x", "p2", 1).await;
    assert_eq!(messages(&c, "M").await, 0);
}

async fn wait_until_served(c: &async_nats::Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = js_api(c, &format!("STREAM.INFO.{name}"), &Value::Null).await;
        if r.get("error").is_none() {
            return;
        }
        assert!(Instant::now() < deadline, "stream {name} not served: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `BATCH_ABANDONED` advisory: (batch, reason).
async fn abandoned(sub: &mut async_nats::Subscriber) -> (String, String) {
    // A timeout comes 10 s after the batch's last message.
    let m = tokio::time::timeout(Duration::from_secs(15), futures::StreamExt::next(sub))
        .await
        .expect("timed out: advisory")
        .expect("advisory");
    let v: Value = serde_json::from_slice(&m.payload).expect("advisory JSON");
    assert_eq!(
        v["type"], "io.nats.jetstream.advisory.v1.stream_batch_abandoned",
        "{v}"
    );
    assert_eq!(
        m.subject.as_str(),
        format!(
            "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.{}",
            v["stream"].as_str().unwrap_or("")
        )
    );
    (
        v["batch"].as_str().unwrap_or_default().to_owned(),
        v["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn abandoned_batches_are_advised_with_their_reason() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "V", "subjects": ["v.>"], "allow_atomic": true}),
    )
    .await;
    let mut sub = c
        .subscribe("$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.>")
        .await
        .expect("subscribe");
    c.flush().await.expect("flush");
    // Never opened, a bad commit value, a commit: no advisory.
    send(&c, "v.x", "n", 2, None, &[], b"x").await;
    stage(&c, "v.x", "c", 1).await;
    send(&c, "v.x", "c", 2, Some("x"), &[], b"x").await;
    send(&c, "v.x", "k", 1, Some("1"), &[], b"x").await;
    stage(&c, "v.x", "g", 1).await;
    send(&c, "v.x", "g", 3, None, &[], b"x").await;
    assert_eq!(abandoned(&mut sub).await, ("g".into(), "incomplete".into()));
    send(&c, "v.x", "e", 1, Some("eob"), &[], b"x").await;
    assert_eq!(abandoned(&mut sub).await, ("e".into(), "incomplete".into()));
    stage(&c, "v.x", "t", 1).await;
    let started = Instant::now();
    assert_eq!(abandoned(&mut sub).await, ("t".into(), "timeout".into()));
    assert!(
        started.elapsed() > Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_committed_batch_survives_a_restart_and_an_open_one_does_not() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "S", "subjects": ["s.>"], "allow_atomic": true}),
    )
    .await;
    for seq in 1..=9 {
        stage(&c, "s.x", "done", seq).await;
    }
    let ack = send(&c, "s.x", "done", 10, Some("1"), &[], b"x").await;
    assert_eq!(ack.as_ref().map(|a| &a["seq"]), Some(&json!(10)));
    stage(&c, "s.x", "open", 1).await;
    stage(&c, "s.x", "open", 2).await;
    drop(c);
    server.restart();
    let c = server.client().await;
    wait_until_served(&c, "S").await;
    assert_eq!(messages(&c, "S").await, 10);
    assert_eq!(
        stored_headers(&c, "S", 10).await.1,
        lines(&[
            "Nats-Batch-Id: done",
            "Nats-Batch-Sequence: 10",
            "Nats-Batch-Commit: 1"
        ])
    );
    let r = send(&c, "s.x", "open", 3, Some("1"), &[], b"x").await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10176,
        "atomic publish batch is incomplete",
    );
    let ack = send(&c, "s.x", "next", 1, Some("1"), &[], b"x").await;
    assert_eq!(
        ack,
        Some(json!({"stream": "S", "seq": 11, "batch": "next", "count": 1}))
    );
}

/// kill -9 while batches are being committed: after recovery every batch is whole or absent,
/// and every batch whose commit was acknowledged is whole.
#[tokio::test]
async fn kill9_while_committing_leaves_each_batch_whole_or_absent() {
    const PUBLISHERS: usize = 4;
    const SIZE: u64 = 500;
    let mut server = TestServer::start_default();
    let setup = server.client().await;
    create(
        &setup,
        json!({"name": "K", "subjects": ["k.>"], "allow_atomic": true}),
    )
    .await;
    // Each publisher commits batch after batch (its batch `b` on subject k.<p>.<b>) until
    // the server dies; it reports the batches whose commit was acknowledged.
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let c = server.client().await;
        tasks.push(tokio::spawn(async move {
            let payload = Bytes::from(vec![b'k'; 512]);
            let mut acked = Vec::new();
            for b in 0u64.. {
                let subject = format!("k.{p}.{b}");
                let id = format!("p{p}b{b}");
                for seq in 1..SIZE {
                    let mut h = async_nats::HeaderMap::new();
                    h.append("Nats-Batch-Id", id.as_str());
                    h.append("Nats-Batch-Sequence", seq.to_string().as_str());
                    if c.publish_with_headers(subject.clone(), h, payload.clone())
                        .await
                        .is_err()
                    {
                        return acked;
                    }
                }
                let mut h = async_nats::HeaderMap::new();
                h.append("Nats-Batch-Id", id.as_str());
                h.append("Nats-Batch-Sequence", SIZE.to_string().as_str());
                h.append("Nats-Batch-Commit", "1");
                let r = tokio::time::timeout(
                    Duration::from_secs(2),
                    c.request_with_headers(subject, h, payload.clone()),
                )
                .await;
                match r {
                    Ok(Ok(m)) if m.payload.starts_with(b"{\"stream\"") => acked.push(b),
                    _ => return acked,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill9();
    let mut acked = Vec::new();
    for (p, t) in tasks.into_iter().enumerate() {
        for b in bounded("publisher", t).await.expect("publisher task") {
            acked.push(format!("k.{p}.{b}"));
        }
    }
    drop(setup);
    server.start_again();
    let c = server.client().await;
    wait_until_served(&c, "K").await;
    let r = js_api(&c, "STREAM.INFO.K", &json!({"subjects_filter": ">"})).await;
    let subjects = r["state"]["subjects"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (subject, n) in &subjects {
        let n = n.as_u64().unwrap_or(0);
        assert_eq!(n, SIZE, "batch {subject} has {n} of {SIZE} messages");
    }
    for subject in &acked {
        assert!(
            subjects.contains_key(subject),
            "acknowledged batch {subject} lost"
        );
    }
    assert_eq!(
        r["state"]["messages"].as_u64(),
        Some(subjects.len() as u64 * SIZE),
        "{r}"
    );
    assert!(!acked.is_empty(), "no batch was committed before the kill");
    eprintln!(
        "kill -9: {} batches whole after recovery, {} acknowledged",
        subjects.len(),
        acked.len()
    );
}

/// The newest `<20 digits>.seg` segment file of a natrix stream.
fn last_segment(store_dir: &std::path::Path, stream: &str) -> std::path::PathBuf {
    let dir = store_dir.join(stream);
    let mut segs: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.len() == 24
                && name.ends_with(".seg")
                && name[..20].bytes().all(|b| b.is_ascii_digit())
        })
        .collect();
    segs.sort();
    segs.pop()
        .unwrap_or_else(|| panic!("no segment in {}", dir.display()))
}

/// natrix only (its segment format): a batch whose record on disk is torn anywhere — here
/// its last byte is missing, so all its messages but one are intact — is dropped whole at
/// recovery; the batch before it stays.
#[tokio::test]
async fn natrix_a_torn_batch_record_is_dropped_whole_at_recovery() {
    let mut server = TestServer::start_default();
    if !server.is_natrix() {
        eprintln!(
            "natrix-specific (segment format), skipped against {:?}",
            server.kind
        );
        return;
    }
    let c = server.client().await;
    create(
        &c,
        json!({"name": "W", "subjects": ["w.>"], "allow_atomic": true}),
    )
    .await;
    for (id, subject) in [("first", "w.a"), ("second", "w.b")] {
        for seq in 1..=4 {
            stage(&c, subject, id, seq).await;
        }
        let ack = send(&c, subject, id, 5, Some("1"), &[], b"x").await;
        assert_eq!(ack.as_ref().map(|a| &a["count"]), Some(&json!(5)));
    }
    drop(c);
    assert!(server.stop().success());
    let seg = last_segment(server.store_dir(), "W");
    let bytes = std::fs::read(&seg).expect("read segment");
    // Drop the trailing zero padding (if any), then the batch record's last byte.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    std::fs::write(&seg, &bytes[..end - 1]).expect("tear the segment");
    for e in std::fs::read_dir(server.store_dir().join("W"))
        .expect("dir")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(e.path()).expect("remove index");
        }
    }
    server.start_again();
    let c = server.client().await;
    wait_until_served(&c, "W").await;
    let r = js_api(&c, "STREAM.INFO.W", &json!({"subjects_filter": ">"})).await;
    assert_eq!(r["state"]["messages"], 5, "{r}");
    assert_eq!(r["state"]["subjects"], json!({"w.a": 5}), "{r}");
    assert_eq!(r["state"]["last_seq"], 5, "{r}");
    // The sequences of the lost batch are taken again.
    let ack = send(&c, "w.c", "third", 1, Some("1"), &[], b"x").await;
    assert_eq!(
        ack,
        Some(json!({"stream": "W", "seq": 6, "batch": "third", "count": 1}))
    );
}

/// A schedule inside an atomic batch is checked and armed as for one publish.
#[tokio::test]
async fn a_batch_can_carry_a_message_schedule() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "SB", "subjects": ["sb.>"], "allow_atomic": true, "allow_msg_schedules": true}),
    )
    .await;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let at = format!(
        "@at {}",
        natrix::jetstream::time::format_rfc3339_nanos((now_s + 2) * 1_000_000_000)
    );
    stage(&c, "sb.plain", "s", 1).await;
    let ack = send(
        &c,
        "sb.sched.a",
        "s",
        2,
        Some("1"),
        &[("Nats-Schedule", &at), ("Nats-Schedule-Target", "sb.out.a")],
        b"fire",
    )
    .await;
    assert_eq!(
        ack,
        Some(json!({"stream": "SB", "seq": 2, "batch": "s", "count": 2}))
    );
    // A schedule without a target refuses the whole batch.
    stage(&c, "sb.plain", "bad", 1).await;
    let r = send(
        &c,
        "sb.sched.b",
        "bad",
        2,
        Some("1"),
        &[("Nats-Schedule", &at)],
        b"x",
    )
    .await;
    assert_js_error(
        &r.expect("refused"),
        400,
        10190,
        "message schedules target is invalid",
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let r = js_api(
            &c,
            "STREAM.INFO.SB",
            &json!({"subjects_filter": "sb.out.>"}),
        )
        .await;
        if r["state"]["subjects"]["sb.out.a"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the schedule did not fire: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
