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
//!
//! The host is a sans-IO machine: it never touches the engine and reads no clock. The
//! shell (`shell::js_drive`) hands it the engine's internal deliveries and ring items with
//! a [`Clock`] and read-only [`EngineQueries`], and applies the [`HostAction`]s it returns.
//! Files by role: `catalog.rs` (meta core), `owner.rs` and `owner_api.rs` (the streams this
//! core owns), `consumer_host.rs` and `consumer_api.rs` (their consumers), `retention.rs`
//! (retention and dead letters), `outbox.rs` (the outputs).

mod batch;
mod batch_host;
mod catalog;
mod consumer_api;
mod consumer_host;
#[cfg(test)]
mod host_tests;
mod monitor_view;
mod outbox;
mod owner;
mod owner_api;
mod retention;
mod schedule;
mod schedule_host;
mod schedule_pattern;
pub mod sourcing;
mod sourcing_host;

pub use batch::BatchLimits;
pub use consumer_host::{params_of, ConsumerMeta, RecoveredConsumer, KIND_ACK, KIND_FC, KIND_NEXT};
pub use monitor_view::{ConsumerView, JsCoreView, StreamView};
pub use outbox::{HostAction, SubHandle};

use std::collections::BTreeMap;
use std::path::PathBuf;

use ahash::AHashMap;
use bytes::Bytes;

use crate::engine::{InternalDelivery, InternalTarget};
use crate::jetstream::{self, ServerMeta, StorageType, StreamConfig};
pub use crate::js_ring::{JsItem, StreamSummary};
use crate::store::record::{encode_into, Record};
use crate::store::stream::{Discard, Effect, Stream, StreamLimits};

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
const API_SUBJECTS: [&str; 11] = [
    "$JS.API.INFO",
    "$JS.API.STREAM.>",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.DELETE.>",
    "$JS.API.CONSUMER.PAUSE.>",
    "$JS.API.CONSUMER.RESET.>",
    "$JS.API.CONSUMER.UNPIN.>",
    "$JS.API.CONSUMER.NAMES.>",
    "$JS.API.CONSUMER.LIST.>",
];
/// JetStream API level advertised (INFO `api_lvl`, `$JS.API.INFO` `api.level`, `_nats.level`)
/// and checked against `Nats-Required-Api-Level` (nats-server's `jetstream_versioning.go`).
/// Level 1 is nats-server 2.11's (per-message TTL, subject delete markers, consumer pause,
/// priority groups); level 2 is 2.12's (counters, sourced counters included; atomic batches
/// with the `max_batch_*` limits; `@at` schedules; `persist_mode`; the required-level header),
/// all of which natrix has. Level 3 (2.13) needs `window_size` on `$JS.API.STREAM.SNAPSHOT`,
/// and natrix has no snapshot/restore API, so it stops at 2.
pub const API_LEVEL: u32 = 2;

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

/// A stream whose writes in a group commit were not made durable (the storage task tells
/// the host, [`StreamHost::handle_storage_done`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRefusal {
    /// Stream slot.
    pub slot: u32,
    /// The commit's messages from this sequence on are not on disk (`u64::MAX`: none of
    /// them was written); those before it were made durable (in a segment sealed within
    /// the commit) although their publishers were refused.
    pub from_seq: u64,
    /// Why the stream is stopped (fail-stop), if it is.
    pub stopped: Option<String>,
}

/// What one stream's storage work came to (the storage task tells the host,
/// [`StreamHost::handle_stream_storage_done`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStorageDone {
    /// Stream slot.
    pub slot: u32,
    /// Creation time of the stream the files belong to (a later stream in the slot ignores it).
    pub created_ns: u64,
    /// The highest message sequence written by the work (durable unless refused from below it).
    pub last_seq: Option<u64>,
    /// The stream's writes were refused.
    pub refusal: Option<StorageRefusal>,
}

/// A message to publish once the storage ops queued before it are durable.
#[derive(Debug, Clone)]
pub struct DeferredReply {
    /// Reply subject.
    pub subject: Bytes,
    /// Reply payload (JSON).
    pub payload: Bytes,
    /// A publish ack: the stream slot whose ops alone it waits for (None: every op queued
    /// before it).
    pub stream: Option<u32>,
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
    /// The account's stream / consumer-per-stream / ack-pending limits (None = unlimited).
    pub counts: crate::accounts::config::JetStreamCounts,
    /// Per stream: the dead-letter subject its consumers use unless they name their own.
    pub dead_letter: AHashMap<String, String>,
    /// JetStream domain: publish acks name it (`{"stream":..,"domain":..,"seq":..}`).
    pub domain: Option<String>,
    /// Atomic batch limits (`jetstream.max_batch_*`).
    pub batch: BatchLimits,
}

impl HostConfig {
    /// Whether a server-wide storage limit is configured.
    fn limits_enforced(&self) -> bool {
        self.max_memory_bytes > 0 || self.max_file_bytes > 0
    }
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
    /// Consumers see messages up to this sequence: a file stream's messages become visible
    /// once their group commit succeeded (a refused write is forgotten before anyone saw
    /// it); `u64::MAX` for memory streams.
    visible_upto: u64,
    /// Last sequence handed to the storage task.
    sent_upto: u64,
    /// Sequences of the group commit under way, if it holds messages of this stream.
    in_flight: Option<(u64, u64)>,
    /// Why the stream's storage stopped (fail-stop until restart): it takes no writes.
    failed: Option<String>,
    /// Its mirror or sources, running (`sourcing.rs`).
    origins: Option<Box<sourcing::Sourcing>>,
    /// Its message schedules (`allow_msg_schedules`), rebuilt from its messages.
    schedules: schedule::Schedules,
}

/// What consumers read: the stream's messages up to the last durable one.
pub(crate) struct Visible<'a> {
    store: &'a Stream,
    upto: u64,
}

impl<'a> Visible<'a> {
    pub(crate) fn new(store: &'a Stream, upto: u64) -> Self {
        Visible { store, upto }
    }

    fn all(&self) -> bool {
        self.upto >= self.store.last_seq()
    }
}

impl crate::consumer::MessageSource for Visible<'_> {
    fn next_matching(&self, from_seq: u64, filters: &[Bytes]) -> Option<crate::store::StoredMsg> {
        self.store
            .next_matching(from_seq, filters)
            .filter(|m| m.seq <= self.upto)
    }
    fn count_matching_from(&self, from_seq: u64, filters: &[Bytes]) -> u64 {
        let n = self.store.count_matching_from(from_seq, filters);
        if self.all() {
            return n;
        }
        n - self
            .store
            .count_matching_from(from_seq.max(self.upto + 1), filters)
    }
    fn get(&self, seq: u64) -> Option<crate::store::StoredMsg> {
        (seq <= self.upto).then(|| self.store.get(seq)).flatten()
    }
    fn last_seq(&self) -> u64 {
        self.store.last_seq().min(self.upto)
    }
    fn removal_epoch(&self) -> u64 {
        self.store.removal_epoch()
    }
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
    catalog: catalog::Catalog,
    out: outbox::Outbox,
    /// Streams that stored messages since their consumers last looked.
    streams_with_new: Vec<u32>,
    /// The consumers of the streams this core owns.
    consumer_host: consumer_host::ConsumerHost,
    /// Stored bytes (memory, file) of every core's streams, as the meta core last reported.
    usage_by_core: Vec<(u64, u64)>,
    /// Open atomic batches of this core's streams (`batch.rs`).
    batches: batch::Batches,
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
/// `has_interest` (any subscription on any core matches a subject) comes from the consumers'
/// [`crate::consumer::Interest`].
pub trait EngineQueries: crate::consumer::Interest {
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
        allow_msg_counter: cfg.allow_msg_counter,
        sealed: cfg.sealed,
    }
}

fn state_view(st: &OwnedStream, detailed: bool) -> jetstream::StreamStateView {
    let store = &st.store;
    let mut s = if detailed {
        store.state()
    } else {
        store.state_summary()
    };
    // A stream that never stored anything reports first_seq 0, as nats-server does.
    if s.messages == 0 && s.last_seq == 0 {
        s.first_seq = 0;
    }
    s.consumer_count = st.consumers.len() as u64;
    s
}

/// Records a change for the catalog summary and queues its records for the storage task
/// (file streams).
fn persist(st: &mut OwnedStream, slot: u32, effects: &[Effect], ops: &mut Vec<StorageOp>) {
    persist_records(st, slot, effects, ops, false);
}

/// [`persist`] as one batch record: recovery keeps all of these records or none.
fn persist_atomic(st: &mut OwnedStream, slot: u32, effects: &[Effect], ops: &mut Vec<StorageOp>) {
    persist_records(st, slot, effects, ops, true);
}

fn persist_records(
    st: &mut OwnedStream,
    slot: u32,
    effects: &[Effect],
    ops: &mut Vec<StorageOp>,
    atomic: bool,
) {
    if effects.is_empty() {
        return;
    }
    st.dirty_since_summary = true;
    if !st.is_file() {
        return;
    }
    // Only removals can free whole segments.
    let removes = effects
        .iter()
        .any(|Effect::Append(r)| !matches!(r, Record::Message { .. }));
    let checkpoint = (
        st.store.first_seq(),
        st.store.last_seq(),
        st.store.last_ts_ns(),
    );
    // Consecutive appends of one stream in one storage batch become one op: one buffer grown
    // in place instead of a pair of vectors per message, and one op for the storage task.
    let merge = matches!(ops.last(), Some(StorageOp::Append { stream, records, .. })
        if *stream == slot && records.len() < MERGE_APPEND_BYTES);
    if !merge {
        ops.push(StorageOp::Append {
            stream: slot,
            records: Vec::with_capacity(APPEND_START_BYTES),
            index: Vec::with_capacity(APPEND_START_ENTRIES),
            checkpoint,
        });
    }
    let Some(StorageOp::Append {
        records,
        index,
        checkpoint: cp,
        ..
    }) = ops.last_mut()
    else {
        unreachable!("an append op of this stream is last")
    };
    *cp = checkpoint;
    if atomic {
        let start = crate::store::record::begin_batch(records);
        encode_effects(effects, records, index);
        crate::store::record::finish_batch(records, start, effects.len() as u32);
    } else {
        encode_effects(effects, records, index);
    }
    if removes {
        ops.push(StorageOp::Compact {
            stream: slot,
            first_live_seq: checkpoint.0,
        });
    }
}

/// An append op of a storage batch takes the next change of its stream until it holds this
/// many bytes.
const MERGE_APPEND_BYTES: usize = 512 * 1024;
/// Starting capacity of an append op's buffers.
const APPEND_START_BYTES: usize = 4096;
const APPEND_START_ENTRIES: usize = 32;

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
        let batch_limits = cfg.batch;
        let consumer_host = consumer_host::ConsumerHost::new(&cfg, seed);
        StreamHost {
            cfg,
            streams: Vec::new(),
            by_name: AHashMap::new(),
            catalog: catalog::Catalog::default(),
            out: outbox::Outbox::new(core_id),
            streams_with_new: Vec::new(),
            consumer_host,
            usage_by_core: Vec::new(),
            batches: batch::Batches::new(batch_limits),
        }
    }

    /// Sets the limits of atomic batches (nats-server's defaults until called).
    pub fn set_batch_limits(&mut self, limits: BatchLimits) {
        self.batches.set_limits(limits);
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

    /// Whether there is nothing to apply: no action queued and no held reply waiting for
    /// [`StreamHost::handle_actions_applied`] (the shell skips the apply pass then; most
    /// acks produce no action).
    pub fn actions_settled(&self) -> bool {
        self.out.settled()
    }

    /// Takes the storage ops and the replies that wait for them, as one group commit.
    ///
    /// The messages of file streams in it stay hidden from consumers until the storage task
    /// reports the commit ([`StreamHost::handle_storage_done`]).
    pub fn take_storage_batch(&mut self, now: Clock) -> (Vec<StorageOp>, Vec<DeferredReply>) {
        self.consumer_host
            .queue_consumer_states(&mut self.streams, &mut self.out.ops, now);
        for st in self.streams.iter_mut().flatten() {
            let last = st.store.last_seq();
            if st.is_file() && last > st.sent_upto {
                let from = st.in_flight.map_or(st.sent_upto + 1, |(a, _)| a);
                st.in_flight = Some((from, last));
                st.sent_upto = last;
            }
        }
        (
            std::mem::take(&mut self.out.ops),
            std::mem::take(&mut self.out.deferred),
        )
    }

    /// Input from the storage task once the group commit of the last
    /// [`StreamHost::take_storage_batch`] is done, before its replies go out: `refused` are the
    /// slots whose writes in it were not made durable. Every stream's messages sent so far
    /// are settled (see [`StreamHost::handle_stream_storage_done`]). Returns how many
    /// messages were forgotten.
    pub fn handle_storage_done(&mut self, refused: &[StorageRefusal]) -> u64 {
        let mut forgotten = 0;
        for slot in 0..self.streams.len() {
            let Some(st) = self.streams[slot].as_ref() else {
                continue;
            };
            let refusal = refused.iter().find(|r| r.slot as usize == slot).cloned();
            let done = StreamStorageDone {
                slot: slot as u32,
                created_ns: st.created_ns,
                last_seq: st.in_flight.map(|(_, last)| last),
                refusal,
            };
            forgotten += self.handle_stream_storage_done(&done);
        }
        forgotten
    }

    /// Input from the storage task once one stream's storage work is done, before the
    /// replies waiting for it go out. Its messages up to `last_seq` are durable and become
    /// visible to consumers; on a refusal its messages from `from_seq` to the last one sent
    /// to storage are forgotten — removed, their `Nats-Msg-Id`s with them, and the last
    /// sequence goes back when nothing came after them (the storage task drops the appends
    /// still queued) — and a stopped stream is shown as failed in its catalog summary.
    /// Ignored when the slot holds another stream by now. Returns how many messages were
    /// forgotten.
    pub fn handle_stream_storage_done(&mut self, done: &StreamStorageDone) -> u64 {
        let slot = done.slot as usize;
        let Some(st) = self.streams.get_mut(slot).and_then(Option::as_mut) else {
            return 0;
        };
        if st.created_ns != done.created_ns {
            return 0;
        }
        let refusal = done.refusal.as_ref();
        if let Some(why) = refusal.and_then(|r| r.stopped.as_ref()) {
            if st.failed.is_none() {
                st.failed = Some(why.clone());
                st.dirty_since_summary = true;
            }
        }
        let Some((first, last)) = st.in_flight else {
            return 0;
        };
        let mut forgotten = 0;
        let upto = done.last_seq.unwrap_or(0).min(last);
        let durable = match refusal {
            Some(r) => {
                st.in_flight = None;
                let lost_from = r.from_seq.max(first);
                if lost_from <= last {
                    forgotten = st.store.forget_refused(lost_from, last);
                    st.sent_upto = st.sent_upto.min(st.store.last_seq());
                    st.dirty_since_summary = true;
                }
                upto.min(lost_from.saturating_sub(1))
            }
            None => {
                st.in_flight = (upto < last).then(|| (first.max(upto + 1), last));
                upto
            }
        };
        if durable >= first {
            st.visible_upto = st.visible_upto.max(durable);
            if self.streams_with_new.last() != Some(&(slot as u32)) {
                self.streams_with_new.push(slot as u32);
            }
        }
        forgotten
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
        !self.out.self_queue.is_empty()
            || self.out.has_after_sync()
            || !self.streams_with_new.is_empty()
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
        let mut slots = std::mem::take(&mut self.streams_with_new);
        slots.dedup();
        for slot in slots {
            let (ch, mut cx) = self.consumers_cx(q, now);
            ch.poll_stream_consumers(&mut cx, slot, now);
        }
    }

    /// Input: one message the engine matched for an internal subscription of this host.
    pub fn handle_delivery(&mut self, d: InternalDelivery, now: Clock, q: &mut dyn EngineQueries) {
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
        self.on_item(q, from, item, now);
    }

    /// Input, when nothing else moves: sends the catalog the state of every stream changed
    /// since its last summary; returns whether anything was sent.
    pub fn handle_idle(&mut self) -> bool {
        if self.flush_dirty_summaries() {
            return true;
        }
        if let Some(by_core) = self.catalog.broadcast_usage(&self.cfg, &mut self.out) {
            self.usage_by_core = by_core;
        }
        false
    }

    fn limits_enforced(&self) -> bool {
        self.cfg.limits_enforced()
    }

    /// Input: the consumer timers of every consumer on this core (redeliveries, pull
    /// expiry, heartbeats, inactivity), after age-based expiry.
    pub fn handle_tick(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        self.expire_due(now);
        self.tick_sourcing(now, q);
        self.fire_schedules(now);
        self.expire_batches(now);
        let (ch, mut cx) = self.consumers_cx(q, now);
        ch.tick_consumers(&mut cx, now);
    }

    /// How long until the earliest waiting pull request of this core expires, if any, on
    /// the monotonic clock (the consumer ticker wakes for it, so `408 Request Timeout` is on
    /// time).
    pub fn next_pull_expiry_in(&self, now: Clock) -> Option<std::time::Duration> {
        let earliest = self
            .streams
            .iter()
            .flatten()
            .flat_map(|st| st.consumers.values())
            .filter_map(|c| c.machine.next_pull_expiry_ns())
            .min()?;
        Some(std::time::Duration::from_nanos(
            earliest.saturating_sub(now.mono_ns),
        ))
    }

    /// Input: interest changed somewhere; push consumers whose deliver subject just got a
    /// subscriber start delivering now (nats-server reacts to the subscription), not on the
    /// next tick.
    pub fn handle_interest_change(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        let (ch, mut cx) = self.consumers_cx(q, now);
        ch.poll_awaiting_interest(&mut cx, now);
    }

    /// Input: shutdown; every waiting pull request of every consumer here is told (`409
    /// Server Shutdown`), so its client pulls again once the server is back.
    pub fn handle_shutdown(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        let (ch, mut cx) = self.consumers_cx(q, now);
        ch.shutdown_consumers(&mut cx);
    }

    /// Periodic work: age-based expiry.
    pub fn handle_expiry_tick(&mut self, now: Clock) {
        self.expire_due(now);
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
            KIND_API => self.catalog.on_api(&self.cfg, &mut self.out, &d, now),
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
            sourcing::KIND_SRC_REPLY => self.on_source_reply(d.target.index, &d, now),
            sourcing::KIND_SRC_DELIVER => self.on_source_deliver(d.target.index, &d, now),
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
                    self.catalog.on_summary(*summary);
                }
            }
            JsItem::Usage { by_core } => self.usage_by_core = by_core,
            JsItem::Removed { name } => {
                if self.is_meta() {
                    self.catalog.on_removed(from, &name);
                }
            }
        }
    }
}
