//! Recovery of a [`Stream`] from its records (see the module docs of `stream` for the contract
//! with the I/O shell), and re-pointing message bodies at sealed segment files.

use bytes::Bytes;

use super::{compact_body, headers, StoredMsg, Stream};
use crate::store::record::{message_headers_offset, MessageRef, Record, RecordRef};

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
    /// `owner` [`Self::replay_shared`], for each.
    ///
    /// # Panics
    /// With `owner`, if a record borrows bytes outside it.
    pub fn replay_all<'a>(
        &mut self,
        recs: impl IntoIterator<Item = RecordRef<'a>>,
        owner: Option<&Bytes>,
    ) {
        // The previous message's subject key: usually the same subject, no hash lookup.
        let mut prev_subject = Bytes::new();
        // The newest stored sequence, known until a removal.
        let mut newest = None;
        for rec in recs {
            match rec {
                RecordRef::Message(m) => {
                    let top = *newest.get_or_insert_with(|| self.msgs.last_seq().unwrap_or(0));
                    if self.replay_message(m, owner, &mut prev_subject, top) {
                        newest = Some(m.seq);
                    }
                }
                other => {
                    self.replay_removal(other);
                    newest = None;
                }
            }
        }
    }

    /// Recovery without copying message bodies: like [`Self::replay`], but a message is kept
    /// as the offset of its record in `owner`, the segment's read-only mapping, which must
    /// contain every byte `rec` borrows: recovered messages stay in the page cache, not in RAM.
    ///
    /// # Panics
    /// If `rec` borrows bytes outside `owner`.
    pub fn replay_shared(&mut self, rec: RecordRef<'_>, owner: &Bytes) {
        self.replay_all([rec], Some(owner));
    }

    /// Serves the live messages listed in `index` ((seq, record offset) pairs) from
    /// `segment`, the read-only mapping of the sealed file holding their records, dropping
    /// their in-memory copies: the message map then keeps only each record's offset (RAM
    /// holds only the active segment's messages, the page cache the rest). Reads no byte of
    /// `segment` (faults nothing in); an entry whose record would not fit in it is left as it
    /// is; `index` must be ascending by sequence, and may be any part of a segment's entries
    /// (large segments are done in chunks). Returns how many listed messages are served from
    /// `segment`.
    pub fn rebase_bodies(&mut self, segment: &Bytes, index: &[(u64, u64)]) -> u64 {
        debug_assert!(
            index.windows(2).all(|w| w[0].0 < w[1].0),
            "index not ascending"
        );
        self.msgs.rebase(segment, index)
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

    /// Replays one message record into every index and the message map (as an offset into
    /// `owner` when given, else as an in-memory copy); false when it was out of order.
    fn replay_message(
        &mut self,
        m: MessageRef<'_>,
        owner: Option<&Bytes>,
        prev_subject: &mut Bytes,
        newest: u64,
    ) -> bool {
        // A message at or below `last_seq` is legitimate right after a checkpoint taken once the
        // operation was applied but written before its records; anything not above every stored
        // sequence (`newest`) is out of order and ignored.
        if m.seq <= newest || m.seq == 0 {
            tracing::warn!(stream = %self.name, seq = m.seq, newest, "replay: ignoring out-of-order message record");
            return false;
        }
        // Subject keys are always interned copies: a shared slice would pin its whole segment
        // for as long as the subject has any message, even in later segments.
        if prev_subject[..] != *m.subject {
            *prev_subject = match self.subjects.get_key_value(m.subject) {
                Some((k, _)) => k.clone(),
                None => Bytes::copy_from_slice(m.subject),
            };
        }
        let ttl = headers::get_non_empty(m.headers, headers::TTL)
            .and_then(|v| headers::parse_ttl(v).ok().flatten());
        let stored_id =
            headers::get_non_empty(m.headers, headers::MSG_ID).map(Bytes::copy_from_slice);
        let size = self.size_for(m.subject.len(), m.headers.len(), m.payload.len());
        self.index_new(m.seq, m.ts_ns, prev_subject, size);
        match owner {
            Some(buf) => {
                let base = buf.as_ptr() as usize;
                let at = (m.subject.as_ptr() as usize)
                    .checked_sub(base + message_headers_offset(0))
                    .filter(|&at| at + message_headers_offset(m.subject.len()) <= buf.len())
                    .expect("the record lies inside its segment mapping");
                self.msgs.push_mapped(m.seq, m.ts_ns, buf, at as u64);
            }
            None => {
                let (headers, payload) = compact_body(m.headers, m.payload);
                self.msgs.push(StoredMsg {
                    seq: m.seq,
                    ts_ns: m.ts_ns,
                    subject: prev_subject.clone(),
                    headers,
                    payload,
                });
            }
        }
        self.track_ttl(m.seq, m.ts_ns, ttl);
        self.last_msg_id = stored_id.clone().unwrap_or_default();
        if let Some(id) = stored_id {
            // Replayed time is a lower bound of the real clock: ids older than the window
            // before this message are certainly expired.
            self.prune_dedupe(m.ts_ns);
            self.remember_msg_id(id, m.seq, m.ts_ns);
        }
        true
    }
}
