//! The stream host's side of mirrors and sources: it starts a stream's [`Sourcing`] machine
//! when the stream is installed (created or recovered: sources resume from the newest
//! `Nats-Stream-Source` of each, a mirror from its last sequence), feeds it ticks, consumer
//! create answers and deliveries, stores what it hands back, and shows its state in STREAM.INFO.
//! The machine lives in the stream's `OwnedStream`, on the stream's owner core.

use bytes::Bytes;

use super::sourcing::{self, split_index, Inbound, Sourcing, StoreView};
use super::{retention, Clock, EngineQueries, StreamHost};
use crate::engine::InternalDelivery;
use crate::jetstream::stream_origins::SourceInfo;
use crate::store::stream::PublishOutcome;

impl StreamHost {
    /// Starts the mirror/sources of the stream in `slot`, if it has any.
    pub(super) fn start_sourcing(&mut self, slot: u32) {
        let Some(st) = self.streams[slot as usize].as_mut() else {
            return;
        };
        let cfg = &st.config;
        if cfg.mirror.is_none() && cfg.sources.is_empty() {
            st.origins = None;
            return;
        }
        let probe = Sourcing::new(
            &cfg.name,
            cfg.mirror.as_ref(),
            &cfg.sources,
            &Default::default(),
            "",
            0,
        );
        let resume = match &probe {
            Some(p) if !p.is_mirror() => {
                let store = &st.store;
                let (first, last) = (store.first_seq(), store.last_seq());
                let newest_first = (first..=last)
                    .rev()
                    .filter_map(|seq| store.get(seq))
                    .map(|m| m.headers);
                sourcing::resume_points(&p.index_names(), newest_first)
            }
            _ => Default::default(),
        };
        st.origins = Sourcing::new(
            &cfg.name,
            cfg.mirror.as_ref(),
            &cfg.sources,
            &resume,
            "",
            st.created_ns ^ (u64::from(slot) << 32) ^ st.store.last_seq(),
        )
        .map(Box::new);
    }

    /// Stops the mirror/sources of the stream in `slot` (delete, reconfiguration).
    pub(super) fn stop_sourcing(&mut self, slot: u32) {
        if let Some(mut o) = self.streams[slot as usize]
            .as_mut()
            .and_then(|st| st.origins.take())
        {
            o.stop(&mut self.out);
        }
    }

    fn store_view(&self, slot: u32) -> StoreView {
        self.streams[slot as usize]
            .as_ref()
            .map_or_else(StoreView::default, |st| StoreView {
                last_seq: st.store.last_seq(),
            })
    }

    /// Input (with the consumer ticker): every stream's mirror/sources.
    pub(super) fn tick_sourcing(&mut self, now: Clock, q: &mut dyn EngineQueries) {
        for slot in 0..self.streams.len() as u32 {
            let view = self.store_view(slot);
            let Some(st) = self.streams[slot as usize].as_mut() else {
                continue;
            };
            if let Some(o) = st.origins.as_mut() {
                o.tick(slot, view, now, q, &mut self.out);
            }
        }
    }

    /// Input: the answer to a link's consumer create request.
    pub(super) fn on_source_reply(&mut self, index: u32, d: &InternalDelivery, now: Clock) {
        let (slot, link) = split_index(index);
        let view = self.store_view(slot);
        let Some(st) = self.streams.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(o) = st.origins.as_mut() else { return };
        let body = &d.message[d.header_len..];
        o.on_reply(link, body, view, now, &mut self.out);
    }

    /// Input: a message on a link's delivery subject.
    pub(super) fn on_source_deliver(&mut self, index: u32, d: &InternalDelivery, now: Clock) {
        let (slot, link) = split_index(index);
        let Some(st) = self.streams.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        let Some(o) = st.origins.as_mut() else { return };
        let headers = &d.message[..d.header_len];
        let payload = d.message.slice(d.header_len..);
        let Some(inbound) = o.on_deliver(
            link,
            &d.subject,
            d.reply.as_ref(),
            headers,
            &payload,
            now,
            &mut self.out,
        ) else {
            return;
        };
        let seq_hint = inbound.origin_seq;
        let ok = self.store_inbound(slot, &inbound, now);
        if !ok {
            let st = self.streams[slot as usize].as_mut().expect("live stream");
            if let Some(o) = st.origins.as_mut() {
                o.stored(inbound.link, false, seq_hint, now, &mut self.out);
            }
        }
    }

    /// Stores what a link received; false when the stream refused it (the link starts over).
    fn store_inbound(&mut self, slot: u32, m: &Inbound, now: Clock) -> bool {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        if st.failed.is_some() {
            return false;
        }
        let outcome = match m.at {
            Some((seq, ts)) => st
                .store
                .store_mirrored(&m.subject, &m.headers, &m.payload, seq, ts),
            None => st
                .store
                .publish_sourced(&m.subject, &m.headers, &m.payload, now.wall_ns),
        };
        match outcome {
            Ok(PublishOutcome::Stored { seq, effects }) => {
                self.persist(slot, &effects);
                if self.streams_with_new.last() != Some(&slot) {
                    self.streams_with_new.push(slot);
                }
                let st = self.streams[slot as usize].as_mut().expect("live stream");
                let subject = Bytes::clone(&m.subject);
                retention::retain_for_interest(st, slot, seq, &subject, &mut self.out.ops);
                true
            }
            Ok(PublishOutcome::Duplicate { .. }) => true,
            Err(e) => {
                tracing::warn!(stream = %st.config.name, error = %e, "jetstream: sourced message refused");
                false
            }
        }
    }

    /// The `mirror` and `sources` state of the stream in `slot`, for STREAM.INFO.
    pub(super) fn origins_info(
        &self,
        slot: u32,
        now: Clock,
    ) -> (Option<SourceInfo>, Vec<SourceInfo>) {
        let Some(o) = self.streams[slot as usize]
            .as_ref()
            .and_then(|st| st.origins.as_ref())
        else {
            return (None, Vec::new());
        };
        let mut info = o.info(now);
        if o.is_mirror() {
            (info.pop(), Vec::new())
        } else {
            (None, info)
        }
    }
}
