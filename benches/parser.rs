//! Throughput of the client-protocol parser on realistic PUB/HPUB traffic.
//!
//! Reports bytes/s and ops/s for a mix of 16 B and 1 KiB payloads (with and without
//! headers and reply subjects), for small PUBs alone (the worst case in bytes/s), and for
//! the mix arriving in 4 KiB socket-sized reads (includes the copy into the read buffer).

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use natrix::protocol::{ClientOp, Parser};

const MAX_CONTROL_LINE_BYTES: usize = 4096;
const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Ops per generated workload: large enough to defeat caching tricks, small enough for L2.
const OPS_PER_WORKLOAD: usize = 4096;

/// One kind of message in the generated traffic.
#[derive(Clone, Copy)]
enum Kind {
    Pub { payload_bytes: usize, reply: bool },
    Hpub { payload_bytes: usize },
}

/// Appends one op of `kind` to `wire`, varying subjects like a real application would.
fn push_op(wire: &mut Vec<u8>, kind: Kind, i: usize) {
    let subject = format!("orders.region{}.created.{}", i % 7, i % 1000);
    match kind {
        Kind::Pub {
            payload_bytes,
            reply,
        } => {
            let reply = if reply {
                format!(" _INBOX.Qx7fKpL2mN9vR3sT5wY8zA.{i}")
            } else {
                String::new()
            };
            wire.extend_from_slice(format!("PUB {subject}{reply} {payload_bytes}\r\n").as_bytes());
            wire.extend(std::iter::repeat_n(b'p', payload_bytes));
        }
        Kind::Hpub { payload_bytes } => {
            let headers = format!("NATS/1.0\r\nNats-Msg-Id: msg-{i:08}\r\n\r\n");
            let total = headers.len() + payload_bytes;
            wire.extend_from_slice(
                format!("HPUB {subject} {} {total}\r\n", headers.len()).as_bytes(),
            );
            wire.extend_from_slice(headers.as_bytes());
            wire.extend(std::iter::repeat_n(b'h', payload_bytes));
        }
    }
    wire.extend_from_slice(b"\r\n");
}

/// Serialises `OPS_PER_WORKLOAD` ops cycling through `pattern`.
fn workload(pattern: &[Kind]) -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..OPS_PER_WORKLOAD {
        push_op(&mut wire, pattern[i % pattern.len()], i);
    }
    wire
}

/// The realistic mix: mostly small publishes, some requests, some 1 KiB bodies, headers.
fn mix_pattern() -> Vec<Kind> {
    let small = |reply| Kind::Pub {
        payload_bytes: 16,
        reply,
    };
    let large = Kind::Pub {
        payload_bytes: 1024,
        reply: false,
    };
    vec![
        small(false),
        small(false),
        small(true),
        large,
        Kind::Hpub { payload_bytes: 16 },
        small(false),
        large,
        small(false),
        Kind::Hpub {
            payload_bytes: 1024,
        },
        small(true),
    ]
}

/// Parses every op in `buf`, returning how many there were.
fn drain(parser: &mut Parser, buf: &mut BytesMut) -> usize {
    let mut ops = 0;
    while let Some(op) = parser.next_op(buf).expect("workload is valid") {
        debug_assert!(matches!(op, ClientOp::Pub { .. } | ClientOp::Hpub { .. }));
        black_box(&op);
        ops += 1;
    }
    ops
}

fn bench_whole(c: &mut Criterion, name: &str, wire: &[u8]) {
    let mut group = c.benchmark_group(name);
    for (label, throughput) in [
        ("bytes", Throughput::Bytes(wire.len() as u64)),
        ("ops", Throughput::Elements(OPS_PER_WORKLOAD as u64)),
    ] {
        group.throughput(throughput);
        group.bench_function(label, |b| {
            b.iter_batched_ref(
                || BytesMut::from(wire),
                |buf| {
                    let mut parser = Parser::new(MAX_CONTROL_LINE_BYTES, MAX_PAYLOAD_BYTES);
                    assert_eq!(drain(&mut parser, buf), OPS_PER_WORKLOAD);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_reads(c: &mut Criterion, name: &str, wire: &[u8], read_bytes: usize) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("bytes", |b| {
        b.iter(|| {
            let mut parser = Parser::new(MAX_CONTROL_LINE_BYTES, MAX_PAYLOAD_BYTES);
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let mut ops = 0;
            for read in wire.chunks(read_bytes) {
                if buf.capacity() - buf.len() < read.len() {
                    buf.reserve(64 * 1024);
                }
                buf.extend_from_slice(read);
                ops += drain(&mut parser, &mut buf);
            }
            assert_eq!(ops, OPS_PER_WORKLOAD);
        })
    });
    group.finish();
}

fn parser_benches(c: &mut Criterion) {
    let mix = workload(&mix_pattern());
    bench_whole(c, "parse_mix_16B_1KiB", &mix);
    let small = workload(&[Kind::Pub {
        payload_bytes: 16,
        reply: false,
    }]);
    bench_whole(c, "parse_pub_16B", &small);
    bench_reads(c, "parse_mix_4KiB_reads", &mix, 4096);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = parser_benches
}
criterion_main!(benches);
