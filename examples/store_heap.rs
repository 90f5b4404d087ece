//! Heap cost of a file stream's stored messages, counted by a global allocator (independent of
//! machine load): publishes N messages into a `store::Stream`, writes its records into segment
//! files of `max_segment_bytes` in a temporary directory, and serves each sealed segment from
//! its read-only mapping as the server's sealer does (`Stream::rebase_bodies`); then recovers
//! a fresh stream from the files as start-up does (`Stream::replay_all` over each mapping).
//!
//!   cargo run --release --example store_heap -- [msgs] [payload bytes] [subjects] [segment MiB]
//!
//! Defaults: 2,000,000 × 1024 B on 1 subject, 64 MiB segments (the server's default).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use natrix::store::record::{encode_into, Record};
use natrix::store::{Effect, PublishOutcome, Scanner, Stream, StreamLimits};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            LIVE.fetch_add(l.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, l, new_size);
        if !q.is_null() {
            LIVE.fetch_add(new_size, Relaxed);
            LIVE.fetch_sub(l.size(), Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .map(|a| a.parse().expect("numeric argument"))
        .unwrap_or(default)
}

fn map_file(path: &Path) -> Bytes {
    let f = std::fs::File::open(path).expect("open segment");
    // SAFETY: the benchmark's own files, never modified while mapped.
    let m = unsafe { memmap2::Mmap::map(&f) }.expect("map segment");
    Bytes::from_owner(m)
}

/// Writes a full segment, maps it and serves its messages from the mapping.
fn seal(dir: &Path, n: usize, seg: &mut Vec<u8>, index: &mut Vec<(u64, u64)>, s: &mut Stream) {
    let path = dir.join(format!("{n:06}.seg"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(seg))
        .expect("write segment");
    let map = map_file(&path);
    for chunk in index.chunks(4096) {
        s.rebase_bodies(&map, chunk);
    }
    seg.clear();
    index.clear();
    encode_into(&s.checkpoint_record(), seg);
}

fn per_msg(bytes: usize, n: u64) -> String {
    format!(
        "{:.1} MB = {:.1} B/msg",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    )
}

fn main() {
    let msgs = arg(1, 2_000_000);
    let size = arg(2, 1024) as usize;
    let subjects = arg(3, 1).max(1);
    let seg_bytes = (arg(4, 64) as usize) << 20;
    let dir = std::env::temp_dir().join(format!("natrix-store-heap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let payload = vec![b'x'; size];
    let subject_names: Vec<String> = (0..subjects).map(|i| format!("bench.{i}")).collect();

    let base = LIVE.load(Relaxed);
    let mut s = Stream::new("BENCH".into(), StreamLimits::default(), 0);
    let mut seg = Vec::with_capacity(seg_bytes + 4096);
    let mut index = Vec::new();
    encode_into(&s.checkpoint_record(), &mut seg);
    let mut segments = 0;
    let t0 = Instant::now();
    for i in 0..msgs {
        let subject = subject_names[(i % subjects) as usize].as_bytes();
        let out = s
            .publish(subject, b"", &payload, 1_700_000_000_000_000_000 + i * 1000)
            .expect("publish");
        let PublishOutcome::Stored { seq, effects } = out else {
            unreachable!("no msg ids")
        };
        for Effect::Append(rec) in &effects {
            if matches!(rec, Record::Message { .. }) {
                index.push((seq, seg.len() as u64));
            }
            encode_into(rec, &mut seg);
        }
        if seg.len() >= seg_bytes {
            seal(&dir, segments, &mut seg, &mut index, &mut s);
            segments += 1;
        }
    }
    let publish_s = t0.elapsed().as_secs_f64();
    let active_index = index.capacity() * 16;
    let with_active = LIVE.load(Relaxed) - base - seg.capacity() - active_index;
    seal(&dir, segments, &mut seg, &mut index, &mut s);
    segments += 1;
    drop(std::mem::take(&mut seg));
    drop(std::mem::take(&mut index));
    let sealed = LIVE.load(Relaxed) - base;
    println!(
        "stored {msgs} × {size} B on {subjects} subject(s) in {segments} segments of {} MiB ({:.0} msgs/s)",
        seg_bytes >> 20,
        msgs as f64 / publish_s
    );
    println!(
        "heap, active segment in memory: {}",
        per_msg(with_active, msgs)
    );
    println!("heap, every segment sealed:     {}", per_msg(sealed, msgs));
    drop(s);

    let base = LIVE.load(Relaxed);
    let t0 = Instant::now();
    let mut r = Stream::new("BENCH".into(), StreamLimits::default(), 0);
    for n in 0..segments {
        let map = map_file(&dir.join(format!("{n:06}.seg")));
        let mut scanner = Scanner::new(&map);
        r.replay_all(scanner.by_ref().map(|(_, rec)| rec), Some(&map));
    }
    let recover_ms = t0.elapsed().as_millis();
    let recovered = LIVE.load(Relaxed) - base;
    assert_eq!(r.len() as u64, msgs);
    println!(
        "heap, recovered from the files:  {} ({recover_ms} ms to replay)",
        per_msg(recovered, msgs)
    );
    drop(r);
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}
