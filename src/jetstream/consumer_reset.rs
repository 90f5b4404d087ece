//! `$JS.API.CONSUMER.RESET.<stream>.<consumer>` (nats-server 2.15): the request body and the
//! response. The body is optional: empty (or `null`, `{}`) resets to the ack floor, `{"seq":N}`
//! to stream sequence `N`; natrix also takes `{"opt_start_time":"<RFC 3339>"}`, a reset to the
//! first message stored at or after that time (a natrix extension: nats-server ignores the
//! field and resets to the ack floor). Unknown fields are ignored, as Go's `json.Unmarshal`.

use serde_json::Value;

use super::errors::{invalid_json_error, JsApiError};
use super::gocompat::time::{clamp_unix_nanos, parse_rfc3339_nanos};

/// Go's name of the request type, in its decoding errors.
const GO_TYPE: &str = "JSApiConsumerResetRequest";

/// A decoded reset request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResetRequest {
    /// Stream sequence to restart at; 0 = the ack floor + 1.
    pub seq: u64,
    /// natrix: restart at the first message at or after this time (unix ns).
    pub start_time_ns: Option<u64>,
}

impl ResetRequest {
    /// Decodes the body as nats-server does (10025 with Go's texts for the wrong JSON types).
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        if body.trim_ascii().is_empty() {
            return Ok(Self::default());
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| invalid_json_error(&e))?;
        let obj = match v {
            Value::Null => return Ok(Self::default()),
            Value::Object(obj) => obj,
            other => {
                return Err(JsApiError::invalid_json(format!(
                    "json: cannot unmarshal {} into Go value of type server.{GO_TYPE}",
                    go_kind(&other)
                )))
            }
        };
        let mut req = Self::default();
        match obj.get("seq") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => {
                req.seq = n.as_u64().ok_or_else(|| {
                    JsApiError::invalid_json(format!(
                        "json: cannot unmarshal number {n} into Go struct field {GO_TYPE}.seq of type uint64"
                    ))
                })?;
            }
            Some(other) => {
                return Err(JsApiError::invalid_json(format!(
                    "json: cannot unmarshal {} into Go struct field {GO_TYPE}.seq of type uint64",
                    go_kind(other)
                )))
            }
        }
        match obj.get("opt_start_time") {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => {
                let ns = parse_rfc3339_nanos(text).map_err(|e| {
                    JsApiError::invalid_json(format!("opt_start_time: {e}"))
                })?;
                req.start_time_ns = Some(clamp_unix_nanos(ns));
            }
            Some(other) => {
                return Err(JsApiError::invalid_json(format!(
                    "json: cannot unmarshal {} into Go struct field {GO_TYPE}.opt_start_time of type time.Time",
                    go_kind(other)
                )))
            }
        }
        if req.seq > 0 && req.start_time_ns.is_some() {
            return Err(JsApiError::consumer_invalid_reset(
                "seq and opt_start_time are exclusive",
            ));
        }
        Ok(req)
    }
}

/// How Go's decoder names a JSON value's kind in its errors.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The reset response: the consumer's info (rendered as a `consumer_reset_response`) with
/// `"reset_seq"` appended, as nats-server's `JSApiConsumerResetResponse`.
pub fn render_reset_response(mut info: Vec<u8>, reset_seq: u64) -> Vec<u8> {
    debug_assert_eq!(info.last(), Some(&b'}'));
    info.pop();
    info.extend_from_slice(b",\"reset_seq\":");
    super::gocompat::write_u64(&mut info, reset_seq);
    info.push(b'}');
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_nats_server() {
        for empty in [
            "",
            " ",
            "null",
            "{}",
            r#"{"foo":1}"#,
            r#"{"seq":0}"#,
            r#"{"seq":null}"#,
        ] {
            assert_eq!(
                ResetRequest::parse(empty.as_bytes()),
                Ok(ResetRequest::default()),
                "{empty}"
            );
        }
        assert_eq!(ResetRequest::parse(br#"{"seq":4}"#).unwrap().seq, 4);
        for (bad, text) in [
            (r#"{"seq":-1}"#, "invalid JSON: json: cannot unmarshal number -1 into Go struct field JSApiConsumerResetRequest.seq of type uint64"),
            (r#"{"seq":"3"}"#, "invalid JSON: json: cannot unmarshal string into Go struct field JSApiConsumerResetRequest.seq of type uint64"),
            ("[]", "invalid JSON: json: cannot unmarshal array into Go value of type server.JSApiConsumerResetRequest"),
        ] {
            let e = ResetRequest::parse(bad.as_bytes()).unwrap_err();
            assert_eq!((e.err_code, e.description.as_str()), (10025, text), "{bad}");
        }
        assert_eq!(ResetRequest::parse(b"{bad").unwrap_err().err_code, 10025);
    }

    #[test]
    fn takes_a_start_time() {
        let r = ResetRequest::parse(br#"{"opt_start_time":"2026-01-02T03:04:05.5Z"}"#).unwrap();
        assert_eq!(r.start_time_ns, Some(1_767_323_045_500_000_000));
        assert_eq!(
            ResetRequest::parse(br#"{"opt_start_time":"nope"}"#)
                .unwrap_err()
                .err_code,
            10025
        );
        let both = ResetRequest::parse(br#"{"seq":2,"opt_start_time":"2026-01-02T03:04:05Z"}"#);
        assert_eq!(both.unwrap_err().err_code, 10204);
    }

    #[test]
    fn appends_the_reset_sequence() {
        let out = render_reset_response(br#"{"type":"t","name":"C"}"#.to_vec(), 7);
        assert_eq!(&out[..], br#"{"type":"t","name":"C","reset_seq":7}"#);
    }
}
