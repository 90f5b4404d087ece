//! The few JetStream publish headers the stream state machine reads, looked up in a raw
//! `NATS/1.0…\r\n\r\n` block without allocating.

/// `Nats-Msg-Id`: de-duplication key.
pub(crate) const MSG_ID: &[u8] = b"Nats-Msg-Id";
/// `Nats-Expected-Stream`.
pub(crate) const EXPECTED_STREAM: &[u8] = b"Nats-Expected-Stream";
/// `Nats-Expected-Last-Sequence`.
pub(crate) const EXPECTED_LAST_SEQ: &[u8] = b"Nats-Expected-Last-Sequence";
/// `Nats-Expected-Last-Subject-Sequence`.
pub(crate) const EXPECTED_LAST_SUBJECT_SEQ: &[u8] = b"Nats-Expected-Last-Subject-Sequence";
/// `Nats-Expected-Last-Subject-Sequence-Subject`.
pub(crate) const EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: &[u8] =
    b"Nats-Expected-Last-Subject-Sequence-Subject";
/// `Nats-Expected-Last-Msg-Id`.
pub(crate) const EXPECTED_LAST_MSG_ID: &[u8] = b"Nats-Expected-Last-Msg-Id";
/// `Nats-Rollup`.
pub(crate) const ROLLUP: &[u8] = b"Nats-Rollup";
/// `Nats-TTL`: per-message time to live (seconds, a Go duration, or `never`).
pub(crate) const TTL: &[u8] = b"Nats-TTL";
/// `Nats-Marker-Reason`: set on server-written subject delete markers.
pub(crate) const MARKER_REASON: &[u8] = b"Nats-Marker-Reason";
/// `KV-Operation`: a KV delete or purge marker written by a client.
pub(crate) const KV_OPERATION: &[u8] = b"KV-Operation";

/// Parses a `Nats-TTL` value: `Ok(None)` for `never` or 0, `Ok(Some(ns))`, or `Err` when
/// unparsable (ADR-43: plain seconds or a Go duration).
pub(crate) fn parse_ttl(value: &[u8]) -> Result<Option<u64>, ()> {
    let v = std::str::from_utf8(value).map_err(|_| ())?.trim();
    if v.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let ns = match v.parse::<i64>() {
        Ok(secs) if secs < 0 => return Err(()),
        Ok(secs) => (secs as u64).saturating_mul(1_000_000_000),
        Err(_) => crate::jetstream::gocompat::parse_go_duration(v).ok_or(())?,
    };
    Ok((ns > 0).then_some(ns))
}

/// Value of the first header line named exactly `name` (case-sensitive, as nats-server), with
/// leading spaces/tabs skipped; `None` when absent. The status line is never a header.
pub(crate) fn get<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut lines = block.split(|&b| b == b'\n');
    lines.next()?; // `NATS/1.0[ status]\r`
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() <= name.len() || &line[..name.len()] != name || line[name.len()] != b':' {
            continue;
        }
        let mut value = &line[name.len() + 1..];
        while let [b' ' | b'\t', rest @ ..] = value {
            value = rest;
        }
        return Some(value);
    }
    None
}

/// A non-empty header value (nats-server treats an empty value as an absent header).
pub(crate) fn get_non_empty<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    get(block, name).filter(|v| !v.is_empty())
}

/// Parses a sequence header like nats-server: decimal digits only; anything else reads as
/// `u64::MAX` (so it never matches and the caller reports the actual sequence). Overflow wraps.
pub(crate) fn parse_seq(value: &[u8]) -> u64 {
    let mut n: i64 = 0;
    for &d in value {
        if !d.is_ascii_digit() {
            return u64::MAX;
        }
        n = n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
    }
    n as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &[u8] =
        b"NATS/1.0\r\nNats-Msg-Id:  abc\r\nNats-Expected-Last-Subject-Sequence-Subject: k.>\r\nNats-Expected-Last-Subject-Sequence: 0\r\nX: \r\n\r\n";

    #[test]
    fn finds_exact_names_only() {
        assert_eq!(get(BLOCK, MSG_ID), Some(&b"abc"[..]));
        assert_eq!(get(BLOCK, EXPECTED_LAST_SUBJECT_SEQ), Some(&b"0"[..]));
        assert_eq!(
            get(BLOCK, EXPECTED_LAST_SUBJECT_SEQ_SUBJECT),
            Some(&b"k.>"[..])
        );
        assert_eq!(get(BLOCK, b"nats-msg-id"), None);
        assert_eq!(get(BLOCK, b"Nats-Msg"), None);
        assert_eq!(get(BLOCK, b"X"), Some(&b""[..]));
        assert_eq!(get_non_empty(BLOCK, b"X"), None);
        assert_eq!(get(b"", MSG_ID), None);
        assert_eq!(
            get(b"Nats-Msg-Id: a\r\n\r\n", MSG_ID),
            None,
            "first line is the status line"
        );
    }

    #[test]
    fn parses_sequences_like_nats_server() {
        assert_eq!(parse_seq(b"0"), 0);
        assert_eq!(parse_seq(b"12345"), 12345);
        assert_eq!(parse_seq(b"12a"), u64::MAX);
        assert_eq!(parse_seq(b"-1"), u64::MAX);
        assert_eq!(parse_seq(b" 1"), u64::MAX);
    }
}
