//! `/jsz` and `/varz`'s `jetstream.stats` (sans-IO): the cores' [`JsCoreView`]s summed into
//! nats-server 2.15.1's `JSInfo` shape, with `account_details[].stream_detail[]` (one entry
//! per account with JetStream, or the one `acc` names) and their `consumer_detail[]` when
//! asked.

use std::sync::Arc;

use serde::Serialize;

use super::render::{JsFacts, ServerFacts};
use super::snapshot::CoreSnapshot;
use crate::accounts::AccountId;
use crate::jetstream::gocompat::go_escape_html;
use crate::jetstream::responses::ApiStats;
use crate::jetstream::time::{format_rfc3339_nanos, format_state_time};
use crate::jetstream::{ConsumerConfig, SequenceInfo, StreamConfig};
use crate::streams::{ConsumerView, JsCoreView, StreamView, API_LEVEL};

/// What `/jsz` was asked to show (`accounts`, `streams`, `consumers`, `config`; each implies
/// the ones before it, as in nats-server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JszOpts {
    /// `account_details` with the `$G` account.
    pub accounts: bool,
    /// Its `stream_detail`.
    pub streams: bool,
    /// Each stream's `consumer_detail`.
    pub consumers: bool,
    /// Stream and consumer `config`s.
    pub config: bool,
}

impl JszOpts {
    /// Applies the implications: consumers → streams → accounts.
    pub fn normalized(mut self) -> Self {
        self.streams |= self.consumers;
        self.accounts |= self.streams;
        self
    }
}

/// nats-server's `JetStreamStats` (`/varz` `jetstream.stats`, `/jsz` top level and accounts).
#[derive(Serialize)]
pub(super) struct JsStats {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: ApiStats,
}

/// Adds `v`'s totals (not its details) to `t`.
fn add_totals(t: &mut JsCoreView, v: &JsCoreView) {
    t.streams += v.streams;
    t.consumers += v.consumers;
    t.messages += v.messages;
    t.bytes += v.bytes;
    t.memory += v.memory;
    t.storage += v.storage;
    t.reserved_memory += v.reserved_memory;
    t.reserved_storage += v.reserved_storage;
    t.api_total += v.api_total;
    t.api_errors += v.api_errors;
}

/// One core's per-account views summed into its `js` (totals only: the details stay in
/// the per-account views).
pub fn sum_account_views(views: &[(AccountId, JsCoreView)]) -> JsCoreView {
    let mut t = JsCoreView::default();
    for (_, v) in views {
        add_totals(&mut t, v);
    }
    t
}

/// The cores' views summed (details concatenated, sorted by stream name).
pub fn sum_views(cores: &[Arc<CoreSnapshot>]) -> JsCoreView {
    let mut t = JsCoreView::default();
    for v in cores.iter().filter_map(|c| c.js.as_ref()) {
        add_totals(&mut t, v);
        t.stream_detail.extend(v.stream_detail.iter().cloned());
    }
    t.stream_detail
        .sort_by(|a, b| a.config.name.cmp(&b.config.name));
    t
}

/// One account's views on every core summed (details concatenated, sorted by stream name).
fn account_view(cores: &[Arc<CoreSnapshot>], account: AccountId) -> JsCoreView {
    let mut t = JsCoreView::default();
    for (_, v) in cores
        .iter()
        .flat_map(|c| c.js_accounts.iter())
        .filter(|(a, _)| *a == account)
    {
        add_totals(&mut t, v);
        t.stream_detail.extend(v.stream_detail.iter().cloned());
    }
    t.stream_detail
        .sort_by(|a, b| a.config.name.cmp(&b.config.name));
    t
}

/// The accounts with JetStream (each has a stream host), by name.
fn js_accounts(facts: &ServerFacts) -> Vec<(AccountId, &str)> {
    let mut v: Vec<(AccountId, &str)> = facts
        .accounts
        .iter()
        .filter(|(_, a)| a.jetstream)
        .map(|(id, a)| (id, &*a.name))
        .collect();
    v.sort_by(|a, b| a.1.cmp(b.1));
    v
}

/// The server-wide `JetStreamStats` of summed views.
pub(super) fn stats(facts: &ServerFacts, t: &JsCoreView) -> JsStats {
    JsStats {
        memory: t.memory,
        storage: t.storage,
        reserved_memory: t.reserved_memory,
        reserved_storage: t.reserved_storage,
        accounts: js_accounts(facts).len() as u64,
        ha_assets: 0,
        api: ApiStats {
            level: API_LEVEL,
            total: t.api_total,
            errors: t.api_errors,
        },
    }
}

#[derive(Serialize)]
struct Cluster<'a> {
    leader: &'a str,
}

#[derive(Serialize)]
struct State {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    first_ts: String,
    last_seq: u64,
    last_ts: String,
    #[serde(skip_serializing_if = "is_zero")]
    num_subjects: u64,
    #[serde(skip_serializing_if = "is_zero")]
    num_deleted: u64,
    consumer_count: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct Sequence {
    consumer_seq: u64,
    stream_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_active: Option<String>,
}

impl From<SequenceInfo> for Sequence {
    fn from(s: SequenceInfo) -> Self {
        Sequence {
            consumer_seq: s.consumer_seq,
            stream_seq: s.stream_seq,
            last_active: s.last_active_ns.map(format_rfc3339_nanos),
        }
    }
}

#[derive(Serialize)]
struct ConsumerDetail<'a> {
    stream_name: &'a str,
    name: &'a str,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a ConsumerConfig>,
    delivered: Sequence,
    ack_floor: Sequence,
    num_ack_pending: u64,
    num_redelivered: u64,
    num_waiting: u64,
    num_pending: u64,
    ts: String,
}

#[derive(Serialize)]
struct StreamDetail<'a> {
    name: &'a str,
    created: String,
    cluster: Cluster<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a StreamConfig>,
    state: State,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    consumer_detail: Vec<ConsumerDetail<'a>>,
}

#[derive(Serialize)]
pub(super) struct AccountDetail<'a> {
    name: &'a str,
    id: &'a str,
    #[serde(flatten)]
    stats: JsStats,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stream_detail: Vec<StreamDetail<'a>>,
}

#[derive(Serialize)]
struct Jsz<'a> {
    #[serde(flatten)]
    stats: JsStats,
    server_id: &'a str,
    now: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a JsFacts>,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_details: Vec<AccountDetail<'a>>,
    total: u64,
}

fn consumer_detail<'a>(
    stream: &'a str,
    c: &'a ConsumerView,
    opts: JszOpts,
    now: &str,
) -> ConsumerDetail<'a> {
    ConsumerDetail {
        stream_name: stream,
        name: &c.name,
        created: format_rfc3339_nanos(c.created_ns),
        config: opts.config.then_some(&c.config),
        delivered: c.delivered.into(),
        ack_floor: c.ack_floor.into(),
        num_ack_pending: c.num_ack_pending,
        num_redelivered: c.num_redelivered,
        num_waiting: c.num_waiting,
        num_pending: c.num_pending,
        ts: now.to_string(),
    }
}

fn stream_detail<'a>(
    s: &'a StreamView,
    facts: &'a ServerFacts,
    opts: JszOpts,
    now: &str,
) -> StreamDetail<'a> {
    let st = &s.state;
    StreamDetail {
        name: &s.config.name,
        created: format_rfc3339_nanos(s.created_ns),
        cluster: Cluster {
            leader: &facts.server_name,
        },
        config: opts.config.then_some(&s.config),
        state: State {
            messages: st.messages,
            bytes: st.bytes,
            first_seq: st.first_seq,
            first_ts: format_state_time(st.first_ts_ns),
            last_seq: st.last_seq,
            last_ts: format_state_time(st.last_ts_ns),
            num_subjects: st.num_subjects,
            num_deleted: st.num_deleted,
            consumer_count: st.consumer_count,
        },
        consumer_detail: if opts.consumers {
            s.consumers
                .iter()
                .map(|c| consumer_detail(&s.config.name, c, opts, now))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// One account's `account_details[]` entry (also `$SYS.REQ.ACCOUNT.<acc>.JSZ`'s data).
pub(super) fn account_detail<'a>(
    facts: &'a ServerFacts,
    view: &'a JsCoreView,
    account: AccountId,
    opts: JszOpts,
    now: &str,
) -> AccountDetail<'a> {
    // The account's own limits, else the server's; -1 (unlimited) shows as 2^64-1, the
    // way nats-server prints its uint64 conversion.
    let a = facts.accounts.get(account);
    let js = facts.jetstream.as_ref();
    let (mem, file) = a.jetstream_limits;
    let limit = |own: Option<i64>, server: Option<i64>| own.or(server).unwrap_or(-1) as u64;
    let mut acc = stats(facts, view);
    acc.reserved_memory = limit(mem, js.map(|j| j.max_memory));
    acc.reserved_storage = limit(file, js.map(|j| j.max_storage));
    acc.accounts = 0;
    acc.api.level = 0;
    AccountDetail {
        name: &a.name,
        id: &a.name,
        stats: acc,
        stream_detail: if opts.streams {
            view.stream_detail
                .iter()
                .map(|s| stream_detail(s, facts, opts, now))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// One account's JetStream usage as `$SYS.REQ.ACCOUNT.<acc>.JSZ` answers it; None when the
/// account does not exist or has no JetStream.
pub fn account_jsz(
    facts: &ServerFacts,
    cores: &[Arc<CoreSnapshot>],
    acc: &str,
    opts: JszOpts,
    now_unix_ns: u64,
) -> Option<Vec<u8>> {
    let opts = opts.normalized();
    let id = facts.accounts.id(acc)?;
    if facts.jetstream.is_none() || !facts.accounts.get(id).jetstream {
        return None;
    }
    let view = account_view(cores, id);
    let now = format_rfc3339_nanos(now_unix_ns);
    let detail = account_detail(facts, &view, id, opts, &now);
    Some(go_escape_html(
        serde_json::to_vec_pretty(&detail).unwrap_or_default(),
    ))
}

/// `/jsz` from the cores' snapshots (taken with JetStream state at the detail `opts` needs);
/// `acc` limits `account_details` to that account (and implies them), as nats-server.
pub fn jsz(
    facts: &ServerFacts,
    cores: &[Arc<CoreSnapshot>],
    opts: JszOpts,
    acc: Option<&str>,
    now_unix_ns: u64,
) -> Vec<u8> {
    let mut opts = opts.normalized();
    opts.accounts |= acc.is_some();
    let t = sum_views(cores);
    let now = format_rfc3339_nanos(now_unix_ns);
    let enabled = facts.jetstream.is_some();
    let accounts = if enabled {
        js_accounts(facts)
    } else {
        Vec::new()
    };
    let views: Vec<(AccountId, JsCoreView)> = if opts.accounts {
        accounts
            .iter()
            .filter(|(_, name)| acc.is_none_or(|a| a == *name))
            .map(|(id, _)| (*id, account_view(cores, *id)))
            .collect()
    } else {
        Vec::new()
    };
    let account_details = views
        .iter()
        .map(|(id, view)| account_detail(facts, view, *id, opts, &now))
        .collect();
    let mut stats = stats(facts, &t);
    if !enabled {
        stats.accounts = 0;
        stats.api.level = 0;
    }
    let json = Jsz {
        stats,
        server_id: &facts.server_id,
        now: now.clone(),
        disabled: !enabled,
        config: facts.jetstream.as_ref(),
        streams: t.streams,
        consumers: t.consumers,
        messages: t.messages,
        bytes: t.bytes,
        account_details,
        total: accounts.len() as u64,
    };
    go_escape_html(serde_json::to_vec_pretty(&json).unwrap_or_default())
}
