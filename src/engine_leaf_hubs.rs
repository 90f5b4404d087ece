//! Interest heard from hubs stays away from the other hubs: a link we solicited is
//! announced only our clients' and accepted leafs' interest, as nats-server's spoke side
//! (loop-detection subjects excepted). This core's solicited-link subscriptions are read
//! off its sessions; the other cores' come over the ring (`leaf::hubs`). Split from
//! `engine_leaf.rs` (same `Engine`, one job here).

use super::*;
use crate::leaf::hubs::HubSubs;
use crate::leaf::{self, LeafRole};

impl Engine {
    /// Whether `conn` is a link this server solicited (its other side is a hub).
    pub(super) fn is_solicited_link(&self, conn: ConnId) -> bool {
        self.sessions[conn as usize]
            .as_ref()
            .and_then(|s| s.leaf.as_ref())
            .is_some_and(|l| matches!(l.role, LeafRole::Solicit(_)))
    }

    /// This core's solicited links subscribed to exactly (subject, queue) in `account`:
    /// (how many, the members they stand for).
    fn hub_subs_here(
        &self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) -> (u32, u32) {
        let sid = leaf::link_sid(subject, queue.map(|q| &q[..]));
        let (mut links, mut weight) = (0u32, 0u32);
        for c in &self.leaf.links {
            let Some(s) = self.sessions[*c as usize].as_ref() else {
                continue;
            };
            let Some(l) = s.leaf.as_ref() else { continue };
            if s.account != account
                || !matches!(l.role, LeafRole::Solicit(_))
                || !s.subs.contains_key(&sid)
            {
                continue;
            }
            links += 1;
            let w = match queue {
                Some(_) => l.queue_weights.get(&sid).copied().unwrap_or(1),
                None => 1,
            };
            weight = weight.saturating_add(w);
        }
        (links, weight)
    }

    /// The members of (subject, queue) that hubs stand for, on every core: what a solicited
    /// link is not told about.
    pub(super) fn hub_members(
        &self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) -> u32 {
        if leaf::is_loop_subject(subject) {
            // nats-server lets `$LDS.` interest through to find loops across hubs.
            return 0;
        }
        let here = self.hub_subs_here(account, subject, queue).1;
        let peers = self
            .leaf
            .hubs
            .peers_weight(account, subject, queue, |peer| {
                self.remote.peer_count(peer, account, subject, queue)
            });
        here.saturating_add(peers)
    }

    /// This core's solicited-link subscriptions of (subject, queue) changed, or are about
    /// to by `pending` (links, weight) not yet stored: tell the other cores. Sent before
    /// the interest update of a new subscription and after that of a removed one, so a
    /// peer never counts a hub's interest as a client's.
    pub(super) fn hub_subs_changed(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        pending: (u32, u32),
    ) {
        if self.cfg.n_cores < 2 {
            return;
        }
        let (links, weight) = self.hub_subs_here(account, subject, queue);
        let Some(update) = self.leaf.hubs.local_changed(
            account,
            subject,
            queue,
            links + pending.0,
            weight.saturating_add(pending.1),
        ) else {
            return;
        };
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(peer, RingItem::LeafHubs(update.clone()));
            }
        }
    }

    /// What another core said about its solicited-link subscriptions.
    pub(super) fn apply_peer_hub_subs(&mut self, peer: usize, update: &HubSubs) {
        self.leaf.hubs.apply(peer, update);
        self.leaf_interest_changed(update.account, &update.subject, update.queue.as_ref());
    }
}
