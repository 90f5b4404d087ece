//! Atomic batch publish, the staging side (sans-IO): the open batches of this core's streams,
//! as nats-server 2.15.1's `processJetStreamAtomicBatchMsg` (non-clustered) keeps them.
//!
//! A batch message carries `Nats-Batch-Id` (at most 64 bytes), `Nats-Batch-Sequence` (1, 2,
//! … without gaps) and, on the last one, `Nats-Batch-Commit: 1` (stored with the rest) or
//! `Nats-Batch-Commit: eob` (ends the batch, is not stored itself; the last stored message
//! gets `Nats-Batch-Commit: 1`). Until the commit nothing reaches the stream: messages are
//! staged here and each is answered with an empty message. A gap, an abandoned batch (no
//! message for `timeout`, checked on [`Batches::handle_tick`] with the monotonic clock the
//! host is given) or a refused message drops the batch: nothing of it is ever stored. The
//! commit hands every staged message over at once ([`Step::Commit`]); the host stores them
//! as one unit (`store::Stream::publish_batch`, one batch record in one group commit).
//!
//! Limits as nats-server's defaults: 1000 messages per batch, 50 open batches per stream,
//! 1000 open batches in all (here: per core and account, as each host keeps its own), 10 s
//! without a message.

use ahash::AHashMap;
use bytes::Bytes;

use crate::jetstream::api_level::{refuses_required_level, REQUIRED_API_LEVEL_HEADER};
use crate::store::headers;
use crate::store::stream::BatchMsg;

/// `Nats-Batch-Id`.
pub const BATCH_ID: &[u8] = b"Nats-Batch-Id";
/// `Nats-Batch-Sequence`.
pub const BATCH_SEQ: &[u8] = b"Nats-Batch-Sequence";
/// `Nats-Batch-Commit`.
pub const BATCH_COMMIT: &[u8] = b"Nats-Batch-Commit";
/// Longest batch id nats-server accepts.
pub const MAX_BATCH_ID_BYTES: usize = 64;

/// The limits on atomic batches (nats-server's `jetstream.limits` `max_batch_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Messages in one batch (the `eob` message not counted).
    pub max_size: u64,
    /// Open batches per stream.
    pub max_inflight_per_stream: usize,
    /// Open batches of this host, all streams together.
    pub max_inflight_total: usize,
    /// A batch without a new message for this long is abandoned (ns).
    pub timeout_ns: u64,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_size: 1000,
            max_inflight_per_stream: 50,
            max_inflight_total: 1000,
            timeout_ns: 10_000_000_000,
        }
    }
}

/// Why a batch message was refused before any commit check (the batch, if open, is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The batch id is longer than 64 bytes (10179).
    #[error("batch id is invalid")]
    InvalidId,
    /// No (or no decimal) `Nats-Batch-Sequence` (10175).
    #[error("batch sequence is missing")]
    MissingSeq,
    /// A gap, an unknown or abandoned batch, or a batch of only `eob` (10176).
    #[error("batch is incomplete")]
    Incomplete,
    /// More messages than the limit, which is given (10199).
    #[error("batch is too large: {0}")]
    TooLarge(u64),
    /// Too many open batches on the stream or in all (10210).
    #[error("too many inflight batches")]
    TooManyInflight,
    /// `Nats-Batch-Commit` is neither `1` nor `eob` (10200).
    #[error("batch commit is invalid")]
    InvalidCommit,
    /// `Nats-Required-Api-Level` above what this server supports (10185).
    #[error("required api level")]
    RequiredApiLevel,
}

/// What to do with one batch message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Staged: answer with an empty message.
    Staged,
    /// Refused; any open batch of that id is gone.
    Refused(BatchError),
    /// The batch is complete: store these messages as one unit and ack the last.
    Commit(Vec<BatchMsg>),
}

/// One batch message as the stream captured it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The stream's slot on this core.
    pub slot: u32,
    /// The stream's creation time: a batch never outlives its stream (a slot is reused).
    pub created_ns: u64,
    /// `Nats-Batch-Id`.
    pub id: &'a [u8],
    /// Publish subject.
    pub subject: &'a [u8],
    /// Raw header block.
    pub headers: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
}

struct Open {
    created_ns: u64,
    msgs: Vec<BatchMsg>,
    /// Monotonic time after which it is abandoned.
    deadline_ns: u64,
}

/// The open atomic batches of one host's streams.
#[derive(Default)]
pub struct Batches {
    limits: BatchLimits,
    open: AHashMap<(u32, Bytes), Open>,
    per_stream: AHashMap<u32, usize>,
}

/// The `Nats-Batch-Id` of a publish, if it has a non-empty one (an empty id is an ordinary
/// publish, as in nats-server).
pub fn batch_id(hdrs: &[u8]) -> Option<&[u8]> {
    if hdrs.is_empty() {
        return None;
    }
    headers::get_non_empty(hdrs, BATCH_ID)
}

/// nats-server's `parseUint64`: decimal digits only, no overflow.
fn parse_seq(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `block` without its `name:` lines (nats-server's `removeHeaderIfPresent`); empty when
/// nothing but the status line would be left.
fn remove_header(block: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    for (i, line) in block.split_inclusive(|&b| b == b'\n').enumerate() {
        let named =
            i > 0 && line.len() > name.len() && line.starts_with(name) && line[name.len()] == b':';
        if !named {
            out.extend_from_slice(line);
        }
    }
    if out.len() <= b"NATS/1.0\r\n\r\n".len() {
        out.clear();
    }
    out
}

/// `block` with `name: value` added as its last header (nats-server's `genHeader`).
fn add_header(block: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + name.len() + value.len() + 16);
    match block.strip_suffix(b"\r\n") {
        Some(head) if !head.is_empty() => out.extend_from_slice(head),
        _ => out.extend_from_slice(b"NATS/1.0\r\n"),
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// One staged message: its own copy (not a slice pinning the connection's read buffer).
fn staged(subject: &[u8], hdrs: &[u8], payload: &[u8]) -> BatchMsg {
    let mut body = Vec::with_capacity(hdrs.len() + payload.len());
    body.extend_from_slice(hdrs);
    body.extend_from_slice(payload);
    let body = Bytes::from(body);
    BatchMsg {
        subject: Bytes::copy_from_slice(subject),
        headers: body.slice(..hdrs.len()),
        payload: body.slice(hdrs.len()..),
    }
}

impl Batches {
    /// No open batch yet, with these limits.
    pub fn new(limits: BatchLimits) -> Self {
        Batches {
            limits,
            ..Batches::default()
        }
    }

    /// How many batches are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    fn remove(&mut self, key: &(u32, Bytes)) -> Option<Open> {
        let open = self.open.remove(key)?;
        if let Some(n) = self.per_stream.get_mut(&key.0) {
            *n -= 1;
            if *n == 0 {
                self.per_stream.remove(&key.0);
            }
        }
        Some(open)
    }

    /// One message of a batch into a stream with `allow_atomic` (the host checked the
    /// stream: sealed, sizes, the flag), `api_level` the level this server supports.
    pub fn on_message(&mut self, m: Incoming<'_>, api_level: u32, now_ns: u64) -> Step {
        if m.id.len() > MAX_BATCH_ID_BYTES {
            return Step::Refused(BatchError::InvalidId);
        }
        let Some(seq) = headers::get(m.headers, BATCH_SEQ).and_then(parse_seq) else {
            return Step::Refused(BatchError::MissingSeq);
        };
        let commit = headers::get(m.headers, BATCH_COMMIT);
        let eob = commit == Some(b"eob");
        let key = (m.slot, Bytes::copy_from_slice(m.id));
        let live = self
            .open
            .get(&key)
            .is_some_and(|o| o.created_ns == m.created_ns && o.deadline_ns > now_ns);
        if !live {
            // Abandoned (its timer is due) or left by a deleted stream: gone either way.
            self.remove(&key);
            if seq != 1 {
                let size = seq - u64::from(eob);
                return Step::Refused(if size > self.limits.max_size {
                    BatchError::TooLarge(self.limits.max_size)
                } else {
                    BatchError::Incomplete
                });
            }
            let on_stream = self.per_stream.get(&m.slot).copied().unwrap_or(0);
            if on_stream + 1 > self.limits.max_inflight_per_stream
                || self.open.len() + 1 > self.limits.max_inflight_total
            {
                return Step::Refused(BatchError::TooManyInflight);
            }
            self.open.insert(
                key.clone(),
                Open {
                    created_ns: m.created_ns,
                    msgs: Vec::new(),
                    deadline_ns: 0,
                },
            );
            *self.per_stream.entry(m.slot).or_insert(0) += 1;
        }
        if commit.is_some_and(|c| c != b"1" && c != b"eob") {
            self.remove(&key);
            return Step::Refused(BatchError::InvalidCommit);
        }
        let mut hdrs = m.headers;
        let stripped;
        if headers::get(m.headers, REQUIRED_API_LEVEL_HEADER).is_some_and(|v| !v.is_empty()) {
            if refuses_required_level(m.headers, api_level) {
                self.remove(&key);
                return Step::Refused(BatchError::RequiredApiLevel);
            }
            stripped = remove_header(m.headers, REQUIRED_API_LEVEL_HEADER);
            hdrs = &stripped;
        }
        let open = self.open.get_mut(&key).expect("opened above");
        if open.msgs.len() as u64 + 1 != seq || (seq == 1 && eob) {
            self.remove(&key);
            return Step::Refused(BatchError::Incomplete);
        }
        if seq - u64::from(eob) > self.limits.max_size {
            self.remove(&key);
            return Step::Refused(BatchError::TooLarge(self.limits.max_size));
        }
        open.deadline_ns = now_ns.saturating_add(self.limits.timeout_ns);
        if !eob {
            open.msgs.push(staged(m.subject, hdrs, m.payload));
        }
        if commit.is_none() {
            return Step::Staged;
        }
        let mut msgs = self.remove(&key).expect("open").msgs;
        if eob {
            let last = msgs.last_mut().expect("eob after at least one message");
            let with_commit = add_header(&last.headers, BATCH_COMMIT, b"1");
            last.headers = Bytes::from(with_commit);
        }
        Step::Commit(msgs)
    }

    /// Drops every batch whose last message is older than the timeout; returns them as
    /// (stream slot, batch id) — abandoned, nothing of them is stored.
    pub fn handle_tick(&mut self, now_ns: u64) -> Vec<(u32, Bytes)> {
        let due: Vec<(u32, Bytes)> = self
            .open
            .iter()
            .filter(|(_, o)| o.deadline_ns <= now_ns)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            self.remove(key);
        }
        due
    }

    /// Drops every open batch of a stream (deleted, or `allow_atomic` turned off).
    pub fn drop_stream(&mut self, slot: u32) {
        let keys: Vec<(u32, Bytes)> = self.open.keys().filter(|k| k.0 == slot).cloned().collect();
        for key in &keys {
            self.remove(key);
        }
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
