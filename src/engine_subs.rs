//! The engine's subscriptions: SUB/UNSUB from clients, server-side (internal) subscriptions,
//! the per-account sublist entries with their generations, and the interest updates other
//! cores hear of. Split from `engine.rs` (same `Engine`, one job here).

use super::*;

impl Engine {
    pub(super) fn on_sub(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    ) {
        tracing::trace!(core = self.cfg.core_id, conn, subject = ?subject, "SUB");
        if !subject::is_valid_subscribe_subject(&subject) {
            self.send_err(conn, "Invalid Subject");
            return;
        }
        if self.sub_denied(conn, &subject, queue.as_deref()) {
            return;
        }
        let s = self.session(conn);
        let account = s.account;
        let max_subs = match self.accounts.get(account).max_subscriptions {
            Some(m) if self.cfg.limits.max_subscriptions == 0 => m,
            Some(m) => m.min(self.cfg.limits.max_subscriptions),
            None => self.cfg.limits.max_subscriptions,
        };
        if s.subs.contains_key(&sid) {
            // nats-server keeps the first subscription of a reused sid.
            self.send_ok(conn);
            return;
        }
        if max_subs > 0 && s.subs.len() >= max_subs {
            self.send_err(conn, "maximum subscriptions exceeded");
            return;
        }
        self.insert_sub(SubTarget::Conn(conn), account, sid, subject, queue);
        self.send_ok(conn);
    }

    /// Stores a subscription under a fresh generation, indexes it and announces new
    /// interest to the other cores.
    pub(super) fn insert_sub(
        &mut self,
        target: SubTarget,
        account: AccountId,
        sid: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
    ) -> SubKey {
        let key = self.insert_sub_unannounced(target, account, sid, subject.clone(), queue.clone());
        if let Some(update) = self.local_interest.add(account, &subject, queue.as_ref()) {
            self.interest_epoch += 1;
            self.broadcast_interest(update);
        }
        self.leaf_interest_changed(account, &subject, queue.as_ref());
        key
    }

    /// Stores and indexes a subscription on this core only: no other core hears of it.
    pub(super) fn insert_sub_unannounced(
        &mut self,
        target: SubTarget,
        account: AccountId,
        sid: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
    ) -> SubKey {
        let session_sid = sid.clone();
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let entry = SubEntry {
            target,
            account,
            sid,
            subject: subject.clone(),
            queue: queue.clone(),
            max_msgs: None,
            delivered: 0,
            generation,
        };
        let slot = match self.free_subs.pop() {
            Some(slot) => {
                self.subs[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.subs.push(Some(entry));
                (self.subs.len() - 1) as u32
            }
        };
        let key = SubKey { slot, generation };
        self.local[account as usize].insert(&subject, queue.as_deref(), key);
        if let SubTarget::Conn(conn) = target {
            self.session_mut(conn).subs.insert(session_sid, key);
        }
        key
    }

    /// Subscribes a server-side component to `subject` (valid subscribe subject) on this
    /// core; its messages come out of [`Engine::take_internal`]. Announced to every core
    /// like a client's interest, so publishes anywhere are forwarded here.
    pub fn add_internal_sub(&mut self, subject: &Bytes, target: InternalTarget) -> SubKey {
        self.add_internal_sub_in(GLOBAL, subject, target)
    }

    /// [`Engine::add_internal_sub`] in another account.
    pub fn add_internal_sub_in(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        target: InternalTarget,
    ) -> SubKey {
        debug_assert!(subject::is_valid_subscribe_subject(subject));
        self.insert_sub(
            SubTarget::Internal(target),
            account,
            Bytes::new(),
            subject.clone(),
            None,
        )
    }

    /// Withdraws a server-side subscription.
    pub fn remove_internal_sub(&mut self, key: SubKey) {
        self.remove_sub(key);
    }

    /// Whether internal deliveries or JetStream items wait for the stream host.
    pub fn has_internal_work(&self) -> bool {
        !self.internal_inbox.is_empty() || !self.js_inbox.is_empty()
    }

    /// JetStream items of `$G` other cores sent since the last call, with their sender.
    pub fn take_js(&mut self, into: &mut Vec<(usize, crate::js_ring::JsItem)>) {
        self.take_js_in(GLOBAL, into)
    }

    /// Sends a JetStream item of `$G` to another core over our ring to it.
    pub fn send_js(&mut self, peer: usize, item: crate::js_ring::JsItem) {
        self.send_js_in(peer, GLOBAL, item)
    }

    /// Messages for internal subscribers of `$G` matched since the last call.
    pub fn take_internal(&mut self, into: &mut Vec<InternalDelivery>) {
        self.take_internal_in(GLOBAL, into)
    }

    /// Publishes a message from the server itself (API replies, publish acks) through the
    /// normal routing; returns the number of deliveries.
    pub fn publish_internal(
        &mut self,
        subject: &Bytes,
        reply: Option<&Bytes>,
        header_len: usize,
        message: &Bytes,
    ) -> usize {
        self.publish_internal_in(GLOBAL, subject, reply, header_len, message)
    }

    /// Publishes a message routed by `to` but shown to subscribers as `shown` (JetStream
    /// consumer deliveries keep the stored subject while going to an inbox or deliver subject).
    pub fn publish_internal_as(
        &mut self,
        to: &Bytes,
        shown: &Bytes,
        reply: Option<&Bytes>,
        header_len: usize,
        message: &Bytes,
    ) -> usize {
        self.publish_internal_as_in(GLOBAL, to, shown, reply, header_len, message)
    }

    /// Whether any subscription on any core (client or internal) of `$G` matches `subject`.
    pub fn has_interest(&mut self, subject: &Bytes) -> bool {
        self.has_interest_in(GLOBAL, subject)
    }

    pub(super) fn on_unsub(&mut self, conn: ConnId, sid: Bytes, max_msgs: Option<u64>) {
        tracing::trace!(core = self.cfg.core_id, conn, sid = ?sid, "UNSUB");
        if let Some(&key) = self.session(conn).subs.get(&sid) {
            let entry = self.subs[key.slot as usize]
                .as_mut()
                .expect("session sub points at a live entry");
            match max_msgs {
                Some(max) if max > entry.delivered => entry.max_msgs = Some(max),
                _ => self.remove_sub(key),
            }
        }
        self.send_ok(conn);
    }

    pub(super) fn remove_sub(&mut self, key: SubKey) {
        let Some(entry) = self.subs[key.slot as usize].take() else {
            return;
        };
        debug_assert_eq!(entry.generation, key.generation);
        self.free_subs.push(key.slot);
        let removed =
            self.local[entry.account as usize].remove(&entry.subject, entry.queue.as_deref(), &key);
        debug_assert!(removed);
        let mut link_queue = false;
        if let SubTarget::Conn(conn) = entry.target {
            if let Some(s) = self.sessions[conn as usize].as_mut() {
                s.subs.remove(&entry.sid);
                if let (Some(link), true) = (s.leaf.as_mut(), entry.queue.is_some()) {
                    link_queue = link.queue_weights.remove(&entry.sid).is_some();
                }
            }
        }
        if let Some(update) =
            self.local_interest
                .remove(entry.account, &entry.subject, entry.queue.as_ref())
        {
            // Interest went away: answers remembered for the old epoch are stale too.
            self.interest_epoch += 1;
            self.broadcast_interest(update);
        }
        self.leaf_interest_changed(entry.account, &entry.subject, entry.queue.as_ref());
        if let (true, Some(queue)) = (link_queue, &entry.queue) {
            self.link_weights_changed(entry.account, &entry.subject, queue);
        }
    }

    pub(super) fn broadcast_interest(&mut self, update: InterestUpdate) {
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(peer, RingItem::Interest(update.clone()));
            }
        }
    }
}
