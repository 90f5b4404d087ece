//! `[leafnodes]`: the schema (nats-server's names) and its checks.
//!
//! ```toml
//! [leafnodes]
//! port = 7422                        # accept leaf links (hub role); absent or 0 = off
//! [[leafnodes.remotes]]
//! urls = ["nats-leaf://127.0.0.1:7422"]
//! account = "TEAM_A"                 # optional local account bound to this remote
//! credentials = "/path/user.creds"   # optional
//! [leafnodes.authorization]          # hub role: what leafs log in with (see `auth`)
//! user = "leaf"
//! password = "s3cret"
//! account = "TEAM_A"
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::LeafUrl;

/// `[leafnodes]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafNodesConfig {
    /// Leaf listener port (hub role); 0 = off.
    pub port: u16,
    /// Leaf listener address; the server's `addr` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Hubs to solicit (leaf role).
    pub remotes: Vec<RemoteConfig>,
    /// Credentials accepted leafs must present (hub role), as nats-server's
    /// `leafnodes { authorization { ... } }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<super::auth::LeafAuthorizationConfig>,
    /// TLS on the leaf port (`[leafnodes.tls]`, the client port's schema): accepted links
    /// get INFO in plaintext, then the handshake, as nats-server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsConfig>,
}

/// One `[[leafnodes.remotes]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// Hub URLs (`nats-leaf://[user:pass@]host[:port]`).
    pub urls: Vec<String>,
    /// Local account bound to the link (`$G` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// A `.creds` file (user JWT + seed) presented to the hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PathBuf>,
    /// Subjects never taken from the hub (messages dropped, interest not announced).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_imports: Vec<String>,
    /// Subjects never sent to the hub.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_exports: Vec<String>,
    /// TLS to the hub (`[leafnodes.remotes.tls]`); needed by `tls://` URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::tls::RemoteTlsConfig>,
}

/// A bad `[leafnodes]` value: the dotted key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafConfigError {
    /// Dotted key, e.g. `leafnodes.remotes[0].urls`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl LeafNodesConfig {
    /// Checks every remote has at least one parseable URL.
    pub fn validate(&self) -> Result<(), LeafConfigError> {
        if let Some(a) = &self.authorization {
            a.validate()?;
        }
        for (i, r) in self.remotes.iter().enumerate() {
            let key = format!("leafnodes.remotes[{i}].urls");
            if r.urls.is_empty() {
                return Err(LeafConfigError {
                    key,
                    reason: "needs at least one URL".into(),
                });
            }
            for u in &r.urls {
                let url = LeafUrl::parse(u).map_err(|e| LeafConfigError {
                    key: key.clone(),
                    reason: e.to_string(),
                })?;
                if url.tls && r.tls.is_none() {
                    return Err(LeafConfigError {
                        key: format!("leafnodes.remotes[{i}].tls"),
                        reason: format!("{u} needs a tls table (ca_file: the CA of the hub)"),
                    });
                }
            }
            for (what, list) in [
                ("deny_imports", &r.deny_imports),
                ("deny_exports", &r.deny_exports),
            ] {
                if let Some(bad) = list
                    .iter()
                    .find(|s| !crate::subject::is_valid_subscribe_subject(s.as_bytes()))
                {
                    return Err(LeafConfigError {
                        key: format!("leafnodes.remotes[{i}].{what}"),
                        reason: format!("invalid subject {bad:?}"),
                    });
                }
            }
            if r.account.as_deref() == Some("") {
                return Err(LeafConfigError {
                    key: format!("leafnodes.remotes[{i}].account"),
                    reason: "must not be empty".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nats_server_names() {
        let c: LeafNodesConfig = toml::from_str(
            "port = 7422\n[[remotes]]\nurls = [\"nats-leaf://127.0.0.1:7422\"]\naccount = \"TEAM_A\"\ncredentials = \"/x/u.creds\"\n",
        )
        .unwrap();
        assert_eq!(c.port, 7422);
        assert_eq!(c.remotes[0].account.as_deref(), Some("TEAM_A"));
        assert!(c.validate().is_ok());
        let bad = LeafNodesConfig {
            remotes: vec![RemoteConfig {
                urls: vec!["wss://h:1".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "leafnodes.remotes[0].urls");
        assert!(toml::from_str::<LeafNodesConfig>("prot = 1").is_err());
        let denies: LeafNodesConfig = toml::from_str(
            "[[remotes]]\nurls = [\"nats-leaf://h:1\"]\ndeny_imports = [\"a.>\"]\ndeny_exports = [\"b..c\"]\n",
        )
        .unwrap();
        assert_eq!(denies.remotes[0].deny_imports, vec!["a.>".to_string()]);
        assert_eq!(
            denies.validate().unwrap_err().key,
            "leafnodes.remotes[0].deny_exports"
        );
        let whole = crate::config::Config::from_toml_str(
            "[server]\nport = 4222\n[leafnodes]\nport = 4222\n",
            "t.toml",
        );
        assert!(whole.unwrap_err().to_string().contains("leafnodes.port"));
        let unknown = crate::config::Config::from_toml_str(
            "[leafnodes]\nport = 7422\n[leafnodes.authorization]\nusers = [ { user = \"a\", password = \"b\", account = \"NOPE\" } ]\n",
            "t.toml",
        );
        let msg = unknown.unwrap_err().to_string();
        assert!(
            msg.contains("leafnodes.authorization.users[0].account"),
            "{msg}"
        );
        let ok = crate::config::Config::from_toml_str(
            "[accounts.TA]\n[leafnodes]\nport = 7422\n[leafnodes.authorization]\nuser = \"a\"\npassword = \"b\"\naccount = \"TA\"\n",
            "t.toml",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
