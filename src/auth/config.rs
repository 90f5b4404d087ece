//! The `[authorization]` TOML schema (users of the default account), mirroring nats-server's
//! `authorization { ... }` block, and its semantic checks. The checks return the dotted key
//! of the offending value (e.g. `authorization.users[2].nkey`) so the caller can name its line.

use serde::{Deserialize, Serialize};

use crate::subject;

/// nats-server's auth timeout when authentication is configured and none is given.
pub const DEFAULT_AUTH_TIMEOUT_SECS: f64 = 2.0;

/// `[authorization]`: a token, or a list of users (password, bcrypt hash or nkey), and how
/// long a client has to send CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// A single shared token (CONNECT `auth_token`); exclusive with `users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The users of the default account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserConfig>,
    /// Seconds a client has to send CONNECT (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
}

/// A number of seconds (integer or fractional), as nats-server's `timeout`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl PartialEq for Seconds {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Seconds {}

/// One user: `user` + `password` (plain or bcrypt `$2a$`/`$2b$`), or an `nkey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// User name (CONNECT `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password, or its bcrypt hash (CONNECT `pass` carries the plaintext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A user nkey public key (`U...`); the client signs the INFO nonce with its seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// What the user may publish and subscribe to; absent = everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsConfig>,
}

/// A user's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsConfig {
    /// Subjects the user may publish to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<SubjectPermissionConfig>,
    /// Subjects the user may subscribe to (entries may be `"subject queue"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<SubjectPermissionConfig>,
    /// Lets the user publish to the reply subject of requests it received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_responses: Option<AllowResponsesConfig>,
}

/// `publish`/`subscribe`: a subject, a list (= allow), or `{ allow = [...], deny = [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SubjectPermissionConfig {
    /// One allowed subject.
    One(String),
    /// Allowed subjects.
    List(Vec<String>),
    /// Explicit allow and deny lists.
    Rules(AllowDeny),
}

/// `{ allow = [...], deny = [...] }`; deny wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowDeny {
    /// Allowed subjects (absent = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Denied subjects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl SubjectPermissionConfig {
    /// The allow list (`None` = everything) and the deny list.
    pub fn allow_deny(&self) -> (Option<Vec<String>>, Vec<String>) {
        match self {
            SubjectPermissionConfig::One(s) => (Some(vec![s.clone()]), Vec::new()),
            SubjectPermissionConfig::List(l) => (Some(l.clone()), Vec::new()),
            SubjectPermissionConfig::Rules(r) => (r.allow.clone(), r.deny.clone()),
        }
    }
}

/// `allow_responses = true` or `{ max = 1, expires = "1m" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllowResponsesConfig {
    /// `true` = at most one response within 2 minutes (nats-server's defaults).
    Flag(bool),
    /// Explicit bounds.
    Limits(ResponseLimits),
}

/// `{ max, expires }` of `allow_responses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseLimits {
    /// Responses allowed per request received; 0 = default (1), negative = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// How long after the request a response is allowed (Go duration, e.g. `"1m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A refused `[authorization]` value: the dotted key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfigError {
    /// Dotted key, e.g. `authorization.users[0].permissions.publish`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn refuse(key: String, reason: impl Into<String>) -> Result<(), AuthConfigError> {
    Err(AuthConfigError {
        key,
        reason: reason.into(),
    })
}

impl AuthorizationConfig {
    /// Whether any authentication is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }

    /// The auth timeout in seconds (default 2).
    pub fn timeout_secs(&self) -> f64 {
        self.timeout.map_or(DEFAULT_AUTH_TIMEOUT_SECS, |s| s.0)
    }

    /// Semantic checks; `Err` names the offending key.
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        self.validate_for(false)
    }

    /// [`validate`](Self::validate); `cert_users`: a `user` without password is one a TLS
    /// client certificate names (`tls.verify_and_map`).
    pub fn validate_for(&self, cert_users: bool) -> Result<(), AuthConfigError> {
        let base = "authorization";
        if self.token.is_some() && !self.users.is_empty() {
            return refuse(
                format!("{base}.token"),
                "cannot be combined with `users` (use one or the other)",
            );
        }
        if let Some(t) = &self.token {
            if t.is_empty() {
                return refuse(format!("{base}.token"), "must not be empty");
            }
        }
        if let Some(Seconds(t)) = self.timeout {
            if !(t.is_finite() && t > 0.0) {
                return refuse(
                    format!("{base}.timeout"),
                    format!("must be a positive number of seconds, got {t}"),
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = format!("{base}.users[{i}]");
            u.validate(&key, cert_users)?;
            let id = u.user.as_deref().or(u.nkey.as_deref()).unwrap_or_default();
            if !names.insert(id.to_owned()) {
                return refuse(key, format!("duplicate user {id:?}"));
            }
        }
        Ok(())
    }
}

impl UserConfig {
    pub(crate) fn validate(&self, key: &str, cert_users: bool) -> Result<(), AuthConfigError> {
        match (&self.user, &self.password, &self.nkey) {
            (Some(_), _, Some(_)) => {
                return refuse(format!("{key}.nkey"), "cannot be combined with `user`")
            }
            (Some(u), _, None) if u.is_empty() => {
                return refuse(format!("{key}.user"), "must not be empty")
            }
            (Some(_), None, None) if !cert_users => {
                return refuse(format!("{key}.password"), "is required with `user`")
            }
            (Some(_), None, None) => {}
            (None, Some(_), _) => {
                return refuse(format!("{key}.user"), "is required with `password`")
            }
            (None, None, None) => return refuse(key.to_owned(), "needs `user` or `nkey`"),
            (None, None, Some(nk)) => {
                if !is_user_public_key(nk) {
                    return refuse(
                        format!("{key}.nkey"),
                        format!("{nk:?} is not a valid user nkey public key (U...)"),
                    );
                }
            }
            (Some(_), Some(_), None) => {}
        }
        let Some(p) = &self.permissions else {
            return Ok(());
        };
        for (name, rules, queues) in [
            ("publish", &p.publish, false),
            ("subscribe", &p.subscribe, true),
        ] {
            let Some(rules) = rules else { continue };
            let (allow, deny) = rules.allow_deny();
            for s in allow.iter().flatten().chain(deny.iter()) {
                if !is_valid_permission_subject(s, queues) {
                    return refuse(
                        format!("{key}.permissions.{name}"),
                        format!("invalid subject {s:?}"),
                    );
                }
            }
        }
        if let Some(AllowResponsesConfig::Limits(l)) = &p.allow_responses {
            if let Some(e) = &l.expires {
                if crate::jetstream::gocompat::duration::parse_go_duration(e).is_none() {
                    return refuse(
                        format!("{key}.permissions.allow_responses.expires"),
                        format!("{e:?} is not a duration such as \"1m\" or \"500ms\""),
                    );
                }
            }
        }
        Ok(())
    }
}

/// A subject (with wildcards), or for subscribe permissions `"subject queue"`.
pub(crate) fn is_valid_permission_subject(s: &str, allow_queue: bool) -> bool {
    let mut parts = s.split_whitespace();
    let (Some(subj), queue) = (parts.next(), parts.next()) else {
        return false;
    };
    if parts.next().is_some() || (queue.is_some() && !allow_queue) {
        return false;
    }
    subject::is_valid_subscribe_subject(subj.as_bytes())
}

/// Whether `key` decodes as an nkey user public key.
pub fn is_user_public_key(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}
