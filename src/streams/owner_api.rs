//! The per-stream API on the stream's owner (forwarded by the meta core): create (the
//! idempotent repeat), update, info, delete, purge, message get and delete, and the
//! consumer API's entry.

use bytes::Bytes;

use super::{
    consumer_api, limits_of, state_view, Clock, EngineQueries, JsItem, StorageOp, StreamHost,
    META_CORE,
};
use crate::jetstream::{
    self, render_msg_get, render_purge, render_success, ApiRequest, JsApiError, MsgDeleteRequest,
    MsgQuery, Paging, ResponseType, StoredMessageView, StreamConfig, StreamInfoRequest,
    StreamInfoView, StreamPurgeRequest,
};
use crate::store::{StoredMsg, Stream};

use crate::jetstream::{MsgGetQuery, StreamRequest};

impl StreamHost {
    pub(super) fn on_owner_request(
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
                None => consumer_api::consumer_stream_missing(&mut self.out, rest, reply, body),
            };
        }
        let kind = req.response_type().unwrap_or(ResponseType::StreamInfo);
        let name = req.stream().unwrap_or_default().to_string();
        let Some(&slot) = self.by_name.get(&name) else {
            return self
                .out
                .api_err(reply, kind, &JsApiError::stream_not_found());
        };
        let Some(decoded) = req.decode_stream_body(body) else {
            return;
        };
        let result: Result<(), JsApiError> = decoded.and_then(|op| match op {
            StreamRequest::Create(cfg) => self.owner_recreate(slot, reply, *cfg, now),
            StreamRequest::Update(cfg) => self.owner_update(slot, reply, *cfg, now),
            StreamRequest::Info(r) => self.owner_info(slot, reply, r, now),
            StreamRequest::Delete => {
                self.owner_delete(q, slot, reply, now);
                Ok(())
            }
            StreamRequest::Purge(r) => self.owner_purge(slot, reply, r),
            StreamRequest::MsgGet(r) => self.owner_msg_get(slot, reply, r),
            StreamRequest::MsgDelete(r) => self.owner_msg_delete(slot, reply, r),
        });
        if let Err(e) = result {
            self.out.api_err(reply, kind, &e);
        }
    }

    pub(super) fn owner_recreate(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        cfg: StreamConfig,
        now: Clock,
    ) -> Result<(), JsApiError> {
        if cfg != self.streams[slot as usize].as_ref().expect("live").config {
            return Err(JsApiError::stream_name_exists());
        }
        let payload = self.render_info(slot, ResponseType::StreamCreate, now);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    pub(super) fn owner_update(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        cfg: StreamConfig,
        now: Clock,
    ) -> Result<(), JsApiError> {
        let st = self.streams[slot as usize].as_mut().expect("live");
        let mut cfg = cfg;
        StreamConfig::validate_update(&st.config, &mut cfg)?;
        let resubscribe =
            cfg.subjects != st.config.subjects || cfg.allow_direct != st.config.allow_direct;
        let effects = st.store.set_limits(limits_of(&cfg));
        let restart_origins = cfg.sources != st.config.sources;
        let schedules_enabled = cfg.allow_msg_schedules && !st.config.allow_msg_schedules;
        if !cfg.allow_atomic {
            // nats-server drops the open batches when atomic publish is turned off.
            self.batches.drop_stream(slot);
        }
        st.config = cfg;
        if schedules_enabled {
            self.rebuild_schedules(slot, now);
        }
        let st = self.streams[slot as usize].as_mut().expect("live");
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
        if restart_origins {
            self.stop_sourcing(slot);
            self.start_sourcing(slot);
        }
        self.send_summary(slot);
        Ok(())
    }

    pub(super) fn owner_info(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        req: StreamInfoRequest,
        now: Clock,
    ) -> Result<(), JsApiError> {
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
            state.subjects = page;
            paging = p;
        }
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
        let payload =
            jetstream::render_stream_info_with(&view, &self.server_meta(), paging, origins);
        self.out.reply_now(reply, payload);
        Ok(())
    }

    pub(super) fn owner_delete(
        &mut self,
        q: &mut dyn EngineQueries,
        slot: u32,
        reply: Option<&Bytes>,
        now: Clock,
    ) {
        {
            let (ch, mut cx) = self.consumers_cx(q, now);
            ch.drop_all_consumers(&mut cx, slot);
        }
        self.batches.drop_stream(slot);
        self.stop_sourcing(slot);
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

    pub(super) fn owner_purge(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        req: StreamPurgeRequest,
    ) -> Result<(), JsApiError> {
        let st = self.streams[slot as usize].as_mut().expect("live");
        let (purged, effects) = st
            .store
            .purge(
                req.filter().map(str::as_bytes),
                (req.seq > 0).then_some(req.seq),
                (req.keep > 0).then_some(req.keep),
            )
            .map_err(JsApiError::from)?;
        self.persist_and_reply(slot, &effects, reply, Bytes::from(render_purge(purged)));
        Ok(())
    }

    pub(super) fn owner_msg_get(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        q: MsgGetQuery,
    ) -> Result<(), JsApiError> {
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

    pub(super) fn owner_msg_delete(
        &mut self,
        slot: u32,
        reply: Option<&Bytes>,
        req: MsgDeleteRequest,
    ) -> Result<(), JsApiError> {
        let st = self.streams[slot as usize].as_mut().expect("live");
        let effects = st.store.delete_msg(req.seq).map_err(JsApiError::from)?;
        let payload = Bytes::from(render_success(ResponseType::StreamMsgDelete));
        self.persist_and_reply(slot, &effects, reply, payload);
        Ok(())
    }
}

/// The stored message a MSG.GET / DIRECT.GET query selects.
pub(super) fn lookup(store: &Stream, q: &MsgQuery) -> Option<StoredMsg> {
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
