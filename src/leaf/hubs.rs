//! Interest heard from hubs, kept apart across cores (sans-IO).
//!
//! A leaf node with several remotes must not tell one hub what another hub is interested
//! in: nats-server's soliciting side announces only its own clients' (and accepted leafs')
//! interest, never a solicited link's (`updateSmap` / `initLeafNodeSmapAndSendSubs` skip
//! the subscriptions of spoke links), loop-detection subjects excepted. natrix's cores see
//! each other's interest as counts that do not say where it came from; [`HubInterest`]
//! carries that part: each core tells the others, per (account, subject, queue), how many
//! of its subscriptions are solicited links and what they weigh ([`HubSubs`], sent on the
//! ring in order with the interest updates), and keeps what the others told it.

use ahash::AHashMap;
use bytes::Bytes;

use super::weights::SentCounts;
use crate::accounts::AccountId;

/// One core's solicited-link subscriptions of one (subject, queue): absolute, zero removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSubs {
    /// The account the subscriptions belong to.
    pub account: AccountId,
    /// The subscription subject (may hold wildcards).
    pub subject: Bytes,
    /// The queue group, if any.
    pub queue: Option<Bytes>,
    /// How many of the sender's subscriptions with this (subject, queue) are solicited links.
    pub links: u32,
    /// The members they stand for (their `LS+` weights summed; one each without a queue).
    pub weight: u32,
}

type Key = (AccountId, Bytes, Option<Bytes>);

/// Solicited-link subscriptions: this core's as last sent, the other cores' as heard.
#[derive(Debug, Default)]
pub struct HubInterest {
    sent: SentCounts<Key>,
    peers: AHashMap<Key, Vec<(usize, u32, u32)>>,
}

impl HubInterest {
    /// This core's solicited links with (subject, queue) now number `links` standing for
    /// `weight` members: the update for the other cores, when it differs from the last.
    pub fn local_changed(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        links: u32,
        weight: u32,
    ) -> Option<HubSubs> {
        let key = (account, subject.clone(), queue.cloned());
        if !self.sent.changed(key, links, weight) {
            return None;
        }
        Some(HubSubs {
            account,
            subject: subject.clone(),
            queue: queue.cloned(),
            links,
            weight,
        })
    }

    /// Applies what `peer` announced (absolute numbers).
    pub fn apply(&mut self, peer: usize, u: &HubSubs) {
        let key = (u.account, u.subject.clone(), u.queue.clone());
        let entries = self.peers.entry(key.clone()).or_default();
        entries.retain(|e| e.0 != peer);
        if u.links > 0 {
            entries.push((peer, u.links, u.weight));
        }
        if entries.is_empty() {
            self.peers.remove(&key);
        }
    }

    /// The members the other cores' solicited links of exactly (subject, queue) stand for.
    /// A core counts only once its interest updates show those subscriptions
    /// (`members(peer)`), so the two kinds of update may arrive in either order.
    pub fn peers_weight(
        &self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        members: impl Fn(usize) -> u32,
    ) -> u32 {
        if self.peers.is_empty() {
            return 0;
        }
        let Some(entries) = self.peers.get(&(account, subject.clone(), queue.cloned())) else {
            return 0;
        };
        entries
            .iter()
            .filter(|(peer, links, _)| members(*peer) >= *links)
            .map(|(_, _, weight)| *weight)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn local_changes_are_sent_once_and_peers_sum() {
        let mut h = HubInterest::default();
        let u = h.local_changed(0, &b("foo"), None, 1, 1).unwrap();
        assert!(h.local_changed(0, &b("foo"), None, 1, 1).is_none());
        let mut p = HubInterest::default();
        p.apply(1, &u);
        p.apply(2, &h.local_changed(0, &b("foo"), None, 2, 2).unwrap());
        assert_eq!(p.peers_weight(0, &b("foo"), None, |_| 2), 3);
        // Not counted until that core's interest shows the subscriptions.
        assert_eq!(
            p.peers_weight(0, &b("foo"), None, |peer| u32::from(peer == 1)),
            1
        );
        assert_eq!(p.peers_weight(0, &b("foo"), Some(&b("q")), |_| 2), 0);
        p.apply(1, &h.local_changed(0, &b("foo"), None, 0, 0).unwrap());
        p.apply(
            2,
            &HubSubs {
                links: 0,
                weight: 0,
                ..u
            },
        );
        assert!(p.peers.is_empty());
    }
}
