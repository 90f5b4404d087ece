//! `$JS.API` response side: JSON bodies shaped exactly like nats-server 2.15.1's (key order,
//! omitted-when-empty keys, Go's `\u003e` escaping), the publish ack, and direct-get headers.
//! The caller passes plain state views; nothing here touches storage.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;

use super::errors::JsApiError;
use super::gocompat::time::{format_rfc3339_nanos, format_state_time, write_rfc3339_nanos};
use super::gocompat::{go_escape_html, write_json_str, write_u64};
use super::stream_config::StreamConfig;
pub use crate::store::StreamStateView;

/// Page size of STREAM.NAMES.
pub const NAMES_PAGE_LIMIT: usize = 1024;
/// Page size of STREAM.LIST.
pub const LIST_PAGE_LIMIT: usize = 256;
/// Page size of the `state.subjects` map in STREAM.INFO.
pub const SUBJECTS_PAGE_LIMIT: usize = 100_000;

/// Which API a JSON response answers (its `type` and error-envelope extras depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    /// `$JS.API.INFO`.
    AccountInfo,
    /// STREAM.CREATE.
    StreamCreate,
    /// STREAM.UPDATE.
    StreamUpdate,
    /// STREAM.INFO.
    StreamInfo,
    /// STREAM.NAMES.
    StreamNames,
    /// STREAM.LIST.
    StreamList,
    /// STREAM.DELETE.
    StreamDelete,
    /// STREAM.PURGE.
    StreamPurge,
    /// STREAM.MSG.GET.
    StreamMsgGet,
    /// STREAM.MSG.DELETE.
    StreamMsgDelete,
    /// CONSUMER.CREATE / CONSUMER.DURABLE.CREATE.
    ConsumerCreate,
    /// CONSUMER.INFO.
    ConsumerInfo,
    /// CONSUMER.NAMES.
    ConsumerNames,
    /// CONSUMER.LIST.
    ConsumerList,
    /// CONSUMER.DELETE.
    ConsumerDelete,
    /// CONSUMER.PAUSE.
    ConsumerPause,
    /// CONSUMER.RESET.
    ConsumerReset,
    /// CONSUMER.UNPIN.
    ConsumerUnpin,
}

impl ResponseType {
    /// The `type` value, e.g. `io.nats.jetstream.api.v1.stream_create_response`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::AccountInfo => "io.nats.jetstream.api.v1.account_info_response",
            Self::StreamCreate => "io.nats.jetstream.api.v1.stream_create_response",
            Self::StreamUpdate => "io.nats.jetstream.api.v1.stream_update_response",
            Self::StreamInfo => "io.nats.jetstream.api.v1.stream_info_response",
            Self::StreamNames => "io.nats.jetstream.api.v1.stream_names_response",
            Self::StreamList => "io.nats.jetstream.api.v1.stream_list_response",
            Self::StreamDelete => "io.nats.jetstream.api.v1.stream_delete_response",
            Self::StreamPurge => "io.nats.jetstream.api.v1.stream_purge_response",
            Self::StreamMsgGet => "io.nats.jetstream.api.v1.stream_msg_get_response",
            Self::StreamMsgDelete => "io.nats.jetstream.api.v1.stream_msg_delete_response",
            Self::ConsumerCreate => "io.nats.jetstream.api.v1.consumer_create_response",
            Self::ConsumerInfo => "io.nats.jetstream.api.v1.consumer_info_response",
            Self::ConsumerNames => "io.nats.jetstream.api.v1.consumer_names_response",
            Self::ConsumerList => "io.nats.jetstream.api.v1.consumer_list_response",
            Self::ConsumerDelete => "io.nats.jetstream.api.v1.consumer_delete_response",
            Self::ConsumerPause => "io.nats.jetstream.api.v1.consumer_pause_response",
            Self::ConsumerReset => "io.nats.jetstream.api.v1.consumer_reset_response",
            Self::ConsumerUnpin => "io.nats.jetstream.api.v1.consumer_unpin_response",
        }
    }
}

/// Error envelope `{"type":..,"error":{..}}` plus the zero-valued keys nats-server adds for
/// INFO (`total/offset/limit`), NAMES (`..,"streams":null`), LIST (`..,"streams":[]`) and
/// PURGE (`"purged":0`); consumer NAMES and LIST add `..,"consumers":[]`, consumer PAUSE
/// `"paused":false,"pause_until":<zero time>`, consumer RESET `"reset_seq":0`.
pub fn render_error(response: ResponseType, err: &JsApiError) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + err.description.len());
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(response.type_name().as_bytes());
    out.extend_from_slice(b"\",");
    err.write_error_member(&mut out);
    out.extend_from_slice(match response {
        ResponseType::StreamInfo => &b",\"total\":0,\"offset\":0,\"limit\":0"[..],
        ResponseType::StreamNames => b",\"total\":0,\"offset\":0,\"limit\":0,\"streams\":null",
        ResponseType::StreamList => b",\"total\":0,\"offset\":0,\"limit\":0,\"streams\":[]",
        ResponseType::StreamPurge => b",\"purged\":0",
        ResponseType::ConsumerNames | ResponseType::ConsumerList => {
            b",\"total\":0,\"offset\":0,\"limit\":0,\"consumers\":[]"
        }
        ResponseType::ConsumerPause => {
            b",\"paused\":false,\"pause_until\":\"0001-01-01T00:00:00Z\""
        }
        ResponseType::ConsumerReset => b",\"reset_seq\":0",
        _ => b"",
    });
    out.push(b'}');
    out
}

/// What the responses say about this server: `cluster.leader`, and the `_nats.level` /
/// `_nats.ver` metadata shown on stream configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerMeta<'a> {
    /// Server name (the `leader` of the one-node "cluster").
    pub server_name: &'a str,
    /// Version advertised in INFO (`_nats.ver`).
    pub version: &'a str,
    /// JetStream API level supported (`_nats.level`, `api.level`).
    pub api_level: u32,
}

/// Everything a StreamInfo body needs.
#[derive(Debug, Clone, Copy)]
pub struct StreamInfoView<'a> {
    /// The stored (normalised) config.
    pub config: &'a StreamConfig,
    /// Creation time, Unix ns.
    pub created_ns: u64,
    /// Current state.
    pub state: &'a StreamStateView,
    /// Time of the response, Unix ns (`ts`).
    pub now_ns: u64,
}

/// Paging keys of STREAM.INFO (all 0 unless `subjects_filter` was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paging {
    /// Matching subjects in total.
    pub total: u64,
    /// Requested offset.
    pub offset: u64,
    /// Page size (100000 for subjects).
    pub limit: u64,
}

/// Sorts subject counts and cuts the page at `offset` the way STREAM.INFO pages `state.subjects`.
pub fn page_subjects(
    counts: impl IntoIterator<Item = (String, u64)>,
    offset: u64,
) -> (BTreeMap<String, u64>, Paging) {
    let all: BTreeMap<String, u64> = counts.into_iter().collect();
    let total = all.len() as u64;
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let page = all
        .into_iter()
        .skip(skip)
        .take(SUBJECTS_PAGE_LIMIT)
        .collect();
    (
        page,
        Paging {
            total,
            offset,
            limit: SUBJECTS_PAGE_LIMIT as u64,
        },
    )
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct StateJson<'a> {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    first_ts: String,
    last_seq: u64,
    last_ts: String,
    #[serde(skip_serializing_if = "is_zero")]
    num_subjects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects: Option<&'a BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "is_zero")]
    num_deleted: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<&'a [u64]>,
    consumer_count: u64,
}

impl<'a> StateJson<'a> {
    fn new(state: &'a StreamStateView) -> Self {
        Self {
            messages: state.messages,
            bytes: state.bytes,
            first_seq: state.first_seq,
            first_ts: format_state_time(state.first_ts_ns),
            last_seq: state.last_seq,
            last_ts: format_state_time(state.last_ts_ns),
            num_subjects: state.num_subjects,
            subjects: (!state.subjects.is_empty()).then_some(&state.subjects),
            num_deleted: state.num_deleted,
            deleted: (!state.deleted.is_empty()).then_some(&state.deleted[..]),
            consumer_count: state.consumer_count,
        }
    }
}

#[derive(Serialize)]
struct ClusterJson<'a> {
    leader: &'a str,
}

#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    config: StreamConfig,
    created: String,
    state: StateJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirror: Option<&'a super::stream_origins::SourceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<&'a [super::stream_origins::SourceInfo]>,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    did_create: Option<bool>,
}

impl<'a> InfoJson<'a> {
    fn new(info: &StreamInfoView<'a>, config: StreamConfig) -> Self {
        Self {
            kind: None,
            total: None,
            offset: None,
            limit: None,
            config,
            created: format_rfc3339_nanos(info.created_ns),
            state: StateJson::new(info.state),
            cluster: None,
            mirror: None,
            sources: None,
            ts: format_rfc3339_nanos(info.now_ns),
            did_create: None,
        }
    }
}

fn to_go_json(value: &impl Serialize) -> Vec<u8> {
    // Serialising plain structs and maps into memory cannot fail.
    go_escape_html(serde_json::to_vec(value).unwrap_or_default())
}

/// STREAM.CREATE success: StreamInfo with `did_create:true` (also for an identical re-create).
pub fn render_stream_create(info: &StreamInfoView, server: &ServerMeta) -> Vec<u8> {
    render_stream_create_with(info, server, Origins::default())
}

/// The `mirror` / `sources` state a stream info shows (mirrors and sources only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Origins<'a> {
    /// The mirror's state.
    pub mirror: Option<&'a super::stream_origins::SourceInfo>,
    /// The sources' states (omitted when empty).
    pub sources: &'a [super::stream_origins::SourceInfo],
}

impl<'a> InfoJson<'a> {
    fn with_origins(mut self, o: Origins<'a>) -> Self {
        self.mirror = o.mirror;
        self.sources = (!o.sources.is_empty()).then_some(o.sources);
        self
    }
}

/// [`render_stream_create`] with the stream's `mirror`/`sources` state.
pub fn render_stream_create_with(
    info: &StreamInfoView,
    server: &ServerMeta,
    origins: Origins,
) -> Vec<u8> {
    let config = info
        .config
        .with_dynamic_metadata(server.api_level, server.version);
    let mut json = InfoJson::new(info, config).with_origins(origins);
    json.kind = Some(ResponseType::StreamCreate.type_name());
    json.did_create = Some(true);
    to_go_json(&json)
}

/// STREAM.UPDATE success: StreamInfo with the new config.
pub fn render_stream_update(info: &StreamInfoView, server: &ServerMeta) -> Vec<u8> {
    render_stream_update_with(info, server, Origins::default())
}

/// [`render_stream_update`] with the stream's `mirror`/`sources` state.
pub fn render_stream_update_with(
    info: &StreamInfoView,
    server: &ServerMeta,
    origins: Origins,
) -> Vec<u8> {
    let config = info
        .config
        .with_dynamic_metadata(server.api_level, server.version);
    let mut json = InfoJson::new(info, config).with_origins(origins);
    json.kind = Some(ResponseType::StreamUpdate.type_name());
    to_go_json(&json)
}

/// STREAM.INFO success: `total/offset/limit` first (from `paging`, zeros without a subjects
/// filter), then StreamInfo with `cluster.leader`.
pub fn render_stream_info(info: &StreamInfoView, server: &ServerMeta, paging: Paging) -> Vec<u8> {
    render_stream_info_with(info, server, paging, Origins::default())
}

/// [`render_stream_info`] with the stream's `mirror`/`sources` state.
pub fn render_stream_info_with(
    info: &StreamInfoView,
    server: &ServerMeta,
    paging: Paging,
    origins: Origins,
) -> Vec<u8> {
    let config = info
        .config
        .with_dynamic_metadata(server.api_level, server.version);
    let mut json = InfoJson::new(info, config).with_origins(origins);
    json.kind = Some(ResponseType::StreamInfo.type_name());
    json.total = Some(paging.total);
    json.offset = Some(paging.offset);
    json.limit = Some(paging.limit);
    json.cluster = Some(ClusterJson {
        leader: server.server_name,
    });
    to_go_json(&json)
}

fn page_range(total: usize, offset: u64, limit: usize) -> std::ops::Range<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    start..start.saturating_add(limit).min(total)
}

/// STREAM.NAMES success for the (filtered) names: sorted, paged at `offset` by 1024,
/// `"streams":null` when the page is empty.
pub fn render_stream_names(names: &[&str], offset: u64) -> Vec<u8> {
    #[derive(Serialize)]
    struct NamesJson<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        total: usize,
        offset: u64,
        limit: usize,
        streams: Option<&'a [&'a str]>,
    }
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let page = &sorted[page_range(sorted.len(), offset, NAMES_PAGE_LIMIT)];
    to_go_json(&NamesJson {
        kind: ResponseType::StreamNames.type_name(),
        total: sorted.len(),
        offset,
        limit: NAMES_PAGE_LIMIT,
        streams: (!page.is_empty()).then_some(page),
    })
}

/// STREAM.LIST success for the (filtered) streams: sorted by name, paged at `offset` by 256;
/// entries carry the stored config (no dynamic metadata) and no `cluster`, as nats-server's do.
pub fn render_stream_list(streams: &[StreamInfoView], offset: u64) -> Vec<u8> {
    let with: Vec<(StreamInfoView, Origins)> =
        streams.iter().map(|v| (*v, Origins::default())).collect();
    render_stream_list_with(&with, offset)
}

/// [`render_stream_list`] with each stream's `mirror`/`sources` state (nats-server lists it).
pub fn render_stream_list_with(streams: &[(StreamInfoView, Origins)], offset: u64) -> Vec<u8> {
    #[derive(Serialize)]
    struct ListJson<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        total: usize,
        offset: u64,
        limit: usize,
        streams: Vec<InfoJson<'a>>,
    }
    let mut sorted: Vec<&(StreamInfoView, Origins)> = streams.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.config.name.cmp(&b.0.config.name));
    let page = &sorted[page_range(sorted.len(), offset, LIST_PAGE_LIMIT)];
    to_go_json(&ListJson {
        kind: ResponseType::StreamList.type_name(),
        total: sorted.len(),
        offset,
        limit: LIST_PAGE_LIMIT,
        streams: page
            .iter()
            .map(|(info, origins)| InfoJson::new(info, info.config.clone()).with_origins(*origins))
            .collect(),
    })
}

/// `{"type":..,"success":true}` for STREAM.DELETE and STREAM.MSG.DELETE.
pub fn render_success(response: ResponseType) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(response.type_name().as_bytes());
    out.extend_from_slice(b"\",\"success\":true}");
    out
}

/// STREAM.PURGE success: `{"type":..,"success":true,"purged":N}`.
pub fn render_purge(purged: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ResponseType::StreamPurge.type_name().as_bytes());
    out.extend_from_slice(b"\",\"success\":true,\"purged\":");
    write_u64(&mut out, purged);
    out.push(b'}');
    out
}

/// A stored message as the store hands it out for MSG.GET / DIRECT.GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessageView<'a> {
    /// Subject it was published to.
    pub subject: &'a [u8],
    /// Stream sequence.
    pub seq: u64,
    /// Stored header block (`NATS/1.0\r\n...\r\n\r\n`), empty when none.
    pub headers: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
    /// Store time, Unix ns.
    pub ts_ns: u64,
}

/// STREAM.MSG.GET success: `{"type":..,"message":{"subject","seq","hdrs"?,"data"?,"time"}}` with
/// base64 `hdrs`/`data`, each omitted when empty (`hdrs` also with `no_hdr`).
pub fn render_msg_get(msg: &StoredMessageView, no_hdr: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        160 + msg.subject.len() + (msg.headers.len() + msg.payload.len()) * 4 / 3,
    );
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ResponseType::StreamMsgGet.type_name().as_bytes());
    out.extend_from_slice(b"\",\"message\":{\"subject\":");
    write_json_str(&mut out, &String::from_utf8_lossy(msg.subject));
    out.extend_from_slice(b",\"seq\":");
    write_u64(&mut out, msg.seq);
    if !no_hdr && !msg.headers.is_empty() {
        out.extend_from_slice(b",\"hdrs\":\"");
        out.extend_from_slice(BASE64.encode(msg.headers).as_bytes());
        out.push(b'"');
    }
    if !msg.payload.is_empty() {
        out.extend_from_slice(b",\"data\":\"");
        out.extend_from_slice(BASE64.encode(msg.payload).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"time\":\"");
    write_rfc3339_nanos(&mut out, msg.ts_ns);
    out.extend_from_slice(b"\"}}");
    out
}

/// Account limits in `$JS.API.INFO` (-1 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AccountLimits {
    /// Memory storage limit, bytes.
    #[serde(rename = "max_memory")]
    pub max_memory_bytes: i64,
    /// File storage limit, bytes.
    #[serde(rename = "max_storage")]
    pub max_storage_bytes: i64,
    /// Stream count limit.
    pub max_streams: i64,
    /// Consumer count limit.
    pub max_consumers: i64,
    /// Max ack pending limit.
    pub max_ack_pending: i64,
    /// Per-stream limit for memory streams, bytes.
    #[serde(rename = "memory_max_stream_bytes")]
    pub memory_max_stream_bytes: i64,
    /// Per-stream limit for file streams, bytes.
    #[serde(rename = "storage_max_stream_bytes")]
    pub storage_max_stream_bytes: i64,
    /// Streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    fn default() -> Self {
        Self {
            max_memory_bytes: -1,
            max_storage_bytes: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            memory_max_stream_bytes: -1,
            storage_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

/// The account usage `$JS.API.INFO` reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountInfoView {
    /// Bytes held by memory streams.
    pub memory_bytes: u64,
    /// Bytes held by file streams.
    pub storage_bytes: u64,
    /// Bytes reserved by memory streams' `max_bytes`.
    pub reserved_memory_bytes: u64,
    /// Bytes reserved by file streams' `max_bytes`.
    pub reserved_storage_bytes: u64,
    /// Stream count.
    pub streams: u64,
    /// Consumer count.
    pub consumers: u64,
    /// JetStream domain, when configured.
    pub domain: Option<String>,
    /// Limits.
    pub limits: AccountLimits,
    /// API level (`api.level`).
    pub api_level: u32,
    /// API requests served (`api.total`).
    pub api_total: u64,
    /// API requests answered with an error (`api.errors`).
    pub api_errors: u64,
}

/// nats-server's `ApiStats` (`$JS.API.INFO` `api`, `/jsz` and `/varz` `api`).
#[derive(Serialize)]
pub struct ApiStats {
    /// The JetStream API level served.
    pub level: u32,
    /// API requests answered.
    pub total: u64,
    /// API requests answered with an error.
    pub errors: u64,
}

/// `$JS.API.INFO` success, keys in nats-server's order.
pub fn render_account_info(info: &AccountInfoView) -> Vec<u8> {
    #[derive(Serialize)]
    struct AccountJson<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        memory: u64,
        storage: u64,
        reserved_memory: u64,
        reserved_storage: u64,
        streams: u64,
        consumers: u64,
        limits: AccountLimits,
        #[serde(skip_serializing_if = "Option::is_none")]
        domain: Option<&'a str>,
        api: ApiStats,
    }
    to_go_json(&AccountJson {
        kind: ResponseType::AccountInfo.type_name(),
        memory: info.memory_bytes,
        storage: info.storage_bytes,
        reserved_memory: info.reserved_memory_bytes,
        reserved_storage: info.reserved_storage_bytes,
        streams: info.streams,
        consumers: info.consumers,
        limits: info.limits,
        domain: info.domain.as_deref(),
        api: ApiStats {
            level: info.api_level,
            total: info.api_total,
            errors: info.api_errors,
        },
    })
}

/// Appends a publish ack: `{"stream":"S","seq":N}` or, for a duplicate, nats-server's
/// hand-formatted `{"stream":"S","seq":N,"duplicate": true}` (with the space).
pub fn write_pub_ack(out: &mut Vec<u8>, stream: &str, seq: u64, duplicate: bool) {
    write_pub_ack_in(out, stream, None, seq, duplicate);
}

/// [`write_pub_ack`] naming the server's JetStream domain after the stream, as nats-server
/// does when one is configured: `{"stream":"S","domain":"D","seq":N}`.
pub fn write_pub_ack_in(
    out: &mut Vec<u8>,
    stream: &str,
    domain: Option<&str>,
    seq: u64,
    duplicate: bool,
) {
    out.extend_from_slice(b"{\"stream\":");
    write_json_str(out, stream);
    if let Some(d) = domain {
        out.extend_from_slice(b",\"domain\":");
        write_json_str(out, d);
    }
    out.extend_from_slice(b",\"seq\":");
    write_u64(out, seq);
    if duplicate {
        out.extend_from_slice(b",\"duplicate\": true");
    }
    out.push(b'}');
}

/// A publish ack as a payload (see `write_pub_ack`).
pub fn pub_ack(stream: &str, seq: u64, duplicate: bool) -> Bytes {
    pub_ack_in(stream, None, seq, duplicate)
}

/// A publish ack naming the JetStream domain, if any (see `write_pub_ack_in`).
pub fn pub_ack_in(stream: &str, domain: Option<&str>, seq: u64, duplicate: bool) -> Bytes {
    let mut out = Vec::with_capacity(32 + stream.len() + domain.map_or(0, |d| d.len() + 12));
    write_pub_ack_in(&mut out, stream, domain, seq, duplicate);
    Bytes::from(out)
}

/// The publish ack of a counter increment: `{"stream":"S","seq":N,"val":"<total>"}`.
pub fn pub_ack_counter(stream: &str, seq: u64, val: &str) -> Bytes {
    pub_ack_counter_in(stream, None, seq, val)
}

/// [`pub_ack_counter`] naming the JetStream domain, if any.
pub fn pub_ack_counter_in(stream: &str, domain: Option<&str>, seq: u64, val: &str) -> Bytes {
    let mut out = Vec::with_capacity(48 + stream.len() + val.len());
    write_pub_ack_in(&mut out, stream, domain, seq, false);
    out.pop();
    out.extend_from_slice(b",\"val\":");
    write_json_str(&mut out, val);
    out.push(b'}');
    Bytes::from(out)
}

/// The publish ack of an atomic batch's commit:
/// `{"stream":"S","seq":<last>,"batch":"<id>","count":N}`.
pub fn pub_ack_batch(stream: &str, seq: u64, batch: &str, count: u64) -> Bytes {
    let mut out = Vec::with_capacity(64 + stream.len() + batch.len());
    write_pub_ack(&mut out, stream, seq, false);
    out.pop();
    out.extend_from_slice(b",\"batch\":");
    write_json_str(&mut out, batch);
    out.extend_from_slice(format!(",\"count\":{count}}}").as_bytes());
    Bytes::from(out)
}

/// A refused publish: `{"error":{..},"stream":"S","seq":0}` (no `type`, as nats-server sends it).
pub fn pub_error(stream: &str, err: &JsApiError) -> Bytes {
    let mut out = Vec::with_capacity(96 + stream.len() + err.description.len());
    out.push(b'{');
    err.write_error_member(&mut out);
    out.extend_from_slice(b",\"stream\":");
    write_json_str(&mut out, stream);
    out.extend_from_slice(b",\"seq\":0}");
    Bytes::from(out)
}

/// The two extra headers of each message in a direct-get batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeaders {
    /// Messages left after this one (`Nats-Num-Pending`).
    pub num_pending: u64,
    /// Sequence of the previous message of this reply, 0 for the first (`Nats-Last-Sequence`).
    pub last_seq: u64,
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn push_header_u64(out: &mut Vec<u8>, name: &[u8], value: u64) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    write_u64(out, value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the header block of a direct-get reply: the stored headers (if any), then
/// `Nats-Stream`, `Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp` (RFC 3339 nanos) and,
/// in a batch, `Nats-Num-Pending` and `Nats-Last-Sequence`; ends with the blank line.
pub fn write_direct_get_headers(
    out: &mut Vec<u8>,
    stored_headers: &[u8],
    stream: &str,
    msg_subject: &[u8],
    seq: u64,
    ts_ns: u64,
    batch: Option<BatchHeaders>,
) {
    match stored_headers {
        [] => out.extend_from_slice(b"NATS/1.0\r\n"),
        [head @ .., b'\r', b'\n', b'\r', b'\n'] => {
            out.extend_from_slice(head);
            out.extend_from_slice(b"\r\n");
        }
        [.., b'\r', b'\n'] => out.extend_from_slice(stored_headers),
        _ => {
            out.extend_from_slice(stored_headers);
            out.extend_from_slice(b"\r\n");
        }
    }
    push_header(out, b"Nats-Stream", stream.as_bytes());
    push_header(out, b"Nats-Subject", msg_subject);
    push_header_u64(out, b"Nats-Sequence", seq);
    out.extend_from_slice(b"Nats-Time-Stamp: ");
    write_rfc3339_nanos(out, ts_ns);
    out.extend_from_slice(b"\r\n");
    if let Some(batch) = batch {
        push_header_u64(out, b"Nats-Num-Pending", batch.num_pending);
        push_header_u64(out, b"Nats-Last-Sequence", batch.last_seq);
    }
    out.extend_from_slice(b"\r\n");
}

/// The end-of-batch status of a direct-get batch: `NATS/1.0 204 EOB` with the pending count and
/// the last sequence sent (sent with an empty payload).
pub fn direct_get_eob(num_pending: u64, last_seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    out.extend_from_slice(b"NATS/1.0 204 EOB\r\n");
    push_header_u64(&mut out, b"Nats-Num-Pending", num_pending);
    push_header_u64(&mut out, b"Nats-Last-Sequence", last_seq);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::prepare_create;
    use serde_json::Value;

    const SERVER: ServerMeta<'static> = ServerMeta {
        server_name: "probe-srv",
        version: "2.15.1",
        api_level: 5,
    };

    fn cfg(json: &str) -> StreamConfig {
        let v: Value = serde_json::from_str(json).unwrap();
        prepare_create(v["name"].as_str().unwrap(), json.as_bytes()).unwrap()
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    /// The needles occur in `haystack`, first occurrences in this order.
    fn assert_in_order(haystack: &str, needles: &[&str]) {
        let positions: Vec<usize> = needles
            .iter()
            .map(|n| haystack.find(n).unwrap_or_else(|| panic!("{n} missing")))
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{needles:?} in {haystack}"
        );
    }

    const CREATED_NS: u64 = 1_795_324_950_924_038_831; // 2026-11-22T05:22:30.924038831Z

    #[test]
    fn create_response_is_byte_identical_to_nats_server() {
        // nats-server 2.15.1's reply to STREAM.CREATE.S1 {"name":"S1"} (captured live).
        let want = r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"S1","subjects":["S1"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":1,"duplicate_window":120000000000,"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.1"}},"created":"2026-11-22T05:22:30.924038831Z","state":{"messages":0,"bytes":0,"first_seq":0,"first_ts":"0001-01-01T00:00:00Z","last_seq":0,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0},"ts":"2026-11-22T05:22:30.926686434Z","did_create":true}"#;
        let config = cfg(r#"{"name":"S1"}"#);
        let state = StreamStateView::default();
        let info = StreamInfoView {
            config: &config,
            created_ns: CREATED_NS,
            state: &state,
            now_ns: 1_795_324_950_926_686_434,
        };
        assert_eq!(text(&render_stream_create(&info, &SERVER)), want);
    }

    #[test]
    fn info_response_is_byte_identical_to_nats_server() {
        // STREAM.INFO.P1 {"subjects_filter":">"} on 2.15.1 (captured live), after 9 publishes
        // on p1.0/p1.1/p1.2 and deleting seqs 2 and 3.
        let want = r#"{"type":"io.nats.jetstream.api.v1.stream_info_response","total":3,"offset":0,"limit":100000,"config":{"name":"P1","subjects":["p1.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":1,"duplicate_window":120000000000,"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.1"}},"created":"2026-11-22T05:23:28.669849878Z","state":{"messages":7,"bytes":252,"first_seq":1,"first_ts":"2026-11-22T05:23:28.67132593Z","last_seq":9,"last_ts":"2026-11-22T05:23:28.672689696Z","num_subjects":3,"subjects":{"p1.0":3,"p1.1":2,"p1.2":2},"num_deleted":2,"consumer_count":0},"cluster":{"leader":"probe-srv"},"ts":"2026-11-22T05:23:28.677431399Z"}"#;
        let config = cfg(r#"{"name":"P1","subjects":["p1.>"]}"#);
        let (subjects, paging) = page_subjects(
            [
                ("p1.2".to_owned(), 2),
                ("p1.0".to_owned(), 3),
                ("p1.1".to_owned(), 2),
            ],
            0,
        );
        let state = StreamStateView {
            messages: 7,
            bytes: 252,
            first_seq: 1,
            first_ts_ns: 1_795_325_008_671_325_930,
            last_seq: 9,
            last_ts_ns: 1_795_325_008_672_689_696,
            num_subjects: 3,
            num_deleted: 2,
            consumer_count: 0,
            deleted: Vec::new(),
            subjects,
        };
        let info = StreamInfoView {
            config: &config,
            created_ns: 1_795_325_008_669_849_878,
            state: &state,
            now_ns: 1_795_325_008_677_431_399,
        };
        assert_eq!(text(&render_stream_info(&info, &SERVER, paging)), want);
        // Without details: zero paging, no subjects; deleted list only when asked for.
        let state = StreamStateView {
            subjects: BTreeMap::new(),
            deleted: vec![2, 3],
            ..state
        };
        let info = StreamInfoView {
            state: &state,
            ..info
        };
        let v: Value =
            serde_json::from_slice(&render_stream_info(&info, &SERVER, Paging::default())).unwrap();
        assert_eq!(
            (v["total"].as_u64(), v["limit"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(v["state"]["deleted"], serde_json::json!([2, 3]));
        assert!(v["state"].get("subjects").is_none());
    }

    #[test]
    fn subject_paging() {
        let counts = (0..5).map(|i| (format!("s.{i}"), i));
        let (page, paging) = page_subjects(counts, 3);
        assert_eq!(page.keys().collect::<Vec<_>>(), ["s.3", "s.4"]);
        assert_eq!(
            paging,
            Paging {
                total: 5,
                offset: 3,
                limit: 100_000
            }
        );
        let (page, paging) = page_subjects(Vec::new(), 9);
        assert!(page.is_empty());
        assert_eq!(paging.total, 0);
    }

    #[test]
    fn update_and_list_shapes() {
        let config =
            cfg(r#"{"name":"P2","subjects":["p2.>"],"deny_delete":true,"deny_purge":true}"#);
        let state = StreamStateView {
            messages: 1,
            bytes: 35,
            first_seq: 1,
            first_ts_ns: 1,
            last_seq: 1,
            last_ts_ns: 1,
            num_subjects: 1,
            ..Default::default()
        };
        let info = StreamInfoView {
            config: &config,
            created_ns: CREATED_NS,
            state: &state,
            now_ns: CREATED_NS,
        };
        let raw = render_stream_update(&info, &SERVER);
        assert_in_order(
            text(&raw),
            &[
                "\"type\"",
                "\"config\"",
                "\"created\"",
                "\"state\"",
                "\"ts\"",
            ],
        );
        assert!(!text(&raw).contains("\"cluster\"") && !text(&raw).contains("did_create"));
        let upd: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            upd["type"],
            "io.nats.jetstream.api.v1.stream_update_response"
        );
        assert_eq!(upd["config"]["metadata"]["_nats.ver"], "2.15.1");

        let other_config = cfg(r#"{"name":"A0"}"#);
        let other = StreamInfoView {
            config: &other_config,
            ..info
        };
        let list = render_stream_list(&[info, other], 0);
        let v: Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(v["type"], "io.nats.jetstream.api.v1.stream_list_response");
        assert_eq!(
            (v["total"].as_u64(), v["limit"].as_u64()),
            (Some(2), Some(256))
        );
        let first = &v["streams"][0];
        assert_eq!(first["config"]["name"], "A0");
        assert_eq!(first.as_object().unwrap().len(), 4);
        assert!(text(&list).contains(r#""streams":[{"config":{"name":"A0""#));
        assert_in_order(
            text(&list),
            &["\"config\"", "\"created\"", "\"state\"", "\"ts\""],
        );
        // LIST shows the stored metadata only (as nats-server: just _nats.req.level).
        assert_eq!(
            first["config"]["metadata"],
            serde_json::json!({"_nats.req.level":"0"})
        );
        let empty: Value = serde_json::from_slice(&render_stream_list(&[], 0)).unwrap();
        assert_eq!(empty["streams"], serde_json::json!([]));
        let past_end: Value = serde_json::from_slice(&render_stream_list(&[info], 5)).unwrap();
        assert_eq!(
            (past_end["total"].as_u64(), past_end["streams"].clone()),
            (Some(1), serde_json::json!([]))
        );
    }

    #[test]
    fn names_shape() {
        assert_eq!(
            text(&render_stream_names(&["S1", "E1", "F1"], 0)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":3,"offset":0,"limit":1024,"streams":["E1","F1","S1"]}"#
        );
        assert_eq!(
            text(&render_stream_names(&["S1", "E1", "F1"], 1)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":3,"offset":1,"limit":1024,"streams":["F1","S1"]}"#
        );
        assert_eq!(
            text(&render_stream_names(&[], 0)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":0,"offset":0,"limit":1024,"streams":null}"#
        );
        assert!(text(&render_stream_names(&["A"], 7)).ends_with(r#""streams":null}"#));
    }

    #[test]
    fn error_envelopes_per_type() {
        // Each captured from nats-server 2.15.1.
        let cases = [
            (
                ResponseType::StreamInfo,
                JsApiError::stream_not_found(),
                r#"{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0}"#,
            ),
            (
                ResponseType::StreamNames,
                JsApiError::invalid_json("unexpected EOF"),
                r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: unexpected EOF"},"total":0,"offset":0,"limit":0,"streams":null}"#,
            ),
            (
                ResponseType::StreamList,
                JsApiError::invalid_json("json: unknown field \"zz\""),
                r#"{"type":"io.nats.jetstream.api.v1.stream_list_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"zz\""},"total":0,"offset":0,"limit":0,"streams":[]}"#,
            ),
            (
                ResponseType::StreamPurge,
                JsApiError::bad_request(),
                r#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":400,"err_code":10003,"description":"bad request"},"purged":0}"#,
            ),
            (
                ResponseType::StreamCreate,
                JsApiError::stream_invalid_config("max age needs to be >= 100ms"),
                r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10052,"description":"max age needs to be \u003e= 100ms"}}"#,
            ),
            (
                ResponseType::StreamMsgDelete,
                JsApiError::sequence_not_found(2),
                r#"{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","error":{"code":400,"err_code":10043,"description":"sequence 2 not found"}}"#,
            ),
            (
                ResponseType::StreamDelete,
                JsApiError::not_empty_request(),
                r#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","error":{"code":400,"err_code":10038,"description":"expected an empty request payload"}}"#,
            ),
            (
                ResponseType::StreamMsgGet,
                JsApiError::no_message_found(),
                r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}"#,
            ),
            (
                ResponseType::StreamUpdate,
                JsApiError::stream_invalid_config(
                    "stream name is required and can not contain '.', '*', '>', '\\', '/'",
                ),
                r#"{"type":"io.nats.jetstream.api.v1.stream_update_response","error":{"code":500,"err_code":10052,"description":"stream name is required and can not contain '.', '*', '\u003e', '\\', '/'"}}"#,
            ),
        ];
        for (response, err, want) in cases {
            assert_eq!(text(&render_error(response, &err)), want);
        }
    }

    #[test]
    fn success_bodies() {
        assert_eq!(
            text(&render_success(ResponseType::StreamDelete)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true}"#
        );
        assert_eq!(
            text(&render_success(ResponseType::StreamMsgDelete)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_delete_response","success":true}"#
        );
        assert_eq!(
            text(&render_purge(4)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":4}"#
        );
    }

    #[test]
    fn msg_get_bodies_match_nats_server() {
        // Captured from nats-server 2.15.1.
        let with_hdrs = StoredMessageView {
            subject: b"m1.b",
            seq: 2,
            headers: b"NATS/1.0\r\nNats-Msg-Id: abc\r\nX-Foo: bar\r\n\r\n",
            payload: b"two",
            ts_ns: 1_795_324_993_214_340_928,
        };
        assert_eq!(
            text(&render_msg_get(&with_hdrs, false)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"m1.b","seq":2,"hdrs":"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiBhYmMNClgtRm9vOiBiYXINCg0K","data":"dHdv","time":"2026-11-22T05:23:13.214340928Z"}}"#
        );
        assert_eq!(
            text(&render_msg_get(&with_hdrs, true)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"m1.b","seq":2,"data":"dHdv","time":"2026-11-22T05:23:13.214340928Z"}}"#
        );
        let empty = StoredMessageView {
            subject: b"m1.c",
            seq: 3,
            headers: b"",
            payload: b"",
            ts_ns: 1_795_324_993_214_685_289,
        };
        assert_eq!(
            text(&render_msg_get(&empty, false)),
            r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"m1.c","seq":3,"time":"2026-11-22T05:23:13.214685289Z"}}"#
        );
    }

    #[test]
    fn account_info_matches_nats_server() {
        let info = AccountInfoView {
            streams: 13,
            api_level: 5,
            api_total: 72,
            api_errors: 46,
            ..Default::default()
        };
        assert_eq!(
            text(&render_account_info(&info)),
            r#"{"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":0,"reserved_memory":0,"reserved_storage":0,"streams":13,"consumers":0,"limits":{"max_memory":-1,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},"api":{"level":5,"total":72,"errors":46}}"#
        );
        let with_domain = AccountInfoView {
            domain: Some("hub".into()),
            ..info
        };
        let v: Value = serde_json::from_slice(&render_account_info(&with_domain)).unwrap();
        assert_eq!(v["domain"], "hub");
    }

    #[test]
    fn pub_acks_match_nats_server() {
        assert_eq!(&pub_ack("M1", 1, false)[..], br#"{"stream":"M1","seq":1}"#);
        // With a domain, as nats-server's pub ack template.
        assert_eq!(
            &pub_ack_in("M1", Some("edge"), 3, false)[..],
            br#"{"stream":"M1","domain":"edge","seq":3}"#
        );
        assert_eq!(
            &pub_ack("M1", 2, true)[..],
            br#"{"stream":"M1","seq":2,"duplicate": true}"#
        );
        assert_eq!(
            &pub_error("M1", &JsApiError::wrong_last_sequence(4))[..],
            br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 4"},"stream":"M1","seq":0}"#
        );
        assert_eq!(
            &pub_error("M1", &JsApiError::rollup_value_invalid("foo"))[..],
            br#"{"error":{"code":500,"err_code":10111,"description":"rollup value invalid: \"foo\""},"stream":"M1","seq":0}"#
        );
        let mut reused = Vec::new();
        write_pub_ack(&mut reused, "a\"b<", 7, false);
        assert_eq!(reused, br#"{"stream":"a\"b\u003c","seq":7}"#);
    }

    #[test]
    fn direct_get_headers_match_nats_server() {
        let mut out = Vec::new();
        write_direct_get_headers(
            &mut out,
            b"NATS/1.0\r\nNats-Msg-Id: abc\r\nX-Foo: bar\r\n\r\n",
            "M1",
            b"m1.b",
            2,
            1_795_324_993_214_340_928,
            None,
        );
        assert_eq!(
            text(&out),
            "NATS/1.0\r\nNats-Msg-Id: abc\r\nX-Foo: bar\r\nNats-Stream: M1\r\nNats-Subject: m1.b\r\nNats-Sequence: 2\r\nNats-Time-Stamp: 2026-11-22T05:23:13.214340928Z\r\n\r\n"
        );
        out.clear();
        write_direct_get_headers(
            &mut out,
            b"",
            "G1",
            b"g1.a",
            1,
            1_795_325_056_250_307_319,
            Some(BatchHeaders {
                num_pending: 2,
                last_seq: 0,
            }),
        );
        assert_eq!(
            text(&out),
            "NATS/1.0\r\nNats-Stream: G1\r\nNats-Subject: g1.a\r\nNats-Sequence: 1\r\nNats-Time-Stamp: 2026-11-22T05:24:16.250307319Z\r\nNats-Num-Pending: 2\r\nNats-Last-Sequence: 0\r\n\r\n"
        );
        // A stored block missing its final blank line still yields one well-formed block.
        out.clear();
        write_direct_get_headers(&mut out, b"NATS/1.0\r\nA: b", "S", b"s", 1, 0, None);
        assert!(text(&out).starts_with("NATS/1.0\r\nA: b\r\nNats-Stream: S\r\n"));
        assert!(text(&out).ends_with("Nats-Time-Stamp: 1970-01-01T00:00:00Z\r\n\r\n"));
        assert_eq!(
            text(&direct_get_eob(0, 3)),
            "NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\nNats-Last-Sequence: 3\r\n\r\n"
        );
    }
}
