//! The client protocol parser: fed the same bytes whole, in fuzzer-chosen chunks and one byte
//! at a time, it must give the same ops and the same error, make progress on every op, keep
//! its limits, and re-parse its own ops from their canonical encoding.

use bytes::{Bytes, BytesMut};

use super::Input;
use crate::protocol::parser::{ClientOp, ParseError, Parser};

/// Control-line limits the fuzzer picks from (16 makes the over-long paths reachable).
const CONTROL_LINE_LIMITS: [usize; 3] = [16, 64, 4096];
/// Payload limits the fuzzer picks from.
const PAYLOAD_LIMITS: [usize; 3] = [0, 100, 1 << 20];
/// Inputs up to this size are also fed one byte at a time (quadratic cost otherwise).
const BYTEWISE_MAX: usize = 4096;

type Outcome = (Vec<ClientOp>, Option<ParseError>);

/// Feeds `wire` to a fresh parser in chunks of `sizes` (cycled; empty = all at once).
fn feed(limits: (usize, usize), wire: &[u8], sizes: &[usize]) -> Outcome {
    let mut parser = Parser::new(limits.0, limits.1);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    loop {
        let size = if sizes.is_empty() {
            wire.len()
        } else {
            sizes[k % sizes.len()].max(1)
        };
        k += 1;
        let end = (pos + size).min(wire.len());
        buf.extend_from_slice(&wire[pos..end]);
        pos = end;
        loop {
            let before = buf.len();
            match parser.next_op(&mut buf) {
                Ok(Some(op)) => {
                    assert!(
                        buf.len() < before,
                        "op {op:?} consumed no input: the parser would loop"
                    );
                    ops.push(op);
                }
                Ok(None) => break,
                Err(e) => {
                    // The session answers with this text (or closes silently).
                    let _ = e.err_text();
                    return (ops, Some(e));
                }
            }
        }
        if pos == wire.len() {
            return (ops, None);
        }
    }
}

fn is_token(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().any(|&b| b == b' ' || b == b'\t' || b == b'\n')
}

/// What every op the parser emits must satisfy.
fn check_op(op: &ClientOp, (max_control_line, max_payload): (usize, usize)) {
    let token = |t: &Bytes, what: &str| {
        assert!(is_token(t), "{what} {t:?} is not one token in {op:?}");
        assert!(
            t.len() <= max_control_line,
            "{what} longer than the control line limit"
        );
    };
    match op {
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => {
            token(subject, "subject");
            if let Some(r) = reply {
                token(r, "reply");
            }
            assert!(payload.len() <= max_payload, "payload over max_payload");
        }
        ClientOp::Hpub {
            subject,
            reply,
            header_len,
            message,
        } => {
            token(subject, "subject");
            if let Some(r) = reply {
                token(r, "reply");
            }
            assert!(*header_len <= message.len(), "header_len past the message");
            assert!(message.len() <= max_payload, "message over max_payload");
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => {
            token(subject, "subject");
            token(sid, "sid");
            if let Some(q) = queue {
                token(q, "queue");
            }
        }
        ClientOp::Unsub { sid, .. } => token(sid, "sid"),
        ClientOp::Connect(text) | ClientOp::Err(text) => {
            assert!(!text.contains(&b'\n'), "text spans lines");
            let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
            assert!(
                !text.first().is_some_and(blank) && !text.last().is_some_and(blank),
                "text not trimmed: {text:?}"
            );
        }
        ClientOp::Ping | ClientOp::Pong | ClientOp::Info | ClientOp::Ok => {}
    }
}

/// The canonical wire form of an op (upper case, single spaces, CR LF).
fn encode(op: &ClientOp, out: &mut Vec<u8>) {
    let mut line = |parts: &[&[u8]]| {
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(p);
        }
        out.extend_from_slice(b"\r\n");
    };
    match op {
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => {
            let n = payload.len().to_string();
            match reply {
                Some(r) => line(&[b"PUB", subject, r, n.as_bytes()]),
                None => line(&[b"PUB", subject, n.as_bytes()]),
            }
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
        }
        ClientOp::Hpub {
            subject,
            reply,
            header_len,
            message,
        } => {
            let (h, n) = (header_len.to_string(), message.len().to_string());
            match reply {
                Some(r) => line(&[b"HPUB", subject, r, h.as_bytes(), n.as_bytes()]),
                None => line(&[b"HPUB", subject, h.as_bytes(), n.as_bytes()]),
            }
            out.extend_from_slice(message);
            out.extend_from_slice(b"\r\n");
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => match queue {
            Some(q) => line(&[b"SUB", subject, q, sid]),
            None => line(&[b"SUB", subject, sid]),
        },
        ClientOp::Unsub { sid, max_msgs } => match max_msgs {
            Some(m) => line(&[b"UNSUB", sid, m.to_string().as_bytes()]),
            None => line(&[b"UNSUB", sid]),
        },
        ClientOp::Connect(text) => line(&[b"CONNECT", text]),
        ClientOp::Err(text) => line(&[b"-ERR", text]),
        ClientOp::Info => line(&[b"INFO", b"{}"]),
        ClientOp::Ping => line(&[b"PING"]),
        ClientOp::Pong => line(&[b"PONG"]),
        ClientOp::Ok => line(&[b"+OK"]),
    }
}

/// Input layout: limits byte, chunk count byte, that many chunk sizes, then the wire bytes.
pub fn check_protocol_parser(data: &[u8]) {
    let mut input = Input::new(data);
    let pick = input.byte() as usize;
    let limits = (
        CONTROL_LINE_LIMITS[pick % 3],
        PAYLOAD_LIMITS[(pick / 3) % 3],
    );
    let n = (input.byte() % 8) as usize;
    let sizes: Vec<usize> = input.take(n).iter().map(|&b| usize::from(b)).collect();
    let wire = input.rest();

    let whole = feed(limits, wire, &[]);
    let split = feed(limits, wire, &sizes);
    assert_eq!(whole, split, "chunks {sizes:?} changed the outcome");
    if wire.len() <= BYTEWISE_MAX {
        let bytewise = feed(limits, wire, &[1]);
        assert_eq!(
            whole, bytewise,
            "byte-at-a-time feeding changed the outcome"
        );
    }
    let (ops, _) = whole;
    for op in &ops {
        check_op(op, limits);
    }
    // Its own ops, written canonically, parse back to the same ops without error.
    let mut canonical = Vec::new();
    for op in &ops {
        encode(op, &mut canonical);
    }
    let again = feed(limits, &canonical, &[]);
    assert_eq!(
        again,
        (ops, None),
        "canonical re-encoding does not round-trip"
    );
}
