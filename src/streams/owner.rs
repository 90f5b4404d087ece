//! The owner side of a stream: install (created or recovered) with its subscriptions,
//! captured publishes, direct gets, persistence of changes as storage ops, age expiry and
//! the summaries the catalog gets. The per-stream API is in `owner_api.rs`.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::owner_api::lookup;
use super::{
    limits_of, outbox, persist, retention, state_view, Clock, EngineQueries, JsItem, OwnedStream,
    RecoveredConsumer, StorageOp, StreamHost, StreamMeta, StreamSummary, API_LEVEL, KIND_CAPTURE,
    KIND_DIRECT, META_CORE,
};
use crate::engine::{InternalDelivery, InternalTarget};
use crate::jetstream::{
    self, parse_direct_get, DirectGetError, JsApiError, Paging, ResponseType, StorageType,
    StreamConfig, StreamInfoView,
};
use crate::store::record::Record;
use crate::store::stream::{Effect, PublishOutcome, Stream};

impl StreamHost {
    /// Whether storing `size` more bytes of `storage` would exceed the server-wide limit:
    /// this core's own streams counted exactly, the others as the meta core last reported.
    pub(super) fn over_account_limit(&self, storage: StorageType, size: u64) -> Option<JsApiError> {
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
    pub(super) fn flush_dirty_summaries(&mut self) -> bool {
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

    /// Removes what max_age and per-message TTLs expired (and writes subject delete markers).
    pub(super) fn expire_due(&mut self, now: Clock) {
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

    pub(super) fn create_owned(
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
    pub(super) fn install(&mut self, config: StreamConfig, created_ns: u64, store: Stream) -> u32 {
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
            visible_upto: u64::MAX,
            sent_upto: 0,
            in_flight: None,
            failed: None,
            origins: None,
            schedules: Default::default(),
        };
        if st.is_file() {
            st.visible_upto = st.store.last_seq();
            st.sent_upto = st.store.last_seq();
        }
        for (subject, kind) in st.consumer_subjects() {
            let key = self
                .out
                .subscribe(Bytes::from(subject), InternalTarget { kind, index: slot });
            st.ack_subs.push(key);
        }
        Self::subscribe(&mut self.out, slot, &mut st);
        self.streams[slot as usize] = Some(st);
        self.start_sourcing(slot);
        slot
    }

    pub(super) fn subscribe(out: &mut outbox::Outbox, slot: u32, st: &mut OwnedStream) {
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
        let slot = self.install(meta.config, meta.created_ns, store);
        self.rebuild_schedules(slot, now);
        let st = self.streams[slot as usize]
            .as_mut()
            .expect("just installed");
        self.consumer_host
            .restore_consumers(st, &mut self.out, slot, consumers, now);
        self.send_summary(slot);
        slot
    }

    pub(super) fn meta_bytes(&self, slot: u32) -> Vec<u8> {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        serde_json::to_vec_pretty(&StreamMeta {
            config: st.config.clone(),
            created_ns: st.created_ns,
            owner_core: self.cfg.core_id,
        })
        .unwrap_or_default()
    }

    pub(super) fn send_summary(&mut self, slot: u32) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        st.dirty_since_summary = false;
        let summary = StreamSummary {
            owner: self.cfg.core_id,
            config: st.config.clone(),
            created_ns: st.created_ns,
            state: state_view(st, false),
            failed: st.failed.clone(),
            origins: st.origins.as_ref().map(|o| Box::new(o.summary())),
        };
        self.out
            .send_to(META_CORE, JsItem::Summary(Box::new(summary)));
    }

    pub(super) fn render_info(&self, slot: u32, kind: ResponseType, now: Clock) -> Vec<u8> {
        let st = self.streams[slot as usize].as_ref().expect("live stream");
        let state = state_view(st, false);
        let view = StreamInfoView {
            config: &st.config,
            created_ns: st.created_ns,
            state: &state,
            now_ns: now.wall_ns,
        };
        let (mirror, sources) = self.origins_info(slot, now);
        let origins = jetstream::Origins {
            mirror: mirror.as_ref(),
            sources: &sources,
        };
        match kind {
            ResponseType::StreamCreate => {
                jetstream::render_stream_create_with(&view, &self.server_meta(), origins)
            }
            ResponseType::StreamUpdate => {
                jetstream::render_stream_update_with(&view, &self.server_meta(), origins)
            }
            _ => jetstream::render_stream_info_with(
                &view,
                &self.server_meta(),
                Paging::default(),
                origins,
            ),
        }
    }

    /// Records a change for the catalog summary and queues its records for the storage
    /// task (file streams).
    pub(super) fn persist(&mut self, slot: u32, effects: &[Effect]) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        persist(st, slot, effects, &mut self.out.ops);
    }

    /// Persists a change and answers once it is durable (memory streams: at once).
    pub(super) fn persist_and_reply(
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

    pub(super) fn on_capture(&mut self, slot: u32, d: &InternalDelivery, now: Clock) {
        let Some(st) = self.streams.get_mut(slot as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        let (headers, payload) = d.message.split_at(d.header_len);
        let no_ack = st.config.no_ack;
        let file = st.is_file();
        let storage = st.config.storage;
        if let Some(why) = &st.failed {
            // Stopped (fail-stop): refused at once, as the storage task would.
            if !no_ack {
                let e = JsApiError::stream_store_failed(why.clone());
                let err = jetstream::pub_error(&st.config.name, &e);
                self.out.reply_now_bytes(d.reply.as_ref(), err);
            }
            return;
        }
        if self.limits_enforced() {
            let size = crate::store::stream::stored_msg_bytes(
                d.subject.len(),
                headers.len(),
                payload.len(),
            );
            if let Some(e) = self.over_account_limit(storage, size) {
                if !no_ack {
                    let name = &self.streams[slot as usize]
                        .as_ref()
                        .expect("live")
                        .config
                        .name;
                    let err = jetstream::pub_error(name, &e);
                    self.out.reply_now_bytes(d.reply.as_ref(), err);
                }
                return;
            }
        }
        if let Some(id) = super::batch::batch_id(headers) {
            return self.on_batch_capture(slot, d, id, now);
        }
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let outcome = match super::schedule_host::check_publish(
            &st.config,
            &st.store,
            &d.subject,
            headers,
            now.wall_ns,
        ) {
            Ok(rewritten) => {
                let headers = rewritten.as_deref().unwrap_or(headers);
                st.store
                    .publish(&d.subject, headers, payload, now.wall_ns)
                    .map_err(JsApiError::from)
            }
            Err(e) => Err(e),
        };
        let ack = match outcome {
            Ok(PublishOutcome::Stored { seq, effects }) => {
                self.persist(slot, &effects);
                self.schedule_stored(slot, seq, now);
                if self.streams_with_new.last() != Some(&slot) {
                    self.streams_with_new.push(slot);
                }
                let st = self.streams[slot as usize].as_mut().expect("live stream");
                retention::retain_for_interest(st, slot, seq, &d.subject, &mut self.out.ops);
                let domain = self.cfg.domain.as_deref();
                let name = &st.config.name;
                match st.store.counter_value(seq) {
                    Some(val) => jetstream::pub_ack_counter_in(name, domain, seq, &val),
                    None => jetstream::pub_ack_in(name, domain, seq, false),
                }
            }
            Ok(PublishOutcome::Duplicate { seq }) => {
                let name = &self.streams[slot as usize]
                    .as_ref()
                    .expect("live")
                    .config
                    .name;
                jetstream::pub_ack_in(name, self.cfg.domain.as_deref(), seq, true)
            }
            Err(e) => {
                let name = &self.streams[slot as usize]
                    .as_ref()
                    .expect("live")
                    .config
                    .name;
                jetstream::pub_error(name, &e)
            }
        };
        if !no_ack {
            self.out
                .reply_durable_in(Some(slot), file, d.reply.as_ref(), ack);
        }
    }

    pub(super) fn on_direct_get(&mut self, slot: u32, d: &InternalDelivery) {
        let Some(reply) = d.reply.clone() else { return };
        let Some(st) = self.streams.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let prefix_len = "$JS.API.DIRECT.GET.".len() + st.config.name.len();
        let subject_part = (d.subject.len() > prefix_len + 1)
            .then(|| String::from_utf8_lossy(&d.subject[prefix_len + 1..]).into_owned());
        if jetstream::api_level::refuses_required_level(&d.message[..d.header_len], API_LEVEL) {
            let status = Bytes::from_static(jetstream::api_level::REQUIRED_API_LEVEL_STATUS);
            return self.out.publish(&reply, None, status.len(), &status);
        }
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
}
