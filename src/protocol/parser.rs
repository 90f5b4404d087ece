//! Sans-IO, zero-copy parser for the client -> server side of the NATS protocol.
//!
//! The parser works on a `BytesMut` that the connection keeps appending socket reads to.
//! Every call to [`Parser::next_op`] either takes one complete operation off the front of
//! that buffer (returning `Bytes` slices that share its storage) or leaves the partial
//! input in place and returns `Ok(None)`. Any split of the input across calls gives the
//! same operations and the same errors as feeding it all at once.
//!
//! Tolerance and error rules follow nats-server 2.15.1 (see `nats-protocol.md` §1, §3, §8):
//! case-insensitive op names, runs of spaces/tabs between arguments, trailing whitespace,
//! `\r\n` or bare `\n` line ends, `CONNECT{...}` without a space, junk after `PING`/`PONG`/`+OK`.

use bytes::{Buf, Bytes, BytesMut};

/// Sizes longer than this many digits are rejected, as nats-server's `parseSize` does.
const MAX_SIZE_DIGITS: usize = 9;

/// One decoded operation sent by a client; the session acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT <json>`: the raw JSON (whitespace-trimmed); the session deserialises it.
    Connect(Bytes),
    /// `PUB <subject> [reply] <#bytes>` plus its payload.
    Pub {
        /// Subject published to (not validated here).
        subject: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// The message payload (opaque bytes, may contain CR LF).
        payload: Bytes,
    },
    /// `HPUB <subject> [reply] <#header bytes> <#total bytes>` plus headers and payload.
    Hpub {
        /// Subject published to (not validated here).
        subject: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// Length of the header block at the front of `message` (`<= message.len()`).
        header_len: usize,
        /// Headers followed by payload, forwarded verbatim.
        message: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject (possibly with wildcards) to subscribe to; the session validates it.
        subject: Bytes,
        /// Optional queue group name.
        queue: Option<Bytes>,
        /// Client-chosen opaque subscription id.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max_msgs]`; `max_msgs` is `None` when absent or not a valid size
    /// (nats-server then unsubscribes immediately).
    Unsub {
        /// Subscription id to remove.
        sid: Bytes,
        /// Auto-unsubscribe after this many messages in total.
        max_msgs: Option<u64>,
    },
    /// `PING`: the session answers `PONG`.
    Ping,
    /// `PONG`: answer to a server `PING`.
    Pong,
    /// Client-sent `INFO` (valid JSON object): parsed and ignored by the session.
    Info,
    /// Client-sent `+OK`: ignored.
    Ok,
    /// Client-sent `-ERR <text>`: the session logs it and closes.
    Err(Bytes),
}

/// Why the byte stream cannot be parsed; every variant ends the connection.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Unknown or misspelled op, missing separator, empty line, client `MSG`/`HMSG`,
    /// payload not followed by CR LF. Answered with `-ERR` then close.
    #[error("Unknown Protocol Operation")]
    UnknownOp,
    /// Control line arguments longer than the configured limit. `-ERR` then close.
    #[error("maximum control line exceeded")]
    ControlLineTooLong,
    /// `PUB`/`HPUB` announced more bytes than `max_payload`. `-ERR` then close.
    #[error("Maximum Payload Violation")]
    MaxPayload,
    /// Wrong argument count, bad size, header size > total, invalid client `INFO`:
    /// nats-server closes silently (no `-ERR`).
    #[error("malformed protocol arguments")]
    BadArgs,
}

impl ParseError {
    /// The text the session puts inside `-ERR '...'` before closing; `None` = close silently.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOp => Some("Unknown Protocol Operation"),
            ParseError::ControlLineTooLong => Some("maximum control line exceeded"),
            ParseError::MaxPayload => Some("Maximum Payload Violation"),
            ParseError::BadArgs => None,
        }
    }
}

/// The client operations recognised by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pub,
    Hpub,
    /// Server-to-client op; always rejected, after the control line limit check.
    Hmsg,
    Sub,
    Unsub,
    Connect,
    Info,
    Ping,
    Pong,
    PlusOk,
    MinusErr,
}

/// What may follow an op name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// At least one space or tab, then arguments.
    Required,
    /// Optional spaces/tabs, then arguments (`CONNECT{}`).
    Optional,
    /// Anything up to the line end is ignored (`PING junk`).
    Ignored,
}

impl Op {
    fn name(self) -> &'static [u8] {
        match self {
            Op::Pub => b"PUB",
            Op::Hpub => b"HPUB",
            Op::Hmsg => b"HMSG",
            Op::Sub => b"SUB",
            Op::Unsub => b"UNSUB",
            Op::Connect => b"CONNECT",
            Op::Info => b"INFO",
            Op::Ping => b"PING",
            Op::Pong => b"PONG",
            Op::PlusOk => b"+OK",
            Op::MinusErr => b"-ERR",
        }
    }

    fn sep(self) -> Sep {
        match self {
            Op::Pub | Op::Hpub | Op::Hmsg | Op::Sub | Op::Unsub | Op::MinusErr => Sep::Required,
            Op::Connect | Op::Info => Sep::Optional,
            Op::Ping | Op::Pong | Op::PlusOk => Sep::Ignored,
        }
    }
}

/// A `PUB`/`HPUB` whose control line is parsed but whose payload may still be arriving.
/// All offsets are relative to the front of the caller's buffer, which is left untouched
/// until the whole message is there.
#[derive(Debug, Clone, Copy)]
struct PendingMsg {
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    /// `Some` for HPUB.
    header_len: Option<usize>,
    payload_start: usize,
    size: usize,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for (the rest of) a control line.
    Line,
    /// Waiting for a payload and its CR LF.
    Payload(PendingMsg),
    /// Dropping an over-long `PING`/`PONG`/`+OK` tail until `\n`, then emitting the op.
    SkipLine(Op),
}

/// Incremental, zero-copy parser for one client connection.
#[derive(Debug)]
pub struct Parser {
    max_control_line_bytes: usize,
    max_payload_bytes: usize,
    state: State,
    /// Bytes at the front of the buffer already known to hold no `\n` (pending line).
    scanned: usize,
    /// How far the pending line's op and separator whitespace have been checked: the start
    /// of its arguments once one is there (avoids rescanning on every read).
    pending_args_at: Option<usize>,
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// 0x01 in every byte of a word (word-at-a-time scanning).
const LO_BYTES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HI_BITS: u64 = 0x8080_8080_8080_8080;

/// Position of the first byte `<= 0x20` (space, tab, CR, LF, other controls) in `hay` at or
/// after `from`, scanning a word at a time.
#[inline(always)]
fn find_ctl(hay: &[u8], mut from: usize) -> Option<usize> {
    while from + 8 <= hay.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hay[from..from + 8]);
        let x = u64::from_le_bytes(word);
        // Flags bytes below 0x21; exact for the lowest one (borrows only move upwards),
        // and bytes >= 0x80 (UTF-8) are never flagged.
        let found = x.wrapping_sub(LO_BYTES * 0x21) & !x & HI_BITS;
        if found != 0 {
            return Some(from + (found.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    hay[from..]
        .iter()
        .position(|&b| b <= 0x20)
        .map(|p| from + p)
}

/// Position of the first `\n` in `hay`, scanning a word at a time.
#[inline]
fn find_nl(hay: &[u8]) -> Option<usize> {
    const NL: u64 = LO_BYTES * b'\n' as u64;
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NL;
        // Exact for the lowest zero byte: borrows only propagate upwards.
        let found = x.wrapping_sub(LO_BYTES) & !x & HI_BITS;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| base + p)
}

/// Decimal size of 1..=9 ASCII digits, like nats-server's `parseSize`.
#[inline]
fn parse_size(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > MAX_SIZE_DIGITS {
        return None;
    }
    let mut n: usize = 0;
    for &d in digits {
        let v = d.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n * 10 + v as usize;
    }
    Some(n)
}

/// Splits `line[start..end]` into at most `N` tokens separated by runs of spaces/tabs
/// (and CR/LF when `CRLF_SEPARATES`: nats-server splits SUB/UNSUB arguments that way, but
/// not PUB/HPUB ones). Returns the token ranges and their count, or `None` when there are
/// more than `N`.
#[inline]
fn split_args<const N: usize, const CRLF_SEPARATES: bool>(
    line: &[u8],
    start: usize,
    end: usize,
) -> Option<([(usize, usize); N], usize)> {
    let is_sep = |b: u8| is_ws(b) || (CRLF_SEPARATES && (b == b'\r' || b == b'\n'));
    let mut toks = [(0usize, 0usize); N];
    let mut n = 0;
    let mut i = start;
    while i < end {
        if is_sep(line[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < end && !is_sep(line[i]) {
            i += 1;
        }
        if n == N {
            return None;
        }
        toks[n] = (s, i);
        n += 1;
    }
    Some((toks, n))
}

/// Where the op name of a (possibly incomplete) line stands.
enum Head {
    /// More bytes are needed to know the op.
    Incomplete,
    /// The op and the offset where its arguments start (after separator whitespace).
    Known(Op, usize),
}

/// Identifies the op at the front of `line`. `complete` says whether `line` is a whole
/// control line (without its terminator) or the pending start of one.
#[inline]
fn classify(line: &[u8], complete: bool) -> Result<Head, ParseError> {
    let incomplete = || {
        if complete {
            Err(ParseError::UnknownOp)
        } else {
            Ok(Head::Incomplete)
        }
    };
    let Some(&first) = line.first() else {
        return incomplete();
    };
    // `| 0x20` lowercases letters; a non-letter that aliases is caught by the full compare.
    let op = match first | 0x20 {
        b'p' => match line.get(1).map(|b| b | 0x20) {
            Some(b'u') => Op::Pub,
            Some(b'i') => Op::Ping,
            Some(b'o') => Op::Pong,
            Some(_) => return Err(ParseError::UnknownOp),
            None => return incomplete(),
        },
        b'h' => match line.get(1).map(|b| b | 0x20) {
            Some(b'p') => Op::Hpub,
            Some(b'm') => Op::Hmsg,
            Some(_) => return Err(ParseError::UnknownOp),
            None => return incomplete(),
        },
        b's' => Op::Sub,
        b'u' => Op::Unsub,
        b'c' => Op::Connect,
        b'i' => Op::Info,
        b'+' => Op::PlusOk,
        b'-' => Op::MinusErr,
        // Includes client-sent MSG/HMSG, empty lines and leading whitespace.
        _ => return Err(ParseError::UnknownOp),
    };
    let name = op.name();
    let n = line.len().min(name.len());
    if !line[..n].eq_ignore_ascii_case(&name[..n]) {
        return Err(ParseError::UnknownOp);
    }
    if line.len() < name.len() {
        return incomplete();
    }
    let mut at = name.len();
    match op.sep() {
        Sep::Ignored => return Ok(Head::Known(op, at)),
        Sep::Required => match line.get(at) {
            None => return incomplete(),
            Some(&b) if !is_ws(b) => return Err(ParseError::UnknownOp),
            Some(_) => {}
        },
        Sep::Optional => {}
    }
    while at < line.len() && is_ws(line[at]) {
        at += 1;
    }
    Ok(Head::Known(op, at))
}

/// The bytes of one op, split off the input buffer once; fields are slices of it, so
/// each field costs one reference-count increment and the last one none.
struct Frame(Bytes);

impl Frame {
    #[inline(always)]
    fn split(buf: &mut BytesMut, len: usize) -> Frame {
        Frame(buf.split_to(len).freeze())
    }

    #[inline(always)]
    fn slice(&self, (start, end): (usize, usize)) -> Bytes {
        self.0.slice(start..end)
    }

    /// The last field: reuses the frame's own reference.
    #[inline(always)]
    fn into_slice(self, (start, end): (usize, usize)) -> Bytes {
        let mut bytes = self.0;
        bytes.advance(start);
        bytes.truncate(end - start);
        bytes
    }
}

/// Narrows `line[start..end]` to exclude surrounding spaces, tabs, CRs and LFs.
#[inline]
fn trim(line: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    let blank = |b: u8| is_ws(b) || b == b'\r' || b == b'\n';
    while start < end && blank(line[start]) {
        start += 1;
    }
    while end > start && blank(line[end - 1]) {
        end -= 1;
    }
    (start, end)
}

impl Parser {
    /// Creates a parser enforcing nats-server's `max_control_line` and `max_payload` limits.
    pub fn new(max_control_line_bytes: usize, max_payload_bytes: usize) -> Self {
        Parser {
            max_control_line_bytes,
            max_payload_bytes,
            state: State::Line,
            scanned: 0,
            pending_args_at: None,
        }
    }

    /// Lowers the payload limit (an account's `max_payload`, applied once the user is known).
    pub fn limit_payload(&mut self, max_payload_bytes: usize) {
        self.max_payload_bytes = self.max_payload_bytes.min(max_payload_bytes);
    }

    /// Takes the next complete op off the front of `buf` (advancing it); `Ok(None)` = need
    /// more bytes (partial input stays in buf, except the ignored tail of an over-long
    /// `PING`/`PONG`/`+OK` line, which is dropped). Between calls the caller may only append
    /// to `buf`. After an error the connection must be closed.
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ParseError> {
        match self.state {
            State::Line => {}
            State::Payload(msg) => return self.finish_msg(msg, buf),
            State::SkipLine(op) => return Ok(self.skip_line(op, buf)),
        }
        debug_assert!(self.scanned <= buf.len());
        // Only on a fresh line: retrying a partial line would rescan it on every read.
        if self.scanned == 0 {
            if let Some(msg) = self.fast_pub(buf) {
                return self.finish_msg(msg, buf);
            }
        }
        self.general_op(buf)
    }

    /// Everything but the common PUB/HPUB lines: any op, any spacing, every error.
    /// Kept out of line so the hot path stays small.
    #[inline(never)]
    fn general_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ParseError> {
        let (op, args_start, nl) = loop {
            let Some(found) = find_nl(&buf[self.scanned..]) else {
                self.scanned = buf.len();
                return self.check_partial(buf);
            };
            let nl = self.scanned + found;
            let Head::Known(op, args_start) = classify(&buf[..nl], true)? else {
                unreachable!("classify never reports a complete line as incomplete")
            };
            // nats-server quirk: the first byte after the op's separator always starts the
            // arguments, even a '\n' (`CONNECT\n{}\r\n` is a valid CONNECT).
            if args_start == nl && op.sep() != Sep::Ignored {
                self.scanned = nl + 1;
                continue;
            }
            break (op, args_start, nl);
        };
        self.scanned = 0;
        self.pending_args_at = None;
        let line_len = nl + 1;
        if op.sep() == Sep::Ignored {
            buf.advance(line_len);
            return Ok(Some(simple_op(op)));
        }
        // Like nats-server, drop the byte before '\n' when any '\r' follows the first
        // argument byte: the usual CR of CR LF (a quirk for stray CRs with bare LF ends).
        let drop = if buf[nl - 1] == b'\r' {
            nl - 1 > args_start
        } else {
            buf[args_start + 1..nl].contains(&b'\r')
        };
        let end = nl - usize::from(drop);
        // A separator run longer than the limit is refused too (nats-server would skip it
        // unbuffered; we would have to buffer it).
        if end - args_start > self.max_control_line_bytes
            || args_start > self.max_control_line_bytes
        {
            return Err(ParseError::ControlLineTooLong);
        }
        match op {
            Op::Pub => {
                let (t, n) =
                    split_args::<3, false>(buf, args_start, end).ok_or(ParseError::BadArgs)?;
                if n < 2 {
                    return Err(ParseError::BadArgs);
                }
                let size = parse_size(&buf[t[n - 1].0..t[n - 1].1]).ok_or(ParseError::BadArgs)?;
                if size > self.max_payload_bytes {
                    return Err(ParseError::MaxPayload);
                }
                let msg = PendingMsg {
                    subject: t[0],
                    reply: (n == 3).then_some(t[1]),
                    header_len: None,
                    payload_start: line_len,
                    size,
                };
                self.finish_msg(msg, buf)
            }
            Op::Hpub => {
                let (t, n) =
                    split_args::<4, false>(buf, args_start, end).ok_or(ParseError::BadArgs)?;
                if n < 3 {
                    return Err(ParseError::BadArgs);
                }
                let header_len =
                    parse_size(&buf[t[n - 2].0..t[n - 2].1]).ok_or(ParseError::BadArgs)?;
                let size = parse_size(&buf[t[n - 1].0..t[n - 1].1]).ok_or(ParseError::BadArgs)?;
                if header_len > size {
                    return Err(ParseError::BadArgs);
                }
                if size > self.max_payload_bytes {
                    return Err(ParseError::MaxPayload);
                }
                let msg = PendingMsg {
                    subject: t[0],
                    reply: (n == 4).then_some(t[1]),
                    header_len: Some(header_len),
                    payload_start: line_len,
                    size,
                };
                self.finish_msg(msg, buf)
            }
            Op::Sub => {
                let (t, n) =
                    split_args::<3, true>(buf, args_start, end).ok_or(ParseError::BadArgs)?;
                if n < 2 {
                    return Err(ParseError::BadArgs);
                }
                let frame = Frame::split(buf, line_len);
                let subject = frame.slice(t[0]);
                let queue = (n == 3).then(|| frame.slice(t[1]));
                let sid = frame.into_slice(t[n - 1]);
                Ok(Some(ClientOp::Sub {
                    subject,
                    queue,
                    sid,
                }))
            }
            Op::Unsub => {
                let (t, n) =
                    split_args::<2, true>(buf, args_start, end).ok_or(ParseError::BadArgs)?;
                if n == 0 {
                    return Err(ParseError::BadArgs);
                }
                // nats-server treats an unparsable max as "no max": immediate removal.
                let max_msgs = if n == 2 {
                    parse_size(&buf[t[1].0..t[1].1]).map(|m| m as u64)
                } else {
                    None
                };
                let sid = Frame::split(buf, line_len).into_slice(t[0]);
                Ok(Some(ClientOp::Unsub { sid, max_msgs }))
            }
            Op::Connect | Op::MinusErr => {
                let text_range = trim(buf, args_start, end);
                let text = Frame::split(buf, line_len).into_slice(text_range);
                Ok(Some(if op == Op::Connect {
                    ClientOp::Connect(text)
                } else {
                    ClientOp::Err(text)
                }))
            }
            Op::Info => {
                // nats-server unmarshals client INFO and closes silently when that fails.
                let json = &buf[args_start..end];
                type AnyObject = Option<serde_json::Map<String, serde_json::Value>>;
                if serde_json::from_slice::<AnyObject>(json).is_err() {
                    return Err(ParseError::BadArgs);
                }
                buf.advance(line_len);
                Ok(Some(ClientOp::Info))
            }
            // Client-sent HMSG gets as far as the length check in nats-server.
            Op::Hmsg => Err(ParseError::UnknownOp),
            Op::Ping | Op::Pong | Op::PlusOk => unreachable!("handled above"),
        }
    }

    /// The hot cases in one pass: upper-case `PUB <subject> [<reply>] <size>\r\n` and
    /// `HPUB <subject> [<reply>] <hdr> <total>\r\n` with single spaces, no control bytes and
    /// valid limits. Anything else (including every error) returns `None` and goes through
    /// the general path, which gives the same result for the lines accepted here.
    #[inline(always)]
    fn fast_pub(&self, buf: &[u8]) -> Option<PendingMsg> {
        const PUB_SP: u32 = u32::from_le_bytes(*b"PUB ");
        const HPUB: u32 = u32::from_le_bytes(*b"HPUB");
        if buf.len() < 5 {
            return None;
        }
        let head = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let (args_start, sizes) = if head == PUB_SP {
            (4, 1)
        } else if head == HPUB && buf[4] == b' ' {
            (5, 2)
        } else {
            return None;
        };
        // Up to 4 tokens, each non-empty, separated by single spaces, ended by CR LF.
        let mut toks = [(0usize, 0usize); 4];
        let mut n = 0;
        let mut at = args_start;
        let cr = loop {
            let end = find_ctl(buf, at)?;
            if end == at || n == toks.len() {
                return None;
            }
            toks[n] = (at, end);
            n += 1;
            match buf[end] {
                b' ' => at = end + 1,
                b'\r' => break end,
                _ => return None,
            }
        };
        if buf.get(cr + 1) != Some(&b'\n')
            || cr - args_start > self.max_control_line_bytes
            || n < sizes + 1
            || n > sizes + 2
        {
            return None;
        }
        let size = parse_size(&buf[toks[n - 1].0..toks[n - 1].1])?;
        let header_len = if sizes == 2 {
            let header_len = parse_size(&buf[toks[n - 2].0..toks[n - 2].1])?;
            if header_len > size {
                return None;
            }
            Some(header_len)
        } else {
            None
        };
        if size > self.max_payload_bytes {
            return None;
        }
        debug_assert!(self.scanned == 0 && self.pending_args_at.is_none());
        Some(PendingMsg {
            subject: toks[0],
            reply: (n == sizes + 2).then_some(toks[1]),
            header_len,
            payload_start: cr + 2,
            size,
        })
    }

    /// Validates a control line that has no `\n` yet, so that garbage and over-long lines
    /// fail as early as nats-server fails them, whatever the read boundaries.
    fn check_partial(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ParseError> {
        let mut at = match self.pending_args_at {
            Some(at) => at,
            None => match classify(buf, false)? {
                Head::Incomplete => return Ok(None),
                Head::Known(op @ (Op::Ping | Op::Pong | Op::PlusOk), _) => {
                    // nats-server ignores any amount of junk here: drop it instead of buffering.
                    if buf.len() > self.max_control_line_bytes {
                        buf.clear();
                        self.scanned = 0;
                        self.state = State::SkipLine(op);
                    }
                    return Ok(None);
                }
                Head::Known(_, start) => start,
            },
        };
        // Resume skipping separator whitespace where the previous call stopped.
        while at < buf.len() && is_ws(buf[at]) {
            at += 1;
        }
        self.pending_args_at = Some(at);
        // A separator run past the limit fails the complete line (`general_op`), so it fails
        // here too, whether or not an argument byte follows yet (else the outcome would depend
        // on where a read ended); an endless run must not grow the buffer forever either.
        if at > self.max_control_line_bytes {
            return Err(ParseError::ControlLineTooLong);
        }
        if at == buf.len() {
            return Ok(None);
        }
        // The final line loses at most one byte (the CR before LF): a pending line only
        // fails when its complete form must fail too, so read boundaries never matter.
        let pending = buf.len() - at;
        if pending > self.max_control_line_bytes + 1 {
            return Err(ParseError::ControlLineTooLong);
        }
        Ok(None)
    }

    /// Drops bytes up to and including `\n`, then yields `op`.
    fn skip_line(&mut self, op: Op, buf: &mut BytesMut) -> Option<ClientOp> {
        match find_nl(buf) {
            Some(nl) => {
                buf.advance(nl + 1);
                self.state = State::Line;
                Some(simple_op(op))
            }
            None => {
                buf.clear();
                None
            }
        }
    }

    /// Emits the pending PUB/HPUB once its payload and CR LF are in `buf`.
    /// Kept out of line: one copy for all callers measured faster than inlining.
    #[inline(never)]
    fn finish_msg(
        &mut self,
        msg: PendingMsg,
        buf: &mut BytesMut,
    ) -> Result<Option<ClientOp>, ParseError> {
        let payload_end = msg.payload_start + msg.size;
        let have = buf.len();
        if have < payload_end + 2 {
            // Fail on a wrong first terminator byte as soon as it is visible.
            if have > payload_end && buf[payload_end] != b'\r' {
                return Err(ParseError::UnknownOp);
            }
            self.state = State::Payload(msg);
            return Ok(None);
        }
        if buf[payload_end] != b'\r' || buf[payload_end + 1] != b'\n' {
            return Err(ParseError::UnknownOp);
        }
        self.state = State::Line;
        let frame = Frame::split(buf, payload_end + 2);
        let subject = frame.slice(msg.subject);
        let reply = msg.reply.map(|r| frame.slice(r));
        let body = frame.into_slice((msg.payload_start, payload_end));
        Ok(Some(match msg.header_len {
            None => ClientOp::Pub {
                subject,
                reply,
                payload: body,
            },
            Some(header_len) => {
                debug_assert!(header_len <= body.len());
                ClientOp::Hpub {
                    subject,
                    reply,
                    header_len,
                    message: body,
                }
            }
        }))
    }
}

fn simple_op(op: Op) -> ClientOp {
    match op {
        Op::Ping => ClientOp::Ping,
        Op::Pong => ClientOp::Pong,
        Op::PlusOk => ClientOp::Ok,
        _ => unreachable!("only argument-less ops are simple"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MCL: usize = 4096;
    const MAX_PAYLOAD: usize = 1024 * 1024;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn publ(subject: &str, reply: Option<&str>, payload: &[u8]) -> ClientOp {
        ClientOp::Pub {
            subject: b(subject),
            reply: reply.map(b),
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn hpub(subject: &str, reply: Option<&str>, header_len: usize, message: &[u8]) -> ClientOp {
        ClientOp::Hpub {
            subject: b(subject),
            reply: reply.map(b),
            header_len,
            message: Bytes::copy_from_slice(message),
        }
    }

    fn sub(subject: &str, queue: Option<&str>, sid: &str) -> ClientOp {
        ClientOp::Sub {
            subject: b(subject),
            queue: queue.map(b),
            sid: b(sid),
        }
    }

    fn unsub(sid: &str, max_msgs: Option<u64>) -> ClientOp {
        ClientOp::Unsub {
            sid: b(sid),
            max_msgs,
        }
    }

    /// Feeds `input` in chunks of the given sizes (cycled; the rest in one piece if empty),
    /// draining ops after every chunk. Returns the ops, the error if any, and the bytes left.
    fn feed_with(
        mut parser: Parser,
        input: &[u8],
        chunk_sizes: &[usize],
    ) -> (Vec<ClientOp>, Option<ParseError>, usize) {
        let mut buf = BytesMut::new();
        let mut ops = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        loop {
            let size = if chunk_sizes.is_empty() {
                input.len()
            } else {
                chunk_sizes[k % chunk_sizes.len()].max(1)
            };
            k += 1;
            let end = (pos + size).min(input.len());
            buf.extend_from_slice(&input[pos..end]);
            pos = end;
            loop {
                match parser.next_op(&mut buf) {
                    Ok(Some(op)) => ops.push(op),
                    Ok(None) => break,
                    Err(e) => return (ops, Some(e), buf.len()),
                }
            }
            if pos == input.len() {
                return (ops, None, buf.len());
            }
        }
    }

    fn feed(input: &[u8], chunk_sizes: &[usize]) -> (Vec<ClientOp>, Option<ParseError>, usize) {
        feed_with(Parser::new(MCL, MAX_PAYLOAD), input, chunk_sizes)
    }

    /// Parses `input` whole and byte-at-a-time; both must agree. Returns ops and error.
    fn parse(input: &[u8]) -> (Vec<ClientOp>, Option<ParseError>) {
        let (ops, err, _) = feed(input, &[]);
        let (ops1, err1, _) = feed(input, &[1]);
        assert_eq!(ops, ops1, "byte-at-a-time ops differ for {input:?}");
        assert_eq!(err, err1, "byte-at-a-time error differs for {input:?}");
        (ops, err)
    }

    fn ok_ops(input: &str) -> Vec<ClientOp> {
        let (ops, err) = parse(input.as_bytes());
        assert_eq!(err, None, "unexpected error for {input:?}");
        ops
    }

    fn err_of(input: &str) -> ParseError {
        let (_, err) = parse(input.as_bytes());
        err.unwrap_or_else(|| panic!("expected an error for {input:?}"))
    }

    #[test]
    fn pub_forms() {
        assert_eq!(
            ok_ops("PUB foo 2\r\nhi\r\n"),
            vec![publ("foo", None, b"hi")]
        );
        assert_eq!(
            ok_ops("PUB foo bar 2\r\nhi\r\n"),
            vec![publ("foo", Some("bar"), b"hi")]
        );
        // nats-py: double space for the empty reply.
        assert_eq!(
            ok_ops("PUB subj  7\r\npayload\r\n"),
            vec![publ("subj", None, b"payload")]
        );
        assert_eq!(
            ok_ops("pub  foo\t  2 \r\nhi\r\n"),
            vec![publ("foo", None, b"hi")]
        );
        assert_eq!(ok_ops("PUB foo 2\nhi\r\n"), vec![publ("foo", None, b"hi")]);
        assert_eq!(ok_ops("PUB foo 0\r\n\r\n"), vec![publ("foo", None, b"")]);
        assert_eq!(
            ok_ops("PUB foo 6\r\na\r\nb\r\n\r\n"),
            vec![publ("foo", None, b"a\r\nb\r\n")]
        );
        assert_eq!(
            ok_ops("PUB foo 000000001\r\nx\r\n"),
            vec![publ("foo", None, b"x")]
        );
        assert_eq!(
            ok_ops("PUB foo 1048576\r\n").len(),
            0,
            "max_payload itself is allowed"
        );
    }

    #[test]
    fn hpub_forms() {
        let msg = b"NATS/1.0\r\n\r\nhi";
        assert_eq!(
            ok_ops("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
            vec![hpub("foo", None, 12, msg)]
        );
        assert_eq!(
            ok_ops("hpub\tfoo  r\t12 14 \nNATS/1.0\r\n\r\nhi\r\n"),
            vec![hpub("foo", Some("r"), 12, msg)]
        );
        assert_eq!(
            ok_ops("HPUB foo 0 2\r\nhi\r\n"),
            vec![hpub("foo", None, 0, b"hi")]
        );
        assert_eq!(
            ok_ops("HPUB foo 0 0\r\n\r\n"),
            vec![hpub("foo", None, 0, b"")]
        );
        assert_eq!(
            ok_ops("HPUB foo 2 2\r\nhi\r\n"),
            vec![hpub("foo", None, 2, b"hi")]
        );
    }

    #[test]
    fn sub_unsub_forms() {
        assert_eq!(ok_ops("SUB foo 1\r\n"), vec![sub("foo", None, "1")]);
        assert_eq!(ok_ops("SUB foo q 1\r\n"), vec![sub("foo", Some("q"), "1")]);
        // nats-py: double space for the empty queue group.
        assert_eq!(ok_ops("SUB subj  1\r\n"), vec![sub("subj", None, "1")]);
        assert_eq!(ok_ops("sub\tfoo   1\n"), vec![sub("foo", None, "1")]);
        assert_eq!(
            ok_ops("SuB foo.* \t q 22 \t\r\n"),
            vec![sub("foo.*", Some("q"), "22")]
        );
        assert_eq!(ok_ops("UNSUB 1\r\n"), vec![unsub("1", None)]);
        // nats-py: trailing space.
        assert_eq!(ok_ops("UNSUB 1 \r\n"), vec![unsub("1", None)]);
        assert_eq!(ok_ops("unsub\t 7 \t 5\n"), vec![unsub("7", Some(5))]);
        assert_eq!(ok_ops("UNSUB 1 0\r\n"), vec![unsub("1", Some(0))]);
        assert_eq!(
            ok_ops("UNSUB 1 999999999\r\n"),
            vec![unsub("1", Some(999_999_999))]
        );
        // nats-server 2.15.1 keeps the connection open and unsubscribes immediately.
        assert_eq!(ok_ops("UNSUB 1 abc\r\n"), vec![unsub("1", None)]);
        assert_eq!(ok_ops("UNSUB 1 -1\r\n"), vec![unsub("1", None)]);
        assert_eq!(ok_ops("UNSUB 1 1234567890\r\n"), vec![unsub("1", None)]);
    }

    #[test]
    fn simple_ops() {
        assert_eq!(ok_ops("PING\r\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("ping\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("PING junk here\r\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("PINGX\r\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("PINGPONG\r\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("PING\r\r\n"), vec![ClientOp::Ping]);
        assert_eq!(ok_ops("PONG\r\n"), vec![ClientOp::Pong]);
        assert_eq!(ok_ops("pOnG x\n"), vec![ClientOp::Pong]);
        assert_eq!(ok_ops("+OK\r\n"), vec![ClientOp::Ok]);
        assert_eq!(ok_ops("+okjunk\r\n"), vec![ClientOp::Ok]);
        assert_eq!(ok_ops("INFO {}\r\n"), vec![ClientOp::Info]);
        assert_eq!(ok_ops("INFO{\"a\":1}\r\n"), vec![ClientOp::Info]);
        assert_eq!(ok_ops("info null\r\n"), vec![ClientOp::Info]);
        assert_eq!(ok_ops("-ERR 'x y'\r\n"), vec![ClientOp::Err(b("'x y'"))]);
        assert_eq!(ok_ops("-err\t'x' \r\n"), vec![ClientOp::Err(b("'x'"))]);
        assert_eq!(ok_ops("-ERR \r\n"), vec![ClientOp::Err(b(""))]);
    }

    #[test]
    fn connect_forms() {
        let json = "{\"verbose\":false,\"name\":\"a b\"}";
        assert_eq!(
            ok_ops(&format!("CONNECT {json}\r\n")),
            vec![ClientOp::Connect(b(json))]
        );
        assert_eq!(
            ok_ops(&format!("connect\t  {json} \t\n")),
            vec![ClientOp::Connect(b(json))]
        );
        assert_eq!(ok_ops("CONNECT{}\r\n"), vec![ClientOp::Connect(b("{}"))]);
        // The session rejects these when deserialising (silent close, like nats-server).
        assert_eq!(ok_ops("CONNECT\r\n"), vec![ClientOp::Connect(b(""))]);
        assert_eq!(ok_ops("CONNECTX{}\r\n"), vec![ClientOp::Connect(b("X{}"))]);
    }

    #[test]
    fn nats_server_cr_lf_quirks() {
        // The first byte after the separator starts the arguments, even CR or LF.
        assert_eq!(ok_ops("CONNECT\n{}\r\n"), vec![ClientOp::Connect(b("{}"))]);
        assert_eq!(ok_ops("CONNECT \r{}\r\n"), vec![ClientOp::Connect(b("{}"))]);
        assert_eq!(ok_ops("INFO \n{}\r\n"), vec![ClientOp::Info]);
        assert_eq!(ok_ops("SUB \nfoo 1\r\n"), vec![sub("foo", None, "1")]);
        assert_eq!(parse(b"PUB \n"), (vec![], None));
        assert_eq!(
            ok_ops("PUB \nfoo 2\r\nhi\r\n"),
            vec![publ("\nfoo", None, b"hi")]
        );
        // SUB/UNSUB split on CR/LF too, PUB/HPUB only on spaces and tabs.
        assert_eq!(ok_ops("SUB foo\r1\r\n"), vec![sub("foo", None, "1")]);
        assert_eq!(ok_ops("SUB foo q\r1\r\n"), vec![sub("foo", Some("q"), "1")]);
        assert_eq!(ok_ops("SUB foo 1\r\r\n"), vec![sub("foo", None, "1")]);
        assert_eq!(ok_ops("UNSUB\t \t 1\rx\r\n"), vec![unsub("1", None)]);
        assert_eq!(err_of("UNSUB \t\r\r\n"), ParseError::BadArgs);
        assert_eq!(err_of("UNSUB 1 5\r7\r\n"), ParseError::BadArgs);
        assert_eq!(err_of("PUB foo\r2\r\nhi\r\n"), ParseError::BadArgs);
        assert_eq!(err_of("PUB foo 2\r\r\nhi\r\n"), ParseError::BadArgs);
        assert_eq!(err_of("HPUB foo\r0\r2\r\nhi\r\n"), ParseError::BadArgs);
        assert_eq!(
            ok_ops("PUB \rfoo 2\r\nhi\r\n"),
            vec![publ("\rfoo", None, b"hi")]
        );
        // A stray CR with a bare LF end drops the last argument byte.
        assert_eq!(err_of("SUB foo\r1\n"), ParseError::BadArgs);
        assert_eq!(err_of("PUB foo\r 2\nhi\r\n"), ParseError::BadArgs);
        assert_eq!(
            ok_ops("PUB foo\r 2 \nhi\r\n"),
            vec![publ("foo\r", None, b"hi")]
        );
        // Client HMSG: length check first, then rejected.
        assert_eq!(err_of("HMSG foo 1 0 0\r\n\r\n"), ParseError::UnknownOp);
        assert_eq!(
            err_of(&format!("HMSG {}\r\n", "x".repeat(MCL + 1))),
            ParseError::ControlLineTooLong
        );
        assert_eq!(parse(b"HM"), (vec![], None));
    }

    #[test]
    fn sequence_of_ops() {
        let input = "CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\nUNSUB 1\r\nPONG\r\n";
        assert_eq!(
            ok_ops(input),
            vec![
                ClientOp::Connect(b("{}")),
                sub("foo", None, "1"),
                publ("foo", None, b"hi"),
                ClientOp::Ping,
                unsub("1", None),
                ClientOp::Pong,
            ]
        );
    }

    #[test]
    fn unknown_op_errors() {
        for input in [
            "\r\n",
            "\n",
            " PING\r\n",
            "PIN\r\n",
            "PUX foo 1\r\n",
            "PUB\r\n",
            "PUBfoo 1\r\n",
            "HPUB\r\n",
            "SUB\r\n",
            "UNSUB\r\n",
            "UNSUBX 1\r\n",
            "-ERR\r\n",
            "-ERRx\r\n",
            "+O\r\n",
            "MSG foo 1 2\r\nhi\r\n",
            "HMSG foo 1 2 2\r\nhi\r\n",
            "GET / HTTP/1.1\r\n",
            "PUB foo 2\r\nhix\r\n",
            "PUB foo 2\r\nhi\n",
            "PUB foo 2\r\nhi\rx",
            "PUB foo 0\r\nx",
            "HPUB foo 0 2\r\nhi\n\n",
        ] {
            assert_eq!(err_of(input), ParseError::UnknownOp, "{input:?}");
        }
    }

    #[test]
    fn unknown_op_detected_before_line_end() {
        for input in [
            "M", "MSG", "HX", "HMX", "PUX", "PUBX", "X", "\r", " ", "-ERRx", "CONNECX",
        ] {
            assert_eq!(err_of(input), ParseError::UnknownOp, "{input:?}");
        }
        // Payload followed by a wrong byte: no need to wait for a second one.
        assert_eq!(err_of("PUB foo 1\r\nxy"), ParseError::UnknownOp);
        // Valid prefixes just wait.
        for input in [
            "P", "PU", "PUB", "PUB ", "HPU", "UNSUB", "CONNECT", "-ERR", "+O", "PING",
        ] {
            assert_eq!(parse(input.as_bytes()), (vec![], None), "{input:?}");
        }
    }

    #[test]
    fn bad_args_errors() {
        for input in [
            "PUB \r\n",
            "PUB foo\r\n",
            "PUB a b c 1\r\n",
            "PUB foo abc\r\n",
            "PUB foo -1\r\n",
            "PUB foo +1\r\n",
            "PUB foo 1234567890\r\n",
            "PUB foo 0000000001\r\n",
            "PUB foo 12345678901\r\n",
            "HPUB foo\r\n",
            "HPUB foo 1\r\n",
            "HPUB foo 5 3\r\n",
            "HPUB foo 2000000 1048577\r\n",
            "HPUB foo 1 2 3 4\r\n",
            "HPUB foo abc 14\r\n",
            "HPUB foo 12 abc\r\n",
            "HPUB foo 12 1234567890\r\n",
            "SUB \r\n",
            "SUB a\r\n",
            "SUB a b c d\r\n",
            "UNSUB \r\n",
            "UNSUB 1 2 3\r\n",
            "INFO\r\n",
            "INFO garbage\r\n",
            "INFO 5\r\n",
        ] {
            assert_eq!(err_of(input), ParseError::BadArgs, "{input:?}");
            assert_eq!(ParseError::BadArgs.err_text(), None);
        }
    }

    #[test]
    fn max_payload_checked_on_control_line() {
        for input in [
            "PUB foo 1048577\r\n",
            "PUB foo r 1048577\r\n",
            "HPUB foo 12 1048577\r\n",
            "HPUB foo 2 2000000\r\n",
        ] {
            // No payload bytes were sent at all.
            assert_eq!(err_of(input), ParseError::MaxPayload, "{input:?}");
        }
        let mut p = Parser::new(MCL, 10);
        let mut buf = BytesMut::from(&b"PUB foo 11\r\n"[..]);
        assert_eq!(p.next_op(&mut buf), Err(ParseError::MaxPayload));
        let mut p = Parser::new(MCL, 10);
        let mut buf = BytesMut::from(&b"PUB foo 10\r\n0123456789\r\n"[..]);
        assert_eq!(
            p.next_op(&mut buf),
            Ok(Some(publ("foo", None, b"0123456789")))
        );
    }

    #[test]
    fn control_line_limit_complete_lines() {
        let a4094 = "a".repeat(MCL - 2);
        // Arguments of exactly the limit pass, one more fails.
        assert_eq!(
            ok_ops(&format!("SUB {a4094} 1\r\n")),
            vec![sub(&a4094, None, "1")]
        );
        assert_eq!(
            err_of(&format!("SUB {a4094}a 1\r\n")),
            ParseError::ControlLineTooLong
        );
        // Trailing whitespace counts, separator whitespace after the op does not.
        assert_eq!(
            err_of(&format!("SUB {a4094} 1 \r\n")),
            ParseError::ControlLineTooLong
        );
        assert_eq!(
            ok_ops(&format!("SUB \t    {a4094} 1\r\n")),
            vec![sub(&a4094, None, "1")]
        );
        let long = "1".repeat(MCL + 1);
        for input in [
            format!("UNSUB {long}\r\n"),
            format!("PUB foo {}2\r\n", " ".repeat(MCL)),
            format!("PUB foo 2{}\r\nhi\r\n", " ".repeat(MCL)),
            format!("CONNECT {{\"name\":\"{long}\"}}\r\n"),
            format!("INFO {{\"x\":\"{long}\"}}\r\n"),
            format!("-ERR '{long}'\r\n"),
            format!("HPUB {long} 0 0\r\n\r\n"),
        ] {
            assert_eq!(
                err_of(&input),
                ParseError::ControlLineTooLong,
                "{input:.20}"
            );
        }
        assert_eq!(
            ParseError::ControlLineTooLong.err_text(),
            Some("maximum control line exceeded")
        );
    }

    #[test]
    fn control_line_limit_pending_lines() {
        let mut p = Parser::new(8, MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"SUB 12345678"[..]);
        assert_eq!(p.next_op(&mut buf), Ok(None));
        // The next byte may be the '\r' of the terminator: not counted yet.
        buf.extend_from_slice(b"\r");
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"\n");
        assert_eq!(p.next_op(&mut buf), Err(ParseError::BadArgs));

        // A separator already past the limit fails at once (its complete line must fail).
        let mut p = Parser::new(8, MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"SUB    \t  1"[..]);
        assert_eq!(p.next_op(&mut buf), Err(ParseError::ControlLineTooLong));

        let mut p = Parser::new(8, MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"SUB  \t 1234567"[..]);
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"89");
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"0");
        assert_eq!(p.next_op(&mut buf), Err(ParseError::ControlLineTooLong));

        // An endless separator run is stopped too, whatever the read sizes.
        let spaces = format!("PUB {}", " ".repeat(MCL));
        assert_eq!(err_of(&spaces), ParseError::ControlLineTooLong);
        assert_eq!(
            err_of(&format!("{spaces}foo 1\r\n")),
            ParseError::ControlLineTooLong
        );
        assert_eq!(
            ok_ops(&format!("PUB {}foo 1\r\nx\r\n", " ".repeat(MCL - 8))),
            vec![publ("foo", None, b"x")]
        );

        // Without any '\n' the limit still stops an endless line.
        let mut p = Parser::new(MCL, MAX_PAYLOAD);
        let mut buf = BytesMut::from(format!("CONNECT {}", "x".repeat(MCL + 1)).as_bytes());
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"x");
        assert_eq!(p.next_op(&mut buf), Err(ParseError::ControlLineTooLong));
    }

    #[test]
    fn ping_junk_is_unbounded_and_not_buffered() {
        let junk = "x".repeat(3 * MCL);
        let input = format!("PING {junk}\r\nPONG {junk}\n+OK {junk}\r\nPING\r\n");
        assert_eq!(
            ok_ops(&input),
            vec![ClientOp::Ping, ClientOp::Pong, ClientOp::Ok, ClientOp::Ping]
        );
        let mut p = Parser::new(MCL, MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"PING"[..]);
        for _ in 0..100 {
            buf.extend_from_slice(junk.as_bytes());
            buf.extend_from_slice(b"PING");
            assert_eq!(p.next_op(&mut buf), Ok(None));
            assert!(buf.len() <= MCL + junk.len() + 4, "junk must not pile up");
        }
        buf.extend_from_slice(b"\r\nPONG\r\n");
        assert_eq!(p.next_op(&mut buf), Ok(Some(ClientOp::Ping)));
        assert_eq!(p.next_op(&mut buf), Ok(Some(ClientOp::Pong)));
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_input_stays_and_scan_resumes() {
        let mut p = Parser::new(MCL, MAX_PAYLOAD);
        let mut buf = BytesMut::from(&b"PUB foo.bar"[..]);
        assert_eq!(p.next_op(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"PUB foo.bar");
        assert_eq!(p.scanned, buf.len(), "scan position remembered");
        buf.extend_from_slice(b" 5\r\nhel");
        assert_eq!(p.next_op(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"PUB foo.bar 5\r\nhel");
        assert!(matches!(p.state, State::Payload(_)));
        buf.extend_from_slice(b"lo\r");
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"\nPI");
        assert_eq!(
            p.next_op(&mut buf),
            Ok(Some(publ("foo.bar", None, b"hello")))
        );
        assert_eq!(&buf[..], b"PI");
        assert_eq!(p.scanned, 0);
        assert_eq!(p.next_op(&mut buf), Ok(None));
        buf.extend_from_slice(b"NG\r\n");
        assert_eq!(p.next_op(&mut buf), Ok(Some(ClientOp::Ping)));
        assert_eq!(p.next_op(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn fields_share_the_input_buffer() {
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(b"PUB foo bar 5\r\nhello\r\nSUB s q 9\r\nHPUB h 2 3\r\nabc\r\n");
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let inside = |x: &Bytes| range.contains(&(x.as_ptr() as usize));
        let mut p = Parser::new(MCL, MAX_PAYLOAD);
        let Ok(Some(ClientOp::Pub {
            subject,
            reply: Some(reply),
            payload,
        })) = p.next_op(&mut buf)
        else {
            panic!("expected PUB")
        };
        assert!(inside(&subject) && inside(&reply) && inside(&payload));
        assert_eq!(&payload[..], b"hello");
        let Ok(Some(ClientOp::Sub {
            subject,
            queue: Some(queue),
            sid,
        })) = p.next_op(&mut buf)
        else {
            panic!("expected SUB")
        };
        assert!(inside(&subject) && inside(&queue) && inside(&sid));
        let Ok(Some(ClientOp::Hpub {
            message,
            header_len: 2,
            ..
        })) = p.next_op(&mut buf)
        else {
            panic!("expected HPUB")
        };
        assert!(inside(&message));
    }

    #[test]
    fn fast_path_taken_for_common_lines() {
        let p = Parser::new(MCL, MAX_PAYLOAD);
        let fast = |line: &[u8]| {
            p.fast_pub(line)
                .map(|m| (m.subject, m.reply, m.header_len, m.size))
        };
        assert_eq!(fast(b"PUB foo 5\r\n"), Some(((4, 7), None, None, 5)));
        assert_eq!(
            fast(b"PUB foo bar 12\r\nxx"),
            Some(((4, 7), Some((8, 11)), None, 12))
        );
        assert_eq!(fast(b"HPUB foo 2 3\r\n"), Some(((5, 8), None, Some(2), 3)));
        assert_eq!(
            fast(b"HPUB foo r 2 3\r\n"),
            Some(((5, 8), Some((9, 10)), Some(2), 3))
        );
        // Everything unusual is left to the general path.
        for line in [
            &b"pub foo 5\r\n"[..],
            b"PUB foo 5\n",
            b"PUB  foo 5\r\n",
            b"PUB foo 5 \r\n",
            b"PUB foo\t5\r\n",
            b"PUB foo 5\r",
            b"PUB foo 5",
            b"PUB foo\r\n",
            b"PUB a b c 5\r\n",
            b"PUB foo x\r\n",
            b"PUB foo 1048577\r\n",
            b"HPUB foo 3 2\r\n",
            b"HPUB foo 2\r\n",
            b"HPUBfoo 2 3\r\n",
            b"HPUB a b c 2 3\r\n",
            b"SUB foo 1\r\n",
        ] {
            assert_eq!(fast(line), None, "{:?}", String::from_utf8_lossy(line));
        }
        let long = format!("PUB {} 1\r\n", "s".repeat(MCL));
        assert_eq!(fast(long.as_bytes()), None);
        assert_eq!(err_of(&long), ParseError::ControlLineTooLong);
    }

    #[test]
    fn err_texts() {
        assert_eq!(
            ParseError::UnknownOp.err_text(),
            Some("Unknown Protocol Operation")
        );
        assert_eq!(
            ParseError::MaxPayload.err_text(),
            Some("Maximum Payload Violation")
        );
        for e in [
            ParseError::UnknownOp,
            ParseError::ControlLineTooLong,
            ParseError::MaxPayload,
        ] {
            assert_eq!(e.err_text(), Some(e.to_string().as_str()));
        }
    }

    #[test]
    fn find_nl_matches_naive_search() {
        let mut hay = vec![b'a'; 40];
        assert_eq!(find_nl(&hay), None);
        for i in 0..hay.len() {
            hay[i] = b'\n';
            assert_eq!(find_nl(&hay), Some(i));
            hay[i] = 0x8a; // high bit set, same low bits as '\n'
            assert_eq!(find_nl(&hay), None);
            hay[i] = 0x0b; // '\n' + 1: borrow patterns must not fool the scan
            assert_eq!(find_nl(&hay), None);
            hay[i] = b'a';
        }
    }

    /// Found by the `protocol_parser` fuzz target: a separator run past the limit followed by
    /// an argument byte, without its line end yet, failed when read byte by byte but not when
    /// read at once.
    #[test]
    fn long_separator_fails_whatever_the_reads() {
        let wire = b"CONNECT\t\t\t\t\t\t\t\t\t\t`\t\t\t\t";
        for sizes in [&[][..], &[1][..], &[3][..]] {
            let (ops, err, _) = feed_with(Parser::new(16, 0), wire, sizes);
            assert_eq!(
                (ops, err),
                (vec![], Some(ParseError::ControlLineTooLong)),
                "{sizes:?}"
            );
        }
    }

    #[test]
    fn find_ctl_matches_naive_search() {
        for len in 0..24 {
            let mut hay = vec![b'!'; len];
            assert_eq!(find_ctl(&hay, 0), None);
            for i in 0..len {
                for (byte, is_ctl) in [
                    (b' ', true),
                    (b'\t', true),
                    (b'\r', true),
                    (b'\n', true),
                    (0u8, true),
                    (0x20, true),
                    (0x21, false),
                    (0x80, false),
                    (0xa0, false),
                    (0xff, false),
                ] {
                    hay[i] = byte;
                    let want = is_ctl.then_some(i);
                    assert_eq!(find_ctl(&hay, 0), want, "byte {byte:#x} at {i} of {len}");
                    // Scanning from past the byte never reports it.
                    assert_eq!(find_ctl(&hay, i + 1), None);
                    if is_ctl && i + 1 < len {
                        // An earlier control byte wins over a later one.
                        hay[len - 1] = b' ';
                        assert_eq!(find_ctl(&hay, 0), Some(i));
                        hay[len - 1] = b'!';
                    }
                }
                hay[i] = b'!';
            }
        }
    }

    // ---- property tests: random op sequences, random splits ----

    /// How one generated op is written on the wire.
    #[derive(Debug, Clone)]
    struct Style {
        lower: bool,
        sep: &'static str,
        trailing: &'static str,
        eol: &'static str,
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            any::<bool>(),
            prop::sample::select(vec![" ", "  ", "\t", " \t "]),
            prop::sample::select(vec!["", " ", "\t", "  "]),
            prop::sample::select(vec!["\r\n", "\n"]),
        )
            .prop_map(|(lower, sep, trailing, eol)| Style {
                lower,
                sep,
                trailing,
                eol,
            })
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.*>$-]{1,12}"
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(prop::sample::select(vec![b'\r', b'\n', b'x']), 0..8),
        ]
    }

    fn client_op() -> impl Strategy<Value = ClientOp> {
        prop_oneof![
            4 => (token(), prop::option::of(token()), payload()).prop_map(|(s, r, p)| publ(&s, r.as_deref(), &p)),
            2 => (token(), prop::option::of(token()), payload(), payload()).prop_map(|(s, r, h, p)| {
                let mut m = h.clone();
                m.extend_from_slice(&p);
                hpub(&s, r.as_deref(), h.len(), &m)
            }),
            2 => (token(), prop::option::of(token()), token()).prop_map(|(s, q, id)| sub(&s, q.as_deref(), &id)),
            1 => (token(), prop::option::of(0u64..1_000_000)).prop_map(|(id, m)| unsub(&id, m)),
            1 => Just(ClientOp::Ping),
            1 => Just(ClientOp::Pong),
            1 => Just(ClientOp::Ok),
            1 => Just(ClientOp::Info),
            1 => "[a-z ]{0,10}".prop_map(|n| ClientOp::Connect(b(&format!("{{\"name\":\"{n}\"}}")))),
            1 => "'[a-zA-Z ]{0,10}'".prop_map(|t| ClientOp::Err(b(&t))),
        ]
    }

    fn op_name(name: &str, st: &Style) -> String {
        if st.lower {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        }
    }

    /// Serialises `op` in the given style.
    fn write_op(out: &mut Vec<u8>, op: &ClientOp, st: &Style) {
        let s = |x: &Bytes| String::from_utf8(x.to_vec()).expect("generated text is utf-8");
        let line = match op {
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => {
                let mut l = format!("{}{}{}", op_name("PUB", st), st.sep, s(subject));
                if let Some(r) = reply {
                    l += &format!("{}{}", st.sep, s(r));
                }
                l + &format!("{}{}", st.sep, payload.len())
            }
            ClientOp::Hpub {
                subject,
                reply,
                header_len,
                message,
            } => {
                let mut l = format!("{}{}{}", op_name("HPUB", st), st.sep, s(subject));
                if let Some(r) = reply {
                    l += &format!("{}{}", st.sep, s(r));
                }
                l + &format!("{}{}{}{}", st.sep, header_len, st.sep, message.len())
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                let mut l = format!("{}{}{}", op_name("SUB", st), st.sep, s(subject));
                if let Some(q) = queue {
                    l += &format!("{}{}", st.sep, s(q));
                } else if st.sep == " " && st.lower {
                    // nats-py style empty queue group.
                    l += " ";
                }
                l + &format!("{}{}", st.sep, s(sid))
            }
            ClientOp::Unsub { sid, max_msgs } => {
                let mut l = format!("{}{}{}", op_name("UNSUB", st), st.sep, s(sid));
                if let Some(m) = max_msgs {
                    l += &format!("{}{}", st.sep, m);
                }
                l
            }
            ClientOp::Ping => op_name("PING", st),
            ClientOp::Pong => op_name("PONG", st),
            ClientOp::Ok => op_name("+OK", st),
            ClientOp::Info => format!("{}{}{{\"server_id\":\"x\"}}", op_name("INFO", st), st.sep),
            ClientOp::Connect(json) => format!("{}{}{}", op_name("CONNECT", st), st.sep, s(json)),
            ClientOp::Err(text) => format!("{}{}{}", op_name("-ERR", st), st.sep, s(text)),
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(st.trailing.as_bytes());
        out.extend_from_slice(st.eol.as_bytes());
        match op {
            ClientOp::Pub { payload: body, .. } | ClientOp::Hpub { message: body, .. } => {
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }

    /// Lines that end the stream with an error, whatever came before.
    fn bad_tail() -> impl Strategy<Value = (Vec<u8>, ParseError)> {
        prop::sample::select(vec![
            (&b"\r\n"[..], ParseError::UnknownOp),
            (b"MSG foo 1 2\r\nhi\r\n", ParseError::UnknownOp),
            (b"PUB foo 2\r\nhix\r\n", ParseError::UnknownOp),
            (b"UNSUB\r\n", ParseError::UnknownOp),
            (b"PUB a b c 1\r\nx\r\n", ParseError::BadArgs),
            (b"HPUB foo 5 3\r\n", ParseError::BadArgs),
            (b"SUB a\r\n", ParseError::BadArgs),
            (b"PUB foo 99999\r\n", ParseError::MaxPayload),
            (b"SUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n", ParseError::ControlLineTooLong),
            (b"CONNECT {\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\r\n", ParseError::ControlLineTooLong),
        ])
        .prop_map(|(bytes, e)| (bytes.to_vec(), e))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_gives_the_same_ops(
            ops in prop::collection::vec((client_op(), style()), 0..24),
            chunks in prop::collection::vec(1usize..64, 1..16),
        ) {
            let mut wire = Vec::new();
            for (op, st) in &ops {
                write_op(&mut wire, op, st);
            }
            let expected: Vec<ClientOp> = ops.into_iter().map(|(op, _)| op).collect();
            for sizes in [&[][..], &[1][..], &chunks[..]] {
                let (got, err, left) = feed(&wire, sizes);
                prop_assert_eq!(err, None);
                prop_assert_eq!(&got, &expected);
                prop_assert_eq!(left, 0);
            }
        }

        #[test]
        fn any_split_gives_the_same_error(
            ops in prop::collection::vec((client_op(), style()), 0..8),
            (tail, want) in bad_tail(),
            chunks in prop::collection::vec(1usize..32, 1..8),
        ) {
            let mut wire = Vec::new();
            for (op, st) in &ops {
                write_op(&mut wire, op, st);
            }
            wire.extend_from_slice(&tail);
            let expected: Vec<ClientOp> = ops.into_iter().map(|(op, _)| op).collect();
            for sizes in [&[][..], &[1][..], &chunks[..]] {
                let (got, err, _) = feed_with(Parser::new(64, 1000), &wire, sizes);
                prop_assert_eq!(err, Some(want));
                prop_assert_eq!(&got, &expected);
            }
        }

        #[test]
        fn garbage_never_panics_and_is_split_independent(
            wire in prop::collection::vec(prop::sample::select(b"PUBSHINGCOK+-ERR 0123\t\r\n".to_vec()), 0..200),
            chunks in prop::collection::vec(1usize..16, 1..8),
        ) {
            let whole = feed_with(Parser::new(16, 100), &wire, &[]);
            let split = feed_with(Parser::new(16, 100), &wire, &chunks);
            prop_assert_eq!(&whole.0, &split.0);
            prop_assert_eq!(whole.1, split.1);
        }
    }
}
