//! Key-Value buckets through async-nats' `kv` API (no server-side KV code: buckets are streams
//! `KV_<bucket>` and every operation is a publish, a direct get or an ordered push consumer):
//! bucket create/open/update/delete and status; put, get, entry (latest and by revision),
//! create (only if absent, again after delete/purge), update with expected revision, delete
//! and purge (their markers, get after them, expected-revision variants), keys, history, every
//! watch variant (initial values then live updates, in order), bucket max_age, per-key TTL with
//! limit markers, history limits, and a non-direct bucket like nats-py makes.
//!
//! Every test passes against nats-server 2.15.1:
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_kv`.

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, CreateErrorKind, Entry, Operation, Store, UpdateErrorKind};
use async_nats::jetstream::stream::{Config, DiscardPolicy};
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::Value;

use common::{bounded, js, js_api, TestServer};

async fn bucket(js: &Context, config: kv::Config) -> Store {
    let name = config.bucket.clone();
    bounded("create bucket", js.create_key_value(config))
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e}"))
}

fn kv_cfg(name: &str, history: i64) -> kv::Config {
    kv::Config {
        bucket: name.to_string(),
        history,
        ..Default::default()
    }
}

async fn put(kv: &Store, key: &str, value: &str) -> u64 {
    bounded("put", kv.put(key, Bytes::from(value.to_string())))
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
}

async fn get(kv: &Store, key: &str) -> Option<String> {
    bounded("get", kv.get(key))
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

async fn entry(kv: &Store, key: &str) -> Option<Entry> {
    bounded("entry", kv.entry(key))
        .await
        .unwrap_or_else(|e| panic!("entry {key}: {e}"))
}

/// Bucket status from a freshly opened store (async-nats' `status()` returns the stream info
/// cached when the store was opened).
async fn status(js: &Context, bucket: &str) -> kv::bucket::Status {
    let kv = bounded("open", js.get_key_value(bucket))
        .await
        .unwrap_or_else(|e| panic!("open {bucket}: {e}"));
    bounded("status", kv.status()).await.unwrap()
}

/// Next entry of a watch / history / keys stream (bounded).
async fn next_item<S, T, E>(s: &mut S, what: &str) -> T
where
    S: Stream<Item = Result<T, E>> + Unpin,
    E: std::fmt::Display,
{
    bounded(what, s.next())
        .await
        .unwrap_or_else(|| panic!("{what}: stream ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// (key, value, operation, revision) of an entry, for compact comparisons.
fn kvo(e: &Entry) -> (String, String, Operation, u64) {
    (
        e.key.clone(),
        String::from_utf8_lossy(&e.value).into_owned(),
        e.operation,
        e.revision,
    )
}

fn e(key: &str, value: &str, op: Operation, rev: u64) -> (String, String, Operation, u64) {
    (key.to_string(), value.to_string(), op, rev)
}

/// Asserts nothing arrives on `s` for `dur`.
async fn assert_quiet<S, T: std::fmt::Debug, E: std::fmt::Debug>(s: &mut S, dur: Duration)
where
    S: Stream<Item = Result<T, E>> + Unpin,
{
    if let Ok(x) = tokio::time::timeout(dur, s.next()).await {
        panic!("expected nothing, got {x:?}");
    }
}

/// Collects a finite stream (keys / history) with a bound on the whole.
async fn collect<S, T, E>(s: S, what: &str) -> Vec<T>
where
    S: Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    bounded(what, s.try_collect::<Vec<T>>())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bucket_create_open_status_update_delete() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(
        &js,
        kv::Config {
            description: "settings".into(),
            ..kv_cfg("cfg", 5)
        },
    )
    .await;
    assert_eq!(kv.name, "cfg");
    assert_eq!(kv.stream_name, "KV_cfg");
    let st = bounded("status", kv.status()).await.unwrap();
    assert_eq!(st.bucket(), "cfg");
    assert_eq!(
        (st.values(), st.history(), st.max_age()),
        (0, 5, Duration::ZERO)
    );

    // The stream behind it, as async-nats configures it.
    let v = js_api(&c, "STREAM.INFO.KV_cfg", &Value::Null).await;
    let conf = &v["config"];
    assert_eq!(conf["subjects"], serde_json::json!(["$KV.cfg.>"]), "{v}");
    assert_eq!(conf["max_msgs_per_subject"], 5);
    assert_eq!(conf["discard"], "new");
    assert_eq!(conf["allow_direct"], true);
    assert_eq!(conf["allow_rollup_hdrs"], true);
    assert_eq!(conf["deny_delete"], true);
    assert_eq!(conf["max_msgs"], -1);
    assert_eq!(conf["description"], "settings");

    put(&kv, "a", "1").await;
    put(&kv, "b", "2").await;
    assert_eq!(status(&js, "cfg").await.values(), 2);

    // Open it again; creating it again with the same config is idempotent.
    let opened = bounded("open", js.get_key_value("cfg")).await.unwrap();
    assert_eq!(get(&opened, "a").await.as_deref(), Some("1"));
    let again = bucket(
        &js,
        kv::Config {
            description: "settings".into(),
            ..kv_cfg("cfg", 5)
        },
    )
    .await;
    assert_eq!(get(&again, "b").await.as_deref(), Some("2"));
    // Opening a missing bucket fails; invalid names are refused by the client.
    assert!(bounded("open missing", js.get_key_value("nope"))
        .await
        .is_err());
    assert!(
        bounded("bad name", js.create_key_value(kv_cfg("bad.name", 1)))
            .await
            .is_err()
    );

    // Update the bucket (history 5 -> 8), then create_or_update.
    let upd = bounded("update bucket", js.update_key_value(kv_cfg("cfg", 8)))
        .await
        .unwrap();
    assert_eq!(bounded("status", upd.status()).await.unwrap().history(), 8);
    assert_eq!(
        get(&upd, "a").await.as_deref(),
        Some("1"),
        "update keeps values"
    );
    let cu = bounded(
        "create_or_update",
        js.create_or_update_key_value(kv_cfg("cfg", 3)),
    )
    .await
    .unwrap();
    assert_eq!(bounded("status", cu.status()).await.unwrap().history(), 3);
    let fresh = bounded(
        "create_or_update new",
        js.create_or_update_key_value(kv_cfg("fresh", 1)),
    )
    .await
    .unwrap();
    put(&fresh, "k", "v").await;
    assert!(
        bounded("update missing", js.update_key_value(kv_cfg("missing", 1)))
            .await
            .is_err(),
        "update of a missing bucket"
    );

    // Delete the bucket: gone for open and for the stream API.
    assert!(
        bounded("delete bucket", js.delete_key_value("cfg"))
            .await
            .unwrap()
            .success
    );
    assert!(bounded("open deleted", js.get_key_value("cfg"))
        .await
        .is_err());
    let v = js_api(&c, "STREAM.INFO.KV_cfg", &Value::Null).await;
    assert_eq!(v["error"]["err_code"], 10059, "{v}");
    // Bucket names listed via STREAM.NAMES with the $KV subject filter (nats.go/nats.js).
    let v = js_api(
        &c,
        "STREAM.NAMES",
        &serde_json::json!({"subject":"$KV.*.>"}),
    )
    .await;
    assert_eq!(v["streams"], serde_json::json!(["KV_fresh"]), "{v}");
}

// ---------------------------------------------------------------------------------------------
// put / get / entry / create / update
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn put_get_and_entries_by_revision() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("pg", 5)).await;
    assert_eq!(put(&kv, "a", "v1").await, 1);
    assert_eq!(put(&kv, "b", "w1").await, 2);
    assert_eq!(put(&kv, "a", "v2").await, 3);
    assert_eq!(put(&kv, "x.y.z", "dotted").await, 4);
    assert_eq!(put(&kv, "-/_=", "symbols").await, 5);
    assert_eq!(get(&kv, "a").await.as_deref(), Some("v2"));
    assert_eq!(get(&kv, "x.y.z").await.as_deref(), Some("dotted"));
    assert_eq!(get(&kv, "-/_=").await.as_deref(), Some("symbols"));
    assert_eq!(get(&kv, "missing").await, None);
    assert!(entry(&kv, "missing").await.is_none());

    let en = entry(&kv, "a").await.unwrap();
    assert_eq!(
        (
            en.bucket.as_str(),
            en.key.as_str(),
            &en.value[..],
            en.revision,
            en.operation
        ),
        ("pg", "a", &b"v2"[..], 3, Operation::Put)
    );
    assert!(en.created.unix_timestamp() > 1_600_000_000);
    // By revision: the old value, and None when the revision belongs to another key.
    let old = bounded("entry rev", kv.entry_for_revision("a", 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&old.value[..], old.revision), (&b"v1"[..], 1));
    assert!(
        bounded("entry rev other key", kv.entry_for_revision("a", 2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        bounded("entry rev past end", kv.entry_for_revision("a", 99))
            .await
            .unwrap()
            .is_none()
    );
    // Empty values are values.
    put(&kv, "empty", "").await;
    assert_eq!(get(&kv, "empty").await.as_deref(), Some(""));
    // Invalid keys are refused by the client.
    for bad in [".a", "a.", "a b", "a*", ""] {
        assert!(
            bounded("bad key", kv.put(bad, Bytes::from_static(b"x")))
                .await
                .is_err(),
            "key {bad:?}"
        );
    }
    // A value bigger than max_value_size is refused by the server.
    let small = bucket(
        &js,
        kv::Config {
            max_value_size: 8,
            ..kv_cfg("small", 1)
        },
    )
    .await;
    put(&small, "k", "12345678").await;
    assert!(
        bounded("too big", small.put("k", Bytes::from_static(b"123456789")))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn create_only_if_absent() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("cr", 5)).await;
    assert_eq!(
        bounded("create", kv.create("k", Bytes::from_static(b"1")))
            .await
            .unwrap(),
        1
    );
    let err = bounded("create again", kv.create("k", Bytes::from_static(b"2")))
        .await
        .expect_err("create on an existing key");
    assert_eq!(err.kind(), CreateErrorKind::AlreadyExists, "{err}");
    assert_eq!(get(&kv, "k").await.as_deref(), Some("1"));
    // After delete, create works again (retried over the DEL marker).
    bounded("delete", kv.delete("k")).await.unwrap();
    let rev = bounded(
        "create after delete",
        kv.create("k", Bytes::from_static(b"3")),
    )
    .await
    .unwrap();
    assert_eq!(rev, 3);
    assert_eq!(get(&kv, "k").await.as_deref(), Some("3"));
    // After purge too.
    bounded("purge", kv.purge("k")).await.unwrap();
    let rev = bounded(
        "create after purge",
        kv.create("k", Bytes::from_static(b"4")),
    )
    .await
    .unwrap();
    assert_eq!(rev, 5);
    assert_eq!(get(&kv, "k").await.as_deref(), Some("4"));
    // The raw publish: Nats-Expected-Last-Subject-Sequence 0 on an existing key.
    let v = common::js_publish_raw(
        &c,
        "$KV.cr.k",
        &[("Nats-Expected-Last-Subject-Sequence", "0")],
        b"x",
    )
    .await;
    common::assert_js_error(&v, 400, 10071, "wrong last sequence: 5");
}

#[tokio::test]
async fn update_with_expected_revision() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("up", 5)).await;
    let r1 = put(&kv, "k", "1").await;
    put(&kv, "other", "x").await;
    let r2 = bounded("update", kv.update("k", Bytes::from_static(b"2"), r1))
        .await
        .unwrap();
    assert_eq!(r2, 3);
    let err = bounded("stale update", kv.update("k", Bytes::from_static(b"3"), r1))
        .await
        .expect_err("update with a stale revision");
    assert_eq!(err.kind(), UpdateErrorKind::WrongLastRevision, "{err}");
    // On the wire: 10071 naming the key's actual last revision.
    let v = common::js_publish_raw(
        &c,
        "$KV.up.k",
        &[("Nats-Expected-Last-Subject-Sequence", "1")],
        b"x",
    )
    .await;
    common::assert_js_error(&v, 400, 10071, "wrong last sequence: 3");
    // The revision of another key does not count.
    assert!(bounded(
        "other key's revision",
        kv.update("k", Bytes::from_static(b"3"), 2)
    )
    .await
    .is_err());
    assert_eq!(get(&kv, "k").await.as_deref(), Some("2"));
    // Revision 0 = "no value yet": works for a new key, like create.
    let r = bounded("update new", kv.update("new", Bytes::from_static(b"n"), 0))
        .await
        .unwrap();
    assert_eq!(r, 4);
    assert_eq!(get(&kv, "new").await.as_deref(), Some("n"));
}

// ---------------------------------------------------------------------------------------------
// delete / purge
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_and_purge_leave_markers() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("dp", 10)).await;
    for v in ["1", "2", "3"] {
        put(&kv, "a", v).await;
    }
    put(&kv, "b", "b1").await;
    bounded("delete", kv.delete("a")).await.unwrap();
    assert_eq!(get(&kv, "a").await, None, "get after delete");
    let en = entry(&kv, "a")
        .await
        .expect("entry of a deleted key is its marker");
    assert_eq!(
        (en.operation, en.revision, en.value.len()),
        (Operation::Delete, 5, 0)
    );
    // The stored marker: empty payload, KV-Operation: DEL.
    let stream = bounded("stream", js.get_stream("KV_dp")).await.unwrap();
    let m = bounded("raw", stream.get_last_raw_message_by_subject("$KV.dp.a"))
        .await
        .unwrap();
    assert!(m.payload.is_empty());
    assert_eq!(
        m.headers.get("KV-Operation").map(|v| v.as_str()),
        Some("DEL")
    );
    // History keeps the old values plus the marker.
    let hist = collect(
        bounded("history", kv.history("a")).await.unwrap(),
        "history",
    )
    .await;
    assert_eq!(
        hist.iter().map(kvo).collect::<Vec<_>>(),
        vec![
            e("a", "1", Operation::Put, 1),
            e("a", "2", Operation::Put, 2),
            e("a", "3", Operation::Put, 3),
            e("a", "", Operation::Delete, 5),
        ]
    );
    // Purge: one PURGE marker replaces the whole history of the key.
    put(&kv, "a", "4").await;
    bounded("purge", kv.purge("a")).await.unwrap();
    assert_eq!(get(&kv, "a").await, None);
    let en = entry(&kv, "a").await.unwrap();
    assert_eq!((en.operation, en.revision), (Operation::Purge, 7));
    let hist = collect(
        bounded("history", kv.history("a")).await.unwrap(),
        "history",
    )
    .await;
    assert_eq!(
        hist.iter().map(kvo).collect::<Vec<_>>(),
        vec![e("a", "", Operation::Purge, 7)]
    );
    let m = bounded("raw", stream.get_last_raw_message_by_subject("$KV.dp.a"))
        .await
        .unwrap();
    assert_eq!(
        m.headers.get("KV-Operation").map(|v| v.as_str()),
        Some("PURGE")
    );
    assert_eq!(
        m.headers.get("Nats-Rollup").map(|v| v.as_str()),
        Some("sub")
    );
    assert_eq!(
        status(&js, "dp").await.values(),
        2,
        "b1 and the purge marker"
    );
    assert_eq!(
        get(&kv, "b").await.as_deref(),
        Some("b1"),
        "other keys untouched"
    );

    // Expected-revision variants.
    let rb = put(&kv, "b", "b2").await;
    assert!(
        bounded("delete stale", kv.delete_expect_revision("b", Some(rb - 1)))
            .await
            .is_err()
    );
    assert_eq!(get(&kv, "b").await.as_deref(), Some("b2"));
    bounded("delete exact", kv.delete_expect_revision("b", Some(rb)))
        .await
        .unwrap();
    assert_eq!(get(&kv, "b").await, None);
    let rc = put(&kv, "c", "c1").await;
    assert!(
        bounded("purge stale", kv.purge_expect_revision("c", Some(rc + 5)))
            .await
            .is_err()
    );
    bounded("purge exact", kv.purge_expect_revision("c", Some(rc)))
        .await
        .unwrap();
    assert_eq!(get(&kv, "c").await, None);
    // Deleting a key that never existed still writes a marker.
    bounded("delete never", kv.delete("never")).await.unwrap();
    assert_eq!(
        entry(&kv, "never").await.map(|e| e.operation),
        Some(Operation::Delete)
    );
}

// ---------------------------------------------------------------------------------------------
// keys / history
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn keys_lists_live_keys_only() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("ks", 3)).await;
    let started = Instant::now();
    let none = collect(bounded("keys", kv.keys()).await.unwrap(), "keys of empty").await;
    assert!(none.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "keys() of an empty bucket must end at once (num_pending 0), took {:?}",
        started.elapsed()
    );
    for k in ["a", "b", "c.d", "e"] {
        put(&kv, k, "v").await;
        put(&kv, k, "v2").await;
    }
    bounded("delete", kv.delete("b")).await.unwrap();
    bounded("purge", kv.purge("e")).await.unwrap();
    let started = Instant::now();
    let mut keys: Vec<String> = collect(bounded("keys", kv.keys()).await.unwrap(), "keys").await;
    keys.sort();
    assert_eq!(keys, vec!["a", "c.d"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Many keys.
    for i in 0..150 {
        put(&kv, &format!("many.{i:03}"), "x").await;
    }
    let keys: Vec<String> = collect(bounded("keys", kv.keys()).await.unwrap(), "keys").await;
    assert_eq!(keys.len(), 152);
    assert_eq!(keys.iter().filter(|k| k.starts_with("many.")).count(), 150);
}

#[tokio::test]
async fn history_is_bounded_by_the_bucket_history() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("hi", 3)).await;
    for i in 1..=5 {
        put(&kv, "k", &format!("v{i}")).await;
    }
    put(&kv, "other", "o").await;
    let hist = collect(
        bounded("history", kv.history("k")).await.unwrap(),
        "history",
    )
    .await;
    assert_eq!(
        hist.iter().map(kvo).collect::<Vec<_>>(),
        vec![
            e("k", "v3", Operation::Put, 3),
            e("k", "v4", Operation::Put, 4),
            e("k", "v5", Operation::Put, 5),
        ],
        "history 3 keeps the last 3 values even with discard new"
    );
    assert_eq!(hist.last().unwrap().delta, 0);
    assert_eq!(status(&js, "hi").await.values(), 4);
    // History of a missing key: empty, and it ends.
    let started = Instant::now();
    let none = collect(
        bounded("history", kv.history("missing")).await.unwrap(),
        "history",
    )
    .await;
    assert!(none.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // History 1 (the default): only the latest.
    let one = bucket(&js, kv_cfg("hi1", 0)).await;
    put(&one, "k", "a").await;
    put(&one, "k", "b").await;
    let hist = collect(
        bounded("history", one.history("k")).await.unwrap(),
        "history",
    )
    .await;
    assert_eq!(
        hist.iter().map(kvo).collect::<Vec<_>>(),
        vec![e("k", "b", Operation::Put, 2)]
    );
}

// ---------------------------------------------------------------------------------------------
// watch
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn watch_initial_values_then_live_updates() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("wa", 5)).await;
    put(&kv, "a", "a1").await;
    put(&kv, "b", "b1").await;
    put(&kv, "a", "a2").await;
    bounded("delete", kv.delete("b")).await.unwrap();
    put(&kv, "c", "c1").await;

    // async-nats: watch_with_history = latest value per key first (last_per_subject), then
    // live updates; watch_all = live updates only (deliver new).
    let mut w = bounded("watch_with_history >", kv.watch_with_history(">"))
        .await
        .unwrap();
    let mut live_only = bounded("watch_all", kv.watch_all()).await.unwrap();
    // Initial values: the latest entry per key (markers included), in revision order.
    let mut initial = Vec::new();
    for _ in 0..3 {
        initial.push(next_item(&mut w, "initial").await);
    }
    assert_eq!(
        initial.iter().map(kvo).collect::<Vec<_>>(),
        vec![
            e("a", "a2", Operation::Put, 3),
            e("b", "", Operation::Delete, 4),
            e("c", "c1", Operation::Put, 5),
        ]
    );
    assert_eq!(
        initial.iter().map(|x| x.delta).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    assert!(
        initial[2].seen_current,
        "last initial value marks the snapshot done"
    );
    assert_quiet(&mut w, Duration::from_millis(300)).await;
    assert_quiet(&mut live_only, Duration::from_millis(100)).await;

    // Live updates in order, from another connection.
    let js2 = common::js(&server.client().await);
    let kv2 = bounded("open", js2.get_key_value("wa")).await.unwrap();
    put(&kv2, "d", "d1").await;
    put(&kv2, "a", "a3").await;
    bounded("delete", kv2.delete("c")).await.unwrap();
    bounded("purge", kv2.purge("a")).await.unwrap();
    let want = vec![
        e("d", "d1", Operation::Put, 6),
        e("a", "a3", Operation::Put, 7),
        e("c", "", Operation::Delete, 8),
        e("a", "", Operation::Purge, 9),
    ];
    for (name, s) in [
        ("watch_with_history", &mut w),
        ("watch_all", &mut live_only),
    ] {
        let mut live = Vec::new();
        for _ in 0..4 {
            live.push(next_item(s, name).await);
        }
        assert_eq!(live.iter().map(kvo).collect::<Vec<_>>(), want, "{name}");
        assert!(
            live.iter().all(|x| x.seen_current && x.delta == 0),
            "{name}: {live:?}"
        );
    }
    // Watching an empty bucket: nothing until the first put.
    let empty = bucket(&js, kv_cfg("wempty", 1)).await;
    let mut we = bounded("watch_with_history", empty.watch_with_history(">"))
        .await
        .unwrap();
    assert_quiet(&mut we, Duration::from_millis(300)).await;
    put(&empty, "first", "1").await;
    assert_eq!(
        kvo(&next_item(&mut we, "first").await),
        e("first", "1", Operation::Put, 1)
    );
}

#[tokio::test]
async fn watch_key_pattern_and_many() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("wk", 5)).await;
    put(&kv, "a", "a1").await;
    put(&kv, "b", "b1").await;
    put(&kv, "user.1", "u1").await;
    put(&kv, "user.2", "u2").await;

    let mut wa = bounded("watch a", kv.watch("a")).await.unwrap();
    let mut wah = bounded("watch_with_history a", kv.watch_with_history("a"))
        .await
        .unwrap();
    let mut wu = bounded("watch user.*", kv.watch_with_history("user.*"))
        .await
        .unwrap();
    let mut wm = bounded("watch_many", kv.watch_many(["a", "user.2"]))
        .await
        .unwrap();
    let mut wmh = bounded(
        "watch_many_with_history",
        kv.watch_many_with_history(["a", "user.2"]),
    )
    .await
    .unwrap();
    assert_eq!(
        kvo(&next_item(&mut wah, "wah").await),
        e("a", "a1", Operation::Put, 1)
    );
    assert_eq!(
        kvo(&next_item(&mut wu, "wu").await),
        e("user.1", "u1", Operation::Put, 3)
    );
    assert_eq!(
        kvo(&next_item(&mut wu, "wu").await),
        e("user.2", "u2", Operation::Put, 4)
    );
    assert_eq!(
        kvo(&next_item(&mut wmh, "wmh").await),
        e("a", "a1", Operation::Put, 1)
    );
    assert_eq!(
        kvo(&next_item(&mut wmh, "wmh").await),
        e("user.2", "u2", Operation::Put, 4)
    );
    assert_quiet(&mut wa, Duration::from_millis(200)).await;
    assert_quiet(&mut wm, Duration::from_millis(50)).await;

    put(&kv, "b", "b2").await; // 5: nobody watches b
    put(&kv, "user.3", "u3").await; // 6
    put(&kv, "a", "a2").await; // 7
    put(&kv, "user.2", "u2b").await; // 8
    for (name, s) in [("wa", &mut wa), ("wah", &mut wah)] {
        assert_eq!(
            kvo(&next_item(s, name).await),
            e("a", "a2", Operation::Put, 7),
            "{name}"
        );
    }
    assert_eq!(
        kvo(&next_item(&mut wu, "wu live").await),
        e("user.3", "u3", Operation::Put, 6)
    );
    assert_eq!(
        kvo(&next_item(&mut wu, "wu live").await),
        e("user.2", "u2b", Operation::Put, 8)
    );
    for (name, s) in [("wm", &mut wm), ("wmh", &mut wmh)] {
        assert_eq!(
            kvo(&next_item(s, name).await),
            e("a", "a2", Operation::Put, 7),
            "{name}"
        );
        assert_eq!(
            kvo(&next_item(s, name).await),
            e("user.2", "u2b", Operation::Put, 8),
            "{name}"
        );
    }
    assert_quiet(&mut wa, Duration::from_millis(200)).await;

    // Watching a key that does not exist yet: only its first put.
    let mut wn = bounded("watch new key", kv.watch_with_history("fresh"))
        .await
        .unwrap();
    assert_quiet(&mut wn, Duration::from_millis(300)).await;
    put(&kv, "fresh", "f").await;
    let x = next_item(&mut wn, "fresh").await;
    assert_eq!(kvo(&x), e("fresh", "f", Operation::Put, 9));
}

#[tokio::test]
async fn watch_from_revision() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(&js, kv_cfg("wh", 10)).await;
    put(&kv, "k", "1").await; // 1
    put(&kv, "j", "x").await; // 2
    put(&kv, "k", "2").await; // 3
    put(&kv, "k", "3").await; // 4

    // Every revision of k from the first one.
    let mut w1 = bounded("watch_from_revision 1", kv.watch_from_revision("k", 1))
        .await
        .unwrap();
    for (v, rev) in [("1", 1), ("2", 3), ("3", 4)] {
        assert_eq!(
            kvo(&next_item(&mut w1, "from 1").await),
            e("k", v, Operation::Put, rev)
        );
    }
    let mut wr = bounded("watch_from_revision 3", kv.watch_from_revision("k", 3))
        .await
        .unwrap();
    assert_eq!(next_item(&mut wr, "from rev").await.revision, 3);
    assert_eq!(next_item(&mut wr, "from rev").await.revision, 4);
    let mut war = bounded("watch_all_from_revision", kv.watch_all_from_revision(2))
        .await
        .unwrap();
    for rev in [2, 3, 4] {
        assert_eq!(next_item(&mut war, "all from rev").await.revision, rev);
    }
    put(&kv, "k", "4").await; // 5
    put(&kv, "j", "y").await; // 6
    for (name, s) in [("w1", &mut w1), ("wr", &mut wr)] {
        assert_eq!(
            kvo(&next_item(s, name).await),
            e("k", "4", Operation::Put, 5),
            "{name}"
        );
    }
    assert_eq!(next_item(&mut war, "live").await.revision, 5);
    assert_eq!(next_item(&mut war, "live").await.revision, 6);
    assert_quiet(&mut w1, Duration::from_millis(200)).await;
}

// ---------------------------------------------------------------------------------------------
// TTLs and non-direct buckets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bucket_max_age_expires_values() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(
        &js,
        kv::Config {
            max_age: Duration::from_secs(1),
            ..kv_cfg("ttl", 1)
        },
    )
    .await;
    assert_eq!(
        bounded("status", kv.status()).await.unwrap().max_age(),
        Duration::from_secs(1)
    );
    put(&kv, "k", "short-lived").await;
    assert_eq!(get(&kv, "k").await.as_deref(), Some("short-lived"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(&kv, "k").await.as_deref(),
        Some("short-lived"),
        "gone too early"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&kv, "k").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "value still there 5 s after its 1 s max_age"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(&js, "ttl").await.values(), 0);
    // Once expired, create works again (nothing stored on the subject).
    bounded(
        "create after expiry",
        kv.create("k", Bytes::from_static(b"again")),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn per_key_ttl_with_limit_markers() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let kv = bucket(
        &js,
        kv::Config {
            limit_markers: Some(Duration::from_secs(1)),
            ..kv_cfg("pk", 5)
        },
    )
    .await;
    let v = js_api(&c, "STREAM.INFO.KV_pk", &Value::Null).await;
    assert_eq!(v["config"]["allow_msg_ttl"], true, "{v}");
    assert_eq!(
        v["config"]["subject_delete_marker_ttl"], 1_000_000_000u64,
        "{v}"
    );

    put(&kv, "keep", "forever").await;
    let mut w = bounded("watch", kv.watch("temp")).await.unwrap();
    bounded(
        "create_with_ttl",
        kv.create_with_ttl("temp", Bytes::from_static(b"t"), Duration::from_secs(1)),
    )
    .await
    .unwrap();
    assert_eq!(kvo(&next_item(&mut w, "put").await).2, Operation::Put);
    assert_eq!(get(&kv, "temp").await.as_deref(), Some("t"));
    // Expiry writes a MaxAge marker, which watchers see as a purge.
    let marker = next_item(&mut w, "expiry marker").await;
    assert_eq!(marker.operation, Operation::Purge, "{marker:?}");
    assert_eq!(get(&kv, "temp").await, None);
    assert_eq!(get(&kv, "keep").await.as_deref(), Some("forever"));
    let stream = bounded("stream", js.get_stream("KV_pk")).await.unwrap();
    let m = bounded("raw marker", stream.get_raw_message(marker.revision))
        .await
        .unwrap();
    assert_eq!(
        m.headers.get("Nats-Marker-Reason").map(|v| v.as_str()),
        Some("MaxAge"),
        "{m:?}"
    );

    // purge_with_ttl: the purge marker itself goes away after its TTL.
    put(&kv, "p", "1").await;
    bounded(
        "purge_with_ttl",
        kv.purge_with_ttl("p", Duration::from_secs(1)),
    )
    .await
    .unwrap();
    assert_eq!(
        entry(&kv, "p").await.map(|e| e.operation),
        Some(Operation::Purge)
    );
    let deadline = Instant::now() + Duration::from_secs(6);
    while entry(&kv, "p").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "purge marker with a 1 s TTL still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A TTL on a bucket without limit markers is refused by the server.
    let plain = bucket(&js, kv_cfg("plain", 1)).await;
    assert!(bounded(
        "ttl without markers",
        plain.create_with_ttl("x", Bytes::from_static(b"x"), Duration::from_secs(1))
    )
    .await
    .is_err());
}

#[tokio::test]
async fn non_direct_bucket_like_nats_py() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    // The stream nats-py creates: no allow_direct, so gets go through STREAM.MSG.GET.
    bounded(
        "create stream",
        js.create_stream(Config {
            name: "KV_py".into(),
            subjects: vec!["$KV.py.>".into()],
            max_messages_per_subject: 5,
            discard: DiscardPolicy::New,
            deny_delete: true,
            allow_rollup: true,
            allow_direct: false,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let kv = bounded("open", js.get_key_value("py")).await.unwrap();
    put(&kv, "a", "1").await;
    put(&kv, "a", "2").await;
    assert_eq!(get(&kv, "a").await.as_deref(), Some("2"));
    let old = bounded("rev", kv.entry_for_revision("a", 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&old.value[..], b"1");
    bounded("delete", kv.delete("a")).await.unwrap();
    assert_eq!(get(&kv, "a").await, None);
    assert_eq!(
        entry(&kv, "a").await.map(|e| e.operation),
        Some(Operation::Delete)
    );
    assert_eq!(get(&kv, "nope").await, None);
    // Direct get is not served for this stream: no responders.
    let err = bounded(
        "direct get",
        c.request("$JS.API.DIRECT.GET.KV_py.$KV.py.a", Bytes::new()),
    )
    .await
    .expect_err("no direct get without allow_direct");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}
