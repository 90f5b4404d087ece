//! Sans-IO subscription index: a token trie from subscription subjects to
//! subscriber values, with queue groups and a bounded, precisely invalidated
//! match cache.
//!
//! Each trie node has literal children (an ahash map keyed by token), an
//! optional `*` child and an optional `>` slot (which only holds
//! subscriptions: `>` is always the last token). A lookup walks the literal
//! and `*` branches in parallel and picks up every `>` slot on the way.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::rc::Rc;

use ahash::RandomState;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::subject::{has_empty_token, is_literal, is_valid_subscribe_subject, subject_matches};

/// Token separator.
const SEP: u8 = b'.';
/// Single-token wildcard.
const PWC: &[u8] = b"*";
/// Trailing multi-token wildcard.
const FWC: &[u8] = b">";

/// A bag switches from a vector to a counted hash map at this many members,
/// so that removing one of many subscribers to a hot subject stays O(1).
/// Tests use a tiny value so that both representations are exercised.
const BAG_PROMOTE_LEN: usize = if cfg!(test) { 4 } else { 32 };

/// A full cache drops roughly one entry in this many to make room.
const CACHE_EVICT_STRIDE: usize = 8;

/// The subscriptions matching one published subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<T> {
    /// Every non-queue subscription that matches (delivered to each).
    pub plain: Vec<T>,
    /// One entry per distinct queue group name among matches, with all its matching members (members may come from different but overlapping subjects); one member of each group gets a copy.
    pub queues: Vec<(Bytes, Vec<T>)>,
}

impl<T> MatchResult<T> {
    /// True when nobody is interested (lets callers answer no-responders cheaply).
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// An empty result.
    fn new() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// A multiset of values: inline while it has one member (the common case of
/// a subject with a single subscriber), a vector while small, a value -> count
/// map once large.
enum Bag<T> {
    /// Exactly one member, stored without a heap allocation.
    One(T),
    /// Unordered members, duplicates allowed (possibly none).
    Small(Vec<T>),
    /// Member -> multiplicity. Boxed so that the common small bag stays
    /// three words (a bare map would make every trie node ~80 bytes larger).
    #[allow(clippy::box_collection)]
    Large(Box<HashMap<T, NonZeroUsize, RandomState>>),
}

impl<T: Clone + Eq + Hash> Bag<T> {
    /// Adds one occurrence of `value`.
    fn insert(&mut self, value: T) {
        match self {
            Bag::Small(v) if v.is_empty() => *self = Bag::One(value),
            Bag::Small(v) if v.len() < BAG_PROMOTE_LEN => v.push(value),
            Bag::Small(v) => {
                let mut map: HashMap<T, NonZeroUsize, RandomState> =
                    HashMap::with_capacity_and_hasher(v.len() * 2, RandomState::new());
                for item in v.drain(..).chain(std::iter::once(value)) {
                    bump(&mut map, item);
                }
                *self = Bag::Large(Box::new(map));
            }
            Bag::One(_) => {
                let Bag::One(first) = std::mem::take(self) else {
                    unreachable!("matched One above");
                };
                *self = Bag::Small(vec![first, value]);
            }
            Bag::Large(map) => bump(map, value),
        }
    }

    /// Removes one occurrence of `value`; returns whether it was present.
    fn remove(&mut self, value: &T) -> bool {
        match self {
            Bag::One(only) if only == value => {
                *self = Bag::default();
                true
            }
            Bag::One(_) => false,
            Bag::Small(v) => match v.iter().position(|x| x == value) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            Bag::Large(map) => {
                let Some(count) = map.get_mut(value) else {
                    return false;
                };
                match NonZeroUsize::new(count.get() - 1) {
                    Some(less) => *count = less,
                    None => {
                        map.remove(value);
                        shrink_if_sparse(map);
                    }
                }
                true
            }
        }
    }

    /// True when no occurrence is left.
    fn is_empty(&self) -> bool {
        match self {
            Bag::One(_) => false,
            Bag::Small(v) => v.is_empty(),
            Bag::Large(map) => map.is_empty(),
        }
    }

    /// Appends every occurrence (with multiplicity) to `out`.
    fn extend_into(&self, out: &mut Vec<T>) {
        match self {
            Bag::One(only) => out.push(only.clone()),
            Bag::Small(v) => out.extend_from_slice(v),
            Bag::Large(map) => {
                for (value, count) in map.iter() {
                    out.extend(std::iter::repeat_n(value, count.get()).cloned());
                }
            }
        }
    }
}

impl<T> Default for Bag<T> {
    fn default() -> Self {
        Bag::Small(Vec::new())
    }
}

/// Adds one to `value`'s count in a counted multiset.
fn bump<T: Eq + Hash, S: BuildHasher>(map: &mut HashMap<T, NonZeroUsize, S>, value: T) {
    map.entry(value)
        .and_modify(|c| *c = c.saturating_add(1))
        .or_insert(NonZeroUsize::MIN);
}

/// Gives memory back after heavy churn (e.g. many inboxes coming and going);
/// shrinking only at a quarter load keeps the rehash cost amortised O(1).
fn shrink_if_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 64 && map.len() * 4 < map.capacity() {
        map.shrink_to_fit();
    }
}

/// The subscriptions stored on one exact subject.
struct Subs<T> {
    /// Non-queue subscribers.
    plain: Bag<T>,
    /// Queue group name -> members; names are distinct.
    queues: Vec<(Bytes, Bag<T>)>,
}

impl<T> Default for Subs<T> {
    fn default() -> Self {
        Subs {
            plain: Bag::default(),
            queues: Vec::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Subs<T> {
    /// Adds one subscription.
    fn insert(&mut self, queue: Option<&[u8]>, value: T) {
        match queue {
            None => self.plain.insert(value),
            Some(name) => match self.queues.iter_mut().find(|(n, _)| n == name) {
                Some((_, bag)) => bag.insert(value),
                None => {
                    let mut bag = Bag::default();
                    bag.insert(value);
                    self.queues.push((Bytes::copy_from_slice(name), bag));
                }
            },
        }
    }

    /// Removes one subscription; returns whether it was present.
    fn remove(&mut self, queue: Option<&[u8]>, value: &T) -> bool {
        match queue {
            None => self.plain.remove(value),
            Some(name) => {
                let Some(i) = self.queues.iter().position(|(n, _)| n == name) else {
                    return false;
                };
                let removed = self.queues[i].1.remove(value);
                if self.queues[i].1.is_empty() {
                    self.queues.swap_remove(i);
                }
                removed
            }
        }
    }

    /// True when nothing is stored here.
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// Adds these subscriptions to a result, merging queue groups by name.
    fn collect_into(&self, out: &mut MatchResult<T>) {
        self.plain.extend_into(&mut out.plain);
        for (name, bag) in &self.queues {
            match out.queues.iter_mut().find(|(n, _)| n == name) {
                Some((_, members)) => bag.extend_into(members),
                None => {
                    let mut members = Vec::new();
                    bag.extend_into(&mut members);
                    out.queues.push((name.clone(), members));
                }
            }
        }
    }
}

/// Tokens up to this many bytes are stored inside the map entry itself.
const INLINE_TOKEN_BYTES: usize = 22;

/// A trie key: one literal token. Short tokens (nearly all) live inline in
/// the map entry, so a lookup does not chase a pointer to a separate
/// allocation (one cache miss less per level of a large trie).
#[derive(Clone)]
enum TokenKey {
    /// A token of at most INLINE_TOKEN_BYTES bytes; `len` is its length.
    Inline {
        len: u8,
        bytes: [u8; INLINE_TOKEN_BYTES],
    },
    /// A longer token.
    Heap(Box<[u8]>),
}

impl TokenKey {
    /// Copies a token into a key.
    fn new(token: &[u8]) -> Self {
        if token.len() <= INLINE_TOKEN_BYTES {
            let mut bytes = [0u8; INLINE_TOKEN_BYTES];
            bytes[..token.len()].copy_from_slice(token);
            TokenKey::Inline {
                len: token.len() as u8,
                bytes,
            }
        } else {
            TokenKey::Heap(token.into())
        }
    }

    /// The token's bytes.
    fn as_slice(&self) -> &[u8] {
        match self {
            TokenKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            TokenKey::Heap(b) => b,
        }
    }
}

impl std::borrow::Borrow<[u8]> for TokenKey {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// Eq and Hash must agree with `[u8]`'s so that maps can be probed by `&[u8]`.
impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for TokenKey {}

impl Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// Literal children of a trie node, keyed by token.
type Children<T> = HashMap<TokenKey, Node<T>, RandomState>;

/// One trie node: the subject prefix spelled by the path from the root.
struct Node<T> {
    /// Subscriptions whose subject ends exactly here.
    subs: Subs<T>,
    /// Literal-token children; `None` rather than an empty map to keep leaves small.
    literal: Option<Box<Children<T>>>,
    /// The `*` child.
    pwc: Option<Box<Node<T>>>,
    /// Subscriptions on `<prefix>.>`.
    fwc: Option<Box<Subs<T>>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            subs: Subs::default(),
            literal: None,
            pwc: None,
            fwc: None,
        }
    }
}

impl<T: Clone + Eq + Hash> Node<T> {
    /// True when the node holds nothing and can be pruned.
    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.literal.is_none() && self.pwc.is_none() && self.fwc.is_none()
    }
}

/// Splits the token starting at byte `pos` off `subject`; returns it and the
/// start of the next token (`subject.len() + 1` once the subject is used up).
#[inline]
fn next_token(subject: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &subject[pos..];
    match rest.iter().position(|&b| b == SEP) {
        Some(i) => (&rest[..i], pos + i + 1),
        None => (rest, subject.len() + 1),
    }
}

/// Length of the literal prefix of a pattern: the bytes before its first
/// wildcard token (including the `.` before it), or all of it if literal.
fn literal_prefix_len(pattern: &[u8]) -> usize {
    let mut start = 0;
    for token in pattern.split(|&b| b == SEP) {
        if token == PWC || token == FWC {
            return start;
        }
        start += token.len() + 1;
    }
    pattern.len()
}

/// Gathers every subscription under `node` matching the tokens of `subject`
/// from byte `pos` on. Recursion depth is bounded by the token count.
fn collect<T: Clone + Eq + Hash>(
    node: &Node<T>,
    subject: &[u8],
    pos: usize,
    out: &mut MatchResult<T>,
) {
    if pos > subject.len() {
        node.subs.collect_into(out);
        return;
    }
    // At least one token remains, which is all `>` needs.
    if let Some(fwc) = &node.fwc {
        fwc.collect_into(out);
    }
    let (token, next) = next_token(subject, pos);
    // A published `*`/`>` token is looked up as a literal; no literal child
    // is ever keyed `*` or `>`, so only the wildcard branches can match it.
    if let Some(child) = node.literal.as_ref().and_then(|m| m.get(token)) {
        collect(child, subject, next, out);
    }
    if let Some(child) = &node.pwc {
        collect(child, subject, next, out);
    }
}

/// Removes one subscription below `node`, pruning nodes left empty. Returns
/// whether it was present.
fn remove_below<T: Clone + Eq + Hash>(
    node: &mut Node<T>,
    subject: &[u8],
    pos: usize,
    queue: Option<&[u8]>,
    value: &T,
) -> bool {
    if pos > subject.len() {
        return node.subs.remove(queue, value);
    }
    let (token, next) = next_token(subject, pos);
    if token == FWC {
        let Some(fwc) = node.fwc.as_mut() else {
            return false;
        };
        let removed = fwc.remove(queue, value);
        if fwc.is_empty() {
            node.fwc = None;
        }
        return removed;
    }
    if token == PWC {
        let Some(child) = node.pwc.as_mut() else {
            return false;
        };
        let removed = remove_below(child, subject, next, queue, value);
        if child.is_empty() {
            node.pwc = None;
        }
        return removed;
    }
    let Some(map) = node.literal.as_mut() else {
        return false;
    };
    let Some(child) = map.get_mut(token) else {
        return false;
    };
    let removed = remove_below(child, subject, next, queue, value);
    if child.is_empty() {
        map.remove(token);
        if map.is_empty() {
            node.literal = None;
        } else {
            shrink_if_sparse(map);
        }
    }
    removed
}

/// Counters of one sublist, as nats-server's `/subsz` reports them. The counts are plain
/// integers bumped by the owning core; the cache figures are computed when asked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SublistStats {
    /// Subscriptions inserted since start.
    pub inserts: u64,
    /// Subscriptions removed since start.
    pub removes: u64,
    /// Match lookups since start.
    pub matches: u64,
    /// Lookups answered from the cache.
    pub cache_hits: u64,
    /// Subjects in the match cache now.
    pub cache_entries: u64,
    /// Largest fanout (plain subscribers + queue groups) among cached results.
    pub max_fanout: u64,
    /// Sum of the fanouts of cached results (average = this / `cache_entries`).
    pub total_fanout: u64,
}

/// The subscription index of one executor: which subscribers get a published message.
pub struct Sublist<T> {
    /// Trie root (the empty prefix).
    root: Node<T>,
    /// Stored subscriptions, counting duplicates.
    len: usize,
    /// Published subject -> its match result; never more than `cache_capacity` entries.
    cache: HashMap<Box<[u8]>, Rc<MatchResult<T>>, RandomState>,
    /// Bound on `cache` entries; 0 disables caching.
    cache_capacity: usize,
    /// Shared result for lookups that match nothing (no allocation per miss).
    empty: Rc<MatchResult<T>>,
    /// Picks which cache entries to evict.
    rng: SmallRng,
    /// Insert/remove/match counters (monitoring).
    counters: SublistStats,
}

impl<T> fmt::Debug for Sublist<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sublist")
            .field("len", &self.len)
            .field("cached", &self.cache.len())
            .field("cache_capacity", &self.cache_capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Eq + Hash> Sublist<T> {
    /// Creates an empty index whose match cache holds at most `cache_capacity` subjects (0 disables the cache).
    pub fn new(cache_capacity: usize) -> Self {
        // A per-process random seed without needing an OS-RNG feature.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0u8);
        Sublist {
            root: Node::default(),
            len: 0,
            cache: HashMap::with_hasher(RandomState::new()),
            cache_capacity,
            empty: Rc::new(MatchResult::new()),
            rng: SmallRng::seed_from_u64(seed),
            counters: SublistStats::default(),
        }
    }

    /// Adds a subscription. subject must be a valid subscribe subject (debug_assert it). Inserting the same (subject, queue, value) twice stores it twice (caller keeps values unique).
    pub fn insert(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) {
        debug_assert!(
            is_valid_subscribe_subject(subject),
            "invalid subscribe subject {:?}",
            String::from_utf8_lossy(subject)
        );
        debug_assert!(
            queue.is_none_or(|q| !q.is_empty()),
            "empty queue group name"
        );
        let mut node = &mut self.root;
        let mut target = None;
        for token in subject.split(|&b| b == SEP) {
            if token == FWC {
                target = Some(node.fwc.get_or_insert_with(Default::default));
                break;
            }
            node = if token == PWC {
                node.pwc.get_or_insert_with(Default::default)
            } else {
                let map = node
                    .literal
                    .get_or_insert_with(|| Box::new(HashMap::with_hasher(RandomState::new())));
                if !map.contains_key(token) {
                    map.insert(TokenKey::new(token), Node::default());
                }
                map.get_mut(token).expect("child inserted above")
            };
        }
        match target {
            Some(fwc) => fwc.insert(queue, value),
            None => node.subs.insert(queue, value),
        }
        self.len += 1;
        self.counters.inserts += 1;
        self.invalidate(subject);
    }

    /// Removes one occurrence; returns whether it was present. Empty trie nodes are pruned.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: &T) -> bool {
        if subject.is_empty() || !remove_below(&mut self.root, subject, 0, queue, value) {
            return false;
        }
        debug_assert!(self.len > 0);
        self.len -= 1;
        self.counters.removes += 1;
        self.invalidate(subject);
        true
    }

    /// All subscriptions matching a published subject (a subject with an empty token matches nothing). Cached: repeated lookups of the same subject return the same Rc without walking the trie.
    pub fn matches(&mut self, subject: &[u8]) -> Rc<MatchResult<T>> {
        const UNCACHED_PREFIX: &[u8] = b"$JS.ACK.";
        self.counters.matches += 1;
        if let Some(hit) = self.cache.get(subject) {
            self.counters.cache_hits += 1;
            return Rc::clone(hit);
        }
        if has_empty_token(subject) {
            return Rc::clone(&self.empty);
        }
        let mut result = MatchResult::new();
        collect(&self.root, subject, 0, &mut result);
        let result = if result.is_empty() {
            Rc::clone(&self.empty)
        } else {
            Rc::new(result)
        };
        // Ack subjects are unique per delivery: caching them would only evict useful entries.
        if self.cache_capacity > 0 && !subject.starts_with(UNCACHED_PREFIX) {
            if self.cache.len() >= self.cache_capacity {
                self.evict();
            }
            self.cache.insert(subject.into(), Rc::clone(&result));
            debug_assert!(self.cache.len() <= self.cache_capacity);
        }
        result
    }

    /// The counters, with the cache figures computed now (walks the cache: monitoring only).
    pub fn stats(&self) -> SublistStats {
        let mut s = self.counters;
        s.cache_entries = self.cache.len() as u64;
        for r in self.cache.values() {
            let fanout = (r.plain.len() + r.queues.len()) as u64;
            s.max_fanout = s.max_fanout.max(fanout);
            s.total_fanout += fanout;
        }
        s
    }

    /// Number of stored subscriptions (duplicates counted), for stats and leak checks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no subscription is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops exactly the cached results a change to `subject`'s subscriptions can affect.
    fn invalidate(&mut self, subject: &[u8]) {
        if self.cache.is_empty() {
            return;
        }
        if is_literal(subject) {
            self.cache.remove(subject);
            return;
        }
        // Every subject the pattern matches starts with its literal prefix
        // (the bytes before the first wildcard token); checking that first
        // rejects most keys with one short memcmp.
        let prefix = &subject[..literal_prefix_len(subject)];
        self.cache
            .retain(|key, _| !(key.starts_with(prefix) && subject_matches(subject, key)));
    }

    /// Makes room in a full cache by dropping about 1/CACHE_EVICT_STRIDE of
    /// its entries, spread evenly over the table from a random offset.
    fn evict(&mut self) {
        let before = self.cache.len();
        let stride = CACHE_EVICT_STRIDE.min(before).max(1);
        let mut i = self.rng.random_range(0..stride);
        self.cache.retain(|_, _| {
            i += 1;
            i % stride != 0
        });
        debug_assert!(self.cache.len() < before || before == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A result in canonical form: sorted plain members, queue name -> sorted members.
    type Canon = (Vec<u32>, BTreeMap<Vec<u8>, Vec<u32>>);

    fn canon(r: &MatchResult<u32>) -> Canon {
        let mut plain = r.plain.clone();
        plain.sort_unstable();
        let mut queues = BTreeMap::new();
        for (name, members) in &r.queues {
            assert!(!members.is_empty(), "empty queue group in result");
            let mut m = members.clone();
            m.sort_unstable();
            let prev = queues.insert(name.to_vec(), m);
            assert!(prev.is_none(), "queue group {name:?} listed twice");
        }
        (plain, queues)
    }

    fn canon_of(plain: &[u32], queues: &[(&str, &[u32])]) -> Canon {
        let mut p = plain.to_vec();
        p.sort_unstable();
        let mut q = BTreeMap::new();
        for (name, members) in queues {
            let mut m = members.to_vec();
            m.sort_unstable();
            q.insert(name.as_bytes().to_vec(), m);
        }
        (p, q)
    }

    fn cached(sl: &Sublist<u32>, subject: &[u8]) -> bool {
        sl.cache.contains_key(subject)
    }

    #[test]
    fn literal_and_wildcard_matching() {
        let mut sl = Sublist::new(16);
        sl.insert(b"foo.bar", None, 1);
        sl.insert(b"foo.*", None, 2);
        sl.insert(b"foo.>", None, 3);
        sl.insert(b">", None, 4);
        sl.insert(b"*.bar", None, 5);
        sl.insert(b"*", None, 6);
        sl.insert(b"foo.bar.baz", None, 7);
        assert_eq!(sl.len(), 7);
        assert_eq!(
            canon(&sl.matches(b"foo.bar")),
            canon_of(&[1, 2, 3, 4, 5], &[])
        );
        assert_eq!(canon(&sl.matches(b"foo.baz")), canon_of(&[2, 3, 4], &[]));
        assert_eq!(
            canon(&sl.matches(b"foo.bar.baz")),
            canon_of(&[3, 4, 7], &[])
        );
        assert_eq!(
            canon(&sl.matches(b"foo")),
            canon_of(&[4, 6], &[]),
            "> needs a token"
        );
        assert_eq!(canon(&sl.matches(b"x.y.z")), canon_of(&[4], &[]));
        assert_eq!(canon(&sl.matches(b"foo.bar.baz.q")), canon_of(&[3, 4], &[]));
    }

    #[test]
    fn literal_wildcard_publish_matches_wildcard_subs_only() {
        let mut sl = Sublist::new(16);
        sl.insert(b"foo.bar", None, 1);
        sl.insert(b"foo.*", None, 2);
        sl.insert(b"foo.>", None, 3);
        sl.insert(b"*.*", None, 4);
        sl.insert(b">", None, 5);
        sl.insert(b"f*o", None, 6);
        assert_eq!(canon(&sl.matches(b"foo.*")), canon_of(&[2, 3, 4, 5], &[]));
        assert_eq!(canon(&sl.matches(b"foo.>")), canon_of(&[2, 3, 4, 5], &[]));
        assert_eq!(canon(&sl.matches(b"*")), canon_of(&[5], &[]));
        assert_eq!(canon(&sl.matches(b"f*o")), canon_of(&[5, 6], &[]));
        assert_eq!(canon(&sl.matches(b"fxo")), canon_of(&[5], &[]));
    }

    #[test]
    fn empty_token_subjects_match_nothing() {
        let mut sl = Sublist::new(16);
        sl.insert(b">", None, 1);
        sl.insert(b"*", None, 2);
        sl.insert(b"foo.*", None, 3);
        for s in [&b""[..], b".", b"foo.", b".foo", b"foo..bar"] {
            assert!(sl.matches(s).is_empty(), "{s:?}");
            assert!(!cached(&sl, s), "invalid subjects are not cached");
        }
    }

    #[test]
    fn utf8_and_control_bytes_are_plain_bytes() {
        let mut sl = Sublist::new(16);
        sl.insert("fü.*".as_bytes(), None, 1);
        sl.insert(b"a\x01.b", None, 2);
        assert_eq!(canon(&sl.matches("fü.bar".as_bytes())), canon_of(&[1], &[]));
        assert!(sl.matches(b"fu.bar").is_empty());
        assert_eq!(canon(&sl.matches(b"a\x01.b")), canon_of(&[2], &[]));
    }

    #[test]
    fn queue_groups_merge_across_subjects() {
        let mut sl = Sublist::new(16);
        // The protocol doc's example: `SUB q.a grp 1`, `SUB q.a grp 2`, `SUB q.* 3`.
        sl.insert(b"q.a", Some(b"grp"), 1);
        sl.insert(b"q.a", Some(b"grp"), 2);
        sl.insert(b"q.*", None, 3);
        sl.insert(b"q.>", Some(b"grp"), 4);
        sl.insert(b"q.*", Some(b"other"), 5);
        sl.insert(b"q.b", Some(b"grp"), 6);
        let r = sl.matches(b"q.a");
        assert_eq!(
            canon(&r),
            canon_of(&[3], &[("grp", &[1, 2, 4]), ("other", &[5])])
        );
        assert_eq!(
            canon(&sl.matches(b"q.b")),
            canon_of(&[3], &[("grp", &[4, 6]), ("other", &[5])])
        );
        assert_eq!(
            canon(&sl.matches(b"q.b.c")),
            canon_of(&[], &[("grp", &[4])])
        );
        // Removing a queue member needs the right group.
        assert!(!sl.remove(b"q.a", Some(b"other"), &1));
        assert!(!sl.remove(b"q.a", None, &1));
        assert!(sl.remove(b"q.a", Some(b"grp"), &1));
        assert_eq!(
            canon(&sl.matches(b"q.a")),
            canon_of(&[3], &[("grp", &[2, 4]), ("other", &[5])])
        );
    }

    #[test]
    fn duplicates_are_stored_and_removed_one_at_a_time() {
        let mut sl = Sublist::new(16);
        sl.insert(b"a", None, 7);
        sl.insert(b"a", None, 7);
        assert_eq!(sl.len(), 2);
        assert_eq!(canon(&sl.matches(b"a")), canon_of(&[7, 7], &[]));
        assert!(sl.remove(b"a", None, &7));
        assert_eq!(canon(&sl.matches(b"a")), canon_of(&[7], &[]));
        assert!(sl.remove(b"a", None, &7));
        assert!(!sl.remove(b"a", None, &7));
        assert!(sl.is_empty());
        assert!(sl.matches(b"a").is_empty());
    }

    #[test]
    fn large_bags_hold_many_subscribers() {
        let mut sl = Sublist::new(16);
        for v in 0..1000u32 {
            sl.insert(b"hot", None, v);
            sl.insert(b"hot", Some(b"g"), v);
        }
        sl.insert(b"hot", None, 5); // a duplicate inside the counted map
        let r = sl.matches(b"hot");
        assert_eq!(r.plain.len(), 1001);
        assert_eq!(r.queues[0].1.len(), 1000);
        for v in (0..1000u32).step_by(2) {
            assert!(sl.remove(b"hot", None, &v));
            assert!(sl.remove(b"hot", Some(b"g"), &v));
        }
        assert!(sl.remove(b"hot", None, &5));
        assert!(!sl.remove(b"hot", None, &4));
        let odd: Vec<u32> = (0..1000).filter(|v| v % 2 == 1).collect();
        assert_eq!(canon(&sl.matches(b"hot")), canon_of(&odd, &[("g", &odd)]));
        for v in odd {
            assert!(sl.remove(b"hot", None, &v));
            assert!(sl.remove(b"hot", Some(b"g"), &v));
        }
        assert!(sl.is_empty());
        assert!(sl.root.is_empty());
    }

    #[test]
    fn remove_prunes_empty_nodes() {
        let mut sl = Sublist::new(0);
        sl.insert(b"a.b.c", None, 1);
        sl.insert(b"a.*.c", Some(b"q"), 2);
        sl.insert(b"a.>", None, 3);
        sl.insert(b"a.b", None, 4);
        assert!(!sl.remove(b"a.b.c", None, &9), "absent value");
        assert!(!sl.remove(b"a.b.d", None, &1), "absent subject");
        assert!(!sl.remove(b"x.>", None, &3), "absent fwc");
        assert!(!sl.remove(b"a.*.c", None, &2), "wrong queue");
        assert!(sl.remove(b"a.b.c", None, &1));
        let a = &sl.root.literal.as_ref().unwrap()[&b"a"[..]];
        let b = &a.literal.as_ref().unwrap()[&b"b"[..]];
        assert!(b.literal.is_none(), "leaf c pruned, b kept for a.b");
        assert!(sl.remove(b"a.*.c", Some(b"q"), &2));
        let a = &sl.root.literal.as_ref().unwrap()[&b"a"[..]];
        assert!(a.pwc.is_none(), "* branch pruned");
        assert!(sl.remove(b"a.>", None, &3));
        let a = &sl.root.literal.as_ref().unwrap()[&b"a"[..]];
        assert!(a.fwc.is_none(), "> slot pruned");
        assert!(sl.remove(b"a.b", None, &4));
        assert!(sl.root.is_empty(), "whole trie pruned");
        assert!(sl.is_empty());
    }

    #[test]
    fn long_and_boundary_tokens() {
        let mut sl = Sublist::new(16);
        let t22 = "x".repeat(INLINE_TOKEN_BYTES);
        let t23 = "x".repeat(INLINE_TOKEN_BYTES + 1);
        let t100 = "y".repeat(100);
        let subjects = [
            format!("{t22}.a"),
            format!("{t23}.a"),
            format!("{t100}.{t23}.*"),
            format!("{t100}.>"),
        ];
        for (v, s) in subjects.iter().enumerate() {
            sl.insert(s.as_bytes(), None, v as u32);
        }
        assert_eq!(
            canon(&sl.matches(subjects[0].as_bytes())),
            canon_of(&[0], &[])
        );
        assert_eq!(
            canon(&sl.matches(subjects[1].as_bytes())),
            canon_of(&[1], &[])
        );
        let deep = format!("{t100}.{t23}.z");
        assert_eq!(canon(&sl.matches(deep.as_bytes())), canon_of(&[2, 3], &[]));
        assert!(sl.matches(format!("{t22}x.b").as_bytes()).is_empty());
        for (v, s) in subjects.iter().enumerate() {
            assert!(sl.remove(s.as_bytes(), None, &(v as u32)));
        }
        assert!(sl.root.is_empty());
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix_len(b"foo.bar"), 7);
        assert_eq!(literal_prefix_len(b">"), 0);
        assert_eq!(literal_prefix_len(b"*.a"), 0);
        assert_eq!(literal_prefix_len(b"_INBOX.abc.*"), 11);
        assert_eq!(literal_prefix_len(b"a.*.b.>"), 2);
        assert_eq!(literal_prefix_len(b"f*o.>"), 4);
    }

    #[test]
    fn single_member_bags_grow_and_shrink() {
        let mut sl = Sublist::new(0);
        sl.insert(b"s", None, 1);
        assert!(matches!(
            sl.root.literal.as_ref().unwrap()[&b"s"[..]].subs.plain,
            Bag::One(1)
        ));
        sl.insert(b"s", None, 2);
        assert!(!sl.remove(b"s", None, &3));
        assert!(sl.remove(b"s", None, &1));
        assert_eq!(canon(&sl.matches(b"s")), canon_of(&[2], &[]));
        assert!(sl.remove(b"s", None, &2));
        assert!(sl.root.is_empty());
        sl.insert(b"s", Some(b"g"), 5);
        assert!(!sl.remove(b"s", Some(b"g"), &6));
        assert_eq!(canon(&sl.matches(b"s")), canon_of(&[], &[("g", &[5])]));
    }

    #[test]
    fn stats_count_inserts_removes_matches_and_fanout() {
        let mut sl = Sublist::new(16);
        sl.insert(b"a.*", None, 1u32);
        sl.insert(b"a.b", None, 2);
        sl.insert(b"a.b", Some(&b"q"[..]), 3);
        assert!(sl.remove(b"a.*", None, &1));
        sl.matches(b"a.b");
        sl.matches(b"a.b");
        sl.matches(b"x");
        let s = sl.stats();
        assert_eq!(
            (s.inserts, s.removes, s.matches, s.cache_hits),
            (3, 1, 3, 1)
        );
        assert_eq!((s.cache_entries, s.max_fanout, s.total_fanout), (2, 2, 2));
    }

    #[test]
    fn cache_hit_returns_same_rc() {
        let mut sl = Sublist::new(16);
        sl.insert(b"foo", None, 1);
        let first = sl.matches(b"foo");
        let second = sl.matches(b"foo");
        assert!(Rc::ptr_eq(&first, &second));
        let miss1 = sl.matches(b"nobody");
        assert!(cached(&sl, b"nobody"), "misses are cached too");
        assert!(Rc::ptr_eq(&miss1, &sl.matches(b"nobody")));
    }

    #[test]
    fn insert_after_cached_miss_is_seen() {
        for pattern in [&b"foo.bar"[..], b"foo.*", b"foo.>", b">", b"*.bar"] {
            let mut sl = Sublist::new(16);
            assert!(sl.matches(b"foo.bar").is_empty());
            assert!(cached(&sl, b"foo.bar"));
            sl.insert(pattern, None, 1);
            assert_eq!(
                canon(&sl.matches(b"foo.bar")),
                canon_of(&[1], &[]),
                "{pattern:?}"
            );
        }
    }

    #[test]
    fn remove_after_cached_hit_is_gone() {
        for pattern in [&b"foo.bar"[..], b"foo.*", b"foo.>", b">", b"*.bar"] {
            let mut sl = Sublist::new(16);
            sl.insert(pattern, Some(b"q"), 1);
            sl.insert(b"foo.bar", None, 2);
            assert_eq!(
                canon(&sl.matches(b"foo.bar")),
                canon_of(&[2], &[("q", &[1])])
            );
            assert!(sl.remove(pattern, Some(b"q"), &1));
            assert_eq!(
                canon(&sl.matches(b"foo.bar")),
                canon_of(&[2], &[]),
                "{pattern:?}"
            );
        }
    }

    #[test]
    fn wildcard_change_invalidates_only_matching_keys() {
        let mut sl = Sublist::new(64);
        sl.insert(b"foo.bar", None, 1);
        sl.insert(b"hot.x", None, 2);
        let keys: [&[u8]; 5] = [b"foo.bar", b"foo.baz", b"hot.x", b"foo.bar.deep", b"foo.*"];
        let before: Vec<_> = keys.iter().map(|k| sl.matches(k)).collect();
        sl.insert(b"foo.*", None, 3);
        // Matching keys are dropped ...
        assert!(!cached(&sl, b"foo.bar"));
        assert!(!cached(&sl, b"foo.baz"));
        assert!(!cached(&sl, b"foo.*"));
        // ... the others survive untouched.
        assert!(Rc::ptr_eq(&before[2], &sl.cache[&b"hot.x"[..]]));
        assert!(Rc::ptr_eq(&before[3], &sl.cache[&b"foo.bar.deep"[..]]));
        assert_eq!(canon(&sl.matches(b"foo.bar")), canon_of(&[1, 3], &[]));
        assert_eq!(canon(&sl.matches(b"foo.*")), canon_of(&[3], &[]));

        // Inbox-style churn leaves hot subjects cached.
        let hot = sl.matches(b"hot.x");
        for i in 0..100u32 {
            let inbox = format!("_INBOX.{i}.*");
            sl.insert(inbox.as_bytes(), None, 100 + i);
            assert!(sl.remove(inbox.as_bytes(), None, &(100 + i)));
        }
        assert!(Rc::ptr_eq(&hot, &sl.matches(b"hot.x")));
        assert!(Rc::ptr_eq(&before[3], &sl.matches(b"foo.bar.deep")));
    }

    #[test]
    fn literal_change_invalidates_only_its_key() {
        let mut sl = Sublist::new(64);
        sl.insert(b"a.b", None, 1);
        let ab = sl.matches(b"a.b");
        let ac = sl.matches(b"a.c");
        let star = sl.matches(b"a.*");
        sl.insert(b"a.c", None, 2);
        sl.insert(b"f*o", None, 3); // literal despite the `*`
        assert!(Rc::ptr_eq(&ab, &sl.matches(b"a.b")));
        assert!(Rc::ptr_eq(&star, &sl.matches(b"a.*")));
        assert!(!Rc::ptr_eq(&ac, &sl.matches(b"a.c")));
        assert_eq!(canon(&sl.matches(b"a.c")), canon_of(&[2], &[]));
        // Failed removals change nothing and keep the cache.
        assert!(!sl.remove(b"a.*", None, &1));
        assert!(Rc::ptr_eq(&star, &sl.matches(b"a.*")));
    }

    #[test]
    fn cache_is_bounded_and_disabled_at_zero() {
        let mut sl = Sublist::new(10);
        sl.insert(b">", None, 1);
        for i in 0..1000u32 {
            let s = format!("s.{i}");
            assert_eq!(canon(&sl.matches(s.as_bytes())), canon_of(&[1], &[]));
            assert!(sl.cache.len() <= 10);
        }
        let mut one = Sublist::new(1);
        one.insert(b"a", None, 1);
        for s in [&b"a"[..], b"b", b"a", b"c"] {
            one.matches(s);
            assert_eq!(one.cache.len(), 1);
        }
        let mut off = Sublist::new(0);
        off.insert(b"a", None, 1);
        let r1 = off.matches(b"a");
        let r2 = off.matches(b"a");
        assert!(off.cache.is_empty());
        assert!(!Rc::ptr_eq(&r1, &r2));
        assert_eq!(r1, r2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, Option<Vec<u8>>, u32),
        Remove(Vec<u8>, Option<Vec<u8>>, u32),
        Match(Vec<u8>),
    }

    fn sub_subject() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "*"]), 0..3),
            prop::sample::select(vec!["a", "b", "*", ">"]),
        )
            .prop_map(|(mut toks, last)| {
                toks.push(last);
                toks.join(".").into_bytes()
            })
    }

    fn pub_subject() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", "c", "*", ">", ""]),
            1..5,
        )
        .prop_map(|toks| toks.join(".").into_bytes())
    }

    fn queue() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop::sample::select(vec![None, Some(b"q1".to_vec()), Some(b"q2".to_vec())])
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (sub_subject(), queue(), 0..6u32).prop_map(|(s, q, v)| Op::Insert(s, q, v)),
            2 => (sub_subject(), queue(), 0..6u32).prop_map(|(s, q, v)| Op::Remove(s, q, v)),
            4 => pub_subject().prop_map(Op::Match),
        ]
    }

    type Reference = Vec<(Vec<u8>, Option<Vec<u8>>, u32)>;

    fn reference_matches(reference: &Reference, subject: &[u8]) -> Canon {
        let mut plain = Vec::new();
        let mut queues: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
        for (s, q, v) in reference {
            if subject_matches(s, subject) {
                match q {
                    None => plain.push(*v),
                    Some(name) => queues.entry(name.clone()).or_default().push(*v),
                }
            }
        }
        plain.sort_unstable();
        for members in queues.values_mut() {
            members.sort_unstable();
        }
        (plain, queues)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn sublist_agrees_with_naive_reference(ops in prop::collection::vec(op(), 0..80)) {
            const CAP: usize = 5;
            let mut sl = Sublist::new(CAP);
            let mut reference: Reference = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(s, q, v) => {
                        sl.insert(&s, q.as_deref(), v);
                        reference.push((s, q, v));
                    }
                    Op::Remove(s, q, v) => {
                        let pos = reference.iter().position(|(rs, rq, rv)| *rs == s && *rq == q && *rv == v);
                        if let Some(i) = pos {
                            reference.swap_remove(i);
                        }
                        prop_assert_eq!(sl.remove(&s, q.as_deref(), &v), pos.is_some());
                    }
                    Op::Match(s) => {
                        let got = sl.matches(&s);
                        prop_assert_eq!(canon(&got), reference_matches(&reference, &s));
                        if sl.cache.contains_key(&s[..]) {
                            prop_assert!(Rc::ptr_eq(&got, &sl.matches(&s)));
                        }
                    }
                }
                prop_assert_eq!(sl.len(), reference.len());
                prop_assert!(sl.cache.len() <= CAP);
            }
            // Draining everything must leave a fully pruned trie.
            for (s, q, v) in reference.drain(..) {
                prop_assert!(sl.remove(&s, q.as_deref(), &v));
            }
            prop_assert!(sl.is_empty());
            prop_assert!(sl.root.is_empty());
        }
    }
}
