//! Retention and dead letters: what a stream drops once its consumers are done with a
//! message (workqueue / interest), and the dead-letter extension that republishes a
//! message a consumer gave up on.

use bytes::Bytes;

use ahash::AHashMap;

use super::outbox::Outbox;
use super::{persist, OwnedStream, StorageOp};
use crate::jetstream::RetentionPolicy;

/// A consumer is done with `seq`: workqueue streams drop it, interest streams drop it
/// once no other consumer still needs it.
pub(super) fn release(st: &mut OwnedStream, slot: u32, seq: u64, ops: &mut Vec<StorageOp>) {
    let drop = match st.config.retention {
        RetentionPolicy::Limits => false,
        RetentionPolicy::WorkQueue => true,
        RetentionPolicy::Interest => match st.store.get(seq) {
            Some(m) => !st
                .consumers
                .values()
                .any(|c| c.machine.still_needs(seq, &m.subject)),
            None => false,
        },
    };
    if drop {
        let effects = st.store.remove_acked(seq);
        persist(st, slot, &effects, ops);
    }
}

/// Interest retention: a stored message nobody wants (no consumer, or none whose filter
/// matches) is not kept.
pub(super) fn retain_for_interest(
    st: &mut OwnedStream,
    slot: u32,
    seq: u64,
    subject: &[u8],
    ops: &mut Vec<StorageOp>,
) {
    if st.config.retention != RetentionPolicy::Interest {
        return;
    }
    if !st
        .consumers
        .values()
        .any(|c| c.machine.still_needs(seq, subject))
    {
        let effects = st.store.remove_acked(seq);
        persist(st, slot, &effects, ops);
    }
}

/// Interest retention after a consumer left: drops every message no one needs now.
pub(super) fn sweep_interest(st: &mut OwnedStream, slot: u32, ops: &mut Vec<StorageOp>) {
    if st.config.retention != RetentionPolicy::Interest {
        return;
    }
    let unneeded: Vec<u64> = st
        .store
        .range_from(0)
        .filter(|m| {
            !st.consumers
                .values()
                .any(|c| c.machine.still_needs(m.seq, &m.subject))
        })
        .map(|m| m.seq)
        .collect();
    for seq in unneeded {
        let effects = st.store.remove_acked(seq);
        persist(st, slot, &effects, ops);
    }
}

/// The headers of a dead-lettered message: the original ones plus where it came from.
fn dead_letter_headers(
    original: &[u8],
    stream: &str,
    consumer: &str,
    seq: u64,
    deliveries: u64,
    reason: &str,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(original.len() + 200);
    if original.is_empty() {
        h.extend_from_slice(b"NATS/1.0\r\n");
    } else {
        h.extend_from_slice(original.strip_suffix(b"\r\n").unwrap_or(original));
    }
    for (k, v) in [
        ("Nats-Dead-Letter-Stream", stream.to_owned()),
        ("Nats-Dead-Letter-Consumer", consumer.to_owned()),
        ("Nats-Dead-Letter-Sequence", seq.to_string()),
        ("Nats-Dead-Letter-Deliveries", deliveries.to_string()),
        ("Nats-Dead-Letter-Reason", reason.to_owned()),
    ] {
        h.extend_from_slice(k.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(v.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// Where dead letters go: the server's per-stream default subjects, the message's stream
/// and the outbox to publish on.
pub(super) struct DeadLetterCx<'a> {
    pub(super) defaults: &'a AHashMap<String, String>,
    pub(super) st: &'a OwnedStream,
    pub(super) out: &'a mut Outbox,
}

/// The dead-letter extension: republishes a message the consumer gave up on.
pub(super) fn dead_letter(
    dl: DeadLetterCx<'_>,
    consumer: &str,
    seq: u64,
    deliveries: u64,
    reason: &str,
) {
    let st = dl.st;
    {
        let Some(c) = st.consumers.get(consumer) else {
            return;
        };
        let target = if c.config.dead_letter_subject.is_empty() {
            match dl.defaults.get(&st.config.name) {
                Some(s) => s.clone(),
                None => return,
            }
        } else {
            c.config.dead_letter_subject.clone()
        };
        let Some(msg) = st.store.get(seq) else {
            tracing::warn!(stream = %st.config.name, consumer, seq, "dead letter: message already gone");
            return;
        };
        let headers = dead_letter_headers(
            &msg.headers,
            &st.config.name,
            consumer,
            seq,
            deliveries,
            reason,
        );
        let (hdr_len, body) = message_of(&headers, msg.payload.clone());
        dl.out.publish(&Bytes::from(target), None, hdr_len, &body);
    }
}

/// Joins a header block and payload into one message buffer (the payload itself when
/// there are no headers).
pub(super) fn message_of(headers: &[u8], payload: Bytes) -> (usize, Bytes) {
    if headers.is_empty() {
        return (0, payload);
    }
    let mut m = Vec::with_capacity(headers.len() + payload.len());
    m.extend_from_slice(headers);
    m.extend_from_slice(&payload);
    (headers.len(), Bytes::from(m))
}
