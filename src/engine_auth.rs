//! The engine's side of authentication and permissions: nonce and deadline on accept, the
//! CONNECT decision (through the sans-IO [`crate::auth::Authenticator`]), the auth timeout,
//! and the per-publish / per-subscribe permission checks with nats-server's exact -ERRs.

use std::sync::Arc;

use rand::RngCore;

use super::Engine;
use crate::auth::{self, Authenticator, ConnPermissions, Decision, PendingAuth};
use crate::protocol::info::ServerInfo;
use crate::session::{CloseReason, ConnId, Session};

/// nats-server's text for every authentication failure.
const AUTH_VIOLATION: &str = "Authorization Violation";
/// nats-server's text when CONNECT did not come within the auth timeout.
const AUTH_TIMEOUT: &str = "Authentication Timeout";
/// nats-server's text when a JWT user's JWT expires while it is connected.
const AUTH_EXPIRED: &str = "User Authentication Expired";

/// Go's `%q` of a subject (printable ASCII as is, `"` and `\` escaped, the rest as `\xNN`).
fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for ch in String::from_utf8_lossy(bytes).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Engine {
    /// Turns authentication on for this core (before the first connection).
    pub fn set_auth(&mut self, auth: Option<Arc<Authenticator>>) {
        self.cfg.info.auth_required = auth.is_some();
        self.auth = auth;
    }

    /// A configuration reload: new connections get these limits and authenticate against
    /// this `[authorization]`; open connections are checked again (see
    /// [`Engine::reauthorize_open`]). The pending limit and keepalive apply to open
    /// connections too (read on use); payload and control-line limits to new ones.
    pub fn reload(&mut self, live: &crate::reload::LiveSettings) {
        self.cfg.limits = live.limits.clone();
        self.cfg.info.max_payload = live.limits.max_payload_bytes;
        let old = self.auth.take();
        self.set_auth(live.auth.clone());
        self.set_system_users(live.system_users.clone());
        self.reauthorize_open(old.as_deref());
    }

    /// As nats-server on reload: every connected client is authenticated again with the
    /// CONNECT it sent; one the new rules refuse gets `-ERR 'Authorization Violation'` and
    /// is closed, the others get their user's new permissions. A bcrypt user is not
    /// re-verified on the core: it stays when its configured hash is unchanged (the old
    /// verification holds) and is closed when the hash changed.
    fn reauthorize_open(&mut self, old: Option<&auth::Authenticator>) {
        let Some(new) = self.auth.clone() else {
            for s in self.sessions.iter_mut().flatten() {
                s.perms = None;
            }
            return;
        };
        let open: Vec<ConnId> = (0..self.sessions.len() as ConnId)
            .filter(|c| {
                self.sessions[*c as usize]
                    .as_ref()
                    .is_some_and(|s| s.connected && s.auth_pending.is_none() && s.is_open())
            })
            .collect();
        for conn in open {
            let s = self.session(conn);
            match new.check(&s.opts, s.nonce.as_deref()) {
                Decision::Accept(who) => {
                    self.bind_user(conn, who);
                }
                Decision::Reject => self.auth_violation(conn),
                Decision::VerifyBcrypt { hash, then, .. } => {
                    let was = old.map(|a| a.check(&s.opts, s.nonce.as_deref()));
                    match was {
                        Some(Decision::VerifyBcrypt { hash: h, .. }) if h == hash => {
                            self.bind_user(conn, then);
                        }
                        _ => self.auth_violation(conn),
                    }
                }
            }
        }
    }

    /// Unix nanoseconds at this core's clock zero: JWT users' expiry is wall-clock time.
    pub fn set_wall_epoch_ns(&mut self, unix_ns: u64) {
        self.wall_epoch_ns = unix_ns;
    }

    /// On accept: the nonce for INFO and the CONNECT deadline, when auth is on.
    pub(super) fn prepare_auth(&mut self, session: &mut Session, info: &mut ServerInfo, now: u64) {
        let Some(auth) = &self.auth else {
            return;
        };
        session.auth_deadline_ns = Some(now.saturating_add(auth.timeout_ns()));
        if auth.wants_nonce() {
            let mut raw = [0u8; auth::NONCE_RAW_BYTES];
            self.rng.fill_bytes(&mut raw);
            let nonce = auth::encode_nonce(&raw);
            info.nonce = Some(nonce.clone());
            session.nonce = Some(nonce);
        }
    }

    /// `-ERR 'Authorization Violation'` and close.
    pub(super) fn auth_violation(&mut self, conn: ConnId) {
        let s = self.session(conn);
        tracing::debug!(cid = s.client_id, ip = %s.client_ip, "authorization violation");
        self.send_err(conn, AUTH_VIOLATION);
        self.close(conn, CloseReason::AuthenticationViolation, true);
    }

    /// Decides the CONNECT just stored in the session's options: true = connected now;
    /// false = refused (already closing) or waiting for a bcrypt check.
    pub(super) fn authenticate(&mut self, conn: ConnId) -> bool {
        let Some(auth) = self.auth.clone() else {
            return true;
        };
        let s = self.session(conn);
        let decision = match &s.tls_names {
            Some(names) => auth.check_mapped(names),
            None => {
                let now_unix = ((self.wall_epoch_ns + self.clock_ns) / 1_000_000_000) as i64;
                let ip = s.client_ip.parse().ok();
                auth.check_at(&s.opts, s.nonce.as_deref(), ip, Some(now_unix))
            }
        };
        match decision {
            Decision::Accept(who) => self.bind_user(conn, who),
            Decision::Reject => {
                self.auth_violation(conn);
                false
            }
            Decision::VerifyBcrypt {
                password,
                hash,
                then,
            } => {
                self.session_mut(conn).auth_pending = Some(PendingAuth {
                    job: Some((password, hash)),
                    then,
                });
                false
            }
        }
    }

    /// `tls.verify_and_map`: the user names the connection's verified certificate offers;
    /// its CONNECT then authenticates as the first configured user among them.
    pub fn set_tls_names(&mut self, conn: ConnId, names: Vec<String>) {
        if let Some(s) = self
            .sessions
            .get_mut(conn as usize)
            .and_then(Option::as_mut)
        {
            s.tls_names = Some(names);
        }
    }

    /// Binds the connection to account `name`; false (and refused with nats-server's -ERR)
    /// when the account is unknown or at its connection limit.
    pub(super) fn bind_account_or_refuse(&mut self, conn: ConnId, name: &str) -> bool {
        match self.bind_account(conn, name) {
            Ok(()) => true,
            Err(super::engine_accounts::BindError::UnknownAccount) => {
                self.auth_violation(conn);
                false
            }
            Err(super::engine_accounts::BindError::MaxConnections) => {
                // nats-server's text; the connection is closed.
                self.send_err(conn, "maximum account active connections exceeded");
                self.close(conn, CloseReason::MaxAccountConnectionsExceeded, true);
                false
            }
        }
    }

    /// Binds the user and its account; false (and refused) when the account is unknown.
    fn bind_user(&mut self, conn: ConnId, who: auth::Authenticated) -> bool {
        if !self.bind_account_or_refuse(conn, &who.account) {
            return false;
        }
        let expires = who.jwt.as_ref().and_then(|g| g.expires_unix).map(|exp| {
            (exp.max(0) as u64)
                .saturating_mul(1_000_000_000)
                .saturating_sub(self.wall_epoch_ns)
        });
        let s = self.session_mut(conn);
        s.auth_deadline_ns = None;
        s.auth_expires_ns = expires;
        s.user = who.user;
        s.perms = who.permissions.map(ConnPermissions::new);
        true
    }

    /// The `(password, hash)` bcrypt check a connection waits for, for the shell to run off
    /// the core and answer with [`Engine::finish_auth`].
    pub fn take_auth_job(&mut self, conn: ConnId) -> Option<(String, String)> {
        self.sessions
            .get_mut(conn as usize)?
            .as_mut()?
            .auth_pending
            .as_mut()?
            .job
            .take()
    }

    /// The result of a bcrypt check: connect or refuse, and let the reader go on.
    pub fn finish_auth(&mut self, conn: ConnId, matched: bool) {
        let Some(s) = self
            .sessions
            .get_mut(conn as usize)
            .and_then(|s| s.as_mut())
        else {
            return;
        };
        let Some(pending) = s.auth_pending.take() else {
            return;
        };
        self.events.unblocked.push(conn);
        if !s.is_open() {
            return;
        }
        if s.leaf.is_some() {
            self.leaf_auth_finished(conn, matched, pending.then);
            return;
        }
        if matched {
            if !self.bind_user(conn, pending.then) {
                return;
            }
            self.session_mut(conn).connected = true;
            self.send_ok(conn);
        } else {
            self.auth_violation(conn);
        }
    }

    /// Closes connections that did not authenticate within the auth timeout, and JWT users
    /// whose JWT expired.
    pub(super) fn check_auth_timeouts(&mut self, now_ns: u64) {
        if self.auth.is_none() && self.leaf_link_count() == 0 {
            return;
        }
        for id in 0..self.sessions.len() as ConnId {
            let Some(s) = self.sessions[id as usize].as_ref() else {
                continue;
            };
            if s.is_open() && s.auth_expires_ns.is_some_and(|e| now_ns >= e) {
                self.send_err(id, AUTH_EXPIRED);
                self.close(id, CloseReason::AuthenticationExpired, true);
                continue;
            }
            let late = s.auth_deadline_ns.is_some_and(|d| now_ns >= d);
            // (A leaf link counts as connected from the start; it is bound once up.)
            let unbound = !s.connected || s.leaf.as_ref().is_some_and(|l| !l.is_up());
            if late && s.is_open() && unbound && s.auth_pending.is_none() {
                self.send_err(id, AUTH_TIMEOUT);
                self.close(id, CloseReason::AuthenticationTimeout, true);
            }
        }
    }

    /// True (and the -ERR sent) when the connection may not publish to `subject`.
    pub(super) fn pub_denied(&mut self, conn: ConnId, subject: &[u8]) -> bool {
        let now = self.clock_ns;
        let s = self.session_mut(conn);
        let Some(p) = s.perms.as_mut() else {
            return false;
        };
        if p.can_publish(subject, now) {
            return false;
        }
        let text = format!("Permissions Violation for Publish to {}", go_quote(subject));
        tracing::debug!(cid = s.client_id, user = %s.user, "{text}");
        self.send_err(conn, &text);
        true
    }

    /// True (and the -ERR sent) when the connection may not subscribe to `subject`.
    pub(super) fn sub_denied(
        &mut self,
        conn: ConnId,
        subject: &[u8],
        queue: Option<&[u8]>,
    ) -> bool {
        let s = self.session_mut(conn);
        let Some(p) = s.perms.as_mut() else {
            return false;
        };
        if p.can_subscribe(subject, queue) {
            return false;
        }
        let mut text = format!(
            "Permissions Violation for Subscription to {}",
            go_quote(subject)
        );
        if let Some(q) = queue {
            text.push_str(" using queue ");
            text.push_str(&go_quote(q));
        }
        tracing::debug!(cid = s.client_id, user = %s.user, "{text}");
        self.send_err(conn, &text);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::go_quote;
    use crate::auth::config::AuthorizationConfig;
    use crate::auth::Authenticator;
    use crate::engine::tests::{info, limits};
    use crate::engine::{Engine, EngineConfig, EngineEvents, ReadStatus};
    use crate::session::ConnId;
    use bytes::BytesMut;
    use std::sync::Arc;

    fn engine(auth_toml: &str) -> Engine {
        let cfg: AuthorizationConfig = toml::from_str(auth_toml).unwrap();
        let mut e = Engine::new(EngineConfig {
            core_id: 0,
            n_cores: 1,
            limits: limits(),
            info: info(),
        });
        e.set_auth(Authenticator::from_config(&cfg).map(Arc::new));
        e
    }

    fn out(e: &mut Engine, c: ConnId) -> String {
        let mut buf = BytesMut::new();
        let _ = e.take_output(c, &mut buf);
        e.write_done(c);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    fn read(e: &mut Engine, c: ConnId, buf: &mut BytesMut, now: u64) -> ReadStatus {
        e.on_read(c, buf, now)
    }

    #[test]
    fn info_carries_auth_required_and_a_fresh_nonce() {
        let kp = nkeys::KeyPair::new_user();
        let mut e = engine(&format!("users = [ {{ nkey = \"{}\" }} ]", kp.public_key()));
        let a = e.open_conn("127.0.0.1", 0, true);
        let b = e.open_conn("127.0.0.1", 0, true);
        let (ia, ib) = (out(&mut e, a), out(&mut e, b));
        assert!(ia.contains("\"auth_required\":true"), "{ia}");
        let nonce = |s: &str| s.split("\"nonce\":\"").nth(1).unwrap()[..15].to_string();
        assert_ne!(nonce(&ia), nonce(&ib));
        let n = nonce(&ia);
        let sig = kp.sign(n.as_bytes()).unwrap();
        use base64::Engine as _;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
            kp.public_key()
        );
        let mut buf = BytesMut::from(connect.as_bytes());
        assert_eq!(read(&mut e, a, &mut buf, 1), ReadStatus::Continue);
        assert_eq!(out(&mut e, a), "PONG\r\n");
        // The same signature does not fit the other connection's nonce.
        let mut buf = BytesMut::from(connect.as_bytes());
        assert_eq!(read(&mut e, b, &mut buf, 1), ReadStatus::Closed);
        assert_eq!(out(&mut e, b), "-ERR 'Authorization Violation'\r\n");
    }

    #[test]
    fn silent_client_times_out_on_tick() {
        let mut e = engine("token = \"t\"\ntimeout = 2");
        let c = e.open_conn("127.0.0.1", 0, true);
        let ok = e.open_conn("127.0.0.1", 0, true);
        out(&mut e, c);
        out(&mut e, ok);
        let mut buf = BytesMut::from(&b"CONNECT {\"verbose\":false,\"auth_token\":\"t\"}\r\n"[..]);
        read(&mut e, ok, &mut buf, 10);
        e.tick(1_999_999_999);
        assert!(e.session(c).is_open());
        e.tick(2_000_000_000);
        assert!(!e.session(c).is_open());
        assert_eq!(out(&mut e, c), "-ERR 'Authentication Timeout'\r\n");
        assert!(e.session(ok).is_open());
    }

    #[test]
    fn bcrypt_check_blocks_input_until_finished() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let mut e = engine(&format!(
            "users = [ {{ user = \"h\", password = \"{hash}\" }} ]"
        ));
        for (password_ok, expect) in [
            (true, "PONG\r\n"),
            (false, "-ERR 'Authorization Violation'\r\n"),
        ] {
            let c = e.open_conn("127.0.0.1", 0, true);
            out(&mut e, c);
            let mut buf = BytesMut::from(
                &b"CONNECT {\"verbose\":false,\"user\":\"h\",\"pass\":\"pw\"}\r\nPING\r\n"[..],
            );
            assert_eq!(read(&mut e, c, &mut buf, 1), ReadStatus::Blocked);
            assert_eq!(&buf[..], b"PING\r\n", "input after CONNECT waits");
            let (password, hash) = e.take_auth_job(c).expect("a bcrypt job");
            assert!(e.take_auth_job(c).is_none(), "taken once");
            assert!(crate::auth::bcrypt_matches(&password, &hash));
            e.tick(10_000_000_000); // no auth timeout while the check runs
            assert!(e.session(c).is_open());
            e.finish_auth(c, password_ok);
            let mut ev = EngineEvents::default();
            e.take_events(&mut ev);
            assert!(ev.unblocked.contains(&c));
            read(&mut e, c, &mut buf, 2);
            assert_eq!(out(&mut e, c), expect);
        }
    }

    /// Operator mode on the engine alone: the wall clock is the injected epoch plus the core
    /// clock. The fixture `expired` user's JWT expired an hour before it was made; ten seconds
    /// before that moment it connects, and the tick that passes `exp` closes it.
    #[test]
    fn jwt_user_is_checked_at_wall_time_and_closed_when_its_jwt_expires() {
        use crate::auth::jwt::{claims::UserClaims, token, Trust};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/");
        let fixture = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
        let ids: std::collections::HashMap<String, String> =
            serde_json::from_str(&fixture("ids.json")).unwrap();
        let trust = Trust::new(
            &fixture("op.jwt"),
            &ids["sys"],
            &[(ids["team_a"].clone(), fixture("team_a.jwt"))],
        )
        .unwrap();
        let creds = fixture("expired.creds");
        let jwt = token::creds_jwt(&creds).unwrap().to_owned();
        let seed = creds.lines().find(|l| l.starts_with("SU")).unwrap();
        let kp = nkeys::KeyPair::from_seed(seed).unwrap();
        let exp = token::decode::<UserClaims>(&jwt).unwrap().data.exp;

        let mut e = engine("");
        // Operator mode's accounts are the resolver's: the user's account must exist.
        let accounts = crate::accounts::Accounts::build(
            &crate::accounts::from_operator::accounts_of(&trust, 0),
            Some(trust.system_account()),
            false,
            [0; 4],
        )
        .expect("accounts of the fixtures");
        e.set_accounts(Arc::new(accounts));
        e.set_auth(Some(Arc::new(Authenticator::from_operator(trust))));
        let connect = |e: &mut Engine, wall_s: i64| {
            e.set_wall_epoch_ns(wall_s as u64 * 1_000_000_000);
            let c = e.open_conn("127.0.0.1", 0, true);
            let info = out(e, c);
            let nonce = info.split("\"nonce\":\"").nth(1).unwrap()[..15].to_string();
            use base64::Engine as _;
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(kp.sign(nonce.as_bytes()).unwrap());
            let line = format!(
                "CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\"}}\r\nPING\r\n"
            );
            let mut buf = BytesMut::from(line.as_bytes());
            read(e, c, &mut buf, 0);
            (c, out(e, c))
        };
        let (late, said) = connect(&mut e, exp + 1);
        assert_eq!(said, "-ERR 'Authorization Violation'\r\n");
        assert!(!e.session(late).is_open());

        let (c, said) = connect(&mut e, exp - 10);
        assert_eq!(said, "PONG\r\n");
        e.tick(9_000_000_000);
        assert!(e.session(c).is_open());
        e.tick(10_000_000_000);
        assert!(!e.session(c).is_open());
        let said = out(&mut e, c); // a keepalive PING may come first
        assert!(
            said.ends_with("-ERR 'User Authentication Expired'\r\n"),
            "{said}"
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"a.b"), "\"a.b\"");
        assert_eq!(go_quote(b"a\"b"), "\"a\\\"b\"");
        assert_eq!(go_quote(b"a\x01"), "\"a\\x01\"");
    }
}
