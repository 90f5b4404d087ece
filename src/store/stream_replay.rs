//! Recovery of a [`Stream`] from its records (see the module docs of `stream` for the contract
//! with the I/O shell), and re-pointing message bodies at sealed segment files.

use bytes::Bytes;

use super::{compact_body, headers, shared_slice, StoredMsg, Stream};
use crate::store::record::{
    message_headers_offset, MessageRef, Record, RecordRef, RECORD_CRC_BYTES,
};

impl Stream {
    /// The record to write first in every new segment (see the module docs).
    pub fn checkpoint_record(&self) -> Record {
        Record::Checkpoint {
            first_seq: self.first_seq(),
            last_seq: self.last_seq,
            last_ts_ns: self.last_ts_ns,
        }
    }

    /// Recovery: applies one record read back from the segments, in file order. Limits are not
    /// evaluated; the records already say what was removed.
    pub fn replay(&mut self, rec: RecordRef<'_>) {
        self.replay_all([rec], None);
    }

    /// Recovery of many records (a whole segment) in file order: [`Self::replay`], or with
    /// `owner` [`Self::replay_shared`], for each, except that consecutive message records are
    /// gathered and loaded into the message map at once. Sequences only grow, so that is a
    /// bulk build of the tree (no search or node split per message, nodes packed full).
    ///
    /// # Panics
    /// With `owner`, if a record borrows bytes outside it.
    pub fn replay_all<'a>(
        &mut self,
        recs: impl IntoIterator<Item = RecordRef<'a>>,
        owner: Option<&Bytes>,
    ) {
        let mut pending: Vec<(u64, StoredMsg)> = Vec::new();
        for rec in recs {
            match rec {
                RecordRef::Message(m) => self.replay_message(m, owner, &mut pending),
                other => {
                    self.load_pending(&mut pending);
                    self.replay_removal(other);
                }
            }
        }
        self.load_pending(&mut pending);
    }

    /// Recovery without copying message bodies: like [`Self::replay`], but headers and payload
    /// of a message become slices of `owner`, the segment's read-only mapping, which must
    /// contain every byte `rec` borrows: recovered bodies stay in the page cache, not in RAM.
    ///
    /// # Panics
    /// If `rec` borrows bytes outside `owner`.
    pub fn replay_shared(&mut self, rec: RecordRef<'_>, owner: &Bytes) {
        self.replay_all([rec], Some(owner));
    }

    /// Points the bodies of the live messages listed in `index` ((seq, record offset) pairs)
    /// at `segment`, the read-only mapping of the sealed file holding their records, dropping
    /// their in-memory copies: RAM then holds only the active segment's bodies and the page
    /// cache the rest. Reads no byte of `segment` (faults nothing in); an entry whose record
    /// would not fit in it is left as it is; `index` must be ascending by sequence, and may be
    /// any part of a segment's entries (large segments are done in chunks). Returns how many
    /// messages were re-pointed.
    pub fn rebase_bodies(&mut self, segment: &Bytes, index: &[(u64, u64)]) -> u64 {
        debug_assert!(
            index.windows(2).all(|w| w[0].0 < w[1].0),
            "index not ascending"
        );
        let (Some(&(lo, _)), Some(&(hi, _))) = (index.first(), index.last()) else {
            return 0;
        };
        // A merge of two ascending sequences: the live messages in range and the entries.
        let mut entries = index.iter().peekable();
        let mut n = 0;
        for msg in self.msgs.range_mut(lo..=hi) {
            let seq = msg.seq;
            while entries.next_if(|&&(s, _)| s < seq).is_some() {}
            let Some(&&(_, off)) = entries.peek().filter(|&&&(s, _)| s == seq) else {
                continue;
            };
            let at = off as usize + message_headers_offset(msg.subject.len());
            let body_end = at + msg.headers.len() + msg.payload.len();
            if body_end + RECORD_CRC_BYTES > segment.len() {
                tracing::warn!(stream = %self.name, seq, offset = off, "segment index entry past the mapped file; body kept in memory");
                continue;
            }
            let headers = shared_slice(segment, &segment[at..at + msg.headers.len()]);
            let payload = shared_slice(segment, &segment[at + msg.headers.len()..body_end]);
            debug_assert_eq!(headers, msg.headers, "seq {seq}: headers differ on disk");
            debug_assert_eq!(payload, msg.payload, "seq {seq}: payload differs on disk");
            msg.headers = headers;
            msg.payload = payload;
            n += 1;
        }
        n
    }

    /// Moves replayed messages into the message map (appends: O(1) each).
    fn load_pending(&mut self, pending: &mut Vec<(u64, StoredMsg)>) {
        for (_, msg) in pending.drain(..) {
            self.msgs.push(msg);
        }
    }

    /// Replays a non-message record (the message map must be up to date).
    fn replay_removal(&mut self, rec: RecordRef<'_>) {
        match rec {
            RecordRef::Message(_) => unreachable!("messages are replayed by replay_message"),
            // Every removal record removed something when it was written, so an empty stream
            // after it reads `first_seq = last_seq + 1` even if the removed messages are already
            // gone here (their segment was deleted).
            RecordRef::Tombstone { seq } => {
                self.remove_one(seq);
                self.settle();
            }
            RecordRef::Purge { filter, below_seq } => {
                self.apply_purge(filter, below_seq);
                self.settle();
            }
            RecordRef::Checkpoint {
                first_seq,
                last_seq,
                last_ts_ns,
            } => {
                if last_seq > self.last_seq {
                    self.last_seq = last_seq;
                    self.last_ts_ns = last_ts_ns;
                }
                self.remove_prefix(first_seq);
                if self.msgs.is_empty() && first_seq > self.empty_first_seq {
                    self.empty_first_seq = first_seq;
                }
            }
        }
    }

    /// Replays one message record into every index but the message map: the message goes to
    /// `pending` (see [`Self::load_pending`]).
    fn replay_message(
        &mut self,
        m: MessageRef<'_>,
        owner: Option<&Bytes>,
        pending: &mut Vec<(u64, StoredMsg)>,
    ) {
        // A message at or below `last_seq` is legitimate right after a checkpoint taken once the
        // operation was applied but written before its records; anything not above every stored
        // sequence is out of order and ignored.
        let newest = match pending.last() {
            Some(&(s, _)) => s,
            None => self.msgs.last().map_or(0, |m| m.seq),
        };
        if m.seq <= newest || m.seq == 0 {
            tracing::warn!(stream = %self.name, seq = m.seq, newest, "replay: ignoring out-of-order message record");
            return;
        }
        // Subjects are always interned copies: a shared slice would pin its whole segment for
        // as long as the subject has any message, even in later segments. The previous message
        // usually has the same subject, which saves the hash lookup.
        let subject = match pending.last() {
            Some((_, prev)) if prev.subject[..] == *m.subject => prev.subject.clone(),
            _ => match self.subjects.get_key_value(m.subject) {
                Some((k, _)) => k.clone(),
                None => Bytes::copy_from_slice(m.subject),
            },
        };
        let (headers, payload) = match owner {
            Some(buf) => (shared_slice(buf, m.headers), shared_slice(buf, m.payload)),
            None => compact_body(m.headers, m.payload),
        };
        let ttl = headers::get_non_empty(&headers, headers::TTL)
            .and_then(|v| headers::parse_ttl(v).ok().flatten());
        let stored_id =
            headers::get_non_empty(&headers, headers::MSG_ID).map(|id| headers.slice_ref(id));
        let msg = StoredMsg {
            seq: m.seq,
            ts_ns: m.ts_ns,
            subject,
            headers,
            payload,
        };
        self.index_new(&msg);
        pending.push((m.seq, msg));
        self.track_ttl(m.seq, m.ts_ns, ttl);
        self.last_msg_id = stored_id.clone().unwrap_or_default();
        if let Some(id) = stored_id {
            // Replayed time is a lower bound of the real clock: ids older than the window
            // before this message are certainly expired.
            self.prune_dedupe(m.ts_ns);
            self.remember_msg_id(id, m.seq, m.ts_ns);
        }
    }
}
