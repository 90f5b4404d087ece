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

/// Tokens a control line may have (op plus [`MAX_ARGS`]).
const MAX_TOKENS: usize = MAX_ARGS + 1;

/// A control line split into whitespace-separated tokens in one pass.
struct Line<'a> {
    toks: [&'a [u8]; MAX_TOKENS],
    /// Tokens seen; above [`MAX_TOKENS`] means "too many" (extra ones dropped).
    n: usize,
    /// The line without its CR LF.
    text: &'a [u8],
    /// Offset just past the `\n`.
    end: usize,
}

/// Scans the control line at the start of `buf` once, splitting tokens on
/// spaces, tabs and CR; `None` when no `\n` has arrived yet.
#[inline(always)]
fn scan_line(buf: &[u8]) -> Result<Option<Line<'_>>, ProtoError> {
    let limit = buf.len().min(MAX_CONTROL_LINE_BYTES + 2);
    let mut toks: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
    let mut n = 0;
    let mut start = usize::MAX;
    for (i, &b) in buf[..limit].iter().enumerate() {
        match b {
            b'\n' | b' ' | b'\t' | b'\r' => {
                if start != usize::MAX {
                    if n < MAX_TOKENS {
                        toks[n] = &buf[start..i];
                    }
                    n += 1;
                    start = usize::MAX;
                }
                if b == b'\n' {
                    let text_end = if i > 0 && buf[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    return Ok(Some(Line {
                        toks,
                        n,
                        text: &buf[..text_end],
                        end: i + 1,
                    }));
                }
            }
            _ => {
                if start == usize::MAX {
                    start = i;
                }
            }
        }
    }
    if buf.len() > MAX_CONTROL_LINE_BYTES + 1 {
        Err(ProtoError::LineTooLong {
            max_bytes: MAX_CONTROL_LINE_BYTES,
        })
    } else {
        Ok(None)
    }
}

/// Case-insensitive op comparison (`op` is upper case).
#[inline(always)]
fn is_op(tok: &[u8], op: &[u8]) -> bool {
    tok.len() == op.len() && tok.eq_ignore_ascii_case(op)
}

#[cold]
fn malformed(op: &'static str, line: &[u8]) -> ProtoError {
    ProtoError::Malformed {
        op,
        line: String::from_utf8_lossy(line).into_owned(),
    }
}

#[cold]
fn unknown(line: &[u8]) -> ProtoError {
    ProtoError::UnknownOp(String::from_utf8_lossy(line).into_owned())
}

/// Parses a size token or fails as malformed `op`.
#[inline(always)]
fn size_arg(tok: &[u8], op: &'static str, line: &[u8]) -> Result<usize, ProtoError> {
    parse_u64(tok)
        .map(|v| v as usize)
        .ok_or_else(|| malformed(op, line))
}

/// Checks that `total` body bytes plus CR LF follow `start`; returns the body
/// and the end offset, or `None` when more input is needed.
#[inline(always)]
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

/// The text after the op, trimmed (for INFO / -ERR / CONNECT bodies).
#[inline]
fn rest_after(text: &[u8], op_len: usize) -> &[u8] {
    trim_ws(text.get(op_len..).unwrap_or_default())
}

/// Parses one server frame from the start of `buf`.
#[inline]
pub fn parse_server_frame(buf: &[u8]) -> Result<Parsed<ServerFrame<'_>>, ProtoError> {
    let Some(line) = scan_line(buf)? else {
        return Ok(None);
    };
    let t = &line.toks;
    let op = t[0];
    if is_op(op, b"MSG") {
        let (subject, sid, reply, size) = match line.n {
            4 => (t[1], t[2], None, t[3]),
            5 => (t[1], t[2], Some(t[3]), t[4]),
            _ => return Err(malformed("MSG", line.text)),
        };
        let sid = parse_u64(sid).ok_or_else(|| malformed("MSG", line.text))?;
        let size = size_arg(size, "MSG", line.text)?;
        let Some((payload, end)) = body(buf, line.end, size, "MSG")? else {
            return Ok(None);
        };
        return Ok(Some((
            ServerFrame::Msg(Msg {
                subject,
                sid,
                reply,
                headers: None,
                payload,
            }),
            end,
        )));
    }
    if is_op(op, b"HMSG") {
        let (subject, sid, reply, hdr, total) = match line.n {
            5 => (t[1], t[2], None, t[3], t[4]),
            6 => (t[1], t[2], Some(t[3]), t[4], t[5]),
            _ => return Err(malformed("HMSG", line.text)),
        };
        let sid = parse_u64(sid).ok_or_else(|| malformed("HMSG", line.text))?;
        let hdr = size_arg(hdr, "HMSG", line.text)?;
        let total = size_arg(total, "HMSG", line.text)?;
        if hdr > total {
            return Err(malformed("HMSG", line.text));
        }
        let Some((all, end)) = body(buf, line.end, total, "HMSG")? else {
            return Ok(None);
        };
        return Ok(Some((
            ServerFrame::Msg(Msg {
                subject,
                sid,
                reply,
                headers: Some(&all[..hdr]),
                payload: &all[hdr..],
            }),
            end,
        )));
    }
    let frame = if is_op(op, b"PING") {
        ServerFrame::Ping
    } else if is_op(op, b"PONG") {
        ServerFrame::Pong
    } else if is_op(op, b"+OK") {
        ServerFrame::Ok
    } else if is_op(op, b"-ERR") {
        let text = rest_after(line.text, 4);
        let text = text
            .strip_prefix(b"'")
            .and_then(|t| t.strip_suffix(b"'"))
            .unwrap_or(text);
        ServerFrame::Err(text)
    } else if is_op(op, b"INFO") {
        ServerFrame::Info(rest_after(line.text, 4))
    } else {
        return Err(unknown(line.text));
    };
    Ok(Some((frame, line.end)))
}

/// Parses one client frame from the start of `buf`.
#[inline]
pub fn parse_client_frame(buf: &[u8]) -> Result<Parsed<ClientFrame<'_>>, ProtoError> {
    let Some(line) = scan_line(buf)? else {
        return Ok(None);
    };
    let t = &line.toks;
    let op = t[0];
    if is_op(op, b"PUB") {
        let (subject, reply, size) = match line.n {
            3 => (t[1], None, t[2]),
            4 => (t[1], Some(t[2]), t[3]),
            _ => return Err(malformed("PUB", line.text)),
        };
        let size = size_arg(size, "PUB", line.text)?;
        let Some((payload, end)) = body(buf, line.end, size, "PUB")? else {
            return Ok(None);
        };
        return Ok(Some((
            ClientFrame::Pub {
                subject,
                reply,
                headers: None,
                payload,
            },
            end,
        )));
    }
    if is_op(op, b"HPUB") {
        let (subject, reply, hdr, total) = match line.n {
            4 => (t[1], None, t[2], t[3]),
            5 => (t[1], Some(t[2]), t[3], t[4]),
            _ => return Err(malformed("HPUB", line.text)),
        };
        let hdr = size_arg(hdr, "HPUB", line.text)?;
        let total = size_arg(total, "HPUB", line.text)?;
        if hdr > total {
            return Err(malformed("HPUB", line.text));
        }
        let Some((all, end)) = body(buf, line.end, total, "HPUB")? else {
            return Ok(None);
        };
        return Ok(Some((
            ClientFrame::Pub {
                subject,
                reply,
                headers: Some(&all[..hdr]),
                payload: &all[hdr..],
            },
            end,
        )));
    }
    // CONNECT may be glued to its JSON body.
    if line.text.len() >= 7 && line.text[..7].eq_ignore_ascii_case(b"CONNECT") {
        return Ok(Some((
            ClientFrame::Connect(rest_after(line.text, 7)),
            line.end,
        )));
    }
    let frame = if is_op(op, b"SUB") {
        match line.n {
            3 => ClientFrame::Sub {
                subject: t[1],
                queue: None,
                sid: t[2],
            },
            4 => ClientFrame::Sub {
                subject: t[1],
                queue: Some(t[2]),
                sid: t[3],
            },
            _ => return Err(malformed("SUB", line.text)),
        }
    } else if is_op(op, b"UNSUB") {
        match line.n {
            2 => ClientFrame::Unsub {
                sid: t[1],
                max_msgs: None,
            },
            3 => ClientFrame::Unsub {
                sid: t[1],
                max_msgs: Some(parse_u64(t[2]).ok_or_else(|| malformed("UNSUB", line.text))?),
            },
            _ => return Err(malformed("UNSUB", line.text)),
        }
    } else if is_op(op, b"PING") {
        ClientFrame::Ping
    } else if is_op(op, b"PONG") {
        ClientFrame::Pong
    } else if is_op(op, b"INFO") {
        ClientFrame::Info
    } else {
        return Err(unknown(line.text));
    };
    Ok(Some((frame, line.end)))
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
        let hdr = b"NATS/1.0 408 Request Timeout\r\n\r\n";
        let mut good = format!("HMSG _INBOX.x 1 {0} {0}\r\n", hdr.len()).into_bytes();
        good.extend_from_slice(hdr);
        good.extend_from_slice(b"\r\n");
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
