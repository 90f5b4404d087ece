//! Hub-side leaf authorization (sans-IO): `[leafnodes.authorization]`, as nats-server's
//! `leafnodes { authorization { ... } }`, and the decision for one leaf `CONNECT`.
//!
//! ```toml
//! [leafnodes.authorization]          # one user ...
//! user = "leaf"
//! password = "s3cret"                # plain or bcrypt
//! account = "TEAM_A"                 # the link binds to it ($G when absent)
//! # nkey = "U..."                    # ... or one nkey (signs the INFO nonce) ...
//! # users = [ { user = "a", password = "x", account = "TEAM_A" } ]   # ... or several
//! ```
//!
//! As nats-server: the single user, else the nkey, else the `users` list decides; with none
//! of them the leaf authenticates like a client (`[authorization]`, `[accounts]`, operator
//! JWTs: the engine asks its [`crate::auth::Authenticator`]) and, when the server has no
//! client authentication either, binds to `account` (or `$G`). There is no token here (a
//! token reaches a hub through the client rules).

use serde::{Deserialize, Serialize};

use super::config::LeafConfigError;
use crate::auth::config::Seconds;

/// `[leafnodes.authorization]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafAuthorizationConfig {
    /// The one user a leaf must log in as.
    #[serde(alias = "username", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Its password (plain or bcrypt).
    #[serde(alias = "pass", skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The one nkey (user public key) a leaf must sign the nonce with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Local account the single user or nkey (or, without any authentication, every leaf)
    /// binds to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Seconds a leaf has to send CONNECT (nats-server's `timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Several users, each bound to its account.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<LeafUserConfig>,
}

/// One entry of `[leafnodes.authorization] users`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafUserConfig {
    /// User name.
    #[serde(alias = "username")]
    pub user: String,
    /// Password (plain or bcrypt).
    #[serde(alias = "pass")]
    pub password: String,
    /// Local account the link binds to ($G when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

fn refuse<T>(key: &str, reason: impl Into<String>) -> Result<T, LeafConfigError> {
    Err(LeafConfigError {
        key: key.to_string(),
        reason: reason.into(),
    })
}

impl LeafAuthorizationConfig {
    /// nats-server's checks: no single user/nkey together with `users`, no duplicate user,
    /// a valid user nkey, a positive timeout.
    pub fn validate(&self) -> Result<(), LeafConfigError> {
        let base = "leafnodes.authorization";
        if !self.users.is_empty() {
            if self.user.is_some() {
                return refuse(
                    &format!("{base}.users"),
                    "can not have a single user/pass and a users array",
                );
            }
            if self.nkey.is_some() {
                return refuse(
                    &format!("{base}.users"),
                    "can not have a single nkey and a users array",
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if !seen.insert(u.user.as_str()) {
                return refuse(
                    &format!("{base}.users[{i}]"),
                    format!(
                        "duplicate user {:?} detected in leafnode authorization",
                        u.user
                    ),
                );
            }
        }
        if let Some(nk) = &self.nkey {
            if !nk.starts_with('U') || nkeys::KeyPair::from_public_key(nk).is_err() {
                return refuse(
                    &format!("{base}.nkey"),
                    "Not a valid public nkey for leafnode authorization",
                );
            }
        }
        if let Some(Seconds(t)) = self.timeout {
            if !(t.is_finite() && t > 0.0) {
                return refuse(
                    &format!("{base}.timeout"),
                    format!("must be a positive number of seconds, got {t}"),
                );
            }
        }
        Ok(())
    }

    /// Every local account named here, with its dotted key (checked against `[accounts]`).
    pub fn accounts(&self) -> Vec<(String, &str)> {
        let base = "leafnodes.authorization";
        let mut out = Vec::new();
        if let Some(a) = &self.account {
            out.push((format!("{base}.account"), a.as_str()));
        }
        for (i, u) in self.users.iter().enumerate() {
            if let Some(a) = &u.account {
                out.push((format!("{base}.users[{i}].account"), a.as_str()));
            }
        }
        out
    }
}

/// What a leaf's CONNECT carries for authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeafCredentials<'a> {
    /// `user`.
    pub user: Option<&'a str>,
    /// `pass`.
    pub pass: Option<&'a str>,
    /// `nkey` (user public key).
    pub nkey: Option<&'a str>,
    /// `sig`: the nonce signed with the nkey's seed.
    pub sig: Option<&'a str>,
}

/// The outcome of one leaf CONNECT against `[leafnodes.authorization]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafAuthDecision {
    /// Bind the link to `account` (`None` = `$G`).
    Accept {
        /// Who logged in (logs).
        user: String,
        /// Local account.
        account: Option<String>,
    },
    /// `-ERR 'Authorization Violation'` and close.
    Reject,
    /// Accept as `account` if `password` matches the bcrypt `hash` (checked off the core).
    VerifyBcrypt {
        /// What the leaf sent.
        password: String,
        /// The configured hash.
        hash: String,
        /// Who it is if it matches.
        user: String,
        /// Its local account.
        account: Option<String>,
    },
    /// No leaf credentials are configured: authenticate as a client would.
    AsClient,
}

/// `[leafnodes.authorization]`, ready to decide CONNECTs (shared by every core).
#[derive(Debug, Clone, Default)]
pub struct LeafAuthorization {
    cfg: LeafAuthorizationConfig,
}

fn is_bcrypt(s: &str) -> bool {
    s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$") || s.starts_with("$2x$")
}

fn password_decision(
    configured: &str,
    sent: &str,
    user: &str,
    account: Option<&String>,
) -> LeafAuthDecision {
    if is_bcrypt(configured) {
        return LeafAuthDecision::VerifyBcrypt {
            password: sent.to_string(),
            hash: configured.to_string(),
            user: user.to_string(),
            account: account.cloned(),
        };
    }
    let same = configured.len() == sent.len()
        && configured
            .bytes()
            .zip(sent.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        LeafAuthDecision::Accept {
            user: user.to_string(),
            account: account.cloned(),
        }
    } else {
        LeafAuthDecision::Reject
    }
}

impl LeafAuthorization {
    /// The rules of a validated config.
    pub fn new(cfg: LeafAuthorizationConfig) -> LeafAuthorization {
        LeafAuthorization { cfg }
    }

    /// The account a leaf binds to when nothing authenticates it (`None` = `$G`).
    pub fn default_account(&self) -> Option<&str> {
        self.cfg.account.as_deref()
    }

    /// Seconds a leaf has to send CONNECT, if configured.
    pub fn timeout_secs(&self) -> Option<f64> {
        self.cfg.timeout.map(|s| s.0)
    }

    /// Whether leaf credentials of their own are configured (else [`LeafAuthDecision::AsClient`]).
    pub fn has_credentials(&self) -> bool {
        self.cfg.user.is_some() || self.cfg.nkey.is_some() || !self.cfg.users.is_empty()
    }

    /// Decides one CONNECT; `nonce` is what the link's INFO carried.
    pub fn check(&self, c: &LeafCredentials<'_>, nonce: &str) -> LeafAuthDecision {
        let cfg = &self.cfg;
        if let Some(user) = &cfg.user {
            if c.user != Some(user.as_str()) {
                return LeafAuthDecision::Reject;
            }
            return password_decision(
                cfg.password.as_deref().unwrap_or_default(),
                c.pass.unwrap_or_default(),
                user,
                cfg.account.as_ref(),
            );
        }
        if let Some(nkey) = &cfg.nkey {
            let (Some(sent), Some(sig)) = (c.nkey, c.sig) else {
                return LeafAuthDecision::Reject;
            };
            if sent != nkey || !crate::auth::nonce_signed_by(nkey, sig, nonce) {
                return LeafAuthDecision::Reject;
            }
            return LeafAuthDecision::Accept {
                user: nkey.clone(),
                account: cfg.account.clone(),
            };
        }
        if !cfg.users.is_empty() {
            let Some(u) = cfg.users.iter().find(|u| Some(u.user.as_str()) == c.user) else {
                return LeafAuthDecision::Reject;
            };
            return password_decision(
                &u.password,
                c.pass.unwrap_or_default(),
                &u.user,
                u.account.as_ref(),
            );
        }
        LeafAuthDecision::AsClient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds<'a>(user: &'a str, pass: &'a str) -> LeafCredentials<'a> {
        LeafCredentials {
            user: Some(user),
            pass: Some(pass),
            ..Default::default()
        }
    }

    #[test]
    fn parses_nats_server_names_and_checks_them() {
        let c: LeafAuthorizationConfig =
            toml::from_str("username = \"l\"\npass = \"p\"\naccount = \"A\"\ntimeout = 1.5\n")
                .unwrap();
        assert_eq!(c.user.as_deref(), Some("l"));
        assert_eq!(c.password.as_deref(), Some("p"));
        assert!(c.validate().is_ok());
        let both: LeafAuthorizationConfig = toml::from_str(
            "user = \"l\"\npassword = \"p\"\nusers = [ { user = \"a\", password = \"b\" } ]\n",
        )
        .unwrap();
        assert_eq!(
            both.validate().unwrap_err().reason,
            "can not have a single user/pass and a users array"
        );
        let dup: LeafAuthorizationConfig = toml::from_str(
            "users = [ { user = \"a\", password = \"b\" }, { user = \"a\", password = \"c\" } ]\n",
        )
        .unwrap();
        assert!(dup
            .validate()
            .unwrap_err()
            .reason
            .contains("duplicate user"));
        let bad_nkey = LeafAuthorizationConfig {
            nkey: Some("Anot".into()),
            ..Default::default()
        };
        assert_eq!(
            bad_nkey.validate().unwrap_err().key,
            "leafnodes.authorization.nkey"
        );
        assert!(toml::from_str::<LeafAuthorizationConfig>("token = \"t\"").is_err());
    }

    #[test]
    fn single_user_users_and_fallback() {
        let single = LeafAuthorization::new(LeafAuthorizationConfig {
            user: Some("leaf".into()),
            password: Some("pw".into()),
            account: Some("A".into()),
            ..Default::default()
        });
        assert_eq!(
            single.check(&creds("leaf", "pw"), "n"),
            LeafAuthDecision::Accept {
                user: "leaf".into(),
                account: Some("A".into())
            }
        );
        assert_eq!(
            single.check(&creds("leaf", "px"), "n"),
            LeafAuthDecision::Reject
        );
        assert_eq!(
            single.check(&creds("other", "pw"), "n"),
            LeafAuthDecision::Reject
        );
        assert_eq!(
            single.check(&LeafCredentials::default(), "n"),
            LeafAuthDecision::Reject
        );
        let many = LeafAuthorization::new(LeafAuthorizationConfig {
            users: vec![
                LeafUserConfig {
                    user: "a".into(),
                    password: "x".into(),
                    account: Some("TA".into()),
                },
                LeafUserConfig {
                    user: "b".into(),
                    password: "$2a$11$abcdefghijklmnopqrstuv".into(),
                    account: None,
                },
            ],
            ..Default::default()
        });
        assert_eq!(
            many.check(&creds("a", "x"), "n"),
            LeafAuthDecision::Accept {
                user: "a".into(),
                account: Some("TA".into())
            }
        );
        assert!(matches!(
            many.check(&creds("b", "y"), "n"),
            LeafAuthDecision::VerifyBcrypt { account: None, .. }
        ));
        assert_eq!(many.check(&creds("c", "x"), "n"), LeafAuthDecision::Reject);
        let none = LeafAuthorization::new(LeafAuthorizationConfig {
            account: Some("A".into()),
            ..Default::default()
        });
        assert!(!none.has_credentials());
        assert_eq!(
            none.check(&creds("a", "x"), "n"),
            LeafAuthDecision::AsClient
        );
        assert_eq!(none.default_account(), Some("A"));
    }

    #[test]
    fn nkey_signs_the_nonce() {
        use base64::Engine as _;
        let kp = nkeys::KeyPair::new_user();
        let auth = LeafAuthorization::new(LeafAuthorizationConfig {
            nkey: Some(kp.public_key()),
            ..Default::default()
        });
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(b"nonce1").unwrap());
        let pk = kp.public_key();
        let c = LeafCredentials {
            nkey: Some(&pk),
            sig: Some(&sig),
            ..Default::default()
        };
        assert!(matches!(
            auth.check(&c, "nonce1"),
            LeafAuthDecision::Accept { account: None, .. }
        ));
        assert_eq!(auth.check(&c, "nonce2"), LeafAuthDecision::Reject);
    }
}
