//! The newer JetStream features (nats-server 2.11–2.15) with raw requests and headers, as a
//! client migrating from a current nats-server uses them: per-message TTL (`Nats-TTL`, its
//! accepted forms and refusals, expiry, `never`, a restart), subject delete markers and the
//! raise of a shorter TTL to `subject_delete_marker_ttl`; the API level (`api_lvl`,
//! `Nats-Required-Api-Level`, `_nats.*` metadata); `$JS.API.CONSUMER.RESET` (and natrix's
//! reset to a time); distributed counters (`Nats-Incr`).
//!
//! Every test also passes against nats-server 2.15.1 (natrix-only extensions are skipped
//! there): `NATRIX_TEST_SERVER=nats-server cargo test --test js_newer`.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use common::{assert_js_error, js_api, js_publish_raw, TestServer, WAIT};

fn assert_ok(v: &Value, what: &str) {
    assert!(v.get("error").is_none(), "{what}: {v}");
}

async fn create_stream(c: &async_nats::Client, cfg: Value) -> Value {
    let name = cfg["name"].as_str().expect("name").to_string();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert_ok(&r, "stream create");
    r
}

/// STREAM.MSG.GET of `seq`: `Some((subject, headers text))`, `None` when it is gone.
async fn msg_get(c: &async_nats::Client, stream: &str, seq: u64) -> Option<(String, String)> {
    let r = js_api(
        c,
        &format!("STREAM.MSG.GET.{stream}"),
        &json!({ "seq": seq }),
    )
    .await;
    if r.get("error").is_some() {
        assert_js_error(&r, 404, 10037, "no message found");
        return None;
    }
    let m = &r["message"];
    let hdrs = m["hdrs"].as_str().map_or_else(String::new, |h| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h)
            .expect("base64 headers");
        String::from_utf8(raw).expect("utf-8 headers")
    });
    Some((m["subject"].as_str().expect("subject").to_string(), hdrs))
}

/// Polls STREAM.INFO until `done(state)` holds (bounded by `limit`); returns the state.
async fn wait_state(
    c: &async_nats::Client,
    stream: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + limit;
    loop {
        let info = js_api(c, &format!("STREAM.INFO.{stream}"), &Value::Null).await;
        assert_ok(&info, "stream info");
        if done(&info["state"]) {
            return info["state"].clone();
        }
        assert!(
            Instant::now() < until,
            "{what}: state stays {}",
            info["state"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Per-message TTL
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ttl_forms_accepted_and_refused_as_nats_server() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "T", "subjects": ["t.>"], "allow_msg_ttl": true}),
    )
    .await;
    create_stream(&c, json!({"name": "P", "subjects": ["p.>"]})).await;
    let mut seq = 0;
    for ok in [
        "1s", "1m", "5", "never", "NEVER", "1.5s", "1500ms", "1h1s", "00", "10",
    ] {
        seq += 1;
        let ack = js_publish_raw(&c, "t.a", &[("Nats-TTL", ok)], b"x").await;
        assert_eq!(ack, json!({"stream": "T", "seq": seq}), "Nats-TTL: {ok}");
    }
    for bad in ["500ms", "0", "0s", "-1", "-5s", "+5", "1e3", "abc"] {
        let ack = js_publish_raw(&c, "t.a", &[("Nats-TTL", bad)], b"x").await;
        assert_js_error(&ack, 400, 10165, "invalid per-message TTL");
        assert_eq!(
            (&ack["stream"], &ack["seq"]),
            (&json!("T"), &json!(0)),
            "{bad}"
        );
    }
    // Without allow_msg_ttl a TTL is refused as disabled, an unparsable one as invalid, and
    // `00` (no TTL at all) is stored.
    for (v, err_code, text) in [
        ("5", 10166, "per-message TTL is disabled"),
        ("never", 10166, "per-message TTL is disabled"),
        ("0", 10165, "invalid per-message TTL"),
        ("abc", 10165, "invalid per-message TTL"),
    ] {
        let ack = js_publish_raw(&c, "p.a", &[("Nats-TTL", v)], b"x").await;
        assert_js_error(&ack, 400, err_code, text);
    }
    let ack = js_publish_raw(&c, "p.a", &[("Nats-TTL", "00")], b"x").await;
    assert_eq!(ack, json!({"stream": "P", "seq": 1}));
    // The refusal comes before the duplicate check, as in nats-server.
    let ack = js_publish_raw(&c, "p.b", &[("Nats-Msg-Id", "m1")], b"x").await;
    assert_ok(&ack, "plain publish with id");
    let ack = js_publish_raw(&c, "p.b", &[("Nats-Msg-Id", "m1"), ("Nats-TTL", "5")], b"x").await;
    assert_js_error(&ack, 400, 10166, "per-message TTL is disabled");
}

#[tokio::test]
async fn ttl_expires_messages_and_never_outlives_max_age() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "E", "subjects": ["e.>"], "allow_msg_ttl": true, "max_age": 3_000_000_000u64}),
    )
    .await;
    let t0 = Instant::now();
    assert_ok(
        &js_publish_raw(&c, "e.short", &[("Nats-TTL", "1")], b"x").await,
        "ttl 1",
    );
    assert_ok(
        &js_publish_raw(&c, "e.never", &[("Nats-TTL", "never")], b"x").await,
        "never",
    );
    assert_ok(&js_publish_raw(&c, "e.plain", &[], b"x").await, "plain");
    assert_ok(
        &js_publish_raw(&c, "e.long", &[("Nats-TTL", "1m")], b"x").await,
        "ttl 1m",
    );
    let state = wait_state(&c, "E", WAIT, "ttl 1s expiry", |s| s["messages"] == 3).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "expired early: {state}"
    );
    assert!(msg_get(&c, "E", 1).await.is_none());
    // max_age removes the plain and the 1m message, never the `never` one.
    wait_state(&c, "E", WAIT, "max_age expiry", |s| s["messages"] == 1).await;
    let (subject, hdrs) = msg_get(&c, "E", 2).await.expect("never message stays");
    assert_eq!(subject, "e.never");
    assert!(hdrs.contains("Nats-TTL: never"), "{hdrs}");
}

#[tokio::test]
async fn ttl_expiry_survives_a_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "R", "subjects": ["r.>"], "allow_msg_ttl": true}),
    )
    .await;
    assert_ok(
        &js_publish_raw(&c, "r.a", &[("Nats-TTL", "2s")], b"x").await,
        "ttl",
    );
    assert_ok(&js_publish_raw(&c, "r.b", &[], b"x").await, "plain");
    drop(c);
    server.restart();
    let c = server.client().await;
    let state = wait_state(&c, "R", WAIT, "expiry after restart", |s| {
        s["messages"] == 1
    })
    .await;
    assert_eq!(
        (&state["first_seq"], &state["last_seq"]),
        (&json!(2), &json!(2)),
        "{state}"
    );
    server.restart();
    let c = server.client().await;
    let info = js_api(&c, "STREAM.INFO.R", &Value::Null).await;
    assert_eq!(info["state"]["messages"], 1, "{info}");
}

#[tokio::test]
async fn short_ttl_is_raised_to_the_marker_ttl_and_markers_are_left() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let info = create_stream(
        &c,
        json!({"name": "M", "subjects": ["m.>"], "subject_delete_marker_ttl": 3_000_000_000u64,
               "max_age": 1_000_000_000u64}),
    )
    .await;
    assert_eq!(info["config"]["allow_msg_ttl"], true, "{info}");
    assert_eq!(info["config"]["allow_rollup_hdrs"], true, "{info}");
    let ack = js_publish_raw(&c, "m.a", &[("Nats-TTL", "1"), ("X-A", "b")], b"x").await;
    assert_ok(&ack, "short ttl");
    assert_ok(
        &js_publish_raw(&c, "m.b", &[("Nats-TTL", "1m")], b"x").await,
        "long ttl",
    );
    assert_ok(
        &js_publish_raw(&c, "m.c", &[("Nats-TTL", "never")], b"x").await,
        "never",
    );
    // Stored with the header rewritten: the TTL in seconds, moved to the end.
    let (_, hdrs) = msg_get(&c, "M", 1).await.expect("stored");
    assert_eq!(hdrs, "NATS/1.0\r\nX-A: b\r\nNats-TTL: 3\r\n\r\n");
    let (_, hdrs) = msg_get(&c, "M", 2).await.expect("stored");
    assert_eq!(hdrs, "NATS/1.0\r\nNats-TTL: 1m\r\n\r\n");
    // max_age (1s) removes m.a and m.b; each leaves a marker, m.c stays.
    wait_state(&c, "M", WAIT, "markers", |s| s["last_seq"] == 5).await;
    let mut markers = Vec::new();
    for seq in [4, 5] {
        let (subject, hdrs) = msg_get(&c, "M", seq).await.expect("marker");
        assert_eq!(
            hdrs,
            "NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 3s\r\nNats-Rollup: sub\r\n\r\n"
        );
        markers.push(subject);
    }
    markers.sort();
    assert_eq!(markers, ["m.a", "m.b"]);
    assert!(msg_get(&c, "M", 3).await.is_some(), "never message stays");
    // The markers expire themselves (by max_age here) and leave no new marker.
    let state = wait_state(&c, "M", WAIT, "marker expiry", |s| s["messages"] == 1).await;
    assert_eq!(state["last_seq"], 5, "{state}");
}

// ---------------------------------------------------------------------------------------------
// API level
// ---------------------------------------------------------------------------------------------

/// INFO's `api_lvl` (the greeting of a raw connection).
async fn info_api_level(server: &TestServer) -> u64 {
    let raw = server.raw().await;
    raw.info["api_lvl"]
        .as_u64()
        .unwrap_or_else(|| panic!("INFO without api_lvl: {}", raw.info))
}

/// A raw API request with headers; the reply message.
async fn api_with_headers(
    c: &async_nats::Client,
    subject: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> async_nats::Message {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, *v);
    }
    common::bounded(
        subject,
        c.request_with_headers(subject.to_string(), h, body.to_string().into()),
    )
    .await
    .unwrap_or_else(|e| panic!("request {subject}: {e}"))
}

#[tokio::test]
async fn api_level_is_one_number_everywhere_and_metadata_says_what_is_required() {
    let server = TestServer::start_default();
    let level = info_api_level(&server).await;
    // Level 2: the 2.12 features (counters, atomic batches, schedules) all work.
    assert!(level >= 2, "api_lvl {level}");
    let c = server.client().await;
    let info = js_api(&c, "INFO", &Value::Null).await;
    assert_eq!(info["api"]["level"], level, "{info}");
    let plain = create_stream(&c, json!({"name": "PL", "subjects": ["pl.>"]})).await;
    let ttl = create_stream(
        &c,
        json!({"name": "TL", "subjects": ["tl.>"], "allow_msg_ttl": true}),
    )
    .await;
    let version = server.raw().await.info["version"].clone();
    for (r, req) in [(&plain, "0"), (&ttl, "1")] {
        let md = &r["config"]["metadata"];
        assert_eq!(md["_nats.req.level"], req, "{r}");
        assert_eq!(md["_nats.level"], level.to_string(), "{r}");
        assert_eq!(md["_nats.ver"], version, "{r}");
    }
    // A consumer: plain (0), and paused (a level 1 feature).
    for (name, extra, req) in [
        ("C0", json!({}), "0"),
        ("C1", json!({"pause_until": "2100-01-01T00:00:00Z"}), "1"),
    ] {
        let mut cfg = json!({"durable_name": name, "ack_policy": "explicit"});
        cfg.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = js_api(
            &c,
            &format!("CONSUMER.CREATE.PL.{name}"),
            &json!({"stream_name": "PL", "config": cfg}),
        )
        .await;
        assert_ok(&r, "consumer create");
        let md = &r["config"]["metadata"];
        assert_eq!(md["_nats.req.level"], req, "{r}");
        assert_eq!(md["_nats.level"], level.to_string(), "{r}");
    }
}

#[tokio::test]
async fn required_api_level_header_is_honoured() {
    let server = TestServer::start_default();
    let level = info_api_level(&server).await;
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "L", "subjects": ["l.>"], "allow_direct": true}),
    )
    .await;
    assert_ok(&js_publish_raw(&c, "l.a", &[], b"x").await, "publish");
    let r = js_api(
        &c,
        "CONSUMER.CREATE.L.C",
        &json!({"stream_name": "L", "config": {"durable_name": "C", "ack_policy": "explicit"}}),
    )
    .await;
    assert_ok(&r, "consumer");
    let too_high = (level + 1).to_string();
    let at = level.to_string();
    let cases = [
        ("$JS.API.INFO", "", "account_info_response", None),
        (
            "$JS.API.STREAM.CREATE.L2",
            r#"{"name":"L2"}"#,
            "stream_create_response",
            None,
        ),
        (
            "$JS.API.STREAM.INFO.L",
            "",
            "stream_info_response",
            Some(r#","total":0,"offset":0,"limit":0}"#),
        ),
        (
            "$JS.API.STREAM.NAMES",
            "",
            "stream_names_response",
            Some(r#","streams":null}"#),
        ),
        (
            "$JS.API.STREAM.PURGE.L",
            "",
            "stream_purge_response",
            Some(r#","purged":0}"#),
        ),
        (
            "$JS.API.STREAM.MSG.GET.L",
            r#"{"seq":1}"#,
            "stream_msg_get_response",
            None,
        ),
        (
            "$JS.API.CONSUMER.INFO.L.C",
            "",
            "consumer_info_response",
            None,
        ),
        (
            "$JS.API.CONSUMER.NAMES.L",
            "",
            "consumer_names_response",
            Some(r#","consumers":[]}"#),
        ),
        (
            "$JS.API.CONSUMER.DELETE.L.C",
            "",
            "consumer_delete_response",
            None,
        ),
    ];
    for (subject, body, kind, tail) in cases {
        for value in [too_high.as_str(), "abc"] {
            let m =
                api_with_headers(&c, subject, &[("Nats-Required-Api-Level", value)], body).await;
            let v: Value = serde_json::from_slice(&m.payload).expect("json");
            assert_eq!(
                v["type"],
                format!("io.nats.jetstream.api.v1.{kind}"),
                "{subject}: {v}"
            );
            assert_js_error(&v, 412, 10185, "JetStream minimum api level required");
            if let Some(tail) = tail {
                let text = std::str::from_utf8(&m.payload).unwrap();
                assert!(text.ends_with(tail), "{subject}: {text}");
            }
        }
    }
    // Nothing was done: the stream still has its message and the consumer exists.
    let r = js_api(&c, "CONSUMER.INFO.L.C", &Value::Null).await;
    assert_ok(&r, "consumer still there");
    assert_eq!(
        js_api(&c, "STREAM.INFO.L", &Value::Null).await["state"]["messages"],
        1
    );
    // At the server's level (or an empty header) requests go through.
    for value in [at.as_str(), "0", "", "2"] {
        let m = api_with_headers(
            &c,
            "$JS.API.INFO",
            &[("Nats-Required-Api-Level", value)],
            "",
        )
        .await;
        let v: Value = serde_json::from_slice(&m.payload).expect("json");
        assert_ok(&v, "info at the supported level");
    }
    // Direct get and pull requests answer with a status.
    let m = api_with_headers(
        &c,
        "$JS.API.DIRECT.GET.L",
        &[("Nats-Required-Api-Level", &too_high)],
        r#"{"seq":1}"#,
    )
    .await;
    assert_eq!(m.status.map(|s| s.as_u16()), Some(412), "{m:?}");
    assert_eq!(
        m.description.as_deref(),
        Some("Required Api Level"),
        "{m:?}"
    );
    for (value, want) in [(too_high.as_str(), Some(412)), (at.as_str(), None)] {
        let inbox = c.new_inbox();
        let mut sub = c.subscribe(inbox.clone()).await.expect("subscribe");
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Required-Api-Level", value);
        c.publish_with_reply_and_headers(
            "$JS.API.CONSUMER.MSG.NEXT.L.C",
            inbox,
            h,
            r#"{"batch":1,"expires":1000000000}"#.into(),
        )
        .await
        .expect("pull");
        let m = common::bounded("pull reply", futures::StreamExt::next(&mut sub))
            .await
            .expect("reply");
        assert_eq!(m.status.map(|s| s.as_u16()), want, "{m:?}");
        if want.is_some() {
            assert_eq!(
                m.description.as_deref(),
                Some("Required Api Level"),
                "{m:?}"
            );
        } else {
            assert_eq!(&m.payload[..], b"x");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer reset
// ---------------------------------------------------------------------------------------------

async fn reset(c: &async_nats::Client, stream: &str, consumer: &str, body: &str) -> Value {
    let subject = format!("$JS.API.CONSUMER.RESET.{stream}.{consumer}");
    let m = common::bounded(
        &subject,
        c.request(subject.clone(), body.to_string().into()),
    )
    .await
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    let v: Value = serde_json::from_slice(&m.payload).expect("reset reply is JSON");
    assert_eq!(
        v["type"], "io.nats.jetstream.api.v1.consumer_reset_response",
        "{v}"
    );
    v
}

/// Pulls `n` messages (bounded); their stream sequences and messages.
async fn pull_n(
    c: &async_nats::Client,
    stream: &str,
    consumer: &str,
    n: usize,
) -> Vec<(u64, async_nats::Message)> {
    let body = format!(r#"{{"batch":{n},"expires":2000000000}}"#);
    let mut sub = common::consumer::pull_raw(c, stream, consumer, &body).await;
    let mut out = Vec::new();
    while out.len() < n {
        let m = common::consumer::next(&mut sub, "pulled message").await;
        assert!(m.status.is_none(), "status instead of a message: {m:?}");
        let reply = m.reply.as_ref().expect("ack subject").to_string();
        let seq = reply.split('.').nth(5).unwrap().parse().unwrap();
        out.push((seq, m));
    }
    out
}

async fn double_ack(c: &async_nats::Client, m: &async_nats::Message) {
    let ack = m.reply.clone().expect("ack subject");
    common::bounded("double ack", c.request(ack, "+ACK".into()))
        .await
        .expect("ack confirmed");
}

async fn consumer(c: &async_nats::Client, stream: &str, cfg: Value) {
    let name = cfg["durable_name"].as_str().unwrap().to_string();
    let r = js_api(
        c,
        &format!("CONSUMER.CREATE.{stream}.{name}"),
        &json!({"stream_name": stream, "config": cfg}),
    )
    .await;
    assert_ok(&r, "consumer create");
}

fn seq_pair(v: &Value) -> (u64, u64) {
    (
        v["consumer_seq"].as_u64().unwrap(),
        v["stream_seq"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn consumer_reset_to_the_ack_floor_and_to_a_sequence() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, json!({"name": "R", "subjects": ["r.>"]})).await;
    for i in 0..5 {
        assert_ok(
            &js_publish_raw(&c, "r.a", &[], format!("m{i}").as_bytes()).await,
            "pub",
        );
    }
    consumer(
        &c,
        "R",
        json!({"durable_name": "C", "ack_policy": "explicit"}),
    )
    .await;
    let got = pull_n(&c, "R", "C", 3).await;
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2, 3]);
    double_ack(&c, &got[0].1).await;
    double_ack(&c, &got[1].1).await;

    // No body: back to the ack floor; the pending delivery of 3 is forgotten.
    let r = reset(&c, "R", "C", "").await;
    assert_ok(&r, "reset to the ack floor");
    assert_eq!(r["reset_seq"], 3, "{r}");
    assert_eq!(
        (r["stream_name"].clone(), r["name"].clone()),
        (json!("R"), json!("C"))
    );
    assert_eq!(seq_pair(&r["delivered"]), (0, 2), "{r}");
    assert_eq!(seq_pair(&r["ack_floor"]), (0, 2), "{r}");
    assert_eq!(
        (&r["num_ack_pending"], &r["num_pending"]),
        (&json!(0), &json!(3)),
        "{r}"
    );
    assert_eq!(r["config"]["durable_name"], "C", "{r}");
    let got = pull_n(&c, "R", "C", 1).await;
    assert_eq!(got[0].0, 3);
    assert_eq!(&got[0].1.payload[..], b"m2");
    let ack = got[0].1.reply.as_ref().unwrap().to_string();
    let tokens: Vec<&str> = ack.split('.').collect();
    assert_eq!(
        (tokens[4], tokens[6]),
        ("1", "1"),
        "first delivery, consumer seq 1: {ack}"
    );

    // To a sequence, backwards and forwards; `null` and `{"seq":0}` mean the ack floor.
    let r = reset(&c, "R", "C", r#"{"seq":2}"#).await;
    assert_eq!(
        (r["reset_seq"].clone(), r["num_pending"].clone()),
        (json!(2), json!(4)),
        "{r}"
    );
    assert_eq!(pull_n(&c, "R", "C", 1).await[0].0, 2);
    let r = reset(&c, "R", "C", r#"{"seq":100}"#).await;
    assert_eq!(r["reset_seq"], 100, "{r}");
    assert_eq!(seq_pair(&r["delivered"]), (0, 99), "{r}");
    assert_eq!(r["num_pending"], 0, "{r}");
    let r = reset(&c, "R", "C", r#"{"seq":0}"#).await;
    assert_eq!(r["reset_seq"], 100, "{r}");
    let r = reset(&c, "R", "C", "null").await;
    assert_eq!(r["reset_seq"], 100, "{r}");

    // Bad bodies: 10025, with the error form of the response.
    for body in [r#"{"seq":-1}"#, r#"{"seq":"3"}"#, "[]", "{bad"] {
        let r = reset(&c, "R", "C", body).await;
        assert_eq!(r["error"]["err_code"], 10025, "{body}: {r}");
        assert_eq!(r["error"]["code"], 400, "{body}: {r}");
        assert_eq!(r["reset_seq"], 0, "{r}");
    }
    let r = reset(&c, "R", "C", "[]").await;
    assert_js_error(
        &r,
        400,
        10025,
        "invalid JSON: json: cannot unmarshal array into Go value of type server.JSApiConsumerResetRequest",
    );
}

#[tokio::test]
async fn consumer_reset_follows_the_deliver_policy() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, json!({"name": "P", "subjects": ["p.>"]})).await;
    for _ in 0..5 {
        assert_ok(&js_publish_raw(&c, "p.a", &[], b"x").await, "pub");
    }
    consumer(
        &c,
        "P",
        json!({"durable_name": "N", "deliver_policy": "new"}),
    )
    .await;
    consumer(
        &c,
        "P",
        json!({"durable_name": "S", "deliver_policy": "by_start_sequence", "opt_start_seq": 3}),
    )
    .await;
    consumer(
        &c,
        "P",
        json!({"durable_name": "T", "deliver_policy": "by_start_time",
               "opt_start_time": "2100-01-01T00:00:00Z"}),
    )
    .await;
    consumer(
        &c,
        "P",
        json!({"durable_name": "L", "deliver_policy": "last"}),
    )
    .await;
    for (name, body, why) in [
        ("N", r#"{"seq":2}"#, "not allowed"),
        ("L", r#"{"seq":5}"#, "not allowed"),
        ("S", r#"{"seq":2}"#, "below start seq"),
        ("T", r#"{"seq":2}"#, "below start time"),
    ] {
        let r = reset(&c, "P", name, body).await;
        assert_js_error(&r, 400, 10204, &format!("invalid reset: {why}"));
        assert_eq!(r["reset_seq"], 0, "{r}");
    }
    let r = reset(&c, "P", "N", "").await;
    assert_eq!(r["reset_seq"], 6, "{r}");
    let r = reset(&c, "P", "S", r#"{"seq":3}"#).await;
    assert_eq!(
        (r["reset_seq"].clone(), r["num_pending"].clone()),
        (json!(3), json!(3)),
        "{r}"
    );
    let r = reset(&c, "P", "T", r#"{"seq":6}"#).await;
    assert_eq!(r["reset_seq"], 6, "{r}");
}

#[tokio::test]
async fn consumer_reset_survives_a_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, json!({"name": "D", "subjects": ["d.>"]})).await;
    for _ in 0..5 {
        assert_ok(&js_publish_raw(&c, "d.a", &[], b"x").await, "pub");
    }
    consumer(
        &c,
        "D",
        json!({"durable_name": "C", "ack_policy": "explicit"}),
    )
    .await;
    assert_eq!(pull_n(&c, "D", "C", 2).await.len(), 2);
    let r = reset(&c, "D", "C", r#"{"seq":4}"#).await;
    assert_eq!(r["reset_seq"], 4, "{r}");
    drop(c);
    server.restart();
    let c = server.client().await;
    let info = js_api(&c, "CONSUMER.INFO.D.C", &Value::Null).await;
    assert_eq!(seq_pair(&info["delivered"]), (0, 3), "{info}");
    assert_eq!(
        (&info["num_ack_pending"], &info["num_pending"]),
        (&json!(0), &json!(2)),
        "{info}"
    );
    assert_eq!(pull_n(&c, "D", "C", 1).await[0].0, 4);
}

/// natrix extension: `{"opt_start_time": ...}` moves the consumer to the first message at or
/// after that time (nats-server ignores the field, so this runs against natrix only).
#[tokio::test]
async fn consumer_reset_to_a_time_natrix_extension() {
    let server = TestServer::start_default();
    if !server.is_natrix() {
        return;
    }
    let c = server.client().await;
    create_stream(&c, json!({"name": "W", "subjects": ["w.>"]})).await;
    for i in 1..=6 {
        assert_ok(&js_publish_raw(&c, "w.a", &[], b"x").await, "pub");
        if i == 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let m4 = js_api(&c, "STREAM.MSG.GET.W", &json!({"seq": 4})).await;
    let t4 = m4["message"]["time"].as_str().expect("time").to_string();
    consumer(
        &c,
        "W",
        json!({"durable_name": "C", "ack_policy": "explicit"}),
    )
    .await;
    assert_eq!(pull_n(&c, "W", "C", 6).await.len(), 6);
    let r = reset(&c, "W", "C", &json!({"opt_start_time": t4}).to_string()).await;
    assert_ok(&r, "reset to a time");
    assert_eq!(r["reset_seq"], 4, "{r}");
    assert_eq!(
        (&r["num_ack_pending"], &r["num_pending"]),
        (&json!(0), &json!(3)),
        "{r}"
    );
    assert_eq!(pull_n(&c, "W", "C", 1).await[0].0, 4);
    // Before every message: the start; after every message: past the end.
    let r = reset(&c, "W", "C", r#"{"opt_start_time":"2000-01-01T00:00:00Z"}"#).await;
    assert_eq!(r["reset_seq"], 1, "{r}");
    let r = reset(&c, "W", "C", r#"{"opt_start_time":"2100-01-01T00:00:00Z"}"#).await;
    assert_eq!(r["reset_seq"], 7, "{r}");
    // The deliver policy rules apply, and seq and time together are refused.
    consumer(
        &c,
        "W",
        json!({"durable_name": "N", "deliver_policy": "new"}),
    )
    .await;
    let r = reset(&c, "W", "N", &json!({"opt_start_time": t4}).to_string()).await;
    assert_js_error(&r, 400, 10204, "invalid reset: not allowed");
    let r = reset(
        &c,
        "W",
        "C",
        &json!({"seq": 2, "opt_start_time": t4}).to_string(),
    )
    .await;
    assert_js_error(
        &r,
        400,
        10204,
        "invalid reset: seq and opt_start_time are exclusive",
    );
    let r = reset(&c, "W", "C", r#"{"opt_start_time":"yesterday"}"#).await;
    assert_eq!(r["error"]["err_code"], 10025, "{r}");
}

// ---------------------------------------------------------------------------------------------
// Distributed counters
// ---------------------------------------------------------------------------------------------

async fn incr(c: &async_nats::Client, subject: &str, by: &str) -> Value {
    js_publish_raw(c, subject, &[("Nats-Incr", by)], b"").await
}

#[tokio::test]
async fn counters_add_up_with_any_precision_and_ack_the_total() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let info = create_stream(
        &c,
        json!({"name": "K", "subjects": ["k.>"], "allow_msg_counter": true}),
    )
    .await;
    assert_eq!(info["config"]["allow_msg_counter"], true, "{info}");
    assert_eq!(info["config"]["metadata"]["_nats.req.level"], "2", "{info}");
    let big = "123456789012345678901234567890";
    for (by, seq, val) in [
        ("1", 1, "1"),
        ("+5", 2, "6"),
        ("-3", 3, "3"),
        (big, 4, "123456789012345678901234567893"),
        ("0", 5, "123456789012345678901234567893"),
        ("-0", 6, "123456789012345678901234567893"),
        (&format!("-{big}"), 7, "3"),
    ] {
        let ack = incr(&c, "k.a", by).await;
        assert_eq!(
            ack,
            json!({"stream": "K", "seq": seq, "val": val}),
            "Nats-Incr: {by}"
        );
    }
    // Per subject.
    assert_eq!(incr(&c, "k.b", "2").await["val"], "2");
    // The stored body is the total; the headers are as sent.
    let (_, hdrs) = msg_get(&c, "K", 7).await.expect("stored");
    assert_eq!(hdrs, format!("NATS/1.0\r\nNats-Incr: -{big}\r\n\r\n"));
    let r = js_api(&c, "STREAM.MSG.GET.K", &json!({"last_by_subj": "k.a"})).await;
    let data = base64::engine::general_purpose::STANDARD
        .decode(r["message"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, br#"{"val":"3"}"#);
    // De-duplication answers with the original sequence, no total.
    let ack = js_publish_raw(&c, "k.a", &[("Nats-Incr", "1"), ("Nats-Msg-Id", "i1")], b"").await;
    assert_eq!(ack, json!({"stream": "K", "seq": 9, "val": "4"}));
    let ack = js_publish_raw(&c, "k.a", &[("Nats-Incr", "1"), ("Nats-Msg-Id", "i1")], b"").await;
    assert_eq!(ack, json!({"stream": "K", "seq": 9, "duplicate": true}));
}

/// (subject, headers, payload, (err_code, description)) of a publish that must be refused.
type RefusedPublish = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static [u8],
    (u64, &'static str),
);

#[tokio::test]
async fn counter_refusals_as_nats_server() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "K", "subjects": ["k.>"], "allow_msg_counter": true}),
    )
    .await;
    create_stream(&c, json!({"name": "NC", "subjects": ["nc.>"]})).await;
    let invalid = (10171, "message counter increment is invalid");
    let cases: Vec<RefusedPublish> = vec![
        ("k.a", vec![("Nats-Incr", "1.5")], b"", invalid),
        ("k.a", vec![("Nats-Incr", "abc")], b"", invalid),
        ("k.a", vec![("Nats-Incr", "0x10")], b"", invalid),
        ("k.a", vec![("Nats-Incr", "1_000")], b"", invalid),
        (
            "k.a",
            vec![("Nats-Incr", "1")],
            b"x",
            (10170, "message counter has payload"),
        ),
        (
            "k.a",
            vec![],
            b"x",
            (10169, "message counter increment is missing"),
        ),
        (
            "k.a",
            vec![],
            b"",
            (10169, "message counter increment is missing"),
        ),
        (
            "k.a",
            vec![("X", "y")],
            b"",
            (10169, "message counter increment is missing"),
        ),
        (
            "k.a",
            vec![("Nats-Incr", "1"), ("Nats-Rollup", "sub")],
            b"",
            invalid,
        ),
        (
            "k.a",
            vec![("Nats-Incr", "1"), ("Nats-Expected-Stream", "K")],
            b"",
            invalid,
        ),
        (
            "k.a",
            vec![("Nats-Incr", "1"), ("Nats-Expected-Last-Sequence", "0")],
            b"",
            invalid,
        ),
        (
            "k.a",
            vec![
                ("Nats-Incr", "1"),
                ("Nats-Expected-Last-Subject-Sequence", "0"),
            ],
            b"",
            invalid,
        ),
        (
            "k.a",
            vec![("Nats-Incr", "1"), ("Nats-TTL", "5")],
            b"",
            (10166, "per-message TTL is disabled"),
        ),
        (
            "nc.a",
            vec![("Nats-Incr", "2")],
            b"",
            (10168, "message counters is disabled"),
        ),
        ("nc.a", vec![("Nats-Incr", "abc")], b"x", invalid),
    ];
    for (subject, headers, payload, (err_code, text)) in cases {
        let ack = js_publish_raw(&c, subject, &headers, payload).await;
        assert_js_error(&ack, 400, err_code, text);
        assert_eq!(ack["seq"], 0, "{headers:?}: {ack}");
    }
    let info = js_api(&c, "STREAM.INFO.K", &Value::Null).await;
    assert_eq!(info["state"]["messages"], 0, "{info}");
    // Configurations a counter stream cannot have; and the setting cannot change.
    for (extra, text) in [
        (
            json!({"discard": "new"}),
            "counter stream cannot use discard new",
        ),
        (
            json!({"allow_msg_ttl": true}),
            "counter stream cannot use message TTLs",
        ),
        (
            json!({"retention": "workqueue"}),
            "counter stream can only use limits retention",
        ),
        (
            json!({"retention": "interest"}),
            "counter stream can only use limits retention",
        ),
    ] {
        let mut cfg = json!({"name": "KX", "subjects": ["kx.>"], "allow_msg_counter": true});
        cfg.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = js_api(&c, "STREAM.CREATE.KX", &cfg).await;
        assert_js_error(&r, 500, 10052, text);
    }
    let change = "stream configuration update can not change message counter setting";
    let r = js_api(
        &c,
        "STREAM.UPDATE.K",
        &json!({"name": "K", "subjects": ["k.>"], "allow_msg_counter": false}),
    )
    .await;
    assert_js_error(&r, 500, 10052, change);
    let r = js_api(
        &c,
        "STREAM.UPDATE.NC",
        &json!({"name": "NC", "subjects": ["nc.>"], "allow_msg_counter": true}),
    )
    .await;
    assert_js_error(&r, 500, 10052, change);
}

#[tokio::test]
async fn counters_survive_a_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "KR", "subjects": ["kr.>"], "allow_msg_counter": true}),
    )
    .await;
    assert_eq!(incr(&c, "kr.a", "40").await["val"], "40");
    assert_eq!(incr(&c, "kr.b", "7").await["val"], "7");
    drop(c);
    server.restart();
    let c = server.client().await;
    assert_eq!(
        incr(&c, "kr.a", "2").await,
        json!({"stream": "KR", "seq": 3, "val": "42"})
    );
    assert_eq!(incr(&c, "kr.b", "-8").await["val"], "-1");
}

#[tokio::test]
async fn consumer_reset_forward_releases_interest_messages_and_works_for_push() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(
        &c,
        json!({"name": "I", "subjects": ["i.>"], "retention": "interest"}),
    )
    .await;
    consumer(
        &c,
        "I",
        json!({"durable_name": "C", "ack_policy": "explicit"}),
    )
    .await;
    for _ in 0..5 {
        assert_ok(&js_publish_raw(&c, "i.a", &[], b"x").await, "pub");
    }
    let r = reset(&c, "I", "C", r#"{"seq":4}"#).await;
    assert_eq!(r["reset_seq"], 4, "{r}");
    // No consumer needs 1..3 any more.
    let state = wait_state(&c, "I", WAIT, "interest release", |s| s["messages"] == 2).await;
    assert_eq!(state["first_seq"], 4, "{state}");
    // A push consumer is reset the same way.
    consumer(
        &c,
        "I",
        json!({"durable_name": "P", "deliver_subject": "dp.x", "ack_policy": "explicit"}),
    )
    .await;
    let r = reset(&c, "I", "P", r#"{"seq":2}"#).await;
    assert_eq!(r["reset_seq"], 2, "{r}");
    assert_eq!(seq_pair(&r["delivered"]), (0, 1), "{r}");
    assert_eq!(r["num_pending"], 2, "{r}");
}
