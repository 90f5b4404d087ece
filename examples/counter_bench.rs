//! Distributed counter increments per second through one server, measured with async-nats:
//! one connection publishes `INCRS` empty messages with `Nats-Incr: 1` into a file (or
//! memory) stream with `allow_msg_counter`, spread round robin over `SUBJECTS` subjects, each
//! a request whose ack (with `"val"`) is awaited, `WINDOW` of them in flight at most. Every
//! ack must carry a `val`; at the end each subject's last total must equal the increments sent
//! to it. Used by scripts/counter-bench.sh to compare natrix and nats-server.
//!
//!   cargo run --release --example counter_bench -- URL INCRS WINDOW [SUBJECTS] [file|memory]
//!
//! Prints one JSON line: `{"incrs":…,"window":…,"subjects":…,"secs":…,"incrs_per_sec":…,
//! "ack_p50_us":…,"ack_p99_us":…}`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};

const STREAM: &str = "COUNTERBENCH";
const TIMEOUT: Duration = Duration::from_secs(10);

async fn api(c: &async_nats::Client, subject: &str, body: Value) -> Value {
    let payload = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let reply = tokio::time::timeout(TIMEOUT, c.request(subject.to_owned(), payload))
        .await
        .expect("api timeout")
        .expect("api request");
    serde_json::from_slice(&reply.payload).expect("api JSON")
}

/// One increment: its ack latency (µs).
async fn incr(c: async_nats::Client, subject: String) -> u64 {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Incr", "1");
    let t0 = Instant::now();
    let ack = tokio::time::timeout(TIMEOUT, c.request_with_headers(subject, h, Bytes::new()))
        .await
        .expect("ack timeout")
        .expect("increment request");
    let us = t0.elapsed().as_micros() as u64;
    let v: Value = serde_json::from_slice(&ack.payload).unwrap_or_else(|e| {
        panic!(
            "ack not JSON ({e}): {}",
            String::from_utf8_lossy(&ack.payload)
        )
    });
    assert!(v["val"].is_string(), "increment refused: {v}");
    us
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: counter_bench URL INCRS WINDOW [SUBJECTS] [file|memory]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let incrs: u64 = args[2].parse()?;
    let window: usize = args[3].parse::<usize>()?.max(1);
    let subjects: u64 = args.get(4).map_or(Ok(16), |s| s.parse())?.max(1);
    let storage = args.get(5).cloned().unwrap_or_else(|| "file".into());

    let c = async_nats::connect(url.as_str()).await?;
    let _ = api(&c, &format!("$JS.API.STREAM.DELETE.{STREAM}"), Value::Null).await;
    let created = api(
        &c,
        &format!("$JS.API.STREAM.CREATE.{STREAM}"),
        json!({"name": STREAM, "subjects": ["cnt.>"], "storage": storage,
               "allow_msg_counter": true}),
    )
    .await;
    assert!(created.get("error").is_none(), "create: {created}");

    let mut latencies = Vec::with_capacity(incrs as usize);
    let mut in_flight = FuturesUnordered::new();
    let start = Instant::now();
    for i in 0..incrs {
        if in_flight.len() >= window {
            latencies.push(in_flight.next().await.expect("an increment in flight"));
        }
        in_flight.push(incr(c.clone(), format!("cnt.{}", i % subjects)));
    }
    while let Some(us) = in_flight.next().await {
        latencies.push(us);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();

    for s in 0..subjects.min(incrs) {
        let want = incrs / subjects + u64::from(s < incrs % subjects);
        let r = api(
            &c,
            &format!("$JS.API.STREAM.MSG.GET.{STREAM}"),
            json!({"last_by_subj": format!("cnt.{s}")}),
        )
        .await;
        let data = r["message"]["data"].as_str().expect("last message");
        let body = base64_decode(data);
        let v: Value = serde_json::from_slice(&body).expect("counter body");
        assert_eq!(v["val"], want.to_string(), "cnt.{s}: {r}");
    }
    println!(
        "{}",
        json!({
            "incrs": incrs,
            "window": window,
            "subjects": subjects,
            "secs": secs,
            "incrs_per_sec": incrs as f64 / secs,
            "ack_p50_us": percentile(&latencies, 0.50),
            "ack_p99_us": percentile(&latencies, 0.99),
        })
    );
    Ok(())
}

/// Standard base64 (the `data` of a STREAM.MSG.GET reply).
fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}
