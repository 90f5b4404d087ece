//! JetStream streams through `$JS.API`, driven by async-nats' `jetstream` module (and raw JSON
//! requests where the exact error envelope matters or async-nats has no call): stream
//! create/update/info/list/names/delete/purge, publish acks, de-duplication, the expected-*
//! headers, every limit and discard policy, max_age expiry, get and direct get, message delete,
//! rollups, refused configurations, and publishers spread over both natrix cores.
//!
//! Every test passes against nats-server 2.15.1 too:
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_streams`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{
    Config, DirectGetErrorKind, DiscardPolicy, RawMessageErrorKind, StorageType,
};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::TryStreamExt;
use serde_json::json;

use common::{
    assert_js_error, bounded, js, js_api, js_error_in, js_error_json, js_publish_raw, TestServer,
};

/// Bytes nats-server's file store accounts for one message (`server/filestore.go`): record
/// header 22 + subject + (4 + headers when there are headers) + payload + 8 (hash).
fn file_msg_bytes(subject: &str, headers_len: usize, payload_len: usize) -> u64 {
    let hdr = if headers_len > 0 { 4 + headers_len } else { 0 };
    (22 + subject.len() + hdr + payload_len + 8) as u64
}

async fn create(js: &Context, cfg: Config) -> jetstream::stream::Stream {
    let name = cfg.name.clone();
    bounded("create stream", js.create_stream(cfg))
        .await
        .unwrap_or_else(|e| panic!("create stream {name}: {e}"))
}

/// Publishes and waits for the ack, panicking on any error; returns the stream sequence.
async fn publish(js: &Context, subject: &str, payload: &str) -> u64 {
    let ack = bounded("publish", async {
        js.publish(subject.to_string(), Bytes::from(payload.to_string()))
            .await
            .unwrap_or_else(|e| panic!("publish {subject}: {e}"))
            .await
            .unwrap_or_else(|e| panic!("ack for {subject}: {e}"))
    })
    .await;
    assert!(!ack.duplicate, "unexpected duplicate ack for {subject}");
    ack.sequence
}

async fn publish_h(
    js: &Context,
    subject: &str,
    headers: &[(&str, &str)],
    payload: &str,
) -> Result<jetstream::publish::PublishAck, jetstream::context::PublishError> {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, *v);
    }
    bounded("publish with headers", async {
        js.publish_with_headers(subject.to_string(), h, Bytes::from(payload.to_string()))
            .await?
            .await
    })
    .await
}

async fn state(js: &Context, stream: &str) -> jetstream::stream::State {
    let mut s = bounded("get stream", js.get_stream(stream))
        .await
        .unwrap_or_else(|e| panic!("get stream {stream}: {e}"));
    bounded("stream info", s.info())
        .await
        .unwrap_or_else(|e| panic!("info {stream}: {e}"))
        .state
        .clone()
}

async fn get_payload(stream: &jetstream::stream::Stream, seq: u64) -> Option<(String, Bytes)> {
    match bounded("get raw message", stream.get_raw_message(seq)).await {
        Ok(m) => Some((m.subject.to_string(), m.payload)),
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => None,
        Err(e) => panic!("get seq {seq}: {e}"),
    }
}

/// Sequences present in the stream between 1 and `last` (MSG.GET each).
async fn present_seqs(stream: &jetstream::stream::Stream, last: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for seq in 1..=last {
        if get_payload(stream, seq).await.is_some() {
            out.push(seq);
        }
    }
    out
}

fn cfg(name: &str, subjects: &[&str]) -> Config {
    Config {
        name: name.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn account_info_counts_streams() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let acc = bounded("account info", js.query_account()).await.unwrap();
    assert_eq!(acc.streams, 0);
    create(&js, cfg("ACC1", &["acc1.>"])).await;
    create(&js, cfg("ACC2", &["acc2.>"])).await;
    let acc = bounded("account info", js.query_account()).await.unwrap();
    assert_eq!(acc.streams, 2);
    assert_eq!(acc.consumers, 0);
    let raw = js_api(&c, "INFO", &serde_json::Value::Null).await;
    assert!(raw.get("error").is_none(), "{raw}");
    assert!(
        raw["api"]["level"].as_u64().is_some_and(|l| l >= 1),
        "api.level must be >= 1: {raw}"
    );
}

#[tokio::test]
async fn create_info_and_defaults() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let mut s = create(&js, cfg("ORDERS", &["orders.>"])).await;
    let info = bounded("info", s.info()).await.unwrap().clone();
    let conf = &info.config;
    assert_eq!(conf.name, "ORDERS");
    assert_eq!(conf.subjects, vec!["orders.>".to_string()]);
    assert_eq!(conf.max_messages, -1, "0 is stored as -1 (unlimited)");
    assert_eq!(conf.max_bytes, -1);
    assert_eq!(conf.max_messages_per_subject, -1);
    assert_eq!(conf.max_message_size, -1);
    assert_eq!(conf.max_age, Duration::ZERO);
    assert_eq!(conf.discard, DiscardPolicy::Old);
    assert_eq!(conf.storage, StorageType::File);
    assert_eq!(conf.num_replicas, 1);
    assert_eq!(conf.duplicate_window, Duration::from_secs(120));
    assert!(!conf.allow_direct && !conf.deny_delete && !conf.deny_purge && !conf.allow_rollup);
    // Checked last (see the end of the test), so the other checks run first.
    let empty_state = info.state.clone();
    assert!(info.created.unix_timestamp() > 1_600_000_000);

    // Subjects default to the stream name; max_age 60 s bounds the duplicate window.
    let mut d = create(
        &js,
        Config {
            name: "DEFSUBJ".into(),
            max_age: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .await;
    let dinfo = bounded("info", d.info()).await.unwrap();
    assert_eq!(dinfo.config.subjects, vec!["DEFSUBJ".to_string()]);
    assert_eq!(dinfo.config.duplicate_window, Duration::from_secs(60));
    assert_eq!(publish(&js, "DEFSUBJ", "x").await, 1);

    // Identical re-create succeeds (idempotent); get_or_create returns the existing stream.
    let again = create(&js, cfg("ORDERS", &["orders.>"])).await;
    assert_eq!(again.cached_info().config, info.config);
    let got = bounded(
        "get_or_create",
        js.get_or_create_stream(cfg("ORDERS", &["orders.>"])),
    )
    .await
    .unwrap();
    assert_eq!(got.cached_info().config.subjects, vec!["orders.>"]);

    // Same name, different configuration: 10058.
    let err = bounded(
        "create",
        js.create_stream(Config {
            max_messages: 10,
            ..cfg("ORDERS", &["orders.>"])
        }),
    )
    .await
    .expect_err("re-create with another config must fail");
    match err.kind() {
        jetstream::context::CreateStreamErrorKind::JetStream(e) => assert_js_error(
            &js_error_json(&e),
            400,
            10058,
            "stream name already in use with a different configuration",
        ),
        k => panic!("unexpected error kind {k:?}"),
    }

    // Unknown stream: 10059 (raw and through async-nats).
    let v = js_api(&c, "STREAM.INFO.NOPE", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");
    assert!(bounded("get_stream", js.get_stream("NOPE")).await.is_err());

    // A new, empty stream reports first_seq 0 and last_seq 0 (nats-server 2.15.1).
    let st = &empty_state;
    assert_eq!(st.consumer_count, 0);
    assert_eq!(
        (st.messages, st.bytes, st.first_sequence, st.last_sequence),
        (0, 0, 0, 0),
        "state of a new stream"
    );
}

#[tokio::test]
async fn update_changes_config_and_capture() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("UPD", &["upd.a"])).await;
    create(&js, cfg("OTHER", &["other.>"])).await;
    assert_eq!(publish(&js, "upd.a", "1").await, 1);
    // Not captured yet: no responders.
    let err = bounded("publish", async {
        js.publish("upd.b", "x".into()).await.unwrap().await
    })
    .await
    .expect_err("upd.b is not captured");
    assert_eq!(err.kind(), PublishErrorKind::StreamNotFound, "{err}");

    let info = bounded(
        "update",
        js.update_stream(Config {
            max_messages: 100,
            max_messages_per_subject: 5,
            description: Some("updated".into()),
            ..cfg("UPD", &["upd.a", "upd.b"])
        }),
    )
    .await
    .unwrap();
    assert_eq!(info.config.max_messages, 100);
    assert_eq!(info.config.max_messages_per_subject, 5);
    assert_eq!(info.config.subjects, vec!["upd.a", "upd.b"]);
    assert_eq!(info.config.description.as_deref(), Some("updated"));
    assert_eq!(info.state.messages, 1, "update keeps the messages");
    assert_eq!(publish(&js, "upd.b", "2").await, 2);
    let mut s = js.get_stream("UPD").await.unwrap();
    let i = bounded("info", s.info()).await.unwrap();
    assert_eq!(i.config.max_messages, 100);
    assert_eq!(i.state.messages, 2);

    // Dropping a subject stops the capture.
    bounded("update", js.update_stream(cfg("UPD", &["upd.b"])))
        .await
        .unwrap();
    let err = bounded("publish", async {
        js.publish("upd.a", "x".into()).await.unwrap().await
    })
    .await
    .expect_err("upd.a no longer captured");
    assert_eq!(err.kind(), PublishErrorKind::StreamNotFound, "{err}");
    assert_eq!(publish(&js, "upd.b", "3").await, 3);

    // Storage type is immutable.
    let v = js_api(
        &c,
        "STREAM.UPDATE.UPD",
        &json!({"name":"UPD","subjects":["upd.b"],"storage":"memory","retention":"limits",
                "discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(
        &v,
        500,
        10052,
        "stream configuration update can not change storage type",
    );
    // Updating into another stream's subjects: 10065.
    let v = js_api(
        &c,
        "STREAM.UPDATE.UPD",
        &json!({"name":"UPD","subjects":["upd.b","other.x"],"storage":"file",
                "retention":"limits","discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(&v, 400, 10065, "subjects overlap with an existing stream");
    // Unknown stream: 10059.
    let v = js_api(
        &c,
        "STREAM.UPDATE.NOPE",
        &json!({"name":"NOPE","subjects":["nope"],"storage":"file","retention":"limits",
                "discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(&v, 404, 10059, "stream not found");
}

#[tokio::test]
async fn names_list_and_delete() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let v = js_api(&c, "STREAM.NAMES", &serde_json::Value::Null).await;
    assert_eq!(v["total"], 0, "{v}");
    assert!(
        v["streams"].is_null() || v["streams"] == json!([]),
        "no streams: {v}"
    );

    create(&js, cfg("NA", &["na.>"])).await;
    create(&js, cfg("NB", &["nb.*"])).await;
    create(&js, cfg("NC", &["nc"])).await;
    publish(&js, "nb.x", "1").await;

    let names: BTreeSet<String> = bounded("names", js.stream_names().try_collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        names,
        ["NA", "NB", "NC"].iter().map(|s| s.to_string()).collect()
    );
    let infos: Vec<_> = bounded("list", js.streams().try_collect::<Vec<_>>())
        .await
        .unwrap();
    // The state in LIST must be current: NB's publish was acked before the request.
    // (Checked at the end of the test, so the other checks run first.)
    let listed: BTreeMap<String, u64> = infos
        .iter()
        .map(|i| (i.config.name.clone(), i.state.messages))
        .collect();

    // NAMES with a subject filter: streams whose subjects intersect it.
    let v = js_api(&c, "STREAM.NAMES", &json!({"subject":"nb.q"})).await;
    assert_eq!(v["streams"], json!(["NB"]), "{v}");
    assert_eq!(v["total"], 1, "{v}");
    let v = js_api(&c, "STREAM.NAMES", &json!({"subject":"zz.>"})).await;
    assert_eq!(v["total"], 0, "{v}");
    let v = js_api(&c, "STREAM.LIST", &serde_json::Value::Null).await;
    assert_eq!(v["total"], 3, "{v}");
    assert_eq!(v["streams"].as_array().map(|a| a.len()), Some(3), "{v}");

    // Delete.
    assert!(
        bounded("delete", js.delete_stream("NB"))
            .await
            .unwrap()
            .success
    );
    let names: BTreeSet<String> = bounded("names", js.stream_names().try_collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(names, ["NA", "NC"].iter().map(|s| s.to_string()).collect());
    let v = js_api(&c, "STREAM.INFO.NB", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");
    let v = js_api(&c, "STREAM.DELETE.NB", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");
    // Its subjects are no longer captured, and can be reused by a new stream.
    let err = bounded("publish", async {
        js.publish("nb.x", "x".into()).await.unwrap().await
    })
    .await
    .expect_err("deleted stream must not capture");
    assert_eq!(err.kind(), PublishErrorKind::StreamNotFound, "{err}");
    create(&js, cfg("NB2", &["nb.>"])).await;
    assert_eq!(
        publish(&js, "nb.x", "again").await,
        1,
        "a new stream starts at 1"
    );
    let acc = bounded("account", js.query_account()).await.unwrap();
    assert_eq!(acc.streams, 3);

    assert_eq!(
        listed,
        BTreeMap::from([("NA".into(), 0), ("NB".into(), 1), ("NC".into(), 0)]),
        "messages per stream in STREAM.LIST right after an acked publish"
    );
}

#[tokio::test]
async fn refused_configurations() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);

    // num_replicas 3 on a server without clustering.
    let err = bounded(
        "create",
        js.create_stream(Config {
            num_replicas: 3,
            ..cfg("R3", &["r3.>"])
        }),
    )
    .await
    .expect_err("replicas 3 must be refused");
    match err.kind() {
        jetstream::context::CreateStreamErrorKind::JetStream(e) => assert_js_error(
            &js_error_json(&e),
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        ),
        k => panic!("unexpected error kind {k:?}"),
    }
    let v = js_api(&c, "STREAM.INFO.R3", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");

    // Subject overlap: exact, wildcard under wildcard, and partial wildcard.
    create(&js, cfg("OV1", &["ov.>"])).await;
    for (name, subjects) in [
        ("OV2", vec!["ov.a"]),
        ("OV3", vec!["ov.*.c"]),
        ("OV4", vec!["zz", "ov.>"]),
        ("OV5", vec!["ov.*"]),
    ] {
        let err = bounded(
            "create",
            js.create_stream(Config {
                name: name.into(),
                subjects: subjects.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
        )
        .await
        .expect_err("overlap must be refused");
        match err.kind() {
            jetstream::context::CreateStreamErrorKind::JetStream(e) => assert_js_error(
                &js_error_json(&e),
                400,
                10065,
                "subjects overlap with an existing stream",
            ),
            k => panic!("{name}: unexpected error kind {k:?}"),
        }
    }
    create(&js, cfg("OV6", &["ovx.>"])).await;

    // Name in the body must match the subject.
    let v = js_api(
        &c,
        "STREAM.CREATE.NAME1",
        &json!({"name":"NAME2","subjects":["nm"],"storage":"file","retention":"limits",
                "discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10056,
        "stream name in subject does not match request",
    );

    // Invalid combinations: 10052.
    let base = |extra: serde_json::Value| {
        let mut b = json!({"name":"BAD","subjects":["bad"],"storage":"file",
                           "retention":"limits","discard":"old","num_replicas":1});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let v = js_api(
        &c,
        "STREAM.CREATE.BAD",
        &base(json!({"deny_purge":true,"allow_rollup_hdrs":true})),
    )
    .await;
    assert_js_error(&v, 500, 10052, "roll-ups require the purge permission");
    let v = js_api(
        &c,
        "STREAM.CREATE.BAD",
        &base(json!({"max_age":50_000_000u64})),
    )
    .await;
    assert_js_error(&v, 500, 10052, "max age needs to be >= 100ms");
    let v = js_api(
        &c,
        "STREAM.CREATE.BAD",
        &base(json!({"max_age":1_000_000_000u64,"duplicate_window":2_000_000_000u64})),
    )
    .await;
    assert_js_error(
        &v,
        500,
        10052,
        "duplicates window can not be larger then max age",
    );
    // Subjects that could capture the JetStream API ($JS.API.>) need no_ack.
    let api_overlap = "subjects that overlap with jetstream api require no-ack to be true";
    for (subjects, description) in [
        (json!(["*.x"]), api_overlap),
        (json!(["$JS.API.>"]), api_overlap),
        (
            json!([">"]),
            "capturing all subjects requires no-ack to be true",
        ),
    ] {
        let v = js_api(
            &c,
            "STREAM.CREATE.BAD",
            &base(json!({ "subjects": subjects })),
        )
        .await;
        assert_js_error(&v, 500, 10052, description);
    }
    let v = js_api(&c, "STREAM.INFO.BAD", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");
}

// ---------------------------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn publish_acks_carry_stream_and_sequence() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("PUBS", &["pubs.*"])).await;
    let mut expected_bytes = 0;
    for i in 1..=10u64 {
        let subject = if i % 2 == 0 { "pubs.even" } else { "pubs.odd" };
        let payload = format!("message {i}");
        let ack = bounded("publish", async {
            js.publish(subject, payload.clone().into())
                .await
                .unwrap()
                .await
                .unwrap()
        })
        .await;
        assert_eq!(ack.stream, "PUBS");
        assert_eq!(ack.sequence, i);
        assert!(!ack.duplicate);
        expected_bytes += file_msg_bytes(subject, 0, payload.len());
    }
    // Exact JSON of a success ack.
    let v = js_publish_raw(&c, "pubs.raw", &[], b"raw").await;
    assert_eq!(v, json!({"stream":"PUBS","seq":11}));
    expected_bytes += file_msg_bytes("pubs.raw", 0, 3);

    let st = state(&js, "PUBS").await;
    assert_eq!(st.messages, 11);
    assert_eq!((st.first_sequence, st.last_sequence), (1, 11));
    assert_eq!(st.subjects_count, 3);
    assert!(st.first_timestamp <= st.last_timestamp);
    assert!(st.first_timestamp.unix_timestamp() > 1_600_000_000);
    assert_eq!(
        st.bytes, expected_bytes,
        "state.bytes must use nats-server's file store accounting"
    );

    // Not captured by any stream: no responders.
    let err = bounded("publish", async {
        js.publish("nobody.here", "x".into()).await.unwrap().await
    })
    .await
    .expect_err("uncaptured subject");
    assert_eq!(err.kind(), PublishErrorKind::StreamNotFound, "{err}");

    // A publish without reply subject is stored silently.
    c.publish("pubs.noreply", "quiet".into()).await.unwrap();
    common::round_trip(&c).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if state(&js, "PUBS").await.messages == 12 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fire-and-forget publish not stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn state_bytes_count_headers_like_nats_server() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("HB", &["hb"])).await;
    publish_h(&js, "hb", &[("X-A", "1")], "hello")
        .await
        .unwrap();
    let hdr_len = "NATS/1.0\r\nX-A: 1\r\n\r\n".len();
    let st = state(&js, "HB").await;
    assert_eq!(st.bytes, file_msg_bytes("hb", hdr_len, 5));
    // Memory storage: subject + headers + payload + 16.
    create(
        &js,
        Config {
            storage: StorageType::Memory,
            ..cfg("HBM", &["hbm"])
        },
    )
    .await;
    publish_h(&js, "hbm", &[("X-A", "1")], "hello")
        .await
        .unwrap();
    let st = state(&js, "HBM").await;
    assert_eq!(st.bytes, ("hbm".len() + hdr_len + 5 + 16) as u64);
}

#[tokio::test]
async fn memory_stream_publish_and_get() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let s = create(
        &js,
        Config {
            storage: StorageType::Memory,
            max_messages: 3,
            ..cfg("MEM", &["mem.>"])
        },
    )
    .await;
    for i in 1..=5u64 {
        assert_eq!(publish(&js, "mem.x", &format!("m{i}")).await, i);
    }
    let st = state(&js, "MEM").await;
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (3, 3, 5)
    );
    assert_eq!(
        get_payload(&s, 4).await,
        Some(("mem.x".into(), Bytes::from("m4")))
    );
    assert_eq!(get_payload(&s, 2).await, None);
    let v = js_api(
        &c,
        "STREAM.UPDATE.MEM",
        &json!({"name":"MEM","subjects":["mem.>"],"storage":"file","retention":"limits",
                "discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(
        &v,
        500,
        10052,
        "stream configuration update can not change storage type",
    );
}

#[tokio::test]
async fn duplicate_ids_inside_the_window() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let c2 = server.client().await;
    let js = js(&c);
    let js2 = common::js(&c2);
    create(
        &js,
        Config {
            duplicate_window: Duration::from_secs(1),
            ..cfg("DUP", &["dup.>"])
        },
    )
    .await;
    let started = Instant::now();
    let a1 = publish_h(&js, "dup.a", &[("Nats-Msg-Id", "A")], "first")
        .await
        .unwrap();
    assert_eq!((a1.sequence, a1.duplicate), (1, false));
    let a2 = publish_h(&js, "dup.a", &[("Nats-Msg-Id", "A")], "second")
        .await
        .unwrap();
    assert_eq!(
        (a2.stream.as_str(), a2.sequence, a2.duplicate),
        ("DUP", 1, true),
        "a repeated id returns the original sequence with duplicate: true"
    );
    // Another connection (possibly on another core) sees the same id.
    let a3 = publish_h(&js2, "dup.other", &[("Nats-Msg-Id", "A")], "third")
        .await
        .unwrap();
    assert_eq!((a3.sequence, a3.duplicate), (1, true));
    let raw = js_publish_raw(&c, "dup.a", &[("Nats-Msg-Id", "A")], b"fourth").await;
    assert_eq!(raw["seq"], 1, "{raw}");
    assert_eq!(raw["duplicate"], true, "{raw}");
    let b = publish_h(&js, "dup.b", &[("Nats-Msg-Id", "B")], "b")
        .await
        .unwrap();
    assert_eq!((b.sequence, b.duplicate), (2, false));
    let st = state(&js, "DUP").await;
    assert_eq!((st.messages, st.last_sequence), (2, 2));
    let s = js.get_stream("DUP").await.unwrap();
    assert_eq!(
        get_payload(&s, 1).await,
        Some(("dup.a".into(), Bytes::from("first")))
    );

    // After the window the id is accepted again (bounded wait).
    let deadline = started + Duration::from_secs(8);
    let mut n = 0;
    let accepted = loop {
        let ack = publish_h(&js, "dup.a", &[("Nats-Msg-Id", "A")], "later")
            .await
            .unwrap();
        if !ack.duplicate {
            break ack;
        }
        assert_eq!(ack.sequence, 1);
        n += 1;
        assert!(
            Instant::now() < deadline,
            "id still a duplicate 8 s after a 1 s window ({n} tries)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "id forgotten before the 1 s window ended ({:?})",
        started.elapsed()
    );
    assert_eq!(accepted.sequence, 3);
}

#[tokio::test]
async fn expected_stream_header() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("EXS", &["exs"])).await;
    let v = js_publish_raw(&c, "exs", &[("Nats-Expected-Stream", "OTHER")], b"x").await;
    assert_js_error(&v, 400, 10060, "expected stream does not match");
    let ack = publish_h(&js, "exs", &[("Nats-Expected-Stream", "EXS")], "ok")
        .await
        .unwrap();
    assert_eq!(
        ack.sequence, 1,
        "the refused publish must not use a sequence"
    );
    let err = publish_h(&js, "exs", &[("Nats-Expected-Stream", "NOPE")], "x")
        .await
        .expect_err("wrong expected stream");
    let je = js_error_in(&err).expect("jetstream error in publish error");
    assert_js_error(
        &js_error_json(&je),
        400,
        10060,
        "expected stream does not match",
    );
    assert_eq!(state(&js, "EXS").await.messages, 1);
}

#[tokio::test]
async fn expected_last_sequence_header() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("EXL", &["exl.*"])).await;
    // Empty stream: last sequence is 0.
    let v = js_publish_raw(&c, "exl.a", &[("Nats-Expected-Last-Sequence", "5")], b"x").await;
    assert_js_error(&v, 400, 10071, "wrong last sequence: 0");
    let ack = publish_h(&js, "exl.a", &[("Nats-Expected-Last-Sequence", "0")], "1")
        .await
        .unwrap();
    assert_eq!(ack.sequence, 1);
    publish(&js, "exl.b", "2").await;
    let v = js_publish_raw(&c, "exl.a", &[("Nats-Expected-Last-Sequence", "1")], b"x").await;
    assert_js_error(&v, 400, 10071, "wrong last sequence: 2");
    let err = publish_h(&js, "exl.a", &[("Nats-Expected-Last-Sequence", "7")], "x")
        .await
        .expect_err("wrong last sequence");
    assert_eq!(err.kind(), PublishErrorKind::WrongLastSequence, "{err}");
    let ack = publish_h(&js, "exl.a", &[("Nats-Expected-Last-Sequence", "2")], "3")
        .await
        .unwrap();
    assert_eq!(ack.sequence, 3);
    assert_eq!(state(&js, "EXL").await.messages, 3);
}

#[tokio::test]
async fn expected_last_subject_sequence_header() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("EXSS", &["exss.*"])).await;
    let h = "Nats-Expected-Last-Subject-Sequence";
    assert_eq!(
        publish_h(&js, "exss.a", &[(h, "0")], "a1")
            .await
            .unwrap()
            .sequence,
        1
    );
    assert_eq!(publish(&js, "exss.b", "b1").await, 2);
    assert_eq!(publish(&js, "exss.a", "a2").await, 3);
    // Last on exss.a is 3, not 1.
    let v = js_publish_raw(&c, "exss.a", &[(h, "1")], b"x").await;
    assert_js_error(&v, 400, 10071, "wrong last sequence: 3");
    // 0 = nothing stored on the subject; exss.b has 2.
    let v = js_publish_raw(&c, "exss.b", &[(h, "0")], b"x").await;
    assert_js_error(&v, 400, 10071, "wrong last sequence: 2");
    let err = publish_h(&js, "exss.b", &[(h, "3")], "x")
        .await
        .expect_err("wrong subject sequence");
    assert_eq!(err.kind(), PublishErrorKind::WrongLastSequence, "{err}");
    assert_eq!(
        publish_h(&js, "exss.a", &[(h, "3")], "a3")
            .await
            .unwrap()
            .sequence,
        4
    );
    assert_eq!(
        publish_h(&js, "exss.c", &[(h, "0")], "c1")
            .await
            .unwrap()
            .sequence,
        5
    );
    assert_eq!(
        publish_h(&js, "exss.b", &[(h, "2")], "b2")
            .await
            .unwrap()
            .sequence,
        6
    );
    assert_eq!(state(&js, "EXSS").await.messages, 6);
}

#[tokio::test]
async fn expected_last_msg_id_header() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(&js, cfg("EXID", &["exid"])).await;
    let h = "Nats-Expected-Last-Msg-Id";
    // Nothing stored: the last id is empty.
    let v = js_publish_raw(&c, "exid", &[(h, "m0")], b"x").await;
    assert_js_error(&v, 400, 10070, "wrong last msg ID: ");
    let a = publish_h(&js, "exid", &[("Nats-Msg-Id", "m1")], "1")
        .await
        .unwrap();
    assert_eq!(a.sequence, 1);
    let v = js_publish_raw(&c, "exid", &[(h, "zz")], b"x").await;
    assert_js_error(&v, 400, 10070, "wrong last msg ID: m1");
    let err = publish_h(&js, "exid", &[(h, "nope")], "x")
        .await
        .expect_err("wrong last msg id");
    assert_eq!(err.kind(), PublishErrorKind::WrongLastMessageId, "{err}");
    let b = publish_h(&js, "exid", &[(h, "m1"), ("Nats-Msg-Id", "m2")], "2")
        .await
        .unwrap();
    assert_eq!(b.sequence, 2);
    let v = js_publish_raw(&c, "exid", &[(h, "m1")], b"x").await;
    assert_js_error(&v, 400, 10070, "wrong last msg ID: m2");
    let c3 = publish_h(&js, "exid", &[(h, "m2")], "3").await.unwrap();
    assert_eq!(c3.sequence, 3);
    assert_eq!(state(&js, "EXID").await.messages, 3);
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn max_msgs_discard_old_and_new() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let old = create(
        &js,
        Config {
            max_messages: 5,
            ..cfg("MMO", &["mmo"])
        },
    )
    .await;
    for i in 1..=8u64 {
        assert_eq!(publish(&js, "mmo", &format!("{i}")).await, i);
    }
    let st = state(&js, "MMO").await;
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (5, 4, 8)
    );
    assert_eq!(present_seqs(&old, 8).await, vec![4, 5, 6, 7, 8]);

    create(
        &js,
        Config {
            max_messages: 5,
            discard: DiscardPolicy::New,
            ..cfg("MMN", &["mmn"])
        },
    )
    .await;
    for i in 1..=5u64 {
        assert_eq!(publish(&js, "mmn", &format!("{i}")).await, i);
    }
    let v = js_publish_raw(&c, "mmn", &[], b"6").await;
    assert_js_error(&v, 503, 10077, "maximum messages exceeded");
    let st = state(&js, "MMN").await;
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (5, 1, 5)
    );
}

#[tokio::test]
async fn max_bytes_discard_old_and_new() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let payload = "p".repeat(100);
    let one = file_msg_bytes("mbo", 0, 100); // 133
    let old = create(
        &js,
        Config {
            max_bytes: (5 * one) as i64,
            ..cfg("MBO", &["mbo"])
        },
    )
    .await;
    for i in 1..=8u64 {
        assert_eq!(publish(&js, "mbo", &payload).await, i);
    }
    let st = state(&js, "MBO").await;
    assert!(st.bytes <= 5 * one, "bytes {} over max_bytes", st.bytes);
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (5, 4, 8)
    );
    assert_eq!(present_seqs(&old, 8).await, vec![4, 5, 6, 7, 8]);

    create(
        &js,
        Config {
            max_bytes: (3 * one + one / 2) as i64,
            discard: DiscardPolicy::New,
            ..cfg("MBN", &["mbn"])
        },
    )
    .await;
    for i in 1..=3u64 {
        assert_eq!(publish(&js, "mbn", &payload).await, i);
    }
    let v = js_publish_raw(&c, "mbn", &[], payload.as_bytes()).await;
    assert_js_error(&v, 503, 10077, "maximum bytes exceeded");
    // A smaller message still fits.
    assert_eq!(publish(&js, "mbn", "small").await, 4);
    let st = state(&js, "MBN").await;
    assert_eq!((st.messages, st.last_sequence), (4, 4));
}

#[tokio::test]
async fn max_msgs_per_subject_and_discard_new_per_subject() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    // discard old: the oldest message of that subject goes.
    let s = create(
        &js,
        Config {
            max_messages_per_subject: 2,
            ..cfg("MPS", &["mps.*"])
        },
    )
    .await;
    publish(&js, "mps.a", "a1").await; // 1
    publish(&js, "mps.b", "b1").await; // 2
    publish(&js, "mps.a", "a2").await; // 3
    publish(&js, "mps.a", "a3").await; // 4 evicts 1
    publish(&js, "mps.b", "b2").await; // 5
    publish(&js, "mps.b", "b3").await; // 6 evicts 2
    assert_eq!(present_seqs(&s, 6).await, vec![3, 4, 5, 6]);
    let st = state(&js, "MPS").await;
    assert_eq!((st.messages, st.first_sequence), (4, 3));

    // discard new without discard_new_per_subject: the per-subject limit still drops old ones.
    let s = create(
        &js,
        Config {
            max_messages_per_subject: 1,
            discard: DiscardPolicy::New,
            ..cfg("MPN", &["mpn.*"])
        },
    )
    .await;
    publish(&js, "mpn.a", "a1").await;
    publish(&js, "mpn.a", "a2").await;
    assert_eq!(present_seqs(&s, 2).await, vec![2]);

    // discard new + discard_new_per_subject: refused per subject.
    create(
        &js,
        Config {
            max_messages_per_subject: 1,
            discard: DiscardPolicy::New,
            discard_new_per_subject: true,
            ..cfg("MPNS", &["mpns.*"])
        },
    )
    .await;
    assert_eq!(publish(&js, "mpns.a", "a1").await, 1);
    let v = js_publish_raw(&c, "mpns.a", &[], b"a2").await;
    assert_js_error(&v, 503, 10077, "maximum messages per subject exceeded");
    assert_eq!(publish(&js, "mpns.b", "b1").await, 2);
    let st = state(&js, "MPNS").await;
    assert_eq!((st.messages, st.last_sequence), (2, 2));
}

#[tokio::test]
async fn max_msg_size_counts_headers_and_payload() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(
        &js,
        Config {
            max_message_size: 10,
            ..cfg("MMS", &["mms"])
        },
    )
    .await;
    assert_eq!(publish(&js, "mms", "0123456789").await, 1);
    let v = js_publish_raw(&c, "mms", &[], b"0123456789A").await;
    assert_js_error(&v, 400, 10054, "message size exceeds maximum allowed");
    // Headers count too: 5 payload bytes + an 18-byte header block.
    let v = js_publish_raw(&c, "mms", &[("A", "b")], b"01234").await;
    assert_js_error(&v, 400, 10054, "message size exceeds maximum allowed");
    let st = state(&js, "MMS").await;
    assert_eq!((st.messages, st.last_sequence), (1, 1));
}

#[tokio::test]
async fn max_age_expires_messages() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create(
        &js,
        Config {
            max_age: Duration::from_secs(1),
            ..cfg("AGE", &["age"])
        },
    )
    .await;
    let started = Instant::now();
    for i in 1..=3u64 {
        assert_eq!(publish(&js, "age", &format!("{i}")).await, i);
    }
    let st = state(&js, "AGE").await;
    if started.elapsed() < Duration::from_millis(800) {
        assert_eq!(st.messages, 3, "expired too early");
    }
    let deadline = started + Duration::from_secs(6);
    let st = loop {
        let st = state(&js, "AGE").await;
        if st.messages == 0 {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "messages not expired 6 s after a 1 s max_age: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!((st.first_sequence, st.last_sequence), (4, 3));
    assert_eq!(st.bytes, 0);
    assert_eq!(publish(&js, "age", "after").await, 4);
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

async fn fill_get_stream(js: &Context, name: &str, prefix: &str, allow_direct: bool) {
    create(
        js,
        Config {
            allow_direct,
            ..cfg(name, &[&format!("{prefix}.*")])
        },
    )
    .await;
    publish_h(js, &format!("{prefix}.a"), &[("X-Test", "one")], "a1")
        .await
        .unwrap(); // 1
    publish(js, &format!("{prefix}.b"), "b1").await; // 2
    publish(js, &format!("{prefix}.a"), "a2").await; // 3
    publish(js, &format!("{prefix}.b"), "b2").await; // 4
}

#[tokio::test]
async fn msg_get_by_seq_last_and_next() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    fill_get_stream(&js, "GET", "get", false).await;
    let s = js.get_stream("GET").await.unwrap();

    let m = bounded("get", s.get_raw_message(1)).await.unwrap();
    assert_eq!(
        (m.subject.as_str(), m.sequence, &m.payload[..]),
        ("get.a", 1, &b"a1"[..])
    );
    assert_eq!(
        m.headers.get("X-Test").map(|v| v.as_str()),
        Some("one"),
        "stored headers come back"
    );
    assert!(m.time.unix_timestamp() > 1_600_000_000);
    let m = bounded("get", s.get_raw_message(2)).await.unwrap();
    assert_eq!(&m.payload[..], b"b1");

    let m = bounded("last", s.get_last_raw_message_by_subject("get.a"))
        .await
        .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (3, &b"a2"[..]));
    let m = bounded("next", s.get_next_raw_message_by_subject("get.b"))
        .await
        .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (2, &b"b1"[..]));
    let m = bounded(
        "next from 3",
        s.get_first_raw_message_by_subject("get.b", 3),
    )
    .await
    .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (4, &b"b2"[..]));
    let m = bounded(
        "next from 2",
        s.get_first_raw_message_by_subject("get.b", 2),
    )
    .await
    .unwrap();
    assert_eq!(m.sequence, 2, "next_by_subj + seq = first >= seq");

    // Misses.
    let e = bounded("get", s.get_raw_message(99))
        .await
        .expect_err("seq 99");
    assert_eq!(e.kind(), RawMessageErrorKind::NoMessageFound, "{e}");
    let v = js_api(&c, "STREAM.MSG.GET.GET", &json!({"seq":99})).await;
    assert_js_error(&v, 404, 10037, "no message found");
    let v = js_api(&c, "STREAM.MSG.GET.GET", &json!({"last_by_subj":"get.zzz"})).await;
    assert_js_error(&v, 404, 10037, "no message found");
    let v = js_api(
        &c,
        "STREAM.MSG.GET.GET",
        &json!({"next_by_subj":"get.a","seq":4}),
    )
    .await;
    assert_js_error(&v, 404, 10037, "no message found");
    let v = js_api(&c, "STREAM.MSG.GET.GET", &json!({})).await;
    assert_js_error(&v, 400, 10003, "bad request");
    let v = js_api(&c, "STREAM.MSG.GET.NOPE", &json!({"seq":1})).await;
    assert_js_error(&v, 404, 10059, "stream not found");

    // Raw JSON shape: base64 data, hdrs only when there are headers.
    let v = js_api(&c, "STREAM.MSG.GET.GET", &json!({"seq":2})).await;
    assert_eq!(v["message"]["subject"], "get.b", "{v}");
    assert_eq!(v["message"]["seq"], 2, "{v}");
    assert_eq!(v["message"]["data"], "YjE=", "{v}");
    assert!(v["message"].get("hdrs").is_none(), "{v}");
    let v = js_api(&c, "STREAM.MSG.GET.GET", &json!({"seq":1})).await;
    assert!(v["message"]["hdrs"].is_string(), "{v}");

    // Direct get on a stream without allow_direct: no responders.
    let e = bounded("direct get", s.direct_get(1))
        .await
        .expect_err("no allow_direct");
    match e.kind() {
        DirectGetErrorKind::ErrorResponse(code, _) => {
            assert_eq!(code, async_nats::StatusCode::NO_RESPONDERS, "{e}")
        }
        k => panic!("expected no responders, got {k:?}"),
    }
    let e = bounded(
        "direct get subject form",
        c.request("$JS.API.DIRECT.GET.GET.get.a", Bytes::new()),
    )
    .await
    .expect_err("no allow_direct");
    assert_eq!(e.kind(), async_nats::RequestErrorKind::NoResponders, "{e}");
}

#[tokio::test]
async fn direct_get_by_seq_last_and_next() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    fill_get_stream(&js, "DGET", "dget", true).await;
    let s = js.get_stream("DGET").await.unwrap();

    let m = bounded("direct get", s.direct_get(1)).await.unwrap();
    assert_eq!(
        (m.subject.as_str(), m.sequence, &m.payload[..]),
        ("dget.a", 1, &b"a1"[..])
    );
    let h = |name: &str| m.headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(h("X-Test").as_deref(), Some("one"));
    assert_eq!(h("Nats-Stream").as_deref(), Some("DGET"));
    assert_eq!(h("Nats-Subject").as_deref(), Some("dget.a"));
    assert_eq!(h("Nats-Sequence").as_deref(), Some("1"));
    assert!(h("Nats-Time-Stamp").is_some());

    let m = bounded("direct last", s.direct_get_last_for_subject("dget.a"))
        .await
        .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (3, &b"a2"[..]));
    let m = bounded("direct first", s.direct_get_first_for_subject("dget.b"))
        .await
        .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (2, &b"b1"[..]));
    let m = bounded(
        "direct next",
        s.direct_get_next_for_subject("dget.b", Some(3)),
    )
    .await
    .unwrap();
    assert_eq!((m.sequence, &m.payload[..]), (4, &b"b2"[..]));

    // Misses are a 404 status.
    let e = bounded("direct get", s.direct_get(99))
        .await
        .expect_err("seq 99");
    assert_eq!(e.kind(), DirectGetErrorKind::NotFound, "{e}");
    let e = bounded("direct last", s.direct_get_last_for_subject("dget.zzz"))
        .await
        .expect_err("no such subject");
    assert_eq!(e.kind(), DirectGetErrorKind::NotFound, "{e}");
    let m = bounded(
        "raw direct miss",
        c.request("$JS.API.DIRECT.GET.DGET", Bytes::from(r#"{"seq":99}"#)),
    )
    .await
    .unwrap();
    assert_eq!(m.status, Some(async_nats::StatusCode::NOT_FOUND));
    // Body form with an empty body: 408.
    let m = bounded(
        "raw direct empty",
        c.request("$JS.API.DIRECT.GET.DGET", Bytes::new()),
    )
    .await
    .unwrap();
    assert_eq!(m.status, Some(async_nats::StatusCode::TIMEOUT), "{m:?}");
}

// ---------------------------------------------------------------------------------------------
// Deleting
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_message_and_deny_delete() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let mut s = create(
        &js,
        Config {
            allow_direct: true,
            ..cfg("DEL", &["del.*"])
        },
    )
    .await;
    for i in 1..=5u64 {
        publish(&js, "del.x", &format!("{i}")).await;
    }
    assert!(bounded("delete", s.delete_message(2)).await.unwrap());
    assert_eq!(get_payload(&s, 2).await, None);
    let e = bounded("direct get deleted", s.direct_get(2))
        .await
        .expect_err("deleted");
    assert_eq!(e.kind(), DirectGetErrorKind::NotFound, "{e}");
    let st = state(&js, "DEL").await;
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (4, 1, 5)
    );
    assert_eq!(st.deleted_count, Some(1));
    let info = bounded(
        "info with deleted",
        s.info_builder().with_deleted(true).fetch(),
    )
    .await
    .unwrap();
    assert_eq!(info.info.state.deleted, Some(vec![2]));

    // Deleting twice (nats-server 2.15.1 file store: 10043), past the end or seq 0 (10057).
    let v = js_api(&c, "STREAM.MSG.DELETE.DEL", &json!({"seq":2})).await;
    assert_js_error(&v, 400, 10043, "sequence 2 not found");
    let v = js_api(&c, "STREAM.MSG.DELETE.DEL", &json!({"seq":42})).await;
    assert_eq!(
        (v["error"]["code"].as_u64(), v["error"]["err_code"].as_u64()),
        (Some(500), Some(10057)),
        "{v}"
    );
    let v = js_api(&c, "STREAM.MSG.DELETE.DEL", &json!({"seq":0})).await;
    assert_js_error(&v, 500, 10057, "no message found");
    let v = js_api(
        &c,
        "STREAM.MSG.DELETE.DEL",
        &json!({"seq":3,"no_erase":true}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");

    // Deleting the first message moves first_seq.
    assert!(bounded("delete", s.delete_message(1)).await.unwrap());
    let info = bounded("info", s.info()).await.unwrap();
    assert_eq!(
        (info.state.messages, info.state.first_sequence),
        (2, 4),
        "{:?}",
        info.state
    );
    assert_eq!(
        publish(&js, "del.x", "6").await,
        6,
        "sequences are not reused"
    );

    create(
        &js,
        Config {
            deny_delete: true,
            ..cfg("NODEL", &["nodel"])
        },
    )
    .await;
    publish(&js, "nodel", "x").await;
    let v = js_api(&c, "STREAM.MSG.DELETE.NODEL", &json!({"seq":1})).await;
    assert_js_error(&v, 500, 10057, "message delete not permitted");
    let s2 = js.get_stream("NODEL").await.unwrap();
    assert!(get_payload(&s2, 1).await.is_some());
}

#[tokio::test]
async fn purge_all_filter_seq_keep_and_deny_purge() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let s = create(&js, cfg("PRG", &["p.*"])).await;
    // 1 p.a, 2 p.b, 3 p.c, 4 p.a, 5 p.b, 6 p.c, 7 p.a, 8 p.b
    for subj in ["p.a", "p.b", "p.c", "p.a", "p.b", "p.c", "p.a", "p.b"] {
        publish(&js, subj, subj).await;
    }
    let r = bounded("purge filter", s.purge().filter("p.c").into_future())
        .await
        .unwrap();
    assert_eq!((r.success, r.purged), (true, 2));
    assert_eq!(present_seqs(&s, 8).await, vec![1, 2, 4, 5, 7, 8]);

    let r = bounded("purge seq", s.purge().sequence(4).into_future())
        .await
        .unwrap();
    assert_eq!(r.purged, 2, "below 4: seqs 1 and 2");
    assert_eq!(present_seqs(&s, 8).await, vec![4, 5, 7, 8]);
    assert_eq!(state(&js, "PRG").await.first_sequence, 4);

    let r = bounded(
        "purge filter keep",
        s.purge().filter("p.a").keep(1).into_future(),
    )
    .await
    .unwrap();
    assert_eq!(r.purged, 1, "p.a: 4 and 7, keep 7");
    assert_eq!(present_seqs(&s, 8).await, vec![5, 7, 8]);

    let r = bounded("purge keep", s.purge().keep(2).into_future())
        .await
        .unwrap();
    assert_eq!(r.purged, 1);
    assert_eq!(present_seqs(&s, 8).await, vec![7, 8]);

    // seq together with keep: bad request.
    let v = js_api(&c, "STREAM.PURGE.PRG", &json!({"seq":8,"keep":1})).await;
    assert_js_error(&v, 400, 10003, "bad request");
    // filter + seq through raw JSON: p.b below 8 (none left) => 0.
    let v = js_api(&c, "STREAM.PURGE.PRG", &json!({"filter":"p.b","seq":8})).await;
    assert_eq!(
        (v["success"].as_bool(), v["purged"].as_u64()),
        (Some(true), Some(0)),
        "{v}"
    );

    let r = bounded("purge all", s.purge().into_future()).await.unwrap();
    assert_eq!(r.purged, 2);
    let st = state(&js, "PRG").await;
    assert_eq!(
        (st.messages, st.bytes, st.first_sequence, st.last_sequence),
        (0, 0, 9, 8)
    );
    assert_eq!(publish(&js, "p.a", "again").await, 9);
    let v = js_api(&c, "STREAM.PURGE.NOPE", &serde_json::Value::Null).await;
    assert_js_error(&v, 404, 10059, "stream not found");

    let np = create(
        &js,
        Config {
            deny_purge: true,
            ..cfg("NOPRG", &["noprg"])
        },
    )
    .await;
    publish(&js, "noprg", "x").await;
    let e = bounded("purge denied", np.purge().into_future())
        .await
        .expect_err("deny_purge");
    match e.kind() {
        jetstream::stream::PurgeErrorKind::JetStream(je) => assert_js_error(
            &js_error_json(&je),
            500,
            10110,
            "stream purge not permitted",
        ),
        k => panic!("unexpected purge error {k:?}"),
    }
    assert_eq!(state(&js, "NOPRG").await.messages, 1);
}

#[tokio::test]
async fn rollup_sub_all_and_refusals() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let s = create(
        &js,
        Config {
            allow_rollup: true,
            ..cfg("ROLL", &["r.*"])
        },
    )
    .await;
    for subj in ["r.a", "r.a", "r.a", "r.b", "r.b"] {
        publish(&js, subj, subj).await;
    }
    let ack = publish_h(&js, "r.a", &[("Nats-Rollup", "sub")], "rolled a")
        .await
        .unwrap();
    assert_eq!(ack.sequence, 6);
    assert_eq!(present_seqs(&s, 6).await, vec![4, 5, 6]);
    let st = state(&js, "ROLL").await;
    assert_eq!((st.messages, st.first_sequence), (3, 4));

    let ack = publish_h(&js, "r.b", &[("Nats-Rollup", "all")], "rolled all")
        .await
        .unwrap();
    assert_eq!(ack.sequence, 7);
    let st = state(&js, "ROLL").await;
    assert_eq!(
        (st.messages, st.first_sequence, st.last_sequence),
        (1, 7, 7)
    );
    assert_eq!(
        get_payload(&s, 7).await,
        Some(("r.b".into(), Bytes::from("rolled all")))
    );

    let v = js_publish_raw(&c, "r.a", &[("Nats-Rollup", "foo")], b"x").await;
    assert_js_error(&v, 500, 10111, "rollup value invalid: \"foo\"");
    assert_eq!(state(&js, "ROLL").await.last_sequence, 7);

    create(&js, cfg("NOROLL", &["nr.*"])).await;
    publish(&js, "nr.a", "1").await;
    let v = js_publish_raw(&c, "nr.a", &[("Nats-Rollup", "sub")], b"x").await;
    assert_js_error(&v, 500, 10111, "rollup not permitted");
    let v = js_publish_raw(&c, "nr.a", &[("Nats-Rollup", "all")], b"x").await;
    assert_js_error(&v, 500, 10111, "rollup not permitted");
    let st = state(&js, "NOROLL").await;
    assert_eq!((st.messages, st.last_sequence), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Several publishers, both cores
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_on_both_cores_share_streams() {
    const PER_PUBLISHER: u64 = 400;
    let server = TestServer::start_default();
    let opts = async_nats::ConnectOptions::new;
    let c0 = server.client_on_core(0, opts).await;
    let c1 = server.client_on_core(1, opts).await;
    // One stream created from each core.
    create(&js(&c0), cfg("MC0", &["mc0.*"])).await;
    create(&js(&c1), cfg("MC1", &["mc1.*"])).await;

    let mut tasks = Vec::new();
    for (p, client) in [(0u64, c0.clone()), (1, c1.clone())] {
        for stream in ["mc0", "mc1"] {
            let ctx = js(&client);
            tasks.push(tokio::spawn(async move {
                let subject = format!("{stream}.p{p}");
                let mut futs = Vec::new();
                for i in 0..PER_PUBLISHER {
                    let payload = format!("{stream}-p{p}-{i}");
                    futs.push((
                        payload.clone(),
                        ctx.publish(subject.clone(), payload.into())
                            .await
                            .expect("publish"),
                    ));
                }
                let mut acked = Vec::new();
                for (payload, f) in futs {
                    let ack = f.await.expect("ack");
                    acked.push((ack.stream, ack.sequence, payload));
                }
                (subject, acked)
            }));
        }
    }
    let mut by_stream: HashMap<String, BTreeMap<u64, (String, String)>> = HashMap::new();
    for t in tasks {
        let (subject, acked) = bounded("publisher", t).await.unwrap();
        let mut last = 0;
        for (stream, seq, payload) in acked {
            assert!(
                seq > last,
                "acks of one connection must be increasing ({subject})"
            );
            last = seq;
            let prev = by_stream
                .entry(stream.clone())
                .or_default()
                .insert(seq, (subject.clone(), payload));
            assert!(prev.is_none(), "{stream} seq {seq} acked twice");
        }
    }
    for stream in ["MC0", "MC1"] {
        let seqs = &by_stream[stream];
        assert_eq!(
            seqs.keys().copied().collect::<Vec<_>>(),
            (1..=2 * PER_PUBLISHER).collect::<Vec<_>>(),
            "{stream}: acked sequences must be exactly 1..=N"
        );
        // Read back from the other core's connection, and check state from both.
        for (reader, name) in [(&c1, "core 1"), (&c0, "core 0")] {
            let ctx = js(reader);
            let st = state(&ctx, stream).await;
            assert_eq!(
                (st.messages, st.last_sequence),
                (2 * PER_PUBLISHER, 2 * PER_PUBLISHER),
                "{stream} seen from {name}"
            );
        }
        let s = js(&c1).get_stream(stream).await.unwrap();
        for (seq, (subject, payload)) in seqs.iter().step_by(7) {
            assert_eq!(
                get_payload(&s, *seq).await,
                Some((subject.clone(), Bytes::from(payload.clone()))),
                "{stream} seq {seq}"
            );
        }
    }

    // De-duplication and expected-last-sequence hold across cores.
    let a = publish_h(&js(&c0), "mc1.x", &[("Nats-Msg-Id", "X")], "x")
        .await
        .unwrap();
    let b = publish_h(&js(&c1), "mc1.x", &[("Nats-Msg-Id", "X")], "x")
        .await
        .unwrap();
    assert_eq!((b.sequence, b.duplicate), (a.sequence, true));
    let last = a.sequence.to_string();
    let ok = publish_h(
        &js(&c1),
        "mc1.y",
        &[("Nats-Expected-Last-Sequence", last.as_str())],
        "y",
    )
    .await
    .unwrap();
    assert_eq!(ok.sequence, a.sequence + 1);
    let v = js_publish_raw(
        &c0,
        "mc1.y",
        &[("Nats-Expected-Last-Sequence", last.as_str())],
        b"z",
    )
    .await;
    assert_js_error(
        &v,
        400,
        10071,
        &format!("wrong last sequence: {}", a.sequence + 1),
    );
}

/// natrix: `jetstream.max_file_bytes` is enforced — a `max_bytes` reservation that does not fit
/// is refused at create (10047), and publishes stop with 10047 once the stored bytes of all
/// file streams (on every core) would pass the limit.
#[tokio::test]
async fn server_wide_file_limit_is_enforced() {
    if common::ServerKind::from_env() != common::ServerKind::Natrix {
        eprintln!("SKIP server_wide_file_limit_is_enforced: natrix config only");
        return;
    }
    let server = TestServer::start(common::ServerOpts::with_toml(
        "[jetstream]\nmax_file_bytes = 20000\n",
    ));
    let c = server.client().await;
    let js = js(&c);
    let v = js_api(
        &c,
        "STREAM.CREATE.BIG",
        &json!({"name":"BIG","subjects":["big"],"max_bytes":30000,"storage":"file",
                "retention":"limits","discard":"old","num_replicas":1}),
    )
    .await;
    assert_js_error(&v, 500, 10047, "insufficient storage resources available");
    // Two streams, likely owned by different cores, share the limit.
    create(&js, cfg("LA", &["la"])).await;
    create(&js, cfg("LB", &["lb"])).await;
    let payload = "x".repeat(200);
    let mut refused = None;
    for i in 0..400 {
        let subject = if i % 2 == 0 { "la" } else { "lb" };
        let ack = js_publish_raw(&c, subject, &[], payload.as_bytes()).await;
        if ack.get("error").is_some() {
            refused = Some((i, ack));
            break;
        }
    }
    let (at, ack) = refused.expect("publishes never refused under a 20000-byte limit");
    assert_js_error(&ack, 500, 10047, "insufficient storage resources available");
    assert!(at >= 60, "refused too early, after {at} publishes");
    let total = state(&js, "LA").await.bytes + state(&js, "LB").await.bytes;
    assert!(
        total <= 20000 + 5 * 300,
        "stored {total} bytes past the limit"
    );
}
