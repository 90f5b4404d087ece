//! The stored messages of a stream by sequence, packed: sequences are appended in order, so
//! they go into blocks of `BLOCK_SLOTS` consecutive sequences with one slot each (no per-entry
//! key, no half-empty tree nodes as a `BTreeMap<u64, _>` leaves behind appends). A full block
//! that removals left mostly empty turns into a short sorted list, so a few long-lived
//! messages (a KV key nobody updates) never pin whole blocks of empty slots.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use super::msg::StoredMsg;

/// Sequences per block.
const BLOCK_SLOTS: u64 = 1024;
/// A full dense block with fewer live messages than this turns sparse.
const SPARSE_BELOW_LIVE: usize = (BLOCK_SLOTS / 16) as usize;

enum Block {
    /// Slot `i` holds sequence `block * BLOCK_SLOTS + i`; slots exist up to the last appended.
    Dense {
        slots: Vec<Option<StoredMsg>>,
        live: usize,
        /// Every slot below this one is empty (front removals leave no scan behind).
        head: usize,
    },
    /// The live messages of a full block, ascending.
    Sparse(Vec<StoredMsg>),
}

impl Block {
    fn live(&self) -> usize {
        match self {
            Block::Dense { live, .. } => *live,
            Block::Sparse(v) => v.len(),
        }
    }

    fn get(&self, seq: u64) -> Option<&StoredMsg> {
        match self {
            Block::Dense { slots, .. } => slots.get((seq % BLOCK_SLOTS) as usize)?.as_ref(),
            Block::Sparse(v) => v.binary_search_by_key(&seq, |m| m.seq).ok().map(|i| &v[i]),
        }
    }

    fn remove(&mut self, seq: u64) -> Option<StoredMsg> {
        match self {
            Block::Dense { slots, live, head } => {
                let i = (seq % BLOCK_SLOTS) as usize;
                let m = slots.get_mut(i)?.take()?;
                *live -= 1;
                if i == *head {
                    while *head < slots.len() && slots[*head].is_none() {
                        *head += 1;
                    }
                }
                if slots.len() as u64 == BLOCK_SLOTS && *live < SPARSE_BELOW_LIVE {
                    let kept: Vec<StoredMsg> = slots.drain(..).flatten().collect();
                    *self = Block::Sparse(kept);
                }
                Some(m)
            }
            Block::Sparse(v) => {
                let i = v.binary_search_by_key(&seq, |m| m.seq).ok()?;
                Some(v.remove(i))
            }
        }
    }

    /// Index range of the messages with sequences in `lo..=hi` within this block, `key`.
    fn span(&self, key: u64, lo: u64, hi: u64) -> (usize, usize) {
        match self {
            Block::Dense { slots, head, .. } => {
                let first = key * BLOCK_SLOTS;
                debug_assert!(hi >= first, "only blocks that meet the range are asked");
                let from = (lo.saturating_sub(first).min(BLOCK_SLOTS) as usize).max(*head);
                let to = (hi - first).saturating_add(1).min(slots.len() as u64) as usize;
                (from.min(to), to)
            }
            Block::Sparse(v) => (
                v.partition_point(|m| m.seq < lo),
                v.partition_point(|m| m.seq <= hi),
            ),
        }
    }

    fn iter(&self, key: u64, lo: u64, hi: u64) -> BlockIter<'_> {
        let (a, b) = self.span(key, lo, hi);
        match self {
            Block::Dense { slots, .. } => BlockIter::Dense(slots[a..b].iter().flatten()),
            Block::Sparse(v) => BlockIter::Sparse(v[a..b].iter()),
        }
    }

    fn iter_mut(&mut self, key: u64, lo: u64, hi: u64) -> BlockIterMut<'_> {
        let (a, b) = self.span(key, lo, hi);
        match self {
            Block::Dense { slots, .. } => BlockIterMut::Dense(slots[a..b].iter_mut().flatten()),
            Block::Sparse(v) => BlockIterMut::Sparse(v[a..b].iter_mut()),
        }
    }
}

enum BlockIter<'a> {
    Dense(std::iter::Flatten<std::slice::Iter<'a, Option<StoredMsg>>>),
    Sparse(std::slice::Iter<'a, StoredMsg>),
}

impl<'a> Iterator for BlockIter<'a> {
    type Item = &'a StoredMsg;
    fn next(&mut self) -> Option<&'a StoredMsg> {
        match self {
            BlockIter::Dense(i) => i.next(),
            BlockIter::Sparse(i) => i.next(),
        }
    }
}

impl DoubleEndedIterator for BlockIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            BlockIter::Dense(i) => i.next_back(),
            BlockIter::Sparse(i) => i.next_back(),
        }
    }
}

enum BlockIterMut<'a> {
    Dense(std::iter::Flatten<std::slice::IterMut<'a, Option<StoredMsg>>>),
    Sparse(std::slice::IterMut<'a, StoredMsg>),
}

impl<'a> Iterator for BlockIterMut<'a> {
    type Item = &'a mut StoredMsg;
    fn next(&mut self) -> Option<&'a mut StoredMsg> {
        match self {
            BlockIterMut::Dense(i) => i.next(),
            BlockIterMut::Sparse(i) => i.next(),
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

    /// The message with this sequence.
    pub fn get(&self, seq: u64) -> Option<&StoredMsg> {
        self.blocks.get(&(seq / BLOCK_SLOTS))?.get(seq)
    }

    /// Adds a message newer than every stored one.
    ///
    /// # Panics
    /// In debug builds, if `msg.seq` is not above the last stored sequence.
    pub fn push(&mut self, msg: StoredMsg) {
        debug_assert!(self.last().is_none_or(|l| l.seq < msg.seq), "append only");
        let seq = msg.seq;
        let i = (seq % BLOCK_SLOTS) as usize;
        let block = self
            .blocks
            .entry(seq / BLOCK_SLOTS)
            .or_insert_with(|| Block::Dense {
                slots: Vec::new(),
                live: 0,
                head: i,
            });
        match block {
            Block::Dense { slots, live, head } => {
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
            Block::Sparse(v) => v.push(msg),
        }
        self.len += 1;
    }

    /// Removes the message with this sequence.
    pub fn remove(&mut self, seq: u64) -> Option<StoredMsg> {
        let key = seq / BLOCK_SLOTS;
        let block = self.blocks.get_mut(&key)?;
        let m = block.remove(seq)?;
        if block.live() == 0 {
            self.blocks.remove(&key);
        }
        self.len -= 1;
        Some(m)
    }

    /// The oldest message.
    pub fn first(&self) -> Option<&StoredMsg> {
        self.iter().next()
    }

    /// The newest message.
    pub fn last(&self) -> Option<&StoredMsg> {
        self.iter().next_back()
    }

    /// Removes and returns the oldest message.
    pub fn pop_first(&mut self) -> Option<StoredMsg> {
        let seq = self.first()?.seq;
        self.remove(seq)
    }

    /// The messages with sequences in `r`, ascending (reversible).
    pub fn range(
        &self,
        r: impl RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = &StoredMsg> + '_ {
        let (lo, hi) = bounds(r).unwrap_or((1, 0));
        let blocks = (lo <= hi).then(|| self.blocks.range(lo / BLOCK_SLOTS..=hi / BLOCK_SLOTS));
        blocks
            .into_iter()
            .flatten()
            .flat_map(move |(&k, b)| b.iter(k, lo, hi))
    }

    /// Every message, ascending (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &StoredMsg> + '_ {
        self.range(..)
    }

    /// The messages with sequences in `r`, ascending, mutable (bodies only: a message's
    /// sequence must not change).
    pub fn range_mut(&mut self, r: impl RangeBounds<u64>) -> impl Iterator<Item = &mut StoredMsg> {
        let (lo, hi) = bounds(r).unwrap_or((1, 0));
        let blocks = (lo <= hi).then(|| self.blocks.range_mut(lo / BLOCK_SLOTS..=hi / BLOCK_SLOTS));
        blocks
            .into_iter()
            .flatten()
            .flat_map(move |(&k, b)| b.iter_mut(k, lo, hi))
    }

    /// Removes every message below `below` and returns them, ascending.
    pub fn split_off_below(&mut self, below: u64) -> Vec<StoredMsg> {
        let mut gone = Vec::new();
        let edge = below / BLOCK_SLOTS;
        // Whole blocks below the edge block go at once.
        let keep = self.blocks.split_off(&edge);
        let whole = std::mem::replace(&mut self.blocks, keep);
        for (_, block) in whole {
            match block {
                Block::Dense { slots, .. } => gone.extend(slots.into_iter().flatten()),
                Block::Sparse(v) => gone.extend(v),
            }
        }
        let seqs: Vec<u64> = self.range(..below).map(|m| m.seq).collect();
        for seq in seqs {
            let key = seq / BLOCK_SLOTS;
            if let Some(block) = self.blocks.get_mut(&key) {
                if let Some(m) = block.remove(seq) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn msg(seq: u64) -> StoredMsg {
        StoredMsg {
            seq,
            ts_ns: seq * 10,
            subject: Bytes::from_static(b"s"),
            headers: Bytes::new(),
            payload: Bytes::from(seq.to_string()),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u64),
        Remove(u64),
        PopFirst,
        SplitBelow(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u64..3000).prop_map(Op::Push),
            4 => (0u64..6000).prop_map(Op::Remove),
            1 => Just(Op::PopFirst),
            1 => (0u64..6000).prop_map(Op::SplitBelow),
        ]
    }

    proptest! {
        /// Any sequence of appends and removals agrees with a BTreeMap.
        #[test]
        fn agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 1..400), lo in 0u64..6000, span in 0u64..3000) {
            let mut m = SeqMap::default();
            let mut model: BTreeMap<u64, StoredMsg> = BTreeMap::new();
            let mut next = 1u64;
            for op in ops {
                match op {
                    Op::Push(gap) => {
                        next += gap % 7 + if gap % 50 == 0 { 2000 } else { 0 };
                        m.push(msg(next));
                        model.insert(next, msg(next));
                        next += 1;
                    }
                    Op::Remove(s) => prop_assert_eq!(m.remove(s), model.remove(&s)),
                    Op::PopFirst => prop_assert_eq!(m.pop_first(), model.pop_first().map(|(_, v)| v)),
                    Op::SplitBelow(b) => {
                        let keep = model.split_off(&b);
                        let gone: Vec<StoredMsg> = std::mem::replace(&mut model, keep).into_values().collect();
                        prop_assert_eq!(m.split_off_below(b), gone);
                    }
                }
                prop_assert_eq!(m.len(), model.len());
            }
            prop_assert_eq!(m.first(), model.values().next());
            prop_assert_eq!(m.last(), model.values().next_back());
            let all: Vec<&StoredMsg> = m.iter().collect();
            prop_assert_eq!(all, model.values().collect::<Vec<_>>());
            let rev: Vec<&StoredMsg> = m.iter().rev().collect();
            prop_assert_eq!(rev, model.values().rev().collect::<Vec<_>>());
            let hi = lo + span;
            let got: Vec<u64> = m.range(lo..=hi).map(|x| x.seq).collect();
            prop_assert_eq!(got, model.range(lo..=hi).map(|(&s, _)| s).collect::<Vec<_>>());
            let got: Vec<u64> = m.range(lo..).map(|x| x.seq).collect();
            prop_assert_eq!(got, model.range(lo..).map(|(&s, _)| s).collect::<Vec<_>>());
            let got: Vec<u64> = m.range(..lo).map(|x| x.seq).collect();
            prop_assert_eq!(got, model.range(..lo).map(|(&s, _)| s).collect::<Vec<_>>());
            let got: Vec<u64> = m.range_mut(lo..=hi).map(|x| x.seq).collect();
            prop_assert_eq!(got, model.range(lo..=hi).map(|(&s, _)| s).collect::<Vec<_>>());
            for s in lo..lo + 50 {
                prop_assert_eq!(m.get(s), model.get(&s));
            }
        }
    }

    #[test]
    fn a_mostly_emptied_block_turns_sparse_and_keeps_working() {
        let mut m = SeqMap::default();
        for s in 1..=3 * BLOCK_SLOTS {
            m.push(msg(s));
        }
        // Keep every 100th of the first full block (seq 1024..2047).
        for s in BLOCK_SLOTS..2 * BLOCK_SLOTS {
            if s % 100 != 0 {
                m.remove(s).unwrap();
            }
        }
        assert!(matches!(m.blocks[&1], Block::Sparse(_)));
        let kept: Vec<u64> = m
            .range(BLOCK_SLOTS..2 * BLOCK_SLOTS)
            .map(|x| x.seq)
            .collect();
        assert_eq!(
            kept,
            (BLOCK_SLOTS..2 * BLOCK_SLOTS)
                .filter(|s| s % 100 == 0)
                .collect::<Vec<_>>()
        );
        assert_eq!(m.get(1100).map(|x| x.seq), Some(1100));
        assert_eq!(m.remove(1100).map(|x| x.seq), Some(1100));
        assert_eq!(
            m.len() as u64,
            3 * BLOCK_SLOTS - (BLOCK_SLOTS - kept.len() as u64) - 1
        );
    }
}
