//! The `$JS.ACK` reply subjects consumers hand out and the ack payloads clients send back.

use bytes::Bytes;

/// The numbers carried by a v1 ack subject
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReply<'a> {
    /// Stream name token.
    pub stream: &'a str,
    /// Consumer name token.
    pub consumer: &'a str,
    /// Delivery count of that delivery.
    pub delivered: u64,
    /// Stream sequence.
    pub stream_seq: u64,
    /// Consumer sequence.
    pub consumer_seq: u64,
}

/// What an ack payload asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// `+ACK`, `+OK` or empty.
    Ack,
    /// `-NAK`, optionally with a redelivery delay.
    Nak {
        /// Delay before redelivery, ns.
        delay_ns: Option<u64>,
    },
    /// `+WPI`: still working, restart the ack timer.
    Progress,
    /// `+NXT`: ack and pull `batch` more to the ack's reply subject.
    Next {
        /// Messages wanted.
        batch: u64,
    },
    /// `+TERM`: never redeliver.
    Term {
        /// Reason text, possibly empty.
        reason: String,
    },
}

/// Builds the v1 ack subject of one delivery.
pub fn ack_subject(
    stream: &str,
    consumer: &str,
    delivered: u64,
    stream_seq: u64,
    consumer_seq: u64,
    ts_ns: u64,
    pending: u64,
) -> Bytes {
    // Sized exactly: a `Vec` whose length is its capacity becomes `Bytes` without a
    // second allocation (one per delivery).
    let mut bufs = [(); 5].map(|_| itoa::Buffer::new());
    let nums = [delivered, stream_seq, consumer_seq, ts_ns, pending];
    let mut digits: [&str; 5] = [""; 5];
    for ((buf, n), d) in bufs.iter_mut().zip(nums).zip(digits.iter_mut()) {
        *d = buf.format(n);
    }
    let len = b"$JS.ACK.".len()
        + stream.len()
        + 1
        + consumer.len()
        + digits.iter().map(|d| d.len() + 1).sum::<usize>();
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(b"$JS.ACK.");
    s.extend_from_slice(stream.as_bytes());
    s.push(b'.');
    s.extend_from_slice(consumer.as_bytes());
    for d in digits {
        s.push(b'.');
        s.extend_from_slice(d.as_bytes());
    }
    debug_assert_eq!(s.len(), len);
    Bytes::from(s)
}

/// Parses a v1 ack subject (9 tokens) without allocating; `None` for anything else.
pub fn parse_ack_reply(subject: &[u8]) -> Option<AckReply<'_>> {
    let rest = subject.strip_prefix(b"$JS.ACK.")?;
    let mut t = rest.split(|&b| b == b'.');
    let stream = std::str::from_utf8(t.next()?).ok()?;
    let consumer = std::str::from_utf8(t.next()?).ok()?;
    let mut num = || -> Option<u64> {
        let tok = t.next()?;
        if tok.is_empty() || tok.len() > 20 || !tok.iter().all(u8::is_ascii_digit) {
            return None;
        }
        tok.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    };
    let delivered = num()?;
    let stream_seq = num()?;
    let consumer_seq = num()?;
    let _ts = num()?;
    let _pending = num()?;
    if t.next().is_some() {
        return None;
    }
    Some(AckReply {
        stream,
        consumer,
        delivered,
        stream_seq,
        consumer_seq,
    })
}

pub use crate::jetstream::gocompat::parse_go_duration;

#[derive(serde::Deserialize)]
struct NakBody {
    #[serde(default)]
    delay: i64,
}

#[derive(serde::Deserialize)]
struct NextBody {
    #[serde(default)]
    batch: i64,
}

impl AckKind {
    /// Reads an ack payload; `None` for a payload that is no ack at all (ignored, as
    /// nats-server does).
    pub fn parse(payload: &[u8]) -> Option<AckKind> {
        let p = payload;
        if p.is_empty() || p == b"+ACK" || p == b"+OK" {
            return Some(AckKind::Ack);
        }
        if let Some(rest) = p.strip_prefix(b"-NAK") {
            let rest = std::str::from_utf8(rest).ok()?.trim();
            let delay_ns = if rest.is_empty() {
                None
            } else if rest.starts_with('{') {
                serde_json::from_str::<NakBody>(rest)
                    .ok()
                    .map(|b| b.delay.max(0) as u64)
            } else {
                parse_go_duration(rest)
            };
            return Some(AckKind::Nak { delay_ns });
        }
        if p.starts_with(b"+WPI") {
            return Some(AckKind::Progress);
        }
        if let Some(rest) = p.strip_prefix(b"+NXT") {
            let rest = std::str::from_utf8(rest).ok()?.trim();
            let batch = if rest.is_empty() {
                1
            } else if rest.starts_with('{') {
                serde_json::from_str::<NextBody>(rest)
                    .map(|b| b.batch.max(1) as u64)
                    .unwrap_or(1)
            } else {
                rest.parse::<u64>().unwrap_or(1).max(1)
            };
            return Some(AckKind::Next { batch });
        }
        if let Some(rest) = p.strip_prefix(b"+TERM") {
            let reason = String::from_utf8_lossy(rest).trim().to_owned();
            return Some(AckKind::Term { reason });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_subject_round_trips() {
        let s = ack_subject("ORDERS", "D1", 2, 10, 12, 1_795_318_454_902_422_089, 5);
        assert_eq!(&s[..], b"$JS.ACK.ORDERS.D1.2.10.12.1795318454902422089.5");
        let r = parse_ack_reply(&s).unwrap();
        assert_eq!(
            (
                r.stream,
                r.consumer,
                r.delivered,
                r.stream_seq,
                r.consumer_seq
            ),
            ("ORDERS", "D1", 2, 10, 12)
        );
        assert!(parse_ack_reply(b"$JS.ACK.S.C.1.2.3").is_none());
        assert!(parse_ack_reply(b"$JS.ACK.S.C.x.2.3.4.5").is_none());
    }

    #[test]
    fn ack_kinds() {
        assert_eq!(AckKind::parse(b""), Some(AckKind::Ack));
        assert_eq!(AckKind::parse(b"+ACK"), Some(AckKind::Ack));
        assert_eq!(AckKind::parse(b"+OK"), Some(AckKind::Ack));
        assert_eq!(
            AckKind::parse(b"-NAK"),
            Some(AckKind::Nak { delay_ns: None })
        );
        assert_eq!(
            AckKind::parse(br#"-NAK {"delay":2000000000}"#),
            Some(AckKind::Nak {
                delay_ns: Some(2_000_000_000)
            })
        );
        assert_eq!(
            AckKind::parse(b"-NAK 1.5s"),
            Some(AckKind::Nak {
                delay_ns: Some(1_500_000_000)
            })
        );
        assert_eq!(AckKind::parse(b"+WPI"), Some(AckKind::Progress));
        assert_eq!(AckKind::parse(b"+NXT"), Some(AckKind::Next { batch: 1 }));
        assert_eq!(
            AckKind::parse(br#"+NXT {"batch":5}"#),
            Some(AckKind::Next { batch: 5 })
        );
        assert_eq!(AckKind::parse(b"+NXT 3"), Some(AckKind::Next { batch: 3 }));
        assert_eq!(
            AckKind::parse(b"+TERM bad input"),
            Some(AckKind::Term {
                reason: "bad input".into()
            })
        );
        assert_eq!(AckKind::parse(b"whatever"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("2h"), Some(7_200_000_000_000));
        assert_eq!(parse_go_duration("abc"), None);
    }
}
