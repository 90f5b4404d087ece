//! Consumer priority groups (nats-server 2.11+, ADR-42) with raw pull requests, as a client
//! migrating from a current nats-server uses them: `overflow` (`min_pending`,
//! `min_ack_pending`), `pinned_client` (`Nats-Pin-Id`, pinning, failover after
//! `priority_timeout`, `$JS.API.CONSUMER.UNPIN`, the 423 statuses), `prioritized`
//! (`priority` 0–9 served lowest first), the refusals of a pull request (400 texts), consumer
//! info's `priority_groups` state and the pinned / unpinned advisories.
//!
//! Every test also passes against nats-server 2.15.1:
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_priority`.

mod common;

use std::time::{Duration, Instant};

use async_nats::{Client, Subscriber};
use serde_json::{json, Value};

use common::consumer::{cinfo, header, next, next_within, pull_raw, sseq, status_of, wait_info};
use common::{assert_js_error, js_api, TestServer};

fn assert_ok(v: &Value, what: &str) {
    assert!(v.get("error").is_none(), "{what}: {v}");
}

/// A stream `S` on `s.>` holding `n` messages.
async fn stream_with(c: &Client, n: usize) {
    let r = js_api(
        c,
        "STREAM.CREATE.S",
        &json!({"name": "S", "subjects": ["s.>"]}),
    )
    .await;
    assert_ok(&r, "stream create");
    publish(c, n).await;
}

async fn publish(c: &Client, n: usize) {
    for i in 0..n {
        let ack = common::bounded("publish", c.request("s.a", format!("m{i}").into()))
            .await
            .expect("publish ack");
        assert!(!ack.payload.is_empty());
    }
}

async fn consumer(c: &Client, cfg: Value) -> Value {
    let name = cfg["durable_name"].as_str().unwrap().to_string();
    let r = js_api(
        c,
        &format!("CONSUMER.CREATE.S.{name}"),
        &json!({"stream_name": "S", "config": cfg}),
    )
    .await;
    assert_ok(&r, "consumer create");
    r
}

async fn unpin(c: &Client, consumer: &str, body: &str) -> Value {
    let subject = format!("$JS.API.CONSUMER.UNPIN.S.{consumer}");
    let m = common::bounded(
        &subject,
        c.request(subject.clone(), body.to_string().into()),
    )
    .await
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    let v: Value = serde_json::from_slice(&m.payload).expect("unpin reply is JSON");
    assert_eq!(
        v["type"], "io.nats.jetstream.api.v1.consumer_unpin_response",
        "{v}"
    );
    v
}

/// The single answer to a pull request: a status `(code, text)` or a message.
async fn answer(c: &Client, consumer: &str, body: &str) -> async_nats::Message {
    let mut sub = pull_raw(c, "S", consumer, body).await;
    next(&mut sub, body).await
}

async fn refused(c: &Client, consumer: &str, body: &str) -> (u16, String) {
    let m = answer(c, consumer, body).await;
    status_of(&m).unwrap_or_else(|| panic!("{body}: a message instead of a status: {m:?}"))
}

/// A delivery (not a status) on `sub`.
async fn delivery(sub: &mut Subscriber, what: &str) -> async_nats::Message {
    let m = next(sub, what).await;
    assert_eq!(status_of(&m), None, "{what}: {m:?}");
    m
}

fn pin_of(m: &async_nats::Message) -> String {
    header(m, "Nats-Pin-Id")
        .unwrap_or_else(|| panic!("no Nats-Pin-Id: {m:?}"))
        .to_string()
}

/// The first (only) `priority_groups` entry of consumer info.
async fn group_state(c: &Client, consumer: &str) -> Value {
    let info = cinfo(c, "S", consumer).await;
    let groups = info["priority_groups"].as_array().expect("priority_groups");
    assert_eq!(groups.len(), 1, "{info}");
    groups[0].clone()
}

#[tokio::test]
async fn pull_request_refusals_match_nats_server() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 3).await;
    consumer(&c, json!({"durable_name": "N", "ack_policy": "explicit"})).await;
    consumer(&c, json!({"durable_name": "O", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "overflow"})).await;
    consumer(&c, json!({"durable_name": "P", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "pinned_client"})).await;
    consumer(&c, json!({"durable_name": "Q", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "prioritized"})).await;
    let bad = |t: &str| (400u16, format!("Bad Request - {t}"));
    let cases: [(&str, &str, (u16, String)); 12] = [
        ("P", "{}", bad("Priority Group missing")),
        (
            "P",
            r#"{"batch":1,"group":"x"}"#,
            bad("Invalid Priority Group"),
        ),
        (
            "P",
            r#"{"batch":1,"group":"g","min_pending":1}"#,
            bad("Not a Overflow Priority consumer"),
        ),
        (
            "P",
            r#"{"batch":1,"group":"g","min_ack_pending":-1}"#,
            bad("Not a Overflow Priority consumer"),
        ),
        (
            "P",
            r#"{"batch":1,"group":"g","priority":10}"#,
            bad("Priority must be between 0 and 9"),
        ),
        (
            "O",
            r#"{"batch":1,"group":"g","id":"x"}"#,
            bad("Not a Pinned Client Priority consumer"),
        ),
        (
            "O",
            r#"{"batch":1,"group":"g","priority":-1}"#,
            bad("Priority must be between 0 and 9"),
        ),
        ("O", r#"{"batch":1}"#, bad("Priority Group missing")),
        (
            "Q",
            r#"{"batch":1,"group":"g","priority":11}"#,
            bad("Priority must be between 0 and 9"),
        ),
        (
            "Q",
            r#"{"batch":1,"group":"h"}"#,
            bad("Invalid Priority Group"),
        ),
        (
            "N",
            r#"{"batch":1,"group":"g","id":"x"}"#,
            bad("Not a Pinned Client Priority consumer"),
        ),
        (
            "N",
            r#"{"batch":1,"priority":10}"#,
            bad("Priority must be between 0 and 9"),
        ),
    ];
    for (consumer, body, want) in cases {
        assert_eq!(refused(&c, consumer, body).await, want, "{consumer} {body}");
    }
    // Without a policy a group (and a priority in range) is ignored.
    let m = answer(&c, "N", r#"{"batch":1,"group":"zzz","priority":3}"#).await;
    assert_eq!(status_of(&m), None, "{m:?}");
    // Nothing was queued by a refusal.
    assert_eq!(cinfo(&c, "S", "P").await["num_waiting"], 0);
}

#[tokio::test]
async fn overflow_serves_only_past_min_pending_or_min_ack_pending() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 5).await;
    consumer(&c, json!({"durable_name": "O", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "overflow"})).await;
    // 5 pending < 10: the request waits out its expiry.
    let m = answer(
        &c,
        "O",
        r#"{"batch":1,"group":"g","min_pending":10,"expires":300000000}"#,
    )
    .await;
    assert_eq!(status_of(&m).map(|s| s.0), Some(408), "{m:?}");
    // ... and a one-shot request ends at once.
    let m = answer(
        &c,
        "O",
        r#"{"batch":1,"group":"g","min_pending":10,"no_wait":true}"#,
    )
    .await;
    assert_eq!(status_of(&m), Some((404, "No Messages".into())), "{m:?}");
    // 5 pending >= 5: served.
    let m = answer(&c, "O", r#"{"batch":1,"group":"g","min_pending":5}"#).await;
    assert_eq!((status_of(&m), sseq(&m)), (None, 1), "{m:?}");
    // Now 4 pending, 1 ack pending.
    let m = answer(
        &c,
        "O",
        r#"{"batch":1,"group":"g","min_pending":5,"min_ack_pending":2,"expires":300000000}"#,
    )
    .await;
    assert_eq!(status_of(&m).map(|s| s.0), Some(408), "{m:?}");
    let m = answer(&c, "O", r#"{"batch":1,"group":"g","min_ack_pending":1}"#).await;
    assert_eq!((status_of(&m), sseq(&m)), (None, 2), "{m:?}");

    // A waiting request past no threshold lets a later plain request be served first.
    let mut high = pull_raw(
        &c,
        "S",
        "O",
        r#"{"batch":1,"group":"g","min_pending":6,"expires":5000000000}"#,
    )
    .await;
    wait_info(&c, "S", "O", "num_waiting", 1).await;
    let mut plain = pull_raw(&c, "S", "O", r#"{"batch":1,"group":"g"}"#).await;
    assert_eq!(sseq(&delivery(&mut plain, "plain request").await), 3);
    assert!(next_within(&mut high, Duration::from_millis(300))
        .await
        .is_none());
    // Publishing brings the pending count to 2 + 4 = 6: the waiting request is served.
    publish(&c, 4).await;
    assert_eq!(sseq(&delivery(&mut high, "over the threshold").await), 4);
}

#[tokio::test]
async fn pinned_client_pins_renews_and_fails_over_after_the_timeout() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 10).await;
    consumer(&c, json!({"durable_name": "P", "ack_policy": "none", "priority_groups": ["g"], "priority_policy": "pinned_client", "priority_timeout": 1_000_000_000u64})).await;
    let unpinned = group_state(&c, "P").await;
    assert_eq!(
        unpinned,
        json!({"group": "g", "pinned_ts": "0001-01-01T00:00:00Z"})
    );

    // The first request gets the pin.
    let m = answer(&c, "P", r#"{"batch":1,"group":"g"}"#).await;
    assert_eq!((status_of(&m), sseq(&m)), (None, 1), "{m:?}");
    let pin_a = pin_of(&m);
    assert_eq!(pin_a.len(), 22, "{pin_a}");
    let state = group_state(&c, "P").await;
    assert_eq!(state["pinned_client_id"], pin_a.as_str(), "{state}");
    assert_ne!(state["pinned_ts"], "0001-01-01T00:00:00Z", "{state}");

    // Another client's request (no id) waits while the pin holds.
    let mut b = pull_raw(
        &c,
        "S",
        "P",
        r#"{"batch":1,"group":"g","expires":5000000000}"#,
    )
    .await;
    assert!(next_within(&mut b, Duration::from_millis(300))
        .await
        .is_none());
    // A wrong id is refused at once.
    assert_eq!(
        refused(&c, "P", r#"{"batch":1,"group":"g","id":"bogus"}"#).await,
        (423, "Nats-Pin-Id mismatch".into())
    );
    // The pinned client pulls with its id (renewing the pin).
    let renewed = Instant::now();
    let body = format!(r#"{{"batch":1,"group":"g","id":"{pin_a}"}}"#);
    let m = answer(&c, "P", &body).await;
    assert_eq!((sseq(&m), pin_of(&m)), (2, pin_a.clone()), "{m:?}");

    // It stops pulling: after priority_timeout the waiting client gets a new pin.
    let m = delivery(&mut b, "failover").await;
    assert!(
        renewed.elapsed() >= Duration::from_millis(700),
        "failed over after {:?}",
        renewed.elapsed()
    );
    let pin_b = pin_of(&m);
    assert_eq!(sseq(&m), 3);
    assert_ne!(pin_b, pin_a);
    assert_eq!(
        group_state(&c, "P").await["pinned_client_id"],
        pin_b.as_str()
    );
    // The old pin is refused.
    assert_eq!(
        refused(&c, "P", &body).await,
        (423, "Nats-Pin-Id mismatch".into())
    );
}

#[tokio::test]
async fn unpin_api_and_stale_pins() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 5).await;
    consumer(&c, json!({"durable_name": "P", "ack_policy": "none", "priority_groups": ["g"], "priority_policy": "pinned_client"})).await;
    consumer(&c, json!({"durable_name": "N", "ack_policy": "none"})).await;
    // Refusals, in nats-server's order.
    let e = unpin(&c, "P", "").await;
    assert_js_error(&e, 400, 10025, "invalid JSON: unexpected end of JSON input");
    let e = unpin(&c, "P", "{}").await;
    assert_js_error(&e, 400, 10025, "invalid JSON: consumer group not specified");
    let e = unpin(&c, "P", r#"{"group":"a.b"}"#).await;
    assert_js_error(&e, 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters");
    let e = unpin(&c, "P", r#"{"group":"h"}"#).await;
    assert_js_error(
        &e,
        400,
        10160,
        "Provided priority group does not exist for this consumer",
    );
    let e = unpin(&c, "N", r#"{"group":"g"}"#).await;
    assert_js_error(
        &e,
        400,
        10160,
        "Provided priority group does not exist for this consumer",
    );
    let e = unpin(&c, "X", r#"{"group":"g"}"#).await;
    assert_js_error(&e, 404, 10014, "consumer not found");
    let e = js_api(&c, "CONSUMER.UNPIN.T.P", &json!({"group": "g"})).await;
    assert_js_error(&e, 404, 10059, "stream not found");

    // Pin, unpin, and the next request without an id gets a new pin.
    let m = answer(&c, "P", r#"{"batch":1,"group":"g"}"#).await;
    let pin_a = pin_of(&m);
    let ok = unpin(&c, "P", r#"{"group":"g"}"#).await;
    assert_eq!(
        ok,
        json!({"type": "io.nats.jetstream.api.v1.consumer_unpin_response"})
    );
    assert!(group_state(&c, "P").await.get("pinned_client_id").is_none());
    // A request still carrying the old pin is queued, then told when a message is there.
    let m = answer(
        &c,
        "P",
        &format!(r#"{{"batch":2,"group":"g","id":"{pin_a}"}}"#),
    )
    .await;
    assert_eq!(
        status_of(&m),
        Some((423, "Nats-Wrong-Pin-Id".into())),
        "{m:?}"
    );
    assert_eq!(header(&m, "Nats-Pending-Messages"), Some("2"), "{m:?}");
    let m = answer(&c, "P", r#"{"batch":1,"group":"g"}"#).await;
    let pin_b = pin_of(&m);
    assert_ne!(pin_b, pin_a);
    assert_eq!(sseq(&m), 2);
    // A request without priority fields waits while someone holds the pin ...
    let mut plain = pull_raw(&c, "S", "P", "1").await;
    assert!(next_within(&mut plain, Duration::from_millis(300))
        .await
        .is_none());
    // ... and gets messages but no pin (an empty `Nats-Pin-Id`) once nobody does.
    unpin(&c, "P", r#"{"group":"g"}"#).await;
    let m = delivery(&mut plain, "request without priority fields").await;
    assert_eq!(
        (sseq(&m), header(&m, "Nats-Pin-Id")),
        (3, Some("")),
        "{m:?}"
    );
    let m = answer(&c, "P", "").await;
    assert_eq!(
        (sseq(&m), header(&m, "Nats-Pin-Id")),
        (4, Some("")),
        "{m:?}"
    );
    assert!(group_state(&c, "P").await.get("pinned_client_id").is_none());
}

#[tokio::test]
async fn prioritized_serves_the_lowest_priority_first() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 0).await;
    consumer(&c, json!({"durable_name": "Q", "ack_policy": "none", "priority_groups": ["g"], "priority_policy": "prioritized"})).await;
    let mut subs = Vec::new();
    for (i, p) in [5, 1, 3, 1].into_iter().enumerate() {
        let body = format!(r#"{{"batch":2,"group":"g","priority":{p},"expires":10000000000}}"#);
        subs.push((p, pull_raw(&c, "S", "Q", &body).await));
        wait_info(&c, "S", "Q", "num_waiting", i as u64 + 1).await;
    }
    publish(&c, 8).await;
    // Each request takes one message and goes behind the others of its priority.
    let want: [(usize, [u64; 2]); 4] = [(1, [1, 3]), (3, [2, 4]), (2, [5, 6]), (0, [7, 8])];
    for (i, seqs) in want {
        let (p, sub) = &mut subs[i];
        for s in seqs {
            let m = delivery(sub, &format!("priority {p}")).await;
            assert_eq!(sseq(&m), s, "request {i} (priority {p})");
        }
    }
}

#[tokio::test]
async fn pin_advisories() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 3).await;
    consumer(&c, json!({"durable_name": "P", "ack_policy": "none", "priority_groups": ["g"], "priority_policy": "pinned_client", "priority_timeout": 500_000_000u64})).await;
    let mut adv = c
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.*.S.P")
        .await
        .unwrap();
    c.flush().await.unwrap();
    let m = answer(&c, "P", r#"{"batch":1,"group":"g"}"#).await;
    let pin = pin_of(&m);
    let a = next(&mut adv, "pinned advisory").await;
    assert_eq!(a.subject.as_str(), "$JS.EVENT.ADVISORY.CONSUMER.PINNED.S.P");
    let v: Value = serde_json::from_slice(&a.payload).unwrap();
    assert_eq!(
        v["type"], "io.nats.jetstream.advisory.v1.consumer_group_pinned",
        "{v}"
    );
    assert_eq!(
        (&v["stream"], &v["consumer"], &v["group"]),
        (&json!("S"), &json!("P"), &json!("g")),
        "{v}"
    );
    assert_eq!(v["pinned_id"], pin.as_str(), "{v}");
    let a = next(&mut adv, "unpinned advisory (timeout)").await;
    assert_eq!(
        a.subject.as_str(),
        "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.S.P"
    );
    let v: Value = serde_json::from_slice(&a.payload).unwrap();
    assert_eq!(
        v["type"], "io.nats.jetstream.advisory.v1.consumer_group_unpinned",
        "{v}"
    );
    assert_eq!(
        (&v["group"], &v["reason"]),
        (&json!("g"), &json!("timeout")),
        "{v}"
    );
    unpin(&c, "P", r#"{"group":"g"}"#).await;
    let a = next(&mut adv, "unpinned advisory (admin)").await;
    let v: Value = serde_json::from_slice(&a.payload).unwrap();
    assert_eq!(v["reason"], "admin", "{v}");
}
