//! The `$SYS.REQ.SERVER` responder (nats-server's `events.go` server requests, which
//! `nats server ping`, `nats server check` and nats-surveyor use): `$SYS.REQ.SERVER.PING`
//! (statsz), `$SYS.REQ.SERVER.PING.<KIND>` and `$SYS.REQ.SERVER.<server id>.<KIND>` for
//! STATSZ, VARZ, CONNZ, SUBSZ, JSZ, HEALTHZ, IDZ, ACCOUNTZ, ROUTEZ, GATEWAYZ, LEAFZ.
//!
//! A core admits a request (the engine's gate, `engine_sys.rs`) and queues it here with
//! [`MonitorShared::submit_sys`]; this thread (never a core) renders it with the same code
//! as the HTTP endpoints, wrapped in nats-server's envelope (`{"server":{...},"data":{...}}`,
//! `{"server":{...},"statsz":{...}}` for STATSZ/PING, bare `{name,host,id}` for IDZ), and
//! hands the answer back to the requester's core, which publishes it to the reply subject.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::http::Monitor;
use super::render::ServerFacts;
use super::slot::MonitorShared;
use crate::engine::SysRequest;
use crate::jetstream::time::format_rfc3339_nanos;

/// The subjects the responder subscribes to on every core (in `$G` and the system
/// account), given the server id.
pub fn subjects(server_id: &str) -> [String; 4] {
    [
        "$SYS.REQ.SERVER.PING".to_owned(),
        "$SYS.REQ.SERVER.PING.*".to_owned(),
        format!("$SYS.REQ.SERVER.{server_id}.*"),
        "$SYS.REQ.ACCOUNT.*.*".to_owned(),
    ]
}

/// What a `$SYS.REQ.ACCOUNT.<acc>.<KIND>` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccKind {
    /// `/connz?acc=`.
    Connz,
    /// `/subsz?acc=&subs=1`.
    Subsz,
    /// The account's `/jsz` detail.
    Jsz,
    /// The account's `/accountz` detail.
    Info,
    /// `account_statz` of the account.
    Statz,
    /// The `account_connections` advisory.
    Conns,
    /// `/leafz` of the account's links.
    Leafz,
}

/// The account and kind of a `$SYS.REQ.ACCOUNT.<acc>.<KIND>` subject (`PING` for the
/// requester's own account); None = not one we answer.
pub fn parse_account_subject(subject: &str) -> Option<(&str, AccKind)> {
    let rest = subject.strip_prefix("$SYS.REQ.ACCOUNT.")?;
    let (acc, kind) = rest.rsplit_once('.')?;
    if acc.is_empty() || acc.contains('.') {
        return None;
    }
    Some((
        acc,
        match kind {
            "CONNZ" => AccKind::Connz,
            "SUBSZ" => AccKind::Subsz,
            "JSZ" => AccKind::Jsz,
            "INFO" => AccKind::Info,
            "STATZ" => AccKind::Statz,
            "CONNS" => AccKind::Conns,
            "LEAFZ" => AccKind::Leafz,
            _ => return None,
        },
    ))
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysKind {
    /// `ServerStatsMsg` (`PING` and `STATSZ`).
    Statsz,
    /// `/varz`.
    Varz,
    /// `/connz`.
    Connz,
    /// `/subsz`.
    Subsz,
    /// `/jsz`.
    Jsz,
    /// `/healthz`.
    Healthz,
    /// `{name, host, id}`.
    Idz,
    /// `/accountz` (option `account`).
    Accountz,
    /// `/routez`, `/gatewayz`, `/leafz` (no clustering: empty).
    Topology(&'static str),
}

/// The kind a subject asks for; None = not a request this server answers.
pub fn parse_subject(subject: &str, server_id: &str) -> Option<SysKind> {
    let rest = subject.strip_prefix("$SYS.REQ.SERVER.")?;
    if rest == "PING" {
        return Some(SysKind::Statsz);
    }
    let (target, kind) = rest.split_once('.')?;
    if target != "PING" && target != server_id {
        return None;
    }
    Some(match kind {
        "STATSZ" => SysKind::Statsz,
        "VARZ" => SysKind::Varz,
        "CONNZ" => SysKind::Connz,
        "SUBSZ" => SysKind::Subsz,
        "JSZ" => SysKind::Jsz,
        "HEALTHZ" => SysKind::Healthz,
        "IDZ" => SysKind::Idz,
        "ACCOUNTZ" => SysKind::Accountz,
        "ROUTEZ" => SysKind::Topology("/routez"),
        "GATEWAYZ" => SysKind::Topology("/gatewayz"),
        "LEAFZ" => SysKind::Topology("/leafz"),
        _ => return None,
    })
}

/// One admitted request and the core that answers it.
#[derive(Debug)]
pub struct SysJob {
    /// The requester's core.
    pub core: usize,
    /// What was asked.
    pub request: SysRequest,
}

/// An answer for a core to publish.
#[derive(Debug, Clone)]
pub struct SysAnswer {
    /// The requester's account (the reply subject is in its subject space).
    pub account: crate::accounts::AccountId,
    /// The request's reply subject.
    pub reply: Bytes,
    /// JSON.
    pub body: Bytes,
}

/// Whether the request's filter (nats-server's `EventFilterOptions`: `server_name`, `host`,
/// `cluster`, `tags`, `domain`) selects this server. Names and hosts match as substrings,
/// as nats-server (unless `exact`); cluster, tags and domain never match a server without them.
pub(super) fn selected(opts: &Map<String, Value>, facts: &ServerFacts) -> bool {
    let exact = opts.get("exact").and_then(Value::as_bool).unwrap_or(false);
    let matches = |want: &str, have: &str| {
        want.is_empty()
            || if exact {
                want == have
            } else {
                have.contains(want)
            }
    };
    let s = |k: &str| opts.get(k).and_then(Value::as_str).unwrap_or("");
    let absent_ok = |k: &str| match opts.get(k) {
        None | Some(Value::Null) => true,
        Some(Value::String(v)) => v.is_empty(),
        Some(Value::Array(v)) => v.is_empty(),
        Some(_) => false,
    };
    matches(s("server_name"), &facts.server_name)
        && matches(s("host"), &facts.host)
        && absent_ok("cluster")
        && absent_ok("tags")
        && absent_ok("domain")
}

/// The endpoint query string for a request's JSON options (the options the HTTP endpoint
/// takes, under nats-server's JSON names).
pub(super) fn query_for(kind: SysKind, opts: &Map<String, Value>) -> String {
    let mut q = Vec::new();
    let flag = |k: &str| opts.get(k).and_then(Value::as_bool).unwrap_or(false);
    let num = |k: &str| opts.get(k).and_then(Value::as_u64);
    match kind {
        SysKind::Connz => {
            if flag("auth") {
                q.push("auth=1".to_owned());
            }
            if flag("subscriptions_detail") {
                q.push("subs=detail".to_owned());
            } else if flag("subscriptions") {
                q.push("subs=1".to_owned());
            }
            if let Some(s) = opts.get("sort").and_then(Value::as_str) {
                q.push(format!("sort={s}"));
            }
            for k in ["offset", "limit", "cid"] {
                if let Some(v) = num(k) {
                    q.push(format!("{k}={v}"));
                }
            }
        }
        SysKind::Subsz => {
            if flag("subscriptions") {
                q.push("subs=1".to_owned());
            }
            for k in ["offset", "limit"] {
                if let Some(v) = num(k) {
                    q.push(format!("{k}={v}"));
                }
            }
        }
        SysKind::Accountz => {
            if let Some(a) = opts.get("account").and_then(Value::as_str) {
                q.push(format!("acc={a}"));
            }
        }
        SysKind::Jsz => {
            for k in ["accounts", "streams", "consumer", "config"] {
                if flag(k) {
                    let key = if k == "consumer" { "consumers" } else { k };
                    q.push(format!("{key}=1"));
                }
            }
        }
        _ => {}
    }
    q.join("&")
}

/// A request body's JSON options (empty body: none); Err = not a JSON object.
pub(super) fn request_opts(body: &[u8]) -> Result<Map<String, Value>, ()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(()),
    }
}

/// nats-server's `ServerInfo` header of every answer.
pub(super) fn server_info(facts: &ServerFacts, seq: u64, now_ns: u64) -> Value {
    let js = facts.jetstream.is_some();
    json!({
        "name": facts.server_name,
        "host": facts.host,
        "id": facts.server_id,
        "ver": facts.version,
        "jetstream": js,
        "flags": u64::from(js),
        "seq": seq,
        "time": format_rfc3339_nanos(now_ns),
    })
}

/// `ServerStats` from a rendered `/varz` (the same counters under statsz's names).
fn statsz_of(varz: &Value) -> Value {
    let g = |k: &str| varz.get(k).cloned().unwrap_or(Value::Null);
    let mut s = json!({
        "start": g("start"),
        "mem": g("mem"),
        "cores": g("cores"),
        "cpu": g("cpu"),
        "connections": g("connections"),
        "total_connections": g("total_connections"),
        "active_accounts": 1,
        "subscriptions": g("subscriptions"),
        "sent": {"msgs": g("out_msgs"), "bytes": g("out_bytes")},
        "received": {"msgs": g("in_msgs"), "bytes": g("in_bytes")},
        "slow_consumers": g("slow_consumers"),
        "active_servers": 1,
    });
    if let Some(js) = varz.get("jetstream").filter(|j| j.get("config").is_some()) {
        s["jetstream"] = js.clone();
        if let Some(cfg) = s["jetstream"]["config"].as_object_mut() {
            cfg.remove("store_dir");
        }
    }
    s["gomaxprocs"] = g("gomaxprocs");
    s
}

/// Renders one answer; None = the request does not select this server (no answer, as
/// nats-server) or its subject is not one we answer.
pub(super) fn answer(m: &mut Monitor, req: &SysRequest, seq: u64, now_ns: u64) -> Option<Bytes> {
    let subject = std::str::from_utf8(&req.subject).ok()?;
    if let Some((acc, kind)) = parse_account_subject(subject) {
        // PING: the requester's account (the system account's own for a system user).
        let acc = match (acc, req.scope.as_deref()) {
            ("PING", Some(own)) => own.to_owned(),
            ("PING", None) => {
                let a = &m.facts.accounts;
                a.get(a.system()).name.to_string()
            }
            (named, None) => named.to_owned(),
            // Only the system account may name an account (the gate admits no other).
            (_, Some(_)) => return None,
        };
        let opts = request_opts(&req.body).ok()?;
        if !selected(&opts, &m.facts) {
            return None;
        }
        return Some(super::sys_account::answer(
            m, &acc, kind, &opts, seq, now_ns,
        ));
    }
    let kind = parse_subject(subject, &m.facts.server_id)?;
    // Outside the system account only CONNZ is answered, about the requester's account.
    let scope = match (&req.scope, kind) {
        (None, _) => None,
        (Some(acc), SysKind::Connz) => Some(acc.as_str()),
        (Some(_), _) => return None,
    };
    let opts: Map<String, Value> = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(o)) => o,
            Ok(_) | Err(_) => {
                return Some(error_answer(m, seq, now_ns, 400, "invalid request body"));
            }
        }
    };
    if !selected(&opts, &m.facts) {
        return None;
    }
    if kind == SysKind::Idz {
        let f = &m.facts;
        let v = json!({"name": f.server_name, "host": f.host, "id": f.server_id});
        return Some(Bytes::from(v.to_string()));
    }
    let path = match kind {
        SysKind::Statsz | SysKind::Varz => "/varz",
        SysKind::Connz => "/connz",
        SysKind::Subsz => "/subsz",
        SysKind::Jsz => "/jsz",
        SysKind::Healthz => "/healthz",
        SysKind::Accountz => "/accountz",
        SysKind::Topology(p) => p,
        SysKind::Idz => unreachable!("answered above"),
    };
    let mut query = query_for(kind, &opts);
    if let Some(acc) = scope {
        query = format!("{query}&acc={acc}");
    }
    let reply = match m.answer(path, &query) {
        Ok(r) => r,
        Err(text) => return Some(error_answer(m, seq, now_ns, 400, &text)),
    };
    let mut data: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let mut out = Map::new();
    out.insert("server".into(), server_info(&m.facts, seq, now_ns));
    match kind {
        SysKind::Statsz => {
            out.insert("statsz".into(), statsz_of(&data));
        }
        SysKind::Healthz => {
            if let Some(o) = data.as_object_mut() {
                o.insert("status_code".into(), reply.code.into());
            }
            out.insert("data".into(), data);
        }
        _ => {
            out.insert("data".into(), data);
        }
    }
    Some(Bytes::from(Value::Object(out).to_string()))
}

/// nats-server's `ServerAPIResponse` with an `error` (`{"code":..,"description":..}`).
pub(super) fn error_answer(m: &Monitor, seq: u64, now_ns: u64, code: u16, text: &str) -> Bytes {
    let v = json!({
        "server": server_info(&m.facts, seq, now_ns),
        "error": {"code": code, "description": text},
    });
    Bytes::from(v.to_string())
}

/// Starts the responder thread: it waits for jobs the cores submit, renders them and hands
/// the answers back, until `shutdown` is set.
pub fn spawn(
    facts: ServerFacts,
    shared: Arc<MonitorShared>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("natrix-sys".into())
        .spawn(move || {
            let mut m = Monitor::new(facts, shared.clone());
            let mut seq = 0u64;
            while !shutdown.load(Ordering::Relaxed) {
                let Some(job) = shared.next_sys_job(Duration::from_millis(100)) else {
                    continue;
                };
                seq += 1;
                let now_ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                if let Some(body) = answer(&mut m, &job.request, seq, now_ns) {
                    shared.push_sys_answer(
                        job.core,
                        SysAnswer {
                            account: job.request.account,
                            reply: job.request.reply.clone(),
                            body,
                        },
                    );
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_parse() {
        let id = "NABC";
        assert_eq!(
            parse_subject("$SYS.REQ.SERVER.PING", id),
            Some(SysKind::Statsz)
        );
        assert_eq!(
            parse_subject("$SYS.REQ.SERVER.PING.VARZ", id),
            Some(SysKind::Varz)
        );
        assert_eq!(
            parse_subject("$SYS.REQ.SERVER.NABC.HEALTHZ", id),
            Some(SysKind::Healthz)
        );
        assert_eq!(parse_subject("$SYS.REQ.SERVER.OTHER.VARZ", id), None);
        assert_eq!(parse_subject("$SYS.REQ.SERVER.PING.BOGUS", id), None);
        assert_eq!(parse_subject("$SYS.REQ.ACCOUNT.PING.CONNZ", id), None);
    }

    #[test]
    fn filters_and_queries() {
        let facts = ServerFacts {
            server_name: "alpha-1".into(),
            host: "127.0.0.1".into(),
            ..ServerFacts::default()
        };
        let o = |v: Value| v.as_object().unwrap().clone();
        assert!(selected(&Map::new(), &facts));
        assert!(selected(&o(json!({"server_name": "alpha"})), &facts));
        assert!(!selected(
            &o(json!({"server_name": "alpha", "exact": true})),
            &facts
        ));
        assert!(!selected(&o(json!({"cluster": "c1"})), &facts));
        assert!(selected(&o(json!({"tags": []})), &facts));
        assert_eq!(
            query_for(
                SysKind::Connz,
                &o(json!({"subscriptions": true, "limit": 5}))
            ),
            "subs=1&limit=5"
        );
        assert_eq!(
            query_for(SysKind::Jsz, &o(json!({"streams": true}))),
            "streams=1"
        );
    }

    #[test]
    fn statsz_takes_varz_counters() {
        let varz = json!({"start": "t", "in_msgs": 3, "out_bytes": 9, "connections": 2,
            "jetstream": {"config": {"max_memory": 1, "store_dir": "/x"}, "stats": {}}});
        let s = statsz_of(&varz);
        assert_eq!(s["received"]["msgs"], 3);
        assert_eq!(s["sent"]["bytes"], 9);
        assert_eq!(s["connections"], 2);
        assert!(s["jetstream"]["config"].get("store_dir").is_none());
    }
}
