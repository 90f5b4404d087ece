//! `$JS.API.CONSUMER.UNPIN.<stream>.<consumer>` (nats-server 2.11+): drops the pin of a
//! `pinned_client` consumer's priority group. The body is `{"group":"<name>"}` (required);
//! the reply is `{"type":"io.nats.jetstream.api.v1.consumer_unpin_response"}` or an error.
//! Unknown fields are ignored, as Go's `json.Unmarshal`.

use serde_json::Value;

use super::consumer_config::is_valid_group_name;
use super::errors::{invalid_json_error, JsApiError};
use super::responses::ResponseType;

/// Go's name of the request type, in its decoding errors.
const GO_TYPE: &str = "JSApiConsumerUnpinRequest";

/// Decodes an unpin request into its group, in nats-server's order: JSON (10025, `unexpected
/// end of JSON input` for an empty body), a group given (10025 `consumer group not
/// specified`), a valid group name (10162). Whether the consumer has that group (10160) is
/// the owner's check.
pub fn parse_unpin_request(body: &[u8]) -> Result<String, JsApiError> {
    if body.trim_ascii().is_empty() {
        return Err(JsApiError::invalid_json("unexpected end of JSON input"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| invalid_json_error(&e))?;
    let group = match v {
        Value::Null => String::new(),
        Value::Object(obj) => match obj.get("group") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(g)) => g.clone(),
            Some(other) => {
                return Err(JsApiError::invalid_json(format!(
                    "json: cannot unmarshal {} into Go struct field {GO_TYPE}.group of type string",
                    go_kind(other)
                )))
            }
        },
        other => {
            return Err(JsApiError::invalid_json(format!(
                "json: cannot unmarshal {} into Go value of type server.{GO_TYPE}",
                go_kind(&other)
            )))
        }
    };
    if group.is_empty() {
        return Err(JsApiError::invalid_json("consumer group not specified"));
    }
    if !is_valid_group_name(&group) {
        return Err(JsApiError::consumer_invalid_group_name());
    }
    Ok(group)
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

/// The success reply: only the type.
pub fn render_unpin_response() -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ResponseType::ConsumerUnpin.type_name().as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_nats_server() {
        assert_eq!(parse_unpin_request(br#"{"group":"g"}"#), Ok("g".to_owned()));
        assert_eq!(
            parse_unpin_request(br#"{"group":"g","x":1}"#),
            Ok("g".to_owned())
        );
        for (bad, code, text) in [
            ("", 10025, "invalid JSON: unexpected end of JSON input"),
            ("{}", 10025, "invalid JSON: consumer group not specified"),
            ("null", 10025, "invalid JSON: consumer group not specified"),
            (r#"{"group":""}"#, 10025, "invalid JSON: consumer group not specified"),
            (r#"{"group":5}"#, 10025, "invalid JSON: json: cannot unmarshal number into Go struct field JSApiConsumerUnpinRequest.group of type string"),
            ("[]", 10025, "invalid JSON: json: cannot unmarshal array into Go value of type server.JSApiConsumerUnpinRequest"),
            (r#"{"group":"a.b"}"#, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"),
        ] {
            let e = parse_unpin_request(bad.as_bytes()).unwrap_err();
            assert_eq!((e.err_code, e.description.as_str()), (code, text), "{bad}");
        }
        assert_eq!(
            parse_unpin_request(b"not json").unwrap_err().err_code,
            10025
        );
    }

    #[test]
    fn renders_the_bare_type() {
        assert_eq!(
            &render_unpin_response()[..],
            br#"{"type":"io.nats.jetstream.api.v1.consumer_unpin_response"}"#
        );
    }
}
