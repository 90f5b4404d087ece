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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use base64::Engine as _;

    use super::*;
    use crate::auth::jwt::Trust;

    fn fixture(name: &str) -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/");
        std::fs::read_to_string(format!("{dir}{name}")).unwrap()
    }

    const NOW: i64 = 2_000_000_000;

    /// An activation for `sub` of `subject` signed by TEAM_A's signing key, naming
    /// `issuer_account`, issued 10 s before [`NOW`]; `extra` adds registered claims
    /// (`"exp":..,`, or `"iat":..,` to replace the issue time).
    fn token(sub: &str, subject: &str, issuer_account: &str, extra: &str) -> String {
        let signer = nkeys::KeyPair::from_seed(fixture("team_a_signing_key.seed").trim()).unwrap();
        let b = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let payload = format!(
            r#"{{"jti":"X",{},"iss":"{}","sub":"{sub}","nats":{{"subject":"{subject}","kind":"stream","issuer_account":"{issuer_account}","type":"activation","version":2}}}}"#,
            if extra.contains("\"iat\"") {
                extra.trim_end_matches(',').to_owned()
            } else {
                format!("{extra}\"iat\":{}", NOW - 10)
            },
            signer.public_key()
        );
        let signed = format!(
            "{}.{}",
            b(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
            b(payload.as_bytes())
        );
        let sig = signer.sign(signed.as_bytes()).unwrap();
        format!("{signed}.{}", b(&sig))
    }

    #[test]
    fn each_broken_part_of_a_token_refuses_the_import() {
        let ids: HashMap<String, String> = serde_json::from_str(&fixture("ids.json")).unwrap();
        let preload: HashMap<String, String> = toml::from_str(&fixture("preload.toml")).unwrap();
        let preload: Vec<_> = preload.into_iter().collect();
        let trust = Trust::new(&fixture("op.jwt"), &ids["sys"], &preload).unwrap();
        let team_a = trust.accounts().find(|a| *a.name == ids["team_a"]).unwrap();
        let export = team_a
            .claims
            .nats
            .exports
            .iter()
            .find(|e| e.subject == "private.>")
            .unwrap();
        let (a, b) = (ids["team_a"].as_str(), ids["team_b"].as_str());
        let import = |token: String| Import {
            subject: "private.x".into(),
            account: a.into(),
            token,
            kind: "stream".into(),
            ..Import::default()
        };
        let run = |t: String| check(team_a, export, b, &import(t), NOW);
        assert_eq!(run(token(b, "private.>", a, "")), Ok(()));
        assert_eq!(
            run(token(ids["team_c"].as_str(), "private.>", a, "")),
            Err(ActivationError::Account)
        );
        // A signing key without `issuer_account`, or naming another account.
        assert_eq!(
            run(token(b, "private.>", "", "")),
            Err(ActivationError::Issuer)
        );
        assert_eq!(
            run(token(b, "private.>", b, "")),
            Err(ActivationError::Issuer)
        );
        assert!(matches!(
            run(token(b, "other.>", a, "")),
            Err(ActivationError::Subject(_))
        ));
        let expired = format!(r#""exp":{NOW},"#);
        assert!(matches!(
            run(token(b, "private.>", a, &expired)),
            Err(ActivationError::Time(_))
        ));
        assert!(matches!(
            run("not.a.jwt".into()),
            Err(ActivationError::Token(_))
        ));
        // The export revokes TEAM_B's tokens issued before the fixtures were made.
        let revoked = team_a
            .claims
            .nats
            .exports
            .iter()
            .find(|e| e.subject == "revoked.>")
            .unwrap();
        let mut im = import(token(b, "revoked.>", a, ""));
        im.subject = "revoked.x".into();
        // Issued after the revocation time: still good.
        assert_eq!(check(team_a, revoked, b, &im, NOW), Ok(()));
        im.token = token(b, "revoked.>", a, r#""iat":1000000000,"#);
        assert_eq!(
            check(team_a, revoked, b, &im, NOW),
            Err(ActivationError::Revoked)
        );
    }
}
