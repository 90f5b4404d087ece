//! Hub role: authenticating an accepted leaf link's CONNECT, as nats-server's
//! `isLeafNodeAuthorized`. `[leafnodes.authorization]` decides when it names credentials
//! (single user, nkey, or users each with an account); otherwise the leaf authenticates as
//! a client would (`[authorization]`, `[accounts]` users, operator JWTs) and binds to its
//! user's account; with no authentication at all it binds to `authorization.account` (or
//! `$G`). Bad credentials get `-ERR 'Authorization Violation'` and the link is closed. A
//! bcrypt password is checked off the core like a client's (`ReadStatus::Blocked`, then
//! [`Engine::finish_auth`]). Split from `engine_leaf.rs` (same `Engine`, one job here).

use rand::RngCore;

use super::*;
use crate::auth::{self, Authenticated, Decision, PendingAuth};
use crate::leaf::auth::{LeafAuthDecision, LeafCredentials};
use crate::leaf::wire::LeafConnect;

/// Where a leaf CONNECT's authentication stands.
pub(super) enum LeafAuthOutcome {
    /// The link is bound to its account: finish the handshake.
    Bound,
    /// Refused (already closing).
    Refused,
    /// A bcrypt check runs off the core; [`Engine::leaf_auth_finished`] goes on.
    Pending,
}

impl Engine {
    /// A nonce for an accepted link's INFO (nats-server always sends one to leafs).
    pub(super) fn leaf_nonce(&mut self) -> String {
        let mut raw = [0u8; auth::NONCE_RAW_BYTES];
        self.rng.fill_bytes(&mut raw);
        auth::encode_nonce(&raw)
    }

    /// Decides an accepted link's CONNECT (`json` is its raw body).
    pub(super) fn leaf_authenticate(
        &mut self,
        conn: ConnId,
        connect: &LeafConnect,
        json: &[u8],
    ) -> LeafAuthOutcome {
        let leaf_auth = self.leaf_settings().auth.clone();
        let nonce = self.session(conn).nonce.clone().unwrap_or_default();
        let decision = match &leaf_auth {
            Some(a) => a.check(
                &LeafCredentials {
                    user: connect.user.as_deref(),
                    pass: connect.pass.as_deref(),
                    nkey: connect.nkey.as_deref(),
                    sig: connect.sig.as_deref(),
                },
                &nonce,
            ),
            None => LeafAuthDecision::AsClient,
        };
        let (user, account) = match decision {
            LeafAuthDecision::Accept { user, account } => (user, account),
            LeafAuthDecision::Reject => {
                self.auth_violation(conn);
                return LeafAuthOutcome::Refused;
            }
            LeafAuthDecision::VerifyBcrypt {
                password,
                hash,
                user,
                account,
            } => {
                let then = Authenticated {
                    user,
                    permissions: None,
                    account: account.map_or_else(auth::global_account, |a| a.into()),
                    jwt: None,
                };
                self.leaf_auth_pending(conn, password, hash, then, connect);
                return LeafAuthOutcome::Pending;
            }
            LeafAuthDecision::AsClient => match self.auth.clone() {
                None => (
                    String::new(),
                    leaf_auth.and_then(|a| a.default_account().map(str::to_string)),
                ),
                Some(client_auth) => {
                    let opts: crate::protocol::info::ConnectOptions =
                        serde_json::from_slice(json).unwrap_or_default();
                    let s = self.session(conn);
                    let ip = s.client_ip.parse().ok();
                    let now_unix = ((self.wall_epoch_ns + self.clock_ns) / 1_000_000_000) as i64;
                    match client_auth.check_at(&opts, Some(&nonce), ip, Some(now_unix)) {
                        Decision::Accept(who) => (who.user, Some(who.account.to_string())),
                        Decision::Reject => {
                            self.auth_violation(conn);
                            return LeafAuthOutcome::Refused;
                        }
                        Decision::VerifyBcrypt {
                            password,
                            hash,
                            then,
                        } => {
                            self.leaf_auth_pending(conn, password, hash, then, connect);
                            return LeafAuthOutcome::Pending;
                        }
                    }
                }
            },
        };
        if self.bind_leaf(conn, user, account.as_deref()) {
            LeafAuthOutcome::Bound
        } else {
            LeafAuthOutcome::Refused
        }
    }

    fn leaf_auth_pending(
        &mut self,
        conn: ConnId,
        password: String,
        hash: String,
        then: Authenticated,
        connect: &LeafConnect,
    ) {
        let s = self.session_mut(conn);
        s.auth_pending = Some(PendingAuth {
            job: Some((password, hash)),
            then,
        });
        if let Some(link) = s.leaf.as_mut() {
            link.pending_connect = Some(Box::new(connect.clone()));
        }
    }

    /// The bcrypt check of a leaf's password is done: bind and finish the handshake, or refuse.
    pub(super) fn leaf_auth_finished(&mut self, conn: ConnId, matched: bool, then: Authenticated) {
        let connect = self
            .session_mut(conn)
            .leaf
            .as_mut()
            .and_then(|l| l.pending_connect.take());
        if !matched {
            self.auth_violation(conn);
            return;
        }
        let Some(connect) = connect else {
            return;
        };
        if self.bind_leaf(conn, then.user, Some(&then.account)) {
            self.finish_leaf_connect(conn, *connect);
        }
    }

    /// Binds an accepted link to `account` (`None` = `$G`); false (refused) when it cannot.
    fn bind_leaf(&mut self, conn: ConnId, user: String, account: Option<&str>) -> bool {
        let name = account.unwrap_or(auth::GLOBAL_ACCOUNT).to_string();
        if name != auth::GLOBAL_ACCOUNT && !self.bind_account_or_refuse(conn, &name) {
            return false;
        }
        let s = self.session_mut(conn);
        s.user = user;
        s.auth_deadline_ns = None;
        if let Some(link) = s.leaf.as_mut() {
            link.account = name;
        }
        true
    }
}
