//! Sans-IO, zero-copy parser for the leaf node protocol as nats-server 2.15.1 speaks it on a
//! leaf link (either direction): `INFO`, `CONNECT`, `LS+`, `LS-`, `LMSG`, `HMSG` (the leaf
//! form: queue names after `+ <reply>` or `|`), `PING`, `PONG`, `+OK`, `-ERR`.
//!
//! Like the client parser it works on a `BytesMut` the connection keeps appending reads to:
//! [`LeafParser::next_op`] takes one complete op off its front (fields are `Bytes` slices of
//! it) or leaves a partial op in place and returns `Ok(None)`.

use bytes::{Buf, Bytes, BytesMut};

/// One operation received on a leaf link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafOp {
    /// `INFO <json>` (the hub's greeting, or an update).
    Info(Bytes),
    /// `CONNECT <json>` (the soliciting side's options).
    Connect(Bytes),
    /// `LS+ <subject> [<queue> <weight>]`: the other side has interest.
    Sub {
        /// Subscription subject (may hold wildcards).
        subject: Bytes,
        /// Queue group and its member weight on the other side.
        queue: Option<(Bytes, u32)>,
    },
    /// `LS- <subject> [<queue>]`: that interest is gone.
    Unsub {
        /// Subscription subject.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
    },
    /// `LMSG` / `HMSG`: a message crossing the link.
    Msg {
        /// Subject it was published to.
        subject: Bytes,
        /// Reply subject.
        reply: Option<Bytes>,
        /// Queue groups whose one delivery was assigned to this side (empty: plain only).
        queues: Vec<Bytes>,
        /// Length of the header block at the front of `message` (0 for LMSG).
        header_len: usize,
        /// Headers followed by payload.
        message: Bytes,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR <text>` (quotes removed).
    Err(Bytes),
}

/// Why leaf input could not be parsed; the link is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafParseError {
    /// A control line longer than the limit without its end.
    #[error("maximum control line exceeded")]
    ControlLineTooLong,
    /// An unknown verb.
    #[error("unknown protocol operation")]
    UnknownOp,
    /// A known verb with missing or malformed arguments.
    #[error("invalid arguments for {0}")]
    BadArgs(&'static str),
    /// A message larger than the maximum payload.
    #[error("maximum payload exceeded")]
    PayloadTooBig,
    /// The message body was not followed by CR LF.
    #[error("message body not terminated by CRLF")]
    BadTerminator,
}

struct PendingMsg {
    subject: Bytes,
    reply: Option<Bytes>,
    queues: Vec<Bytes>,
    header_len: usize,
    total: usize,
}

/// Streaming parser of one leaf link's input.
pub struct LeafParser {
    max_control_line: usize,
    max_payload: usize,
    pending: Option<PendingMsg>,
}

fn parse_size(t: &[u8]) -> Option<usize> {
    if t.is_empty() || t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(t.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize))
}

/// Splits `line` (no line end) into whitespace-separated token slices.
fn tokens(line: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, b) in line.iter().enumerate() {
        let ws = *b == b' ' || *b == b'\t';
        match (ws, start) {
            (true, Some(s)) => {
                out.push(line.slice(s..i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(line.slice(s..));
    }
    out
}

impl LeafParser {
    /// A parser with nats-server's limits for control lines and payloads.
    pub fn new(max_control_line: usize, max_payload: usize) -> Self {
        LeafParser {
            max_control_line,
            max_payload,
            pending: None,
        }
    }

    /// Takes the next complete op off the front of `buf`.
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<LeafOp>, LeafParseError> {
        loop {
            if let Some(p) = &self.pending {
                if buf.len() < p.total + 2 {
                    return Ok(None);
                }
                let p = self.pending.take().expect("pending message");
                let message = buf.split_to(p.total).freeze();
                if &buf[..2] != b"\r\n" {
                    return Err(LeafParseError::BadTerminator);
                }
                buf.advance(2);
                return Ok(Some(LeafOp::Msg {
                    subject: p.subject,
                    reply: p.reply,
                    queues: p.queues,
                    header_len: p.header_len,
                    message,
                }));
            }
            let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
                // Leave room for a long JSON INFO/CONNECT: they are bounded separately.
                if buf.len() > self.max_control_line.max(64 * 1024) {
                    return Err(LeafParseError::ControlLineTooLong);
                }
                return Ok(None);
            };
            let mut line = buf.split_to(nl + 1).freeze();
            line.truncate(nl);
            if line.last() == Some(&b'\r') {
                line.truncate(nl - 1);
            }
            if line.is_empty() {
                continue;
            }
            let verb_end = line
                .iter()
                .position(|b| *b == b' ' || *b == b'\t' || *b == b'{')
                .unwrap_or(line.len());
            let verb = line.slice(..verb_end).to_ascii_uppercase();
            let rest = trim(line.slice(verb_end..));
            let op = match verb.as_slice() {
                b"PING" => LeafOp::Ping,
                b"PONG" => LeafOp::Pong,
                b"+OK" => LeafOp::Ok,
                b"-ERR" => LeafOp::Err(unquote(rest)),
                b"INFO" => LeafOp::Info(rest),
                b"CONNECT" => LeafOp::Connect(rest),
                b"LS+" => self.ls_plus(&rest)?,
                b"LS-" => {
                    let t = tokens(&rest);
                    match t.len() {
                        1 => LeafOp::Unsub {
                            subject: t[0].clone(),
                            queue: None,
                        },
                        2 => LeafOp::Unsub {
                            subject: t[0].clone(),
                            queue: Some(t[1].clone()),
                        },
                        _ => return Err(LeafParseError::BadArgs("LS-")),
                    }
                }
                b"LMSG" => {
                    self.pending = Some(self.msg_args(&rest, false)?);
                    continue;
                }
                b"HMSG" => {
                    self.pending = Some(self.msg_args(&rest, true)?);
                    continue;
                }
                _ => return Err(LeafParseError::UnknownOp),
            };
            if line.len() > self.max_control_line
                && !matches!(op, LeafOp::Info(_) | LeafOp::Connect(_))
            {
                return Err(LeafParseError::ControlLineTooLong);
            }
            return Ok(Some(op));
        }
    }

    fn ls_plus(&self, rest: &Bytes) -> Result<LeafOp, LeafParseError> {
        let t = tokens(rest);
        match t.len() {
            1 => Ok(LeafOp::Sub {
                subject: t[0].clone(),
                queue: None,
            }),
            // nats-server treats a missing weight as 1.
            2 => Ok(LeafOp::Sub {
                subject: t[0].clone(),
                queue: Some((t[1].clone(), 1)),
            }),
            3 => {
                let w = parse_size(&t[2]).ok_or(LeafParseError::BadArgs("LS+"))?;
                Ok(LeafOp::Sub {
                    subject: t[0].clone(),
                    queue: Some((t[1].clone(), w.max(1) as u32)),
                })
            }
            _ => Err(LeafParseError::BadArgs("LS+")),
        }
    }

    fn msg_args(&self, rest: &Bytes, headers: bool) -> Result<PendingMsg, LeafParseError> {
        let what = if headers { "HMSG" } else { "LMSG" };
        let bad = LeafParseError::BadArgs(what);
        let t = tokens(rest);
        let sizes = if headers { 2 } else { 1 };
        if t.len() < 1 + sizes {
            return Err(bad);
        }
        let n = t.len() - sizes;
        let total = parse_size(&t[t.len() - 1]).ok_or(bad.clone())?;
        let header_len = if headers {
            let h = parse_size(&t[t.len() - 2]).ok_or(bad.clone())?;
            if h > total {
                return Err(bad);
            }
            h
        } else {
            0
        };
        if total > self.max_payload {
            return Err(LeafParseError::PayloadTooBig);
        }
        let subject = t[0].clone();
        let (reply, queues) = match (n, t.get(1).map(|b| &b[..])) {
            (1, _) => (None, Vec::new()),
            (2, _) => (Some(t[1].clone()), Vec::new()),
            (_, Some(b"+")) if n >= 4 => (Some(t[2].clone()), t[3..n].to_vec()),
            (_, Some(b"|")) if n >= 3 => (None, t[2..n].to_vec()),
            _ => return Err(bad),
        };
        Ok(PendingMsg {
            subject,
            reply,
            queues,
            header_len,
            total,
        })
    }
}

fn trim(b: Bytes) -> Bytes {
    let start = b
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| *c != b' ' && *c != b'\t')
        .map_or(start, |e| e + 1);
    b.slice(start..end.max(start))
}

fn unquote(b: Bytes) -> Bytes {
    if b.len() >= 2 && b[0] == b'\'' && b[b.len() - 1] == b'\'' {
        b.slice(1..b.len() - 1)
    } else {
        b
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
