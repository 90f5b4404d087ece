use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn all(input: &str) -> Vec<LeafOp> {
    let mut p = LeafParser::new(4096, 1 << 20);
    let mut buf = BytesMut::from(input.as_bytes());
    let mut ops = Vec::new();
    while let Some(op) = p.next_op(&mut buf).unwrap() {
        ops.push(op);
    }
    assert!(buf.is_empty(), "left over: {:?}", buf);
    ops
}

/// Feeds `input` one byte at a time: the same ops as all at once.
fn bytewise(input: &str) -> Vec<LeafOp> {
    let mut p = LeafParser::new(4096, 1 << 20);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for c in input.as_bytes() {
        buf.extend_from_slice(&[*c]);
        while let Some(op) = p.next_op(&mut buf).unwrap() {
            ops.push(op);
        }
    }
    ops
}

#[test]
fn interest_lines() {
    let input = "LS+ foo\r\nLS+ w g 3\r\nLS+ w g\r\nLS- foo\r\nLS- w g\r\n";
    let ops = all(input);
    assert_eq!(
        ops,
        vec![
            LeafOp::Sub {
                subject: b("foo"),
                queue: None
            },
            LeafOp::Sub {
                subject: b("w"),
                queue: Some((b("g"), 3))
            },
            LeafOp::Sub {
                subject: b("w"),
                queue: Some((b("g"), 1))
            },
            LeafOp::Unsub {
                subject: b("foo"),
                queue: None
            },
            LeafOp::Unsub {
                subject: b("w"),
                queue: Some(b("g"))
            },
        ]
    );
    assert_eq!(bytewise(input), ops);
}

fn msg(subject: &str, reply: Option<&str>, queues: &[&str], hdr: usize, m: &str) -> LeafOp {
    LeafOp::Msg {
        subject: b(subject),
        reply: reply.map(b),
        queues: queues.iter().map(|q| b(q)).collect(),
        header_len: hdr,
        message: b(m),
    }
}

#[test]
fn message_forms_as_nats_server_sends_them() {
    // Captured from nats-server 2.15.1.
    let input = "LMSG foo _INBOX.x.1 5\r\nhello\r\nHMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
                 LMSG qq | grp 2\r\nab\r\nLMSG qq + rep grp g2 2\r\ncd\r\nLMSG e 0\r\n\r\n\
                 HMSG h + r q 12 12\r\nNATS/1.0\r\n\r\n\r\n";
    let ops = all(input);
    assert_eq!(
        ops,
        vec![
            msg("foo", Some("_INBOX.x.1"), &[], 0, "hello"),
            msg("foo", None, &[], 12, "NATS/1.0\r\n\r\nhi"),
            msg("qq", None, &["grp"], 0, "ab"),
            msg("qq", Some("rep"), &["grp", "g2"], 0, "cd"),
            msg("e", None, &[], 0, ""),
            msg("h", Some("r"), &["q"], 12, "NATS/1.0\r\n\r\n"),
        ]
    );
    assert_eq!(bytewise(input), ops);
}

#[test]
fn control_ops() {
    let ops = all(
        "INFO {\"a\":1}\r\nCONNECT {\"b\":2}\r\nPING\r\npong\r\n+OK\r\n-ERR 'Loop detected'\r\n",
    );
    assert_eq!(
        ops,
        vec![
            LeafOp::Info(b("{\"a\":1}")),
            LeafOp::Connect(b("{\"b\":2}")),
            LeafOp::Ping,
            LeafOp::Pong,
            LeafOp::Ok,
            LeafOp::Err(b("Loop detected")),
        ]
    );
}

#[test]
fn errors() {
    let mut p = LeafParser::new(4096, 10);
    let mut buf = BytesMut::from(&b"LMSG a 11\r\n"[..]);
    assert_eq!(p.next_op(&mut buf), Err(LeafParseError::PayloadTooBig));
    let mut p = LeafParser::new(4096, 100);
    let mut buf = BytesMut::from(&b"SUB a 1\r\n"[..]);
    assert_eq!(p.next_op(&mut buf), Err(LeafParseError::UnknownOp));
    let mut buf = BytesMut::from(&b"LMSG a x\r\n"[..]);
    assert!(matches!(
        p.next_op(&mut buf),
        Err(LeafParseError::BadArgs(_))
    ));
    let mut buf = BytesMut::from(&b"LMSG a 2\r\nabXY"[..]);
    assert_eq!(p.next_op(&mut buf), Err(LeafParseError::BadTerminator));
    let mut p = LeafParser::new(4096, 100);
    let mut buf = BytesMut::from(&b"HMSG a 5 3\r\n"[..]);
    assert!(matches!(
        p.next_op(&mut buf),
        Err(LeafParseError::BadArgs(_))
    ));
    let mut buf = BytesMut::from(&b"LS+ a b c d\r\n"[..]);
    assert!(matches!(
        p.next_op(&mut buf),
        Err(LeafParseError::BadArgs(_))
    ));
}
