//! The `$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.<stream>` advisory nats-server 2.15.1 sends
//! when an open atomic batch is dropped (`JSStreamBatchAbandonedAdvisory`).

use super::consumer_api::AdvisoryMeta;
use super::gocompat::time::format_rfc3339_nanos;
use super::gocompat::write_json_str;

/// Subject prefix; the stream name follows.
pub const BATCH_ABANDONED_PREFIX: &str = "$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.";

/// Why a batch was abandoned (nats-server's `BatchAbandonReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    /// No message for the batch timeout.
    Timeout,
    /// More messages than the limit.
    Large,
    /// A gap (or a batch of only `eob`).
    Incomplete,
    /// `Nats-Required-Api-Level` not met.
    Unsupported,
}

impl AbandonReason {
    fn as_str(self) -> &'static str {
        match self {
            AbandonReason::Timeout => "timeout",
            AbandonReason::Large => "large",
            AbandonReason::Incomplete => "incomplete",
            AbandonReason::Unsupported => "unsupported",
        }
    }
}

/// `{"type":"io.nats.jetstream.advisory.v1.stream_batch_abandoned","id","timestamp","stream",
/// ["domain",]"batch","reason"}`, in nats-server's field order.
pub fn render_batch_abandoned_advisory(
    meta: &AdvisoryMeta,
    stream: &str,
    batch: &str,
    reason: AbandonReason,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(192 + stream.len() + batch.len());
    out.extend_from_slice(
        b"{\"type\":\"io.nats.jetstream.advisory.v1.stream_batch_abandoned\",\"id\":",
    );
    write_json_str(&mut out, meta.id);
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(format_rfc3339_nanos(meta.timestamp_ns).as_bytes());
    out.extend_from_slice(b"\",\"stream\":");
    write_json_str(&mut out, stream);
    if !meta.domain.is_empty() {
        out.extend_from_slice(b",\"domain\":");
        write_json_str(&mut out, meta.domain);
    }
    out.extend_from_slice(b",\"batch\":");
    write_json_str(&mut out, batch);
    out.extend_from_slice(b",\"reason\":\"");
    out.extend_from_slice(reason.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nats_server_shape() {
        let meta = AdvisoryMeta {
            id: "Sx34F6RU0LLxpWV5uNnaPn",
            timestamp_ns: 1_796_000_000_123_456_789,
            domain: "",
        };
        let v: serde_json::Value = serde_json::from_slice(&render_batch_abandoned_advisory(
            &meta,
            "S",
            "b1",
            AbandonReason::Timeout,
        ))
        .expect("JSON");
        assert_eq!(
            v["type"],
            "io.nats.jetstream.advisory.v1.stream_batch_abandoned"
        );
        assert_eq!(v["stream"], "S");
        assert_eq!(v["batch"], "b1");
        assert_eq!(v["reason"], "timeout");
        assert!(v.get("domain").is_none());
    }
}
