//! The consumers of the streams this core owns: the consumer API (create, info, names,
//! list, delete), pull requests, acks and flow-control replies arriving as internal
//! subscriptions, timers, retention (workqueue / interest) and the dead-letter extension.
//!
//! Each consumer is a sans-IO [`Consumer`] next to its stream's store; this file turns the
//! engine's deliveries into its events and its [`Output`]s into publishes and storage ops.

use bytes::Bytes;

use super::outbox::{Outbox, SubHandle};
use super::{Clock, EngineQueries, OwnedStream, StorageOp, StreamHost};
use crate::consumer::{
    parse_ack_reply, state::Snapshot, AckKind, AckMode, Consumer, Output, Params, PullSpec,
    PushParams, Start,
};
use crate::engine::{InternalDelivery, InternalTarget};
use crate::jetstream::consumer_api::{
    parse_consumer_create, parse_pull_request, render_consumer_info, render_consumer_list,
    render_consumer_names, resolve_action, AdvisoryMeta, ConsumerApi, ConsumerInfoView,
    ListRequest, SequenceInfo,
};
use crate::jetstream::consumer_config::{
    check_workqueue_filters, AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy,
};
use crate::jetstream::{
    self, render_error, render_success, JsApiError, ResponseType, RetentionPolicy, StreamConfig,
};
use crate::store::Stream;

/// Internal subscription kind: a stream's `$JS.ACK.<stream>.>` (index = stream slot).
pub const KIND_ACK: u32 = 4;
/// Internal subscription kind: a stream's `$JS.FC.<stream>.>` (index = stream slot).
pub const KIND_FC: u32 = 5;
/// Internal subscription kind: one pull consumer's `MSG.NEXT` subject (index = stream slot).
pub const KIND_NEXT: u32 = 6;

/// Page size of CONSUMER.NAMES.
const NAMES_PAGE: usize = 1024;
/// Page size of CONSUMER.LIST.
const LIST_PAGE: usize = 256;
/// A dirty consumer's state is written at most this often (unless an ack waits for it).
const STATE_PERSIST_INTERVAL_NS: u64 = 25_000_000;

/// A consumer as its stream's host keeps it.
pub(super) struct HostedConsumer {
    pub(super) config: ConsumerConfig,
    pub(super) created_ns: u64,
    pub(super) machine: Consumer,
    next_sub: Option<SubHandle>,
    /// When its state was last queued for writing (monotonic); `None` = never.
    last_persist_ns: Option<u64>,
    /// A double-ack confirmation waits for this consumer's state to be written.
    force_persist: bool,
}

/// A consumer advisory to publish.
enum Advice<'a> {
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
    }
}

/// Where a new consumer starts, from its deliver policy.
fn start_of(store: &Stream, cfg: &ConsumerConfig) -> Start {
    let filters: Vec<Bytes> = cfg
        .filters()
        .into_iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect();
    let after_last = store.last_seq() + 1;
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
fn subscribe_next(out: &mut Outbox, stream: &str, name: &str, slot: u32) -> SubHandle {
    out.subscribe(
        Bytes::from(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}")),
        InternalTarget {
            kind: KIND_NEXT,
            index: slot,
        },
    )
}

/// A random 8-character consumer name (ephemerals), as nats-server generates.
fn ephemeral_name(seed: u64) -> String {
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

/// The headers of a dead-lettered message: the original ones plus where it came from.
fn dead_letter_headers(
    original: &[u8],
    stream: &str,
    consumer: &str,
    seq: u64,
    deliveries: u64,
    reason: &str,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(original.len() + 200);
    if original.is_empty() {
        h.extend_from_slice(b"NATS/1.0\r\n");
    } else {
        h.extend_from_slice(original.strip_suffix(b"\r\n").unwrap_or(original));
    }
    for (k, v) in [
        ("Nats-Dead-Letter-Stream", stream.to_owned()),
        ("Nats-Dead-Letter-Consumer", consumer.to_owned()),
        ("Nats-Dead-Letter-Sequence", seq.to_string()),
        ("Nats-Dead-Letter-Deliveries", deliveries.to_string()),
        ("Nats-Dead-Letter-Reason", reason.to_owned()),
    ] {
        h.extend_from_slice(k.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(v.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// Joins a header block and payload into one message buffer.
fn message_of(headers: &[u8], payload: &Bytes) -> (usize, Bytes) {
    if headers.is_empty() {
        return (0, payload.clone());
    }
    let mut m = Vec::with_capacity(headers.len() + payload.len());
    m.extend_from_slice(headers);
    m.extend_from_slice(payload);
    (headers.len(), Bytes::from(m))
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

impl StreamHost {
    fn consumer_err(&mut self, reply: Option<&Bytes>, kind: ResponseType, e: &JsApiError) {
        self.out.api_err(reply, kind, e);
    }

    /// A consumer API request for a stream this core owns.
    pub(super) fn on_consumer_api(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        rest: &str,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) {
        let Some(api) = ConsumerApi::parse(rest) else {
            return;
        };
        let kind = api.response_type().unwrap_or(ResponseType::ConsumerInfo);
        let result = match api {
            ConsumerApi::Create { .. } | ConsumerApi::DurableCreate { .. } => {
                self.consumer_create(q, slot, &api, reply, body, now)
            }
            ConsumerApi::Info { consumer, .. } => self.consumer_info(q, slot, consumer, reply, now),
            ConsumerApi::Delete { consumer, .. } => self.consumer_delete(q, slot, consumer, reply),
            ConsumerApi::Pause { consumer, .. } => {
                self.consumer_pause(q, slot, consumer, reply, body, now)
            }
            ConsumerApi::Names { .. } | ConsumerApi::List { .. } => {
                self.consumer_listing(q, slot, &api, reply, body, now)
            }
            ConsumerApi::MsgNext { .. } => Ok(()),
        };
        if let Err(e) = result {
            self.consumer_err(reply, kind, &e);
        }
    }

    fn info_view_bytes(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        name: &str,
        kind: ResponseType,
        now: Clock,
    ) -> Vec<u8> {
        let (server_name, version) = (self.cfg.server_name.clone(), self.cfg.version.clone());
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let store = &st.store;
        let c = st.consumers.get_mut(name).expect("live consumer");
        let push_bound = c.config.is_push()
            && q.has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
        let num_pending = c.machine.num_pending(store);
        let (dc, ds) = c.machine.delivered();
        let (fc, fs) = c.machine.ack_floor();
        let view = ConsumerInfoView {
            stream_name: &st.config.name,
            name,
            created_ns: c.created_ns,
            config: &c.config,
            delivered: SequenceInfo {
                consumer_seq: dc,
                stream_seq: ds,
                last_active_ns: None,
            },
            ack_floor: SequenceInfo {
                consumer_seq: fc,
                stream_seq: fs,
                last_active_ns: None,
            },
            num_ack_pending: c.machine.num_ack_pending(),
            num_redelivered: c.machine.num_redelivered(),
            num_waiting: c.machine.num_waiting(),
            num_pending,
            push_bound,
            now_ns: now.wall_ns,
        };
        let server = jetstream::ServerMeta {
            server_name: &server_name,
            version: &version,
            api_level: super::API_LEVEL,
        };
        render_consumer_info(&view, &server, kind)
    }

    fn consumer_create(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        api: &ConsumerApi,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let req = parse_consumer_create(api, body)?;
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let mut cfg = req.config;
        cfg.normalize(&st.config);
        cfg.validate(&st.config)?;
        let mut name = if !cfg.name.is_empty() {
            cfg.name.clone()
        } else {
            cfg.durable_name.clone()
        };
        if name.is_empty() {
            self.name_counter += 1;
            // A generated name stays out of the config, as nats-server reports it.
            name =
                ephemeral_name(now.wall_ns ^ self.name_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let existing = st.consumers.get(&name).map(|c| &c.config);
        let create = resolve_action(req.action, existing, &cfg)?;
        if st.config.retention == RetentionPolicy::WorkQueue {
            let others: Vec<&ConsumerConfig> = st
                .consumers
                .iter()
                .filter(|(n, _)| **n != name)
                .map(|(_, c)| &c.config)
                .collect();
            check_workqueue_filters(&cfg, &others)?;
        }
        if create {
            if st.config.max_consumers > 0 && st.consumers.len() as i64 >= st.config.max_consumers {
                return Err(JsApiError::new(
                    400,
                    10026,
                    "maximum consumers limit reached",
                ));
            }
            let params = params_of(&st.config, &cfg, &name, now);
            let start = start_of(&st.store, &cfg);
            let machine = Consumer::new(params, start, now.mono_ns);
            let next_sub = Some(subscribe_next(&mut self.out, &st.config.name, &name, slot));
            st.consumers.insert(
                name.clone(),
                HostedConsumer {
                    config: cfg,
                    created_ns: now.wall_ns,
                    machine,
                    next_sub,
                    last_persist_ns: None,
                    force_persist: false,
                },
            );
            st.dirty_since_summary = true;
        } else {
            let c = st.consumers.get_mut(&name).expect("existing consumer");
            if c.config != cfg {
                ConsumerConfig::validate_update(&c.config, &cfg)?;
                c.machine
                    .set_params(params_of(&st.config, &cfg, &name, now));
                c.config = cfg;
            }
        }
        self.persist_consumer_meta(slot, &name);
        if create {
            self.advise(q, slot, &name, Advice::Created);
            let until_ns = self.streams[slot as usize]
                .as_ref()
                .and_then(|st| st.consumers.get(&name))
                .and_then(|c| c.config.pause_until_ns);
            if until_ns.is_some() {
                self.advise(q, slot, &name, Advice::Pause { until_ns });
            }
        }
        let payload = self.info_view_bytes(q, slot, &name, ResponseType::ConsumerCreate, now);
        let file = self.streams[slot as usize]
            .as_ref()
            .expect("live")
            .is_file();
        self.out.reply_durable(file, reply, Bytes::from(payload));
        self.poll_consumer(q, slot, &name, now);
        Ok(())
    }

    fn persist_consumer_meta(&mut self, slot: u32, name: &str) {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        let c = &st.consumers[name];
        if !st.is_file() || !c.config.is_durable() {
            return;
        }
        let meta = serde_json::to_vec_pretty(&ConsumerMeta {
            config: c.config.clone(),
            created_ns: c.created_ns,
        })
        .unwrap_or_default();
        self.out.ops.push(StorageOp::ConsumerMeta {
            stream: slot,
            name: name.to_owned(),
            meta,
        });
        let state = c.machine.snapshot().encode();
        self.out.ops.push(StorageOp::ConsumerState {
            stream: slot,
            name: name.to_owned(),
            state,
            sync: true,
        });
    }

    fn consumer_info(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        name: &str,
        reply: Option<&Bytes>,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let exists = self.streams[slot as usize]
            .as_ref()
            .expect("live")
            .consumers
            .contains_key(name);
        if !exists {
            return Err(JsApiError::consumer_not_found());
        }
        let payload = self.info_view_bytes(q, slot, name, ResponseType::ConsumerInfo, now);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn consumer_delete(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        name: &str,
        reply: Option<&Bytes>,
    ) -> Result<(), JsApiError> {
        if !self.remove_consumer(q, slot, name) {
            return Err(JsApiError::consumer_not_found());
        }
        let file = self.streams[slot as usize]
            .as_ref()
            .expect("live")
            .is_file();
        self.out.reply_durable(
            file,
            reply,
            Bytes::from(render_success(ResponseType::ConsumerDelete)),
        );
        Ok(())
    }

    /// Removes a consumer (API delete, inactivity); false when there is none of that name.
    pub(super) fn remove_consumer(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        name: &str,
    ) -> bool {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let Some(mut c) = st.consumers.remove(name) else {
            return false;
        };
        st.dirty_since_summary = true;
        if let Some(key) = c.next_sub.take() {
            self.out.unsubscribe(key);
        }
        c.machine.on_delete();
        let mut out = Vec::new();
        c.machine.take_outputs(&mut out);
        let durable_file = st.is_file() && c.config.is_durable();
        if durable_file {
            self.out.ops.push(StorageOp::ConsumerDelete {
                stream: slot,
                name: name.to_owned(),
            });
        }
        self.dispatch(q, slot, name, out);
        self.advise(q, slot, name, Advice::Deleted);
        // Interest retention: what only this consumer held may go now.
        self.sweep_interest(slot);
        true
    }

    /// `$JS.API.CONSUMER.PAUSE`: sets or clears `pause_until` (kept in the consumer's config,
    /// so it survives a restart) and answers with the pause state.
    fn consumer_pause(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        consumer: &str,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let until_ns = jetstream::consumer_api::parse_pause_request(body);
        let st = self.streams[slot as usize].as_mut().expect("live");
        let Some(c) = st.consumers.get_mut(consumer) else {
            return Err(JsApiError::consumer_not_found());
        };
        c.config.pause_until_ns = until_ns;
        c.machine
            .set_params(params_of(&st.config, &c.config, consumer, now));
        self.persist_consumer_meta(slot, consumer);
        self.advise(q, slot, consumer, Advice::Pause { until_ns });
        let payload = jetstream::consumer_api::render_pause_response(until_ns, now.wall_ns);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn consumer_listing(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        api: &ConsumerApi,
        reply: Option<&Bytes>,
        body: &Bytes,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let req = ListRequest::parse(body)?;
        let names: Vec<String> = self.streams[slot as usize]
            .as_ref()
            .expect("live")
            .consumers
            .keys()
            .cloned()
            .collect();
        // BTreeMap keys: already sorted by name, as nats-server lists them.
        let total = names.len() as u64;
        let offset = (req.offset as usize).min(names.len());
        let req_offset = offset as u64;
        let payload = match api {
            ConsumerApi::Names { .. } => {
                let page: Vec<&str> = names[offset..]
                    .iter()
                    .take(NAMES_PAGE)
                    .map(String::as_str)
                    .collect();
                render_consumer_names(&page, total, req_offset)
            }
            _ => {
                let page: Vec<String> = names[offset..].iter().take(LIST_PAGE).cloned().collect();
                self.render_list_from(slot, &page, total, req_offset, now, q)
            }
        };
        self.out.reply_now(reply, payload);
        Ok(())
    }

    fn render_list_from(
        &mut self,
        slot: u32,
        names: &[String],
        total: u64,
        offset: u64,
        now: Clock,
        q: &mut dyn EngineQueries,
    ) -> Vec<u8> {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let store = &st.store;
        let mut rows = Vec::with_capacity(names.len());
        for n in names {
            let c = st.consumers.get_mut(n).expect("listed consumer");
            let push_bound = c.config.is_push()
                && q.has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
            let num_pending = c.machine.num_pending(store);
            let (dc, ds) = c.machine.delivered();
            let (fc, fs) = c.machine.ack_floor();
            rows.push((
                n.as_str(),
                c.created_ns,
                dc,
                ds,
                fc,
                fs,
                c.machine.num_ack_pending(),
                c.machine.num_redelivered(),
                c.machine.num_waiting(),
                num_pending,
                push_bound,
            ));
        }
        let views: Vec<ConsumerInfoView> = rows
            .iter()
            .map(|r| ConsumerInfoView {
                stream_name: &st.config.name,
                name: r.0,
                created_ns: r.1,
                config: &st.consumers[r.0].config,
                delivered: SequenceInfo {
                    consumer_seq: r.2,
                    stream_seq: r.3,
                    last_active_ns: None,
                },
                ack_floor: SequenceInfo {
                    consumer_seq: r.4,
                    stream_seq: r.5,
                    last_active_ns: None,
                },
                num_ack_pending: r.6,
                num_redelivered: r.7,
                num_waiting: r.8,
                num_pending: r.9,
                push_bound: r.10,
                now_ns: now.wall_ns,
            })
            .collect();
        render_consumer_list(&views, total, offset)
    }

    // ----- pull requests, acks, flow control ----------------------------------------------

    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    pub(super) fn on_next(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        d: &InternalDelivery,
        now: Clock,
    ) {
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
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &st.store;
        let Some(c) = st.consumers.get_mut(&name) else {
            return;
        };
        let body = &d.message[d.header_len..];
        if c.config.is_push() {
            let h = crate::consumer::status_block(409, "Consumer is push based", None);
            self.out.publish(&reply, None, h.len(), &Bytes::from(h));
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
                };
                c.machine.on_pull(reply, spec, now.mono_ns, store);
            }
            Err(h) => {
                self.out.publish(&reply, None, h.len(), &Bytes::from(h));
                return;
            }
        }
        self.flush_consumer(q, slot, &name);
    }

    /// A publish to `$JS.ACK.<stream>.…`.
    pub(super) fn on_ack(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        d: &InternalDelivery,
        now: Clock,
    ) {
        let Some(ack) = parse_ack_reply(&d.subject) else {
            return;
        };
        let Some(kind) = AckKind::parse(&d.message[d.header_len..]) else {
            return;
        };
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let file = st.is_file();
        let store = &st.store;
        let Some(c) = st.consumers.get_mut(ack.consumer) else {
            return;
        };
        let is_next = matches!(kind, AckKind::Next { .. });
        c.machine
            .on_ack(&ack, &kind, d.reply.as_ref(), now.mono_ns, store);
        let durable = c.config.is_durable();
        // A double ack (ack with a reply) is confirmed once the state holding it is written.
        let confirm = (!is_next).then(|| d.reply.clone()).flatten();
        if confirm.is_some() && file && durable {
            c.force_persist = true;
        }
        self.flush_consumer(q, slot, ack.consumer);
        if let Some(r) = confirm {
            self.out
                .reply_durable(file && durable, Some(&r), Bytes::new());
        }
    }

    /// A publish to `$JS.FC.<stream>.<consumer>.<token>` (a flow-control reply).
    pub(super) fn on_fc(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        d: &InternalDelivery,
        now: Clock,
    ) {
        let mut tokens = d.subject.split(|&b| b == b'.').skip(3);
        let Some(name) = tokens.next().and_then(|n| std::str::from_utf8(n).ok()) else {
            return;
        };
        let name = name.to_owned();
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &st.store;
        if let Some(c) = st.consumers.get_mut(&name) {
            c.machine
                .on_flow_control_reply(&d.subject, now.mono_ns, store);
            self.flush_consumer(q, slot, &name);
        }
    }

    // ----- delivery ---------------------------------------------------------------------

    /// Lets one consumer deliver what it can now, then carries out its outputs.
    pub(super) fn poll_consumer(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        name: &str,
        now: Clock,
    ) {
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let store = &st.store;
        let Some(c) = st.consumers.get_mut(name) else {
            return;
        };
        let interest = c.config.is_push()
            && q.has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
        if !c.config.is_push() && c.machine.num_waiting() > 0 {
            c.machine.retain_listening(|r| q.has_interest(r));
        }
        c.machine.poll(now.mono_ns, interest, store);
        self.flush_consumer(q, slot, name);
    }

    /// Lets every consumer of a stream deliver (new messages arrived).
    pub(super) fn poll_stream_consumers(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        now: Clock,
    ) {
        let names: Vec<String> = match self.streams.get(slot as usize).and_then(|s| s.as_ref()) {
            Some(st) if !st.consumers.is_empty() => st.consumers.keys().cloned().collect(),
            _ => return,
        };
        for n in names {
            self.poll_consumer(q, slot, &n, now);
        }
    }

    /// Timers of every consumer on this core: redeliveries, pull expiry, heartbeats,
    /// inactivity.
    pub fn handle_tick(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        self.now = now;
        self.expire_due(now);
        for slot in 0..self.streams.len() as u32 {
            let names: Vec<String> = match self.streams[slot as usize].as_ref() {
                Some(st) if !st.consumers.is_empty() => st.consumers.keys().cloned().collect(),
                _ => continue,
            };
            for n in names {
                let st = self.streams[slot as usize].as_mut().expect("live stream");
                let store = &st.store;
                let c = st.consumers.get_mut(&n).expect("listed consumer");
                let interest = c.config.is_push()
                    && q.has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
                if !c.config.is_push() && c.machine.num_waiting() > 0 {
                    c.machine.retain_listening(|r| q.has_interest(r));
                }
                c.machine.tick(now.mono_ns, interest, store);
                let threshold = c.config.inactive_threshold_ns;
                let idle = threshold > 0
                    && c.machine.num_waiting() == 0
                    && !interest
                    && now.mono_ns.saturating_sub(c.machine.last_activity_ns()) >= threshold as u64;
                self.flush_consumer(q, slot, &n);
                if idle {
                    tracing::debug!(stream = slot, consumer = %n, "consumer removed after inactivity");
                    self.remove_consumer(q, slot, &n);
                }
            }
        }
    }

    /// Carries out the outputs a consumer produced.
    fn flush_consumer(&mut self, q: &mut dyn EngineQueries, slot: u32, name: &str) {
        let mut out = std::mem::take(&mut self.scratch_outputs);
        if let Some(c) = self
            .streams
            .get_mut(slot as usize)
            .and_then(|s| s.as_mut())
            .and_then(|st| st.consumers.get_mut(name))
        {
            c.machine.take_outputs(&mut out);
        }
        if !out.is_empty() {
            self.dispatch(q, slot, name, std::mem::take(&mut out));
        }
        self.scratch_outputs = out;
    }

    fn dispatch(&mut self, q: &mut dyn EngineQueries, slot: u32, name: &str, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Deliver {
                    to,
                    subject,
                    ack_reply,
                    headers,
                    payload,
                } => {
                    let (hdr_len, msg) = message_of(&headers, &payload);
                    tracing::trace!(to = ?to, ack = ?ack_reply, "consumer delivery");
                    self.out
                        .publish_as(&to, &subject, &ack_reply, hdr_len, &msg);
                }
                Output::Status { to, headers, reply } => {
                    let len = headers.len();
                    self.out
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
                    self.advise(q, slot, name, advice);
                    self.dead_letter(slot, name, stream_seq, deliveries, "max_deliveries");
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
                    self.advise(q, slot, name, advice);
                    self.dead_letter(slot, name, stream_seq, deliveries, "terminated");
                }
                Output::Done { stream_seq } => self.release(slot, stream_seq),
                Output::AckSampled {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                    ack_time_ns,
                } => self.ack_metric(
                    q,
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
                    self.advise(q, slot, name, advice);
                }
            }
        }
        self.consumers_dirty = true;
    }

    /// Publishes a consumer advisory (only rendered when someone listens).
    fn advise(&mut self, q: &mut dyn EngineQueries, slot: u32, consumer: &str, advice: Advice<'_>) {
        use jetstream::consumer_api::{self as api, ConsumerAdvisory as K};
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
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
        };
        let subject = Bytes::from(api::consumer_advisory_subject(kind, &stream, consumer));
        if !q.has_interest(&subject) {
            return;
        }
        let id = api::new_advisory_id(&mut self.rng);
        let meta = AdvisoryMeta {
            id: &id,
            timestamp_ns: self.now.wall_ns,
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
        };
        self.out.publish(&subject, None, 0, &Bytes::from(body));
    }

    /// Publishes a sampled ack metric, `[consumer_seq, stream_seq, ack_time_ns, deliveries]`
    /// (only rendered when someone listens).
    fn ack_metric(&mut self, q: &mut dyn EngineQueries, slot: u32, consumer: &str, v: [u64; 4]) {
        use jetstream::consumer_api as api;
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let subject = Bytes::from(api::ack_metric_subject(&st.config.name, consumer));
        if !q.has_interest(&subject) {
            return;
        }
        let stream = st.config.name.clone();
        let id = api::new_advisory_id(&mut self.rng);
        let meta = AdvisoryMeta {
            id: &id,
            timestamp_ns: self.now.wall_ns,
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
        self.out.publish(&subject, None, 0, &Bytes::from(body));
    }

    /// The dead-letter extension: republishes a message the consumer gave up on.
    fn dead_letter(&mut self, slot: u32, consumer: &str, seq: u64, deliveries: u64, reason: &str) {
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let Some(c) = st.consumers.get(consumer) else {
            return;
        };
        let target = if c.config.dead_letter_subject.is_empty() {
            match self.cfg.dead_letter.get(&st.config.name) {
                Some(s) => s.clone(),
                None => return,
            }
        } else {
            c.config.dead_letter_subject.clone()
        };
        let Some(msg) = st.store.get(seq) else {
            tracing::warn!(stream = %st.config.name, consumer, seq, "dead letter: message already gone");
            return;
        };
        let headers = dead_letter_headers(
            &msg.headers,
            &st.config.name,
            consumer,
            seq,
            deliveries,
            reason,
        );
        let (hdr_len, body) = message_of(&headers, &msg.payload);
        self.out.publish(&Bytes::from(target), None, hdr_len, &body);
    }

    // ----- retention --------------------------------------------------------------------

    /// A consumer is done with `seq`: workqueue streams drop it, interest streams drop it
    /// once no other consumer still needs it.
    fn release(&mut self, slot: u32, seq: u64) {
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let drop = match st.config.retention {
            RetentionPolicy::Limits => false,
            RetentionPolicy::WorkQueue => true,
            RetentionPolicy::Interest => match st.store.get(seq) {
                Some(m) => !st
                    .consumers
                    .values()
                    .any(|c| c.machine.still_needs(seq, &m.subject)),
                None => false,
            },
        };
        if drop {
            let effects = st.store.remove_acked(seq);
            self.persist(slot, &effects);
        }
    }

    /// Interest retention: a stored message nobody wants (no consumer, or none whose filter
    /// matches) is not kept.
    pub(super) fn retain_for_interest(&mut self, slot: u32, seq: u64, subject: &[u8]) {
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        if st.config.retention != RetentionPolicy::Interest {
            return;
        }
        if !st
            .consumers
            .values()
            .any(|c| c.machine.still_needs(seq, subject))
        {
            let effects = st.store.remove_acked(seq);
            self.persist(slot, &effects);
        }
    }

    /// Interest retention after a consumer left: drops every message no one needs now.
    fn sweep_interest(&mut self, slot: u32) {
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        if st.config.retention != RetentionPolicy::Interest {
            return;
        }
        let unneeded: Vec<u64> = st
            .store
            .range_from(0)
            .filter(|m| {
                !st.consumers
                    .values()
                    .any(|c| c.machine.still_needs(m.seq, &m.subject))
            })
            .map(|m| m.seq)
            .collect();
        for seq in unneeded {
            let st = self.streams[slot as usize].as_mut().expect("live");
            let effects = st.store.remove_acked(seq);
            self.persist(slot, &effects);
        }
    }

    // ----- persistence ------------------------------------------------------------------

    /// Whether a consumer's state is due to be written.
    pub(super) fn consumer_state_due(&self, now: Clock) -> bool {
        if !self.consumers_dirty {
            return false;
        }
        self.streams.iter().flatten().any(|st| {
            st.is_file()
                && st.consumers.values().any(|c| {
                    c.config.is_durable()
                        && (c.force_persist || persist_due(c.last_persist_ns, now))
                })
        })
    }

    /// Queues a state write for every durable consumer whose state changed (rate limited,
    /// except where a double-ack confirmation waits for it).
    pub(super) fn queue_consumer_states(&mut self, now: Clock) {
        if !self.consumers_dirty {
            return;
        }
        let mut still_dirty = false;
        for (slot, st) in self.streams.iter_mut().enumerate() {
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
                self.out.ops.push(StorageOp::ConsumerState {
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
        slot: u32,
        consumers: Vec<RecoveredConsumer>,
        now: Clock,
    ) {
        for rc in consumers {
            let st = self.streams[slot as usize].as_mut().expect("live stream");
            let cfg = rc.meta.config;
            let name = if cfg.name.is_empty() {
                cfg.durable_name.clone()
            } else {
                cfg.name.clone()
            };
            let params = params_of(&st.config, &cfg, &name, now);
            let machine = match &rc.state {
                Some(snap) => Consumer::restore(params, snap, now.mono_ns),
                None => Consumer::new(params, start_of(&st.store, &cfg), now.mono_ns),
            };
            let next_sub = Some(subscribe_next(&mut self.out, &st.config.name, &name, slot));
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
    pub(super) fn drop_all_consumers(&mut self, q: &mut dyn EngineQueries, slot: u32) {
        let names: Vec<String> = match self.streams.get(slot as usize).and_then(|s| s.as_ref()) {
            Some(st) => st.consumers.keys().cloned().collect(),
            None => return,
        };
        for n in names {
            self.remove_consumer(q, slot, &n);
        }
    }

    /// The error reply for a consumer API aimed at a stream that does not exist.
    pub(super) fn consumer_stream_missing(&mut self, rest: &str, reply: Option<&Bytes>) {
        let kind = ConsumerApi::parse(rest)
            .and_then(|a| a.response_type())
            .unwrap_or(ResponseType::ConsumerInfo);
        self.out.api_errors += 1;
        self.out
            .reply_now(reply, render_error(kind, &JsApiError::stream_not_found()));
    }
}
