//! Interest bookkeeping between cores (sans-IO).
//!
//! [`LocalInterest`] counts this core's subscriptions per (subject, queue) and says when a
//! change must be announced to the other cores: plain interest only when it appears or
//! disappears, queue interest whenever its member count changes (the count weighs the
//! queue pick). [`RemoteInterest`] is the summary of what every other core announced,
//! kept in a subject-matching structure so a publish finds the interested cores in one
//! match. Interest is per account: an update names its account, and the summary keeps one
//! index per account, so a publish in one account never looks at another's interest.

use std::rc::Rc;

use ahash::AHashMap;
use bytes::Bytes;

use crate::accounts::AccountId;
use crate::mesh::InterestUpdate;
use crate::sublist::{MatchResult, Sublist};

/// Key of one announced interest: account, subscription subject and optional queue group.
type InterestKey = (AccountId, Bytes, Option<Bytes>);

/// This core's subscription counts, deciding which changes other cores must hear of.
#[derive(Debug, Default)]
pub struct LocalInterest {
    counts: AHashMap<InterestKey, u32>,
    next_seq: u64,
}

impl LocalInterest {
    /// Records one more local subscription; returns the update to broadcast, if any.
    pub fn add(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) -> Option<InterestUpdate> {
        let key = (account, subject.clone(), queue.cloned());
        let count = self.counts.entry(key).or_insert(0);
        *count += 1;
        let count = *count;
        if queue.is_none() && count > 1 {
            return None;
        }
        Some(self.update(account, subject, queue, count))
    }

    /// Records one local subscription fewer; returns the update to broadcast, if any.
    pub fn remove(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) -> Option<InterestUpdate> {
        let key = (account, subject.clone(), queue.cloned());
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
        Some(self.update(account, subject, queue, count))
    }

    /// This core's subscriptions in `account` with this (subject, queue).
    pub fn count(&self, account: AccountId, subject: &Bytes, queue: Option<&Bytes>) -> u32 {
        self.counts
            .get(&(account, subject.clone(), queue.cloned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (subject, queue) with subscriptions in `account` on this core.
    pub fn keys(&self, account: AccountId) -> impl Iterator<Item = (&Bytes, &Option<Bytes>)> {
        self.counts
            .keys()
            .filter(move |(a, _, _)| *a == account)
            .map(|(_, s, q)| (s, q))
    }

    /// The sequence number of the last update handed out (0 = none yet).
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }

    fn update(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        count: u32,
    ) -> InterestUpdate {
        self.next_seq += 1;
        InterestUpdate {
            seq: self.next_seq,
            account,
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
    /// One index per account (by id).
    index: Vec<Sublist<PeerInterest>>,
    /// Entries per account (an account with none skips the lookup).
    entries: Vec<usize>,
    stored: AHashMap<(usize, AccountId, Bytes, Option<Bytes>), u32>,
    applied_seq: Vec<u64>,
    cache_capacity: usize,
}

impl RemoteInterest {
    /// An empty summary for a server of `n_cores` cores.
    pub fn new(n_cores: usize, cache_capacity: usize) -> Self {
        RemoteInterest {
            index: vec![Sublist::new(cache_capacity)],
            entries: vec![0],
            stored: AHashMap::new(),
            applied_seq: vec![0; n_cores],
            cache_capacity,
        }
    }

    /// Makes room for `n` accounts (before any interest of theirs arrives).
    pub fn set_accounts(&mut self, n: usize) {
        let cap = self.cache_capacity;
        self.index.resize_with(n.max(1), || Sublist::new(cap));
        self.entries.resize(n.max(1), 0);
    }

    /// Applies an update from `peer`. Idempotent: the update states an absolute count, and
    /// one already applied (by sequence number) is ignored.
    pub fn apply(&mut self, peer: usize, update: &InterestUpdate) {
        if update.seq <= self.applied_seq[peer] {
            return;
        }
        self.applied_seq[peer] = update.seq;
        let acc = update.account as usize;
        let key = (
            peer,
            update.account,
            update.subject.clone(),
            update.queue.clone(),
        );
        let queue = update.queue.as_deref();
        if let Some(old) = self.stored.remove(&key) {
            self.entries[acc] -= 1;
            let removed = self.index[acc].remove(
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
            self.entries[acc] += 1;
            self.index[acc].insert(
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

    /// Which cores want a message published in `account` on `subject`.
    #[inline]
    pub fn matches(&mut self, account: AccountId, subject: &[u8]) -> Rc<MatchResult<PeerInterest>> {
        self.index[account as usize].matches(subject)
    }

    /// Subscriptions in `account` with this (subject, queue) on all other cores together.
    pub fn total(&self, account: AccountId, subject: &Bytes, queue: Option<&Bytes>) -> u32 {
        if self.stored.is_empty() {
            return 0;
        }
        (0..self.applied_seq.len())
            .filter_map(|peer| {
                self.stored
                    .get(&(peer, account, subject.clone(), queue.cloned()))
                    .copied()
            })
            .sum()
    }

    /// Subscriptions of `peer` in `account` with this (subject, queue).
    pub fn peer_count(
        &self,
        peer: usize,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) -> u32 {
        self.stored
            .get(&(peer, account, subject.clone(), queue.cloned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (subject, queue) some other core announced in `account`.
    pub fn keys(&self, account: AccountId) -> impl Iterator<Item = (Bytes, Option<Bytes>)> + '_ {
        self.stored
            .keys()
            .filter(move |(_, a, _, _)| *a == account)
            .map(|(_, _, s, q)| (s.clone(), q.clone()))
    }

    /// Whether no other core has announced any interest in `account`.
    #[inline]
    pub fn is_empty(&self, account: AccountId) -> bool {
        self.entries[account as usize] == 0
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
        let u1 = l.add(0, &s, None).expect("first sub announces");
        assert_eq!(u1.member_count, 1);
        assert!(l.add(0, &s, None).is_none());
        assert!(l.remove(0, &s, None).is_none());
        let u2 = l.remove(0, &s, None).expect("last unsub announces");
        assert_eq!(u2.member_count, 0);
        assert_eq!(u2.seq, u1.seq + 1);
    }

    #[test]
    fn queue_interest_announces_counts() {
        let mut l = LocalInterest::default();
        let s = b("work");
        let q = b("g");
        assert_eq!(l.add(0, &s, Some(&q)).unwrap().member_count, 1);
        assert_eq!(l.add(0, &s, Some(&q)).unwrap().member_count, 2);
        assert_eq!(l.remove(0, &s, Some(&q)).unwrap().member_count, 1);
        assert_eq!(l.remove(0, &s, Some(&q)).unwrap().member_count, 0);
    }

    #[test]
    fn remote_apply_is_idempotent_and_ordered() {
        let mut l = LocalInterest::default();
        let mut r = RemoteInterest::new(2, 64);
        let s = b("a.>");
        let add = l.add(0, &s, None).unwrap();
        r.apply(1, &add);
        r.apply(1, &add);
        let m = r.matches(0, b"a.b");
        assert_eq!(m.plain.len(), 1);
        assert_eq!(m.plain[0].peer, 1);
        let del = l.remove(0, &s, None).unwrap();
        r.apply(1, &del);
        // A replay of the older add must not resurrect the interest.
        r.apply(1, &add);
        assert!(r.matches(0, b"a.b").is_empty());
        assert_eq!(r.applied_seq(1), del.seq);
        assert!(r.is_empty(0));
    }

    #[test]
    fn interest_is_per_account() {
        let mut l = LocalInterest::default();
        let mut r = RemoteInterest::new(2, 64);
        r.set_accounts(3);
        let s = b(">");
        r.apply(1, &l.add(2, &s, None).unwrap());
        assert!(r.is_empty(0) && !r.is_empty(2));
        assert!(r.matches(0, b"a").is_empty());
        assert_eq!(r.matches(2, b"a").plain[0].peer, 1);
        // The same subject in another account is its own interest.
        assert!(l.add(0, &s, None).is_some());
        r.apply(1, &l.remove(2, &s, None).unwrap());
        assert!(r.is_empty(2));
    }

    #[test]
    fn remote_queue_weights_replace() {
        let mut l = LocalInterest::default();
        let mut r = RemoteInterest::new(3, 64);
        let s = b("jobs");
        let q = b("workers");
        r.apply(2, &l.add(0, &s, Some(&q)).unwrap());
        r.apply(2, &l.add(0, &s, Some(&q)).unwrap());
        let m = r.matches(0, b"jobs");
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
