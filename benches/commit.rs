//! The group-commit path on this machine's disk (`natrix::shell::commit_bench`): one stream,
//! `sync = "always"`, batches of 128 messages with two batches in flight (a publisher window
//! of 256), 128 B and 1 KiB payloads — with and without pipelined commits (the next batch is
//! written while the last one's fdatasync runs) and segments zeroed ahead of the records (an
//! fdatasync with no metadata to flush). Throughput in messages acknowledged per second.
//!
//! The store lives in `NATRIX_BENCH_DIR` (default: the system temp dir); on tmpfs fdatasync
//! costs nothing and the variants look alike.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix::shell::commit_bench::{run, CommitRun};
use natrix::shell::StorageTuning;

const MSGS_PER_BATCH: usize = 128;

fn commit(c: &mut Criterion) {
    let dir = std::env::var_os("NATRIX_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let variants = [
        ("serial", false, false),
        ("zeroed", false, true),
        ("pipelined", true, false),
        ("pipelined+zeroed", true, true),
    ];
    for payload in [128usize, 1024] {
        let mut group = c.benchmark_group(format!("commit_{payload}B"));
        group.throughput(Throughput::Elements(MSGS_PER_BATCH as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        for (name, pipelined, zero_ahead) in variants {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    run(
                        &dir,
                        CommitRun {
                            batches: iters,
                            msgs_per_batch: MSGS_PER_BATCH,
                            payload,
                            in_flight: 2,
                            tuning: StorageTuning {
                                pipelined,
                                zero_ahead,
                            },
                        },
                    )
                    .elapsed
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, commit);
criterion_main!(benches);
