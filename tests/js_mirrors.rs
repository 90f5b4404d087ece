//! Mirrors and sources on one server: a mirror keeps the origin's sequences (gaps included)
//! and takes no subjects; sources with `filter_subject`, `subject_transforms`,
//! `opt_start_seq` and `opt_start_time` store new messages carrying `Nats-Stream-Source`;
//! both resume after a restart (graceful and SIGKILL) with nothing lost or duplicated; stream
//! info shows `mirror`/`sources` state.
//!
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_mirrors` runs them against
//! nats-server 2.15.1.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{assert_js_error, js_api, js_publish_raw, TestServer};

/// Mirrors catch up in the background: generous, bounded.
const CATCH_UP: Duration = Duration::from_secs(30);

async fn create(c: &async_nats::Client, cfg: Value) -> Value {
    let name = cfg["name"].as_str().expect("name").to_owned();
    let r = js_api(c, &format!("STREAM.CREATE.{name}"), &cfg).await;
    assert!(r.get("error").is_none(), "create {name}: {r}");
    r
}

async fn publish(c: &async_nats::Client, subject: &str, payload: &str) -> u64 {
    let ack = js_publish_raw(c, subject, &[], payload.as_bytes()).await;
    assert!(ack.get("error").is_none(), "{ack}");
    ack["seq"].as_u64().expect("seq")
}

async fn info(c: &async_nats::Client, name: &str) -> Value {
    js_api(c, &format!("STREAM.INFO.{name}"), &Value::Null).await
}

/// Waits until `name` holds `messages` messages with last sequence `last_seq`.
async fn wait_for(c: &async_nats::Client, name: &str, messages: u64, last_seq: u64) -> Value {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let i = info(c, name).await;
        let s = &i["state"];
        if s["messages"] == messages && s["last_seq"] == last_seq {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not reach {messages} messages / last seq {last_seq}: {i}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// STREAM.MSG.GET by sequence: (subject, payload, headers as text).
async fn get(c: &async_nats::Client, stream: &str, seq: u64) -> (String, String, String) {
    let r = js_api(c, &format!("STREAM.MSG.GET.{stream}"), &json!({"seq": seq})).await;
    let m = &r["message"];
    assert_eq!(m["seq"], seq, "{r}");
    let b64 = |v: &Value| {
        use base64::Engine;
        v.as_str()
            .map(|s| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap())
                    .unwrap()
            })
            .unwrap_or_default()
    };
    (
        m["subject"].as_str().unwrap_or_default().to_owned(),
        b64(&m["data"]),
        b64(&m["hdrs"]),
    )
}

/// The `Nats-Stream-Source` value of a header block: `<name> <seq> <filter> <dest> <subject>`
/// (nats-server 2.15 appends the origin stream's identity, which natrix does not have).
fn source_header(hdrs: &str) -> String {
    let v = hdrs
        .lines()
        .find_map(|l| l.strip_prefix("Nats-Stream-Source: "))
        .unwrap_or_else(|| panic!("no Nats-Stream-Source in {hdrs:?}"));
    v.split(' ').take(5).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn mirror_keeps_origin_sequences_takes_no_subjects_and_shows_its_state() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "ORIGIN", "subjects": ["o.>"]})).await;
    for i in 1..=5 {
        publish(&c, &format!("o.{i}"), &format!("m{i}")).await;
    }
    let d = js_api(&c, "STREAM.MSG.DELETE.ORIGIN", &json!({"seq": 3})).await;
    assert_eq!(d["success"], true, "{d}");

    // A mirror can not have subjects (nor sources, nor first_seq).
    let r = js_api(
        &c,
        "STREAM.CREATE.BAD",
        &json!({"name": "BAD", "subjects": ["bad"], "mirror": {"name": "ORIGIN"}}),
    )
    .await;
    assert_js_error(&r, 400, 10034, "stream mirrors can not contain subjects");
    let r = js_api(
        &c,
        "STREAM.CREATE.BAD",
        &json!({"name": "BAD", "mirror": {"name": "ORIGIN"}, "sources": [{"name": "X"}]}),
    )
    .await;
    assert_js_error(
        &r,
        400,
        10031,
        "stream mirrors can not also contain other sources",
    );

    let created = create(&c, json!({"name": "M", "mirror": {"name": "ORIGIN"}})).await;
    assert_eq!(created["config"]["mirror"]["name"], "ORIGIN", "{created}");
    assert!(created["config"].get("subjects").is_none(), "{created}");
    let i = wait_for(&c, "M", 4, 5).await;
    assert_eq!(i["mirror"]["name"], "ORIGIN", "{i}");
    assert_eq!(i["mirror"]["lag"], 0, "{i}");
    assert!(i["mirror"]["active"].as_i64().unwrap() >= 0, "{i}");
    // STREAM.LIST shows the same state (as nats-server lists it).
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let l = js_api(&c, "STREAM.LIST", &json!({})).await;
        let streams = l["streams"].as_array().expect("streams").clone();
        let m = streams
            .iter()
            .find(|s| s["config"]["name"] == "M")
            .expect("M listed");
        let o = streams
            .iter()
            .find(|s| s["config"]["name"] == "ORIGIN")
            .expect("ORIGIN listed");
        assert!(
            o.get("mirror").is_none() && o.get("sources").is_none(),
            "{o}"
        );
        if m["state"]["messages"] == 4 {
            assert_eq!(m["mirror"]["name"], "ORIGIN", "{m}");
            assert_eq!(m["mirror"]["lag"], 0, "{m}");
            assert!(m["mirror"]["active"].as_i64().unwrap() >= 0, "{m}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never listed with 4 messages: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for seq in [1, 2, 4, 5] {
        let (subject, data, _) = get(&c, "M", seq).await;
        assert_eq!((subject, data), (format!("o.{seq}"), format!("m{seq}")));
    }
    let r = js_api(&c, "STREAM.MSG.GET.M", &json!({"seq": 3})).await;
    assert_eq!(r["error"]["err_code"], 10037, "{r}");

    // New messages follow; a publish is stored (and acked) by the origin only.
    let ack = js_publish_raw(&c, "o.6", &[], b"m6").await;
    assert_eq!((&ack["stream"], &ack["seq"]), (&json!("ORIGIN"), &json!(6)));
    wait_for(&c, "M", 5, 6).await;
}

#[tokio::test]
async fn sources_filter_transform_start_and_mark_their_messages() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "A", "subjects": ["a.>"]})).await;
    create(&c, json!({"name": "B", "subjects": ["b.>"]})).await;
    create(&c, json!({"name": "C", "subjects": ["c.>"]})).await;
    for s in ["a.keep.1", "a.drop.1", "a.keep.2"] {
        publish(&c, s, s).await;
    }
    for s in ["b.x", "b.y", "b.z"] {
        publish(&c, s, s).await;
    }
    publish(&c, "c.old", "c.old").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    publish(&c, "c.new1", "c.new1").await;
    publish(&c, "c.new2", "c.new2").await;
    let r = js_api(&c, "STREAM.MSG.GET.C", &json!({"seq": 2})).await;
    let start_time = r["message"]["time"].as_str().expect("time").to_owned();

    let created = create(
        &c,
        json!({"name": "AGG", "subjects": ["agg.own"], "sources": [
            {"name": "A", "filter_subject": "a.keep.>"},
            {"name": "B", "opt_start_seq": 2,
             "subject_transforms": [{"src": "b.*", "dest": "agg.b.{{wildcard(1)}}"}]},
        ]}),
    )
    .await;
    assert_eq!(
        created["config"]["sources"][1]["opt_start_seq"], 2,
        "{created}"
    );
    // By start time on a stream of its own: nats-server starts a source no earlier than the
    // sourcing stream's last message.
    create(
        &c,
        json!({"name": "CT", "sources": [{"name": "C", "opt_start_time": start_time}]}),
    )
    .await;
    let i = wait_for(&c, "AGG", 4, 4).await;
    let sources = i["sources"].as_array().expect("sources");
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B"], "{i}");
    assert!(sources.iter().all(|s| s["lag"] == 0), "{i}");
    wait_for(&c, "CT", 2, 2).await;

    let mut got = Vec::new();
    for (stream, seq) in [
        ("AGG", 1),
        ("AGG", 2),
        ("AGG", 3),
        ("AGG", 4),
        ("CT", 1),
        ("CT", 2),
    ] {
        let (subject, data, hdrs) = get(&c, stream, seq).await;
        got.push((subject, data, source_header(&hdrs)));
    }
    let of = |p: &str| -> Vec<(String, String, String)> {
        got.iter()
            .filter(|(_, d, _)| d.starts_with(p))
            .cloned()
            .collect()
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        of("a."),
        [
            s("a.keep.1", "a.keep.1", "A 1 a.keep.> > a.keep.1"),
            s("a.keep.2", "a.keep.2", "A 3 a.keep.> > a.keep.2"),
        ]
    );
    assert_eq!(
        of("b."),
        [
            s("agg.b.y", "b.y", "B 2 b.* agg.b.{{wildcard(1)}} b.y"),
            s("agg.b.z", "b.z", "B 3 b.* agg.b.{{wildcard(1)}} b.z"),
        ]
    );
    assert_eq!(
        of("c."),
        [
            s("c.new1", "c.new1", "C 2 > > c.new1"),
            s("c.new2", "c.new2", "C 3 > > c.new2"),
        ]
    );
    // Its own subject still works next to the sources.
    let ack = js_publish_raw(&c, "agg.own", &[], b"own").await;
    assert_eq!((&ack["stream"], &ack["seq"]), (&json!("AGG"), &json!(5)));
}

/// Publishes `n` messages to `o.<i>` from `from`.
async fn publish_run(c: &async_nats::Client, from: u64, n: u64) {
    for i in from..from + n {
        publish(c, &format!("o.{i}"), &format!("p{i}")).await;
    }
}

/// Every message of the mirror is the origin's at the same sequence, and the source holds
/// each origin sequence exactly once, in order.
async fn assert_exact(c: &async_nats::Client, total: u64) {
    wait_for(c, "M", total, total).await;
    wait_for(c, "S", total, total).await;
    for seq in 1..=total {
        let (subject, data, _) = get(c, "M", seq).await;
        assert_eq!((subject, data), (format!("o.{seq}"), format!("p{seq}")));
        let (subject, data, hdrs) = get(c, "S", seq).await;
        assert_eq!(
            (subject.as_str(), data),
            (&*format!("o.{seq}"), format!("p{seq}"))
        );
        assert_eq!(source_header(&hdrs), format!("O {seq} > > o.{seq}"));
    }
}

async fn resume_after(kill: bool) {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "O", "subjects": ["o.>"]})).await;
    create(&c, json!({"name": "M", "mirror": {"name": "O"}})).await;
    create(&c, json!({"name": "S", "sources": [{"name": "O"}]})).await;
    publish_run(&c, 1, 50).await;
    assert_exact(&c, 50).await;
    // Published, then the server goes down while the mirror and source may be catching up.
    publish_run(&c, 51, 50).await;
    drop(c);
    if kill {
        server.kill9();
        server.start_again();
    } else {
        server.restart();
    }
    let c = server.client().await;
    publish_run(&c, 101, 50).await;
    assert_exact(&c, 150).await;
    let i = info(&c, "S").await;
    assert_eq!(i["sources"][0]["name"], "O", "{i}");
}

#[tokio::test]
async fn mirror_and_source_resume_after_a_restart_exactly() {
    resume_after(false).await;
}

#[tokio::test]
async fn mirror_and_source_resume_after_a_kill_exactly() {
    resume_after(true).await;
}

/// Sources and mirrors leading back to the stream are refused with nats-server's 10052
/// "detected cycle" (create and update); a source whose filter misses the subjects of the
/// stream it would loop through is not a cycle.
#[tokio::test]
async fn sources_and_mirrors_forming_a_cycle_are_refused() {
    let server = TestServer::start_default();
    let c = server.client().await;
    create(&c, json!({"name": "A", "subjects": ["a.>"]})).await;
    create(
        &c,
        json!({"name": "B", "subjects": ["b.>"], "sources": [{"name": "A"}]}),
    )
    .await;
    let r = js_api(
        &c,
        "STREAM.UPDATE.A",
        &json!({"name": "A", "subjects": ["a.>"], "sources": [{"name": "B"}]}),
    )
    .await;
    assert_js_error(&r, 500, 10052, "detected cycle");
    let r = js_api(
        &c,
        "STREAM.CREATE.C",
        &json!({"name": "C", "subjects": ["c.>"], "sources": [{"name": "B"}, {"name": "C"}]}),
    )
    .await;
    assert_js_error(&r, 500, 10052, "detected cycle");
    // D takes only a.> from A; D's own subjects (d.>) never meet that filter.
    create(
        &c,
        json!({"name": "D", "subjects": ["d.>"], "sources": [{"name": "A", "filter_subject": "a.>"}]}),
    )
    .await;
    let r = js_api(
        &c,
        "STREAM.UPDATE.A",
        &json!({"name": "A", "subjects": ["a.>"], "sources": [{"name": "D"}]}),
    )
    .await;
    assert!(r.get("error").is_none(), "{r}");
    // Mirrors: M1 mirrors a stream yet to come, which would mirror M1.
    create(&c, json!({"name": "M1", "mirror": {"name": "M2"}})).await;
    let r = js_api(
        &c,
        "STREAM.CREATE.M2",
        &json!({"name": "M2", "mirror": {"name": "M1"}}),
    )
    .await;
    assert_js_error(&r, 500, 10052, "detected cycle");
}
