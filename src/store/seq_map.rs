//! The stored messages of a stream by sequence, packed: sequences are appended in order, so
//! they go into blocks of `BLOCK_SLOTS` consecutive sequences with one slot each (no per-entry
//! key, no half-empty tree nodes as a `BTreeMap<u64, _>` leaves behind appends).
//!
//! A block is one of three kinds:
//! * **dense**: the messages themselves (the active segment's, still in memory);
//! * **mapped**: once the messages' segment is sealed (or at recovery), a slot is only the
//!   4-byte offset of the message's record in the segment file's read-only mapping; a message
//!   is decoded from the mapping when asked for (subject, headers and payload are slices of
//!   it), so a sealed message costs 4 bytes of heap here instead of a whole [`StoredMsg`];
//! * **sparse**: a full block that removals left mostly empty turns into a short sorted list,
//!   so a few long-lived messages (a KV key nobody updates) never pin whole blocks of slots.
//!
//! Every block also keeps the largest timestamp of any message appended to it or to an earlier
//! block (a running maximum), which is the stream's time index: a search by time walks the
//! blocks and reads timestamps only inside the one block where the answer is.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use bytes::Bytes;

use super::msg::StoredMsg;
use super::record::{self, MESSAGE_RECORD_OVERHEAD_BYTES};

/// Sequences per block.
const BLOCK_SLOTS: u64 = 1024;
/// A full block with fewer live messages than this turns sparse.
const SPARSE_BELOW_LIVE: usize = (BLOCK_SLOTS / 16) as usize;
/// Mapped slot: no message.
const EMPTY: u32 = u32::MAX;
/// Mapped slot: the message is still in memory (in `Mapped::heap`).
const IN_HEAP: u32 = u32::MAX - 1;
/// Largest record offset a mapped slot holds (segments past 4 GiB keep their tail in memory).
const MAX_OFFSET: u64 = (u32::MAX - 2) as u64;

/// A message decoded from a mapping.
///
/// # Panics
/// If the bytes at `off` are not the message record `seq` (the segment file changed under
/// the process: serving other bytes would corrupt what clients read).
fn materialize(map: &Bytes, off: usize, seq: u64) -> StoredMsg {
    let m = record::message_at(map, off);
    let m = match m {
        Some(m) if m.seq == seq => m,
        _ => panic!("mapped record of seq {seq} at offset {off} is not readable: segment file changed under the process"),
    };
    let slice = |part: &[u8]| {
        if part.is_empty() {
            Bytes::new()
        } else {
            map.slice_ref(part)
        }
    };
    StoredMsg {
        seq,
        ts_ns: m.ts_ns,
        subject: slice(m.subject),
        headers: slice(m.headers),
        payload: slice(m.payload),
    }
}

/// One live slot, before anything is decoded.
#[derive(Clone, Copy)]
enum Slot<'a> {
    Heap(&'a StoredMsg),
    Mapped { seq: u64, off: u32, map: &'a Bytes },
}

impl<'a> Slot<'a> {
    /// The subject, read in place (no copy, no reference count).
    fn subject(&self) -> &'a [u8] {
        match *self {
            Slot::Heap(m) => &m.subject,
            Slot::Mapped { seq, off, map } => match record::message_at(map, off as usize) {
                Some(m) if m.seq == seq => m.subject,
                _ => panic!("mapped record of seq {seq} at offset {off} is not readable: segment file changed under the process"),
            },
        }
    }

    fn seq(&self) -> u64 {
        match self {
            Slot::Heap(m) => m.seq,
            Slot::Mapped { seq, .. } => *seq,
        }
    }

    fn msg(&self) -> StoredMsg {
        match self {
            Slot::Heap(m) => (*m).clone(),
            Slot::Mapped { seq, off, map } => materialize(map, *off as usize, *seq),
        }
    }

    fn ts(&self) -> u64 {
        match self {
            Slot::Heap(m) => m.ts_ns,
            Slot::Mapped { seq, off, map } => record::message_ts_at(map, *off as usize)
                .unwrap_or_else(|| materialize(map, *off as usize, *seq).ts_ns),
        }
    }
}

/// A block whose sealed messages are record offsets into segment mappings.
struct Mapped {
    /// The mappings its slots point into, `(first sequence served, mapping)`, ascending: a
    /// slot's mapping is the last one starting at or below its sequence.
    maps: Vec<(u64, Bytes)>,
    /// Per slot up to the last appended: a record offset, [`EMPTY`] or [`IN_HEAP`].
    offs: Vec<u32>,
    /// The messages of the [`IN_HEAP`] slots (not sealed yet), ascending.
    heap: Vec<StoredMsg>,
    live: usize,
    /// Every slot below this one is empty.
    head: usize,
}

impl Mapped {
    fn map_for(&self, seq: u64) -> &Bytes {
        &self
            .maps
            .iter()
            .rev()
            .find(|(from, _)| *from <= seq)
            .expect("a mapped slot has its mapping")
            .1
    }

    fn heap_index(&self, seq: u64) -> usize {
        self.heap
            .binary_search_by_key(&seq, |m| m.seq)
            .expect("an in-heap slot has its message")
    }

    fn slot(&self, base: u64, i: usize) -> Option<Slot<'_>> {
        let seq = base + i as u64;
        match *self.offs.get(i)? {
            EMPTY => None,
            IN_HEAP => Some(Slot::Heap(&self.heap[self.heap_index(seq)])),
            off => Some(Slot::Mapped {
                seq,
                off,
                map: self.map_for(seq),
            }),
        }
    }

    /// Makes `map` the mapping of sequences from `from` on; false when it cannot be (an
    /// earlier mapping than one already registered).
    fn register(&mut self, from: u64, map: &Bytes) -> bool {
        match self.maps.last() {
            Some((_, m)) if m.as_ptr() == map.as_ptr() && m.len() == map.len() => true,
            Some(&(last_from, _)) if last_from >= from => false,
            _ => {
                self.maps.push((from, map.clone()));
                true
            }
        }
    }
}

enum Body {
    /// Slot `i` holds sequence `block * BLOCK_SLOTS + i`; slots exist up to the last appended.
    Dense {
        slots: Vec<Option<StoredMsg>>,
        live: usize,
        /// Every slot below this one is empty (front removals leave no scan behind).
        head: usize,
    },
    /// The live messages of a full block, ascending.
    Sparse(Vec<StoredMsg>),
    /// See [`Mapped`].
    Mapped(Box<Mapped>),
}

struct Block {
    /// Largest timestamp appended to this block or an earlier one.
    max_ts: u64,
    body: Body,
}

impl Block {
    fn live(&self) -> usize {
        match &self.body {
            Body::Dense { live, .. } => *live,
            Body::Sparse(v) => v.len(),
            Body::Mapped(m) => m.live,
        }
    }

    fn slot(&self, key: u64, seq: u64) -> Option<Slot<'_>> {
        let i = (seq % BLOCK_SLOTS) as usize;
        match &self.body {
            Body::Dense { slots, .. } => slots.get(i)?.as_ref().map(Slot::Heap),
            Body::Sparse(v) => v
                .binary_search_by_key(&seq, |m| m.seq)
                .ok()
                .map(|i| Slot::Heap(&v[i])),
            Body::Mapped(m) => m.slot(key * BLOCK_SLOTS, i),
        }
    }

    fn remove(&mut self, key: u64, seq: u64) -> Option<StoredMsg> {
        let i = (seq % BLOCK_SLOTS) as usize;
        let (msg, full_and_thin) = match &mut self.body {
            Body::Dense { slots, live, head } => {
                let m = slots.get_mut(i)?.take()?;
                *live -= 1;
                if i == *head {
                    while *head < slots.len() && slots[*head].is_none() {
                        *head += 1;
                    }
                }
                (
                    m,
                    slots.len() as u64 == BLOCK_SLOTS && *live < SPARSE_BELOW_LIVE,
                )
            }
            Body::Sparse(v) => {
                let i = v.binary_search_by_key(&seq, |m| m.seq).ok()?;
                return Some(v.remove(i));
            }
            Body::Mapped(mb) => {
                let m = match *mb.offs.get(i)? {
                    EMPTY => return None,
                    IN_HEAP => {
                        let h = mb.heap_index(seq);
                        mb.heap.remove(h)
                    }
                    off => materialize(mb.map_for(seq), off as usize, seq),
                };
                mb.offs[i] = EMPTY;
                mb.live -= 1;
                if i == mb.head {
                    while mb.head < mb.offs.len() && mb.offs[mb.head] == EMPTY {
                        mb.head += 1;
                    }
                }
                (
                    m,
                    mb.offs.len() as u64 == BLOCK_SLOTS && mb.live < SPARSE_BELOW_LIVE,
                )
            }
        };
        if full_and_thin {
            let kept: Vec<StoredMsg> = self.slots(key, 0, u64::MAX).map(|s| s.msg()).collect();
            self.body = Body::Sparse(kept);
        }
        Some(msg)
    }

    /// Slot index range of sequences `lo..=hi` within this block, `key` (dense and mapped).
    fn slot_span(key: u64, lo: u64, hi: u64, head: usize, len: usize) -> (usize, usize) {
        let first = key * BLOCK_SLOTS;
        let from = (lo.saturating_sub(first).min(BLOCK_SLOTS) as usize).max(head);
        let to = if hi < first {
            0
        } else {
            (hi - first).saturating_add(1).min(len as u64) as usize
        };
        (from.min(to), to)
    }

    fn slots(&self, key: u64, lo: u64, hi: u64) -> BlockSlots<'_> {
        match &self.body {
            Body::Dense { slots, head, .. } => {
                let (a, b) = Self::slot_span(key, lo, hi, *head, slots.len());
                BlockSlots::Dense(slots[a..b].iter().flatten())
            }
            Body::Sparse(v) => {
                let a = v.partition_point(|m| m.seq < lo);
                let b = v.partition_point(|m| m.seq <= hi);
                BlockSlots::Sparse(v[a.min(b)..b].iter())
            }
            Body::Mapped(m) => {
                let (a, b) = Self::slot_span(key, lo, hi, m.head, m.offs.len());
                BlockSlots::Mapped {
                    m,
                    base: key * BLOCK_SLOTS,
                    a,
                    b,
                }
            }
        }
    }
}

enum BlockSlots<'a> {
    Dense(std::iter::Flatten<std::slice::Iter<'a, Option<StoredMsg>>>),
    Sparse(std::slice::Iter<'a, StoredMsg>),
    Mapped {
        m: &'a Mapped,
        base: u64,
        a: usize,
        b: usize,
    },
}

impl<'a> Iterator for BlockSlots<'a> {
    type Item = Slot<'a>;
    fn next(&mut self) -> Option<Slot<'a>> {
        match self {
            BlockSlots::Dense(i) => i.next().map(Slot::Heap),
            BlockSlots::Sparse(i) => i.next().map(Slot::Heap),
            BlockSlots::Mapped { m, base, a, b } => {
                while a < b {
                    *a += 1;
                    if let Some(s) = m.slot(*base, *a - 1) {
                        return Some(s);
                    }
                }
                None
            }
        }
    }
}

impl DoubleEndedIterator for BlockSlots<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            BlockSlots::Dense(i) => i.next_back().map(Slot::Heap),
            BlockSlots::Sparse(i) => i.next_back().map(Slot::Heap),
            BlockSlots::Mapped { m, base, a, b } => {
                while a < b {
                    *b -= 1;
                    if let Some(s) = m.slot(*base, *b) {
                        return Some(s);
                    }
                }
                None
            }
        }
    }
}

/// Inclusive sequence bounds of a range; `None` when it is empty.
fn bounds(r: impl RangeBounds<u64>) -> Option<(u64, u64)> {
    let lo = match r.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let hi = match r.end_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (lo <= hi).then_some((lo, hi))
}

/// Stored messages by sequence (see the module docs); sequences only ever grow.
#[derive(Default)]
pub struct SeqMap {
    blocks: BTreeMap<u64, Block>,
    len: usize,
}

impl std::fmt::Debug for SeqMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqMap")
            .field("len", &self.len)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl SeqMap {
    /// Messages stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, seq: u64) -> Option<Slot<'_>> {
        let key = seq / BLOCK_SLOTS;
        self.blocks.get(&key)?.slot(key, seq)
    }

    /// The message with this sequence (decoded from its segment's mapping once sealed).
    pub fn get(&self, seq: u64) -> Option<StoredMsg> {
        self.slot(seq).map(|s| s.msg())
    }

    /// Whether a message with this sequence is stored (reads no segment byte).
    pub fn contains(&self, seq: u64) -> bool {
        self.slot(seq).is_some()
    }

    /// The block of `seq`, created (its running time maximum carried over from the block
    /// before) when absent.
    fn block_for(&mut self, seq: u64, mapped: bool) -> &mut Block {
        let key = seq / BLOCK_SLOTS;
        if self.blocks.last_key_value().is_some_and(|(&k, _)| k == key) {
            // Appends land in the last block almost always: one descent, not two.
            return self.blocks.last_entry().expect("checked").into_mut();
        }
        let (last_key, max_ts) = self
            .blocks
            .last_key_value()
            .map_or((None, 0), |(&k, b)| (Some(k), b.max_ts));
        debug_assert!(last_key.is_none_or(|k| k <= key), "append only");
        let head = (seq % BLOCK_SLOTS) as usize;
        self.blocks.entry(key).or_insert_with(|| Block {
            max_ts,
            body: if mapped {
                Body::Mapped(Box::new(Mapped {
                    maps: Vec::new(),
                    offs: Vec::new(),
                    heap: Vec::new(),
                    live: 0,
                    head,
                }))
            } else {
                Body::Dense {
                    slots: Vec::new(),
                    live: 0,
                    head,
                }
            },
        })
    }

    /// Adds a message newer than every stored one.
    ///
    /// # Panics
    /// In debug builds, if `msg.seq` is not above the last stored sequence.
    pub fn push(&mut self, msg: StoredMsg) {
        debug_assert!(self.last_seq().is_none_or(|l| l < msg.seq), "append only");
        let seq = msg.seq;
        let i = (seq % BLOCK_SLOTS) as usize;
        let block = self.block_for(seq, false);
        block.max_ts = block.max_ts.max(msg.ts_ns);
        match &mut block.body {
            Body::Dense { slots, live, head } => {
                if slots.len() <= i {
                    slots.resize_with(i + 1, || None);
                }
                slots[i] = Some(msg);
                if *live == 0 {
                    *head = i;
                }
                *live += 1;
            }
            // Only full blocks are sparse, and appends go past them.
            Body::Sparse(v) => v.push(msg),
            Body::Mapped(m) => {
                if m.offs.len() <= i {
                    m.offs.resize(i + 1, EMPTY);
                }
                m.offs[i] = IN_HEAP;
                m.heap.push(msg);
                if m.live == 0 {
                    m.head = i;
                }
                m.live += 1;
            }
        }
        self.len += 1;
    }

    /// Adds a message newer than every stored one whose record starts at `off` in `map`, the
    /// mapping of its (sealed or recovered) segment: only the offset is kept. `ts_ns` is the
    /// record's timestamp.
    ///
    /// # Panics
    /// In debug builds, if `seq` is not above the last stored sequence.
    pub fn push_mapped(&mut self, seq: u64, ts_ns: u64, map: &Bytes, off: u64) {
        debug_assert!(self.last_seq().is_none_or(|l| l < seq), "append only");
        let i = (seq % BLOCK_SLOTS) as usize;
        let block = self.block_for(seq, true);
        let fits = match &mut block.body {
            Body::Mapped(m) => off <= MAX_OFFSET && m.register(seq, map),
            _ => false,
        };
        if !fits {
            // A block already in memory (or an offset past 4 GiB): keep it in memory.
            let msg = materialize(map, off as usize, seq);
            return self.push(msg);
        }
        let Body::Mapped(mapped) = &mut block.body else {
            unreachable!("checked above")
        };
        block.max_ts = block.max_ts.max(ts_ns);
        if mapped.offs.len() <= i {
            mapped.offs.resize(i + 1, EMPTY);
        }
        mapped.offs[i] = off as u32;
        if mapped.live == 0 {
            mapped.head = i;
        }
        mapped.live += 1;
        self.len += 1;
    }

    /// Points the live in-memory messages listed in `index` (`(seq, record offset)` pairs,
    /// ascending) at `map`, their sealed segment's mapping, dropping the in-memory copies;
    /// reads no byte of `map`. An entry whose record would not fit in `map` is left in memory.
    /// Returns how many listed messages are now served from `map`.
    pub fn rebase(&mut self, map: &Bytes, index: &[(u64, u64)]) -> u64 {
        let mut n = 0;
        let mut at = 0;
        while at < index.len() {
            let key = index[at].0 / BLOCK_SLOTS;
            let end = at + index[at..].partition_point(|&(s, _)| s / BLOCK_SLOTS == key);
            if let Some(block) = self.blocks.get_mut(&key) {
                n += rebase_block(block, key, map, &index[at..end]);
            }
            at = end;
        }
        n
    }

    /// Lowest stored sequence.
    pub fn first_seq(&self) -> Option<u64> {
        self.first_slot().map(|s| s.seq())
    }

    /// Highest stored sequence.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_slot().map(|s| s.seq())
    }

    fn first_slot(&self) -> Option<Slot<'_>> {
        self.slots(0, u64::MAX).next()
    }

    fn last_slot(&self) -> Option<Slot<'_>> {
        self.slots(0, u64::MAX).next_back()
    }

    /// Timestamp of the oldest message (reads 8 bytes of a sealed one).
    pub fn first_ts(&self) -> Option<u64> {
        self.first_slot().map(|s| s.ts())
    }

    /// The oldest message.
    pub fn first(&self) -> Option<StoredMsg> {
        self.first_slot().map(|s| s.msg())
    }

    /// The newest message.
    pub fn last(&self) -> Option<StoredMsg> {
        self.last_slot().map(|s| s.msg())
    }

    /// Removes the message with this sequence.
    pub fn remove(&mut self, seq: u64) -> Option<StoredMsg> {
        let key = seq / BLOCK_SLOTS;
        let block = self.blocks.get_mut(&key)?;
        let m = block.remove(key, seq)?;
        if block.live() == 0 {
            self.blocks.remove(&key);
        }
        self.len -= 1;
        Some(m)
    }

    /// Removes and returns the oldest message.
    pub fn pop_first(&mut self) -> Option<StoredMsg> {
        let seq = self.first_seq()?;
        self.remove(seq)
    }

    fn slots(&self, lo: u64, hi: u64) -> impl DoubleEndedIterator<Item = Slot<'_>> + '_ {
        let blocks = (lo <= hi).then(|| self.blocks.range(lo / BLOCK_SLOTS..=hi / BLOCK_SLOTS));
        blocks
            .into_iter()
            .flatten()
            .flat_map(move |(&k, b)| b.slots(k, lo, hi))
    }

    /// The messages with sequences in `r`, ascending (reversible).
    pub fn range(
        &self,
        r: impl RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = StoredMsg> + '_ {
        let (lo, hi) = bounds(r).unwrap_or((1, 0));
        self.slots(lo, hi).map(|s| s.msg())
    }

    /// The sequences stored in `r`, ascending (reversible; reads no segment byte).
    pub fn seqs(&self, r: impl RangeBounds<u64>) -> impl DoubleEndedIterator<Item = u64> + '_ {
        let (lo, hi) = bounds(r).unwrap_or((1, 0));
        self.slots(lo, hi).map(|s| s.seq())
    }

    /// The first of the next `probe` stored messages from `from_seq` on whose subject passes
    /// `pred` (subjects are read in place; only the match is decoded).
    pub fn probe_subjects(
        &self,
        from_seq: u64,
        probe: usize,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Option<StoredMsg> {
        self.slots(from_seq, u64::MAX)
            .take(probe)
            .find(|s| pred(s.subject()))
            .map(|s| s.msg())
    }

    /// Every message, ascending (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = StoredMsg> + '_ {
        self.range(..)
    }

    /// The first stored sequence whose time (the running maximum of the timestamps stored up
    /// to it) is at least `ts_ns`.
    pub fn first_at_or_after_ts(&self, ts_ns: u64) -> Option<u64> {
        let mut passed = false;
        for (&key, block) in &self.blocks {
            if passed {
                // The maximum was a removed message's: the next live one is the answer.
                return block.slots(key, 0, u64::MAX).next().map(|s| s.seq());
            }
            if block.max_ts < ts_ns {
                continue;
            }
            let mut max = 0;
            for s in block.slots(key, 0, u64::MAX) {
                max = max.max(s.ts());
                if max >= ts_ns {
                    return Some(s.seq());
                }
            }
            passed = true;
        }
        None
    }

    /// Removes every message below `below` and returns them, ascending.
    pub fn split_off_below(&mut self, below: u64) -> Vec<StoredMsg> {
        let mut gone = Vec::new();
        let edge = below / BLOCK_SLOTS;
        // Whole blocks below the edge block go at once.
        let keep = self.blocks.split_off(&edge);
        let whole = std::mem::replace(&mut self.blocks, keep);
        for (key, block) in whole {
            match block.body {
                Body::Dense { slots, .. } => gone.extend(slots.into_iter().flatten()),
                Body::Sparse(v) => gone.extend(v),
                Body::Mapped(_) => gone.extend(block.slots(key, 0, u64::MAX).map(|s| s.msg())),
            }
        }
        let seqs: Vec<u64> = self.seqs(..below).collect();
        for seq in seqs {
            let key = seq / BLOCK_SLOTS;
            if let Some(block) = self.blocks.get_mut(&key) {
                if let Some(m) = block.remove(key, seq) {
                    gone.push(m);
                }
                if block.live() == 0 {
                    self.blocks.remove(&key);
                }
            }
        }
        self.len -= gone.len();
        gone
    }

    /// Heap bytes this map holds beyond its own struct, as allocated (for tests and the
    /// memory benchmark; message bodies in memory are not counted).
    pub fn index_heap_bytes(&self) -> usize {
        self.blocks
            .values()
            .map(|b| {
                // BTreeMap entry: key + value, nodes about 2/3 full.
                let node = (8 + std::mem::size_of::<Block>()) * 3 / 2;
                node + match &b.body {
                    Body::Dense { slots, .. } => {
                        slots.capacity() * std::mem::size_of::<Option<StoredMsg>>()
                    }
                    Body::Sparse(v) => v.capacity() * std::mem::size_of::<StoredMsg>(),
                    Body::Mapped(m) => {
                        std::mem::size_of::<Mapped>()
                            + m.offs.capacity() * 4
                            + m.maps.capacity() * std::mem::size_of::<(u64, Bytes)>()
                            + m.heap.capacity() * std::mem::size_of::<StoredMsg>()
                    }
                }
            })
            .sum()
    }
}

/// [`SeqMap::rebase`] within one block (`index` holds only its sequences).
fn rebase_block(block: &mut Block, key: u64, map: &Bytes, index: &[(u64, u64)]) -> u64 {
    if matches!(block.body, Body::Sparse(_)) {
        // A few survivors: their bodies become slices of the mapping.
        let Body::Sparse(v) = &mut block.body else {
            unreachable!()
        };
        let mut n = 0;
        for &(seq, off) in index {
            if let Ok(i) = v.binary_search_by_key(&seq, |m| m.seq) {
                if repoint(&mut v[i], map, off) {
                    n += 1;
                }
            }
        }
        return n;
    }
    if let Body::Dense { slots, live, head } = &mut block.body {
        let mut offs = Vec::with_capacity(slots.len());
        let mut heap = Vec::with_capacity(*live);
        for s in slots.drain(..) {
            match s {
                Some(m) => {
                    offs.push(IN_HEAP);
                    heap.push(m);
                }
                None => offs.push(EMPTY),
            }
        }
        block.body = Body::Mapped(Box::new(Mapped {
            maps: Vec::new(),
            offs,
            heap,
            live: *live,
            head: *head,
        }));
    }
    let Body::Mapped(m) = &mut block.body else {
        unreachable!("dense blocks were just converted")
    };
    let base = key * BLOCK_SLOTS;
    let mut n = 0;
    let mut registered = false;
    for &(seq, off) in index {
        let i = (seq - base) as usize;
        match m.offs.get(i).copied() {
            None | Some(EMPTY) => {}
            Some(IN_HEAP) => {
                let h = m.heap_index(seq);
                let msg = &m.heap[h];
                let rec_len = MESSAGE_RECORD_OVERHEAD_BYTES
                    + msg.subject.len()
                    + msg.headers.len()
                    + msg.payload.len();
                let fits = off <= MAX_OFFSET && off as usize + rec_len <= map.len();
                if !fits {
                    tracing::warn!(
                        seq,
                        offset = off,
                        "segment index entry past the mapped file; message kept in memory"
                    );
                    continue;
                }
                if !registered {
                    if !m.register(seq, map) {
                        break;
                    }
                    registered = true;
                }
                m.offs[i] = off as u32;
                n += 1;
            }
            Some(_) => n += 1,
        }
    }
    if registered {
        // One pass drops the messages now served from the mapping (not one shift each).
        let offs = &m.offs;
        m.heap
            .retain(|msg| offs[(msg.seq - base) as usize] == IN_HEAP);
        if m.heap.capacity() > 2 * m.heap.len() + 8 {
            m.heap.shrink_to_fit();
        }
    }
    n
}

/// Re-points an in-memory message's headers and payload at its record in `map`.
fn repoint(m: &mut StoredMsg, map: &Bytes, off: u64) -> bool {
    let at = off as usize + record::message_headers_offset(m.subject.len());
    let end = at + m.headers.len() + m.payload.len();
    if end + record::RECORD_CRC_BYTES > map.len() {
        return false;
    }
    let slice = |r: std::ops::Range<usize>| {
        if r.is_empty() {
            Bytes::new()
        } else {
            map.slice(r)
        }
    };
    let h = m.headers.len();
    m.headers = slice(at..at + h);
    m.payload = slice(at + h..end);
    true
}

#[cfg(test)]
#[path = "seq_map_tests.rs"]
mod tests;
