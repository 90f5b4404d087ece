//! The engine's side of accounts: a publish that crosses into another account through an
//! export/import (stream imports under their prefix, service requests with their reply
//! mapped, service replies back to the requester), and binding a session to its account.
//! A message never crosses accounts any other way. Split from `engine.rs` (same `Engine`).

use super::*;
use crate::accounts::{service_subject, SERVICE_REPLY_PREFIX};

impl Engine {
    /// Routes a publish made in `account` into the accounts it crosses into; returns the
    /// deliveries made there. Called only for accounts with exports or imports.
    pub(super) fn route_imports(&mut self, account: AccountId, msg: &Routed<'_>) -> usize {
        let accounts = self.accounts.clone();
        let acc = accounts.get(account);
        if acc.exports_services && msg.subject.starts_with(SERVICE_REPLY_PREFIX) {
            // A responder answering a request that came through a service import.
            let Some((importer, reply)) = accounts.unmap_service_reply(account, msg.subject) else {
                return 0;
            };
            let back = Routed {
                subject: &reply,
                shown: None,
                reply: msg.reply,
                header_len: msg.header_len,
                message: msg.message,
                leaf_queues: None,
            };
            return self.route_in(None, importer, &back);
        }
        let mut delivered = 0;
        for r in &acc.stream_routes {
            if !subject::subject_matches(&r.subject, msg.subject) {
                continue;
            }
            let subject = if !r.local.is_empty() {
                crate::accounts::map_import_subject(&r.subject, &r.local, msg.subject)
            } else if r.prefix.is_empty() {
                msg.subject.clone()
            } else {
                let mut s = BytesMut::with_capacity(r.prefix.len() + msg.subject.len());
                s.extend_from_slice(&r.prefix);
                s.extend_from_slice(msg.subject);
                s.freeze()
            };
            let imported = Routed {
                subject: &subject,
                shown: None,
                reply: msg.reply,
                header_len: msg.header_len,
                message: msg.message,
                leaf_queues: None,
            };
            delivered += self.route_in(None, r.importer, &imported);
        }
        // A request in the importing account goes to the exporter's responders (the first
        // matching import only), its reply subject mapped so the answer comes back here.
        if let Some(imp) = acc
            .service_imports
            .iter()
            .find(|i| subject::subject_matches(&i.local, msg.subject))
        {
            let subject = service_subject(imp, msg.subject);
            let reply = msg
                .reply
                .map(|r| accounts.map_service_reply(imp.exporter, account, r));
            let request = Routed {
                subject: &subject,
                shown: None,
                reply: reply.as_ref(),
                header_len: msg.header_len,
                message: msg.message,
                leaf_queues: None,
            };
            delivered += self.route_in(None, imp.exporter, &request);
        }
        delivered
    }

    /// A `$JS.API` request nobody took in an account without JetStream gets nats-server's
    /// `10039` answer (instead of no responders); true when it was answered. `$G` keeps
    /// its old answer when the server runs without JetStream (no responders)
    /// ([`crate::accounts::Accounts::refuses_jetstream`]).
    pub(super) fn refuse_jetstream(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        reply: &Bytes,
    ) -> bool {
        if !self.accounts.refuses_jetstream(account) {
            return false;
        }
        let Some(answer) = crate::jetstream::account_refusal::not_enabled_for_account(subject)
        else {
            return false;
        };
        self.publish_internal_in(account, reply, None, 0, &answer);
        true
    }

    /// Binds a connection to the account its user belongs to (after CONNECT): false when
    /// the server has no such account (the caller refuses the connection).
    pub(super) fn bind_account(&mut self, conn: ConnId, name: &str) -> Result<(), BindError> {
        let Some(id) = self.accounts.id(name) else {
            tracing::error!(
                account = name,
                "user of an account this server does not know"
            );
            return Err(BindError::UnknownAccount);
        };
        let (bound, had_slot) = {
            let s = self.session(conn);
            (s.account, s.account_slot)
        };
        // A reload re-binds open connections: the slot they hold stays theirs.
        if !(had_slot && bound == id) {
            if !self.accounts.get(id).try_admit() {
                return Err(BindError::MaxConnections);
            }
            if had_slot {
                self.accounts.get(bound).release();
            }
        }
        let max_payload = self.accounts.get(id).max_payload;
        let s = self.session_mut(conn);
        s.account = id;
        s.account_slot = true;
        if let Some(m) = max_payload {
            s.parser.limit_payload(m);
        }
        Ok(())
    }

    /// Gives back the account slot of a closing connection.
    pub(super) fn release_account_slot(&mut self, conn: ConnId) {
        let s = self.session_mut(conn);
        if std::mem::take(&mut s.account_slot) {
            let account = s.account;
            self.accounts.get(account).release();
        }
    }

    // ----- per-account variants of the engine's API -----------------------------------

    /// Sets the server's accounts (before the first connection): one sublist and one remote
    /// interest index per account.
    pub fn set_accounts(&mut self, accounts: std::sync::Arc<Accounts>) {
        let n = accounts.len();
        // The other accounts' match caches are smaller: most servers have few busy ones.
        self.local
            .resize_with(n, || Sublist::new(MATCH_CACHE_ENTRIES / 4));
        self.remote.set_accounts(n);
        self.accounts = accounts;
    }

    /// The server's accounts.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// JetStream items of `account` other cores sent since the last call, with their sender.
    pub fn take_js_in(
        &mut self,
        account: AccountId,
        into: &mut Vec<(usize, crate::js_ring::JsItem)>,
    ) {
        into.clear();
        if self.js_inbox.is_empty() {
            return;
        }
        for (peer, acc, item) in std::mem::take(&mut self.js_inbox) {
            if acc == account {
                into.push((peer, item));
            } else {
                self.js_inbox.push((peer, acc, item));
            }
        }
    }

    /// Sends a JetStream item of `account` to another core over our ring to it.
    pub fn send_js_in(&mut self, peer: usize, account: AccountId, item: crate::js_ring::JsItem) {
        self.push_peer(peer, RingItem::Js(account, item));
    }

    /// Messages for internal subscribers of `account` matched since the last call (those
    /// of other accounts stay for their own stream host).
    pub fn take_internal_in(&mut self, account: AccountId, into: &mut Vec<InternalDelivery>) {
        into.clear();
        if self.internal_inbox.iter().all(|d| d.account == account) {
            std::mem::swap(into, &mut self.internal_inbox);
            return;
        }
        let mut rest = Vec::with_capacity(self.internal_inbox.len());
        for d in self.internal_inbox.drain(..) {
            if d.account == account {
                into.push(d);
            } else {
                rest.push(d);
            }
        }
        self.internal_inbox = rest;
    }

    /// [`Engine::publish_internal`] in another account.
    pub fn publish_internal_in(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        reply: Option<&Bytes>,
        header_len: usize,
        message: &Bytes,
    ) -> usize {
        let msg = Routed {
            subject,
            shown: None,
            reply,
            header_len,
            message,
            leaf_queues: None,
        };
        self.route(None, account, &msg)
    }

    /// [`Engine::publish_internal_as`] in another account.
    pub fn publish_internal_as_in(
        &mut self,
        account: AccountId,
        to: &Bytes,
        shown: &Bytes,
        reply: Option<&Bytes>,
        header_len: usize,
        message: &Bytes,
    ) -> usize {
        let msg = Routed {
            subject: to,
            shown: Some(shown),
            reply,
            header_len,
            message,
            leaf_queues: None,
        };
        self.route(None, account, &msg)
    }

    /// Whether any subscription on any core in `account` matches `subject`.
    pub fn has_interest_in(&mut self, account: AccountId, subject: &Bytes) -> bool {
        if !self.local[account as usize].matches(subject).is_empty() {
            return true;
        }
        self.cfg.n_cores > 1
            && !self.remote.is_empty(account)
            && !self.remote.matches(account, subject).is_empty()
    }
}

/// Why a connection could not join an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BindError {
    /// No such account on this server.
    UnknownAccount,
    /// The account's `max_connections` are all in use.
    MaxConnections,
}
