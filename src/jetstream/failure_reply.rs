//! The error form of a deferred success reply: when the writes a reply waited for did not
//! become durable (a full disk, a failed sync), the storage shell answers with the error
//! nats-server would send instead of the success it held. Only this layer reads and writes
//! API JSON, so the shell asks it here.

use bytes::Bytes;

use super::JsApiError;

/// The stream a deferred reply belongs to, when it is a publish ack (`{"stream":"S",...}`).
pub fn pub_ack_stream(payload: &[u8]) -> Option<String> {
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
pub fn failure_reply(success: &[u8], err: &JsApiError) -> Option<Bytes> {
    if let Some(stream) = pub_ack_stream(success) {
        return Some(super::pub_error(&stream, err));
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
        let ack = crate::jetstream::pub_ack("ORDERS", 7, false);
        assert_eq!(pub_ack_stream(&ack).as_deref(), Some("ORDERS"));
        let r = failure_reply(
            &ack,
            &JsApiError::stream_store_failed("no space left on device"),
        )
        .unwrap();
        assert_eq!(
            &r[..],
            br#"{"error":{"code":503,"err_code":10077,"description":"no space left on device"},"stream":"ORDERS","seq":0}"#
        );
    }

    #[test]
    fn an_api_response_becomes_an_error_of_its_type_and_an_ack_confirmation_is_withheld() {
        let ok = br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","success":true,"purged":3}"#;
        let e = JsApiError::stream_store_failed("input/output error");
        let r = failure_reply(ok, &e).unwrap();
        assert_eq!(
            &r[..],
            br#"{"type":"io.nats.jetstream.api.v1.stream_purge_response","error":{"code":503,"err_code":10077,"description":"input/output error"},"purged":0}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["error"]["err_code"], 10077);
        assert_eq!(failure_reply(b"", &e), None);
    }
}
