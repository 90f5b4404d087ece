//! The JetStream API's JSON layer for streams, sans-IO: `$JS.API` subject parsing, request
//! decoding with nats-server 2.15.1's defaults, validation and exact error codes/texts, and
//! response rendering byte-compatible with nats-server (verified against a live 2.15.1).
//! Callers own the state (stores, stream registry) and pass plain views in.
//!
//! Typical flow for a request on `subject` with `body`:
//! 1. `ApiRequest::parse(subject)`; `None` ⇒ not a stream API subject.
//! 2. Decode the body with the matching function (`prepare_create`, `StreamInfoRequest::parse`,
//!    `parse_msg_get`, `parse_direct_get`, ...); on `Err(e)` reply `render_error(kind, &e)`.
//! 3. Apply it to the store, then reply with the `render_*` function of the API; a refusal of
//!    the store (`StoreError`) becomes its API error with `JsApiError::from`.
//!
//! Layers: `errors` (the one error table) and `error_map` (store errors → API errors);
//! `gocompat` at the bottom (Go's JSON escaping, durations, RFC 3339 times, serde helpers)
//! imports nothing from the rest of the crate.

pub mod account_refusal;
pub mod api;
pub mod api_level;
pub mod batch_advisory;
#[cfg(test)]
mod compat_tests;
pub mod consumer_advisory;
pub mod consumer_api;
pub mod consumer_config;
pub mod consumer_reset;
pub mod consumer_unpin;
mod error_map;
pub mod errors;
pub mod failure_reply;
pub mod gocompat;
pub mod responses;
pub mod stream_config;
pub mod stream_origins;
pub use gocompat::time;

pub use api::{
    check_delete_body, decode_consumer_body, finish_create, is_empty_request, parse_direct_get,
    parse_msg_get, parse_stream_config, prepare_create, prepare_create_head, prepare_update,
    ApiRequest, ConsumerRequest, DirectGetError, DirectGetQuery, MsgDeleteRequest, MsgGetQuery,
    MsgQuery, StreamInfoRequest, StreamListRequest, StreamPurgeRequest, StreamRequest, API_PREFIX,
};
pub use consumer_api::{
    check_consumer_empty_body, consumer_advisory_subject, flow_control_headers,
    idle_heartbeat_headers, new_advisory_id, page_consumer_names, parse_consumer_create,
    parse_pull_request, render_consumer_action_advisory, render_consumer_info,
    render_consumer_list, render_consumer_names, render_max_deliveries_advisory,
    render_nak_advisory, render_terminated_advisory, resolve_action, status_headers, AdvisoryMeta,
    ConsumerAdvisory, ConsumerApi, ConsumerCreateRequest, ConsumerInfoView, CreateAction,
    ListRequest, PullRequest, SequenceInfo,
};
pub use consumer_config::{
    check_workqueue_filters, go_duration, AckPolicy, ConsumerConfig, DeliverPolicy, PriorityPolicy,
    ReplayPolicy,
};
pub use error_map::msg_delete_miss;
pub use errors::{invalid_json_error, ErrorEntry, JsApiError, ERROR_TABLE};
pub use responses::{
    direct_get_eob, page_subjects, pub_ack, pub_ack_batch, pub_ack_counter, pub_ack_counter_in,
    pub_ack_in, pub_error, render_account_info, render_error, render_msg_get, render_purge,
    render_stream_create, render_stream_create_with, render_stream_info, render_stream_info_with,
    render_stream_list, render_stream_list_with, render_stream_names, render_stream_update,
    render_stream_update_with, render_success, write_direct_get_headers, write_pub_ack,
    write_pub_ack_in, AccountInfoView, AccountLimits, BatchHeaders, Origins, Paging, ResponseType,
    ServerMeta, StoredMessageView, StreamInfoView, StreamStateView,
};
pub use stream_config::{
    check_stream_name_token, is_valid_stream_name, Compression, ConsumerLimits, DiscardPolicy,
    ExternalStream, PersistMode, Placement, RePublish, RetentionPolicy, StorageType, StreamConfig,
    StreamSource, SubjectTransform,
};
