//! The engine's ring side: applying a batch another core pushed (interest updates, their
//! acks, forwarded messages, credits, JetStream items, quiesce markers), delivering forwarded
//! messages to local subscribers, and releasing the PING barriers interest acks satisfy.
//! Split from `engine.rs` (same `Engine`, one job here).

use super::*;

impl Engine {
    // ----- the rings ---------------------------------------------------------------------

    /// Applies a batch another core pushed onto our shared ring; returns the message bytes
    /// it delivered, to be credited back with [`Engine::credit_peer`] once we are ready for more.
    pub fn on_ring(&mut self, peer: usize, batch: RingBatch) -> u64 {
        let mut applied_interest = false;
        let mut delivered_bytes = 0;
        self.stats.ring_items_received += batch.len() as u64;
        for item in batch {
            match item {
                RingItem::Deliver(m) => {
                    delivered_bytes += m.message.len() as u64;
                    self.deliver_remote(&m);
                }
                RingItem::Js(account, item) => self.js_inbox.push((peer, account, item)),
                RingItem::Quiesce => self.quiesced[peer] += 1,
                RingItem::LeafUp {
                    name,
                    cluster,
                    account,
                } => self.evict_duplicate_links(&name, &cluster, &account, None),
                RingItem::LeafWeights(update) => self.apply_peer_link_weights(peer, &update),
                RingItem::Credit { bytes } => {
                    let inflight = &mut self.peer_inflight_bytes[peer];
                    debug_assert!(*inflight >= bytes);
                    *inflight = inflight.saturating_sub(bytes);
                }
                RingItem::Interest(update) => {
                    self.remote.apply(peer, &update);
                    self.interest_epoch += 1;
                    self.leaf_interest_changed(
                        update.account,
                        &update.subject,
                        update.queue.as_ref(),
                    );
                    applied_interest = true;
                }
                RingItem::InterestAck { seq } => {
                    let acked = &mut self.peer_acked_seq[peer];
                    *acked = (*acked).max(seq);
                    self.release_barriers();
                }
            }
        }
        if applied_interest {
            let seq = self.remote.applied_seq(peer);
            self.push_peer(peer, RingItem::InterestAck { seq });
        }
        delivered_bytes
    }

    pub(super) fn deliver_remote(&mut self, m: &RemoteMsg) {
        let local = self.local[m.account as usize].matches(&m.subject);
        let msg = Routed {
            subject: &m.subject,
            shown: m.shown_subject.as_ref(),
            reply: m.reply.as_ref(),
            header_len: m.header_len,
            message: &m.message,
            leaf_queues: None,
        };
        if m.deliver_plain {
            for key in &local.plain {
                self.deliver_local(*key, None, &msg);
            }
        }
        for name in &m.queue_groups {
            // The member that was counted may have gone meanwhile; then the group's copy is dropped.
            if let Some((_, members)) = local.queues.iter().find(|(n, _)| n == name) {
                if let Some(key) = self.pick_local_member(members, None) {
                    self.deliver_local(key, None, &msg);
                }
            }
        }
        self.flush_leaf(&msg);
    }

    pub(super) fn release_barriers(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.blocked.len() {
            let (conn, seq) = self.blocked[i];
            if self.barrier_met(seq) {
                self.blocked.swap_remove(i);
                self.session_mut(conn).barrier_seq = None;
                self.send_pong(conn);
                self.events.unblocked.push(conn);
            } else {
                i += 1;
            }
        }
    }
}
