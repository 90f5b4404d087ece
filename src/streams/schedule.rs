//! Message schedules of one stream (sans-IO), as nats-server 2.15 runs them
//! (`server/scheduler.go`, `filestore.go` storeRawMsg): a message with `Nats-Schedule` is a
//! schedule for its subject (one per subject: it carries `Nats-Rollup: sub`); when it is due
//! the stream stores a copy on `Nats-Schedule-Target` with `Nats-Scheduler: <schedule
//! subject>` and `Nats-Schedule-Next: <next RFC 3339 time | purge>`.
//!
//! **The stream is the schedule's durable state.** Nothing else is written: storing the
//! produced message *is* the record that the schedule fired. Its `Nats-Schedule-Next` moves a
//! repeating schedule on, and `purge` removes a one-shot schedule (the owner purges the
//! schedule's subject in the same commit). After a restart, [`Schedules::observe`] over the
//! stream's messages in order rebuilds the same state, so a schedule whose produced message
//! reached the disk never fires again, and one whose produced message did not (a crash
//! before the group commit) fires once after the restart — no consumer saw the lost copy, as
//! consumers see only committed messages.
//!
//! The machine is keyed by due time and driven by [`Schedules::handle_tick`] with the wall
//! clock passed in; it returns [`Fire`]s ("store this message") and reads no clock.

use std::collections::BTreeSet;

use ahash::AHashMap;
use bytes::Bytes;

use super::schedule_pattern::{known_zone, next_fire};
use crate::jetstream::gocompat::time::{format_rfc3339_nanos, parse_rfc3339_nanos};
use crate::store::headers;
use crate::store::StoredMsg;

/// `Nats-Schedule`: the pattern.
pub(crate) const SCHEDULE: &[u8] = b"Nats-Schedule";
/// `Nats-Schedule-Time-Zone` (cron only).
pub(crate) const TIME_ZONE: &[u8] = b"Nats-Schedule-Time-Zone";
/// `Nats-Schedule-TTL`: the produced message's `Nats-TTL`.
pub(crate) const SCHEDULE_TTL: &[u8] = b"Nats-Schedule-TTL";
/// `Nats-Schedule-Rollup`: the produced message's `Nats-Rollup` (`sub` only).
pub(crate) const SCHEDULE_ROLLUP: &[u8] = b"Nats-Schedule-Rollup";
/// `Nats-Schedule-Target`: where the produced message is stored.
pub(crate) const TARGET: &[u8] = b"Nats-Schedule-Target";
/// `Nats-Schedule-Source`: a subject whose last message is produced instead of the schedule's.
pub(crate) const SOURCE: &[u8] = b"Nats-Schedule-Source";
/// `Nats-Scheduler`: on a produced message, the schedule's subject.
pub(crate) const SCHEDULER: &[u8] = b"Nats-Scheduler";
/// `Nats-Schedule-Next`: on a produced message, when the schedule fires next, or `purge`.
pub(crate) const NEXT: &[u8] = b"Nats-Schedule-Next";
/// The `Nats-Schedule-Next` value of a schedule that fires no more.
pub(crate) const NEXT_PURGE: &[u8] = b"purge";

/// The time zone header: `Ok(false)` absent, `Ok(true)` a zone natrix knows, `Err` invalid.
pub(crate) fn zone(h: &[u8]) -> Result<bool, ()> {
    match headers::get(h, TIME_ZONE) {
        None => Ok(false),
        Some(z) if !z.is_empty() && known_zone(z) => Ok(true),
        Some(_) => Err(()),
    }
}

/// When a message's schedule is first due (nats-server's `nextMessageSchedule`): `Ok(None)`
/// when it has no (or an empty) `Nats-Schedule`; `Err` for an invalid zone or pattern.
pub(crate) fn first_due(h: &[u8], ts_ns: u64, now_ns: u64) -> Result<Option<u64>, BadSchedule> {
    let zoned = zone(h).map_err(|()| BadSchedule::TimeZone)?;
    let Some(pattern) = headers::get_non_empty(h, SCHEDULE) else {
        return Ok(None);
    };
    let pattern = std::str::from_utf8(pattern).map_err(|_| BadSchedule::Pattern)?;
    next_fire(pattern, zoned, ts_ns, now_ns)
        .map(|(due, _)| Some(due))
        .ok_or(BadSchedule::Pattern)
}

/// Why a schedule header is refused (the JetStream layer maps it to 10223 / 10189).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadSchedule {
    /// `Nats-Schedule-Time-Zone` empty or unknown.
    TimeZone,
    /// `Nats-Schedule` not a pattern nats-server accepts.
    Pattern,
}

/// "Store this message": a schedule came due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fire {
    /// The schedule's subject (`Nats-Scheduler` of the produced message).
    pub scheduler: Bytes,
    /// `Nats-Schedule-Target`.
    pub subject: Bytes,
    /// The produced message's headers.
    pub headers: Vec<u8>,
    /// The produced message's payload (the schedule's, or its source's last message's).
    pub payload: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    due_ns: u64,
    /// Fired, its produced message not stored yet: not in the due set.
    inflight: bool,
}

/// The schedules of one stream, by subject and by due time.
#[derive(Debug, Default)]
pub(crate) struct Schedules {
    by_subject: AHashMap<Bytes, Entry>,
    /// `(due ns, seq)` of every schedule not in flight.
    due: BTreeSet<(u64, u64)>,
    subject_of: AHashMap<u64, Bytes>,
}

impl Schedules {
    /// Schedules known (some may belong to messages removed since; they are dropped when due).
    pub(crate) fn len(&self) -> usize {
        self.by_subject.len()
    }

    /// The earliest due time, unix ns.
    pub(crate) fn next_due_ns(&self) -> Option<u64> {
        self.due.first().map(|&(due, _)| due)
    }

    /// Input: `msg` was stored (published, produced, or replayed at recovery, in sequence
    /// order). A schedule message (re)arms its subject; any other message on that subject
    /// without `Nats-Scheduler` disarms it; a produced message's `Nats-Schedule-Next` moves
    /// its schedule to that time, or, for `purge`, ends it — then the caller must purge the
    /// returned subject below `msg.seq`.
    pub(crate) fn observe(&mut self, msg: &StoredMsg, now_ns: u64) -> Option<Bytes> {
        let h = &msg.headers[..];
        if h.is_empty() {
            self.remove_subject(&msg.subject);
            return None;
        }
        match first_due(h, msg.ts_ns, now_ns) {
            Ok(Some(due)) => self.add(msg.seq, msg.subject.clone(), due),
            _ if headers::get_non_empty(h, SCHEDULER).is_none() => {
                self.remove_subject(&msg.subject)
            }
            _ => {}
        }
        let scheduler = headers::get_non_empty(h, SCHEDULER)?;
        let next = headers::get_non_empty(h, NEXT)?;
        if next == NEXT_PURGE {
            if self
                .by_subject
                .get(scheduler)
                .is_some_and(|e| e.seq < msg.seq)
            {
                self.remove_subject(scheduler);
            }
            return Some(Bytes::copy_from_slice(scheduler));
        }
        let next = std::str::from_utf8(next).ok()?;
        if let Ok(ns) = parse_rfc3339_nanos(next) {
            self.update(scheduler, u64::try_from(ns.max(0)).unwrap_or(u64::MAX));
        }
        None
    }

    /// The produced message of a fired schedule could not be stored: the schedule stays
    /// disarmed until its subject gets a new schedule (nats-server leaves it in flight).
    pub(crate) fn abandon(&mut self, scheduler: &[u8]) {
        self.remove_subject(scheduler);
    }

    fn add(&mut self, seq: u64, subject: Bytes, due_ns: u64) {
        self.remove_subject(&subject);
        self.due.insert((due_ns, seq));
        self.subject_of.insert(seq, subject.clone());
        self.by_subject.insert(
            subject,
            Entry {
                seq,
                due_ns,
                inflight: false,
            },
        );
    }

    fn update(&mut self, subject: &[u8], due_ns: u64) {
        if let Some(e) = self.by_subject.get_mut(subject) {
            if !e.inflight {
                self.due.remove(&(e.due_ns, e.seq));
            }
            e.due_ns = due_ns;
            e.inflight = false;
            self.due.insert((due_ns, e.seq));
        }
    }

    fn remove_subject(&mut self, subject: &[u8]) {
        if let Some(e) = self.by_subject.remove(subject) {
            if !e.inflight {
                self.due.remove(&(e.due_ns, e.seq));
            }
            self.subject_of.remove(&e.seq);
        }
    }

    /// Input: the wall clock. Every schedule due at `now_ns` whose message is still stored
    /// (`load`) becomes a [`Fire`], in sequence order, and is in flight until its produced
    /// message is observed; one whose message is gone or whose headers no longer make a
    /// schedule is dropped. `last` finds a subject's last message (`Nats-Schedule-Source`).
    pub(crate) fn handle_tick(
        &mut self,
        now_ns: u64,
        load: impl Fn(u64) -> Option<StoredMsg>,
        last: impl Fn(&[u8]) -> Option<StoredMsg>,
    ) -> Vec<Fire> {
        let mut fires: Vec<(u64, Fire)> = Vec::new();
        while let Some(&(due_ns, seq)) = self.due.first() {
            if due_ns > now_ns {
                break;
            }
            self.due.pop_first();
            let Some(subject) = self.subject_of.get(&seq).cloned() else {
                continue;
            };
            let msg = load(seq).filter(|m| m.subject == subject);
            match msg.and_then(|m| produce(&m, due_ns, now_ns, &last)) {
                Some(fire) => {
                    if let Some(e) = self.by_subject.get_mut(&subject) {
                        e.inflight = true;
                    }
                    fires.push((seq, fire));
                }
                None => {
                    // Already out of the due set: forget the rest.
                    if let Some(e) = self.by_subject.get_mut(&subject) {
                        e.inflight = true;
                    }
                    self.remove_subject(&subject);
                }
            }
        }
        fires.sort_by_key(|(seq, _)| *seq);
        fires.into_iter().map(|(_, f)| f).collect()
    }
}

/// The message a due schedule produces (nats-server's `getScheduledMessages`), or `None` when
/// its headers no longer make a valid schedule.
fn produce(
    sched: &StoredMsg,
    due_ns: u64,
    now_ns: u64,
    last: &impl Fn(&[u8]) -> Option<StoredMsg>,
) -> Option<Fire> {
    let h = &sched.headers[..];
    let pattern = std::str::from_utf8(headers::get_non_empty(h, SCHEDULE)?).ok()?;
    let zoned = zone(h).ok()?;
    let (next, repeat) = next_fire(pattern, zoned, due_ns, now_ns)?;
    let ttl = headers::get_non_empty(h, SCHEDULE_TTL);
    if ttl.is_some_and(|t| headers::parse_ttl(t).is_err()) {
        return None;
    }
    let target = headers::get_non_empty(h, TARGET)?;
    let rollup = headers::get_non_empty(h, SCHEDULE_ROLLUP);
    let source = headers::get_non_empty(h, SOURCE).and_then(last);
    let content = source.as_ref().unwrap_or(sched);
    let mut out = strip_for_produce(&content.headers);
    append_header(&mut out, SCHEDULER, &sched.subject);
    if repeat {
        append_header(&mut out, NEXT, format_rfc3339_nanos(next).as_bytes());
    } else {
        append_header(&mut out, NEXT, NEXT_PURGE);
    }
    if let Some(ttl) = ttl {
        append_header(&mut out, headers::TTL, ttl);
    }
    if let Some(rollup) = rollup {
        append_header(&mut out, headers::ROLLUP, rollup);
    }
    out.extend_from_slice(b"\r\n");
    Some(Fire {
        scheduler: sched.subject.clone(),
        subject: Bytes::copy_from_slice(target),
        headers: out,
        payload: content.payload.clone(),
    })
}

/// A header block without its final blank line and without what must not follow a message
/// into its produced copy: `Nats-Schedule*` (and `Nats-Scheduler`), `Nats-Expected-*`,
/// `Nats-Msg-Id`, `Nats-TTL`, `Nats-Rollup`.
fn strip_for_produce(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + 96);
    out.extend_from_slice(b"NATS/1.0\r\n");
    let body = block.strip_suffix(b"\r\n\r\n").unwrap_or(block);
    for line in body.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if line.is_empty()
            || name.starts_with(SCHEDULE)
            || name.starts_with(b"Nats-Expected-")
            || name == headers::MSG_ID
            || name == headers::TTL
            || name == headers::ROLLUP
        {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn append_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
