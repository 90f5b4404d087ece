//! Consumer priority groups (nats-server 2.11+, ADR-42) with raw pull requests, as a client
//! migrating from a current nats-server uses them: `overflow` (`min_pending`,
//! `min_ack_pending`), `pinned_client` (`Nats-Pin-Id`, pinning, failover after
//! `priority_timeout`, `$JS.API.CONSUMER.UNPIN`, the 423 statuses), `prioritized`
//! (`priority` 0–9 served lowest first), the refusals of a pull request (400 texts), consumer
//! info's `priority_groups` state and the pinned / unpinned advisories; `+NXT` acks whose
//! JSON body carries the pull request's fields, priority group included.
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
    // The body is checked before the stream.
    let e = js_api(&c, "CONSUMER.UNPIN.T.P", &json!({})).await;
    assert_js_error(&e, 400, 10025, "invalid JSON: consumer group not specified");

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

/// async-nats's own pinned-client consumer: two workers consume the same group; only the
/// pinned one gets messages, and when it goes away the other takes over after the timeout.
#[tokio::test]
async fn async_nats_workers_fail_over_on_a_pinned_consumer() {
    use async_nats::jetstream::consumer::{pull, PriorityPolicy};
    use futures::StreamExt;

    let server = TestServer::start_default();
    let c = server.client().await;
    let js = async_nats::jetstream::new(c.clone());
    stream_with(&c, 0).await;
    let stream = js.get_stream("S").await.expect("stream");
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("W".into()),
            priority_policy: PriorityPolicy::PinnedClient,
            priority_groups: vec!["g".into()],
            priority_timeout: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let worker = |name: &'static str| {
        let consumer = consumer.clone();
        async move {
            let msgs = consumer
                .stream()
                .group("g")
                .expires(Duration::from_secs(2))
                .messages()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            msgs
        }
    };
    let mut first = worker("first").await;
    let mut second = worker("second").await;
    publish(&c, 4).await;
    // All four go to one worker (whichever got the pin).
    let mut got = [0usize; 2];
    for _ in 0..4 {
        let m = tokio::select! {
            m = first.next() => { got[0] += 1; m }
            m = second.next() => { got[1] += 1; m }
            _ = tokio::time::sleep(common::WAIT) => panic!("no delivery; got {got:?}"),
        };
        let m = m.expect("open").expect("message");
        m.ack().await.expect("ack");
    }
    assert!(
        got == [4, 0] || got == [0, 4],
        "split between workers: {got:?}"
    );
    // The pinned worker stops; the other takes over after priority_timeout.
    let mut other = if got[0] == 4 {
        drop(first);
        second
    } else {
        drop(second);
        first
    };
    publish(&c, 1).await;
    let m = tokio::time::timeout(Duration::from_secs(8), other.next())
        .await
        .expect("failover within 8 s")
        .expect("open")
        .expect("message");
    assert_eq!(m.info().expect("js message").stream_sequence, 5);
    assert!(m
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Pin-Id"))
        .is_some());
}

/// `+NXT <body>` on a delivery's ack subject, answered on a fresh inbox.
async fn ack_next(c: &Client, m: &async_nats::Message, body: &str) -> Subscriber {
    let ack = m.reply.clone().expect("an ack subject");
    let inbox = c.new_inbox();
    let sub = c.subscribe(inbox.clone()).await.unwrap();
    c.publish_with_reply(ack, inbox, format!("+NXT {body}").into())
        .await
        .unwrap();
    c.flush().await.unwrap();
    sub
}

#[tokio::test]
async fn ack_next_takes_the_pull_request_fields_with_the_priority_group() {
    let server = TestServer::start_default();
    let c = server.client().await;
    stream_with(&c, 10).await;
    consumer(&c, json!({"durable_name": "P", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "pinned_client"})).await;
    let m = answer(&c, "P", r#"{"batch":1,"group":"g"}"#).await;
    assert_eq!((status_of(&m), sseq(&m)), (None, 1), "{m:?}");
    let pin = pin_of(&m);

    // +NXT with the group and the pin: acks and pulls like a pull request (batch 2).
    let body = format!(r#"{{"batch":2,"group":"g","id":"{pin}","expires":5000000000}}"#);
    let mut sub = ack_next(&c, &m, &body).await;
    let m2 = delivery(&mut sub, "first of +NXT batch").await;
    let m3 = delivery(&mut sub, "second of +NXT batch").await;
    assert_eq!((sseq(&m2), sseq(&m3)), (2, 3));
    assert_eq!((pin_of(&m2), pin_of(&m3)), (pin.clone(), pin.clone()));
    let info = cinfo(&c, "S", "P").await;
    assert_eq!(info["ack_floor"]["stream_seq"], 1, "{info}");

    // A wrong pin id, a missing group and an unknown group are refused as pull requests are.
    let mut sub = ack_next(&c, &m3, r#"{"batch":1,"group":"g","id":"bogus"}"#).await;
    let r = next(&mut sub, "+NXT with a wrong pin").await;
    assert_eq!(status_of(&r), Some((423, "Nats-Pin-Id mismatch".into())));
    let mut sub = ack_next(&c, &m3, r#"{"batch":1}"#).await;
    let r = next(&mut sub, "+NXT without a group").await;
    assert_eq!(
        status_of(&r),
        Some((400, "Bad Request - Priority Group missing".into()))
    );
    let mut sub = ack_next(&c, &m3, r#"{"batch":1,"group":"nope"}"#).await;
    let r = next(&mut sub, "+NXT with an unknown group").await;
    assert_eq!(
        status_of(&r),
        Some((400, "Bad Request - Invalid Priority Group".into()))
    );
    // The acks of +NXT happened all the same: only 2 is still pending.
    let info = wait_info(&c, "S", "P", "num_ack_pending", 1).await;
    assert_eq!(info["ack_floor"]["stream_seq"], 1, "{info}");

    // An overflow consumer: +NXT with min_pending waits until that many are pending.
    consumer(&c, json!({"durable_name": "O", "ack_policy": "explicit", "priority_groups": ["g"], "priority_policy": "overflow"})).await;
    let m = answer(&c, "O", r#"{"batch":1,"group":"g"}"#).await;
    assert_eq!(sseq(&m), 1, "{m:?}");
    let mut sub = ack_next(
        &c,
        &m,
        r#"{"batch":1,"group":"g","min_pending":20,"expires":3000000000}"#,
    )
    .await;
    assert!(next_within(&mut sub, Duration::from_millis(400))
        .await
        .is_none());
    publish(&c, 15).await;
    let m = delivery(&mut sub, "+NXT past min_pending").await;
    assert_eq!(sseq(&m), 2, "{m:?}");
}
