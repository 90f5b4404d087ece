//! `/accountz`: the server's accounts (`$G`, the system account and every configured or
//! resolver account), and with `?acc=<name>` one account's detail as nats-server 2.15.1
//! shows it: connections, leaf links, subscriptions, its subscription index's statistics,
//! its exports and its imports — with the service exports of the system account and the
//! service imports of them nats-server adds to every account (`$SYS.REQ.ACCOUNT.<acc>.CONNZ`
//! / `STATZ`, `$SYS.REQ.USER.<acc>.INFO`, and `$JS.API.>` when JetStream is on). nats-server
//! lists them in map order; here services come before streams (exports) and streams before
//! services (imports), each in config order, then the automatic ones.

use serde::Serialize;

use super::render::ServerFacts;
use super::snapshot::{add_sublist, CoreSnapshot};
use crate::accounts::AccountId;
use crate::jetstream::gocompat::go_escape_html;
use crate::jetstream::time::format_rfc3339_nanos;
use crate::sublist::SublistStats;

/// nats-server's `SublistStats` JSON.
#[derive(Serialize)]
pub(super) struct SublistJson {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    cache_hit_rate: f64,
    max_fanout: u64,
    avg_fanout: f64,
}

fn sublist_json(subscriptions: u64, s: &SublistStats) -> SublistJson {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    SublistJson {
        num_subscriptions: subscriptions,
        num_cache: s.cache_entries,
        num_inserts: s.inserts,
        num_removes: s.removes,
        num_matches: s.matches,
        cache_hit_rate: ratio(s.cache_hits, s.matches),
        max_fanout: s.max_fanout,
        avg_fanout: ratio(s.total_fanout, s.cache_entries),
    }
}

/// nats-server's `ExtExport` (the fields a config or JWT export can set here).
#[derive(Serialize)]
struct Export {
    subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    token_req: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    approved_accounts: Vec<String>,
    /// Importing account -> the time before which its activations are revoked.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    revoked_activations: std::collections::BTreeMap<String, String>,
}

impl Export {
    fn service(subject: &str, response_type: &'static str) -> Export {
        Export {
            subject: subject.to_owned(),
            kind: "service",
            token_req: false,
            response_type: Some(response_type),
            approved_accounts: Vec::new(),
            revoked_activations: Default::default(),
        }
    }
}

/// nats-server's `ExtImport` (a stream import has no `to`).
#[derive(Serialize)]
struct Import {
    subject: String,
    account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    to: String,
    local_subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    invalid: bool,
    share: bool,
    tracking: bool,
}

/// One account's figures, summed over the cores.
#[derive(Default)]
pub(super) struct AccountTotals {
    pub(super) connections: u64,
    pub(super) leafnodes: u64,
    pub(super) subscriptions: u64,
    pub(super) sublist: SublistStats,
    pub(super) in_msgs: u64,
    pub(super) in_bytes: u64,
    pub(super) out_msgs: u64,
    pub(super) out_bytes: u64,
}

/// `account`'s counters summed over the cores' snapshots.
pub(super) fn account_totals(
    cores: &[std::sync::Arc<CoreSnapshot>],
    account: AccountId,
) -> AccountTotals {
    let mut t = AccountTotals::default();
    for a in cores
        .iter()
        .filter_map(|c| c.accounts.get(account as usize))
    {
        t.connections += a.connections;
        t.leafnodes += a.leafnodes;
        t.subscriptions += a.subscriptions;
        add_sublist(&mut t.sublist, &a.sublist);
        t.in_msgs += a.in_msgs;
        t.in_bytes += a.in_bytes;
        t.out_msgs += a.out_msgs;
        t.out_bytes += a.out_bytes;
    }
    t
}

#[derive(Serialize)]
pub(super) struct Detail<'a> {
    account_name: &'a str,
    update_time: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_system: bool,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: u64,
    client_connections: u64,
    subscriptions: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exports: Vec<Export>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imports: Vec<Import>,
    name_tag: &'a str,
    sublist_stats: SublistJson,
}

/// The exports of `account`: its own, and for the system account the services nats-server
/// exports from it.
fn exports(facts: &ServerFacts, account: AccountId) -> Vec<Export> {
    let accs = &facts.accounts;
    let mut out: Vec<Export> = accs
        .get(account)
        .exports
        .iter()
        .map(|e| Export {
            subject: e.subject.to_string(),
            kind: if e.service { "service" } else { "stream" },
            token_req: e.token_req,
            response_type: e.service.then_some("Singleton"),
            approved_accounts: if e.token_req {
                Vec::new()
            } else {
                e.approved.iter().map(|n| n.to_string()).collect()
            },
            revoked_activations: e
                .revoked
                .iter()
                .map(|(k, t)| {
                    let ns = u64::try_from(*t).unwrap_or(0).saturating_mul(1_000_000_000);
                    (k.to_string(), format_rfc3339_nanos(ns))
                })
                .collect(),
        })
        .collect();
    if account == accs.system() {
        out.push(Export::service("$SYS.REQ.ACCOUNT.*.CONNZ", "Streamed"));
        out.push(Export::service("$SYS.REQ.ACCOUNT.*.STATZ", "Streamed"));
        out.push(Export::service("$SYS.DEBUG.SUBSCRIBERS", "Singleton"));
        out.push(Export::service("$SYS.REQ.USER.*.INFO", "Singleton"));
        if facts.jetstream.is_some() {
            out.push(Export::service("$JS.API.>", "Singleton"));
        }
    }
    out
}

/// A service import of the system account's `subject` as `local` (nats-server's automatic
/// ones).
fn system_import(facts: &ServerFacts, subject: String, local: &str, share: bool) -> Import {
    Import {
        subject,
        account: facts.accounts.get(facts.accounts.system()).name.to_string(),
        to: local.to_owned(),
        local_subject: local.to_owned(),
        kind: "service",
        invalid: false,
        share,
        tracking: false,
    }
}

/// The imports of `account`: stream imports other accounts route to it, the service imports
/// it holds, then those nats-server adds from the system account.
fn imports(facts: &ServerFacts, account: AccountId) -> Vec<Import> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let accs = &facts.accounts;
    let mut out = Vec::new();
    for (exporter, a) in accs.iter() {
        for r in a.stream_routes.iter().filter(|r| r.importer == account) {
            out.push(Import {
                subject: text(&r.subject),
                account: accs.get(exporter).name.to_string(),
                to: String::new(),
                local_subject: if r.local.is_empty() {
                    format!("{}{}", text(&r.prefix), text(&r.subject))
                } else {
                    text(&r.local)
                },
                kind: "stream",
                invalid: false,
                share: false,
                tracking: false,
            });
        }
    }
    out.extend(accs.get(account).service_imports.iter().map(|i| Import {
        subject: text(&i.remote),
        account: accs.get(i.exporter).name.to_string(),
        to: text(&i.local),
        local_subject: text(&i.local),
        kind: "service",
        invalid: false,
        share: false,
        tracking: false,
    }));
    let name = &accs.get(account).name;
    if account != accs.system() {
        for (subject, local) in [
            ("CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ"),
            ("CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"),
            ("STATZ", "$SYS.REQ.ACCOUNT.PING.STATZ"),
        ] {
            let subject = format!("$SYS.REQ.ACCOUNT.{name}.{subject}");
            out.push(system_import(facts, subject, local, false));
        }
    }
    let user_info = format!("$SYS.REQ.USER.{name}.INFO");
    out.push(system_import(facts, user_info, "$SYS.REQ.USER.INFO", true));
    if account != accs.system() && facts.jetstream.is_some() {
        out.push(system_import(facts, "$JS.API.>".into(), "$JS.API.>", true));
    }
    out
}

/// One account's detail (also `$SYS.REQ.ACCOUNT.<acc>.INFO`'s data); None = no such account.
pub(super) fn detail<'a>(
    facts: &'a ServerFacts,
    cores: &[std::sync::Arc<CoreSnapshot>],
    name: &str,
) -> Option<Detail<'a>> {
    let id = facts.accounts.id(name)?;
    let a = facts.accounts.get(id);
    let t = account_totals(cores, id);
    Some(Detail {
        account_name: &a.name,
        update_time: format_rfc3339_nanos(facts.start_unix_ns),
        is_system: id == facts.accounts.system(),
        expired: false,
        complete: true,
        jetstream_enabled: a.jetstream && facts.jetstream.is_some(),
        leafnode_connections: t.leafnodes,
        client_connections: t.connections,
        subscriptions: t.subscriptions,
        exports: exports(facts, id),
        imports: imports(facts, id),
        name_tag: &a.name,
        sublist_stats: sublist_json(t.subscriptions, &t.sublist),
    })
}

/// The JSON of one account's detail; None = no such account.
pub(super) fn detail_json(
    facts: &ServerFacts,
    cores: &[std::sync::Arc<CoreSnapshot>],
    name: &str,
) -> Option<Vec<u8>> {
    let d = detail(facts, cores, name)?;
    Some(go_escape_html(
        serde_json::to_vec_pretty(&d).unwrap_or_default(),
    ))
}

#[derive(Serialize)]
struct Accountz<'a> {
    server_id: &'a str,
    now: String,
    system_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<Detail<'a>>,
}

/// The `/accountz` body, or the 400 text for an unknown `acc` (nats-server's wording).
pub fn accountz(
    facts: &ServerFacts,
    cores: &[std::sync::Arc<CoreSnapshot>],
    acc: Option<&str>,
    now_unix_ns: u64,
) -> Result<Vec<u8>, String> {
    let accs = &facts.accounts;
    let detail = match acc {
        None | Some("") => None,
        Some(name) => Some(
            detail(facts, cores, name).ok_or_else(|| format!("Account {name} does not exist"))?,
        ),
    };
    let body = Accountz {
        server_id: &facts.server_id,
        now: format_rfc3339_nanos(now_unix_ns),
        system_account: &accs.get(accs.system()).name,
        accounts: detail
            .is_none()
            .then(|| accs.iter().map(|(_, a)| &*a.name).collect()),
        account_detail: detail,
    };
    Ok(go_escape_html(
        serde_json::to_vec_pretty(&body).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::AccountCounts;
    use std::sync::Arc;

    #[test]
    fn list_detail_and_unknown() {
        let facts = ServerFacts {
            server_id: "NX".into(),
            ..Default::default()
        };
        let sys = facts.accounts.system() as usize;
        let mut accounts = vec![AccountCounts::default(); sys + 1];
        accounts[0] = AccountCounts {
            connections: 3,
            subscriptions: 5,
            ..Default::default()
        };
        let cores = [Arc::new(CoreSnapshot {
            accounts,
            ..Default::default()
        })];
        let list: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, None, 0).unwrap()).unwrap();
        assert_eq!(list["accounts"], serde_json::json!(["$G", "$SYS"]));
        assert_eq!(list["system_account"], "$SYS");
        let g: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, Some("$G"), 0).unwrap()).unwrap();
        assert_eq!(g["account_detail"]["client_connections"], 3);
        assert_eq!(g["account_detail"]["subscriptions"], 5);
        assert_eq!(g["account_detail"]["sublist_stats"]["num_subscriptions"], 5);
        assert!(g["account_detail"].get("is_system").is_none());
        assert!(g.get("accounts").is_none());
        let sys: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, Some("$SYS"), 0).unwrap()).unwrap();
        assert_eq!(sys["account_detail"]["is_system"], true);
        assert_eq!(sys["account_detail"]["client_connections"], 0);
        assert_eq!(
            accountz(&facts, &cores, Some("NOPE"), 0).unwrap_err(),
            "Account NOPE does not exist"
        );
    }
}
