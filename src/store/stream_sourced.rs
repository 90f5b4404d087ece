//! Storing what a mirror or a source receives (`streams::sourcing` drives it): a mirror stores
//! the origin's message at the origin's sequence and time (sequences the origin no longer has
//! are gaps here too); a source stores it as a new message. Both are taken as nats-server
//! takes a sourced message: a counter message is stored verbatim, or added up by a counter
//! stream (`stream_counter.rs`), never refused as a client's increment would be.

use super::{PublishOutcome, Stream};
use crate::store::StoreError;

impl Stream {
    /// Mirror: stores an origin message at its origin sequence `seq` with the origin's
    /// timestamp `ts_ns`, under every limit of this stream; sequences between the last one
    /// and `seq` stay gaps (deleted). A `seq` at or below the last one is already here
    /// (`Duplicate`).
    pub fn store_mirrored(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        seq: u64,
        ts_ns: u64,
    ) -> Result<PublishOutcome, StoreError> {
        if seq <= self.last_seq {
            return Ok(PublishOutcome::Duplicate { seq });
        }
        let (saved_last, saved_first) = (self.last_seq, self.empty_first_seq);
        self.last_seq = seq - 1;
        if self.msgs.is_empty() {
            self.empty_first_seq = seq;
        }
        let outcome = self.publish_from(subject, headers, payload, ts_ns, true);
        if outcome.is_err() {
            self.last_seq = saved_last;
            self.empty_first_seq = saved_first;
        }
        outcome
    }

    /// Source: stores a message a source delivered (with its `Nats-Stream-Source`) as a new
    /// message of this stream.
    pub fn publish_sourced(
        &mut self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        now_ns: u64,
    ) -> Result<PublishOutcome, StoreError> {
        self.publish_from(subject, headers, payload, now_ns, true)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::stream::{PublishOutcome, Stream, StreamLimits};

    #[test]
    fn mirrored_messages_keep_origin_sequences_and_leave_gaps() {
        let mut s = Stream::new("M".into(), StreamLimits::default(), 0);
        let ok = |o| matches!(o, Ok(PublishOutcome::Stored { .. }));
        assert!(ok(s.store_mirrored(b"a", b"", b"1", 3, 10)));
        assert!(ok(s.store_mirrored(b"a", b"", b"2", 4, 11)));
        assert!(ok(s.store_mirrored(b"a", b"", b"3", 7, 12)));
        assert!(matches!(
            s.store_mirrored(b"a", b"", b"x", 7, 12),
            Ok(PublishOutcome::Duplicate { seq: 7 })
        ));
        let st = s.state();
        assert_eq!((st.first_seq, st.last_seq, st.messages), (3, 7, 3));
        assert_eq!(s.get(7).map(|m| m.ts_ns), Some(12));
    }
}
