use bytes::Bytes;

use super::*;
use crate::store::record::{encode_into, Record};
use crate::store::segment::{build_index, index_entries, index_file_name, scan, segment_file_name};

/// A segment created for `first_seq`: a leading checkpoint, then messages `seqs`.
fn segment(first_seq: u64, seqs: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(
        &Record::Checkpoint {
            first_seq: 1,
            last_seq: first_seq - 1,
            last_ts_ns: 0,
        },
        &mut out,
    );
    for seq in seqs {
        encode_into(
            &Record::Message {
                seq,
                ts_ns: seq * 10,
                subject: Bytes::from_static(b"orders.new"),
                headers: Bytes::new(),
                payload: Bytes::from(format!("payload {seq}")),
            },
            &mut out,
        );
    }
    out
}

fn index_of(first_seq: u64, bytes: &[u8]) -> Vec<u8> {
    let r = scan(bytes);
    build_index(first_seq, &index_entries(&r.records), r.valid_len as u64)
}

/// Three clean segments with fresh indexes, as a clean shutdown leaves them.
/// (first sequence, segment bytes, index bytes).
type Set = Vec<(u64, Vec<u8>, Option<Vec<u8>>)>;

fn clean_set() -> Set {
    [(1, 1..=10), (11, 11..=20), (21, 21..=25)]
        .into_iter()
        .map(|(first, seqs)| {
            let b = segment(first, seqs);
            let i = index_of(first, &b);
            (first, b, Some(i))
        })
        .collect()
}

fn names(set: &Set) -> Vec<String> {
    let mut out = Vec::new();
    for (first, _, idx) in set {
        out.push(segment_file_name(*first));
        if idx.is_some() {
            out.push(index_file_name(*first));
        }
    }
    out
}

fn plan_of(set: &Set, extra: &[&str]) -> RecoveryPlan {
    let scans: Vec<SegmentScan> = set
        .iter()
        .map(|(f, b, i)| SegmentScan::of(*f, b, i.as_deref()))
        .collect();
    let mut n = names(set);
    n.extend(extra.iter().map(|s| s.to_string()));
    plan(&n, &scans)
}

#[test]
fn a_clean_set_needs_nothing() {
    let p = plan_of(&clean_set(), &[]);
    assert!(p.delete.is_empty() && p.holes.is_empty());
    assert_eq!(p.segments.len(), 3);
    assert!(p
        .segments
        .iter()
        .all(|s| s.truncate.is_none() && !s.rebuild_index));
}

#[test]
fn a_torn_tail_of_the_last_segment_is_cut_without_a_copy() {
    let mut set = clean_set();
    let full = set[2].1.clone();
    let good = segment(21, 21..=24).len();
    // Every cut inside the last record.
    for cut in good + 1..full.len() {
        set[2].1 = full[..cut].to_vec();
        set[2].2 = None;
        let p = plan_of(&set, &[]);
        let t = p.segments[2].truncate.clone().expect("cut");
        assert_eq!((t.to_len, t.dropped), (good as u64, (cut - good) as u64));
        assert!(!t.preserve_copy, "a torn tail is not acknowledged data");
        assert!(matches!(t.problem, Some(RecordError::Incomplete { .. })));
        assert!(p.segments[2].rebuild_index);
        assert!(p.segments[..2].iter().all(|s| s.truncate.is_none()));
    }
}

#[test]
fn zero_padding_is_cut_and_reported_as_padding() {
    let mut set = clean_set();
    let len = set[2].1.len();
    set[2].1.extend_from_slice(&[0u8; 4096 - 100]);
    let p = plan_of(&set, &[]);
    let t = p.segments[2].truncate.clone().expect("cut");
    assert_eq!(t.to_len, len as u64);
    assert!(t.zero_fill && !t.preserve_copy);
    // The index covered the padded length? No: it covered the good prefix, which is unchanged.
    assert!(!p.segments[2].rebuild_index);
}

#[test]
fn a_corrupt_middle_record_of_a_sealed_segment_keeps_a_copy() {
    let mut set = clean_set();
    let good = segment(11, 11..=14).len();
    set[1].1[good + 12] ^= 0x40;
    let p = plan_of(&set, &[]);
    let t = p.segments[1].truncate.clone().expect("cut");
    assert_eq!(t.to_len, good as u64);
    assert!(t.preserve_copy, "acknowledged data is never destroyed");
    assert!(!t.zero_fill);
    assert_eq!(t.problem, Some(RecordError::BadCrc));
    assert!(
        p.segments[1].rebuild_index,
        "the index covered the whole file"
    );
    // The later segment is still replayed, untouched.
    assert_eq!(p.segments[2].truncate, None);
    // The cut records 15..=20 are reported lost.
    assert_eq!(
        p.holes,
        vec![Hole {
            from_seq: 15,
            to_seq: 20
        }]
    );
}

#[test]
fn a_corrupt_record_in_the_last_segment_is_cut_without_a_copy() {
    let mut set = clean_set();
    let good = segment(21, 21..=22).len();
    set[2].1[good + 3] ^= 0xff;
    let p = plan_of(&set, &[]);
    let t = p.segments[2].truncate.clone().expect("cut");
    assert_eq!(t.to_len, good as u64);
    assert!(!t.preserve_copy);
}

#[test]
fn missing_stale_or_damaged_indexes_are_rebuilt() {
    let mut set = clean_set();
    set[0].2 = None;
    // Stale: covers a shorter prefix (the process died after appending more).
    let short = segment(11, 11..=15);
    set[1].2 = Some(index_of(11, &short));
    // Damaged bytes.
    let mut bad = set[2].2.clone().unwrap();
    let n = bad.len();
    bad[n - 1] ^= 1;
    set[2].2 = Some(bad);
    let p = plan_of(&set, &[]);
    assert!(p.segments.iter().all(|s| s.rebuild_index));
    assert!(p.segments.iter().all(|s| s.truncate.is_none()));
}

#[test]
fn orphan_indexes_and_temp_files_are_deleted() {
    let set = clean_set();
    let orphan = index_file_name(99);
    let p = plan_of(
        &set,
        &[&orphan, "meta.json.tmp", "00000000000000000031.idx.tmp"],
    );
    let mut d = p.delete.clone();
    d.sort();
    assert_eq!(
        d,
        vec![
            "00000000000000000031.idx.tmp".to_string(),
            orphan,
            "meta.json.tmp".to_string()
        ]
    );
    // Index of a live segment and the metadata file stay.
    assert!(!p.delete.contains(&index_file_name(1)));
}

#[test]
fn a_segment_deleted_mid_way_is_reported_as_a_hole() {
    let mut set = clean_set();
    set.remove(1);
    let p = plan_of(&set, &[&index_file_name(11)]);
    assert_eq!(
        p.holes,
        vec![Hole {
            from_seq: 11,
            to_seq: 20
        }]
    );
    assert_eq!(
        p.delete,
        vec![index_file_name(11)],
        "its index is an orphan"
    );
    assert_eq!(p.segments.len(), 2);
    // Leading segments removed by compaction are not a hole.
    let mut set = clean_set();
    set.remove(0);
    assert!(plan_of(&set, &[]).holes.is_empty());
}

#[test]
fn an_empty_last_segment_and_a_headless_one_are_handled() {
    let mut set = clean_set();
    // A new segment whose checkpoint never reached the disk: all zero (a torn first block).
    set.push((26, vec![0u8; 512], None));
    let p = plan_of(&set, &[]);
    let t = p.segments[3].truncate.clone().expect("cut");
    assert_eq!(t.to_len, 0);
    assert!(t.zero_fill && !t.preserve_copy);
    assert!(p.holes.is_empty());
    // Only a checkpoint: no message, no hole, nothing to cut.
    let mut set = clean_set();
    set.push((26, segment(26, []), None));
    let p = plan_of(&set, &[]);
    assert_eq!(p.segments[3].truncate, None);
    assert!(p.holes.is_empty());
}

#[test]
fn scan_acc_matches_a_full_scan() {
    let b = segment(1, 1..=7);
    let s = SegmentScan::of(1, &b, None);
    assert_eq!(s.msg_seqs, Some((1, 7)));
    assert_eq!(s.last_seq, Some(7));
    assert_eq!(s.valid_len, b.len() as u64);
    assert_eq!(s.index_covers, None);
}
