//! `/accountz`: the server's accounts (`$G`, the system account and every configured or
//! resolver account), and with `?acc=<name>` one account's detail as nats-server 2.15.1
//! shows it: connections, leaf links, subscriptions, its subscription index's statistics
//! and its imports (exports: not yet).

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

/// nats-server's `ExtImport`.
#[derive(Serialize)]
struct Import {
    subject: String,
    account: String,
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
    imports: Vec<Import>,
    name_tag: &'a str,
    sublist_stats: SublistJson,
}

/// The imports of `account` (service imports it holds; stream imports other accounts
/// route to it).
fn imports(facts: &ServerFacts, account: AccountId) -> Vec<Import> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let accs = &facts.accounts;
    let mut out: Vec<Import> = accs
        .get(account)
        .service_imports
        .iter()
        .map(|i| Import {
            subject: text(&i.remote),
            account: accs.get(i.exporter).name.to_string(),
            to: text(&i.local),
            local_subject: text(&i.local),
            kind: "service",
            invalid: false,
            share: false,
            tracking: false,
        })
        .collect();
    for (exporter, a) in accs.iter() {
        for r in a.stream_routes.iter().filter(|r| r.importer == account) {
            let local = format!("{}{}", text(&r.prefix), text(&r.subject));
            out.push(Import {
                subject: text(&r.subject),
                account: accs.get(exporter).name.to_string(),
                to: local.clone(),
                local_subject: local,
                kind: "stream",
                invalid: false,
                share: false,
                tracking: false,
            });
        }
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
