//! Distributed counters (`allow_msg_counter`, nats-server 2.12): a publish carries
//! `Nats-Incr: <integer>` (any size, may be negative) and no payload; the stream stores the
//! subject's new total as the body `{"val":"<total>"}` (the headers as sent), and the publish
//! ack says `"val"`. Checks and texts as nats-server's `processJetStreamMsg`.
//!
//! Counters across streams (nats-server's source-aware counters): a message a source delivers
//! (`Nats-Stream-Source: <origin> <seq> <filter> <dest> <origin subject>`) into a counter stream
//! carries the origin's total in its body; the stream remembers the last total seen per origin
//! and origin subject in `Nats-Counter-Sources` (JSON `{"<origin>":{"<subject>":"<total>"}}`),
//! adds the difference to its own total and stores it as the message's `Nats-Incr`. Every
//! later message on the subject (its own increments too) carries the header forward. A stream
//! without counters stores sourced counter messages verbatim.

use std::collections::BTreeMap;

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

/// `Nats-Counter-Sources`: the last total seen per origin stream and origin subject.
const COUNTER_SOURCES: &[u8] = b"Nats-Counter-Sources";

/// The body of `Nats-Counter-Sources`, nats-server's `CounterSources`.
type CounterSources = BTreeMap<String, BTreeMap<String, String>>;

/// What a counter message is stored with: the new total as the body and, when they change
/// (a sourced message, or sources to carry forward), the rewritten headers.
pub(super) struct CounterWrite {
    pub(super) body: Vec<u8>,
    pub(super) headers: Option<Vec<u8>>,
}

/// `block` with the first `name:` header's value replaced by `value`, or `name: value`
/// appended as its last header, as nats-server's `setHeader`.
fn set_header(block: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    let block = if block.is_empty() {
        &b"NATS/1.0\r\n\r\n"[..]
    } else {
        block
    };
    let mut out = Vec::with_capacity(block.len() + name.len() + value.len() + 4);
    let mut lines = block.split_inclusive(|&b| b == b'\n');
    out.extend_from_slice(lines.next().unwrap_or_default());
    let mut replaced = false;
    for line in lines {
        let is_it = !replaced
            && line.len() > name.len()
            && line.starts_with(name)
            && line[name.len()] == b':';
        if is_it {
            out.extend_from_slice(name);
            out.push(b':');
            if line.get(name.len() + 1) == Some(&b' ') {
                out.push(b' ');
            }
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
            replaced = true;
        } else if !replaced && line == b"\r\n" {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n\r\n");
            replaced = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Go's `json.Marshal` of counter sources: sorted keys, and `<`, `>`, `&`, U+2028/2029
/// escaped as in Go.
fn marshal_sources(sources: &CounterSources) -> Vec<u8> {
    let json = serde_json::to_string(sources).expect("string maps serialise");
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
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
    /// payload be empty (10170) and no rollup or expected-* header be set (10171). A message
    /// from a source (`sourced`) is only read: it is stored verbatim or added up.
    pub(super) fn publish_incr(
        &self,
        headers: &[u8],
        payload: &[u8],
        sourced: bool,
    ) -> Result<Option<BigInt>, StoreError> {
        let Some(value) = headers::get_non_empty(headers, headers::INCR) else {
            return Ok(None);
        };
        let incr = parse_integer(value).ok_or(StoreError::CounterIncrInvalid)?;
        if sourced {
            return Ok(Some(incr));
        }
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

    /// What an increment is stored with: the subject's last total plus `incr` — for a message
    /// from a source, plus the difference between the origin's total (its body) and the last
    /// one seen from that origin subject — and the sources seen so far, carried forward in
    /// `Nats-Counter-Sources`. After the other header checks (a counter stream refuses a
    /// publish without `Nats-Incr`, 10169); `None` when the stream does not count.
    pub(super) fn counter_body(
        &self,
        subject: &[u8],
        headers: &[u8],
        payload: &[u8],
        incr: Option<&BigInt>,
    ) -> Result<Option<CounterWrite>, StoreError> {
        let Some(incr) = incr else {
            if self.limits.allow_msg_counter {
                return Err(StoreError::CounterIncrMissing);
            }
            return Ok(None);
        };
        if !self.limits.allow_msg_counter {
            return Ok(None);
        }
        let mut total = BigInt::default();
        let mut sources = CounterSources::new();
        if let Some(m) = self.last_by_subject(subject) {
            total = stored_total(&m.payload).ok_or(StoreError::CounterBroken)?;
            if let Some(seen) = headers::get_non_empty(&m.headers, COUNTER_SOURCES) {
                let seen: Option<CounterSources> =
                    serde_json::from_slice(seen).map_err(|_| StoreError::CounterBroken)?;
                sources = seen.unwrap_or_default();
            }
        }
        let mut incr = incr.clone();
        let mut new_headers = None;
        if let Some(origin) = headers::get_non_empty(headers, headers::STREAM_SOURCE) {
            let origin = String::from_utf8_lossy(origin);
            let fields: Vec<&str> = origin.split(' ').collect();
            let origin_subject = match fields.get(4) {
                Some(s) => (*s).to_owned(),
                None => String::from_utf8_lossy(subject).into_owned(),
            };
            let origin_total = stored_total(payload).ok_or(StoreError::CounterBroken)?;
            let previous = sources
                .entry(fields[0].to_owned())
                .or_default()
                .insert(origin_subject, origin_total.to_string());
            let previous = previous
                .and_then(|p| parse_integer(p.as_bytes()))
                .unwrap_or_default();
            incr = origin_total - previous;
            new_headers = Some(set_header(
                headers,
                headers::INCR,
                incr.to_string().as_bytes(),
            ));
        }
        total += incr;
        if !sources.is_empty() {
            let base = new_headers.as_deref().unwrap_or(headers);
            new_headers = Some(set_header(
                base,
                COUNTER_SOURCES,
                &marshal_sources(&sources),
            ));
        }
        let body = CounterValue {
            val: Some(total.to_string()),
        };
        Ok(Some(CounterWrite {
            body: serde_json::to_vec(&body).expect("a string field serialises"),
            headers: new_headers,
        }))
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

    #[test]
    fn set_header_replaces_in_place_or_appends_as_nats_server() {
        let b = b"NATS/1.0\r\nA: 1\r\nNats-Incr: 5\r\nB:2\r\n\r\n";
        assert_eq!(
            set_header(b, headers::INCR, b"-7"),
            b"NATS/1.0\r\nA: 1\r\nNats-Incr: -7\r\nB:2\r\n\r\n"
        );
        assert_eq!(
            set_header(b, b"B", b"33"),
            b"NATS/1.0\r\nA: 1\r\nNats-Incr: 5\r\nB:33\r\n\r\n"
        );
        assert_eq!(
            set_header(b, COUNTER_SOURCES, b"{}"),
            b"NATS/1.0\r\nA: 1\r\nNats-Incr: 5\r\nB:2\r\nNats-Counter-Sources: {}\r\n\r\n"
        );
        assert_eq!(set_header(b"", b"X", b"y"), b"NATS/1.0\r\nX: y\r\n\r\n");
    }

    #[test]
    fn sourced_totals_add_up_as_differences_and_are_carried_forward() {
        let mut s = counters();
        let sourced = |s: &mut Stream, origin: &str, subj: &str, total: &str| {
            let h = format!(
                "NATS/1.0\r\nNats-Incr: 99\r\nNats-Stream-Source: {origin} 1 > > {subj}\r\n\r\n"
            );
            let body = format!(r#"{{"val":"{total}"}}"#);
            match s.publish_sourced(b"t.x", h.as_bytes(), body.as_bytes(), 1) {
                Ok(PublishOutcome::Stored { seq, .. }) => seq,
                other => panic!("{other:?}"),
            }
        };
        let seq = sourced(&mut s, "A", "a.x", "3");
        assert_eq!(s.counter_value(seq).unwrap(), "3");
        let seq = sourced(&mut s, "B", "b.x", "<&>");
        assert_eq!(s.counter_value(seq).unwrap(), "3");
        let seq = sourced(&mut s, "A", "a.x", "10");
        assert_eq!(s.counter_value(seq).unwrap(), "10");
        let h = s.get(seq).unwrap().headers.clone();
        assert_eq!(headers::get(&h, headers::INCR), Some(&b"7"[..]));
        assert_eq!(
            headers::get(&h, COUNTER_SOURCES),
            Some(&br#"{"A":{"a.x":"10"},"B":{"b.x":"0"}}"#[..])
        );
        assert_eq!(incr(&mut s, "t.x", "", "5", b"").unwrap(), "15");
        let h = s.get(seq + 1).unwrap().headers.clone();
        assert_eq!(headers::get(&h, headers::INCR), Some(&b"5"[..]));
        assert!(headers::get(&h, COUNTER_SOURCES).is_some());
        // A sourced message whose body is no counter breaks nothing stored.
        let h = b"NATS/1.0\r\nNats-Incr: 1\r\nNats-Stream-Source: A 2 > > a.x\r\n\r\n";
        assert_eq!(
            s.publish_sourced(b"t.x", h, b"junk", 1),
            Err(StoreError::CounterBroken)
        );
        // Without counters a sourced increment is stored as it came.
        let mut plain = Stream::new("P".into(), StreamLimits::default(), 0);
        assert!(plain
            .publish_sourced(b"t.x", h, br#"{"val":"1"}"#, 1)
            .is_ok());
        assert_eq!(&plain.get(1).unwrap().payload[..], br#"{"val":"1"}"#);
        assert_eq!(
            marshal_sources(&[("<".to_owned(), BTreeMap::new())].into()),
            br#"{"\u003c":{}}"#
        );
    }
}
