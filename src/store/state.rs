//! The numbers of a stream's state, as the store computes them and STREAM.INFO reports them
//! (one type for both: the store fills what it knows, the stream host adds the rest).

use std::collections::BTreeMap;

/// A stream's `state` in STREAM.INFO. Timestamps are Unix ns; 0 means "no time".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamStateView {
    /// Messages stored.
    pub messages: u64,
    /// Accounted bytes ([`super::stream::stored_msg_bytes`]).
    pub bytes: u64,
    /// First sequence (`last_seq + 1` once emptied; the host reports 0 for a pristine stream).
    pub first_seq: u64,
    /// Time of the first message (0 = none).
    pub first_ts_ns: u64,
    /// Last sequence ever assigned (kept when messages are removed).
    pub last_seq: u64,
    /// Time of the last message (0 = none; kept when it is removed).
    pub last_ts_ns: u64,
    /// Distinct subjects stored (omitted from JSON when 0).
    pub num_subjects: u64,
    /// Sequences between first and last that are gone (omitted when 0).
    pub num_deleted: u64,
    /// Those sequences, ascending; only from [`super::Stream::state`], i.e. when
    /// `deleted_details` was asked for (omitted when empty).
    pub deleted: Vec<u64>,
    /// Consumers on the stream (filled by the stream host; the store knows none).
    pub consumer_count: u64,
    /// One page of subject counts, only when `subjects_filter` was given (filled by the
    /// stream host; omitted when empty).
    pub subjects: BTreeMap<String, u64>,
}
