//! Seeded simulation of the storage shell's logic over the fault-injecting file system:
//! random sequences of publish / ack (workqueue removal) / restart / crash (power loss) /
//! fault (torn write, EIO, ENOSPC, failed fdatasync, disk full for a while) against a model.
//! The same `Storage` code that runs on glommio runs here (the `StorageFs` seam), with the
//! sans-IO store and recovery plan.
//!
//! Asserted after every recovery: no acknowledged message is lost or changed, an acknowledged
//! removal stays removed, recovery always succeeds (and never finds a damaged sealed
//! segment), and whatever was never acknowledged may be absent but is never corrupt. While
//! running: a failed fdatasync stops the stream (every later write refused until restart),
//! ENOSPC refuses the commit without stopping the stream, and it resumes once space is freed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_lite::future::block_on;

use super::*;
use crate::shell::fault_fs::{Fault, FaultFs};
use crate::store::record::{encode_into, Record, RecordRef};
use crate::store::recovery::{self, ScanAcc};
use crate::store::segment::Scanner;
use crate::store::stream::{Effect, PublishOutcome, Stream, StreamLimits};

/// xorshift64*: small, seeded, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SLOT: u32 = 0;
/// Another stream on the same core whose metadata, consumer files, deletes and re-creates
/// (and their faults) run beside the appends of `S`, never holding them up or failing them.
const OTHER: u32 = 1;
const SEGMENT_BYTES: u64 = 2048;

fn dir() -> PathBuf {
    PathBuf::from("/store/S")
}

fn other_dir() -> PathBuf {
    PathBuf::from("/store/B")
}

fn create_other(created_ns: u64) -> StorageOp {
    StorageOp::Create {
        stream: OTHER,
        dir: other_dir(),
        meta: b"{}".to_vec(),
        first_seq: 1,
        created_ns,
    }
}

/// What the host does for a change: the records and index of one `StorageOp::Append`, and a
/// `Compact` after removals.
fn ops_for(store: &Stream, effects: &[Effect]) -> Vec<StorageOp> {
    let mut records = Vec::new();
    let mut index = Vec::new();
    let mut removes = false;
    for Effect::Append(rec) in effects {
        match rec {
            Record::Message { seq, .. } => index.push((*seq, records.len() as u64)),
            _ => removes = true,
        }
        encode_into(rec, &mut records);
    }
    let s = store.state_summary();
    let mut ops = vec![StorageOp::Append {
        stream: SLOT,
        records,
        index,
        checkpoint: (s.first_seq, s.last_seq, s.last_ts_ns),
    }];
    if removes {
        ops.push(StorageOp::Compact {
            stream: SLOT,
            first_live_seq: store.first_seq(),
        });
    }
    ops
}

/// Recovery as the shell does it, over the fault file system: `store::recovery` decides.
fn recover_from(fs: &FaultFs, dir: &Path) -> (Stream, Vec<u64>) {
    let (segs, leftovers) = recovery::plan_files(&fs.list(dir));
    for name in leftovers {
        fs.delete(&dir.join(name));
    }
    let mut store = Stream::new("S".into(), StreamLimits::default(), 1);
    for (i, &first) in segs.iter().enumerate() {
        let path = dir.join(segment_file_name(first));
        let bytes = Bytes::from(fs.read(&path).expect("listed"));
        let mut acc = ScanAcc::default();
        let mut scanner = Scanner::new(&bytes);
        let scanned = scanner.by_ref().map(|(_, rec): (u64, RecordRef<'_>)| {
            acc.see(&rec);
            rec
        });
        store.replay_all(scanned, Some(&bytes));
        let scan = acc.finish(first, bytes.len() as u64, &scanner, None);
        let plan = recovery::plan_segment(&scan, i + 1 == segs.len());
        if let Some(t) = plan.truncate {
            assert!(
                !t.preserve_copy,
                "a sealed segment was damaged: {first} {t:?} (it was synced before the next began)"
            );
            fs.cut(&path, t.to_len);
        }
        if i + 1 == segs.len() {
            fs.sync_file(&path);
        }
    }
    (store, segs)
}

struct Sim {
    rng: Rng,
    fs: FaultFs,
    storage: Storage<FaultFs>,
    store: Stream,
    /// Payloads published under every sequence: a refused publish is forgotten and its
    /// sequence reused (as the host does), so a sequence may have had several attempts, and
    /// one whose write failed may still survive a restart. The last one is the live one.
    published: BTreeMap<u64, Vec<Bytes>>,
    /// Acknowledged and not (acknowledged) removed: must survive everything.
    acked: BTreeSet<u64>,
    /// Removals that were acknowledged: must stay removed.
    removed: BTreeSet<u64>,
    /// Removals that were refused: the message may be there or not, but not corrupt.
    maybe_removed: BTreeSet<u64>,
    /// The stream is stopped (a failed fdatasync) until the next restart.
    stopped: bool,
    disk_full: bool,
    /// A fault is armed (it may fire on the next write or sync).
    fault_armed: bool,
    /// The last commit's messages from this sequence on were refused and not written.
    lost_from: u64,
    now: u64,
    stats: [u64; 8],
}

impl Sim {
    /// Some work of the other stream, maybe with a failing metadata write.
    fn other_ops(&mut self) -> Vec<StorageOp> {
        let c = format!("c{}", self.rng.below(2));
        if self.rng.below(8) == 0 {
            self.fs.fail_next_meta();
        }
        match self.rng.below(6) {
            0 => vec![StorageOp::WriteMeta {
                stream: OTHER,
                meta: b"{\"x\":1}".to_vec(),
            }],
            1 => vec![StorageOp::ConsumerMeta {
                stream: OTHER,
                name: c,
                meta: b"{}".to_vec(),
            }],
            2 | 3 => vec![StorageOp::ConsumerState {
                stream: OTHER,
                name: c,
                state: vec![1; 40],
                sync: self.rng.below(2) == 0,
            }],
            4 => vec![StorageOp::ConsumerDelete {
                stream: OTHER,
                name: c,
            }],
            _ => vec![StorageOp::Delete { stream: OTHER }, create_other(self.now)],
        }
    }

    fn new(seed: u64) -> Self {
        Self::with_mode(seed, SyncMode::Always)
    }

    fn with_mode(seed: u64, mode: SyncMode) -> Self {
        let fs = FaultFs::default();
        let mut storage = Storage::with_fs(fs.clone(), SEGMENT_BYTES, mode);
        let out = block_on(storage.commit(vec![
            StorageOp::Create {
                stream: SLOT,
                dir: dir(),
                meta: b"{}".to_vec(),
                first_seq: 1,
                created_ns: 1,
            },
            create_other(1),
        ]));
        assert!(out.any_failure.is_none());
        Sim {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            fs,
            storage,
            store: Stream::new("S".into(), StreamLimits::default(), 1),
            published: BTreeMap::new(),
            acked: BTreeSet::new(),
            removed: BTreeSet::new(),
            maybe_removed: BTreeSet::new(),
            stopped: false,
            disk_full: false,
            fault_armed: false,
            lost_from: u64::MAX,
            now: 1,
            stats: [0; 8],
        }
    }

    fn commit(&mut self, ops: Vec<StorageOp>) -> Option<StoreFailure> {
        let out = block_on(self.storage.commit(ops));
        self.storage.sealed_out.clear();
        self.lost_from = out
            .refused
            .iter()
            .find(|r| r.slot == SLOT)
            .map_or(u64::MAX, |r| r.from_seq);
        let f = out.failed_streams.get("S").cloned();
        match &f {
            None => assert!(!self.stopped, "a stopped stream accepted a write"),
            Some(StoreFailure::Stopped(_)) => {
                self.stopped = true;
                self.fault_armed = false;
            }
            Some(StoreFailure::NoSpace) => {
                assert!(!self.stopped, "a stopped stream must say so, not ENOSPC")
            }
        }
        assert_eq!(self.storage.is_stopped(SLOT), self.stopped);
        f
    }

    fn publish(&mut self) {
        let n = 1 + self.rng.below(4);
        let mut ops = Vec::new();
        let mut seqs = Vec::new();
        for _ in 0..n {
            self.now += 1;
            let len = 1 + self.rng.below(300) as usize;
            let fill = (self.rng.next() & 0xff) as u8;
            let payload = Bytes::from(vec![fill; len]);
            match self.store.publish(b"orders.new", b"", &payload, self.now) {
                Ok(PublishOutcome::Stored { seq, effects }) => {
                    ops.extend(ops_for(&self.store, &effects));
                    self.published.entry(seq).or_default().push(payload);
                    seqs.push(seq);
                }
                other => panic!("publish refused: {other:?}"),
            }
            if self.rng.below(3) == 0 {
                let other = self.other_ops();
                ops.extend(other);
            }
        }
        let (was_stopped, armed) = (self.stopped, self.fault_armed);
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("publish {seqs:?}");
        }
        let failure = self.commit(ops);
        if !armed && !was_stopped && !self.disk_full {
            // The other stream's metadata faults never refuse this stream's appends.
            assert_eq!(failure, None, "refused without a fault of its own");
        }
        match failure {
            None => {
                self.acked.extend(seqs);
                self.stats[0] += 1;
            }
            Some(f) => {
                // What the host does with a refused commit: its messages not on disk are
                // forgotten and their sequences reused (those in a segment sealed within
                // the commit are durable: they stay).
                let (first, last) = (seqs[0], *seqs.last().expect("published"));
                let from = self.lost_from.max(first);
                if from <= last {
                    let before = self.store.len();
                    self.store.forget_refused(from, last);
                    assert_eq!(
                        self.store.len() as u64 + last + 1 - from,
                        before as u64,
                        "refused still stored"
                    );
                    assert_eq!(self.store.last_seq(), from - 1, "sequences not reused");
                }
                if self.disk_full && !armed && !was_stopped {
                    assert_eq!(
                        f,
                        StoreFailure::NoSpace,
                        "disk full is not fail-stop (armed fault or ENOSPC?)"
                    );
                }
                self.stats[1] += 1;
            }
        }
    }

    fn ack(&mut self) {
        let Some(&seq) = self
            .acked
            .iter()
            .nth(self.rng.below(self.acked.len().max(1) as u64) as usize)
        else {
            return;
        };
        let effects = self.store.remove_acked(seq);
        if effects.is_empty() {
            return;
        }
        let ops = ops_for(&self.store, &effects);
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("remove {seq}");
        }
        self.acked.remove(&seq);
        if self.commit(ops).is_none() {
            self.removed.insert(seq);
        } else {
            // A refused removal may or may not be on disk: recovery shows which.
            self.maybe_removed.insert(seq);
        }
    }

    fn fault(&mut self) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("fault");
        }
        let fault = match self.rng.below(4) {
            0 => Fault::WriteNoSpace {
                keep: self.rng.below(3000) as usize,
            },
            1 => Fault::WriteEio {
                keep: self.rng.below(3000) as usize,
            },
            2 => Fault::SyncEio,
            _ => {
                self.disk_full = !self.disk_full;
                self.fs.set_disk_full(self.disk_full);
                if !self.disk_full {
                    // Space is back: the stream resumes by itself (unless stopped).
                    let (before, armed) = (self.stats[0], self.fault_armed);
                    self.publish();
                    assert!(
                        armed || self.stopped || self.stats[0] == before + 1,
                        "no resume"
                    );
                }
                return;
            }
        };
        self.stats[2] += 1;
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("armed {fault:?}");
        }
        self.fault_armed = true;
        self.fs.arm(fault);
    }

    fn restart(&mut self, crash: bool) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("restart crash={crash}");
        }
        if crash {
            let rng = &mut self.rng;
            self.fs.lose_power(|_, extra| {
                if extra == 0 {
                    0
                } else {
                    (rng.next() % (extra as u64 + 1)) as usize
                }
            });
            self.stats[3] += 1;
        } else {
            let _ = block_on(self.storage.close_all());
            self.stats[4] += 1;
        }
        self.fs.set_disk_full(false);
        self.fs.disarm();
        self.disk_full = false;
        self.fault_armed = false;
        let (store, segs) = recover_from(&self.fs, &dir());
        self.check(&store);
        let s = store.state_summary();
        let mut storage = Storage::with_fs(self.fs.clone(), SEGMENT_BYTES, self.storage.mode);
        storage.adopt(
            SLOT,
            StreamFiles::recovered(dir(), 1, segs, (s.first_seq, s.last_seq, s.last_ts_ns)),
        );
        self.storage = storage;
        self.store = store;
        self.stopped = false;
    }

    /// The invariants, on a freshly recovered stream; then the model learns what survived.
    fn check(&mut self, store: &Stream) {
        for &seq in &self.acked {
            let m = store
                .get(seq)
                .unwrap_or_else(|| panic!("acknowledged message {seq} lost"));
            assert_eq!(
                Some(&m.payload),
                self.published[&seq].last(),
                "message {seq} changed"
            );
        }
        let mut present = BTreeSet::new();
        for m in store.range_from(0) {
            assert!(
                !self.removed.contains(&m.seq),
                "removed message {} came back",
                m.seq
            );
            assert!(
                self.published
                    .get(&m.seq)
                    .is_some_and(|p| p.contains(&m.payload)),
                "message {} is corrupt",
                m.seq
            );
            present.insert(m.seq);
        }
        // What survived is on disk now: from here on it must stay (with the payload that
        // survived, whichever attempt it was). What is gone is gone.
        for m in store.range_from(0) {
            self.published.insert(m.seq, vec![m.payload.clone()]);
        }
        self.acked = present;
        self.maybe_removed.clear();
        self.removed
            .retain(|s| *s < store.state_summary().last_seq + 1);
    }

    fn step(&mut self) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!(
                "acked={:?} stopped={} full={} files={:?}",
                self.acked.iter().rev().take(5).collect::<Vec<_>>(),
                self.stopped,
                self.disk_full,
                self.fs.list(&dir())
            );
        }
        match self.rng.below(100) {
            0..=54 => self.publish(),
            55..=69 => self.ack(),
            70..=84 => self.fault(),
            85..=92 => self.restart(true),
            _ => self.restart(false),
        }
    }
}

fn run(seed: u64, steps: usize) -> [u64; 8] {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step();
    }
    sim.restart(true);
    sim.stats
}

#[test]
fn random_fault_sequences_never_lose_an_acked_message() {
    let mut total = [0u64; 8];
    for seed in 0..100 {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!("seed {seed}");
        }
        let s = run(seed, 400);
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    eprintln!("ok/refused commits, faults, crashes, clean restarts: {total:?}");
    // The runs did exercise every path.
    assert!(total[0] > 5_000 && total[1] > 500, "{total:?}");
    assert!(total[3] > 500 && total[4] > 500, "{total:?}");
}

#[test]
fn enospc_rolls_back_and_the_stream_resumes() {
    let mut sim = Sim::new(7);
    for _ in 0..20 {
        sim.publish();
    }
    let acked = sim.acked.len();
    assert_eq!(acked, sim.published.len());
    sim.fault_armed = true;
    sim.fs.arm(Fault::WriteNoSpace { keep: 700 });
    sim.publish();
    assert_eq!(sim.acked.len(), acked, "refused");
    assert!(!sim.storage.is_stopped(SLOT), "ENOSPC is not fail-stop");
    sim.publish();
    assert!(sim.acked.len() > acked, "resumed");
    sim.restart(true);
    // Every acked message is back; the refused one may be absent but nothing is corrupt
    // (checked in restart()).
}

#[test]
fn a_failed_fdatasync_stops_the_stream_until_restart() {
    let mut sim = Sim::new(9);
    for _ in 0..10 {
        sim.publish();
    }
    let acked = sim.acked.clone();
    sim.fault_armed = true;
    sim.fs.arm(Fault::SyncEio);
    sim.publish();
    assert!(sim.storage.is_stopped(SLOT));
    // fsyncgate: later syncs would "succeed"; the stream must not take writes anyway.
    for _ in 0..5 {
        sim.publish();
    }
    assert_eq!(sim.acked, acked);
    sim.restart(false);
    assert!(!sim.storage.is_stopped(SLOT));
    sim.publish();
    assert_eq!(
        sim.acked.len(),
        acked.len() + sim.acked.difference(&acked).count()
    );
    assert!(sim.acked.len() > acked.len(), "writes again after restart");
    let (w, s) = sim.fs.counts();
    assert!(w > 0 && s > 0);
}

#[test]
fn interval_policy_enospc_never_cuts_acknowledged_writes() {
    // Acked after the write, not the sync: a later ENOSPC rolls back to the last acked
    // write, not to the last sync.
    let mut sim = Sim::with_mode(11, SyncMode::Interval(std::time::Duration::from_secs(1)));
    for round in 0..30 {
        sim.publish();
        if round % 3 == 0 {
            sim.fault_armed = true;
            sim.fs.arm(Fault::WriteNoSpace { keep: 100 });
            sim.publish();
            assert!(!sim.storage.is_stopped(SLOT));
        }
    }
    assert!(sim.acked.len() >= 20);
    sim.restart(false);
}

#[test]
fn enospc_after_a_segment_sealed_within_the_commit_keeps_the_sealed_part() {
    // One commit of many messages fills a segment (sealed and synced mid-commit) and goes
    // on in a new one; ENOSPC on some later write. Only what is not on disk may be forgotten
    // and its sequences reused: reusing a sequence the sealed segment holds would make the
    // retry collide with it at recovery.
    let mut kept_sealed = 0;
    for skip in 0..12 {
        let mut sim = Sim::new(11);
        for _ in 0..3 {
            sim.publish();
        }
        let mut ops = Vec::new();
        let mut seqs = Vec::new();
        for i in 0..12u8 {
            sim.now += 1;
            let payload = Bytes::from(vec![i; 250]);
            let (seq, effects) = match sim.store.publish(b"big", b"", &payload, sim.now) {
                Ok(PublishOutcome::Stored { seq, effects }) => (seq, effects),
                other => panic!("{other:?}"),
            };
            ops.extend(ops_for(&sim.store, &effects));
            sim.published.entry(seq).or_default().push(payload);
            seqs.push(seq);
        }
        sim.fs.arm_after(skip, Fault::WriteNoSpace { keep: 100 });
        let (first, last) = (seqs[0], *seqs.last().unwrap());
        match sim.commit(ops) {
            None => {
                sim.acked.extend(seqs);
                continue;
            }
            Some(f) => assert_eq!(f, StoreFailure::NoSpace),
        }
        let from = sim.lost_from.max(first);
        if from > first {
            kept_sealed += 1;
        }
        if from <= last {
            sim.store.forget_refused(from, last);
        }
        sim.fs.disarm();
        // Retries reuse the forgotten sequences; they must survive a crash intact.
        for _ in 0..4 {
            sim.publish();
        }
        assert!(sim.acked.len() > 3, "skip {skip}: resumed");
        sim.restart(true);
        sim.restart(false);
    }
    assert!(
        kept_sealed > 0,
        "no run sealed a segment before the failure"
    );
}

/// A reply as the host queues it: a publish ack of `stream`, or (None) an API reply.
fn reply(tag: &str, stream: Option<u32>) -> crate::streams::DeferredReply {
    crate::streams::DeferredReply {
        subject: Bytes::from(tag.to_owned()),
        payload: Bytes::new(),
        stream,
    }
}

/// Runs every chain that can finish now (a stalled one stays).
fn settle(storage: &mut Storage<FaultFs>, rel: &mut Released) {
    while let Some(done) = block_on(futures_lite::future::poll_once(storage.next_done())) {
        storage.finish(done, rel);
    }
}

fn released(rel: &mut Released) -> Vec<(String, bool)> {
    rel.replies
        .drain(..)
        .map(|(r, f)| {
            (
                String::from_utf8_lossy(&r.subject).into_owned(),
                f.is_none(),
            )
        })
        .collect()
}

#[test]
fn another_streams_stalled_or_failing_metadata_never_holds_a_publish_ack() {
    let mut sim = Sim::new(5);
    for _ in 0..3 {
        sim.publish();
    }
    sim.fs.disarm();
    let mut rel = Released::default();
    // The other stream's consumer create stalls (a slow directory fsync, say); an API reply
    // waits behind it, publish acks of S in the same and later batches do not.
    sim.fs.stall(&other_dir());
    let publish_ops = |sim: &mut Sim| {
        sim.now += 1;
        match sim.store.publish(b"x", b"", b"payload", sim.now) {
            Ok(PublishOutcome::Stored { effects, .. }) => ops_for(&sim.store, &effects),
            other => panic!("{other:?}"),
        }
    };
    let mut ops = vec![StorageOp::ConsumerMeta {
        stream: OTHER,
        name: "slow".into(),
        meta: b"{}".to_vec(),
    }];
    ops.extend(publish_ops(&mut sim));
    sim.storage.dispatch(
        ops,
        vec![reply("api", None), reply("ack0", Some(SLOT))],
        &mut rel,
    );
    settle(&mut sim.storage, &mut rel);
    assert_eq!(released(&mut rel), vec![("ack0".into(), true)]);
    for i in 1..4 {
        let ops = publish_ops(&mut sim);
        let tag = format!("ack{i}");
        sim.storage
            .dispatch(ops, vec![reply(&tag, Some(SLOT))], &mut rel);
        settle(&mut sim.storage, &mut rel);
        assert_eq!(released(&mut rel), vec![(tag, true)], "batch {i}");
        assert!(rel.done.iter().all(|d| d.refusal.is_none()));
    }
    assert!(!sim.storage.idle(), "the stalled op still runs");
    sim.fs.unstall();
    settle(&mut sim.storage, &mut rel);
    assert_eq!(released(&mut rel), vec![("api".into(), true)]);
    assert!(sim.storage.idle());

    // The other stream's metadata write fails: the API reply of that batch gets the error,
    // the publish ack of S does not.
    sim.fs.fail_next_meta();
    let mut ops = vec![StorageOp::WriteMeta {
        stream: OTHER,
        meta: b"{}".to_vec(),
    }];
    ops.extend(publish_ops(&mut sim));
    sim.storage.dispatch(
        ops,
        vec![reply("ack-ok", Some(SLOT)), reply("api-err", None)],
        &mut rel,
    );
    settle(&mut sim.storage, &mut rel);
    let mut got = released(&mut rel);
    got.sort();
    assert_eq!(
        got,
        vec![("ack-ok".into(), true), ("api-err".into(), false)]
    );
    // And a failed fdatasync of S stops S alone: the other stream's ops go on.
    sim.fs.arm(Fault::SyncEio);
    let ops = publish_ops(&mut sim);
    sim.storage
        .dispatch(ops, vec![reply("ack-bad", Some(SLOT))], &mut rel);
    sim.storage.dispatch(
        vec![StorageOp::ConsumerMeta {
            stream: OTHER,
            name: "c".into(),
            meta: b"{}".to_vec(),
        }],
        vec![reply("api-ok", None)],
        &mut rel,
    );
    settle(&mut sim.storage, &mut rel);
    let mut got = released(&mut rel);
    got.sort();
    assert_eq!(
        got,
        vec![("ack-bad".into(), false), ("api-ok".into(), true)],
        "a later batch's API reply does not inherit the failure"
    );
    assert!(sim.storage.is_stopped(SLOT) && !sim.storage.is_stopped(OTHER));
}

#[test]
fn a_refused_chain_refuses_the_appends_queued_behind_it() {
    // While S's chain runs, the next batch's appends wait on its lane; when the chain is
    // refused (ENOSPC), they are dropped with it and the refusal starts at the first of
    // them at the latest: the host forgets every message it sent that is not on disk.
    let mut sim = Sim::new(3);
    sim.publish();
    let mut rel = Released::default();
    sim.fs.arm(Fault::WriteNoSpace { keep: 0 });
    let mut seqs = Vec::new();
    for tag in ["a", "b"] {
        sim.now += 1;
        let (seq, effects) = match sim.store.publish(b"x", b"", b"p", sim.now) {
            Ok(PublishOutcome::Stored { seq, effects }) => (seq, effects),
            other => panic!("{other:?}"),
        };
        seqs.push(seq);
        let ops = ops_for(&sim.store, &effects);
        // Not settled in between: the second batch queues behind the first chain.
        sim.storage
            .dispatch(ops, vec![reply(tag, Some(SLOT))], &mut rel);
    }
    block_on(sim.storage.drain(&mut rel));
    let got = released(&mut rel);
    assert!(got.iter().all(|(_, ok)| !ok), "{got:?}");
    let refusal = rel
        .done
        .iter()
        .find_map(|d| d.refusal.clone())
        .expect("refused");
    assert!(refusal.from_seq <= seqs[0], "{refusal:?} {seqs:?}");
    assert!(!sim.storage.is_stopped(SLOT), "ENOSPC is not fail-stop");
}
