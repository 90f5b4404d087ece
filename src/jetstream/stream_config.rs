//! `StreamConfig` with nats-server 2.15.1's field names, key order, defaults and validation texts
//! (each observed against a live server). Serialising a normalised config yields the same keys,
//! in the same order, as nats-server's responses.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::errors::JsApiError;
use crate::subject::{is_valid_subscribe_subject, subject_matches, subjects_overlap};

/// Longest stream name nats-server accepts (bytes).
pub const MAX_STREAM_NAME_BYTES: usize = 255;
/// Longest description nats-server accepts (bytes).
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Largest `num_replicas` nats-server accepts at all (larger ones get a different error than 10074).
pub const MAX_REPLICAS: i64 = 5;
/// Duplicate window used when a config leaves it 0 (unless `max_age` is shorter).
pub const DEFAULT_DUPLICATE_WINDOW_NS: i64 = 120_000_000_000;
/// Smallest non-zero `max_age`.
pub const MIN_MAX_AGE_NS: i64 = 100_000_000;
/// Smallest non-zero `duplicate_window`.
pub const MIN_DUPLICATE_WINDOW_NS: i64 = 100_000_000;
/// Smallest non-zero `subject_delete_marker_ttl`.
pub const MIN_SUBJECT_DELETE_MARKER_TTL_NS: i64 = 1_000_000_000;
/// Metadata key carrying the server's API level (added to responses, never stored).
pub const META_API_LEVEL: &str = "_nats.level";
/// Metadata key carrying the API level the config requires (stored with the config).
pub const META_REQUIRED_API_LEVEL: &str = "_nats.req.level";
/// Metadata key carrying the server version (added to responses, never stored).
pub const META_SERVER_VERSION: &str = "_nats.ver";

/// nats-server's 10052 text for a missing or malformed stream name.
const NAME_INVALID: &str = "stream name is required and can not contain '.', '*', '>', '\\', '/'";

pub(crate) use super::gocompat::serde_go::{
    is_false, is_zero_i64, is_zero_u64, null_as_default, RawText, RawVisitor,
};

/// Defines a lowercase-string enum that decodes and fails like nats-server's Go enums.
macro_rules! go_enum {
    (
        $(#[$meta:meta])*
        $name:ident, unknown($raw:ident) => $unknown:expr,
        { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let RawText(raw) = deserializer.deserialize_any(RawVisitor)?;
                $(if raw == concat!("\"", $text, "\"") {
                    return Ok(Self::$variant);
                })+
                let $raw = raw;
                Err(de::Error::custom($unknown))
            }
        }
    };
}

pub(crate) use go_enum;

go_enum!(
    /// How messages are retained (`retention`).
    RetentionPolicy, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// Keep until a `max_*` limit evicts.
        #[default]
        Limits => "limits",
        /// Keep while some consumer still needs the message.
        Interest => "interest",
        /// Remove once any consumer acks.
        WorkQueue => "workqueue",
    }
);

go_enum!(
    /// What happens when a limit is reached (`discard`).
    DiscardPolicy, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// Evict the oldest messages.
        #[default]
        Old => "old",
        /// Refuse the new message (10077).
        New => "new",
    }
);

go_enum!(
    /// Where messages live (`storage`).
    StorageType, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// Segment files on disk.
        #[default]
        File => "file",
        /// Memory only.
        Memory => "memory",
    }
);

go_enum!(
    /// On-disk compression (`compression`); natrix stores it but does not compress.
    Compression, unknown(_raw) => "unknown compression algorithm",
    {
        /// No compression.
        #[default]
        None => "none",
        /// S2 compression.
        S2 => "s2",
    }
);

go_enum!(
    /// 2.12 persistence mode (`persist_mode`); `default` is omitted from output.
    PersistMode, unknown(raw) => format!("can not unmarshal {raw:?}"),
    {
        /// Flush before acking (nats-server's meaning; natrix follows its own sync policy).
        #[default]
        Default => "default",
        /// Ack before flushing.
        Async => "async",
    }
);

impl PersistMode {
    fn is_default(&self) -> bool {
        *self == Self::Default
    }
}

/// Replica placement hints (`placement`); accepted and ignored by a single server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Placement {
    /// Cluster name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cluster: String,
    /// Server tags.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tags: Vec<String>,
}

/// `src`/`dest` subject mapping (`subject_transform`, source `subject_transforms`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubjectTransform {
    /// Source pattern.
    #[serde(deserialize_with = "null_as_default")]
    pub src: String,
    /// Destination pattern.
    #[serde(deserialize_with = "null_as_default")]
    pub dest: String,
}

/// Republish stored messages (`republish`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RePublish {
    /// Source pattern.
    #[serde(deserialize_with = "null_as_default")]
    pub src: String,
    /// Destination pattern.
    #[serde(deserialize_with = "null_as_default")]
    pub dest: String,
    /// Republish headers only.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub headers_only: bool,
}

/// Cross-account prefixes of a source (`external`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalStream {
    /// API prefix.
    #[serde(deserialize_with = "null_as_default")]
    pub api: String,
    /// Delivery prefix.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver: String,
}

/// Pre-created consumer used for sourcing (2.14, `consumer`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConsumer {
    /// Durable name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub name: String,
    /// Push deliver subject.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub deliver_subject: String,
}

/// A mirror or source definition; known so configs naming it parse (natrix refuses it, see `check_supported`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSource {
    /// Origin stream.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// Start sequence.
    #[serde(
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "null_as_default"
    )]
    pub opt_start_seq: u64,
    /// Start time (RFC 3339, kept verbatim).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    /// Subject filter.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub filter_subject: String,
    /// Subject transforms.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subject_transforms: Vec<SubjectTransform>,
    /// Cross-account access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
    /// Pre-created sourcing consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<SourceConsumer>,
}

/// Defaults for consumers of the stream (`consumer_limits`, always emitted, `{}` when unset).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerLimits {
    /// Default inactive threshold, ns.
    #[serde(
        rename = "inactive_threshold",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub inactive_threshold_ns: i64,
    /// Default max ack pending.
    #[serde(
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub max_ack_pending: i64,
}

/// A stream's configuration as sent by clients and returned by the server. Field order is
/// nats-server 2.15.1's JSON key order. Decode with `parse_stream_config`, then `normalize`, then
/// `validate`; unknown keys are refused (10025) as nats-server's strict mode does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name (must equal the subject token).
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// Free text, ≤ 4 KiB.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub description: String,
    /// Captured subjects (wildcards allowed); defaults to `[name]`.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub subjects: Vec<String>,
    /// Retention policy.
    pub retention: RetentionPolicy,
    /// Maximum consumers, -1 = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub max_consumers: i64,
    /// Maximum messages, -1 = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub max_msgs: i64,
    /// Maximum total bytes, -1 = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub max_bytes: i64,
    /// Maximum message age in ns, 0 = forever.
    #[serde(rename = "max_age", deserialize_with = "null_as_default")]
    pub max_age_ns: i64,
    /// Maximum messages per subject, -1 = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub max_msgs_per_subject: i64,
    /// Maximum headers+payload bytes of one message, -1 = unlimited.
    #[serde(rename = "max_msg_size", deserialize_with = "null_as_default")]
    pub max_msg_size_bytes: i32,
    /// Discard policy.
    pub discard: DiscardPolicy,
    /// Storage type.
    pub storage: StorageType,
    /// Replicas; only 1 is possible without clustering.
    #[serde(deserialize_with = "null_as_default")]
    pub num_replicas: i64,
    /// Store without sending publish acks.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub no_ack: bool,
    /// Duplicate-detection window in ns.
    #[serde(
        rename = "duplicate_window",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub duplicate_window_ns: i64,
    /// Placement hints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Mirror origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    /// Sources.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub sources: Vec<StreamSource>,
    /// Compression.
    pub compression: Compression,
    /// First sequence of a new stream (0 = 1).
    #[serde(
        skip_serializing_if = "is_zero_u64",
        deserialize_with = "null_as_default"
    )]
    pub first_seq: u64,
    /// Transform applied to incoming subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    /// Republish after storing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<RePublish>,
    /// Serve `$JS.API.DIRECT.GET.<stream>`.
    #[serde(deserialize_with = "null_as_default")]
    pub allow_direct: bool,
    /// Direct get for mirrors.
    #[serde(deserialize_with = "null_as_default")]
    pub mirror_direct: bool,
    /// With `discard:new`, refuse per subject at `max_msgs_per_subject`.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub discard_new_per_subject: bool,
    /// No more writes, deletes or purges.
    #[serde(deserialize_with = "null_as_default")]
    pub sealed: bool,
    /// Refuse STREAM.MSG.DELETE.
    #[serde(deserialize_with = "null_as_default")]
    pub deny_delete: bool,
    /// Refuse STREAM.PURGE and rollups.
    #[serde(deserialize_with = "null_as_default")]
    pub deny_purge: bool,
    /// Honour `Nats-Rollup`.
    #[serde(rename = "allow_rollup_hdrs", deserialize_with = "null_as_default")]
    pub allow_rollup_hdrs: bool,
    /// Consumer defaults.
    #[serde(deserialize_with = "null_as_default")]
    pub consumer_limits: ConsumerLimits,
    /// Honour `Nats-TTL` (nats-py sends true for every KV bucket).
    #[serde(deserialize_with = "null_as_default")]
    pub allow_msg_ttl: bool,
    /// Leave a marker when max_age removes a subject's last message, ns.
    #[serde(
        rename = "subject_delete_marker_ttl",
        skip_serializing_if = "is_zero_i64",
        deserialize_with = "null_as_default"
    )]
    pub subject_delete_marker_ttl_ns: i64,
    /// 2.12 counters.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub allow_msg_counter: bool,
    /// 2.12 atomic batch publish.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub allow_atomic: bool,
    /// 2.12 message schedules.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub allow_msg_schedules: bool,
    /// 2.12 persistence mode.
    #[serde(skip_serializing_if = "PersistMode::is_default")]
    pub persist_mode: PersistMode,
    /// 2.14 fast batch publish.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub allow_batched: bool,
    /// User metadata plus `_nats.req.level` (sorted, as Go prints maps).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub metadata: BTreeMap<String, String>,
}

/// A stream name is well formed: non-empty, no whitespace, `.`, `*`, `>`, `/`, `\`.
pub fn is_valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && !name.bytes().any(|b| {
            matches!(
                b,
                b'.' | b'*' | b'>' | b'/' | b'\\' | b' ' | b'\t' | b'\r' | b'\n' | 0x0c
            )
        })
}

/// nats-server's first check on the name token of a stream API subject (10128 for `/` or `\`).
pub fn check_stream_name_token(name: &str) -> Result<(), JsApiError> {
    if name.contains(['/', '\\']) {
        return Err(JsApiError::stream_name_contains_path_separators());
    }
    Ok(())
}

/// Every subject matched by `a` is also matched by `b` (token-wise, wildcards allowed on both sides).
pub(crate) fn subject_is_subset(a: &str, b: &str) -> bool {
    let mut ta = a.split('.');
    let mut tb = b.split('.');
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return true,
            (Some(_), Some(">")) => return true,
            (Some(">"), _) => return false,
            (Some(_), Some("*")) => {}
            (Some("*"), _) => return false,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Go's `SubjectsCollide` as nats-server uses it between a stream's own subjects: token-wise,
/// with an empty token (from a not yet validated subject) compared as a literal.
fn subjects_collide(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    let mut ta = a.split('.');
    let mut tb = b.split('.');
    loop {
        match (ta.next(), tb.next()) {
            (None, None) => return true,
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (Some(x), Some(y)) if x == "*" || y == "*" || x == y => {}
            _ => return false,
        }
    }
}

/// The subject reaches into JetStream's internal subject space (`$JS.>` except advisories, `$JSC.>`, `$NRG.>`).
fn overlaps_jetstream_api(subject: &str) -> bool {
    let b = subject.as_bytes();
    (subjects_overlap(b, b"$JS.>") && !subject_is_subset(subject, "$JS.EVENT.>"))
        || subjects_overlap(b, b"$JSC.>")
        || subjects_overlap(b, b"$NRG.>")
}

fn invalid(detail: impl Into<String>) -> Result<(), JsApiError> {
    Err(JsApiError::stream_invalid_config(detail))
}

impl StreamConfig {
    /// Applies nats-server's defaults in place: 0/negative limits → -1, replicas 0 → 1, the
    /// duplicate window (2 min, or `max_age` if shorter), subjects `[name]`, empty placement
    /// dropped, the flags that `subject_delete_marker_ttl`/`allow_msg_schedules` imply, and the
    /// `_nats.req.level` metadata (dynamic `_nats.level`/`_nats.ver` are removed).
    pub fn normalize(&mut self) {
        if self.num_replicas == 0 {
            self.num_replicas = 1;
        }
        for limit in [
            &mut self.max_consumers,
            &mut self.max_msgs,
            &mut self.max_bytes,
            &mut self.max_msgs_per_subject,
        ] {
            if *limit <= 0 {
                *limit = -1;
            }
        }
        if self.max_msg_size_bytes <= 0 {
            self.max_msg_size_bytes = -1;
        }
        let origin_less = self.mirror.is_none() && self.sources.is_empty();
        if self.duplicate_window_ns == 0 && origin_less {
            self.duplicate_window_ns =
                if self.max_age_ns != 0 && self.max_age_ns < DEFAULT_DUPLICATE_WINDOW_NS {
                    self.max_age_ns
                } else {
                    DEFAULT_DUPLICATE_WINDOW_NS
                };
        }
        if self.subjects.is_empty() && origin_less {
            self.subjects.push(self.name.clone());
        }
        if self
            .placement
            .as_ref()
            .is_some_and(|p| p.cluster.is_empty() && p.tags.is_empty())
        {
            self.placement = None;
        }
        // nats-server checks rollups against deny_purge before this adjustment, so a config
        // that sets both explicitly is left alone for `validate` to refuse.
        if self.subject_delete_marker_ttl_ns > 0 && !(self.deny_purge && self.allow_rollup_hdrs) {
            self.allow_msg_ttl = true;
            self.allow_rollup_hdrs = true;
            self.deny_purge = false;
        }
        // As nats-server: schedules need rollups (a schedule replaces its subject's last one);
        // a config that sets deny_purge and rollups explicitly is left for `validate`.
        if self.allow_msg_schedules && !(self.deny_purge && self.allow_rollup_hdrs) {
            self.allow_rollup_hdrs = true;
            self.deny_purge = false;
        }
        self.metadata.remove(META_API_LEVEL);
        self.metadata.remove(META_SERVER_VERSION);
        self.metadata.insert(
            META_REQUIRED_API_LEVEL.to_owned(),
            self.required_api_level().to_string(),
        );
    }

    /// The JetStream API level the features in use need (0 plain, 1 TTLs, 2 for 2.12 features,
    /// 4 for batched publish), stored as `_nats.req.level`.
    pub fn required_api_level(&self) -> u32 {
        let mut level = 0;
        if self.allow_msg_ttl || self.subject_delete_marker_ttl_ns > 0 {
            level = 1;
        }
        if self.allow_msg_counter
            || self.allow_atomic
            || self.allow_msg_schedules
            || self.persist_mode != PersistMode::Default
        {
            level = 2;
        }
        if self.allow_batched {
            level = 4;
        }
        level
    }

    /// nats-server's configuration checks on a normalised config, in its order, with its 10052
    /// texts; also 10133 (negative replicas) and, last, 10074 (replicas > 1, no clustering).
    /// Checks against other streams (10058 different config, 10065 overlap) are the caller's.
    pub fn validate(&self) -> Result<(), JsApiError> {
        self.validate_config()?;
        self.check_replicas_supported()
    }

    /// 10074 for `num_replicas` > 1: this server has no clustering. (On update nats-server
    /// checks this after the name comparison, so it is separate from `validate_config`.)
    pub fn check_replicas_supported(&self) -> Result<(), JsApiError> {
        if self.num_replicas > 1 {
            return Err(JsApiError::replicas_not_supported());
        }
        Ok(())
    }

    /// `validate` without the 10074 replica check.
    pub fn validate_config(&self) -> Result<(), JsApiError> {
        if !is_valid_stream_name(&self.name) {
            return invalid(NAME_INVALID);
        }
        if self.name.len() > MAX_STREAM_NAME_BYTES {
            return invalid(format!(
                "stream name is too long, maximum allowed is {MAX_STREAM_NAME_BYTES}"
            ));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return invalid(format!(
                "stream description is too long, maximum allowed is {MAX_DESCRIPTION_BYTES}"
            ));
        }
        if self.num_replicas > MAX_REPLICAS {
            return invalid(format!("maximum replicas is {MAX_REPLICAS}"));
        }
        if self.num_replicas < 0 {
            return Err(JsApiError::replicas_count_negative());
        }
        if self.max_age_ns < 0 {
            return invalid("max age can not be negative");
        }
        if self.max_age_ns > 0 && self.max_age_ns < MIN_MAX_AGE_NS {
            return invalid("max age needs to be >= 100ms");
        }
        if self.duplicate_window_ns < 0 {
            return invalid("duplicates window can not be negative");
        }
        if self.max_age_ns != 0 && self.duplicate_window_ns > self.max_age_ns {
            return invalid("duplicates window can not be larger then max age");
        }
        if self.duplicate_window_ns > 0 && self.duplicate_window_ns < MIN_DUPLICATE_WINDOW_NS {
            return invalid("duplicates window needs to be >= 100ms");
        }
        if self.deny_purge && self.allow_rollup_hdrs {
            return invalid("roll-ups require the purge permission");
        }
        if self.allow_msg_counter {
            if self.discard == DiscardPolicy::New {
                return invalid("counter stream cannot use discard new");
            }
            // nats-server checks the flag as sent: one implied by subject delete markers
            // (set by `normalize`) passes.
            if self.allow_msg_ttl && self.subject_delete_marker_ttl_ns <= 0 {
                return invalid("counter stream cannot use message TTLs");
            }
            if self.allow_msg_schedules {
                return invalid("counter stream cannot use message schedules");
            }
            if self.retention != RetentionPolicy::Limits {
                return invalid("counter stream can only use limits retention");
            }
        }
        if self.discard_new_per_subject {
            if self.discard != DiscardPolicy::New {
                return invalid("discard new per subject requires discard new policy to be set");
            }
            if self.max_msgs_per_subject <= 0 {
                return invalid("discard new per subject requires max msgs per subject > 0");
            }
        }
        if self.subject_delete_marker_ttl_ns < 0 {
            return invalid("subject delete marker TTL must not be negative");
        }
        if self.subject_delete_marker_ttl_ns > 0
            && self.subject_delete_marker_ttl_ns < MIN_SUBJECT_DELETE_MARKER_TTL_NS
        {
            return invalid("subject delete marker TTL must be at least 1 second");
        }
        if self.allow_msg_schedules && self.discard == DiscardPolicy::New {
            return invalid("message scheduling cannot use discard new");
        }
        if self.persist_mode == PersistMode::Async {
            if self.storage != StorageType::File {
                return invalid("async persist mode is only supported on file storage");
            }
            if self.num_replicas > 1 {
                return invalid("async persist mode is not supported on replicated streams");
            }
            if self.allow_atomic {
                return invalid("async persist mode is not supported with atomic batch publish");
            }
        }
        for (i, subject) in self.subjects.iter().enumerate() {
            if !is_valid_subscribe_subject(subject.as_bytes()) {
                return invalid("invalid subject");
            }
            if !self.no_ack {
                if subject == ">" {
                    return invalid("capturing all subjects requires no-ack to be true");
                }
                if overlaps_jetstream_api(subject) {
                    return invalid(
                        "subjects that overlap with jetstream api require no-ack to be true",
                    );
                }
                if subjects_overlap(subject.as_bytes(), b"$SYS.>") {
                    return invalid(
                        "subjects that overlap with system api require no-ack to be true",
                    );
                }
            }
            if let Some(other) = self.subjects[i + 1..]
                .iter()
                .find(|other| subjects_collide(subject, other))
            {
                return invalid(format!("subject {subject:?} overlaps with {other:?}"));
            }
        }
        if self.subjects.is_empty() && self.mirror.is_none() && self.sources.is_empty() {
            return invalid("stream needs at least one configured subject or be a source/mirror");
        }
        Ok(())
    }

    /// Checks an update of `old` to `new` (both normalised and validated) with nats-server's
    /// texts, then applies what sealing implies to `new` (max_age 0, discard new, deny
    /// delete/purge, no rollups). Subject overlap with other streams is the caller's (10065).
    pub fn validate_update(old: &StreamConfig, new: &mut StreamConfig) -> Result<(), JsApiError> {
        if new.storage != old.storage {
            return invalid("stream configuration update can not change storage type");
        }
        if new.retention != old.retention
            && (new.retention == RetentionPolicy::WorkQueue
                || old.retention == RetentionPolicy::WorkQueue)
        {
            return invalid(
                "stream configuration update can not change retention policy to/from workqueue",
            );
        }
        if old.sealed && !new.sealed {
            return invalid("stream configuration update can not unseal a sealed stream");
        }
        if old.deny_delete && !new.deny_delete {
            return invalid("stream configuration update can not cancel deny message deletes");
        }
        if old.deny_purge && !new.deny_purge {
            return invalid("stream configuration update can not cancel deny purge");
        }
        if old.mirror != new.mirror {
            return Err(JsApiError::stream_mirror_not_updatable());
        }
        if old.allow_msg_ttl && !new.allow_msg_ttl {
            return invalid("message TTL status can not be disabled");
        }
        if old.allow_msg_counter != new.allow_msg_counter {
            return invalid("stream configuration update can not change message counter setting");
        }
        if old.allow_msg_schedules && !new.allow_msg_schedules {
            return invalid("message schedules can not be disabled");
        }
        if new.sealed {
            new.max_age_ns = 0;
            new.discard = DiscardPolicy::New;
            new.deny_delete = true;
            new.deny_purge = true;
            new.allow_rollup_hdrs = false;
        }
        Ok(())
    }

    /// natrix-specific: refuses (10052, naming the field) the features natrix does not
    /// implement, so that a client is told instead of silently getting different semantics.
    /// nats-server accepts all of these. Call after `validate`.
    pub fn check_supported(&self) -> Result<(), JsApiError> {
        let unsupported = if self.mirror.is_some() {
            "stream mirrors are not supported (field mirror)"
        } else if !self.sources.is_empty() {
            "stream sources are not supported (field sources)"
        } else if self.subject_transform.is_some() {
            "stream subject transforms are not supported (field subject_transform)"
        } else if self.republish.is_some() {
            "stream republish is not supported (field republish)"
        } else if self.allow_batched {
            "batched publish is not supported (field allow_batched)"
        } else {
            return Ok(());
        };
        invalid(unsupported)
    }

    /// One of the stream's subjects may match something `filter` matches (STREAM.NAMES/LIST `subject`).
    pub fn subjects_intersect(&self, filter: &str) -> bool {
        self.subjects
            .iter()
            .any(|s| subjects_overlap(s.as_bytes(), filter.as_bytes()))
    }

    /// A published (literal) subject is captured by this stream.
    pub fn captures(&self, subject: &[u8]) -> bool {
        self.subjects
            .iter()
            .any(|s| subject_matches(s.as_bytes(), subject))
    }

    /// The config as responses show it: stored metadata plus `_nats.level` and `_nats.ver`.
    pub fn with_dynamic_metadata(&self, api_level: u32, server_version: &str) -> StreamConfig {
        let mut shown = self.clone();
        shown
            .metadata
            .insert(META_API_LEVEL.to_owned(), api_level.to_string());
        shown
            .metadata
            .insert(META_SERVER_VERSION.to_owned(), server_version.to_owned());
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::parse_stream_config;

    fn normalized(json: &str) -> StreamConfig {
        let mut cfg = parse_stream_config(json.as_bytes()).expect(json);
        cfg.normalize();
        cfg
    }

    fn check(json: &str) -> Result<StreamConfig, JsApiError> {
        let cfg = normalized(json);
        cfg.validate().map(|()| cfg)
    }

    /// nats-server 2.15.1's reply to `{"name":"S1"}`, config part (captured live).
    const SERVER_DEFAULT_CONFIG: &str = r#"{"name":"S1","subjects":["S1"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":1,"duplicate_window":120000000000,"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.req.level":"0"}}"#;

    #[test]
    fn defaults_serialize_exactly_like_nats_server() {
        let cfg = normalized(r#"{"name":"S1"}"#);
        assert_eq!(serde_json::to_string(&cfg).unwrap(), SERVER_DEFAULT_CONFIG);
    }

    #[test]
    fn full_config_keys_in_server_order() {
        // Every optional key set; order as nats-server 2.15.1 printed them (pairwise probes).
        let json = r#"{"name":"F1","description":"desc","subjects":["f1.>"],"retention":"interest","max_consumers":5,"max_msgs":6,"max_bytes":7,"max_age":60000000000,"max_msgs_per_subject":3,"max_msg_size":100,"discard":"new","storage":"memory","num_replicas":1,"no_ack":true,"duplicate_window":1000000000,"placement":{"cluster":"c","tags":["a"]},"mirror":{"name":"M","opt_start_seq":2,"opt_start_time":"2020-01-01T00:00:00Z","filter_subject":"x","subject_transforms":[{"src":"a","dest":"b"}],"external":{"api":"$JS.x.API","deliver":"d"},"consumer":{"name":"n","deliver_subject":"ds"}},"sources":[{"name":"S"}],"compression":"s2","first_seq":10,"subject_transform":{"src":"f1.>","dest":"g1.>"},"republish":{"src":"f1.>","dest":"r1.>","headers_only":true},"allow_direct":true,"mirror_direct":true,"discard_new_per_subject":true,"sealed":true,"deny_delete":true,"deny_purge":true,"allow_rollup_hdrs":true,"consumer_limits":{"inactive_threshold":1000000000,"max_ack_pending":10},"allow_msg_ttl":true,"subject_delete_marker_ttl":1000000000,"allow_msg_counter":true,"allow_atomic":true,"allow_msg_schedules":true,"persist_mode":"async","allow_batched":true,"metadata":{"k":"v"}}"#;
        let cfg = parse_stream_config(json.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&cfg).unwrap(), json);
    }

    #[test]
    fn round_trips_through_json() {
        for json in [
            r#"{"name":"S1"}"#,
            r#"{"name":"K","subjects":["$KV.b.>"],"max_msgs_per_subject":1,"discard":"new","allow_rollup_hdrs":true,"deny_delete":true,"allow_direct":true,"allow_msg_ttl":true}"#,
            r#"{"name":"W","retention":"workqueue","storage":"memory","max_age":1000000000,"placement":{"tags":["x"]}}"#,
        ] {
            let cfg = normalized(json);
            let text = serde_json::to_vec(&cfg).unwrap();
            let back: StreamConfig = serde_json::from_slice(&text).unwrap();
            assert_eq!(back, cfg);
            let mut again = back.clone();
            again.normalize();
            assert_eq!(again, cfg, "normalize is idempotent");
        }
    }

    #[test]
    fn normalisation_matches_server_defaults() {
        let cfg = normalized(
            r#"{"name":"N","max_msgs":0,"max_bytes":-5,"max_msg_size":0,"max_consumers":-2,"max_msgs_per_subject":0,"num_replicas":0}"#,
        );
        assert_eq!(
            (
                cfg.max_msgs,
                cfg.max_bytes,
                cfg.max_msg_size_bytes,
                cfg.max_consumers,
                cfg.max_msgs_per_subject,
                cfg.num_replicas
            ),
            (-1, -1, -1, -1, -1, 1)
        );
        assert_eq!(cfg.subjects, vec!["N".to_owned()]);
        assert_eq!(cfg.duplicate_window_ns, DEFAULT_DUPLICATE_WINDOW_NS);
        // max_age 60 s ⇒ duplicate window 60 s (verified live).
        let cfg = normalized(r#"{"name":"N","max_age":60000000000}"#);
        assert_eq!(cfg.duplicate_window_ns, 60_000_000_000);
        // An explicit window stays.
        let cfg = normalized(r#"{"name":"N","duplicate_window":1000000000}"#);
        assert_eq!(cfg.duplicate_window_ns, 1_000_000_000);
        // Empty subjects list and empty placement.
        let cfg = normalized(r#"{"name":"E","subjects":[],"placement":{}}"#);
        assert_eq!(cfg.subjects, vec!["E".to_owned()]);
        assert_eq!(cfg.placement, None);
        // Mirrors get neither default subjects nor a duplicate window.
        let cfg = normalized(r#"{"name":"M","mirror":{"name":"S1"}}"#);
        assert!(cfg.subjects.is_empty());
        assert_eq!(cfg.duplicate_window_ns, 0);
        // Delete markers imply TTLs and rollups and drop deny_purge (verified live).
        let cfg =
            normalized(r#"{"name":"T","subject_delete_marker_ttl":1000000000,"deny_purge":true}"#);
        assert!(cfg.allow_msg_ttl && cfg.allow_rollup_hdrs && !cfg.deny_purge);
        assert_eq!(cfg.metadata[META_REQUIRED_API_LEVEL], "1");
        // ...but not when rollups and deny_purge were both asked for (refused by validate).
        let both = r#"{"name":"T","subject_delete_marker_ttl":1000000000,"deny_purge":true,"allow_rollup_hdrs":true}"#;
        assert_eq!(
            check(both).unwrap_err().description,
            "roll-ups require the purge permission"
        );
        let cfg = normalized(r#"{"name":"T","allow_msg_schedules":true,"deny_purge":true}"#);
        assert!(cfg.allow_rollup_hdrs && !cfg.deny_purge);
        assert_eq!(
            check(r#"{"name":"T","allow_msg_schedules":true,"discard":"new"}"#)
                .unwrap_err()
                .description,
            "message scheduling cannot use discard new"
        );
    }

    #[test]
    fn metadata_dynamic_keys_are_replaced() {
        let cfg = normalized(
            r#"{"name":"Q","metadata":{"_nats.req.level":"7","_nats.level":"9","_nats.ver":"x","_nats.other":"y"}}"#,
        );
        let keys: Vec<_> = cfg.metadata.keys().map(String::as_str).collect();
        assert_eq!(keys, ["_nats.other", "_nats.req.level"]);
        assert_eq!(cfg.metadata[META_REQUIRED_API_LEVEL], "0");
        let shown = cfg.with_dynamic_metadata(5, "2.15.1");
        let json = serde_json::to_value(&shown).unwrap();
        assert_eq!(
            json["metadata"],
            serde_json::json!({"_nats.level":"5","_nats.other":"y","_nats.req.level":"0","_nats.ver":"2.15.1"})
        );
    }

    #[test]
    fn required_api_levels() {
        let level = |json: &str| normalized(json).required_api_level();
        assert_eq!(level(r#"{"name":"a"}"#), 0);
        assert_eq!(level(r#"{"name":"a","allow_msg_ttl":true}"#), 1);
        assert_eq!(level(r#"{"name":"a","allow_msg_counter":true}"#), 2);
        assert_eq!(level(r#"{"name":"a","allow_atomic":true}"#), 2);
        assert_eq!(level(r#"{"name":"a","persist_mode":"async"}"#), 2);
        assert_eq!(level(r#"{"name":"a","allow_batched":true}"#), 4);
    }

    #[test]
    fn validation_table_matches_nats_server() {
        // (config, expected err_code, expected description) — each observed on nats-server 2.15.1.
        let cases: &[(&str, u16, &str)] = &[
            (r#"{"name":"S*"}"#, 10052, NAME_INVALID),
            (r#"{"name":""}"#, 10052, NAME_INVALID),
            (r#"{"name":"a b"}"#, 10052, NAME_INVALID),
            (r#"{"name":"a/b"}"#, 10052, NAME_INVALID),
            (r#"{"name":"a>"}"#, 10052, NAME_INVALID),
            (
                &format!(r#"{{"name":"{}"}}"#, "N".repeat(256)),
                10052,
                "stream name is too long, maximum allowed is 255",
            ),
            (
                &format!(
                    r#"{{"name":"D","description":"{}","max_age":-1}}"#,
                    "x".repeat(4097)
                ),
                10052,
                "stream description is too long, maximum allowed is 4096",
            ),
            (
                r#"{"name":"R","num_replicas":6,"max_age":-1}"#,
                10052,
                "maximum replicas is 5",
            ),
            (
                r#"{"name":"R","num_replicas":-1,"max_age":-1}"#,
                10133,
                "replicas count cannot be negative",
            ),
            (
                r#"{"name":"R","num_replicas":3,"max_age":-1}"#,
                10052,
                "max age can not be negative",
            ),
            (
                r#"{"name":"R","num_replicas":3}"#,
                10074,
                "replicas > 1 not supported in non-clustered mode",
            ),
            (
                r#"{"name":"A","max_age":5}"#,
                10052,
                "max age needs to be >= 100ms",
            ),
            (
                r#"{"name":"A","max_age":-5}"#,
                10052,
                "max age can not be negative",
            ),
            (
                r#"{"name":"A","max_age":-5,"duplicate_window":-5}"#,
                10052,
                "max age can not be negative",
            ),
            (
                r#"{"name":"A","max_age":5,"duplicate_window":5}"#,
                10052,
                "max age needs to be >= 100ms",
            ),
            (
                r#"{"name":"A","max_age":1000000000,"duplicate_window":2000000000}"#,
                10052,
                "duplicates window can not be larger then max age",
            ),
            (
                r#"{"name":"A","duplicate_window":-1}"#,
                10052,
                "duplicates window can not be negative",
            ),
            (
                r#"{"name":"A","duplicate_window":5}"#,
                10052,
                "duplicates window needs to be >= 100ms",
            ),
            (
                r#"{"name":"A","deny_purge":true,"allow_rollup_hdrs":true,"discard_new_per_subject":true}"#,
                10052,
                "roll-ups require the purge permission",
            ),
            (
                r#"{"name":"A","discard_new_per_subject":true}"#,
                10052,
                "discard new per subject requires discard new policy to be set",
            ),
            (
                r#"{"name":"A","discard_new_per_subject":true,"discard":"new"}"#,
                10052,
                "discard new per subject requires max msgs per subject > 0",
            ),
            (
                r#"{"name":"A","subject_delete_marker_ttl":-1}"#,
                10052,
                "subject delete marker TTL must not be negative",
            ),
            (
                r#"{"name":"A","allow_msg_ttl":true,"subject_delete_marker_ttl":1000}"#,
                10052,
                "subject delete marker TTL must be at least 1 second",
            ),
            (
                r#"{"name":"A","subjects":["a..b"]}"#,
                10052,
                "invalid subject",
            ),
            (
                r#"{"name":"A","subjects":["a.>.b"]}"#,
                10052,
                "invalid subject",
            ),
            (r#"{"name":"A","subjects":[""]}"#, 10052, "invalid subject"),
            (
                r#"{"name":"A","subjects":["a b"]}"#,
                10052,
                "invalid subject",
            ),
            (
                r#"{"name":"A","subjects":[">.a"]}"#,
                10052,
                "invalid subject",
            ),
            (
                r#"{"name":"A","max_age":-1,"subjects":["a..b"]}"#,
                10052,
                "max age can not be negative",
            ),
            (
                r#"{"name":"A","subjects":["a","a"]}"#,
                10052,
                r#"subject "a" overlaps with "a""#,
            ),
            (
                r#"{"name":"A","subjects":["a","a","b..c"]}"#,
                10052,
                r#"subject "a" overlaps with "a""#,
            ),
            (
                r#"{"name":"A","subjects":["a.>","a.b"]}"#,
                10052,
                r#"subject "a.>" overlaps with "a.b""#,
            ),
            (
                r#"{"name":"A","subjects":["a.b","a.>"]}"#,
                10052,
                r#"subject "a.b" overlaps with "a.>""#,
            ),
            (
                r#"{"name":"A","subjects":["x","a.b","y","a.*"]}"#,
                10052,
                r#"subject "a.b" overlaps with "a.*""#,
            ),
            (
                r#"{"name":"A","subjects":["a.b","c..d","a.*"]}"#,
                10052,
                r#"subject "a.b" overlaps with "a.*""#,
            ),
            (
                r#"{"name":"A","subjects":["a..b","$JS.API.>"]}"#,
                10052,
                "invalid subject",
            ),
            (
                r#"{"name":"A","subjects":[">"]}"#,
                10052,
                "capturing all subjects requires no-ack to be true",
            ),
        ];
        for &(json, err_code, description) in cases {
            let err = check(json).expect_err(json);
            assert_eq!(
                (err.err_code, err.description.as_str()),
                (err_code, description),
                "{json}"
            );
        }
    }

    #[test]
    fn subject_checks_run_per_index_in_order() {
        // Per subject: validity, reserved spaces, then overlap with the later ones, where an
        // unvalidated later subject's empty token is a literal (all observed on 2.15.1).
        let js = "subjects that overlap with jetstream api require no-ack to be true";
        for (subjects, want) in [
            (
                r#"["fz.>","fz..b"]"#,
                r#"subject "fz.>" overlaps with "fz..b""#,
            ),
            (r#"["x..y","a","a"]"#, "invalid subject"),
            (r#"["x..y","a.>","a..b"]"#, "invalid subject"),
            (r#"["$JS.API.x","a","a"]"#, js),
            (
                r#"[">","a"]"#,
                "capturing all subjects requires no-ack to be true",
            ),
            (r#"["a",">"]"#, r#"subject "a" overlaps with ">""#),
            (r#"["a","$SYS.x","a"]"#, r#"subject "a" overlaps with "a""#),
            (
                r#"["a.b","$JS.API.x","a.*"]"#,
                r#"subject "a.b" overlaps with "a.*""#,
            ),
        ] {
            let json = format!(r#"{{"name":"A","subjects":{subjects}}}"#);
            assert_eq!(check(&json).unwrap_err().description, want, "{subjects}");
        }
        assert!(subjects_collide("a.*", "a."));
        assert!(!subjects_collide("*", ""));
        let json = r#"{"name":"A","subjects":["*","","$JS.EVENT.x"]}"#;
        assert_eq!(check(json).unwrap_err().description, "invalid subject");
        assert!(!subjects_collide("a.>", "a"));
        assert!(!subjects_collide("a.b", "a.c"));
    }

    #[test]
    fn reserved_subject_spaces() {
        let js = "subjects that overlap with jetstream api require no-ack to be true";
        let sys = "subjects that overlap with system api require no-ack to be true";
        // Observed on nats-server 2.15.1.
        for (subject, want) in [
            ("$JS.API.>", Some(js)),
            ("$JS.API.FOO", Some(js)),
            ("$JS.API", Some(js)),
            ("$JS.API.*", Some(js)),
            ("$JS.>", Some(js)),
            ("*.>", Some(js)),
            ("*.*", Some(js)),
            ("*.*.>", Some(js)),
            ("$JS.ACK", Some(js)),
            ("$JS.ACK.>", Some(js)),
            ("$JS.FC.>", Some(js)),
            ("$JS.EVENT", Some(js)),
            ("$JS.*", Some(js)),
            ("$JS.*.>", Some(js)),
            ("$JSC.>", Some(js)),
            ("$NRG.>", Some(js)),
            ("$SYS.>", Some(sys)),
            ("$SYS.*", Some(sys)),
            ("$SYS.A.>", Some(sys)),
            ("$JS", None),
            ("$SYS", None),
            ("$JSC", None),
            ("$NRG", None),
            ("*", None),
            ("$JS.EVENT.>", None),
            ("$JS.EVENT.*", None),
            ("$JS.EVENT.ADVISORY.>", None),
            ("$KV.>", None),
            ("$MQTT.>", None),
            ("_INBOX.>", None),
            ("a.>", None),
        ] {
            let json = format!(r#"{{"name":"Q","subjects":["{subject}"]}}"#);
            let got = check(&json).err().map(|e| e.description);
            assert_eq!(got.as_deref(), want, "{subject}");
            // no_ack lifts all of these.
            let json = format!(r#"{{"name":"Q","no_ack":true,"subjects":["{subject}"]}}"#);
            assert!(check(&json).is_ok(), "{subject} with no_ack");
        }
        assert!(check(r#"{"name":"Q","no_ack":true,"subjects":[">"]}"#).is_ok());
    }

    #[test]
    fn valid_configs_pass() {
        for json in [
            r#"{"name":"S1"}"#,
            r#"{"name":"ÄÖ"}"#,
            r#"{"name":"A","max_age":100000000}"#,
            r#"{"name":"A","max_msgs":-5,"max_bytes":-5,"max_msg_size":-5,"max_consumers":-5,"max_msgs_per_subject":-5}"#,
            r#"{"name":"A","subjects":["a.*","b.>","c"],"discard":"new","max_msgs_per_subject":1,"discard_new_per_subject":true}"#,
            r#"{"name":"A","allow_msg_ttl":true,"deny_purge":true}"#,
            r#"{"name":"A","subject_delete_marker_ttl":1000000000,"deny_purge":true}"#,
            r#"{"name":"A","num_replicas":1}"#,
            r#"{"name":"M","mirror":{"name":"S1"}}"#,
        ] {
            check(json).expect(json);
        }
    }

    #[test]
    fn update_rules() {
        let base = check(r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"deny_purge":true,"allow_msg_ttl":true}"#).unwrap();
        let upd = |json: &str| {
            let mut new = check(json).unwrap();
            StreamConfig::validate_update(&base, &mut new).map(|()| new)
        };
        let cases: &[(&str, &str)] = &[
            (
                r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"deny_purge":true,"allow_msg_ttl":true,"storage":"memory"}"#,
                "stream configuration update can not change storage type",
            ),
            (
                r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"deny_purge":true,"allow_msg_ttl":true,"retention":"workqueue"}"#,
                "stream configuration update can not change retention policy to/from workqueue",
            ),
            (
                r#"{"name":"P","subjects":["p.>"],"deny_purge":true,"allow_msg_ttl":true}"#,
                "stream configuration update can not cancel deny message deletes",
            ),
            (
                r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"allow_msg_ttl":true}"#,
                "stream configuration update can not cancel deny purge",
            ),
            (
                r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"deny_purge":true}"#,
                "message TTL status can not be disabled",
            ),
        ];
        for &(json, want) in cases {
            let err = upd(json).expect_err(json);
            assert_eq!((err.err_code, err.description.as_str()), (10052, want));
        }
        // limits <-> interest is allowed; subjects, limits and max_consumers may change.
        let ok = upd(r#"{"name":"P","subjects":["p.>","q"],"retention":"interest","max_consumers":5,"max_msgs":10,"deny_delete":true,"deny_purge":true,"allow_msg_ttl":true}"#).unwrap();
        assert_eq!(ok.max_consumers, 5);
        // Sealing adjusts the config; unsealing is refused.
        let sealed = upd(r#"{"name":"P","subjects":["p.>"],"deny_delete":true,"deny_purge":true,"allow_msg_ttl":true,"sealed":true,"max_age":1000000000}"#).unwrap();
        assert!(
            sealed.sealed && sealed.deny_delete && sealed.deny_purge && !sealed.allow_rollup_hdrs
        );
        assert_eq!((sealed.max_age_ns, sealed.discard), (0, DiscardPolicy::New));
        let mut unsealed = base.clone();
        let err = StreamConfig::validate_update(&sealed, &mut unsealed).unwrap_err();
        assert_eq!(
            err.description,
            "stream configuration update can not unseal a sealed stream"
        );
        // Mirrors can not change.
        let m1 = check(r#"{"name":"M","mirror":{"name":"A"}}"#).unwrap();
        let mut m2 = check(r#"{"name":"M","mirror":{"name":"B"}}"#).unwrap();
        assert_eq!(
            StreamConfig::validate_update(&m1, &mut m2)
                .unwrap_err()
                .err_code,
            10055
        );
    }

    #[test]
    fn unsupported_features_are_named() {
        for (json, want) in [
            (
                r#"{"name":"M","mirror":{"name":"S1"}}"#,
                "stream mirrors are not supported (field mirror)",
            ),
            (
                r#"{"name":"M","sources":[{"name":"S1"}]}"#,
                "stream sources are not supported (field sources)",
            ),
            (
                r#"{"name":"M","subject_transform":{"src":"M","dest":"x"}}"#,
                "stream subject transforms are not supported (field subject_transform)",
            ),
            (
                r#"{"name":"M","republish":{"src":">","dest":"x.>"}}"#,
                "stream republish is not supported (field republish)",
            ),
            (
                r#"{"name":"M","allow_batched":true}"#,
                "batched publish is not supported (field allow_batched)",
            ),
        ] {
            let err = normalized(json).check_supported().unwrap_err();
            assert_eq!((err.err_code, err.description.as_str()), (10052, want));
        }
        // Implemented: TTLs, subject delete markers, counters, compression (accepted, stored
        // plain), placement, async persistence, first_seq.
        normalized(r#"{"name":"C","allow_msg_counter":true}"#)
            .check_supported()
            .expect("counters");
        normalized(r#"{"name":"S","allow_msg_schedules":true}"#)
            .check_supported()
            .expect("schedules");
        normalized(r#"{"name":"A","allow_atomic":true}"#)
            .check_supported()
            .expect("atomic batches");
        let json = r#"{"name":"K","allow_msg_ttl":true,"subject_delete_marker_ttl":1000000000,"compression":"s2","placement":{"tags":["a"]},"persist_mode":"async","first_seq":5}"#;
        normalized(json).check_supported().expect(json);
    }

    #[test]
    fn async_persist_mode_refusals() {
        for (json, want) in [
            (
                r#"{"name":"A","subjects":["a"],"persist_mode":"async","storage":"memory"}"#,
                "async persist mode is only supported on file storage",
            ),
            (
                r#"{"name":"A","subjects":["a"],"persist_mode":"async","num_replicas":3,"allow_atomic":true}"#,
                "async persist mode is not supported on replicated streams",
            ),
            (
                r#"{"name":"A","subjects":["a"],"persist_mode":"async","allow_atomic":true}"#,
                "async persist mode is not supported with atomic batch publish",
            ),
        ] {
            let e = normalized(json).validate().unwrap_err();
            assert_eq!(
                (e.err_code, e.description.as_str()),
                (10052, want),
                "{json}"
            );
        }
        normalized(r#"{"name":"A","subjects":["a"],"persist_mode":"async"}"#)
            .validate()
            .expect("async on a file stream");
    }

    #[test]
    fn subject_helpers() {
        let cfg = normalized(r#"{"name":"U","subjects":["u1.>","v"]}"#);
        for filter in ["u1.zzz.q", "u1.*", ">", "v", "*"] {
            assert!(cfg.subjects_intersect(filter), "{filter}");
        }
        assert!(!cfg.subjects_intersect("zzz"));
        assert!(cfg.captures(b"u1.a.b"));
        assert!(!cfg.captures(b"u1"));
        assert!(subject_is_subset("$JS.EVENT.*", "$JS.EVENT.>"));
        assert!(subject_is_subset("a.b", "a.*"));
        assert!(!subject_is_subset("a.*", "a.b"));
        assert!(!subject_is_subset("a.>", "a.*"));
        assert!(subject_is_subset("a.*.c", "a.>"));
        assert!(!subject_is_subset("a", "a.>"));
        assert_eq!(check_stream_name_token("a/b").unwrap_err().err_code, 10128);
        assert_eq!(check_stream_name_token("a\\b").unwrap_err().err_code, 10128);
        assert!(check_stream_name_token("ab").is_ok());
    }
}
