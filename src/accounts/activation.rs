//! Activation tokens of private account-JWT exports (`token_req`), checked as nats-server's
//! `checkActivation` and nats-io/jwt's `Import.Validate` do: the token verifies and is an
//! activation; its subject is the importing account; its issuer is the exporting account, or
//! one of its signing keys with `issuer_account` naming the exporter; the imported subject
//! lies within the token's; the kinds agree; it is not expired (nor early) at `now`; and the
//! export does not revoke it (`revocations[importer]` or `revocations["*"]` at or after its
//! `iat`). Sans-IO: time is an argument.

use super::config::is_subset;
use crate::auth::jwt::claims::{ActivationClaims, Export, Import};
use crate::auth::jwt::{decode, ResolvedAccount};

/// Why an activation token does not admit an import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// Not a valid activation JWT.
    #[error("activation token invalid: {0}")]
    Token(String),
    /// Issued for another account.
    #[error("activation token doesn't match account for import")]
    Account,
    /// Signed by neither the exporter nor one of its signing keys.
    #[error("activation token issuer is not the exporting account")]
    Issuer,
    /// Issued for another subject or kind.
    #[error("activation token import subject {0:?} doesn't match import")]
    Subject(String),
    /// Expired or not yet valid.
    #[error("activation token {0}")]
    Time(crate::auth::jwt::claims::TimeCheck),
    /// Revoked by the export.
    #[error("activation token revoked")]
    Revoked,
}

/// Whether `im` (an import of account `importer`) holds a valid activation token for the
/// private export `export` of `exporter` at `now_unix`.
pub fn check(
    exporter: &ResolvedAccount,
    export: &Export,
    importer: &str,
    im: &Import,
    now_unix: i64,
) -> Result<(), ActivationError> {
    let act: ActivationClaims =
        decode(&im.token).map_err(|e| ActivationError::Token(e.to_string()))?;
    if act.data.sub != importer {
        return Err(ActivationError::Account);
    }
    let by_exporter = act.nats.issuer_account.is_empty() && act.data.iss == *exporter.name;
    let by_signing_key = act.nats.issuer_account == *exporter.name
        && exporter
            .claims
            .nats
            .signing_keys
            .get(&act.data.iss)
            .is_some();
    if !(by_exporter || by_signing_key) {
        return Err(ActivationError::Issuer);
    }
    let kind_ok = act.nats.kind.is_empty() || act.nats.kind == im.kind;
    if !kind_ok || !is_subset(act.nats.subject.as_bytes(), im.subject.as_bytes()) {
        return Err(ActivationError::Subject(act.nats.subject));
    }
    // nats-server drops an activation when `exp <= now` (one second earlier than claims).
    if act.data.exp > 0 && act.data.exp <= now_unix {
        return Err(ActivationError::Time(
            crate::auth::jwt::claims::TimeCheck::Expired,
        ));
    }
    act.data
        .check_time(now_unix)
        .map_err(ActivationError::Time)?;
    let revoked = |key: &str| {
        export
            .revocations
            .get(key)
            .is_some_and(|t| *t >= act.data.iat)
    };
    if revoked(importer) || revoked("*") {
        return Err(ActivationError::Revoked);
    }
    Ok(())
}
