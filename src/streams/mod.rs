//! JetStream streams on one core (sans-IO): the stream catalog (on the meta core, core 0),
//! the streams this core owns, and the `$JS.API` requests and captured publishes that reach
//! them as internal subscriptions of the engine.
//!
//! Every stream is owned by one core, recorded in its metadata. The owner registers the
//! stream's subjects as internal subscriptions, so a publish anywhere is forwarded to it by
//! the normal interest replication; it alone changes the stream and emits [`StorageOp`]s for
//! the shell's storage task, whose replies (publish acks and API answers that report a
//! change) are released only once those ops are durable (group commit). Core 0 also holds
//! the catalog — name, owner, config and a recent state summary of every stream — and
//! answers the catalog-wide API calls (INFO, NAMES, LIST, CREATE placement); per-stream
//! calls are forwarded to the owner over the ring.

mod consumer_api;
mod consumer_host;
#[cfg(test)]
mod host_tests;
mod outbox;
mod retention;

pub use consumer_host::{params_of, ConsumerMeta, RecoveredConsumer, KIND_ACK, KIND_FC, KIND_NEXT};
pub use outbox::{HostAction, SubHandle};

use std::collections::BTreeMap;
use std::path::PathBuf;

use ahash::AHashMap;
use bytes::Bytes;

use crate::engine::{InternalDelivery, InternalTarget};
use crate::jetstream::{
    self, check_delete_body, parse_direct_get, parse_msg_get, prepare_create, prepare_update,
    render_account_info, render_msg_get, render_purge, render_stream_create, render_stream_info,
    render_stream_list, render_stream_names, render_stream_update, render_success, AccountInfoView,
    ApiRequest, DirectGetError, JsApiError, MsgDeleteRequest, MsgQuery, Paging, ResponseType,
    ServerMeta, StorageType, StoredMessageView, StreamConfig, StreamInfoRequest, StreamInfoView,
    StreamListRequest, StreamPurgeRequest,
};
pub use crate::js_ring::{JsItem, StreamSummary};
use crate::store::record::{encode_into, Record};
use crate::store::stream::{Discard, Effect, JsErrorInfo, PublishOutcome, Stream, StreamLimits};
use crate::store::StoredMsg;
use crate::subject;

/// Internal subscription kind: the JetStream API (on the meta core).
pub const KIND_API: u32 = 1;
/// Internal subscription kind: a stream's subjects (index = stream slot).
pub const KIND_CAPTURE: u32 = 2;
/// Internal subscription kind: a stream's direct-get subjects (index = stream slot).
pub const KIND_DIRECT: u32 = 3;
/// The core that holds the catalog.
pub const META_CORE: usize = 0;
/// The API subjects the meta core answers. Direct get is not among them: a stream without
/// `allow_direct` must yield no responders.
/// Consumer API subjects are listed one by one: `MSG.NEXT` must reach only an existing
/// consumer's own subscription (no responders otherwise).
const API_SUBJECTS: [&str; 9] = [
    "$JS.API.INFO",
    "$JS.API.STREAM.>",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.DELETE.>",
    "$JS.API.CONSUMER.PAUSE.>",
    "$JS.API.CONSUMER.NAMES.>",
    "$JS.API.CONSUMER.LIST.>",
];
/// JetStream API level advertised.
pub const API_LEVEL: u32 = 1;

/// What the storage task must do, in order, for file-backed streams.
#[derive(Debug)]
pub enum StorageOp {
    /// Create the stream's directory, its metadata file and first segment.
    Create {
        /// Stream slot on this core.
        stream: u32,
        /// The stream's directory.
        dir: PathBuf,
        /// The metadata file's contents.
        meta: Vec<u8>,
        /// The stream's first sequence.
        first_seq: u64,
        /// The stream's creation time: tells this stream from a later one in the same slot.
        created_ns: u64,
    },
    /// Replace the metadata file (config update).
    WriteMeta {
        /// Stream slot.
        stream: u32,
        /// The metadata file's contents.
        meta: Vec<u8>,
    },
    /// Append encoded records to the active segment.
    Append {
        /// Stream slot.
        stream: u32,
        /// Encoded records, back to back.
        records: Vec<u8>,
        /// (sequence, offset within `records`) of each message record.
        index: Vec<(u64, u64)>,
        /// First/last sequence and last timestamp after these records, written as a
        /// checkpoint at the head of a new segment so older segments can be dropped.
        checkpoint: (u64, u64, u64),
    },
    /// Sealed segments whose every record is below this sequence may be deleted.
    Compact {
        /// Stream slot.
        stream: u32,
        /// The stream's first live sequence.
        first_live_seq: u64,
    },
    /// Delete the stream's directory.
    Delete {
        /// Stream slot.
        stream: u32,
    },
    /// Create a consumer's directory and write its metadata file durably.
    ConsumerMeta {
        /// Stream slot.
        stream: u32,
        /// Consumer name.
        name: String,
        /// The metadata file's contents.
        meta: Vec<u8>,
    },
    /// Replace a consumer's state file (temp file + rename).
    ConsumerState {
        /// Stream slot.
        stream: u32,
        /// Consumer name.
        name: String,
        /// The encoded snapshot.
        state: Vec<u8>,
        /// fdatasync before the rename (a double-ack confirmation waits for it).
        sync: bool,
    },
    /// Delete a consumer's directory.
    ConsumerDelete {
        /// Stream slot.
        stream: u32,
        /// Consumer name.
        name: String,
    },
}

/// A message to publish once the storage ops queued before it are durable.
#[derive(Debug, Clone)]
pub struct DeferredReply {
    /// Reply subject.
    pub subject: Bytes,
    /// Reply payload (JSON).
    pub payload: Bytes,
}

/// Settings of the JetStream part of one core.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// This core.
    pub core_id: usize,
    /// Cores in the server.
    pub n_cores: usize,
    /// Where stream directories live.
    pub store_dir: PathBuf,
    /// Server name and version, echoed in stream metadata.
    pub server_name: String,
    /// The version clients see.
    pub version: String,
    /// Account-wide memory storage limit (-1 = unlimited).
    pub max_memory_bytes: i64,
    /// Account-wide file storage limit (-1 = unlimited).
    pub max_file_bytes: i64,
    /// Per stream: the dead-letter subject its consumers use unless they name their own.
    pub dead_letter: AHashMap<String, String>,
}

/// The metadata file of a stream: everything needed to reopen it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StreamMeta {
    /// The stream config.
    pub config: StreamConfig,
    /// Creation time, unix ns.
    pub created_ns: u64,
    /// The core that owns it (modulo the core count at start).
    pub owner_core: usize,
}

struct OwnedStream {
    config: StreamConfig,
    created_ns: u64,
    store: Stream,
    capture_subs: Vec<SubHandle>,
    direct_subs: Vec<SubHandle>,
    /// `$JS.ACK.<stream>.>` and `$JS.FC.<stream>.>`.
    ack_subs: Vec<SubHandle>,
    consumers: BTreeMap<String, consumer_host::HostedConsumer>,
    dirty_since_summary: bool,
}

impl OwnedStream {
    fn is_file(&self) -> bool {
        self.config.storage == StorageType::File
    }
}

/// One core's JetStream state: a sans-IO machine. Inputs are the engine's internal
/// deliveries ([`StreamHost::handle_delivery`]), ring items ([`StreamHost::handle_ring_item`])
/// and timer ticks ([`StreamHost::handle_tick`]), each with the [`Clock`] and read-only
/// [`EngineQueries`]; outputs are [`HostAction`]s, storage ops and deferred replies, which
/// the shell applies (`shell::js_drive`).
pub struct StreamHost {
    cfg: HostConfig,
    streams: Vec<Option<OwnedStream>>,
    by_name: AHashMap<String, u32>,
    catalog: BTreeMap<String, StreamSummary>,
    next_owner: usize,
    out: outbox::Outbox,
    api_total: u64,
    /// Streams that stored messages since their consumers last looked.
    streams_with_new: Vec<u32>,
    /// The consumers of the streams this core owns.
    consumer_host: consumer_host::ConsumerHost,
    /// Stored bytes (memory, file) of every core's streams, as the meta core last reported.
    usage_by_core: Vec<(u64, u64)>,
    /// Meta core: the catalog's byte counts changed since the last usage broadcast.
    usage_dirty: bool,
    /// The time of the latest input (advisory timestamps).
    now: Clock,
}

/// The time the shell passes with every input: the host reads no clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// Monotonic nanoseconds (any origin): consumer timers (ack wait, redelivery, pull
    /// expiry, heartbeats, inactivity) and state-write pacing.
    pub mono_ns: u64,
    /// Unix nanoseconds: stored timestamps (messages, creation times), max-age expiry and
    /// the times API responses and advisories show.
    pub wall_ns: u64,
}

/// What the host asks of its core's engine; the shell implements it over the `Engine`.
pub trait EngineQueries {
    /// Whether any subscription on any core matches `subject`.
    fn has_interest(&mut self, subject: &Bytes) -> bool;
    /// The sequence of this core's latest interest change.
    fn interest_seq(&self) -> u64;
    /// Whether every other core has applied this core's interest changes up to `seq`.
    fn interest_visible(&self, seq: u64) -> bool;
}

/// The storage-core limits a stream config asks for.
pub fn limits_of(cfg: &StreamConfig) -> StreamLimits {
    StreamLimits {
        max_msgs: cfg.max_msgs,
        max_bytes: cfg.max_bytes,
        max_age_ns: cfg.max_age_ns.max(0) as u64,
        max_msg_size: cfg.max_msg_size_bytes as i64,
        max_msgs_per_subject: cfg.max_msgs_per_subject,
        discard: match cfg.discard {
            jetstream::DiscardPolicy::Old => Discard::Old,
            jetstream::DiscardPolicy::New => Discard::New,
        },
        discard_new_per_subject: cfg.discard_new_per_subject,
        duplicate_window_ns: cfg.duplicate_window_ns.max(0) as u64,
        allow_rollup_hdrs: cfg.allow_rollup_hdrs,
        deny_delete: cfg.deny_delete,
        deny_purge: cfg.deny_purge,
        memory_accounting: cfg.storage == StorageType::Memory,
        allow_msg_ttl: cfg.allow_msg_ttl,
        subject_delete_marker_ttl_ns: cfg.subject_delete_marker_ttl_ns.max(0) as u64,
    }
}

fn api_error(e: JsErrorInfo) -> JsApiError {
    JsApiError::new(e.code, e.err_code, e.description)
}

fn state_view(st: &OwnedStream, detailed: bool) -> jetstream::StreamStateView {
    let store = &st.store;
    let s = if detailed {
        store.state()
    } else {
        store.state_summary()
    };
    // A stream that never stored anything reports first_seq 0, as nats-server does.
    let pristine = s.messages == 0 && s.last_seq == 0;
    jetstream::StreamStateView {
        messages: s.messages,
        bytes: s.bytes,
        first_seq: if pristine { 0 } else { s.first_seq },
        first_ts_ns: s.first_ts_ns,
        last_seq: s.last_seq,
        last_ts_ns: s.last_ts_ns,
        num_subjects: s.num_subjects,
        num_deleted: s.num_deleted,
        consumer_count: st.consumers.len() as u64,
        deleted: (detailed && !s.deleted.is_empty()).then_some(s.deleted),
        subjects: None,
    }
}

/// Records a change for the catalog summary and queues its records for the storage task
/// (file streams).
fn persist(st: &mut OwnedStream, slot: u32, effects: &[Effect], ops: &mut Vec<StorageOp>) {
    if effects.is_empty() {
        return;
    }
    st.dirty_since_summary = true;
    if !st.is_file() {
        return;
    }
    let mut records = Vec::new();
    let mut index = Vec::new();
    encode_effects(effects, &mut records, &mut index);
    let s = st.store.state_summary();
    let first_live = st.store.first_seq();
    // Only removals can free whole segments.
    let removes = effects
        .iter()
        .any(|Effect::Append(r)| !matches!(r, Record::Message { .. }));
    ops.push(StorageOp::Append {
        stream: slot,
        records,
        index,
        checkpoint: (s.first_seq, s.last_seq, s.last_ts_ns),
    });
    if removes {
        ops.push(StorageOp::Compact {
            stream: slot,
            first_live_seq: first_live,
        });
    }
}

fn encode_effects(effects: &[Effect], records: &mut Vec<u8>, index: &mut Vec<(u64, u64)>) {
    for Effect::Append(rec) in effects {
        if let Record::Message { seq, .. } = rec {
            index.push((*seq, records.len() as u64));
        }
        encode_into(rec, records);
    }
}

impl StreamHost {
    /// JetStream state for one core with no streams yet.
    ///
    /// `seed` seeds advisory ids (the shell passes the wall clock, tests a constant).
    pub fn new(cfg: HostConfig, seed: u64) -> Self {
        let core_id = cfg.core_id;
        let consumer_host = consumer_host::ConsumerHost::new(&cfg, seed);
        StreamHost {
            cfg,
            streams: Vec::new(),
            by_name: AHashMap::new(),
            catalog: BTreeMap::new(),
            next_owner: 0,
            out: outbox::Outbox::new(core_id),
            api_total: 0,
            streams_with_new: Vec::new(),
            consumer_host,
            usage_by_core: Vec::new(),
            usage_dirty: false,
            now: Clock {
                mono_ns: 0,
                wall_ns: 0,
            },
        }
    }

    fn is_meta(&self) -> bool {
        self.cfg.core_id == META_CORE
    }

    /// Subscribes the meta core to the API subjects (call once at start).
    pub fn start(&mut self) {
        if self.is_meta() {
            for s in API_SUBJECTS {
                self.out.subscribe(
                    Bytes::from_static(s.as_bytes()),
                    InternalTarget {
                        kind: KIND_API,
                        index: 0,
                    },
                );
            }
        }
    }

    /// The stream directory for a name.
    pub fn stream_dir(&self, name: &str) -> PathBuf {
        self.cfg.store_dir.join(name)
    }

    /// Moves the actions produced so far to `into` (appended, in order), for the shell to
    /// apply to the engine.
    pub fn take_actions(&mut self, into: &mut Vec<HostAction>) {
        self.out.take_actions(into);
    }

    /// Takes the storage ops and the replies that wait for them, as one group commit.
    pub fn take_storage_batch(&mut self, now: Clock) -> (Vec<StorageOp>, Vec<DeferredReply>) {
        self.consumer_host
            .queue_consumer_states(&mut self.streams, &mut self.out.ops, now);
        (
            std::mem::take(&mut self.out.ops),
            std::mem::take(&mut self.out.deferred),
        )
    }

    /// Backs the messages of a just-sealed segment by its file's mapping, so a file stream's
    /// RAM holds only its active segment's bodies; ignored if `slot` no longer holds the
    /// stream created at `created_ns`. Returns how many messages were re-pointed.
    pub fn rebase_sealed(
        &mut self,
        slot: u32,
        created_ns: u64,
        segment: &Bytes,
        index: &[(u64, u64)],
    ) -> u64 {
        match self.streams.get_mut(slot as usize).and_then(Option::as_mut) {
            Some(st) if st.created_ns == created_ns && st.is_file() => {
                st.store.rebase_bodies(segment, index)
            }
            _ => 0,
        }
    }

    /// Whether items this core sent itself, or replies waiting for interest to spread, wait
    /// to be handled (the shell then drives the host even without engine work).
    pub fn has_own_work(&self) -> bool {
        !self.out.self_queue.is_empty() || self.out.has_after_sync()
    }

    /// Whether a group commit is waiting.
    pub fn has_storage_work(&self, now: Clock) -> bool {
        !self.out.ops.is_empty()
            || !self.out.deferred.is_empty()
            || self.consumer_host.consumer_state_due(&self.streams, now)
    }

    /// The consumer host and what it works on, for one input.
    fn consumers_cx<'a>(
        &'a mut self,
        q: &'a mut dyn EngineQueries,
        now: Clock,
    ) -> (&'a mut consumer_host::ConsumerHost, consumer_host::Cx<'a>) {
        (
            &mut self.consumer_host,
            consumer_host::Cx {
                streams: &mut self.streams,
                out: &mut self.out,
                q,
                now,
            },
        )
    }

    // ----- inputs (the shell's drive loop calls these; see `shell::js_drive`) -------------

    /// Input: the actions queued so far were applied; replies waiting for the interest they
    /// created now wait for the interest sequence as it stands.
    pub fn handle_actions_applied(&mut self, q: &mut dyn EngineQueries) {
        self.out.resolve_after_sync(q);
    }

    /// Input: releases the held replies whose subscriptions became visible everywhere.
    pub fn handle_interest_progress(&mut self, q: &mut dyn EngineQueries) {
        self.out.release_after_sync(q);
    }

    /// The items this core sent itself since the last call.
    pub fn take_own_items(&mut self) -> Vec<JsItem> {
        std::mem::take(&mut self.out.self_queue)
    }

    /// Whether some stream stored messages its consumers have not looked at yet.
    pub fn has_new_messages(&self) -> bool {
        !self.streams_with_new.is_empty()
    }

    /// Input: lets the consumers of streams that stored something deliver.
    pub fn handle_new_messages(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        self.now = now;
        let mut slots = std::mem::take(&mut self.streams_with_new);
        slots.dedup();
        for slot in slots {
            let (ch, mut cx) = self.consumers_cx(q, now);
            ch.poll_stream_consumers(&mut cx, slot, now);
        }
    }

    /// Input: one message the engine matched for an internal subscription of this host.
    pub fn handle_delivery(&mut self, d: InternalDelivery, now: Clock, q: &mut dyn EngineQueries) {
        self.now = now;
        self.on_delivery(q, d, now);
    }

    /// Input: a JetStream item from core `from` (this core for its own items).
    pub fn handle_ring_item(
        &mut self,
        from: usize,
        item: JsItem,
        now: Clock,
        q: &mut dyn EngineQueries,
    ) {
        self.now = now;
        self.on_item(q, from, item, now);
    }

    /// Input, when nothing else moves: sends the catalog the state of every stream changed
    /// since its last summary; returns whether anything was sent.
    pub fn handle_idle(&mut self) -> bool {
        if self.flush_dirty_summaries() {
            return true;
        }
        self.broadcast_usage();
        false
    }

    fn limits_enforced(&self) -> bool {
        self.cfg.max_memory_bytes > 0 || self.cfg.max_file_bytes > 0
    }

    /// Meta core: tells every core the bytes stored per core, when they changed and a
    /// server-wide limit is configured.
    fn broadcast_usage(&mut self) {
        if !self.is_meta() || !self.usage_dirty || !self.limits_enforced() {
            return;
        }
        self.usage_dirty = false;
        let mut by_core = vec![(0u64, 0u64); self.cfg.n_cores];
        for s in self.catalog.values() {
            let slot = &mut by_core[s.owner % self.cfg.n_cores];
            match s.config.storage {
                StorageType::Memory => slot.0 += s.state.bytes,
                StorageType::File => slot.1 += s.state.bytes,
            }
        }
        for core in 0..self.cfg.n_cores {
            if core == self.cfg.core_id {
                self.usage_by_core = by_core.clone();
            } else {
                self.out.send_to(
                    core,
                    JsItem::Usage {
                        by_core: by_core.clone(),
                    },
                );
            }
        }
    }

    /// Whether storing `size` more bytes of `storage` would exceed the server-wide limit:
    /// this core's own streams counted exactly, the others as the meta core last reported.
    fn over_account_limit(&self, storage: StorageType, size: u64) -> Option<JsApiError> {
        let (limit, file) = match storage {
            StorageType::Memory => (self.cfg.max_memory_bytes, false),
            StorageType::File => (self.cfg.max_file_bytes, true),
        };
        let pick = |u: &(u64, u64)| if file { u.1 } else { u.0 };
        if limit <= 0 {
            return None;
        }
        let others: u64 = self
            .usage_by_core
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != self.cfg.core_id)
            .map(|(_, u)| pick(u))
            .sum();
        let mine: u64 = self
            .streams
            .iter()
            .flatten()
            .filter(|st| st.config.storage == storage)
            .map(|st| st.store.state_summary().bytes)
            .sum();
        (others + mine + size > limit as u64).then(|| match storage {
            StorageType::Memory => JsApiError::memory_resources_exceeded(),
            StorageType::File => JsApiError::storage_resources_exceeded(),
        })
    }

    /// Sends the catalog the state of every stream changed since its last summary, so LIST
    /// and account info follow writes promptly; returns whether anything was sent.
    fn flush_dirty_summaries(&mut self) -> bool {
        let mut sent = false;
        for slot in 0..self.streams.len() as u32 {
            if self.streams[slot as usize]
                .as_ref()
                .is_some_and(|s| s.dirty_since_summary)
            {
                self.send_summary(slot);
                sent = true;
            }
        }
        sent
    }

    /// Input: the consumer timers of every consumer on this core (redeliveries, pull
    /// expiry, heartbeats, inactivity), after age-based expiry.
    pub fn handle_tick(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        self.now = now;
        self.expire_due(now);
        let (ch, mut cx) = self.consumers_cx(q, now);
        ch.tick_consumers(&mut cx, now);
    }

    /// Periodic work: age-based expiry.
    pub fn handle_expiry_tick(&mut self, now: Clock) {
        self.now = now;
        self.expire_due(now);
    }

    /// Removes what max_age and per-message TTLs expired (and writes subject delete markers).
    fn expire_due(&mut self, now: Clock) {
        for slot in 0..self.streams.len() as u32 {
            let Some(st) = self.streams[slot as usize].as_mut() else {
                continue;
            };
            if st.store.next_expiry_ns().is_some_and(|t| t <= now.wall_ns) {
                let effects = st.store.expire(now.wall_ns);
                // Markers are new messages: consumers (KV watchers) must see them.
                if effects
                    .iter()
                    .any(|Effect::Append(r)| matches!(r, Record::Message { .. }))
                    && self.streams_with_new.last() != Some(&slot)
                {
                    self.streams_with_new.push(slot);
                }
                self.persist(slot, &effects);
            }
        }
    }

    fn server_meta(&self) -> ServerMeta<'_> {
        ServerMeta {
            server_name: &self.cfg.server_name,
            version: &self.cfg.version,
            api_level: API_LEVEL,
        }
    }

    // ----- deliveries ---------------------------------------------------------------------

    fn on_delivery(&mut self, q: &mut dyn EngineQueries, d: InternalDelivery, now: Clock) {
        match d.target.kind {
            KIND_API => self.on_api(&d, now),
            KIND_CAPTURE => self.on_capture(d.target.index, &d, now),
            KIND_DIRECT => self.on_direct_get(d.target.index, &d),
            KIND_ACK => {
                let (ch, mut cx) = self.consumers_cx(q, now);
                ch.on_ack(&mut cx, d.target.index, &d, now)
            }
            KIND_FC => {
                let (ch, mut cx) = self.consumers_cx(q, now);
                ch.on_fc(&mut cx, d.target.index, &d, now)
            }
            KIND_NEXT => {
                let (ch, mut cx) = self.consumers_cx(q, now);
                ch.on_next(&mut cx, d.target.index, &d, now)
            }
            other => debug_assert!(false, "unknown internal kind {other}"),
        }
    }

    fn on_item(&mut self, q: &mut dyn EngineQueries, from: usize, item: JsItem, now: Clock) {
        match item {
            JsItem::Request {
                subject,
                reply,
                body,
            } => self.on_owner_request(q, &subject, reply.as_ref(), &body, now),
            JsItem::Create { config, reply } => self.create_owned(q, *config, reply.as_ref(), now),
            JsItem::Summary(summary) => {
                if self.is_meta() {
                    self.catalog.insert(summary.config.name.clone(), *summary);
                    self.usage_dirty = true;
                }
            }
            JsItem::Usage { by_core } => self.usage_by_core = by_core,
            JsItem::Removed { name } => {
                if self.is_meta() && self.catalog.get(&name).is_some_and(|s| s.owner == from) {
                    self.catalog.remove(&name);
                    self.usage_dirty = true;
                }
            }
        }
    }

    /// A `$JS.API` request on the meta core.
    fn on_api(&mut self, d: &InternalDelivery, now: Clock) {
        self.api_total += 1;
        let reply = d.reply.as_ref();
        let Some(req) = ApiRequest::parse(&d.subject) else {
            return;
        };
        let body = d.message.slice(d.header_len..);
        match req {
            ApiRequest::AccountInfo => {
                let view = self.account_info();
                self.out.reply_now(reply, render_account_info(&view));
            }
            ApiRequest::StreamNames | ApiRequest::StreamList => {
                self.on_catalog_list(req, reply, &body, now)
            }
            ApiRequest::StreamCreate(name) => {
                let cfg = match prepare_create(name, &body) {
                    Ok(c) => c,
                    Err(e) => return self.out.api_err(reply, ResponseType::StreamCreate, &e),
                };
                if let Some(existing) = self.catalog.get(name) {
                    let owner = existing.owner;
                    return self.forward(owner, d, body);
                }
                if let Some(e) = self.overlap_error(&cfg, None) {
                    return self.out.api_err(reply, ResponseType::StreamCreate, &e);
                }
                if let Some(e) = self.reservation_error(&cfg) {
                    return self.out.api_err(reply, ResponseType::StreamCreate, &e);
                }
                let owner = self.next_owner % self.cfg.n_cores;
                self.next_owner += 1;
                self.catalog.insert(
                    name.to_string(),
                    StreamSummary {
                        owner,
                        config: cfg.clone(),
                        created_ns: now.wall_ns,
                        state: jetstream::StreamStateView::default(),
                    },
                );
                self.out.send_to(
                    owner,
                    JsItem::Create {
                        config: Box::new(cfg),
                        reply: reply.cloned(),
                    },
                );
            }
            ApiRequest::StreamUpdate(name) => {
                let Some(owner) = self.catalog.get(name).map(|s| s.owner) else {
                    return self.out.api_err(
                        reply,
                        ResponseType::StreamUpdate,
                        &JsApiError::stream_not_found(),
                    );
                };
                if let Ok(cfg) = prepare_update(name, &body) {
                    if let Some(e) = self.overlap_error(&cfg, Some(name)) {
                        return self.out.api_err(reply, ResponseType::StreamUpdate, &e);
                    }
                }
                self.forward(owner, d, body);
            }
            ApiRequest::DirectGet { .. } => {}
            ApiRequest::Consumer(rest) => {
                let stream = jetstream::consumer_api::ConsumerApi::parse(rest)
                    .map(|a| a.stream().to_owned());
                let Some(stream) = stream else { return };
                match self.catalog.get(&stream).map(|s| s.owner) {
                    Some(owner) => self.forward(owner, d, body),
                    None => consumer_api::consumer_stream_missing(&mut self.out, rest, reply),
                }
            }
            other => {
                let name = other.stream().unwrap_or_default();
                match self.catalog.get(name).map(|s| s.owner) {
                    Some(owner) => self.forward(owner, d, body),
                    None => {
                        let kind = other.response_type().unwrap_or(ResponseType::StreamInfo);
                        self.out
                            .api_err(reply, kind, &JsApiError::stream_not_found());
                    }
                }
            }
        }
    }

    fn forward(&mut self, owner: usize, d: &InternalDelivery, body: Bytes) {
        self.out.send_to(
            owner,
            JsItem::Request {
                subject: d.subject.clone(),
                reply: d.reply.clone(),
                body,
            },
        );
    }

    /// Sum of `max_bytes` reservations of the catalog's streams of one storage type.
    fn reserved_bytes(&self, storage: StorageType) -> u64 {
        self.catalog
            .values()
            .filter(|s| s.config.storage == storage && s.config.max_bytes > 0)
            .map(|s| s.config.max_bytes as u64)
            .sum()
    }

    /// A stream whose `max_bytes` reservation does not fit the server-wide limit is refused.
    fn reservation_error(&self, cfg: &StreamConfig) -> Option<JsApiError> {
        let limit = match cfg.storage {
            StorageType::Memory => self.cfg.max_memory_bytes,
            StorageType::File => self.cfg.max_file_bytes,
        };
        if limit <= 0 || cfg.max_bytes <= 0 {
            return None;
        }
        let wanted = self.reserved_bytes(cfg.storage) + cfg.max_bytes as u64;
        (wanted > limit as u64).then(|| match cfg.storage {
            StorageType::Memory => JsApiError::memory_resources_exceeded(),
            StorageType::File => JsApiError::storage_resources_exceeded(),
        })
    }

    fn overlap_error(&self, cfg: &StreamConfig, except: Option<&str>) -> Option<JsApiError> {
        for (name, other) in &self.catalog {
            if Some(name.as_str()) == except {
                continue;
            }
            for a in &cfg.subjects {
                for b in &other.config.subjects {
                    if subject::subjects_overlap(a.as_bytes(), b.as_bytes()) {
                        return Some(JsApiError::stream_subject_overlap());
                    }
                }
            }
        }
        None
    }

    fn account_info(&self) -> AccountInfoView {
        let mut view = AccountInfoView {
            memory_bytes: 0,
            storage_bytes: 0,
            reserved_memory_bytes: self.reserved_bytes(StorageType::Memory),
            reserved_storage_bytes: self.reserved_bytes(StorageType::File),
            streams: self.catalog.len() as u64,
            consumers: 0,
            domain: None,
            api_level: API_LEVEL,
            api_total: self.api_total,
            api_errors: self.out.api_errors,
            limits: jetstream::AccountLimits {
                max_memory_bytes: self.cfg.max_memory_bytes,
                max_storage_bytes: self.cfg.max_file_bytes,
                max_streams: -1,
                max_consumers: -1,
                max_ack_pending: -1,
                memory_max_stream_bytes: -1,
                storage_max_stream_bytes: -1,
                max_bytes_required: false,
            },
        };
        for s in self.catalog.values() {
            view.consumers += s.state.consumer_count;
            match s.config.storage {
                StorageType::File => view.storage_bytes += s.state.bytes,
                StorageType::Memory => view.memory_bytes += s.state.bytes,
            }
        }
        view
    }

    fn on_catalog_list(
        &mut self,
        req: ApiRequest<'_>,
        reply: Option<&Bytes>,
        body: &[u8],
        now: Clock,
    ) {
        let kind = req.response_type().unwrap_or(ResponseType::StreamNames);
        let parsed = match StreamListRequest::parse(body) {
            Ok(p) => p,
            Err(e) => return self.out.api_err(reply, kind, &e),
        };
        let filter = parsed.subject_filter().map(str::to_owned);
        let matching: Vec<&StreamSummary> = self
            .catalog
            .values()
            .filter(|s| {
                filter.as_deref().is_none_or(|f| {
                    s.config
                        .subjects
                        .iter()
                        .any(|subj| subject::subjects_overlap(subj.as_bytes(), f.as_bytes()))
                })
            })
            .collect();
        let payload = if matches!(req, ApiRequest::StreamNames) {
            let names: Vec<&str> = matching.iter().map(|s| s.config.name.as_str()).collect();
            render_stream_names(&names, parsed.offset)
        } else {
            let views: Vec<StreamInfoView> = matching
                .iter()
                .map(|s| StreamInfoView {
                    config: &s.config,
                    created_ns: s.created_ns,
                    state: &s.state,
                    now_ns: now.wall_ns,
                })
                .collect();
            render_stream_list(&views, parsed.offset)
        };
        self.out.reply_now(reply, payload);
    }

    // ----- the owner side -----------------------------------------------------------------

    fn create_owned(
        &mut self,
        q: &mut dyn EngineQueries,
        config: StreamConfig,
        reply: Option<&Bytes>,
        now: Clock,
    ) {
        let name = config.name.clone();
        if self.by_name.contains_key(&name) {
            // A concurrent duplicate create: answer as the idempotent path does.
            let body = Bytes::from(serde_json::to_vec(&config).unwrap_or_default());
            let subject = Bytes::from(format!("$JS.API.STREAM.CREATE.{name}"));
            return self.on_owner_request(q, &subject, reply, &body, now);
        }
        let store = Stream::new(name.clone(), limits_of(&config), config.first_seq.max(1));
        let slot = self.install(config, now.wall_ns, store);
        let st = self.streams[slot as usize]
            .as_ref()
            .expect("just installed");
        let file = st.is_file();
        if file {
            let meta = self.meta_bytes(slot);
            let dir = self.stream_dir(&name);
            let first_seq = st.config.first_seq.max(1);
            let created_ns = st.created_ns;
            self.out.ops.push(StorageOp::Create {
                stream: slot,
                dir,
                meta,
                first_seq,
                created_ns,
            });
        }
        let payload = self.render_info(slot, ResponseType::StreamCreate, now);
        self.out.reply_after_sync(file, reply, Bytes::from(payload));
        self.send_summary(slot);
    }

    /// Installs a stream on this core (created or recovered) and subscribes its subjects.
    fn install(&mut self, config: StreamConfig, created_ns: u64, store: Stream) -> u32 {
        let slot = match self.streams.iter().position(Option::is_none) {
            Some(i) => i as u32,
            None => {
                self.streams.push(None);
                (self.streams.len() - 1) as u32
            }
        };
        self.by_name.insert(config.name.clone(), slot);
        let mut st = OwnedStream {
            config,
            created_ns,
            store,
            capture_subs: Vec::new(),
            direct_subs: Vec::new(),
            ack_subs: Vec::new(),
            consumers: BTreeMap::new(),
            dirty_since_summary: false,
        };
        for (subject, kind) in st.consumer_subjects() {
            let key = self
                .out
                .subscribe(Bytes::from(subject), InternalTarget { kind, index: slot });
            st.ack_subs.push(key);
        }
        Self::subscribe(&mut self.out, slot, &mut st);
        self.streams[slot as usize] = Some(st);
        slot
    }

    fn subscribe(out: &mut outbox::Outbox, slot: u32, st: &mut OwnedStream) {
        for key in st.capture_subs.drain(..).chain(st.direct_subs.drain(..)) {
            out.unsubscribe(key);
        }
        for s in &st.config.subjects {
            let key = out.subscribe(
                Bytes::copy_from_slice(s.as_bytes()),
                InternalTarget {
                    kind: KIND_CAPTURE,
                    index: slot,
                },
            );
            st.capture_subs.push(key);
        }
        if st.config.allow_direct {
            let base = format!("$JS.API.DIRECT.GET.{}", st.config.name);
            for s in [base.clone(), format!("{base}.>")] {
                let key = out.subscribe(
                    Bytes::from(s),
                    InternalTarget {
                        kind: KIND_DIRECT,
                        index: slot,
                    },
                );
                st.direct_subs.push(key);
            }
        }
    }

    /// Registers a stream recovered from disk by the storage shell.
    pub fn restore(
        &mut self,
        meta: StreamMeta,
        store: Stream,
        consumers: Vec<RecoveredConsumer>,
        now: Clock,
    ) -> u32 {
        self.now = now;
        let slot = self.install(meta.config, meta.created_ns, store);
        let st = self.streams[slot as usize]
            .as_mut()
            .expect("just installed");
        self.consumer_host
            .restore_consumers(st, &mut self.out, slot, consumers, now);
        self.send_summary(slot);
        slot
    }

    fn meta_bytes(&self, slot: u32) -> Vec<u8> {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        serde_json::to_vec_pretty(&StreamMeta {
            config: st.config.clone(),
            created_ns: st.created_ns,
            owner_core: self.cfg.core_id,
        })
        .unwrap_or_default()
    }

    fn send_summary(&mut self, slot: u32) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        st.dirty_since_summary = false;
        let summary = StreamSummary {
            owner: self.cfg.core_id,
            config: st.config.clone(),
            created_ns: st.created_ns,
            state: state_view(st, false),
        };
        self.out
            .send_to(META_CORE, JsItem::Summary(Box::new(summary)));
    }

    fn render_info(&self, slot: u32, kind: ResponseType, now: Clock) -> Vec<u8> {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        let state = state_view(st, false);
        let view = StreamInfoView {
            config: &st.config,
            created_ns: st.created_ns,
            state: &state,
            now_ns: now.wall_ns,
        };
        match kind {
            ResponseType::StreamCreate => render_stream_create(&view, &self.server_meta()),
            ResponseType::StreamUpdate => render_stream_update(&view, &self.server_meta()),
            _ => render_stream_info(&view, &self.server_meta(), Paging::default()),
        }
    }

    /// Records a change for the catalog summary and queues its records for the storage
    /// task (file streams).
    fn persist(&mut self, slot: u32, effects: &[Effect]) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        persist(st, slot, effects, &mut self.out.ops);
    }

    /// Persists a change and answers once it is durable (memory streams: at once).
    fn persist_and_reply(
        &mut self,
        slot: u32,
        effects: &[Effect],
        reply: Option<&Bytes>,
        payload: Bytes,
    ) {
        self.persist(slot, effects);
        let file = self.streams[slot as usize]
            .as_ref()
            .expect("live stream")
            .is_file();
        self.out.reply_durable(file, reply, payload);
    }

    fn on_capture(&mut self, slot: u32, d: &InternalDelivery, now: Clock) {
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let (headers, payload) = d.message.split_at(d.header_len);
        let name = st.config.name.clone();
        let no_ack = st.config.no_ack;
        let file = st.is_file();
        let storage = st.config.storage;
        if self.limits_enforced() {
            let size = crate::store::stream::stored_msg_bytes(
                d.subject.len(),
                headers.len(),
                payload.len(),
            );
            if let Some(e) = self.over_account_limit(storage, size) {
                if !no_ack {
                    self.out
                        .reply_now_bytes(d.reply.as_ref(), jetstream::pub_error(&name, &e));
                }
                return;
            }
        }
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let outcome = st.store.publish(&d.subject, headers, payload, now.wall_ns);
        let ack = match outcome {
            Ok(PublishOutcome::Stored { seq, effects }) => {
                self.persist(slot, &effects);
                if self.streams_with_new.last() != Some(&slot) {
                    self.streams_with_new.push(slot);
                }
                let st = self.streams[slot as usize].as_mut().expect("live stream");
                retention::retain_for_interest(st, slot, seq, &d.subject, &mut self.out.ops);
                jetstream::pub_ack(&name, seq, false)
            }
            Ok(PublishOutcome::Duplicate { seq }) => jetstream::pub_ack(&name, seq, true),
            Err(e) => jetstream::pub_error(&name, &api_error(e)),
        };
        if !no_ack {
            self.out.reply_durable(file, d.reply.as_ref(), ack);
        }
    }

    fn on_direct_get(&mut self, slot: u32, d: &InternalDelivery) {
        let Some(reply) = d.reply.clone() else { return };
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let prefix_len = "$JS.API.DIRECT.GET.".len() + st.config.name.len();
        let subject_part = (d.subject.len() > prefix_len + 1)
            .then(|| String::from_utf8_lossy(&d.subject[prefix_len + 1..]).into_owned());
        let body = &d.message[d.header_len..];
        let result = parse_direct_get(subject_part.as_deref(), body)
            .and_then(|q| lookup(&st.store, &q.query).ok_or(DirectGetError::NotFound));
        let mut headers = Vec::with_capacity(128);
        let payload: Bytes = match result {
            Ok(msg) => {
                jetstream::write_direct_get_headers(
                    &mut headers,
                    &msg.headers,
                    &st.config.name,
                    &msg.subject,
                    msg.seq,
                    msg.ts_ns,
                    None,
                );
                msg.payload.clone()
            }
            Err(e) => {
                headers.extend_from_slice(e.status_headers());
                Bytes::new()
            }
        };
        let header_len = headers.len();
        headers.extend_from_slice(&payload);
        self.out
            .publish(&reply, None, header_len, &Bytes::from(headers));
    }

    fn on_owner_request(
        &mut self,
        q: &mut dyn EngineQueries,
        subject: &Bytes,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) {
        let Some(req) = ApiRequest::parse(subject) else {
            return;
        };
        if let ApiRequest::Consumer(rest) = req {
            let stream = jetstream::consumer_api::ConsumerApi::parse(rest)
                .map(|a| a.stream().to_owned())
                .unwrap_or_default();
            return match self.by_name.get(&stream).copied() {
                Some(slot) => {
                    let (ch, mut cx) = self.consumers_cx(q, now);
                    ch.on_consumer_api(&mut cx, slot, rest, reply, body, now)
                }
                None => consumer_api::consumer_stream_missing(&mut self.out, rest, reply),
            };
        }
        let kind = req.response_type().unwrap_or(ResponseType::StreamInfo);
        let name = req.stream().unwrap_or_default().to_string();
        let Some(&slot) = self.by_name.get(&name) else {
            return self
                .out
                .api_err(reply, kind, &JsApiError::stream_not_found());
        };
        let result: Result<(), JsApiError> = match req {
            ApiRequest::StreamCreate(_) => self.owner_recreate(slot, reply, body, now),
            ApiRequest::StreamUpdate(_) => self.owner_update(slot, reply, body, now),
            ApiRequest::StreamInfo(_) => self.owner_info(slot, reply, body, now),
            ApiRequest::StreamDelete(_) => {
                check_delete_body(body).map(|()| self.owner_delete(q, slot, reply))
            }
            ApiRequest::StreamPurge(_) => self.owner_purge(slot, reply, body),
            ApiRequest::StreamMsgGet(_) => self.owner_msg_get(slot, reply, body),
            ApiRequest::StreamMsgDelete(_) => self.owner_msg_delete(slot, reply, body),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.out.api_err(reply, kind, &e);
        }
    }

    fn owner_recreate(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let name = self.streams[slot as usize]
            .as_ref()
            .expect("live")
            .config
            .name
            .clone();
        let cfg = prepare_create(&name, body)?;
        if cfg != self.streams[slot as usize].as_ref().expect("live").config {
            return Err(JsApiError::stream_name_exists());
        }
        let payload = self.render_info(slot, ResponseType::StreamCreate, now);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn owner_update(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = self.streams[slot as usize].as_mut().expect("live");
        let mut cfg = prepare_update(&st.config.name, body)?;
        StreamConfig::validate_update(&st.config, &mut cfg)?;
        let resubscribe =
            cfg.subjects != st.config.subjects || cfg.allow_direct != st.config.allow_direct;
        let effects = st.store.set_limits(limits_of(&cfg));
        st.config = cfg;
        if resubscribe {
            Self::subscribe(&mut self.out, slot, st);
        }
        if st.is_file() {
            let meta = self.meta_bytes(slot);
            self.out
                .ops
                .push(StorageOp::WriteMeta { stream: slot, meta });
        }
        let payload = self.render_info(slot, ResponseType::StreamUpdate, now);
        if resubscribe {
            // New subjects: answer once every core routes them here.
            self.persist(slot, &effects);
            let file = self.streams[slot as usize]
                .as_ref()
                .expect("live")
                .is_file();
            self.out.reply_after_sync(file, reply, Bytes::from(payload));
        } else {
            self.persist_and_reply(slot, &effects, reply, Bytes::from(payload));
        }
        self.send_summary(slot);
        Ok(())
    }

    fn owner_info(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let req = StreamInfoRequest::parse(body)?;
        let st = self.streams[slot as usize].as_ref().expect("live");
        let mut state = state_view(st, req.deleted_details);
        let mut paging = Paging::default();
        if let Some(filter) = req.subjects_filter() {
            let counts = st.store.subjects_count(filter.as_bytes());
            let (page, p) = jetstream::page_subjects(
                counts
                    .into_iter()
                    .map(|(s, n)| (String::from_utf8_lossy(&s).into_owned(), n)),
                req.offset,
            );
            state.subjects = Some(page);
            paging = p;
        }
        let view = StreamInfoView {
            config: &st.config,
            created_ns: st.created_ns,
            state: &state,
            now_ns: now.wall_ns,
        };
        let payload = render_stream_info(&view, &self.server_meta(), paging);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn owner_delete(&mut self, q: &mut dyn EngineQueries, slot: u32, reply: Option<&Bytes>) {
        {
            let (ch, mut cx) = self.consumers_cx(q, Clock::default());
            ch.drop_all_consumers(&mut cx, slot);
        }
        let mut st = self.streams[slot as usize].take().expect("live");
        for key in st
            .capture_subs
            .drain(..)
            .chain(st.direct_subs.drain(..))
            .chain(st.ack_subs.drain(..))
        {
            self.out.unsubscribe(key);
        }
        self.by_name.remove(&st.config.name);
        let file = st.is_file();
        if file {
            self.out.ops.push(StorageOp::Delete { stream: slot });
        }
        self.out.send_to(
            META_CORE,
            JsItem::Removed {
                name: st.config.name.clone(),
            },
        );
        self.out.reply_durable(
            file,
            reply,
            Bytes::from(render_success(ResponseType::StreamDelete)),
        );
    }

    fn owner_purge(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
    ) -> Result<(), JsApiError> {
        let req = StreamPurgeRequest::parse(body)?;
        let st = self.streams[slot as usize].as_mut().expect("live");
        let (purged, effects) = st
            .store
            .purge(
                req.filter().map(str::as_bytes),
                (req.seq > 0).then_some(req.seq),
                (req.keep > 0).then_some(req.keep),
            )
            .map_err(api_error)?;
        self.persist_and_reply(slot, &effects, reply, Bytes::from(render_purge(purged)));
        Ok(())
    }

    fn owner_msg_get(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
    ) -> Result<(), JsApiError> {
        let q = parse_msg_get(body)?;
        let st = self.streams[slot as usize].as_ref().expect("live");
        let msg = lookup(&st.store, &q.query).ok_or_else(JsApiError::no_message_found)?;
        let view = StoredMessageView {
            subject: &msg.subject,
            seq: msg.seq,
            headers: &msg.headers,
            payload: &msg.payload,
            ts_ns: msg.ts_ns,
        };
        let payload = render_msg_get(&view, q.no_hdr);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn owner_msg_delete(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        body: &Bytes,
    ) -> Result<(), JsApiError> {
        let req = MsgDeleteRequest::parse(body)?;
        let st = self.streams[slot as usize].as_mut().expect("live");
        let last_seq = st.store.last_seq();
        let effects = st.store.delete_msg(req.seq).map_err(|e| {
            if e.err_code == 10057 && e.description == "no message found" {
                jetstream::msg_delete_miss(req.seq, last_seq)
            } else {
                api_error(e)
            }
        })?;
        let payload = Bytes::from(render_success(ResponseType::StreamMsgDelete));
        self.persist_and_reply(slot, &effects, reply, payload);
        Ok(())
    }
}

/// The stored message a MSG.GET / DIRECT.GET query selects.
fn lookup<'a>(store: &'a Stream, q: &MsgQuery) -> Option<&'a StoredMsg> {
    match q {
        MsgQuery::Seq(seq) => store.get(*seq),
        MsgQuery::LastBySubject(s) => store.last_by_subject(s.as_bytes()),
        MsgQuery::NextBySubject { subject, from_seq } => {
            store.next_by_subject(subject.as_bytes(), *from_seq)
        }
        MsgQuery::FirstAtTime { start_ns, .. } => store
            .first_seq_at_or_after(*start_ns)
            .and_then(|seq| store.get(seq)),
        _ => None,
    }
}
