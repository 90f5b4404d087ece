//! Consumer advisories and metrics as nats-server 2.15.1 renders them (action, max deliveries,
//! terminated, NAK, pinned/unpinned, pause), the pause request/response bodies, and the
//! ack-sampling metric: sans-IO JSON writers, re-exported by `consumer_api`.

use serde::Deserialize;

use super::gocompat::time::{format_rfc3339_nanos, ZERO_TIME};
use super::gocompat::{write_json_str, write_u64};
use super::responses::ResponseType;

/// Advisory subject prefix for consumer events.
pub const CONSUMER_ADVISORY_PREFIX: &str = "$JS.EVENT.ADVISORY.CONSUMER.";

/// The kind of a consumer advisory, naming its subject token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerAdvisory {
    /// `CREATED`.
    Created,
    /// `DELETED`.
    Deleted,
    /// `MAX_DELIVERIES`.
    MaxDeliveries,
    /// `MSG_TERMINATED`.
    MsgTerminated,
    /// `MSG_NAKED`.
    MsgNaked,
    /// `PAUSE`.
    Pause,
    /// `PINNED` (a priority group's pin was given).
    Pinned,
    /// `UNPINNED` (a priority group's pin ended).
    Unpinned,
}

/// `$JS.EVENT.ADVISORY.CONSUMER.<KIND>.<stream>.<consumer>`.
pub fn consumer_advisory_subject(kind: ConsumerAdvisory, stream: &str, consumer: &str) -> String {
    let token = match kind {
        ConsumerAdvisory::Created => "CREATED",
        ConsumerAdvisory::Deleted => "DELETED",
        ConsumerAdvisory::MaxDeliveries => "MAX_DELIVERIES",
        ConsumerAdvisory::MsgTerminated => "MSG_TERMINATED",
        ConsumerAdvisory::MsgNaked => "MSG_NAKED",
        ConsumerAdvisory::Pause => "PAUSE",
        ConsumerAdvisory::Pinned => "PINNED",
        ConsumerAdvisory::Unpinned => "UNPINNED",
    };
    format!("{CONSUMER_ADVISORY_PREFIX}{token}.{stream}.{consumer}")
}

/// A 22-character base62 advisory id from the caller's generator (nats-server uses a NUID of
/// the same shape).
pub fn new_advisory_id(rng: &mut impl rand::Rng) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..22)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Header shared by all advisories: `"type","id","timestamp"`.
#[derive(Debug, Clone, Copy)]
pub struct AdvisoryMeta<'a> {
    /// Event id (see `new_advisory_id`).
    pub id: &'a str,
    /// Event time, Unix ns.
    pub timestamp_ns: u64,
    /// JetStream domain (`domain`, omitted when empty).
    pub domain: &'a str,
}

fn advisory_start(
    out: &mut Vec<u8>,
    kind: &str,
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
) {
    event_start(out, "advisory", kind, meta, stream, consumer);
}

/// `{"type":"io.nats.jetstream.<class>.v1.<kind>","id":…,"timestamp":…,"stream":…,"consumer":…`
fn event_start(
    out: &mut Vec<u8>,
    class: &str,
    kind: &str,
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
) {
    out.extend_from_slice(b"{\"type\":\"io.nats.jetstream.");
    out.extend_from_slice(class.as_bytes());
    out.extend_from_slice(b".v1.");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"id\":");
    write_json_str(out, meta.id);
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(format_rfc3339_nanos(meta.timestamp_ns).as_bytes());
    out.extend_from_slice(b"\",\"stream\":");
    write_json_str(out, stream);
    out.extend_from_slice(b",\"consumer\":");
    write_json_str(out, consumer);
}

fn advisory_end(out: &mut Vec<u8>, meta: &AdvisoryMeta) {
    if !meta.domain.is_empty() {
        out.extend_from_slice(b",\"domain\":");
        write_json_str(out, meta.domain);
    }
    out.push(b'}');
}

fn write_num(out: &mut Vec<u8>, key: &str, v: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_u64(out, v);
}

/// `consumer_action` advisory (CREATED when `created`, else DELETED).
pub fn render_consumer_action_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    created: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    advisory_start(&mut out, "consumer_action", meta, stream, consumer);
    out.extend_from_slice(if created {
        b",\"action\":\"create\""
    } else {
        b",\"action\":\"delete\""
    });
    advisory_end(&mut out, meta);
    out
}

/// `max_deliver` advisory (MAX_DELIVERIES): `stream_seq`, `deliveries`.
pub fn render_max_deliveries_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    stream_seq: u64,
    deliveries: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    advisory_start(&mut out, "max_deliver", meta, stream, consumer);
    write_num(&mut out, "stream_seq", stream_seq);
    write_num(&mut out, "deliveries", deliveries);
    advisory_end(&mut out, meta);
    out
}

/// `terminated` advisory (MSG_TERMINATED): `consumer_seq`, `stream_seq`, `deliveries`,
/// `reason` (omitted when empty).
pub fn render_terminated_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    consumer_seq: u64,
    stream_seq: u64,
    deliveries: u64,
    reason: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(224);
    advisory_start(&mut out, "terminated", meta, stream, consumer);
    write_num(&mut out, "consumer_seq", consumer_seq);
    write_num(&mut out, "stream_seq", stream_seq);
    write_num(&mut out, "deliveries", deliveries);
    if !reason.is_empty() {
        out.extend_from_slice(b",\"reason\":");
        write_json_str(&mut out, reason);
    }
    advisory_end(&mut out, meta);
    out
}

/// `nak` advisory (MSG_NAKED): `consumer_seq`, `stream_seq`, `deliveries`.
pub fn render_nak_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    consumer_seq: u64,
    stream_seq: u64,
    deliveries: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(224);
    advisory_start(&mut out, "nak", meta, stream, consumer);
    write_num(&mut out, "consumer_seq", consumer_seq);
    write_num(&mut out, "stream_seq", stream_seq);
    write_num(&mut out, "deliveries", deliveries);
    advisory_end(&mut out, meta);
    out
}

/// `consumer_group_pinned` (`id` = the new pin) or `consumer_group_unpinned` (`reason`
/// `timeout` or `admin`) advisory, in nats-server's key order (domain before the group).
pub fn render_pin_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    group: &str,
    id: Option<&str>,
    reason: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let kind = match id {
        Some(_) => "consumer_group_pinned",
        None => "consumer_group_unpinned",
    };
    advisory_start(&mut out, kind, meta, stream, consumer);
    if !meta.domain.is_empty() {
        out.extend_from_slice(b",\"domain\":");
        write_json_str(&mut out, meta.domain);
    }
    out.extend_from_slice(b",\"group\":");
    write_json_str(&mut out, group);
    match id {
        Some(id) => {
            out.extend_from_slice(b",\"pinned_id\":");
            write_json_str(&mut out, id);
        }
        None => {
            out.extend_from_slice(b",\"reason\":");
            write_json_str(&mut out, reason);
        }
    }
    out.push(b'}');
    out
}

/// The time a `CONSUMER.PAUSE` request pauses until; `None` (resume) for an absent, null or
/// zero `pause_until` and for a body that is not such an object — nats-server resumes then too.
pub fn parse_pause_request(body: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct PauseBody {
        #[serde(default)]
        pause_until: Option<String>,
    }
    let text = serde_json::from_slice::<PauseBody>(body)
        .ok()?
        .pause_until?;
    let ns = super::gocompat::time::parse_rfc3339_nanos(&text).ok()?;
    (ns > 0).then(|| ns.min(u64::MAX as i128) as u64)
}

/// CONSUMER.PAUSE success: `paused` (the time is ahead), `pause_until` (zero time when
/// resumed) and, while paused, `pause_remaining` in ns.
pub fn render_pause_response(until_ns: Option<u64>, now_ns: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ResponseType::ConsumerPause.type_name().as_bytes());
    out.push(b'"');
    write_pause_fields(&mut out, until_ns, now_ns, true);
    out.push(b'}');
    out
}

/// `,"paused":…,"pause_until":…` and, with `remaining` and while paused, `,"pause_remaining":…`.
fn write_pause_fields(out: &mut Vec<u8>, until_ns: Option<u64>, now_ns: u64, remaining: bool) {
    let left = until_ns.filter(|&u| u > now_ns).map(|u| u - now_ns);
    out.extend_from_slice(if left.is_some() {
        b",\"paused\":true,\"pause_until\":\""
    } else {
        b",\"paused\":false,\"pause_until\":\""
    });
    match until_ns {
        Some(ns) => out.extend_from_slice(format_rfc3339_nanos(ns).as_bytes()),
        None => out.extend_from_slice(ZERO_TIME.as_bytes()),
    }
    out.push(b'"');
    if let (true, Some(left)) = (remaining, left) {
        write_num(out, "pause_remaining", left);
    }
}

/// `$JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer>`: paused or resumed, and until when.
pub fn render_pause_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    until_ns: Option<u64>,
    now_ns: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(224);
    event_start(
        &mut out,
        "advisory",
        "consumer_pause",
        meta,
        stream,
        consumer,
    );
    write_pause_fields(&mut out, until_ns, now_ns, false);
    advisory_end(&mut out, meta);
    out
}

/// Subject of the sampled ack metric (`sample_freq`) of one consumer.
pub fn ack_metric_subject(stream: &str, consumer: &str) -> String {
    format!("$JS.EVENT.METRIC.CONSUMER.ACK.{stream}.{consumer}")
}

/// The sampled ack metric: how long a delivery waited for its ack (`ack_time`, ns).
pub fn render_ack_metric(
    meta: &AdvisoryMeta,
    stream: &str,
    consumer: &str,
    consumer_seq: u64,
    stream_seq: u64,
    ack_time_ns: u64,
    deliveries: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    event_start(&mut out, "metric", "consumer_ack", meta, stream, consumer);
    write_num(&mut out, "consumer_seq", consumer_seq);
    write_num(&mut out, "stream_seq", stream_seq);
    write_num(&mut out, "ack_time", ack_time_ns);
    write_num(&mut out, "deliveries", deliveries);
    advisory_end(&mut out, meta);
    out
}

/// Percentage of acks to sample from a valid `sample_freq` ("30", "30%"; empty = none).
pub fn sample_percent(sample_freq: &str) -> u8 {
    sample_freq
        .trim()
        .trim_end_matches('%')
        .parse::<u8>()
        .map_or(0, |p| p.min(100))
}
