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
    assert_eq!(code, 503);
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
    let v = json(&subsz(&facts(), &cores(), false, 0, 0, NOW));
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
    let v = json(&subsz(&facts(), &cores(), true, 0, 0, NOW));
    assert_eq!(v["total"], 2);
    assert_eq!(v["subscriptions_list"][0]["account"], "$G");
    assert_eq!(v["subscriptions_list"][0]["subject"], "foo");
}

#[test]
fn index_links_the_endpoints() {
    let html = String::from_utf8(index("2.11.0")).unwrap();
    for p in ["varz", "connz", "subsz", "healthz", "metrics"] {
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
