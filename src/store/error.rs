//! Why the stream state machine refused a request, as domain facts. The store knows nothing of
//! JetStream API codes: `jetstream::error_map` turns each variant into nats-server's error.

/// A publish, delete or purge the [`super::Stream`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `Nats-Expected-Stream` names another stream.
    #[error("expected stream does not match")]
    ExpectedStreamMismatch,
    /// `Nats-Expected-Last-Sequence` (or the per-subject form) differs from `last_seq`, the
    /// actual last sequence (of the stream, or of the subject; 0 if none).
    #[error("wrong last sequence: {last_seq}")]
    WrongLastSequence {
        /// The actual last sequence.
        last_seq: u64,
    },
    /// `Nats-Expected-Last-Msg-Id` differs from the last stored message's id (`""` if none).
    #[error("wrong last msg ID: {last_id}")]
    WrongLastMsgId {
        /// The id of the last stored message (lossy UTF-8).
        last_id: String,
    },
    /// `Nats-Rollup` on a stream without `allow_rollup_hdrs` (or with `deny_purge`).
    #[error("rollup not permitted")]
    RollupNotPermitted,
    /// `Nats-Rollup` with a value other than `sub`/`all` (`value` lower-cased).
    #[error("rollup value invalid: {value:?}")]
    RollupInvalid {
        /// The header value, lower-cased.
        value: String,
    },
    /// `Nats-TTL` on a stream without `allow_msg_ttl`.
    #[error("per-message TTL is disabled")]
    MessageTtlDisabled,
    /// An unparsable `Nats-TTL` value.
    #[error("invalid per-message TTL")]
    MessageTtlInvalid,
    /// `Nats-Incr` that is not a decimal integer, or with headers a counter cannot honour
    /// (rollup, expected stream/sequence/msg id).
    #[error("message counter increment is invalid")]
    CounterIncrInvalid,
    /// `Nats-Incr` on a stream without `allow_msg_counter`.
    #[error("message counters is disabled")]
    CounterDisabled,
    /// `Nats-Incr` with a payload.
    #[error("message counter has payload")]
    CounterHasPayload,
    /// A publish without `Nats-Incr` to a counter stream.
    #[error("message counter increment is missing")]
    CounterIncrMissing,
    /// The subject's last message is not a counter value (`{"val":"…"}`).
    #[error("message counter is broken")]
    CounterBroken,
    /// A client's publish with `Nats-Stream-Source` (only messages a source delivered carry it).
    #[error("message stream source header is not allowed")]
    SourceHeaderNotAllowed,
    /// Headers + payload above `max_msg_size` (or a subject too long to store).
    #[error("message size exceeds maximum allowed")]
    MessageTooLarge,
    /// A header block above [`super::stream::MAX_HEADERS_BYTES`].
    #[error("header size exceeds maximum allowed")]
    HeadersTooLarge,
    /// `discard: new` with `max_msgs` reached.
    #[error("maximum messages exceeded")]
    MaxMsgsExceeded,
    /// `discard: new` with `max_bytes` reached.
    #[error("maximum bytes exceeded")]
    MaxBytesExceeded,
    /// `discard_new_per_subject` with `max_msgs_per_subject` reached.
    #[error("maximum messages per subject exceeded")]
    MaxMsgsPerSubjectExceeded,
    /// MSG.DELETE on a stream with `deny_delete`.
    #[error("message delete not permitted")]
    DeleteNotPermitted,
    /// MSG.DELETE of a sequence that is not stored; `last_seq` is the stream's last sequence.
    #[error("no message {seq} to delete (last sequence {last_seq})")]
    DeleteMissing {
        /// The sequence asked for.
        seq: u64,
        /// The stream's last sequence at the time.
        last_seq: u64,
    },
    /// PURGE on a stream with `deny_purge`.
    #[error("stream purge not permitted")]
    PurgeNotPermitted,
    /// PURGE with both `seq` and `keep`.
    #[error("purge with both seq and keep")]
    PurgeSeqAndKeep,
    /// A publish, MSG.DELETE or PURGE on a sealed stream.
    #[error("invalid operation on sealed stream")]
    Sealed,
}

#[cfg(test)]
mod tests {
    /// The store speaks in domain errors only: no JetStream API error code (10000-10299) and no
    /// API error type appears in its production code (comments and tests aside).
    #[test]
    fn store_knows_no_api_error_codes() {
        let files = [
            ("error.rs", include_str!("error.rs")),
            ("headers.rs", include_str!("headers.rs")),
            ("limits.rs", include_str!("limits.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("record.rs", include_str!("record.rs")),
            ("segment.rs", include_str!("segment.rs")),
            ("seq_map.rs", include_str!("seq_map.rs")),
            ("state.rs", include_str!("state.rs")),
            ("stream.rs", include_str!("stream.rs")),
            ("stream_lookup.rs", include_str!("stream_lookup.rs")),
            ("stream_replay.rs", include_str!("stream_replay.rs")),
            ("stream_expiry.rs", include_str!("stream_expiry.rs")),
            ("stream_counter.rs", include_str!("stream_counter.rs")),
            ("stream_batch.rs", include_str!("stream_batch.rs")),
        ];
        for (name, src) in files {
            let production = src.split("#[cfg(test)]").next().unwrap_or(src);
            for (n, line) in production.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                assert!(!code.contains("JsApiError"), "{name}:{}: {line}", n + 1);
                let digits: Vec<&str> = code
                    .split(|c: char| !c.is_ascii_digit() && c != '_')
                    .filter(|t| !t.is_empty())
                    .collect();
                for t in digits {
                    let v: u64 = t.replace('_', "").parse().unwrap_or(0);
                    assert!(
                        !(10_000..10_300).contains(&v),
                        "{name}:{}: API error code in the store: {line}",
                        n + 1
                    );
                }
            }
        }
    }
}
