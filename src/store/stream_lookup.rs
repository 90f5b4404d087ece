//! Reads of a [`Stream`]: filtered scans for consumers, lookups by sequence, subject and time,
//! the STREAM.INFO state and per-subject counts.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{is_all, StoredMsg, Stream, StreamStateView};
use crate::subject::{is_literal, subject_matches};

impl Stream {
    /// The first stored message at or after `from_seq` matching any of `filters` (none = all).
    pub fn next_matching(&self, from_seq: u64, filters: &[Bytes]) -> Option<StoredMsg> {
        if filters.is_empty() || filters.iter().any(|f| is_all(f)) {
            return self.msgs.range(from_seq..).next();
        }
        // A short linear probe first (dense matches), then the per-subject index.
        let probed = self.msgs.probe_subjects(from_seq, 32, |subject| {
            filters.iter().any(|f| subject_matches(f, subject))
        });
        if probed.is_some() {
            return probed;
        }
        filters
            .iter()
            .filter_map(|f| self.next_by_subject(f, from_seq))
            .min_by_key(|m| m.seq)
    }

    /// Stored messages at or after `from_seq` matching any of `filters` (none = all).
    pub fn count_matching_from(&self, from_seq: u64, filters: &[Bytes]) -> u64 {
        let from_seq = from_seq.max(self.first_seq());
        if from_seq > self.last_seq || self.msgs.is_empty() {
            return 0;
        }
        if filters.is_empty() || filters.iter().any(|f| is_all(f)) {
            let contiguous = (self.last_seq - self.first_seq() + 1) == self.msgs.len() as u64;
            if contiguous {
                return self.last_seq - from_seq + 1;
            }
            return self.msgs.seqs(from_seq..).count() as u64;
        }
        let after = |l: &VecDeque<u64>| (l.len() - l.partition_point(|&s| s < from_seq)) as u64;
        if filters.len() == 1 && is_literal(&filters[0]) {
            return self.subjects.get(&filters[0][..]).map_or(0, after);
        }
        self.subjects
            .iter()
            .filter(|(k, _)| filters.iter().any(|f| subject_matches(f, k)))
            .map(|(_, l)| after(l))
            .sum()
    }

    /// The last sequence of every subject matching `filters` (none = all), ascending.
    pub fn last_per_subject(&self, filters: &[Bytes]) -> Vec<u64> {
        let all = filters.is_empty() || filters.iter().any(|f| is_all(f));
        let mut seqs: Vec<u64> = self
            .subjects
            .iter()
            .filter(|(k, _)| all || filters.iter().any(|f| subject_matches(f, k)))
            .filter_map(|(_, l)| l.back().copied())
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// Message `seq`, if stored.
    pub fn get(&self, seq: u64) -> Option<StoredMsg> {
        self.msgs.get(seq)
    }

    /// Newest message whose subject matches `subject_filter` (wildcards allowed; empty or `>` = any).
    pub fn last_by_subject(&self, subject_filter: &[u8]) -> Option<StoredMsg> {
        let seq = if is_all(subject_filter) {
            self.msgs.last_seq()?
        } else if is_literal(subject_filter) {
            *self.subjects.get(subject_filter)?.back()?
        } else {
            self.subjects
                .iter()
                .filter(|(k, _)| subject_matches(subject_filter, k))
                .filter_map(|(_, l)| l.back().copied())
                .max()?
        };
        self.msgs.get(seq)
    }

    /// Oldest message at or after `from_seq` whose subject matches `subject_filter`.
    pub fn next_by_subject(&self, subject_filter: &[u8], from_seq: u64) -> Option<StoredMsg> {
        let first_at_or_after =
            |l: &VecDeque<u64>| l.get(l.partition_point(|&s| s < from_seq)).copied();
        let seq = if is_all(subject_filter) {
            return self.msgs.range(from_seq..).next();
        } else if is_literal(subject_filter) {
            first_at_or_after(self.subjects.get(subject_filter)?)?
        } else {
            self.subjects
                .iter()
                .filter(|(k, _)| subject_matches(subject_filter, k))
                .filter_map(|(_, l)| first_at_or_after(l))
                .min()?
        };
        self.msgs.get(seq)
    }

    /// Stored messages from `from_seq` on, in order (for batched direct gets and consumers).
    pub fn range_from(&self, from_seq: u64) -> impl Iterator<Item = StoredMsg> + '_ {
        self.msgs.range(from_seq..)
    }

    /// First stored sequence whose timestamp is `>= ts_ns` (timestamps are non-decreasing by
    /// sequence: the running maximum of the stored ones is the time index);
    /// `None` when every stored message is older (nats-server then answers `last_seq + 1`).
    pub fn first_seq_at_or_after(&self, ts_ns: u64) -> Option<u64> {
        self.msgs.first_at_or_after_ts(ts_ns)
    }

    /// Full STREAM.INFO state, including the list of deleted sequences (O(messages)).
    pub fn state(&self) -> StreamStateView {
        let mut view = self.state_summary();
        if view.num_deleted > 0 {
            let mut deleted = Vec::with_capacity(view.num_deleted as usize);
            let mut expect = view.first_seq;
            for seq in self.msgs.seqs(..) {
                deleted.extend(expect..seq);
                expect = seq + 1;
            }
            deleted.extend(expect..=self.last_seq);
            debug_assert_eq!(deleted.len() as u64, view.num_deleted);
            view.deleted = deleted;
        }
        view
    }

    /// STREAM.INFO state without the `deleted` list (O(1)).
    pub fn state_summary(&self) -> StreamStateView {
        let first_seq = self.first_seq();
        let num_deleted = if self.msgs.is_empty() {
            0
        } else {
            (self.last_seq - first_seq + 1) - self.msgs.len() as u64
        };
        StreamStateView {
            messages: self.msgs.len() as u64,
            bytes: self.bytes,
            first_seq,
            first_ts_ns: self.msgs.first_ts().unwrap_or(0),
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts_ns,
            num_subjects: self.subjects.len() as u64,
            num_deleted,
            ..StreamStateView::default()
        }
    }

    /// Message count per subject matching `filter` (empty or `>` = all), in no particular order.
    pub fn subjects_count(&self, filter: &[u8]) -> Vec<(Bytes, u64)> {
        if !is_all(filter) && is_literal(filter) {
            return self
                .subjects
                .get_key_value(filter)
                .map(|(k, l)| vec![(k.clone(), l.len() as u64)])
                .unwrap_or_default();
        }
        self.subjects
            .iter()
            .filter(|(k, _)| is_all(filter) || subject_matches(filter, k))
            .map(|(k, l)| (k.clone(), l.len() as u64))
            .collect()
    }

    /// True if any message with a sequence in `lo..=hi` is stored (lets the shell tell whether a
    /// segment still holds live messages).
    pub fn has_live_in(&self, lo: u64, hi: u64) -> bool {
        lo <= hi && self.msgs.seqs(lo..=hi).next().is_some()
    }
}
