//! Recovery decisions, sans-IO: given what a stream directory holds (file names) and what a
//! scan of each segment found, say what the shell must do — which files to delete, which
//! segment to truncate where (and whether to keep a copy of the damaged original first), which
//! index to rebuild, which segments to replay and which sequence ranges went missing.
//!
//! Policies (see ARCHITECTURE.md, "Recovery"):
//! * A segment's records are replayed up to its first torn or corrupt record; the file is cut
//!   there. Only the **last** segment can hold a write that was in flight at a crash (every
//!   earlier one was synced and closed before the next was opened), so damage there is a torn
//!   tail and is simply cut. Damage in an **earlier** segment is media corruption of data that
//!   was acknowledged: the original is kept as `<segment>.damaged` before the cut, so an
//!   operator can still salvage it, and the loss is reported.
//! * An index is rebuilt when it is missing, unreadable, or covers another length than the
//!   segment's good prefix; an index without its segment, and `*.tmp` leftovers of an
//!   interrupted durable write, are deleted.
//! * A hole between two segments (a segment deleted mid-way) is reported with the sequences it
//!   held; the next segment's leading checkpoint record carries the stream state across it.

use super::record::{RecordError, RecordRef};
use super::segment::{parse_index_file_name, parse_segment_file_name, IndexView, Scanner};

/// Suffix of a damaged segment's preserved original.
pub const DAMAGED_SUFFIX: &str = ".damaged";
/// Suffix of a durable write's temp file.
pub const TMP_SUFFIX: &str = ".tmp";

/// What a scan of one segment found (built in the shell's single streaming pass, or by
/// [`SegmentScan::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// First sequence in the file name.
    pub first_seq: u64,
    /// Bytes in the file.
    pub len: u64,
    /// End of the good records.
    pub valid_len: u64,
    /// Why the scan stopped early, if it did.
    pub problem: Option<RecordError>,
    /// The bytes after the good records are all zero (DMA padding).
    pub zero_fill_tail: bool,
    /// Lowest and highest message sequence among the good records.
    pub msg_seqs: Option<(u64, u64)>,
    /// Highest sequence the segment accounts for: its last message, or its leading
    /// checkpoint's last sequence when it holds no message.
    pub last_seq: Option<u64>,
    /// Last sequence of the leading checkpoint (the stream state when the segment began).
    pub checkpoint_last: Option<u64>,
    /// Segment length the index file says it covers: `None` when there is no usable index.
    pub index_covers: Option<u64>,
}

impl SegmentScan {
    /// Scans a whole segment (and validates its index bytes, if any).
    pub fn of(first_seq: u64, bytes: &[u8], index: Option<&[u8]>) -> Self {
        let mut acc = ScanAcc::default();
        let mut scanner = Scanner::new(bytes);
        for (_, rec) in scanner.by_ref() {
            acc.see(&rec);
        }
        let covers = index.and_then(|b| IndexView::open(b).ok().map(|v| v.covers_len()));
        acc.finish(first_seq, bytes.len() as u64, &scanner, covers)
    }
}

/// Accumulates a [`SegmentScan`] while the shell replays the records in one pass.
#[derive(Debug, Default, Clone)]
pub struct ScanAcc {
    msg_seqs: Option<(u64, u64)>,
    checkpoint_last: Option<u64>,
    leading: Option<u64>,
    seen: bool,
}

impl ScanAcc {
    /// Notes one good record.
    pub fn see(&mut self, rec: &RecordRef<'_>) {
        if let (false, RecordRef::Checkpoint { last_seq, .. }) = (self.seen, rec) {
            self.leading = Some(*last_seq);
        }
        self.seen = true;
        match rec {
            RecordRef::Message(m) => {
                self.msg_seqs = Some(match self.msg_seqs {
                    None => (m.seq, m.seq),
                    Some((lo, hi)) => (lo.min(m.seq), hi.max(m.seq)),
                })
            }
            RecordRef::Checkpoint { last_seq, .. } => {
                self.checkpoint_last = Some(self.checkpoint_last.unwrap_or(0).max(*last_seq))
            }
            _ => {}
        }
    }

    /// The summary once `scanner` has returned `None`; `index_covers` is what the segment's
    /// valid index file says it covers (`IndexView::covers_len`), if there is one.
    pub fn finish(
        self,
        first_seq: u64,
        len: u64,
        scanner: &Scanner<'_>,
        index_covers: Option<u64>,
    ) -> SegmentScan {
        let last_seq = match (self.msg_seqs, self.checkpoint_last) {
            (Some((_, hi)), Some(c)) => Some(hi.max(c)),
            (Some((_, hi)), None) => Some(hi),
            (None, c) => c,
        };
        SegmentScan {
            first_seq,
            len,
            valid_len: scanner.valid_len() as u64,
            problem: scanner.problem(),
            zero_fill_tail: scanner.zero_fill_tail(),
            msg_seqs: self.msg_seqs,
            last_seq,
            checkpoint_last: self.leading,
            index_covers,
        }
    }
}

/// How a segment's tail is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// New length: the end of the good records.
    pub to_len: u64,
    /// Bytes dropped.
    pub dropped: u64,
    /// The dropped bytes were zero padding only (nothing was lost).
    pub zero_fill: bool,
    /// Keep the original as `<segment>.damaged` before cutting (damage in a sealed segment).
    pub preserve_copy: bool,
    /// Why the scan stopped.
    pub problem: Option<RecordError>,
}

/// What to do with one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPlan {
    /// The segment (its first sequence).
    pub first_seq: u64,
    /// Cut the file, if its tail is bad.
    pub truncate: Option<Truncation>,
    /// Write a fresh index covering the good prefix.
    pub rebuild_index: bool,
}

/// Sequences lost between two segments: a segment deleted mid-way, or records cut from a
/// damaged sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// First missing sequence.
    pub from_seq: u64,
    /// Last missing sequence.
    pub to_seq: u64,
}

/// Everything recovery does to one stream directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// Files to delete (names): orphan indexes, temp files.
    pub delete: Vec<String>,
    /// Segments to replay, in order, with what to repair in each.
    pub segments: Vec<SegmentPlan>,
    /// Sequence ranges lost between segments (a segment deleted mid-way, a damaged one cut).
    pub holes: Vec<Hole>,
}

/// The segments (ascending first sequence) and the files to delete, from a directory listing.
pub fn plan_files<S: AsRef<str>>(names: &[S]) -> (Vec<u64>, Vec<String>) {
    let mut segs: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_segment_file_name(n.as_ref()))
        .collect();
    segs.sort_unstable();
    segs.dedup();
    let delete = names
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| {
            n.ends_with(TMP_SUFFIX)
                || parse_index_file_name(n).is_some_and(|s| segs.binary_search(&s).is_err())
        })
        .map(str::to_owned)
        .collect();
    (segs, delete)
}

/// What to do with a scanned segment; `is_last` when no later segment exists.
pub fn plan_segment(scan: &SegmentScan, is_last: bool) -> SegmentPlan {
    let truncate = (scan.valid_len < scan.len).then(|| Truncation {
        to_len: scan.valid_len,
        dropped: scan.len - scan.valid_len,
        zero_fill: scan.zero_fill_tail,
        // Zero padding is what a clean DMA write leaves: nothing to keep. Anything else in a
        // sealed segment was acknowledged data.
        preserve_copy: !is_last && !scan.zero_fill_tail,
        problem: scan.problem,
    });
    SegmentPlan {
        first_seq: scan.first_seq,
        truncate,
        rebuild_index: scan.index_covers != Some(scan.valid_len),
    }
}

/// A hole between consecutive segments: `prev` accounts for sequences up to its last one, and
/// `next` began (its leading checkpoint, else its name) after a later one; what lies between
/// was in a deleted segment or cut from a damaged one.
pub fn hole_between(prev: &SegmentScan, next: &SegmentScan) -> Option<Hole> {
    let covered_to = prev.last_seq.unwrap_or(prev.first_seq.saturating_sub(1));
    let began_after = next
        .checkpoint_last
        .unwrap_or(next.first_seq.saturating_sub(1));
    (began_after > covered_to).then_some(Hole {
        from_seq: covered_to + 1,
        to_seq: began_after,
    })
}

/// The whole plan from a listing and the scans of its segments (in [`plan_files`] order).
pub fn plan<S: AsRef<str>>(names: &[S], scans: &[SegmentScan]) -> RecoveryPlan {
    let (segs, delete) = plan_files(names);
    assert_eq!(
        segs,
        scans.iter().map(|s| s.first_seq).collect::<Vec<_>>(),
        "one scan per listed segment, in order"
    );
    let n = scans.len();
    let segments = scans
        .iter()
        .enumerate()
        .map(|(i, s)| plan_segment(s, i + 1 == n))
        .collect();
    let holes = scans
        .windows(2)
        .filter_map(|w| hole_between(&w[0], &w[1]))
        .collect();
    RecoveryPlan {
        delete,
        segments,
        holes,
    }
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
