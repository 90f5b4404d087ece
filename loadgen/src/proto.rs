//! Sans-IO NATS wire framing used by every part of the load generator.
//!
//! Two parsers: [`parse_server_frame`] for what a server sends to a client
//! (`MSG`, `HMSG`, `PING`, …) and [`parse_client_frame`] for what a client
//! sends (`PUB`, `SUB`, …; used by the ceiling server and the test proxy).
//! Both work on a byte slice, borrow from it (zero-copy) and return how many
//! bytes the frame occupied, or `None` when the slice holds only part of a
//! frame. The `push_*` functions append encoded operations to a buffer so a
//! caller can batch many of them into one socket write.

/// Longest control line (op plus arguments) accepted before the peer is
/// considered broken; matches nats-server's default `max_control_line`.
pub const MAX_CONTROL_LINE_BYTES: usize = 4096;

/// Most arguments any NATS operation carries (`HMSG subj sid reply hdr total`).
const MAX_ARGS: usize = 6;

/// Why a byte stream is not valid NATS protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The line starts with an operation this side never expects.
    #[error("unknown protocol operation in line {0:?}")]
    UnknownOp(String),
    /// The operation is known but its arguments are not.
    #[error("malformed {op} line {line:?}")]
    Malformed {
        /// Operation name.
        op: &'static str,
        /// The offending control line (lossy UTF-8).
        line: String,
    },
    /// A payload was not followed by CR LF.
    #[error("payload of {op} is not terminated by CRLF")]
    BadPayloadEnd {
        /// Operation name.
        op: &'static str,
    },
    /// No line end within the control-line limit.
    #[error("control line longer than {max_bytes} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        max_bytes: usize,
    },
}

/// One delivered message (`MSG` or `HMSG`), borrowing from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    /// Subject the message was published to.
    pub subject: &'a [u8],
    /// Subscription id the server delivered it for.
    pub sid: u64,
    /// Reply subject, if the publisher set one.
    pub reply: Option<&'a [u8]>,
    /// Header block (`NATS/1.0…\r\n\r\n`) for `HMSG`, `None` for `MSG`.
    pub headers: Option<&'a [u8]>,
    /// Message body.
    pub payload: &'a [u8],
}

impl Msg<'_> {
    /// Status code from an `HMSG` status line (`NATS/1.0 408 …`), used to tell
    /// JetStream control messages from data.
    pub fn status(&self) -> Option<u16> {
        let h = self.headers?;
        let line_end = h.iter().position(|&b| b == b'\r').unwrap_or(h.len());
        let line = &h[..line_end];
        let rest = line.strip_prefix(b"NATS/1.0")?;
        let rest = trim_ws(rest);
        if rest.len() < 3 {
            return None;
        }
        parse_u64(&rest[..3]).map(|v| v as u16)
    }
}

/// One server-to-client operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A delivered message.
    Msg(Msg<'a>),
    /// Keep-alive probe that must be answered with `PONG`.
    Ping,
    /// Answer to our `PING` (used as a flush barrier).
    Pong,
    /// Verbose-mode acknowledgement.
    Ok,
    /// Protocol error text (inside the quotes when present).
    Err(&'a [u8]),
    /// `INFO` JSON body.
    Info(&'a [u8]),
}

/// One client-to-server operation (what the ceiling server and the test
/// proxy have to understand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// `PUB` or `HPUB`.
    Pub {
        /// Destination subject.
        subject: &'a [u8],
        /// Optional reply subject.
        reply: Option<&'a [u8]>,
        /// Header block for `HPUB`.
        headers: Option<&'a [u8]>,
        /// Body.
        payload: &'a [u8],
    },
    /// `SUB subject [queue] sid`.
    Sub {
        /// Subject filter.
        subject: &'a [u8],
        /// Queue group, if any.
        queue: Option<&'a [u8]>,
        /// Client-chosen subscription id, kept as bytes.
        sid: &'a [u8],
    },
    /// `UNSUB sid [max]`.
    Unsub {
        /// Subscription id.
        sid: &'a [u8],
        /// Auto-unsubscribe count.
        max_msgs: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `CONNECT` JSON body.
    Connect(&'a [u8]),
    /// Client-sent `INFO` (ignored by servers).
    Info,
}

/// Result of a successful parse step: a frame and the bytes it used.
pub type Parsed<F> = Option<(F, usize)>;

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Parses an unsigned decimal without allocation; `None` on anything else.
#[inline]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Finds the control line at the start of `buf`. Returns the line without its
/// terminator and the offset just past the `\n`.
#[inline]
fn control_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtoError> {
    let limit = buf.len().min(MAX_CONTROL_LINE_BYTES + 2);
    match buf[..limit].iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = if nl > 0 && buf[nl - 1] == b'\r' {
                &buf[..nl - 1]
            } else {
                &buf[..nl]
            };
            Ok(Some((line, nl + 1)))
        }
        None if buf.len() > MAX_CONTROL_LINE_BYTES + 1 => Err(ProtoError::LineTooLong {
            max_bytes: MAX_CONTROL_LINE_BYTES,
        }),
        None => Ok(None),
    }
}

/// Splits arguments on runs of spaces/tabs into a fixed array (no allocation).
#[inline]
fn split_args(s: &[u8]) -> Option<([&[u8]; MAX_ARGS], usize)> {
    let mut out: [&[u8]; MAX_ARGS] = [&[]; MAX_ARGS];
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && is_ws(s[i]) {
            i += 1;
        }
        if i == s.len() {
            break;
        }
        let start = i;
        while i < s.len() && !is_ws(s[i]) {
            i += 1;
        }
        if n == MAX_ARGS {
            return None;
        }
        out[n] = &s[start..i];
        n += 1;
    }
    Some((out, n))
}

/// Splits a line into its op (upper-cased into `op_buf`) and the rest.
#[inline]
fn split_op<'a>(line: &'a [u8], op_buf: &mut [u8; 8]) -> (usize, &'a [u8]) {
    let end = line.iter().position(|&b| is_ws(b)).unwrap_or(line.len());
    let op_len = end.min(op_buf.len());
    for (dst, src) in op_buf.iter_mut().zip(&line[..op_len]) {
        *dst = src.to_ascii_uppercase();
    }
    let op_len = if end > op_buf.len() { 0 } else { op_len };
    (op_len, &line[end..])
}

fn malformed(op: &'static str, line: &[u8]) -> ProtoError {
    ProtoError::Malformed {
        op,
        line: String::from_utf8_lossy(line).into_owned(),
    }
}

/// Checks that `total` body bytes plus CR LF follow `start`; returns the body
/// and the end offset, or `None` when more input is needed.
#[inline]
fn body<'a>(
    buf: &'a [u8],
    start: usize,
    total: usize,
    op: &'static str,
) -> Result<Option<(&'a [u8], usize)>, ProtoError> {
    let end = start + total;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ProtoError::BadPayloadEnd { op });
    }
    Ok(Some((&buf[start..end], end + 2)))
}

/// Parses one server frame from the start of `buf`.
pub fn parse_server_frame(buf: &[u8]) -> Result<Parsed<ServerFrame<'_>>, ProtoError> {
    let Some((line, line_end)) = control_line(buf)? else {
        return Ok(None);
    };
    let mut op_buf = [0u8; 8];
    let (op_len, rest) = split_op(line, &mut op_buf);
    match &op_buf[..op_len] {
        b"MSG" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("MSG", line))?;
            let (subject, sid, reply, size) = match n {
                3 => (args[0], args[1], None, args[2]),
                4 => (args[0], args[1], Some(args[2]), args[3]),
                _ => return Err(malformed("MSG", line)),
            };
            let sid = parse_u64(sid).ok_or_else(|| malformed("MSG", line))?;
            let size = parse_u64(size).ok_or_else(|| malformed("MSG", line))? as usize;
            let Some((payload, end)) = body(buf, line_end, size, "MSG")? else {
                return Ok(None);
            };
            Ok(Some((
                ServerFrame::Msg(Msg {
                    subject,
                    sid,
                    reply,
                    headers: None,
                    payload,
                }),
                end,
            )))
        }
        b"HMSG" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("HMSG", line))?;
            let (subject, sid, reply, hdr, total) = match n {
                4 => (args[0], args[1], None, args[2], args[3]),
                5 => (args[0], args[1], Some(args[2]), args[3], args[4]),
                _ => return Err(malformed("HMSG", line)),
            };
            let sid = parse_u64(sid).ok_or_else(|| malformed("HMSG", line))?;
            let hdr = parse_u64(hdr).ok_or_else(|| malformed("HMSG", line))? as usize;
            let total = parse_u64(total).ok_or_else(|| malformed("HMSG", line))? as usize;
            if hdr > total {
                return Err(malformed("HMSG", line));
            }
            let Some((all, end)) = body(buf, line_end, total, "HMSG")? else {
                return Ok(None);
            };
            Ok(Some((
                ServerFrame::Msg(Msg {
                    subject,
                    sid,
                    reply,
                    headers: Some(&all[..hdr]),
                    payload: &all[hdr..],
                }),
                end,
            )))
        }
        b"PING" => Ok(Some((ServerFrame::Ping, line_end))),
        b"PONG" => Ok(Some((ServerFrame::Pong, line_end))),
        b"+OK" => Ok(Some((ServerFrame::Ok, line_end))),
        b"-ERR" => {
            let text = trim_ws(rest);
            let text = text
                .strip_prefix(b"'")
                .and_then(|t| t.strip_suffix(b"'"))
                .unwrap_or(text);
            Ok(Some((ServerFrame::Err(text), line_end)))
        }
        b"INFO" => Ok(Some((ServerFrame::Info(trim_ws(rest)), line_end))),
        _ => Err(ProtoError::UnknownOp(
            String::from_utf8_lossy(line).into_owned(),
        )),
    }
}

/// Parses one client frame from the start of `buf`.
pub fn parse_client_frame(buf: &[u8]) -> Result<Parsed<ClientFrame<'_>>, ProtoError> {
    let Some((line, line_end)) = control_line(buf)? else {
        return Ok(None);
    };
    // CONNECT may be glued to its JSON body.
    if line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"CONNECT") {
        return Ok(Some((ClientFrame::Connect(trim_ws(&line[7..])), line_end)));
    }
    let mut op_buf = [0u8; 8];
    let (op_len, rest) = split_op(line, &mut op_buf);
    match &op_buf[..op_len] {
        b"PUB" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("PUB", line))?;
            let (subject, reply, size) = match n {
                2 => (args[0], None, args[1]),
                3 => (args[0], Some(args[1]), args[2]),
                _ => return Err(malformed("PUB", line)),
            };
            let size = parse_u64(size).ok_or_else(|| malformed("PUB", line))? as usize;
            let Some((payload, end)) = body(buf, line_end, size, "PUB")? else {
                return Ok(None);
            };
            Ok(Some((
                ClientFrame::Pub {
                    subject,
                    reply,
                    headers: None,
                    payload,
                },
                end,
            )))
        }
        b"HPUB" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("HPUB", line))?;
            let (subject, reply, hdr, total) = match n {
                3 => (args[0], None, args[1], args[2]),
                4 => (args[0], Some(args[1]), args[2], args[3]),
                _ => return Err(malformed("HPUB", line)),
            };
            let hdr = parse_u64(hdr).ok_or_else(|| malformed("HPUB", line))? as usize;
            let total = parse_u64(total).ok_or_else(|| malformed("HPUB", line))? as usize;
            if hdr > total {
                return Err(malformed("HPUB", line));
            }
            let Some((all, end)) = body(buf, line_end, total, "HPUB")? else {
                return Ok(None);
            };
            Ok(Some((
                ClientFrame::Pub {
                    subject,
                    reply,
                    headers: Some(&all[..hdr]),
                    payload: &all[hdr..],
                },
                end,
            )))
        }
        b"SUB" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("SUB", line))?;
            let frame = match n {
                2 => ClientFrame::Sub {
                    subject: args[0],
                    queue: None,
                    sid: args[1],
                },
                3 => ClientFrame::Sub {
                    subject: args[0],
                    queue: Some(args[1]),
                    sid: args[2],
                },
                _ => return Err(malformed("SUB", line)),
            };
            Ok(Some((frame, line_end)))
        }
        b"UNSUB" => {
            let (args, n) = split_args(rest).ok_or_else(|| malformed("UNSUB", line))?;
            let frame = match n {
                1 => ClientFrame::Unsub {
                    sid: args[0],
                    max_msgs: None,
                },
                2 => ClientFrame::Unsub {
                    sid: args[0],
                    max_msgs: Some(parse_u64(args[1]).ok_or_else(|| malformed("UNSUB", line))?),
                },
                _ => return Err(malformed("UNSUB", line)),
            };
            Ok(Some((frame, line_end)))
        }
        b"PING" => Ok(Some((ClientFrame::Ping, line_end))),
        b"PONG" => Ok(Some((ClientFrame::Pong, line_end))),
        b"INFO" => Ok(Some((ClientFrame::Info, line_end))),
        _ => Err(ProtoError::UnknownOp(
            String::from_utf8_lossy(line).into_owned(),
        )),
    }
}

/// Appends the decimal form of `n` (itoa without a dependency).
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `PUB subject [reply] len\r\npayload\r\n`.
#[inline]
pub fn push_pub(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    push_u64(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `PUB subject [reply] len\r\n` only: the caller writes the payload
/// and the trailing CR LF itself (lets publishers stamp payloads in place).
#[inline]
pub fn push_pub_line(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, len: usize) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    push_u64(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `SUB subject [queue] sid`.
pub fn push_sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: u64) {
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(q) = queue {
        out.extend_from_slice(q);
        out.push(b' ');
    }
    push_u64(out, sid);
    out.extend_from_slice(b"\r\n");
}

/// Appends `UNSUB sid [max]`.
pub fn push_unsub(out: &mut Vec<u8>, sid: u64, max_msgs: Option<u64>) {
    out.extend_from_slice(b"UNSUB ");
    push_u64(out, sid);
    if let Some(m) = max_msgs {
        out.push(b' ');
        push_u64(out, m);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a server-side `MSG` or `HMSG` (the ceiling pipe forwards with it).
pub fn push_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    out.extend_from_slice(if headers.is_some() { b"HMSG " } else { b"MSG " });
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    if let Some(h) = headers {
        push_u64(out, h.len() as u64);
        out.push(b' ');
        push_u64(out, (h.len() + payload.len()) as u64);
    } else {
        push_u64(out, payload.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    if let Some(h) = headers {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owned copy of a server frame so tests can compare across buffers.
    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Msg(Vec<u8>, u64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>),
        Ping,
        Pong,
        Ok,
        Err(Vec<u8>),
        Info(Vec<u8>),
    }

    fn own(f: ServerFrame<'_>) -> Owned {
        match f {
            ServerFrame::Msg(m) => Owned::Msg(
                m.subject.to_vec(),
                m.sid,
                m.reply.map(<[u8]>::to_vec),
                m.headers.map(<[u8]>::to_vec),
                m.payload.to_vec(),
            ),
            ServerFrame::Ping => Owned::Ping,
            ServerFrame::Pong => Owned::Pong,
            ServerFrame::Ok => Owned::Ok,
            ServerFrame::Err(e) => Owned::Err(e.to_vec()),
            ServerFrame::Info(i) => Owned::Info(i.to_vec()),
        }
    }

    fn parse_all(mut buf: &[u8]) -> Vec<Owned> {
        let mut out = Vec::new();
        while let Some((f, n)) = parse_server_frame(buf).unwrap() {
            out.push(own(f));
            buf = &buf[n..];
        }
        assert!(
            buf.is_empty(),
            "left over {:?}",
            String::from_utf8_lossy(buf)
        );
        out
    }

    const STREAM: &[u8] = b"INFO {\"server_id\":\"x\"} \r\nMSG foo 1 5\r\nhello\r\nMSG foo.bar 22 _INBOX.a.b 7\r\nhe\r\nllo\r\nPING\r\nHMSG h 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\n-ERR 'Stale Connection'\r\nPONG\r\nMSG z 9 0\r\n\r\n";

    fn expected() -> Vec<Owned> {
        vec![
            Owned::Info(b"{\"server_id\":\"x\"}".to_vec()),
            Owned::Msg(b"foo".to_vec(), 1, None, None, b"hello".to_vec()),
            Owned::Msg(
                b"foo.bar".to_vec(),
                22,
                Some(b"_INBOX.a.b".to_vec()),
                None,
                b"he\r\nllo".to_vec(),
            ),
            Owned::Ping,
            Owned::Msg(
                b"h".to_vec(),
                3,
                None,
                Some(b"NATS/1.0\r\n\r\n".to_vec()),
                b"hi".to_vec(),
            ),
            Owned::Ok,
            Owned::Err(b"Stale Connection".to_vec()),
            Owned::Pong,
            Owned::Msg(b"z".to_vec(), 9, None, None, Vec::new()),
        ]
    }

    #[test]
    fn pipelined_frames_parse_in_order() {
        assert_eq!(parse_all(STREAM), expected());
    }

    #[test]
    fn every_prefix_is_incomplete_or_a_whole_frame() {
        // Cut the stream at every byte: the parser must never return a frame
        // that extends past the cut, and must report "incomplete" otherwise.
        for cut in 0..STREAM.len() {
            let head = &STREAM[..cut];
            let mut off = 0;
            while let Some((_, n)) = parse_server_frame(&head[off..]).unwrap() {
                off += n;
            }
            assert!(off <= cut);
            // Re-parse the remainder after joining with the tail.
            let mut joined = head[off..].to_vec();
            joined.extend_from_slice(&STREAM[cut..]);
            let mut prefix = parse_all(&head[..off]);
            prefix.extend(parse_all(&joined));
            assert_eq!(prefix, expected(), "cut at {cut}");
        }
    }

    #[test]
    fn tolerant_whitespace_and_lowercase() {
        let (f, n) = parse_server_frame(b"msg\tfoo  7 \t3\nabc\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(n, 19);
        match f {
            ServerFrame::Msg(m) => {
                assert_eq!(m.subject, b"foo");
                assert_eq!(m.sid, 7);
                assert_eq!(m.payload, b"abc");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_payload_end_is_an_error() {
        assert_eq!(
            parse_server_frame(b"MSG a 1 2\r\nabXY").unwrap_err(),
            ProtoError::BadPayloadEnd { op: "MSG" }
        );
        assert!(matches!(
            parse_server_frame(b"MSG a x 2\r\nab\r\n"),
            Err(ProtoError::Malformed { op: "MSG", .. })
        ));
        assert!(matches!(
            parse_server_frame(b"BOGUS\r\n"),
            Err(ProtoError::UnknownOp(_))
        ));
        assert!(matches!(
            parse_server_frame(&[b'a'; MAX_CONTROL_LINE_BYTES + 10]),
            Err(ProtoError::LineTooLong { .. })
        ));
        assert!(matches!(
            parse_server_frame(b"HMSG a 1 9 2\r\nab\r\n"),
            Err(ProtoError::Malformed { op: "HMSG", .. })
        ));
    }

    #[test]
    fn status_line_is_read_from_headers() {
        let buf = b"HMSG _INBOX.x 1 28 28\r\nNATS/1.0 408 Request Timeout\r\n\r\n\r\n";
        // header length above is deliberately wrong (31 real bytes): fix it.
        let hdr = b"NATS/1.0 408 Request Timeout\r\n\r\n";
        let mut good = format!("HMSG _INBOX.x 1 {0} {0}\r\n", hdr.len()).into_bytes();
        good.extend_from_slice(hdr);
        good.extend_from_slice(b"\r\n");
        assert!(parse_server_frame(buf).is_err());
        let (f, _) = parse_server_frame(&good).unwrap().unwrap();
        let ServerFrame::Msg(m) = f else {
            panic!("not a msg")
        };
        assert_eq!(m.status(), Some(408));
        let plain = Msg {
            subject: b"a",
            sid: 1,
            reply: None,
            headers: Some(b"NATS/1.0\r\n\r\n"),
            payload: b"",
        };
        assert_eq!(plain.status(), None);
    }

    #[test]
    fn client_frames_round_trip_through_encoders() {
        let mut buf = Vec::new();
        buf.extend_from_slice(b"CONNECT {\"verbose\":false}\r\n");
        push_sub(&mut buf, b"foo.*", Some(b"grp"), 4);
        push_pub(&mut buf, b"foo.a", Some(b"r.1"), b"xy\r\nz");
        push_unsub(&mut buf, 4, Some(10));
        buf.extend_from_slice(b"HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nping\r\n");
        let mut off = 0;
        let mut frames = Vec::new();
        while let Some((f, n)) = parse_client_frame(&buf[off..]).unwrap() {
            frames.push(format!("{f:?}"));
            off += n;
        }
        assert_eq!(off, buf.len());
        assert_eq!(frames.len(), 6);
        let (f, _) = parse_client_frame(&buf[27..]).unwrap().unwrap();
        assert_eq!(
            f,
            ClientFrame::Sub {
                subject: b"foo.*",
                queue: Some(b"grp"),
                sid: b"4"
            }
        );
        // Every cut of the client stream is either incomplete or consistent.
        for cut in 0..buf.len() {
            let mut o = 0;
            while let Some((_, n)) = parse_client_frame(&buf[o..cut]).unwrap() {
                o += n;
            }
            assert!(o <= cut);
        }
    }

    #[test]
    fn msg_encoder_matches_parser() {
        let mut buf = Vec::new();
        push_msg(&mut buf, b"s", b"12", Some(b"rep"), None, b"data");
        push_msg(&mut buf, b"s", b"3", None, Some(b"NATS/1.0\r\n\r\n"), b"d");
        let all = parse_all(&buf);
        assert_eq!(
            all,
            vec![
                Owned::Msg(
                    b"s".to_vec(),
                    12,
                    Some(b"rep".to_vec()),
                    None,
                    b"data".to_vec()
                ),
                Owned::Msg(
                    b"s".to_vec(),
                    3,
                    None,
                    Some(b"NATS/1.0\r\n\r\n".to_vec()),
                    b"d".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn push_u64_formats_extremes() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            let mut b = Vec::new();
            push_u64(&mut b, v);
            assert_eq!(b, v.to_string().into_bytes());
            assert_eq!(parse_u64(&b), Some(v));
        }
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1a"), None);
    }
}
