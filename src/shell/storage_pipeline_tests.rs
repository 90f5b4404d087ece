//! Pipelined group commits and pre-zeroed segments over the fault-injecting file system: a
//! stream's next commit is written while the previous one's fdatasync runs, acks go out only
//! after the sync that covers them and in order, a failed sync stops the stream and refuses
//! everything not yet synced (the written commit behind it is never synced), and a crash
//! leaves a segment whose pre-zeroed tail recovery reads as its end — while a torn record
//! in it is still cut and reported as torn.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_lite::future::block_on;

use super::*;
use crate::shell::fault_fs::FaultFs;
use crate::store::record::{encode_into, Record, RecordRef};
use crate::store::recovery::{self, ScanAcc, Truncation};
use crate::store::segment::Scanner;
use crate::store::stream::{Effect, PublishOutcome, Stream, StreamLimits};

const SLOT: u32 = 0;
const SEGMENT_BYTES: u64 = 64 * 1024;

fn dir() -> PathBuf {
    PathBuf::from("/store/P")
}

fn segment_path() -> PathBuf {
    dir().join(segment_file_name(1))
}

/// A storage with one stream `P` created (durably) on a fresh fault file system.
fn storage() -> (FaultFs, Storage<FaultFs>) {
    let fs = FaultFs::default();
    let mut storage = Storage::with_fs(fs.clone(), SEGMENT_BYTES, SyncMode::Always);
    let out = block_on(storage.commit(vec![StorageOp::Create {
        stream: SLOT,
        dir: dir(),
        meta: b"{}".to_vec(),
        first_seq: 1,
        created_ns: 1,
    }]));
    assert!(out.any_failure.is_none());
    (fs, storage)
}

/// `n` publishes to `store` as the host persists them: one append op.
fn publish(store: &mut Stream, n: usize, fill: u8) -> StorageOp {
    let mut records = Vec::new();
    let mut index = Vec::new();
    for i in 0..n {
        let payload = Bytes::from(vec![fill; 40 + i]);
        let ts = store.last_ts_ns() + 1;
        let Ok(PublishOutcome::Stored { seq, effects }) = store.publish(b"p", b"", &payload, ts)
        else {
            panic!("publish refused");
        };
        for Effect::Append(rec) in &effects {
            if let Record::Message { .. } = rec {
                index.push((seq, records.len() as u64));
            }
            encode_into(rec, &mut records);
        }
    }
    StorageOp::Append {
        stream: SLOT,
        records,
        index,
        checkpoint: (store.first_seq(), store.last_seq(), store.last_ts_ns()),
    }
}

fn ack(tag: &str) -> crate::streams::DeferredReply {
    crate::streams::DeferredReply {
        subject: Bytes::from(tag.to_owned()),
        payload: Bytes::new(),
        stream: Some(SLOT),
    }
}

/// Finishes every chain and sync that can finish now (held syncs stay).
fn settle(storage: &mut Storage<FaultFs>, rel: &mut Released) {
    while let Some(done) = block_on(futures_lite::future::poll_once(storage.next_done())) {
        storage.finish(done, rel);
    }
}

/// Replies released so far: (subject, acknowledged).
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

/// Recovers the stream's segments as the shell does (`store::recovery` decides): the store
/// and the truncation of each segment.
fn recover(fs: &FaultFs, dir: &Path) -> (Stream, Vec<Option<Truncation>>) {
    let (segs, _) = recovery::plan_files(&fs.list(dir));
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut cuts = Vec::new();
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
        if let Some(t) = &plan.truncate {
            fs.cut(&path, t.to_len);
        }
        cuts.push(plan.truncate);
    }
    (store, cuts)
}

#[test]
fn the_next_commit_is_written_while_the_last_one_syncs_and_acks_wait_in_order() {
    let (fs, mut storage) = storage();
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut rel = Released::default();
    fs.hold_syncs();
    let (_, syncs0) = fs.counts();
    storage.dispatch(vec![publish(&mut store, 3, 1)], vec![ack("a1")], &mut rel);
    settle(&mut storage, &mut rel);
    let after_first = fs.read(&segment_path()).expect("segment");
    storage.dispatch(vec![publish(&mut store, 3, 2)], vec![ack("a2")], &mut rel);
    settle(&mut storage, &mut rel);
    let after_second = fs.read(&segment_path()).expect("segment");
    let (written, synced) = (
        after_first.iter().rposition(|&b| b != 0),
        after_second.iter().rposition(|&b| b != 0),
    );
    assert!(
        synced > written,
        "the second commit is on the file while the first one's fdatasync is under way"
    );
    // A third commit is written too: the commits written while a sync runs share the next.
    storage.dispatch(vec![publish(&mut store, 2, 3)], vec![ack("a3")], &mut rel);
    settle(&mut storage, &mut rel);
    let after_third = fs.read(&segment_path()).expect("segment");
    assert!(
        after_third.iter().rposition(|&b| b != 0) > synced,
        "written while the first commit's fdatasync is under way"
    );
    assert!(
        released(&mut rel).is_empty(),
        "nothing acked before its sync"
    );
    assert!(rel.done.is_empty(), "nothing durable told to the host yet");
    fs.release_syncs();
    settle(&mut storage, &mut rel);
    assert_eq!(
        released(&mut rel),
        vec![
            ("a1".to_owned(), true),
            ("a2".to_owned(), true),
            ("a3".to_owned(), true)
        ]
    );
    let lasts: Vec<_> = rel
        .done
        .iter()
        .map(|d| (d.last_seq, d.refusal.is_some()))
        .collect();
    assert_eq!(
        lasts,
        vec![(Some(3), false), (Some(8), false)],
        "the first commit durable, then the two written behind it with one sync"
    );
    let (_, syncs) = fs.counts();
    assert_eq!(
        syncs - syncs0,
        2,
        "one fdatasync for the commits written during the first"
    );
    assert!(storage.idle());
}

#[test]
fn a_failed_second_sync_refuses_its_commit_and_stops_the_stream() {
    let (fs, mut storage) = storage();
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut rel = Released::default();
    fs.hold_syncs();
    fs.fail_sync_after(1);
    let (_, syncs0) = fs.counts();
    storage.dispatch(vec![publish(&mut store, 3, 1)], vec![ack("a1")], &mut rel);
    settle(&mut storage, &mut rel);
    storage.dispatch(vec![publish(&mut store, 3, 2)], vec![ack("a2")], &mut rel);
    settle(&mut storage, &mut rel);
    fs.release_syncs();
    settle(&mut storage, &mut rel);
    assert_eq!(
        released(&mut rel),
        vec![("a1".to_owned(), true), ("a2".to_owned(), false)],
        "the first commit acked, the second refused"
    );
    assert!(storage.is_stopped(SLOT), "a failed fdatasync is fail-stop");
    let outcomes: Vec<_> = rel
        .done
        .iter()
        .map(|d| (d.last_seq, d.refusal.as_ref().map(|r| r.from_seq)))
        .collect();
    assert_eq!(outcomes, vec![(Some(3), None), (None, Some(4))]);
    assert!(rel.done[1]
        .refusal
        .as_ref()
        .is_some_and(|r| r.stopped.is_some()));
    // Later writes are refused at once, and no sync is retried.
    rel.done.clear();
    store.forget_refused(4, 6);
    storage.dispatch(vec![publish(&mut store, 1, 3)], vec![ack("a3")], &mut rel);
    settle(&mut storage, &mut rel);
    assert_eq!(released(&mut rel), vec![("a3".to_owned(), false)]);
    let (_, syncs) = fs.counts();
    assert_eq!(syncs - syncs0, 2, "never synced again after the failure");
    // After a power loss the acknowledged commit is there; the refused one may be, intact.
    fs.lose_power(|_, n| n);
    let (got, _) = recover(&fs, &dir());
    for seq in 1..=3 {
        assert!(got.get(seq).is_some(), "acknowledged message {seq} lost");
    }
}

#[test]
fn a_failed_first_sync_refuses_the_written_commit_behind_it_without_syncing_it() {
    let (fs, mut storage) = storage();
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut rel = Released::default();
    fs.hold_syncs();
    fs.fail_sync_after(0);
    let (_, syncs0) = fs.counts();
    storage.dispatch(vec![publish(&mut store, 3, 1)], vec![ack("a1")], &mut rel);
    settle(&mut storage, &mut rel);
    storage.dispatch(vec![publish(&mut store, 3, 2)], vec![ack("a2")], &mut rel);
    settle(&mut storage, &mut rel);
    fs.release_syncs();
    settle(&mut storage, &mut rel);
    assert_eq!(
        released(&mut rel),
        vec![("a1".to_owned(), false), ("a2".to_owned(), false)]
    );
    let (_, syncs) = fs.counts();
    assert_eq!(
        syncs - syncs0,
        1,
        "the written commit behind a failed sync is never synced"
    );
    assert_eq!(rel.done.len(), 1);
    assert_eq!(rel.done[0].refusal.as_ref().map(|r| r.from_seq), Some(1));
    assert!(storage.is_stopped(SLOT));
    assert!(storage.idle());
}

#[test]
fn segments_are_zeroed_ahead_of_the_records() {
    let (fs, mut storage) = storage();
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut rel = Released::default();
    storage.dispatch(vec![publish(&mut store, 3, 1)], vec![ack("a1")], &mut rel);
    settle(&mut storage, &mut rel);
    let bytes = fs.read(&segment_path()).expect("segment");
    let end = bytes.iter().rposition(|&b| b != 0).expect("records") + 1;
    assert!(
        bytes.len() as u64 >= SEGMENT_BYTES.min(super::super::segment_writer::ZERO_CHUNK_BYTES),
        "zeroed ahead: {} bytes for {end} of records",
        bytes.len()
    );
    // Sealing cuts the zeros: a sealed segment ends with its last record.
    block_on(storage.close_all());
    assert_eq!(fs.read(&segment_path()).expect("segment").len(), end);
}

/// A crash while a commit was written into the pre-zeroed tail and its sync was under way,
/// the unsynced bytes torn after `keep` of them.
fn crash_in_a_pre_zeroed_segment(keep: usize) -> (Stream, Option<Truncation>, usize) {
    let (fs, mut storage) = storage();
    let mut store = Stream::new("P".into(), StreamLimits::default(), 1);
    let mut rel = Released::default();
    storage.dispatch(vec![publish(&mut store, 3, 1)], vec![ack("a1")], &mut rel);
    settle(&mut storage, &mut rel);
    assert_eq!(released(&mut rel), vec![("a1".to_owned(), true)]);
    let synced = fs.read(&segment_path()).expect("segment");
    fs.hold_syncs();
    storage.dispatch(vec![publish(&mut store, 3, 2)], vec![ack("a2")], &mut rel);
    settle(&mut storage, &mut rel);
    assert!(released(&mut rel).is_empty());
    let written = fs.read(&segment_path()).expect("segment");
    assert_eq!(
        written.len(),
        synced.len(),
        "written over the pre-zeroed tail"
    );
    let unsynced = synced
        .iter()
        .zip(&written)
        .rposition(|(a, b)| a != b)
        .expect("new records")
        + 1
        - synced
            .iter()
            .zip(&written)
            .position(|(a, b)| a != b)
            .expect("differs");
    fs.lose_power(|_, n| keep.min(n));
    let (got, mut cuts) = recover(&fs, &dir());
    (got, cuts.pop().flatten(), unsynced)
}

#[test]
fn a_crash_in_a_pre_zeroed_segment_keeps_the_acked_and_cuts_a_torn_record() {
    // Nothing of the unsynced commit reached the disk: the zeros are the segment's end.
    let (got, cut, unsynced) = crash_in_a_pre_zeroed_segment(0);
    assert_eq!((got.first_seq(), got.last_seq()), (1, 3));
    let t = cut.expect("the zeroed tail is cut");
    assert!(
        t.zero_fill,
        "a pre-zeroed tail is the end, not damage: {t:?}"
    );
    assert!(!t.preserve_copy);
    // Torn inside its records: cut at the last good record, and reported as torn.
    for keep in [1, 9, unsynced / 2, unsynced - 1] {
        let (got, cut, _) = crash_in_a_pre_zeroed_segment(keep);
        assert_eq!(got.first_seq(), 1);
        assert!(
            (3..6).contains(&got.last_seq()),
            "keep {keep}: {}",
            got.last_seq()
        );
        for seq in 1..=3 {
            assert!(
                got.get(seq).is_some(),
                "acknowledged {seq} lost (keep {keep})"
            );
        }
        let t = cut.expect("torn tail cut");
        assert!(
            !t.zero_fill && t.problem.is_some(),
            "keep {keep}: a torn record is said to be torn: {t:?}"
        );
    }
    // All of it made it: six messages, then the zeros.
    let (got, cut, unsynced) = crash_in_a_pre_zeroed_segment(usize::MAX);
    assert_eq!(got.last_seq(), 6, "unsynced {unsynced}");
    assert!(cut.expect("zeros cut").zero_fill);
}
