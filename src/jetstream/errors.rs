//! JetStream API errors: `{"code","err_code","description"}` with nats-server 2.15.1's codes and
//! texts (checked against a live server), plus the mapping of JSON decoding failures onto 10025.

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

impl JsApiError {
    /// Builds an error from its three parts (for codes without a dedicated constructor).
    pub fn new(code: u16, err_code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            err_code,
            description: description.into(),
        }
    }

    /// 10003: malformed request semantics (MSG.GET `{}`, PURGE with `seq` and `keep`, ...).
    pub fn bad_request() -> Self {
        Self::new(400, 10003, "bad request")
    }

    /// 10008: the JetStream subsystem cannot serve the request right now.
    pub fn cluster_not_available() -> Self {
        Self::new(503, 10008, "JetStream system temporarily unavailable")
    }

    /// 10023: not enough resources to create the asset.
    pub fn insufficient_resources() -> Self {
        Self::new(503, 10023, "insufficient resources")
    }

    /// 10025: the request body is not valid JSON for its type; `detail` is the decoder's text.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::new(400, 10025, format!("invalid JSON: {detail}"))
    }

    /// 10027: the account already has its maximum number of streams.
    pub fn maximum_streams_limit() -> Self {
        Self::new(400, 10027, "maximum number of streams reached")
    }

    /// 10028: a memory stream would exceed the server's memory limit.
    pub fn memory_resources_exceeded() -> Self {
        Self::new(500, 10028, "insufficient memory resources available")
    }

    /// 10037: STREAM.MSG.GET found nothing.
    pub fn no_message_found() -> Self {
        Self::new(404, 10037, "no message found")
    }

    /// 10038: an API that takes no body (STREAM.DELETE) got one.
    pub fn not_empty_request() -> Self {
        Self::new(400, 10038, "expected an empty request payload")
    }

    /// 10039: JetStream is off for the requesting account.
    pub fn not_enabled_for_account() -> Self {
        Self::new(503, 10039, "JetStream not enabled for account")
    }

    /// 10043: MSG.DELETE of a sequence inside the stream that is already gone.
    pub fn sequence_not_found(seq: u64) -> Self {
        Self::new(400, 10043, format!("sequence {seq} not found"))
    }

    /// 10047: a file stream would exceed the server's storage limit.
    pub fn storage_resources_exceeded() -> Self {
        Self::new(500, 10047, "insufficient storage resources available")
    }

    /// 10049: stream creation failed for an internal reason (`detail`).
    pub fn stream_create_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10049, detail)
    }

    /// 10050: stream deletion failed for an internal reason (`detail`).
    pub fn stream_delete_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10050, detail)
    }

    /// 10051: generic stream failure (`detail`).
    pub fn stream_general(detail: impl Into<String>) -> Self {
        Self::new(500, 10051, detail)
    }

    /// 10052: the stream configuration is invalid; `detail` is nats-server's exact text.
    pub fn stream_invalid_config(detail: impl Into<String>) -> Self {
        Self::new(500, 10052, detail)
    }

    /// 10053: generic stream limits failure (`detail`).
    pub fn stream_limits(detail: impl Into<String>) -> Self {
        Self::new(500, 10053, detail)
    }

    /// 10054: a publish is larger than the stream's `max_msg_size`.
    pub fn message_exceeds_maximum() -> Self {
        Self::new(400, 10054, "message size exceeds maximum allowed")
    }

    /// 10055: updates may not change a mirror configuration.
    pub fn stream_mirror_not_updatable() -> Self {
        Self::new(400, 10055, "stream mirror configuration can not be updated")
    }

    /// 10056: the name in the body differs from the subject's (or is missing on create).
    pub fn stream_name_mismatch() -> Self {
        Self::new(400, 10056, "stream name in subject does not match request")
    }

    /// 10057: MSG.DELETE failed; `detail` is the reason (see the helpers below).
    pub fn stream_msg_delete_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10057, detail)
    }

    /// 10057 for a stream with `deny_delete`.
    pub fn msg_delete_not_permitted() -> Self {
        Self::stream_msg_delete_failed("message delete not permitted")
    }

    /// 10057 for MSG.DELETE with sequence 0.
    pub fn msg_delete_no_message_found() -> Self {
        Self::stream_msg_delete_failed("no message found")
    }

    /// 10057 for MSG.DELETE beyond the last sequence.
    pub fn msg_delete_store_eof() -> Self {
        Self::stream_msg_delete_failed("stream store EOF")
    }

    /// 10058: create of an existing stream with a different (normalised) configuration.
    pub fn stream_name_exists() -> Self {
        Self::new(
            400,
            10058,
            "stream name already in use with a different configuration",
        )
    }

    /// 10059: no stream by that name.
    pub fn stream_not_found() -> Self {
        Self::new(404, 10059, "stream not found")
    }

    /// 10060: `Nats-Expected-Stream` names another stream.
    pub fn expected_stream_mismatch() -> Self {
        Self::new(400, 10060, "expected stream does not match")
    }

    /// 10065: the subjects overlap another stream's.
    pub fn stream_subject_overlap() -> Self {
        Self::new(400, 10065, "subjects overlap with an existing stream")
    }

    /// 10069: stream update failed for an internal reason (`detail`).
    pub fn stream_update_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10069, detail)
    }

    /// 10070: `Nats-Expected-Last-Msg-Id` differs; `last_id` is the id of the last stored message ("" if none).
    pub fn wrong_last_msg_id(last_id: &str) -> Self {
        Self::new(400, 10070, format!("wrong last msg ID: {last_id}"))
    }

    /// 10071: `Nats-Expected-Last-Sequence` / `...-Subject-Sequence` differs; `last_seq` is the actual one.
    pub fn wrong_last_sequence(last_seq: u64) -> Self {
        Self::new(400, 10071, format!("wrong last sequence: {last_seq}"))
    }

    /// 10074: `num_replicas` > 1 on a server without clustering.
    pub fn replicas_not_supported() -> Self {
        Self::new(
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        )
    }

    /// 10076: JetStream is off server-wide.
    pub fn not_enabled() -> Self {
        Self::new(503, 10076, "JetStream not enabled")
    }

    /// 10077: storing a message failed; `detail` is the reason (see the helpers below).
    pub fn stream_store_failed(detail: impl Into<String>) -> Self {
        Self::new(503, 10077, detail)
    }

    /// 10077 for `discard:new` with `max_msgs` reached.
    pub fn maximum_messages_exceeded() -> Self {
        Self::stream_store_failed("maximum messages exceeded")
    }

    /// 10077 for `discard:new` with `max_bytes` reached.
    pub fn maximum_bytes_exceeded() -> Self {
        Self::stream_store_failed("maximum bytes exceeded")
    }

    /// 10077 for `discard_new_per_subject` with `max_msgs_per_subject` reached.
    pub fn maximum_messages_per_subject_exceeded() -> Self {
        Self::stream_store_failed("maximum messages per subject exceeded")
    }

    /// 10097: the publish's header block is larger than 64 KiB.
    pub fn header_exceeds_maximum() -> Self {
        Self::new(400, 10097, "header size exceeds maximum allowed of 64k")
    }

    /// 10109: writes, deletes and purges on a sealed stream.
    pub fn stream_sealed() -> Self {
        Self::new(400, 10109, "invalid operation on sealed stream")
    }

    /// 10110: purge failed; `detail` is the reason.
    pub fn stream_purge_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10110, detail)
    }

    /// 10110 for a stream with `deny_purge`.
    pub fn purge_not_permitted() -> Self {
        Self::stream_purge_failed("stream purge not permitted")
    }

    /// 10111: rollup failed; `detail` is the reason.
    pub fn stream_rollup_failed(detail: impl Into<String>) -> Self {
        Self::new(500, 10111, detail)
    }

    /// 10111 for `Nats-Rollup` on a stream without `allow_rollup_hdrs`.
    pub fn rollup_not_permitted() -> Self {
        Self::stream_rollup_failed("rollup not permitted")
    }

    /// 10111 for a `Nats-Rollup` value other than `sub`/`all`.
    pub fn rollup_value_invalid(value: &str) -> Self {
        Self::stream_rollup_failed(format!("rollup value invalid: {value:?}"))
    }

    /// 10113: the account requires `max_bytes` on every stream.
    pub fn stream_max_bytes_required() -> Self {
        Self::new(
            400,
            10113,
            "account requires a stream config to have max bytes set",
        )
    }

    /// 10117: the subject map of STREAM.INFO would be too large.
    pub fn stream_info_max_subjects() -> Self {
        Self::new(500, 10117, "subject details would exceed maximum allowed")
    }

    /// 10118: the stream exists but cannot be served (e.g. failed recovery).
    pub fn stream_offline() -> Self {
        Self::new(500, 10118, "stream is offline")
    }

    /// 10122: `max_bytes` above the account's per-stream limit.
    pub fn stream_max_stream_bytes_exceeded() -> Self {
        Self::new(
            400,
            10122,
            "stream max bytes exceeds account limit max stream bytes",
        )
    }

    /// 10128: a stream name containing `/` or `\`.
    pub fn stream_name_contains_path_separators() -> Self {
        Self::new(400, 10128, "Stream name can not contain path separators")
    }

    /// 10133: negative `num_replicas`.
    pub fn replicas_count_negative() -> Self {
        Self::new(400, 10133, "replicas count cannot be negative")
    }

    /// 10158: the same `Nats-Msg-Id` is being stored concurrently.
    pub fn duplicate_message_conflict() -> Self {
        Self::new(409, 10158, "duplicate message id is in process")
    }

    /// 10163: per-subject expected sequence cannot be checked right now.
    pub fn expected_last_seq_per_subject_not_ready() -> Self {
        Self::new(
            503,
            10163,
            "expected last sequence per subject temporarily unavailable",
        )
    }

    /// 10164: constant form of "wrong last sequence" (replicated streams in nats-server).
    pub fn wrong_last_sequence_constant() -> Self {
        Self::new(400, 10164, "wrong last sequence")
    }

    /// 10165: unparsable `Nats-TTL` header.
    pub fn message_ttl_invalid() -> Self {
        Self::new(400, 10165, "invalid per-message TTL")
    }

    /// 10166: `Nats-TTL` on a stream without `allow_msg_ttl`.
    pub fn message_ttl_disabled() -> Self {
        Self::new(400, 10166, "per-message TTL is disabled")
    }

    /// 10167: too many concurrent requests.
    pub fn too_many_requests() -> Self {
        Self::new(429, 10167, "too many requests")
    }

    /// 10185: `Nats-Required-Api-Level` above what this server supports.
    pub fn required_api_level() -> Self {
        Self::new(412, 10185, "JetStream minimum api level required")
    }

    /// 10193: `Nats-Expected-Last-Subject-Sequence-Subject` without the sequence header.
    pub fn expected_last_seq_per_subject_invalid() -> Self {
        Self::new(
            400,
            10193,
            "missing sequence for expected last sequence per subject",
        )
    }

    // ---- consumers ----

    /// 10012: consumer create/update failed; `detail` is nats-server's text (e.g. the update
    /// refusals `ack policy can not be updated`, or `error creating store for consumer`).
    pub fn consumer_create(detail: impl Into<String>) -> Self {
        Self::new(500, 10012, detail)
    }

    /// 10014: no consumer by that name on the stream.
    pub fn consumer_not_found() -> Self {
        Self::new(404, 10014, "consumer not found")
    }

    /// 10017: `CONSUMER.CREATE.<s>.<n>` / `DURABLE.CREATE.<s>.<d>` with another `durable_name`.
    pub fn consumer_durable_name_not_match_subject() -> Self {
        Self::new(
            400,
            10017,
            "consumer name in subject does not match durable name in request",
        )
    }

    /// 10018: `DURABLE.CREATE` without a durable name in the body.
    pub fn consumer_durable_name_not_set() -> Self {
        Self::new(
            400,
            10018,
            "consumer expected to be durable but a durable name was not set",
        )
    }

    /// 10020: legacy ephemeral create (`CONSUMER.CREATE.<s>`) with a `durable_name`.
    pub fn consumer_ephemeral_with_durable_name() -> Self {
        Self::new(
            400,
            10020,
            "consumer expected to be ephemeral but a durable name was set in request",
        )
    }

    /// 10026: the stream's (or account's) `max_consumers` is reached.
    pub fn maximum_consumers_limit() -> Self {
        Self::new(400, 10026, "maximum consumers limit reached")
    }

    /// 10052 with a consumer config text (nats-server reuses the stream code here).
    pub fn consumer_invalid_config(detail: impl Into<String>) -> Self {
        Self::stream_invalid_config(detail)
    }

    /// 10079: push `deliver_subject` with wildcards.
    pub fn consumer_deliver_to_wildcards() -> Self {
        Self::new(400, 10079, "consumer deliver subject has wildcards")
    }

    /// 10080: push consumer with `max_waiting`.
    pub fn consumer_push_max_waiting() -> Self {
        Self::new(400, 10080, "consumer in push mode can not set max waiting")
    }

    /// 10081: push `deliver_subject` captured by the consumer's own stream.
    pub fn consumer_deliver_cycle() -> Self {
        Self::new(400, 10081, "consumer deliver subject forms a cycle")
    }

    /// 10082: push consumer with `max_ack_pending` but `ack_policy: none`.
    pub fn consumer_max_pending_ack_policy_required() -> Self {
        Self::new(
            400,
            10082,
            "consumer requires ack policy for max ack pending",
        )
    }

    /// 10083: push `idle_heartbeat` below 100 ms.
    pub fn consumer_small_heartbeat() -> Self {
        Self::new(400, 10083, "consumer idle heartbeat needs to be >= 100ms")
    }

    /// 10084: pull consumer with `ack_policy: none` on a workqueue stream.
    pub fn consumer_pull_requires_ack() -> Self {
        Self::new(
            400,
            10084,
            "consumer in pull mode requires explicit ack policy on workqueue stream",
        )
    }

    /// 10086: pull consumer with `rate_limit_bps`.
    pub fn consumer_pull_with_rate_limit() -> Self {
        Self::new(
            400,
            10086,
            "consumer in pull mode can not have rate limit set",
        )
    }

    /// 10088: pull consumer with `idle_heartbeat`.
    pub fn consumer_hb_requires_push() -> Self {
        Self::new(
            400,
            10088,
            "consumer idle heartbeat requires a push based consumer",
        )
    }

    /// 10089: pull consumer with `flow_control`.
    pub fn consumer_fc_requires_push() -> Self {
        Self::new(
            400,
            10089,
            "consumer flow control requires a push based consumer",
        )
    }

    /// 10090: `direct` on a pull consumer.
    pub fn consumer_direct_requires_push() -> Self {
        Self::new(400, 10090, "consumer direct requires a push based consumer")
    }

    /// 10091: `direct` on a durable consumer.
    pub fn consumer_direct_requires_ephemeral() -> Self {
        Self::new(400, 10091, "consumer direct requires an ephemeral consumer")
    }

    /// 10094: deliver policy and start options disagree; `detail` is nats-server's text.
    pub fn consumer_invalid_policy(detail: impl Into<String>) -> Self {
        Self::new(400, 10094, detail)
    }

    /// 10095: unparsable `sample_freq`; `detail` is Go's strconv error (or `<nil>`).
    pub fn consumer_invalid_sampling(detail: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            10095,
            format!("failed to parse consumer sampling configuration: {detail}"),
        )
    }

    /// 10098: push or `ack_policy: all` consumer on a workqueue stream.
    pub fn consumer_wq_requires_explicit_ack() -> Self {
        Self::new(400, 10098, "workqueue stream requires explicit ack")
    }

    /// 10099: a second unfiltered consumer on a workqueue stream.
    pub fn consumer_wq_multiple_unfiltered() -> Self {
        Self::new(
            400,
            10099,
            "multiple non-filtered consumers not allowed on workqueue stream",
        )
    }

    /// 10100: filters overlapping another consumer's on a workqueue stream.
    pub fn consumer_wq_not_unique() -> Self {
        Self::new(
            400,
            10100,
            "filtered consumer not unique on workqueue stream",
        )
    }

    /// 10101: a deliver policy other than `all` on a workqueue stream.
    pub fn consumer_wq_not_deliver_all() -> Self {
        Self::new(
            400,
            10101,
            "consumer must be deliver all on workqueue stream",
        )
    }

    /// 10102: durable name longer than 255 bytes.
    pub fn consumer_name_too_long(max: usize) -> Self {
        Self::new(
            400,
            10102,
            format!("consumer name is too long, maximum allowed is {max}"),
        )
    }

    /// 10107: description longer than 4 KiB.
    pub fn consumer_description_too_long(max: usize) -> Self {
        Self::new(
            400,
            10107,
            format!("consumer description is too long, maximum allowed is {max}"),
        )
    }

    /// 10108: push `flow_control` without `idle_heartbeat`.
    pub fn consumer_flow_control_needs_heartbeats() -> Self {
        Self::new(
            400,
            10108,
            "consumer with flow control also needs heartbeats",
        )
    }

    /// 10112: push `deliver_subject` that is not a valid subject.
    pub fn consumer_invalid_deliver_subject() -> Self {
        Self::new(400, 10112, "invalid push consumer deliver subject")
    }

    /// 10115: pull `max_expires` below 1 ms.
    pub fn consumer_max_request_expires_too_small() -> Self {
        Self::new(
            400,
            10115,
            "consumer max request expires needs to be >= 1ms",
        )
    }

    /// 10116: more `backoff` values than `max_deliver` allows.
    pub fn consumer_max_deliver_backoff() -> Self {
        Self::new(
            400,
            10116,
            "max deliver is required to be > length of backoff values",
        )
    }

    /// 10121: `max_ack_pending` above the stream's `consumer_limits` (or a server/account limit).
    pub fn consumer_max_pending_ack_excess(limit: i64) -> Self {
        Self::new(
            400,
            10121,
            format!("consumer max ack pending exceeds system limit of {limit}"),
        )
    }

    /// 10127: consumer name with `/` or `\`.
    pub fn consumer_name_contains_path_separators() -> Self {
        Self::new(400, 10127, "Consumer name can not contain path separators")
    }

    /// 10131: `CONSUMER.CREATE.<s>.<n>.<filter>` whose filter differs from the body's.
    pub fn consumer_create_filter_subject_mismatch() -> Self {
        Self::new(
            400,
            10131,
            "Consumer create request did not match filtered subject from create subject",
        )
    }

    /// 10132: both `durable_name` and `name` given, and different.
    pub fn consumer_create_durable_and_name_mismatch() -> Self {
        Self::new(
            400,
            10132,
            "Consumer Durable and Name have to be equal if both are provided",
        )
    }

    /// 10135: metadata keys+values above 128 KiB.
    pub fn consumer_metadata_length() -> Self {
        Self::new(
            400,
            10135,
            "consumer metadata exceeds maximum size of 128KB",
        )
    }

    /// 10136: both `filter_subject` and `filter_subjects`.
    pub fn consumer_duplicate_filter_subjects() -> Self {
        Self::new(
            400,
            10136,
            "consumer cannot have both FilterSubject and FilterSubjects specified",
        )
    }

    /// 10137: `filter_subjects` with the subject-filter form of CONSUMER.CREATE.
    pub fn consumer_multiple_filters_not_allowed() -> Self {
        Self::new(
            400,
            10137,
            "consumer with multiple subject filters cannot use subject based API",
        )
    }

    /// 10138: filters of one consumer overlap each other.
    pub fn consumer_overlapping_subject_filters() -> Self {
        Self::new(400, 10138, "consumer subject filters cannot overlap")
    }

    /// 10139: an empty string in `filter_subjects`.
    pub fn consumer_empty_filter() -> Self {
        Self::new(
            400,
            10139,
            "consumer filter in FilterSubjects cannot be empty",
        )
    }

    /// 10148: `action: create` for an existing consumer with a different config.
    pub fn consumer_already_exists() -> Self {
        Self::new(400, 10148, "consumer already exists")
    }

    /// 10149: `action: update` for a consumer that does not exist.
    pub fn consumer_does_not_exist() -> Self {
        Self::new(400, 10149, "consumer does not exist")
    }

    /// 10153: `inactive_threshold` above the stream's `consumer_limits`; `limit` is a Go duration text.
    pub fn consumer_inactive_threshold_excess(limit: &str) -> Self {
        Self::new(
            400,
            10153,
            format!("consumer inactive threshold exceeds system limit of {limit}"),
        )
    }

    /// 10159: `priority_policy` without `priority_groups`.
    pub fn consumer_priority_policy_without_group() -> Self {
        Self::new(
            400,
            10159,
            "Setting PriorityPolicy requires at least one PriorityGroup to be set",
        )
    }

    /// 10161: an empty priority group name.
    pub fn consumer_empty_group_name() -> Self {
        Self::new(400, 10161, "Group name cannot be an empty string")
    }

    /// 10162: a priority group name outside `[A-Za-z0-9/_=-]{1,16}`.
    pub fn consumer_invalid_group_name() -> Self {
        Self::new(
            400,
            10162,
            "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
        )
    }

    /// 10178: priority groups on a push consumer.
    pub fn consumer_push_with_priority_group() -> Self {
        Self::new(
            400,
            10178,
            "priority groups can not be used with push consumers",
        )
    }

    /// 10196: `priority_groups` with policy `none`.
    pub fn consumer_priority_group_with_policy_none() -> Self {
        Self::new(
            400,
            10196,
            "consumer can not have priority groups when policy is none",
        )
    }

    /// 10197: `priority_timeout` with policy `none`.
    pub fn consumer_pinned_ttl_without_priority_policy() -> Self {
        Self::new(
            400,
            10197,
            "PinnedTTL cannot be set when PriorityPolicy is none",
        )
    }

    /// 10183: negative `ack_wait`.
    pub fn consumer_ack_wait_negative() -> Self {
        Self::new(400, 10183, "consumer ack wait needs to be positive")
    }

    /// 10184: a negative `backoff` value.
    pub fn consumer_backoff_negative() -> Self {
        Self::new(400, 10184, "consumer backoff needs to be positive")
    }

    /// Appends `"error":{"code":..,"err_code":..,"description":".."}` (no braces around it).
    pub(crate) fn write_error_member(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"error\":{\"code\":");
        super::write_u64(out, u64::from(self.code));
        out.extend_from_slice(b",\"err_code\":");
        super::write_u64(out, u64::from(self.err_code));
        out.extend_from_slice(b",\"description\":");
        super::write_json_str(out, &self.description);
        out.push(b'}');
    }
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
mod tests {
    use super::*;
    use crate::jetstream::{render_error, ResponseType};

    #[test]
    fn constructors_match_nats_server() {
        let table: Vec<(JsApiError, u16, u16, &str)> = vec![
            (JsApiError::bad_request(), 400, 10003, "bad request"),
            (
                JsApiError::cluster_not_available(),
                503,
                10008,
                "JetStream system temporarily unavailable",
            ),
            (
                JsApiError::insufficient_resources(),
                503,
                10023,
                "insufficient resources",
            ),
            (
                JsApiError::invalid_json("unexpected EOF"),
                400,
                10025,
                "invalid JSON: unexpected EOF",
            ),
            (
                JsApiError::maximum_streams_limit(),
                400,
                10027,
                "maximum number of streams reached",
            ),
            (
                JsApiError::memory_resources_exceeded(),
                500,
                10028,
                "insufficient memory resources available",
            ),
            (
                JsApiError::no_message_found(),
                404,
                10037,
                "no message found",
            ),
            (
                JsApiError::not_empty_request(),
                400,
                10038,
                "expected an empty request payload",
            ),
            (
                JsApiError::not_enabled_for_account(),
                503,
                10039,
                "JetStream not enabled for account",
            ),
            (
                JsApiError::sequence_not_found(2),
                400,
                10043,
                "sequence 2 not found",
            ),
            (
                JsApiError::storage_resources_exceeded(),
                500,
                10047,
                "insufficient storage resources available",
            ),
            (JsApiError::stream_create_failed("x"), 500, 10049, "x"),
            (JsApiError::stream_delete_failed("x"), 500, 10050, "x"),
            (JsApiError::stream_general("x"), 500, 10051, "x"),
            (
                JsApiError::stream_invalid_config("max age needs to be >= 100ms"),
                500,
                10052,
                "max age needs to be >= 100ms",
            ),
            (JsApiError::stream_limits("x"), 500, 10053, "x"),
            (
                JsApiError::message_exceeds_maximum(),
                400,
                10054,
                "message size exceeds maximum allowed",
            ),
            (
                JsApiError::stream_mirror_not_updatable(),
                400,
                10055,
                "stream mirror configuration can not be updated",
            ),
            (
                JsApiError::stream_name_mismatch(),
                400,
                10056,
                "stream name in subject does not match request",
            ),
            (
                JsApiError::msg_delete_not_permitted(),
                500,
                10057,
                "message delete not permitted",
            ),
            (
                JsApiError::msg_delete_no_message_found(),
                500,
                10057,
                "no message found",
            ),
            (
                JsApiError::msg_delete_store_eof(),
                500,
                10057,
                "stream store EOF",
            ),
            (
                JsApiError::stream_name_exists(),
                400,
                10058,
                "stream name already in use with a different configuration",
            ),
            (
                JsApiError::stream_not_found(),
                404,
                10059,
                "stream not found",
            ),
            (
                JsApiError::expected_stream_mismatch(),
                400,
                10060,
                "expected stream does not match",
            ),
            (
                JsApiError::stream_subject_overlap(),
                400,
                10065,
                "subjects overlap with an existing stream",
            ),
            (JsApiError::stream_update_failed("x"), 500, 10069, "x"),
            (
                JsApiError::wrong_last_msg_id(""),
                400,
                10070,
                "wrong last msg ID: ",
            ),
            (
                JsApiError::wrong_last_msg_id("abc"),
                400,
                10070,
                "wrong last msg ID: abc",
            ),
            (
                JsApiError::wrong_last_sequence(4),
                400,
                10071,
                "wrong last sequence: 4",
            ),
            (
                JsApiError::replicas_not_supported(),
                500,
                10074,
                "replicas > 1 not supported in non-clustered mode",
            ),
            (
                JsApiError::not_enabled(),
                503,
                10076,
                "JetStream not enabled",
            ),
            (
                JsApiError::maximum_messages_exceeded(),
                503,
                10077,
                "maximum messages exceeded",
            ),
            (
                JsApiError::maximum_bytes_exceeded(),
                503,
                10077,
                "maximum bytes exceeded",
            ),
            (
                JsApiError::maximum_messages_per_subject_exceeded(),
                503,
                10077,
                "maximum messages per subject exceeded",
            ),
            (
                JsApiError::header_exceeds_maximum(),
                400,
                10097,
                "header size exceeds maximum allowed of 64k",
            ),
            (
                JsApiError::stream_sealed(),
                400,
                10109,
                "invalid operation on sealed stream",
            ),
            (
                JsApiError::purge_not_permitted(),
                500,
                10110,
                "stream purge not permitted",
            ),
            (
                JsApiError::rollup_not_permitted(),
                500,
                10111,
                "rollup not permitted",
            ),
            (
                JsApiError::rollup_value_invalid("foo"),
                500,
                10111,
                "rollup value invalid: \"foo\"",
            ),
            (
                JsApiError::stream_max_bytes_required(),
                400,
                10113,
                "account requires a stream config to have max bytes set",
            ),
            (
                JsApiError::stream_info_max_subjects(),
                500,
                10117,
                "subject details would exceed maximum allowed",
            ),
            (
                JsApiError::stream_offline(),
                500,
                10118,
                "stream is offline",
            ),
            (
                JsApiError::stream_max_stream_bytes_exceeded(),
                400,
                10122,
                "stream max bytes exceeds account limit max stream bytes",
            ),
            (
                JsApiError::stream_name_contains_path_separators(),
                400,
                10128,
                "Stream name can not contain path separators",
            ),
            (
                JsApiError::replicas_count_negative(),
                400,
                10133,
                "replicas count cannot be negative",
            ),
            (
                JsApiError::duplicate_message_conflict(),
                409,
                10158,
                "duplicate message id is in process",
            ),
            (
                JsApiError::expected_last_seq_per_subject_not_ready(),
                503,
                10163,
                "expected last sequence per subject temporarily unavailable",
            ),
            (
                JsApiError::wrong_last_sequence_constant(),
                400,
                10164,
                "wrong last sequence",
            ),
            (
                JsApiError::message_ttl_invalid(),
                400,
                10165,
                "invalid per-message TTL",
            ),
            (
                JsApiError::message_ttl_disabled(),
                400,
                10166,
                "per-message TTL is disabled",
            ),
            (
                JsApiError::too_many_requests(),
                429,
                10167,
                "too many requests",
            ),
            (
                JsApiError::required_api_level(),
                412,
                10185,
                "JetStream minimum api level required",
            ),
            (
                JsApiError::expected_last_seq_per_subject_invalid(),
                400,
                10193,
                "missing sequence for expected last sequence per subject",
            ),
        ];
        for (err, code, err_code, description) in table {
            assert_eq!(
                (err.code, err.err_code, err.description.as_str()),
                (code, err_code, description)
            );
            // Every constructor renders as the envelope clients parse.
            let body = render_error(ResponseType::StreamCreate, &err);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["type"], "io.nats.jetstream.api.v1.stream_create_response");
            assert_eq!(v["error"]["code"], u64::from(code));
            assert_eq!(v["error"]["err_code"], u64::from(err_code));
            assert_eq!(v["error"]["description"], description);
            let back: JsApiError = serde_json::from_value(v["error"].clone()).unwrap();
            assert_eq!(back, err);
        }
    }

    #[test]
    fn error_member_escapes_like_go() {
        let mut out = Vec::new();
        JsApiError::replicas_not_supported().write_error_member(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""error":{"code":500,"err_code":10074,"description":"replicas \u003e 1 not supported in non-clustered mode"}"#
        );
    }

    #[test]
    fn json_errors_use_go_wording_where_known() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Req {
            #[serde(default)]
            seq: u64,
        }
        let unknown = serde_json::from_slice::<Req>(br#"{"seq":1,"x":1}"#).unwrap_err();
        assert_eq!(
            invalid_json_error(&unknown).description,
            r#"invalid JSON: json: unknown field "x""#
        );
        let eof = serde_json::from_slice::<Req>(b"{").unwrap_err();
        assert_eq!(
            invalid_json_error(&eof).description,
            "invalid JSON: unexpected EOF"
        );
        let typed = serde_json::from_slice::<Req>(br#"{"seq":"a"}"#).unwrap_err();
        let e = invalid_json_error(&typed);
        assert_eq!(e.err_code, 10025);
        assert!(!e.description.contains(" at line "), "{}", e.description);
    }
}
