//! The persisted form of a consumer's state: a small self-checking binary snapshot.
//!
//! Layout (little endian): magic `NXC1`, delivered (cseq, sseq), ack floor (cseq, sseq),
//! pending count, then per pending message (sseq, cseq, deliveries), and a CRC32C of
//! everything before it. A snapshot only ever lags the live state, which on restart can
//! redeliver a message but never skip one (see the module docs of `consumer`).

use thiserror::Error;

const MAGIC: &[u8; 4] = b"NXC1";

/// One pending message in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRecord {
    /// Stream sequence.
    pub stream_seq: u64,
    /// Consumer sequence of its latest delivery.
    pub consumer_seq: u64,
    /// Deliveries so far.
    pub deliveries: u64,
}

/// A consumer's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Last consumer sequence handed out.
    pub delivered_cseq: u64,
    /// Highest stream sequence handed out.
    pub delivered_sseq: u64,
    /// Ack floor, consumer sequence.
    pub ack_floor_cseq: u64,
    /// Ack floor, stream sequence.
    pub ack_floor_sseq: u64,
    /// Delivered but unacknowledged messages.
    pub pending: Vec<PendingRecord>,
}

/// Why a snapshot file could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Too short or wrong magic.
    #[error("not a consumer state file")]
    Format,
    /// The checksum does not match.
    #[error("consumer state checksum mismatch")]
    Checksum,
}

impl Snapshot {
    /// Encodes the snapshot with its checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.pending.len() * 24);
        out.extend_from_slice(MAGIC);
        for v in [
            self.delivered_cseq,
            self.delivered_sseq,
            self.ack_floor_cseq,
            self.ack_floor_sseq,
            self.pending.len() as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for p in &self.pending {
            for v in [p.stream_seq, p.consumer_seq, p.deliveries] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a snapshot.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        if bytes.len() < 4 + 40 + 4 || &bytes[..4] != MAGIC {
            return Err(SnapshotError::Format);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(SnapshotError::Checksum);
        }
        let mut words = body[4..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
        let mut next = || words.next().ok_or(SnapshotError::Format);
        let mut s = Snapshot {
            delivered_cseq: next()?,
            delivered_sseq: next()?,
            ack_floor_cseq: next()?,
            ack_floor_sseq: next()?,
            pending: Vec::new(),
        };
        let n = next()?;
        if (body.len() - 4 - 40) as u64 != n * 24 {
            return Err(SnapshotError::Format);
        }
        for _ in 0..n {
            s.pending.push(PendingRecord {
                stream_seq: next()?,
                consumer_seq: next()?,
                deliveries: next()?,
            });
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let s = Snapshot {
            delivered_cseq: 9,
            delivered_sseq: 12,
            ack_floor_cseq: 3,
            ack_floor_sseq: 4,
            pending: vec![
                PendingRecord {
                    stream_seq: 5,
                    consumer_seq: 4,
                    deliveries: 1,
                },
                PendingRecord {
                    stream_seq: 11,
                    consumer_seq: 9,
                    deliveries: 3,
                },
            ],
        };
        let b = s.encode();
        assert_eq!(Snapshot::decode(&b), Ok(s));
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert!(Snapshot::decode(&d).is_err(), "flip at {i} accepted");
        }
        for cut in 0..b.len() {
            assert!(Snapshot::decode(&b[..cut]).is_err());
        }
    }
}
