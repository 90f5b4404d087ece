//! JSON renderers for the monitoring endpoints (sans-IO): snapshots and server facts in,
//! the bytes nats-server 2.15.1 would answer out — same field names, nesting and JSON types
//! for the fields natrix has (pretty-printed, Go's HTML-safe escapes).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::snapshot::{ConnSnapshot, CoreSnapshot};
use crate::engine::CoreStats;
use crate::jetstream::gocompat::go_escape_html;
use crate::jetstream::time::format_rfc3339_nanos;

/// Server facts that do not change while it runs (from the configuration).
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// `server_id` (as in INFO).
    pub server_id: String,
    /// `server_name`.
    pub server_name: String,
    /// Advertised protocol version (as in INFO).
    pub version: String,
    /// Runtime (nats-server's `go` field): `natrix <crate version>`.
    pub go: String,
    /// Client listen host.
    pub host: String,
    /// Client port.
    pub port: u16,
    /// Server-wide connection limit.
    pub max_connections: u64,
    /// Keepalive PING period (ns).
    pub ping_interval_ns: u64,
    /// Unanswered PINGs before a connection is stale.
    pub ping_max: u32,
    /// Monitoring host.
    pub http_host: String,
    /// Monitoring port.
    pub http_port: u16,
    /// Longest protocol line.
    pub max_control_line: u64,
    /// Largest payload.
    pub max_payload: u64,
    /// Outbound bytes a connection may hold.
    pub max_pending: u64,
    /// Write stall limit (ns).
    pub write_deadline_ns: u64,
    /// Number of cores (executors).
    pub cores: usize,
    /// Started at (unix ns).
    pub start_unix_ns: u64,
    /// JetStream settings, when enabled.
    pub jetstream: Option<JsFacts>,
    /// The accounts (names, system account, JetStream, imports).
    pub accounts: Arc<crate::accounts::Accounts>,
    /// The reloadable configuration (SIGHUP): `/varz` shows its limits once reloaded.
    pub reload: Option<Arc<crate::reload::Reloadable>>,
    /// The generation of the configuration the limits above come from.
    pub config_generation: u64,
    /// When that configuration was loaded (unix ns; 0 = at start).
    pub config_load_unix_ns: u64,
}

impl ServerFacts {
    /// Takes the limits of a configuration reloaded since the last call (a lock and a
    /// clone only when the generation moved).
    pub fn refresh(&mut self, now_unix_ns: u64) {
        let Some(r) = &self.reload else {
            return;
        };
        if r.generation() == self.config_generation {
            return;
        }
        let (generation, cfg) = r.config();
        let l = &cfg.limits;
        self.max_connections = l.max_connections as u64;
        self.ping_interval_ns = l.ping_interval_ms * 1_000_000;
        self.ping_max = l.max_pings_outstanding;
        self.max_control_line = l.max_control_line_bytes as u64;
        self.max_payload = l.max_payload_bytes as u64;
        self.max_pending = l.max_pending_bytes as u64;
        self.config_generation = generation;
        self.config_load_unix_ns = now_unix_ns;
    }
}

/// JetStream settings shown in `/varz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JsFacts {
    /// `max_memory` (bytes, -1 = unlimited).
    pub max_memory: i64,
    /// `max_storage` (bytes, -1 = unlimited).
    pub max_storage: i64,
    /// Store directory.
    pub store_dir: String,
    /// Sync interval (ns); 0 with `sync = "always"`.
    pub sync_interval: u64,
    /// `sync_always`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sync_always: bool,
    /// nats-server's strict API parsing (always on in natrix).
    pub strict: bool,
}

/// Process measurements for `/varz`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    /// Resident set size (bytes).
    pub mem: u64,
    /// CPU use since the previous `/varz` (percent of one CPU).
    pub cpu: f64,
}

fn pretty<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain structs of strings and numbers cannot fail.
    go_escape_html(serde_json::to_vec_pretty(v).unwrap_or_default())
}

/// nats-server's uptime text: `5s`, `3m2s`, `1h0m5s`, `2d1h0m0s`, `1y3d0h0m0s`.
pub fn uptime(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (mins, hrs) = (secs / 60, secs / 3600);
    let (days, yrs) = (hrs / 24, hrs / 24 / 365);
    if yrs > 0 {
        format!(
            "{yrs}y{}d{}h{}m{}s",
            days % 365,
            hrs % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hrs % 24, mins % 60, secs % 60)
    } else if hrs > 0 {
        format!("{hrs}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// Counters summed over the cores.
pub fn totals(cores: &[Arc<CoreSnapshot>]) -> (CoreStats, u64, u64) {
    let mut t = CoreStats::default();
    let (mut conns, mut subs) = (0, 0);
    for c in cores {
        let s = &c.stats;
        t.in_msgs += s.in_msgs;
        t.in_bytes += s.in_bytes;
        t.out_msgs += s.out_msgs;
        t.out_bytes += s.out_bytes;
        t.slow_consumers += s.slow_consumers;
        t.stale_connections += s.stale_connections;
        t.total_connections += s.total_connections;
        t.ring_items_sent += s.ring_items_sent;
        t.ring_items_received += s.ring_items_received;
        t.leafnodes += s.leafnodes;
        conns += c.connections;
        subs += c.subscriptions;
    }
    (t, conns, subs)
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct KindCounts {
    clients: u64,
    routes: u64,
    gateways: u64,
    leafs: u64,
}

#[derive(Serialize)]
struct VarzJs<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a JsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<super::jsz::JsStats>,
}

#[derive(Serialize)]
struct Varz<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u32,
    go: &'a str,
    host: &'a str,
    port: u16,
    max_connections: u64,
    ping_interval: u64,
    ping_max: u32,
    http_host: &'a str,
    http_port: u16,
    http_base_path: &'a str,
    https_port: u16,
    max_control_line: u64,
    max_payload: u64,
    max_pending: u64,
    cluster: Empty,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: VarzJs<'a>,
    write_deadline: u64,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    cpu: f64,
    connections: u64,
    total_connections: u64,
    routes: u64,
    remotes: u64,
    leafnodes: u64,
    in_msgs: u64,
    in_bytes: u64,
    in_client_msgs: u64,
    in_client_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
    out_client_msgs: u64,
    out_client_bytes: u64,
    slow_consumers: u64,
    stale_connections: u64,
    subscriptions: u64,
    http_req_stats: &'a BTreeMap<String, u64>,
    config_load_time: String,
    slow_consumer_stats: KindCounts,
    stale_connection_stats: KindCounts,
}

/// `/varz`.
pub fn varz(
    facts: &ServerFacts,
    cores: &[Arc<CoreSnapshot>],
    proc_stats: ProcessStats,
    http_req_stats: &BTreeMap<String, u64>,
    now_unix_ns: u64,
) -> Vec<u8> {
    let (t, connections, subscriptions) = totals(cores);
    let start = format_rfc3339_nanos(facts.start_unix_ns);
    let counts = |clients| KindCounts {
        clients,
        routes: 0,
        gateways: 0,
        leafs: 0,
    };
    pretty(&Varz {
        server_id: &facts.server_id,
        server_name: &facts.server_name,
        version: &facts.version,
        proto: 1,
        go: &facts.go,
        host: &facts.host,
        port: facts.port,
        max_connections: facts.max_connections,
        ping_interval: facts.ping_interval_ns,
        ping_max: facts.ping_max,
        http_host: &facts.http_host,
        http_port: facts.http_port,
        http_base_path: "",
        https_port: 0,
        max_control_line: facts.max_control_line,
        max_payload: facts.max_payload,
        max_pending: facts.max_pending,
        cluster: Empty {},
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: VarzJs {
            config: facts.jetstream.as_ref(),
            stats: facts
                .jetstream
                .as_ref()
                .map(|_| super::jsz::stats(facts, &super::jsz::sum_views(cores))),
        },
        write_deadline: facts.write_deadline_ns,
        start: start.clone(),
        now: format_rfc3339_nanos(now_unix_ns),
        uptime: uptime(now_unix_ns.saturating_sub(facts.start_unix_ns)),
        mem: proc_stats.mem,
        cores: facts.cores,
        gomaxprocs: facts.cores,
        cpu: proc_stats.cpu,
        connections,
        total_connections: t.total_connections,
        routes: 0,
        remotes: 0,
        leafnodes: t.leafnodes,
        in_msgs: t.in_msgs,
        in_bytes: t.in_bytes,
        in_client_msgs: t.in_msgs,
        in_client_bytes: t.in_bytes,
        out_msgs: t.out_msgs,
        out_bytes: t.out_bytes,
        out_client_msgs: t.out_msgs,
        out_client_bytes: t.out_bytes,
        slow_consumers: t.slow_consumers,
        stale_connections: t.stale_connections,
        subscriptions,
        http_req_stats,
        config_load_time: if facts.config_load_unix_ns == 0 {
            start
        } else {
            format_rfc3339_nanos(facts.config_load_unix_ns)
        },
        slow_consumer_stats: counts(t.slow_consumers),
        stale_connection_stats: counts(t.stale_connections),
    })
}

/// `/healthz`: `(HTTP status, body)`.
pub fn healthz(started: bool) -> (u16, Vec<u8>) {
    #[derive(Serialize)]
    struct Health<'a> {
        status: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    let (code, h) = if started {
        (
            200,
            Health {
                status: "ok",
                error: None,
            },
        )
    } else {
        // nats-server 2.15.1's answer before its client listener is up (it recovers
        // JetStream first; here: while the cores recover their streams): 500, "server".
        (
            500,
            Health {
                status: "error",
                error: Some("failed to be ready for connections after 1ms: server"),
            },
        )
    };
    (code, serde_json::to_vec(&h).unwrap_or_default())
}

/// How `/connz` lists subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubsDetail {
    /// Not at all.
    #[default]
    None,
    /// Subjects (`subs=1`).
    List,
    /// Subject, sid, msgs, cid, qgroup (`subs=detail`).
    Detail,
}

/// `/connz` query options.
#[derive(Debug, Clone, Default)]
pub struct ConnzOpts {
    /// Skip this many (after sorting).
    pub offset: usize,
    /// Show at most this many (nats-server's default 1024).
    pub limit: usize,
    /// Sort key (nats-server's names).
    pub sort: String,
    /// Subscriptions shown.
    pub subs: SubsDetail,
    /// Only this connection.
    pub cid: Option<u64>,
    /// Only this account's connections (`acc`).
    pub acc: Option<String>,
    /// `auth=true`: user, account and client certificates too.
    pub auth: bool,
}

/// nats-server's `/connz` default page size.
pub const DEFAULT_LIMIT: usize = 1024;

/// The sort keys `/connz` accepts for open connections.
pub const SORT_KEYS: &[&str] = &[
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
];

#[derive(Serialize)]
struct SubDetail<'a> {
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<&'a str>,
    sid: &'a str,
    msgs: u64,
    cid: u64,
}

#[derive(Serialize)]
struct ConnInfo<'a> {
    cid: u64,
    kind: &'a str,
    #[serde(rename = "type")]
    kind_type: &'a str,
    ip: &'a str,
    port: u16,
    start: String,
    last_activity: String,
    uptime: String,
    idle: String,
    pending_bytes: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cipher_suite: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_peer_certs: Option<Vec<PeerCert<'a>>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_first: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized_user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_tag: Option<&'a str>,
}

/// nats-server's `TLSPeerCert`.
#[derive(Serialize)]
struct PeerCert<'a> {
    subject: &'a str,
    spki_sha256: &'a str,
    cert_sha256: &'a str,
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    /// null for an unknown `acc` (nats-server's empty answer).
    connections: Option<Vec<ConnInfo<'a>>>,
}

/// `/connz`; `Err(text)` (a 400) for an unknown sort key.
pub fn connz(
    facts: &ServerFacts,
    cores: &[Arc<CoreSnapshot>],
    opts: &ConnzOpts,
    now_unix_ns: u64,
) -> Result<Vec<u8>, String> {
    let sort = if opts.sort.is_empty() {
        "cid"
    } else {
        opts.sort.as_str()
    };
    if !SORT_KEYS.contains(&sort) {
        return Err(format!("Invalid sorting option: {sort}"));
    }
    let account = match opts.acc.as_deref() {
        None | Some("") => None,
        Some(name) => match facts.accounts.id(name) {
            Some(id) => Some(id),
            // nats-server: an empty answer without even its id.
            None => {
                return Ok(pretty(&Connz {
                    server_id: "",
                    now: format_rfc3339_nanos(now_unix_ns),
                    num_connections: 0,
                    total: 0,
                    offset: opts.offset,
                    limit: if opts.limit == 0 {
                        DEFAULT_LIMIT
                    } else {
                        opts.limit
                    },
                    connections: None,
                }))
            }
        },
    };
    // (connection, its core's snapshot) so clock values convert to wall time.
    let mut all: Vec<(&ConnSnapshot, &CoreSnapshot)> = cores
        .iter()
        .flat_map(|c| c.conns.iter().map(move |conn| (conn, &**c)))
        .filter(|(c, _)| {
            c.leaf.is_none()
                && opts.cid.is_none_or(|cid| c.cid == cid)
                && account.is_none_or(|a| c.account == a)
        })
        .collect();
    let start = |(c, core): &(&ConnSnapshot, &CoreSnapshot)| core.unix_ns(c.start_ns);
    let last = |(c, core): &(&ConnSnapshot, &CoreSnapshot)| core.unix_ns(c.last_activity_ns);
    match sort {
        "cid" => all.sort_by_key(|(c, _)| c.cid),
        "start" | "uptime" => all.sort_by_key(start),
        "subs" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.num_subs)),
        "pending" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.pending_bytes)),
        "msgs_to" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.out_msgs)),
        "msgs_from" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.in_msgs)),
        "bytes_to" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.out_bytes)),
        "bytes_from" => all.sort_by_key(|(c, _)| std::cmp::Reverse(c.in_bytes)),
        "last" => all.sort_by_key(|x| std::cmp::Reverse(last(x))),
        "idle" => all.sort_by_key(last),
        _ => unreachable!("sort key checked above"),
    }
    let total = all.len();
    let limit = if opts.limit == 0 {
        DEFAULT_LIMIT
    } else {
        opts.limit
    };
    let connections: Vec<ConnInfo<'_>> = all
        .iter()
        .skip(opts.offset)
        .take(limit)
        .map(|&(c, core)| {
            let started = core.unix_ns(c.start_ns);
            let active = core.unix_ns(c.last_activity_ns);
            ConnInfo {
                cid: c.cid,
                kind: "Client",
                kind_type: "nats",
                ip: &c.ip,
                port: c.port,
                start: format_rfc3339_nanos(started),
                last_activity: format_rfc3339_nanos(active),
                uptime: uptime(now_unix_ns.saturating_sub(started)),
                idle: uptime(now_unix_ns.saturating_sub(active)),
                pending_bytes: c.pending_bytes,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.num_subs,
                name: c.name.as_deref(),
                lang: c.lang.as_deref(),
                version: c.version.as_deref(),
                tls_version: c.tls.as_ref().map(|t| t.version.as_str()),
                tls_cipher_suite: c.tls.as_ref().map(|t| t.cipher_suite.as_str()),
                tls_peer_certs: c
                    .tls
                    .as_ref()
                    .filter(|t| opts.auth && !t.peer_certs.is_empty())
                    .map(|t| {
                        t.peer_certs
                            .iter()
                            .map(|p| PeerCert {
                                subject: &p.subject,
                                spki_sha256: &p.subject_pk_sha256,
                                cert_sha256: &p.cert_sha256,
                            })
                            .collect()
                    }),
                tls_first: c.tls.as_ref().is_some_and(|t| t.first),
                authorized_user: (opts.auth && !c.user.is_empty()).then_some(c.user.as_str()),
                account: (opts.auth && c.account != crate::accounts::GLOBAL)
                    .then(|| &*facts.accounts.get(c.account).name),
                name_tag: opts.auth.then(|| &*facts.accounts.get(c.account).name),
                subscriptions_list: (opts.subs == SubsDetail::List && !c.subs.is_empty())
                    .then(|| c.subs.iter().map(|s| s.subject.as_str()).collect()),
                subscriptions_list_detail: (opts.subs == SubsDetail::Detail && !c.subs.is_empty())
                    .then(|| {
                        c.subs
                            .iter()
                            .map(|s| SubDetail {
                                subject: &s.subject,
                                qgroup: s.queue.as_deref(),
                                sid: &s.sid,
                                msgs: s.msgs,
                                cid: c.cid,
                            })
                            .collect()
                    }),
            }
        })
        .collect();
    Ok(pretty(&Connz {
        server_id: &facts.server_id,
        now: format_rfc3339_nanos(now_unix_ns),
        num_connections: connections.len(),
        total,
        offset: opts.offset,
        limit,
        connections: Some(connections),
    }))
}

#[derive(Serialize)]
struct SubszEntry<'a> {
    account: &'a str,
    account_tag: &'a str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<&'a str>,
    sid: &'a str,
    msgs: u64,
    cid: u64,
}

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    now: String,
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    cache_hit_rate: f64,
    max_fanout: u64,
    avg_fanout: f64,
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<SubszEntry<'a>>>,
}

/// `/subsz` query options.
#[derive(Debug, Clone, Default)]
pub struct SubszOpts {
    /// List the client subscriptions (`subs=1`).
    pub list: bool,
    /// Skip this many.
    pub offset: usize,
    /// Show at most this many (0 = nats-server's default 1024).
    pub limit: usize,
    /// Only this account's subscription index and subscriptions (`acc`).
    pub acc: Option<String>,
}

/// `/subsz`; with `list`, the client subscriptions (`subs=1`, paged by offset/limit).
/// Each core's local subscription index counts; the figures are summed over the cores
/// (hit rate and average fanout weighted accordingly); with `acc`, only that account's
/// index (an unknown account: all zero, as nats-server).
pub fn subsz(
    facts: &ServerFacts,
    cores: &[Arc<CoreSnapshot>],
    opts: &SubszOpts,
    now_unix_ns: u64,
) -> Vec<u8> {
    let (list, offset) = (opts.list, opts.offset);
    let account = opts
        .acc
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| facts.accounts.id(a).ok_or(()));
    let (_, _, all_subscriptions) = totals(cores);
    let limit = if opts.limit == 0 {
        DEFAULT_LIMIT
    } else {
        opts.limit
    };
    let mut sl = crate::sublist::SublistStats::default();
    let mut subscriptions = 0;
    for c in cores {
        let s = match account {
            None => {
                subscriptions = all_subscriptions;
                &c.sublist
            }
            Some(Ok(id)) => match c.accounts.get(id as usize) {
                Some(a) => {
                    subscriptions += a.subscriptions;
                    &a.sublist
                }
                None => continue,
            },
            Some(Err(())) => continue,
        };
        super::snapshot::add_sublist(&mut sl, s);
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let names = &facts.accounts;
    let entries: Vec<SubszEntry<'_>> = cores
        .iter()
        .flat_map(|c| c.conns.iter())
        .filter(|c| match account {
            None => true,
            Some(Ok(id)) => c.account == id,
            Some(Err(())) => false,
        })
        .flat_map(|c| {
            let name = &*names.get(c.account).name;
            c.subs.iter().map(move |s| SubszEntry {
                account: name,
                account_tag: name,
                subject: &s.subject,
                qgroup: s.queue.as_deref(),
                sid: &s.sid,
                msgs: s.msgs,
                cid: c.cid,
            })
        })
        .collect();
    let total = if list { entries.len() } else { 0 };
    pretty(&Subsz {
        server_id: &facts.server_id,
        now: format_rfc3339_nanos(now_unix_ns),
        num_subscriptions: subscriptions,
        num_cache: sl.cache_entries,
        num_inserts: sl.inserts,
        num_removes: sl.removes,
        num_matches: sl.matches,
        cache_hit_rate: ratio(sl.cache_hits, sl.matches),
        max_fanout: sl.max_fanout,
        avg_fanout: ratio(sl.total_fanout, sl.cache_entries),
        total,
        offset,
        limit,
        subscriptions_list: list.then(|| entries.into_iter().skip(offset).take(limit).collect()),
    })
}

/// `/routez`, `/gatewayz`, `/leafz`: nats-server's empty forms for a single server (natrix
/// has no routes, gateways or leaf nodes), so tools that poll them get valid answers.
/// `None` for any other path.
pub fn topology(path: &str, facts: &ServerFacts, now_unix_ns: u64) -> Option<Vec<u8>> {
    #[derive(Serialize)]
    struct Routez<'a> {
        server_id: &'a str,
        server_name: &'a str,
        now: String,
        num_routes: u32,
        routes: [u8; 0],
    }
    #[derive(Serialize)]
    struct Gatewayz<'a> {
        server_id: &'a str,
        now: String,
        outbound_gateways: Empty,
        inbound_gateways: Empty,
    }
    #[derive(Serialize)]
    struct Leafz<'a> {
        server_id: &'a str,
        now: String,
        leafnodes: u32,
        leafs: [u8; 0],
    }
    let now = format_rfc3339_nanos(now_unix_ns);
    let id = facts.server_id.as_str();
    Some(match path {
        "/routez" => pretty(&Routez {
            server_id: id,
            server_name: &facts.server_name,
            now,
            num_routes: 0,
            routes: [],
        }),
        "/gatewayz" => pretty(&Gatewayz {
            server_id: id,
            now,
            outbound_gateways: Empty {},
            inbound_gateways: Empty {},
        }),
        "/leafz" => pretty(&Leafz {
            server_id: id,
            now,
            leafnodes: 0,
            leafs: [],
        }),
        _ => return None,
    })
}

/// `/`: an HTML page linking the endpoints natrix serves.
pub fn index(version: &str) -> Vec<u8> {
    let links = [
        ("varz", "General"),
        ("connz", "Connections"),
        ("subsz", "Subscriptions"),
        ("routez", "Routes"),
        ("leafz", "LeafNodes"),
        ("gatewayz", "Gateways"),
        ("jsz", "JetStream"),
        ("accountz", "Accounts"),
        ("healthz", "Health Probe"),
        ("metrics", "Prometheus Metrics"),
    ];
    let mut html = format!(
        "<html lang=\"en\">\n<head><title>natrix monitoring</title></head>\n<body>\n\
         <h1>natrix</h1>\n<p>natrix {} (NATS protocol {version})</p>\n",
        env!("CARGO_PKG_VERSION")
    );
    for (path, label) in links {
        html.push_str(&format!(
            "<a href=./{path}>{label}<span class=\"endpoint\"> /{path}</span></a><br/>\n"
        ));
    }
    html.push_str("</body>\n</html>\n");
    html.into_bytes()
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
