//! The JetStream API level: `Nats-Required-Api-Level` on API requests, refused (412 / 10185,
//! or a `412 Required Api Level` status for direct gets and pull requests) when it asks for
//! more than this server supports, as nats-server's `errorOnRequiredApiLevel`.

use super::api::ApiRequest;
use super::consumer_api::ConsumerApi;
use super::ResponseType;

/// The request header naming the lowest API level a client needs.
pub const REQUIRED_API_LEVEL_HEADER: &[u8] = b"Nats-Required-Api-Level";

/// The status reply of a direct get or a pull request whose required level is too high.
pub const REQUIRED_API_LEVEL_STATUS: &[u8] = b"NATS/1.0 412 Required Api Level\r\n\r\n";

/// Whether a request with this header block must be refused by a server of level `supported`:
/// the header is present and not empty, and is not a decimal number (Go's `strconv.Atoi`:
/// an optional sign, digits) at most `supported`.
pub fn refuses_required_level(headers: &[u8], supported: u32) -> bool {
    if headers.is_empty() {
        return false;
    }
    let Some(value) = crate::store::headers::get_non_empty(headers, REQUIRED_API_LEVEL_HEADER)
    else {
        return false;
    };
    match go_atoi(value) {
        Some(level) => level > i64::from(supported),
        None => true,
    }
}

/// Go's `strconv.Atoi` on a 64-bit platform: `[+-]?[0-9]+` within `i64`.
fn go_atoi(text: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(text).ok()?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The response type an API request's error is rendered as; `None` for requests answered
/// with messages and status headers (direct get, pull requests) or not answered at all.
pub fn error_response_type(req: &ApiRequest<'_>) -> Option<ResponseType> {
    match req {
        ApiRequest::Consumer(rest) => ConsumerApi::parse(rest).and_then(|a| a.response_type()),
        other => other.response_type(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(value: &str) -> Vec<u8> {
        format!("NATS/1.0\r\nNats-Required-Api-Level: {value}\r\n\r\n").into_bytes()
    }

    #[test]
    fn refuses_levels_above_the_supported_one_and_garbage() {
        assert!(!refuses_required_level(b"", 1));
        assert!(!refuses_required_level(b"NATS/1.0\r\nX: 1\r\n\r\n", 1));
        for ok in ["0", "1", "-1", "+1", "01"] {
            assert!(!refuses_required_level(&block(ok), 1), "{ok}");
        }
        for refused in ["2", "5", "abc", "1.0", "99999999999999999999"] {
            assert!(refuses_required_level(&block(refused), 1), "{refused}");
        }
        assert!(!refuses_required_level(
            b"NATS/1.0\r\nNats-Required-Api-Level:\r\n\r\n",
            1
        ));
    }

    #[test]
    fn error_types_follow_the_request() {
        let t = |s: &str| error_response_type(&ApiRequest::parse(s.as_bytes()).unwrap());
        assert_eq!(t("$JS.API.INFO"), Some(ResponseType::AccountInfo));
        assert_eq!(t("$JS.API.STREAM.NAMES"), Some(ResponseType::StreamNames));
        assert_eq!(
            t("$JS.API.CONSUMER.INFO.S.C"),
            Some(ResponseType::ConsumerInfo)
        );
        assert_eq!(t("$JS.API.CONSUMER.MSG.NEXT.S.C"), None);
        assert_eq!(t("$JS.API.DIRECT.GET.S"), None);
    }
}
