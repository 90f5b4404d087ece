//! The consumer host: the consumers of the streams this core owns — pull requests, acks
//! and flow-control replies arriving as internal subscriptions, timers, state writes and
//! advisories. Its API is in `consumer_api.rs`, retention and dead letters in
//! `retention.rs`.
//!
//! Each consumer is a sans-IO [`Consumer`] next to its stream's store; the consumer host
//! turns the engine's deliveries into its events and its [`Output`]s into [`HostAction`]s
//! and storage ops.
//!
//! [`HostAction`]: super::HostAction

use bytes::Bytes;

use super::outbox::{Outbox, SubHandle};
use ahash::AHashMap;

use super::retention::{dead_letter, message_of, DeadLetterCx};
use super::{Clock, EngineQueries, OwnedStream, StorageOp};
use crate::consumer::{
    parse_ack_reply, state::Snapshot, AckKind, AckMode, Consumer, Output, Params, PullSpec,
    PushParams, Start,
};
use crate::engine::{InternalDelivery, InternalTarget};
use crate::jetstream::consumer_api::{parse_pull_request, AdvisoryMeta};
use crate::jetstream::consumer_config::{AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy};
use crate::jetstream::{self, SequenceInfo, StreamConfig};
use crate::store::Stream;

/// Internal subscription kind: a stream's `$JS.ACK.<stream>.>` (index = stream slot).
pub const KIND_ACK: u32 = 4;
/// Internal subscription kind: a stream's `$JS.FC.<stream>.>` (index = stream slot).
pub const KIND_FC: u32 = 5;
/// Internal subscription kind: one pull consumer's `MSG.NEXT` subject (index = stream slot).
pub const KIND_NEXT: u32 = 6;

/// A dirty consumer's state is written at most this often (unless an ack waits for it).
const STATE_PERSIST_INTERVAL_NS: u64 = 25_000_000;

/// What the consumer host works on for one input: the core's streams (whose consumers it
/// hosts), the outputs, the engine queries and the time.
pub(super) struct Cx<'a> {
    pub(super) streams: &'a mut Vec<Option<OwnedStream>>,
    pub(super) out: &'a mut Outbox,
    pub(super) q: &'a mut dyn EngineQueries,
    pub(super) now: Clock,
}

/// The consumer side of one core's JetStream: the consumers of the streams it owns (kept
/// in each `OwnedStream.consumers`), their API, pull requests, acks, timers, state writes
/// and advisories.
pub(super) struct ConsumerHost {
    pub(super) server_name: String,
    pub(super) version: String,
    /// Per stream: the dead-letter subject its consumers use unless they name their own.
    pub(super) dead_letter: AHashMap<String, String>,
    /// The account's consumer-per-stream and ack-pending limits.
    pub(super) counts: crate::accounts::config::JetStreamCounts,
    scratch_outputs: Vec<Output>,
    /// Some consumer's state may need writing.
    consumers_dirty: bool,
    pub(super) name_counter: u64,
    /// Advisory ids.
    rng: rand::rngs::SmallRng,
}

impl ConsumerHost {
    pub(super) fn new(cfg: &super::HostConfig, seed: u64) -> Self {
        ConsumerHost {
            server_name: cfg.server_name.clone(),
            version: cfg.version.clone(),
            dead_letter: cfg.dead_letter.clone(),
            counts: cfg.counts,
            scratch_outputs: Vec::new(),
            consumers_dirty: false,
            name_counter: 0,
            rng: rand::SeedableRng::seed_from_u64(seed),
        }
    }
}

/// A consumer as its stream's host keeps it.
pub(super) struct HostedConsumer {
    pub(super) config: ConsumerConfig,
    pub(super) created_ns: u64,
    pub(super) machine: Consumer,
    pub(super) next_sub: Option<SubHandle>,
    /// When its state was last queued for writing (monotonic); `None` = never.
    pub(super) last_persist_ns: Option<u64>,
    /// A double-ack confirmation waits for this consumer's state to be written.
    pub(super) force_persist: bool,
}

impl HostedConsumer {
    /// `delivered` and `ack_floor` as CONSUMER.INFO and `/jsz` show them (natrix keeps no
    /// last-active times).
    pub(super) fn sequence_infos(&self) -> (SequenceInfo, SequenceInfo) {
        let info = |(consumer_seq, stream_seq): (u64, u64)| SequenceInfo {
            consumer_seq,
            stream_seq,
            last_active_ns: None,
        };
        (
            info(self.machine.delivered()),
            info(self.machine.ack_floor()),
        )
    }
}

/// A consumer advisory to publish.
pub(super) enum Advice<'a> {
    Created,
    Deleted,
    /// Paused until the time, or resumed (`None`).
    Pause {
        until_ns: Option<u64>,
    },
    MaxDeliveries {
        sseq: u64,
        deliveries: u64,
    },
    Terminated {
        cseq: u64,
        sseq: u64,
        deliveries: u64,
        reason: &'a str,
    },
    Naked {
        cseq: u64,
        sseq: u64,
        deliveries: u64,
    },
    /// A priority group's pin was given (`Some(id)`) or ended (`None`, with the reason).
    Pin {
        group: &'a str,
        id: Option<&'a str>,
        reason: &'a str,
    },
}

/// The metadata file of a consumer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConsumerMeta {
    /// Its config.
    pub config: ConsumerConfig,
    /// Creation time, unix ns.
    pub created_ns: u64,
}

/// A consumer recovered from disk.
#[derive(Debug, Clone)]
pub struct RecoveredConsumer {
    /// Its metadata.
    pub meta: ConsumerMeta,
    /// Its last state, if one was readable.
    pub state: Option<Snapshot>,
}

/// Burst of a rate-limited push consumer when the stream sets no max_msg_size: the default
/// max payload, as nats-server.
const RATE_BURST_DEFAULT_BYTES: u64 = 1024 * 1024;

/// The state-machine settings of a consumer config.
///
/// The consumer runs on the monotonic clock: a `pause_until` (wall time) becomes the
/// monotonic instant as far ahead of `now.mono_ns` as it is of `now.wall_ns`.
pub fn params_of(stream: &StreamConfig, cfg: &ConsumerConfig, name: &str, now: Clock) -> Params {
    let pos = |v: i64| (v > 0).then_some(v as u64);
    Params {
        stream: stream.name.clone(),
        name: name.to_owned(),
        ack: match cfg.ack_policy {
            AckPolicy::None => AckMode::None,
            AckPolicy::All => AckMode::All,
            AckPolicy::Explicit => AckMode::Explicit,
        },
        ack_wait_ns: pos(cfg.ack_wait_ns).unwrap_or(30_000_000_000),
        backoff_ns: cfg.backoff_ns.iter().map(|&b| b.max(0) as u64).collect(),
        max_deliver: pos(cfg.max_deliver),
        max_ack_pending: pos(cfg.max_ack_pending),
        filters: cfg
            .filters()
            .into_iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
        push: cfg.is_push().then(|| PushParams {
            deliver_subject: Bytes::copy_from_slice(cfg.deliver_subject.as_bytes()),
            flow_control: cfg.flow_control,
            idle_heartbeat_ns: cfg.idle_heartbeat_ns.max(0) as u64,
            rate_limit_bps: cfg.rate_limit_bps,
            rate_burst_bytes: if stream.max_msg_size_bytes > 0 {
                stream.max_msg_size_bytes as u64
            } else {
                RATE_BURST_DEFAULT_BYTES
            },
        }),
        max_waiting: pos(cfg.max_waiting).unwrap_or(512) as usize,
        headers_only: cfg.headers_only,
        replay_original: cfg.replay_policy == ReplayPolicy::Original,
        ack_sample_percent: jetstream::consumer_api::sample_percent(&cfg.sample_freq),
        paused_until_ns: match cfg.pause_until_ns {
            Some(until) if until > now.wall_ns => now.mono_ns.saturating_add(until - now.wall_ns),
            _ => 0,
        },
        priority: priority_of(cfg),
    }
}

/// The priority-group settings of a consumer config.
fn priority_of(cfg: &ConsumerConfig) -> crate::consumer::PriorityParams {
    use crate::consumer::Policy;
    use jetstream::consumer_config::PriorityPolicy as P;
    crate::consumer::PriorityParams {
        policy: match cfg.priority_policy {
            P::None => Policy::None,
            P::Overflow => Policy::Overflow,
            P::PinnedClient => Policy::PinnedClient,
            P::Prioritized => Policy::Prioritized,
        },
        groups: cfg.priority_groups.clone(),
        pinned_ttl_ns: cfg.priority_timeout_ns.max(0) as u64,
    }
}

/// Where a new consumer starts, from its deliver policy; messages above `visible_upto`
/// (their commit is under way) count as not there yet, so a consumer created meanwhile
/// cannot start past a sequence a refused commit gives back.
pub(super) fn start_of(store: &Stream, visible_upto: u64, cfg: &ConsumerConfig) -> Start {
    let filters: Vec<Bytes> = cfg
        .filters()
        .into_iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect();
    let after_last = store.last_seq().min(visible_upto) + 1;
    let from = |from_seq: u64| Start {
        from_seq,
        initial: Vec::new(),
    };
    match cfg.deliver_policy {
        DeliverPolicy::All => from(store.first_seq().max(1)),
        DeliverPolicy::New => from(after_last),
        DeliverPolicy::Last => {
            let last = if filters.is_empty() {
                (store.last_seq() > 0 && !store.is_empty()).then(|| store.last_seq())
            } else {
                filters
                    .iter()
                    .filter_map(|f| store.last_by_subject(f).map(|m| m.seq))
                    .max()
            };
            from(last.unwrap_or(after_last))
        }
        DeliverPolicy::ByStartSequence => from(cfg.opt_start_seq.max(1)),
        DeliverPolicy::ByStartTime => {
            let t = cfg.opt_start_time_ns.unwrap_or(0);
            from(store.first_seq_at_or_after(t).unwrap_or(after_last))
        }
        DeliverPolicy::LastPerSubject => Start {
            from_seq: after_last,
            initial: store.last_per_subject(&filters),
        },
    }
}

/// Whether a consumer last written at `last` (monotonic) may be written again.
fn persist_due(last: Option<u64>, now: Clock) -> bool {
    last.is_none_or(|t| now.mono_ns.saturating_sub(t) >= STATE_PERSIST_INTERVAL_NS)
}

/// Subscribes a consumer's `MSG.NEXT` subject (push consumers too: a pull request on one
/// gets 409, not no responders).
pub(super) fn subscribe_next(out: &mut Outbox, stream: &str, name: &str, slot: u32) -> SubHandle {
    out.subscribe(
        Bytes::from(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}")),
        InternalTarget {
            kind: KIND_NEXT,
            index: slot,
        },
    )
}

/// A random 8-character consumer name (ephemerals), as nats-server generates.
pub(super) fn ephemeral_name(seed: u64) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut v = seed ^ 0x2545_F491_4F6C_DD1D;
    let mut s = String::with_capacity(8);
    for _ in 0..8 {
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        s.push(ALPHA[(v % ALPHA.len() as u64) as usize] as char);
    }
    s
}

impl OwnedStream {
    /// The consumer-related internal subscriptions of a stream.
    pub(super) fn consumer_subjects(&self) -> [(String, u32); 2] {
        [
            (format!("$JS.ACK.{}.>", self.config.name), KIND_ACK),
            (format!("$JS.FC.{}.>", self.config.name), KIND_FC),
        ]
    }
}

impl ConsumerHost {
    // ----- pull requests, acks, flow control ----------------------------------------------

    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    pub(super) fn on_next(&mut self, cx: &mut Cx<'_>, slot: u32, d: &InternalDelivery, now: Clock) {
        let Some(reply) = d.reply.clone() else { return };
        let Some(name) = d
            .subject
            .rsplit(|&b| b == b'.')
            .next()
            .and_then(|n| std::str::from_utf8(n).ok())
            .map(str::to_owned)
        else {
            return;
        };
        let headers = &d.message[..d.header_len];
        let body = &d.message[d.header_len..];
        self.pull_request(cx, slot, &name, reply, Some(headers), body, now);
    }

    /// A pull request of consumer `name` answered on `reply`: `MSG.NEXT`'s body, or what
    /// follows `+NXT` in an ack (nats-server's `processNextMsgRequest`: batch, expires,
    /// max_bytes, no_wait, heartbeat and the priority group fields, the same refusals).
    /// `headers` (`MSG.NEXT` only) are checked for `Nats-Required-Api-Level`.
    #[allow(clippy::too_many_arguments)]
    fn pull_request(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        name: &str,
        reply: Bytes,
        headers: Option<&[u8]>,
        body: &[u8],
        now: Clock,
    ) {
        let Some(st) = cx.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let Some(c) = st.consumers.get_mut(name) else {
            return;
        };
        if c.config.is_push() {
            let h = crate::consumer::status_block(409, "Consumer is push based", None);
            cx.out.publish(&reply, None, h.len(), &Bytes::from(h));
            return;
        }
        if headers.is_some_and(|h| {
            crate::jetstream::api_level::refuses_required_level(h, super::API_LEVEL)
        }) {
            let h = Bytes::from_static(crate::jetstream::api_level::REQUIRED_API_LEVEL_STATUS);
            cx.out.publish(&reply, None, h.len(), &h);
            return;
        }
        match parse_pull_request(body, &c.config) {
            Ok(pr) => {
                let spec = PullSpec {
                    batch: pr.batch,
                    max_bytes: pr.max_bytes,
                    expires_ns: pr.expires_ns,
                    no_wait: pr.no_wait,
                    heartbeat_ns: pr.idle_heartbeat_ns,
                    group: pr.priority_group,
                };
                c.machine.on_pull(reply, spec, now.mono_ns, cx.q, store);
            }
            Err(h) => {
                cx.out.publish(&reply, None, h.len(), &Bytes::from(h));
                return;
            }
        }
        self.flush_consumer(cx, slot, name);
    }

    /// A publish to `$JS.ACK.<stream>.…`.
    pub(super) fn on_ack(&mut self, cx: &mut Cx<'_>, slot: u32, d: &InternalDelivery, now: Clock) {
        let Some(ack) = parse_ack_reply(&d.subject) else {
            return;
        };
        let Some(kind) = AckKind::parse(&d.message[d.header_len..]) else {
            return;
        };
        let Some(st) = cx.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let file = st.is_file();
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let Some(c) = st.consumers.get_mut(ack.consumer) else {
            return;
        };
        let is_next = matches!(kind, AckKind::Next { .. });
        // `+NXT`: the machine only acks; the request that follows is a pull request below.
        let pull_reply = if is_next { None } else { d.reply.as_ref() };
        c.machine
            .on_ack(&ack, &kind, pull_reply, now.mono_ns, cx.q, store);
        let durable = c.config.is_durable();
        // A double ack (ack with a reply) is confirmed once the state holding it is written.
        let confirm = (!is_next).then(|| d.reply.clone()).flatten();
        if confirm.is_some() && file && durable {
            c.force_persist = true;
        }
        self.flush_consumer(cx, slot, ack.consumer);
        if let Some(r) = confirm {
            cx.out
                .reply_durable(file && durable, Some(&r), Bytes::new());
        }
        if let (true, Some(reply)) = (is_next, &d.reply) {
            let body = &d.message[d.header_len..];
            let rest = body.strip_prefix(b"+NXT").unwrap_or_default();
            self.pull_request(cx, slot, ack.consumer, reply.clone(), None, rest, now);
        }
    }

    /// A publish to `$JS.FC.<stream>.<consumer>.<token>` (a flow-control reply).
    pub(super) fn on_fc(&mut self, cx: &mut Cx<'_>, slot: u32, d: &InternalDelivery, now: Clock) {
        let mut tokens = d.subject.split(|&b| b == b'.').skip(3);
        let Some(name) = tokens.next().and_then(|n| std::str::from_utf8(n).ok()) else {
            return;
        };
        let name = name.to_owned();
        let Some(st) = cx.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &super::Visible::new(&st.store, st.visible_upto);
        if let Some(c) = st.consumers.get_mut(&name) {
            c.machine
                .on_flow_control_reply(&d.subject, now.mono_ns, cx.q, store);
            self.flush_consumer(cx, slot, &name);
        }
    }

    // ----- delivery ---------------------------------------------------------------------

    /// Lets one consumer deliver what it can now, then carries out its outputs.
    pub(super) fn poll_consumer(&mut self, cx: &mut Cx<'_>, slot: u32, name: &str, now: Clock) {
        let Some(st) = cx.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let Some(c) = st.consumers.get_mut(name) else {
            return;
        };
        c.machine.poll(now.mono_ns, cx.q, store);
        self.flush_consumer(cx, slot, name);
    }

    /// Lets every consumer of a stream deliver (new messages arrived).
    pub(super) fn poll_stream_consumers(&mut self, cx: &mut Cx<'_>, slot: u32, now: Clock) {
        let names: Vec<String> = match cx.streams.get(slot as usize).and_then(|s| s.as_ref()) {
            Some(st) if !st.consumers.is_empty() => st.consumers.keys().cloned().collect(),
            _ => return,
        };
        for n in names {
            self.poll_consumer(cx, slot, &n, now);
        }
    }

    /// Timers of every consumer on this core: redeliveries, pull expiry, heartbeats,
    /// inactivity.
    pub(super) fn tick_consumers(&mut self, cx: &mut Cx<'_>, now: Clock) {
        for slot in 0..cx.streams.len() as u32 {
            let names: Vec<String> = match cx.streams[slot as usize].as_ref() {
                Some(st) if !st.consumers.is_empty() => st.consumers.keys().cloned().collect(),
                _ => continue,
            };
            for n in names {
                let st = cx.streams[slot as usize].as_mut().expect("live stream");
                let store = &super::Visible::new(&st.store, st.visible_upto);
                let c = st.consumers.get_mut(&n).expect("listed consumer");
                let interest = c.config.is_push()
                    && cx
                        .q
                        .has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
                c.machine.tick(now.mono_ns, cx.q, store);
                let threshold = c.config.inactive_threshold_ns;
                let idle = threshold > 0
                    && c.machine.num_waiting() == 0
                    && !interest
                    && now.mono_ns.saturating_sub(c.machine.last_activity_ns()) >= threshold as u64;
                self.flush_consumer(cx, slot, &n);
                if idle {
                    tracing::debug!(stream = slot, consumer = %n, "consumer removed after inactivity");
                    self.remove_consumer(cx, slot, &n);
                }
            }
        }
    }

    /// Polls the push consumers still waiting for a subscriber on their deliver subject.
    pub(super) fn poll_awaiting_interest(&mut self, cx: &mut Cx<'_>, now: Clock) {
        let mut push: Vec<(u32, String)> = Vec::new();
        for (slot, st) in cx.streams.iter().enumerate() {
            if let Some(st) = st {
                push.extend(
                    st.consumers
                        .iter()
                        .filter(|(_, c)| c.machine.awaiting_interest())
                        .map(|(n, _)| (slot as u32, n.clone())),
                );
            }
        }
        for (slot, name) in push {
            self.poll_consumer(cx, slot, &name, now);
        }
    }

    /// Answers every waiting pull request of every consumer with `409 Server Shutdown`.
    pub(super) fn shutdown_consumers(&mut self, cx: &mut Cx<'_>) {
        for slot in 0..cx.streams.len() as u32 {
            let names: Vec<String> = match cx.streams[slot as usize].as_mut() {
                Some(st) => st
                    .consumers
                    .iter_mut()
                    .filter(|(_, c)| c.machine.num_waiting() > 0)
                    .map(|(n, c)| {
                        c.machine.on_shutdown();
                        n.clone()
                    })
                    .collect(),
                None => continue,
            };
            for n in names {
                self.flush_consumer(cx, slot, &n);
            }
        }
    }

    /// The dead-letter extension (see `retention.rs`) for one consumer's message.
    fn dead_letter(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        consumer: &str,
        seq: u64,
        deliveries: u64,
        reason: &str,
    ) {
        let Some(st) = cx.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let dl = DeadLetterCx {
            defaults: &self.dead_letter,
            st,
            out: cx.out,
        };
        dead_letter(dl, consumer, seq, deliveries, reason);
    }

    /// Carries out the outputs a consumer produced.
    pub(super) fn flush_consumer(&mut self, cx: &mut Cx<'_>, slot: u32, name: &str) {
        let mut out = std::mem::take(&mut self.scratch_outputs);
        if let Some(c) = cx
            .streams
            .get_mut(slot as usize)
            .and_then(|s| s.as_mut())
            .and_then(|st| st.consumers.get_mut(name))
        {
            c.machine.take_outputs(&mut out);
        }
        if !out.is_empty() {
            self.dispatch(cx, slot, name, &mut out);
        }
        // Kept with its capacity: one flush per ack and per poll, no allocation each.
        self.scratch_outputs = out;
    }

    /// Carries out `out` (drained; its capacity stays with the caller).
    pub(super) fn dispatch(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        name: &str,
        out: &mut Vec<Output>,
    ) {
        for o in out.drain(..) {
            match o {
                Output::Deliver {
                    to,
                    subject,
                    ack_reply,
                    headers,
                    payload,
                } => {
                    let (hdr_len, msg) = message_of(&headers, payload);
                    tracing::trace!(to = ?to, ack = ?ack_reply, "consumer delivery");
                    cx.out.publish_as(to, subject, ack_reply, hdr_len, msg);
                }
                Output::Status { to, headers, reply } => {
                    let len = headers.len();
                    cx.out
                        .publish(&to, reply.as_ref(), len, &Bytes::from(headers));
                }
                Output::MaxDeliveries {
                    stream_seq,
                    deliveries,
                } => {
                    let advice = Advice::MaxDeliveries {
                        sseq: stream_seq,
                        deliveries,
                    };
                    self.advise(cx, slot, name, advice);
                    self.dead_letter(cx, slot, name, stream_seq, deliveries, "max_deliveries");
                }
                Output::Terminated {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                    reason,
                } => {
                    let advice = Advice::Terminated {
                        cseq: consumer_seq,
                        sseq: stream_seq,
                        deliveries,
                        reason: &reason,
                    };
                    self.advise(cx, slot, name, advice);
                    self.dead_letter(cx, slot, name, stream_seq, deliveries, "terminated");
                }
                Output::Done { stream_seq } => {
                    if let Some(st) = cx.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) {
                        super::retention::release(st, slot, stream_seq, &mut cx.out.ops);
                    }
                }
                Output::AckSampled {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                    ack_time_ns,
                } => self.ack_metric(
                    cx,
                    slot,
                    name,
                    [consumer_seq, stream_seq, ack_time_ns, deliveries],
                ),
                Output::Naked {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                } => {
                    let advice = Advice::Naked {
                        cseq: consumer_seq,
                        sseq: stream_seq,
                        deliveries,
                    };
                    self.advise(cx, slot, name, advice);
                }
                Output::Pinned { group, id } => {
                    let advice = Advice::Pin {
                        group: &group,
                        id: Some(&id),
                        reason: "",
                    };
                    self.advise(cx, slot, name, advice);
                }
                Output::Unpinned { group, reason } => {
                    let advice = Advice::Pin {
                        group: &group,
                        id: None,
                        reason,
                    };
                    self.advise(cx, slot, name, advice);
                }
            }
        }
        self.consumers_dirty = true;
    }

    /// Publishes a consumer advisory (only rendered when someone listens).
    pub(super) fn advise(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        consumer: &str,
        advice: Advice<'_>,
    ) {
        use jetstream::consumer_api::{self as api, ConsumerAdvisory as K};
        let Some(st) = cx.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let stream = st.config.name.clone();
        let kind = match advice {
            Advice::Created => K::Created,
            Advice::Deleted => K::Deleted,
            Advice::Pause { .. } => K::Pause,
            Advice::MaxDeliveries { .. } => K::MaxDeliveries,
            Advice::Terminated { .. } => K::MsgTerminated,
            Advice::Naked { .. } => K::MsgNaked,
            Advice::Pin { id: Some(_), .. } => K::Pinned,
            Advice::Pin { id: None, .. } => K::Unpinned,
        };
        let subject = Bytes::from(api::consumer_advisory_subject(kind, &stream, consumer));
        if !cx.q.has_interest(&subject) {
            return;
        }
        let id = api::new_advisory_id(&mut self.rng);
        let meta = AdvisoryMeta {
            id: &id,
            timestamp_ns: cx.now.wall_ns,
            domain: "",
        };
        let body = match advice {
            Advice::Created => api::render_consumer_action_advisory(&meta, &stream, consumer, true),
            Advice::Pause { until_ns } => {
                api::render_pause_advisory(&meta, &stream, consumer, until_ns, meta.timestamp_ns)
            }
            Advice::Deleted => {
                api::render_consumer_action_advisory(&meta, &stream, consumer, false)
            }
            Advice::MaxDeliveries { sseq, deliveries } => {
                api::render_max_deliveries_advisory(&meta, &stream, consumer, sseq, deliveries)
            }
            Advice::Terminated {
                cseq,
                sseq,
                deliveries,
                reason,
            } => api::render_terminated_advisory(
                &meta, &stream, consumer, cseq, sseq, deliveries, reason,
            ),
            Advice::Naked {
                cseq,
                sseq,
                deliveries,
            } => api::render_nak_advisory(&meta, &stream, consumer, cseq, sseq, deliveries),
            Advice::Pin { group, id, reason } => {
                api::render_pin_advisory(&meta, &stream, consumer, group, id, reason)
            }
        };
        cx.out.publish(&subject, None, 0, &Bytes::from(body));
    }

    /// Publishes a sampled ack metric, `[consumer_seq, stream_seq, ack_time_ns, deliveries]`
    /// (only rendered when someone listens).
    pub(super) fn ack_metric(&mut self, cx: &mut Cx<'_>, slot: u32, consumer: &str, v: [u64; 4]) {
        use jetstream::consumer_api as api;
        let Some(st) = cx.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let subject = Bytes::from(api::ack_metric_subject(&st.config.name, consumer));
        if !cx.q.has_interest(&subject) {
            return;
        }
        let stream = st.config.name.clone();
        let id = api::new_advisory_id(&mut self.rng);
        let meta = AdvisoryMeta {
            id: &id,
            timestamp_ns: cx.now.wall_ns,
            domain: "",
        };
        let [cseq, sseq, ack_time_ns, deliveries] = v;
        let body = api::render_ack_metric(
            &meta,
            &stream,
            consumer,
            cseq,
            sseq,
            ack_time_ns,
            deliveries,
        );
        cx.out.publish(&subject, None, 0, &Bytes::from(body));
    }

    // ----- persistence ------------------------------------------------------------------

    /// Whether a consumer's state is due to be written.
    pub(super) fn consumer_state_due(&self, streams: &[Option<OwnedStream>], now: Clock) -> bool {
        if !self.consumers_dirty {
            return false;
        }
        streams.iter().flatten().any(|st| {
            st.is_file()
                && st.consumers.values().any(|c| {
                    c.config.is_durable()
                        && (c.force_persist || persist_due(c.last_persist_ns, now))
                })
        })
    }

    /// Queues a state write for every durable consumer whose state changed (rate limited,
    /// except where a double-ack confirmation waits for it).
    pub(super) fn queue_consumer_states(
        &mut self,
        streams: &mut [Option<OwnedStream>],
        ops: &mut Vec<StorageOp>,
        now: Clock,
    ) {
        if !self.consumers_dirty {
            return;
        }
        let mut still_dirty = false;
        for (slot, st) in streams.iter_mut().enumerate() {
            let Some(st) = st.as_mut() else { continue };
            let file = st.is_file();
            for (name, c) in st.consumers.iter_mut() {
                if !file || !c.config.is_durable() {
                    c.machine.take_dirty();
                    continue;
                }
                let due = c.force_persist || persist_due(c.last_persist_ns, now);
                if !due {
                    still_dirty = true;
                    continue;
                }
                if !c.machine.take_dirty() && !c.force_persist {
                    continue;
                }
                ops.push(StorageOp::ConsumerState {
                    stream: slot as u32,
                    name: name.clone(),
                    state: c.machine.snapshot().encode(),
                    sync: c.force_persist,
                });
                c.force_persist = false;
                c.last_persist_ns = Some(now.mono_ns);
            }
        }
        self.consumers_dirty = still_dirty;
    }

    /// Registers the consumers recovered with a stream.
    pub(super) fn restore_consumers(
        &mut self,
        st: &mut OwnedStream,
        out: &mut Outbox,
        slot: u32,
        consumers: Vec<RecoveredConsumer>,
        now: Clock,
    ) {
        for rc in consumers {
            let cfg = rc.meta.config;
            let name = if cfg.name.is_empty() {
                cfg.durable_name.clone()
            } else {
                cfg.name.clone()
            };
            let params = params_of(&st.config, &cfg, &name, now);
            let machine = match &rc.state {
                Some(snap) => Consumer::restore(params, snap, now.mono_ns),
                None => Consumer::new(
                    params,
                    start_of(&st.store, st.visible_upto, &cfg),
                    now.mono_ns,
                ),
            };
            let next_sub = Some(subscribe_next(out, &st.config.name, &name, slot));
            st.consumers.insert(
                name,
                HostedConsumer {
                    config: cfg,
                    created_ns: rc.meta.created_ns,
                    machine,
                    next_sub,
                    last_persist_ns: Some(now.mono_ns),
                    force_persist: false,
                },
            );
        }
    }

    /// Removes every consumer of a stream being deleted (waiting pulls get 409).
    pub(super) fn drop_all_consumers(&mut self, cx: &mut Cx<'_>, slot: u32) {
        let names: Vec<String> = match cx.streams.get(slot as usize).and_then(|s| s.as_ref()) {
            Some(st) => st.consumers.keys().cloned().collect(),
            None => return,
        };
        for n in names {
            self.remove_consumer(cx, slot, &n);
        }
    }
}
