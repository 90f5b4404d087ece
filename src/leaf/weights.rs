//! Queue weights of leaf links across cores (sans-IO).
//!
//! nats-server picks a queue member for a message among its own clients first, and only
//! when it has none among its leaf links, each counted as many times as its `LS+` weight
//! (the number of members behind it). natrix's cores see each other's members as counts
//! (`InterestUpdate::member_count`, one per subscription), which do not say which members
//! are links nor how much they weigh; [`QueueWeights`] carries that part: each core tells
//! the others, per (account, subject, queue), how many of its subscriptions are links and
//! the sum of their weights ([`LinkWeights`], sent on the ring in order with the interest
//! updates), and keeps what the others told it for the pick.

use ahash::AHashMap;
use bytes::Bytes;

use crate::accounts::AccountId;
use crate::subject;

/// One core's leaf-link members of a queue group: absolute, zero removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkWeights {
    /// The account the subscriptions belong to.
    pub account: AccountId,
    /// The subscription subject (may hold wildcards).
    pub subject: Bytes,
    /// The queue group.
    pub queue: Bytes,
    /// How many of the sender's subscriptions with this (subject, queue) are links.
    pub links: u32,
    /// Their `LS+` weights summed.
    pub weight: u32,
}

/// One peer's link members under one subject of a group.
#[derive(Debug, Clone)]
struct PeerLinks {
    peer: usize,
    subject: Bytes,
    links: u32,
    weight: u32,
}

/// What this core last announced per key, as (links, weight): an update goes to the other
/// cores only when the numbers changed. Shared by [`QueueWeights`] and `hubs::HubInterest`.
#[derive(Debug)]
pub(crate) struct SentCounts<K>(AHashMap<K, (u32, u32)>);

impl<K> Default for SentCounts<K> {
    fn default() -> Self {
        SentCounts(AHashMap::new())
    }
}

impl<K: std::hash::Hash + Eq> SentCounts<K> {
    /// Records `(links, weight)` for `key` (zero links forgets it); false when unchanged.
    pub(crate) fn changed(&mut self, key: K, links: u32, weight: u32) -> bool {
        if self.0.get(&key).copied().unwrap_or((0, 0)) == (links, weight) {
            return false;
        }
        if links == 0 {
            self.0.remove(&key);
        } else {
            self.0.insert(key, (links, weight));
        }
        true
    }
}

/// Link members of queue groups: this core's as last announced, the other cores' as heard.
#[derive(Debug, Default)]
pub struct QueueWeights {
    sent: SentCounts<(AccountId, Bytes, Bytes)>,
    peers: AHashMap<(AccountId, Bytes), Vec<PeerLinks>>,
}

impl QueueWeights {
    /// This core's links with (subject, queue) now number `links` weighing `weight`: the
    /// update for the other cores, when it differs from the last one sent.
    pub fn local_changed(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: &Bytes,
        links: u32,
        weight: u32,
    ) -> Option<LinkWeights> {
        let key = (account, subject.clone(), queue.clone());
        if !self.sent.changed(key, links, weight) {
            return None;
        }
        Some(LinkWeights {
            account,
            subject: subject.clone(),
            queue: queue.clone(),
            links,
            weight,
        })
    }

    /// Applies what `peer` announced (it states absolute numbers).
    pub fn apply(&mut self, peer: usize, u: &LinkWeights) {
        let key = (u.account, u.queue.clone());
        let entries = self.peers.entry(key.clone()).or_default();
        entries.retain(|e| !(e.peer == peer && e.subject == u.subject));
        if u.links > 0 {
            entries.push(PeerLinks {
                peer,
                subject: u.subject.clone(),
                links: u.links,
                weight: u.weight,
            });
        }
        if entries.is_empty() {
            self.peers.remove(&key);
        }
    }

    /// Whether no other core has link members in any queue group (the common case: picks
    /// then need no lookup here).
    #[inline]
    pub fn no_peer_links(&self) -> bool {
        self.peers.is_empty()
    }

    /// What the other cores' links of `(subject, queue)` (this very subscription subject)
    /// weigh beyond one member each: added to the member count announced to a link. A core
    /// counts only once its interest updates show those links (`members(peer)`: its
    /// subscriptions there), so the two kinds of update may arrive in either order.
    pub fn peers_extra_weight(
        &self,
        account: AccountId,
        subject: &[u8],
        queue: &Bytes,
        members: impl Fn(usize) -> u32,
    ) -> u32 {
        let Some(entries) = self.peers.get(&(account, queue.clone())) else {
            return 0;
        };
        entries
            .iter()
            .filter(|e| e.subject[..] == *subject && members(e.peer) >= e.links)
            .map(|e| e.weight.saturating_sub(e.links))
            .sum()
    }

    /// `peer`'s link members of group `queue` in `account` whose subscription matches
    /// `subject`: (how many, summed weight).
    pub fn peer_links(
        &self,
        account: AccountId,
        queue: &Bytes,
        subject: &[u8],
        peer: usize,
    ) -> (u32, u32) {
        let Some(entries) = self.peers.get(&(account, queue.clone())) else {
            return (0, 0);
        };
        entries
            .iter()
            .filter(|e| e.peer == peer && subject::subject_matches(&e.subject, subject))
            .fold((0, 0), |(l, w), e| (l + e.links, w + e.weight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn local_changes_are_sent_once() {
        let mut w = QueueWeights::default();
        let u = w.local_changed(0, &b("work"), &b("g"), 1, 3).unwrap();
        assert_eq!((u.links, u.weight), (1, 3));
        assert!(w.local_changed(0, &b("work"), &b("g"), 1, 3).is_none());
        let u = w.local_changed(0, &b("work"), &b("g"), 0, 0).unwrap();
        assert_eq!((u.links, u.weight), (0, 0));
        assert!(w.local_changed(0, &b("work"), &b("g"), 0, 0).is_none());
    }

    #[test]
    fn peer_links_sum_matching_subjects() {
        let mut w = QueueWeights::default();
        assert!(w.no_peer_links());
        let upd = |subject: &str, links, weight| LinkWeights {
            account: 0,
            subject: b(subject),
            queue: b("g"),
            links,
            weight,
        };
        w.apply(1, &upd("work.*", 1, 3));
        w.apply(1, &upd("work.>", 1, 2));
        w.apply(2, &upd("work.a", 1, 5));
        assert_eq!(w.peer_links(0, &b("g"), b"work.a", 1), (2, 5));
        assert_eq!(w.peer_links(0, &b("g"), b"work.a", 2), (1, 5));
        assert_eq!(w.peer_links(0, &b("g"), b"work.b", 2), (0, 0));
        assert_eq!(w.peer_links(0, &b("h"), b"work.a", 1), (0, 0));
        // Beyond one member each, for announcing: this very subject only.
        assert_eq!(w.peers_extra_weight(0, b"work.*", &b("g"), |_| 1), 2);
        assert_eq!(w.peers_extra_weight(0, b"work.a", &b("g"), |_| 1), 4);
        assert_eq!(w.peers_extra_weight(0, b"work.a", &b("g"), |_| 0), 0);
        // Absolute: a new figure replaces, zero removes.
        w.apply(1, &upd("work.*", 1, 7));
        assert_eq!(w.peer_links(0, &b("g"), b"work.a", 1), (2, 9));
        w.apply(1, &upd("work.*", 0, 0));
        w.apply(1, &upd("work.>", 0, 0));
        w.apply(2, &upd("work.a", 0, 0));
        assert!(w.no_peer_links());
    }
}
