//! Operator mode's accounts: each account JWT of the resolver becomes an account of the
//! server, named by its public key (as nats-server names them), with JetStream when the JWT
//! grants storage (and its JetStream limits: storage, streams, consumers, ack pending), its
//! connection/subscription/payload limits, and its public exports and the imports of them.
//! Users come from JWTs, not from here.
//!
//! Exports that require an activation token (`token_req`) are left out, and with them the
//! imports of them: natrix does not check activation tokens yet, and says so in the log.

use std::collections::BTreeMap;

use super::config::{
    validate_import, AccountConfig, AccountJetStreamLimits, AccountLimits, ExportConfig,
    ImportConfig, ImportSource, JetStreamFlag,
};
use crate::auth::jwt::claims::{Export, Import};
use crate::auth::jwt::{AccountLimits as JwtLimits, ResolvedAccount, Trust};

/// The `[accounts]` table operator mode implies, keyed by account public key.
pub fn accounts_of(trust: &Trust) -> BTreeMap<String, AccountConfig> {
    let mut out: BTreeMap<String, AccountConfig> = trust
        .accounts()
        .map(|a| (a.name.to_string(), account_of(a)))
        .collect();
    // Imports second: an import names an export of an account built above.
    for a in trust.accounts() {
        for (i, im) in a.claims.nats.imports.iter().enumerate() {
            if let Some(cfg) = import_of(&out, a, i, im) {
                if let Some(acc) = out.get_mut(&*a.name) {
                    acc.imports.push(cfg);
                }
            }
        }
    }
    out
}

/// An account JWT's own part: limits, JetStream and public exports.
fn account_of(a: &ResolvedAccount) -> AccountConfig {
    let l = &a.claims.nats.limits;
    let limit = |v: i64| (v >= 0).then_some(v);
    AccountConfig {
        jetstream: Some(jetstream_of(l)),
        limits: Some(AccountLimits {
            max_connections: limit(l.conn),
            max_subscriptions: limit(l.subs),
            max_payload: limit(l.payload),
        }),
        exports: a
            .claims
            .nats
            .exports
            .iter()
            .filter_map(|e| export_of(&a.name, e))
            .collect(),
        ..AccountConfig::default()
    }
}

/// JetStream off (no storage granted), or on with the JWT's limits (`-1` = unlimited).
fn jetstream_of(l: &JwtLimits) -> JetStreamFlag {
    if !l.jetstream_enabled() {
        return JetStreamFlag::Flag(false);
    }
    let positive = |v: i64| (v > 0).then_some(v);
    JetStreamFlag::Limits(AccountJetStreamLimits {
        max_mem: positive(l.mem_storage),
        max_file: positive(l.disk_storage),
        max_streams: positive(l.streams),
        max_consumers: positive(l.consumer),
        max_ack_pending: positive(l.max_ack_pending),
    })
}

fn export_of(account: &str, e: &Export) -> Option<ExportConfig> {
    if e.token_req {
        tracing::warn!(
            account,
            subject = %e.subject,
            "account JWT export requires an activation token, which natrix does not check: \
             not exported"
        );
        return None;
    }
    let subject = Some(e.subject.clone());
    match e.kind.as_str() {
        "service" => Some(ExportConfig {
            service: subject,
            ..ExportConfig::default()
        }),
        "stream" => Some(ExportConfig {
            stream: subject,
            ..ExportConfig::default()
        }),
        other => {
            tracing::warn!(account, subject = %e.subject, kind = other, "account JWT export of unknown type: ignored");
            None
        }
    }
}

/// One import of account `a`, as the TOML form, when its exporter is known and exports it
/// publicly (nats-server skips the others too); a warning otherwise.
fn import_of(
    accounts: &BTreeMap<String, AccountConfig>,
    a: &ResolvedAccount,
    index: usize,
    im: &Import,
) -> Option<ImportConfig> {
    let skip = |reason: &str| {
        tracing::warn!(
            account = %a.name,
            exporter = %im.account,
            subject = %im.subject,
            "account JWT import not added: {reason}"
        );
        None
    };
    let source = ImportSource {
        account: im.account.clone(),
        subject: im.subject.clone(),
        prefix: None,
    };
    let cfg = match im.kind.as_str() {
        "service" => {
            // The subject the importer publishes to: `local_subject`, else the deprecated
            // `to`, else the exported subject.
            let local = [&im.local_subject, &im.to]
                .into_iter()
                .find(|s| !s.is_empty())
                .filter(|s| **s != im.subject);
            ImportConfig {
                service: Some(source),
                to: local.cloned(),
                ..ImportConfig::default()
            }
        }
        "stream" => {
            if !im.local_subject.is_empty() && im.local_subject != im.subject {
                return skip("stream imports mapped to a local_subject are not supported");
            }
            // The deprecated `to` of a stream import is a prefix (nats-server adds the dot).
            let prefix = im.to.trim_end_matches('.');
            ImportConfig {
                stream: Some(source),
                prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
                ..ImportConfig::default()
            }
        }
        _ => return skip("unknown import type"),
    };
    match validate_import(accounts, &a.name, &cfg, &format!("imports[{index}]")) {
        Ok(()) => Some(cfg),
        Err(e) if !im.token.is_empty() => skip(&format!(
            "{} (activation tokens are not checked by natrix)",
            e.reason
        )),
        Err(e) => skip(&e.reason),
    }
}

#[cfg(test)]
#[path = "from_operator_tests.rs"]
mod tests;
