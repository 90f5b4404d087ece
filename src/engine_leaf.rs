//! The engine's side of leaf node links (hub and leaf roles alike once the handshake is
//! done): a link is a session whose input is the leaf protocol. The other side's interest
//! (`LS+`) becomes ordinary subscriptions owned by the link's connection, so routing, queue
//! picks and cross-core forwarding treat it like any subscriber; a message for a link is
//! written as one `LMSG` per message per link (all of its matching subscriptions and the
//! queue groups picked on it in one line). This server's interest (local plus what other
//! cores announced, minus the link's own) is announced on every link as `LS+`/`LS-`.
//! Split from `engine.rs` (same `Engine`, one job here).

use std::sync::Arc;

use ahash::AHashSet;

use super::*;
use crate::leaf::wire::{self, LeafConnect, LeafInfo};
use crate::leaf::{self, LeafLink, LeafOp, LeafRole, LeafSettings, LinkState};

/// What nats-server sends when a link would close a loop.
fn loop_err(account: &str) -> String {
    format!("Loop detected for leafnode account={account:?}. Delaying attempt to reconnect for 30s")
}

/// nats-server's -ERR to a leaf whose cluster (or standalone server) name is its own.
const SAME_CLUSTER_ERR: &str = "remote leafnode has same cluster name";

/// nats-server's -ERR to a link replaced by a newer one from the same server.
const DUPLICATE_ERR: &str = "Duplicate Remote LeafNode Connection";

/// The engine's leaf state on one core.
#[derive(Default)]
pub(crate) struct LeafState {
    settings: Option<Arc<LeafSettings>>,
    /// Leaf links on this core.
    links: Vec<ConnId>,
    /// Deliveries to links during one routing pass: (link, queue group picked on it).
    scratch: Vec<(ConnId, Option<Bytes>)>,
    /// A JetStream delivery's reply with its stored subject after `@` (see `flush_leaf`).
    reply_scratch: Vec<u8>,
    /// Link members of queue groups on this core and the others (cross-core picks).
    weights: leaf::weights::QueueWeights,
    /// Per other core for one queue pick: (core, client members, link weight).
    peer_scratch: Vec<(usize, u64, u64)>,
    /// `$JS.<domain>.API.` when JetStream has a domain (mapped to `$JS.API.`).
    js_domain_prefix: Option<Bytes>,
}

impl Engine {
    /// Turns leaf links on (the same settings on every core).
    pub fn set_leaf(&mut self, settings: Option<Arc<LeafSettings>>) {
        self.leaf.settings = settings;
    }

    /// Sets the JetStream domain: publishes to `$JS.<domain>.API.<rest>` are routed as
    /// `$JS.API.<rest>` (nats-server's domain mapping), from clients and links alike.
    pub fn set_js_domain(&mut self, domain: Option<&str>) {
        self.leaf.js_domain_prefix = domain.map(|d| Bytes::from(format!("$JS.{d}.API.")));
    }

    /// The `$JS.API.` subject a domain API subject stands for, if it is one.
    pub(super) fn map_js_domain(&self, subject: &Bytes) -> Option<Bytes> {
        let prefix = self.leaf.js_domain_prefix.as_ref()?;
        let rest = subject.strip_prefix(&prefix[..])?;
        let mut mapped = Vec::with_capacity(8 + rest.len());
        mapped.extend_from_slice(b"$JS.API.");
        mapped.extend_from_slice(rest);
        Some(Bytes::from(mapped))
    }

    // Sessions of clients (`open_conn`) and links alike:

    /// A session for a new socket, with the next client id of this core.
    pub(super) fn new_session(&mut self, client_ip: &str, now_ns: u64) -> Session {
        let client_id = self.next_client_seq * self.cfg.n_cores as u64 + self.cfg.core_id as u64;
        self.next_client_seq += 1;
        self.stats.total_connections += 1;
        let limits = &self.cfg.limits;
        Session::new(
            client_id,
            client_ip.to_string(),
            limits.max_control_line_bytes,
            limits.max_payload_bytes,
            now_ns,
        )
    }

    /// Gives a new session a connection id (a freed one first) and wakes its writer.
    pub(super) fn store_session(&mut self, session: Session) -> ConnId {
        let id = match self.free_sessions.pop() {
            Some(id) => {
                self.sessions[id as usize] = Some(session);
                id
            }
            None => {
                self.sessions.push(Some(session));
                (self.sessions.len() - 1) as ConnId
            }
        };
        self.live_sessions += 1;
        self.signal_writable(id);
        id
    }

    /// Registers a leaf link's socket: `Accept` (hub) queues the leaf INFO, `Solicit`
    /// waits for the hub's. `account` is the local account bound to the link.
    pub fn open_leaf(
        &mut self,
        ip: &str,
        port: u16,
        now_ns: u64,
        role: LeafRole,
        account: &str,
    ) -> ConnId {
        let settings = self
            .leaf
            .settings
            .clone()
            .expect("leaf links need Engine::set_leaf");
        let mut s = self.new_session(ip, now_ns);
        let client_id = s.client_id;
        s.client_port = port;
        s.opts.echo = false;
        s.opts.headers = true;
        s.opts.verbose = false;
        s.opts.pedantic = false;
        s.connected = true;
        if matches!(role, LeafRole::Accept) {
            let nonce = self.leaf_nonce();
            s.nonce = Some(nonce.clone());
            // No CONNECT in time: -ERR 'Authentication Timeout' (`check_auth_timeouts`).
            s.auth_deadline_ns = Some(now_ns.saturating_add(settings.auth_timeout_ns));
            let info = LeafInfo {
                server_id: settings.server_id.clone(),
                server_name: settings.server_name.clone(),
                version: settings.version.clone(),
                proto: 1,
                host: settings.listen_host.clone(),
                port: settings.listen_port,
                headers: true,
                auth_required: true,
                tls_required: settings.tls_required,
                tls_verify: settings.tls_verify,
                max_payload: settings.max_payload,
                client_id,
                nonce: Some(nonce),
                jetstream: settings.jetstream,
                domain: settings.domain.clone(),
                cluster: None,
                leafnode_urls: vec![format!("{}:{}", settings.listen_host, settings.listen_port)],
                compression: Some(wire::COMPRESSION_OFF.into()),
            };
            wire::write_json_line(&mut s.out, "INFO", &info);
        }
        s.leaf = Some(Box::new(LeafLink::new(
            role,
            account.to_string(),
            &settings,
        )));
        let id = self.store_session(s);
        self.leaf.links.push(id);
        // The link announces and routes in its local account (config checks it exists).
        if account != crate::leaf::GLOBAL_ACCOUNT && self.bind_account(id, account).is_err() {
            self.close(id, CloseReason::ServerShutdown, false);
            return id;
        }
        if self.shutting_down {
            self.close(id, CloseReason::ServerShutdown, false);
        }
        tracing::info!(cid = client_id, ip, "leafnode connection created");
        id
    }

    /// Leaf links on this core.
    pub fn leaf_link_count(&self) -> usize {
        self.leaf.links.len()
    }

    /// Whether `conn` is a leaf link whose handshake is done.
    pub fn leaf_link_up(&self, conn: ConnId) -> bool {
        self.sessions[conn as usize]
            .as_ref()
            .and_then(|s| s.leaf.as_ref())
            .is_some_and(|l| l.is_up())
    }

    /// Forgets a closing link (called from `close`).
    pub(super) fn leaf_closed(&mut self, conn: ConnId) {
        if let Some(i) = self.leaf.links.iter().position(|c| *c == conn) {
            self.leaf.links.swap_remove(i);
            let s = self.session(conn);
            tracing::info!(
                cid = s.client_id,
                remote = s.leaf.as_ref().map_or("", |l| l.remote_name.as_str()),
                "leafnode connection closed"
            );
        }
    }

    pub(super) fn on_leaf_read(&mut self, conn: ConnId, buf: &mut BytesMut) -> ReadStatus {
        loop {
            let s = self.session_mut(conn);
            if s.close.is_some() {
                return ReadStatus::Closed;
            }
            if s.auth_pending.is_some() {
                // The CONNECT's bcrypt password is being checked off the core.
                return ReadStatus::Blocked;
            }
            let link = s.leaf.as_mut().expect("a leaf session");
            match link.parser.next_op(buf) {
                Ok(Some(op)) => self.on_leaf_op(conn, op),
                Ok(None) => return ReadStatus::Continue,
                Err(e) => {
                    tracing::warn!(error = %e, "leafnode parser error");
                    self.send_err(conn, "Unknown Protocol Operation");
                    self.close(conn, CloseReason::ProtocolViolation, true);
                    return ReadStatus::Closed;
                }
            }
        }
    }

    fn on_leaf_op(&mut self, conn: ConnId, op: LeafOp) {
        let state = self.link(conn).state;
        match op {
            LeafOp::Info(json) => {
                if state == LinkState::AwaitInfo {
                    self.on_hub_info(conn, &json);
                }
            }
            LeafOp::Connect(json) => {
                if state == LinkState::AwaitConnect {
                    self.on_leaf_connect(conn, &json);
                }
            }
            LeafOp::Ping => {
                self.session_mut(conn).out.extend_from_slice(encode::PONG);
                self.signal_writable(conn);
            }
            LeafOp::Pong => self.session_mut(conn).pings_outstanding = 0,
            LeafOp::Ok => {}
            LeafOp::Err(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                tracing::warn!(error = %text, "leafnode link got -ERR");
                let reason = if text.contains("Loop detected") || text == SAME_CLUSTER_ERR {
                    CloseReason::LeafLoopDetected
                } else {
                    CloseReason::ProtocolViolation
                };
                self.close(conn, reason, false);
            }
            _ if state != LinkState::Up => {
                self.close(conn, CloseReason::ProtocolViolation, false);
            }
            LeafOp::Sub { subject, queue } => self.on_leaf_sub(conn, subject, queue),
            LeafOp::Unsub { subject, queue } => {
                let sid = leaf::link_sid(&subject, queue.as_deref());
                // (`remove_sub` forgets the queue weight and tells the other cores.)
                if let Some(&key) = self.session(conn).subs.get(&sid) {
                    self.remove_sub(key);
                }
            }
            LeafOp::Msg {
                subject,
                reply,
                queues,
                header_len,
                message,
            } => self.on_leaf_msg(conn, subject, reply, queues, header_len, message),
        }
    }

    fn link(&self, conn: ConnId) -> &LeafLink {
        self.session(conn).leaf.as_deref().expect("a leaf session")
    }

    fn on_hub_info(&mut self, conn: ConnId, json: &[u8]) {
        let info: LeafInfo = match serde_json::from_slice(json) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "invalid leafnode INFO");
                self.close(conn, CloseReason::ProtocolViolation, false);
                return;
            }
        };
        let settings = self.leaf.settings.clone().expect("leaf settings");
        let s = self.session_mut(conn);
        let link = s.leaf.as_mut().expect("a leaf session");
        let LeafRole::Solicit(auth) = &link.role else {
            return;
        };
        if info.tls_required && !auth.tls {
            tracing::error!(
                hub = %info.server_name,
                "leafnode hub requires TLS: give the remote a tls table (and a tls:// URL)"
            );
            self.close(conn, CloseReason::TlsHandshakeError, false);
            return;
        }
        let mut connect = LeafConnect {
            version: settings.version.clone(),
            user: auth.user.clone(),
            pass: auth.pass.clone(),
            // A user name alone is also sent as the token (nats-server does the same).
            auth_token: auth.pass.is_none().then(|| auth.user.clone()).flatten(),
            server_id: settings.server_id.clone(),
            name: settings.server_name.clone(),
            cluster: settings.server_name.clone(),
            headers: true,
            jetstream: settings.jetstream,
            domain: settings.domain.clone(),
            // Whatever the hub asks for (s2_auto by default): natrix has no S2.
            compress_mode: Some(wire::COMPRESSION_OFF.into()),
            deny_pub: link.perms.deny_imports(),
            remote_account: Some(link.account.clone()),
            protocol: 3,
            ..Default::default()
        };
        if let Some(creds) = &auth.creds {
            connect.jwt = Some(creds.jwt.clone());
            connect.sig = Some(creds.sign(info.nonce.as_deref().unwrap_or("")));
        }
        link.remote_name = info.server_name;
        link.remote_id = info.server_id;
        wire::write_json_line(&mut s.out, "CONNECT", &connect);
        self.link_up(conn);
    }

    fn on_leaf_connect(&mut self, conn: ConnId, json: &[u8]) {
        let connect: LeafConnect = match serde_json::from_slice(json) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "invalid leafnode CONNECT");
                self.close(conn, CloseReason::ProtocolViolation, false);
                return;
            }
        };
        match self.leaf_authenticate(conn, &connect, json) {
            super::leaf_auth::LeafAuthOutcome::Bound => self.finish_leaf_connect(conn, connect),
            super::leaf_auth::LeafAuthOutcome::Refused
            | super::leaf_auth::LeafAuthOutcome::Pending => {}
        }
    }

    /// This server's leaf settings (set whenever a link exists).
    pub(super) fn leaf_settings(&self) -> Arc<LeafSettings> {
        self.leaf.settings.clone().expect("leaf settings")
    }

    /// An authenticated leaf's CONNECT: refuse clients, gateways and our own name, replace
    /// older links from the same server, and bring the link up.
    pub(super) fn finish_leaf_connect(&mut self, conn: ConnId, connect: LeafConnect) {
        let settings = self.leaf_settings();
        if connect.lang.is_some() || connect.gateway.is_some() {
            // A client or a gateway on the leaf port.
            self.close(conn, CloseReason::ProtocolViolation, false);
            return;
        }
        if connect.cluster == settings.server_name || connect.name == settings.server_name {
            // nats-server's answer; the soliciting side then waits 30 s.
            tracing::error!("remote leafnode has same cluster name");
            self.send_err(conn, SAME_CLUSTER_ERR);
            self.close(conn, CloseReason::LeafLoopDetected, true);
            return;
        }
        let link = self
            .session_mut(conn)
            .leaf
            .as_mut()
            .expect("a leaf session");
        link.remote_name = connect.name.clone();
        link.remote_id = connect.server_id;
        link.remote_cluster = connect.cluster.clone();
        // What the leaf will not take is not sent to it (nats-server merges `deny_pub`).
        link.perms.add_deny_exports(&connect.deny_pub);
        let account = link.account.clone();
        // A new link from a server replaces its older ones, here and on the other cores.
        self.evict_duplicate_links(&connect.name, &connect.cluster, &account, Some(conn));
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(
                    peer,
                    RingItem::LeafUp {
                        name: connect.name.clone(),
                        cluster: connect.cluster.clone(),
                        account: account.clone(),
                    },
                );
            }
        }
        self.link_up(conn);
    }

    /// Closes this core's accepted links from server `name` in `cluster` bound to `account`
    /// (but `keep`): a newer link from it came up, so they are stale.
    pub(super) fn evict_duplicate_links(
        &mut self,
        name: &str,
        cluster: &str,
        account: &str,
        keep: Option<ConnId>,
    ) {
        let stale: Vec<ConnId> = self
            .leaf
            .links
            .iter()
            .copied()
            .filter(|c| Some(*c) != keep)
            .filter(|c| {
                self.session(*c).leaf.as_ref().is_some_and(|l| {
                    matches!(l.role, LeafRole::Accept)
                        && l.is_up()
                        && l.remote_name == name
                        && l.remote_cluster == cluster
                        && l.account == account
                })
            })
            .collect();
        for c in stale {
            tracing::warn!(
                remote = name,
                "replacing leafnode connection from same server"
            );
            self.send_err(c, DUPLICATE_ERR);
            self.close(c, CloseReason::DuplicateRemoteLeafnode, true);
        }
    }

    /// The handshake is done: announce our loop-detection subject and all current interest.
    fn link_up(&mut self, conn: ConnId) {
        let settings = self.leaf.settings.clone().expect("leaf settings");
        let s = self.session_mut(conn);
        let link = s.leaf.as_mut().expect("a leaf session");
        link.state = LinkState::Up;
        tracing::info!(remote = %link.remote_name, "leafnode link up");
        wire::write_ls_plus(&mut s.out, &settings.loop_subject, None);
        if let (true, Some(d)) = (settings.jetstream, &settings.domain) {
            // This server's JetStream, reachable from across the link by its domain.
            wire::write_ls_plus(&mut s.out, format!("$JS.{d}.API.>").as_bytes(), None);
        }
        let account = self.session(conn).account;
        let mut keys: AHashSet<leaf::InterestKey> = self
            .local_interest
            .keys(account)
            .map(|(s, q)| (s.clone(), q.clone()))
            .collect();
        keys.extend(self.remote.keys(account));
        for (subject, queue) in keys {
            self.announce_to(conn, &subject, queue.as_ref());
        }
        self.signal_writable(conn);
    }

    /// Brings link `conn`'s announcement of `(subject, queue)` up to date.
    fn announce_to(&mut self, conn: ConnId, subject: &Bytes, queue: Option<&Bytes>) {
        let Some(account) = self.sessions[conn as usize].as_ref().map(|s| s.account) else {
            return;
        };
        let local = self.local_interest.count(account, subject, queue);
        let remote = self.remote.total(account, subject, queue);
        // Links count as their LS+ weight (nats-server adds a leaf's weight to what it
        // announces to the other leafs).
        let extra = queue.map_or(0, |q| self.links_extra_weight(account, subject, q));
        let Some(s) = self.sessions[conn as usize].as_mut() else {
            return;
        };
        if !s.is_open() {
            return;
        }
        let sid = leaf::link_sid(subject, queue.map(|q| &q[..]));
        let own = match s.subs.contains_key(&sid) {
            false => 0,
            true => s
                .leaf
                .as_ref()
                .and_then(|l| l.queue_weights.get(&sid).copied())
                .unwrap_or(1),
        };
        let members = (local + remote + extra).saturating_sub(own);
        let Session { leaf, out, .. } = s;
        if let Some(link) = leaf.as_mut() {
            if link.announce(subject, queue, members, out) {
                self.signal_writable(conn);
            }
        }
    }

    /// Interest in `(subject, queue)` of `account` changed on this core or on a peer: tell
    /// every link bound to that account.
    pub(super) fn leaf_interest_changed(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
    ) {
        for i in 0..self.leaf.links.len() {
            let conn = self.leaf.links[i];
            if self.sessions[conn as usize]
                .as_ref()
                .is_some_and(|s| s.account == account)
            {
                self.announce_to(conn, subject, queue);
            }
        }
    }

    fn on_leaf_sub(&mut self, conn: ConnId, subject: Bytes, queue: Option<(Bytes, u32)>) {
        let settings = self.leaf.settings.clone().expect("leaf settings");
        if subject == settings.loop_subject {
            let account = self.link(conn).account.clone();
            tracing::error!(account, "leafnode loop detected");
            self.send_err(conn, &loop_err(&account));
            self.close(conn, CloseReason::LeafLoopDetected, true);
            return;
        }
        if leaf::is_local_only(&subject) || !subject::is_valid_subscribe_subject(&subject) {
            return;
        }
        let link = self.link(conn);
        if !link.perms.accepts_interest(&subject) {
            // Interest in a subject this side may not send: a soliciting side ignores it
            // (its hub told it nothing), a hub refuses it, as nats-server.
            if matches!(link.role, LeafRole::Accept) {
                let text = format!(
                    "Permissions Violation for Subscription to {:?}",
                    String::from_utf8_lossy(&subject)
                );
                tracing::error!(%text, "leafnode subscription violation");
                self.send_err(conn, &text);
                self.close(conn, CloseReason::ProtocolViolation, true);
            }
            return;
        }
        let sid = leaf::link_sid(&subject, queue.as_ref().map(|q| &q.0[..]));
        if let Some((_, weight)) = &queue {
            // One subscription stands for the group on that side, picked by its weight.
            let link = self
                .session_mut(conn)
                .leaf
                .as_mut()
                .expect("a leaf session");
            let old = link.queue_weights.insert(sid.clone(), (*weight).max(1));
            if old != Some((*weight).max(1)) {
                // Before the subscription's own interest update, so another core never
                // takes this member for a client.
                let account = self.session(conn).account;
                let group = queue.as_ref().map(|q| q.0.clone()).expect("a queue");
                self.link_weights_changed(account, &subject, &group);
                if old.is_some() {
                    // The other links hear the new weight.
                    self.leaf_interest_changed(account, &subject, Some(&group));
                }
            }
        }
        if self.session(conn).subs.contains_key(&sid) {
            // A queue weight update.
            return;
        }
        let account = self.session(conn).account;
        self.insert_sub(
            SubTarget::Conn(conn),
            account,
            sid,
            subject,
            queue.map(|q| q.0),
        );
    }

    fn on_leaf_msg(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        reply: Option<Bytes>,
        queues: Vec<Bytes>,
        header_len: usize,
        message: Bytes,
    ) {
        if leaf::is_local_only(&subject) {
            return;
        }
        self.count_inbound(conn, message.len());
        if !self.link(conn).perms.may_receive(&subject) {
            // deny_imports: dropped (nats-server's soliciting side does the same).
            return;
        }
        // A JetStream delivery: routed by its delivery subject, shown with the stored one.
        let (reply, shown) = match reply.as_ref().and_then(wire::decode_js_deliver) {
            Some((ack, stored)) => (Some(ack), Some(stored)),
            None => (reply, None),
        };
        let msg = Routed {
            subject: &subject,
            shown: shown.as_ref(),
            reply: reply.as_ref(),
            header_len,
            message: &message,
            leaf_queues: Some(&queues),
        };
        let account = self.session(conn).account;
        self.route(Some(conn), account, &msg);
    }

    /// Queues a delivery to a leaf link (written once per link by [`Engine::flush_leaf`]).
    pub(super) fn leaf_deliver(&mut self, conn: ConnId, queue: Option<Bytes>) {
        self.leaf.scratch.push((conn, queue));
    }

    /// Writes the routing pass's deliveries to links: one LMSG per link, naming the queue
    /// groups whose member was picked on it.
    pub(super) fn flush_leaf(&mut self, msg: &Routed<'_>) {
        if self.leaf.scratch.is_empty() {
            return;
        }
        let mut scratch = std::mem::take(&mut self.leaf.scratch);
        scratch.sort_by_key(|(c, _)| *c);
        // A consumer delivery crosses as nats-server sends it: the delivery subject, and the
        // stored subject after an `@` in the ack reply (the other side shows it again).
        let mut reply = msg.reply.map(|r| &r[..]);
        let mut reply_buf = std::mem::take(&mut self.leaf.reply_scratch);
        if let (Some(r), Some(shown)) = (reply, msg.shown) {
            if wire::encode_js_deliver(r, shown, &mut reply_buf) {
                reply = Some(&reply_buf[..]);
            }
        }
        let mut queues: Vec<Bytes> = Vec::new();
        let mut i = 0;
        while i < scratch.len() {
            let conn = scratch[i].0;
            queues.clear();
            while i < scratch.len() && scratch[i].0 == conn {
                if let Some(q) = &scratch[i].1 {
                    if !queues.contains(q) {
                        queues.push(q.clone());
                    }
                }
                i += 1;
            }
            let s = self.sessions[conn as usize]
                .as_mut()
                .expect("a link with deliveries is live");
            if s.leaf
                .as_ref()
                .is_some_and(|l| !l.perms.is_open() && !l.perms.may_send(msg.subject))
            {
                // deny_exports (or the leaf's deny_pub): not sent over this link.
                continue;
            }
            wire::write_lmsg(
                &mut s.out,
                msg.subject,
                reply,
                &queues,
                msg.header_len,
                msg.message,
            );
            if self.count_outbound(conn, msg.message.len() as u64) {
                tracing::warn!(
                    cid = self.session(conn).client_id,
                    "slow consumer detected on leafnode link"
                );
                self.stats.slow_consumers += 1;
                self.close(conn, CloseReason::SlowConsumerPendingBytes, false);
            }
        }
        scratch.clear();
        self.leaf.scratch = scratch;
        self.leaf.reply_scratch = reply_buf;
    }

    /// The leaf links of this core with their remote name and interest counts (`/leafz`).
    pub fn leaf_links(&self) -> Vec<(ConnId, String, usize)> {
        self.leaf
            .links
            .iter()
            .filter_map(|c| {
                let s = self.sessions[*c as usize].as_ref()?;
                let l = s.leaf.as_ref()?;
                Some((*c, l.remote_name.clone(), s.subs.len()))
            })
            .collect()
    }

    // ----- queue weights of links across cores (leaf::weights) ---------------------------

    /// This core's link members of `(subject, queue)` in `account` changed (a new member, a
    /// new weight, one gone): tell the other cores how many there are and what they weigh.
    pub(super) fn link_weights_changed(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: &Bytes,
    ) {
        if self.cfg.n_cores < 2 {
            return;
        }
        let sid = leaf::link_sid(subject, Some(queue));
        let (mut links, mut weight) = (0u32, 0u32);
        for c in &self.leaf.links {
            let Some(s) = self.sessions[*c as usize].as_ref() else {
                continue;
            };
            if s.account != account {
                continue;
            }
            if let Some(w) = s.leaf.as_ref().and_then(|l| l.queue_weights.get(&sid)) {
                links += 1;
                weight = weight.saturating_add(*w);
            }
        }
        let Some(update) = self
            .leaf
            .weights
            .local_changed(account, subject, queue, links, weight)
        else {
            return;
        };
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(peer, RingItem::LeafWeights(update.clone()));
            }
        }
    }

    /// What another core said about its link members of a queue group.
    pub(super) fn apply_peer_link_weights(
        &mut self,
        peer: usize,
        update: &leaf::weights::LinkWeights,
    ) {
        self.leaf.weights.apply(peer, update);
        self.leaf_interest_changed(update.account, &update.subject, Some(&update.queue));
    }

    /// What the links of `(subject, queue)` on every core weigh beyond one member each.
    fn links_extra_weight(&self, account: AccountId, subject: &Bytes, queue: &Bytes) -> u32 {
        let peers = self
            .leaf
            .weights
            .peers_extra_weight(account, subject, queue, |peer| {
                self.remote.peer_count(peer, account, subject, Some(queue))
            });
        let sid = leaf::link_sid(subject, Some(queue));
        let here: u32 = self
            .leaf
            .links
            .iter()
            .filter_map(|c| self.sessions[*c as usize].as_ref())
            .filter(|s| s.account == account && s.subs.contains_key(&sid))
            .filter_map(|s| s.leaf.as_ref()?.queue_weights.get(&sid))
            .map(|w| w.saturating_sub(1))
            .sum();
        peers + here
    }

    /// The other cores' members of queue group `name` matching `subject` (from `remote`, one
    /// entry per core and subscription subject), per core: (core, client members, link
    /// weight). Without links on other cores every member counts as a client. The vector
    /// goes back with [`Engine::give_back_peer_members`].
    pub(super) fn peer_members(
        &mut self,
        account: AccountId,
        name: &Bytes,
        subject: &[u8],
        remote: &[PeerInterest],
    ) -> Vec<(usize, u64, u64)> {
        let mut peers = std::mem::take(&mut self.leaf.peer_scratch);
        peers.clear();
        for m in remote {
            match peers.iter_mut().find(|p| p.0 == m.peer) {
                Some(p) => p.1 += u64::from(m.member_count),
                None => peers.push((m.peer, u64::from(m.member_count), 0)),
            }
        }
        if !self.leaf.weights.no_peer_links() {
            for p in peers.iter_mut() {
                let (links, weight) = self.leaf.weights.peer_links(account, name, subject, p.0);
                p.1 = p.1.saturating_sub(u64::from(links));
                p.2 = u64::from(weight);
            }
        }
        peers
    }

    /// Returns [`Engine::peer_members`]' vector for reuse.
    pub(super) fn give_back_peer_members(&mut self, peers: Vec<(usize, u64, u64)>) {
        self.leaf.peer_scratch = peers;
    }
}

#[cfg(test)]
#[path = "engine_leaf_tests.rs"]
mod tests;
