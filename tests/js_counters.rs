//! Distributed counters across streams (nats-server 2.12+ "source-aware" counters): a counter
//! stream that `sources` other counter streams adds up their totals per subject, remembers the
//! last total seen from each origin subject in `Nats-Counter-Sources` (JSON
//! `{"<origin>":{"<origin subject>":"<total>"}}`), rewrites `Nats-Incr` to the difference, and
//! carries that header forward on its own increments; sourcing it again (several levels)
//! works the same, also after a restart; a stream without counters stores sourced counter
//! messages verbatim; a client's publish carrying `Nats-Stream-Source` is refused (10227).
//!
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_counters` runs them against
//! nats-server 2.15.1.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use common::{assert_js_error, js_api, js_publish_raw, TestServer};

/// Sources catch up in the background: generous, bounded.
const CATCH_UP: Duration = Duration::from_secs(30);

async fn create(c: &async_nats::Client, cfg: Value) {
    let name = cfg["name"].as_str().expect("name").to_owned();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert!(r.get("error").is_none(), "create {name}: {r}");
}

async fn incr(c: &async_nats::Client, subject: &str, by: &str) -> Value {
    let ack = js_publish_raw(c, subject, &[("Nats-Incr", by)], b"").await;
    assert!(ack.get("error").is_none(), "incr {subject} by {by}: {ack}");
    ack
}

/// The last message on `subject` in `stream`: (body, headers as text), `None` if none.
async fn last(c: &async_nats::Client, stream: &str, subject: &str) -> Option<(String, String)> {
    let r = js_api(
        c,
        &format!("STREAM.MSG.GET.{stream}"),
        &json!({"last_by_subj": subject}),
    )
    .await;
    let m = r.get("message")?;
    let b64 = |v: &Value| {
        v.as_str().map_or_else(String::new, |s| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("base64");
            String::from_utf8(raw).expect("utf-8")
        })
    };
    Some((b64(&m["data"]), b64(&m["hdrs"])))
}

/// Waits until the last message on `subject` in `stream` holds `{"val":"<val>"}`; returns its
/// headers.
async fn wait_total(c: &async_nats::Client, stream: &str, subject: &str, val: &str) -> String {
    let want = format!(r#"{{"val":"{val}"}}"#);
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let got = last(c, stream, subject).await;
        if let Some((body, hdrs)) = &got {
            if *body == want {
                return hdrs.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{stream} {subject} never reached {want}: last is {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of header `name` in a headers block.
fn header<'a>(hdrs: &'a str, name: &str) -> Option<&'a str> {
    hdrs.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == name).then(|| v.trim())
    })
}

fn counter_sources(hdrs: &str) -> Value {
    let v = header(hdrs, "Nats-Counter-Sources")
        .unwrap_or_else(|| panic!("no Nats-Counter-Sources in {hdrs:?}"));
    serde_json::from_str(v).unwrap_or_else(|e| panic!("Nats-Counter-Sources {v:?}: {e}"))
}

#[tokio::test]
async fn a_counter_stream_adds_up_the_counters_it_sources() {
    let server = TestServer::start_default();
    let c = server.client().await;
    for (name, subject) in [("EU", "eu.>"), ("US", "us.>")] {
        create(
            &c,
            json!({"name": name, "subjects": [subject], "allow_msg_counter": true}),
        )
        .await;
    }
    create(
        &c,
        json!({
            "name": "GLOBAL",
            "subjects": ["global.>"],
            "allow_msg_counter": true,
            "sources": [
                {"name": "EU", "subject_transforms": [{"src": "eu.>", "dest": "global.>"}]},
                {"name": "US", "subject_transforms": [{"src": "us.>", "dest": "global.>"}]},
            ],
        }),
    )
    .await;

    incr(&c, "eu.hits", "1").await;
    incr(&c, "eu.hits", "2").await;
    let hdrs = wait_total(&c, "GLOBAL", "global.hits", "3").await;
    assert_eq!(counter_sources(&hdrs), json!({"EU": {"eu.hits": "3"}}));
    // The stored increment is the difference to the last total seen from that origin.
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("2"), "{hdrs:?}");
    assert!(header(&hdrs, "Nats-Stream-Source").is_some(), "{hdrs:?}");

    incr(&c, "us.hits", "5").await;
    let hdrs = wait_total(&c, "GLOBAL", "global.hits", "8").await;
    assert_eq!(
        counter_sources(&hdrs),
        json!({"EU": {"eu.hits": "3"}, "US": {"us.hits": "5"}})
    );
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("5"), "{hdrs:?}");

    // A direct increment on the aggregate adds to the total and keeps the sources' totals.
    let ack = incr(&c, "global.hits", "10").await;
    assert_eq!(ack["val"], "18", "{ack}");
    let (_, hdrs) = last(&c, "GLOBAL", "global.hits").await.expect("stored");
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("10"), "{hdrs:?}");
    assert_eq!(
        counter_sources(&hdrs),
        json!({"EU": {"eu.hits": "3"}, "US": {"us.hits": "5"}})
    );

    // A negative increment at an origin arrives as a negative difference.
    incr(&c, "eu.hits", "-4").await;
    let hdrs = wait_total(&c, "GLOBAL", "global.hits", "14").await;
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("-4"), "{hdrs:?}");
    assert_eq!(
        counter_sources(&hdrs),
        json!({"EU": {"eu.hits": "-1"}, "US": {"us.hits": "5"}})
    );
    // Subjects stay apart.
    incr(&c, "us.misses", "7").await;
    let hdrs = wait_total(&c, "GLOBAL", "global.misses", "7").await;
    assert_eq!(counter_sources(&hdrs), json!({"US": {"us.misses": "7"}}));

    // The sources' totals are in the stored messages: a restart changes nothing.
    drop(c);
    let mut server = server;
    server.restart();
    let c = server.client().await;
    incr(&c, "us.hits", "1").await;
    let hdrs = wait_total(&c, "GLOBAL", "global.hits", "15").await;
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("1"), "{hdrs:?}");
    assert_eq!(
        counter_sources(&hdrs),
        json!({"EU": {"eu.hits": "-1"}, "US": {"us.hits": "6"}})
    );
}

#[tokio::test]
async fn counters_aggregate_over_several_levels() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "LEAF", "subjects": ["leaf.>"], "allow_msg_counter": true}),
    )
    .await;
    create(
        &c,
        json!({"name": "MID", "allow_msg_counter": true, "sources": [{"name": "LEAF"}]}),
    )
    .await;
    create(
        &c,
        json!({"name": "TOP", "allow_msg_counter": true, "sources": [{"name": "MID"}]}),
    )
    .await;
    incr(&c, "leaf.n", "4").await;
    incr(&c, "leaf.n", "3").await;
    let hdrs = wait_total(&c, "MID", "leaf.n", "7").await;
    assert_eq!(counter_sources(&hdrs), json!({"LEAF": {"leaf.n": "7"}}));
    // The top level sees the middle one's totals, not the leaf's.
    let hdrs = wait_total(&c, "TOP", "leaf.n", "7").await;
    assert_eq!(counter_sources(&hdrs), json!({"MID": {"leaf.n": "7"}}));
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("3"), "{hdrs:?}");
}

#[tokio::test]
async fn a_stream_without_counters_stores_sourced_counter_messages_verbatim() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "CNT", "subjects": ["cnt.>"], "allow_msg_counter": true}),
    )
    .await;
    create(&c, json!({"name": "COPY", "sources": [{"name": "CNT"}]})).await;
    incr(&c, "cnt.a", "2").await;
    incr(&c, "cnt.a", "40").await;
    let hdrs = wait_total(&c, "COPY", "cnt.a", "42").await;
    assert_eq!(header(&hdrs, "Nats-Incr"), Some("40"), "{hdrs:?}");
    assert_eq!(header(&hdrs, "Nats-Counter-Sources"), None, "{hdrs:?}");
    let i = js_api(&c, "STREAM.INFO.COPY", &Value::Null).await;
    assert_eq!(i["state"]["messages"], 2, "{i}");
}

#[tokio::test]
async fn a_client_cannot_pretend_to_be_a_source() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(
        &c,
        json!({"name": "CNT", "subjects": ["cnt.>"], "allow_msg_counter": true}),
    )
    .await;
    create(&c, json!({"name": "PLAIN", "subjects": ["plain.>"]})).await;
    let forged = ("Nats-Stream-Source", "X 1 > > x.a");
    for (subject, headers, payload) in [
        ("cnt.a", vec![("Nats-Incr", "1"), forged], &b""[..]),
        ("plain.a", vec![forged], &b"x"[..]),
    ] {
        let ack = js_publish_raw(&c, subject, &headers, payload).await;
        assert_js_error(
            &ack,
            400,
            10227,
            "message stream source header is not allowed",
        );
    }
    // A client's refused increment checks come first.
    let ack = js_publish_raw(&c, "cnt.a", &[("Nats-Incr", "x"), forged], b"").await;
    assert_js_error(&ack, 400, 10171, "message counter increment is invalid");
    // Nor in an atomic batch: the batch is refused.
    create(
        &c,
        json!({"name": "ATOM", "subjects": ["atom.>"], "allow_atomic": true}),
    )
    .await;
    let batch = [
        ("Nats-Batch-Id", "b1"),
        ("Nats-Batch-Sequence", "1"),
        ("Nats-Batch-Commit", "1"),
        forged,
    ];
    let ack = js_publish_raw(&c, "atom.a", &batch, b"x").await;
    assert_js_error(
        &ack,
        400,
        10227,
        "message stream source header is not allowed",
    );
    for name in ["CNT", "PLAIN", "ATOM"] {
        let i = js_api(&c, &format!("STREAM.INFO.{name}"), &Value::Null).await;
        assert_eq!(i["state"]["messages"], 0, "{i}");
    }
}
