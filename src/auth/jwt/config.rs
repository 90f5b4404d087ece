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
    /// Public key of the system account.
    pub system_account: String,
    /// Where account JWTs come from; only `"memory"` (nats-server's `MEMORY`).
    #[serde(default = "memory")]
    pub resolver: String,
    /// Account public key -> account JWT.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolver_preload: BTreeMap<String, String>,
}

fn memory() -> String {
    "memory".to_owned()
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
        if !self.resolver.eq_ignore_ascii_case("memory") {
            return refuse(
                "operator.resolver".into(),
                format!(
                    "only \"memory\" is supported, got {:?} (preload accounts with \
                     [operator.resolver_preload])",
                    self.resolver
                ),
            );
        }
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
        let preload: Vec<(String, String)> = self
            .resolver_preload
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match Trust::new(operator_jwt, &self.system_account, &preload) {
            Ok(t) => Ok(t),
            Err((Some(i), e)) => refuse(
                format!("operator.resolver_preload.{}", preload[i].0),
                e.to_string(),
            ),
            Err((None, e @ TrustError::SystemAccount(_))) => {
                refuse("operator.system_account".into(), e.to_string())
            }
            Err((None, e)) => refuse(
                "operator.jwt_file".into(),
                format!("{}: {e}", self.jwt_file.display()),
            ),
        }
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
