//! The stream state machine (sans-IO): publish rules, limits, deletes, purges, lookups and
//! recovery replay. It never touches a file; every change it makes comes back as [`Effect`]s
//! (records to append, in order) so the I/O shell can persist it and a restart can replay the
//! records to the same state.
//!
//! Semantics follow nats-server 2.15 (`server/stream.go` processJetStreamMsg, `server/filestore.go`
//! storeRawMsg / PurgeEx / Compact / expireMsgs), including its quirks:
//! * a sealed stream refuses every publish, MSG.DELETE and PURGE first (10109);
//! * publish checks run in nats-server's order: expected stream, msg-id duplicate, expected last
//!   subject sequence, expected last sequence, expected last msg id, rollup, max message size,
//!   header size, discard-new limits;
//! * discard new refuses when `bytes + size >= max_bytes` (not `>`), and a subject at its
//!   per-subject limit may still be written (its oldest message is evicted) unless
//!   `discard_new_per_subject`;
//! * an unfiltered `keep` purge cuts at `last_seq - keep + 1`, so interior gaps make it keep fewer
//!   than `keep` messages; an unfiltered purge with `seq` 1 purges everything;
//! * an unfiltered purge with `seq` past the end moves the next sequence to `seq`.
//!
//! Message bytes are accounted like nats-server's file store ([`stored_msg_bytes`]).
//!
//! ## Records, replay and segment deletion (contract with the I/O shell)
//! Replay is purely record-driven (limits are never re-evaluated during replay):
//! `Message` inserts, `Tombstone` removes one sequence, `Purge{filter, below_seq}` removes every
//! matching message below `below_seq` (idempotent, so replaying it over a state that lacks
//! already-dead messages is harmless), `Checkpoint` restores first/last sequence and last time.
//! The shell must
//! 1. write [`Stream::checkpoint_record`] as the first record of every new segment (taking it
//!    after applying the operation whose records come next is fine), and
//! 2. never delete the newest segment; delete older ones from the front (oldest first) once
//!    every message in them is below [`Stream::first_seq`]. A segment further in may also go
//!    when it holds no tombstone or purge record and [`Stream::has_live_in`] is false for its
//!    sequence range (its removal records elsewhere then only refer to messages it held).
//!
//! With `discard: old` limits every publish that evicts also emits a small unfiltered purge
//! record (22 bytes) after its message.

use std::collections::{HashMap, VecDeque};

use ahash::RandomState;
use bytes::Bytes;

use super::error::StoreError;
use super::headers;
pub use super::limits::{Discard, StreamLimits};
use super::record::Record;
use super::seq_map::SeqMap;
pub use super::state::StreamStateView;
use crate::subject::{is_literal, subject_matches};

/// A limit `<= 0` is unlimited; otherwise its value.
#[inline]
fn limit(v: i64) -> Option<u64> {
    (v > 0).then_some(v as u64)
}

pub use super::msg::{stored_msg_bytes, StoredMsg};

/// Accounted size of a message in nats-server's memory store: `subject + headers + payload + 16`.
#[inline]
pub fn memory_msg_bytes(subject_len: usize, headers_len: usize, payload_len: usize) -> u64 {
    (subject_len + headers_len + payload_len + 16) as u64
}

/// Accounted size of a stored message under either accounting (see [`StreamLimits`]).
#[inline]
fn msg_size(memory_accounting: bool, m: &StoredMsg) -> u64 {
    if memory_accounting {
        memory_msg_bytes(m.subject.len(), m.headers.len(), m.payload.len())
    } else {
        m.stored_bytes()
    }
}

/// Largest header block nats-server accepts in a stream (64 KiB - 1).
pub const MAX_HEADERS_BYTES: usize = u16::MAX as usize;
/// Largest subject a record can hold (its length is a u16, as in nats-server's file store).
pub const MAX_SUBJECT_BYTES: usize = u16::MAX as usize;

/// What the I/O shell must persist, in order, for the change just made, so that a restart
/// replays to the same state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Append this record to the stream's active segment.
    Append(Record),
}

/// Result of an accepted publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored under `seq`; persist `effects` before acknowledging.
    Stored {
        /// Sequence assigned.
        seq: u64,
        /// Records to append (the message, then any removals it caused).
        effects: Vec<Effect>,
    },
    /// A `Nats-Msg-Id` seen within the duplicate window: nothing stored; ack the original `seq`
    /// with `"duplicate": true`.
    Duplicate {
        /// Sequence of the original message.
        seq: u64,
    },
}

/// Rollup requested by a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollup {
    Subject,
    All,
}

/// One stream's state, owned by one core.
#[derive(Debug)]
pub struct Stream {
    name: String,
    limits: StreamLimits,
    /// Live messages by sequence.
    msgs: SeqMap,
    /// Per subject: live sequences, ascending (count = len, first = front, last = back). The
    /// key is shared with every in-memory message of that subject. (The time index is the
    /// message map's: see [`SeqMap::first_at_or_after_ts`].)
    subjects: HashMap<Bytes, VecDeque<u64>, RandomState>,
    bytes: u64,
    last_seq: u64,
    last_ts_ns: u64,
    /// `first_seq` reported while no message is stored.
    empty_first_seq: u64,
    /// Remembered `Nats-Msg-Id` → sequence, within the duplicate window.
    dedupe: HashMap<Bytes, u64, RandomState>,
    /// `(ts, seq, id)` in insertion order, to expire `dedupe`.
    dedupe_order: VecDeque<(u64, u64, Bytes)>,
    /// `Nats-Msg-Id` of the last stored message (empty when it had none).
    last_msg_id: Bytes,
    /// Bumped by every removal, so consumers know when a cached pending count went stale.
    removals: u64,
    /// (expiry time, seq) of messages with a `Nats-TTL`; entries of removed ones linger.
    ttls: std::collections::BTreeSet<(u64, u64)>,
    /// Sequences of messages with `Nats-TTL: never` (max_age skips them); removed ones linger.
    nevers: std::collections::BTreeSet<u64>,
}

/// Removes `seq` from a subject's ascending sequence list.
fn unlink_seq(list: &mut VecDeque<u64>, seq: u64) {
    if list.front() == Some(&seq) {
        list.pop_front();
    } else if list.back() == Some(&seq) {
        list.pop_back();
    } else if let Ok(i) = list.binary_search(&seq) {
        list.remove(i);
    } else {
        debug_assert!(false, "seq {seq} missing from its subject index");
    }
}

/// Copies headers and payload into one allocation.
fn compact_body(headers: &[u8], payload: &[u8]) -> (Bytes, Bytes) {
    if headers.is_empty() {
        return (Bytes::new(), Bytes::copy_from_slice(payload));
    }
    let mut v = Vec::with_capacity(headers.len() + payload.len());
    v.extend_from_slice(headers);
    v.extend_from_slice(payload);
    let all = Bytes::from(v);
    (all.slice(..headers.len()), all.slice(headers.len()..))
}

/// Is `filter` "every subject"?
#[inline]
fn is_all(filter: &[u8]) -> bool {
    filter.is_empty() || filter == b">"
}

impl Stream {
    /// A new, empty stream. `first_seq` is the config's `first_seq` (0 when absent): the first
    /// message gets `max(first_seq, 1)`; state reads `0/0` for 0 and `first_seq/first_seq-1` otherwise.
    pub fn new(name: String, limits: StreamLimits, first_seq: u64) -> Self {
        Stream {
            name,
            limits,
            msgs: SeqMap::default(),
            subjects: HashMap::with_hasher(RandomState::new()),
            bytes: 0,
            last_seq: first_seq.saturating_sub(1),
            last_ts_ns: 0,
            empty_first_seq: first_seq,
            dedupe: HashMap::with_hasher(RandomState::new()),
            dedupe_order: VecDeque::new(),
            last_msg_id: Bytes::new(),
            removals: 0,
            ttls: Default::default(),
            nevers: Default::default(),
        }
    }

    /// Accounted size of a message of these lengths, by this stream's storage type.
    fn size_for(&self, subject_len: usize, headers_len: usize, payload_len: usize) -> u64 {
        if self.limits.memory_accounting {
            memory_msg_bytes(subject_len, headers_len, payload_len)
        } else {
            stored_msg_bytes(subject_len, headers_len, payload_len)
        }
    }

    /// The stream's name (checked by `Nats-Expected-Stream`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limits in force.
    pub fn limits(&self) -> &StreamLimits {
        &self.limits
    }

    /// Number of stored messages.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// True when no message is stored.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Current first sequence (as in [`StreamStateView::first_seq`]).
    pub fn first_seq(&self) -> u64 {
        self.msgs.first_seq().unwrap_or(self.empty_first_seq)
    }

    /// Last sequence assigned.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Timestamp of the last message stored (0 before the first).
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    /// Applies updated limits (STREAM.UPDATE). Removes what the new limits exclude: with discard
    /// old the oldest beyond `max_msgs`/`max_bytes`, and (either policy) the oldest per subject
    /// beyond `max_msgs_per_subject`. Age is not checked here (no clock): call [`Stream::expire`].
    pub fn set_limits(&mut self, limits: StreamLimits) -> Vec<Effect> {
        self.limits = limits;
        let mut effects = Vec::new();
        let mut removed = Vec::new();
        self.enforce_total_limits(&mut removed);
        let mut subject_cuts: Vec<(Bytes, u64)> = Vec::new();
        if let Some(per) = limit(self.limits.max_msgs_per_subject) {
            let over: Vec<Bytes> = self
                .subjects
                .iter()
                .filter(|(_, l)| l.len() as u64 > per)
                .map(|(k, _)| k.clone())
                .collect();
            for subj in over {
                let list = &self.subjects[&subj];
                let cut = list[list.len() - per as usize];
                if is_literal(&subj) {
                    self.remove_subject_below(&subj, cut);
                    subject_cuts.push((subj, cut));
                } else {
                    // A literal `*`/`>` token would read as a wildcard in a purge record.
                    let doomed: Vec<u64> = list.iter().copied().take_while(|&s| s < cut).collect();
                    for seq in doomed {
                        self.remove_one(seq);
                        removed.push(seq);
                    }
                }
            }
        }
        if !removed.is_empty() || !subject_cuts.is_empty() {
            self.settle();
        }
        self.removal_effects(&removed, &mut effects);
        for (filter, below_seq) in subject_cuts {
            effects.push(Effect::Append(Record::Purge { filter, below_seq }));
        }
        effects
    }

    /// Stores a publish if every JetStream rule allows it (see the module docs for the order).
    /// `headers` is the raw header block or empty; `now_ns` is the wall clock (unix ns). The
    /// stored timestamp is `max(now_ns, last_ts)` so the time index stays ordered.
    pub fn publish(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        now_ns: u64,
    ) -> Result<PublishOutcome, StoreError> {
        self.publish_from(subject, headers, payload, now_ns, false)
    }

    /// `publish`, for a message a source of this stream delivered (`sourced`) or a client's:
    /// a sourced counter message is stored verbatim or added up, not checked as an increment
    /// (`stream_counter.rs`).
    pub(super) fn publish_from(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        now_ns: u64,
        sourced: bool,
    ) -> Result<PublishOutcome, StoreError> {
        if self.limits.sealed {
            return Err(StoreError::Sealed);
        }
        self.prune_dedupe(now_ns);
        let mut msg_id: Option<&[u8]> = None;
        let mut rollup = None;
        let mut parsed_ttl = None;
        let mut incr = None;
        if !headers.is_empty() {
            incr = self.publish_incr(headers, payload, sourced)?;
            if let Some(expected) = headers::get_non_empty(headers, headers::EXPECTED_STREAM) {
                if expected != self.name.as_bytes() {
                    return Err(StoreError::ExpectedStreamMismatch);
                }
            }
            // A source's message was checked by its origin: a TTL this stream does not
            // allow is not applied (nats-server), rather than refused.
            if !sourced || self.limits.allow_msg_ttl {
                parsed_ttl = self.parse_publish_ttl(headers)?;
            }
            if let Some(id) = headers::get_non_empty(headers, headers::MSG_ID) {
                if let Some(&seq) = self.dedupe.get(id) {
                    return Ok(PublishOutcome::Duplicate { seq });
                }
                msg_id = Some(id);
            }
            if let Some(v) = headers::get_non_empty(headers, headers::EXPECTED_LAST_SUBJECT_SEQ) {
                let want = headers::parse_seq(v);
                let on =
                    headers::get_non_empty(headers, headers::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT)
                        .unwrap_or(subject);
                let have = self.last_by_subject(on).map_or(0, |m| m.seq);
                if have != want {
                    return Err(StoreError::WrongLastSequence { last_seq: have });
                }
            }
            if let Some(v) = headers::get_non_empty(headers, headers::EXPECTED_LAST_SEQ) {
                if headers::parse_seq(v) != self.last_seq {
                    return Err(StoreError::WrongLastSequence {
                        last_seq: self.last_seq,
                    });
                }
            }
            if let Some(v) = headers::get_non_empty(headers, headers::EXPECTED_LAST_MSG_ID) {
                if v != &self.last_msg_id[..] {
                    return Err(StoreError::WrongLastMsgId {
                        last_id: String::from_utf8_lossy(&self.last_msg_id).into_owned(),
                    });
                }
            }
            if !sourced && headers::get_non_empty(headers, headers::STREAM_SOURCE).is_some() {
                return Err(StoreError::SourceHeaderNotAllowed);
            }
            if let Some(v) = headers::get_non_empty(headers, headers::ROLLUP) {
                let permitted = self.limits.allow_rollup_hdrs && !self.limits.deny_purge;
                if !permitted && !sourced {
                    return Err(StoreError::RollupNotPermitted);
                }
                let value = String::from_utf8_lossy(v).to_lowercase();
                rollup = Some(match value.as_str() {
                    "sub" => Rollup::Subject,
                    "all" => Rollup::All,
                    other => {
                        return Err(StoreError::RollupInvalid {
                            value: other.to_owned(),
                        })
                    }
                });
                // A source's rollup is stored but carried out only where rollups are allowed.
                if !permitted {
                    rollup = None;
                }
            }
        }
        let counter = self.counter_body(subject, headers, payload, incr.as_ref())?;
        let (headers, payload) = match &counter {
            Some(c) => {
                let h = c.headers.as_deref().unwrap_or(headers);
                msg_id = msg_id.and_then(|_| headers::get_non_empty(h, headers::MSG_ID));
                (h, &c.body[..])
            }
            None => (headers, payload),
        };
        if let Some(max) = limit(self.limits.max_msg_size) {
            if (headers.len() + payload.len()) as u64 > max {
                return Err(StoreError::MessageTooLarge);
            }
        }
        if headers.len() > MAX_HEADERS_BYTES {
            return Err(StoreError::HeadersTooLarge);
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            // Cannot happen behind the protocol's control-line limit; refused rather than unstorable.
            return Err(StoreError::MessageTooLarge);
        }
        let (ttl, rewritten) = self.publish_ttl(parsed_ttl, headers)?;
        let headers = match &rewritten {
            Some(block) => {
                msg_id = msg_id.and_then(|_| headers::get_non_empty(block, headers::MSG_ID));
                &block[..]
            }
            None => headers,
        };
        let size = self.size_for(subject.len(), headers.len(), payload.len());
        let (interned, subject_count) = match self.subjects.get_key_value(subject) {
            Some((k, list)) => (Some(k.clone()), list.len() as u64),
            None => (None, 0),
        };
        let per_subject = limit(self.limits.max_msgs_per_subject);
        let at_subject_limit = per_subject.is_some_and(|per| subject_count >= per);
        if self.limits.discard == Discard::New {
            if at_subject_limit && self.limits.discard_new_per_subject {
                return Err(StoreError::MaxMsgsPerSubjectExceeded);
            }
            if let Some(max) = limit(self.limits.max_msgs) {
                if self.msgs.len() as u64 >= max && !at_subject_limit {
                    return Err(StoreError::MaxMsgsExceeded);
                }
            }
            if let Some(max) = limit(self.limits.max_bytes) {
                if self.bytes + size >= max {
                    let evicted_size = self
                        .subjects
                        .get(subject)
                        .and_then(|l| l.front())
                        .and_then(|&s| self.msgs.get(s))
                        .map_or(0, |m| m.stored_bytes());
                    if !at_subject_limit || evicted_size <= size {
                        return Err(StoreError::MaxBytesExceeded);
                    }
                }
            }
        }

        // Accepted: store it.
        let seq = self.last_seq + 1;
        let ts_ns = now_ns.max(self.last_ts_ns);
        let subject = interned.unwrap_or_else(|| Bytes::copy_from_slice(subject));
        let (stored_headers, stored_payload) = compact_body(headers, payload);
        let stored_id = msg_id.map(|id| {
            let at = id.as_ptr() as usize - headers.as_ptr() as usize;
            stored_headers.slice(at..at + id.len())
        });
        let msg = StoredMsg {
            seq,
            ts_ns,
            subject: subject.clone(),
            headers: stored_headers,
            payload: stored_payload,
        };
        let mut effects = Vec::with_capacity(1);
        effects.push(Effect::Append(msg.to_record()));
        self.insert(msg);
        self.track_ttl(seq, ts_ns, ttl);

        let mut removed = Vec::new();
        if let Some(per) = per_subject {
            while self
                .subjects
                .get(&subject[..])
                .is_some_and(|l| l.len() as u64 > per)
            {
                let oldest = self.subjects[&subject[..]][0];
                self.remove_one(oldest);
                removed.push(oldest);
            }
        }
        self.enforce_total_limits(&mut removed);
        if !removed.is_empty() {
            self.settle();
            self.removal_effects(&removed, &mut effects);
        }

        self.last_msg_id = stored_id.clone().unwrap_or_default();
        if let Some(id) = stored_id {
            self.remember_msg_id(id, seq, ts_ns);
        }

        match rollup {
            Some(Rollup::Subject) => {
                // nats-server: a purge of the publish subject keeping 1.
                let (_, purge) = self.purge_inner(Some(&subject[..]), 0, 1);
                effects.extend(purge);
            }
            Some(Rollup::All) => {
                let (_, purge) = self.purge_inner(None, 0, 1);
                effects.extend(purge);
            }
            None => {}
        }
        Ok(PublishOutcome::Stored { seq, effects })
    }

    /// MSG.DELETE.
    pub fn delete_msg(&mut self, seq: u64) -> Result<Vec<Effect>, StoreError> {
        if self.limits.sealed {
            return Err(StoreError::Sealed);
        }
        if self.limits.deny_delete {
            return Err(StoreError::DeleteNotPermitted);
        }
        if self.remove_one(seq).is_none() {
            return Err(StoreError::DeleteMissing {
                seq,
                last_seq: self.last_seq,
            });
        }
        self.settle();
        Ok(vec![Effect::Append(Record::Tombstone { seq })])
    }

    /// STREAM.PURGE: everything, or by subject `filter` (wildcards allowed), below `seq`
    /// (exclusive), or keeping the newest `keep` (`Some(0)` = absent). Returns the count purged.
    pub fn purge(
        &mut self,
        filter: Option<&[u8]>,
        seq: Option<u64>,
        keep: Option<u64>,
    ) -> Result<(u64, Vec<Effect>), StoreError> {
        // nats-server's order: the malformed request, then sealed, then deny_purge.
        let seq = seq.unwrap_or(0);
        let keep = keep.unwrap_or(0);
        if seq > 0 && keep > 0 {
            return Err(StoreError::PurgeSeqAndKeep);
        }
        if self.limits.sealed {
            return Err(StoreError::Sealed);
        }
        if self.limits.deny_purge {
            return Err(StoreError::PurgeNotPermitted);
        }
        Ok(self.purge_inner(filter, seq, keep))
    }

    /// Removes a message a consumer's retention policy released (workqueue ack, interest
    /// satisfied); unlike MSG.DELETE it ignores `deny_delete`. Empty when already gone.
    pub fn remove_acked(&mut self, seq: u64) -> Vec<Effect> {
        if self.remove_one(seq).is_none() {
            return Vec::new();
        }
        self.settle();
        vec![Effect::Append(Record::Tombstone { seq })]
    }

    /// Forgets the messages `first..=last` whose write was refused (storage failure: their
    /// publishers were told so, and they are not on disk): they are removed, their
    /// `Nats-Msg-Id`s forgotten (a retry is stored, not called a duplicate), and when nothing
    /// was assigned after them the last sequence goes back to `first - 1`, so the next publish
    /// reuses their sequences as if they had never been assigned. Only safe while nothing
    /// outside the store has seen them (the host shows consumers durable messages only).
    /// Returns how many messages were removed.
    pub fn forget_refused(&mut self, first: u64, last: u64) -> u64 {
        if first == 0 || first > last {
            return 0;
        }
        let mut n = 0;
        for seq in first..=last.min(self.last_seq) {
            if self.remove_one(seq).is_some() {
                n += 1;
            }
        }
        let refused = |s: &u64| (first..=last).contains(s);
        self.dedupe.retain(|_, s| !refused(s));
        self.dedupe_order.retain(|(_, s, _)| !refused(s));
        self.ttls.retain(|(_, s)| !refused(s));
        self.nevers.retain(|s| !refused(s));
        if last >= self.last_seq && self.msgs.last_seq().is_none_or(|s| s < first) {
            self.last_seq = first - 1;
            if let Some(m) = self.msgs.last() {
                self.last_ts_ns = m.ts_ns;
            }
            self.last_msg_id = self
                .msgs
                .get(self.last_seq)
                .and_then(|m| {
                    headers::get_non_empty(&m.headers, headers::MSG_ID).map(Bytes::copy_from_slice)
                })
                .unwrap_or_default();
            if self.msgs.is_empty() {
                self.empty_first_seq = self.empty_first_seq.min(first);
            }
        }
        if n > 0 {
            self.settle();
        }
        n
    }

    /// How many removals the stream has seen (changes whenever a message disappears).
    pub fn removal_epoch(&self) -> u64 {
        self.removals
    }

    // ----- internals -------------------------------------------------------------------------

    /// Adds a message newer than every stored one to every index.
    fn insert(&mut self, msg: StoredMsg) {
        debug_assert!(self.msgs.last_seq().is_none_or(|s| s < msg.seq));
        let size = msg_size(self.limits.memory_accounting, &msg);
        self.index_new(msg.seq, msg.ts_ns, &msg.subject, size);
        self.msgs.push(msg);
    }

    /// [`Self::insert`] except the message map itself: bytes, subject index, last sequence.
    /// `subject` is cloned as the index key when the subject is new: pass an interned copy.
    fn index_new(&mut self, seq: u64, ts: u64, subject: &Bytes, size: u64) {
        self.bytes += size;
        match self.subjects.get_mut(&subject[..]) {
            Some(list) => list.push_back(seq),
            None => {
                self.subjects.insert(subject.clone(), VecDeque::from([seq]));
            }
        }
        if seq > self.last_seq {
            self.last_seq = seq;
            self.last_ts_ns = ts;
        }
    }

    /// Removes one message from the message map, byte count and subject index (call
    /// [`Self::settle`] after a batch).
    fn remove_one(&mut self, seq: u64) -> Option<StoredMsg> {
        let msg = self.msgs.remove(seq)?;
        self.removals += 1;
        self.bytes -= msg_size(self.limits.memory_accounting, &msg);
        if let Some(list) = self.subjects.get_mut(&msg.subject[..]) {
            unlink_seq(list, seq);
            if list.is_empty() {
                self.subjects.remove(&msg.subject[..]);
            }
        }
        Some(msg)
    }

    /// Removes the oldest message (limit eviction).
    fn pop_first(&mut self) -> Option<u64> {
        let msg = self.msgs.pop_first()?;
        let seq = msg.seq;
        self.removals += 1;
        self.bytes -= msg_size(self.limits.memory_accounting, &msg);
        if let Some(list) = self.subjects.get_mut(&msg.subject[..]) {
            debug_assert_eq!(list.front(), Some(&seq));
            list.pop_front();
            if list.is_empty() {
                self.subjects.remove(&msg.subject[..]);
            }
        }
        Some(seq)
    }

    /// Removes every message below `below`; returns how many (settles when any).
    fn remove_prefix(&mut self, below: u64) -> u64 {
        if self.msgs.first_seq().is_none_or(|s| s >= below) {
            return 0;
        }
        let gone = self.msgs.split_off_below(below);
        let n = gone.len() as u64;
        self.removals += 1;
        for msg in gone {
            let seq = msg.seq;
            self.bytes -= msg_size(self.limits.memory_accounting, &msg);
            if let Some(list) = self.subjects.get_mut(&msg.subject[..]) {
                debug_assert_eq!(list.front(), Some(&seq));
                list.pop_front();
                if list.is_empty() {
                    self.subjects.remove(&msg.subject[..]);
                }
            }
        }
        self.settle();
        n
    }

    /// Removes a subject's messages below `below`; returns how many (no settle).
    fn remove_subject_below(&mut self, subject: &[u8], below: u64) -> u64 {
        let Some(list) = self.subjects.get_mut(subject) else {
            return 0;
        };
        let mut n = 0;
        while let Some(&seq) = list.front() {
            if seq >= below {
                break;
            }
            list.pop_front();
            let msg = self.msgs.remove(seq).expect("indexed message is stored");
            self.removals += 1;
            self.bytes -= msg_size(self.limits.memory_accounting, &msg);
            n += 1;
        }
        if list.is_empty() {
            self.subjects.remove(subject);
        }
        n
    }

    /// Restores invariants after removals: the empty-stream first sequence.
    fn settle(&mut self) {
        if self.msgs.is_empty() {
            self.empty_first_seq = self.last_seq + 1;
        }
    }

    /// Discard-old `max_msgs` and `max_bytes` evictions (oldest first).
    fn enforce_total_limits(&mut self, removed: &mut Vec<u64>) {
        if self.limits.discard != Discard::Old {
            return;
        }
        if let Some(max) = limit(self.limits.max_msgs) {
            while self.msgs.len() as u64 > max {
                removed.extend(self.pop_first());
            }
        }
        if let Some(max) = limit(self.limits.max_bytes) {
            while self.bytes > max {
                match self.pop_first() {
                    Some(seq) => removed.push(seq),
                    None => break,
                }
            }
        }
    }

    /// Records for a set of removed sequences (state already settled): one unfiltered purge up to
    /// the new first sequence covers everything below it; tombstones cover the rest.
    fn removal_effects(&self, removed: &[u64], effects: &mut Vec<Effect>) {
        if removed.is_empty() {
            return;
        }
        let first = self.first_seq();
        if removed.iter().any(|&s| s < first) {
            effects.push(Effect::Append(Record::Purge {
                filter: Bytes::new(),
                below_seq: first,
            }));
        }
        effects.extend(
            removed
                .iter()
                .filter(|&&s| s >= first)
                .map(|&seq| Effect::Append(Record::Tombstone { seq })),
        );
    }

    /// The purge decision of nats-server's PurgeEx, then [`Self::apply_purge`].
    fn purge_inner(&mut self, filter: Option<&[u8]>, seq: u64, keep: u64) -> (u64, Vec<Effect>) {
        let filter = filter.unwrap_or_default();
        let below = if is_all(filter) {
            if keep == 0 && seq <= 1 {
                self.last_seq + 1
            } else if seq > 1 {
                seq
            } else {
                if keep >= self.msgs.len() as u64 {
                    return (0, Vec::new());
                }
                self.last_seq - keep + 1
            }
        } else if keep > 0 {
            match self.nth_newest_matching(filter, keep) {
                Some(cut) => cut,
                None => return (0, Vec::new()),
            }
        } else if seq > 0 {
            seq
        } else {
            self.last_seq + 1
        };
        let purged = self.apply_purge(filter, below);
        if purged == 0 && !is_all(filter) {
            // Nothing changed; replay relies on filtered purge records having removed something.
            return (0, Vec::new());
        }
        let record = Record::Purge {
            filter: if is_all(filter) {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(filter)
            },
            below_seq: below,
        };
        (purged, vec![Effect::Append(record)])
    }

    /// Sequence of the `k`-th newest message matching `filter` (k >= 1), if at least `k + 1`
    /// match (otherwise a keep-`k` purge has nothing to do).
    fn nth_newest_matching(&self, filter: &[u8], k: u64) -> Option<u64> {
        debug_assert!(k >= 1);
        if is_literal(filter) {
            let list = self.subjects.get(filter)?;
            let len = list.len() as u64;
            return (len > k).then(|| list[(len - k) as usize]);
        }
        let total: u64 = self
            .subjects
            .iter()
            .filter(|(s, _)| subject_matches(filter, s))
            .map(|(_, l)| l.len() as u64)
            .sum();
        if total <= k {
            return None;
        }
        self.msgs
            .iter()
            .rev()
            .filter(|m| subject_matches(filter, &m.subject))
            .nth((k - 1) as usize)
            .map(|m| m.seq)
    }

    /// Removes every message below `below` matching `filter` (empty = all). Unfiltered, it also
    /// moves the next sequence to `below` when that is past the end, and always marks the
    /// stream purged (an empty stream then reads `first_seq = last_seq + 1`).
    fn apply_purge(&mut self, filter: &[u8], below: u64) -> u64 {
        if is_all(filter) {
            let n = self.remove_prefix(below);
            if below > self.last_seq + 1 {
                self.last_seq = below - 1;
            }
            if self.msgs.is_empty() {
                self.settle();
            }
            return n;
        }
        let n = if is_literal(filter) {
            self.remove_subject_below(filter, below)
        } else {
            let matching: Vec<Bytes> = self
                .subjects
                .keys()
                .filter(|s| subject_matches(filter, s))
                .cloned()
                .collect();
            matching
                .iter()
                .map(|s| self.remove_subject_below(s, below))
                .sum()
        };
        if n > 0 {
            self.settle();
        }
        n
    }

    /// Remembers a stored message's id for the duplicate window.
    fn remember_msg_id(&mut self, id: Bytes, seq: u64, ts_ns: u64) {
        if self.limits.duplicate_window_ns == 0 {
            return;
        }
        // An own copy: a slice would keep the whole message body alive for the window.
        let id = Bytes::copy_from_slice(&id);
        self.dedupe.insert(id.clone(), seq);
        self.dedupe_order.push_back((ts_ns, seq, id));
    }

    /// Forgets ids whose window has passed (`now - ts >= window`, as nats-server).
    fn prune_dedupe(&mut self, now_ns: u64) {
        let window = self.limits.duplicate_window_ns;
        if window == 0 {
            if !self.dedupe.is_empty() {
                self.dedupe.clear();
                self.dedupe_order.clear();
            }
            return;
        }
        while let Some(front) = self.dedupe_order.front() {
            if now_ns.saturating_sub(front.0) < window {
                break;
            }
            let (_, seq, id) = self.dedupe_order.pop_front().expect("front exists");
            if self.dedupe.get(&id[..]) == Some(&seq) {
                self.dedupe.remove(&id[..]);
            }
        }
    }
}

#[path = "stream_batch.rs"]
mod batch;
pub use batch::{BatchMsg, BatchRefusal, BatchRefused, BatchStored};
#[path = "stream_counter.rs"]
mod counter;
#[path = "stream_expiry.rs"]
mod expiry;
#[path = "stream_lookup.rs"]
mod lookup;
#[path = "stream_replay.rs"]
mod replay;
#[path = "stream_sourced.rs"]
mod sourced;

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "model_tests.rs"]
mod model_tests;
