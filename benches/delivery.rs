//! The delivery hot path of one core, per batch of 64 messages: `PUB`s parsed from one read
//! buffer, matched, queued for one subscriber, then taken by the writer as it takes them:
//! - `segments`: `Engine::take_output_segments` (the writer task: header lines and payloads
//!   of 512 B or more as shared segments for one vectored socket write; nothing copied);
//! - `contiguous`: `Engine::take_output`, which copies everything into one buffer (what the
//!   writer did before segments, for comparison).
//!
//! For 16 B payloads both are the same buffer; from 512 B on, `segments` skips a copy of
//! each payload (the socket write gathers it where the read left it).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix::engine::{Engine, EngineConfig, EngineEvents, EngineLimits, OutputState};
use natrix::protocol::info::ServerInfo;
use natrix::session::ConnId;

const BATCH: usize = 64;

fn engine() -> Engine {
    Engine::new(EngineConfig {
        core_id: 0,
        n_cores: 1,
        limits: EngineLimits {
            max_payload_bytes: 1 << 20,
            max_control_line_bytes: 4096,
            max_pending_bytes: 1 << 30,
            max_subscriptions: 0,
            ping_interval_ns: u64::MAX / 4,
            max_pings_outstanding: 2,
        },
        info: ServerInfo {
            server_id: "NBENCH".into(),
            server_name: "bench".into(),
            version: "2.11.0".into(),
            proto: 1,
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            max_payload: 1 << 20,
            ..ServerInfo::default()
        },
    })
}

fn conn(e: &mut Engine, ops: &str) -> ConnId {
    let id = e.open_conn("127.0.0.1", 0, true);
    let mut buf = BytesMut::from(format!("CONNECT {{\"verbose\":false}}\r\n{ops}").as_bytes());
    e.on_read(id, &mut buf, 0);
    let mut out = BytesMut::new();
    while e.take_output(id, &mut out) == OutputState::Data {
        e.write_done(id);
        out.clear();
    }
    id
}

fn delivery(c: &mut Criterion) {
    let mut group = c.benchmark_group("delivery");
    for size in [16usize, 1024, 4096] {
        let mut e = engine();
        let sub = conn(&mut e, "SUB bench.x 1\r\n");
        let publisher = conn(&mut e, "");
        let payload = "x".repeat(size);
        let ops = format!("PUB bench.x {size}\r\n{payload}\r\n").repeat(BATCH);
        let mut events = EngineEvents::default();
        let mut buf = BytesMut::with_capacity(ops.len());
        group.throughput(Throughput::Elements(BATCH as u64));
        let mut segs: Vec<Bytes> = Vec::new();
        group.bench_function(BenchmarkId::new("segments", size), |b| {
            b.iter(|| {
                buf.extend_from_slice(ops.as_bytes());
                black_box(e.on_read(publisher, &mut buf, 0));
                while e.take_output_segments(sub, &mut segs) == OutputState::Data {
                    black_box(segs.iter().map(|s| s.len()).sum::<usize>());
                    segs.clear();
                    e.write_done(sub);
                }
                e.take_events(&mut events);
            })
        });
        let mut out = BytesMut::new();
        group.bench_function(BenchmarkId::new("contiguous", size), |b| {
            b.iter(|| {
                buf.extend_from_slice(ops.as_bytes());
                black_box(e.on_read(publisher, &mut buf, 0));
                while e.take_output(sub, &mut out) == OutputState::Data {
                    black_box(out.len());
                    out.clear();
                    e.write_done(sub);
                }
                e.take_events(&mut events);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
