//! The engine's publishing and routing: a PUB (or an internal publish) is matched against
//! local subscriptions and the other cores' interest, queue groups pick one member across all
//! cores, local subscribers get the message in their outbound buffer and each interested core
//! one `Deliver` item; no-responders. Split from `engine.rs` (same `Engine`, one job here).

use super::*;

impl Engine {
    // ----- publishing and routing --------------------------------------------------------

    pub(super) fn on_pub(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        reply: Option<Bytes>,
        header_len: usize,
        message: Bytes,
    ) {
        if self.pub_denied(conn, &subject) {
            return;
        }
        self.send_ok(conn);
        if let Some(r) = &reply {
            if RESERVED_REPLY_PREFIXES.iter().any(|p| r.starts_with(p)) {
                let text = format!(
                    "Permissions Violation for Publish with Reply of {:?}",
                    String::from_utf8_lossy(r)
                );
                self.send_err(conn, &text);
                return;
            }
        }
        if self.session(conn).opts.pedantic && !subject::is_valid_publish_subject(&subject) {
            // Pedantic clients are told, but the publish still goes through (nats-server).
            self.send_err(conn, "Invalid Publish Subject");
        }
        self.count_inbound(conn, message.len());
        let msg = Routed {
            subject: &subject,
            shown: None,
            reply: reply.as_ref(),
            header_len,
            message: &message,
            leaf_queues: None,
        };
        let account = self.session(conn).account;
        let delivered = self.route(Some(conn), account, &msg);
        if delivered == 0 {
            if let Some(reply) = &reply {
                if self.refuse_jetstream(account, &subject, reply) {
                    return;
                }
                self.no_responders(conn, &subject, reply);
            }
        }
    }

    /// Counts a message a connection published (core and connection counters).
    pub(super) fn count_inbound(&mut self, conn: ConnId, bytes: usize) {
        self.stats.in_msgs += 1;
        self.stats.in_bytes += bytes as u64;
        let s = self.session_mut(conn);
        s.in_msgs += 1;
        s.in_bytes += bytes as u64;
    }

    /// Delivers a publish from this core in `account`: to local subscribers directly, to
    /// other cores over their rings, and into the accounts that import it (a subject in this
    /// server's JetStream domain, `$JS.<domain>.API.>`, first becomes `$JS.API.>`). Returns
    /// how many deliveries (local copies plus forwards) it made.
    #[inline]
    pub(super) fn route(
        &mut self,
        publisher: Option<ConnId>,
        account: AccountId,
        msg: &Routed<'_>,
    ) -> usize {
        if let Some(mapped) = self.map_js_domain(msg.subject) {
            let msg = Routed {
                subject: &mapped,
                ..*msg
            };
            return self.route_accounts(publisher, account, &msg);
        }
        self.route_accounts(publisher, account, msg)
    }

    fn route_accounts(
        &mut self,
        publisher: Option<ConnId>,
        account: AccountId,
        msg: &Routed<'_>,
    ) -> usize {
        let delivered = self.route_in(publisher, account, msg);
        if self.accounts.get(account).crosses() {
            return delivered + self.route_imports(account, msg);
        }
        delivered
    }

    /// [`Engine::route`] within one account only (leaf links included: one LMSG per link).
    pub(super) fn route_in(
        &mut self,
        publisher: Option<ConnId>,
        account: AccountId,
        msg: &Routed<'_>,
    ) -> usize {
        let delivered = self.route_in_pass(publisher, account, msg);
        self.flush_leaf(msg);
        delivered
    }

    fn route_in_pass(
        &mut self,
        publisher: Option<ConnId>,
        account: AccountId,
        msg: &Routed<'_>,
    ) -> usize {
        if subject::has_empty_token(msg.subject) {
            return 0;
        }
        let local = self.local[account as usize].matches(msg.subject);
        let remote = if self.cfg.n_cores > 1 && !self.remote.is_empty(account) {
            Some(self.remote.matches(account, msg.subject))
        } else {
            None
        };
        if local.is_empty() && remote.as_ref().is_none_or(|r| r.is_empty()) {
            return 0;
        }
        let mut delivered = 0;
        for key in &local.plain {
            delivered += self.deliver_local(*key, publisher, msg) as usize;
        }
        let Some(remote) = remote else {
            for (name, members) in &local.queues {
                if !queue_allowed(msg, name) {
                    continue;
                }
                if let Some(key) = self.pick_local_member(members, publisher) {
                    delivered += self.deliver_local(key, publisher, msg) as usize;
                }
            }
            return delivered;
        };
        let mut routes = std::mem::take(&mut self.route_scratch);
        for p in &remote.plain {
            routes[p.peer].plain = true;
        }
        // Queue groups: one delivery per group name across all cores, weighted by members.
        for (name, members) in &local.queues {
            if !queue_allowed(msg, name) {
                continue;
            }
            let remote_members = remote
                .queues
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| m.as_slice())
                .unwrap_or(&[]);
            delivered += self.pick_queue_member(
                account,
                name,
                members,
                remote_members,
                publisher,
                msg,
                &mut routes,
            );
        }
        for (name, remote_members) in &remote.queues {
            if local.queues.iter().any(|(n, _)| n == name) || !queue_allowed(msg, name) {
                continue;
            }
            delivered += self.pick_queue_member(
                account,
                name,
                &[],
                remote_members,
                publisher,
                msg,
                &mut routes,
            );
        }
        for (peer, route) in routes.iter_mut().enumerate() {
            if !route.plain && route.queues.is_empty() {
                continue;
            }
            let item = RingItem::Deliver(RemoteMsg {
                account,
                subject: msg.subject.clone(),
                shown_subject: msg.shown.cloned(),
                reply: msg.reply.cloned(),
                header_len: msg.header_len,
                message: msg.message.clone(),
                deliver_plain: route.plain,
                queue_groups: std::mem::take(&mut route.queues),
            });
            route.plain = false;
            self.peer_inflight_bytes[peer] += msg.message.len() as u64;
            self.push_peer(peer, item);
            delivered += 1;
        }
        self.route_scratch = routes;
        delivered
    }

    /// Picks the one member of a queue group that gets a message, among this core's
    /// members and the other cores' (weighted by their member counts). As nats-server:
    /// clients (and internal members) on any core first; only when there are none, the leaf
    /// links of every core, each weighed by its `LS+` weight (`leaf::weights`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pick_queue_member(
        &mut self,
        account: AccountId,
        name: &Bytes,
        local_members: &[SubKey],
        remote_members: &[PeerInterest],
        publisher: Option<ConnId>,
        msg: &Routed<'_>,
        routes: &mut [PeerRoute],
    ) -> usize {
        let peers = self.peer_members(account, name, msg.subject, remote_members);
        let picked = self.pick_among(name, local_members, &peers, publisher, msg, routes);
        self.give_back_peer_members(peers);
        picked
    }

    fn pick_among(
        &mut self,
        name: &Bytes,
        local_members: &[SubKey],
        peers: &[(usize, u64, u64)],
        publisher: Option<ConnId>,
        msg: &Routed<'_>,
        routes: &mut [PeerRoute],
    ) -> usize {
        let client = |e: &Engine, k: SubKey| e.eligible(k, publisher) && !e.is_link_sub(k);
        let local_clients = local_members.iter().filter(|k| client(self, **k)).count() as u64;
        let remote_clients: u64 = peers.iter().map(|p| p.1).sum();
        let links = local_clients + remote_clients == 0;
        let candidate = |e: &Engine, k: SubKey| {
            e.eligible(k, publisher)
                && (if links {
                    e.is_link_sub(k)
                } else {
                    !e.is_link_sub(k)
                })
        };
        let peer_weight = |p: &(usize, u64, u64)| if links { p.2 } else { p.1 };
        let local_weight = if links {
            local_members
                .iter()
                .filter(|k| candidate(self, **k))
                .map(|k| self.queue_weight(*k))
                .sum::<u64>()
        } else {
            local_clients
        };
        let total = local_weight + peers.iter().map(peer_weight).sum::<u64>();
        if total == 0 {
            return 0;
        }
        let mut pick = self.rng.random_range(0..total);
        if pick < local_weight {
            let key = self
                .nth_by_weight(local_members, pick, candidate)
                .expect("pick is below the eligible weight");
            return self.deliver_local(key, publisher, msg) as usize;
        }
        pick -= local_weight;
        for p in peers {
            if pick < peer_weight(p) {
                routes[p.0].queues.push(name.clone());
                // The forward itself is counted once per peer by the caller.
                return 0;
            }
            pick -= peer_weight(p);
        }
        unreachable!("pick is below the total weight")
    }

    pub(super) fn pick_local_member(
        &mut self,
        members: &[SubKey],
        publisher: Option<ConnId>,
    ) -> Option<SubKey> {
        let skip_links = members
            .iter()
            .any(|k| self.eligible(*k, publisher) && !self.is_link_sub(*k));
        let candidate =
            |e: &Engine, k: SubKey| e.eligible(k, publisher) && !(skip_links && e.is_link_sub(k));
        let eligible = members
            .iter()
            .filter(|k| candidate(self, **k))
            .map(|k| self.queue_weight(*k))
            .sum::<u64>();
        if eligible == 0 {
            return None;
        }
        let pick = self.rng.random_range(0..eligible);
        self.nth_by_weight(members, pick, candidate)
    }

    /// How many members a queue subscription stands for: a leaf link's by the weight its
    /// `LS+` announced (as nats-server, which repeats such a member `weight` times), others 1.
    fn queue_weight(&self, key: SubKey) -> u64 {
        if self.leaf_link_count() == 0 {
            return 1;
        }
        let Some(entry) = self.subs[key.slot as usize].as_ref() else {
            return 1;
        };
        let SubTarget::Conn(c) = entry.target else {
            return 1;
        };
        self.sessions[c as usize]
            .as_ref()
            .and_then(|s| s.leaf.as_ref())
            .and_then(|l| l.queue_weights.get(&entry.sid))
            .map_or(1, |w| u64::from(*w))
    }

    /// The member at cumulative weight `pick` among the `candidate` members.
    fn nth_by_weight(
        &self,
        members: &[SubKey],
        mut pick: u64,
        candidate: impl Fn(&Engine, SubKey) -> bool,
    ) -> Option<SubKey> {
        for k in members.iter().copied().filter(|k| candidate(self, *k)) {
            let w = self.queue_weight(k);
            if pick < w {
                return Some(k);
            }
            pick -= w;
        }
        None
    }

    /// Whether a subscription is a leaf link's (interest from across the link).
    pub(super) fn is_link_sub(&self, key: SubKey) -> bool {
        match self.subs[key.slot as usize].as_ref().map(|e| e.target) {
            Some(SubTarget::Conn(c)) => self.sessions[c as usize]
                .as_ref()
                .is_some_and(|s| s.leaf.is_some()),
            _ => false,
        }
    }

    /// Whether a subscription may receive a message from `publisher` (echo, liveness).
    pub(super) fn eligible(&self, key: SubKey, publisher: Option<ConnId>) -> bool {
        let Some(entry) = self.subs[key.slot as usize].as_ref() else {
            return false;
        };
        if entry.generation != key.generation {
            return false;
        }
        let SubTarget::Conn(conn) = entry.target else {
            return true;
        };
        let Some(s) = self.sessions[conn as usize].as_ref() else {
            return false;
        };
        s.is_open() && (s.opts.echo || publisher != Some(conn))
    }

    /// Writes one MSG/HMSG for a local subscription; false when it was not eligible.
    pub(super) fn deliver_local(
        &mut self,
        key: SubKey,
        publisher: Option<ConnId>,
        msg: &Routed<'_>,
    ) -> bool {
        if !self.eligible(key, publisher) {
            return false;
        }
        let entry = self.subs[key.slot as usize]
            .as_mut()
            .expect("eligible sub is live");
        entry.delivered += 1;
        let finished = entry.max_msgs.is_some_and(|max| entry.delivered >= max);
        let conn = match entry.target {
            SubTarget::Conn(conn)
                if self.sessions[conn as usize]
                    .as_ref()
                    .is_some_and(|s| s.leaf.is_some()) =>
            {
                let queue = entry.queue.clone();
                self.leaf_deliver(conn, queue);
                return true;
            }
            SubTarget::Conn(conn) => conn,
            SubTarget::Internal(sys::SYS_TARGET) => {
                return self.accept_sys_request(publisher, msg);
            }
            SubTarget::Internal(target) => {
                self.internal_inbox.push(InternalDelivery {
                    target,
                    account: entry.account,
                    // As a client would see it: a consumer delivery shows the stored
                    // subject (a mirror or source stores it under that name).
                    subject: msg.shown.unwrap_or(msg.subject).clone(),
                    reply: msg.reply.cloned(),
                    header_len: msg.header_len,
                    message: msg.message.clone(),
                });
                return true;
            }
        };
        let s = self.sessions[conn as usize]
            .as_mut()
            .expect("eligible sub has a live session");
        if let Some(p) = s.perms.as_mut() {
            if p.delivery_denied(msg.subject, entry.queue.as_deref()) {
                entry.delivered -= 1;
                return false;
            }
            if let (true, Some(reply)) = (p.tracks_replies(), msg.reply) {
                p.on_request_delivered(reply, self.clock_ns);
            }
        }
        let before = s.pending_bytes();
        s.out_room(256);
        let shown = msg.shown.unwrap_or(msg.subject);
        let reply = msg.reply.map(|r| &r[..]);
        let with_headers = msg.header_len > 0 && s.opts.headers;
        let body = if msg.header_len > 0 && !with_headers {
            &msg.message[msg.header_len..]
        } else {
            &msg.message[..]
        };
        if body.len() >= VECTORED_PAYLOAD_BYTES {
            // Large: the control line goes into the buffer, the payload is queued as the
            // segment it already is (the socket write gathers them), CR LF follows it.
            if with_headers {
                encode::write_hmsg_head(
                    &mut s.out,
                    shown,
                    &entry.sid,
                    reply,
                    msg.header_len,
                    body.len(),
                    0,
                );
            } else {
                encode::write_msg_head(&mut s.out, shown, &entry.sid, reply, body.len(), 0);
            }
            let payload = if with_headers || msg.header_len == 0 {
                msg.message.clone()
            } else {
                msg.message.slice(msg.header_len..)
            };
            s.queue_payload(payload);
            s.out.extend_from_slice(b"\r\n");
        } else if with_headers {
            encode::write_hmsg(
                &mut s.out,
                shown,
                &entry.sid,
                reply,
                msg.header_len,
                msg.message,
            );
        } else {
            encode::write_msg(&mut s.out, shown, &entry.sid, reply, body);
        }
        // As nats-server counts: the message bytes delivered (headers only when sent).
        let delivered_bytes = if msg.header_len > 0 && !s.opts.headers {
            msg.message.len() - msg.header_len
        } else {
            msg.message.len()
        } as u64;
        debug_assert!(s.pending_bytes() > before);
        let over = self.count_outbound(conn, delivered_bytes);
        if finished {
            self.remove_sub(key);
        }
        if over {
            let s = self.session(conn);
            tracing::warn!(
                cid = s.client_id,
                pending_bytes = s.pending_bytes(),
                max_pending_bytes = self.cfg.limits.max_pending_bytes,
                "slow consumer detected: max pending exceeded"
            );
            self.stats.slow_consumers += 1;
            self.close(conn, CloseReason::SlowConsumerPendingBytes, false);
        }
        true
    }

    /// Counts a delivery of `bytes` queued for `conn` and checks its pending bytes: past 3/4
    /// of `max_pending_bytes` it is congested (the producer stalls); true when past the limit
    /// (the caller drops it as a slow consumer).
    pub(super) fn count_outbound(&mut self, conn: ConnId, bytes: u64) -> bool {
        let s = self.sessions[conn as usize]
            .as_mut()
            .expect("a delivery to a live session");
        s.out_msgs += 1;
        s.out_bytes += bytes;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += bytes;
        let pending = s.pending_bytes();
        let over = pending > self.cfg.limits.max_pending_bytes;
        if !over && pending > self.stall_threshold_bytes() && !self.congested.contains(&conn) {
            self.congested.push(conn);
        }
        self.signal_writable(conn);
        over
    }

    /// Answers a request nobody received with the 503 status, on a plain subscription of
    /// the requester that matches the reply subject (nats-server's rule).
    pub(super) fn no_responders(&mut self, conn: ConnId, subject: &Bytes, reply: &Bytes) {
        let s = self.session(conn);
        if !(s.opts.headers && s.opts.no_responders && s.is_open()) {
            return;
        }
        let sid = s.subs.iter().find_map(|(sid, key)| {
            let e = self.subs[key.slot as usize].as_ref()?;
            (e.queue.is_none() && subject::subject_matches(&e.subject, reply)).then(|| sid.clone())
        });
        if let Some(sid) = sid {
            let s = self.session_mut(conn);
            encode::write_no_responders(&mut s.out, reply, &sid, subject);
            self.signal_writable(conn);
        }
    }
}

/// Whether a message may go to queue group `name`: all groups, except for a message from a
/// leaf link, which names the groups whose one delivery falls to this side.
fn queue_allowed(msg: &Routed<'_>, name: &Bytes) -> bool {
    msg.leaf_queues.is_none_or(|qs| qs.contains(name))
}
