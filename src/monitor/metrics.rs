//! `/metrics` in the Prometheus text format (sans-IO): every top-level number of `/varz`
//! under prometheus-nats-exporter's names (`gnatsd_varz_<field>`, labelled `server_id`),
//! `/connz`'s counts as `gnatsd_connz_*`, and natrix's own per-core series
//! (`natrix_core_*{core="i"}`).

use std::fmt::Write;
use std::sync::Arc;

use super::snapshot::CoreSnapshot;

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One gauge with its HELP and TYPE lines, labelled with the server id.
fn server_gauge(
    out: &mut String,
    name: &str,
    help: &str,
    server_id: &str,
    v: impl std::fmt::Display,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name}{{server_id=\"{server_id}\"}} {v}");
}

/// Renders the metrics from `/varz`'s JSON (already rendered) and the cores' snapshots.
pub fn metrics(varz_json: &[u8], cores: &[Arc<CoreSnapshot>]) -> String {
    let mut out = String::new();
    let varz: serde_json::Value = serde_json::from_slice(varz_json).unwrap_or_default();
    let server_id = escape_label(varz["server_id"].as_str().unwrap_or_default());
    if let Some(fields) = varz.as_object() {
        for (k, v) in fields {
            let Some(n) = v.as_f64() else { continue };
            server_gauge(&mut out, &format!("gnatsd_varz_{k}"), k, &server_id, n);
        }
    }
    // JetStream usage (`/varz` `jetstream.stats`), when JetStream is on.
    let js = &varz["jetstream"]["stats"];
    let mut js_fields: Vec<(String, f64)> = Vec::new();
    if let Some(stats) = js.as_object() {
        for (k, v) in stats {
            if let Some(n) = v.as_f64() {
                js_fields.push((k.clone(), n));
            }
        }
        for k in ["total", "errors"] {
            if let Some(n) = js["api"][k].as_f64() {
                js_fields.push((format!("api_{k}"), n));
            }
        }
    }
    for (k, n) in js_fields {
        let name = format!("gnatsd_varz_jetstream_stats_{k}");
        server_gauge(
            &mut out,
            &name,
            &format!("jetstream.stats.{k}"),
            &server_id,
            n,
        );
    }
    let conns: usize = cores.iter().map(|c| c.connections as usize).sum();
    for (k, v) in [("num_connections", conns), ("total", conns)] {
        server_gauge(&mut out, &format!("gnatsd_connz_{k}"), k, &server_id, v);
    }
    type Field = fn(&CoreSnapshot) -> u64;
    let series: [(&str, &str, &str, Field); 10] = [
        (
            "in_msgs",
            "counter",
            "Messages published by this core's clients",
            |c| c.stats.in_msgs,
        ),
        (
            "in_bytes",
            "counter",
            "Message bytes published by this core's clients",
            |c| c.stats.in_bytes,
        ),
        (
            "out_msgs",
            "counter",
            "Messages delivered to this core's clients",
            |c| c.stats.out_msgs,
        ),
        (
            "out_bytes",
            "counter",
            "Message bytes delivered to this core's clients",
            |c| c.stats.out_bytes,
        ),
        (
            "connections",
            "gauge",
            "Open connections on this core",
            |c| c.connections,
        ),
        (
            "subscriptions",
            "gauge",
            "Subscriptions on this core",
            |c| c.subscriptions,
        ),
        (
            "ring_items_sent",
            "counter",
            "Items pushed toward other cores' rings",
            |c| c.stats.ring_items_sent,
        ),
        (
            "ring_items_received",
            "counter",
            "Items taken off other cores' rings",
            |c| c.stats.ring_items_received,
        ),
        (
            "slow_consumers",
            "counter",
            "Connections dropped as slow consumers",
            |c| c.stats.slow_consumers,
        ),
        (
            "total_connections",
            "counter",
            "Connections accepted since start",
            |c| c.stats.total_connections,
        ),
    ];
    for (field, kind, help, get) in series {
        let name = format!("natrix_core_{field}");
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for c in cores {
            let _ = writeln!(
                out,
                "{name}{{server_id=\"{server_id}\",core=\"{}\"}} {}",
                c.core,
                get(c)
            );
        }
    }
    type JsField = fn(&crate::streams::JsCoreView) -> u64;
    let js_series: [(&str, &str, JsField); 4] = [
        ("streams", "Streams this core owns", |v| v.streams),
        ("consumers", "Consumers of this core's streams", |v| {
            v.consumers
        }),
        ("messages", "Messages stored in this core's streams", |v| {
            v.messages
        }),
        ("bytes", "Bytes stored in this core's streams", |v| v.bytes),
    ];
    if cores.iter().any(|c| c.js.is_some()) {
        for (field, help, get) in js_series {
            let name = format!("natrix_core_jetstream_{field}");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for c in cores {
                let v = c.js.as_ref().map_or(0, get);
                let _ = writeln!(
                    out,
                    "{name}{{server_id=\"{server_id}\",core=\"{}\"}} {v}",
                    c.core
                );
            }
        }
    }
    if cores.iter().any(|c| c.commits.is_some()) {
        commit_histograms(&mut out, &server_id, cores);
    }
    out
}

/// `natrix_core_jetstream_commit_size` (ops per group commit) and
/// `natrix_core_jetstream_commit_seconds` (write + fdatasync per group commit) and
/// `natrix_core_jetstream_fdatasync_seconds` (its fdatasync alone), per core.
fn commit_histograms(out: &mut String, server_id: &str, cores: &[Arc<CoreSnapshot>]) {
    type Pick = fn(&super::hist::CommitHistograms) -> &super::hist::Histogram;
    let hists: [(&str, &str, f64, Pick); 3] = [
        (
            "natrix_core_jetstream_commit_size",
            "Storage ops per JetStream group commit",
            1.0,
            |c| &c.size,
        ),
        (
            "natrix_core_jetstream_commit_seconds",
            "Duration of a JetStream group commit (segment writes and fdatasyncs)",
            1e-6,
            |c| &c.micros,
        ),
        (
            "natrix_core_jetstream_fdatasync_seconds",
            "Duration of the fdatasync of a JetStream group commit",
            1e-6,
            |c| &c.fdatasync,
        ),
    ];
    for (name, help, scale, pick) in hists {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for c in cores {
            let Some(h) = c.commits.as_ref().map(pick) else {
                continue;
            };
            let labels = format!("server_id=\"{server_id}\",core=\"{}\"", c.core);
            for (bound, n) in h.cumulative() {
                let le = bound.map_or("+Inf".to_owned(), |b| (b as f64 * scale).to_string());
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum as f64 * scale);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varz_numbers_and_core_series() {
        let varz = br#"{"server_id":"NX","version":"2.15.1","in_msgs":7,"cpu":1.5,"cluster":{},
            "jetstream":{"stats":{"memory":0,"storage":390,"api":{"level":1,"total":4,"errors":1}}}}"#;
        let mut a = CoreSnapshot {
            core: 0,
            connections: 2,
            ..Default::default()
        };
        a.stats.in_msgs = 3;
        a.stats.ring_items_sent = 9;
        let b = CoreSnapshot {
            core: 1,
            js: Some(crate::streams::JsCoreView {
                streams: 2,
                ..Default::default()
            }),
            commits: Some({
                let mut h = crate::monitor::hist::CommitHistograms::default();
                h.record(3, 420);
                h.record_fdatasync(180);
                h
            }),
            ..Default::default()
        };
        let text = metrics(varz, &[Arc::new(a), Arc::new(b)]);
        assert!(text.contains("# TYPE gnatsd_varz_in_msgs gauge\n"));
        assert!(text.contains("gnatsd_varz_in_msgs{server_id=\"NX\"} 7\n"));
        assert!(text.contains("gnatsd_varz_cpu{server_id=\"NX\"} 1.5\n"));
        assert!(!text.contains("gnatsd_varz_version"));
        assert!(!text.contains("gnatsd_varz_cluster"));
        assert!(text.contains("gnatsd_connz_num_connections{server_id=\"NX\"} 2\n"));
        assert!(text.contains("natrix_core_in_msgs{server_id=\"NX\",core=\"0\"} 3\n"));
        assert!(text.contains("natrix_core_in_msgs{server_id=\"NX\",core=\"1\"} 0\n"));
        assert!(text.contains("# TYPE natrix_core_ring_items_sent counter\n"));
        assert!(text.contains("natrix_core_ring_items_sent{server_id=\"NX\",core=\"0\"} 9\n"));
        assert!(text.contains("gnatsd_varz_jetstream_stats_storage{server_id=\"NX\"} 390\n"));
        assert!(text.contains("gnatsd_varz_jetstream_stats_api_errors{server_id=\"NX\"} 1\n"));
        assert!(text.contains("natrix_core_jetstream_streams{server_id=\"NX\",core=\"1\"} 2\n"));
        assert!(text.contains("natrix_core_jetstream_streams{server_id=\"NX\",core=\"0\"} 0\n"));
        assert!(text.contains("# TYPE natrix_core_jetstream_commit_seconds histogram\n"));
        assert!(text.contains(
            "natrix_core_jetstream_fdatasync_seconds_bucket{server_id=\"NX\",core=\"1\",le=\"0.00025\"} 1\n"
        ));
        assert!(text.contains(
            "natrix_core_jetstream_commit_seconds_bucket{server_id=\"NX\",core=\"1\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "natrix_core_jetstream_commit_size_bucket{server_id=\"NX\",core=\"1\",le=\"+Inf\"} 1\n"
        ));
        assert!(
            text.contains("natrix_core_jetstream_commit_size_sum{server_id=\"NX\",core=\"1\"} 3\n")
        );
        // Every sample line is `name{labels} number`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("sample has a value");
            value.parse::<f64>().expect("numeric value");
        }
    }

    /// The shipped Grafana dashboard asks only for series `/metrics` exposes.
    #[test]
    fn grafana_dashboard_uses_exposed_series() {
        let dash: serde_json::Value =
            serde_json::from_str(include_str!("../../config/grafana-natrix-cores.json"))
                .expect("dashboard is JSON");
        let varz = br#"{"server_id":"NX","cpu":1.5,"mem":10}"#;
        let core = CoreSnapshot {
            js: Some(Default::default()),
            commits: Some(Default::default()),
            ..Default::default()
        };
        let text = metrics(varz, &[Arc::new(core)]);
        let mut seen = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                for (at, _) in expr
                    .match_indices("natrix_core_")
                    .chain(expr.match_indices("gnatsd_"))
                {
                    let name: String = expr[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        text.contains(&format!("\n{name}{{")),
                        "panel {:?} uses {name}, which /metrics does not expose",
                        panel["title"]
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen >= 15, "only {seen} series found in the dashboard");
    }
}
