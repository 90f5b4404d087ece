//! The answer to a `$JS.API` request from an account without JetStream: nats-server's
//! `10039` "JetStream not enabled for account" (503), in the response type of the request.
//! The engine asks here (only this layer renders API JSON).

use bytes::Bytes;

use super::api::ApiRequest;
use super::responses::{render_error, ResponseType};
use super::JsApiError;

/// The reply to a request on `subject` in an account without JetStream; `None` for a
/// subject that is no JetStream API request.
pub fn not_enabled_for_account(subject: &[u8]) -> Option<Bytes> {
    if !subject.starts_with(b"$JS.API.") {
        return None;
    }
    let response = ApiRequest::parse(subject)
        .and_then(|r| r.response_type())
        .unwrap_or(ResponseType::AccountInfo);
    Some(Bytes::from(render_error(
        response,
        &JsApiError::not_enabled_for_account(),
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_10039_in_the_request_type() {
        let r = super::not_enabled_for_account(b"$JS.API.INFO").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["error"]["err_code"], 10039);
        assert_eq!(v["error"]["code"], 503);
        assert_eq!(v["type"], "io.nats.jetstream.api.v1.account_info_response");
        assert!(super::not_enabled_for_account(b"orders.new").is_none());
    }
}
