//! Segment files: recovery scanning, the rkyv per-segment sequence index, and file naming.
//!
//! A segment is a concatenation of [`super::record`]s. Recovery scans it from the start
//! and stops at the first record that is torn or corrupt; everything from there on is dropped
//! (the shell truncates the file to [`ScanResult::valid_len`] and logs the drop).
//!
//! The index file maps each message sequence of a sealed segment to its byte offset. It is an
//! rkyv archive behind a small checksummed header, read in place ([`IndexView::open`]) without
//! deserialising. It records how many segment bytes it covers, so an index older than its
//! segment (the process died after appending more) is detected and rebuilt from a scan.

use rkyv::rancor;

use super::record::{self, RecordError, RecordRef};

/// A record found by the scanner, with the byte offset where it starts.
pub type ScannedRecord<'a> = (u64, RecordRef<'a>);

/// Outcome of scanning a whole segment.
#[derive(Debug)]
pub struct ScanResult<'a> {
    /// Every good record, in file order, with its offset.
    pub records: Vec<ScannedRecord<'a>>,
    /// Length of the good prefix: where the file must be truncated.
    pub valid_len: usize,
    /// Bytes after the good prefix (0 for a clean segment).
    pub dropped_bytes: usize,
    /// Why scanning stopped early, if it did.
    pub problem: Option<RecordError>,
    /// The dropped bytes are all zero (DMA block padding or preallocation, not lost data); true
    /// when nothing was dropped.
    pub zero_fill_tail: bool,
}

/// Streaming scanner over a segment's bytes: yields good records and remembers where and why it stopped.
///
/// Use this instead of [`scan`] to replay a large segment without collecting its records.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    problem: Option<RecordError>,
    /// Inside a batch record already checked whole: (next inner record, end of its records).
    inner: Option<(usize, usize)>,
    /// Check every record's CRC (false: [`record::decode_trusted`]).
    check_crc: bool,
}

impl<'a> Scanner<'a> {
    /// Starts at offset 0 of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Scanner {
            bytes,
            pos: 0,
            problem: None,
            inner: None,
            check_crc: true,
        }
    }

    /// Like [`Scanner::new`], but records are not CRC-checked (headers and lengths are): for
    /// a sealed segment whose checksummed index covers exactly its length. A torn or foreign
    /// tail still stops the scan; a flipped bit inside a record body goes unnoticed.
    pub fn trusted(bytes: &'a [u8]) -> Self {
        Scanner {
            check_crc: false,
            ..Scanner::new(bytes)
        }
    }

    /// End of the good prefix seen so far (final once the iterator returned `None`).
    pub fn valid_len(&self) -> usize {
        self.pos
    }

    /// Bytes after the good prefix (meaningful once the iterator returned `None`).
    pub fn dropped_bytes(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Why the scan stopped before the end, if it did.
    pub fn problem(&self) -> Option<RecordError> {
        self.problem
    }

    /// True when the bytes after the good prefix are all zero (padding, not lost data).
    pub fn zero_fill_tail(&self) -> bool {
        self.bytes[self.pos..].iter().all(|&b| b == 0)
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = ScannedRecord<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((at, end)) = self.inner {
                // Checked whole by `decode_batch`: every inner record decodes.
                let (rec, used) = record::decode(&self.bytes[at..end]).expect("checked batch");
                self.inner = (at + used < end).then_some((at + used, end));
                return Some((at as u64, rec));
            }
            if self.problem.is_some() || self.pos >= self.bytes.len() {
                return None;
            }
            let rest = &self.bytes[self.pos..];
            let decoded = if record::is_batch(rest) {
                // An atomic batch counts whole or not at all: the good prefix ends before
                // it unless all of it is good.
                record::decode_batch(rest).map(|used| {
                    let start = self.pos + record::BATCH_INNER_OFFSET;
                    let end = self.pos + used - record::RECORD_CRC_BYTES;
                    self.inner = (start < end).then_some((start, end));
                    (None, used)
                })
            } else if self.check_crc {
                record::decode(rest).map(|(rec, used)| (Some(rec), used))
            } else {
                record::decode_trusted(rest).map(|(rec, used)| (Some(rec), used))
            };
            match decoded {
                Ok((rec, used)) => {
                    let at = self.pos as u64;
                    self.pos += used;
                    if let Some(rec) = rec {
                        return Some((at, rec));
                    }
                }
                Err(e) => {
                    self.problem = Some(e);
                    return None;
                }
            }
        }
    }
}

/// Scans a whole segment, returning its good records and the truncation point.
pub fn scan(bytes: &[u8]) -> ScanResult<'_> {
    let mut scanner = Scanner::new(bytes);
    let records: Vec<_> = scanner.by_ref().collect();
    ScanResult {
        records,
        valid_len: scanner.valid_len(),
        dropped_bytes: scanner.dropped_bytes(),
        problem: scanner.problem(),
        zero_fill_tail: scanner.zero_fill_tail(),
    }
}

/// The `(seq, offset)` pairs of a scan's message records: the input of [`build_index`].
pub fn index_entries(records: &[ScannedRecord<'_>]) -> Vec<(u64, u64)> {
    records
        .iter()
        .filter_map(|(off, rec)| match rec {
            RecordRef::Message(m) => Some((m.seq, *off)),
            _ => None,
        })
        .collect()
}

/// The archived per-segment index (rkyv); only ever read through [`IndexView`].
#[derive(rkyv::Archive, rkyv::Serialize, Debug)]
struct SegmentIndex {
    /// First sequence the segment was created for (its file name).
    first_seq: u64,
    /// Segment length in bytes that this index describes.
    covers_len: u64,
    /// Message sequence → record offset, sorted by sequence.
    entries: Vec<IndexEntry>,
}

/// One index entry.
#[derive(rkyv::Archive, rkyv::Serialize, Debug, Clone, Copy)]
struct IndexEntry {
    seq: u64,
    offset: u64,
}

/// Magic at the start of an index file (format version in the last byte).
const INDEX_MAGIC: [u8; 8] = *b"NTXIDX\x00\x01";
/// Index header: magic, archive length u32, archive CRC32C u32.
const INDEX_HEADER_BYTES: usize = 16;

/// Why index bytes were refused; the caller rebuilds the index from a segment scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Shorter than the index header.
    #[error("index file too short ({0} bytes)")]
    TooShort(usize),
    /// Not an index file, or another format version.
    #[error("bad index magic")]
    BadMagic,
    /// The archive length in the header does not match the file.
    #[error("index length mismatch: header says {expected} bytes, found {found}")]
    LengthMismatch {
        /// Length in the header.
        expected: usize,
        /// Bytes present after the header.
        found: usize,
    },
    /// The archive bytes do not match their checksum.
    #[error("index checksum mismatch")]
    BadCrc,
    /// rkyv validation refused the archive.
    #[error("invalid index archive: {0}")]
    Invalid(String),
    /// Entries are not strictly increasing by sequence, or point past the covered length.
    #[error("index entries out of order or out of range")]
    Inconsistent,
}

/// Serialises the index of one segment: `entries` are `(seq, offset)` sorted by seq, covering
/// the first `covers_segment_len` bytes of the segment.
pub fn build_index(first_seq: u64, entries: &[(u64, u64)], covers_segment_len: u64) -> Vec<u8> {
    debug_assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "entries must be sorted by seq"
    );
    let index = SegmentIndex {
        first_seq,
        covers_len: covers_segment_len,
        entries: entries
            .iter()
            .map(|&(seq, offset)| IndexEntry { seq, offset })
            .collect(),
    };
    let archive =
        rkyv::to_bytes::<rancor::Error>(&index).expect("serialising an index cannot fail");
    let mut out = Vec::with_capacity(INDEX_HEADER_BYTES + archive.len());
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&archive).to_le_bytes());
    out.extend_from_slice(&archive);
    out
}

/// A validated, zero-copy view of index bytes (e.g. a mapped or DMA-read file).
#[derive(Clone, Copy)]
pub struct IndexView<'a> {
    archived: &'a ArchivedSegmentIndex,
}

impl std::fmt::Debug for IndexView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexView")
            .field("first_seq", &self.first_seq())
            .field("covers_len", &self.covers_len())
            .field("entries", &self.len())
            .finish()
    }
}

impl<'a> IndexView<'a> {
    /// Checks the header, checksum and archive, then borrows the bytes; never panics on garbage.
    /// Any alignment works (the crate builds rkyv with its `unaligned` format).
    pub fn open(bytes: &'a [u8]) -> Result<Self, IndexError> {
        if bytes.len() < INDEX_HEADER_BYTES {
            return Err(IndexError::TooShort(bytes.len()));
        }
        if bytes[..8] != INDEX_MAGIC {
            return Err(IndexError::BadMagic);
        }
        let expected = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let archive = &bytes[INDEX_HEADER_BYTES..];
        if archive.len() != expected {
            return Err(IndexError::LengthMismatch {
                expected,
                found: archive.len(),
            });
        }
        let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        if crc32c::crc32c(archive) != crc {
            return Err(IndexError::BadCrc);
        }
        let archived = rkyv::access::<ArchivedSegmentIndex, rancor::Error>(archive)
            .map_err(|e| IndexError::Invalid(e.to_string()))?;
        let covers = archived.covers_len.to_native();
        let ordered = archived
            .entries
            .windows(2)
            .all(|w| w[0].seq.to_native() < w[1].seq.to_native());
        let in_range = archived
            .entries
            .iter()
            .all(|e| e.offset.to_native() < covers);
        if !ordered || !in_range {
            return Err(IndexError::Inconsistent);
        }
        Ok(IndexView { archived })
    }

    /// Offset of the record holding `seq`, by binary search over the archived entries.
    pub fn lookup(&self, seq: u64) -> Option<u64> {
        let entries = self.archived.entries.as_slice();
        entries
            .binary_search_by_key(&seq, |e| e.seq.to_native())
            .ok()
            .map(|i| entries[i].offset.to_native())
    }

    /// Segment bytes the index describes; a longer segment means the index is stale.
    pub fn covers_len(&self) -> u64 {
        self.archived.covers_len.to_native()
    }

    /// True when the index does not describe exactly `segment_len` bytes and must be rebuilt.
    pub fn is_stale(&self, segment_len: u64) -> bool {
        self.covers_len() != segment_len
    }

    /// First sequence the segment was created for.
    pub fn first_seq(&self) -> u64 {
        self.archived.first_seq.to_native()
    }

    /// Number of indexed messages.
    pub fn len(&self) -> usize {
        self.archived.entries.len()
    }

    /// True when the segment holds no message records.
    pub fn is_empty(&self) -> bool {
        self.archived.entries.is_empty()
    }

    /// Lowest and highest indexed sequence (to decide which segment holds a sequence).
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        let e = self.archived.entries.as_slice();
        Some((e.first()?.seq.to_native(), e.last()?.seq.to_native()))
    }

    /// Every `(seq, offset)` in order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.archived
            .entries
            .iter()
            .map(|e| (e.seq.to_native(), e.offset.to_native()))
    }
}

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of index files.
pub const INDEX_SUFFIX: &str = ".idx";
/// Digits of the zero-padded first sequence in file names (so names sort like sequences).
const NAME_DIGITS: usize = 20;

/// File name of the segment starting at `first_seq`, e.g. `00000000000000000001.seg`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:0NAME_DIGITS$}{SEGMENT_SUFFIX}")
}

/// File name of the index of the segment starting at `first_seq`.
pub fn index_file_name(first_seq: u64) -> String {
    format!("{first_seq:0NAME_DIGITS$}{INDEX_SUFFIX}")
}

fn parse_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// First sequence of a segment file name, or `None` if the name is not one of ours.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    parse_name(name, SEGMENT_SUFFIX)
}

/// First sequence of an index file name, or `None` if the name is not one of ours.
pub fn parse_index_file_name(name: &str) -> Option<u64> {
    parse_name(name, INDEX_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode_into, Record};
    use super::*;
    use bytes::Bytes;

    fn msg(seq: u64, payload: &'static [u8]) -> Record {
        Record::Message {
            seq,
            ts_ns: seq * 10,
            subject: Bytes::from_static(b"a.b"),
            headers: Bytes::new(),
            payload: Bytes::from_static(payload),
        }
    }

    fn segment(recs: &[Record]) -> Vec<u8> {
        let mut v = Vec::new();
        for r in recs {
            encode_into(r, &mut v);
        }
        v
    }

    fn sample() -> Vec<Record> {
        vec![
            Record::Checkpoint {
                first_seq: 1,
                last_seq: 0,
                last_ts_ns: 0,
            },
            msg(1, b"one"),
            msg(2, b"two"),
            Record::Tombstone { seq: 1 },
            msg(3, b"three"),
        ]
    }

    #[test]
    fn clean_segment_scans_fully() {
        let recs = sample();
        let seg = segment(&recs);
        let res = scan(&seg);
        assert_eq!(res.valid_len, seg.len());
        assert_eq!(res.dropped_bytes, 0);
        assert_eq!(res.problem, None);
        assert!(res.zero_fill_tail);
        assert_eq!(res.records.len(), recs.len());
        let mut off = 0u64;
        for ((at, got), want) in res.records.iter().zip(&recs) {
            assert_eq!(*at, off);
            assert_eq!(*got, want.as_record_ref());
            off += want.encoded_len() as u64;
        }
        assert!(scan(&[]).records.is_empty());
    }

    /// `before`, then `batch` as one batch record, then `after`.
    fn segment_with_batch(before: &[Record], batch: &[Record], after: &[Record]) -> Vec<u8> {
        let mut v = segment(before);
        let start = super::super::record::begin_batch(&mut v);
        for r in batch {
            encode_into(r, &mut v);
        }
        super::super::record::finish_batch(&mut v, start, batch.len() as u32);
        for r in after {
            encode_into(r, &mut v);
        }
        v
    }

    #[test]
    fn a_batch_record_yields_its_records_at_their_offsets() {
        let recs = sample();
        let seg = segment_with_batch(&recs[..2], &recs[2..4], &recs[4..]);
        let res = scan(&seg);
        assert_eq!(res.problem, None);
        assert_eq!(res.valid_len, seg.len());
        let got: Vec<RecordRef<'_>> = res.records.iter().map(|(_, r)| *r).collect();
        let want: Vec<RecordRef<'_>> = recs.iter().map(Record::as_record_ref).collect();
        assert_eq!(got, want);
        // Offsets point at each inner record, as an index needs.
        for (at, rec) in &res.records {
            let (again, _) =
                super::super::record::decode(&seg[*at as usize..]).expect("at a record");
            assert_eq!(again, *rec);
        }
        let entries = index_entries(&res.records);
        assert_eq!(
            entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn a_torn_or_damaged_batch_is_dropped_whole() {
        let recs = sample();
        let batch = [msg(4, b"four"), msg(5, b"five"), msg(6, b"six")];
        let good = segment(&recs);
        let full = segment_with_batch(&recs, &batch, &[]);
        for cut in good.len()..full.len() {
            let res = scan(&full[..cut]);
            assert_eq!(res.records.len(), recs.len(), "cut {cut}");
            assert_eq!(res.valid_len, good.len(), "cut {cut}");
        }
        for at in good.len()..full.len() {
            let mut bad = full.clone();
            bad[at] ^= 0x20;
            let res = scan(&bad);
            assert_eq!(res.records.len(), recs.len(), "flip at {at}");
            assert_eq!(res.valid_len, good.len(), "flip at {at}");
            assert!(res.problem.is_some());
        }
    }

    #[test]
    fn a_trusted_scan_skips_body_crcs_but_still_stops_at_a_torn_tail() {
        let mut bytes = segment(&sample());
        let clean_len = bytes.len();
        // Flip a payload bit of message 3 (the last record).
        let at = clean_len - 4 - 1;
        bytes[at] ^= 0x01;
        let mut checked = Scanner::new(&bytes);
        assert_eq!(checked.by_ref().count(), 4);
        assert_eq!(checked.problem(), Some(RecordError::BadCrc));
        let mut trusted = Scanner::trusted(&bytes);
        assert_eq!(trusted.by_ref().count(), 5);
        assert_eq!((trusted.problem(), trusted.valid_len()), (None, clean_len));
        // A torn record (header says more bytes than there are) stops either.
        bytes.truncate(clean_len - 2);
        let mut trusted = Scanner::trusted(&bytes);
        assert_eq!(trusted.by_ref().count(), 4);
        assert!(matches!(
            trusted.problem(),
            Some(RecordError::Incomplete { .. })
        ));
    }

    #[test]
    fn torn_tail_keeps_exactly_the_good_prefix() {
        let recs = sample();
        let good = segment(&recs[..4]);
        let full = segment(&recs);
        for cut in good.len()..full.len() {
            let res = scan(&full[..cut]);
            assert_eq!(res.records.len(), 4, "cut {cut}");
            assert_eq!(res.valid_len, good.len());
            assert_eq!(res.dropped_bytes, cut - good.len());
            if cut == good.len() {
                assert_eq!(res.problem, None);
            } else {
                assert!(
                    matches!(res.problem, Some(RecordError::Incomplete { .. })),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn corrupt_and_garbage_tails_are_dropped() {
        let recs = sample();
        let good = segment(&recs[..3]);
        let mut corrupt = segment(&recs);
        // Flip a payload bit of the 4th record: it and everything after it go.
        corrupt[good.len() + 9] ^= 0x10;
        let res = scan(&corrupt);
        assert_eq!(res.records.len(), 3);
        assert_eq!(res.valid_len, good.len());
        assert_eq!(res.dropped_bytes, corrupt.len() - good.len());
        assert_eq!(res.problem, Some(RecordError::BadCrc));
        assert!(!res.zero_fill_tail);

        // Zero fill after the good records (preallocated / torn DMA block).
        let mut zeros = segment(&recs);
        let end = zeros.len();
        zeros.extend_from_slice(&[0u8; 4096]);
        let res = scan(&zeros);
        assert_eq!(res.records.len(), recs.len());
        assert_eq!(res.valid_len, end);
        assert_eq!(res.dropped_bytes, 4096);
        assert_eq!(res.problem, Some(RecordError::BadMagic { found: 0 }));
        assert!(res.zero_fill_tail);

        // The streaming scanner agrees.
        let mut sc = Scanner::new(&zeros);
        assert_eq!(sc.by_ref().count(), recs.len());
        assert_eq!(sc.valid_len(), end);
        assert_eq!(sc.dropped_bytes(), 4096);
    }

    #[test]
    fn index_build_open_lookup() {
        let recs = sample();
        let seg = segment(&recs);
        let res = scan(&seg);
        let entries = index_entries(&res.records);
        assert_eq!(
            entries.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let idx = build_index(1, &entries, seg.len() as u64);
        let view = IndexView::open(&idx).expect("opens");
        assert_eq!(view.first_seq(), 1);
        assert_eq!(view.len(), 3);
        assert_eq!(view.seq_range(), Some((1, 3)));
        assert_eq!(view.covers_len(), seg.len() as u64);
        assert!(!view.is_stale(seg.len() as u64));
        assert!(view.is_stale(seg.len() as u64 + 20));
        for &(seq, off) in &entries {
            assert_eq!(view.lookup(seq), Some(off));
            let (rec, _) = record::decode(&seg[off as usize..]).expect("record at offset");
            assert!(matches!(rec, RecordRef::Message(m) if m.seq == seq));
        }
        assert_eq!(view.lookup(0), None);
        assert_eq!(view.lookup(4), None);
        assert_eq!(view.entries().collect::<Vec<_>>(), entries);
    }

    #[test]
    fn index_works_at_any_alignment_and_scales() {
        let entries: Vec<(u64, u64)> = (0..10_000u64).map(|i| (1000 + i * 2, i * 64)).collect();
        let idx = build_index(1000, &entries, 10_000 * 64);
        for shift in 0..8 {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(&idx);
            let view = IndexView::open(&buf[shift..]).expect("opens at any alignment");
            assert_eq!(view.lookup(1000 + 2 * 777), Some(777 * 64));
            assert_eq!(view.lookup(1001), None);
        }
        let empty = build_index(5, &[], 0);
        let view = IndexView::open(&empty).expect("empty index opens");
        assert!(view.is_empty());
        assert_eq!(view.seq_range(), None);
        assert_eq!(view.lookup(5), None);
    }

    #[test]
    fn garbage_index_bytes_are_refused() {
        let idx = build_index(1, &[(1, 0), (2, 40), (3, 80)], 120);
        assert_eq!(
            IndexView::open(&idx[..10]).unwrap_err(),
            IndexError::TooShort(10)
        );
        assert!(matches!(
            IndexView::open(&idx[..idx.len() - 1]),
            Err(IndexError::LengthMismatch { .. })
        ));
        let mut bad = idx.clone();
        bad[0] = b'X';
        assert_eq!(IndexView::open(&bad).unwrap_err(), IndexError::BadMagic);
        // Every single-bit flip is refused (never a panic, never a silently wrong index).
        for bit in 0..idx.len() * 8 {
            let mut d = idx.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(IndexView::open(&d).is_err(), "bit {bit}");
        }
        // Garbage with a valid header and checksum: rkyv validation or the order check refuses it.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in [0usize, 1, 7, 8, 16, 24, 31, 32, 33, 64, 200] {
            for _ in 0..50 {
                let mut archive = Vec::with_capacity(len);
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    archive.push(x as u8);
                }
                let mut f = INDEX_MAGIC.to_vec();
                f.extend_from_slice(&(archive.len() as u32).to_le_bytes());
                f.extend_from_slice(&crc32c::crc32c(&archive).to_le_bytes());
                f.extend_from_slice(&archive);
                let _ = IndexView::open(&f);
            }
        }
        // Well-formed archive with unsorted entries is refused by the order check.
        let unsorted = SegmentIndex {
            first_seq: 1,
            covers_len: 100,
            entries: vec![
                IndexEntry { seq: 5, offset: 0 },
                IndexEntry { seq: 2, offset: 10 },
            ],
        };
        let archive = rkyv::to_bytes::<rancor::Error>(&unsorted).expect("serialises");
        let mut f = INDEX_MAGIC.to_vec();
        f.extend_from_slice(&(archive.len() as u32).to_le_bytes());
        f.extend_from_slice(&crc32c::crc32c(&archive).to_le_bytes());
        f.extend_from_slice(&archive);
        assert_eq!(IndexView::open(&f).unwrap_err(), IndexError::Inconsistent);
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(index_file_name(1), "00000000000000000001.idx");
        assert_eq!(segment_file_name(u64::MAX), "18446744073709551615.seg");
        for seq in [0, 1, 42, 1 << 40, u64::MAX] {
            assert_eq!(parse_segment_file_name(&segment_file_name(seq)), Some(seq));
            assert_eq!(parse_index_file_name(&index_file_name(seq)), Some(seq));
        }
        assert_eq!(parse_segment_file_name("00000000000000000001.idx"), None);
        assert_eq!(parse_segment_file_name("1.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000a.seg"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.seg"), None);
        assert_eq!(parse_index_file_name("meta.json"), None);
        let mut names: Vec<String> = [10u64, 9, 100, 1]
            .iter()
            .map(|&s| segment_file_name(s))
            .collect();
        names.sort();
        let seqs: Vec<u64> = names
            .iter()
            .filter_map(|n| parse_segment_file_name(n))
            .collect();
        assert_eq!(seqs, vec![1, 9, 10, 100]);
    }
}
