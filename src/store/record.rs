//! The on-disk record: one self-checking, length-prefixed entry of a segment file.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header (8 bytes)
//!   0  magic/version u8   RECORD_MAGIC_V1 (a zero-filled or foreign tail fails here)
//!   1  kind          u8   1 message, 2 tombstone, 3 purge, 4 checkpoint, 5 batch
//!   2  total_len     u32  whole record, header and trailing CRC included
//!   6  header_check  u16  low 16 bits of CRC32C(bytes 0..6): a flipped length bit is
//!                         caught before the length is trusted, so it reads as corruption,
//!                         never as a torn (incomplete) tail
//! body (kind specific)
//!   message     seq u64, ts_ns u64, subject_len u16, headers_len u32, subject, headers, payload
//!   tombstone   seq u64
//!   purge       below_seq u64, filter_len u16, filter   (empty filter = every subject)
//!   checkpoint  first_seq u64, last_seq u64, last_ts_ns u64
//!   batch       count u32, then `count` whole records of the other kinds, back to back
//! trailer
//!   crc         u32  CRC32C over every preceding byte of the record
//! ```
//!
//! Fixed overhead: a message record is 34 bytes plus subject, headers and payload.
//!
//! A **batch** record (an atomic batch publish) wraps the records of one commit: its CRC
//! covers them all, so a torn or damaged batch is dropped whole at recovery — never a prefix
//! of it. [`decode`] does not know it (it is not a record of its own); the segment
//! [`super::segment::Scanner`] opens it with [`decode_batch`] and yields the inner records at
//! their own offsets, so indexes point at the inner message records as at any other.

use bytes::Bytes;

/// Magic + format version byte that starts every record (bump the low nibble for a new version).
pub const RECORD_MAGIC_V1: u8 = 0xE1;
/// Bytes of the fixed record header (magic, kind, total length, header check).
pub const RECORD_HEADER_BYTES: usize = 8;
/// Bytes of the trailing CRC32C.
pub const RECORD_CRC_BYTES: usize = 4;
/// Fixed bytes of a message record besides subject, headers and payload.
pub const MESSAGE_RECORD_OVERHEAD_BYTES: usize =
    RECORD_HEADER_BYTES + 8 + 8 + 2 + 4 + RECORD_CRC_BYTES;
/// Largest record accepted when decoding; a larger length can only be garbage (NATS payloads are capped far lower).
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

const KIND_MESSAGE: u8 = 1;
const KIND_TOMBSTONE: u8 = 2;
const KIND_PURGE: u8 = 3;
const KIND_CHECKPOINT: u8 = 4;
const KIND_BATCH: u8 = 5;

/// Bytes a batch record adds around its inner records (header, count, CRC).
pub const BATCH_RECORD_OVERHEAD_BYTES: usize = RECORD_HEADER_BYTES + 4 + RECORD_CRC_BYTES;
/// Largest batch record (its length is a u32).
pub const MAX_BATCH_RECORD_BYTES: usize = u32::MAX as usize;

const TOMBSTONE_RECORD_BYTES: usize = RECORD_HEADER_BYTES + 8 + RECORD_CRC_BYTES;
const PURGE_RECORD_OVERHEAD_BYTES: usize = RECORD_HEADER_BYTES + 8 + 2 + RECORD_CRC_BYTES;
const CHECKPOINT_RECORD_BYTES: usize = RECORD_HEADER_BYTES + 24 + RECORD_CRC_BYTES;

/// Why bytes could not be decoded as a record; the scanner truncates the segment at the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end inside a record (a torn write at the tail).
    #[error("incomplete record: needs {needed} bytes, {available} available")]
    Incomplete {
        /// Bytes the record needs (the header length when the header itself is cut).
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// The first byte is not a record start (zero fill, garbage or an unknown format version).
    #[error("bad record magic byte {found:#04x}")]
    BadMagic {
        /// The byte found where the magic was expected.
        found: u8,
    },
    /// A header check or the record CRC32C does not match the bytes.
    #[error("record checksum mismatch")]
    BadCrc,
    /// The checksums match but the content is inconsistent (unknown kind, bad lengths).
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}

/// A decoded message, borrowing the segment bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef<'a> {
    /// Stream sequence.
    pub seq: u64,
    /// Store time, unix nanoseconds.
    pub ts_ns: u64,
    /// Publish subject.
    pub subject: &'a [u8],
    /// Raw `NATS/1.0…\r\n\r\n` header block, or empty.
    pub headers: &'a [u8],
    /// Message payload.
    pub payload: &'a [u8],
}

/// A decoded record borrowing the segment bytes, so recovery never copies what it only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef<'a> {
    /// A stored message.
    Message(MessageRef<'a>),
    /// The message with this sequence was removed (delete, per-subject limit).
    Tombstone {
        /// Sequence removed.
        seq: u64,
    },
    /// Every message below `below_seq` matching `filter` (empty = all) was removed; with an empty
    /// filter and `below_seq` past the end, the stream's next sequence becomes `below_seq`.
    Purge {
        /// Subject filter, possibly with wildcards; empty means every subject.
        filter: &'a [u8],
        /// Exclusive upper bound of the removed sequences.
        below_seq: u64,
    },
    /// Sequence state at the start of a segment, so deleting older segments never loses it.
    Checkpoint {
        /// The stream's first sequence at that moment.
        first_seq: u64,
        /// The stream's last sequence at that moment.
        last_seq: u64,
        /// Timestamp of that last message (unix ns).
        last_ts_ns: u64,
    },
}

/// An owned record, as emitted in `Effect`s for the I/O shell to persist (message bodies are
/// shared `Bytes`, not copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A stored message.
    Message {
        /// Stream sequence.
        seq: u64,
        /// Store time, unix nanoseconds.
        ts_ns: u64,
        /// Publish subject.
        subject: Bytes,
        /// Raw header block, or empty.
        headers: Bytes,
        /// Payload.
        payload: Bytes,
    },
    /// See [`RecordRef::Tombstone`].
    Tombstone {
        /// Sequence removed.
        seq: u64,
    },
    /// See [`RecordRef::Purge`].
    Purge {
        /// Subject filter; empty means every subject.
        filter: Bytes,
        /// Exclusive upper bound of the removed sequences.
        below_seq: u64,
    },
    /// See [`RecordRef::Checkpoint`].
    Checkpoint {
        /// First sequence.
        first_seq: u64,
        /// Last sequence.
        last_seq: u64,
        /// Last timestamp (unix ns).
        last_ts_ns: u64,
    },
}

impl Record {
    /// Borrowed view, so one encoder serves owned and borrowed records.
    pub fn as_record_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Message {
                seq,
                ts_ns,
                subject,
                headers,
                payload,
            } => RecordRef::Message(MessageRef {
                seq: *seq,
                ts_ns: *ts_ns,
                subject,
                headers,
                payload,
            }),
            Record::Tombstone { seq } => RecordRef::Tombstone { seq: *seq },
            Record::Purge { filter, below_seq } => RecordRef::Purge {
                filter,
                below_seq: *below_seq,
            },
            Record::Checkpoint {
                first_seq,
                last_seq,
                last_ts_ns,
            } => RecordRef::Checkpoint {
                first_seq: *first_seq,
                last_seq: *last_seq,
                last_ts_ns: *last_ts_ns,
            },
        }
    }

    /// Bytes this record occupies once encoded (lets the shell decide a segment roll before encoding).
    pub fn encoded_len(&self) -> usize {
        self.as_record_ref().encoded_len()
    }
}

impl RecordRef<'_> {
    /// Bytes this record occupies once encoded.
    pub fn encoded_len(&self) -> usize {
        match self {
            RecordRef::Message(m) => {
                MESSAGE_RECORD_OVERHEAD_BYTES + m.subject.len() + m.headers.len() + m.payload.len()
            }
            RecordRef::Tombstone { .. } => TOMBSTONE_RECORD_BYTES,
            RecordRef::Purge { filter, .. } => PURGE_RECORD_OVERHEAD_BYTES + filter.len(),
            RecordRef::Checkpoint { .. } => CHECKPOINT_RECORD_BYTES,
        }
    }

    /// Owned copy (copies the borrowed bytes), for callers that must outlive the segment buffer.
    pub fn to_owned_record(&self) -> Record {
        match *self {
            RecordRef::Message(m) => Record::Message {
                seq: m.seq,
                ts_ns: m.ts_ns,
                subject: Bytes::copy_from_slice(m.subject),
                headers: Bytes::copy_from_slice(m.headers),
                payload: Bytes::copy_from_slice(m.payload),
            },
            RecordRef::Tombstone { seq } => Record::Tombstone { seq },
            RecordRef::Purge { filter, below_seq } => Record::Purge {
                filter: Bytes::copy_from_slice(filter),
                below_seq,
            },
            RecordRef::Checkpoint {
                first_seq,
                last_seq,
                last_ts_ns,
            } => Record::Checkpoint {
                first_seq,
                last_seq,
                last_ts_ns,
            },
        }
    }
}

/// Low 16 bits of the CRC32C of the first six header bytes.
#[inline]
fn header_check(first6: &[u8]) -> u16 {
    debug_assert_eq!(first6.len(), 6);
    crc32c::crc32c(first6) as u16
}

/// Appends the encoding of `rec` to `out` (no allocation besides growing `out`).
///
/// # Panics
/// If the subject is longer than 65535 bytes or the record exceeds [`MAX_RECORD_BYTES`]; the
/// stream refuses such messages before they get here.
pub fn encode_into(rec: &Record, out: &mut Vec<u8>) {
    encode_ref_into(rec.as_record_ref(), out);
}

/// Where the headers of a message record with a `subject_len`-byte subject start, counted from
/// the record's first byte (the payload follows the headers): lets a stored message's body
/// point into a mapped segment without reading the file.
pub const fn message_headers_offset(subject_len: usize) -> usize {
    RECORD_HEADER_BYTES + 8 + 8 + 2 + 4 + subject_len
}

/// [`encode_into`] for a borrowed record (used to re-encode scanned records and in tests).
pub fn encode_ref_into(rec: RecordRef<'_>, out: &mut Vec<u8>) {
    let total = rec.encoded_len();
    assert!(
        total <= MAX_RECORD_BYTES,
        "record of {total} bytes exceeds MAX_RECORD_BYTES"
    );
    out.reserve(total);
    let start = out.len();
    let kind = match rec {
        RecordRef::Message(_) => KIND_MESSAGE,
        RecordRef::Tombstone { .. } => KIND_TOMBSTONE,
        RecordRef::Purge { .. } => KIND_PURGE,
        RecordRef::Checkpoint { .. } => KIND_CHECKPOINT,
    };
    out.push(RECORD_MAGIC_V1);
    out.push(kind);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    let check = header_check(&out[start..start + 6]);
    out.extend_from_slice(&check.to_le_bytes());
    match rec {
        RecordRef::Message(m) => {
            let subject_len =
                u16::try_from(m.subject.len()).expect("subject longer than 65535 bytes");
            out.extend_from_slice(&m.seq.to_le_bytes());
            out.extend_from_slice(&m.ts_ns.to_le_bytes());
            out.extend_from_slice(&subject_len.to_le_bytes());
            out.extend_from_slice(&(m.headers.len() as u32).to_le_bytes());
            out.extend_from_slice(m.subject);
            out.extend_from_slice(m.headers);
            out.extend_from_slice(m.payload);
        }
        RecordRef::Tombstone { seq } => out.extend_from_slice(&seq.to_le_bytes()),
        RecordRef::Purge { filter, below_seq } => {
            let filter_len = u16::try_from(filter.len()).expect("filter longer than 65535 bytes");
            out.extend_from_slice(&below_seq.to_le_bytes());
            out.extend_from_slice(&filter_len.to_le_bytes());
            out.extend_from_slice(filter);
        }
        RecordRef::Checkpoint {
            first_seq,
            last_seq,
            last_ts_ns,
        } => {
            out.extend_from_slice(&first_seq.to_le_bytes());
            out.extend_from_slice(&last_seq.to_le_bytes());
            out.extend_from_slice(&last_ts_ns.to_le_bytes());
        }
    }
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len() - start, total);
}

#[inline]
fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes the record at the start of `bytes`, returning it and the bytes it consumed.
///
/// Never panics on any input. `Incomplete` means the bytes are a prefix of a plausible record
/// (a torn tail); every other error means the bytes are not a record at all.
pub fn decode(bytes: &[u8]) -> Result<(RecordRef<'_>, usize), RecordError> {
    decode_checked(bytes, true)
}

/// [`decode`] without the record CRC (the header check and every length check stay): for
/// the records of a sealed segment whose checksummed index vouches for its length, read at
/// start-up.
pub fn decode_trusted(bytes: &[u8]) -> Result<(RecordRef<'_>, usize), RecordError> {
    decode_checked(bytes, false)
}

fn decode_checked(bytes: &[u8], check_crc: bool) -> Result<(RecordRef<'_>, usize), RecordError> {
    let available = bytes.len();
    if let Some(&first) = bytes.first() {
        if first != RECORD_MAGIC_V1 {
            return Err(RecordError::BadMagic { found: first });
        }
    }
    if available < RECORD_HEADER_BYTES {
        return Err(RecordError::Incomplete {
            needed: RECORD_HEADER_BYTES,
            available,
        });
    }
    if le_u16(bytes, 6) != header_check(&bytes[..6]) {
        return Err(RecordError::BadCrc);
    }
    let kind = bytes[1];
    let total = le_u32(bytes, 2) as usize;
    let min_len = match kind {
        KIND_MESSAGE => MESSAGE_RECORD_OVERHEAD_BYTES,
        KIND_TOMBSTONE => TOMBSTONE_RECORD_BYTES,
        KIND_PURGE => PURGE_RECORD_OVERHEAD_BYTES,
        KIND_CHECKPOINT => CHECKPOINT_RECORD_BYTES,
        _ => return Err(RecordError::Corrupt("unknown record kind")),
    };
    if total < min_len || total > MAX_RECORD_BYTES {
        return Err(RecordError::Corrupt("record length out of range"));
    }
    if available < total {
        return Err(RecordError::Incomplete {
            needed: total,
            available,
        });
    }
    let rec = &bytes[..total];
    let body_end = total - RECORD_CRC_BYTES;
    if check_crc && le_u32(rec, body_end) != crc32c::crc32c(&rec[..body_end]) {
        return Err(RecordError::BadCrc);
    }
    let b = RECORD_HEADER_BYTES;
    let decoded = match kind {
        KIND_MESSAGE => {
            let subject_len = le_u16(rec, b + 16) as usize;
            let headers_len = le_u32(rec, b + 18) as usize;
            let data = &rec[b + 22..body_end];
            if subject_len.saturating_add(headers_len) > data.len() {
                return Err(RecordError::Corrupt(
                    "message field lengths exceed the record",
                ));
            }
            let (subject, rest) = data.split_at(subject_len);
            let (headers, payload) = rest.split_at(headers_len);
            RecordRef::Message(MessageRef {
                seq: le_u64(rec, b),
                ts_ns: le_u64(rec, b + 8),
                subject,
                headers,
                payload,
            })
        }
        KIND_TOMBSTONE => {
            if total != TOMBSTONE_RECORD_BYTES {
                return Err(RecordError::Corrupt("tombstone of the wrong length"));
            }
            RecordRef::Tombstone {
                seq: le_u64(rec, b),
            }
        }
        KIND_PURGE => {
            let filter_len = le_u16(rec, b + 8) as usize;
            if PURGE_RECORD_OVERHEAD_BYTES + filter_len != total {
                return Err(RecordError::Corrupt("purge filter length mismatch"));
            }
            RecordRef::Purge {
                below_seq: le_u64(rec, b),
                filter: &rec[b + 10..body_end],
            }
        }
        _ => {
            if total != CHECKPOINT_RECORD_BYTES {
                return Err(RecordError::Corrupt("checkpoint of the wrong length"));
            }
            RecordRef::Checkpoint {
                first_seq: le_u64(rec, b),
                last_seq: le_u64(rec, b + 8),
                last_ts_ns: le_u64(rec, b + 16),
            }
        }
    };
    Ok((decoded, total))
}

/// The message record starting at `bytes[off..]`, read without checking its CRC (only the
/// header check and the lengths): for records already checked once (recovery's scan, or
/// written by this process) and served from a sealed segment's mapping. `None` when the bytes
/// there are not a whole message record.
pub fn message_at(bytes: &[u8], off: usize) -> Option<MessageRef<'_>> {
    let rec = bytes.get(off..)?;
    if rec.len() < MESSAGE_RECORD_OVERHEAD_BYTES
        || rec[0] != RECORD_MAGIC_V1
        || rec[1] != KIND_MESSAGE
        || le_u16(rec, 6) != header_check(&rec[..6])
    {
        return None;
    }
    let total = le_u32(rec, 2) as usize;
    if total < MESSAGE_RECORD_OVERHEAD_BYTES || total > rec.len() {
        return None;
    }
    let b = RECORD_HEADER_BYTES;
    let subject_len = le_u16(rec, b + 16) as usize;
    let headers_len = le_u32(rec, b + 18) as usize;
    let data = &rec[b + 22..total - RECORD_CRC_BYTES];
    if subject_len.saturating_add(headers_len) > data.len() {
        return None;
    }
    let (subject, rest) = data.split_at(subject_len);
    let (headers, payload) = rest.split_at(headers_len);
    Some(MessageRef {
        seq: le_u64(rec, b),
        ts_ns: le_u64(rec, b + 8),
        subject,
        headers,
        payload,
    })
}

/// The timestamp of the message record at `bytes[off..]` (eight bytes read, nothing checked:
/// `off` must come from [`message_at`]-valid records).
pub fn message_ts_at(bytes: &[u8], off: usize) -> Option<u64> {
    let at = off.checked_add(RECORD_HEADER_BYTES + 8)?;
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Starts a batch record at the end of `out` (records then follow, encoded with
/// [`encode_into`]); returns where it starts, for [`finish_batch`].
pub fn begin_batch(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_BYTES + 4]);
    start
}

/// Completes the batch record begun at `start` around the `count` records written after it.
///
/// # Panics
/// If the batch exceeds [`MAX_BATCH_RECORD_BYTES`] (callers refuse such a batch first).
pub fn finish_batch(out: &mut Vec<u8>, start: usize, count: u32) {
    let total = out.len() - start + RECORD_CRC_BYTES;
    assert!(
        total <= MAX_BATCH_RECORD_BYTES,
        "batch record of {total} bytes exceeds MAX_BATCH_RECORD_BYTES"
    );
    out[start] = RECORD_MAGIC_V1;
    out[start + 1] = KIND_BATCH;
    out[start + 2..start + 6].copy_from_slice(&(total as u32).to_le_bytes());
    let check = header_check(&out[start..start + 6]);
    out[start + 6..start + 8].copy_from_slice(&check.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&count.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Offset of a batch record's first inner record, from the batch record's start.
pub const BATCH_INNER_OFFSET: usize = RECORD_HEADER_BYTES + 4;

/// Whether `bytes` start with a batch record (only its first two bytes are looked at).
pub fn is_batch(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == RECORD_MAGIC_V1 && bytes[1] == KIND_BATCH
}

/// Checks the batch record at the start of `bytes` whole — its header, CRC, and that its
/// inner records are exactly `count` good records of the other kinds (no checkpoint) — and
/// returns its length. Errors as [`decode`]: `Incomplete` for a torn tail.
pub fn decode_batch(bytes: &[u8]) -> Result<usize, RecordError> {
    let available = bytes.len();
    if available < RECORD_HEADER_BYTES {
        return Err(RecordError::Incomplete {
            needed: RECORD_HEADER_BYTES,
            available,
        });
    }
    if bytes[0] != RECORD_MAGIC_V1 {
        return Err(RecordError::BadMagic { found: bytes[0] });
    }
    if le_u16(bytes, 6) != header_check(&bytes[..6]) {
        return Err(RecordError::BadCrc);
    }
    if bytes[1] != KIND_BATCH {
        return Err(RecordError::Corrupt("not a batch record"));
    }
    let total = le_u32(bytes, 2) as usize;
    if total < BATCH_RECORD_OVERHEAD_BYTES {
        return Err(RecordError::Corrupt("record length out of range"));
    }
    if available < total {
        return Err(RecordError::Incomplete {
            needed: total,
            available,
        });
    }
    let body_end = total - RECORD_CRC_BYTES;
    if le_u32(bytes, body_end) != crc32c::crc32c(&bytes[..body_end]) {
        return Err(RecordError::BadCrc);
    }
    let count = le_u32(bytes, RECORD_HEADER_BYTES) as usize;
    let mut inner = &bytes[BATCH_INNER_OFFSET..body_end];
    let mut seen = 0usize;
    while !inner.is_empty() {
        let (rec, used) =
            decode(inner).map_err(|_| RecordError::Corrupt("bad record in a batch"))?;
        if matches!(rec, RecordRef::Checkpoint { .. }) {
            return Err(RecordError::Corrupt("checkpoint in a batch"));
        }
        inner = &inner[used..];
        seen += 1;
    }
    if seen != count {
        return Err(RecordError::Corrupt("batch record count mismatch"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record> {
        vec![
            Record::Message {
                seq: 7,
                ts_ns: 1_700_000_000_123_456_789,
                subject: Bytes::from_static(b"orders.new"),
                headers: Bytes::from_static(b"NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n"),
                payload: Bytes::from_static(b"hello"),
            },
            Record::Message {
                seq: u64::MAX,
                ts_ns: 0,
                subject: Bytes::from_static(b"x"),
                headers: Bytes::new(),
                payload: Bytes::new(),
            },
            Record::Tombstone { seq: 42 },
            Record::Purge {
                filter: Bytes::from_static(b"orders.*"),
                below_seq: 99,
            },
            Record::Purge {
                filter: Bytes::new(),
                below_seq: 1,
            },
            Record::Checkpoint {
                first_seq: 3,
                last_seq: 10,
                last_ts_ns: 12345,
            },
        ]
    }

    fn encode(rec: &Record) -> Vec<u8> {
        let mut v = Vec::new();
        encode_into(rec, &mut v);
        v
    }

    #[test]
    fn headers_offset_locates_body_without_decoding() {
        for rec in samples() {
            let Record::Message {
                subject,
                headers,
                payload,
                ..
            } = &rec
            else {
                continue;
            };
            let bytes = encode(&rec);
            let at = message_headers_offset(subject.len());
            assert_eq!(&bytes[at..at + headers.len()], &headers[..]);
            let p = at + headers.len();
            assert_eq!(&bytes[p..p + payload.len()], &payload[..]);
            assert_eq!(p + payload.len() + RECORD_CRC_BYTES, bytes.len());
        }
    }

    #[test]
    fn round_trips_every_kind() {
        for rec in samples() {
            let bytes = encode(&rec);
            assert_eq!(bytes.len(), rec.encoded_len());
            let (got, used) = decode(&bytes).expect("decodes");
            assert_eq!(used, bytes.len());
            assert_eq!(got, rec.as_record_ref());
            assert_eq!(got.to_owned_record(), rec);
        }
    }

    #[test]
    fn encode_appends_and_decode_reports_consumed() {
        let recs = samples();
        let mut buf = b"prefix".to_vec();
        for r in &recs {
            encode_into(r, &mut buf);
        }
        assert_eq!(&buf[..6], b"prefix");
        let mut at = 6;
        for r in &recs {
            let (got, used) = decode(&buf[at..]).expect("decodes");
            assert_eq!(got, r.as_record_ref());
            at += used;
        }
        assert_eq!(at, buf.len());
    }

    #[test]
    fn message_overhead_is_34_bytes() {
        let rec = Record::Message {
            seq: 1,
            ts_ns: 1,
            subject: Bytes::from_static(b"abc"),
            headers: Bytes::from_static(b"hh"),
            payload: Bytes::from_static(b"p"),
        };
        assert_eq!(encode(&rec).len(), 34 + 3 + 2 + 1);
    }

    #[test]
    fn every_truncation_is_incomplete() {
        for rec in samples() {
            let bytes = encode(&rec);
            for cut in 0..bytes.len() {
                match decode(&bytes[..cut]) {
                    Err(RecordError::Incomplete { available, .. }) => assert_eq!(available, cut),
                    other => panic!("cut {cut} of {rec:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected_as_corruption() {
        for rec in samples() {
            let bytes = encode(&rec);
            for bit in 0..bytes.len() * 8 {
                let mut damaged = bytes.clone();
                damaged[bit / 8] ^= 1 << (bit % 8);
                match decode(&damaged) {
                    Err(
                        RecordError::BadCrc
                        | RecordError::Corrupt(_)
                        | RecordError::BadMagic { .. },
                    ) => {}
                    other => panic!("bit {bit} of {rec:?} gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert_eq!(decode(&[0u8; 64]), Err(RecordError::BadMagic { found: 0 }));
        assert!(matches!(
            decode(&[]),
            Err(RecordError::Incomplete {
                needed: 8,
                available: 0
            })
        ));
        // A header with a valid check but an absurd length is corruption, not a torn tail.
        let mut hdr = vec![RECORD_MAGIC_V1, KIND_MESSAGE];
        hdr.extend_from_slice(&u32::MAX.to_le_bytes());
        let check = header_check(&hdr);
        hdr.extend_from_slice(&check.to_le_bytes());
        assert_eq!(
            decode(&hdr),
            Err(RecordError::Corrupt("record length out of range"))
        );
        // Unknown kind with a valid header check.
        let mut hdr = vec![RECORD_MAGIC_V1, 9];
        hdr.extend_from_slice(&64u32.to_le_bytes());
        let check = header_check(&hdr);
        hdr.extend_from_slice(&check.to_le_bytes());
        assert_eq!(
            decode(&hdr),
            Err(RecordError::Corrupt("unknown record kind"))
        );
        // Pseudo-random garbage after a valid magic byte: never panics.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut g = vec![RECORD_MAGIC_V1];
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                g.push(x as u8);
            }
            let _ = decode(&g);
        }
    }

    #[test]
    fn inconsistent_inner_lengths_with_valid_crcs_are_corrupt() {
        // Hand-build a message record whose subject_len exceeds its data, with correct checksums.
        let mut v = vec![RECORD_MAGIC_V1, KIND_MESSAGE];
        let total = MESSAGE_RECORD_OVERHEAD_BYTES + 2;
        v.extend_from_slice(&(total as u32).to_le_bytes());
        let check = header_check(&v);
        v.extend_from_slice(&check.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&5u16.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(b"ab");
        let crc = crc32c::crc32c(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode(&v),
            Err(RecordError::Corrupt(
                "message field lengths exceed the record"
            ))
        );
    }

    fn batch_of(recs: &[Record]) -> Vec<u8> {
        let mut v = Vec::new();
        let start = begin_batch(&mut v);
        for r in recs {
            encode_into(r, &mut v);
        }
        finish_batch(&mut v, start, recs.len() as u32);
        v
    }

    fn batch_samples() -> Vec<Record> {
        samples()
            .into_iter()
            .filter(|r| !matches!(r, Record::Checkpoint { .. }))
            .collect()
    }

    #[test]
    fn batch_record_wraps_whole_records() {
        let recs = batch_samples();
        let v = batch_of(&recs);
        let inner: usize = recs.iter().map(Record::encoded_len).sum();
        assert_eq!(v.len(), inner + BATCH_RECORD_OVERHEAD_BYTES);
        assert!(is_batch(&v));
        assert_eq!(decode_batch(&v), Ok(v.len()));
        let (first, _) = decode(&v[BATCH_INNER_OFFSET..]).expect("inner record");
        assert_eq!(first, recs[0].as_record_ref());
        // Not a record `decode` knows on its own.
        assert!(matches!(decode(&v), Err(RecordError::Corrupt(_))));
        assert_eq!(
            decode_batch(&batch_of(&[])),
            Ok(BATCH_RECORD_OVERHEAD_BYTES)
        );
    }

    #[test]
    fn every_cut_of_a_batch_is_incomplete() {
        let v = batch_of(&batch_samples());
        for cut in 0..v.len() {
            match decode_batch(&v[..cut]) {
                Err(RecordError::Incomplete { available, .. }) => assert_eq!(available, cut),
                Err(RecordError::BadMagic { .. }) if cut == 0 => {}
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_bit_flip_in_a_batch_is_detected() {
        let v = batch_of(&batch_samples());
        for bit in 0..v.len() * 8 {
            let mut damaged = v.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            if let Ok(n) = decode_batch(&damaged) {
                panic!("bit {bit} accepted ({n} bytes)");
            }
        }
    }

    #[test]
    fn a_batch_with_a_wrong_count_or_a_checkpoint_is_corrupt() {
        let recs = batch_samples();
        let mut v = Vec::new();
        let start = begin_batch(&mut v);
        for r in &recs {
            encode_into(r, &mut v);
        }
        finish_batch(&mut v, start, recs.len() as u32 + 1);
        assert_eq!(
            decode_batch(&v),
            Err(RecordError::Corrupt("batch record count mismatch"))
        );
        let with_checkpoint = batch_of(&samples());
        assert_eq!(
            decode_batch(&with_checkpoint),
            Err(RecordError::Corrupt("checkpoint in a batch"))
        );
    }
}
