//! Message schedules (`allow_msg_schedules`, nats-server 2.12–2.15) with raw headers, as a
//! client uses them: `Nats-Schedule` with `@at`, `@every` and cron, `Nats-Schedule-Target`,
//! `Nats-Schedule-TTL`; the produced message's `Nats-Scheduler` / `Nats-Schedule-Next`; one
//! schedule per subject; cancelling with a purge; the refusals with nats-server's codes; a
//! graceful restart and kill -9 around firing (a schedule fires once, never twice).
//!
//! Every test also passes against nats-server 2.15.1:
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_schedules`.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use common::{assert_js_error, js_api, js_publish_raw, TestServer, WAIT};
use natrix::jetstream::time::{format_rfc3339_nanos, parse_rfc3339_nanos};

fn assert_ok(v: &Value, what: &str) {
    assert!(v.get("error").is_none(), "{what}: {v}");
}

async fn create_stream(c: &async_nats::Client, cfg: Value) -> Value {
    let name = cfg["name"].as_str().expect("name").to_string();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert_ok(&r, "stream create");
    r
}

fn sched_stream(name: &str) -> Value {
    json!({"name": name, "subjects": [format!("{}.>", name.to_lowercase())],
           "allow_msg_schedules": true, "allow_msg_ttl": true})
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

/// An `@at` pattern `secs` whole seconds from now.
fn at_in(secs: u64) -> (String, u64) {
    let t = (now_ns() / 1_000_000_000 + secs) * 1_000_000_000;
    (format!("@at {}", format_rfc3339_nanos(t)), t)
}

/// One stored message as STREAM.MSG.GET shows it.
#[derive(Debug, Clone)]
struct Got {
    seq: u64,
    headers: String,
    data: Vec<u8>,
    time_ns: u64,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == name).then(|| v.trim())
        })
    }
}

fn decode(m: &Value) -> Got {
    let b64 = base64::engine::general_purpose::STANDARD;
    let headers = m["hdrs"].as_str().map_or_else(String::new, |h| {
        String::from_utf8(b64.decode(h).expect("base64 headers")).expect("utf-8 headers")
    });
    let data = m["data"]
        .as_str()
        .map_or_else(Vec::new, |d| b64.decode(d).expect("base64 data"));
    let time_ns = parse_rfc3339_nanos(m["time"].as_str().expect("time")).expect("time") as u64;
    Got {
        seq: m["seq"].as_u64().expect("seq"),
        headers,
        data,
        time_ns,
    }
}

async fn get_body(c: &async_nats::Client, stream: &str, body: Value) -> Option<Got> {
    let r = js_api(c, &format!("STREAM.MSG.GET.{stream}"), &body).await;
    if r.get("error").is_some() {
        assert_js_error(&r, 404, 10037, "no message found");
        return None;
    }
    Some(decode(&r["message"]))
}

async fn last_on(c: &async_nats::Client, stream: &str, subject: &str) -> Option<Got> {
    get_body(c, stream, json!({ "last_by_subj": subject })).await
}

/// Every message on `subject`, oldest first.
async fn all_on(c: &async_nats::Client, stream: &str, subject: &str) -> Vec<Got> {
    let mut out = Vec::new();
    let mut seq = 1;
    while let Some(m) = get_body(c, stream, json!({ "seq": seq, "next_by_subj": subject })).await {
        seq = m.seq + 1;
        out.push(m);
    }
    out
}

/// Waits (bounded) until `subject` holds at least `n` messages; returns them.
async fn wait_count(
    c: &async_nats::Client,
    stream: &str,
    subject: &str,
    n: usize,
    limit: Duration,
) -> Vec<Got> {
    let until = Instant::now() + limit;
    loop {
        let got = all_on(c, stream, subject).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < until,
            "{subject}: {} of {n} messages after {limit:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish_ok(c: &async_nats::Client, subject: &str, h: &[(&str, &str)], p: &[u8]) -> u64 {
    let ack = js_publish_raw(c, subject, h, p).await;
    assert_ok(&ack, subject);
    ack["seq"].as_u64().expect("seq")
}

// ---------------------------------------------------------------------------------------------
// Firing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn at_fires_once_on_its_target_and_purges_the_schedule() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SA")).await;
    let (at, at_ns) = at_in(2);
    let seq = publish_ok(
        &c,
        "sa.sched.a",
        &[
            ("Nats-Schedule", &at),
            ("Nats-Schedule-Target", "sa.out.a"),
            ("Nats-Schedule-TTL", "5m"),
            ("X-Custom", "1"),
            ("Nats-Msg-Id", "m1"),
        ],
        b"hello",
    )
    .await;
    assert_eq!(seq, 1);
    // The schedule is stored with the rollup that keeps one schedule per subject.
    let sched = last_on(&c, "SA", "sa.sched.a")
        .await
        .expect("schedule stored");
    assert!(
        sched.headers.ends_with("Nats-Rollup: sub\r\n\r\n"),
        "{:?}",
        sched.headers
    );
    assert!(last_on(&c, "SA", "sa.out.a").await.is_none(), "fired early");

    let got = wait_count(&c, "SA", "sa.out.a", 1, WAIT).await;
    let m = &got[0];
    assert_eq!(m.data, b"hello");
    assert!(m.time_ns >= at_ns, "fired before its time");
    assert_eq!(m.header("X-Custom"), Some("1"));
    assert_eq!(m.header("Nats-Scheduler"), Some("sa.sched.a"));
    assert_eq!(m.header("Nats-Schedule-Next"), Some("purge"));
    assert_eq!(m.header("Nats-TTL"), Some("5m"));
    for gone in [
        "Nats-Msg-Id",
        "Nats-Schedule",
        "Nats-Schedule-Target",
        "Nats-Rollup",
    ] {
        assert_eq!(m.header(gone), None, "{gone} in {:?}", m.headers);
    }
    // The one-shot schedule is purged, and it never fires again.
    assert!(last_on(&c, "SA", "sa.sched.a").await.is_none());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_on(&c, "SA", "sa.out.a").await.len(), 1);
}

#[tokio::test]
async fn every_repeats_and_a_purge_cancels_it() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SE")).await;
    publish_ok(
        &c,
        "se.sched.e",
        &[
            ("Nats-Schedule", "@every 1s"),
            ("Nats-Schedule-Target", "se.out.e"),
        ],
        b"tick",
    )
    .await;
    let got = wait_count(&c, "SE", "se.out.e", 3, WAIT).await;
    for m in &got {
        assert_eq!(m.data, b"tick");
        assert_eq!(m.header("Nats-Scheduler"), Some("se.sched.e"));
        let next = m.header("Nats-Schedule-Next").expect("next");
        let next_ns = parse_rfc3339_nanos(next).expect("RFC 3339 next") as u64;
        assert_eq!(next_ns % 1_000_000_000, 0, "whole seconds: {next}");
        assert!(next_ns > m.time_ns, "next {next} is not after the firing");
    }
    // The schedule stays.
    assert!(last_on(&c, "SE", "se.sched.e").await.is_some());

    // A client cancels it: a purge naming the schedule.
    publish_ok(
        &c,
        "se.cancel",
        &[
            ("Nats-Scheduler", "se.sched.e"),
            ("Nats-Schedule-Next", "purge"),
        ],
        b"",
    )
    .await;
    assert!(last_on(&c, "SE", "se.sched.e").await.is_none());
    let n = all_on(&c, "SE", "se.out.e").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        all_on(&c, "SE", "se.out.e").await.len(),
        n,
        "fired after cancel"
    );
}

#[tokio::test]
async fn cron_fires_on_whole_seconds() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SC")).await;
    publish_ok(
        &c,
        "sc.sched.c",
        &[
            ("Nats-Schedule", "* * * * * *"),
            ("Nats-Schedule-Target", "sc.out.c"),
        ],
        b"cron",
    )
    .await;
    // Shorthands and names are accepted (and do not fire within the test).
    for (subject, pattern) in [
        ("sc.sched.h", "@hourly"),
        ("sc.sched.y", "@yearly"),
        ("sc.sched.w", "0 30 9 * JAN-mar mon-fri"),
        ("sc.sched.z", "0 0 0 1 1 ?"),
    ] {
        publish_ok(
            &c,
            subject,
            &[
                ("Nats-Schedule", pattern),
                ("Nats-Schedule-Target", "sc.out.x"),
            ],
            b"",
        )
        .await;
    }
    let got = wait_count(&c, "SC", "sc.out.c", 2, WAIT).await;
    for m in &got {
        let next = m.header("Nats-Schedule-Next").expect("next");
        let next_ns = parse_rfc3339_nanos(next).expect("RFC 3339") as u64;
        assert_eq!(next_ns % 1_000_000_000, 0, "{next}");
        assert!(
            next_ns > m.time_ns && next_ns <= m.time_ns + 2_000_000_000,
            "{next}"
        );
    }
    assert!(last_on(&c, "SC", "sc.out.x").await.is_none());
}

#[tokio::test]
async fn schedule_ttl_expires_the_produced_message() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("ST")).await;
    let (at, _) = at_in(1);
    publish_ok(
        &c,
        "st.sched",
        &[
            ("Nats-Schedule", &at),
            ("Nats-Schedule-Target", "st.out"),
            ("Nats-Schedule-TTL", "1s"),
        ],
        b"short-lived",
    )
    .await;
    let got = wait_count(&c, "ST", "st.out", 1, WAIT).await;
    assert_eq!(got[0].header("Nats-TTL"), Some("1s"));
    let until = Instant::now() + WAIT;
    while last_on(&c, "ST", "st.out").await.is_some() {
        assert!(Instant::now() < until, "produced message never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn source_supplies_the_last_message_of_its_subject() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SX")).await;
    publish_ok(&c, "sx.src", &[("X-Gen", "1")], b"old").await;
    publish_ok(
        &c,
        "sx.src",
        &[("X-Gen", "2"), ("Nats-Msg-Id", "g2")],
        b"newest",
    )
    .await;
    let (at, _) = at_in(1);
    publish_ok(
        &c,
        "sx.sched",
        &[
            ("Nats-Schedule", &at),
            ("Nats-Schedule-Target", "sx.out"),
            ("Nats-Schedule-Source", "sx.src"),
            ("Nats-Schedule-Rollup", "sub"),
        ],
        b"own",
    )
    .await;
    let got = wait_count(&c, "SX", "sx.out", 1, WAIT).await;
    assert_eq!(got[0].data, b"newest");
    assert_eq!(got[0].header("X-Gen"), Some("2"));
    assert_eq!(got[0].header("Nats-Msg-Id"), None);
    assert_eq!(got[0].header("Nats-Rollup"), Some("sub"));
    assert_eq!(got[0].header("Nats-Scheduler"), Some("sx.sched"));
    // A source with no message falls back to the schedule's own content.
    let (at, _) = at_in(1);
    publish_ok(
        &c,
        "sx.sched2",
        &[
            ("Nats-Schedule", &at),
            ("Nats-Schedule-Target", "sx.out2"),
            ("Nats-Schedule-Source", "sx.nothing"),
        ],
        b"own",
    )
    .await;
    let got = wait_count(&c, "SX", "sx.out2", 1, WAIT).await;
    assert_eq!(got[0].data, b"own");
}

#[tokio::test]
async fn one_schedule_per_subject_the_last_one_wins() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SO")).await;
    let (first, _) = at_in(1);
    let (second, _) = at_in(2);
    publish_ok(
        &c,
        "so.sched",
        &[
            ("Nats-Schedule", &first),
            ("Nats-Schedule-Target", "so.out.1"),
        ],
        b"1",
    )
    .await;
    publish_ok(
        &c,
        "so.sched",
        &[
            ("Nats-Schedule", &second),
            ("Nats-Schedule-Target", "so.out.2"),
        ],
        b"2",
    )
    .await;
    assert_eq!(all_on(&c, "SO", "so.sched").await.len(), 1);
    wait_count(&c, "SO", "so.out.2", 1, WAIT).await;
    assert!(
        last_on(&c, "SO", "so.out.1").await.is_none(),
        "replaced schedule fired"
    );
    // A plain message on a schedule's subject replaces it too.
    let (later, _) = at_in(2);
    publish_ok(
        &c,
        "so.sched",
        &[
            ("Nats-Schedule", &later),
            ("Nats-Schedule-Target", "so.out.3"),
        ],
        b"3",
    )
    .await;
    publish_ok(&c, "so.sched", &[("Nats-Rollup", "sub")], b"plain").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        last_on(&c, "SO", "so.out.3").await.is_none(),
        "disarmed schedule fired"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

/// (subject, what, headers, err_code, description)
type Refusal<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u64, &'a str);

#[tokio::test]
async fn refusals_carry_nats_server_codes() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SR")).await;
    create_stream(
        &c,
        json!({"name": "SN", "subjects": ["sn.>"], "allow_msg_schedules": true}),
    )
    .await;
    create_stream(&c, json!({"name": "SP", "subjects": ["sp.>"]})).await;
    let (at, _) = at_in(3600);
    let tgt = ("Nats-Schedule-Target", "sr.out");
    let cases: Vec<Refusal> = vec![
        (
            "sp.x",
            "disabled",
            vec![("Nats-Schedule", &at), ("Nats-Schedule-Target", "sp.out")],
            10188,
            "message schedules is disabled",
        ),
        (
            "sp.x",
            "disabled, bad pattern",
            vec![("Nats-Schedule", "@every 1ms")],
            10188,
            "message schedules is disabled",
        ),
        (
            "sp.x",
            "scheduler alone",
            vec![("Nats-Scheduler", "sp.y")],
            10212,
            "message schedules invalid scheduler",
        ),
        (
            "sp.x",
            "purge, disabled",
            vec![("Nats-Scheduler", "sp.y"), ("Nats-Schedule-Next", "purge")],
            10188,
            "message schedules is disabled",
        ),
        (
            "sr.x",
            "sub-second every",
            vec![("Nats-Schedule", "@every 500ms"), tgt],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "garbage",
            vec![("Nats-Schedule", "tomorrow"), tgt],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "bad date",
            vec![("Nats-Schedule", "@at 2026-13-01T00:00:00Z"), tgt],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "five-field cron",
            vec![("Nats-Schedule", "* * * * *"), tgt],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "cron out of range",
            vec![("Nats-Schedule", "0 0 24 * * *"), tgt],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "zoned @at",
            vec![
                ("Nats-Schedule", &at),
                ("Nats-Schedule-Time-Zone", "UTC"),
                tgt,
            ],
            10189,
            "message schedules pattern is invalid",
        ),
        (
            "sr.x",
            "empty zone",
            vec![
                ("Nats-Schedule", "@daily"),
                ("Nats-Schedule-Time-Zone", ""),
                tgt,
            ],
            10223,
            "message schedules time zone is invalid",
        ),
        (
            "sr.x",
            "unknown zone",
            vec![
                ("Nats-Schedule", "@daily"),
                ("Nats-Schedule-Time-Zone", "Mars/Olympus_Mons"),
                tgt,
            ],
            10223,
            "message schedules time zone is invalid",
        ),
        (
            "sr.x",
            "no target",
            vec![("Nats-Schedule", &at)],
            10190,
            "message schedules target is invalid",
        ),
        (
            "sr.x",
            "own subject",
            vec![("Nats-Schedule", &at), ("Nats-Schedule-Target", "sr.x")],
            10190,
            "message schedules target is invalid",
        ),
        (
            "sr.x",
            "wildcard target",
            vec![("Nats-Schedule", &at), ("Nats-Schedule-Target", "sr.*")],
            10190,
            "message schedules target is invalid",
        ),
        (
            "sr.x",
            "target outside",
            vec![
                ("Nats-Schedule", &at),
                ("Nats-Schedule-Target", "elsewhere"),
            ],
            10190,
            "message schedules target is invalid",
        ),
        (
            "sr.x",
            "bad ttl",
            vec![("Nats-Schedule", &at), tgt, ("Nats-Schedule-TTL", "500ms")],
            10191,
            "message schedules invalid per-message TTL",
        ),
        (
            "sr.x",
            "schedule rollup all",
            vec![("Nats-Schedule", &at), tgt, ("Nats-Schedule-Rollup", "all")],
            10192,
            "message schedules invalid rollup",
        ),
        (
            "sr.x",
            "rollup all",
            vec![("Nats-Schedule", &at), tgt, ("Nats-Rollup", "all")],
            10192,
            "message schedules invalid rollup",
        ),
        (
            "sr.x",
            "source is target",
            vec![
                ("Nats-Schedule", &at),
                tgt,
                ("Nats-Schedule-Source", "sr.out"),
            ],
            10203,
            "message schedules source is invalid",
        ),
        (
            "sr.x",
            "source outside",
            vec![
                ("Nats-Schedule", &at),
                tgt,
                ("Nats-Schedule-Source", "elsewhere"),
            ],
            10203,
            "message schedules source is invalid",
        ),
        (
            "sr.x",
            "next not purge",
            vec![
                ("Nats-Scheduler", "sr.y"),
                ("Nats-Schedule-Next", "2030-01-01T00:00:00Z"),
            ],
            10212,
            "message schedules invalid scheduler",
        ),
        (
            "sr.x",
            "purge of itself",
            vec![("Nats-Scheduler", "sr.x"), ("Nats-Schedule-Next", "purge")],
            10212,
            "message schedules invalid scheduler",
        ),
        (
            "sn.x",
            "ttl, ttls disabled",
            vec![
                ("Nats-Schedule", &at),
                ("Nats-Schedule-Target", "sn.out"),
                ("Nats-Schedule-TTL", "5s"),
            ],
            10166,
            "per-message TTL is disabled",
        ),
    ];
    for (subject, what, headers, err_code, description) in cases {
        let ack = js_publish_raw(&c, subject, &headers, b"").await;
        assert!(ack.get("error").is_some(), "{what}: accepted {ack}");
        assert_js_error(&ack, 400, err_code, description);
    }
    // Purging a subject that holds a plain message is refused.
    publish_ok(&c, "sr.plain", &[], b"").await;
    let ack = js_publish_raw(
        &c,
        "sr.x",
        &[
            ("Nats-Scheduler", "sr.plain"),
            ("Nats-Schedule-Next", "purge"),
        ],
        b"",
    )
    .await;
    assert_js_error(&ack, 400, 10212, "message schedules invalid scheduler");
    // Nothing refused was stored.
    let info = js_api(&c, "STREAM.INFO.SR", &Value::Null).await;
    assert_eq!(info["state"]["messages"], 1, "{info}");
    assert_eq!(info["config"]["metadata"]["_nats.req.level"], "2");
    assert_eq!(info["config"]["allow_rollup_hdrs"], true);
}

#[tokio::test]
async fn config_refusals() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let r = js_api(
        &c,
        "STREAM.CREATE.CD",
        &json!({"name": "CD", "allow_msg_schedules": true, "discard": "new"}),
    )
    .await;
    assert_js_error(&r, 500, 10052, "message scheduling cannot use discard new");
    create_stream(&c, json!({"name": "CU", "allow_msg_schedules": true})).await;
    let r = js_api(
        &c,
        "STREAM.UPDATE.CU",
        &json!({"name": "CU", "allow_msg_schedules": false}),
    )
    .await;
    assert_js_error(&r, 500, 10052, "message schedules can not be disabled");
    // Enabling on update lifts deny_purge as the rollups need, which an update may not do...
    create_stream(
        &c,
        json!({"name": "CP", "subjects": ["cp.>"], "deny_purge": true}),
    )
    .await;
    let r = js_api(
        &c,
        "STREAM.UPDATE.CP",
        &json!({"name": "CP", "subjects": ["cp.>"], "deny_purge": true, "allow_msg_schedules": true}),
    )
    .await;
    assert_js_error(
        &r,
        500,
        10052,
        "stream configuration update can not cancel deny purge",
    );
    // ...otherwise enabling works, and schedules published afterwards fire.
    create_stream(&c, json!({"name": "CE", "subjects": ["ce.>"]})).await;
    let r = js_api(
        &c,
        "STREAM.UPDATE.CE",
        &json!({"name": "CE", "subjects": ["ce.>"], "allow_msg_schedules": true}),
    )
    .await;
    assert_ok(&r, "enable schedules");
    assert_eq!(r["config"]["allow_rollup_hdrs"], true, "{r}");
    let (at, _) = at_in(1);
    publish_ok(
        &c,
        "ce.sched",
        &[("Nats-Schedule", &at), ("Nats-Schedule-Target", "ce.out")],
        b"",
    )
    .await;
    wait_count(&c, "CE", "ce.out", 1, WAIT).await;
}

// ---------------------------------------------------------------------------------------------
// Restart and crash
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn schedules_survive_a_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create_stream(&c, sched_stream("SS")).await;
    let (at, at_ns) = at_in(3);
    publish_ok(
        &c,
        "ss.sched.a",
        &[("Nats-Schedule", &at), ("Nats-Schedule-Target", "ss.out.a")],
        b"later",
    )
    .await;
    publish_ok(
        &c,
        "ss.sched.e",
        &[
            ("Nats-Schedule", "@every 1s"),
            ("Nats-Schedule-Target", "ss.out.e"),
        ],
        b"",
    )
    .await;
    wait_count(&c, "SS", "ss.out.e", 1, WAIT).await;
    drop(c);
    server.restart();
    let c = server.client().await;
    let got = wait_count(&c, "SS", "ss.out.a", 1, WAIT).await;
    assert!(got[0].time_ns >= at_ns);
    let before = all_on(&c, "SS", "ss.out.e").await.len();
    wait_count(&c, "SS", "ss.out.e", before + 2, WAIT).await;
    // The one-shot fired once in all.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_on(&c, "SS", "ss.out.a").await.len(), 1);
    assert!(last_on(&c, "SS", "ss.sched.a").await.is_none());
}

/// kill -9 at several moments around the firing of many one-shot schedules: after the
/// restart every schedule has fired exactly once and none is left.
#[tokio::test]
async fn kill9_around_firing_never_fires_twice() {
    let mut server = TestServer::start_default();
    const N: usize = 40;
    for (round, kill_after_ms) in [0u64, 30, 300].into_iter().enumerate() {
        let c = server.client().await;
        let name = format!("K{round}");
        let lower = name.to_lowercase();
        create_stream(&c, sched_stream(&name)).await;
        let (at, _) = at_in(2);
        let at_s = at.clone();
        for i in 0..N {
            publish_ok(
                &c,
                &format!("{lower}.sched.{i}"),
                &[
                    ("Nats-Schedule", &at_s),
                    ("Nats-Schedule-Target", &format!("{lower}.out.{i}")),
                ],
                format!("{i}").as_bytes(),
            )
            .await;
        }
        // Wait for the first produced message, then crash a little later.
        wait_count(&c, &name, &format!("{lower}.out.*"), 1, WAIT).await;
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        drop(c);
        server.kill9();
        server.start_again();
        let c = server.client().await;
        let got = wait_count(&c, &name, &format!("{lower}.out.*"), N, WAIT).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got_again = all_on(&c, &name, &format!("{lower}.out.*")).await;
        assert_eq!(
            got_again.len(),
            N,
            "round {round}: {} produced",
            got_again.len()
        );
        let mut payloads: Vec<Vec<u8>> = got.iter().map(|m| m.data.clone()).collect();
        payloads.sort();
        payloads.dedup();
        assert_eq!(payloads.len(), N, "round {round}: a schedule fired twice");
        assert_eq!(
            all_on(&c, &name, &format!("{lower}.sched.*")).await.len(),
            0,
            "round {round}: schedules left"
        );
    }
}
