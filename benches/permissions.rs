//! Micro-benchmarks of the per-publish permission check: a cached allowed subject (the hot
//! path: one hash lookup, no allocation), a cached denied one, and the cache-miss path
//! (matching the allow/deny lists and inserting the decision).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use natrix::auth::{ConnPermissions, Permissions, SubjectRules};

fn rules() -> Arc<Permissions> {
    let allow: Vec<String> = [
        "orders.>",
        "svc.*.req",
        "metrics.*",
        "$JS.API.>",
        "_INBOX.>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let deny = vec!["orders.secret.>".to_string()];
    Arc::new(Permissions {
        publish: Some(SubjectRules::new(Some(&allow), &deny)),
        ..Permissions::default()
    })
}

fn publish_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_check");
    let mut conn = ConnPermissions::new(rules());
    assert!(conn.can_publish(b"orders.eu.new", 0));
    group.bench_function("cached_allowed", |b| {
        b.iter(|| conn.can_publish(black_box(b"orders.eu.new"), 0))
    });
    assert!(!conn.can_publish(b"orders.secret.x", 0));
    group.bench_function("cached_denied", |b| {
        b.iter(|| conn.can_publish(black_box(b"orders.secret.x"), 0))
    });
    let subjects: Vec<String> = (0..100_000).map(|i| format!("svc.{i}.req")).collect();
    let mut i = 0;
    group.bench_function("miss_and_insert", |b| {
        b.iter(|| {
            i = (i + 1) % subjects.len();
            conn.can_publish(black_box(subjects[i].as_bytes()), 0)
        })
    });
    let mut open = ConnPermissions::new(Arc::new(Permissions::default()));
    group.bench_function("no_publish_rules", |b| {
        b.iter(|| open.can_publish(black_box(b"orders.eu.new"), 0))
    });
    group.finish();
}

criterion_group!(benches, publish_check);
criterion_main!(benches);
