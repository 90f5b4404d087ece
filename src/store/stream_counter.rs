//! Distributed counters (`allow_msg_counter`, nats-server 2.12): a publish carries
//! `Nats-Incr: <integer>` (any size, may be negative) and no payload; the stream stores the
//! subject's new total as the body `{"val":"<total>"}` (the headers as sent), and the publish
//! ack says `"val"`. Checks and texts as nats-server's `processJetStreamMsg`.

use num_bigint::BigInt;

use super::{headers, StoreError, Stream};

/// Headers a counter increment cannot be combined with (nats-server refuses them, 10171).
const INCOMPATIBLE: [&[u8]; 6] = [
    headers::ROLLUP,
    headers::EXPECTED_STREAM,
    headers::EXPECTED_LAST_MSG_ID,
    headers::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT,
    headers::EXPECTED_LAST_SEQ,
    headers::EXPECTED_LAST_SUBJECT_SEQ,
];

/// A decimal integer as Go's `big.Int.SetString(s, 10)` reads it: an optional sign, digits.
fn parse_integer(text: &[u8]) -> Option<BigInt> {
    let digits = text
        .strip_prefix(b"+")
        .or_else(|| text.strip_prefix(b"-"))
        .unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    BigInt::parse_bytes(text, 10)
}

/// The stored body of a counter message, nats-server's `CounterValue` (`{"val":"…"}`).
#[derive(serde::Serialize, serde::Deserialize)]
struct CounterValue {
    #[serde(default)]
    val: Option<String>,
}

/// The total a stored counter message holds: its `{"val":"…"}` body (`null`, a missing or
/// unparsable `val` read as 0, as nats-server); `None` when the body is not such JSON.
fn stored_total(payload: &[u8]) -> Option<BigInt> {
    if payload.trim_ascii() == b"null" {
        return Some(BigInt::default());
    }
    let v: CounterValue = serde_json::from_slice(payload).ok()?;
    Some(
        v.val
            .and_then(|s| parse_integer(s.as_bytes()))
            .unwrap_or_default(),
    )
}

impl Stream {
    /// The counter checks that come first in a publish with headers: `Nats-Incr` must be an
    /// integer (10171, even where counters are off), the stream must count (10168), the
    /// payload be empty (10170) and no rollup or expected-* header be set (10171).
    pub(super) fn publish_incr(
        &self,
        headers: &[u8],
        payload: &[u8],
    ) -> Result<Option<BigInt>, StoreError> {
        let Some(value) = headers::get_non_empty(headers, headers::INCR) else {
            return Ok(None);
        };
        let incr = parse_integer(value).ok_or(StoreError::CounterIncrInvalid)?;
        if !self.limits.allow_msg_counter {
            return Err(StoreError::CounterDisabled);
        }
        if !payload.is_empty() {
            return Err(StoreError::CounterHasPayload);
        }
        if INCOMPATIBLE
            .iter()
            .any(|h| headers::get_non_empty(headers, h).is_some())
        {
            return Err(StoreError::CounterIncrInvalid);
        }
        Ok(Some(incr))
    }

    /// The body an increment is stored with: the subject's last total plus `incr`, after the
    /// other header checks (a counter stream refuses a publish without `Nats-Incr`, 10169).
    pub(super) fn counter_body(
        &self,
        subject: &[u8],
        incr: Option<&BigInt>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(incr) = incr else {
            if self.limits.allow_msg_counter {
                return Err(StoreError::CounterIncrMissing);
            }
            return Ok(None);
        };
        let total = match self.last_by_subject(subject) {
            Some(m) => stored_total(&m.payload).ok_or(StoreError::CounterBroken)? + incr,
            None => incr.clone(),
        };
        let body = CounterValue {
            val: Some(total.to_string()),
        };
        Ok(Some(
            serde_json::to_vec(&body).expect("a string field serialises"),
        ))
    }

    /// The total a counter stream's message `seq` holds (the publish ack's `val`).
    pub fn counter_value(&self, seq: u64) -> Option<String> {
        if !self.limits.allow_msg_counter {
            return None;
        }
        let m = self.get(seq)?;
        stored_total(&m.payload).map(|v| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PublishOutcome, StreamLimits};
    use super::*;
    use crate::store::record::encode_into;
    use crate::store::segment::scan;
    use crate::store::Effect;

    fn counters() -> Stream {
        let limits = StreamLimits {
            allow_msg_counter: true,
            ..StreamLimits::default()
        };
        Stream::new("K".into(), limits, 0)
    }

    fn incr(
        s: &mut Stream,
        subject: &str,
        extra: &str,
        v: &str,
        payload: &[u8],
    ) -> Result<String, StoreError> {
        let h = format!("NATS/1.0\r\nNats-Incr: {v}\r\n{extra}\r\n");
        match s.publish(subject.as_bytes(), h.as_bytes(), payload, 1)? {
            PublishOutcome::Stored { seq, .. } => Ok(s.counter_value(seq).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_integers_like_go_big_int() {
        for (t, ok) in [
            ("1", true),
            ("+5", true),
            ("-3", true),
            ("-0", true),
            ("007", true),
        ] {
            assert_eq!(parse_integer(t.as_bytes()).is_some(), ok, "{t}");
        }
        for bad in ["", "+", "1.5", "abc", "0x10", "1_000", "+-1", " 1", "1e3"] {
            assert!(parse_integer(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn adds_up_per_subject_with_any_precision() {
        let mut s = counters();
        assert_eq!(incr(&mut s, "k.a", "", "1", b"").unwrap(), "1");
        assert_eq!(incr(&mut s, "k.a", "", "+5", b"").unwrap(), "6");
        assert_eq!(incr(&mut s, "k.a", "", "-10", b"").unwrap(), "-4");
        let big = "123456789012345678901234567890";
        assert_eq!(
            incr(&mut s, "k.a", "", big, b"").unwrap(),
            "123456789012345678901234567886"
        );
        assert_eq!(incr(&mut s, "k.b", "", "2", b"").unwrap(), "2");
        assert_eq!(&s.get(3).unwrap().payload[..], br#"{"val":"-4"}"#);
        assert_eq!(
            &s.get(3).unwrap().headers[..],
            b"NATS/1.0\r\nNats-Incr: -10\r\n\r\n"
        );
    }

    #[test]
    fn refusals_as_nats_server() {
        let mut s = counters();
        use StoreError::*;
        assert_eq!(incr(&mut s, "k.a", "", "1.5", b""), Err(CounterIncrInvalid));
        assert_eq!(incr(&mut s, "k.a", "", "1", b"x"), Err(CounterHasPayload));
        for extra in [
            "Nats-Rollup: sub\r\n",
            "Nats-Expected-Last-Sequence: 0\r\n",
            "Nats-Expected-Stream: K\r\n",
        ] {
            assert_eq!(
                incr(&mut s, "k.a", extra, "1", b""),
                Err(CounterIncrInvalid),
                "{extra}"
            );
        }
        assert_eq!(s.publish(b"k.a", b"", b"", 1), Err(CounterIncrMissing));
        assert_eq!(
            s.publish(b"k.a", b"NATS/1.0\r\nX: y\r\n\r\n", b"x", 1),
            Err(CounterIncrMissing)
        );
        let mut plain = Stream::new("P".into(), StreamLimits::default(), 0);
        assert_eq!(incr(&mut plain, "p", "", "1", b"x"), Err(CounterDisabled));
        assert_eq!(
            incr(&mut plain, "p", "", "abc", b"x"),
            Err(CounterIncrInvalid)
        );
        assert_eq!(s.last_seq(), 0);
    }

    #[test]
    fn a_broken_last_value_refuses_and_totals_survive_replay() {
        assert_eq!(stored_total(b"null"), Some(BigInt::default()));
        assert_eq!(stored_total(b"{}"), Some(BigInt::default()));
        assert_eq!(stored_total(br#"{"val":"x"}"#), Some(BigInt::default()));
        assert_eq!(stored_total(b"garbage"), None);
        assert_eq!(stored_total(br#"{"val":5}"#), None);
        let mut s = counters();
        let mut seg = Vec::new();
        for v in ["40", "2"] {
            let h = format!("NATS/1.0\r\nNats-Incr: {v}\r\n\r\n");
            if let Ok(PublishOutcome::Stored { effects, .. }) =
                s.publish(b"k.a", h.as_bytes(), b"", 1)
            {
                for Effect::Append(rec) in &effects {
                    encode_into(rec, &mut seg);
                }
            }
        }
        let mut r = counters();
        for (_, rec) in scan(&seg).records {
            r.replay(rec);
        }
        assert_eq!(incr(&mut r, "k.a", "", "1", b"").unwrap(), "43");
    }
}
