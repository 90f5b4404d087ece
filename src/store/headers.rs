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
/// `Nats-Incr`: a counter increment (a decimal integer of any size).
pub(crate) const INCR: &[u8] = b"Nats-Incr";
/// `Nats-Stream-Source`: set by a source on what it stores; refused from clients.
pub(crate) const STREAM_SOURCE: &[u8] = b"Nats-Stream-Source";
/// `KV-Operation`: a KV delete or purge marker written by a client.
pub(crate) const KV_OPERATION: &[u8] = b"KV-Operation";

/// A per-message time to live (`Nats-TTL`), as nats-server keeps it: whole seconds, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgTtl {
    /// `never`: the message does not expire, not even by the stream's `max_age`.
    Never,
    /// Expires this many seconds after it was stored (at least 1).
    Secs(u64),
}

/// Parses a `Nats-TTL` value as nats-server's `parseMessageTTL`: `never` (any case); a Go
/// duration of at least one second, truncated to whole seconds (`1.5s` is 1 s; `500ms`, `0`,
/// `0s` and negative ones are refused); otherwise plain decimal seconds (`5`; `00` means no
/// TTL, `Ok(None)`). Anything else (`-1`, `+5`, `abc`) is `Err`, nats-server's 10165.
pub(crate) fn parse_ttl(value: &[u8]) -> Result<Option<MsgTtl>, ()> {
    let v = std::str::from_utf8(value).map_err(|_| ())?;
    if v.eq_ignore_ascii_case("never") {
        return Ok(Some(MsgTtl::Never));
    }
    if let Some(ns) = crate::jetstream::gocompat::parse_go_duration_exact(v) {
        if ns < 1_000_000_000 {
            return Err(());
        }
        return Ok(Some(MsgTtl::Secs(ns as u64 / 1_000_000_000)));
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let secs: u64 = v.parse().map_err(|_| ())?;
    if secs > i64::MAX as u64 {
        return Err(());
    }
    Ok((secs > 0).then_some(MsgTtl::Secs(secs)))
}

/// `block` with every `name:` line removed and `name: value` appended as its last header, as
/// nats-server's `removeHeaderIfPresent` + `genHeader` rewrite a header.
pub(crate) fn replace(block: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + name.len() + value.len() + 4);
    let body = block.strip_suffix(b"\r\n\r\n").unwrap_or(block);
    let mut lines = body.split(|&b| b == b'\n');
    if let Some(status) = lines.next() {
        out.extend_from_slice(status.strip_suffix(b"\r").unwrap_or(status));
        out.extend_from_slice(b"\r\n");
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > name.len() && line.starts_with(name) && line[name.len()] == b':' {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n\r\n");
    out
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
    fn parses_ttls_like_nats_server() {
        use MsgTtl::*;
        for (v, want) in [
            ("never", Ok(Some(Never))),
            ("NEVER", Ok(Some(Never))),
            ("1s", Ok(Some(Secs(1)))),
            ("1m", Ok(Some(Secs(60)))),
            ("1.5s", Ok(Some(Secs(1)))),
            ("1500ms", Ok(Some(Secs(1)))),
            ("1h1s", Ok(Some(Secs(3601)))),
            ("5", Ok(Some(Secs(5)))),
            ("00", Ok(None)),
            ("500ms", Err(())),
            ("0", Err(())),
            ("0s", Err(())),
            ("-5s", Err(())),
            ("-1", Err(())),
            ("+5", Err(())),
            ("1e3", Err(())),
            ("abc", Err(())),
            ("", Err(())),
        ] {
            assert_eq!(parse_ttl(v.as_bytes()), want, "{v:?}");
        }
    }

    #[test]
    fn replaces_a_header_at_the_end() {
        assert_eq!(
            replace(b"NATS/1.0\r\nNats-TTL: 1\r\nX-A: b\r\n\r\n", TTL, b"5"),
            b"NATS/1.0\r\nX-A: b\r\nNats-TTL: 5\r\n\r\n"
        );
        assert_eq!(
            replace(b"NATS/1.0\r\nNats-TTL: 1\r\n\r\n", TTL, b"5"),
            b"NATS/1.0\r\nNats-TTL: 5\r\n\r\n"
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
