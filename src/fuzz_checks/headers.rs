//! `NATS/1.0` header blocks: the store's header lookups against a straightforward reference,
//! the value parsers (`Nats-TTL`, sequences, Go durations, RFC 3339 times) against their
//! printers, and the direct-get header writer against the lookups (encode -> decode).

use super::Input;
use crate::jetstream::gocompat::time::{clamp_unix_nanos, parse_rfc3339_nanos};
use crate::jetstream::gocompat::{go_duration, parse_go_duration};
use crate::jetstream::{write_direct_get_headers, BatchHeaders};
use crate::store::headers as h;

/// Every header name the store looks up.
const NAMES: &[&[u8]] = &[
    h::MSG_ID,
    h::EXPECTED_STREAM,
    h::EXPECTED_LAST_SEQ,
    h::EXPECTED_LAST_SUBJECT_SEQ,
    h::EXPECTED_LAST_SUBJECT_SEQ_SUBJECT,
    h::EXPECTED_LAST_MSG_ID,
    h::ROLLUP,
    h::TTL,
    h::MARKER_REASON,
    h::KV_OPERATION,
];

/// The lookup written the obvious way: lines after the first, `name:` exactly, value with
/// leading blanks skipped and the line's CR dropped.
fn reference_get<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let text_lines: Vec<&[u8]> = block.split(|&b| b == b'\n').skip(1).collect();
    for raw in text_lines {
        let line = match raw.last() {
            Some(b'\r') => &raw[..raw.len() - 1],
            _ => raw,
        };
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let Some(value) = rest.strip_prefix(b":") else {
            continue;
        };
        let skip = value
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        return Some(&value[skip..]);
    }
    None
}

fn check_lookup(block: &[u8], name: &[u8]) {
    let got = h::get(block, name);
    assert_eq!(got, reference_get(block, name), "lookup of {name:?}");
    if let Some(v) = got {
        let inside = block.as_ptr_range();
        assert!(
            inside.contains(&v.as_ptr()) || v.is_empty(),
            "value is not in the block"
        );
        assert!(!v.contains(&b'\n'), "value spans lines");
        let _ = h::parse_seq(v);
        check_ttl(v);
    }
    assert_eq!(h::get_non_empty(block, name), got.filter(|v| !v.is_empty()));
}

fn check_ttl(value: &[u8]) {
    if let Ok(Some(h::MsgTtl::Secs(secs))) = h::parse_ttl(value) {
        assert!(secs > 0, "a zero TTL must read as no TTL");
    }
}

/// Header (name, value) pairs.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `NATS/1.0\r\n` + `name: value\r\n`… + `\r\n`, from fuzzer pairs made header-safe.
fn encode_block(input: &mut Input<'_>) -> (Vec<u8>, Pairs) {
    let mut pairs = Vec::new();
    let mut block = b"NATS/1.0\r\n".to_vec();
    for _ in 0..input.byte() % 6 {
        let mut name: Vec<u8> = input
            .chunk()
            .iter()
            .copied()
            .filter(|b| !matches!(b, b':' | b'\r' | b'\n'))
            .collect();
        if name.is_empty() || name.starts_with(b"Nats-") {
            name.splice(0..0, *b"X-");
        }
        let value: Vec<u8> = input
            .chunk()
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .collect();
        block.extend_from_slice(&name);
        block.extend_from_slice(b": ");
        block.extend_from_slice(&value);
        block.extend_from_slice(b"\r\n");
        pairs.push((name, value));
    }
    block.extend_from_slice(b"\r\n");
    (block, pairs)
}

fn first_value<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], name: &[u8]) -> Option<&'a [u8]> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| {
        let skip = v.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &v[skip..]
    })
}

/// Input layout: mode byte; mode 0 = arbitrary block (+ a name to look up), else a structured
/// block from pairs, then direct-get numbers.
pub fn check_headers(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    if mode.is_multiple_of(2) {
        let name = input.chunk();
        let block = input.rest();
        for n in NAMES.iter().copied().chain([name]) {
            check_lookup(block, n);
        }
        check_ttl(block);
        let _ = h::parse_seq(block);
        // Headers read back from a damaged segment still make a well-formed reply block.
        let mut out = Vec::new();
        write_direct_get_headers(&mut out, block, "S", b"s.a", 1, 2, None);
        assert!(out.ends_with(b"\r\n\r\n"));
        if let Ok(text) = std::str::from_utf8(block) {
            if let Some(ns) = parse_go_duration(text) {
                let _ = go_duration(ns as i64);
            }
            if let Ok(ns) = parse_rfc3339_nanos(text) {
                let _ = clamp_unix_nanos(ns);
            }
        }
        return;
    }
    let (block, pairs) = encode_block(&mut input);
    for (name, _) in &pairs {
        assert_eq!(
            h::get(&block, name),
            first_value(&pairs, name),
            "pair {name:?}"
        );
    }
    for n in NAMES {
        check_lookup(&block, n);
    }
    // Direct get: stored headers plus the server's, read back by the same lookups.
    let seq = input.u64();
    let ts = input.u64();
    let batch = (input.byte() % 2 == 1).then(|| BatchHeaders {
        num_pending: input.u64(),
        last_seq: input.u64(),
    });
    let subject: Vec<u8> = input
        .chunk()
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    let mut out = Vec::new();
    write_direct_get_headers(&mut out, &block, "S", &subject, seq, ts, batch);
    assert!(out.ends_with(b"\r\n\r\n"));
    assert_eq!(
        out.windows(4).position(|w| w == b"\r\n\r\n"),
        Some(out.len() - 4),
        "the block ends early"
    );
    for (name, _) in &pairs {
        assert_eq!(
            h::get(&out, name),
            first_value(&pairs, name),
            "stored {name:?} lost"
        );
    }
    assert_eq!(h::get(&out, b"Nats-Stream"), Some(&b"S"[..]));
    let skip = subject
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    assert_eq!(h::get(&out, b"Nats-Subject"), Some(&subject[skip..]));
    assert_eq!(h::get(&out, b"Nats-Sequence").map(h::parse_seq), Some(seq));
    let stamp = h::get(&out, b"Nats-Time-Stamp").expect("time stamp");
    let ns = parse_rfc3339_nanos(std::str::from_utf8(stamp).expect("ascii time"))
        .expect("the server's own time stamp parses");
    assert_eq!(clamp_unix_nanos(ns), ts, "time stamp does not round-trip");
    if let Some(b) = batch {
        let num = |n: &[u8]| h::get(&out, n).map(h::parse_seq);
        assert_eq!(num(b"Nats-Num-Pending"), Some(b.num_pending));
        assert_eq!(num(b"Nats-Last-Sequence"), Some(b.last_seq));
    }
    // Go durations (Nats-TTL, ack delays) print and parse back exactly.
    let d = (input.u64() >> 1) as i64;
    assert_eq!(
        parse_go_duration(&go_duration(d)),
        Some(d as u64),
        "duration {d} ns printed as {}",
        go_duration(d)
    );
}
