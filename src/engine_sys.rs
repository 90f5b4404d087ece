//! The engine's side of the `$SYS.REQ.SERVER.*` / `$SYS.REQ.ACCOUNT.*` responder
//! (nats-server's server and account requests, answered on the system account): the
//! service subscribes on every core *without announcing it* to the other cores, so a
//! request is matched only on its publisher's core, and it is taken only from a client
//! that [`Engine::is_system`] admits, or, for the [`ACCOUNT_SCOPED`] subjects, from any
//! client, answered about its own account only; anyone else gets what nobody-listening
//! gives (no responders), and each request is answered once. What the answer says is the monitor's job
//! (`monitor::sys`); the shell carries requests there and answers back.
//!
//! **The gate.** [`Engine::is_system`] is the single predicate deciding who may ask: a
//! connection in the system account (`system_account`, default `$SYS`, as nats-server), or a
//! `$G` user named in `[system] users` (natrix's shortcut for servers without accounts). The
//! service subscribes in both accounts' sublists.

use std::sync::Arc;

use bytes::Bytes;

use super::{ConnId, Engine, InternalTarget, Routed, SubKey};

/// The internal target of the responder's subscriptions (kinds 1.. are the stream host's).
pub const SYS_TARGET: InternalTarget = InternalTarget {
    kind: 0x5359_5300, // "SYS\0"
    index: 0,
};

/// The requests every account may make about itself (nats-server imports them from the
/// system account into each account): answered with the requester's account only.
pub const ACCOUNT_SCOPED: [&str; 3] = [
    "$SYS.REQ.ACCOUNT.PING.CONNZ",
    "$SYS.REQ.ACCOUNT.PING.STATZ",
    "$SYS.REQ.SERVER.PING.CONNZ",
];

/// One admitted request, for the monitor to answer.
#[derive(Debug, Clone)]
pub struct SysRequest {
    /// The requester's account: the answer is published there.
    pub account: crate::accounts::AccountId,
    /// None: asked by the system account (sees everything); else the requester's account,
    /// the only one the answer may show.
    pub scope: Option<String>,
    /// The subject asked on (`$SYS.REQ.SERVER.PING.VARZ`, ...).
    pub subject: Bytes,
    /// Where the answer goes.
    pub reply: Bytes,
    /// The request body (filter and endpoint options as JSON), headers stripped.
    pub body: Bytes,
}

/// The responder's per-core state: who may ask, what was asked.
#[derive(Debug, Default)]
pub(super) struct SysService {
    /// Users allowed to ask (`[system] users`).
    users: Arc<[String]>,
    inbox: Vec<SysRequest>,
}

impl Engine {
    /// Subscribes the responder to `subject` on this core only (see the module docs), in the
    /// system account and in `$G`. The subscriptions are never removed (no interest was
    /// announced to withdraw). Call after [`Engine::set_accounts`].
    pub fn add_sys_service(&mut self, subject: &Bytes) -> Vec<SubKey> {
        debug_assert!(crate::subject::is_valid_subscribe_subject(subject));
        let mut accounts = vec![crate::accounts::GLOBAL, self.accounts.system()];
        accounts.dedup();
        accounts
            .into_iter()
            .map(|account| {
                self.insert_sub_unannounced(
                    super::SubTarget::Internal(SYS_TARGET),
                    account,
                    Bytes::new(),
                    subject.clone(),
                    None,
                )
            })
            .collect()
    }

    /// Subscribes the responder to the [`ACCOUNT_SCOPED`] subjects in every account other
    /// than `$G` and the system account (whose wildcard subscriptions already cover them),
    /// on this core only. Call after [`Engine::set_accounts`].
    pub fn add_sys_account_services(&mut self) -> Vec<SubKey> {
        let skip = [crate::accounts::GLOBAL, self.accounts.system()];
        let accounts: Vec<_> = self
            .accounts
            .iter()
            .map(|(id, _)| id)
            .filter(|id| !skip.contains(id))
            .collect();
        let mut keys = Vec::new();
        for account in accounts {
            for subject in ACCOUNT_SCOPED {
                keys.push(self.insert_sub_unannounced(
                    super::SubTarget::Internal(SYS_TARGET),
                    account,
                    Bytes::new(),
                    Bytes::from_static(subject.as_bytes()),
                    None,
                ));
            }
        }
        keys
    }

    /// Who may use the `$SYS.REQ.SERVER` requests (reload replaces the list).
    pub fn set_system_users(&mut self, users: Arc<[String]>) {
        self.sys.users = users;
    }

    /// THE gate: whether the client `conn` of this core may use the system requests.
    pub fn is_system(&self, conn: ConnId) -> bool {
        let Some(Some(s)) = self.sessions.get(conn as usize) else {
            return false;
        };
        if s.account == self.accounts.system() {
            return true;
        }
        s.account == crate::accounts::GLOBAL
            && !s.user.is_empty()
            && self.sys.users.contains(&s.user)
    }

    /// A delivery to the responder: kept (true) when its publisher (a client of this core;
    /// a message forwarded by another core has none) passes the gate and it has a reply
    /// subject; else dropped as if nobody listened.
    pub(super) fn accept_sys_request(
        &mut self,
        publisher: Option<ConnId>,
        msg: &Routed<'_>,
    ) -> bool {
        let (Some(conn), Some(reply)) = (publisher, msg.reply) else {
            return false;
        };
        let Some(Some(session)) = self.sessions.get(conn as usize) else {
            return false;
        };
        let account = session.account;
        let scope = if self.is_system(conn) {
            None
        } else if ACCOUNT_SCOPED
            .iter()
            .any(|s| s.as_bytes() == &msg.subject[..])
        {
            Some(self.accounts.get(account).name.to_string())
        } else {
            return false;
        };
        self.sys.inbox.push(SysRequest {
            account,
            scope,
            subject: msg.subject.clone(),
            reply: reply.clone(),
            body: msg.message.slice(msg.header_len..),
        });
        true
    }

    /// Requests admitted since the last call.
    pub fn take_sys_requests(&mut self, into: &mut Vec<SysRequest>) {
        into.clear();
        std::mem::swap(into, &mut self.sys.inbox);
    }

    /// Whether requests wait.
    pub fn has_sys_requests(&self) -> bool {
        !self.sys.inbox.is_empty()
    }
}
