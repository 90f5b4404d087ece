//! `ConsumerConfig` with nats-server 2.15.1's field names, key order, defaults and validation
//! texts (each observed against a live server). Serialising a normalised config yields the same
//! keys, in the same order, as nats-server's consumer responses.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::errors::JsApiError;
pub use super::gocompat::go_duration;
use super::gocompat::time::{clamp_unix_nanos, format_rfc3339_nanos, parse_rfc3339_nanos};
use super::stream_config::{
    go_enum, is_false, is_valid_stream_name, is_zero_i64, is_zero_u64, null_as_default, RawText,
    RawVisitor, RetentionPolicy, StreamConfig, META_API_LEVEL, META_REQUIRED_API_LEVEL,
    META_SERVER_VERSION,
};
use crate::subject::{is_literal, is_valid_publish_subject, is_valid_subscribe_subject};
use crate::subject::{subject_matches, subjects_overlap};

/// Longest durable name nats-server accepts (bytes, 10102 beyond).
pub const MAX_CONSUMER_NAME_BYTES: usize = 255;
/// Longest consumer description (bytes, 10107 beyond).
pub const MAX_CONSUMER_DESCRIPTION_BYTES: usize = 4096;
/// Largest total of metadata key and value bytes (10135 beyond).
pub const MAX_CONSUMER_METADATA_BYTES: usize = 128 * 1024;
/// `ack_wait` when acking and none given.
pub const DEFAULT_ACK_WAIT_NS: i64 = 30_000_000_000;
/// `max_ack_pending` when acking and neither the config nor the stream limits give one.
pub const DEFAULT_MAX_ACK_PENDING: i64 = 1000;
/// `max_waiting` of pull consumers when none given.
pub const DEFAULT_MAX_WAITING: i64 = 512;
/// `inactive_threshold` stamped on ephemerals that give none.
pub const DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS: i64 = 5_000_000_000;
/// `priority_timeout` of `pinned_client` consumers when none given.
pub const DEFAULT_PINNED_TTL_NS: i64 = 120_000_000_000;
/// Smallest non-zero push `idle_heartbeat`.
pub const MIN_IDLE_HEARTBEAT_NS: i64 = 100_000_000;
/// Smallest non-zero pull `max_expires`.
pub const MIN_MAX_EXPIRES_NS: i64 = 1_000_000;

/// nats-server's 10052 text for a bad consumer name.
const NAME_INVALID: &str = "consumer name can not contain '.', '*', '>', '\\', '/'";
/// nats-server's 10052 text for a bad durable name.
const DURABLE_INVALID: &str = "consumer durable name can not contain '.', '*', '>', '\\', '/'";

/// Where a new consumer starts (`deliver_policy`). `"undefined"` decodes as `all`, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeliverPolicy {
    /// From the first stored message.
    #[default]
    All,
    /// From the last stored message.
    Last,
    /// Only messages stored after creation.
    New,
    /// From `opt_start_seq`.
    ByStartSequence,
    /// From the first message at or after `opt_start_time`.
    ByStartTime,
    /// The last message of every (filtered) subject, then new ones.
    LastPerSubject,
}

impl DeliverPolicy {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Last => "last",
            Self::New => "new",
            Self::ByStartSequence => "by_start_sequence",
            Self::ByStartTime => "by_start_time",
            Self::LastPerSubject => "last_per_subject",
        }
    }
}

impl Serialize for DeliverPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliverPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let RawText(raw) = deserializer.deserialize_any(RawVisitor)?;
        Ok(match raw.as_str() {
            "\"all\"" | "\"undefined\"" => Self::All,
            "\"last\"" => Self::Last,
            "\"new\"" => Self::New,
            "\"by_start_sequence\"" => Self::ByStartSequence,
            "\"by_start_time\"" => Self::ByStartTime,
            "\"last_per_subject\"" => Self::LastPerSubject,
            _ => return Err(de::Error::custom(format!("can not unmarshal {raw:?}"))),
        })
    }
}

go_enum!(
    /// How deliveries are acknowledged (`ack_policy`); Go's zero value (`none`) when omitted.
    /// nats-server's 2.14 `flow_control` policy (sourcing) is not supported and fails to decode.
    AckPolicy, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// No acks; delivered = done.
        #[default]
        None => "none",
        /// Acking a sequence acks everything below it.
        All => "all",
        /// Every message is acked on its own.
        Explicit => "explicit",
    }
);

go_enum!(
    /// Delivery pacing (`replay_policy`).
    ReplayPolicy, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// As fast as possible.
        #[default]
        Instant => "instant",
        /// With the original inter-message timing.
        Original => "original",
    }
);

go_enum!(
    /// Pull priority-group policy (`priority_policy`, ADR-42); `none` is omitted from output.
    PriorityPolicy, unknown(raw) => format!("unknown priority policy: {raw}"),
    {
        /// No priority groups.
        #[default]
        None => "none",
        /// Deliver to a group only when its pull request's thresholds are exceeded.
        Overflow => "overflow",
        /// One pinned client per group.
        PinnedClient => "pinned_client",
        /// Lowest `priority` value first.
        Prioritized => "prioritized",
    }
);

impl PriorityPolicy {
    fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// (De)serialises an optional time as RFC 3339 (UTC on output, any offset on input).
mod opt_time {
    use super::*;

    pub(super) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ns) => s.serialize_str(&format_rfc3339_nanos(*ns)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_rfc3339_nanos(&text)
                .map(|ns| Some(clamp_unix_nanos(ns)))
                .map_err(de::Error::custom),
        }
    }
}

/// A consumer's configuration as clients send it and nats-server returns it. Field order is
/// nats-server 2.15.1's JSON key order. Decode (strict: unknown keys ⇒ 10025), then `normalize`
/// with the stream, then `validate`. Durations are ns (`*_ns` fields carry Go's JSON names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Durable name; set ⇒ durable (no inactivity deletion by default).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub durable_name: String,
    /// Consumer name (from the create subject); empty for legacy ephemerals, whose generated
    /// name lives outside the config as in nats-server.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub name: String,
    /// Free text, ≤ 4 KiB.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub description: String,
    /// Start position.
    pub deliver_policy: DeliverPolicy,
    /// Start sequence for `by_start_sequence`.
    #[serde(
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "null_as_default"
    )]
    pub opt_start_seq: u64,
    /// Start time for `by_start_time`, Unix ns (rendered in UTC; times before 1970 clamp to 0).
    #[serde(
        rename = "opt_start_time",
        with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_start_time_ns: Option<u64>,
    /// Ack policy.
    pub ack_policy: AckPolicy,
    /// Redelivery timeout, ns.
    #[serde(
        rename = "ack_wait",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub ack_wait_ns: i64,
    /// Deliveries per message, -1 = unlimited.
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_deliver: i64,
    /// Redelivery delays per attempt, ns.
    #[serde(
        rename = "backoff",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub backoff_ns: Vec<i64>,
    /// Single subject filter.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subject: String,
    /// Several subject filters.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subjects: Vec<String>,
    /// Replay pacing.
    pub replay_policy: ReplayPolicy,
    /// Push delivery rate limit, bits per second.
    #[serde(
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "null_as_default"
    )]
    pub rate_limit_bps: u64,
    /// Ack-metric sampling, e.g. `"100%"`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sample_freq: String,
    /// Queued pull requests (pull only).
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_waiting: i64,
    /// Outstanding unacked deliveries, -1 = unlimited.
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_ack_pending: i64,
    /// Push flow control.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub flow_control: bool,
    /// Deliver headers plus `Nats-Msg-Size` only.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub headers_only: bool,
    /// Largest pull `batch`.
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_batch: i64,
    /// Largest pull `expires`, ns.
    #[serde(
        rename = "max_expires",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_expires_ns: i64,
    /// Largest pull `max_bytes`.
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_bytes: i64,
    /// Push target; set ⇒ push consumer.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver_subject: String,
    /// Push queue group.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver_group: String,
    /// Push idle heartbeat, ns.
    #[serde(
        rename = "idle_heartbeat",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub idle_heartbeat_ns: i64,
    /// Delete after this long without interest/requests, ns.
    #[serde(
        rename = "inactive_threshold",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub inactive_threshold_ns: i64,
    /// Replicas; 0 = inherit (kept as 0 in responses).
    #[serde(deserialize_with = "null_as_default")]
    pub num_replicas: i64,
    /// Keep consumer state in memory.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub mem_storage: bool,
    /// Internal (mirrors/sources) in nats-server; accepted and echoed.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub direct: bool,
    /// Internal sourcing consumer (2.14); accepted and echoed.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub sourcing: bool,
    /// User metadata plus `_nats.req.level` (sorted, as Go prints maps).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Paused until this time, Unix ns (2.11).
    #[serde(
        rename = "pause_until",
        with = "opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause_until_ns: Option<u64>,
    /// Pull priority groups (2.11).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub priority_groups: Vec<String>,
    /// Priority policy (2.11).
    #[serde(skip_serializing_if = "PriorityPolicy::is_none")]
    pub priority_policy: PriorityPolicy,
    /// Pin timeout of `pinned_client`, ns.
    #[serde(
        rename = "priority_timeout",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub priority_timeout_ns: i64,
    /// natrix extension: where messages that exhausted `max_deliver` or were terminated are
    /// republished (omitted when empty; nats-server would refuse the key).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub dead_letter_subject: String,
}

/// A priority group name as nats-server accepts it: `[A-Za-z0-9/_=-]{1,16}`.
pub(crate) fn is_valid_group_name(group: &str) -> bool {
    (1..=16).contains(&group.len())
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'=' | b'-'))
}

/// Go's `strconv.Atoi` failure text for `sample_freq` (without the `%`), or `None` if it parses.
fn sample_freq_error(freq: &str) -> Option<String> {
    let digits = freq.strip_suffix('%').unwrap_or(freq);
    let body = digits.strip_prefix(['+', '-']).unwrap_or(digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("strconv.Atoi: parsing {digits:?}: invalid syntax"));
    }
    match digits.parse::<i64>() {
        Ok(v) if v < 0 => Some("<nil>".to_owned()),
        Ok(_) => None,
        Err(_) => Some(format!(
            "strconv.Atoi: parsing {digits:?}: value out of range"
        )),
    }
}

fn invalid(detail: impl Into<String>) -> Result<(), JsApiError> {
    Err(JsApiError::consumer_invalid_config(detail))
}

impl ConsumerConfig {
    /// A push consumer (it has a `deliver_subject`).
    pub fn is_push(&self) -> bool {
        !self.deliver_subject.is_empty()
    }

    /// The subject filters (`filter_subject` or `filter_subjects`); empty = everything.
    pub fn filters(&self) -> Vec<&str> {
        if self.filter_subject.is_empty() {
            self.filter_subjects.iter().map(String::as_str).collect()
        } else {
            vec![self.filter_subject.as_str()]
        }
    }

    /// A literal `subject` passes the filters.
    pub fn matches_filter(&self, subject: &[u8]) -> bool {
        let filters = self.filters();
        filters.is_empty()
            || filters
                .iter()
                .any(|f| subject_matches(f.as_bytes(), subject))
    }

    /// A durable consumer (it has a `durable_name`).
    pub fn is_durable(&self) -> bool {
        !self.durable_name.is_empty()
    }

    /// The consumer's own name: `durable_name`, else `name` (empty for a nameless legacy ephemeral).
    pub fn effective_name(&self) -> &str {
        if self.is_durable() {
            &self.durable_name
        } else {
            &self.name
        }
    }

    /// The JetStream API level the features in use need (1 for pause or priority groups),
    /// stored as `_nats.req.level`.
    pub fn required_api_level(&self) -> u32 {
        if self.pause_until_ns.is_some()
            || !self.priority_policy.is_none()
            || self.priority_timeout_ns != 0
            || !self.priority_groups.is_empty()
        {
            1
        } else {
            0
        }
    }

    /// Applies nats-server 2.15.1's defaults in place (non-pedantic): negative limits clamped,
    /// `max_deliver` -1, pull `max_waiting` 512, `ack_wait` 30 s when acking (or `backoff[0]`),
    /// the stream's `consumer_limits`, `max_ack_pending` 1000 when acking, pinned timeout 2 min,
    /// `inactive_threshold` 5 s for ephemerals, and `_nats.req.level` metadata (dynamic
    /// `_nats.level`/`_nats.ver` removed). `num_replicas` 0 stays 0, as nats-server shows it.
    pub fn normalize(&mut self, stream: &StreamConfig) {
        if self.max_deliver == 0 || self.max_deliver < -1 {
            self.max_deliver = -1;
        }
        if self.max_ack_pending < -1 {
            self.max_ack_pending = -1;
        }
        for v in [
            &mut self.max_waiting,
            &mut self.max_batch,
            &mut self.max_expires_ns,
            &mut self.max_bytes,
            &mut self.idle_heartbeat_ns,
            &mut self.inactive_threshold_ns,
            &mut self.priority_timeout_ns,
        ] {
            if *v < 0 {
                *v = 0;
            }
        }
        if !self.is_push() && self.max_waiting == 0 {
            self.max_waiting = DEFAULT_MAX_WAITING;
        }
        let acking = self.ack_policy != AckPolicy::None;
        if self.ack_wait_ns == 0 && acking {
            self.ack_wait_ns = DEFAULT_ACK_WAIT_NS;
        }
        if let Some(&first) = self.backoff_ns.first() {
            self.ack_wait_ns = first;
        }
        if self.max_ack_pending == 0 {
            self.max_ack_pending = stream.consumer_limits.max_ack_pending;
        }
        if self.inactive_threshold_ns == 0 {
            self.inactive_threshold_ns = stream.consumer_limits.inactive_threshold_ns;
        }
        if self.max_ack_pending == 0 && acking {
            self.max_ack_pending = DEFAULT_MAX_ACK_PENDING;
        }
        if self.priority_policy == PriorityPolicy::PinnedClient && self.priority_timeout_ns == 0 {
            self.priority_timeout_ns = DEFAULT_PINNED_TTL_NS;
        }
        if !self.is_durable() && self.inactive_threshold_ns <= 0 {
            self.inactive_threshold_ns = DEFAULT_EPHEMERAL_INACTIVE_THRESHOLD_NS;
        }
        self.metadata.remove(META_API_LEVEL);
        self.metadata.remove(META_SERVER_VERSION);
        self.metadata.insert(
            META_REQUIRED_API_LEVEL.to_owned(),
            self.required_api_level().to_string(),
        );
    }

    /// The config as INFO/CREATE responses show it: stored metadata plus `_nats.level` and `_nats.ver`.
    pub fn with_dynamic_metadata(&self, api_level: u32, server_version: &str) -> ConsumerConfig {
        let mut shown = self.clone();
        shown
            .metadata
            .insert(META_API_LEVEL.to_owned(), api_level.to_string());
        shown
            .metadata
            .insert(META_SERVER_VERSION.to_owned(), server_version.to_owned());
        shown
    }

    /// nats-server's create-time checks on a normalised config, in its order and with its codes
    /// (10052 names/filters, 10074, 10133, 10183/10184, 10116, 10107, push 10079/10112/10081/
    /// 10080/10082/10083, pull 10084/10086/10088/10089/10115, 10121/10153 against the stream's
    /// consumer limits, 10090/10091, 10136/10139/10138, 10094, 10095, 10108, 10132, 10135,
    /// priority groups 10178/10159/10161/10162/10196/10197), then the stream-dependent ones
    /// (10102 durable too long, 10012 name too long for the store, workqueue 10098/10101).
    /// Workqueue filter uniqueness (10099/10100) is `check_workqueue_filters`; max consumers
    /// (10026) and existing consumers (10148/10149) are the caller's.
    pub fn validate(&self, stream: &StreamConfig) -> Result<(), JsApiError> {
        self.validate_config(stream)?;
        if self.is_durable() && self.durable_name.len() > MAX_CONSUMER_NAME_BYTES {
            return Err(JsApiError::consumer_name_too_long(MAX_CONSUMER_NAME_BYTES));
        }
        if self.effective_name().len() > MAX_CONSUMER_NAME_BYTES {
            // nats-server fails creating the store directory for such names.
            return Err(JsApiError::consumer_create(
                "error creating store for consumer",
            ));
        }
        if stream.retention == RetentionPolicy::WorkQueue && !self.direct && !self.sourcing {
            if self.ack_policy != AckPolicy::Explicit {
                return Err(JsApiError::consumer_wq_requires_explicit_ack());
            }
            if self.deliver_policy != DeliverPolicy::All {
                return Err(JsApiError::consumer_wq_not_deliver_all());
            }
        }
        Ok(())
    }

    /// The config checks nats-server also runs before an update (`validate` without the
    /// create-only name-length and workqueue ones).
    pub fn validate_config(&self, stream: &StreamConfig) -> Result<(), JsApiError> {
        if !self.name.is_empty() && !is_valid_stream_name(&self.name) {
            return invalid(NAME_INVALID);
        }
        if self.is_durable() && !is_valid_stream_name(&self.durable_name) {
            return invalid(DURABLE_INVALID);
        }
        if self.num_replicas > 1 {
            return Err(JsApiError::replicas_not_supported());
        }
        if self.num_replicas < 0 {
            return Err(JsApiError::replicas_count_negative());
        }
        if self.backoff_ns.iter().any(|&b| b < 0) {
            return Err(JsApiError::consumer_backoff_negative());
        }
        if self.ack_wait_ns < 0 {
            return Err(JsApiError::consumer_ack_wait_negative());
        }
        self.check_backoff_vs_max_deliver()?;
        if self.description.len() > MAX_CONSUMER_DESCRIPTION_BYTES {
            return Err(JsApiError::consumer_description_too_long(
                MAX_CONSUMER_DESCRIPTION_BYTES,
            ));
        }
        if self.is_push() {
            let deliver = self.deliver_subject.as_bytes();
            if !is_literal(deliver) {
                return Err(JsApiError::consumer_deliver_to_wildcards());
            }
            if !is_valid_publish_subject(deliver) {
                return Err(JsApiError::consumer_invalid_deliver_subject());
            }
            if stream
                .subjects
                .iter()
                .any(|s| subjects_overlap(s.as_bytes(), deliver))
            {
                return Err(JsApiError::consumer_deliver_cycle());
            }
            if self.max_waiting != 0 {
                return Err(JsApiError::consumer_push_max_waiting());
            }
            if self.max_ack_pending > 0 && self.ack_policy == AckPolicy::None {
                return Err(JsApiError::consumer_max_pending_ack_policy_required());
            }
            if self.idle_heartbeat_ns > 0 && self.idle_heartbeat_ns < MIN_IDLE_HEARTBEAT_NS {
                return Err(JsApiError::consumer_small_heartbeat());
            }
        } else {
            if self.ack_policy == AckPolicy::None && stream.retention == RetentionPolicy::WorkQueue
            {
                return Err(JsApiError::consumer_pull_requires_ack());
            }
            if self.rate_limit_bps > 0 {
                return Err(JsApiError::consumer_pull_with_rate_limit());
            }
            if self.idle_heartbeat_ns > 0 {
                return Err(JsApiError::consumer_hb_requires_push());
            }
            if self.flow_control {
                return Err(JsApiError::consumer_fc_requires_push());
            }
            if self.max_expires_ns != 0 && self.max_expires_ns < MIN_MAX_EXPIRES_NS {
                return Err(JsApiError::consumer_max_request_expires_too_small());
            }
        }
        let limits = &stream.consumer_limits;
        if limits.max_ack_pending > 0 && self.max_ack_pending > limits.max_ack_pending {
            return Err(JsApiError::consumer_max_pending_ack_excess(
                limits.max_ack_pending,
            ));
        }
        if limits.inactive_threshold_ns > 0
            && self.inactive_threshold_ns > limits.inactive_threshold_ns
        {
            return Err(JsApiError::consumer_inactive_threshold_excess(go_duration(
                limits.inactive_threshold_ns,
            )));
        }
        if self.direct {
            if !self.is_push() {
                return Err(JsApiError::consumer_direct_requires_push());
            }
            if self.is_durable() {
                return Err(JsApiError::consumer_direct_requires_ephemeral());
            }
        }
        self.check_filters()?;
        self.check_start_position()?;
        if !self.sample_freq.is_empty() {
            if let Some(err) = sample_freq_error(&self.sample_freq) {
                return Err(JsApiError::consumer_invalid_sampling(err));
            }
        }
        if self.flow_control && self.idle_heartbeat_ns == 0 {
            return Err(JsApiError::consumer_flow_control_needs_heartbeats());
        }
        if self.is_durable() && !self.name.is_empty() && self.name != self.durable_name {
            return Err(JsApiError::consumer_create_durable_and_name_mismatch());
        }
        let metadata_len: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata_len > MAX_CONSUMER_METADATA_BYTES {
            return Err(JsApiError::consumer_metadata_length());
        }
        if !self.priority_policy.is_none() {
            if self.is_push() {
                return Err(JsApiError::consumer_push_with_priority_group());
            }
            if self.priority_groups.is_empty() {
                return Err(JsApiError::consumer_priority_policy_without_group());
            }
            for group in &self.priority_groups {
                if group.is_empty() {
                    return Err(JsApiError::consumer_empty_group_name());
                }
                if !is_valid_group_name(group) {
                    return Err(JsApiError::consumer_invalid_group_name());
                }
            }
        } else {
            if !self.priority_groups.is_empty() {
                return Err(JsApiError::consumer_priority_group_with_policy_none());
            }
            if self.priority_timeout_ns > 0 {
                return Err(JsApiError::consumer_pinned_ttl_without_priority_policy());
            }
        }
        Ok(())
    }

    /// 10116 when there are more backoff values than deliveries.
    fn check_backoff_vs_max_deliver(&self) -> Result<(), JsApiError> {
        let backoffs = self.backoff_ns.len() as i64;
        if backoffs > 0 && self.max_deliver != -1 && backoffs > self.max_deliver {
            return Err(JsApiError::consumer_max_deliver_backoff());
        }
        Ok(())
    }

    /// Filter checks: 10136 both forms, 10052 invalid subject, 10139 empty entry, 10138 overlap.
    fn check_filters(&self) -> Result<(), JsApiError> {
        if !self.filter_subject.is_empty() && !self.filter_subjects.is_empty() {
            return Err(JsApiError::consumer_duplicate_filter_subjects());
        }
        if !self.filter_subject.is_empty()
            && !is_valid_subscribe_subject(self.filter_subject.as_bytes())
        {
            return invalid("invalid subject");
        }
        if self.filter_subjects.iter().any(String::is_empty) {
            return Err(JsApiError::consumer_empty_filter());
        }
        let filters = self.filters();
        for (i, filter) in filters.iter().enumerate() {
            if !is_valid_subscribe_subject(filter.as_bytes()) {
                return invalid("invalid subject");
            }
            let overlaps = filters
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && super::stream_config::subject_is_subset(filter, other));
            if overlaps {
                return Err(JsApiError::consumer_overlapping_subject_filters());
            }
        }
        Ok(())
    }

    /// 10094 deliver-policy/start-option conflicts with nats-server's texts.
    fn check_start_position(&self) -> Result<(), JsApiError> {
        let also_set = |policy: &str, start: &str| {
            Err(JsApiError::consumer_invalid_policy(format!(
                "consumer delivery policy is deliver {policy}, but optional start {start} is also set"
            )))
        };
        let not_set = |policy: &str, what: &str| {
            Err(JsApiError::consumer_invalid_policy(format!(
                "consumer delivery policy is deliver {policy}, but optional {what} is not set"
            )))
        };
        let seq = self.opt_start_seq > 0;
        let time = self.opt_start_time_ns.is_some();
        match self.deliver_policy {
            DeliverPolicy::All | DeliverPolicy::Last | DeliverPolicy::New => {
                let policy = match self.deliver_policy {
                    DeliverPolicy::All => "all",
                    DeliverPolicy::Last => "last",
                    _ => "new",
                };
                if seq {
                    return also_set(policy, "sequence");
                }
                if time {
                    return also_set(policy, "time");
                }
            }
            DeliverPolicy::LastPerSubject => {
                if seq {
                    return also_set("last per subject", "sequence");
                }
                if time {
                    return also_set("last per subject", "time");
                }
                if self.filters().is_empty() {
                    return not_set("last per subject", "filter subject");
                }
            }
            DeliverPolicy::ByStartSequence => {
                if !seq {
                    return not_set("by start sequence", "start sequence");
                }
                if time {
                    return also_set("by start sequence", "time");
                }
            }
            DeliverPolicy::ByStartTime => {
                if !time {
                    return not_set("by start time", "start time");
                }
                if self.opt_start_seq != 0 {
                    // nats-server's text really says "start start sequence".
                    return also_set("by start time", "start sequence");
                }
            }
        }
        Ok(())
    }

    /// nats-server's update rules for an existing consumer `old` changed to `new` (both
    /// normalised; run `validate_config(new)` first, as nats-server does): 10012 with its texts
    /// for immutable fields, 10116 for backoff vs max_deliver. Changing the deliver subject of a
    /// push consumer that still has interest is refused by nats-server with 10013 (the caller's).
    pub fn validate_update(old: &ConsumerConfig, new: &ConsumerConfig) -> Result<(), JsApiError> {
        let refuse = |what: &str| Err(JsApiError::consumer_create(what.to_owned()));
        if old.deliver_policy != new.deliver_policy {
            return refuse("deliver policy can not be updated");
        }
        if old.mem_storage != new.mem_storage {
            return refuse("storage type can not be updated");
        }
        if old.direct != new.direct {
            return refuse("direct can not be updated");
        }
        if old.sourcing != new.sourcing {
            return refuse("sourcing can not be updated");
        }
        if old.opt_start_seq != new.opt_start_seq {
            return refuse("start sequence can not be updated");
        }
        if old.opt_start_time_ns != new.opt_start_time_ns {
            return refuse("start time can not be updated");
        }
        if old.ack_policy != new.ack_policy {
            return refuse("ack policy can not be updated");
        }
        if old.replay_policy != new.replay_policy {
            return refuse("replay policy can not be updated");
        }
        if old.idle_heartbeat_ns != new.idle_heartbeat_ns {
            return refuse("heart beats can not be updated");
        }
        if old.flow_control != new.flow_control {
            return refuse("flow control can not be updated");
        }
        if old.deliver_subject != new.deliver_subject {
            if old.deliver_subject.is_empty() {
                return refuse("can not update pull consumer to push based");
            }
            if new.deliver_subject.is_empty() {
                return refuse("can not update push consumer to pull based");
            }
        }
        if old.max_waiting != new.max_waiting {
            return refuse("max waiting can not be updated");
        }
        new.check_backoff_vs_max_deliver()
    }

    /// Equal for `action: create` purposes: everything but `_nats.req.level` (nats-server copies
    /// the existing one over before comparing).
    pub fn same_for_create(&self, other: &ConsumerConfig) -> bool {
        let strip = |c: &ConsumerConfig| {
            let mut c = c.clone();
            c.metadata.remove(META_REQUIRED_API_LEVEL);
            c.metadata.remove(META_API_LEVEL);
            c.metadata.remove(META_SERVER_VERSION);
            c
        };
        strip(self) == strip(other)
    }
}

/// Workqueue partition rules for creating `new` next to the stream's `others` (excluding the
/// consumer being replaced): 10099 when `new` is unfiltered and others exist, 10100 when a
/// filter overlaps another consumer's (an unfiltered other overlaps everything).
pub fn check_workqueue_filters(
    new: &ConsumerConfig,
    others: &[&ConsumerConfig],
) -> Result<(), JsApiError> {
    let others: Vec<&&ConsumerConfig> =
        others.iter().filter(|o| !o.direct && !o.sourcing).collect();
    if others.is_empty() || new.direct || new.sourcing {
        return Ok(());
    }
    let filters = new.filters();
    if filters.is_empty() {
        return Err(JsApiError::consumer_wq_multiple_unfiltered());
    }
    for other in others {
        let theirs = other.filters();
        if theirs.is_empty() {
            return Err(JsApiError::consumer_wq_not_unique());
        }
        let clash = filters.iter().any(|f| {
            theirs
                .iter()
                .any(|t| subjects_overlap(f.as_bytes(), t.as_bytes()))
        });
        if clash {
            return Err(JsApiError::consumer_wq_not_unique());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(json: &str) -> StreamConfig {
        let mut s: StreamConfig = serde_json::from_str(json).unwrap();
        s.normalize();
        s
    }

    fn cfg(json: &str) -> ConsumerConfig {
        serde_json::from_str(json).unwrap()
    }

    fn normalized(json: &str) -> ConsumerConfig {
        let mut c = cfg(json);
        c.normalize(&stream(r#"{"name":"S","subjects":["s.>"]}"#));
        c
    }

    fn check_on(stream_json: &str, json: &str) -> Result<ConsumerConfig, JsApiError> {
        let s = stream(stream_json);
        let mut c = cfg(json);
        c.normalize(&s);
        c.validate(&s).map(|()| c)
    }

    fn check(json: &str) -> Result<ConsumerConfig, JsApiError> {
        check_on(r#"{"name":"S","subjects":["s.>"]}"#, json)
    }

    fn json(c: &ConsumerConfig) -> String {
        String::from_utf8(crate::jetstream::gocompat::go_escape_html(
            serde_json::to_vec(c).unwrap(),
        ))
        .unwrap()
    }

    #[test]
    fn defaults_match_nats_server() {
        // Each `want` is the stored config (LIST shows it) captured from nats-server 2.15.1.
        let cases = [
            (
                r#"{"durable_name":"D1","ack_policy":"explicit"}"#,
                r#"{"durable_name":"D1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"P1","ack_policy":"explicit","deliver_subject":"dlv.p1"}"#,
                r#"{"durable_name":"P1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_ack_pending":1000,"deliver_subject":"dlv.p1","num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"ack_policy":"none"}"#,
                r#"{"deliver_policy":"all","ack_policy":"none","max_deliver":-1,"replay_policy":"instant","max_waiting":512,"inactive_threshold":5000000000,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"ack_policy":"none","deliver_subject":"dlv.e1"}"#,
                r#"{"deliver_policy":"all","ack_policy":"none","max_deliver":-1,"replay_policy":"instant","deliver_subject":"dlv.e1","inactive_threshold":5000000000,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"N1","ack_policy":"all","deliver_policy":"new","backoff":[1000000000,2000000000],"max_deliver":5,"metadata":{"a":"b"},"description":"d","filter_subjects":["c2.a","c2.b"],"replay_policy":"original","sample_freq":"50%","max_batch":10,"max_expires":5000000000,"max_bytes":1000,"inactive_threshold":60000000000,"num_replicas":1,"mem_storage":true,"headers_only":true,"max_waiting":7,"max_ack_pending":3}"#,
                r#"{"durable_name":"N1","description":"d","deliver_policy":"new","ack_policy":"all","ack_wait":1000000000,"max_deliver":5,"backoff":[1000000000,2000000000],"filter_subjects":["c2.a","c2.b"],"replay_policy":"original","sample_freq":"50%","max_waiting":7,"max_ack_pending":3,"headers_only":true,"max_batch":10,"max_expires":5000000000,"max_bytes":1000,"inactive_threshold":60000000000,"num_replicas":1,"mem_storage":true,"metadata":{"_nats.req.level":"0","a":"b"}}"#,
            ),
            (
                r#"{"durable_name":"PU","ack_policy":"explicit","deliver_subject":"dlv.pu","flow_control":true,"idle_heartbeat":5000000000,"rate_limit_bps":1000,"deliver_group":"g","opt_start_seq":2,"deliver_policy":"by_start_sequence"}"#,
                r#"{"durable_name":"PU","deliver_policy":"by_start_sequence","opt_start_seq":2,"ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","rate_limit_bps":1000,"max_ack_pending":1000,"flow_control":true,"deliver_subject":"dlv.pu","deliver_group":"g","idle_heartbeat":5000000000,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"T1","ack_policy":"explicit","deliver_policy":"by_start_time","opt_start_time":"2020-01-02T03:04:05.123456789Z","pause_until":"2030-01-01T00:00:00Z"}"#,
                r#"{"durable_name":"T1","deliver_policy":"by_start_time","opt_start_time":"2020-01-02T03:04:05.123456789Z","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.req.level":"1"},"pause_until":"2030-01-01T00:00:00Z"}"#,
            ),
            (
                r#"{"durable_name":"PG","ack_policy":"explicit","priority_groups":["g1"],"priority_policy":"pinned_client"}"#,
                r#"{"durable_name":"PG","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.req.level":"1"},"priority_groups":["g1"],"priority_policy":"pinned_client","priority_timeout":120000000000}"#,
            ),
            (
                r#"{"durable_name":"K5","backoff":[1,2,3],"max_deliver":3}"#,
                r#"{"durable_name":"K5","deliver_policy":"all","ack_policy":"none","ack_wait":1,"max_deliver":3,"backoff":[1,2,3],"replay_policy":"instant","max_waiting":512,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"K","max_waiting":-5,"max_batch":-5,"max_expires":-5,"max_bytes":-3,"max_ack_pending":-5,"max_deliver":-5,"inactive_threshold":-5,"idle_heartbeat":-5}"#,
                r#"{"durable_name":"K","deliver_policy":"all","ack_policy":"none","max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":-1,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"K18","ack_policy":"none","ack_wait":5,"max_ack_pending":5}"#,
                r#"{"durable_name":"K18","deliver_policy":"all","ack_policy":"none","ack_wait":5,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":5,"num_replicas":0,"metadata":{"_nats.req.level":"0"}}"#,
            ),
            (
                r#"{"durable_name":"K51","metadata":{"_nats.ver":"x","_nats.level":"9","_nats.req.level":"7","u":"1"},"backoff":null,"filter_subjects":null}"#,
                r#"{"durable_name":"K51","deliver_policy":"all","ack_policy":"none","max_deliver":-1,"replay_policy":"instant","max_waiting":512,"num_replicas":0,"metadata":{"_nats.req.level":"0","u":"1"}}"#,
            ),
        ];
        for (input, want) in cases {
            let c = check(input).expect(input);
            assert_eq!(json(&c), want, "{input}");
        }
    }

    #[test]
    fn stream_consumer_limits_apply() {
        let limited = r#"{"name":"L5","subjects":["l5.>"],"consumer_limits":{"max_ack_pending":50,"inactive_threshold":10000000000}}"#;
        let c = check_on(limited, r#"{"durable_name":"B","ack_policy":"none"}"#).unwrap();
        assert_eq!(
            (c.max_ack_pending, c.inactive_threshold_ns),
            (50, 10_000_000_000)
        );
        let c = check_on(
            limited,
            r#"{"name":"F","ack_policy":"explicit","max_ack_pending":-1}"#,
        )
        .unwrap();
        assert_eq!(c.max_ack_pending, -1);
        let err = check_on(
            limited,
            r#"{"durable_name":"C","ack_policy":"explicit","max_ack_pending":51}"#,
        )
        .unwrap_err();
        assert_eq!(
            (err.err_code, err.description.as_str()),
            (10121, "consumer max ack pending exceeds system limit of 50")
        );
        let err = check_on(
            limited,
            r#"{"durable_name":"D","inactive_threshold":11000000000}"#,
        )
        .unwrap_err();
        assert_eq!(
            (err.err_code, err.description.as_str()),
            (
                10153,
                "consumer inactive threshold exceeds system limit of 10s"
            )
        );
    }

    #[test]
    fn create_errors_match_nats_server() {
        // Each observed on nats-server 2.15.1 (stream subjects `s.>`).
        let also = |p: &str, s: &str| {
            format!("consumer delivery policy is deliver {p}, but optional start {s} is also set")
        };
        let cases: Vec<(&str, u16, u16, String)> = vec![
            (r#"{"durable_name":"A*"}"#, 500, 10052, NAME_INVALID.replace("name", "durable name")),
            (r#"{"name":"A>"}"#, 500, 10052, NAME_INVALID.into()),
            (r#"{"name":"A.B"}"#, 500, 10052, NAME_INVALID.into()),
            (r#"{"durable_name":"A","num_replicas":3}"#, 500, 10074, "replicas > 1 not supported in non-clustered mode".into()),
            (r#"{"durable_name":"A","num_replicas":-1}"#, 400, 10133, "replicas count cannot be negative".into()),
            (r#"{"durable_name":"A","backoff":[-1]}"#, 400, 10184, "consumer backoff needs to be positive".into()),
            (r#"{"durable_name":"A","ack_wait":-1}"#, 400, 10183, "consumer ack wait needs to be positive".into()),
            (r#"{"durable_name":"A","backoff":[1,2,3],"max_deliver":2}"#, 400, 10116, "max deliver is required to be > length of backoff values".into()),
            (r#"{"durable_name":"A","deliver_subject":"s.x"}"#, 400, 10081, "consumer deliver subject forms a cycle".into()),
            (r#"{"durable_name":"A","deliver_subject":"d.*"}"#, 400, 10079, "consumer deliver subject has wildcards".into()),
            (r#"{"durable_name":"A","deliver_subject":"d..x"}"#, 400, 10112, "invalid push consumer deliver subject".into()),
            (r#"{"durable_name":"A","deliver_subject":"d","max_waiting":5}"#, 400, 10080, "consumer in push mode can not set max waiting".into()),
            (r#"{"durable_name":"A","deliver_subject":"d","max_ack_pending":5}"#, 400, 10082, "consumer requires ack policy for max ack pending".into()),
            (r#"{"durable_name":"A","deliver_subject":"d","idle_heartbeat":5}"#, 400, 10083, "consumer idle heartbeat needs to be >= 100ms".into()),
            (r#"{"durable_name":"A","idle_heartbeat":5000000000}"#, 400, 10088, "consumer idle heartbeat requires a push based consumer".into()),
            (r#"{"durable_name":"A","flow_control":true}"#, 400, 10089, "consumer flow control requires a push based consumer".into()),
            (r#"{"durable_name":"A","deliver_subject":"d","flow_control":true}"#, 400, 10108, "consumer with flow control also needs heartbeats".into()),
            (r#"{"durable_name":"A","rate_limit_bps":5}"#, 400, 10086, "consumer in pull mode can not have rate limit set".into()),
            (r#"{"durable_name":"A","max_expires":5}"#, 400, 10115, "consumer max request expires needs to be >= 1ms".into()),
            (r#"{"durable_name":"A","filter_subject":"s.x","filter_subjects":["s.y"]}"#, 400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified".into()),
            (r#"{"durable_name":"A","filter_subject":"s..x"}"#, 500, 10052, "invalid subject".into()),
            (r#"{"durable_name":"A","filter_subject":"c4.a b"}"#, 500, 10052, "invalid subject".into()),
            (r#"{"durable_name":"A","filter_subject":"c4.>.x"}"#, 500, 10052, "invalid subject".into()),
            (r#"{"durable_name":"A","filter_subjects":[""]}"#, 400, 10139, "consumer filter in FilterSubjects cannot be empty".into()),
            (r#"{"durable_name":"A","filter_subjects":["s..x"]}"#, 500, 10052, "invalid subject".into()),
            (r#"{"durable_name":"A","filter_subjects":["s.>","s.x"]}"#, 400, 10138, "consumer subject filters cannot overlap".into()),
            (r#"{"durable_name":"A","filter_subjects":["s.a","s.a"]}"#, 400, 10138, "consumer subject filters cannot overlap".into()),
            (r#"{"durable_name":"A","filter_subjects":["s.*","s.a"]}"#, 400, 10138, "consumer subject filters cannot overlap".into()),
            (r#"{"durable_name":"A","opt_start_seq":5}"#, 400, 10094, also("all", "sequence")),
            (r#"{"durable_name":"A","opt_start_time":"2020-01-01T00:00:00Z"}"#, 400, 10094, also("all", "time")),
            (r#"{"durable_name":"A","deliver_policy":"last","opt_start_seq":5}"#, 400, 10094, also("last", "sequence")),
            (r#"{"durable_name":"A","deliver_policy":"last","opt_start_time":"2020-01-01T00:00:00Z"}"#, 400, 10094, also("last", "time")),
            (r#"{"durable_name":"A","deliver_policy":"new","opt_start_seq":5}"#, 400, 10094, also("new", "sequence")),
            (r#"{"durable_name":"A","deliver_policy":"last_per_subject"}"#, 400, 10094, "consumer delivery policy is deliver last per subject, but optional filter subject is not set".into()),
            (r#"{"durable_name":"A","deliver_policy":"last_per_subject","opt_start_seq":1}"#, 400, 10094, also("last per subject", "sequence")),
            (r#"{"durable_name":"A","deliver_policy":"by_start_sequence"}"#, 400, 10094, "consumer delivery policy is deliver by start sequence, but optional start sequence is not set".into()),
            (r#"{"durable_name":"A","deliver_policy":"by_start_sequence","opt_start_seq":1,"opt_start_time":"2020-01-01T00:00:00Z"}"#, 400, 10094, also("by start sequence", "time")),
            (r#"{"durable_name":"A","deliver_policy":"by_start_time"}"#, 400, 10094, "consumer delivery policy is deliver by start time, but optional start time is not set".into()),
            (r#"{"durable_name":"A","deliver_policy":"by_start_time","opt_start_seq":1,"opt_start_time":"2020-01-01T00:00:00Z"}"#, 400, 10094, "consumer delivery policy is deliver by start time, but optional start start sequence is also set".into()),
            (r#"{"durable_name":"A","sample_freq":"abc"}"#, 400, 10095, "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"abc\": invalid syntax".into()),
            (r#"{"durable_name":"A","sample_freq":"%"}"#, 400, 10095, "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"\": invalid syntax".into()),
            (r#"{"durable_name":"A","sample_freq":"-5%"}"#, 400, 10095, "failed to parse consumer sampling configuration: <nil>".into()),
            (r#"{"durable_name":"A","priority_policy":"overflow"}"#, 400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set".into()),
            (r#"{"durable_name":"A","priority_policy":"overflow","priority_groups":[""]}"#, 400, 10161, "Group name cannot be an empty string".into()),
            (r#"{"durable_name":"A","priority_policy":"overflow","priority_groups":["a.b"]}"#, 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters".into()),
            (r#"{"durable_name":"A","priority_policy":"overflow","priority_groups":["abcdefghijklmnopq"]}"#, 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters".into()),
            (r#"{"durable_name":"A","priority_policy":"overflow","priority_groups":["g"],"deliver_subject":"d"}"#, 400, 10178, "priority groups can not be used with push consumers".into()),
            (r#"{"durable_name":"A","priority_groups":["g"]}"#, 400, 10196, "consumer can not have priority groups when policy is none".into()),
            (r#"{"durable_name":"A","priority_timeout":5}"#, 400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none".into()),
            (r#"{"durable_name":"A","direct":true}"#, 400, 10090, "consumer direct requires a push based consumer".into()),
            (r#"{"durable_name":"A","direct":true,"deliver_subject":"dd"}"#, 400, 10091, "consumer direct requires an ephemeral consumer".into()),
            (r#"{"name":"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"}"#, 500, 10012, "error creating store for consumer".into()),
        ];
        for (input, code, err_code, description) in cases {
            let err = check(input).expect_err(input);
            assert_eq!(
                (err.code, err.err_code, err.description.as_str()),
                (code, err_code, description.as_str()),
                "{input}"
            );
        }
        let long = format!(r#"{{"durable_name":"{}"}}"#, "L".repeat(256));
        let err = check(&long).unwrap_err();
        assert_eq!(
            (err.err_code, err.description.as_str()),
            (10102, "consumer name is too long, maximum allowed is 255")
        );
        let ok = format!(r#"{{"durable_name":"{}"}}"#, "L".repeat(255));
        check(&ok).unwrap();
        let desc = format!(
            r#"{{"durable_name":"A","description":"{}"}}"#,
            "x".repeat(4097)
        );
        assert_eq!(check(&desc).unwrap_err().err_code, 10107);
        let meta = format!(
            r#"{{"durable_name":"A","metadata":{{"k":"{}"}}}}"#,
            "v".repeat(200_000)
        );
        let err = check(&meta).unwrap_err();
        assert_eq!(
            (err.err_code, err.description.as_str()),
            (10135, "consumer metadata exceeds maximum size of 128KB")
        );
        let err = check(r#"{"durable_name":"A","name":"B"}"#).unwrap_err();
        assert_eq!(err.err_code, 10132);
    }

    #[test]
    fn accepted_configs() {
        for input in [
            r#"{"durable_name":"A","filter_subject":"zz.other"}"#,
            r#"{"durable_name":"A","filter_subject":">"}"#,
            r#"{"durable_name":"A","filter_subject":"*"}"#,
            r#"{"durable_name":"A","filter_subject":"s.*","deliver_policy":"last_per_subject"}"#,
            r#"{"durable_name":"A","filter_subjects":["s.a","s.b"],"deliver_policy":"last_per_subject"}"#,
            r#"{"durable_name":"A","sample_freq":"100"}"#,
            r#"{"durable_name":"A","sample_freq":"101%"}"#,
            r#"{"durable_name":"A","deliver_group":"g"}"#,
            r#"{"durable_name":"A","deliver_subject":"d","idle_heartbeat":100000000}"#,
            r#"{"durable_name":"A","deliver_subject":"d","max_ack_pending":-1}"#,
            r#"{"durable_name":"A","priority_policy":"overflow","priority_groups":["a-_/=Z09"]}"#,
            r#"{"durable_name":"A","priority_policy":"pinned_client","priority_groups":["a","b"],"priority_timeout":-5}"#,
            r#"{"durable_name":"A","priority_policy":"none"}"#,
            r#"{"durable_name":"A","deliver_policy":"undefined"}"#,
            r#"{"durable_name":"A","pause_until":"2001-01-01T00:00:00Z"}"#,
            r#"{"durable_name":"A","num_replicas":1,"mem_storage":true}"#,
            r#"{"durable_name":"A","name":"A"}"#,
            r#"{"name":"E","direct":true,"deliver_subject":"dd"}"#,
            r#"{"durable_name":"A","dead_letter_subject":"dlq.a"}"#,
        ] {
            check(input).expect(input);
        }
        let c = check(r#"{"durable_name":"A","pause_until":"2001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(c.metadata["_nats.req.level"], "1");
        let c = check(r#"{"durable_name":"A","dead_letter_subject":"dlq.a"}"#).unwrap();
        assert!(json(&c).ends_with(r#","dead_letter_subject":"dlq.a"}"#));
    }

    #[test]
    fn workqueue_rules() {
        let wq = r#"{"name":"W5","subjects":["w5.>"],"retention":"workqueue"}"#;
        let err = |json: &str| check_on(wq, json).unwrap_err().err_code;
        assert_eq!(err(r#"{"durable_name":"A"}"#), 10084);
        assert_eq!(err(r#"{"durable_name":"A","ack_policy":"all"}"#), 10098);
        assert_eq!(
            err(r#"{"durable_name":"A","ack_policy":"none","deliver_subject":"dw"}"#),
            10098
        );
        assert_eq!(
            err(r#"{"durable_name":"A","ack_policy":"explicit","deliver_policy":"new"}"#),
            10101
        );
        let a = check_on(wq, r#"{"durable_name":"A","ack_policy":"explicit"}"#).unwrap();
        let b_unfiltered = check_on(wq, r#"{"durable_name":"B","ack_policy":"explicit"}"#).unwrap();
        assert!(check_workqueue_filters(&a, &[]).is_ok());
        assert_eq!(
            check_workqueue_filters(&b_unfiltered, &[&a])
                .unwrap_err()
                .err_code,
            10099
        );
        let filtered = |f: &str| {
            check_on(
                wq,
                &format!(
                    r#"{{"durable_name":"X","ack_policy":"explicit","filter_subject":"{f}"}}"#
                ),
            )
            .unwrap()
        };
        assert_eq!(
            check_workqueue_filters(&filtered("w5.a"), &[&a])
                .unwrap_err()
                .err_code,
            10100
        );
        let a_b = filtered("w5.b");
        let b_a = filtered("w5.a");
        assert!(check_workqueue_filters(&b_a, &[&a_b]).is_ok());
        let e = check_workqueue_filters(&filtered("w5.*"), &[&a_b, &b_a]).unwrap_err();
        assert_eq!(
            (e.err_code, e.description.as_str()),
            (10100, "filtered consumer not unique on workqueue stream")
        );
        let c = check_on(
            wq,
            r#"{"durable_name":"C","ack_policy":"explicit","filter_subjects":["w5.c","w5.d.>"]}"#,
        )
        .unwrap();
        assert!(check_workqueue_filters(&c, &[&a_b, &b_a]).is_ok());
        assert!(check_workqueue_filters(&filtered("w5.d.x"), &[&a_b, &b_a, &c]).is_err());
        assert!(check_workqueue_filters(&filtered(">"), &[&c]).is_err());
        assert!(check_workqueue_filters(&filtered("w5.e"), &[&a_b, &b_a, &c]).is_ok());
    }

    #[test]
    fn update_rules_match_nats_server() {
        let base = normalized(r#"{"durable_name":"U1"}"#);
        let upd = |json: &str| {
            let new = normalized(json);
            ConsumerConfig::validate_update(&base, &new)
        };
        for (json, want) in [
            (
                r#"{"durable_name":"U1","deliver_policy":"new"}"#,
                "deliver policy can not be updated",
            ),
            (
                r#"{"durable_name":"U1","mem_storage":true}"#,
                "storage type can not be updated",
            ),
            (
                r#"{"durable_name":"U1","ack_policy":"explicit"}"#,
                "ack policy can not be updated",
            ),
            (
                r#"{"durable_name":"U1","replay_policy":"original"}"#,
                "replay policy can not be updated",
            ),
            (
                r#"{"durable_name":"U1","deliver_subject":"dx"}"#,
                "can not update pull consumer to push based",
            ),
            (
                r#"{"durable_name":"U1","max_waiting":10}"#,
                "max waiting can not be updated",
            ),
            (
                r#"{"durable_name":"U1","sourcing":true}"#,
                "sourcing can not be updated",
            ),
            (
                r#"{"durable_name":"U1","direct":true}"#,
                "direct can not be updated",
            ),
            (
                r#"{"durable_name":"U1","opt_start_seq":3}"#,
                "start sequence can not be updated",
            ),
            (
                r#"{"durable_name":"U1","opt_start_time":"2020-01-01T00:00:00Z"}"#,
                "start time can not be updated",
            ),
        ] {
            let err = upd(json).expect_err(json);
            assert_eq!(
                (err.code, err.err_code, err.description.as_str()),
                (500, 10012, want),
                "{json}"
            );
        }
        for json in [
            r#"{"durable_name":"U1","max_deliver":5}"#,
            r#"{"durable_name":"U1","max_ack_pending":7}"#,
            r#"{"durable_name":"U1","ack_wait":7}"#,
            r#"{"durable_name":"U1","filter_subject":"c5.a"}"#,
            r#"{"durable_name":"U1","description":"y"}"#,
            r#"{"durable_name":"U1","headers_only":true,"max_batch":3,"max_expires":5000000,"max_bytes":9}"#,
            r#"{"durable_name":"U1","inactive_threshold":9000000000,"num_replicas":1,"metadata":{"x":"y"}}"#,
            r#"{"durable_name":"U1","priority_policy":"overflow","priority_groups":["a"]}"#,
        ] {
            upd(json).expect(json);
        }
        let err = upd(r#"{"durable_name":"U1","backoff":[1,2],"max_deliver":1}"#).unwrap_err();
        assert_eq!(err.err_code, 10116);
        let push = normalized(
            r#"{"durable_name":"PP","deliver_subject":"dp","idle_heartbeat":1000000000,"flow_control":true}"#,
        );
        let p = |json: &str| ConsumerConfig::validate_update(&push, &normalized(json));
        assert_eq!(
            p(r#"{"durable_name":"PP","deliver_subject":"dp","idle_heartbeat":2000000000,"flow_control":true}"#).unwrap_err().description,
            "heart beats can not be updated"
        );
        assert_eq!(
            p(r#"{"durable_name":"PP","deliver_subject":"dp","idle_heartbeat":1000000000}"#)
                .unwrap_err()
                .description,
            "flow control can not be updated"
        );
        p(r#"{"durable_name":"PP","deliver_subject":"dq","idle_heartbeat":1000000000,"flow_control":true,"deliver_group":"x","rate_limit_bps":9}"#).unwrap();
        let pulled =
            normalized(r#"{"durable_name":"PP","idle_heartbeat":1000000000,"flow_control":true}"#);
        assert_eq!(
            ConsumerConfig::validate_update(&push, &pulled)
                .unwrap_err()
                .description,
            "can not update push consumer to pull based"
        );
        // Same instant with another offset is the same start time.
        let t1 = normalized(
            r#"{"durable_name":"T","deliver_policy":"by_start_time","opt_start_time":"2020-01-01T00:00:00Z"}"#,
        );
        let t2 = normalized(
            r#"{"durable_name":"T","deliver_policy":"by_start_time","opt_start_time":"2020-01-01T01:00:00+01:00"}"#,
        );
        ConsumerConfig::validate_update(&t1, &t2).unwrap();
        assert!(t1.same_for_create(&t2));
    }

    #[test]
    fn enums_decode_like_go() {
        let err = |json: &str| {
            serde_json::from_str::<ConsumerConfig>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"ack_policy":"bad"}"#).starts_with(r#"can not unmarshal "\"bad\"""#));
        assert!(err(r#"{"deliver_policy":"bad"}"#).starts_with(r#"can not unmarshal "\"bad\"""#));
        assert!(err(r#"{"replay_policy":"bad"}"#).starts_with(r#"can not unmarshal "\"bad\"""#));
        assert!(err(r#"{"ack_policy":null}"#).starts_with(r#"can not unmarshal "null""#));
        assert!(
            err(r#"{"priority_policy":"bad"}"#).starts_with(r#"unknown priority policy: "bad""#)
        );
        assert!(err(r#"{"priority_policy":null}"#).starts_with("unknown priority policy: null"));
        assert!(err(r#"{"bogus":1}"#).starts_with("unknown field `bogus`"));
        assert!(err(r#"{"opt_start_time":"bad"}"#).starts_with("parsing time \"bad\""));
        let c = cfg(
            r#"{"ack_policy":"all","deliver_policy":"last_per_subject","replay_policy":"original","priority_policy":"prioritized"}"#,
        );
        assert_eq!(
            (
                c.ack_policy,
                c.deliver_policy,
                c.replay_policy,
                c.priority_policy
            ),
            (
                AckPolicy::All,
                DeliverPolicy::LastPerSubject,
                ReplayPolicy::Original,
                PriorityPolicy::Prioritized
            )
        );
        // Offsets are accepted; the instant is kept (rendered in UTC).
        let c = cfg(r#"{"opt_start_time":"2020-01-02T03:04:05.120+01:00"}"#);
        assert_eq!(
            format_rfc3339_nanos(c.opt_start_time_ns.unwrap()),
            "2020-01-02T02:04:05.12Z"
        );
    }

    #[test]
    fn helpers() {
        let c = cfg(r#"{"filter_subject":"a.*"}"#);
        assert_eq!(c.filters(), ["a.*"]);
        assert!(c.matches_filter(b"a.b") && !c.matches_filter(b"b.a"));
        let c = cfg(r#"{"filter_subjects":["a","b.>"],"deliver_subject":"x","durable_name":"D"}"#);
        assert_eq!(c.filters(), ["a", "b.>"]);
        assert!(c.is_push() && c.is_durable() && c.effective_name() == "D");
        let c = cfg(r#"{"name":"E"}"#);
        assert!(c.filters().is_empty() && c.matches_filter(b"anything"));
        assert!(!c.is_push() && !c.is_durable() && c.effective_name() == "E");
    }
}
