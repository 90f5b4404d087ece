//! The stream config fields the storage core enforces.

/// What a full stream does with a new message: evict the oldest, or refuse the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discard {
    /// Evict the oldest messages (nats-server default).
    #[default]
    Old,
    /// Refuse the publish ([`super::StoreError::MaxMsgsExceeded`], ...).
    New,
}

/// The stream config fields the storage core enforces. For every `i64` limit, a value `<= 0`
/// means unlimited (nats-server uses -1; the API layer normalises 0 to -1 as it does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLimits {
    /// Maximum number of messages.
    pub max_msgs: i64,
    /// Maximum accounted bytes ([`super::stream::stored_msg_bytes`]).
    pub max_bytes: i64,
    /// Maximum age in nanoseconds; 0 = forever.
    pub max_age_ns: u64,
    /// Maximum `headers + payload` bytes of one message.
    pub max_msg_size: i64,
    /// Maximum messages kept per subject (KV history).
    pub max_msgs_per_subject: i64,
    /// Policy when `max_msgs`/`max_bytes` are reached.
    pub discard: Discard,
    /// With `discard: new`, also refuse a publish to a subject at `max_msgs_per_subject`.
    pub discard_new_per_subject: bool,
    /// `Nats-Msg-Id` de-duplication window in nanoseconds; 0 disables de-duplication.
    pub duplicate_window_ns: u64,
    /// Honour `Nats-Rollup` headers.
    pub allow_rollup_hdrs: bool,
    /// Refuse MSG.DELETE.
    pub deny_delete: bool,
    /// Refuse PURGE (and rollups).
    pub deny_purge: bool,
    /// Account bytes as nats-server's memory store does (`subject + headers + payload + 16`)
    /// instead of its file store.
    pub memory_accounting: bool,
    /// Honour `Nats-TTL` headers.
    pub allow_msg_ttl: bool,
    /// When age or a TTL removes a subject's last message, leave a marker with this TTL (0 = no).
    pub subject_delete_marker_ttl_ns: u64,
    /// A counter stream: publishes carry `Nats-Incr`, bodies are `{"val":"…"}` totals.
    pub allow_msg_counter: bool,
    /// Sealed (`sealed` in the config): publishes, MSG.DELETE and PURGE are refused.
    pub sealed: bool,
}

impl Default for StreamLimits {
    /// nats-server's defaults: everything unlimited, discard old, a 2 minute duplicate window.
    fn default() -> Self {
        StreamLimits {
            max_msgs: -1,
            max_bytes: -1,
            max_age_ns: 0,
            max_msg_size: -1,
            max_msgs_per_subject: -1,
            discard: Discard::Old,
            discard_new_per_subject: false,
            duplicate_window_ns: 120_000_000_000,
            allow_rollup_hdrs: false,
            deny_delete: false,
            deny_purge: false,
            memory_accounting: false,
            allow_msg_ttl: false,
            subject_delete_marker_ttl_ns: 0,
            allow_msg_counter: false,
            sealed: false,
        }
    }
}
