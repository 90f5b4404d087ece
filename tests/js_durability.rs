//! Durability of JetStream streams across process restarts.
//!
//! * A graceful stop (SIGTERM) and restart brings back every stream, its config, state and every
//!   message (runs against nats-server too).
//! * With `sync = "always"` (nats-server: `sync_interval: always`): kill -9 while four
//!   publishers are mid-flight, restart, and every message whose ack a publisher received is
//!   there with its payload. (kill -9 keeps the OS page cache, so this proves "acked => handed
//!   to the OS before the ack"; the fsync itself is not observable from here.)
//! * Streams are served by the very first API request after a restart, on every core, even
//!   while a large stream is being recovered (the other tests wait, bounded, until the streams
//!   are served, so that they check the data itself).
//! * `sync = <ms>` (opt-in interval policy): a graceful stop still keeps every message.
//! * natrix only (its segment format and log line): garbage appended to the last segment, and a
//!   record cut in half, are truncated at the last good record on restart, every record before
//!   the damage is kept, and stderr says `truncating torn or corrupt segment tail`; missing or
//!   corrupt `.idx` files are rebuilt.
//!
//! Run: `cargo test --test js_durability` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_durability` (the natrix-only tests
//! print a note and return there).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::{Config, DiscardPolicy, RawMessageErrorKind};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use common::{assert_js_error, bounded, js, js_api, js_publish_raw, ServerOpts, TestServer};

const TRUNCATION_LOG: &str = "truncating torn or corrupt segment tail";

/// Tests that depend on natrix's storage (sync policy, file format, log lines) skip themselves
/// against the reference server.
fn natrix_only(server: &TestServer, test: &str) -> bool {
    if server.is_natrix() {
        return true;
    }
    eprintln!("{test}: natrix-specific, skipped against {:?}", server.kind);
    false
}

async fn create(js: &Context, cfg: Config) -> jetstream::stream::Stream {
    let name = cfg.name.clone();
    bounded("create stream", js.create_stream(cfg))
        .await
        .unwrap_or_else(|e| panic!("create stream {name}: {e}"))
}

async fn publish_h(
    js: &Context,
    subject: &str,
    headers: &[(&str, &str)],
    payload: Bytes,
) -> jetstream::publish::PublishAck {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, *v);
    }
    bounded("publish", async {
        js.publish_with_headers(subject.to_string(), h, payload)
            .await
            .unwrap_or_else(|e| panic!("publish {subject}: {e}"))
            .await
            .unwrap_or_else(|e| panic!("ack {subject}: {e}"))
    })
    .await
}

async fn info(js: &Context, name: &str) -> jetstream::stream::Info {
    let mut s = bounded("get stream", js.get_stream(name))
        .await
        .unwrap_or_else(|e| panic!("get stream {name}: {e}"));
    bounded("info", s.info()).await.unwrap().clone()
}

/// One stored message as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Bytes,
    time_ns: i128,
}

/// Every message of a stream from sequence 1 to its last sequence (MSG.GET each).
async fn all_messages(js: &Context, name: &str) -> BTreeMap<u64, Stored> {
    let last = info(js, name).await.state.last_sequence;
    let s = js.get_stream(name).await.unwrap();
    let mut out = BTreeMap::new();
    for seq in 1..=last {
        match bounded("get", s.get_raw_message(seq)).await {
            Ok(m) => {
                out.insert(
                    seq,
                    Stored {
                        subject: m.subject.to_string(),
                        headers: m.headers,
                        payload: m.payload,
                        time_ns: m.time.unix_timestamp_nanos(),
                    },
                );
            }
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {}
            Err(e) => panic!("{name} seq {seq}: {e}"),
        }
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn truncation_lines(stderr: &str) -> Vec<String> {
    strip_ansi(stderr)
        .lines()
        .filter(|l| l.contains(TRUNCATION_LOG))
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded, 5 s) until every stream in `names` answers STREAM.INFO. Right after a
/// restart this separates "is the data back" from "is it served at once", which
/// `every_stream_is_served_right_after_restart` checks on its own.
async fn wait_until_served(c: &async_nats::Client, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for n in names {
        let subject = format!("$JS.API.STREAM.INFO.{n}");
        loop {
            let answer = bounded("stream info", c.request(subject.clone(), Bytes::new())).await;
            let why = match answer {
                Ok(m) => {
                    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                    if v.get("error").is_none() {
                        break;
                    }
                    v.to_string()
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "stream {n} not served 5 s after restart: {why}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Publishes `n` messages of `size` bytes to `subject` with up to 256 acks outstanding.
async fn publish_many(js: &Context, subject: &str, n: u64, size: usize) {
    let mut inflight: FuturesUnordered<
        <jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture,
    > = FuturesUnordered::new();
    for i in 0..n {
        if inflight.len() >= 256 {
            bounded("ack", inflight.next()).await.unwrap().unwrap();
        }
        let mut payload = format!("{i:08}").into_bytes();
        payload.resize(size, b'.');
        let fut = bounded("publish", js.publish(subject.to_string(), payload.into()))
            .await
            .unwrap();
        inflight.push(fut.into_future());
    }
    while let Some(r) = bounded("ack", inflight.next()).await {
        r.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Graceful restart (both servers)
// ---------------------------------------------------------------------------------------------

/// The very first API requests after a restart must see every stream in `names`, with one
/// message each.
async fn assert_served_at_once(c: &async_nats::Client, names: &[&str]) {
    let v = js_api(c, "STREAM.NAMES", &serde_json::Value::Null).await;
    let mut listed: Vec<String> = v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    assert_eq!(
        listed,
        names.to_vec(),
        "STREAM.NAMES right after restart: {v}"
    );
    for n in names {
        let v = js_api(c, &format!("STREAM.INFO.{n}"), &serde_json::Value::Null).await;
        assert!(
            v.get("error").is_none(),
            "STREAM.INFO.{n} right after restart: {v}"
        );
        assert_eq!(v["state"]["messages"], 1, "{v}");
    }
}

#[tokio::test]
async fn every_stream_is_served_right_after_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    // One stream (on natrix: owned by one core, the other core owns none) ...
    create(&js, cfg("SV1", &["sv1"])).await;
    publish_h(&js, "sv1", &[], Bytes::from("x")).await;
    drop(c);
    server.restart();
    let c = server.client().await;
    assert_served_at_once(&c, &["SV1"]).await;

    // ... and several, so that each natrix core owns some.
    wait_until_served(&c, &["SV1"]).await;
    let js = common::js(&c);
    for n in ["SV2", "SV3", "SV4"] {
        create(&js, cfg(n, &[&n.to_lowercase()])).await;
        publish_h(&js, &n.to_lowercase(), &[], Bytes::from("x")).await;
    }
    drop(c);
    server.restart();
    let c = server.client().await;
    assert_served_at_once(&c, &["SV1", "SV2", "SV3", "SV4"]).await;
}

#[tokio::test]
async fn first_requests_after_restart_are_answered_on_every_core() {
    // Enough data that recovering it takes a while.
    const N: u64 = 20_000;
    let mut server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("BIG", &["big.>"])).await;
    publish_many(&js, "big.x", N, 512).await;
    drop(c);
    server.restart();
    // Connections on each core (natrix; the first one for nats-server), made as soon as the
    // server greets: the first API request and the first publish must be answered, not be met
    // with "no responders" (which clients report as "JetStream not enabled" / "no stream").
    let cores: Vec<usize> = (0..server.cores).rev().collect();
    // Each iteration publishes one message, so later cores see the earlier ones too.
    for (published, core) in cores.into_iter().enumerate() {
        let expected = N + published as u64;
        let c = server
            .client_on_core(core, async_nats::ConnectOptions::new)
            .await;
        let m = bounded(
            "first STREAM.INFO",
            c.request("$JS.API.STREAM.INFO.BIG", Bytes::new()),
        )
        .await
        .unwrap_or_else(|e| panic!("core {core}: first STREAM.INFO after restart: {e}"));
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            v["state"]["messages"].as_u64(),
            Some(expected),
            "core {core}: first STREAM.INFO after restart: {v}"
        );
        let m = bounded(
            "first publish",
            c.request("big.y", Bytes::from(format!("from core {core}"))),
        )
        .await
        .unwrap_or_else(|e| panic!("core {core}: first publish after restart: {e}"));
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["stream"], "BIG", "core {core}: publish ack {v}");
        assert_eq!(v["seq"].as_u64(), Some(expected + 1), "core {core}: {v}");
    }
}

#[tokio::test]
async fn sigterm_restart_restores_streams_configs_and_messages() {
    // Small segments so that natrix spreads the big stream over many files.
    let mut server = TestServer::start(ServerOpts::with_toml(
        "[jetstream]\nmax_segment_bytes = 4096\n",
    ));
    let c = server.client().await;
    let js = js(&c);

    create(
        &js,
        Config {
            description: Some("many segments".into()),
            max_messages: 1000,
            max_messages_per_subject: 50,
            allow_direct: true,
            ..cfg("DA", &["da.>"])
        },
    )
    .await;
    for i in 0..300u32 {
        let subject = format!("da.s{}", i % 5);
        let payload = Bytes::from(format!("{i:05}-{}", "x".repeat((i % 97) as usize)));
        let id = format!("id-{i}");
        let headers: Vec<(&str, &str)> = if i % 3 == 0 {
            vec![("Nats-Msg-Id", id.as_str()), ("X-Idx", "three")]
        } else {
            vec![]
        };
        publish_h(&js, &subject, &headers, payload).await;
    }
    create(
        &js,
        Config {
            deny_delete: true,
            deny_purge: true,
            discard: DiscardPolicy::New,
            max_bytes: 1 << 20,
            duplicate_window: Duration::from_secs(10),
            ..cfg("DB", &["db"])
        },
    )
    .await;
    for i in 0..20u32 {
        publish_h(&js, "db", &[], Bytes::from(format!("db-{i}"))).await;
    }
    let dc = create(
        &js,
        Config {
            allow_rollup: true,
            ..cfg("DC", &["dc.*"])
        },
    )
    .await;
    for i in 0..10u32 {
        let subject = if i % 2 == 0 { "dc.a" } else { "dc.b" };
        publish_h(&js, subject, &[], Bytes::from(format!("dc-{i}"))).await;
    }
    assert!(bounded("delete", dc.delete_message(3)).await.unwrap());
    let r = bounded(
        "purge",
        std::future::IntoFuture::into_future(dc.purge().filter("dc.b")),
    )
    .await
    .unwrap();
    assert_eq!(r.purged, 5);
    publish_h(
        &js,
        "dc.a",
        &[("Nats-Rollup", "sub")],
        Bytes::from("rolled"),
    )
    .await;
    // An empty stream too.
    create(&js, cfg("DE", &["de"])).await;

    let names = ["DA", "DB", "DC", "DE"];
    let mut before = HashMap::new();
    for n in names {
        before.insert(n, (info(&js, n).await, all_messages(&js, n).await));
    }
    assert_eq!(before["DA"].1.len(), 250, "per-subject limit keeps 5 x 50");
    assert_eq!(before["DC"].1.keys().copied().collect::<Vec<_>>(), vec![11]);
    drop(c);

    server.restart();
    let c = server.client().await;
    wait_until_served(&c, &names).await;
    let js = common::js(&c);
    let mut listed: Vec<String> = bounded("names", js.stream_names().try_collect::<Vec<_>>())
        .await
        .unwrap();
    listed.sort();
    assert_eq!(listed, names.to_vec());
    for n in names {
        let (info_before, msgs_before) = &before[n];
        let info_after = info(&js, n).await;
        assert_eq!(
            info_after.config, info_before.config,
            "{n}: config after restart"
        );
        assert_eq!(
            info_after.state, info_before.state,
            "{n}: state after restart"
        );
        assert_eq!(info_after.created, info_before.created, "{n}: created");
        let msgs_after = all_messages(&js, n).await;
        assert_eq!(
            msgs_after.keys().collect::<Vec<_>>(),
            msgs_before.keys().collect::<Vec<_>>(),
            "{n}: sequences after restart"
        );
        for (seq, m) in msgs_before {
            assert_eq!(&msgs_after[seq], m, "{n} seq {seq} after restart");
        }
    }

    // The streams keep working with their configs.
    let last = before["DA"].0.state.last_sequence;
    let ack = publish_h(&js, "da.s0", &[], Bytes::from("after restart")).await;
    assert_eq!(ack.sequence, last + 1);
    let da = js.get_stream("DA").await.unwrap();
    let m = bounded("direct get", da.direct_get(ack.sequence))
        .await
        .unwrap();
    assert_eq!(&m.payload[..], b"after restart");
    let st = info(&js, "DA").await.state;
    assert_eq!(st.messages, 250, "max_msgs_per_subject still enforced");
    let v = js_api(&c, "STREAM.MSG.DELETE.DB", &json!({"seq":1})).await;
    assert_js_error(&v, 500, 10057, "message delete not permitted");
    let v = js_api(&c, "STREAM.PURGE.DB", &serde_json::Value::Null).await;
    assert_js_error(&v, 500, 10110, "stream purge not permitted");
    let ack = publish_h(&js, "dc.b", &[], Bytes::from("dc new")).await;
    assert_eq!(ack.sequence, 12);
    let ack = publish_h(&js, "de", &[], Bytes::from("first")).await;
    assert_eq!(ack.sequence, 1);

    if server.is_natrix() {
        let lines = truncation_lines(&server.stderr());
        assert!(
            lines.is_empty(),
            "a clean stop must leave nothing to truncate, but the restart logged:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn duplicate_window_survives_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(
        &js,
        Config {
            duplicate_window: Duration::from_secs(60),
            ..cfg("DW", &["dw"])
        },
    )
    .await;
    let a = publish_h(&js, "dw", &[("Nats-Msg-Id", "once")], Bytes::from("1")).await;
    assert_eq!((a.sequence, a.duplicate), (1, false));
    drop(c);
    server.restart();
    let c = server.client().await;
    wait_until_served(&c, &["DW"]).await;
    // A client retrying its publish after the restart must not store it twice.
    let v = js_publish_raw(&c, "dw", &[("Nats-Msg-Id", "once")], b"1").await;
    assert_eq!(
        (v["seq"].as_u64(), v["duplicate"].as_bool()),
        (Some(1), Some(true)),
        "a Nats-Msg-Id stored 1 s before the restart, inside a 60 s window: {v}"
    );
    assert_eq!(info(&common::js(&c), "DW").await.state.messages, 1);
}

/// A delete made right after a restart, followed by another restart and a publish, stays a
/// delete. (natrix once named the segment holding only that tombstone after the last
/// sequence, and the next segment created under the same name truncated it: the deleted
/// message came back.)
#[tokio::test]
async fn a_delete_right_after_restart_survives_the_next_segments() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("DEL", &["del"])).await;
    for i in 1..=5u64 {
        publish_h(&js, "del", &[], Bytes::from(format!("m{i}"))).await;
    }
    drop(c);
    server.restart();
    let c = server.client().await;
    wait_until_served(&c, &["DEL"]).await;
    let v = js_api(&c, "STREAM.MSG.DELETE.DEL", &json!({"seq": 3})).await;
    assert_eq!(v["success"], true, "{v}");
    drop(c);
    server.restart();
    let c = server.client().await;
    wait_until_served(&c, &["DEL"]).await;
    let a = publish_h(&common::js(&c), "del", &[], Bytes::from("m6")).await;
    assert_eq!(a.sequence, 6);
    drop(c);
    server.restart();
    let c = server.client().await;
    wait_until_served(&c, &["DEL"]).await;
    let got = all_messages(&common::js(&c), "DEL").await;
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 4, 5, 6],
        "message 3 was deleted"
    );
    assert_eq!(info(&common::js(&c), "DEL").await.state.messages, 5);
}

// ---------------------------------------------------------------------------------------------
// kill -9 with publishers in flight (natrix, sync = "always")
// ---------------------------------------------------------------------------------------------

const KILL_PUBLISHERS: usize = 4;
const KILL_MAX_MSGS_EACH: u64 = 20_000;
const KILL_MAX_PUBLISH_TIME: Duration = Duration::from_secs(3);
/// Outstanding acks per publisher before it waits for one.
const KILL_WINDOW: usize = 256;

struct PublisherResult {
    subject: String,
    acked: Vec<(u64, Bytes)>,
    sent: u64,
}

async fn run_publisher(
    client: async_nats::Client,
    p: usize,
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicU64>,
) -> PublisherResult {
    let ctx = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(client);
    let subject = format!("kill.p{p}");
    let started = Instant::now();
    let mut acked = Vec::new();
    let mut sent = 0u64;
    let mut inflight = FuturesUnordered::new();
    let mut record = |r: (Bytes, Result<jetstream::publish::PublishAck, _>)| {
        if let (payload, Ok(ack)) = r {
            let ack: jetstream::publish::PublishAck = ack;
            assert_eq!(ack.stream, "KILL");
            assert!(!ack.duplicate);
            acked.push((ack.sequence, payload));
            acked_count.fetch_add(1, Ordering::Relaxed);
        }
    };
    while !stop.load(Ordering::Relaxed)
        && sent < KILL_MAX_MSGS_EACH
        && started.elapsed() < KILL_MAX_PUBLISH_TIME
    {
        if inflight.len() >= KILL_WINDOW {
            if let Some(r) = inflight.next().await {
                record(r);
            }
            continue;
        }
        let payload = Bytes::from(format!("p{p}-{sent:06}-{}", "d".repeat(40)));
        match ctx.publish(subject.clone(), payload.clone()).await {
            Ok(fut) => {
                sent += 1;
                inflight.push(async move { (payload, fut.await) });
            }
            Err(_) => break,
        }
        while let Some(Some(r)) = futures::FutureExt::now_or_never(inflight.next()) {
            record(r);
        }
    }
    // Outstanding acks either arrived before the kill or fail within the 3 s ack timeout.
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(r) = inflight.next().await {
            record(r);
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "publisher {p}: outstanding acks never resolved"
    );
    PublisherResult {
        subject,
        acked,
        sent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_publishers_in_flight_keeps_every_acked_message() {
    let mut server = TestServer::start(ServerOpts::with_toml("[jetstream]\nsync = \"always\"\n"));
    // Runs against both servers: the harness gives nats-server `sync_interval: always`.
    let admin = server.client().await;
    create(
        &js(&admin),
        Config {
            allow_direct: true,
            ..cfg("KILL", &["kill.*"])
        },
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Vec<Arc<AtomicU64>> = (0..KILL_PUBLISHERS)
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let mut tasks = Vec::new();
    for (p, count) in counts.iter().enumerate() {
        // Spread the publishers over both cores.
        let client = server
            .client_on_core(p % server.cores, async_nats::ConnectOptions::new)
            .await;
        tasks.push(tokio::spawn(run_publisher(
            client,
            p,
            stop.clone(),
            count.clone(),
        )));
    }

    // Kill once every publisher has had acks (bounded), while they are still publishing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let started = Instant::now();
    loop {
        let all_going = counts.iter().all(|c| c.load(Ordering::Relaxed) >= 200);
        if all_going && started.elapsed() >= Duration::from_millis(700) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "publishers made no progress: {:?}",
            counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_before_kill: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    server.kill9();
    stop.store(true, Ordering::Relaxed);

    let mut results = Vec::new();
    for t in tasks {
        results.push(bounded("publisher task", t).await.expect("publisher task"));
    }
    let mut by_seq: BTreeMap<u64, (String, Bytes)> = BTreeMap::new();
    for r in &results {
        assert!(
            (r.acked.len() as u64) < r.sent,
            "{}: every publish was acked ({} of {}), so the kill did not happen mid-flight",
            r.subject,
            r.acked.len(),
            r.sent
        );
        for (seq, payload) in &r.acked {
            if let Some(prev) = by_seq.insert(*seq, (r.subject.clone(), payload.clone())) {
                panic!("seq {seq} acked twice: {prev:?} and {payload:?}");
            }
        }
    }
    eprintln!(
        "kill -9: acked before kill {:?}, acked in total {:?}, sent {:?}",
        acked_before_kill,
        results.iter().map(|r| r.acked.len()).collect::<Vec<_>>(),
        results.iter().map(|r| r.sent).collect::<Vec<_>>()
    );

    server.start_again();
    let c = server.client().await;
    wait_until_served(&c, &["KILL"]).await;
    let js = js(&c);
    let st = info(&js, "KILL").await.state;
    let max_acked = *by_seq.keys().last().expect("some acks");
    assert!(
        st.last_sequence >= max_acked,
        "last_seq {} after restart, but seq {max_acked} was acked",
        st.last_sequence
    );
    assert!(
        st.messages >= by_seq.len() as u64,
        "{} messages after restart, {} were acked",
        st.messages,
        by_seq.len()
    );
    let stream = js.get_stream("KILL").await.unwrap();
    let missing: Vec<String> = futures::stream::iter(by_seq.iter())
        .map(|(seq, (subject, payload))| {
            let stream = stream.clone();
            async move {
                match bounded("get", stream.get_raw_message(*seq)).await {
                    Ok(m) if m.subject.as_str() == subject && m.payload == *payload => None,
                    Ok(m) => Some(format!(
                        "seq {seq}: expected {subject} {payload:?}, found {} {:?}",
                        m.subject, m.payload
                    )),
                    Err(e) => Some(format!("seq {seq} ({subject} {payload:?}): {e}")),
                }
            }
        })
        .buffer_unordered(32)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "{} of {} acked messages lost or changed after kill -9, e.g.:\n{}",
        missing.len(),
        by_seq.len(),
        missing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // And the stream takes new messages after the last recovered one.
    let ack = publish_h(&js, "kill.after", &[], Bytes::from("after")).await;
    assert_eq!(ack.sequence, st.last_sequence + 1);
}

// ---------------------------------------------------------------------------------------------
// Damaged segment tails (natrix)
// ---------------------------------------------------------------------------------------------

const RECORD_MAGIC: u8 = 0xE1;
const KIND_MESSAGE: u8 = 1;

/// A record of a natrix segment file: offset, total length, kind, and sequence for messages.
#[derive(Debug, Clone, Copy)]
struct SegRecord {
    offset: usize,
    len: usize,
    kind: u8,
    seq: Option<u64>,
}

/// Walks the records of a segment by their headers (magic, kind, u32 LE total length).
fn segment_records(bytes: &[u8]) -> Vec<SegRecord> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= bytes.len() && bytes[off] == RECORD_MAGIC {
        let kind = bytes[off + 1];
        let len = u32::from_le_bytes(bytes[off + 2..off + 6].try_into().unwrap()) as usize;
        if len < 12 || off + len > bytes.len() {
            break;
        }
        let seq = (kind == KIND_MESSAGE)
            .then(|| u64::from_le_bytes(bytes[off + 8..off + 16].try_into().unwrap()));
        out.push(SegRecord {
            offset: off,
            len,
            kind,
            seq,
        });
        off += len;
    }
    out
}

fn last_segment(store_dir: &Path, stream: &str) -> PathBuf {
    let dir = store_dir.join(stream);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&dir)
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
        .unwrap_or_else(|| panic!("no <20 digits>.seg file in {}", dir.display()))
}

/// Creates stream `name`, publishes `n` messages, stops the server gracefully and returns
/// the payloads by sequence.
async fn fill_and_stop(server: &mut TestServer, name: &str, n: u64) -> BTreeMap<u64, Bytes> {
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg(name, &[&format!("{}.>", name.to_lowercase())])).await;
    let mut sent = BTreeMap::new();
    for i in 1..=n {
        let payload = Bytes::from(format!("{name}-{i:04}-{}", "z".repeat((i % 50) as usize)));
        let ack = publish_h(
            &js,
            &format!("{}.x", name.to_lowercase()),
            &[],
            payload.clone(),
        )
        .await;
        assert_eq!(ack.sequence, i);
        sent.insert(i, payload);
    }
    drop(c);
    let status = server.stop();
    assert!(status.success(), "natrix exited with {status} on SIGTERM");
    sent
}

/// After a damaged restart: exactly `expected` is stored, and the stream takes new messages.
async fn check_recovered(server: &TestServer, name: &str, expected: &BTreeMap<u64, Bytes>) {
    let c = server.client().await;
    wait_until_served(&c, &[name]).await;
    let js = js(&c);
    let msgs = all_messages(&js, name).await;
    let got: BTreeMap<u64, Bytes> = msgs.into_iter().map(|(s, m)| (s, m.payload)).collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "sequences kept after recovery"
    );
    assert_eq!(&got, expected, "payloads kept after recovery");
    let st = info(&js, name).await.state;
    let last = *expected.keys().last().unwrap();
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (expected.len() as u64, 1, last)
    );
    let ack = publish_h(
        &js,
        &format!("{}.x", name.to_lowercase()),
        &[],
        Bytes::from("after recovery"),
    )
    .await;
    assert_eq!(ack.sequence, last + 1);
}

#[tokio::test]
async fn garbage_after_the_last_record_is_truncated_and_logged() {
    let mut server = TestServer::start_default();
    if !natrix_only(
        &server,
        "garbage_after_the_last_record_is_truncated_and_logged",
    ) {
        return;
    }
    let sent = fill_and_stop(&mut server, "GARB", 40).await;
    let seg = last_segment(server.store_dir(), "GARB");
    let bytes = std::fs::read(&seg).unwrap();
    let recs = segment_records(&bytes);
    let msg_seqs: Vec<u64> = recs.iter().filter_map(|r| r.seq).collect();
    assert_eq!(
        msg_seqs.last(),
        Some(&40),
        "last segment must end with seq 40: {recs:?}"
    );
    let good_len = recs.last().map(|r| r.offset + r.len).unwrap();
    // Garbage that starts like a record (magic + message kind) and then makes no sense.
    let mut garbage = vec![RECORD_MAGIC, KIND_MESSAGE];
    garbage.extend((0..200u32).map(|i| (i.wrapping_mul(151) ^ 0x5A) as u8));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&garbage).unwrap();
        f.sync_all().unwrap();
    }

    server.start_again();
    check_recovered(&server, "GARB", &sent).await;
    let lines = truncation_lines(&server.stderr());
    assert_eq!(
        lines.len(),
        1,
        "expected one `{TRUNCATION_LOG}` line, stderr:\n{}",
        server.stderr()
    );
    let seg_name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        lines[0].contains(&seg_name),
        "the line must name the file: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("offset={good_len}")),
        "the line must give the truncation offset {good_len}: {}",
        lines[0]
    );

    // The truncation was made durable: a second restart finds nothing to cut and loses nothing.
    let mut expected = sent.clone();
    expected.insert(41, Bytes::from("after recovery"));
    server.restart();
    let lines = truncation_lines(&server.stderr());
    assert!(
        lines.is_empty(),
        "second restart truncated again: {lines:?}"
    );
    let c = server.client().await;
    wait_until_served(&c, &["GARB"]).await;
    let got: BTreeMap<u64, Bytes> = all_messages(&js(&c), "GARB")
        .await
        .into_iter()
        .map(|(s, m)| (s, m.payload))
        .collect();
    assert_eq!(got, expected, "after a second restart");
}

#[tokio::test]
async fn record_cut_in_half_is_truncated_and_logged() {
    let mut server = TestServer::start_default();
    if !natrix_only(&server, "record_cut_in_half_is_truncated_and_logged") {
        return;
    }
    let mut sent = fill_and_stop(&mut server, "TORN", 40).await;
    let seg = last_segment(server.store_dir(), "TORN");
    let bytes = std::fs::read(&seg).unwrap();
    let recs = segment_records(&bytes);
    let last_msg = *recs
        .iter()
        .rev()
        .find(|r| r.kind == KIND_MESSAGE)
        .expect("a message record");
    assert_eq!(
        last_msg.seq,
        Some(40),
        "last message record is seq 40: {recs:?}"
    );
    let cut_at = last_msg.offset + last_msg.len / 2;
    {
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut_at as u64).unwrap();
        f.sync_all().unwrap();
    }
    sent.remove(&40);

    server.start_again();
    check_recovered(&server, "TORN", &sent).await;
    let lines = truncation_lines(&server.stderr());
    assert_eq!(
        lines.len(),
        1,
        "expected one `{TRUNCATION_LOG}` line, stderr:\n{}",
        server.stderr()
    );
    let seg_name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(lines[0].contains(&seg_name), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("offset={}", last_msg.offset)),
        "the line must give the truncation offset {}: {}",
        last_msg.offset,
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("dropped_bytes={}", cut_at - last_msg.offset)),
        "the line must give the dropped bytes {}: {}",
        cut_at - last_msg.offset,
        lines[0]
    );
}

fn cfg(name: &str, subjects: &[&str]) -> Config {
    Config {
        name: name.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn missing_or_corrupt_segment_indexes_are_rebuilt() {
    let mut server = TestServer::start(ServerOpts::with_toml(
        "[jetstream]\nmax_segment_bytes = 4096\n",
    ));
    if !natrix_only(&server, "missing_or_corrupt_segment_indexes_are_rebuilt") {
        return;
    }
    let sent = fill_and_stop(&mut server, "IDX", 200).await;
    let dir = server.store_dir().join("IDX");
    let mut idx: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    idx.sort();
    assert!(
        idx.len() >= 2,
        "200 messages in 4 KiB segments must leave several sealed segments with .idx files: {idx:?}"
    );
    // Remove one index, overwrite another with garbage.
    std::fs::remove_file(&idx[0]).unwrap();
    std::fs::write(&idx[1], b"not an index at all").unwrap();

    server.start_again();
    check_recovered(&server, "IDX", &sent).await;
    assert!(
        truncation_lines(&server.stderr()).is_empty(),
        "no segment was damaged: {}",
        server.stderr()
    );
    // Random reads go through the rebuilt indexes.
    let c = server.client().await;
    let s = js(&c).get_stream("IDX").await.unwrap();
    for seq in [1u64, 2, 57, 100, 150, 199, 200] {
        let m = bounded("get", s.get_raw_message(seq)).await.unwrap();
        assert_eq!(m.payload, sent[&seq], "seq {seq}");
    }
}

#[tokio::test]
async fn interval_sync_graceful_restart_keeps_every_message() {
    // The opt-in policy: acks before fsync, fsync every 60 s (nats-server keeps its default).
    // A graceful stop must still leave everything on disk.
    let mut server = TestServer::start(ServerOpts::with_toml("[jetstream]\nsync = 60000\n"));
    let sent = fill_and_stop(&mut server, "LAZY", 300).await;
    server.start_again();
    check_recovered(&server, "LAZY", &sent).await;
}

// ---------------------------------------------------------------------------------------------
// Memory: sealed segments are served from their files
// ---------------------------------------------------------------------------------------------

/// Anonymous (heap) memory of a process, from /proc.
fn rss_anon_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon in /proc/<pid>/status")
}

#[tokio::test]
async fn sealed_segment_bodies_leave_the_heap() {
    // 1 MiB segments, 48 MiB stored: without mapping sealed segments every body would stay
    // on the heap; with it only the active segment's do.
    let server = TestServer::start(ServerOpts {
        cores: 1,
        extra_toml: "[jetstream]\nmax_segment_bytes = 1048576\n".into(),
    });
    if !natrix_only(&server, "sealed_segment_bodies_leave_the_heap") {
        return;
    }
    let c = server.client().await;
    let js = js(&c);
    let stream = create(&js, cfg("HEAP", &["heap"])).await;
    // Warm up (allocator arenas, buffers) before the baseline.
    publish_many(&js, "heap", 2_000, 1024).await;
    let before_kib = rss_anon_kib(server.pid());
    const N: u64 = 48 * 1024;
    publish_many(&js, "heap", N, 1024).await;
    let after_kib = rss_anon_kib(server.pid());
    let grown_kib = after_kib.saturating_sub(before_kib);
    eprintln!("RssAnon {before_kib} kB -> {after_kib} kB (+{grown_kib} kB) for {N} x 1 KiB stored");
    assert!(
        grown_kib < 28 * 1024,
        "heap grew by {grown_kib} kB while storing {} kB of bodies",
        N
    );
    // Every body still reads back exactly, from sealed and active segments alike.
    for seq in [1, 2_000, 2_001, 10_000, 30_000, N + 1_999, N + 2_000] {
        let m = bounded("get", stream.get_raw_message(seq)).await.unwrap();
        let mut want =
            format!("{:08}", if seq <= 2_000 { seq - 1 } else { seq - 2_001 }).into_bytes();
        want.resize(1024, b'.');
        assert_eq!(&m.payload[..], &want[..], "seq {seq}");
    }
}
