//! `/accountz`, minimal: natrix has the global account `$G` (every client) and the system
//! account `$SYS` (no clients; the `$SYS.REQ.SERVER` responder), as nats-server without
//! configured accounts. `?acc=<name>` gives one account's detail (connections and
//! subscriptions; no imports, exports or sublist statistics yet).

use serde::Serialize;

use super::render::ServerFacts;
use super::snapshot::CoreSnapshot;
use crate::jetstream::time::format_rfc3339_nanos;

/// The global account's name.
const GLOBAL: &str = "$G";
/// The system account's name.
const SYSTEM: &str = "$SYS";

#[derive(Serialize)]
struct Detail<'a> {
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
    name_tag: &'a str,
}

#[derive(Serialize)]
struct Accountz<'a> {
    server_id: &'a str,
    now: String,
    system_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<[&'a str; 2]>,
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
    let detail = match acc {
        None | Some("") => None,
        Some(name @ (GLOBAL | SYSTEM)) => {
            let global = name == GLOBAL;
            Some(Detail {
                account_name: name,
                update_time: format_rfc3339_nanos(facts.start_unix_ns),
                is_system: !global,
                expired: false,
                complete: true,
                jetstream_enabled: global && facts.jetstream.is_some(),
                leafnode_connections: 0,
                client_connections: if global {
                    cores.iter().map(|c| c.connections).sum()
                } else {
                    0
                },
                subscriptions: if global {
                    cores.iter().map(|c| c.subscriptions).sum()
                } else {
                    0
                },
                name_tag: name,
            })
        }
        Some(other) => return Err(format!("Account {other} does not exist")),
    };
    let body = Accountz {
        server_id: &facts.server_id,
        now: format_rfc3339_nanos(now_unix_ns),
        system_account: SYSTEM,
        accounts: detail.is_none().then_some([SYSTEM, GLOBAL]),
        account_detail: detail,
    };
    Ok(serde_json::to_vec_pretty(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn list_detail_and_unknown() {
        let facts = ServerFacts {
            server_id: "NX".into(),
            ..Default::default()
        };
        let cores = [Arc::new(CoreSnapshot {
            connections: 3,
            subscriptions: 5,
            ..Default::default()
        })];
        let list: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, None, 0).unwrap()).unwrap();
        assert_eq!(list["accounts"], serde_json::json!(["$SYS", "$G"]));
        assert_eq!(list["system_account"], "$SYS");
        let g: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, Some("$G"), 0).unwrap()).unwrap();
        assert_eq!(g["account_detail"]["client_connections"], 3);
        assert_eq!(g["account_detail"]["subscriptions"], 5);
        assert!(g["account_detail"].get("is_system").is_none());
        assert!(g.get("accounts").is_none());
        let sys: serde_json::Value =
            serde_json::from_slice(&accountz(&facts, &cores, Some("$SYS"), 0).unwrap()).unwrap();
        assert_eq!(sys["account_detail"]["is_system"], true);
        assert_eq!(
            accountz(&facts, &cores, Some("NOPE"), 0).unwrap_err(),
            "Account NOPE does not exist"
        );
    }
}
