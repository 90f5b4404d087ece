//! Ring hop: batched `RingItem::Deliver` pushes from one pinned glommio executor to another
//! over the channel mesh, as the shell does between cores. Reports items/s.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use natrix::mesh::{RemoteMsg, RingBatch, RingItem};

const BATCH_ITEMS: usize = 64;

fn item(payload: &Bytes) -> RingItem {
    RingItem::Deliver(RemoteMsg {
        account: 0,
        shown_subject: None,
        subject: Bytes::from_static(b"bench.subject"),
        reply: None,
        header_len: 0,
        message: payload.clone(),
        deliver_plain: true,
        queue_groups: Vec::new(),
    })
}

/// Moves `items` items from core A to core B; returns the time from first push to last receive.
fn hop(items: u64) -> Duration {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mesh = MeshBuilder::<RingBatch, _>::full(2, 4096);
    let batches = items.div_ceil(BATCH_ITEMS as u64);
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let mesh = mesh.clone();
            LocalExecutorBuilder::new(Placement::Fixed(i % cpus))
                .io_memory(256 * 1024)
                .spawn(move || async move {
                    let (tx, mut rx) = mesh.join().await.expect("mesh");
                    let me = tx.peer_id();
                    let start = Instant::now();
                    if me == 0 {
                        let payload = Bytes::from_static(&[7u8; 16]);
                        for _ in 0..batches {
                            let batch: RingBatch =
                                (0..BATCH_ITEMS).map(|_| item(&payload)).collect();
                            tx.send_to(1, batch).await.expect("send");
                        }
                    } else {
                        let (_, r) = rx.streams().pop().expect("one peer");
                        let mut got = 0u64;
                        while got < batches * BATCH_ITEMS as u64 {
                            let b = r.recv().await.expect("batch");
                            got += b.len() as u64;
                        }
                    }
                    start.elapsed()
                })
                .expect("executor")
        })
        .collect();
    let times: Vec<Duration> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    times.into_iter().max().expect("two cores")
}

fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_hop");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function(format!("deliver_items_batch{BATCH_ITEMS}"), |b| {
        b.iter_custom(|iters| {
            // Run at least 100 batches so executor start-up noise stays out; scale back to `iters`.
            let n = iters.max(BATCH_ITEMS as u64 * 100);
            hop(n).mul_f64(iters as f64 / n as f64)
        })
    });
    g.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
