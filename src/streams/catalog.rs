//! The stream catalog on the meta core (core 0): name, owner, config and a recent state
//! summary of every stream; it answers the catalog-wide API calls (INFO, NAMES, LIST),
//! places new streams on cores (round-robin), forwards per-stream requests to their owner
//! and tells every core the bytes stored per core (server-wide limits).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::outbox::Outbox;
use super::{Clock, HostConfig, JsItem, StreamSummary, API_LEVEL, META_CORE};
use crate::engine::InternalDelivery;
use crate::jetstream::{
    self, finish_create, prepare_create_head, prepare_update, render_account_info,
    render_stream_list_with, render_stream_names, AccountInfoView, ApiRequest, JsApiError,
    ResponseType, StorageType, StreamConfig, StreamInfoView, StreamListRequest,
};
use crate::subject;

/// The meta core's view of every stream.
#[derive(Default)]
pub(super) struct Catalog {
    /// Every stream by name.
    pub(super) entries: BTreeMap<String, StreamSummary>,
    /// Round-robin placement of new streams.
    next_owner: usize,
    /// API requests seen (account info).
    pub(super) api_total: u64,
    /// The byte counts changed since the last usage broadcast.
    usage_dirty: bool,
}

impl Catalog {
    /// An owner's new view of one of its streams.
    pub(super) fn on_summary(&mut self, summary: StreamSummary) {
        self.entries.insert(summary.config.name.clone(), summary);
        self.usage_dirty = true;
    }

    /// A stream of core `from` is gone.
    pub(super) fn on_removed(&mut self, from: usize, name: &str) {
        if self.entries.get(name).is_some_and(|s| s.owner == from) {
            self.entries.remove(name);
            self.usage_dirty = true;
        }
    }

    /// Meta core: tells every core the bytes stored per core, when they changed and a
    /// server-wide limit is configured.
    pub(super) fn broadcast_usage(
        &mut self,
        cfg: &HostConfig,
        out: &mut Outbox,
    ) -> Option<Vec<(u64, u64)>> {
        if cfg.core_id != META_CORE || !self.usage_dirty || !cfg.limits_enforced() {
            return None;
        }
        self.usage_dirty = false;
        let mut by_core = vec![(0u64, 0u64); cfg.n_cores];
        for s in self.entries.values() {
            let slot = &mut by_core[s.owner % cfg.n_cores];
            match s.config.storage {
                StorageType::Memory => slot.0 += s.state.bytes,
                StorageType::File => slot.1 += s.state.bytes,
            }
        }
        for core in 0..cfg.n_cores {
            if core != cfg.core_id {
                out.send_to(
                    core,
                    JsItem::Usage {
                        by_core: by_core.clone(),
                    },
                );
            }
        }
        Some(by_core)
    }

    /// A `$JS.API` request on the meta core.
    pub(super) fn on_api(
        &mut self,
        host: &HostConfig,
        out: &mut Outbox,
        d: &InternalDelivery,
        now: Clock,
    ) {
        self.api_total += 1;
        let reply = d.reply.as_ref();
        let Some(req) = ApiRequest::parse(&d.subject) else {
            return;
        };
        if jetstream::api_level::refuses_required_level(&d.message[..d.header_len], API_LEVEL) {
            if let Some(kind) = jetstream::api_level::error_response_type(&req) {
                out.api_err(reply, kind, &JsApiError::required_api_level());
            }
            return;
        }
        let body = d.message.slice(d.header_len..);
        match req {
            ApiRequest::AccountInfo => {
                let view = self.account_info(host, out.api_errors);
                out.reply_now(reply, render_account_info(&view));
            }
            ApiRequest::StreamNames | ApiRequest::StreamList => {
                self.on_catalog_list(out, req, reply, &body, now)
            }
            ApiRequest::StreamCreate(name) => {
                let raw = match prepare_create_head(name, &body) {
                    Ok(c) => c,
                    Err(e) => return out.api_err(reply, ResponseType::StreamCreate, &e),
                };
                if let Some(existing) = self.entries.get(name) {
                    // The owner runs every check again (identical ⇒ created, else 10058).
                    let owner = existing.owner;
                    return Self::forward(out, owner, d, body);
                }
                // nats-server 2.15.1's order: the account's stream and consumer counts and
                // its memory reservation before validating the config; the file reservation
                // after it, then subject overlap.
                let memory = raw.storage == StorageType::Memory;
                let early = self
                    .count_error(host, &raw, true)
                    .or_else(|| memory.then(|| self.reservation_error(host, &raw)).flatten());
                let cfg = match early.map_or_else(|| finish_create(raw), Err) {
                    Ok(c) => c,
                    Err(e) => return out.api_err(reply, ResponseType::StreamCreate, &e),
                };
                if let Err(e) = self.cycle_check(&cfg) {
                    return out.api_err(reply, ResponseType::StreamCreate, &e);
                }
                let late = (!memory)
                    .then(|| self.reservation_error(host, &cfg))
                    .flatten();
                if let Some(e) = late.or_else(|| self.overlap_error(&cfg, None)) {
                    return out.api_err(reply, ResponseType::StreamCreate, &e);
                }
                let owner = self.next_owner % host.n_cores;
                self.next_owner += 1;
                self.entries.insert(
                    name.to_string(),
                    StreamSummary {
                        owner,
                        config: cfg.clone(),
                        created_ns: now.wall_ns,
                        state: jetstream::StreamStateView::default(),
                        failed: None,
                        origins: None,
                    },
                );
                out.send_to(
                    owner,
                    JsItem::Create {
                        config: Box::new(cfg),
                        reply: reply.cloned(),
                    },
                );
            }
            ApiRequest::StreamUpdate(name) => {
                let Some(owner) = self.entries.get(name).map(|s| s.owner) else {
                    return out.api_err(
                        reply,
                        ResponseType::StreamUpdate,
                        &JsApiError::stream_not_found(),
                    );
                };
                if let Ok(cfg) = prepare_update(name, &body) {
                    if let Err(e) = self.cycle_check(&cfg) {
                        return out.api_err(reply, ResponseType::StreamUpdate, &e);
                    }
                    if let Some(e) = self.count_error(host, &cfg, false) {
                        return out.api_err(reply, ResponseType::StreamUpdate, &e);
                    }
                    if let Some(e) = self.overlap_error(&cfg, Some(name)) {
                        return out.api_err(reply, ResponseType::StreamUpdate, &e);
                    }
                }
                Self::forward(out, owner, d, body);
            }
            ApiRequest::DirectGet { .. } => {}
            ApiRequest::Consumer(rest) => {
                let stream = jetstream::consumer_api::ConsumerApi::parse(rest)
                    .map(|a| a.stream().to_owned());
                let Some(stream) = stream else { return };
                match self.entries.get(&stream).map(|s| s.owner) {
                    Some(owner) => Self::forward(out, owner, d, body),
                    None => super::consumer_api::consumer_stream_missing(out, rest, reply, &body),
                }
            }
            other => {
                let name = other.stream().unwrap_or_default();
                match self.entries.get(name).map(|s| s.owner) {
                    Some(owner) => Self::forward(out, owner, d, body),
                    None => {
                        let kind = other.response_type().unwrap_or(ResponseType::StreamInfo);
                        out.api_err(reply, kind, &JsApiError::stream_not_found());
                    }
                }
            }
        }
    }

    fn forward(out: &mut Outbox, owner: usize, d: &InternalDelivery, body: Bytes) {
        out.send_to(
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
        self.entries
            .values()
            .filter(|s| s.config.storage == storage && s.config.max_bytes > 0)
            .map(|s| s.config.max_bytes as u64)
            .sum()
    }

    /// A stream whose `max_bytes` reservation does not fit the server-wide limit is refused.
    fn reservation_error(&self, host: &HostConfig, cfg: &StreamConfig) -> Option<JsApiError> {
        // An account granted only the other storage (a limit of 0 for this one).
        match cfg.storage {
            StorageType::Memory if host.counts.no_memory => {
                return Some(JsApiError::memory_resources_exceeded())
            }
            StorageType::File if host.counts.no_file => {
                return Some(JsApiError::storage_resources_exceeded())
            }
            _ => {}
        }
        let limit = match cfg.storage {
            StorageType::Memory => host.max_memory_bytes,
            StorageType::File => host.max_file_bytes,
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

    /// The account's `max_streams` (a new stream only) and `max_consumers` (a stream may not
    /// allow more consumers than the account), in nats-server's order.
    fn count_error(&self, host: &HostConfig, cfg: &StreamConfig, new: bool) -> Option<JsApiError> {
        if let Some(max) = host.counts.max_streams {
            if new && self.entries.len() as i64 >= max {
                return Some(JsApiError::maximum_streams_limit());
            }
        }
        match host.counts.max_consumers {
            Some(max) if cfg.max_consumers > max => Some(JsApiError::maximum_consumers_limit()),
            _ => None,
        }
    }

    /// Sources and mirrors that would lead back to a stream (nats-server's "detected cycle").
    fn cycle_check(&self, cfg: &StreamConfig) -> Result<(), JsApiError> {
        jetstream::stream_origins::check_cycle(cfg, |name| {
            self.entries.get(name).map(|s| &s.config)
        })
    }

    fn overlap_error(&self, cfg: &StreamConfig, except: Option<&str>) -> Option<JsApiError> {
        for (name, other) in &self.entries {
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

    fn account_info(&self, host: &HostConfig, api_errors: u64) -> AccountInfoView {
        let mut view = AccountInfoView {
            memory_bytes: 0,
            storage_bytes: 0,
            reserved_memory_bytes: self.reserved_bytes(StorageType::Memory),
            reserved_storage_bytes: self.reserved_bytes(StorageType::File),
            streams: self.entries.len() as u64,
            consumers: 0,
            domain: None,
            api_level: API_LEVEL,
            api_total: self.api_total,
            api_errors,
            limits: jetstream::AccountLimits {
                max_memory_bytes: host.max_memory_bytes,
                max_storage_bytes: host.max_file_bytes,
                max_streams: host.counts.max_streams.unwrap_or(-1),
                max_consumers: host.counts.max_consumers.unwrap_or(-1),
                max_ack_pending: host.counts.max_ack_pending.unwrap_or(-1),
                memory_max_stream_bytes: -1,
                storage_max_stream_bytes: -1,
                max_bytes_required: false,
            },
        };
        for s in self.entries.values() {
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
        out: &mut Outbox,
        req: ApiRequest<'_>,
        reply: Option<&Bytes>,
        body: &[u8],
        now: Clock,
    ) {
        let kind = req.response_type().unwrap_or(ResponseType::StreamNames);
        let parsed = match StreamListRequest::parse(body) {
            Ok(p) => p,
            Err(e) => return out.api_err(reply, kind, &e),
        };
        let filter = parsed.subject_filter().map(str::to_owned);
        let matching: Vec<&StreamSummary> = self
            .entries
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
            let origins: Vec<_> = matching
                .iter()
                .map(|s| s.origins.as_ref().map(|o| o.at(now.mono_ns)))
                .collect();
            let views: Vec<(StreamInfoView, jetstream::Origins)> = matching
                .iter()
                .zip(&origins)
                .map(|(s, o)| {
                    let view = StreamInfoView {
                        config: &s.config,
                        created_ns: s.created_ns,
                        state: &s.state,
                        now_ns: now.wall_ns,
                    };
                    let origins = o.as_ref().map_or_else(jetstream::Origins::default, |o| {
                        jetstream::Origins {
                            mirror: o.0.as_ref(),
                            sources: &o.1,
                        }
                    });
                    (view, origins)
                })
                .collect();
            render_stream_list_with(&views, parsed.offset)
        };
        out.reply_now(reply, payload);
    }
}
