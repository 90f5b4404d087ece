//! The JetStream API's JSON layer for streams, sans-IO: `$JS.API` subject parsing, request
//! decoding with nats-server 2.15.1's defaults, validation and exact error codes/texts, and
//! response rendering byte-compatible with nats-server (verified against a live 2.15.1).
//! Callers own the state (stores, stream registry) and pass plain views in.
//!
//! Typical flow for a request on `subject` with `body`:
//! 1. `ApiRequest::parse(subject)`; `None` ⇒ not a stream API subject.
//! 2. Decode the body with the matching function (`prepare_create`, `StreamInfoRequest::parse`,
//!    `parse_msg_get`, `parse_direct_get`, ...); on `Err(e)` reply `render_error(kind, &e)`.
//! 3. Apply it to the store, then reply with the `render_*` function of the API.

pub mod api;
#[cfg(test)]
mod compat_tests;
pub mod consumer_api;
pub mod consumer_config;
pub mod errors;
pub mod responses;
pub mod stream_config;
pub mod time;

pub use api::{
    check_delete_body, decode_consumer_body, is_empty_request, msg_delete_miss, parse_direct_get,
    parse_msg_get, parse_stream_config, prepare_create, prepare_update, ApiRequest,
    ConsumerRequest, DirectGetError, DirectGetQuery, MsgDeleteRequest, MsgGetQuery, MsgQuery,
    StreamInfoRequest, StreamListRequest, StreamPurgeRequest, StreamRequest, API_PREFIX,
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
pub use errors::{invalid_json_error, JsApiError};
pub use responses::{
    direct_get_eob, page_subjects, pub_ack, pub_error, render_account_info, render_error,
    render_msg_get, render_purge, render_stream_create, render_stream_info, render_stream_list,
    render_stream_names, render_stream_update, render_success, write_direct_get_headers,
    write_pub_ack, AccountInfoView, AccountLimits, BatchHeaders, Paging, ResponseType, ServerMeta,
    StoredMessageView, StreamInfoView, StreamStateView,
};
pub use stream_config::{
    check_stream_name_token, is_valid_stream_name, Compression, ConsumerLimits, DiscardPolicy,
    PersistMode, Placement, RePublish, RetentionPolicy, StorageType, StreamConfig, StreamSource,
    SubjectTransform,
};

/// Appends `v` in decimal without allocating.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// Appends `s` as a JSON string the way Go's encoder writes it: `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f`, other controls as `\u00XX`, and `<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                Some(if bytes[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                })
            }
            _ => None,
        };
        if let Some(escape) = escape {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(escape);
            i += if b == 0xe2 { 3 } else { 1 };
            start = i;
        } else if b < 0x20 {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
            i += 1;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Rewrites serde_json output with Go's HTML-safe escapes (`<`, `>`, `&`, U+2028, U+2029 as
/// `\uXXXX`); these characters only ever occur inside JSON strings, so a byte pass is exact.
pub(crate) fn go_escape_html(json: Vec<u8>) -> Vec<u8> {
    let needs = json.iter().enumerate().any(|(i, &b)| {
        matches!(b, b'<' | b'>' | b'&')
            || (b == 0xe2
                && json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xa8 | 0xa9)))
    });
    if !needs {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 32);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xe2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_digits() {
        for v in [0u64, 7, 10, 12_345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn json_strings_escape_like_go() {
        let cases = [
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("l1\nl2\r\t", r#""l1\nl2\r\t""#),
            ("\u{1}\u{1f}\u{8}\u{c}", r#""\u0001\u001f\b\f""#),
            ("a.>&<", r#""a.\u003e\u0026\u003c""#),
            ("ÄÖ\u{2028}\u{2029}é", "\"ÄÖ\\u2028\\u2029é\""),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            write_json_str(&mut out, input);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{input:?}");
            // The same text through serde_json plus the HTML pass gives the same bytes.
            let via_serde = go_escape_html(serde_json::to_vec(input).unwrap());
            assert_eq!(String::from_utf8(via_serde).unwrap(), want, "{input:?}");
        }
        assert_eq!(go_escape_html(b"{\"a\":1}".to_vec()), b"{\"a\":1}");
    }
}
