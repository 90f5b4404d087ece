//! Operator mode's accounts: each account JWT of the resolver becomes an account of the
//! server, named by its public key (as nats-server names them), with JetStream when the JWT
//! grants storage (and its JetStream limits: storage, streams, consumers, ack pending), its
//! connection/subscription/payload limits, and its public exports and the imports of them.
//! Users come from JWTs, not from here.
//!
//! Exports that require an activation token (`token_req`) are private: only the accounts
//! whose import carries a valid token ([`super::activation::check`], at start-up time) may
//! import them; an import without one is left out, with a warning (nats-server too).

use std::collections::BTreeMap;

use super::config::{
    is_subset, validate_import, AccountConfig, AccountJetStreamLimits, AccountLimits, ExportConfig,
    ImportConfig, ImportSource, JetStreamFlag,
};
use crate::auth::jwt::claims::{Export, Import};
use crate::auth::jwt::{AccountLimits as JwtLimits, ResolvedAccount, Trust};

/// The `[accounts]` table operator mode implies, keyed by account public key, with
/// activation tokens checked at `now_unix`.
pub fn accounts_of(trust: &Trust, now_unix: i64) -> BTreeMap<String, AccountConfig> {
    let mut out: BTreeMap<String, AccountConfig> = trust
        .accounts()
        .map(|a| (a.name.to_string(), account_of(a)))
        .collect();
    // Imports second: an import names an export of an account built above.
    for a in trust.accounts() {
        for (i, im) in a.claims.nats.imports.iter().enumerate() {
            if !im.token.is_empty() {
                activate(trust, &mut out, a, im, now_unix);
            }
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

/// JetStream off (no storage granted), or on with the JWT's limits (`-1` = unlimited; a
/// storage left at 0 while the other is granted stays 0: none of it).
fn jetstream_of(l: &JwtLimits) -> JetStreamFlag {
    if !l.jetstream_enabled() {
        return JetStreamFlag::Flag(false);
    }
    let positive = |v: i64| (v > 0).then_some(v);
    let storage = |v: i64| (v >= 0).then_some(v);
    JetStreamFlag::Limits(AccountJetStreamLimits {
        max_mem: storage(l.mem_storage),
        max_file: storage(l.disk_storage),
        max_streams: positive(l.streams),
        max_consumers: positive(l.consumer),
        max_ack_pending: positive(l.max_ack_pending),
    })
}

/// Approves `a` for the private export its import `im` names, when `im`'s activation token
/// is valid (a warning otherwise).
fn activate(
    trust: &Trust,
    out: &mut BTreeMap<String, AccountConfig>,
    a: &ResolvedAccount,
    im: &Import,
    now_unix: i64,
) {
    let Some(exporter) = trust.accounts().find(|x| *x.name == im.account) else {
        return;
    };
    let private = exporter.claims.nats.exports.iter().position(|e| {
        e.token_req && e.kind == im.kind && is_subset(e.subject.as_bytes(), im.subject.as_bytes())
    });
    let Some(index) = private else {
        return;
    };
    let export = &exporter.claims.nats.exports[index];
    if let Err(e) = super::activation::check(exporter, export, &a.name, im, now_unix) {
        tracing::warn!(account = %a.name, exporter = %im.account, subject = %im.subject,
            "account JWT import not added: {e}");
        return;
    }
    let subject = export.subject.as_str();
    let Some(cfg) = out.get_mut(&*exporter.name) else {
        return;
    };
    let approved = cfg.exports.iter_mut().find(|x| {
        x.token_req
            && [&x.service, &x.stream]
                .into_iter()
                .flatten()
                .any(|s| s == subject)
    });
    if let Some(list) = approved.and_then(|x| x.accounts.as_mut()) {
        list.push(a.name.to_string());
    }
}

fn export_of(account: &str, e: &Export) -> Option<ExportConfig> {
    let subject = Some(e.subject.clone());
    // A private export: no account may import it until an activation token approves it.
    let accounts = e.token_req.then(Vec::new);
    match e.kind.as_str() {
        "service" => Some(ExportConfig {
            service: subject,
            accounts,
            token_req: e.token_req,
            revocations: e.revocations.clone().into_iter().collect(),
            ..ExportConfig::default()
        }),
        "stream" => Some(ExportConfig {
            stream: subject,
            accounts,
            token_req: e.token_req,
            revocations: e.revocations.clone().into_iter().collect(),
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
            // `local_subject` maps the subject (nats-server 2.10+); else the deprecated `to`
            // is a prefix (nats-server adds the dot).
            let local = (!im.local_subject.is_empty() && im.local_subject != im.subject)
                .then(|| im.local_subject.clone());
            let prefix = im.to.trim_end_matches('.');
            ImportConfig {
                stream: Some(source),
                prefix: (local.is_none() && !prefix.is_empty()).then(|| prefix.to_owned()),
                to: local,
                ..ImportConfig::default()
            }
        }
        _ => return skip("unknown import type"),
    };
    match validate_import(accounts, &a.name, &cfg, &format!("imports[{index}]")) {
        Ok(()) => Some(cfg),
        Err(e) => skip(&e.reason),
    }
}

#[cfg(test)]
#[path = "from_operator_tests.rs"]
mod tests;
