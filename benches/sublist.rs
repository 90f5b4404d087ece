//! Micro-benchmarks of the subscription index: per-lookup match cost (cache
//! hit, miss, wildcards, a 1,000,000-subscription index) and subscribe churn.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use natrix::sublist::Sublist;

/// Literal subscriptions `svc.<i>.req` plus a few wildcard and queue ones.
fn service_sublist(cache_capacity: usize, literals: u64, wildcards: bool) -> Sublist<u64> {
    let mut sl = Sublist::new(cache_capacity);
    for i in 0..literals {
        sl.insert(format!("svc.{i}.req").as_bytes(), None, i);
    }
    if wildcards {
        let base = literals;
        sl.insert(b"svc.*.req", None, base);
        sl.insert(b"svc.>", None, base + 1);
        sl.insert(b">", None, base + 2);
        sl.insert(b"svc.*.*", Some(b"workers"), base + 3);
        sl.insert(b"svc.*.req", Some(b"workers"), base + 4);
        sl.insert(b"*.*.req", Some(b"audit"), base + 5);
    }
    sl
}

fn literal_matches(c: &mut Criterion) {
    let mut group = c.benchmark_group("literal");
    let mut hit = service_sublist(1024, 10_000, false);
    group.bench_function("cache_hit", |b| {
        b.iter(|| black_box(hit.matches(black_box(b"svc.42.req"))))
    });
    let mut off = service_sublist(0, 10_000, false);
    group.bench_function("cache_disabled", |b| {
        b.iter(|| black_box(off.matches(black_box(b"svc.42.req"))))
    });
    group.bench_function("no_interest_cache_disabled", |b| {
        b.iter(|| black_box(off.matches(black_box(b"other.42.req"))))
    });
    group.finish();
}

fn wildcard_matches(c: &mut Criterion) {
    let mut group = c.benchmark_group("wildcard");
    let mut hit = service_sublist(1024, 10_000, true);
    group.bench_function("cache_hit", |b| {
        b.iter(|| black_box(hit.matches(black_box(b"svc.42.req"))))
    });
    let mut off = service_sublist(0, 10_000, true);
    group.bench_function("cache_disabled", |b| {
        b.iter(|| black_box(off.matches(black_box(b"svc.42.req"))))
    });
    group.finish();
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("churn");
    // A warm cache of 1,000 hot subjects that must survive inbox churn.
    let mut sl = service_sublist(4096, 10_000, true);
    let hot: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("svc.{i}.req").into_bytes())
        .collect();
    for s in &hot {
        sl.matches(s);
    }
    let inboxes: Vec<Vec<u8>> = (0..1024)
        .map(|i| format!("_INBOX.Xz81kQpLm0{i:04}.*").into_bytes())
        .collect();
    let mut n = 0usize;
    group.bench_function("wildcard_insert_remove_warm_cache", |b| {
        b.iter(|| {
            let s = &inboxes[n % inboxes.len()];
            n += 1;
            sl.insert(s, None, u64::MAX);
            black_box(sl.remove(s, None, &u64::MAX))
        })
    });
    let literals: Vec<Vec<u8>> = (0..1024)
        .map(|i| format!("_INBOX.Xz81kQpLm0.{i:04}").into_bytes())
        .collect();
    group.bench_function("literal_insert_remove_warm_cache", |b| {
        b.iter(|| {
            let s = &literals[n % literals.len()];
            n += 1;
            sl.insert(s, Some(b"q"), u64::MAX);
            black_box(sl.remove(s, Some(b"q"), &u64::MAX))
        })
    });
    group.finish();
}

/// 1,000,000 literal subscriptions `acct.<i>.events.<j>` plus wildcards:
/// `acct.<i>.events.*` for every tenth account, `acct.*.events.>` and a
/// queue group on `acct.*.events.*`.
fn million_sublist(cache_capacity: usize) -> Sublist<u64> {
    let start = Instant::now();
    let mut sl = Sublist::new(cache_capacity);
    let mut v = 0u64;
    for i in 0..1000 {
        for j in 0..1000 {
            sl.insert(format!("acct.{i}.events.{j}").as_bytes(), None, v);
            v += 1;
        }
    }
    for i in (0..1000).step_by(10) {
        sl.insert(format!("acct.{i}.events.*").as_bytes(), None, v);
        v += 1;
    }
    sl.insert(b"acct.*.events.>", None, v);
    for k in 0..4 {
        sl.insert(b"acct.*.events.*", Some(b"archivers"), v + 1 + k);
    }
    println!(
        "built sublist of {} subscriptions in {:.2?}",
        sl.len(),
        start.elapsed()
    );
    sl
}

fn million(c: &mut Criterion) {
    let mut group = c.benchmark_group("million");
    // Pseudo-random published subjects spread over the whole index.
    let subjects: Vec<Vec<u8>> = (0..65_536u64)
        .map(|k| {
            let x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
            format!("acct.{}.events.{}", x % 1000, (x / 1000) % 1000).into_bytes()
        })
        .collect();
    let mut n = 0usize;

    let mut off = million_sublist(0);
    group.bench_function("match_cache_disabled", |b| {
        b.iter(|| {
            let s = &subjects[n % subjects.len()];
            n += 1;
            black_box(off.matches(s))
        })
    });
    drop(off);

    let mut cached = million_sublist(4096);
    // Hot set of 1,024 subjects that fits the cache.
    group.bench_function("match_cache_hit", |b| {
        b.iter(|| {
            let s = &subjects[n % 1024];
            n += 1;
            black_box(cached.matches(s))
        })
    });
    // 65,536 distinct subjects through a 4,096-entry cache: miss + insert + eviction.
    group.bench_function("match_cache_thrash", |b| {
        b.iter(|| {
            let s = &subjects[n % subjects.len()];
            n += 1;
            black_box(cached.matches(s))
        })
    });
    group.finish();
}

criterion_group!(benches, literal_matches, wildcard_matches, churn, million);
criterion_main!(benches);
