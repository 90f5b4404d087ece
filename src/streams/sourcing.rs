//! Mirrors and sources: one sans-IO machine per stream with a `mirror` or `sources`, as
//! nats-server runs them (`server/stream.go`: `setupMirrorConsumer`,
//! `trySetupSourceConsumer`, `processInboundMirrorMsg`, `processInboundSourceMsg`).
//!
//! Each origin is a [`Link`]: it asks the origin's JetStream API (`$JS.API`, or the
//! `external.api` prefix of another domain) for an ephemeral push consumer — flow control,
//! 1 s idle heartbeats, `ack_policy: none`, 10 s inactive threshold — delivering to a fresh
//! `$JS.M.<token>` (mirror) / `$JS.S.<token>` (source) subject, or `<external.deliver>.M|S.<token>`,
//! starting after the last origin sequence it holds. It subscribes that subject and the
//! request's reply inbox first and sends the request only once the subscriptions are visible
//! on every core, so neither the answer nor the first message can be lost. Deliveries are
//! checked against the delivery sequence in their ack subject; a gap, a heartbeat naming a
//! later delivery, a failed store, silence for 10 s or no answer for 5 s starts a new
//! consumer from the last stored origin sequence (the old one loses its subscriber and is
//! removed by its inactive threshold). Flow-control requests and stalled heartbeats are
//! answered at once.
//!
//! A mirror stores each message at its origin sequence with its origin time (gaps stay
//! gaps); a source stores it as a new message with `Nats-Stream-Source:
//! <name> <origin seq> <filter> <dest> <origin subject>`, which is also how the stream finds,
//! after a restart, where each source stopped (the newest message carrying its index name).
//!
//! Inputs: [`Sourcing::tick`], [`Sourcing::on_reply`], [`Sourcing::on_deliver`] (with the
//! clock); outputs: subscriptions and publishes into the host's outbox and the messages to
//! store ([`Inbound`]), whose outcome comes back through [`Sourcing::stored`].

use std::collections::BTreeMap;

use bytes::Bytes;

use super::outbox::Outbox;
use super::{Clock, EngineQueries, SubHandle};
use crate::engine::InternalTarget;
use crate::jetstream::stream_origins::{
    get_hash, index_name, OriginConsumerConfig, OriginConsumerRequest, OriginsSummary, SourceInfo,
    Transform,
};
use crate::jetstream::{JsApiError, StreamSource};

/// Internal subscription kind: a link's consumer-create reply inbox (index: [`target_index`]).
pub const KIND_SRC_REPLY: u32 = 40;
/// Internal subscription kind: a link's delivery subject (index: [`target_index`]).
pub const KIND_SRC_DELIVER: u32 = 41;

const SEC: u64 = 1_000_000_000;
/// The consumer's idle heartbeat (nats-server's `sourceHealthHB`).
const HEARTBEAT_NS: u64 = SEC;
/// Silence after which a link starts over, and the consumer's inactive threshold
/// (`sourceHealthCheckInterval`).
const HEALTH_NS: u64 = 10 * SEC;
/// Least time between two consumer requests of a link (`sourceConsumerRetryThreshold`).
const RETRY_THRESHOLD_NS: u64 = 2 * SEC;
/// How long a consumer request may go unanswered.
const REQUEST_TIMEOUT_NS: u64 = 5 * SEC;
/// Longest back-off after repeated failures.
const MAX_BACKOFF_NS: u64 = 30 * SEC;
/// The consumer's ack wait (unused with `ack_policy: none`, as nats-server sends it).
const ACK_WAIT_NS: u64 = 22 * 3600 * SEC;

/// Links per stream an internal subscription index can name.
const MAX_LINKS: u32 = 256;

/// The internal subscription index of link `link` of the stream in `slot`.
pub fn target_index(slot: u32, link: usize) -> u32 {
    debug_assert!((link as u32) < MAX_LINKS);
    slot * MAX_LINKS + link as u32
}

/// (slot, link) of an internal subscription index.
pub fn split_index(index: u32) -> (u32, usize) {
    (index / MAX_LINKS, (index % MAX_LINKS) as usize)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting to (re)start at this monotonic time.
    Idle { at_ns: u64 },
    /// Subscribed; the interest sequence to wait for once known.
    Subscribing { seq: Option<u64> },
    /// Consumer requested; no answer yet.
    Requested { deadline_ns: u64 },
    /// Consumer running.
    Active,
}

/// One origin (the mirror's, or one source).
#[derive(Debug)]
struct Link {
    origin: StreamSource,
    iname: String,
    transforms: Vec<Transform>,
    phase: Phase,
    subs: Vec<SubHandle>,
    deliver: String,
    reply: String,
    cname: String,
    /// Last origin sequence stored (or skipped).
    sseq: u64,
    /// Last delivery sequence of the current consumer.
    dseq: u64,
    lag: u64,
    last_seen_ns: Option<u64>,
    last_req_ns: Option<u64>,
    fails: u32,
    err: Option<JsApiError>,
}

/// A message a link wants stored.
#[derive(Debug)]
pub(crate) struct Inbound {
    /// Which link.
    pub(crate) link: usize,
    /// Subject to store it under (transformed).
    pub(crate) subject: Bytes,
    /// Header block (possibly rewritten) or empty.
    pub(crate) headers: Bytes,
    /// Payload.
    pub(crate) payload: Bytes,
    /// Mirror: the origin sequence and time to store it at.
    pub(crate) at: Option<(u64, u64)>,
    /// The origin sequence (where a link starts over when storing it fails).
    pub(crate) origin_seq: u64,
}

/// The mirror/source machine of one stream.
#[derive(Debug)]
pub(crate) struct Sourcing {
    mirror: bool,
    stream: String,
    /// This server's JetStream domain (consumer metadata).
    domain: String,
    links: Vec<Link>,
    rng: u64,
}

/// What the stream holds, for a link (re)starting.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreView {
    /// The stream's last sequence.
    pub(crate) last_seq: u64,
}

impl Sourcing {
    /// The machine for `name`'s `mirror` or `sources`, or `None` when it has neither.
    /// `resume` gives each source's last stored origin sequence by index name (the scan of
    /// `Nats-Stream-Source` headers); `seed` varies the tokens (the wall clock).
    pub(crate) fn new(
        name: &str,
        mirror: Option<&StreamSource>,
        sources: &[StreamSource],
        resume: &BTreeMap<String, u64>,
        domain: &str,
        seed: u64,
    ) -> Option<Sourcing> {
        let origins: Vec<&StreamSource> = match mirror {
            Some(m) => vec![m],
            None => sources.iter().collect(),
        };
        if origins.is_empty() {
            return None;
        }
        let links = origins
            .into_iter()
            .take(MAX_LINKS as usize)
            .map(|o| {
                let iname = index_name(o);
                let transforms = o
                    .subject_transforms
                    .iter()
                    .map(|t| Transform::new(&t.src, &t.dest))
                    .collect();
                Link {
                    origin: o.clone(),
                    sseq: resume.get(&iname).copied().unwrap_or(0),
                    iname,
                    transforms,
                    phase: Phase::Idle { at_ns: 0 },
                    subs: Vec::new(),
                    deliver: String::new(),
                    reply: String::new(),
                    cname: String::new(),
                    dseq: 0,
                    lag: 0,
                    last_seen_ns: None,
                    last_req_ns: None,
                    fails: 0,
                    err: None,
                }
            })
            .collect();
        Some(Sourcing {
            mirror: mirror.is_some(),
            stream: name.to_owned(),
            domain: domain.to_owned(),
            links,
            rng: seed | 1,
        })
    }

    /// The index names of the links (sources: what the resume scan looks for).
    pub(crate) fn index_names(&self) -> Vec<String> {
        self.links.iter().map(|l| l.iname.clone()).collect()
    }

    /// Whether this is a mirror.
    pub(crate) fn is_mirror(&self) -> bool {
        self.mirror
    }

    fn token(&mut self) -> String {
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut s = String::with_capacity(10);
        for _ in 0..10 {
            // xorshift64
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            s.push(DIGITS[(self.rng % 62) as usize] as char);
        }
        s
    }

    /// Stops every link (stream deleted or reconfigured): its subscriptions go, and with
    /// them the origin's consumers (inactive threshold).
    pub(crate) fn stop(&mut self, out: &mut Outbox) {
        for l in &mut self.links {
            for h in l.subs.drain(..) {
                out.unsubscribe(h);
            }
            l.phase = Phase::Idle { at_ns: u64::MAX };
        }
    }

    /// Input: time passes (the consumer ticker, every few ms): starts links that are due,
    /// sends requests once their subscriptions are visible, and restarts timed-out, silent
    /// ones.
    pub(crate) fn tick(
        &mut self,
        slot: u32,
        store: StoreView,
        now: Clock,
        q: &mut dyn EngineQueries,
        out: &mut Outbox,
    ) {
        for i in 0..self.links.len() {
            match self.links[i].phase {
                Phase::Idle { at_ns } if now.mono_ns >= at_ns => {
                    self.subscribe_link(slot, i, now, out)
                }
                Phase::Subscribing { seq: None } => {
                    self.links[i].phase = Phase::Subscribing {
                        seq: Some(q.interest_seq()),
                    };
                }
                Phase::Subscribing { seq: Some(seq) } if q.interest_visible(seq) => {
                    self.request(i, store, now, out)
                }
                Phase::Requested { deadline_ns } if now.mono_ns >= deadline_ns => {
                    let e = format!("consumer request for stream {} timed out", self.stream);
                    self.fail(i, Some(self.setup_error(e)), now, out);
                }
                Phase::Active
                    if self.links[i]
                        .last_seen_ns
                        .is_none_or(|t| now.mono_ns.saturating_sub(t) > HEALTH_NS) =>
                {
                    self.retry(i, now, out)
                }
                _ => {}
            }
        }
    }

    fn setup_error(&self, text: String) -> JsApiError {
        if self.mirror {
            JsApiError::mirror_consumer_setup_failed(text)
        } else {
            JsApiError::source_consumer_setup_failed(text)
        }
    }

    fn subscribe_link(&mut self, slot: u32, i: usize, _now: Clock, out: &mut Outbox) {
        let token = self.token();
        let kind = if self.mirror { "M" } else { "S" };
        let l = &mut self.links[i];
        for h in l.subs.drain(..) {
            out.unsubscribe(h);
        }
        let deliver = match l.origin.external.as_ref().filter(|e| !e.deliver.is_empty()) {
            Some(e) => format!("{}.{kind}.{token}", e.deliver).replace("..", "."),
            None => format!("$JS.{kind}.{token}"),
        };
        l.reply = format!("$JSC.R.{token}");
        for (subject, kind) in [
            (l.reply.clone(), KIND_SRC_REPLY),
            (deliver.clone(), KIND_SRC_DELIVER),
        ] {
            let h = out.subscribe(
                Bytes::from(subject),
                InternalTarget {
                    kind,
                    index: target_index(slot, i),
                },
            );
            l.subs.push(h);
        }
        l.deliver = deliver;
        l.cname.clear();
        l.phase = Phase::Subscribing { seq: None };
    }

    /// The consumer create request of link `i` (nats-server's, see the module docs).
    fn request(&mut self, i: usize, store: StoreView, now: Clock, out: &mut Outbox) {
        let token = self.token();
        let mirror = self.mirror;
        let prefix = if mirror { "JS_MIRROR" } else { "JS_SRC" };
        let id = get_hash(&format!("{}{}", self.stream, self.links[i].iname));
        let name = format!("{prefix}_{id}_{token}");
        let mut metadata = BTreeMap::new();
        let k = if mirror { "_nats.mirror" } else { "_nats.src" };
        metadata.insert(format!("{k}.stream"), self.stream.clone());
        metadata.insert(format!("{k}.acc"), "$G".to_owned());
        if !self.domain.is_empty() {
            metadata.insert(format!("{k}.domain"), self.domain.clone());
        }
        let l = &mut self.links[i];
        let o = &l.origin;
        let (mut policy, mut start_seq, mut start_time) = ("all", 0, None);
        let resume_from = if mirror { store.last_seq } else { l.sseq };
        if resume_from > 0 {
            (policy, start_seq) = ("by_start_sequence", resume_from + 1);
        } else if o.opt_start_seq > 0 {
            (policy, start_seq) = ("by_start_sequence", o.opt_start_seq);
        } else if let Some(t) = &o.opt_start_time {
            policy = "by_start_time";
            start_time = Some(t.clone());
        }
        let mut filter_subject = o.filter_subject.clone();
        let mut filter_subjects: Vec<String> =
            o.subject_transforms.iter().map(|t| t.src.clone()).collect();
        if filter_subject.is_empty() && filter_subjects.len() == 1 {
            filter_subject = filter_subjects.remove(0);
        }
        let api = o
            .external
            .as_ref()
            .map_or("$JS.API".to_owned(), |e| e.api.clone());
        let subject = if filter_subject.is_empty() {
            format!("{api}.CONSUMER.CREATE.{}.{name}", o.name)
        } else {
            format!("{api}.CONSUMER.CREATE.{}.{name}.{filter_subject}", o.name)
        }
        .replace("..", ".");
        let req = OriginConsumerRequest {
            stream: o.name.clone(),
            config: OriginConsumerConfig {
                name,
                deliver_subject: l.deliver.clone(),
                deliver_policy: policy,
                opt_start_seq: start_seq,
                opt_start_time: start_time,
                ack_policy: "none",
                ack_wait: ACK_WAIT_NS,
                max_deliver: 1,
                filter_subject,
                filter_subjects,
                replay_policy: "instant",
                idle_heartbeat: HEARTBEAT_NS,
                flow_control: true,
                direct: true,
                inactive_threshold: HEALTH_NS,
                metadata,
            },
        };
        let body = Bytes::from(serde_json::to_vec(&req).unwrap_or_default());
        // A consumer may deliver before its create answer arrives (natrix does): its
        // messages are taken from the moment it is asked for, by name.
        l.cname = req.config.name.clone();
        l.dseq = 0;
        let reply = Bytes::from(l.reply.clone());
        out.publish(&Bytes::from(subject), Some(&reply), 0, &body);
        l.last_req_ns = Some(now.mono_ns);
        l.phase = Phase::Requested {
            deadline_ns: now.mono_ns + REQUEST_TIMEOUT_NS,
        };
    }

    /// Input: the answer to link `link`'s consumer request. `store` is the stream as it is.
    pub(crate) fn on_reply(
        &mut self,
        link: usize,
        body: &[u8],
        store: StoreView,
        now: Clock,
        out: &mut Outbox,
    ) {
        #[derive(serde::Deserialize)]
        struct Delivered {
            #[serde(default)]
            stream_seq: u64,
        }
        #[derive(serde::Deserialize)]
        struct Resp {
            #[serde(default)]
            error: Option<JsApiError>,
            #[serde(default)]
            name: String,
            #[serde(default)]
            delivered: Option<Delivered>,
        }
        let Some(l) = self.links.get(link) else {
            return;
        };
        if !matches!(l.phase, Phase::Requested { .. }) {
            return;
        }
        let resp: Resp = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                let err = self.setup_error(format!("invalid consumer create response: {e}"));
                self.fail(link, Some(err), now, out);
                return;
            }
        };
        if let Some(e) = resp.error {
            tracing::warn!(stream = %self.stream, origin = %l.origin.name, error = %e, "jetstream: source consumer refused");
            self.fail(link, Some(e), now, out);
            return;
        }
        let delivered = resp.delivered.map_or(0, |d| d.stream_seq);
        let mirror = self.mirror;
        if resp.name != self.links[link].cname {
            let text = format!(
                "consumer {} answered for {}",
                resp.name, self.links[link].cname
            );
            let err = self.setup_error(text);
            self.fail(link, Some(err), now, out);
            return;
        }
        let l = &mut self.links[link];
        l.err = None;
        l.fails = 0;
        l.last_seen_ns = Some(now.mono_ns);
        l.phase = Phase::Active;
        // Where the consumer starts, unless it already delivered.
        if l.dseq == 0 {
            let held = if mirror { store.last_seq } else { l.sseq };
            l.sseq = held.max(delivered);
        }
    }

    /// Input: a message on link `link`'s delivery subject. Returns what to store, if any.
    #[allow(clippy::too_many_arguments)] // one delivery's parts, the clock and the outbox
    pub(crate) fn on_deliver(
        &mut self,
        link: usize,
        subject: &Bytes,
        reply: Option<&Bytes>,
        headers: &[u8],
        payload: &Bytes,
        now: Clock,
        out: &mut Outbox,
    ) -> Option<Inbound> {
        let l = self.links.get_mut(link)?;
        if !matches!(l.phase, Phase::Active | Phase::Requested { .. }) {
            return None;
        }
        if payload.is_empty() && headers.starts_with(b"NATS/1.0 100 ") {
            l.last_seen_ns = Some(now.mono_ns);
            if let Some(fc) = reply {
                let hdr = format!(
                    "NATS/1.0\r\nNats-Last-Consumer: {}\r\nNats-Last-Stream: {}\r\n\r\n",
                    l.dseq, l.sseq
                );
                let len = hdr.len();
                out.publish(fc, None, len, &Bytes::from(hdr));
                return None;
            }
            let last = header(headers, b"Nats-Last-Consumer").and_then(parse_u64);
            if last.is_some_and(|d| d > 0 && d != l.dseq) {
                self.retry(link, now, out);
            } else if let Some(stalled) = header(headers, b"Nats-Consumer-Stalled") {
                out.publish(&Bytes::copy_from_slice(stalled), None, 0, &Bytes::new());
            }
            return None;
        }
        let ack = parse_ack(reply.map_or(&b""[..], |r| &r[..]))?;
        if ack.consumer != l.cname.as_bytes() || ack.delivered > 1 {
            return None;
        }
        l.last_seen_ns = Some(now.mono_ns);
        let mirror = self.mirror;
        if ack.stream_seq <= l.sseq {
            if ack.consumer_seq == l.dseq + 1 {
                l.dseq += 1;
            }
            return None;
        }
        if ack.consumer_seq != l.dseq + 1 {
            // Missed a delivery: start over after what is stored.
            self.retry(link, now, out);
            return None;
        }
        l.dseq += 1;
        l.sseq = ack.stream_seq;
        l.lag = ack.pending.saturating_sub(1);
        let origin_subject = subject.clone();
        let subject = l
            .transforms
            .iter()
            .find_map(|t| t.apply(std::str::from_utf8(subject).ok()?))
            .map_or_else(|| subject.clone(), Bytes::from);
        let mut hdr = strip_headers(headers, mirror);
        let at = if mirror {
            Some((ack.stream_seq, ack.ts_ns))
        } else {
            let parts: Vec<&str> = l.iname.splitn(3, ' ').collect();
            let value = format!(
                "{} {} {} {} {}",
                parts[0],
                ack.stream_seq,
                parts.get(1).unwrap_or(&">"),
                parts.get(2).unwrap_or(&">"),
                String::from_utf8_lossy(&origin_subject),
            );
            add_header(&mut hdr, "Nats-Stream-Source", &value);
            None
        };
        Some(Inbound {
            link,
            subject,
            headers: Bytes::from(hdr),
            payload: payload.clone(),
            at,
            origin_seq: ack.stream_seq,
        })
    }

    /// Input: storing a link's message failed (not a duplicate): start over after the last
    /// origin sequence actually stored (`stored_upto`: the mirror's last sequence; for a
    /// source, the sequence before the failed one).
    pub(crate) fn stored(
        &mut self,
        link: usize,
        ok: bool,
        failed_seq: u64,
        now: Clock,
        out: &mut Outbox,
    ) {
        if ok {
            return;
        }
        if let Some(l) = self.links.get_mut(link) {
            l.sseq = failed_seq.saturating_sub(1);
        }
        self.retry(link, now, out);
    }

    /// The mirror's last stored sequence moved (a mirror restarting uses the store's).
    fn retry(&mut self, i: usize, now: Clock, out: &mut Outbox) {
        self.fail(i, None, now, out)
    }

    fn fail(&mut self, i: usize, err: Option<JsApiError>, now: Clock, out: &mut Outbox) {
        let jitter = 100_000_000 + self.rng % 100_000_000;
        let l = &mut self.links[i];
        for h in l.subs.drain(..) {
            out.unsubscribe(h);
        }
        if err.is_some() {
            l.fails += 1;
            l.err = err;
        }
        l.cname.clear();
        l.dseq = 0;
        let earliest = l
            .last_req_ns
            .map_or(0, |t| t.saturating_add(RETRY_THRESHOLD_NS));
        let backoff = (u64::from(l.fails) * SEC).min(MAX_BACKOFF_NS);
        l.phase = Phase::Idle {
            at_ns: earliest.max(now.mono_ns) + backoff + jitter,
        };
    }

    /// The `mirror` / `sources` state for a summary to the catalog (STREAM.LIST).
    pub(crate) fn summary(&self) -> OriginsSummary {
        let mut infos = self.info(Clock::default());
        for i in infos.iter_mut() {
            i.active = -1;
        }
        OriginsSummary {
            mirror: self.mirror,
            infos,
            last_seen_mono_ns: self.links.iter().map(|l| l.last_seen_ns).collect(),
        }
    }

    /// The `mirror` / `sources` state for STREAM.INFO.
    pub(crate) fn info(&self, now: Clock) -> Vec<SourceInfo> {
        self.links
            .iter()
            .map(|l| SourceInfo {
                name: l.origin.name.clone(),
                external: l.origin.external.clone(),
                lag: l.lag,
                active: l
                    .last_seen_ns
                    .map_or(-1, |t| now.mono_ns.saturating_sub(t) as i64),
                error: l.err.clone(),
                filter_subject: l.origin.filter_subject.clone(),
                subject_transforms: l.origin.subject_transforms.clone(),
                seq: l.sseq,
            })
            .collect()
    }
}

/// The numbers of an ack subject (v1, 9 tokens, or v2 with domain and account hash).
struct Ack<'a> {
    consumer: &'a [u8],
    delivered: u64,
    stream_seq: u64,
    consumer_seq: u64,
    ts_ns: u64,
    pending: u64,
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

fn parse_ack(reply: &[u8]) -> Option<Ack<'_>> {
    let t: Vec<&[u8]> = reply.split(|&b| b == b'.').collect();
    if t.len() < 2 || t[0] != b"$JS" || t[1] != b"ACK" {
        return None;
    }
    let o = match t.len() {
        9 => 2,
        n if n >= 11 => 4,
        _ => return None,
    };
    Some(Ack {
        consumer: t[o + 1],
        delivered: parse_u64(t[o + 2])?,
        stream_seq: parse_u64(t[o + 3])?,
        consumer_seq: parse_u64(t[o + 4])?,
        ts_ns: parse_u64(t[o + 5])?,
        pending: parse_u64(t[o + 6])?,
    })
}

/// The value of header `name` (case-insensitive) in a header block.
pub(crate) fn header<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    block.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (k, v) = line.split_at(colon);
        k.eq_ignore_ascii_case(name).then(|| v[1..].trim_ascii())
    })
}

/// The header block without `Nats-Expected-*`, `Nats-Batch-*` (and, for a source, an
/// older `Nats-Stream-Source`, replaced by ours); empty when nothing is left and it had
/// no status line worth keeping.
fn strip_headers(block: &[u8], mirror: bool) -> Vec<u8> {
    if block.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(block.len() + 64);
    let mut lines = block.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    out.extend_from_slice(first);
    out.push(b'\n');
    for line in lines {
        let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
        if trimmed.is_empty() {
            continue;
        }
        let name = trimmed.split(|&b| b == b':').next().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(b"nats-expected-")
            || lower.starts_with(b"nats-batch-")
            || (!mirror && lower == b"nats-stream-source")
        {
            continue;
        }
        out.extend_from_slice(trimmed);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Adds `name: value` to a header block (creating `NATS/1.0` if empty).
fn add_header(block: &mut Vec<u8>, name: &str, value: &str) {
    if block.is_empty() {
        block.extend_from_slice(b"NATS/1.0\r\n\r\n");
    }
    let at = block.len() - 2;
    let line = format!("{name}: {value}\r\n");
    block.splice(at..at, line.bytes());
}

/// Where each source stopped: walks `newest_first` (header blocks of the stream's messages,
/// newest first) for `Nats-Stream-Source` values naming one of `inames`, and returns the
/// origin sequence of the newest per index name.
pub fn resume_points(
    inames: &[String],
    newest_first: impl Iterator<Item = impl AsRef<[u8]>>,
) -> BTreeMap<String, u64> {
    let mut found = BTreeMap::new();
    for hdr in newest_first {
        let hdr = hdr.as_ref();
        if found.len() == inames.len() {
            break;
        }
        let Some(v) = header(hdr, b"Nats-Stream-Source") else {
            continue;
        };
        let v = String::from_utf8_lossy(v);
        let f: Vec<&str> = v.split(' ').collect();
        if f.len() < 4 {
            continue;
        }
        let iname = format!("{} {} {}", f[0], f[2], f[3]);
        if inames.contains(&iname) && !found.contains_key(&iname) {
            if let Ok(seq) = f[1].parse() {
                found.insert(iname, seq);
            }
        }
    }
    found
}

#[cfg(test)]
#[path = "sourcing_tests.rs"]
mod tests;
