//! Segment bytes from the disk: the record decoder, the recovery scanner and planner, and the
//! segment index. Decoding is exact (decode -> encode gives the same bytes; encode -> decode
//! gives the same records), a cut segment loses exactly its torn record, a flipped byte is
//! corruption (never mistaken for a torn tail), and the planner's arithmetic holds.

use bytes::Bytes;

use super::Input;
use crate::store::record::{decode, encode_into, encode_ref_into, Record, RecordError};
use crate::store::recovery::{plan, plan_files, plan_segment, SegmentScan};
use crate::store::segment::{
    build_index, index_entries, index_file_name, scan, segment_file_name, IndexView,
};

/// Every record found in arbitrary bytes re-encodes to exactly the bytes it came from.
fn check_arbitrary_segment(bytes: &[u8], first_seq: u64) {
    let res = scan(bytes);
    let mut at = 0usize;
    for (off, rec) in &res.records {
        assert_eq!(*off as usize, at, "records are not contiguous");
        let mut again = Vec::new();
        encode_ref_into(*rec, &mut again);
        assert_eq!(
            &bytes[at..at + again.len()],
            &again[..],
            "decode -> encode differs"
        );
        assert_eq!(rec.encoded_len(), again.len());
        at += again.len();
    }
    assert_eq!(res.valid_len, at);
    assert_eq!(res.valid_len + res.dropped_bytes, bytes.len());
    assert_eq!(res.problem.is_none(), res.dropped_bytes == 0);
    if let Some(RecordError::Incomplete { needed, available }) = res.problem {
        assert_eq!(available, bytes.len() - at);
        assert!(needed > available, "incomplete, yet all bytes were there");
    }
    let seg = SegmentScan::of(first_seq, bytes, Some(bytes));
    assert_eq!(seg.valid_len as usize, res.valid_len);
    check_plan(&seg, true);
    check_plan(&seg, false);
    if let Ok(view) = IndexView::open(bytes) {
        check_index_view(&view);
    }
}

fn check_plan(seg: &SegmentScan, is_last: bool) {
    let p = plan_segment(seg, is_last);
    assert!(seg.valid_len <= seg.len);
    if let Some(t) = p.truncate {
        assert_eq!(t.to_len + t.dropped, seg.len);
        assert!(t.dropped > 0);
        assert!(
            !(t.zero_fill && t.preserve_copy),
            "zero padding is never kept"
        );
    } else {
        assert_eq!(seg.valid_len, seg.len);
    }
}

fn check_index_view(view: &IndexView<'_>) {
    let entries: Vec<(u64, u64)> = view.entries().collect();
    assert_eq!(entries.len(), view.len());
    assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "unsorted index accepted"
    );
    for &(seq, off) in &entries {
        assert_eq!(view.lookup(seq), Some(off));
        assert!(off < view.covers_len(), "entry past the covered length");
    }
}

/// A record from fuzzer bytes (messages get increasing sequences so an index can be built).
fn record(input: &mut Input<'_>, next_seq: &mut u64) -> Record {
    let bytes = |i: &mut Input<'_>| Bytes::copy_from_slice(i.chunk());
    match input.byte() % 4 {
        0 | 1 => {
            *next_seq = next_seq.saturating_add(1 + u64::from(input.byte() % 4));
            Record::Message {
                seq: *next_seq,
                ts_ns: input.u64(),
                subject: bytes(input),
                headers: bytes(input),
                payload: bytes(input),
            }
        }
        2 => {
            if input.byte().is_multiple_of(2) {
                Record::Tombstone { seq: input.u64() }
            } else {
                Record::Purge {
                    below_seq: input.u64(),
                    filter: bytes(input),
                }
            }
        }
        _ => Record::Checkpoint {
            first_seq: input.u64(),
            last_seq: input.u64(),
            last_ts_ns: input.u64(),
        },
    }
}

/// Records the fuzzer describes, written as the shell writes them, then cut and damaged.
fn check_written_segment(input: &mut Input<'_>) {
    let first_seq = input.u64() >> 8;
    let mut next_seq = first_seq.saturating_sub(1);
    let count = 1 + input.byte() % 8;
    let records: Vec<Record> = (0..count).map(|_| record(input, &mut next_seq)).collect();
    let mut seg = Vec::new();
    let mut ends = Vec::new();
    for r in &records {
        encode_into(r, &mut seg);
        ends.push(seg.len());
    }
    // Encode -> decode is the identity, record by record and for the whole segment.
    let res = scan(&seg);
    assert_eq!(res.problem, None);
    assert_eq!(res.valid_len, seg.len());
    let decoded: Vec<Record> = res
        .records
        .iter()
        .map(|(_, r)| r.to_owned_record())
        .collect();
    assert_eq!(decoded, records, "encode -> decode changed the records");
    let (rec, used) = decode(&seg).expect("first record");
    assert_eq!((rec.to_owned_record(), used), (records[0].clone(), ends[0]));

    // The index of the sealed segment finds every message.
    let entries = index_entries(&res.records);
    let index = build_index(first_seq, &entries, seg.len() as u64);
    let view = IndexView::open(&index).expect("own index opens");
    assert_eq!(view.entries().collect::<Vec<_>>(), entries);
    assert_eq!(
        (view.first_seq(), view.covers_len()),
        (first_seq, seg.len() as u64)
    );
    check_index_view(&view);
    let scanned = SegmentScan::of(first_seq, &seg, Some(&index));
    let clean = plan_segment(&scanned, false);
    assert!(
        clean.truncate.is_none() && !clean.rebuild_index,
        "clean segment repaired"
    );

    // A torn write: the cut loses the records that end after it, and only those.
    let cut = (input.u16() as usize) % (seg.len() + 1);
    let torn = scan(&seg[..cut]);
    let whole = ends.iter().filter(|&&e| e <= cut).count();
    assert_eq!(torn.records.len(), whole, "cut at {cut} of {ends:?}");
    let boundary = if whole == 0 { 0 } else { ends[whole - 1] };
    assert_eq!(torn.valid_len, boundary);
    if cut == boundary {
        assert_eq!(torn.problem, None);
    } else {
        assert!(
            matches!(torn.problem, Some(RecordError::Incomplete { .. })),
            "a torn tail reads as {:?}",
            torn.problem
        );
    }
    let plan_torn = plan_segment(&SegmentScan::of(first_seq, &seg[..cut], Some(&index)), true);
    assert_eq!(
        plan_torn.rebuild_index,
        cut != seg.len(),
        "stale index kept"
    );

    // A damaged byte: corruption at that record, never a torn tail, nothing after it kept.
    let at = (input.u16() as usize) % seg.len();
    let flip = input.byte().max(1);
    let mut bad = seg.clone();
    bad[at] ^= flip;
    let hit = ends
        .iter()
        .position(|&e| at < e)
        .expect("inside the segment");
    let damaged = scan(&bad);
    assert_eq!(
        damaged.records.len(),
        hit,
        "byte {at} ^ {flip:#x} of {ends:?}"
    );
    assert!(
        !matches!(damaged.problem, Some(RecordError::Incomplete { .. }) | None),
        "byte {at} ^ {flip:#x} reads as {:?}",
        damaged.problem
    );
}

/// A directory listing and segment contents from the fuzzer, through the recovery planner.
fn check_listing(input: &mut Input<'_>) {
    let mut names: Vec<String> = Vec::new();
    for _ in 0..input.byte() % 6 {
        let n = input.u64() % 64;
        names.push(match input.byte() % 4 {
            0 => segment_file_name(n),
            1 => index_file_name(n),
            2 => format!("{}.tmp", segment_file_name(n)),
            _ => String::from_utf8_lossy(input.chunk()).into_owned(),
        });
    }
    let (segs, delete) = plan_files(&names);
    assert!(segs.windows(2).all(|w| w[0] < w[1]));
    assert!(delete.iter().all(|d| names.contains(d)));
    let scans: Vec<SegmentScan> = segs
        .iter()
        .map(|&s| SegmentScan::of(s, input.chunk(), None))
        .collect();
    let p = plan(&names, &scans);
    assert_eq!(p.segments.len(), scans.len());
    for h in &p.holes {
        assert!(h.from_seq <= h.to_seq, "empty hole {h:?}");
    }
}

/// Input layout: mode byte, then mode-specific bytes (see the functions above).
pub fn check_record_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 4 {
        0 => check_arbitrary_segment(input.rest(), 1),
        1 => {
            if !input.is_empty() {
                check_written_segment(&mut input)
            }
        }
        2 => {
            if let Ok(view) = IndexView::open(input.rest()) {
                check_index_view(&view);
            }
        }
        _ => check_listing(&mut input),
    }
}
