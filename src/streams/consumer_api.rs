//! The consumer API of the streams this core owns: create (and update), info, names,
//! list, delete and pause, as requests forwarded by the meta core.

use bytes::Bytes;

use super::outbox::Outbox;

use super::{Clock, StorageOp};
use crate::consumer::Consumer;
use crate::jetstream::consumer_api::{
    render_consumer_info, render_consumer_list, render_consumer_names, resolve_action, ConsumerApi,
    ConsumerCreateRequest, ConsumerInfoView, ListRequest, SequenceInfo,
};
use crate::jetstream::consumer_config::{check_workqueue_filters, ConsumerConfig};
use crate::jetstream::consumer_reset::ResetRequest;
use crate::jetstream::{
    self, render_error, render_success, JsApiError, ResponseType, RetentionPolicy,
};
use crate::jetstream::{decode_consumer_body, AckPolicy, ConsumerRequest, DeliverPolicy};

use super::consumer_host::{
    ephemeral_name, params_of, start_of, subscribe_next, Advice, ConsumerHost, ConsumerMeta, Cx,
    HostedConsumer,
};

/// Page size of CONSUMER.NAMES.
const NAMES_PAGE: usize = 1024;
/// Page size of CONSUMER.LIST.
const LIST_PAGE: usize = 256;

impl ConsumerHost {
    fn consumer_err(
        &mut self,
        cx: &mut Cx<'_>,
        reply: Option<&Bytes>,
        kind: ResponseType,
        e: &JsApiError,
    ) {
        cx.out.api_err(reply, kind, e);
    }

    /// A consumer API request for a stream this core owns.
    pub(super) fn on_consumer_api(
        &mut self,
        cx: &mut Cx<'_>,
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
        let consumer = match api {
            ConsumerApi::Info { consumer, .. }
            | ConsumerApi::Delete { consumer, .. }
            | ConsumerApi::Pause { consumer, .. }
            | ConsumerApi::Reset { consumer, .. }
            | ConsumerApi::Unpin { consumer, .. } => consumer,
            _ => "",
        };
        let result = decode_consumer_body(&api, body).and_then(|req| match req {
            ConsumerRequest::Create(req) => self.consumer_create(cx, slot, reply, *req, now),
            ConsumerRequest::Info => self.consumer_info(cx, slot, consumer, reply, now),
            ConsumerRequest::Delete => self.consumer_delete(cx, slot, consumer, reply),
            ConsumerRequest::Pause(until_ns) => {
                self.consumer_pause(cx, slot, consumer, reply, until_ns, now)
            }
            ConsumerRequest::Reset(req) => self.consumer_reset(cx, slot, consumer, reply, req, now),
            ConsumerRequest::Unpin(group) => {
                self.consumer_unpin(cx, slot, consumer, reply, &group, now)
            }
            ConsumerRequest::Listing(req) => self.consumer_listing(cx, slot, &api, reply, req, now),
            ConsumerRequest::MsgNext => Ok(()),
        });
        if let Err(e) = result {
            self.consumer_err(cx, reply, kind, &e);
        }
    }

    pub(super) fn info_view_bytes(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        name: &str,
        kind: ResponseType,
        now: Clock,
    ) -> Vec<u8> {
        let (server_name, version) = (self.server_name.clone(), self.version.clone());
        let st = cx.streams[slot as usize].as_mut().expect("live stream");
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let c = st.consumers.get_mut(name).expect("live consumer");
        c.machine.prune_waiting(now.mono_ns, cx.q);
        let push_bound = c.config.is_push()
            && cx
                .q
                .has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
        let num_pending = c.machine.num_pending(store);
        let (delivered, ack_floor) = c.sequence_infos();
        let pinned = c
            .machine
            .pin()
            .map(|p| (p.id.as_str(), pinned_wall_ns(p, now)));
        let view = ConsumerInfoView {
            stream_name: &st.config.name,
            name,
            created_ns: c.created_ns,
            config: &c.config,
            delivered,
            ack_floor,
            num_ack_pending: c.machine.num_ack_pending(),
            num_redelivered: c.machine.num_redelivered(),
            num_waiting: c.machine.num_waiting(),
            num_pending,
            push_bound,
            now_ns: now.wall_ns,
            pinned,
        };
        let server = jetstream::ServerMeta {
            server_name: &server_name,
            version: &version,
            api_level: super::API_LEVEL,
        };
        render_consumer_info(&view, &server, kind)
    }

    /// The account's `max_ack_pending`: the default of an acking consumer that set none when
    /// lower than the stream's, and a bound on any it sets (nats-server's 10121).
    fn apply_account_ack_pending(
        &self,
        cfg: &mut ConsumerConfig,
        unset: bool,
    ) -> Result<(), JsApiError> {
        let Some(limit) = self.counts.max_ack_pending else {
            return Ok(());
        };
        if unset && cfg.ack_policy != AckPolicy::None && cfg.max_ack_pending > limit {
            cfg.max_ack_pending = limit;
        }
        if cfg.max_ack_pending > limit {
            return Err(JsApiError::consumer_max_pending_ack_excess(limit));
        }
        Ok(())
    }

    pub(super) fn consumer_create(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        reply: Option<&Bytes>,
        req: ConsumerCreateRequest,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = cx.streams[slot as usize].as_mut().expect("live stream");
        let mut cfg = req.config;
        let ack_pending_unset = cfg.max_ack_pending == 0;
        cfg.normalize(&st.config);
        cfg.validate(&st.config)?;
        self.apply_account_ack_pending(&mut cfg, ack_pending_unset)?;
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
            // The stream's limit, or the account's when that is lower (nats-server).
            let max = match (st.config.max_consumers, self.counts.max_consumers) {
                (s, Some(a)) if s <= 0 || a < s => a,
                (s, _) => s,
            };
            if max > 0 && st.consumers.len() as i64 >= max {
                return Err(JsApiError::maximum_consumers_limit());
            }
            let params = params_of(&st.config, &cfg, &name, now);
            let start = start_of(&st.store, st.visible_upto, &cfg);
            let machine = Consumer::new(params, start, now.mono_ns);
            let next_sub = Some(subscribe_next(cx.out, &st.config.name, &name, slot));
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
        self.persist_consumer_meta(cx, slot, &name);
        if create {
            self.advise(cx, slot, &name, Advice::Created);
            let until_ns = cx.streams[slot as usize]
                .as_ref()
                .and_then(|st| st.consumers.get(&name))
                .and_then(|c| c.config.pause_until_ns);
            if until_ns.is_some() {
                self.advise(cx, slot, &name, Advice::Pause { until_ns });
            }
        }
        let payload = self.info_view_bytes(cx, slot, &name, ResponseType::ConsumerCreate, now);
        let file = cx.streams[slot as usize].as_ref().expect("live").is_file();
        cx.out.reply_durable(file, reply, Bytes::from(payload));
        self.poll_consumer(cx, slot, &name, now);
        Ok(())
    }

    pub(super) fn persist_consumer_meta(&mut self, cx: &mut Cx<'_>, slot: u32, name: &str) {
        let st = cx.streams[slot as usize].as_ref().expect("live stream");
        let c = &st.consumers[name];
        if !st.is_file() || !c.config.is_durable() {
            return;
        }
        let meta = serde_json::to_vec_pretty(&ConsumerMeta {
            config: c.config.clone(),
            created_ns: c.created_ns,
        })
        .unwrap_or_default();
        cx.out.ops.push(StorageOp::ConsumerMeta {
            stream: slot,
            name: name.to_owned(),
            meta,
        });
        let state = c.machine.snapshot().encode();
        cx.out.ops.push(StorageOp::ConsumerState {
            stream: slot,
            name: name.to_owned(),
            state,
            sync: true,
        });
    }

    pub(super) fn consumer_info(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        name: &str,
        reply: Option<&Bytes>,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let exists = cx.streams[slot as usize]
            .as_ref()
            .expect("live")
            .consumers
            .contains_key(name);
        if !exists {
            return Err(JsApiError::consumer_not_found());
        }
        let payload = self.info_view_bytes(cx, slot, name, ResponseType::ConsumerInfo, now);
        self.flush_consumer(cx, slot, name);
        cx.out.reply_now(reply, payload);
        Ok(())
    }

    pub(super) fn consumer_delete(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        name: &str,
        reply: Option<&Bytes>,
    ) -> Result<(), JsApiError> {
        if !self.remove_consumer(cx, slot, name) {
            return Err(JsApiError::consumer_not_found());
        }
        let file = cx.streams[slot as usize].as_ref().expect("live").is_file();
        cx.out.reply_durable(
            file,
            reply,
            Bytes::from(render_success(ResponseType::ConsumerDelete)),
        );
        Ok(())
    }

    /// Removes a consumer (API delete, inactivity); false when there is none of that name.
    pub(super) fn remove_consumer(&mut self, cx: &mut Cx<'_>, slot: u32, name: &str) -> bool {
        let st = cx.streams[slot as usize].as_mut().expect("live stream");
        let Some(mut c) = st.consumers.remove(name) else {
            return false;
        };
        st.dirty_since_summary = true;
        if let Some(key) = c.next_sub.take() {
            cx.out.unsubscribe(key);
        }
        c.machine.on_delete();
        let mut out = Vec::new();
        c.machine.take_outputs(&mut out);
        let durable_file = st.is_file() && c.config.is_durable();
        if durable_file {
            cx.out.ops.push(StorageOp::ConsumerDelete {
                stream: slot,
                name: name.to_owned(),
            });
        }
        self.dispatch(cx, slot, name, &mut out);
        self.advise(cx, slot, name, Advice::Deleted);
        // Interest retention: what only this consumer held may go now.
        if let Some(st) = cx.streams[slot as usize].as_mut() {
            super::retention::sweep_interest(st, slot, &mut cx.out.ops);
        }
        true
    }

    /// `$JS.API.CONSUMER.PAUSE`: sets or clears `pause_until` (kept in the consumer's config,
    /// so it survives a restart) and answers with the pause state.
    pub(super) fn consumer_pause(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        consumer: &str,
        reply: Option<&Bytes>,
        until_ns: Option<u64>,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = cx.streams[slot as usize].as_mut().expect("live");
        let Some(c) = st.consumers.get_mut(consumer) else {
            return Err(JsApiError::consumer_not_found());
        };
        c.config.pause_until_ns = until_ns;
        c.machine
            .set_params(params_of(&st.config, &c.config, consumer, now));
        self.persist_consumer_meta(cx, slot, consumer);
        self.advise(cx, slot, consumer, Advice::Pause { until_ns });
        let payload = jetstream::consumer_api::render_pause_response(until_ns, now.wall_ns);
        cx.out.reply_now(reply, payload);
        Ok(())
    }

    /// `$JS.API.CONSUMER.RESET`: moves the consumer to the ack floor, a sequence or (natrix)
    /// the first message at or after a time, if its deliver policy allows it (nats-server's
    /// rules: any sequence for `all`, not below the start for `by_start_sequence` and
    /// `by_start_time`, only the ack floor otherwise), persists the new state and answers with
    /// the consumer's info and `reset_seq`.
    pub(super) fn consumer_reset(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        consumer: &str,
        reply: Option<&Bytes>,
        req: ResetRequest,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = cx.streams[slot as usize].as_mut().expect("live");
        let file = st.is_file();
        let Some(c) = st.consumers.get_mut(consumer) else {
            return Err(JsApiError::consumer_not_found());
        };
        let after_last = st.store.last_seq() + 1;
        let seq_at = |t: u64| st.store.first_seq_at_or_after(t).unwrap_or(after_last);
        let asked = match req.start_time_ns {
            Some(t) => Some(seq_at(t)),
            None => (req.seq > 0).then_some(req.seq),
        };
        let seq = match asked {
            None => c.machine.ack_floor().1 + 1,
            Some(seq) => {
                let refuse = |why: &str| Err(JsApiError::consumer_invalid_reset(why));
                match c.config.deliver_policy {
                    DeliverPolicy::All => seq,
                    DeliverPolicy::ByStartSequence if seq < c.config.opt_start_seq => {
                        return refuse("below start seq")
                    }
                    DeliverPolicy::ByStartSequence => seq,
                    DeliverPolicy::ByStartTime
                        if seq < seq_at(c.config.opt_start_time_ns.unwrap_or(0)) =>
                    {
                        return refuse("below start time")
                    }
                    DeliverPolicy::ByStartTime => seq,
                    _ => return refuse("not allowed"),
                }
            }
        };
        let seq = seq.max(1);
        c.machine.reset(seq);
        if file && c.config.is_durable() {
            c.machine.take_dirty();
            c.last_persist_ns = Some(now.mono_ns);
            cx.out.ops.push(StorageOp::ConsumerState {
                stream: slot,
                name: consumer.to_owned(),
                state: c.machine.snapshot().encode(),
                sync: true,
            });
        }
        // Interest retention: what no consumer needs after the move may go, as nats-server.
        super::retention::sweep_interest(st, slot, &mut cx.out.ops);
        self.flush_consumer(cx, slot, consumer);
        let info = self.info_view_bytes(cx, slot, consumer, ResponseType::ConsumerReset, now);
        let payload = jetstream::consumer_reset::render_reset_response(info, seq);
        cx.out.reply_durable(file, reply, Bytes::from(payload));
        self.poll_consumer(cx, slot, consumer, now);
        Ok(())
    }

    /// `$JS.API.CONSUMER.UNPIN`: the group's pin goes (the unpinned advisory with reason
    /// `admin`), the next pull without an id gets a new one.
    pub(super) fn consumer_unpin(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        consumer: &str,
        reply: Option<&Bytes>,
        group: &str,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = cx.streams[slot as usize].as_mut().expect("live");
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let Some(c) = st.consumers.get_mut(consumer) else {
            return Err(JsApiError::consumer_not_found());
        };
        if !c.config.priority_groups.iter().any(|g| g == group) {
            return Err(JsApiError::consumer_invalid_priority_group());
        }
        c.machine.unpin(group, now.mono_ns, cx.q, store);
        cx.out
            .reply_now(reply, jetstream::consumer_unpin::render_unpin_response());
        self.flush_consumer(cx, slot, consumer);
        Ok(())
    }

    pub(super) fn consumer_listing(
        &mut self,
        cx: &mut Cx<'_>,
        slot: u32,
        api: &ConsumerApi,
        reply: Option<&Bytes>,
        req: ListRequest,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let names: Vec<String> = cx.streams[slot as usize]
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
                self.render_list_from(slot, &page, total, req_offset, now, cx)
            }
        };
        cx.out.reply_now(reply, payload);
        Ok(())
    }

    pub(super) fn render_list_from(
        &mut self,
        slot: u32,
        names: &[String],
        total: u64,
        offset: u64,
        now: Clock,
        cx: &mut Cx<'_>,
    ) -> Vec<u8> {
        let st = cx.streams[slot as usize].as_mut().expect("live stream");
        let store = &super::Visible::new(&st.store, st.visible_upto);
        let mut rows = Vec::with_capacity(names.len());
        for n in names {
            let c = st.consumers.get_mut(n).expect("listed consumer");
            let push_bound = c.config.is_push()
                && cx
                    .q
                    .has_interest(&Bytes::copy_from_slice(c.config.deliver_subject.as_bytes()));
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
                c.machine
                    .pin()
                    .map(|p| (p.id.clone(), pinned_wall_ns(p, now))),
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
                pinned: r.11.as_ref().map(|(id, ts)| (id.as_str(), *ts)),
            })
            .collect();
        render_consumer_list(&views, total, offset)
    }
}

/// The error reply for a consumer API aimed at a stream that does not exist.
/// When a pin was given, on the wall clock (the consumer keeps monotonic time).
fn pinned_wall_ns(pin: &crate::consumer::Pin, now: Clock) -> u64 {
    now.wall_ns
        .saturating_sub(now.mono_ns.saturating_sub(pin.since_ns))
}

pub(super) fn consumer_stream_missing(out: &mut Outbox, rest: &str, reply: Option<&Bytes>) {
    let kind = ConsumerApi::parse(rest)
        .and_then(|a| a.response_type())
        .unwrap_or(ResponseType::ConsumerInfo);
    out.api_errors += 1;
    out.reply_now(reply, render_error(kind, &JsApiError::stream_not_found()));
}
