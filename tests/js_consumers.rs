//! JetStream consumers through `$JS.API.CONSUMER.*` and the delivery protocol, driven by
//! async-nats (and raw requests where a status code, header or exact error envelope matters or
//! async-nats hides it): create (durable / named / ephemeral, `action` create/update), info
//! counters, list/names/delete, pull requests and their 404/408/409/100 statuses, the `$JS.ACK`
//! reply format, ack policies and ack kinds (ack, nak, nak with delay, in progress, term, double
//! ack), ack_wait redelivery, backoff, max_deliver and its advisory, max_ack_pending, deliver
//! policies, filters, headers_only, replay_policy original, push consumers (deliver subject,
//! queue group, waiting for interest, idle heartbeats, flow control), ordered consumers, and
//! work-queue and interest retention. The natrix-only dead-letter extension is tested at the end.
//!
//! Every test except the dead-letter ones passes against nats-server 2.15.1:
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_consumers`.

mod common;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, pull, push, AckPolicy, DeliverPolicy, ReplayPolicy};
use async_nats::jetstream::stream::{Config, RetentionPolicy};
use async_nats::jetstream::{self, AckKind, Context};
use async_nats::{Client, HeaderMap, Subscriber};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

use common::consumer::{
    ack_tokens, cinfo, dcount, header, next, next_within, pull_raw, seqs, sseq, status_of,
    wait_info,
};
use common::{assert_js_error, bounded, js, js_api, TestServer};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn cfg(name: &str, subjects: &[&str]) -> Config {
    Config {
        name: name.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

async fn create_stream(js: &Context, cfg: Config) -> jetstream::stream::Stream {
    let name = cfg.name.clone();
    bounded("create stream", js.create_stream(cfg))
        .await
        .unwrap_or_else(|e| panic!("create stream {name}: {e}"))
}

/// Publishes and waits for the ack; returns the stream sequence.
async fn publish(js: &Context, subject: &str, payload: &str) -> u64 {
    bounded("publish", async {
        js.publish(subject.to_string(), Bytes::from(payload.to_string()))
            .await
            .unwrap_or_else(|e| panic!("publish {subject}: {e}"))
            .await
            .unwrap_or_else(|e| panic!("ack for {subject}: {e}"))
    })
    .await
    .sequence
}

async fn publish_h(js: &Context, subject: &str, headers: &[(&str, &str)], payload: &str) -> u64 {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, *v);
    }
    bounded("publish", async {
        js.publish_with_headers(subject.to_string(), h, Bytes::from(payload.to_string()))
            .await
            .unwrap()
            .await
            .unwrap_or_else(|e| panic!("ack for {subject}: {e}"))
    })
    .await
    .sequence
}

/// A durable pull consumer config with explicit acks.
fn durable(name: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(name.to_string()),
        ack_policy: AckPolicy::Explicit,
        ..Default::default()
    }
}

async fn create_pull(
    stream: &jetstream::stream::Stream,
    config: pull::Config,
) -> consumer::PullConsumer {
    bounded("create consumer", stream.create_consumer(config))
        .await
        .unwrap_or_else(|e| panic!("create consumer: {e}"))
}

/// Fetches up to `n` messages (waiting at most `expires` for them).
async fn fetch(c: &consumer::PullConsumer, n: usize, expires: Duration) -> Vec<jetstream::Message> {
    let batch = bounded(
        "fetch",
        c.fetch().max_messages(n).expires(expires).messages(),
    )
    .await
    .unwrap_or_else(|e| panic!("fetch: {e}"));
    bounded("fetch collect", batch.try_collect::<Vec<_>>())
        .await
        .unwrap_or_else(|e| panic!("fetch batch: {e}"))
}

/// Reads data messages until a status message; returns (data messages, status message).
async fn until_status(
    sub: &mut Subscriber,
    what: &str,
) -> (Vec<async_nats::Message>, async_nats::Message) {
    let mut data = Vec::new();
    for _ in 0..10_000 {
        let m = next(sub, what).await;
        if m.status.is_some() {
            return (data, m);
        }
        data.push(m);
    }
    panic!("{what}: no status after 10000 messages");
}

fn assert_status(m: &async_nats::Message, code: u16, description: &str) {
    assert_eq!(
        status_of(m),
        Some((code, description.to_string())),
        "unexpected status message: {m:?}"
    );
    assert!(m.payload.is_empty(), "status with a body: {m:?}");
}

fn payloads(msgs: &[jetstream::Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

/// Creates a consumer through a raw `CONSUMER.CREATE` request on `subject_suffix`
/// (`<stream>` or `<stream>.<name>[.<filter>]`) and returns the reply JSON.
async fn create_raw(c: &Client, subject_suffix: &str, body: Value) -> Value {
    js_api(c, &format!("CONSUMER.CREATE.{subject_suffix}"), &body).await
}

/// Publishes `payload` to an ack subject with a reply and waits for the (empty) confirmation.
async fn ack_sync(c: &Client, reply: &str, payload: &'static str) {
    let m = bounded(
        "ack confirmation",
        c.request(reply.to_string(), Bytes::from_static(payload.as_bytes())),
    )
    .await
    .unwrap_or_else(|e| panic!("ack {payload} to {reply}: {e}"));
    assert!(
        m.payload.is_empty(),
        "ack confirmation carries a body: {m:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Create / info / list / delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_durable_and_info_defaults() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("CD", &["cd.>"])).await;
    for i in 0..5 {
        publish(&js, "cd.a", &format!("m{i}")).await;
    }
    let mut cons = create_pull(&stream, durable("D1")).await;
    let info = bounded("info", cons.info()).await.unwrap().clone();
    assert_eq!(info.name, "D1");
    assert_eq!(info.stream_name, "CD");
    assert_eq!(info.config.durable_name.as_deref(), Some("D1"));
    assert_eq!(info.config.ack_policy, AckPolicy::Explicit);
    assert_eq!(info.config.deliver_policy, DeliverPolicy::All);
    assert_eq!(info.config.ack_wait, Duration::from_secs(30));
    assert_eq!(info.config.max_deliver, -1);
    assert_eq!(info.config.max_waiting, 512);
    assert_eq!(info.config.max_ack_pending, 1000);
    assert_eq!(info.config.replay_policy, ReplayPolicy::Instant);
    assert_eq!(
        (
            info.delivered.consumer_sequence,
            info.delivered.stream_sequence
        ),
        (0, 0)
    );
    assert_eq!(
        (
            info.ack_floor.consumer_sequence,
            info.ack_floor.stream_sequence
        ),
        (0, 0)
    );
    assert_eq!(info.num_pending, 5);
    assert_eq!(
        (info.num_ack_pending, info.num_redelivered, info.num_waiting),
        (0, 0, 0)
    );
    assert!(info.created.unix_timestamp() > 1_600_000_000);

    // The raw reply: the fields every client needs, and the response type.
    let v = cinfo(&c, "CD", "D1").await;
    assert_eq!(v["type"], "io.nats.jetstream.api.v1.consumer_info_response");
    for k in [
        "stream_name",
        "name",
        "created",
        "config",
        "delivered",
        "ack_floor",
        "num_ack_pending",
        "num_redelivered",
        "num_waiting",
        "num_pending",
    ] {
        assert!(v.get(k).is_some(), "consumer info lacks `{k}`: {v}");
    }
    assert_eq!(v["config"]["name"], "D1");

    // Re-creating with the identical config is idempotent.
    let again = create_pull(&stream, durable("D1")).await;
    assert_eq!(again.cached_info().name, "D1");
    // get_consumer finds it; the account counts it.
    let got: consumer::PullConsumer = bounded("get consumer", stream.get_consumer("D1"))
        .await
        .unwrap();
    assert_eq!(got.cached_info().config.durable_name.as_deref(), Some("D1"));
    let acc = bounded("account", js.query_account()).await.unwrap();
    assert_eq!(acc.consumers, 1);
}

#[tokio::test]
async fn create_named_ephemeral_and_legacy_subjects() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("CE", &["ce.>"])).await;
    publish(&js, "ce.a", "x").await;
    publish(&js, "ce.b", "y").await;

    // Named, not durable (async-nats: CONSUMER.CREATE.CE.N1): ephemeral with a name.
    let mut named = create_pull(
        &stream,
        pull::Config {
            name: Some("N1".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        },
    )
    .await;
    let info = bounded("info", named.info()).await.unwrap();
    assert_eq!(info.name, "N1");
    assert_eq!(info.config.durable_name, None);
    assert_eq!(
        info.config.inactive_threshold,
        Duration::from_secs(5),
        "ephemerals default to a 5 s inactive threshold"
    );

    // Legacy ephemeral subject (no name): the server picks an 8-character name.
    let v = create_raw(
        &c,
        "CE",
        json!({"stream_name":"CE","config":{"ack_policy":"explicit","deliver_policy":"all"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(
        v["type"],
        "io.nats.jetstream.api.v1.consumer_create_response"
    );
    let eph = v["name"].as_str().unwrap();
    assert_eq!(eph.len(), 8, "generated name {eph}");
    assert!(eph.bytes().all(|b| b.is_ascii_alphanumeric()), "{eph}");
    assert_eq!(v["num_pending"], 2);
    assert!(v["config"].get("durable_name").is_none(), "{v}");

    // durable_name on the legacy ephemeral subject: 10020.
    let v = create_raw(
        &c,
        "CE",
        json!({"stream_name":"CE","config":{"durable_name":"X","ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10020,
        "consumer expected to be ephemeral but a durable name was set in request",
    );
    // durable_name different from the subject's name: 10017.
    let v = create_raw(
        &c,
        "CE.Y",
        json!({"stream_name":"CE","config":{"durable_name":"X","ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10017,
        "consumer name in subject does not match durable name in request",
    );
    // stream_name in the body different from the subject: 10056.
    let v = create_raw(
        &c,
        "CE.Y",
        json!({"stream_name":"OTHER","config":{"ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10056,
        "stream name in subject does not match request",
    );
    // Unknown stream: 10059.
    let v = create_raw(
        &c,
        "NOPE.Y",
        json!({"stream_name":"NOPE","config":{"ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(&v, 404, 10059, "stream not found");

    // The subject's name wins over config.name.
    let v = create_raw(
        &c,
        "CE.SUBJ",
        json!({"stream_name":"CE","config":{"name":"OTHERNAME","ack_policy":"explicit"}}),
    )
    .await;
    assert_eq!(v["name"], "SUBJ", "{v}");

    // Filter in the subject: must equal config.filter_subject (10131).
    let v = create_raw(
        &c,
        "CE.F1.ce.a",
        json!({"stream_name":"CE","config":{"durable_name":"F1","filter_subject":"ce.a","ack_policy":"explicit"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["num_pending"], 1, "{v}");
    let v = create_raw(
        &c,
        "CE.F2.ce.a",
        json!({"stream_name":"CE","config":{"durable_name":"F2","filter_subject":"ce.b","ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10131,
        "Consumer create request did not match filtered subject from create subject",
    );

    // Legacy durable subject.
    let v = js_api(
        &c,
        "CONSUMER.DURABLE.CREATE.CE.LEG",
        &json!({"stream_name":"CE","config":{"durable_name":"LEG","ack_policy":"explicit"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["config"]["durable_name"], "LEG");
}

#[tokio::test]
async fn create_action_create_and_update() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("CA", &["ca.>"])).await;
    let base = json!({"durable_name":"A","ack_policy":"explicit","ack_wait":2_000_000_000u64});

    // update on a missing consumer: 10149.
    let v = create_raw(
        &c,
        "CA.A",
        json!({"stream_name":"CA","config":base,"action":"update"}),
    )
    .await;
    assert_js_error(&v, 400, 10149, "consumer does not exist");
    // create, then create again with the same config: idempotent.
    for _ in 0..2 {
        let v = create_raw(
            &c,
            "CA.A",
            json!({"stream_name":"CA","config":base,"action":"create"}),
        )
        .await;
        assert!(v.get("error").is_none(), "{v}");
        assert_eq!(v["config"]["ack_wait"], 2_000_000_000u64);
    }
    // create with a different config: 10148.
    let mut changed = base.clone();
    changed["description"] = json!("changed");
    let v = create_raw(
        &c,
        "CA.A",
        json!({"stream_name":"CA","config":changed,"action":"create"}),
    )
    .await;
    assert_js_error(&v, 400, 10148, "consumer already exists");
    // update with an allowed change.
    let v = create_raw(
        &c,
        "CA.A",
        json!({"stream_name":"CA","config":changed,"action":"update"}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["config"]["description"], "changed");
    // No action: create-or-update.
    let mut changed2 = base.clone();
    changed2["description"] = json!("again");
    let v = create_raw(&c, "CA.A", json!({"stream_name":"CA","config":changed2})).await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["config"]["description"], "again");

    // The same through async-nats.
    let strict = bounded(
        "create strict",
        stream.create_consumer_strict(pull::Config {
            description: Some("different".into()),
            ..durable("A")
        }),
    )
    .await;
    assert!(
        strict.is_err(),
        "create_consumer_strict on a different config"
    );
    let upd = bounded("update missing", stream.update_consumer(durable("MISSING"))).await;
    assert!(upd.is_err(), "update_consumer on a missing consumer");
    let ok = bounded(
        "update",
        stream.update_consumer(pull::Config {
            description: Some("via async-nats".into()),
            ack_wait: Duration::from_secs(2),
            ..durable("A")
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        ok.cached_info().config.description.as_deref(),
        Some("via async-nats")
    );
}

#[tokio::test]
async fn refused_consumer_configurations() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    create_stream(&js, cfg("RC", &["rc.>"])).await;
    create_stream(
        &js,
        Config {
            retention: RetentionPolicy::WorkQueue,
            ..cfg("RCWQ", &["rcwq.>"])
        },
    )
    .await;
    let cases: Vec<(&str, Value, u64, u64, &str)> = vec![
        (
            "RCWQ.P",
            json!({"durable_name":"P","ack_policy":"none"}),
            400,
            10084,
            "consumer in pull mode requires explicit ack policy on workqueue stream",
        ),
        (
            "RC.P",
            json!({"durable_name":"P","ack_policy":"explicit","deliver_subject":"rcout","max_waiting":10}),
            400,
            10080,
            "consumer in push mode can not set max waiting",
        ),
        (
            "RC.P",
            json!({"durable_name":"P","ack_policy":"explicit","deliver_subject":"rc.out"}),
            400,
            10081,
            "consumer deliver subject forms a cycle",
        ),
        (
            "RC.P",
            json!({"durable_name":"P","ack_policy":"explicit","idle_heartbeat":1_000_000_000u64}),
            400,
            10088,
            "consumer idle heartbeat requires a push based consumer",
        ),
        (
            "RC.P",
            json!({"durable_name":"P","ack_policy":"explicit","deliver_subject":"rcout","flow_control":true}),
            400,
            10108,
            "consumer with flow control also needs heartbeats",
        ),
        (
            "RC.P",
            json!({"durable_name":"P","ack_policy":"explicit","deliver_policy":"by_start_sequence"}),
            400,
            10094,
            "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
        ),
    ];
    for (subj, config, code, err_code, desc) in cases {
        let stream = subj.split('.').next().unwrap();
        let v = create_raw(&c, subj, json!({"stream_name":stream,"config":config})).await;
        assert_js_error(&v, code, err_code, desc);
    }
    // Unknown enum value: 10025 invalid JSON.
    let v = create_raw(
        &c,
        "RC.P",
        json!({"stream_name":"RC","config":{"durable_name":"P","ack_policy":"sometimes"}}),
    )
    .await;
    let e = &v["error"];
    assert_eq!(
        (e["code"].as_u64(), e["err_code"].as_u64()),
        (Some(400), Some(10025)),
        "{v}"
    );
    // Nothing was created.
    let v = js_api(&c, "CONSUMER.NAMES.RC", &Value::Null).await;
    assert_eq!(v["total"], 0, "{v}");
}

#[tokio::test]
async fn list_names_and_delete() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("LN", &["ln.>"])).await;
    let v = js_api(&c, "CONSUMER.NAMES.LN", &Value::Null).await;
    assert_eq!(v["total"], 0, "{v}");
    for n in ["C3", "C1", "C2"] {
        create_pull(&stream, durable(n)).await;
    }
    let mut names: Vec<String> = bounded("names", stream.consumer_names().try_collect())
        .await
        .unwrap();
    names.sort();
    assert_eq!(names, vec!["C1", "C2", "C3"]);
    let infos: Vec<consumer::Info> = bounded("list", stream.consumers().try_collect())
        .await
        .unwrap();
    let mut listed: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
    listed.sort();
    assert_eq!(listed, names);
    let v = js_api(&c, "CONSUMER.NAMES.LN", &Value::Null).await;
    assert_eq!(
        v["type"], "io.nats.jetstream.api.v1.consumer_names_response",
        "{v}"
    );
    assert_eq!(v["total"], 3, "{v}");
    let v = js_api(&c, "CONSUMER.LIST.LN", &Value::Null).await;
    assert_eq!(v["type"], "io.nats.jetstream.api.v1.consumer_list_response");
    assert_eq!(v["total"], 3, "{v}");
    assert_eq!(v["consumers"].as_array().unwrap().len(), 3);

    // Delete: success, then 10014 for info and delete.
    let v = js_api(&c, "CONSUMER.DELETE.LN.C2", &Value::Null).await;
    assert_eq!(v["success"], true, "{v}");
    let v = js_api(&c, "CONSUMER.INFO.LN.C2", &Value::Null).await;
    assert_js_error(&v, 404, 10014, "consumer not found");
    let v = js_api(&c, "CONSUMER.DELETE.LN.C2", &Value::Null).await;
    assert_js_error(&v, 404, 10014, "consumer not found");
    assert!(
        bounded("delete", stream.delete_consumer("C1"))
            .await
            .unwrap()
            .success
    );
    let names: Vec<String> = bounded("names", stream.consumer_names().try_collect())
        .await
        .unwrap();
    assert_eq!(names, vec!["C3"]);
    let info = bounded("stream info", js.get_stream("LN")).await.unwrap();
    assert_eq!(info.cached_info().state.consumer_count, 1);
    // Deleting the stream deletes its consumers.
    bounded("delete stream", js.delete_stream("LN"))
        .await
        .unwrap();
    create_stream(&js, cfg("LN", &["ln.>"])).await;
    let v = js_api(&c, "CONSUMER.INFO.LN.C3", &Value::Null).await;
    assert_js_error(&v, 404, 10014, "consumer not found");
}

/// CONSUMER.INFO, CONSUMER.DELETE and STREAM.DELETE take an empty request (no bytes, `{}`):
/// anything else, `null` included, is 10038 and changes nothing.
#[tokio::test]
async fn info_and_delete_refuse_a_non_empty_body() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("NE", &["ne.>"])).await;
    create_pull(&stream, durable("C")).await;
    let raw = |subject: &'static str, body: &'static str| {
        let c = c.clone();
        async move {
            let m = bounded(
                subject,
                c.request(subject, Bytes::from_static(body.as_bytes())),
            )
            .await
            .unwrap_or_else(|e| panic!("request {subject}: {e}"));
            serde_json::from_slice::<Value>(&m.payload).expect("JSON reply")
        }
    };
    for body in ["null", "[]", "{\"a\":1}", " "] {
        for subject in [
            "$JS.API.CONSUMER.INFO.NE.C",
            "$JS.API.CONSUMER.DELETE.NE.C",
            "$JS.API.STREAM.DELETE.NE",
        ] {
            let v = raw(subject, body).await;
            assert_js_error(&v, 400, 10038, "expected an empty request payload");
        }
    }
    for body in ["", "{}", " { } "] {
        let v = raw("$JS.API.CONSUMER.INFO.NE.C", body).await;
        assert_eq!(v["name"], "C", "{body:?}: {v}");
    }
    let v = raw("$JS.API.CONSUMER.DELETE.NE.C", "{}").await;
    assert_eq!(v["success"], true, "{v}");
    let v = raw("$JS.API.STREAM.DELETE.NE", "{}").await;
    assert_eq!(v["success"], true, "{v}");
}

#[tokio::test]
async fn info_counters_follow_deliveries_and_acks() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("IC", &["ic.>"])).await;
    for i in 1..=5 {
        publish(&js, "ic.a", &format!("m{i}")).await;
    }
    let cons = create_pull(&stream, durable("D")).await;
    let msgs = fetch(&cons, 3, Duration::from_secs(2)).await;
    assert_eq!(payloads(&msgs), vec!["m1", "m2", "m3"]);
    let v = cinfo(&c, "IC", "D").await;
    assert_eq!(seqs(&v["delivered"]), (3, 3), "{v}");
    assert_eq!(seqs(&v["ack_floor"]), (0, 0), "{v}");
    assert_eq!(
        (
            &v["num_ack_pending"],
            &v["num_pending"],
            &v["num_redelivered"]
        ),
        (&json!(3), &json!(2), &json!(0)),
        "{v}"
    );

    // Ack #1 moves the floor; ack #3 does not (2 is still pending).
    msgs[0].double_ack().await.unwrap();
    msgs[2].double_ack().await.unwrap();
    let v = cinfo(&c, "IC", "D").await;
    assert_eq!(seqs(&v["ack_floor"]), (1, 1), "{v}");
    assert_eq!(v["num_ack_pending"], 1, "{v}");
    // Nak #2: redelivered as delivery 2 with a new consumer sequence.
    msgs[1].double_ack_with(AckKind::Nak(None)).await.unwrap();
    let again = fetch(&cons, 1, Duration::from_secs(2)).await;
    let info = again[0].info().unwrap();
    assert_eq!(
        (info.stream_sequence, info.consumer_sequence, info.delivered),
        (2, 4, 2)
    );
    let v = cinfo(&c, "IC", "D").await;
    assert_eq!(v["num_redelivered"], 1, "{v}");
    assert_eq!(seqs(&v["delivered"]), (4, 3), "{v}");
    again[0].double_ack().await.unwrap();
    let v = cinfo(&c, "IC", "D").await;
    assert_eq!(seqs(&v["ack_floor"]), (4, 3), "{v}");
    assert_eq!(
        (&v["num_ack_pending"], &v["num_pending"]),
        (&json!(0), &json!(2))
    );

    // A waiting pull request shows as num_waiting.
    let rest = fetch(&cons, 2, Duration::from_secs(2)).await;
    for m in &rest {
        m.double_ack().await.unwrap();
    }
    let _waiting = pull_raw(&c, "IC", "D", r#"{"batch":1,"expires":5000000000}"#).await;
    let v = wait_info(&c, "IC", "D", "num_waiting", 1).await;
    assert_eq!(v["num_pending"], 0, "{v}");
    assert_eq!(seqs(&v["ack_floor"]), (6, 5), "{v}");
}

// ---------------------------------------------------------------------------------------------
// Pull requests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pull_fetch_and_ack_reply_format() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PF", &["pf.>"])).await;
    for i in 1..=10 {
        publish(&js, &format!("pf.s{}", i % 2), &format!("m{i}")).await;
    }
    let cons = create_pull(&stream, durable("D")).await;
    let msgs = fetch(&cons, 4, Duration::from_secs(2)).await;
    assert_eq!(payloads(&msgs), vec!["m1", "m2", "m3", "m4"]);
    for (i, m) in msgs.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(m.subject.as_str(), format!("pf.s{}", seq % 2));
        let reply = m.reply.as_ref().unwrap().to_string();
        let t: Vec<&str> = reply.split('.').collect();
        assert_eq!(t.len(), 9, "v1 ack subject has 9 tokens: {reply}");
        assert_eq!(&t[..4], &["$JS", "ACK", "PF", "D"], "{reply}");
        let stored = bounded("get", stream.get_raw_message(seq)).await.unwrap();
        let stored_ns = stored.time.unix_timestamp_nanos();
        assert_eq!(
            t[4..].to_vec(),
            vec![
                "1".to_string(),
                seq.to_string(),
                seq.to_string(),
                stored_ns.to_string(),
                (10 - seq).to_string()
            ],
            "{reply}"
        );
        let info = m.info().unwrap();
        assert_eq!(info.stream, "PF");
        assert_eq!(info.consumer, "D");
        assert_eq!(
            (
                info.stream_sequence,
                info.consumer_sequence,
                info.delivered,
                info.pending
            ),
            (seq, seq, 1, 10 - seq)
        );
        assert_eq!(info.published, stored.time);
        m.ack().await.unwrap();
    }
    // batch(): a no-wait style request returns what is there, then ends.
    let batch = bounded(
        "batch",
        cons.batch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages(),
    )
    .await
    .unwrap();
    let rest: Vec<jetstream::Message> =
        bounded("batch collect", batch.try_collect()).await.unwrap();
    assert_eq!(
        payloads(&rest),
        (5..=10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    // Nothing left: fetch with a short expiry returns empty.
    let started = Instant::now();
    let none = fetch(&cons, 5, Duration::from_millis(500)).await;
    assert!(none.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn pull_no_wait_404_and_expires_408() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PS", &["ps.>"])).await;
    create_pull(&stream, durable("D")).await;

    // no_wait, nothing pending: 404 No Messages at once.
    let mut sub = pull_raw(&c, "PS", "D", r#"{"batch":5,"no_wait":true}"#).await;
    let m = next(&mut sub, "404").await;
    assert_status(&m, 404, "No Messages");

    // expires with nothing pending: 408 Request Timeout at expiry, with the pending headers.
    let started = Instant::now();
    let mut sub = pull_raw(&c, "PS", "D", r#"{"batch":5,"expires":500000000}"#).await;
    let m = next(&mut sub, "408").await;
    let waited = started.elapsed();
    assert_status(&m, 408, "Request Timeout");
    assert_eq!(header(&m, "Nats-Pending-Messages"), Some("5"), "{m:?}");
    assert_eq!(header(&m, "Nats-Pending-Bytes"), Some("0"), "{m:?}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "408 after {waited:?}"
    );

    // no_wait + expires with nothing pending: waits, then 408.
    let started = Instant::now();
    let mut sub = pull_raw(
        &c,
        "PS",
        "D",
        r#"{"batch":2,"expires":500000000,"no_wait":true}"#,
    )
    .await;
    let m = next(&mut sub, "408 no_wait+expires").await;
    assert_status(&m, 408, "Request Timeout");
    assert!(started.elapsed() >= Duration::from_millis(400));

    // no_wait with 2 of 5 available: the 2 messages, then 404.
    publish(&js, "ps.a", "1").await;
    publish(&js, "ps.a", "2").await;
    let mut sub = pull_raw(&c, "PS", "D", r#"{"batch":5,"no_wait":true}"#).await;
    let (data, st) = until_status(&mut sub, "no_wait partial").await;
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].payload, "1");
    assert_eq!(data[1].payload, "2");
    assert_status(&st, 404, "No Messages");

    // Partially filled request that expires: 408 names the unfilled rest of the batch.
    publish(&js, "ps.a", "3").await;
    let mut sub = pull_raw(
        &c,
        "PS",
        "D",
        r#"{"batch":4,"expires":500000000,"max_bytes":100000}"#,
    )
    .await;
    let (data, st) = until_status(&mut sub, "partial then 408").await;
    assert_eq!(data.len(), 1);
    assert_status(&st, 408, "Request Timeout");
    assert_eq!(header(&st, "Nats-Pending-Messages"), Some("3"), "{st:?}");
    let consumed =
        data[0].subject.len() + data[0].reply.as_ref().unwrap().len() + data[0].payload.len();
    assert_eq!(
        header(&st, "Nats-Pending-Bytes"),
        Some((100000 - consumed).to_string().as_str()),
        "{st:?}"
    );

    // Empty body = batch 1; a bare integer body = that batch size.
    publish(&js, "ps.a", "4").await;
    publish(&js, "ps.a", "5").await;
    publish(&js, "ps.a", "6").await;
    let mut sub = pull_raw(&c, "PS", "D", "").await;
    let m = next(&mut sub, "empty body").await;
    assert_eq!(m.payload, "4");
    assert!(next_within(&mut sub, Duration::from_millis(300))
        .await
        .is_none());
    let mut sub = pull_raw(&c, "PS", "D", "2").await;
    assert_eq!(next(&mut sub, "int body").await.payload, "5");
    assert_eq!(next(&mut sub, "int body").await.payload, "6");

    // Unknown consumer: nobody answers the pull request (no responders).
    let err = bounded(
        "pull on missing consumer",
        c.request(
            "$JS.API.CONSUMER.MSG.NEXT.PS.NOPE",
            Bytes::from_static(b"1"),
        ),
    )
    .await
    .expect_err("no consumer, no responder");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn pull_max_bytes_and_request_limits_409() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PB", &["pb.>"])).await;
    for i in 0..5 {
        publish(&js, "pb.a", &format!("{i}{}", "x".repeat(99))).await;
    }
    create_pull(
        &stream,
        pull::Config {
            max_batch: 10,
            max_expires: Duration::from_secs(2),
            max_bytes: 10_000,
            ..durable("D")
        },
    )
    .await;

    // max_bytes fits two messages of ~150 bytes: two, then 409 Message Size Exceeds MaxBytes.
    let mut sub = pull_raw(
        &c,
        "PB",
        "D",
        r#"{"batch":5,"max_bytes":350,"expires":2000000000}"#,
    )
    .await;
    let (data, st) = until_status(&mut sub, "max_bytes").await;
    let sizes: Vec<usize> = data
        .iter()
        .map(|m| m.subject.len() + m.reply.as_ref().unwrap().len() + m.payload.len())
        .collect();
    assert_eq!(sizes.len(), 2, "sizes {sizes:?}");
    assert!(sizes.iter().sum::<usize>() <= 350);
    assert_status(&st, 409, "Message Size Exceeds MaxBytes");
    assert_eq!(header(&st, "Nats-Pending-Messages"), Some("3"), "{st:?}");
    assert_eq!(
        header(&st, "Nats-Pending-Bytes"),
        Some((350 - sizes.iter().sum::<usize>()).to_string().as_str()),
        "{st:?}"
    );
    // A message bigger than max_bytes on its own: 409 at once, no data.
    let mut sub = pull_raw(&c, "PB", "D", r#"{"batch":5,"max_bytes":50}"#).await;
    let (data, st) = until_status(&mut sub, "max_bytes too small").await;
    assert!(data.is_empty());
    assert_status(&st, 409, "Message Size Exceeds MaxBytes");

    // The consumer's request caps.
    let mut sub = pull_raw(&c, "PB", "D", r#"{"batch":11}"#).await;
    assert_status(
        &next(&mut sub, "max_batch").await,
        409,
        "Exceeded MaxRequestBatch of 10",
    );
    let mut sub = pull_raw(&c, "PB", "D", r#"{"batch":1,"expires":3000000000}"#).await;
    assert_status(
        &next(&mut sub, "max_expires").await,
        409,
        "Exceeded MaxRequestExpires of 2s",
    );
    let mut sub = pull_raw(&c, "PB", "D", r#"{"batch":1,"max_bytes":20000}"#).await;
    assert_status(
        &next(&mut sub, "max_bytes cap").await,
        409,
        "Exceeded MaxRequestMaxBytes of 10000",
    );

    // Bad JSON: 400 Bad Request.
    let mut sub = pull_raw(&c, "PB", "D", r#"{"batch":"#).await;
    let m = next(&mut sub, "bad json").await;
    let (code, desc) = status_of(&m).expect("status");
    assert_eq!(code, 400, "{m:?}");
    assert!(desc.starts_with("Bad Request"), "{m:?}");
}

#[tokio::test]
async fn pull_heartbeats_max_waiting_and_consumer_deleted() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PH", &["ph.>"])).await;
    create_pull(
        &stream,
        pull::Config {
            max_waiting: 2,
            ..durable("D")
        },
    )
    .await;
    publish(&js, "ph.a", "1").await;

    // idle_heartbeat: 100 Idle Heartbeat with the last consumer / stream sequences.
    let mut first = pull_raw(&c, "PH", "D", "1").await;
    assert_eq!(next(&mut first, "first").await.payload, "1");
    let mut sub = pull_raw(
        &c,
        "PH",
        "D",
        r#"{"batch":1,"expires":3000000000,"idle_heartbeat":200000000}"#,
    )
    .await;
    let hb = next(&mut sub, "heartbeat").await;
    assert_status(&hb, 100, "Idle Heartbeat");
    assert_eq!(header(&hb, "Nats-Last-Consumer"), Some("1"), "{hb:?}");
    assert_eq!(header(&hb, "Nats-Last-Stream"), Some("1"), "{hb:?}");
    // Heartbeat too large for the expiry: 400.
    let mut bad = pull_raw(
        &c,
        "PH",
        "D",
        r#"{"batch":1,"expires":1000000000,"idle_heartbeat":800000000}"#,
    )
    .await;
    assert_status(
        &next(&mut bad, "heartbeat too large").await,
        400,
        "Bad Request - heartbeat value too large",
    );

    // Waiting queue full (max_waiting 2: `sub` and `w2`): the third request gets 409.
    let mut w2 = pull_raw(&c, "PH", "D", r#"{"batch":1,"expires":5000000000}"#).await;
    let mut w3 = pull_raw(&c, "PH", "D", r#"{"batch":1,"expires":5000000000}"#).await;
    let m = loop {
        let m = next(&mut w3, "max waiting").await;
        if status_of(&m).map(|s| s.0) != Some(100) {
            break m;
        }
    };
    assert_status(&m, 409, "Exceeded MaxWaiting");

    // Deleting the consumer ends waiting requests with 409 Consumer Deleted.
    bounded("delete", stream.delete_consumer("D"))
        .await
        .unwrap();
    for (name, s) in [("sub", &mut sub), ("w2", &mut w2)] {
        let m = loop {
            let m = next(s, name).await;
            if status_of(&m).map(|s| s.0) != Some(100) {
                break m;
            }
        };
        assert_status(&m, 409, "Consumer Deleted");
    }

    // A pull request to a push consumer: 409 Consumer is push based.
    let v = create_raw(
        &c,
        "PH.PUSH",
        json!({"stream_name":"PH","config":{"durable_name":"PUSH","ack_policy":"explicit","deliver_subject":"ph-push-out"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    let mut sub = pull_raw(&c, "PH", "PUSH", "1").await;
    assert_status(&next(&mut sub, "push").await, 409, "Consumer is push based");
}

// ---------------------------------------------------------------------------------------------
// Ack policies and ack kinds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ack_policy_none_and_all() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("AP", &["ap.>"])).await;
    for i in 1..=5 {
        publish(&js, "ap.a", &format!("m{i}")).await;
    }
    // none: every delivery counts as acked at once; deliveries still carry $JS.ACK replies.
    let none = create_pull(
        &stream,
        pull::Config {
            ack_policy: AckPolicy::None,
            ack_wait: Duration::from_secs(1),
            ..durable("NONE")
        },
    )
    .await;
    let msgs = fetch(&none, 3, Duration::from_secs(2)).await;
    assert_eq!(msgs.len(), 3);
    assert!(msgs[0]
        .reply
        .as_ref()
        .unwrap()
        .starts_with("$JS.ACK.AP.NONE.1.1.1."));
    let v = cinfo(&c, "AP", "NONE").await;
    assert_eq!(v["config"]["ack_policy"], "none");
    assert_eq!(seqs(&v["ack_floor"]), (3, 3), "{v}");
    assert_eq!(v["num_ack_pending"], 0, "{v}");
    // Nothing is redelivered after ack_wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let msgs = fetch(&none, 5, Duration::from_millis(500)).await;
    assert_eq!(payloads(&msgs), vec!["m4", "m5"]);

    // all: acking #3 acks 1..3.
    let all = create_pull(
        &stream,
        pull::Config {
            ack_policy: AckPolicy::All,
            ..durable("ALL")
        },
    )
    .await;
    let msgs = fetch(&all, 5, Duration::from_secs(2)).await;
    assert_eq!(msgs.len(), 5);
    let v = cinfo(&c, "AP", "ALL").await;
    assert_eq!(v["num_ack_pending"], 5, "{v}");
    msgs[2].double_ack().await.unwrap();
    let v = cinfo(&c, "AP", "ALL").await;
    assert_eq!(v["config"]["ack_policy"], "all");
    assert_eq!(seqs(&v["ack_floor"]), (3, 3), "{v}");
    assert_eq!(v["num_ack_pending"], 2, "{v}");
    msgs[4].double_ack().await.unwrap();
    let v = cinfo(&c, "AP", "ALL").await;
    assert_eq!(seqs(&v["ack_floor"]), (5, 5), "{v}");
    assert_eq!(v["num_ack_pending"], 0, "{v}");
}

#[tokio::test]
async fn nak_redelivers_now_and_nak_with_delay_later() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("NK", &["nk.>"])).await;
    publish(&js, "nk.a", "one").await;
    publish(&js, "nk.a", "two").await;
    create_pull(&stream, durable("D")).await;

    let mut sub = pull_raw(&c, "NK", "D", r#"{"batch":20,"expires":8000000000}"#).await;
    let m1 = next(&mut sub, "m1").await;
    let m2 = next(&mut sub, "m2").await;
    assert_eq!((sseq(&m1), dcount(&m1)), (1, 1));
    assert_eq!((sseq(&m2), dcount(&m2)), (2, 1));

    // Plain NAK: redelivered right away, delivery count 2, next consumer sequence.
    ack_sync(&c, m1.reply.as_ref().unwrap(), "-NAK").await;
    let r = next(&mut sub, "nak redelivery").await;
    assert_eq!((sseq(&r), dcount(&r)), (1, 2));
    assert_eq!(ack_tokens(&r)[6], "3", "consumer seq counts redeliveries");
    assert_eq!(r.payload, "one");
    ack_sync(&c, r.reply.as_ref().unwrap(), "+ACK").await;

    // NAK with a 1 s delay: not before ~1 s, then redelivered.
    let naked_at = Instant::now();
    ack_sync(
        &c,
        m2.reply.as_ref().unwrap(),
        "-NAK {\"delay\":1000000000}",
    )
    .await;
    assert!(
        next_within(&mut sub, Duration::from_millis(700))
            .await
            .is_none(),
        "redelivered before the nak delay"
    );
    let r = next(&mut sub, "delayed redelivery").await;
    let after = naked_at.elapsed();
    assert_eq!((sseq(&r), dcount(&r)), (2, 2));
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(4),
        "redelivered after {after:?}"
    );
    ack_sync(&c, r.reply.as_ref().unwrap(), "+ACK").await;
    let v = cinfo(&c, "NK", "D").await;
    assert_eq!(
        v["num_redelivered"], 0,
        "all redelivered messages acked: {v}"
    );
    assert_eq!(seqs(&v["ack_floor"]), (4, 2), "{v}");

    // The same through async-nats: ack_with(Nak(Some(delay))).
    publish(&js, "nk.a", "three").await;
    let m3 = next(&mut sub, "m3").await;
    let jm = jetstream::Message {
        message: m3,
        context: js.clone(),
    };
    let naked_at = Instant::now();
    jm.ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
        .await
        .unwrap();
    let r = next(&mut sub, "delayed redelivery via async-nats").await;
    assert!(naked_at.elapsed() >= Duration::from_millis(900));
    assert_eq!((sseq(&r), dcount(&r)), (3, 2));
}

#[tokio::test]
async fn ack_wait_redelivers_and_in_progress_extends() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("AW", &["aw.>"])).await;
    create_pull(
        &stream,
        pull::Config {
            ack_wait: Duration::from_secs(1),
            ..durable("D")
        },
    )
    .await;
    publish(&js, "aw.a", "slow").await;
    publish(&js, "aw.a", "busy").await;
    let mut sub = pull_raw(&c, "AW", "D", r#"{"batch":20,"expires":9000000000}"#).await;
    let t0 = Instant::now();
    let slow = next(&mut sub, "slow").await;
    let busy = next(&mut sub, "busy").await;
    assert_eq!((sseq(&slow), sseq(&busy)), (1, 2));

    // `busy` sends +WPI every 600 ms; `slow` is left alone and comes back after ack_wait.
    let busy_reply = busy.reply.clone().unwrap().to_string();
    let mut redelivered: Vec<(u64, u64, Duration)> = Vec::new();
    let mut next_wpi = Duration::from_millis(600);
    while t0.elapsed() < Duration::from_millis(2600) {
        if t0.elapsed() >= next_wpi {
            ack_sync(&c, &busy_reply, "+WPI").await;
            next_wpi += Duration::from_millis(600);
        }
        if let Some(m) = next_within(&mut sub, Duration::from_millis(50)).await {
            if m.status.is_none() {
                redelivered.push((sseq(&m), dcount(&m), t0.elapsed()));
                ack_sync(&c, m.reply.as_ref().unwrap(), "+ACK").await;
            }
        }
    }
    assert_eq!(
        redelivered.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(1, 2)],
        "only the unacked, not-in-progress message comes back: {redelivered:?}"
    );
    assert!(
        redelivered[0].2 >= Duration::from_millis(900),
        "redelivered before ack_wait: {redelivered:?}"
    );
    // Once `busy` stops sending progress, it is redelivered too.
    let r = next(&mut sub, "busy redelivery").await;
    assert_eq!((sseq(&r), dcount(&r)), (2, 2));
    let v = cinfo(&c, "AW", "D").await;
    assert_eq!(v["num_redelivered"], 1, "{v}");
}

#[tokio::test]
async fn term_stops_redelivery_and_double_ack_confirms() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("TD", &["td.>"])).await;
    let cons = create_pull(
        &stream,
        pull::Config {
            ack_wait: Duration::from_secs(1),
            ..durable("D")
        },
    )
    .await;
    for i in 1..=3 {
        publish(&js, "td.a", &format!("m{i}")).await;
    }
    let mut terminated = c
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.TD.D")
        .await
        .unwrap();
    c.flush().await.unwrap();
    let msgs = fetch(&cons, 3, Duration::from_secs(2)).await;
    assert_eq!(msgs.len(), 3);
    // Term (async-nats double_ack_with: the server confirms with an empty reply).
    msgs[0].double_ack_with(AckKind::Term).await.unwrap();
    // Double ack: confirmed, and never redelivered.
    msgs[1].double_ack().await.unwrap();
    // Raw ack with a reply: the confirmation is an empty message without headers.
    let m = bounded(
        "raw ack confirmation",
        c.request(
            msgs[2].reply.as_ref().unwrap().to_string(),
            Bytes::from_static(b"+ACK"),
        ),
    )
    .await
    .unwrap();
    assert!(m.payload.is_empty() && m.headers.is_none(), "{m:?}");
    let adv = next(&mut terminated, "terminated advisory").await;
    let a: Value = serde_json::from_slice(&adv.payload).unwrap();
    assert_eq!(a["type"], "io.nats.jetstream.advisory.v1.terminated", "{a}");
    assert_eq!(
        (&a["stream"], &a["consumer"], &a["stream_seq"]),
        (&json!("TD"), &json!("D"), &json!(1))
    );

    // After 2 × ack_wait nothing comes back.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let again = fetch(&cons, 3, Duration::from_millis(500)).await;
    assert!(again.is_empty(), "redelivered: {:?}", payloads(&again));
    let v = cinfo(&c, "TD", "D").await;
    assert_eq!(seqs(&v["ack_floor"]), (3, 3), "{v}");
    assert_eq!(
        (&v["num_ack_pending"], &v["num_redelivered"]),
        (&json!(0), &json!(0))
    );
    // Acking again (already acked) is harmless and still confirmed.
    msgs[1].double_ack().await.unwrap();
}

#[tokio::test]
async fn backoff_spaces_redeliveries() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("BO", &["bo.>"])).await;
    let cons = create_pull(
        &stream,
        pull::Config {
            backoff: vec![Duration::from_secs(1), Duration::from_secs(2)],
            max_deliver: 3,
            ..durable("D")
        },
    )
    .await;
    assert_eq!(
        cons.cached_info().config.ack_wait,
        Duration::from_secs(1),
        "ack_wait defaults to backoff[0]"
    );
    // max_deliver below the number of backoff entries is refused (nats-server 2.15.1 accepts
    // max_deliver == len(backoff) despite the wording of its error).
    let v = create_raw(
        &c,
        "BO.BAD",
        json!({"stream_name":"BO","config":{"durable_name":"BAD","ack_policy":"explicit","max_deliver":1,"backoff":[1000000000u64,2000000000u64]}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10116,
        "max deliver is required to be > length of backoff values",
    );

    publish(&js, "bo.a", "x").await;
    let mut sub = pull_raw(&c, "BO", "D", r#"{"batch":10,"expires":7000000000}"#).await;
    let t0 = Instant::now();
    let mut times = Vec::new();
    while t0.elapsed() < Duration::from_millis(5500) {
        if let Some(m) = next_within(&mut sub, Duration::from_millis(100)).await {
            if m.status.is_none() {
                times.push((dcount(&m), t0.elapsed()));
            }
        }
    }
    assert_eq!(
        times.iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "three deliveries then no more: {times:?}"
    );
    let gap1 = times[1].1 - times[0].1;
    let gap2 = times[2].1 - times[1].1;
    assert!(
        gap1 >= Duration::from_millis(900) && gap1 < Duration::from_millis(1900),
        "first backoff {gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(1800) && gap2 < Duration::from_millis(3200),
        "second backoff {gap2:?}"
    );
}

#[tokio::test]
async fn max_deliver_stops_redelivery_and_advises() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("MD", &["md.>"])).await;
    create_pull(
        &stream,
        pull::Config {
            ack_wait: Duration::from_secs(1),
            max_deliver: 2,
            ..durable("D")
        },
    )
    .await;
    let mut adv = c
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.MD.D")
        .await
        .unwrap();
    c.flush().await.unwrap();
    publish(&js, "md.a", "poison").await;
    publish(&js, "md.a", "good").await;
    let mut sub = pull_raw(&c, "MD", "D", r#"{"batch":10,"expires":5000000000}"#).await;
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_millis(3800) {
        if let Some(m) = next_within(&mut sub, Duration::from_millis(100)).await {
            if m.status.is_none() {
                seen.push((sseq(&m), dcount(&m)));
                if sseq(&m) == 2 {
                    ack_sync(&c, m.reply.as_ref().unwrap(), "+ACK").await;
                }
            }
        }
    }
    assert_eq!(seen, vec![(1, 1), (2, 1), (1, 2)], "deliveries");
    let a = next(&mut adv, "max deliveries advisory").await;
    let a: Value = serde_json::from_slice(&a.payload).unwrap();
    assert_eq!(
        a["type"], "io.nats.jetstream.advisory.v1.max_deliver",
        "{a}"
    );
    assert_eq!(
        (
            &a["stream"],
            &a["consumer"],
            &a["stream_seq"],
            &a["deliveries"]
        ),
        (&json!("MD"), &json!("D"), &json!(1), &json!(2)),
        "{a}"
    );
    let v = cinfo(&c, "MD", "D").await;
    assert_eq!(v["num_pending"], 0, "{v}");
    // A message that hit max_deliver no longer counts as waiting for an ack.
    assert_eq!(v["num_ack_pending"], 0, "{v}");
}

#[tokio::test]
async fn max_ack_pending_limits_outstanding() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("MA", &["ma.>"])).await;
    for i in 1..=10 {
        publish(&js, "ma.a", &format!("m{i}")).await;
    }
    create_pull(
        &stream,
        pull::Config {
            max_ack_pending: 3,
            ..durable("D")
        },
    )
    .await;
    let mut sub = pull_raw(&c, "MA", "D", r#"{"batch":10,"expires":4000000000}"#).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut sub, "first three").await);
    }
    assert!(
        next_within(&mut sub, Duration::from_millis(500))
            .await
            .is_none(),
        "a fourth message despite max_ack_pending 3"
    );
    let v = cinfo(&c, "MA", "D").await;
    assert_eq!(
        (&v["num_ack_pending"], &v["num_pending"]),
        (&json!(3), &json!(7)),
        "{v}"
    );
    // One ack frees one slot.
    ack_sync(&c, got[0].reply.as_ref().unwrap(), "+ACK").await;
    let m = next(&mut sub, "fourth").await;
    assert_eq!(sseq(&m), 4);
    assert!(next_within(&mut sub, Duration::from_millis(300))
        .await
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Deliver policies, filters, headers_only, replay
// ---------------------------------------------------------------------------------------------

/// Pulls everything currently deliverable (no_wait) and returns the stream sequences.
async fn drain_seqs(c: &Client, stream: &str, consumer: &str) -> Vec<u64> {
    let mut sub = pull_raw(c, stream, consumer, r#"{"batch":100,"no_wait":true}"#).await;
    let (data, st) = until_status(&mut sub, "drain").await;
    assert_status(&st, 404, "No Messages");
    data.iter().map(sseq).collect()
}

#[tokio::test]
async fn deliver_policies() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("DP", &["dp.>"])).await;
    for (s, p) in [
        ("dp.a", "a1"),
        ("dp.b", "b1"),
        ("dp.a", "a2"),
        ("dp.b", "b2"),
        ("dp.a", "a3"),
    ] {
        publish(&js, s, p).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seq6 = publish(&js, "dp.c", "c1").await;
    assert_eq!(seq6, 6);
    let t6 = bounded("get 6", stream.get_raw_message(6))
        .await
        .unwrap()
        .time;

    let mk = |name: &str, policy: DeliverPolicy| pull::Config {
        deliver_policy: policy,
        ..durable(name)
    };
    let all = create_pull(&stream, mk("ALL", DeliverPolicy::All)).await;
    assert_eq!(all.cached_info().num_pending, 6);
    let last = create_pull(&stream, mk("LAST", DeliverPolicy::Last)).await;
    assert_eq!(last.cached_info().num_pending, 1);
    assert_eq!(last.cached_info().delivered.stream_sequence, 5);
    let new = create_pull(&stream, mk("NEW", DeliverPolicy::New)).await;
    assert_eq!(new.cached_info().num_pending, 0);
    assert_eq!(new.cached_info().delivered.stream_sequence, 6);
    let by_seq = create_pull(
        &stream,
        mk(
            "BYSEQ",
            DeliverPolicy::ByStartSequence { start_sequence: 3 },
        ),
    )
    .await;
    assert_eq!(by_seq.cached_info().num_pending, 4);
    let by_time = create_pull(
        &stream,
        mk("BYTIME", DeliverPolicy::ByStartTime { start_time: t6 }),
    )
    .await;
    assert_eq!(by_time.cached_info().num_pending, 1);
    // last_per_subject needs a filter (nats-server 2.15.1: 10094).
    let v = create_raw(
        &c,
        "DP.LPSX",
        json!({"stream_name":"DP","config":{"durable_name":"LPSX","ack_policy":"explicit","deliver_policy":"last_per_subject"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10094,
        "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
    );
    let lps = create_pull(
        &stream,
        pull::Config {
            filter_subject: "dp.>".into(),
            ..mk("LPS", DeliverPolicy::LastPerSubject)
        },
    )
    .await;
    assert_eq!(lps.cached_info().num_pending, 3);

    assert_eq!(drain_seqs(&c, "DP", "ALL").await, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(drain_seqs(&c, "DP", "LAST").await, vec![6]);
    assert_eq!(drain_seqs(&c, "DP", "NEW").await, Vec::<u64>::new());
    assert_eq!(drain_seqs(&c, "DP", "BYSEQ").await, vec![3, 4, 5, 6]);
    assert_eq!(drain_seqs(&c, "DP", "BYTIME").await, vec![6]);
    assert_eq!(drain_seqs(&c, "DP", "LPS").await, vec![4, 5, 6]);

    // New messages reach all of them, `new` included.
    publish(&js, "dp.a", "a4").await;
    for name in ["ALL", "LAST", "NEW", "BYSEQ", "BYTIME", "LPS"] {
        assert_eq!(drain_seqs(&c, "DP", name).await, vec![7], "{name}");
    }
    // last_per_subject with a filter.
    let lpsf = create_pull(
        &stream,
        pull::Config {
            filter_subject: "dp.b".into(),
            ..mk("LPSF", DeliverPolicy::LastPerSubject)
        },
    )
    .await;
    assert_eq!(lpsf.cached_info().num_pending, 1);
    assert_eq!(drain_seqs(&c, "DP", "LPSF").await, vec![4]);
    // by_start_sequence past the end: nothing until new messages arrive.
    create_pull(
        &stream,
        mk(
            "FAR",
            DeliverPolicy::ByStartSequence {
                start_sequence: 100,
            },
        ),
    )
    .await;
    assert_eq!(drain_seqs(&c, "DP", "FAR").await, Vec::<u64>::new());
}

#[tokio::test]
async fn filter_subject_and_filter_subjects() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("FS", &["fs.>"])).await;
    for s in ["fs.a.1", "fs.b.1", "fs.a.2", "fs.c", "fs.b.2", "fs.d.x.y"] {
        publish(&js, s, s).await;
    }
    let one = create_pull(
        &stream,
        pull::Config {
            filter_subject: "fs.a.*".into(),
            ..durable("ONE")
        },
    )
    .await;
    assert_eq!(one.cached_info().num_pending, 2);
    assert_eq!(drain_seqs(&c, "FS", "ONE").await, vec![1, 3]);
    let many = create_pull(
        &stream,
        pull::Config {
            filter_subjects: vec!["fs.b.*".into(), "fs.c".into(), "fs.d.>".into()],
            ..durable("MANY")
        },
    )
    .await;
    assert_eq!(many.cached_info().num_pending, 4);
    assert_eq!(drain_seqs(&c, "FS", "MANY").await, vec![2, 4, 5, 6]);
    // A filter that matches nothing is allowed.
    let none = create_pull(
        &stream,
        pull::Config {
            filter_subject: "fs.zzz".into(),
            ..durable("NONE")
        },
    )
    .await;
    assert_eq!(none.cached_info().num_pending, 0);
    // Pending counts for later messages follow the filter.
    publish(&js, "fs.a.3", "x").await;
    publish(&js, "fs.c", "y").await;
    wait_info(&c, "FS", "ONE", "num_pending", 1).await;
    wait_info(&c, "FS", "MANY", "num_pending", 1).await;
    let mut sub = pull_raw(&c, "FS", "MANY", "1").await;
    let m = next(&mut sub, "many").await;
    assert_eq!((m.subject.as_str(), sseq(&m)), ("fs.c", 8));
    // The pending token counts only matching messages.
    assert_eq!(ack_tokens(&m)[8], "0");
    // Both filter_subject and filter_subjects: refused.
    let v = create_raw(
        &c,
        "FS.BOTH",
        json!({"stream_name":"FS","config":{"durable_name":"BOTH","ack_policy":"explicit","filter_subject":"fs.a.*","filter_subjects":["fs.c"]}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10136,
        "consumer cannot have both FilterSubject and FilterSubjects specified",
    );
    // Overlapping filter_subjects: refused.
    let v = create_raw(
        &c,
        "FS.OVL",
        json!({"stream_name":"FS","config":{"durable_name":"OVL","ack_policy":"explicit","filter_subjects":["fs.a.*","fs.>"]}}),
    )
    .await;
    assert_js_error(&v, 400, 10138, "consumer subject filters cannot overlap");
}

#[tokio::test]
async fn headers_only_delivers_size_not_payload() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("HO", &["ho.>"])).await;
    publish_h(&js, "ho.a", &[("X-Trace", "abc")], "twelve bytes").await;
    publish(&js, "ho.b", "").await;
    create_pull(
        &stream,
        pull::Config {
            headers_only: true,
            ..durable("D")
        },
    )
    .await;
    let mut sub = pull_raw(&c, "HO", "D", "2").await;
    let m = next(&mut sub, "headers only").await;
    assert!(m.payload.is_empty(), "{m:?}");
    assert_eq!(header(&m, "Nats-Msg-Size"), Some("12"), "{m:?}");
    assert_eq!(header(&m, "X-Trace"), Some("abc"), "{m:?}");
    let m = next(&mut sub, "headers only, empty payload").await;
    assert_eq!(header(&m, "Nats-Msg-Size"), Some("0"), "{m:?}");
}

#[tokio::test]
async fn replay_original_keeps_spacing() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("RP", &["rp.>"])).await;
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        publish(&js, "rp.a", &format!("m{i}")).await;
    }
    let deliver = c.new_inbox();
    let mut sub = c.subscribe(deliver.clone()).await.unwrap();
    c.flush().await.unwrap();
    let t0 = Instant::now();
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("ORIG".into()),
            deliver_subject: deliver,
            ack_policy: AckPolicy::None,
            replay_policy: ReplayPolicy::Original,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let mut at = Vec::new();
    for _ in 0..3 {
        let m = next(&mut sub, "original replay").await;
        at.push(t0.elapsed());
        assert!(m.status.is_none());
    }
    let gaps = [at[1] - at[0], at[2] - at[1]];
    for g in gaps {
        assert!(
            g >= Duration::from_millis(250) && g < Duration::from_millis(1500),
            "replay gaps {gaps:?} (published 400 ms apart)"
        );
    }
    // Instant replay delivers them back to back.
    let deliver = c.new_inbox();
    let mut sub = c.subscribe(deliver.clone()).await.unwrap();
    c.flush().await.unwrap();
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("INST".into()),
            deliver_subject: deliver,
            ack_policy: AckPolicy::None,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        next(&mut sub, "instant replay").await;
    }
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Push consumers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn push_waits_for_interest_then_delivers_in_order() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PU", &["pu.>"])).await;
    for i in 1..=5 {
        publish(&js, "pu.a", &format!("m{i}")).await;
    }
    let mut cons = bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("P".into()),
            deliver_subject: "pu-out".into(),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let info = bounded("info", cons.info()).await.unwrap();
    assert!(!info.push_bound, "no subscriber yet");
    // Nobody listens: nothing is delivered (and nothing is lost).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = cinfo(&c, "PU", "P").await;
    assert_eq!(seqs(&v["delivered"]), (0, 0), "{v}");
    for i in 6..=8 {
        publish(&js, "pu.a", &format!("m{i}")).await;
    }
    let c2 = server.client().await;
    let mut sub = c2.subscribe("pu-out").await.unwrap();
    c2.flush().await.unwrap();
    for i in 1..=8 {
        let m = next(&mut sub, "push delivery").await;
        assert_eq!(m.payload, format!("m{i}"));
        assert_eq!(m.subject.as_str(), "pu.a");
        assert_eq!(sseq(&m), i);
        ack_sync(&c2, m.reply.as_ref().unwrap(), "+ACK").await;
    }
    let info = bounded("info", cons.info()).await.unwrap();
    assert!(info.push_bound, "subscriber present");
    assert_eq!(info.ack_floor.stream_sequence, 8);
    // async-nats' push messages() sees later messages. The old subscriber must be gone first
    // (UNSUB processed), or the server may push the next message to it.
    sub.unsubscribe().await.unwrap();
    // The UNSUB must be visible on the stream's owner core (natrix places the first stream on
    // core 0) before m9 is stored: a probe subscription made after it on the same connection
    // reaching a publisher on core 0 proves that (same ring, same order).
    let on_owner = server
        .client_on_core(0, async_nats::ConnectOptions::new)
        .await;
    common::sync_subs(&c2, &[&on_owner]).await;
    publish(&js, "pu.a", "m9").await;
    let mut msgs = bounded("messages", cons.messages()).await.unwrap();
    let m = bounded("push messages()", msgs.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, "m9");
    m.double_ack().await.unwrap();
}

#[tokio::test]
async fn push_deliver_group_shares_messages() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PG", &["pg.>"])).await;
    let c1 = server.client().await;
    let c2 = server.client().await;
    let mut s1 = c1
        .queue_subscribe("pg-out", "workers".into())
        .await
        .unwrap();
    let mut s2 = c2
        .queue_subscribe("pg-out", "workers".into())
        .await
        .unwrap();
    common::sync_subs(&c1, &[&c]).await;
    common::sync_subs(&c2, &[&c]).await;
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("G".into()),
            deliver_subject: "pg-out".into(),
            deliver_group: Some("workers".into()),
            ack_policy: AckPolicy::None,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    const N: u64 = 40;
    for i in 1..=N {
        publish(&js, "pg.a", &i.to_string()).await;
    }
    let mut got: Vec<u64> = Vec::new();
    let mut per = [0usize; 2];
    let deadline = Instant::now() + Duration::from_secs(10);
    while (got.len() as u64) < N && Instant::now() < deadline {
        tokio::select! {
            Some(m) = s1.next() => { got.push(sseq(&m)); per[0] += 1; }
            Some(m) = s2.next() => { got.push(sseq(&m)); per[1] += 1; }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    got.sort();
    assert_eq!(
        got,
        (1..=N).collect::<Vec<_>>(),
        "each message exactly once"
    );
    assert!(
        per[0] > 0 && per[1] > 0,
        "both group members got some: {per:?}"
    );
    assert!(next_within(&mut s1, Duration::from_millis(200))
        .await
        .is_none());
    let v = cinfo(&c, "PG", "G").await;
    assert_eq!(v["config"]["deliver_group"], "workers");
}

#[tokio::test]
async fn push_idle_heartbeats() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("HB", &["hb.>"])).await;
    publish(&js, "hb.a", "1").await;
    publish(&js, "hb.a", "2").await;
    let deliver = c.new_inbox();
    let mut sub = c.subscribe(deliver.clone()).await.unwrap();
    c.flush().await.unwrap();
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("H".into()),
            deliver_subject: deliver,
            ack_policy: AckPolicy::None,
            idle_heartbeat: Duration::from_millis(200),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut sub, "m1").await.payload, "1");
    assert_eq!(next(&mut sub, "m2").await.payload, "2");
    let t0 = Instant::now();
    let hb = next(&mut sub, "heartbeat").await;
    assert_status(&hb, 100, "Idle Heartbeat");
    assert!(hb.reply.is_none(), "{hb:?}");
    assert_eq!(header(&hb, "Nats-Last-Consumer"), Some("2"), "{hb:?}");
    assert_eq!(header(&hb, "Nats-Last-Stream"), Some("2"), "{hb:?}");
    // And they keep coming while idle.
    let hb2 = next(&mut sub, "second heartbeat").await;
    assert_status(&hb2, 100, "Idle Heartbeat");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn push_flow_control_stalls_until_answered() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("FC", &["fc.>"])).await;
    const N: usize = 2000;
    let payload = Bytes::from(vec![b'f'; 2048]);
    let mut acks = Vec::new();
    for _ in 0..N {
        acks.push(js.publish("fc.a", payload.clone()).await.unwrap());
    }
    for a in acks {
        bounded("ack", a.into_future()).await.unwrap();
    }
    let deliver = c.new_inbox();
    let mut sub = c.subscribe(deliver.clone()).await.unwrap();
    c.flush().await.unwrap();
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("F".into()),
            deliver_subject: deliver,
            ack_policy: AckPolicy::None,
            flow_control: true,
            idle_heartbeat: Duration::from_millis(500),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let mut data = 0usize;
    let mut fc_replies: Vec<String> = Vec::new();
    let mut stalled = false;
    // Read without answering flow control until delivery stops.
    loop {
        match next_within(&mut sub, Duration::from_millis(1500)).await {
            Some(m) if m.status.is_none() => data += 1,
            Some(m) => {
                let (code, desc) = status_of(&m).unwrap();
                assert_eq!(code, 100, "{m:?}");
                if desc == "FlowControl Request" {
                    let r = m
                        .reply
                        .clone()
                        .expect("flow control request has a reply")
                        .to_string();
                    assert!(r.starts_with("$JS.FC.FC.F."), "{r}");
                    fc_replies.push(r);
                } else {
                    assert_eq!(desc, "Idle Heartbeat");
                    // A heartbeat while stalled names the outstanding flow control reply.
                    if let Some(st) = header(&m, "Nats-Consumer-Stalled") {
                        assert!(fc_replies.iter().any(|r| r == st), "{st}");
                        stalled = true;
                        break;
                    }
                }
            }
            None => {
                stalled = true;
                break;
            }
        }
        assert!(data <= N);
        if data == N {
            break;
        }
    }
    assert!(
        stalled && data < N,
        "delivery did not stall without flow control replies ({data} of {N})"
    );
    assert!(!fc_replies.is_empty(), "no flow control request seen");
    // Answer: delivery resumes until everything arrived (answering later requests too).
    for r in &fc_replies {
        c.publish(r.clone(), Bytes::new()).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while data < N && Instant::now() < deadline {
        if let Some(m) = next_within(&mut sub, Duration::from_millis(500)).await {
            if m.status.is_none() {
                data += 1;
            } else if let Some(r) = m.reply.clone() {
                c.publish(r, Bytes::new()).await.unwrap();
            }
        }
    }
    assert_eq!(data, N, "all messages after answering flow control");
}

#[tokio::test]
async fn ordered_consumers_read_everything_in_order() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("OR", &["or.>"])).await;
    const N: usize = 300;
    for i in 0..N {
        js.publish(format!("or.{}", i % 3), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    publish(&js, "or.last", "last").await;
    // Pull-based ordered consumer.
    let ordered = bounded(
        "ordered",
        stream.create_consumer(pull::OrderedConfig {
            filter_subject: "or.*".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let mut msgs = bounded("messages", ordered.messages()).await.unwrap();
    for i in 0..N {
        let m = bounded("ordered next", msgs.next()).await.unwrap().unwrap();
        assert_eq!(m.payload, i.to_string());
        let info = m.info().unwrap();
        assert_eq!(info.stream_sequence, i as u64 + 1);
    }
    let m = bounded("ordered last", msgs.next()).await.unwrap().unwrap();
    assert_eq!(m.payload, "last");
    // Push-based ordered consumer (what KV watch uses).
    let ordered = bounded(
        "ordered push",
        stream.create_consumer(push::OrderedConfig {
            deliver_subject: c.new_inbox(),
            filter_subject: "or.1".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let mut msgs = bounded("messages", ordered.messages()).await.unwrap();
    let want: Vec<String> = (0..N)
        .filter(|i| i % 3 == 1)
        .map(|i| i.to_string())
        .collect();
    for w in &want {
        let m = bounded("ordered push next", msgs.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.payload[..], w.as_bytes());
    }
    // Live messages follow.
    publish(&js, "or.1", "live").await;
    let m = bounded("ordered push live", msgs.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, "live");
}

// ---------------------------------------------------------------------------------------------
// Retention policies
// ---------------------------------------------------------------------------------------------

async fn stream_msgs(js: &Context, name: &str) -> u64 {
    let mut s = bounded("get stream", js.get_stream(name)).await.unwrap();
    bounded("info", s.info()).await.unwrap().state.messages
}

/// Polls (<= 5 s) until the stream holds `want` messages.
async fn wait_stream_msgs(js: &Context, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = stream_msgs(js, name).await;
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {n} messages, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn workqueue_retention_removes_acked_and_refuses_overlaps() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(
        &js,
        Config {
            retention: RetentionPolicy::WorkQueue,
            ..cfg("WQ", &["wq.>"])
        },
    )
    .await;
    for i in 1..=4 {
        publish(
            &js,
            &format!("wq.{}", if i % 2 == 0 { "a" } else { "b" }),
            &i.to_string(),
        )
        .await;
    }
    let cons = create_pull(&stream, durable("W")).await;
    // A second unfiltered consumer: 10099.
    let v = create_raw(
        &c,
        "WQ.W2",
        json!({"stream_name":"WQ","config":{"durable_name":"W2","ack_policy":"explicit"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10099,
        "multiple non-filtered consumers not allowed on workqueue stream",
    );
    let msgs = fetch(&cons, 2, Duration::from_secs(2)).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        stream_msgs(&js, "WQ").await,
        4,
        "delivered but unacked stays"
    );
    msgs[0].double_ack().await.unwrap();
    wait_stream_msgs(&js, "WQ", 3).await;
    let gone = bounded("get 1", stream.get_raw_message(1)).await;
    assert!(gone.is_err(), "acked message still stored");
    msgs[1].double_ack().await.unwrap();
    wait_stream_msgs(&js, "WQ", 2).await;

    // Filtered consumers must not overlap.
    bounded("delete", stream.delete_consumer("W"))
        .await
        .unwrap();
    create_pull(
        &stream,
        pull::Config {
            filter_subject: "wq.a".into(),
            ..durable("FA")
        },
    )
    .await;
    let v = create_raw(
        &c,
        "WQ.FALL",
        json!({"stream_name":"WQ","config":{"durable_name":"FALL","ack_policy":"explicit","filter_subject":"wq.>"}}),
    )
    .await;
    assert_js_error(
        &v,
        400,
        10100,
        "filtered consumer not unique on workqueue stream",
    );
    let fb = create_pull(
        &stream,
        pull::Config {
            filter_subject: "wq.b".into(),
            ..durable("FB")
        },
    )
    .await;
    let msgs = fetch(&fb, 5, Duration::from_millis(500)).await;
    assert_eq!(payloads(&msgs), vec!["3"]);
    msgs[0].double_ack().await.unwrap();
    wait_stream_msgs(&js, "WQ", 1).await;
}

#[tokio::test]
async fn interest_retention_keeps_until_all_ack() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(
        &js,
        Config {
            retention: RetentionPolicy::Interest,
            ..cfg("IN", &["in.>"])
        },
    )
    .await;
    // No consumers: the message is acked but not kept.
    let seq = publish(&js, "in.a", "nobody").await;
    assert_eq!(seq, 1);
    wait_stream_msgs(&js, "IN", 0).await;

    let c1 = create_pull(&stream, durable("C1")).await;
    let c2 = create_pull(&stream, durable("C2")).await;
    publish(&js, "in.a", "both").await;
    assert_eq!(stream_msgs(&js, "IN").await, 1);
    let m1 = fetch(&c1, 1, Duration::from_secs(2)).await;
    assert_eq!(payloads(&m1), vec!["both"]);
    m1[0].double_ack().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stream_msgs(&js, "IN").await, 1, "C2 has not acked yet");
    let m2 = fetch(&c2, 1, Duration::from_secs(2)).await;
    m2[0].double_ack().await.unwrap();
    wait_stream_msgs(&js, "IN", 0).await;

    // A filtered consumer only holds the messages it is interested in.
    bounded("delete", stream.delete_consumer("C2"))
        .await
        .unwrap();
    publish(&js, "in.a", "a").await;
    create_pull(
        &stream,
        pull::Config {
            filter_subject: "in.b".into(),
            ..durable("B")
        },
    )
    .await;
    let m = fetch(&c1, 1, Duration::from_secs(2)).await;
    m[0].double_ack().await.unwrap();
    wait_stream_msgs(&js, "IN", 0).await;
}

// ---------------------------------------------------------------------------------------------
// Dead-letter subject (natrix extension)
// ---------------------------------------------------------------------------------------------

fn natrix_only(server: &TestServer, test: &str) -> bool {
    if server.is_natrix() {
        return true;
    }
    eprintln!("{test}: natrix-specific, skipped against {:?}", server.kind);
    false
}

/// What a dead-lettered copy must carry.
struct DeadLetter<'a> {
    subject: &'a str,
    stream: &'a str,
    consumer: &'a str,
    seq: u64,
    deliveries: u64,
    reason: &'a str,
    payload: &'a str,
    orig_headers: &'a [(&'a str, &'a str)],
}

/// Checks a dead-lettered copy against the original message.
fn assert_dead_letter(m: &async_nats::Message, want: &DeadLetter<'_>) {
    assert_eq!(m.subject.as_str(), want.subject, "{m:?}");
    assert_eq!(m.payload, want.payload, "{m:?}");
    let headers: BTreeMap<&str, String> = [
        ("Nats-Dead-Letter-Stream", want.stream.to_string()),
        ("Nats-Dead-Letter-Consumer", want.consumer.to_string()),
        ("Nats-Dead-Letter-Sequence", want.seq.to_string()),
        ("Nats-Dead-Letter-Deliveries", want.deliveries.to_string()),
        ("Nats-Dead-Letter-Reason", want.reason.to_string()),
    ]
    .into_iter()
    .collect();
    for (k, v) in headers {
        assert_eq!(header(m, k), Some(v.as_str()), "header {k}: {m:?}");
    }
    for (k, v) in want.orig_headers {
        assert_eq!(header(m, k), Some(*v), "original header {k}: {m:?}");
    }
}

#[tokio::test]
async fn dead_letter_on_max_deliveries() {
    let server = TestServer::start_default();
    if !natrix_only(&server, "dead_letter_on_max_deliveries") {
        return;
    }
    let c = server.client().await;
    let js = js(&c);
    create_stream(&js, cfg("DL", &["dl.>"])).await;
    let mut dlq = c.subscribe("dead.dl").await.unwrap();
    c.flush().await.unwrap();
    let v = create_raw(
        &c,
        "DL.D",
        json!({"stream_name":"DL","config":{"durable_name":"D","ack_policy":"explicit",
            "ack_wait":1_000_000_000u64,"max_deliver":2,"dead_letter_subject":"dead.dl"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["config"]["dead_letter_subject"], "dead.dl", "{v}");
    publish_h(&js, "dl.x", &[("X-Orig", "yes")], "poison").await;
    publish(&js, "dl.x", "fine").await;
    let mut sub = pull_raw(&c, "DL", "D", r#"{"batch":10,"expires":4000000000}"#).await;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(3000) {
        if let Some(m) = next_within(&mut sub, Duration::from_millis(100)).await {
            if m.status.is_none() && sseq(&m) == 2 {
                ack_sync(&c, m.reply.as_ref().unwrap(), "+ACK").await;
            }
        }
    }
    let m = next(&mut dlq, "dead letter").await;
    assert_dead_letter(
        &m,
        &DeadLetter {
            subject: "dead.dl",
            stream: "DL",
            consumer: "D",
            seq: 1,
            deliveries: 2,
            reason: "max_deliveries",
            payload: "poison",
            orig_headers: &[("X-Orig", "yes")],
        },
    );
    assert!(
        next_within(&mut dlq, Duration::from_millis(300))
            .await
            .is_none(),
        "only the poison message is dead-lettered"
    );
}

#[tokio::test]
async fn dead_letter_on_term() {
    let server = TestServer::start_default();
    if !natrix_only(&server, "dead_letter_on_term") {
        return;
    }
    let c = server.client().await;
    let js = js(&c);
    create_stream(&js, cfg("DT", &["dt.>"])).await;
    let mut dlq = c.subscribe("dead.dt").await.unwrap();
    c.flush().await.unwrap();
    let v = create_raw(
        &c,
        "DT.D",
        json!({"stream_name":"DT","config":{"durable_name":"D","ack_policy":"explicit",
            "dead_letter_subject":"dead.dt"}}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");
    publish_h(&js, "dt.y", &[("X-Orig", "t")], "bad").await;
    let mut sub = pull_raw(&c, "DT", "D", "1").await;
    let m = next(&mut sub, "delivery").await;
    ack_sync(&c, m.reply.as_ref().unwrap(), "+TERM").await;
    let d = next(&mut dlq, "dead letter").await;
    assert_dead_letter(
        &d,
        &DeadLetter {
            subject: "dead.dt",
            stream: "DT",
            consumer: "D",
            seq: 1,
            deliveries: 1,
            reason: "terminated",
            payload: "bad",
            orig_headers: &[("X-Orig", "t")],
        },
    );
    // An acked message is not dead-lettered.
    publish(&js, "dt.y", "good").await;
    let mut sub = pull_raw(&c, "DT", "D", "1").await;
    let m = next(&mut sub, "delivery").await;
    ack_sync(&c, m.reply.as_ref().unwrap(), "+ACK").await;
    assert!(next_within(&mut dlq, Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn push_rate_limit_paces_delivery() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    // The burst is the stream's max_msg_size (2 KiB here), as in nats-server.
    let stream = create_stream(
        &js,
        Config {
            max_message_size: 2048,
            ..cfg("RL", &["rl"])
        },
    )
    .await;
    let body = "x".repeat(1000);
    for _ in 0..30 {
        publish(&js, "rl", &body).await;
    }
    let c2 = server.client().await;
    let mut sub = c2.subscribe("rl-out").await.unwrap();
    common::sync_subs(&c2, &[&c]).await;
    let started = std::time::Instant::now();
    bounded(
        "create push",
        stream.create_consumer(push::Config {
            durable_name: Some("R".into()),
            deliver_subject: "rl-out".into(),
            ack_policy: AckPolicy::None,
            rate_limit: 80_000, // bits per second: 10,000 bytes/s
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let first = next(&mut sub, "first rate-limited delivery").await;
    assert_eq!(first.payload.len(), 1000);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the burst goes out at once"
    );
    for i in 2..=30 {
        let m = bounded("rate-limited delivery", sub.next())
            .await
            .unwrap_or_else(|| panic!("delivery {i}"));
        assert_eq!(m.payload.len(), 1000);
    }
    // 30 KB at 10 KB/s with a 2 KiB burst: close to 3 s, never much less.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "30 x 1000 B at 80,000 bit/s took only {took:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn sampled_acks_publish_the_ack_metric() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("SM", &["sm"])).await;
    for i in 1..=4 {
        publish(&js, "sm", &format!("m{i}")).await;
    }
    let mut metrics = c
        .subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.SM.C")
        .await
        .unwrap();
    common::sync_subs(&c, &[]).await;
    let cons = create_pull(
        &stream,
        pull::Config {
            sample_frequency: 100,
            ..durable("C")
        },
    )
    .await;
    let v = cinfo(&c, "SM", "C").await;
    // Echoed as the client sent it (async-nats sends "100").
    assert!(
        v["config"]["sample_freq"]
            .as_str()
            .unwrap()
            .starts_with("100"),
        "{v}"
    );
    let msgs = fetch(&cons, 4, Duration::from_secs(2)).await;
    assert_eq!(msgs.len(), 4);
    tokio::time::sleep(Duration::from_millis(20)).await;
    for m in &msgs {
        bounded("double ack", m.double_ack()).await.unwrap();
    }
    for seq in 1..=4u64 {
        let m = next(&mut metrics, "ack metric").await;
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["type"], "io.nats.jetstream.metric.v1.consumer_ack", "{v}");
        assert_eq!(v["stream"], "SM");
        assert_eq!(v["consumer"], "C");
        assert_eq!(v["stream_seq"], seq, "{v}");
        assert_eq!(v["consumer_seq"], seq, "{v}");
        assert_eq!(v["deliveries"], 1, "{v}");
        let ack_time = v["ack_time"].as_u64().unwrap();
        assert!(
            (20_000_000..10_000_000_000).contains(&ack_time),
            "ack_time {ack_time} ns for an ack sent >= 20 ms after delivery"
        );
    }
}

#[tokio::test]
async fn pause_holds_deliveries_until_resumed_or_due() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let js = js(&c);
    let stream = create_stream(&js, cfg("PZ", &["pz"])).await;
    for i in 1..=3 {
        publish(&js, "pz", &format!("m{i}")).await;
    }
    let mut adv = c
        .subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PZ.C")
        .await
        .unwrap();
    common::sync_subs(&c, &[]).await;
    let adv_json =
        |m: async_nats::Message| -> Value { serde_json::from_slice(&m.payload).unwrap() };

    // Created paused.
    let v = create_raw(
        &c,
        "PZ.C",
        json!({"stream_name":"PZ","config":{"durable_name":"C","ack_policy":"explicit",
            "pause_until":"2099-01-01T00:00:00Z"}}),
    )
    .await;
    assert_eq!(v["paused"], true, "{v}");
    assert!(v["pause_remaining"].as_u64().unwrap() > 0, "{v}");
    let a = adv_json(next(&mut adv, "pause advisory").await);
    assert_eq!(
        a["type"], "io.nats.jetstream.advisory.v1.consumer_pause",
        "{a}"
    );
    assert_eq!(
        (a["paused"].clone(), a["pause_until"].clone()),
        (json!(true), json!("2099-01-01T00:00:00Z"))
    );
    let cons: consumer::PullConsumer = bounded("get consumer", stream.get_consumer("C"))
        .await
        .unwrap();
    assert!(
        fetch(&cons, 3, Duration::from_millis(500)).await.is_empty(),
        "nothing is delivered while paused"
    );

    // Resumed by a PAUSE request without a time.
    let v = js_api(&c, "CONSUMER.PAUSE.PZ.C", &json!({})).await;
    assert_eq!(
        v,
        json!({"type":"io.nats.jetstream.api.v1.consumer_pause_response","paused":false,
            "pause_until":"0001-01-01T00:00:00Z"})
    );
    let a = adv_json(next(&mut adv, "resume advisory").await);
    assert_eq!(a["paused"], false, "{a}");
    let got = fetch(&cons, 3, Duration::from_secs(2)).await;
    assert_eq!(payloads(&got), vec!["m1", "m2", "m3"]);
    for m in &got {
        bounded("ack", m.double_ack()).await.unwrap();
    }

    // Paused until a moment ahead: held, then delivered on its own when the time comes.
    publish(&js, "pz", "m4").await;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let until = natrix::jetstream::time::format_rfc3339_nanos(now_ns + 1_500_000_000);
    let v = js_api(&c, "CONSUMER.PAUSE.PZ.C", &json!({ "pause_until": until })).await;
    assert_eq!(
        (v["paused"].clone(), v["pause_until"].clone()),
        (json!(true), json!(until)),
        "{v}"
    );
    let info = cinfo(&c, "PZ", "C").await;
    assert_eq!(info["paused"], true, "{info}");
    assert_eq!(info["config"]["pause_until"], json!(until), "{info}");
    assert!(fetch(&cons, 1, Duration::from_millis(300)).await.is_empty());
    let got = fetch(&cons, 1, Duration::from_secs(4)).await;
    assert_eq!(payloads(&got), vec!["m4"], "delivered once the pause ended");

    // Unknown consumer or stream: nats-server's errors, with the pause fields.
    let v = js_api(&c, "CONSUMER.PAUSE.PZ.NOPE", &json!({})).await;
    assert_js_error(&v, 404, 10014, "consumer not found");
    assert_eq!(v["paused"], false, "{v}");
    let v = js_api(&c, "CONSUMER.PAUSE.NOPE.C", &json!({})).await;
    assert_js_error(&v, 404, 10059, "stream not found");
}
