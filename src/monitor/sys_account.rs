//! The `$SYS.REQ.ACCOUNT.<acc>.<KIND>` answers (nats-server's account requests, `events.go`):
//! CONNZ, SUBSZ, JSZ, INFO, STATZ, CONNS and LEAFZ about one account, in nats-server's
//! envelope. Who may ask about which account is decided before (the engine's gate and
//! [`super::sys::answer`]): any account about itself (`PING`, CONNZ and STATZ only), the
//! system account about any.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::accountz::{account_totals, detail_json};
use super::http::Monitor;
use super::jsz::{account_jsz, JszOpts};
use super::slot::JsDetail;
use super::sys::{error_answer, query_for, server_info, AccKind, SysKind};

/// nats-server's `DataStats` (messages and bytes, with the per-kind zeros).
fn data_stats(msgs: u64, bytes: u64) -> Value {
    let zero = json!({"msgs": 0, "bytes": 0});
    json!({"msgs": msgs, "bytes": bytes, "gateways": zero, "routes": zero, "leafs": zero})
}

/// One account's `AccountStat` (STATZ entries and the CONNS advisory's body).
fn account_stat(m: &Monitor, acc: &str) -> Option<Map<String, Value>> {
    let id = m.facts.accounts.id(acc)?;
    let cores = m.gather(false, JsDetail::None);
    let t = account_totals(&cores, id);
    let v = json!({
        "acc": acc,
        "name": acc,
        "conns": t.connections,
        "leafnodes": t.leafnodes,
        "total_conns": t.connections + t.leafnodes,
        "num_subscriptions": t.subscriptions,
        "sent": data_stats(t.out_msgs, t.out_bytes),
        "received": data_stats(t.in_msgs, t.in_bytes),
        "slow_consumers": 0,
    });
    v.as_object().cloned()
}

fn now_text(now_ns: u64) -> String {
    crate::jetstream::time::format_rfc3339_nanos(now_ns)
}

/// The answer to `$SYS.REQ.ACCOUNT.<acc>.<kind>` (acc resolved: never `PING`).
pub(super) fn answer(
    m: &mut Monitor,
    acc: &str,
    kind: AccKind,
    opts: &Map<String, Value>,
    seq: u64,
    now_ns: u64,
) -> Bytes {
    let missing = || format!("account {acc:?} not found");
    let data: Result<Value, (u16, String)> = match kind {
        AccKind::Connz | AccKind::Subsz => {
            let (path, mut query) = if kind == AccKind::Connz {
                ("/connz", query_for(SysKind::Connz, opts))
            } else {
                // nats-server lists the account's subscriptions unasked.
                ("/subsz", query_for(SysKind::Subsz, opts) + "&subs=1")
            };
            query = format!("{query}&acc={acc}");
            m.answer(path, &query)
                .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
                .map_err(|e| (400, e))
        }
        AccKind::Leafz => {
            let cores = m.gather(true, JsDetail::None);
            let body = super::leafz::leafz(&m.facts, &cores, now_ns);
            let mut v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Some(leafs) = v.get_mut("leafs").and_then(Value::as_array_mut) {
                leafs.retain(|l| l["account"] == acc);
                let n = leafs.len();
                v["leafnodes"] = n.into();
            }
            Ok(v)
        }
        AccKind::Jsz => {
            let flag = |k: &str| opts.get(k).and_then(Value::as_bool).unwrap_or(false);
            let jopts = JszOpts {
                accounts: true,
                streams: flag("streams"),
                consumers: flag("consumer"),
                config: flag("config"),
            }
            .normalized();
            let js = if jopts.consumers {
                JsDetail::Consumers
            } else if jopts.streams {
                JsDetail::Streams
            } else {
                JsDetail::Totals
            };
            let cores = m.gather(false, js);
            account_jsz(&m.facts, &cores, acc, jopts, now_ns)
                .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))
                .ok_or_else(|| (404, missing()))
        }
        AccKind::Info => {
            let cores = m.gather(false, JsDetail::None);
            detail_json(&m.facts, &cores, acc)
                .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))
                .ok_or_else(|| (404, missing()))
        }
        AccKind::Statz => match account_stat(m, acc) {
            Some(stat) => Ok(json!({
                "server_id": m.facts.server_id,
                "now": now_text(now_ns),
                "account_statz": [stat],
            })),
            None => Err((404, missing())),
        },
        AccKind::Conns => {
            // A bare advisory, not the `{server, data}` envelope.
            let Some(stat) = account_stat(m, acc) else {
                return error_answer(m, seq, now_ns, 404, &missing());
            };
            let mut v = Map::new();
            v.insert(
                "type".into(),
                "io.nats.server.advisory.v1.account_connections".into(),
            );
            v.insert("id".into(), format!("{seq:022}").into());
            v.insert("timestamp".into(), now_text(now_ns).into());
            v.insert("server".into(), server_info(&m.facts, seq, now_ns));
            v.extend(stat);
            return Bytes::from(Value::Object(v).to_string());
        }
    };
    match data {
        Ok(data) => {
            let v = json!({"server": server_info(&m.facts, seq, now_ns), "data": data});
            Bytes::from(v.to_string())
        }
        Err((code, text)) => error_answer(m, seq, now_ns, code, &text),
    }
}
