//! Atomic batch publish (`allow_atomic`, nats-server 2.12) on the stream state machine: a
//! committed batch is stored whole or not at all.
//!
//! [`Stream::publish_batch`] first checks every message against the stream as it was before
//! the batch, with nats-server's batch rules (`checkMsgHeadersPreClusteredProposal` as the
//! commit of `processJetStreamAtomicBatchMsg` runs it): `Nats-Expected-Last-Msg-Id` is not
//! supported, a `Nats-Msg-Id` seen before or twice in the batch refuses it, only the first
//! message may say `Nats-Expected-Last-Sequence`, an expected last subject sequence must not
//! name a subject the batch already wrote, `Nats-Rollup: all` only on the first message and
//! `sub` only on a subject's first message, and `discard: new` limits count the whole batch.
//! Then it stores the messages one by one with the ordinary publish rules. Should one of those
//! still refuse (a check only the store makes), the messages stored so far are forgotten
//! again, and the removals they caused come back as effects to persist, so what is on disk
//! matches what is in memory.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::{headers, limit, Discard, Effect, PublishOutcome, Record, StoreError, Stream};

/// One message of an atomic batch, with the headers it is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMsg {
    /// Publish subject.
    pub subject: Bytes,
    /// Raw header block.
    pub headers: Bytes,
    /// Payload.
    pub payload: Bytes,
}

/// Why a batch was refused at its commit (domain facts; `jetstream::error_map` gives the codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchRefusal {
    /// One message broke an ordinary publish rule.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A header atomic batches do not support (its name).
    #[error("unsupported header {0}")]
    UnsupportedHeader(&'static str),
    /// A `Nats-Msg-Id` already stored, or twice in the batch.
    #[error("duplicate message id")]
    DuplicateMsgId,
    /// An expected sequence that the batch's own messages make meaningless.
    #[error("wrong last sequence")]
    WrongLastSequenceConstant,
    /// `Nats-Rollup: sub` on a subject the batch already wrote.
    #[error("batch rollup sub invalid")]
    RollupSubInvalid,
    /// `Nats-Rollup: all` after the first message.
    #[error("batch rollup all invalid")]
    RollupAllInvalid,
}

/// A stored batch: its sequences and the records to persist, as one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStored {
    /// Sequence of the first message.
    pub first_seq: u64,
    /// Sequence of the last message (the commit ack's `seq`).
    pub last_seq: u64,
    /// The messages' records and the removals they caused, in order.
    pub effects: Vec<Effect>,
}

/// A refused batch: why, and the removals its partly applied messages made (persist them).
pub type BatchRefused = (BatchRefusal, Vec<Effect>);

/// What the checks remember across the messages of one batch.
#[derive(Default)]
struct Staged<'a> {
    msg_ids: HashSet<&'a [u8]>,
    /// Messages per subject written by the batch so far.
    subjects: HashMap<&'a [u8], u64>,
    /// Expected last subject sequences already checked: subject → its last sequence.
    expected_per_subject: HashMap<&'a [u8], u64>,
    bytes: u64,
}

impl Stream {
    /// Stores a committed atomic batch whole, or nothing of it (see the module docs).
    pub fn publish_batch(
        &mut self,
        msgs: &[BatchMsg],
        now_ns: u64,
    ) -> Result<BatchStored, BatchRefused> {
        if self.limits.sealed {
            return Err((StoreError::Sealed.into(), Vec::new()));
        }
        self.prune_dedupe(now_ns);
        let mut staged = Staged::default();
        for (i, m) in msgs.iter().enumerate() {
            self.check_batch_msg(i as u64, m, &mut staged)
                .map_err(|e| (e, Vec::new()))?;
        }
        let first_seq = self.last_seq + 1;
        let mut effects = Vec::with_capacity(msgs.len());
        for m in msgs {
            let refusal = match self.publish(&m.subject, &m.headers, &m.payload, now_ns) {
                Ok(PublishOutcome::Stored { effects: e, .. }) => {
                    effects.extend(e);
                    continue;
                }
                Ok(PublishOutcome::Duplicate { .. }) => BatchRefusal::DuplicateMsgId,
                Err(e) => e.into(),
            };
            return Err((refusal, self.roll_back_batch(first_seq, effects)));
        }
        Ok(BatchStored {
            first_seq,
            last_seq: self.last_seq,
            effects,
        })
    }

    /// nats-server's batch checks of message `i` (0-based), against the stream before the
    /// batch and what the batch's earlier messages staged.
    fn check_batch_msg<'a>(
        &self,
        i: u64,
        m: &'a BatchMsg,
        staged: &mut Staged<'a>,
    ) -> Result<(), BatchRefusal> {
        let h = &m.headers[..];
        let subject = &m.subject[..];
        if headers::get_non_empty(h, headers::EXPECTED_LAST_MSG_ID).is_some() {
            return Err(BatchRefusal::UnsupportedHeader("Nats-Expected-Last-Msg-Id"));
        }
        let mut incr = None;
        if !h.is_empty() {
            if h.len() > super::MAX_HEADERS_BYTES {
                return Err(StoreError::HeadersTooLarge.into());
            }
            incr = self.publish_incr(h, &m.payload, false)?;
            if let Some(expected) = headers::get_non_empty(h, headers::EXPECTED_STREAM) {
                if expected != self.name.as_bytes() {
                    return Err(StoreError::ExpectedStreamMismatch.into());
                }
            }
            match headers::get_non_empty(h, headers::TTL).map(headers::parse_ttl) {
                Some(Ok(None)) | None => {}
                Some(_) if !self.limits.allow_msg_ttl => {
                    return Err(StoreError::MessageTtlDisabled.into())
                }
                Some(Err(())) => return Err(StoreError::MessageTtlInvalid.into()),
                Some(Ok(Some(_))) => {}
            }
            if let Some(id) = headers::get_non_empty(h, headers::MSG_ID) {
                if !staged.msg_ids.insert(id) || self.dedupe.contains_key(id) {
                    return Err(BatchRefusal::DuplicateMsgId);
                }
            }
            if headers::get_non_empty(h, headers::STREAM_SOURCE).is_some() {
                return Err(StoreError::SourceHeaderNotAllowed.into());
            }
        }
        if incr.is_none() && self.limits.allow_msg_counter {
            return Err(StoreError::CounterIncrMissing.into());
        }
        let rollup = headers::get_non_empty(h, headers::ROLLUP);
        if !h.is_empty() {
            if let Some(v) = headers::get_non_empty(h, headers::EXPECTED_LAST_SEQ) {
                let have = self.last_seq + i;
                if headers::parse_seq(v) != have {
                    return Err(StoreError::WrongLastSequence { last_seq: have }.into());
                }
                if i > 0 {
                    return Err(BatchRefusal::WrongLastSequenceConstant);
                }
            }
            if let Some(v) = headers::get_non_empty(h, headers::EXPECTED_LAST_SUBJECT_SEQ) {
                let want = headers::parse_seq(v);
                let on = headers::get_non_empty(h, headers::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT)
                    .unwrap_or(subject);
                if staged.subjects.contains_key(on) {
                    return Err(BatchRefusal::WrongLastSequenceConstant);
                }
                let have = match staged.expected_per_subject.get(on) {
                    Some(&seq) => seq,
                    None => self.last_by_subject(on).map_or(0, |m| m.seq),
                };
                if have != want {
                    return Err(StoreError::WrongLastSequence { last_seq: have }.into());
                }
                staged.expected_per_subject.insert(on, have);
            }
            if let Some(v) = rollup {
                if !self.limits.allow_rollup_hdrs || self.limits.deny_purge {
                    return Err(StoreError::RollupNotPermitted.into());
                }
                match String::from_utf8_lossy(v).to_lowercase().as_str() {
                    "sub" if staged.subjects.contains_key(subject) => {
                        return Err(BatchRefusal::RollupSubInvalid)
                    }
                    "all" if i > 0 => return Err(BatchRefusal::RollupAllInvalid),
                    "sub" | "all" => {}
                    other => {
                        return Err(StoreError::RollupInvalid {
                            value: other.to_owned(),
                        }
                        .into())
                    }
                }
            }
        }
        let in_batch = {
            let n = staged.subjects.entry(subject).or_insert(0);
            *n += 1;
            *n
        };
        staged.bytes += self.size_for(subject.len(), h.len(), m.payload.len());
        if self.limits.discard == Discard::New {
            let total_msgs = self.msgs.len() as u64 + i + 1;
            let total_bytes = self.bytes + staged.bytes;
            if limit(self.limits.max_msgs).is_some_and(|max| total_msgs > max) {
                return Err(StoreError::MaxMsgsExceeded.into());
            }
            if limit(self.limits.max_bytes).is_some_and(|max| total_bytes > max) {
                return Err(StoreError::MaxBytesExceeded.into());
            }
            if let Some(per) = limit(self.limits.max_msgs_per_subject) {
                let stored = self.subjects.get(subject).map_or(0, |l| l.len() as u64);
                if self.limits.discard_new_per_subject
                    && rollup.is_none()
                    && stored + in_batch > per
                {
                    return Err(StoreError::MaxMsgsPerSubjectExceeded.into());
                }
            }
        }
        Ok(())
    }

    /// Forgets the messages of a batch stored from `first_seq` on; returns the removals of
    /// older messages they caused (limits, rollups), which stay done and must be persisted.
    /// A removal that named the batch's own sequences is cut to below `first_seq`.
    fn roll_back_batch(&mut self, first_seq: u64, effects: Vec<Effect>) -> Vec<Effect> {
        self.forget_refused(first_seq, self.last_seq.max(first_seq));
        effects
            .into_iter()
            .filter_map(|Effect::Append(r)| match r {
                Record::Message { .. } => None,
                Record::Tombstone { seq } if seq >= first_seq => None,
                Record::Purge { filter, below_seq } => Some(Record::Purge {
                    filter,
                    below_seq: below_seq.min(first_seq),
                }),
                other => Some(other),
            })
            .map(Effect::Append)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StreamLimits;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn stream(limits: StreamLimits) -> Stream {
        Stream::new("B".to_string(), limits, 0)
    }

    fn m(subject: &str, h: &[(&str, &str)]) -> BatchMsg {
        let mut block = String::from("NATS/1.0\r\nNats-Batch-Id: b\r\n");
        for (k, v) in h {
            block.push_str(&format!("{k}: {v}\r\n"));
        }
        block.push_str("\r\n");
        BatchMsg {
            subject: Bytes::copy_from_slice(subject.as_bytes()),
            headers: Bytes::from(block),
            payload: Bytes::from_static(b"x"),
        }
    }

    fn refusal(r: Result<BatchStored, BatchRefused>) -> BatchRefusal {
        match r {
            Err((e, _)) => e,
            Ok(s) => panic!("stored {s:?}"),
        }
    }

    #[test]
    fn stores_every_message_with_one_set_of_effects() {
        let mut s = stream(StreamLimits::default());
        s.publish(b"a", b"", b"0", T0).expect("plain");
        let batch = [m("a", &[]), m("b", &[]), m("a", &[])];
        let done = s.publish_batch(&batch, T0).expect("stored");
        assert_eq!((done.first_seq, done.last_seq), (2, 4));
        assert_eq!(done.effects.len(), 3);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.get(4).map(|m| m.headers.clone()),
            Some(batch[2].headers.clone())
        );
    }

    #[test]
    fn expected_last_sequence_only_on_the_first_message() {
        let mut s = stream(StreamLimits::default());
        s.publish(b"a", b"", b"0", T0).expect("plain");
        let ok = [m("a", &[("Nats-Expected-Last-Sequence", "1")]), m("a", &[])];
        assert!(s.publish_batch(&ok, T0).is_ok());
        // On message 2 the stream "has" last seq 4: 3 is wrong, 4 is refused as constant.
        let wrong = [m("a", &[]), m("a", &[("Nats-Expected-Last-Sequence", "3")])];
        assert_eq!(
            refusal(s.publish_batch(&wrong, T0)),
            BatchRefusal::Store(StoreError::WrongLastSequence { last_seq: 4 })
        );
        let constant = [m("a", &[]), m("a", &[("Nats-Expected-Last-Sequence", "4")])];
        assert_eq!(
            refusal(s.publish_batch(&constant, T0)),
            BatchRefusal::WrongLastSequenceConstant
        );
        assert_eq!(s.last_seq(), 3, "nothing of a refused batch is stored");
    }

    #[test]
    fn expected_last_subject_sequence_rules() {
        let mut s = stream(StreamLimits::default());
        s.publish(b"a", b"", b"0", T0).expect("plain");
        let ok = [
            m("b", &[]),
            m("a", &[("Nats-Expected-Last-Subject-Sequence", "1")]),
            m(
                "c",
                &[
                    ("Nats-Expected-Last-Subject-Sequence", "0"),
                    ("Nats-Expected-Last-Subject-Sequence-Subject", "z"),
                ],
            ),
        ];
        assert!(s.publish_batch(&ok, T0).is_ok());
        let written = [
            m("a", &[]),
            m("a", &[("Nats-Expected-Last-Subject-Sequence", "3")]),
        ];
        assert_eq!(
            refusal(s.publish_batch(&written, T0)),
            BatchRefusal::WrongLastSequenceConstant
        );
        let wrong = [m("x", &[("Nats-Expected-Last-Subject-Sequence", "1")])];
        assert_eq!(
            refusal(s.publish_batch(&wrong, T0)),
            BatchRefusal::Store(StoreError::WrongLastSequence { last_seq: 0 })
        );
    }

    #[test]
    fn msg_ids_seen_before_or_twice_refuse_the_batch() {
        let mut s = stream(StreamLimits {
            duplicate_window_ns: 120_000_000_000,
            ..StreamLimits::default()
        });
        let first = [m("a", &[("Nats-Msg-Id", "1")])];
        assert!(s.publish_batch(&first, T0).is_ok());
        assert_eq!(
            refusal(s.publish_batch(&first, T0)),
            BatchRefusal::DuplicateMsgId
        );
        let twice = [
            m("a", &[("Nats-Msg-Id", "2")]),
            m("a", &[("Nats-Msg-Id", "2")]),
        ];
        assert_eq!(
            refusal(s.publish_batch(&twice, T0)),
            BatchRefusal::DuplicateMsgId
        );
        // A refused batch leaves its ids unknown.
        assert!(s
            .publish_batch(&[m("a", &[("Nats-Msg-Id", "2")])], T0)
            .is_ok());
    }

    #[test]
    fn unsupported_header_and_rollup_positions() {
        let mut s = stream(StreamLimits {
            allow_rollup_hdrs: true,
            ..StreamLimits::default()
        });
        assert_eq!(
            refusal(s.publish_batch(&[m("a", &[("Nats-Expected-Last-Msg-Id", "x")])], T0)),
            BatchRefusal::UnsupportedHeader("Nats-Expected-Last-Msg-Id")
        );
        let all_late = [m("a", &[]), m("b", &[("Nats-Rollup", "all")])];
        assert_eq!(
            refusal(s.publish_batch(&all_late, T0)),
            BatchRefusal::RollupAllInvalid
        );
        let sub_again = [m("a", &[]), m("a", &[("Nats-Rollup", "sub")])];
        assert_eq!(
            refusal(s.publish_batch(&sub_again, T0)),
            BatchRefusal::RollupSubInvalid
        );
        let sub_other = [m("a", &[]), m("b", &[("Nats-Rollup", "sub")])];
        assert!(s.publish_batch(&sub_other, T0).is_ok());
        let all_first = [m("c", &[("Nats-Rollup", "all")]), m("d", &[])];
        assert!(s.publish_batch(&all_first, T0).is_ok());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn discard_new_counts_the_whole_batch() {
        let mut s = stream(StreamLimits {
            max_msgs: 3,
            discard: Discard::New,
            ..StreamLimits::default()
        });
        s.publish(b"a", b"", b"0", T0).expect("plain");
        let three = [m("a", &[]), m("a", &[]), m("a", &[])];
        assert_eq!(
            refusal(s.publish_batch(&three, T0)),
            BatchRefusal::Store(StoreError::MaxMsgsExceeded)
        );
        assert_eq!(s.len(), 1);
        assert!(s.publish_batch(&three[..2], T0).is_ok());
    }

    #[test]
    fn a_refusal_only_the_store_makes_rolls_the_batch_back() {
        // A counter whose last value is broken is found only while storing.
        let mut s = stream(StreamLimits {
            allow_msg_counter: true,
            ..StreamLimits::default()
        });
        let incr = |subject: &str| {
            let mut b = m(subject, &[("Nats-Incr", "1")]);
            b.payload = Bytes::new();
            b
        };
        assert!(s.publish_batch(&[incr("a")], T0).is_ok());
        let broken = BatchMsg {
            subject: Bytes::from_static(b"z"),
            headers: Bytes::new(),
            payload: Bytes::from_static(b"not a counter"),
        };
        // Store a broken last value for `z` behind the stream's back (as a replay would).
        s.replay_all(
            std::iter::once(crate::store::RecordRef::Message(crate::store::MessageRef {
                seq: 2,
                ts_ns: T0,
                subject: &broken.subject,
                headers: &broken.headers,
                payload: &broken.payload,
            })),
            None,
        );
        let batch = [incr("a"), incr("z")];
        let (why, removals) = s.publish_batch(&batch, T0).expect_err("refused");
        assert_eq!(why, BatchRefusal::Store(StoreError::CounterBroken));
        assert!(removals.is_empty());
        assert_eq!(s.last_seq(), 2);
        assert_eq!(s.counter_value(1).as_deref(), Some("1"));
        // The next publish takes the sequence the refused batch had.
        let done = s.publish_batch(&[incr("a")], T0).expect("stored");
        assert_eq!(done.first_seq, 3);
        assert_eq!(s.counter_value(3).as_deref(), Some("2"));
    }

    #[test]
    fn roll_back_keeps_removals_of_older_messages_only() {
        let mut s = stream(StreamLimits::default());
        for _ in 0..3 {
            s.publish(b"a", b"", b"0", T0).expect("plain");
        }
        let effects = vec![
            Effect::Append(Record::Tombstone { seq: 1 }),
            Effect::Append(Record::Tombstone { seq: 4 }),
            Effect::Append(Record::Purge {
                filter: Bytes::new(),
                below_seq: 6,
            }),
        ];
        let kept = s.roll_back_batch(4, effects);
        assert_eq!(
            kept,
            vec![
                Effect::Append(Record::Tombstone { seq: 1 }),
                Effect::Append(Record::Purge {
                    filter: Bytes::new(),
                    below_seq: 4,
                }),
            ]
        );
    }
}
