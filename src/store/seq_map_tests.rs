use super::*;
use crate::store::record::{encode_into, Record};
use proptest::prelude::*;

fn msg(seq: u64) -> StoredMsg {
    let headers = if seq.is_multiple_of(3) {
        Bytes::from(format!("NATS/1.0\r\nX: {seq}\r\n\r\n"))
    } else {
        Bytes::new()
    };
    StoredMsg {
        seq,
        ts_ns: seq * 10,
        subject: Bytes::from(format!("s.{}", seq % 5)),
        headers,
        payload: Bytes::from(seq.to_string()),
    }
}

/// A "segment" holding the records of `msgs` after some leading filler, and their index.
fn segment(msgs: &[StoredMsg]) -> (Bytes, Vec<(u64, u64)>) {
    let mut out = Vec::new();
    encode_into(
        &Record::Checkpoint {
            first_seq: 1,
            last_seq: 0,
            last_ts_ns: 0,
        },
        &mut out,
    );
    let mut index = Vec::new();
    for m in msgs {
        index.push((m.seq, out.len() as u64));
        encode_into(&m.to_record(), &mut out);
    }
    (Bytes::from(out), index)
}

#[derive(Debug, Clone)]
enum Op {
    Push(u64),
    /// Appends through a mapping (recovery of a sealed segment).
    PushMapped(u64),
    Remove(u64),
    PopFirst,
    SplitBelow(u64),
    /// Seals the next this-many sequences after the last sealed one (rebase onto a mapping),
    /// as the storage task seals segments: in sequence order.
    Seal(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..3000).prop_map(Op::Push),
        1 => (1u64..3000).prop_map(Op::PushMapped),
        4 => (0u64..6000).prop_map(Op::Remove),
        1 => Just(Op::PopFirst),
        1 => (0u64..6000).prop_map(Op::SplitBelow),
        1 => (0u64..3000).prop_map(Op::Seal),
    ]
}

proptest! {
    /// Any sequence of appends, seals and removals agrees with a BTreeMap.
    #[test]
    fn agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 1..400), lo in 0u64..6000, span in 0u64..3000) {
        let mut m = SeqMap::default();
        let mut model: BTreeMap<u64, StoredMsg> = BTreeMap::new();
        let mut next = 1u64;
        let mut sealed_to = 0u64;
        for op in ops {
            match op {
                Op::Push(gap) | Op::PushMapped(gap) => {
                    next += gap % 7 + if gap % 50 == 0 { 2000 } else { 0 };
                    if matches!(op, Op::Push(_)) {
                        m.push(msg(next));
                    } else {
                        let (map, index) = segment(&[msg(next)]);
                        m.push_mapped(next, next * 10, &map, index[0].1);
                        sealed_to = next + 1;
                    }
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
                Op::Seal(k) => {
                    let to = (sealed_to + k).min(next);
                    let live: Vec<StoredMsg> = model.range(sealed_to..to).map(|(_, v)| v.clone()).collect();
                    sealed_to = to;
                    let (map, index) = segment(&live);
                    prop_assert_eq!(m.rebase(&map, &index), live.len() as u64);
                }
            }
            prop_assert_eq!(m.len(), model.len());
        }
        prop_assert_eq!(m.first(), model.values().next().cloned());
        prop_assert_eq!(m.last(), model.values().next_back().cloned());
        prop_assert_eq!(m.first_seq(), model.keys().next().copied());
        prop_assert_eq!(m.last_seq(), model.keys().next_back().copied());
        let all: Vec<StoredMsg> = m.iter().collect();
        prop_assert_eq!(all, model.values().cloned().collect::<Vec<_>>());
        let rev: Vec<StoredMsg> = m.iter().rev().collect();
        prop_assert_eq!(rev, model.values().rev().cloned().collect::<Vec<_>>());
        let hi = lo + span;
        let got: Vec<u64> = m.range(lo..=hi).map(|x| x.seq).collect();
        prop_assert_eq!(got, model.range(lo..=hi).map(|(&s, _)| s).collect::<Vec<_>>());
        let got: Vec<u64> = m.seqs(lo..).collect();
        prop_assert_eq!(got, model.range(lo..).map(|(&s, _)| s).collect::<Vec<_>>());
        let got: Vec<u64> = m.seqs(..lo).rev().collect();
        prop_assert_eq!(got, model.range(..lo).rev().map(|(&s, _)| s).collect::<Vec<_>>());
        for s in lo..lo + 50 {
            prop_assert_eq!(m.get(s), model.get(&s).cloned());
            prop_assert_eq!(m.contains(s), model.contains_key(&s));
        }
        let want = model.range(lo..).take(32).map(|(_, v)| v).find(|v| v.subject.ends_with(b"3")).cloned();
        prop_assert_eq!(m.probe_subjects(lo, 32, |s| s.ends_with(b"3")), want);
        // Timestamps are seq * 10 here, so the time search is a sequence search.
        for t in [0, lo * 10, lo * 10 + 5, hi * 10, u64::MAX] {
            let want = model.values().find(|v| v.ts_ns >= t).map(|v| v.seq);
            prop_assert_eq!(m.first_at_or_after_ts(t), want, "t = {}", t);
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
    assert!(matches!(m.blocks[&1].body, Body::Sparse(_)));
    let kept: Vec<u64> = m.seqs(BLOCK_SLOTS..2 * BLOCK_SLOTS).collect();
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

#[test]
fn sealed_messages_cost_four_bytes_of_index_each() {
    let n = 64 * BLOCK_SLOTS;
    let mut m = SeqMap::default();
    let all: Vec<StoredMsg> = (1..=n).map(msg).collect();
    for x in &all {
        m.push(x.clone());
    }
    let in_memory = m.index_heap_bytes();
    let (map, index) = segment(&all);
    assert_eq!(m.rebase(&map, &index), n);
    let sealed = m.index_heap_bytes();
    assert!(
        sealed as u64 <= n * 5,
        "{sealed} bytes for {n} sealed messages (was {in_memory})"
    );
    // Served from the mapping, equal to what was stored.
    let got = m.get(777).unwrap();
    assert_eq!(got, all[776]);
    assert_eq!(
        got.payload.as_ptr_range().start >= map.as_ptr_range().start,
        got.payload.as_ptr_range().end <= map.as_ptr_range().end
    );
    assert!(map.as_ptr_range().contains(&got.payload.as_ptr()));
}

#[test]
fn a_block_across_two_segments_is_served_from_both() {
    let mut m = SeqMap::default();
    let all: Vec<StoredMsg> = (1..=1500).map(msg).collect();
    for x in &all {
        m.push(x.clone());
    }
    let (a, ia) = segment(&all[..1100]);
    let (b, ib) = segment(&all[1100..]);
    assert_eq!(m.rebase(&a, &ia), 1100);
    // Appends to a block that is part sealed stay in memory until their own seal.
    m.push(msg(1501));
    assert_eq!(m.rebase(&b, &ib), 400);
    let got: Vec<StoredMsg> = m.iter().collect();
    let mut want = all.clone();
    want.push(msg(1501));
    assert_eq!(got, want);
    assert!(a
        .as_ptr_range()
        .contains(&m.get(1050).unwrap().payload.as_ptr()));
    assert!(b
        .as_ptr_range()
        .contains(&m.get(1150).unwrap().payload.as_ptr()));
    // An older segment cannot take over a part of the block a newer one serves.
    assert_eq!(m.rebase(&a, &ia[1030..]), 70, "already served from `a`");
}
