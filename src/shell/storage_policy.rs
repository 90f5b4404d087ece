//! What a storage failure means, and what the waiting clients hear (no I/O here).
//!
//! * A failed **write** that ran out of space (ENOSPC) was never acknowledged and never
//!   synced: the segment is cut back to its last synced length and the stream goes on; the
//!   publishes of that commit are answered with nats-server's 10077 error
//!   (`"no space left on device"`), and the next commit tries again, so the stream resumes by
//!   itself once space is freed.
//! * A failed **fdatasync** (or any other write error, or a failed roll-back) is fail-stop:
//!   after a failed fdatasync Linux may have dropped the dirty pages, so a retry could report
//!   success for data that is gone (fsyncgate). The stream takes no more writes and every
//!   publish or API write to it is answered with a 10077 error until the process restarts and
//!   recovers it from what is really on disk.

use bytes::Bytes;

use crate::jetstream::{self, JsApiError};

/// Why a stream's writes of one group commit were not made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreFailure {
    /// ENOSPC on a write: rolled back; the stream goes on.
    NoSpace,
    /// The stream is stopped (fail-stop) until restart; the text says why.
    Stopped(String),
}

impl StoreFailure {
    /// The JetStream error the waiting clients get.
    pub(crate) fn api_error(&self) -> JsApiError {
        match self {
            StoreFailure::NoSpace => JsApiError::stream_store_failed(NO_SPACE_TEXT),
            StoreFailure::Stopped(why) => JsApiError::stream_store_failed(why.clone()),
        }
    }
}

/// nats-server's text for ENOSPC (Go's `syscall.ENOSPC.Error()`).
pub(crate) const NO_SPACE_TEXT: &str = "no space left on device";

/// Whether an error is ENOSPC (or the quota equivalent, EDQUOT).
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122))
        || e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
}

/// An OS error as Go spells it (`input/output error`), which is what nats-server puts in a
/// store-failure description; other errors as they display.
pub(crate) fn error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(5) => "input/output error".into(),
        Some(28) => NO_SPACE_TEXT.into(),
        Some(30) => "read-only file system".into(),
        Some(122) => "disk quota exceeded".into(),
        _ if e.kind() == std::io::ErrorKind::StorageFull => NO_SPACE_TEXT.into(),
        _ => e.to_string(),
    }
}

/// The stream a deferred reply belongs to, when it is a publish ack (`{"stream":"S",...}`).
pub(crate) fn pub_ack_stream(payload: &[u8]) -> Option<String> {
    if !payload.starts_with(b"{\"stream\":") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Ack {
        stream: String,
    }
    serde_json::from_slice::<Ack>(payload)
        .ok()
        .map(|a| a.stream)
}

/// The error reply that replaces a deferred success reply whose writes failed: a publish ack
/// becomes nats-server's publish error for that stream, an API response an error response of
/// the same type. `None` for a reply that has no error form (an ack confirmation, empty):
/// it is withheld, so the client retries rather than believe a false success.
pub(crate) fn failure_reply(success: &[u8], err: &JsApiError) -> Option<Bytes> {
    if let Some(stream) = pub_ack_stream(success) {
        return Some(jetstream::pub_error(&stream, err));
    }
    let rest = success.strip_prefix(b"{\"type\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let type_name = std::str::from_utf8(&rest[..end]).ok()?;
    let mut out = Vec::with_capacity(128 + type_name.len() + err.description.len());
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(type_name.as_bytes());
    out.extend_from_slice(b"\",");
    err.write_error_member(&mut out);
    if type_name.ends_with("stream_purge_response") {
        out.extend_from_slice(b",\"purged\":0");
    }
    out.push(b'}');
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pub_ack_becomes_the_publish_error_of_its_stream() {
        let ack = jetstream::pub_ack("ORDERS", 7, false);
        assert_eq!(pub_ack_stream(&ack).as_deref(), Some("ORDERS"));
        let r = failure_reply(&ack, &StoreFailure::NoSpace.api_error()).unwrap();
        assert_eq!(
            &r[..],
            br#"{"error":{"code":503,"err_code":10077,"description":"no space left on device"},"stream":"ORDERS","seq":0}"#
        );
    }

    #[test]
    fn an_api_response_becomes_an_error_of_its_type_and_an_ack_confirmation_is_withheld() {
        let ok = br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":3}"#;
        let e = StoreFailure::Stopped("input/output error".into()).api_error();
        let r = failure_reply(ok, &e).unwrap();
        assert_eq!(
            &r[..],
            br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":503,"err_code":10077,"description":"input/output error"},"purged":0}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["error"]["err_code"], 10077);
        assert_eq!(failure_reply(b"", &e), None);
    }

    #[test]
    fn errors_are_classified_and_spelled_as_go_does() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let eio = std::io::Error::from_raw_os_error(5);
        assert!(is_no_space(&enospc) && !is_no_space(&eio));
        assert_eq!(error_text(&enospc), NO_SPACE_TEXT);
        assert_eq!(error_text(&eio), "input/output error");
    }
}
