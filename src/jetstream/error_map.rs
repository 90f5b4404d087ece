//! The one place where the store's domain errors become JetStream API errors (codes and texts
//! as nats-server 2.15.1 sends them).

use super::errors::JsApiError;
use crate::store::stream::BatchRefusal;
use crate::store::StoreError;

impl From<StoreError> for JsApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ExpectedStreamMismatch => JsApiError::expected_stream_mismatch(),
            StoreError::WrongLastSequence { last_seq } => JsApiError::wrong_last_sequence(last_seq),
            StoreError::WrongLastMsgId { last_id } => JsApiError::wrong_last_msg_id(last_id),
            StoreError::RollupNotPermitted => JsApiError::rollup_not_permitted(),
            StoreError::RollupInvalid { value } => JsApiError::rollup_value_invalid(&value),
            StoreError::MessageTtlDisabled => JsApiError::message_ttl_disabled(),
            StoreError::MessageTtlInvalid => JsApiError::message_ttl_invalid(),
            StoreError::CounterIncrInvalid => JsApiError::message_incr_invalid(),
            StoreError::CounterDisabled => JsApiError::message_incr_disabled(),
            StoreError::CounterHasPayload => JsApiError::message_incr_payload(),
            StoreError::CounterIncrMissing => JsApiError::message_incr_missing(),
            StoreError::CounterBroken => JsApiError::message_counter_broken(),
            StoreError::SourceHeaderNotAllowed => JsApiError::message_source_header_not_allowed(),
            StoreError::MessageTooLarge => JsApiError::message_exceeds_maximum(),
            StoreError::HeadersTooLarge => JsApiError::header_exceeds_maximum(),
            StoreError::MaxMsgsExceeded => JsApiError::maximum_messages_exceeded(),
            StoreError::MaxBytesExceeded => JsApiError::maximum_bytes_exceeded(),
            StoreError::MaxMsgsPerSubjectExceeded => {
                JsApiError::maximum_messages_per_subject_exceeded()
            }
            StoreError::DeleteNotPermitted => JsApiError::msg_delete_not_permitted(),
            StoreError::DeleteMissing { seq, last_seq } => msg_delete_miss(seq, last_seq),
            StoreError::PurgeNotPermitted => JsApiError::purge_not_permitted(),
            StoreError::PurgeSeqAndKeep => JsApiError::bad_request(),
            StoreError::Sealed => JsApiError::stream_sealed(),
        }
    }
}

impl From<BatchRefusal> for JsApiError {
    fn from(e: BatchRefusal) -> Self {
        match e {
            BatchRefusal::Store(e) => e.into(),
            BatchRefusal::UnsupportedHeader(h) => JsApiError::atomic_publish_unsupported_header(h),
            BatchRefusal::DuplicateMsgId => JsApiError::atomic_publish_contains_duplicate_message(),
            BatchRefusal::WrongLastSequenceConstant => JsApiError::wrong_last_sequence_constant(),
            BatchRefusal::RollupSubInvalid => JsApiError::batch_rollup_sub_invalid(),
            BatchRefusal::RollupAllInvalid => JsApiError::batch_rollup_all_invalid(),
        }
    }
}

/// The error nats-server gives when MSG.DELETE finds nothing at `seq` in a stream whose last
/// sequence is `last_seq`: 10057 `no message found` for 0, 10057 `stream store EOF` past the
/// end, 10043 `sequence N not found` for a gap.
pub fn msg_delete_miss(seq: u64, last_seq: u64) -> JsApiError {
    if seq == 0 {
        JsApiError::msg_delete_no_message_found()
    } else if seq > last_seq {
        JsApiError::msg_delete_store_eof()
    } else {
        JsApiError::sequence_not_found(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_nats_server_errors() {
        let cases: Vec<(StoreError, u16, u16, &str)> = vec![
            (
                StoreError::ExpectedStreamMismatch,
                400,
                10060,
                "expected stream does not match",
            ),
            (
                StoreError::WrongLastSequence { last_seq: 2 },
                400,
                10071,
                "wrong last sequence: 2",
            ),
            (
                StoreError::WrongLastMsgId {
                    last_id: "m1".into(),
                },
                400,
                10070,
                "wrong last msg ID: m1",
            ),
            (
                StoreError::WrongLastMsgId {
                    last_id: String::new(),
                },
                400,
                10070,
                "wrong last msg ID: ",
            ),
            (
                StoreError::RollupNotPermitted,
                500,
                10111,
                "rollup not permitted",
            ),
            (
                StoreError::RollupInvalid {
                    value: "foo".into(),
                },
                500,
                10111,
                "rollup value invalid: \"foo\"",
            ),
            (
                StoreError::RollupInvalid {
                    value: "a\u{1}".into(),
                },
                500,
                10111,
                "rollup value invalid: \"a\\x01\"",
            ),
            (
                StoreError::MessageTtlDisabled,
                400,
                10166,
                "per-message TTL is disabled",
            ),
            (
                StoreError::MessageTtlInvalid,
                400,
                10165,
                "invalid per-message TTL",
            ),
            (
                StoreError::MessageTooLarge,
                400,
                10054,
                "message size exceeds maximum allowed",
            ),
            (
                StoreError::HeadersTooLarge,
                400,
                10097,
                "header size exceeds maximum allowed of 64k",
            ),
            (
                StoreError::MaxMsgsExceeded,
                503,
                10077,
                "maximum messages exceeded",
            ),
            (
                StoreError::MaxBytesExceeded,
                503,
                10077,
                "maximum bytes exceeded",
            ),
            (
                StoreError::MaxMsgsPerSubjectExceeded,
                503,
                10077,
                "maximum messages per subject exceeded",
            ),
            (
                StoreError::DeleteNotPermitted,
                500,
                10057,
                "message delete not permitted",
            ),
            (
                StoreError::DeleteMissing {
                    seq: 0,
                    last_seq: 5,
                },
                500,
                10057,
                "no message found",
            ),
            (
                StoreError::DeleteMissing {
                    seq: 9,
                    last_seq: 5,
                },
                500,
                10057,
                "stream store EOF",
            ),
            (
                StoreError::DeleteMissing {
                    seq: 3,
                    last_seq: 5,
                },
                400,
                10043,
                "sequence 3 not found",
            ),
            (
                StoreError::PurgeNotPermitted,
                500,
                10110,
                "stream purge not permitted",
            ),
            (
                StoreError::Sealed,
                400,
                10109,
                "invalid operation on sealed stream",
            ),
            (StoreError::PurgeSeqAndKeep, 400, 10003, "bad request"),
        ];
        for (store, code, err_code, description) in cases {
            let e = JsApiError::from(store.clone());
            assert_eq!(
                (e.code, e.err_code, e.description.as_str()),
                (code, err_code, description),
                "{store:?}"
            );
        }
    }
}
