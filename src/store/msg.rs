//! A stored message and its accounted size (shared by the stream state machine and its
//! sequence map).

use bytes::Bytes;

use super::record::Record;

/// Accounted size of a message, as nats-server's file store counts it (so `max_bytes` and
/// `state.bytes` agree with it): `22 + subject + payload + 8`, plus `4 + headers` when there are
/// headers (record length, seq, ts, subject length, checksum).
#[inline]
pub fn stored_msg_bytes(subject_len: usize, headers_len: usize, payload_len: usize) -> u64 {
    let hdr = if headers_len > 0 { 4 + headers_len } else { 0 };
    (22 + subject_len + hdr + payload_len + 8) as u64
}

/// A stored message. Owns compact copies (one allocation for headers + payload, the subject
/// shared with the per-subject index), never a slice of a network read buffer; once its
/// segment is sealed (or after recovery) headers and payload are instead slices of the
/// segment file's mapping (`Stream::rebase_bodies`, `Stream::replay_shared`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    /// Stream sequence.
    pub seq: u64,
    /// Store time, unix nanoseconds.
    pub ts_ns: u64,
    /// Subject.
    pub subject: Bytes,
    /// Raw header block, or empty.
    pub headers: Bytes,
    /// Payload.
    pub payload: Bytes,
}

impl StoredMsg {
    /// Accounted size ([`stored_msg_bytes`]).
    pub fn stored_bytes(&self) -> u64 {
        stored_msg_bytes(self.subject.len(), self.headers.len(), self.payload.len())
    }

    /// The record that persists this message.
    pub fn to_record(&self) -> Record {
        Record::Message {
            seq: self.seq,
            ts_ns: self.ts_ns,
            subject: self.subject.clone(),
            headers: self.headers.clone(),
            payload: self.payload.clone(),
        }
    }
}
