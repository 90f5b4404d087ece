//! JetStream API errors: `{"code","err_code","description"}` with nats-server 2.15.1's codes and
//! texts (checked against a live server), plus the mapping of JSON decoding failures onto 10025.
//!
//! Every error is one row of [`ERROR_TABLE`], written once in the `js_errors!` invocation below
//! in the shape of nats-server's `server/errors.json` (constructor name, HTTP-like code,
//! err_code, description template); the constructors (`JsApiError::stream_sealed()`,
//! `JsApiError::sequence_not_found(seq)`, ...) are generated from it. A template's `{name}`
//! placeholders are the constructor's arguments, in order. `js_error_texts!` names the fixed
//! texts nats-server sends under a generic `{err}` code (10057 `message delete not permitted`,
//! ...). Domain errors of the store become API errors in `jetstream::error_map`
//! (`impl From<StoreError> for JsApiError`).

use serde::{Deserialize, Serialize};

/// One JetStream API error as clients see it: `code` (HTTP-like), `err_code` (the stable
/// JetStream code clients switch on) and the exact nats-server `description`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{description} ({err_code})")]
pub struct JsApiError {
    /// HTTP-like status (400, 404, 500, 503, ...).
    pub code: u16,
    /// Stable JetStream error code (100xx).
    pub err_code: u16,
    /// Human text, byte-for-byte what nats-server sends (clients sometimes match on it).
    pub description: String,
}

/// One row of the error table (as an entry of nats-server's `errors.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorEntry {
    /// Name of the generated `JsApiError` constructor.
    pub name: &'static str,
    /// HTTP-like status.
    pub code: u16,
    /// Stable JetStream error code; unique in the table.
    pub err_code: u16,
    /// Description; `{arg}` stands for the constructor argument of that name.
    pub description: &'static str,
}

/// Generates one constructor per row and [`ERROR_TABLE`]. Row: `name(args) => code, err_code,
/// "template";` where every argument appears in the template as `{arg}` and is
/// `impl Display`, except `err: text`, an `impl Into<String>` that is the whole description.
macro_rules! js_errors {
    ($($(#[$doc:meta])* $name:ident($($arg:ident $(: $kind:ident)?),*) => $code:literal, $err_code:literal, $desc:literal;)*) => {
        impl JsApiError {
            $(
                $(#[$doc])*
                #[doc = concat!("\n\n`", $code, "` / `", $err_code, "`: `", $desc, "`")]
                pub fn $name($($arg: js_errors!(@arg $($kind)?)),*) -> Self {
                    Self::new($code, $err_code, js_errors!(@text $desc; $($arg $($kind)?),*))
                }
            )*
        }

        /// Every JetStream API error natrix sends, one row per err_code (see the module docs).
        pub const ERROR_TABLE: &[ErrorEntry] = &[
            $(ErrorEntry { name: stringify!($name), code: $code, err_code: $err_code, description: $desc },)*
        ];
    };
    (@arg) => { impl std::fmt::Display };
    (@arg text) => { impl Into<String> };
    (@text $desc:literal;) => { $desc };
    (@text $desc:literal; $arg:ident text) => { $arg };
    (@text $desc:literal; $($arg:ident),+) => { format!($desc) };
}

/// Generates constructors for fixed texts of a generic `{err}` row: `name => row("text");`.
macro_rules! js_error_texts {
    ($($(#[$doc:meta])* $name:ident => $row:ident($text:literal);)*) => {
        impl JsApiError {
            $(
                $(#[$doc])*
                pub fn $name() -> Self {
                    Self::$row($text)
                }
            )*
        }

        /// The fixed-text constructors, by name (for the table tests).
        #[cfg(test)]
        pub(crate) fn fixed_texts() -> Vec<(&'static str, JsApiError)> {
            vec![$((stringify!($name), JsApiError::$name()),)*]
        }
    };
}

impl JsApiError {
    /// Builds an error from its three parts. Prefer the generated constructors; this is for the
    /// table itself and for decoding.
    pub fn new(code: u16, err_code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            err_code,
            description: description.into(),
        }
    }

    /// 10052 with a consumer config text (nats-server reuses the stream code here).
    pub fn consumer_invalid_config(err: impl Into<String>) -> Self {
        Self::stream_invalid_config(err)
    }

    /// 10111 for a `Nats-Rollup` value other than `sub`/`all` (Go-quoted, as nats-server's `%q`).
    pub fn rollup_value_invalid(value: &str) -> Self {
        Self::stream_rollup_failed(format!(
            "rollup value invalid: {}",
            super::gocompat::go_quote(value)
        ))
    }

    /// Appends `"error":{"code":..,"err_code":..,"description":".."}` (no braces around it).
    pub(crate) fn write_error_member(&self, out: &mut Vec<u8>) {
        use super::gocompat::{write_json_str, write_u64};
        out.extend_from_slice(b"\"error\":{\"code\":");
        write_u64(out, u64::from(self.code));
        out.extend_from_slice(b",\"err_code\":");
        write_u64(out, u64::from(self.err_code));
        out.extend_from_slice(b",\"description\":");
        write_json_str(out, &self.description);
        out.push(b'}');
    }
}

js_errors! {
    /// Malformed request semantics (MSG.GET `{}`, PURGE with `seq` and `keep`, ...).
    bad_request() => 400, 10003, "bad request";
    /// The JetStream subsystem cannot serve the request right now.
    cluster_not_available() => 503, 10008, "JetStream system temporarily unavailable";
    /// Not enough resources to create the asset.
    insufficient_resources() => 503, 10023, "insufficient resources";
    /// The request body is not valid JSON for its type; `err` is the decoder's text.
    invalid_json(err) => 400, 10025, "invalid JSON: {err}";
    /// The account already has its maximum number of streams.
    maximum_streams_limit() => 400, 10027, "maximum number of streams reached";
    /// A memory stream would exceed the server's memory limit.
    memory_resources_exceeded() => 500, 10028, "insufficient memory resources available";
    /// STREAM.MSG.GET found nothing.
    no_message_found() => 404, 10037, "no message found";
    /// An API that takes no body (STREAM.DELETE) got one.
    not_empty_request() => 400, 10038, "expected an empty request payload";
    /// JetStream is off for the requesting account.
    not_enabled_for_account() => 503, 10039, "JetStream not enabled for account";
    /// MSG.DELETE of a sequence inside the stream that is already gone.
    sequence_not_found(seq) => 400, 10043, "sequence {seq} not found";
    /// A file stream would exceed the server's storage limit.
    storage_resources_exceeded() => 500, 10047, "insufficient storage resources available";
    /// Stream creation failed for an internal reason (`err`).
    stream_create_failed(err: text) => 500, 10049, "{err}";
    /// Stream deletion failed for an internal reason (`err`).
    stream_delete_failed(err: text) => 500, 10050, "{err}";
    /// Generic stream failure (`err`).
    stream_general(err: text) => 500, 10051, "{err}";
    /// The stream configuration is invalid; `err` is nats-server's exact text.
    stream_invalid_config(err: text) => 500, 10052, "{err}";
    /// Generic stream limits failure (`err`).
    stream_limits(err: text) => 500, 10053, "{err}";
    /// A publish is larger than the stream's `max_msg_size`.
    message_exceeds_maximum() => 400, 10054, "message size exceeds maximum allowed";
    /// Updates may not change a mirror configuration.
    stream_mirror_not_updatable() => 400, 10055, "stream mirror configuration can not be updated";
    /// The name in the body differs from the subject's (or is missing on create).
    stream_name_mismatch() => 400, 10056, "stream name in subject does not match request";
    /// MSG.DELETE failed; `err` is the reason (see the helpers below).
    stream_msg_delete_failed(err: text) => 500, 10057, "{err}";
    /// Create of an existing stream with a different (normalised) configuration.
    stream_name_exists() => 400, 10058, "stream name already in use with a different configuration";
    /// No stream by that name.
    stream_not_found() => 404, 10059, "stream not found";
    /// `Nats-Expected-Stream` names another stream.
    expected_stream_mismatch() => 400, 10060, "expected stream does not match";
    /// The subjects overlap another stream's.
    stream_subject_overlap() => 400, 10065, "subjects overlap with an existing stream";
    /// Stream update failed for an internal reason (`err`).
    stream_update_failed(err: text) => 500, 10069, "{err}";
    /// `Nats-Expected-Last-Msg-Id` differs; `id` is the id of the last stored message ("" if none).
    wrong_last_msg_id(id) => 400, 10070, "wrong last msg ID: {id}";
    /// `Nats-Expected-Last-Sequence` / `...-Subject-Sequence` differs; `last_seq` is the actual one.
    wrong_last_sequence(seq) => 400, 10071, "wrong last sequence: {seq}";
    /// `num_replicas` > 1 on a server without clustering.
    replicas_not_supported() => 500, 10074, "replicas > 1 not supported in non-clustered mode";
    /// JetStream is off server-wide.
    not_enabled() => 503, 10076, "JetStream not enabled";
    /// Storing a message failed; `err` is the reason (see the helpers below).
    stream_store_failed(err: text) => 503, 10077, "{err}";
    /// The publish's header block is larger than 64 KiB.
    header_exceeds_maximum() => 400, 10097, "header size exceeds maximum allowed of 64k";
    /// Writes, deletes and purges on a sealed stream.
    stream_sealed() => 400, 10109, "invalid operation on sealed stream";
    /// Purge failed; `err` is the reason.
    stream_purge_failed(err: text) => 500, 10110, "{err}";
    /// Rollup failed; `err` is the reason.
    stream_rollup_failed(err: text) => 500, 10111, "{err}";
    /// The account requires `max_bytes` on every stream.
    stream_max_bytes_required() => 400, 10113, "account requires a stream config to have max bytes set";
    /// The subject map of STREAM.INFO would be too large.
    stream_info_max_subjects() => 500, 10117, "subject details would exceed maximum allowed";
    /// The stream exists but cannot be served (e.g. failed recovery).
    stream_offline() => 500, 10118, "stream is offline";
    /// `max_bytes` above the account's per-stream limit.
    stream_max_stream_bytes_exceeded() => 400, 10122, "stream max bytes exceeds account limit max stream bytes";
    /// A stream name containing `/` or `\`.
    stream_name_contains_path_separators() => 400, 10128, "Stream name can not contain path separators";
    /// Negative `num_replicas`.
    replicas_count_negative() => 400, 10133, "replicas count cannot be negative";
    /// The same `Nats-Msg-Id` is being stored concurrently.
    duplicate_message_conflict() => 409, 10158, "duplicate message id is in process";
    /// Per-subject expected sequence cannot be checked right now.
    expected_last_seq_per_subject_not_ready() => 503, 10163, "expected last sequence per subject temporarily unavailable";
    /// Constant form of "wrong last sequence" (replicated streams in nats-server).
    wrong_last_sequence_constant() => 400, 10164, "wrong last sequence";
    /// Unparsable `Nats-TTL` header.
    message_ttl_invalid() => 400, 10165, "invalid per-message TTL";
    /// `Nats-TTL` on a stream without `allow_msg_ttl`.
    message_ttl_disabled() => 400, 10166, "per-message TTL is disabled";
    /// Too many concurrent requests.
    too_many_requests() => 429, 10167, "too many requests";
    /// `Nats-Incr` on a stream without `allow_msg_counter`.
    message_incr_disabled() => 400, 10168, "message counters is disabled";
    /// A publish to a counter stream without `Nats-Incr`.
    message_incr_missing() => 400, 10169, "message counter increment is missing";
    /// `Nats-Incr` with a payload.
    message_incr_payload() => 400, 10170, "message counter has payload";
    /// `Nats-Incr` not an integer, or with headers a counter cannot honour.
    message_incr_invalid() => 400, 10171, "message counter increment is invalid";
    /// The subject's last message is not a counter value.
    message_counter_broken() => 400, 10172, "message counter is broken";
    /// A client's publish carrying `Nats-Stream-Source` (only sources may set it).
    message_source_header_not_allowed() => 400, 10227, "message stream source header is not allowed";
    /// `Nats-Required-Api-Level` above what this server supports.
    required_api_level() => 412, 10185, "JetStream minimum api level required";
    /// `Nats-Expected-Last-Subject-Sequence-Subject` without the sequence header.
    expected_last_seq_per_subject_invalid() => 400, 10193, "missing sequence for expected last sequence per subject";
    // ----- mirrors and sources (streams/sourcing.rs, jetstream/stream_origins.rs) -----
    /// A mirror's consumer could not be set up (`err`).
    mirror_consumer_setup_failed(err: text) => 500, 10029, "{err}";
    /// A source's consumer could not be set up (`err`).
    source_consumer_setup_failed(err: text) => 500, 10045, "{err}";
    /// A mirror with `sources`.
    mirror_with_sources() => 400, 10031, "stream mirrors can not also contain other sources";
    /// A mirror with `subjects`.
    mirror_with_subjects() => 400, 10034, "stream mirrors can not contain subjects";
    /// A mirror with `first_seq`.
    mirror_with_first_seq() => 400, 10143, "stream mirrors can not have first sequence configured";
    /// Two sources with the same name, filter and transforms.
    source_duplicate_detected() => 400, 10140, "duplicate source configuration detected";
    /// A source naming an invalid stream.
    source_invalid_stream_name() => 400, 10141, "sourced stream name is invalid";
    /// A mirror naming an invalid stream.
    mirror_invalid_stream_name() => 400, 10142, "mirrored stream name is invalid";
    /// A source with both `filter_subject` and `subject_transforms`.
    source_multiple_filters_not_allowed() => 400, 10144, "source with multiple subject transforms cannot also have a single subject filter";
    /// A source transform with an invalid source subject.
    source_invalid_subject_filter(err: text) => 400, 10145, "source transform source: {err}";
    /// A source's transforms overlap.
    source_overlapping_subject_filters() => 400, 10147, "source filters can not overlap";
    /// A mirror with both `filter_subject` and `subject_transforms`.
    mirror_multiple_filters_not_allowed() => 400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter";
    /// A mirror transform with an invalid source subject.
    mirror_invalid_subject_filter(err: text) => 400, 10151, "mirror transform source: {err}";
    /// A mirror's transforms overlap.
    mirror_overlapping_subject_filters() => 400, 10152, "mirror subject filters can not overlap";
    /// A mirror with counters.
    mirror_with_counters() => 400, 10173, "stream mirrors can not also calculate counters";
    /// A schedule header on a stream without `allow_msg_schedules`.
    message_schedules_disabled() => 400, 10188, "message schedules is disabled";
    /// `Nats-Schedule` that is not `@at`, `@every` or a cron pattern nats-server accepts.
    message_schedules_pattern_invalid() => 400, 10189, "message schedules pattern is invalid";
    /// `Nats-Schedule-Target` missing, not a publish subject, the schedule's own, or outside the stream.
    message_schedules_target_invalid() => 400, 10190, "message schedules target is invalid";
    /// `Nats-Schedule-TTL` that `Nats-TTL` would refuse.
    message_schedules_ttl_invalid() => 400, 10191, "message schedules invalid per-message TTL";
    /// `Nats-Schedule-Rollup` (or the schedule's own `Nats-Rollup`) other than `sub`.
    message_schedules_rollup_invalid() => 400, 10192, "message schedules invalid rollup";
    /// `Nats-Schedule-Source` invalid, the target, the schedule's own, or outside the stream.
    message_schedules_source_invalid() => 400, 10203, "message schedules source is invalid";
    /// A client-set `Nats-Scheduler` / `Nats-Schedule-Next` other than a schedule purge.
    message_schedules_scheduler_invalid() => 400, 10212, "message schedules invalid scheduler";
    /// `Nats-Schedule-Time-Zone` empty or not a zone this server knows.
    message_schedules_time_zone_invalid() => 400, 10223, "message schedules time zone is invalid";
    /// A batch message (`Nats-Batch-Id`) to a stream without `allow_atomic`.
    atomic_publish_disabled() => 400, 10174, "atomic publish is disabled";
    /// A batch message without a decimal `Nats-Batch-Sequence`.
    atomic_publish_missing_seq() => 400, 10175, "atomic publish sequence is missing";
    /// A gap, an unknown or abandoned batch, or a batch of only `eob`.
    atomic_publish_incomplete_batch() => 400, 10176, "atomic publish batch is incomplete";
    /// A header atomic batches do not support (`Nats-Expected-Last-Msg-Id`).
    atomic_publish_unsupported_header(header) => 400, 10177, "atomic publish unsupported header used: {header}";
    /// A batch id longer than 64 bytes.
    atomic_publish_invalid_batch_id() => 400, 10179, "atomic publish batch ID is invalid";
    /// More messages in a batch than the limit (`size`).
    atomic_publish_too_large_batch(size) => 400, 10199, "atomic publish batch is too large: {size}";
    /// `Nats-Batch-Commit` neither `1` nor `eob`.
    atomic_publish_invalid_batch_commit() => 400, 10200, "atomic publish batch commit is invalid";
    /// A `Nats-Msg-Id` already stored, or twice in the batch.
    atomic_publish_contains_duplicate_message() => 400, 10201, "atomic publish batch contains duplicate message id";
    /// Too many open batches on the stream (or in all).
    atomic_publish_too_many_inflight() => 429, 10210, "atomic publish too many inflight";
    /// Consumer create/update failed; `err` is nats-server's text (e.g. the update
    /// Refusals `ack policy can not be updated`, or `error creating store for consumer`).
    consumer_create(err: text) => 500, 10012, "{err}";
    /// No consumer by that name on the stream.
    consumer_not_found() => 404, 10014, "consumer not found";
    /// CONSUMER.RESET to a sequence the consumer's deliver policy does not allow
    /// (`not allowed`, `below start seq`, `below start time`).
    consumer_invalid_reset(err) => 400, 10204, "invalid reset: {err}";
    /// `CONSUMER.CREATE.<s>.<n>` / `DURABLE.CREATE.<s>.<d>` with another `durable_name`.
    consumer_durable_name_not_match_subject() => 400, 10017, "consumer name in subject does not match durable name in request";
    /// `DURABLE.CREATE` without a durable name in the body.
    consumer_durable_name_not_set() => 400, 10018, "consumer expected to be durable but a durable name was not set";
    /// Legacy ephemeral create (`CONSUMER.CREATE.<s>`) with a `durable_name`.
    consumer_ephemeral_with_durable_name() => 400, 10020, "consumer expected to be ephemeral but a durable name was set in request";
    /// The stream's (or account's) `max_consumers` is reached.
    maximum_consumers_limit() => 400, 10026, "maximum consumers limit reached";
    /// Push `deliver_subject` with wildcards.
    consumer_deliver_to_wildcards() => 400, 10079, "consumer deliver subject has wildcards";
    /// Push consumer with `max_waiting`.
    consumer_push_max_waiting() => 400, 10080, "consumer in push mode can not set max waiting";
    /// Push `deliver_subject` captured by the consumer's own stream.
    consumer_deliver_cycle() => 400, 10081, "consumer deliver subject forms a cycle";
    /// Push consumer with `max_ack_pending` but `ack_policy: none`.
    consumer_max_pending_ack_policy_required() => 400, 10082, "consumer requires ack policy for max ack pending";
    /// Push `idle_heartbeat` below 100 ms.
    consumer_small_heartbeat() => 400, 10083, "consumer idle heartbeat needs to be >= 100ms";
    /// Pull consumer with `ack_policy: none` on a workqueue stream.
    consumer_pull_requires_ack() => 400, 10084, "consumer in pull mode requires explicit ack policy on workqueue stream";
    /// Pull consumer with `rate_limit_bps`.
    consumer_pull_with_rate_limit() => 400, 10086, "consumer in pull mode can not have rate limit set";
    /// Pull consumer with `idle_heartbeat`.
    consumer_hb_requires_push() => 400, 10088, "consumer idle heartbeat requires a push based consumer";
    /// Pull consumer with `flow_control`.
    consumer_fc_requires_push() => 400, 10089, "consumer flow control requires a push based consumer";
    /// `direct` on a pull consumer.
    consumer_direct_requires_push() => 400, 10090, "consumer direct requires a push based consumer";
    /// `direct` on a durable consumer.
    consumer_direct_requires_ephemeral() => 400, 10091, "consumer direct requires an ephemeral consumer";
    /// Deliver policy and start options disagree; `err` is nats-server's text.
    consumer_invalid_policy(err: text) => 400, 10094, "{err}";
    /// Unparsable `sample_freq`; `err` is Go's strconv error (or `<nil>`).
    consumer_invalid_sampling(err) => 400, 10095, "failed to parse consumer sampling configuration: {err}";
    /// Push or `ack_policy: all` consumer on a workqueue stream.
    consumer_wq_requires_explicit_ack() => 400, 10098, "workqueue stream requires explicit ack";
    /// A second unfiltered consumer on a workqueue stream.
    consumer_wq_multiple_unfiltered() => 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream";
    /// Filters overlapping another consumer's on a workqueue stream.
    consumer_wq_not_unique() => 400, 10100, "filtered consumer not unique on workqueue stream";
    /// A deliver policy other than `all` on a workqueue stream.
    consumer_wq_not_deliver_all() => 400, 10101, "consumer must be deliver all on workqueue stream";
    /// Durable name longer than 255 bytes.
    consumer_name_too_long(max) => 400, 10102, "consumer name is too long, maximum allowed is {max}";
    /// Description longer than 4 KiB.
    consumer_description_too_long(max) => 400, 10107, "consumer description is too long, maximum allowed is {max}";
    /// Push `flow_control` without `idle_heartbeat`.
    consumer_flow_control_needs_heartbeats() => 400, 10108, "consumer with flow control also needs heartbeats";
    /// Push `deliver_subject` that is not a valid subject.
    consumer_invalid_deliver_subject() => 400, 10112, "invalid push consumer deliver subject";
    /// Pull `max_expires` below 1 ms.
    consumer_max_request_expires_too_small() => 400, 10115, "consumer max request expires needs to be >= 1ms";
    /// More `backoff` values than `max_deliver` allows.
    consumer_max_deliver_backoff() => 400, 10116, "max deliver is required to be > length of backoff values";
    /// `max_ack_pending` above the stream's `consumer_limits` (or a server/account limit).
    consumer_max_pending_ack_excess(limit) => 400, 10121, "consumer max ack pending exceeds system limit of {limit}";
    /// Consumer name with `/` or `\`.
    consumer_name_contains_path_separators() => 400, 10127, "Consumer name can not contain path separators";
    /// `CONSUMER.CREATE.<s>.<n>.<filter>` whose filter differs from the body's.
    consumer_create_filter_subject_mismatch() => 400, 10131, "Consumer create request did not match filtered subject from create subject";
    /// Both `durable_name` and `name` given, and different.
    consumer_create_durable_and_name_mismatch() => 400, 10132, "Consumer Durable and Name have to be equal if both are provided";
    /// Metadata keys+values above 128 KiB.
    consumer_metadata_length() => 400, 10135, "consumer metadata exceeds maximum size of 128KB";
    /// Both `filter_subject` and `filter_subjects`.
    consumer_duplicate_filter_subjects() => 400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified";
    /// `filter_subjects` with the subject-filter form of CONSUMER.CREATE.
    consumer_multiple_filters_not_allowed() => 400, 10137, "consumer with multiple subject filters cannot use subject based API";
    /// Filters of one consumer overlap each other.
    consumer_overlapping_subject_filters() => 400, 10138, "consumer subject filters cannot overlap";
    /// An empty string in `filter_subjects`.
    consumer_empty_filter() => 400, 10139, "consumer filter in FilterSubjects cannot be empty";
    /// `action: create` for an existing consumer with a different config.
    consumer_already_exists() => 400, 10148, "consumer already exists";
    /// `action: update` for a consumer that does not exist.
    consumer_does_not_exist() => 400, 10149, "consumer does not exist";
    /// `inactive_threshold` above the stream's `consumer_limits`; `limit` is a Go duration text.
    consumer_inactive_threshold_excess(limit) => 400, 10153, "consumer inactive threshold exceeds system limit of {limit}";
    /// `priority_policy` without `priority_groups`.
    consumer_priority_policy_without_group() => 400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set";
    /// A pull or unpin request naming a group the consumer does not have.
    consumer_invalid_priority_group() => 400, 10160, "Provided priority group does not exist for this consumer";
    /// An empty priority group name.
    consumer_empty_group_name() => 400, 10161, "Group name cannot be an empty string";
    /// A priority group name outside `[A-Za-z0-9/_=-]{1,16}`.
    consumer_invalid_group_name() => 400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters";
    /// Priority groups on a push consumer.
    consumer_push_with_priority_group() => 400, 10178, "priority groups can not be used with push consumers";
    /// `priority_groups` with policy `none`.
    consumer_priority_group_with_policy_none() => 400, 10196, "consumer can not have priority groups when policy is none";
    /// `priority_timeout` with policy `none`.
    consumer_pinned_ttl_without_priority_policy() => 400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none";
    /// Negative `ack_wait`.
    consumer_ack_wait_negative() => 400, 10183, "consumer ack wait needs to be positive";
    /// A negative `backoff` value.
    consumer_backoff_negative() => 400, 10184, "consumer backoff needs to be positive";
}

js_error_texts! {
    /// 10057 for a stream with `deny_delete`.
    msg_delete_not_permitted => stream_msg_delete_failed("message delete not permitted");
    /// 10057 for MSG.DELETE with sequence 0.
    msg_delete_no_message_found => stream_msg_delete_failed("no message found");
    /// 10057 for MSG.DELETE beyond the last sequence.
    msg_delete_store_eof => stream_msg_delete_failed("stream store EOF");
    /// 10077 for `discard:new` with `max_msgs` reached.
    maximum_messages_exceeded => stream_store_failed("maximum messages exceeded");
    /// 10077 for `discard:new` with `max_bytes` reached.
    maximum_bytes_exceeded => stream_store_failed("maximum bytes exceeded");
    /// 10077 for `discard_new_per_subject` with `max_msgs_per_subject` reached.
    maximum_messages_per_subject_exceeded => stream_store_failed("maximum messages per subject exceeded");
    /// 10110 for a stream with `deny_purge`.
    purge_not_permitted => stream_purge_failed("stream purge not permitted");
    /// 10111 for `Nats-Rollup` on a stream without `allow_rollup_hdrs`.
    rollup_not_permitted => stream_rollup_failed("rollup not permitted");
    /// 10111 for `Nats-Rollup: sub` on a subject an atomic batch already wrote.
    batch_rollup_sub_invalid => stream_rollup_failed("batch rollup sub invalid");
    /// 10111 for `Nats-Rollup: all` after an atomic batch's first message.
    batch_rollup_all_invalid => stream_rollup_failed("batch rollup all invalid");
}

/// Turns a serde_json failure into 10025 with nats-server's wording where it is known:
/// `json: unknown field "x"` for unknown keys, `unexpected EOF` for truncated input;
/// other texts are serde's (without its position suffix) — clients only switch on the code.
pub fn invalid_json_error(err: &serde_json::Error) -> JsApiError {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(suffix.as_str()).unwrap_or(&text);
    if err.is_eof() {
        return JsApiError::invalid_json("unexpected EOF");
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some(end) = rest.find("`, ") {
            return JsApiError::invalid_json(format_args!(
                "json: unknown field {:?}",
                &rest[..end]
            ));
        }
    }
    JsApiError::invalid_json(message)
}

#[cfg(test)]
#[path = "errors_tests.rs"]
mod tests;
