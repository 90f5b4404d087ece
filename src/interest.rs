//! Interest bookkeeping between cores (sans-IO).
//!
//! [`LocalInterest`] counts this core's subscriptions per (subject, queue) and says when a
//! change must be announced to the other cores: plain interest only when it appears or
//! disappears, queue interest whenever its member count changes (the count weighs the
//! queue pick). [`RemoteInterest`] is the summary of what every other core announced,
//! kept in a subject-matching structure so a publish finds the interested cores in one
//! match.

use std::rc::Rc;

use ahash::AHashMap;
use bytes::Bytes;

use crate::mesh::InterestUpdate;
use crate::sublist::{MatchResult, Sublist};

/// Key of one announced interest: subscription subject and optional queue group.
type InterestKey = (Bytes, Option<Bytes>);

/// This core's subscription counts, deciding which changes other cores must hear of.
#[derive(Debug, Default)]
pub struct LocalInterest {
    counts: AHashMap<InterestKey, u32>,
    next_seq: u64,
}

impl LocalInterest {
    /// Records one more local subscription; returns the update to broadcast, if any.
    pub fn add(&mut self, subject: &Bytes, queue: Option<&Bytes>) -> Option<InterestUpdate> {
        let key = (subject.clone(), queue.cloned());
        let count = self.counts.entry(key).or_insert(0);
        *count += 1;
        let count = *count;
        if queue.is_none() && count > 1 {
            return None;
        }
        Some(self.update(subject, queue, count))
    }

    /// Records one local subscription fewer; returns the update to broadcast, if any.
    pub fn remove(&mut self, subject: &Bytes, queue: Option<&Bytes>) -> Option<InterestUpdate> {
        let key = (subject.clone(), queue.cloned());
        let count = match self.counts.get_mut(&key) {
            Some(c) => {
                debug_assert!(*c > 0);
                *c -= 1;
                *c
            }
            None => {
                debug_assert!(false, "removing interest that was never added");
                return None;
            }
        };
        if count == 0 {
            self.counts.remove(&key);
        } else if queue.is_none() {
            return None;
        }
        Some(self.update(subject, queue, count))
    }

    /// This core's subscriptions with this (subject, queue).
    pub fn count(&self, subject: &Bytes, queue: Option<&Bytes>) -> u32 {
        self.counts
            .get(&(subject.clone(), queue.cloned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (subject, queue) with subscriptions on this core.
    pub fn keys(&self) -> impl Iterator<Item = &InterestKey> {
        self.counts.keys()
    }

    /// The sequence number of the last update handed out (0 = none yet).
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }

    fn update(&mut self, subject: &Bytes, queue: Option<&Bytes>, count: u32) -> InterestUpdate {
        self.next_seq += 1;
        InterestUpdate {
            seq: self.next_seq,
            subject: subject.clone(),
            queue: queue.cloned(),
            member_count: count,
        }
    }
}

/// One other core's interest as stored in the remote summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerInterest {
    /// The interested core.
    pub peer: usize,
    /// Its subscriptions behind this entry (queue pick weight).
    pub member_count: u32,
}

/// What the other cores are interested in, as announced over the rings.
pub struct RemoteInterest {
    index: Sublist<PeerInterest>,
    stored: AHashMap<(usize, Bytes, Option<Bytes>), u32>,
    applied_seq: Vec<u64>,
}

impl RemoteInterest {
    /// An empty summary for a server of `n_cores` cores.
    pub fn new(n_cores: usize, cache_capacity: usize) -> Self {
        RemoteInterest {
            index: Sublist::new(cache_capacity),
            stored: AHashMap::new(),
            applied_seq: vec![0; n_cores],
        }
    }

    /// Applies an update from `peer`. Idempotent: the update states an absolute count, and
    /// one already applied (by sequence number) is ignored.
    pub fn apply(&mut self, peer: usize, update: &InterestUpdate) {
        if update.seq <= self.applied_seq[peer] {
            return;
        }
        self.applied_seq[peer] = update.seq;
        let key = (peer, update.subject.clone(), update.queue.clone());
        let queue = update.queue.as_deref();
        if let Some(old) = self.stored.remove(&key) {
            let removed = self.index.remove(
                &update.subject,
                queue,
                &PeerInterest {
                    peer,
                    member_count: old,
                },
            );
            debug_assert!(removed);
        }
        if update.member_count > 0 {
            self.index.insert(
                &update.subject,
                queue,
                PeerInterest {
                    peer,
                    member_count: update.member_count,
                },
            );
            self.stored.insert(key, update.member_count);
        }
    }

    /// The highest update sequence applied from `peer` (what we acknowledge).
    pub fn applied_seq(&self, peer: usize) -> u64 {
        self.applied_seq[peer]
    }

    /// Which cores want a message published on `subject`.
    pub fn matches(&mut self, subject: &[u8]) -> Rc<MatchResult<PeerInterest>> {
        self.index.matches(subject)
    }

    /// Subscriptions with this (subject, queue) on all other cores together.
    pub fn total(&self, subject: &Bytes, queue: Option<&Bytes>) -> u32 {
        if self.stored.is_empty() {
            return 0;
        }
        (0..self.applied_seq.len())
            .filter_map(|peer| {
                self.stored
                    .get(&(peer, subject.clone(), queue.cloned()))
                    .copied()
            })
            .sum()
    }

    /// Every (subject, queue) some other core announced.
    pub fn keys(&self) -> impl Iterator<Item = InterestKey> + '_ {
        self.stored.keys().map(|(_, s, q)| (s.clone(), q.clone()))
    }

    /// Whether no other core has announced any interest.
    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn plain_interest_announced_only_on_appear_and_disappear() {
        let mut l = LocalInterest::default();
        let s = b("foo.*");
        let u1 = l.add(&s, None).expect("first sub announces");
        assert_eq!(u1.member_count, 1);
        assert!(l.add(&s, None).is_none());
        assert!(l.remove(&s, None).is_none());
        let u2 = l.remove(&s, None).expect("last unsub announces");
        assert_eq!(u2.member_count, 0);
        assert_eq!(u2.seq, u1.seq + 1);
    }

    #[test]
    fn queue_interest_announces_counts() {
        let mut l = LocalInterest::default();
        let s = b("work");
        let q = b("g");
        assert_eq!(l.add(&s, Some(&q)).unwrap().member_count, 1);
        assert_eq!(l.add(&s, Some(&q)).unwrap().member_count, 2);
        assert_eq!(l.remove(&s, Some(&q)).unwrap().member_count, 1);
        assert_eq!(l.remove(&s, Some(&q)).unwrap().member_count, 0);
    }

    #[test]
    fn remote_apply_is_idempotent_and_ordered() {
        let mut l = LocalInterest::default();
        let mut r = RemoteInterest::new(2, 64);
        let s = b("a.>");
        let add = l.add(&s, None).unwrap();
        r.apply(1, &add);
        r.apply(1, &add);
        let m = r.matches(b"a.b");
        assert_eq!(m.plain.len(), 1);
        assert_eq!(m.plain[0].peer, 1);
        let del = l.remove(&s, None).unwrap();
        r.apply(1, &del);
        // A replay of the older add must not resurrect the interest.
        r.apply(1, &add);
        assert!(r.matches(b"a.b").is_empty());
        assert_eq!(r.applied_seq(1), del.seq);
        assert!(r.is_empty());
    }

    #[test]
    fn remote_queue_weights_replace() {
        let mut l = LocalInterest::default();
        let mut r = RemoteInterest::new(3, 64);
        let s = b("jobs");
        let q = b("workers");
        r.apply(2, &l.add(&s, Some(&q)).unwrap());
        r.apply(2, &l.add(&s, Some(&q)).unwrap());
        let m = r.matches(b"jobs");
        assert_eq!(m.queues.len(), 1);
        assert_eq!(
            m.queues[0].1,
            vec![PeerInterest {
                peer: 2,
                member_count: 2
            }]
        );
    }
}
