//! Atomic batch publish throughput through one server, measured with async-nats: P publishers
//! (one connection each) commit batches of N messages into one file (or memory) stream with
//! `allow_atomic`. Messages 1..N-1 of a batch go out without a reply subject (nothing to wait
//! for), the commit (`Nats-Batch-Commit: 1`) is a request; each publisher has one batch in
//! flight at a time. Every commit ack must say `batch` and `count` = N with a sequence above
//! the publisher's previous one, and the stream must hold exactly the messages committed.
//! Used by scripts/batch-bench.sh to compare natrix and nats-server.
//!
//!   cargo run --release --example batch_bench -- URL BATCHES BATCH_SIZE MSG_SIZE PUBS [STORAGE]
//!
//! Prints one JSON line: `{"batches":…,"batch_size":…,"size":…,"pubs":…,"secs":…,
//! "msgs_per_sec":…,"batches_per_sec":…,"commit_p50_us":…,"commit_p99_us":…}`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

const STREAM: &str = "BATCHBENCH";
const API_TIMEOUT: Duration = Duration::from_secs(10);

async fn api(c: &async_nats::Client, subject: &str, body: Value) -> Value {
    let reply = tokio::time::timeout(
        API_TIMEOUT,
        c.request(subject.to_owned(), Bytes::from(body.to_string())),
    )
    .await
    .expect("api timeout")
    .expect("api request");
    serde_json::from_slice(&reply.payload).expect("api JSON")
}

/// One publisher: `batches` batches of `size` messages; returns each commit's latency (µs).
async fn publisher(
    c: async_nats::Client,
    p: usize,
    batches: u64,
    size: u64,
    payload: Bytes,
) -> Vec<u64> {
    let subject = format!("batch.{p}");
    let mut latencies = Vec::with_capacity(batches as usize);
    let mut last_seq = 0;
    for b in 0..batches {
        let id = format!("p{p}b{b}");
        for seq in 1..size {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Batch-Id", id.as_str());
            h.insert("Nats-Batch-Sequence", seq.to_string().as_str());
            c.publish_with_headers(subject.clone(), h, payload.clone())
                .await
                .expect("publish");
        }
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Batch-Id", id.as_str());
        h.insert("Nats-Batch-Sequence", size.to_string().as_str());
        h.insert("Nats-Batch-Commit", "1");
        let t0 = Instant::now();
        let ack = tokio::time::timeout(
            API_TIMEOUT,
            c.request_with_headers(subject.clone(), h, payload.clone()),
        )
        .await
        .expect("commit ack timeout")
        .expect("commit request");
        latencies.push(t0.elapsed().as_micros() as u64);
        let v: Value = serde_json::from_slice(&ack.payload).unwrap_or_else(|e| {
            panic!(
                "ack not JSON ({e}): {}",
                String::from_utf8_lossy(&ack.payload)
            )
        });
        assert_eq!(v["batch"], id.as_str(), "commit refused: {v}");
        assert_eq!(v["count"], size, "{v}");
        let seq = v["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "sequence went back: {v}");
        last_seq = seq;
    }
    latencies
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: batch_bench URL BATCHES BATCH_SIZE MSG_SIZE PUBS [file|memory]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let batches: u64 = args[2].parse()?;
    let size: u64 = args[3].parse()?;
    let msg_size: usize = args[4].parse()?;
    let pubs: usize = args[5].parse()?;
    let storage = args.get(6).cloned().unwrap_or_else(|| "file".into());

    let ctl = async_nats::connect(url.as_str()).await?;
    let _ = api(
        &ctl,
        &format!("$JS.API.STREAM.DELETE.{STREAM}"),
        Value::Null,
    )
    .await;
    let created = api(
        &ctl,
        &format!("$JS.API.STREAM.CREATE.{STREAM}"),
        json!({"name": STREAM, "subjects": ["batch.>"], "storage": storage, "allow_atomic": true}),
    )
    .await;
    assert!(created.get("error").is_none(), "create: {created}");

    let mut clients = Vec::new();
    for _ in 0..pubs {
        clients.push(async_nats::connect(url.as_str()).await?);
    }
    let payload = Bytes::from(vec![b'b'; msg_size]);
    let per_pub = batches / pubs as u64;
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(p, c)| tokio::spawn(publisher(c, p, per_pub, size, payload.clone())))
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let committed = per_pub * pubs as u64;
    let info = api(&ctl, &format!("$JS.API.STREAM.INFO.{STREAM}"), Value::Null).await;
    let stored = info["state"]["messages"].as_u64().unwrap_or(0);
    assert_eq!(
        stored,
        committed * size,
        "stream holds {stored} messages: {info}"
    );
    println!(
        "{}",
        json!({
            "batches": committed,
            "batch_size": size,
            "size": msg_size,
            "pubs": pubs,
            "storage": storage,
            "secs": secs,
            "msgs_per_sec": (committed * size) as f64 / secs,
            "batches_per_sec": committed as f64 / secs,
            "commit_p50_us": percentile(&latencies, 0.5),
            "commit_p99_us": percentile(&latencies, 0.99),
        })
    );
    Ok(())
}
