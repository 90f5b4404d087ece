//! Atomic batch publish on the owner: a captured message with `Nats-Batch-Id` goes to the
//! staging machine (`batch.rs`); a commit is stored whole by the store
//! (`Stream::publish_batch`) and persisted as one batch record in one storage op, so one
//! group commit makes all of it durable — and recovery keeps all of it or none. The commit's
//! ack (`{"stream","seq","batch","count"}`) goes out once that commit is durable; intermediate
//! messages are answered with an empty message at once, as nats-server does.

use bytes::Bytes;

use super::batch::{BatchError, Incoming, Step};
use super::{persist_atomic, retention, Clock, StreamHost, API_LEVEL};
use crate::engine::InternalDelivery;
use crate::jetstream::{self, JsApiError};

fn batch_error(e: BatchError) -> JsApiError {
    match e {
        BatchError::InvalidId => JsApiError::atomic_publish_invalid_batch_id(),
        BatchError::MissingSeq => JsApiError::atomic_publish_missing_seq(),
        BatchError::Incomplete => JsApiError::atomic_publish_incomplete_batch(),
        BatchError::TooLarge(max) => JsApiError::atomic_publish_too_large_batch(max),
        BatchError::TooManyInflight => JsApiError::atomic_publish_too_many_inflight(),
        BatchError::InvalidCommit => JsApiError::atomic_publish_invalid_batch_commit(),
        BatchError::RequiredApiLevel => JsApiError::required_api_level(),
    }
}

impl StreamHost {
    /// A captured message of an atomic batch (`id` is its `Nats-Batch-Id`), after the
    /// checks every publish gets (stopped stream, account limits).
    pub(super) fn on_batch_capture(
        &mut self,
        slot: u32,
        d: &InternalDelivery,
        id: &[u8],
        now: Clock,
    ) {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        let (headers, payload) = d.message.split_at(d.header_len);
        let name = st.config.name.clone();
        let reply = d.reply.as_ref().filter(|_| !st.config.no_ack);
        let max = st.store.limits().max_msg_size;
        let refusal = if st.config.sealed {
            Some(JsApiError::stream_sealed())
        } else if max >= 0 && (headers.len() + payload.len()) as u64 > max as u64 {
            Some(JsApiError::message_exceeds_maximum())
        } else if !st.config.allow_atomic {
            Some(JsApiError::atomic_publish_disabled())
        } else {
            None
        };
        if let Some(e) = refusal {
            return self
                .out
                .reply_now_bytes(reply, jetstream::pub_error(&name, &e));
        }
        let incoming = Incoming {
            slot,
            created_ns: st.created_ns,
            id,
            subject: &d.subject,
            headers,
            payload,
        };
        match self.batches.on_message(incoming, API_LEVEL, now.mono_ns) {
            Step::Staged => self.out.reply_now_bytes(reply, Bytes::new()),
            Step::Refused(e) => {
                self.out
                    .reply_now_bytes(reply, jetstream::pub_error(&name, &batch_error(e)));
            }
            Step::Commit(msgs) => {
                let id = String::from_utf8_lossy(id);
                let ack = self.commit_batch(slot, &msgs, now);
                let ack = match ack {
                    Ok(last) => jetstream::pub_ack_batch(&name, last, &id, msgs.len() as u64),
                    Err(e) => jetstream::pub_error(&name, &e),
                };
                let file = self.streams[slot as usize]
                    .as_ref()
                    .expect("live stream")
                    .is_file();
                self.out.reply_durable(file, reply, ack);
            }
        }
    }

    /// Stores a committed batch as one unit; returns its last sequence.
    fn commit_batch(
        &mut self,
        slot: u32,
        msgs: &[crate::store::stream::BatchMsg],
        now: Clock,
    ) -> Result<u64, JsApiError> {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        match st.store.publish_batch(msgs, now.wall_ns) {
            Ok(done) => {
                persist_atomic(st, slot, &done.effects, &mut self.out.ops);
                if self.streams_with_new.last() != Some(&slot) {
                    self.streams_with_new.push(slot);
                }
                for (seq, m) in (done.first_seq..=done.last_seq).zip(msgs) {
                    retention::retain_for_interest(st, slot, seq, &m.subject, &mut self.out.ops);
                }
                Ok(done.last_seq)
            }
            Err((why, removals)) => {
                // What the batch's messages removed before one was refused stays removed.
                self.persist(slot, &removals);
                Err(why.into())
            }
        }
    }

    /// Ends every open batch whose last message is older than the batch timeout: nothing
    /// of it is stored (a later message of it is refused as incomplete).
    pub(super) fn expire_batches(&mut self, now: Clock) {
        if self.batches.open_count() > 0 {
            for (slot, id) in self.batches.handle_tick(now.mono_ns) {
                tracing::debug!(slot, batch = %String::from_utf8_lossy(&id), "atomic batch abandoned (timeout)");
            }
        }
    }
}
