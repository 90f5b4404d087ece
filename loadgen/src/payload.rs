//! What the load generator writes into message bodies, and how receivers
//! check it: a sequence word (publisher id + message number) and a send
//! timestamp, so every run can prove it counted exactly and measure
//! one-way latency without a second clock.

use std::sync::OnceLock;
use std::time::Instant;

/// Bits of the sequence word holding the message number.
const SEQ_BITS: u32 = 40;
/// Mask for the message-number part of a sequence word.
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Largest publisher id that fits in the sequence word.
pub const MAX_PUB_ID: u32 = (1 << (64 - SEQ_BITS)) - 2;
/// Publisher id reserved for readiness probes (never counted as data).
pub const PROBE_PUB_ID: u32 = MAX_PUB_ID + 1;
/// Bytes of a payload used for the sequence word.
pub const SEQ_BYTES: usize = 8;
/// Bytes of a payload used for sequence word plus timestamp.
pub const STAMP_BYTES: usize = 16;

static CLOCK_BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process-wide clock base: all threads (publishers
/// and subscribers live in one process) share it, so one-way latency needs
/// no clock synchronisation.
#[inline]
pub fn now_ns() -> u64 {
    let base = *CLOCK_BASE.get_or_init(Instant::now);
    base.elapsed().as_nanos() as u64
}

/// Packs publisher id and message number into one word.
#[inline]
pub fn seq_word(pub_id: u32, n: u64) -> u64 {
    debug_assert!(pub_id <= PROBE_PUB_ID);
    debug_assert!(n <= SEQ_MASK);
    (u64::from(pub_id) << SEQ_BITS) | (n & SEQ_MASK)
}

/// Unpacks a sequence word into publisher id and message number.
#[inline]
pub fn split_seq(word: u64) -> (u32, u64) {
    ((word >> SEQ_BITS) as u32, word & SEQ_MASK)
}

/// Writes the sequence word and timestamp into as much of `payload` as fits
/// (bodies shorter than 8 bytes carry nothing and are only counted).
#[inline]
pub fn stamp(payload: &mut [u8], word: u64, ts_ns: u64) {
    if payload.len() >= SEQ_BYTES {
        payload[..SEQ_BYTES].copy_from_slice(&word.to_le_bytes());
    }
    if payload.len() >= STAMP_BYTES {
        payload[SEQ_BYTES..STAMP_BYTES].copy_from_slice(&ts_ns.to_le_bytes());
    }
}

/// Reads back what [`stamp`] wrote: the sequence word and, if present, the timestamp.
#[inline]
pub fn read_stamp(payload: &[u8]) -> (Option<u64>, Option<u64>) {
    let word = payload
        .get(..SEQ_BYTES)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let ts = payload
        .get(SEQ_BYTES..STAMP_BYTES)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    (word, ts)
}

/// A readiness probe body: 8 bytes, publisher id [`PROBE_PUB_ID`], number = subject index.
pub fn probe_payload(subject_idx: u64) -> [u8; SEQ_BYTES] {
    seq_word(PROBE_PUB_ID, subject_idx).to_le_bytes()
}

/// If `payload` is a readiness probe, the subject index it announces.
#[inline]
pub fn probe_subject(payload: &[u8]) -> Option<u64> {
    if payload.len() != SEQ_BYTES {
        return None;
    }
    let (id, n) = split_seq(read_stamp(payload).0?);
    (id == PROBE_PUB_ID).then_some(n)
}

/// Growable bitmap of message numbers seen from one publisher.
#[derive(Debug, Clone, Default)]
pub struct SeqSet {
    words: Vec<u64>,
    count: u64,
}

impl SeqSet {
    /// Marks `n`; returns false if it was already present (a duplicate).
    #[inline]
    pub fn insert(&mut self, n: u64) -> bool {
        let w = (n / 64) as usize;
        if w >= self.words.len() {
            self.words.resize((w + 1).max(self.words.len() * 2), 0);
        }
        let bit = 1u64 << (n % 64);
        let fresh = self.words[w] & bit == 0;
        self.words[w] |= bit;
        self.count += u64::from(fresh);
        fresh
    }

    /// Distinct numbers present.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `other` into `self`; returns how many numbers were in both.
    pub fn merge(&mut self, other: &SeqSet) -> u64 {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        let mut overlap = 0;
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            overlap += u64::from((*a & *b).count_ones());
            let added = u64::from((*b & !*a).count_ones());
            self.count += added;
            *a |= *b;
        }
        overlap
    }

    /// How many of `0..n` are absent.
    pub fn missing_below(&self, n: u64) -> u64 {
        let full_words = (n / 64) as usize;
        let mut present = 0u64;
        for (i, w) in self.words.iter().enumerate() {
            if i < full_words {
                present += u64::from(w.count_ones());
            } else if i == full_words {
                let rem = n % 64;
                if rem > 0 {
                    present += u64::from((w & ((1u64 << rem) - 1)).count_ones());
                }
            }
        }
        n - present
    }
}

/// Per-receiver verification state: which messages arrived, in what order.
#[derive(Debug, Clone)]
pub struct Tracker {
    subjects: u64,
    sets: Vec<SeqSet>,
    last: Vec<Vec<Option<u64>>>,
    /// Messages counted (including duplicates).
    pub received: u64,
    /// Messages seen twice by this receiver.
    pub duplicates: u64,
    /// Messages that arrived behind a later one of the same publisher and subject.
    pub out_of_order: u64,
    /// Messages whose body carried no sequence word (too small to check).
    pub unchecked: u64,
}

impl Tracker {
    /// A tracker for `pubs` publishers spreading over `subjects` subjects
    /// (message `n` of a publisher goes to subject `n % subjects`).
    pub fn new(pubs: u32, subjects: u64) -> Self {
        let subjects = subjects.max(1);
        Self {
            subjects,
            sets: vec![SeqSet::default(); pubs as usize],
            last: vec![vec![None; subjects as usize]; pubs as usize],
            received: 0,
            duplicates: 0,
            out_of_order: 0,
            unchecked: 0,
        }
    }

    /// Records one data message body. Returns false if its sequence word
    /// names a publisher this run does not have (a corrupt body).
    #[inline]
    pub fn observe(&mut self, word: Option<u64>) -> bool {
        self.received += 1;
        let Some(word) = word else {
            self.unchecked += 1;
            return true;
        };
        let (id, n) = split_seq(word);
        let Some(set) = self.sets.get_mut(id as usize) else {
            return false;
        };
        if !set.insert(n) {
            self.duplicates += 1;
        }
        let slot = &mut self.last[id as usize][(n % self.subjects) as usize];
        match *slot {
            Some(prev) if prev >= n => self.out_of_order += 1,
            _ => *slot = Some(n),
        }
        true
    }

    /// Distinct messages received per publisher.
    pub fn sets(&self) -> &[SeqSet] {
        &self.sets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_word_round_trips() {
        for (id, n) in [(0, 0), (3, 12345), (MAX_PUB_ID, SEQ_MASK)] {
            assert_eq!(split_seq(seq_word(id, n)), (id, n));
        }
    }

    #[test]
    fn stamp_fits_what_it_can() {
        let mut p = [0u8; 16];
        stamp(&mut p, 42, 99);
        assert_eq!(read_stamp(&p), (Some(42), Some(99)));
        let mut small = [0u8; 10];
        stamp(&mut small, 7, 99);
        assert_eq!(read_stamp(&small), (Some(7), None));
        let mut tiny = [1u8; 4];
        stamp(&mut tiny, 7, 99);
        assert_eq!(tiny, [1u8; 4]);
        assert_eq!(read_stamp(&tiny), (None, None));
    }

    #[test]
    fn probes_are_recognised_and_data_is_not() {
        assert_eq!(probe_subject(&probe_payload(3)), Some(3));
        assert_eq!(probe_subject(&seq_word(0, 3).to_le_bytes()), None);
        let mut p = [0u8; 16];
        stamp(&mut p, seq_word(PROBE_PUB_ID, 1), 5);
        assert_eq!(probe_subject(&p), None, "only 8-byte bodies are probes");
    }

    #[test]
    fn seqset_counts_duplicates_merges_and_missing() {
        let mut a = SeqSet::default();
        assert!(a.insert(0));
        assert!(a.insert(130));
        assert!(!a.insert(130));
        assert_eq!(a.len(), 2);
        let mut b = SeqSet::default();
        b.insert(130);
        b.insert(5);
        assert_eq!(a.merge(&b), 1);
        assert_eq!(a.len(), 3);
        assert_eq!(a.missing_below(131), 128);
        assert_eq!(a.missing_below(6), 4);
    }

    #[test]
    fn tracker_flags_duplicates_reordering_and_strangers() {
        let mut t = Tracker::new(2, 2);
        assert!(t.observe(Some(seq_word(0, 0))));
        assert!(t.observe(Some(seq_word(0, 2))));
        assert!(t.observe(Some(seq_word(0, 1))));
        assert_eq!(t.out_of_order, 0, "different subjects may interleave");
        assert!(t.observe(Some(seq_word(0, 0))));
        assert_eq!((t.duplicates, t.out_of_order), (1, 1));
        assert!(!t.observe(Some(seq_word(5, 0))));
        assert!(t.observe(None));
        assert_eq!(t.unchecked, 1);
        assert_eq!(t.received, 6);
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}
