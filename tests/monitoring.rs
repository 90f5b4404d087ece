//! HTTP monitoring (`server.http_port` / nats-server `-m`): after real client traffic, every
//! endpoint answers with nats-server's field names, JSON types and the right counts.
//!
//! Runs against natrix and nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`); `/metrics`
//! is natrix's own (nats-server answers 404 there).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::http::{get_json, http_get};
use common::{bounded, RawConn, TestServer, WAIT};

/// Polls `path` until `cond` holds (bounded by WAIT); returns the last document.
fn wait_json(port: u16, path: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = get_json(port, path);
        if cond(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Clone, Copy, Debug)]
enum Ty {
    Uint,
    Num,
    Str,
    Obj,
    Arr,
}

fn check_types(doc: &Value, what: &str, fields: &[(&str, Ty)]) {
    for (k, ty) in fields {
        let v = doc
            .get(*k)
            .unwrap_or_else(|| panic!("{what}: field `{k}` missing in {doc:#}"));
        let ok = match ty {
            Ty::Uint => v.is_u64(),
            Ty::Num => v.is_number(),
            Ty::Str => v.is_string(),
            Ty::Obj => v.is_object(),
            Ty::Arr => v.is_array(),
        };
        assert!(ok, "{what}: `{k}` should be {ty:?}, is {v}");
    }
}

/// The /varz fields natrix claims, with nats-server's JSON types.
const VARZ_FIELDS: &[(&str, Ty)] = &[
    ("server_id", Ty::Str),
    ("server_name", Ty::Str),
    ("version", Ty::Str),
    ("proto", Ty::Uint),
    ("go", Ty::Str),
    ("host", Ty::Str),
    ("port", Ty::Uint),
    ("max_connections", Ty::Uint),
    ("ping_interval", Ty::Uint),
    ("ping_max", Ty::Uint),
    ("http_host", Ty::Str),
    ("http_port", Ty::Uint),
    ("http_base_path", Ty::Str),
    ("https_port", Ty::Uint),
    ("max_control_line", Ty::Uint),
    ("max_payload", Ty::Uint),
    ("max_pending", Ty::Uint),
    ("cluster", Ty::Obj),
    ("gateway", Ty::Obj),
    ("leaf", Ty::Obj),
    ("mqtt", Ty::Obj),
    ("websocket", Ty::Obj),
    ("jetstream", Ty::Obj),
    ("write_deadline", Ty::Uint),
    ("start", Ty::Str),
    ("now", Ty::Str),
    ("uptime", Ty::Str),
    ("mem", Ty::Uint),
    ("cores", Ty::Uint),
    ("gomaxprocs", Ty::Uint),
    ("cpu", Ty::Num),
    ("connections", Ty::Uint),
    ("total_connections", Ty::Uint),
    ("routes", Ty::Uint),
    ("remotes", Ty::Uint),
    ("leafnodes", Ty::Uint),
    ("in_msgs", Ty::Uint),
    ("in_bytes", Ty::Uint),
    ("in_client_msgs", Ty::Uint),
    ("in_client_bytes", Ty::Uint),
    ("out_msgs", Ty::Uint),
    ("out_bytes", Ty::Uint),
    ("out_client_msgs", Ty::Uint),
    ("out_client_bytes", Ty::Uint),
    ("slow_consumers", Ty::Uint),
    ("stale_connections", Ty::Uint),
    ("subscriptions", Ty::Uint),
    ("http_req_stats", Ty::Obj),
    ("config_load_time", Ty::Str),
    ("slow_consumer_stats", Ty::Obj),
    ("stale_connection_stats", Ty::Obj),
];

const CONNZ_FIELDS: &[(&str, Ty)] = &[
    ("server_id", Ty::Str),
    ("now", Ty::Str),
    ("num_connections", Ty::Uint),
    ("total", Ty::Uint),
    ("offset", Ty::Uint),
    ("limit", Ty::Uint),
    ("connections", Ty::Arr),
];

const CONN_FIELDS: &[(&str, Ty)] = &[
    ("cid", Ty::Uint),
    ("kind", Ty::Str),
    ("type", Ty::Str),
    ("ip", Ty::Str),
    ("port", Ty::Uint),
    ("start", Ty::Str),
    ("last_activity", Ty::Str),
    ("uptime", Ty::Str),
    ("idle", Ty::Str),
    ("pending_bytes", Ty::Uint),
    ("in_msgs", Ty::Uint),
    ("out_msgs", Ty::Uint),
    ("in_bytes", Ty::Uint),
    ("out_bytes", Ty::Uint),
    ("subscriptions", Ty::Uint),
    ("lang", Ty::Str),
    ("version", Ty::Str),
];

const SUBSZ_FIELDS: &[(&str, Ty)] = &[
    ("server_id", Ty::Str),
    ("now", Ty::Str),
    ("num_subscriptions", Ty::Uint),
    ("num_cache", Ty::Uint),
    ("num_inserts", Ty::Uint),
    ("num_removes", Ty::Uint),
    ("num_matches", Ty::Uint),
    ("cache_hit_rate", Ty::Num),
    ("max_fanout", Ty::Uint),
    ("avg_fanout", Ty::Num),
    ("total", Ty::Uint),
    ("offset", Ty::Uint),
    ("limit", Ty::Uint),
];

const N: u64 = 25;
const PAYLOAD: &[u8] = b"hello";

/// Two clients: a named async-nats publisher and a raw-protocol subscriber (its PING proves
/// the SUB is visible everywhere, without probe traffic that would skew the counts); N
/// messages published and all received.
async fn with_traffic() -> (TestServer, async_nats::Client, RawConn) {
    let server = TestServer::start_default();
    let mut subscriber = RawConn::connect_with(
        server.port,
        r#"{"verbose":false,"name":"mon-sub","lang":"raw","version":"1.0.0"}"#,
    )
    .await;
    subscriber.send(b"SUB mon.data 1\r\n").await;
    subscriber.ping_pong().await;
    let publisher = bounded(
        "connect publisher",
        async_nats::ConnectOptions::new()
            .name("mon-pub")
            .connect(server.url()),
    )
    .await
    .expect("connect publisher");
    for _ in 0..N {
        publisher.publish("mon.data", PAYLOAD.into()).await.unwrap();
    }
    bounded("flush publisher", publisher.flush()).await.unwrap();
    for _ in 0..N {
        subscriber.expect(b"MSG mon.data 1 5\r\nhello\r\n").await;
    }
    (server, publisher, subscriber)
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_index() {
    let server = TestServer::start_default();
    let port = server.http_port;
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/healthz"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"status":"ok"})
    );
    for q in ["js-enabled-only=true", "js-server-only=true"] {
        let path = format!("/healthz?{q}");
        let (status, body) = tokio::task::spawn_blocking(move || http_get(port, &path))
            .await
            .unwrap();
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["status"],
            "ok"
        );
    }
    let (status, html) = tokio::task::spawn_blocking(move || http_get(port, "/"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    for p in ["varz", "connz", "subsz", "healthz"] {
        assert!(
            html.contains(&format!("href=./{p}")),
            "index links /{p}: {html}"
        );
    }
    let (status, _) = tokio::task::spawn_blocking(move || http_get(port, "/no-such-page"))
        .await
        .unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn varz_counts_client_traffic() {
    let (server, _p, _s) = with_traffic().await;
    let port = server.http_port;
    let v = tokio::task::spawn_blocking(move || {
        wait_json(port, "/varz", |v| {
            v["connections"] == 2 && v["out_msgs"] == N
        })
    })
    .await
    .unwrap();
    check_types(&v, "/varz", VARZ_FIELDS);
    let bytes = N * PAYLOAD.len() as u64;
    assert_eq!(v["connections"], 2, "{v:#}");
    assert!(v["total_connections"].as_u64().unwrap() >= 2);
    assert_eq!(v["in_msgs"], N);
    assert_eq!(v["in_bytes"], bytes);
    assert_eq!(v["out_msgs"], N);
    assert_eq!(v["out_bytes"], bytes);
    assert_eq!(v["in_client_msgs"], N);
    assert_eq!(v["out_client_bytes"], bytes);
    assert_eq!(v["slow_consumers"], 0);
    assert!(v["subscriptions"].as_u64().unwrap() >= 1);
    assert_eq!(v["port"], server.port);
    assert_eq!(v["http_port"], server.http_port);
    assert!(v["mem"].as_u64().unwrap() > 0);
    assert!(v["now"].as_str().unwrap().ends_with('Z'));
    assert!(v["http_req_stats"]["/varz"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn connz_lists_sorts_and_pages_connections() {
    let (server, _p, _s) = with_traffic().await;
    let port = server.http_port;
    let docs = tokio::task::spawn_blocking(move || {
        let all = wait_json(port, "/connz?subs=1", |v| v["num_connections"] == 2);
        let by_from = get_json(port, "/connz?sort=msgs_from&limit=1");
        let by_to = get_json(port, "/connz?sort=bytes_to&offset=0&limit=1&subs=detail");
        let second = get_json(port, "/connz?offset=1");
        let (bad, _) = http_get(port, "/connz?sort=nonsense");
        (all, by_from, by_to, second, bad)
    })
    .await
    .unwrap();
    let (all, by_from, by_to, second, bad) = docs;
    check_types(&all, "/connz", CONNZ_FIELDS);
    assert_eq!(all["num_connections"], 2, "{all:#}");
    assert_eq!(all["total"], 2);
    assert_eq!(all["offset"], 0);
    assert_eq!(all["limit"], 1024);
    let conns = all["connections"].as_array().unwrap();
    for c in conns {
        check_types(c, "/connz connection", CONN_FIELDS);
        assert_eq!(c["kind"], "Client");
        assert_eq!(c["type"], "nats");
        assert_eq!(c["ip"], "127.0.0.1");
    }
    let cids: Vec<u64> = conns.iter().map(|c| c["cid"].as_u64().unwrap()).collect();
    assert!(cids[0] < cids[1], "sorted by cid: {cids:?}");
    let bytes = N * PAYLOAD.len() as u64;
    let publ = conns
        .iter()
        .find(|c| c["name"] == "mon-pub")
        .expect("publisher listed");
    assert_eq!(publ["in_msgs"], N);
    assert_eq!(publ["in_bytes"], bytes);
    assert_eq!(publ["out_msgs"], 0);
    assert_eq!(publ["subscriptions"], 0);
    let subr = conns
        .iter()
        .find(|c| c["name"] == "mon-sub")
        .expect("subscriber listed");
    assert_eq!(subr["out_msgs"], N);
    assert_eq!(subr["out_bytes"], bytes);
    assert_eq!(subr["in_msgs"], 0);
    assert_eq!(subr["subscriptions"], 1);
    assert_eq!(subr["subscriptions_list"], serde_json::json!(["mon.data"]));
    assert_eq!(subr["lang"], "raw");
    assert_eq!(subr["version"], "1.0.0");
    assert_eq!(publ["lang"], "rust");

    assert_eq!(by_from["num_connections"], 1);
    assert_eq!(by_from["total"], 2);
    assert_eq!(by_from["limit"], 1);
    assert_eq!(by_from["connections"][0]["name"], "mon-pub");

    let d = &by_to["connections"][0];
    assert_eq!(d["out_bytes"], bytes);
    let detail = &d["subscriptions_list_detail"][0];
    assert_eq!(detail["subject"], "mon.data");
    assert_eq!(detail["msgs"], N);
    assert_eq!(detail["cid"], d["cid"]);
    assert!(detail["sid"].is_string());

    assert_eq!(second["offset"], 1);
    assert_eq!(second["num_connections"], 1);
    assert_eq!(second["connections"][0]["cid"], cids[1]);
    assert_eq!(bad, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn subsz_counts_subscriptions() {
    let (server, _p, _s) = with_traffic().await;
    let port = server.http_port;
    let v = tokio::task::spawn_blocking(move || get_json(port, "/subsz"))
        .await
        .unwrap();
    check_types(&v, "/subsz", SUBSZ_FIELDS);
    assert!(v["num_subscriptions"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(v["num_inserts"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(v["num_matches"].as_u64().unwrap() >= 1, "{v:#}");
    let rate = v["cache_hit_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate), "{v:#}");
    assert_eq!(v["limit"], 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn routez_gatewayz_leafz_answer_empty_forms() {
    let server = TestServer::start_default();
    let port = server.http_port;
    let (routez, gatewayz, leafz) = tokio::task::spawn_blocking(move || {
        (
            get_json(port, "/routez"),
            get_json(port, "/gatewayz"),
            get_json(port, "/leafz"),
        )
    })
    .await
    .unwrap();
    check_types(
        &routez,
        "/routez",
        &[
            ("server_id", Ty::Str),
            ("server_name", Ty::Str),
            ("now", Ty::Str),
            ("num_routes", Ty::Uint),
            ("routes", Ty::Arr),
        ],
    );
    assert_eq!(routez["num_routes"], 0);
    check_types(
        &gatewayz,
        "/gatewayz",
        &[
            ("server_id", Ty::Str),
            ("now", Ty::Str),
            ("outbound_gateways", Ty::Obj),
            ("inbound_gateways", Ty::Obj),
        ],
    );
    check_types(
        &leafz,
        "/leafz",
        &[
            ("server_id", Ty::Str),
            ("now", Ty::Str),
            ("leafnodes", Ty::Uint),
            ("leafs", Ty::Arr),
        ],
    );
    assert_eq!(leafz["leafnodes"], 0);
}

/// Parses the Prometheus text format strictly: `# HELP`/`# TYPE` lines and samples
/// `name{label="v",...} number`; returns (name, labels) → value.
fn parse_prometheus(text: &str) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("metric name after # HELP/TYPE");
            assert!(matches!(kind, "HELP" | "TYPE"), "bad comment {line:?}");
            if kind == "TYPE" {
                let t = parts.next().expect("type");
                assert!(
                    matches!(t, "gauge" | "counter" | "histogram"),
                    "bad type {line:?}"
                );
                typed.insert(name.to_string());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name {line:?}"
        );
        // A histogram's samples are <name>_bucket, <name>_sum and <name>_count.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|sfx| name.strip_suffix(sfx).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its # TYPE: {line:?}");
        for l in labels.split(',').filter(|l| !l.is_empty()) {
            let (k, v) = l.split_once('=').expect("label k=v");
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            assert!(
                v.starts_with('"') && v.ends_with('"'),
                "quoted label {line:?}"
            );
        }
        out.insert((name.to_string(), labels.to_string()), value);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_in_prometheus_format() {
    let (server, _p, _s) = with_traffic().await;
    let port = server.http_port;
    let (status, text) = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .unwrap();
    if !server.is_natrix() {
        // nats-server has no /metrics (prometheus-nats-exporter makes them from /varz).
        assert_eq!(status, 404);
        return;
    }
    assert_eq!(status, 200, "{text}");
    let m = parse_prometheus(&text);
    let global = |name: &str| -> f64 {
        m.iter()
            .find(|((n, l), _)| n == name && !l.contains("core="))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    let per_core = |name: &str| -> f64 {
        let vals: Vec<f64> = m
            .iter()
            .filter(|((n, l), _)| n == name && l.contains("core=\""))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(vals.len(), server.cores, "{name}: one series per core");
        vals.iter().sum()
    };
    let bytes = (N * PAYLOAD.len() as u64) as f64;
    assert_eq!(global("gnatsd_varz_in_msgs"), N as f64);
    assert_eq!(global("gnatsd_varz_out_msgs"), N as f64);
    assert_eq!(global("gnatsd_varz_in_bytes"), bytes);
    assert_eq!(global("gnatsd_varz_out_bytes"), bytes);
    assert_eq!(global("gnatsd_varz_connections"), 2.0);
    assert_eq!(global("gnatsd_varz_slow_consumers"), 0.0);
    assert!(global("gnatsd_varz_subscriptions") >= 1.0);
    assert_eq!(per_core("natrix_core_in_msgs"), N as f64);
    assert_eq!(per_core("natrix_core_out_msgs"), N as f64);
    assert_eq!(per_core("natrix_core_in_bytes"), bytes);
    assert_eq!(per_core("natrix_core_out_bytes"), bytes);
    assert_eq!(per_core("natrix_core_connections"), 2.0);
    assert_eq!(per_core("natrix_core_slow_consumers"), 0.0);
    // Every item one core pushes onto a ring is taken off by another.
    assert_eq!(
        per_core("natrix_core_ring_items_sent"),
        per_core("natrix_core_ring_items_received")
    );
}

const JSZ_FIELDS: &[(&str, Ty)] = &[
    ("server_id", Ty::Str),
    ("now", Ty::Str),
    ("config", Ty::Obj),
    ("memory", Ty::Uint),
    ("storage", Ty::Uint),
    ("reserved_memory", Ty::Uint),
    ("reserved_storage", Ty::Uint),
    ("accounts", Ty::Uint),
    ("ha_assets", Ty::Uint),
    ("api", Ty::Obj),
    ("streams", Ty::Uint),
    ("consumers", Ty::Uint),
    ("messages", Ty::Uint),
    ("bytes", Ty::Uint),
    ("total", Ty::Uint),
];

const JSZ_CONFIG_FIELDS: &[(&str, Ty)] = &[
    ("max_memory", Ty::Num),
    ("max_storage", Ty::Num),
    ("store_dir", Ty::Str),
    ("sync_interval", Ty::Uint),
];

const JS_STATS_FIELDS: &[(&str, Ty)] = &[
    ("memory", Ty::Uint),
    ("storage", Ty::Uint),
    ("reserved_memory", Ty::Uint),
    ("reserved_storage", Ty::Uint),
    ("accounts", Ty::Uint),
    ("ha_assets", Ty::Uint),
    ("api", Ty::Obj),
];

const ACCOUNT_DETAIL_FIELDS: &[(&str, Ty)] = &[
    ("name", Ty::Str),
    ("id", Ty::Str),
    ("memory", Ty::Uint),
    ("storage", Ty::Uint),
    ("reserved_memory", Ty::Uint),
    ("reserved_storage", Ty::Uint),
    ("api", Ty::Obj),
    ("stream_detail", Ty::Arr),
];

const STREAM_DETAIL_FIELDS: &[(&str, Ty)] = &[
    ("name", Ty::Str),
    ("created", Ty::Str),
    ("cluster", Ty::Obj),
    ("config", Ty::Obj),
    ("state", Ty::Obj),
    ("consumer_detail", Ty::Arr),
];

const STREAM_STATE_FIELDS: &[(&str, Ty)] = &[
    ("messages", Ty::Uint),
    ("bytes", Ty::Uint),
    ("first_seq", Ty::Uint),
    ("first_ts", Ty::Str),
    ("last_seq", Ty::Uint),
    ("last_ts", Ty::Str),
    ("num_subjects", Ty::Uint),
    ("consumer_count", Ty::Uint),
];

const CONSUMER_DETAIL_FIELDS: &[(&str, Ty)] = &[
    ("stream_name", Ty::Str),
    ("name", Ty::Str),
    ("created", Ty::Str),
    ("config", Ty::Obj),
    ("delivered", Ty::Obj),
    ("ack_floor", Ty::Obj),
    ("num_ack_pending", Ty::Uint),
    ("num_redelivered", Ty::Uint),
    ("num_waiting", Ty::Uint),
    ("num_pending", Ty::Uint),
    ("ts", Ty::Str),
];

const JSZ_MSGS: u64 = 10;

/// Stream `JSZ` (10 messages on 3 subjects), pull consumer `C1` with 4 fetched and 2 acked.
async fn with_js_activity(server: &TestServer) -> async_nats::Client {
    use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
    use futures::TryStreamExt;
    let client = server.client().await;
    let js = common::js(&client);
    let stream = bounded(
        "create stream",
        js.create_stream(jetstream::stream::Config {
            name: "JSZ".into(),
            subjects: vec!["jsz.>".into()],
            ..Default::default()
        }),
    )
    .await
    .expect("create stream");
    for i in 0..JSZ_MSGS {
        let ack = bounded(
            "publish",
            js.publish(format!("jsz.{}", i % 3), PAYLOAD.into()),
        )
        .await
        .expect("publish");
        bounded("publish ack", std::future::IntoFuture::into_future(ack))
            .await
            .expect("publish ack");
    }
    let cons = bounded(
        "create consumer",
        stream.create_consumer(pull::Config {
            durable_name: Some("C1".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        }),
    )
    .await
    .expect("create consumer");
    let batch = bounded(
        "fetch",
        cons.fetch()
            .max_messages(4)
            .expires(Duration::from_secs(2))
            .messages(),
    )
    .await
    .expect("fetch");
    let msgs: Vec<jetstream::Message> = bounded("collect", batch.try_collect())
        .await
        .expect("collect");
    assert_eq!(msgs.len(), 4);
    for m in &msgs[..2] {
        bounded("ack", m.double_ack()).await.expect("ack");
    }
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn jsz_reports_streams_and_consumers() {
    let server = TestServer::start_default();
    let _client = with_js_activity(&server).await;
    let port = server.http_port;
    let (plain, full, accounts, varz) = tokio::task::spawn_blocking(move || {
        let plain = wait_json(port, "/jsz", |v| v["messages"] == JSZ_MSGS);
        let full = wait_json(
            port,
            "/jsz?accounts=true&streams=true&consumers=true&config=true",
            |v| {
                v["account_details"][0]["stream_detail"][0]["consumer_detail"][0]["num_ack_pending"]
                    == 2
            },
        );
        let accounts = get_json(port, "/jsz?accounts=true");
        let varz = get_json(port, "/varz");
        (plain, full, accounts, varz)
    })
    .await
    .unwrap();

    check_types(&plain, "/jsz", JSZ_FIELDS);
    check_types(&plain["config"], "/jsz config", JSZ_CONFIG_FIELDS);
    check_types(
        &plain["api"],
        "/jsz api",
        &[("total", Ty::Uint), ("errors", Ty::Uint)],
    );
    assert_eq!(plain["streams"], 1, "{plain:#}");
    assert_eq!(plain["consumers"], 1);
    assert_eq!(plain["messages"], JSZ_MSGS);
    let bytes = plain["bytes"].as_u64().unwrap();
    assert!(bytes >= JSZ_MSGS * PAYLOAD.len() as u64, "{plain:#}");
    assert_eq!(
        plain["storage"], bytes,
        "file stream bytes count as storage"
    );
    assert_eq!(plain["memory"], 0);
    assert_eq!(plain["accounts"], 1);
    assert!(plain["api"]["total"].as_u64().unwrap() >= 2, "{plain:#}");
    assert!(plain.get("account_details").is_none(), "{plain:#}");

    let acc = &accounts["account_details"][0];
    check_types(acc, "/jsz?accounts account", &ACCOUNT_DETAIL_FIELDS[..7]);
    assert_eq!(acc["name"], "$G");
    assert!(acc.get("stream_detail").is_none(), "{accounts:#}");

    let acc = &full["account_details"][0];
    check_types(acc, "/jsz account_details", ACCOUNT_DETAIL_FIELDS);
    assert_eq!(acc["storage"], bytes);
    let sd = &acc["stream_detail"][0];
    check_types(sd, "stream_detail", STREAM_DETAIL_FIELDS);
    assert_eq!(sd["name"], "JSZ");
    assert_eq!(sd["config"]["name"], "JSZ");
    assert!(sd["cluster"]["leader"].is_string(), "{sd:#}");
    let st = &sd["state"];
    check_types(st, "stream_detail state", STREAM_STATE_FIELDS);
    assert_eq!(st["messages"], JSZ_MSGS);
    assert_eq!(st["bytes"], bytes);
    assert_eq!(
        (st["first_seq"].as_u64(), st["last_seq"].as_u64()),
        (Some(1), Some(JSZ_MSGS))
    );
    assert_eq!(st["num_subjects"], 3);
    assert_eq!(st["consumer_count"], 1);
    let cd = &sd["consumer_detail"][0];
    check_types(cd, "consumer_detail", CONSUMER_DETAIL_FIELDS);
    assert_eq!(
        (cd["stream_name"].as_str(), cd["name"].as_str()),
        (Some("JSZ"), Some("C1"))
    );
    assert_eq!(cd["config"]["durable_name"], "C1");
    assert_eq!(cd["delivered"]["stream_seq"], 4, "{cd:#}");
    assert_eq!(cd["delivered"]["consumer_seq"], 4);
    assert_eq!(cd["ack_floor"]["stream_seq"], 2);
    assert_eq!(cd["num_ack_pending"], 2);
    assert_eq!(cd["num_pending"], JSZ_MSGS - 4);
    assert_eq!(cd["num_redelivered"], 0);

    // /varz carries the same usage under jetstream.stats.
    let stats = &varz["jetstream"]["stats"];
    check_types(stats, "/varz jetstream.stats", JS_STATS_FIELDS);
    assert_eq!(stats["storage"], bytes, "{varz:#}");
    assert_eq!(stats["accounts"], 1);
    assert!(stats["api"]["total"].as_u64().unwrap() >= 2);

    if server.is_natrix() {
        // natrix's /metrics: the same usage, and per-core stream series summing to it.
        let (status, text) = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{text}");
        let m = parse_prometheus(&text);
        let sum = |name: &str| -> f64 {
            m.iter()
                .filter(|((n, _), _)| n == name)
                .map(|(_, v)| *v)
                .sum()
        };
        assert_eq!(
            sum("gnatsd_varz_jetstream_stats_storage"),
            bytes as f64,
            "{text}"
        );
        assert_eq!(sum("natrix_core_jetstream_streams"), 1.0, "{text}");
        assert_eq!(sum("natrix_core_jetstream_consumers"), 1.0);
        assert_eq!(sum("natrix_core_jetstream_messages"), JSZ_MSGS as f64);
        // Every publish was acked after a group commit: the histograms counted them.
        let commits = sum("natrix_core_jetstream_commit_size_count");
        assert!(commits >= 1.0, "no group commit counted:\n{text}");
        assert!(
            sum("natrix_core_jetstream_commit_size_sum") >= JSZ_MSGS as f64,
            "{text}"
        );
        assert!(
            sum("natrix_core_jetstream_commit_seconds_sum") > 0.0,
            "{text}"
        );
        let inf: f64 = m
            .iter()
            .filter(|((n, l), _)| {
                n == "natrix_core_jetstream_commit_seconds_bucket" && l.contains("le=\"+Inf\"")
            })
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(inf, commits, "+Inf bucket counts every commit");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jsz_without_details_omits_config_and_consumers() {
    let server = TestServer::start_default();
    let _client = with_js_activity(&server).await;
    let port = server.http_port;
    let v = tokio::task::spawn_blocking(move || {
        wait_json(port, "/jsz?streams=true", |v| v["messages"] == JSZ_MSGS)
    })
    .await
    .unwrap();
    let sd = &v["account_details"][0]["stream_detail"][0];
    assert_eq!(sd["name"], "JSZ", "{v:#}");
    assert!(sd.get("config").is_none(), "{sd:#}");
    assert!(sd.get("consumer_detail").is_none(), "{sd:#}");
    assert_eq!(sd["state"]["consumer_count"], 1);
    let v = tokio::task::spawn_blocking(move || get_json(port, "/jsz?consumers=true"))
        .await
        .unwrap();
    let cd = &v["account_details"][0]["stream_detail"][0]["consumer_detail"][0];
    assert_eq!(cd["name"], "C1", "{v:#}");
    assert!(cd.get("config").is_none(), "{cd:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn accountz_lists_global_and_system_accounts() {
    let server = TestServer::start_default();
    let port = server.http_port;
    let _client = RawConn::connect_with(server.port, r#"{"verbose":false}"#).await;
    let list = tokio::task::spawn_blocking(move || get_json(port, "/accountz"))
        .await
        .unwrap();
    assert_eq!(list["system_account"], "$SYS", "{list:#}");
    let names: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"$G") && names.contains(&"$SYS"), "{list:#}");
    assert!(list["server_id"].is_string() && list["now"].is_string());
    let g = tokio::task::spawn_blocking(move || get_json(port, "/accountz?acc=$G"))
        .await
        .unwrap();
    let d = &g["account_detail"];
    assert_eq!(d["account_name"], "$G", "{g:#}");
    assert!(d["client_connections"].as_u64().unwrap() >= 1, "{g:#}");
    assert!(
        d["subscriptions"].is_u64() && d["update_time"].is_string(),
        "{g:#}"
    );
    assert_eq!(d["expired"], false);
    assert!(g.get("accounts").is_none(), "{g:#}");
    let sys = tokio::task::spawn_blocking(move || get_json(port, "/accountz?acc=$SYS"))
        .await
        .unwrap();
    assert_eq!(sys["account_detail"]["is_system"], true, "{sys:#}");
    assert_eq!(sys["account_detail"]["client_connections"], 0, "{sys:#}");
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/accountz?acc=NOPE"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body.trim(), "Account NOPE does not exist");
}
