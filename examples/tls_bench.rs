//! Pub/sub throughput through one server, with or without TLS, measured with async-nats (a
//! `nats bench`-like run: one publisher connection, one subscriber connection, one subject).
//! Used by scripts/tls-bench.sh to compare natrix and nats-server with TLS on.
//!
//!   cargo run --release --example tls_bench -- URL MSGS SIZE [CA_FILE]
//!
//! With CA_FILE the connections require TLS and trust that CA. Prints one JSON line:
//! `{"msgs":…,"size":…,"tls":…,"secs":…,"msgs_per_sec":…,"mb_per_sec":…,"received":…}`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;

const SUBJECT: &str = "bench.tls";
/// Longest a run may take before it reports what arrived.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn options(ca: &Option<PathBuf>) -> async_nats::ConnectOptions {
    let opts = async_nats::ConnectOptions::new().subscription_capacity(1 << 20);
    match ca {
        Some(ca) => opts.require_tls(true).add_root_certificates(ca.clone()),
        None => opts,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: tls_bench URL MSGS SIZE [CA_FILE]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let msgs: u64 = args[2].parse()?;
    let size: usize = args[3].parse()?;
    let ca = args.get(4).map(PathBuf::from);

    let sub_client = options(&ca).connect(url.as_str()).await?;
    let pub_client = options(&ca).connect(url.as_str()).await?;
    let mut sub = sub_client.subscribe(SUBJECT).await?;
    // The subscription is visible to the publisher once a probe published after it arrives.
    let mut probe = sub_client.subscribe("bench.probe").await?;
    loop {
        pub_client.publish("bench.probe", "p".into()).await?;
        pub_client.flush().await?;
        if tokio::time::timeout(Duration::from_millis(50), probe.next())
            .await
            .is_ok()
        {
            break;
        }
    }

    let payload = bytes::Bytes::from(vec![b'x'; size]);
    let start = Instant::now();
    let publisher = tokio::spawn(async move {
        for _ in 0..msgs {
            pub_client.publish(SUBJECT, payload.clone()).await?;
        }
        pub_client.flush().await?;
        Ok::<_, async_nats::Error>(pub_client)
    });
    let mut received = 0u64;
    let deadline = start + RUN_LIMIT;
    while received < msgs {
        match tokio::time::timeout_at(deadline.into(), sub.next()).await {
            Ok(Some(_)) => received += 1,
            _ => break,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = publisher.await;
    println!(
        "{{\"msgs\":{msgs},\"size\":{size},\"tls\":{},\"secs\":{secs:.3},\"msgs_per_sec\":{:.0},\"mb_per_sec\":{:.1},\"received\":{received}}}",
        ca.is_some(),
        received as f64 / secs,
        received as f64 * size as f64 / secs / 1e6,
    );
    Ok(())
}
