//! Storage-core micro-benchmarks: record append (encode into a segment buffer) in MB/s and
//! records/s for 16 B and 1 KiB payloads, sequential segment scan (CRC check + decode), and the
//! stream state machine's publish and recovery replay rates.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix::store::record::{encode_into, Record};
use natrix::store::segment::Scanner;
use natrix::store::stream::{PublishOutcome, Stream, StreamLimits};

/// Records per measured batch.
const BATCH: usize = 1000;
/// Payload sizes measured.
const SIZES: [usize; 2] = [16, 1024];
const SUBJECT: &[u8] = b"orders.created.eu";

fn records(payload_bytes: usize, n: usize) -> Vec<Record> {
    let subject = Bytes::from_static(SUBJECT);
    let payload = Bytes::from(vec![0xA5u8; payload_bytes]);
    (0..n as u64)
        .map(|i| Record::Message {
            seq: i + 1,
            ts_ns: 1_700_000_000_000_000_000 + i,
            subject: subject.clone(),
            headers: Bytes::new(),
            payload: payload.clone(),
        })
        .collect()
}

fn segment_of(payload_bytes: usize, target_bytes: usize) -> (Vec<u8>, u64) {
    let one = records(payload_bytes, 1)[0].encoded_len();
    let n = target_bytes / one;
    let mut seg = Vec::with_capacity(target_bytes);
    for r in records(payload_bytes, n) {
        encode_into(&r, &mut seg);
    }
    (seg, n as u64)
}

fn append(c: &mut Criterion) {
    for (name, per_record) in [("append_bytes", false), ("append_records", true)] {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            let recs = records(size, BATCH);
            let encoded: usize = recs.iter().map(Record::encoded_len).sum();
            group.throughput(if per_record {
                Throughput::Elements(BATCH as u64)
            } else {
                Throughput::Bytes(encoded as u64)
            });
            let mut buf = Vec::with_capacity(encoded);
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{size}B")),
                &recs,
                |b, recs| {
                    b.iter(|| {
                        buf.clear();
                        for r in recs {
                            encode_into(r, &mut buf);
                        }
                        black_box(buf.len())
                    })
                },
            );
        }
        group.finish();
    }
}

fn scan(c: &mut Criterion) {
    for (name, per_record) in [("scan_bytes", false), ("scan_records", true)] {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            let (seg, n) = segment_of(size, 8 << 20);
            group.throughput(if per_record {
                Throughput::Elements(n)
            } else {
                Throughput::Bytes(seg.len() as u64)
            });
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{size}B")),
                &seg,
                |b, seg| {
                    b.iter(|| {
                        let mut sc = Scanner::new(seg);
                        let count = sc.by_ref().count();
                        assert_eq!(sc.problem(), None);
                        black_box(count)
                    })
                },
            );
        }
        group.finish();
    }
}

fn stream_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    // Steady state with discard-old eviction, so memory stays bounded across iterations.
    let limits = StreamLimits {
        max_msgs: 100_000,
        ..StreamLimits::default()
    };
    for size in SIZES {
        group.throughput(Throughput::Elements(BATCH as u64));
        let payload = vec![0x5Au8; size];
        let mut stream = Stream::new("BENCH".into(), limits.clone(), 0);
        let mut now = 1_700_000_000_000_000_000u64;
        group.bench_function(BenchmarkId::new("publish", format!("{size}B")), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    now += 1;
                    match stream.publish(SUBJECT, b"", &payload, now) {
                        Ok(PublishOutcome::Stored { effects, .. }) => {
                            black_box(effects);
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
        });
    }
    // Recovery: scan + replay of 100,000 16 B messages (x10 for a 1,000,000-message stream).
    let (seg, n) = segment_of(16, 100_000 * records(16, 1)[0].encoded_len());
    group.throughput(Throughput::Elements(n));
    group.bench_function("replay_100k_16B", |b| {
        b.iter(|| {
            let mut s = Stream::new("BENCH".into(), StreamLimits::default(), 0);
            for (_, rec) in Scanner::new(&seg) {
                s.replay(rec);
            }
            black_box(s.len())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = append, scan, stream_ops
}
criterion_main!(benches);
