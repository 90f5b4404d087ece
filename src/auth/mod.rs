//! Authentication and permissions (sans-IO). From the `[authorization]` config an
//! [`Authenticator`] decides, for one CONNECT and the nonce its INFO carried, who the user is
//! and what it may do. No clock, no sockets; bcrypt hashes (slow on purpose) are not checked
//! here but handed back as a [`Decision::VerifyBcrypt`] job the shell runs off the core.
//!
//! Users come from `[authorization]` (account `$G`) and from each `[accounts.NAME]`; the
//! [`Authenticated`] names the user's account, which the engine binds the session to.

pub mod config;
pub mod jwt;
pub mod permissions;

use std::sync::Arc;

use base64::Engine as _;

use self::config::{AllowResponsesConfig, AuthorizationConfig};
pub use self::permissions::{ConnPermissions, Permissions, ResponsePermission, SubjectRules};
use crate::protocol::info::ConnectOptions;

/// Bytes of randomness in a nonce (nats-server: 11, i.e. 15 base64url characters).
pub const NONCE_RAW_BYTES: usize = 11;

/// Who a connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// User name or nkey (logs, monitoring).
    pub user: String,
    /// The user's permissions; `None` = may do anything.
    pub permissions: Option<Arc<Permissions>>,
    /// The account the user belongs to ([`GLOBAL_ACCOUNT`] unless accounts are configured;
    /// for a JWT user, the account's public key).
    pub account: Arc<str>,
    /// For a JWT user: the account's limits, the user's own, and when its JWT expires.
    pub jwt: Option<Arc<jwt::JwtGrant>>,
}

/// nats-server's name for the account of users not bound to a configured account.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// The global account's name, shared.
pub fn global_account() -> Arc<str> {
    Arc::from(GLOBAL_ACCOUNT)
}

/// The outcome of one CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated.
    Accept(Authenticated),
    /// `-ERR 'Authorization Violation'` and close.
    Reject,
    /// Accept as `then` if `bcrypt::verify(password, hash)` holds (to run off the core).
    VerifyBcrypt {
        /// What the client sent.
        password: String,
        /// The configured hash.
        hash: String,
        /// The user, if it matches.
        then: Authenticated,
    },
}

/// A CONNECT waiting for its bcrypt check: the job (taken by the shell) and who it will be.
#[derive(Debug, Clone)]
pub struct PendingAuth {
    /// `(password, hash)` until the shell takes it to run [`bcrypt_matches`].
    pub job: Option<(String, String)>,
    /// The user if the password matches.
    pub then: Authenticated,
}

/// How one configured user proves itself.
#[derive(Debug, Clone)]
enum Credential {
    Password(String),
    Bcrypt(String),
    /// A user only a TLS client certificate can name (`tls.verify_and_map`).
    CertOnly,
}

#[derive(Debug, Clone)]
struct PasswordUser {
    name: String,
    credential: Credential,
    permissions: Option<Arc<Permissions>>,
    account: Arc<str>,
}

#[derive(Debug, Clone)]
struct NkeyUser {
    public_key: String,
    permissions: Option<Arc<Permissions>>,
    account: Arc<str>,
}

/// The server's authentication rules (immutable; shared by every core).
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    token: Option<Credential>,
    users: Vec<PasswordUser>,
    nkeys: Vec<NkeyUser>,
    timeout_ns: u64,
    /// Operator mode: the chain of trust JWT users are checked against (then the only way in).
    operator: Option<Arc<jwt::Trust>>,
}

fn is_bcrypt(s: &str) -> bool {
    s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$")
}

fn credential(secret: &str) -> Credential {
    if is_bcrypt(secret) {
        Credential::Bcrypt(secret.to_owned())
    } else {
        Credential::Password(secret.to_owned())
    }
}

/// Compiles a user's `permissions` config.
fn compile_permissions(p: &config::PermissionsConfig) -> Permissions {
    let rules = |c: &Option<config::SubjectPermissionConfig>| {
        c.as_ref().map(|c| {
            let (allow, deny) = c.allow_deny();
            SubjectRules::new(allow.as_deref(), &deny)
        })
    };
    let responses = match &p.allow_responses {
        None | Some(AllowResponsesConfig::Flag(false)) => None,
        Some(AllowResponsesConfig::Flag(true)) => Some(ResponsePermission {
            max_msgs: permissions::DEFAULT_RESPONSE_MAX_MSGS,
            expires_ns: permissions::DEFAULT_RESPONSE_EXPIRES_NS,
        }),
        Some(AllowResponsesConfig::Limits(l)) => Some(ResponsePermission {
            max_msgs: match l.max {
                None | Some(0) => permissions::DEFAULT_RESPONSE_MAX_MSGS,
                Some(m) => m,
            },
            expires_ns: match l
                .expires
                .as_deref()
                .and_then(crate::jetstream::gocompat::duration::parse_go_duration)
            {
                None | Some(0) => permissions::DEFAULT_RESPONSE_EXPIRES_NS,
                Some(ns) => ns,
            },
        }),
    };
    let mut publish = rules(&p.publish);
    if responses.is_some() {
        // As nats-server: allow_responses turns off the blanket publish allow.
        let p = publish.get_or_insert_with(|| SubjectRules::new(None, &[]));
        p.ensure_allow_list();
    }
    Permissions {
        publish,
        subscribe: rules(&p.subscribe),
        responses,
    }
}

impl Authenticator {
    /// The rules of a validated `[authorization]` section; `None` when it configures nothing.
    pub fn from_config(cfg: &AuthorizationConfig) -> Option<Authenticator> {
        if !cfg.is_enabled() {
            return None;
        }
        let mut auth = Authenticator {
            token: cfg.token.as_deref().map(credential),
            timeout_ns: (cfg.timeout_secs() * 1e9) as u64,
            ..Authenticator::default()
        };
        auth.add_users(&cfg.users, &global_account());
        Some(auth)
    }

    /// The rules of `[authorization]` (users of `$G`) and every `[accounts.NAME]`'s users;
    /// `None` when neither configures any.
    pub fn from_configs(
        authorization: Option<&AuthorizationConfig>,
        accounts: &std::collections::BTreeMap<String, crate::accounts::config::AccountConfig>,
    ) -> Option<Authenticator> {
        let mut auth = authorization
            .and_then(Authenticator::from_config)
            .unwrap_or_else(|| Authenticator {
                timeout_ns: (authorization
                    .map_or(config::DEFAULT_AUTH_TIMEOUT_SECS, |a| a.timeout_secs())
                    * 1e9) as u64,
                ..Authenticator::default()
            });
        for (name, acc) in accounts {
            auth.add_users(&acc.users, &Arc::from(name.as_str()));
        }
        let enabled = auth.token.is_some() || !auth.users.is_empty() || !auth.nkeys.is_empty();
        enabled.then_some(auth)
    }

    fn add_users(&mut self, users: &[config::UserConfig], account: &Arc<str>) {
        let auth = self;
        for u in users {
            let permissions = u
                .permissions
                .as_ref()
                .map(|p| Arc::new(compile_permissions(p)));
            match (&u.user, &u.password, &u.nkey) {
                (Some(name), Some(pw), _) => auth.users.push(PasswordUser {
                    name: name.clone(),
                    credential: credential(pw),
                    permissions,
                    account: account.clone(),
                }),
                (_, _, Some(nk)) => auth.nkeys.push(NkeyUser {
                    public_key: nk.clone(),
                    permissions,
                    account: account.clone(),
                }),
                (Some(name), None, None) => auth.users.push(PasswordUser {
                    name: name.clone(),
                    credential: Credential::CertOnly,
                    permissions,
                    account: account.clone(),
                }),
                _ => {}
            }
        }
    }

    /// Operator mode (`[operator]`): only JWT users get in, checked against `trust`.
    pub fn from_operator(trust: jwt::Trust) -> Authenticator {
        Authenticator {
            timeout_ns: (config::DEFAULT_AUTH_TIMEOUT_SECS * 1e9) as u64,
            operator: Some(Arc::new(trust)),
            ..Authenticator::default()
        }
    }

    /// The operator's chain of trust, in operator mode.
    pub fn operator(&self) -> Option<&Arc<jwt::Trust>> {
        self.operator.as_ref()
    }

    /// Whether INFO must carry a nonce (some user signs in with an nkey, or operator mode).
    pub fn wants_nonce(&self) -> bool {
        !self.nkeys.is_empty() || self.operator.is_some()
    }

    /// Time a client has to send CONNECT.
    pub fn timeout_ns(&self) -> u64 {
        self.timeout_ns
    }

    /// Decides one CONNECT; `nonce` is what this connection's INFO carried. Without a wall
    /// clock JWT users are refused: use [`Authenticator::check_at`].
    pub fn check(&self, opts: &ConnectOptions, nonce: Option<&str>) -> Decision {
        self.check_at(opts, nonce, None, None)
    }

    /// [`Authenticator::check`] with the client's address and the wall clock (unix seconds),
    /// which JWT users need (`src` CIDRs, expiry).
    pub fn check_at(
        &self,
        opts: &ConnectOptions,
        nonce: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
        now_unix: Option<i64>,
    ) -> Decision {
        if let Some(trust) = &self.operator {
            return check_jwt(trust, opts, nonce, client_ip, now_unix);
        }
        if let Some(nk) = opts.nkey.as_deref().filter(|k| !k.is_empty()) {
            return self.check_nkey(nk, opts.sig.as_deref(), nonce);
        }
        if let Some(token) = &self.token {
            let sent = opts.auth_token.as_deref().unwrap_or_default();
            return verify(token, sent, || Authenticated {
                user: String::new(),
                permissions: None,
                account: global_account(),
                jwt: None,
            });
        }
        let Some(name) = opts.user.as_deref() else {
            return Decision::Reject;
        };
        let Some(u) = self.users.iter().find(|u| u.name == name) else {
            return Decision::Reject;
        };
        verify(
            &u.credential,
            opts.pass.as_deref().unwrap_or_default(),
            || Authenticated {
                user: u.name.clone(),
                permissions: u.permissions.clone(),
                account: u.account.clone(),
                jwt: None,
            },
        )
    }

    /// `tls.verify_and_map`: the first configured user the verified client certificate names
    /// (`names` in nats-server's order, see `crate::tls_map`); CONNECT credentials are ignored.
    pub fn check_mapped(&self, names: &[String]) -> Decision {
        for name in names {
            if let Some(u) = self.users.iter().find(|u| &u.name == name) {
                return Decision::Accept(Authenticated {
                    user: u.name.clone(),
                    permissions: u.permissions.clone(),
                    account: u.account.clone(),
                    jwt: None,
                });
            }
        }
        Decision::Reject
    }

    fn check_nkey(&self, nkey: &str, sig: Option<&str>, nonce: Option<&str>) -> Decision {
        let (Some(user), Some(sig), Some(nonce)) =
            (self.nkeys.iter().find(|u| u.public_key == nkey), sig, nonce)
        else {
            return Decision::Reject;
        };
        if !nonce_signed_by(nkey, sig, nonce) {
            return Decision::Reject;
        }
        Decision::Accept(Authenticated {
            user: user.public_key.clone(),
            permissions: user.permissions.clone(),
            account: user.account.clone(),
            jwt: None,
        })
    }
}

/// Whether `sig` (base64) is `public_key`'s signature of `nonce`.
pub(crate) fn nonce_signed_by(public_key: &str, sig: &str, nonce: &str) -> bool {
    // nats.go sends base64url without padding, nats-py standard base64: accept both.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(sig));
    let (Ok(raw), Ok(kp)) = (raw, nkeys::KeyPair::from_public_key(public_key)) else {
        return false;
    };
    kp.verify(nonce.as_bytes(), &raw).is_ok()
}

/// Operator mode: the CONNECT's user JWT and nonce signature against the chain of trust.
fn check_jwt(
    trust: &jwt::Trust,
    opts: &ConnectOptions,
    nonce: Option<&str>,
    client_ip: Option<std::net::IpAddr>,
    now_unix: Option<i64>,
) -> Decision {
    let (Some(token), Some(now)) = (opts.jwt.as_deref().filter(|j| !j.is_empty()), now_unix) else {
        tracing::debug!("authentication requires a user JWT");
        return Decision::Reject;
    };
    match trust.authenticate(token, opts.sig.as_deref(), nonce, client_ip, now) {
        Ok(u) => Decision::Accept(Authenticated {
            user: u.user,
            permissions: u.permissions,
            account: u.account,
            jwt: Some(u.grant),
        }),
        Err(why) => {
            tracing::debug!(%why, "JWT authentication refused");
            Decision::Reject
        }
    }
}

fn verify(cred: &Credential, sent: &str, who: impl FnOnce() -> Authenticated) -> Decision {
    match cred {
        Credential::Password(pw) if constant_time_eq(pw.as_bytes(), sent.as_bytes()) => {
            Decision::Accept(who())
        }
        Credential::Password(_) | Credential::CertOnly => Decision::Reject,
        Credential::Bcrypt(hash) => Decision::VerifyBcrypt {
            password: sent.to_owned(),
            hash: hash.clone(),
            then: who(),
        },
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs a [`Decision::VerifyBcrypt`] check (CPU-heavy: call it off the core).
pub fn bcrypt_matches(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A nonce for INFO from raw random bytes (base64url without padding, as nats-server).
pub fn encode_nonce(raw: &[u8; NONCE_RAW_BYTES]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests;
