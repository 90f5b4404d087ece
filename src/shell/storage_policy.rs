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

use crate::jetstream::JsApiError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_and_spelled_as_go_does() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let eio = std::io::Error::from_raw_os_error(5);
        assert!(is_no_space(&enospc) && !is_no_space(&eio));
        assert_eq!(error_text(&enospc), NO_SPACE_TEXT);
        assert_eq!(error_text(&eio), "input/output error");
    }
}
