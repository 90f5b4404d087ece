//! The `[operator]` TOML schema (decentralized JWT auth), mirroring nats-server's `operator`,
//! `system_account`, `resolver` and `resolver_preload`, and its checks. Loading reads the
//! operator JWT file (at startup, before any core runs) and verifies every preloaded account
//! against the operator; errors name the dotted key (e.g. `operator.resolver_preload.A…`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::trust::{Trust, TrustError};
use crate::auth::config::AuthConfigError;

/// `[operator]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// File holding the trusted operator JWT (relative paths: from the working directory,
    /// as nats-server).
    pub jwt_file: PathBuf,
    /// Public key of the system account (default: the one the operator JWT names).
    #[serde(default)]
    pub system_account: String,
    /// Where account JWTs come from: `"memory"` (nats-server's `MEMORY`), or a directory of
    /// `<account public key>.jwt` files, `{ type = "full" | "cache", dir = "..." }`, read at
    /// startup.
    #[serde(default)]
    pub resolver: ResolverConfig,
    /// Account public key -> account JWT.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolver_preload: BTreeMap<String, String>,
}

/// `resolver`: a name (`"memory"`) or a directory resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResolverConfig {
    /// `"memory"`: the accounts of `resolver_preload`.
    Name(String),
    /// `{ type = "full", dir = "..." }`.
    Dir(DirResolverConfig),
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig::Name("memory".to_owned())
    }
}

/// A directory of account JWTs, as nats-server's `full` / `cache` resolvers keep them (one
/// `<account public key>.jwt` file each). natrix reads it once at startup: accounts pushed
/// later (`nsc push`) are not seen until a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirResolverConfig {
    /// `full` or `cache`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The directory.
    pub dir: PathBuf,
}

fn refuse<T>(key: String, reason: impl Into<String>) -> Result<T, AuthConfigError> {
    Err(AuthConfigError {
        key,
        reason: reason.into(),
    })
}

impl OperatorConfig {
    /// Reads the operator JWT and checks the whole configuration; the [`Trust`] the server
    /// authenticates JWT users with.
    pub fn load(&self) -> Result<Trust, AuthConfigError> {
        let dir_accounts = match &self.resolver {
            ResolverConfig::Name(n) if n.eq_ignore_ascii_case("memory") => Vec::new(),
            ResolverConfig::Name(n) => {
                return refuse(
                    "operator.resolver".into(),
                    format!(
                        "must be \"memory\" or {{ type = \"full\", dir = \"...\" }}, got {n:?}"
                    ),
                )
            }
            ResolverConfig::Dir(d) => d.read()?,
        };
        let text = match std::fs::read_to_string(&self.jwt_file) {
            Ok(t) => t,
            Err(e) => {
                return refuse(
                    "operator.jwt_file".into(),
                    format!("cannot read {}: {e}", self.jwt_file.display()),
                )
            }
        };
        let operator_jwt = operator_jwt_of(&text);
        let mut preload: Vec<(String, String)> = self
            .resolver_preload
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let preloaded = preload.len();
        preload.extend(dir_accounts.iter().map(|(k, v, _)| (k.clone(), v.clone())));
        match Trust::new(operator_jwt, &self.system_account, &preload) {
            Ok(t) => Ok(t),
            Err((Some(i), e)) if i < preloaded => refuse(
                format!("operator.resolver_preload.{}", preload[i].0),
                e.to_string(),
            ),
            Err((Some(i), e)) => refuse(
                "operator.resolver.dir".into(),
                format!("{}: {e}", dir_accounts[i - preloaded].2.display()),
            ),
            Err((
                None,
                e @ (TrustError::SystemAccount(_) | TrustError::SystemAccountMismatch(_)),
            )) => refuse("operator.system_account".into(), e.to_string()),
            Err((None, e)) => refuse(
                "operator.jwt_file".into(),
                format!("{}: {e}", self.jwt_file.display()),
            ),
        }
    }
}

impl DirResolverConfig {
    /// `(account key, JWT, file)` of every `<key>.jwt` file in the directory.
    fn read(&self) -> Result<Vec<(String, String, PathBuf)>, AuthConfigError> {
        if !matches!(self.kind.to_ascii_lowercase().as_str(), "full" | "cache") {
            return refuse(
                "operator.resolver.type".into(),
                format!("must be \"full\" or \"cache\", got {:?}", self.kind),
            );
        }
        let unreadable = |e: std::io::Error| AuthConfigError {
            key: "operator.resolver.dir".into(),
            reason: format!("cannot read {}: {e}", self.dir.display()),
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            let Some(key) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".jwt"))
            else {
                continue;
            };
            let jwt = std::fs::read_to_string(&path).map_err(|e| AuthConfigError {
                key: "operator.resolver.dir".into(),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            out.push((key.to_owned(), jwt.trim().to_owned(), path));
        }
        out.sort();
        Ok(out)
    }
}

/// The JWT in an operator file: the whole (trimmed) text, or the block nsc decorates with
/// `-----BEGIN NATS OPERATOR JWT-----`.
fn operator_jwt_of(text: &str) -> &str {
    let mut lines = text.lines().map(str::trim);
    if lines.any(|l| l.starts_with("-----BEGIN") && l.contains("JWT")) {
        if let Some(jwt) = lines.find(|l| !l.is_empty()) {
            return jwt;
        }
    }
    text.trim()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
