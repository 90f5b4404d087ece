//! One test per renderer: field names, nesting and JSON types as nats-server 2.15.1 answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::monitor::snapshot::{ConnSnapshot, CoreSnapshot, SubSnapshot};

const NOW: u64 = 1_800_000_000_000_000_000;

fn facts() -> ServerFacts {
    ServerFacts {
        server_id: "NSERVER".into(),
        server_name: "n1".into(),
        version: "2.11.0".into(),
        go: "natrix 0.1.0".into(),
        host: "0.0.0.0".into(),
        port: 4222,
        max_connections: 65536,
        ping_interval_ns: 120_000_000_000,
        ping_max: 2,
        http_host: "0.0.0.0".into(),
        http_port: 8222,
        max_control_line: 4096,
        max_payload: 1 << 20,
        max_pending: 64 << 20,
        write_deadline_ns: 10_000_000_000,
        cores: 2,
        start_unix_ns: NOW - 65_000_000_000,
        jetstream: Some(JsFacts {
            max_memory: -1,
            max_storage: -1,
            store_dir: "/tmp/js".into(),
            sync_interval: 0,
            sync_always: true,
            strict: true,
        }),
        ..Default::default()
    }
}

fn conn(cid: u64, out_msgs: u64, subs: &[&str]) -> ConnSnapshot {
    ConnSnapshot {
        cid,
        ip: "127.0.0.1".into(),
        port: 5000 + cid as u16,
        start_ns: cid * 1_000,
        last_activity_ns: 2_000_000_000,
        out_msgs,
        out_bytes: out_msgs * 5,
        num_subs: subs.len() as u32,
        subs: subs
            .iter()
            .enumerate()
            .map(|(i, s)| SubSnapshot {
                subject: s.to_string(),
                queue: None,
                sid: (i + 1).to_string(),
                msgs: out_msgs,
            })
            .collect(),
        name: (cid == 1).then(|| "pub".to_string()),
        lang: Some("rust".into()),
        version: Some("0.51.0".into()),
        leaf: None,
        ..Default::default()
    }
}

fn cores() -> Vec<Arc<CoreSnapshot>> {
    let mut a = CoreSnapshot {
        core: 0,
        epoch_unix_ns: NOW - 10_000_000_000,
        connections: 1,
        subscriptions: 5,
        conns: vec![conn(2, 0, &[])],
        ..Default::default()
    };
    a.stats.in_msgs = 10;
    a.stats.in_bytes = 50;
    a.stats.total_connections = 1;
    a.sublist.inserts = 4;
    a.sublist.matches = 10;
    a.sublist.cache_hits = 5;
    a.sublist.cache_entries = 2;
    a.sublist.total_fanout = 3;
    a.sublist.max_fanout = 2;
    let mut b = CoreSnapshot {
        core: 1,
        epoch_unix_ns: NOW - 10_000_000_000,
        connections: 2,
        subscriptions: 1,
        conns: vec![conn(1, 0, &[]), conn(3, 10, &["foo", "bar.>"])],
        ..Default::default()
    };
    b.stats.out_msgs = 10;
    b.stats.out_bytes = 50;
    b.stats.total_connections = 2;
    b.sublist.inserts = 1;
    b.sublist.removes = 1;
    b.sublist.matches = 10;
    b.sublist.cache_hits = 10;
    b.sublist.cache_entries = 1;
    b.sublist.total_fanout = 3;
    b.sublist.max_fanout = 3;
    vec![Arc::new(a), Arc::new(b)]
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

#[test]
fn uptime_text_is_nats_servers() {
    assert_eq!(uptime(0), "0s");
    assert_eq!(uptime(5_000_000_000), "5s");
    assert_eq!(uptime(65_000_000_000), "1m5s");
    assert_eq!(uptime(3_605_000_000_000), "1h0m5s");
    assert_eq!(uptime(90_000_000_000_000), "1d1h0m0s");
    assert_eq!(uptime(366 * 86_400_000_000_000), "1y1d0h0m0s");
}

#[test]
fn varz_sums_cores_with_nats_server_types() {
    let mut stats = BTreeMap::new();
    stats.insert("/varz".to_string(), 3);
    let v = json(&varz(
        &facts(),
        &cores(),
        ProcessStats {
            mem: 1234,
            cpu: 1.5,
        },
        &stats,
        NOW,
    ));
    for (k, n) in [
        ("connections", 3),
        ("total_connections", 3),
        ("subscriptions", 6),
        ("in_msgs", 10),
        ("in_bytes", 50),
        ("out_msgs", 10),
        ("out_bytes", 50),
        ("in_client_msgs", 10),
        ("out_client_bytes", 50),
        ("slow_consumers", 0),
        ("mem", 1234),
        ("port", 4222),
        ("http_port", 8222),
        ("max_payload", 1 << 20),
        ("ping_interval", 120_000_000_000),
        ("cores", 2),
    ] {
        assert_eq!(v[k].as_u64(), Some(n), "{k}");
    }
    assert_eq!(v["cpu"].as_f64(), Some(1.5));
    assert_eq!(v["server_id"], "NSERVER");
    assert_eq!(v["uptime"], "1m5s");
    assert_eq!(v["now"], "2027-01-15T08:00:00Z");
    assert!(v["start"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["http_req_stats"]["/varz"], 3);
    assert_eq!(v["jetstream"]["config"]["max_memory"], -1);
    assert_eq!(v["jetstream"]["config"]["store_dir"], "/tmp/js");
    assert!(v["cluster"].as_object().unwrap().is_empty());
    assert_eq!(v["slow_consumer_stats"]["clients"], 0);
}

#[test]
fn varz_without_jetstream_has_an_empty_block() {
    let mut f = facts();
    f.jetstream = None;
    let v = json(&varz(
        &f,
        &[],
        ProcessStats::default(),
        &BTreeMap::new(),
        NOW,
    ));
    assert!(v["jetstream"].as_object().unwrap().is_empty());
    assert_eq!(v["connections"], 0);
}

#[test]
fn healthz_bodies() {
    assert_eq!(healthz(true), (200, br#"{"status":"ok"}"#.to_vec()));
    let (code, body) = healthz(false);
    assert_eq!(code, 500);
    let v = json(&body);
    assert_eq!(v["status"], "error");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("ready for connections"));
}

#[test]
fn connz_sorts_pages_and_lists_subscriptions() {
    let opts = ConnzOpts::default();
    let v = json(&connz(&facts(), &cores(), &opts, NOW).unwrap());
    assert_eq!(v["num_connections"], 3);
    assert_eq!(v["total"], 3);
    assert_eq!(v["limit"], 1024);
    let cids: Vec<u64> = v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect();
    assert_eq!(cids, [1, 2, 3]);
    let c3 = &v["connections"][2];
    assert_eq!(c3["kind"], "Client");
    assert_eq!(c3["type"], "nats");
    assert_eq!(c3["out_msgs"], 10);
    assert_eq!(c3["out_bytes"], 50);
    assert_eq!(c3["subscriptions"], 2);
    assert_eq!(c3["idle"], "8s");
    assert_eq!(c3["uptime"], "9s");
    assert!(c3.get("subscriptions_list").is_none());
    assert!(c3.get("name").is_none());
    assert_eq!(v["connections"][0]["name"], "pub");

    let opts = ConnzOpts {
        sort: "msgs_to".into(),
        limit: 1,
        subs: SubsDetail::List,
        ..Default::default()
    };
    let v = json(&connz(&facts(), &cores(), &opts, NOW).unwrap());
    assert_eq!(v["num_connections"], 1);
    assert_eq!(v["total"], 3);
    assert_eq!(v["connections"][0]["cid"], 3);
    assert_eq!(
        v["connections"][0]["subscriptions_list"],
        serde_json::json!(["foo", "bar.>"])
    );

    let opts = ConnzOpts {
        offset: 2,
        subs: SubsDetail::Detail,
        ..Default::default()
    };
    let bytes = connz(&facts(), &cores(), &opts, NOW).unwrap();
    // Go's HTML-safe escape of `>`.
    assert!(String::from_utf8_lossy(&bytes).contains("bar.\\u003e"));
    let v = json(&bytes);
    assert_eq!(v["offset"], 2);
    let d = &v["connections"][0]["subscriptions_list_detail"][1];
    assert_eq!(d["subject"], "bar.>");
    assert_eq!(d["sid"], "2");
    assert_eq!(d["msgs"], 10);
    assert_eq!(d["cid"], 3);

    let bad = ConnzOpts {
        sort: "nope".into(),
        ..Default::default()
    };
    assert!(connz(&facts(), &cores(), &bad, NOW).is_err());
}

#[test]
fn subsz_counts_and_lists() {
    let v = json(&subsz(&facts(), &cores(), &SubszOpts::default(), NOW));
    assert_eq!(v["num_subscriptions"], 6);
    assert_eq!(v["total"], 0);
    assert_eq!(v["num_inserts"], 5);
    assert_eq!(v["num_removes"], 1);
    assert_eq!(v["num_matches"], 20);
    assert_eq!(v["num_cache"], 3);
    assert_eq!(v["cache_hit_rate"], 0.75);
    assert_eq!(v["max_fanout"], 3);
    assert_eq!(v["avg_fanout"], 2.0);
    assert!(v.get("subscriptions_list").is_none());
    let v = json(&subsz(
        &facts(),
        &cores(),
        &SubszOpts {
            list: true,
            ..Default::default()
        },
        NOW,
    ));
    assert_eq!(v["total"], 2);
    assert_eq!(v["subscriptions_list"][0]["account"], "$G");
    assert_eq!(v["subscriptions_list"][0]["subject"], "foo");
}

#[test]
fn index_links_the_endpoints() {
    let html = String::from_utf8(index("2.11.0")).unwrap();
    for p in ["varz", "connz", "subsz", "jsz", "healthz", "metrics"] {
        assert!(html.contains(&format!("href=./{p}>")), "{p}");
    }
}

#[test]
fn topology_endpoints_are_empty_forms() {
    let v = json(&topology("/routez", &facts(), NOW).unwrap());
    assert_eq!(v["num_routes"], 0);
    assert_eq!(v["routes"], serde_json::json!([]));
    assert_eq!(v["server_name"], "n1");
    let v = json(&topology("/gatewayz", &facts(), NOW).unwrap());
    assert!(v["outbound_gateways"].as_object().unwrap().is_empty());
    assert!(v["inbound_gateways"].as_object().unwrap().is_empty());
    let v = json(&topology("/leafz", &facts(), NOW).unwrap());
    assert_eq!(v["leafnodes"], 0);
    assert_eq!(v["leafs"], serde_json::json!([]));
    assert_eq!(v["server_id"], "NSERVER");
    assert!(topology("/jsz", &facts(), NOW).is_none());
}

fn js_cores() -> Vec<Arc<CoreSnapshot>> {
    use crate::jetstream::{ConsumerConfig, SequenceInfo, StorageType, StreamConfig};
    use crate::streams::{ConsumerView, JsCoreView, StreamView};
    let stream = |name: &str, storage, messages, bytes, consumers: Vec<ConsumerView>| StreamView {
        config: StreamConfig {
            name: name.into(),
            subjects: vec![format!("{name}.>")],
            storage,
            ..Default::default()
        },
        created_ns: NOW - 5_000_000_000,
        state: crate::jetstream::StreamStateView {
            messages,
            bytes,
            first_seq: 1,
            first_ts_ns: NOW - 4_000_000_000,
            last_seq: messages,
            last_ts_ns: NOW - 3_000_000_000,
            num_subjects: 3,
            consumer_count: consumers.len() as u64,
            ..Default::default()
        },
        consumers,
    };
    let c1 = ConsumerView {
        name: "C1".into(),
        created_ns: NOW - 2_000_000_000,
        config: ConsumerConfig {
            durable_name: "C1".into(),
            ..Default::default()
        },
        delivered: SequenceInfo {
            consumer_seq: 4,
            stream_seq: 4,
            last_active_ns: None,
        },
        ack_floor: SequenceInfo {
            consumer_seq: 2,
            stream_seq: 2,
            last_active_ns: None,
        },
        num_ack_pending: 2,
        num_redelivered: 1,
        num_waiting: 0,
        num_pending: 6,
    };
    let a = CoreSnapshot {
        core: 0,
        js: Some(JsCoreView {
            streams: 1,
            consumers: 0,
            messages: 5,
            bytes: 100,
            memory: 100,
            reserved_memory: 1000,
            api_total: 7,
            api_errors: 1,
            stream_detail: vec![stream("ZMEM", StorageType::Memory, 5, 100, vec![])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = CoreSnapshot {
        core: 1,
        js: Some(JsCoreView {
            streams: 1,
            consumers: 1,
            messages: 10,
            bytes: 390,
            storage: 390,
            api_errors: 2,
            stream_detail: vec![stream("AFILE", StorageType::File, 10, 390, vec![c1])],
            ..Default::default()
        }),
        ..Default::default()
    };
    // Both in `$G`: its per-account views are the totals.
    let with_account = |mut c: CoreSnapshot| {
        c.js_accounts = vec![(0, c.js.clone().unwrap())];
        Arc::new(c)
    };
    vec![with_account(a), with_account(b)]
}

#[test]
fn jsz_sums_cores_in_nats_server_shape() {
    use super::super::jsz::{jsz, JszOpts};
    let v = json(&jsz(&facts(), &js_cores(), JszOpts::default(), None, NOW));
    for (k, n) in [
        ("streams", 2),
        ("consumers", 1),
        ("messages", 15),
        ("bytes", 490),
        ("memory", 100),
        ("storage", 390),
        ("reserved_memory", 1000),
        ("reserved_storage", 0),
        ("accounts", 1),
        ("ha_assets", 0),
        ("total", 1),
    ] {
        assert_eq!(v[k], n, "{k}: {v:#}");
    }
    assert_eq!(
        v["api"],
        serde_json::json!({"level": crate::streams::API_LEVEL, "total": 7, "errors": 3})
    );
    assert_eq!(v["server_id"], "NSERVER");
    assert_eq!(v["config"]["store_dir"], "/tmp/js");
    assert_eq!(v["config"]["max_memory"], -1);
    assert!(v.get("account_details").is_none());

    // accounts only: the $G account without streams; its reserved bytes are its limits.
    let opts = JszOpts {
        accounts: true,
        ..Default::default()
    };
    let v = json(&jsz(&facts(), &js_cores(), opts, None, NOW));
    let acc = &v["account_details"][0];
    assert_eq!(
        (acc["name"].as_str(), acc["id"].as_str()),
        (Some("$G"), Some("$G"))
    );
    assert_eq!(acc["storage"], 390);
    assert_eq!(acc["reserved_memory"], u64::MAX);
    assert_eq!(acc["api"]["level"], 0);
    assert!(acc.get("stream_detail").is_none());

    // consumers imply streams; without config no configs; streams sorted by name.
    let opts = JszOpts {
        consumers: true,
        ..Default::default()
    };
    let v = json(&jsz(&facts(), &js_cores(), opts, None, NOW));
    let sd = &v["account_details"][0]["stream_detail"];
    assert_eq!(sd[0]["name"], "AFILE");
    assert_eq!(sd[1]["name"], "ZMEM");
    assert!(sd[0].get("config").is_none());
    assert_eq!(sd[0]["cluster"]["leader"], "n1");
    let st = &sd[0]["state"];
    assert_eq!(st["messages"], 10);
    assert_eq!(st["num_subjects"], 3);
    assert_eq!(st["consumer_count"], 1);
    assert!(st["first_ts"].as_str().unwrap().ends_with('Z'));
    assert!(st.get("num_deleted").is_none());
    assert!(
        sd[1].get("consumer_detail").is_none(),
        "no consumers: omitted"
    );
    let cd = &sd[0]["consumer_detail"][0];
    assert_eq!(cd["stream_name"], "AFILE");
    assert_eq!(cd["name"], "C1");
    assert!(cd.get("config").is_none());
    assert_eq!(
        cd["delivered"],
        serde_json::json!({"consumer_seq": 4, "stream_seq": 4})
    );
    assert_eq!(cd["ack_floor"]["stream_seq"], 2);
    for (k, n) in [
        ("num_ack_pending", 2),
        ("num_redelivered", 1),
        ("num_waiting", 0),
        ("num_pending", 6),
    ] {
        assert_eq!(cd[k], n, "{k}");
    }
    assert!(cd["ts"].is_string());

    // config adds the stored configs (Go's HTML-safe escapes, as nats-server).
    let opts = JszOpts {
        consumers: true,
        config: true,
        ..Default::default()
    };
    let raw = jsz(&facts(), &js_cores(), opts, None, NOW);
    assert!(String::from_utf8_lossy(&raw).contains("AFILE.\\u003e"));
    let v = json(&raw);
    let sd = &v["account_details"][0]["stream_detail"][0];
    assert_eq!(sd["config"]["subjects"][0], "AFILE.>");
    assert_eq!(sd["config"]["storage"], "file");
    assert_eq!(sd["consumer_detail"][0]["config"]["durable_name"], "C1");
}

#[test]
fn varz_has_jetstream_stats() {
    let v = json(&varz(
        &facts(),
        &js_cores(),
        ProcessStats::default(),
        &BTreeMap::new(),
        NOW,
    ));
    let s = &v["jetstream"]["stats"];
    assert_eq!(s["memory"], 100);
    assert_eq!(s["storage"], 390);
    assert_eq!(s["accounts"], 1);
    assert_eq!(s["api"]["total"], 7);
    assert_eq!(s["api"]["errors"], 3);
    assert_eq!(v["jetstream"]["config"]["store_dir"], "/tmp/js");
}
