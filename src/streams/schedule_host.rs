//! The owner's side of message schedules: the publish-time checks of the schedule headers
//! (nats-server's `processJetStreamMsg`, in its order and with its error codes), the hook
//! every stored message passes ([`StreamHost::schedule_stored`]), firing due schedules on
//! the tick, and rebuilding a stream's schedules from its messages (restore, enabling).

use bytes::Bytes;

use super::schedule::{self, BadSchedule, Fire, Schedules};
use super::{retention, Clock, StreamHost};
use crate::jetstream::{JsApiError, StreamConfig};
use crate::store::headers;
use crate::store::stream::{Effect, PublishOutcome, Stream};
use crate::subject::{is_valid_publish_subject, subjects_overlap};

/// Whether a header block may hold schedule headers at all (one scan; plain publishes skip
/// the checks).
fn mentions_schedules(h: &[u8]) -> bool {
    h.windows(10).any(|w| w == b"Nats-Sched")
}

/// nats-server's checks of a client publish's schedule headers. `Ok(Some(block))`: store
/// this header block instead (a schedule without `Nats-Rollup` gets `Nats-Rollup: sub`).
pub(super) fn check_publish(
    cfg: &StreamConfig,
    store: &Stream,
    subject: &[u8],
    h: &[u8],
    now_ns: u64,
) -> Result<Option<Vec<u8>>, JsApiError> {
    if h.is_empty() || !mentions_schedules(h) {
        return Ok(None);
    }
    let allowed = cfg.allow_msg_schedules;
    let mut rewritten = None;
    match schedule::first_due(h, now_ns, now_ns) {
        Err(_) if !allowed => return Err(JsApiError::message_schedules_disabled()),
        Err(BadSchedule::TimeZone) => return Err(JsApiError::message_schedules_time_zone_invalid()),
        Err(BadSchedule::Pattern) => return Err(JsApiError::message_schedules_pattern_invalid()),
        Ok(None) => {}
        Ok(Some(_)) => rewritten = check_schedule(cfg, subject, h)?,
    }
    if let Some(next) = headers::get_non_empty(h, schedule::NEXT) {
        if next != schedule::NEXT_PURGE {
            return Err(JsApiError::message_schedules_scheduler_invalid());
        }
        let scheduler = headers::get_non_empty(h, schedule::SCHEDULER).unwrap_or_default();
        if scheduler.is_empty() || scheduler == subject || !is_valid_publish_subject(scheduler) {
            return Err(JsApiError::message_schedules_scheduler_invalid());
        }
        if !allowed {
            return Err(JsApiError::message_schedules_disabled());
        }
        // Purging is allowed when the subject holds nothing, or a schedule.
        if store
            .last_by_subject(scheduler)
            .is_some_and(|m| headers::get_non_empty(&m.headers, schedule::SCHEDULE).is_none())
        {
            return Err(JsApiError::message_schedules_scheduler_invalid());
        }
    } else if headers::get_non_empty(h, schedule::SCHEDULER).is_some() {
        return Err(JsApiError::message_schedules_scheduler_invalid());
    }
    Ok(rewritten)
}

/// The checks of a valid `Nats-Schedule`, in nats-server's order.
fn check_schedule(
    cfg: &StreamConfig,
    subject: &[u8],
    h: &[u8],
) -> Result<Option<Vec<u8>>, JsApiError> {
    if !cfg.allow_msg_schedules {
        return Err(JsApiError::message_schedules_disabled());
    }
    let ttl = headers::get_non_empty(h, schedule::SCHEDULE_TTL);
    if ttl.is_some_and(|t| headers::parse_ttl(t).is_err()) {
        return Err(JsApiError::message_schedules_ttl_invalid());
    }
    if headers::get_non_empty(h, schedule::SCHEDULE_ROLLUP).is_some_and(|r| r != b"sub") {
        return Err(JsApiError::message_schedules_rollup_invalid());
    }
    if ttl.is_some() && !cfg.allow_msg_ttl {
        return Err(JsApiError::message_ttl_disabled());
    }
    let target = headers::get_non_empty(h, schedule::TARGET).unwrap_or_default();
    if target.is_empty() || !is_valid_publish_subject(target) || target == subject {
        return Err(JsApiError::message_schedules_target_invalid());
    }
    let source = headers::get_non_empty(h, schedule::SOURCE);
    if let Some(source) = source {
        if source == target || source == subject || !is_valid_publish_subject(source) {
            return Err(JsApiError::message_schedules_source_invalid());
        }
    }
    let in_stream = |s: &[u8]| {
        cfg.subjects
            .iter()
            .any(|c| subjects_overlap(c.as_bytes(), s))
    };
    if !in_stream(target) {
        return Err(JsApiError::message_schedules_target_invalid());
    }
    if source.is_some_and(|s| !in_stream(s)) {
        return Err(JsApiError::message_schedules_source_invalid());
    }
    match headers::get_non_empty(h, headers::ROLLUP) {
        None => Ok(Some(with_header(h, headers::ROLLUP, b"sub"))),
        Some(r) if r.eq_ignore_ascii_case(b"sub") => Ok(None),
        Some(_) => Err(JsApiError::message_schedules_rollup_invalid()),
    }
}

/// `block` with `name: value` appended as its last header (nats-server's `genHeader`).
fn with_header(block: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    let body = block.strip_suffix(b"\r\n\r\n").unwrap_or(block);
    let mut out = Vec::with_capacity(block.len() + name.len() + value.len() + 4);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

impl StreamHost {
    /// Hook: message `seq` of stream `slot` was stored; its schedule headers arm, move or end
    /// a schedule, and a `Nats-Schedule-Next: purge` purges the schedule's subject (in the
    /// same commit as the message that says so).
    pub(super) fn schedule_stored(&mut self, slot: u32, seq: u64, now: Clock) {
        let Some(st) = self.streams[slot as usize].as_mut() else {
            return;
        };
        if !st.config.allow_msg_schedules {
            return;
        }
        let Some(msg) = st.store.get(seq) else { return };
        let Some(scheduler) = st.schedules.observe(&msg, now.wall_ns) else {
            return;
        };
        if let Ok((_, effects)) = st.store.purge(Some(&scheduler), Some(seq), None) {
            self.persist(slot, &effects);
        }
    }

    /// How long until the earliest schedule of this core is due, on the wall clock (the
    /// consumer ticker wakes for it, so a schedule fires on time, not on the next 10 ms tick).
    pub fn next_schedule_in(&self, now: Clock) -> Option<std::time::Duration> {
        let due = self
            .streams
            .iter()
            .flatten()
            .filter(|st| st.failed.is_none())
            .filter_map(|st| st.schedules.next_due_ns())
            .min()?;
        Some(std::time::Duration::from_nanos(
            due.saturating_sub(now.wall_ns),
        ))
    }

    /// Input (the consumer tick): stores the produced message of every due schedule.
    pub(super) fn fire_schedules(&mut self, now: Clock) {
        for slot in 0..self.streams.len() as u32 {
            let Some(st) = self.streams[slot as usize].as_mut() else {
                continue;
            };
            if st.failed.is_some() || st.schedules.next_due_ns().is_none_or(|t| t > now.wall_ns) {
                continue;
            }
            let store = &st.store;
            let fires = st.schedules.handle_tick(
                now.wall_ns,
                |seq| store.get(seq),
                |subject| store.last_by_subject(subject),
            );
            for fire in fires {
                self.store_produced(slot, fire, now);
            }
        }
    }

    /// Stores one produced message as nats-server does (no schedule checks, no reply).
    fn store_produced(&mut self, slot: u32, fire: Fire, now: Clock) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        let outcome = st
            .store
            .publish(&fire.subject, &fire.headers, &fire.payload, now.wall_ns);
        let seq = match outcome {
            Ok(PublishOutcome::Stored { seq, effects }) => {
                self.persist(slot, &effects);
                seq
            }
            Ok(PublishOutcome::Duplicate { .. }) | Err(_) => {
                tracing::warn!(
                    stream = %st.config.name,
                    schedule = %String::from_utf8_lossy(&fire.scheduler),
                    "scheduled message could not be stored; schedule disarmed"
                );
                st.schedules.abandon(&fire.scheduler);
                return;
            }
        };
        if self.streams_with_new.last() != Some(&slot) {
            self.streams_with_new.push(slot);
        }
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        retention::retain_for_interest(st, slot, seq, &fire.subject, &mut self.out.ops);
        self.schedule_stored(slot, seq, now);
    }

    /// Rebuilds stream `slot`'s schedules from its messages in order (after recovery, or when
    /// an update enables schedules). A one-shot schedule whose produced message is stored
    /// but whose subject still holds it (the purge record did not reach the disk) is purged
    /// now, so it cannot fire twice.
    pub(super) fn rebuild_schedules(&mut self, slot: u32, now: Clock) {
        let st = self.streams[slot as usize].as_mut().expect("live stream");
        st.schedules = Schedules::default();
        if !st.config.allow_msg_schedules {
            return;
        }
        let mut purges: Vec<(Bytes, u64)> = Vec::new();
        for msg in st.store.range_from(0) {
            if msg.headers.is_empty() && st.schedules.len() == 0 {
                continue;
            }
            if let Some(subject) = st.schedules.observe(&msg, now.wall_ns) {
                purges.push((subject, msg.seq));
            }
        }
        let mut effects: Vec<Effect> = Vec::new();
        for (subject, below) in purges {
            let stale = st
                .store
                .next_by_subject(&subject, 0)
                .is_some_and(|m| m.seq < below);
            if stale {
                if let Ok((_, e)) = st.store.purge(Some(&subject), Some(below), None) {
                    effects.extend(e);
                }
            }
        }
        self.persist(slot, &effects);
    }
}
