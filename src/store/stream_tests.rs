//! Unit tests of the stream state machine: each publish rule and error, limits, purges,
//! deletes, lookups, the time index and record replay.

use super::*;
use crate::store::record::{encode_into, MessageRef, RecordRef};
use crate::store::segment::scan;

const T0: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn stream(limits: StreamLimits) -> Stream {
    Stream::new("ORDERS".to_string(), limits, 0)
}

fn hdrs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut h = b"NATS/1.0\r\n".to_vec();
    for (k, v) in pairs {
        h.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    h.extend_from_slice(b"\r\n");
    h
}

#[track_caller]
fn stored(r: Result<PublishOutcome, StoreError>) -> (u64, Vec<Effect>) {
    match r {
        Ok(PublishOutcome::Stored { seq, effects }) => (seq, effects),
        other => panic!("expected Stored, got {other:?}"),
    }
}

#[track_caller]
fn pub_ok(s: &mut Stream, subject: &str, payload: &[u8], now: u64) -> u64 {
    stored(s.publish(subject.as_bytes(), b"", payload, now)).0
}

#[track_caller]
fn pub_h(
    s: &mut Stream,
    subject: &str,
    h: &[(&str, &str)],
    now: u64,
) -> Result<PublishOutcome, StoreError> {
    s.publish(subject.as_bytes(), &hdrs(h), b"x", now)
}

fn seqs(s: &Stream) -> Vec<u64> {
    s.range_from(0).map(|m| m.seq).collect()
}

/// Encodes effects into one segment buffer.
fn persist(segment: &mut Vec<u8>, effects: &[Effect]) {
    for Effect::Append(rec) in effects {
        encode_into(rec, segment);
    }
}

/// Replays segments into a fresh stream.
fn recover(name: &str, limits: StreamLimits, first_seq: u64, segments: &[&[u8]]) -> Stream {
    let mut s = Stream::new(name.to_string(), limits, first_seq);
    for seg in segments {
        let res = scan(seg);
        assert_eq!(res.problem, None);
        for (_, rec) in res.records {
            s.replay(rec);
        }
    }
    s
}

#[test]
fn pristine_and_first_seq() {
    let mut s = stream(StreamLimits::default());
    let st = s.state();
    assert_eq!(
        (
            st.first_seq,
            st.last_seq,
            st.messages,
            st.first_ts_ns,
            st.last_ts_ns
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(pub_ok(&mut s, "a", b"1", T0), 1);
    assert_eq!(pub_ok(&mut s, "a", b"2", T0 + 1), 2);
    let st = s.state();
    assert_eq!((st.first_seq, st.last_seq, st.messages), (1, 2, 2));
    assert_eq!((st.first_ts_ns, st.last_ts_ns), (T0, T0 + 1));

    let mut s = Stream::new("S".into(), StreamLimits::default(), 10);
    assert_eq!((s.state().first_seq, s.state().last_seq), (10, 9));
    assert_eq!(pub_ok(&mut s, "a", b"", T0), 10);
}

#[test]
fn timestamps_never_go_backwards() {
    let mut s = stream(StreamLimits::default());
    pub_ok(&mut s, "a", b"", T0 + 5);
    pub_ok(&mut s, "a", b"", T0);
    assert_eq!(s.get(2).unwrap().ts_ns, T0 + 5);
}

#[test]
fn byte_accounting_matches_the_file_store() {
    assert_eq!(stored_msg_bytes(3, 0, 5), 22 + 3 + 5 + 8);
    assert_eq!(stored_msg_bytes(3, 10, 5), 22 + 3 + 4 + 10 + 5 + 8);
    let mut s = stream(StreamLimits::default());
    pub_ok(&mut s, "a.b", b"hello", T0);
    assert_eq!(s.state().bytes, 38);
    let h = hdrs(&[("X", "y")]);
    stored(s.publish(b"a.b", &h, b"hello", T0));
    assert_eq!(s.state().bytes, 38 + 38 + 4 + h.len() as u64);
    s.delete_msg(1).unwrap();
    assert_eq!(s.state().bytes, 38 + 4 + h.len() as u64);
}

#[test]
fn stored_message_owns_a_compact_copy() {
    let mut s = stream(StreamLimits::default());
    let h = hdrs(&[("Nats-Msg-Id", "abc")]);
    let mut net_buf = h.clone();
    net_buf.extend_from_slice(b"payload");
    stored(s.publish(b"a", &net_buf[..h.len()], &net_buf[h.len()..], T0));
    let m = s.get(1).unwrap().clone();
    assert_eq!(&m.headers[..], &h[..]);
    assert_eq!(&m.payload[..], b"payload");
    net_buf.fill(0);
    assert_eq!(&s.get(1).unwrap().payload[..], b"payload");
    // Same subject shares one allocation with the index.
    pub_ok(&mut s, "a", b"", T0);
    assert_eq!(
        s.get(1).unwrap().subject.as_ptr(),
        s.get(2).unwrap().subject.as_ptr()
    );
}

#[test]
fn publish_errors_have_nats_server_codes_and_texts() {
    struct Case {
        name: &'static str,
        limits: StreamLimits,
        setup: &'static [(&'static str, &'static [(&'static str, &'static str)])],
        subject: &'static str,
        headers: &'static [(&'static str, &'static str)],
        want: Result<u64, StoreError>,
    }
    let rollups = StreamLimits {
        allow_rollup_hdrs: true,
        ..StreamLimits::default()
    };
    let cases = vec![
        Case {
            name: "expected stream mismatch",
            limits: StreamLimits::default(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Expected-Stream", "OTHER")],
            want: Err(StoreError::ExpectedStreamMismatch),
        },
        Case {
            name: "expected stream match",
            limits: StreamLimits::default(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Expected-Stream", "ORDERS")],
            want: Ok(1),
        },
        Case {
            name: "expected last sequence wrong",
            limits: StreamLimits::default(),
            setup: &[("a", &[]), ("b", &[])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Sequence", "1")],
            want: Err(StoreError::WrongLastSequence { last_seq: 2 }),
        },
        Case {
            name: "expected last sequence right",
            limits: StreamLimits::default(),
            setup: &[("a", &[]), ("b", &[])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Sequence", "2")],
            want: Ok(3),
        },
        Case {
            name: "expected last sequence 0 on empty stream",
            limits: StreamLimits::default(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Expected-Last-Sequence", "0")],
            want: Ok(1),
        },
        Case {
            name: "expected last sequence not a number",
            limits: StreamLimits::default(),
            setup: &[("a", &[])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Sequence", "one")],
            want: Err(StoreError::WrongLastSequence { last_seq: 1 }),
        },
        Case {
            name: "expected last subject sequence 0 but subject has messages",
            limits: StreamLimits::default(),
            setup: &[("k", &[]), ("other", &[])],
            subject: "k",
            headers: &[("Nats-Expected-Last-Subject-Sequence", "0")],
            want: Err(StoreError::WrongLastSequence { last_seq: 1 }),
        },
        Case {
            name: "expected last subject sequence 0 on a new subject",
            limits: StreamLimits::default(),
            setup: &[("other", &[])],
            subject: "k",
            headers: &[("Nats-Expected-Last-Subject-Sequence", "0")],
            want: Ok(2),
        },
        Case {
            name: "expected last subject sequence right",
            limits: StreamLimits::default(),
            setup: &[("k", &[]), ("other", &[])],
            subject: "k",
            headers: &[("Nats-Expected-Last-Subject-Sequence", "1")],
            want: Ok(3),
        },
        Case {
            name: "expected last subject sequence with subject override",
            limits: StreamLimits::default(),
            setup: &[("k.1", &[]), ("k.2", &[]), ("z", &[])],
            subject: "k.9",
            headers: &[
                ("Nats-Expected-Last-Subject-Sequence", "1"),
                ("Nats-Expected-Last-Subject-Sequence-Subject", "k.*"),
            ],
            want: Err(StoreError::WrongLastSequence { last_seq: 2 }),
        },
        Case {
            name: "expected last msg id matches",
            limits: StreamLimits::default(),
            setup: &[("a", &[("Nats-Msg-Id", "m1")])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Msg-Id", "m1")],
            want: Ok(2),
        },
        Case {
            name: "expected last msg id wrong",
            limits: StreamLimits::default(),
            setup: &[("a", &[("Nats-Msg-Id", "m1")])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Msg-Id", "m0")],
            want: Err(StoreError::WrongLastMsgId {
                last_id: "m1".into(),
            }),
        },
        Case {
            name: "expected last msg id when last had none",
            limits: StreamLimits::default(),
            setup: &[("a", &[("Nats-Msg-Id", "m1")]), ("a", &[])],
            subject: "a",
            headers: &[("Nats-Expected-Last-Msg-Id", "m1")],
            want: Err(StoreError::WrongLastMsgId { last_id: "".into() }),
        },
        Case {
            name: "rollup without allow_rollup_hdrs",
            limits: StreamLimits::default(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Rollup", "sub")],
            want: Err(StoreError::RollupNotPermitted),
        },
        Case {
            name: "rollup with deny_purge",
            limits: StreamLimits {
                allow_rollup_hdrs: true,
                deny_purge: true,
                ..StreamLimits::default()
            },
            setup: &[],
            subject: "a",
            headers: &[("Nats-Rollup", "all")],
            want: Err(StoreError::RollupNotPermitted),
        },
        Case {
            name: "rollup value invalid",
            limits: rollups.clone(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Rollup", "Some")],
            want: Err(StoreError::RollupInvalid {
                value: "some".into(),
            }),
        },
        Case {
            name: "rollup value is case-insensitive",
            limits: rollups.clone(),
            setup: &[],
            subject: "a",
            headers: &[("Nats-Rollup", "SUB")],
            want: Ok(1),
        },
        Case {
            name: "check order: expected stream before duplicate",
            limits: StreamLimits::default(),
            setup: &[("a", &[("Nats-Msg-Id", "d")])],
            subject: "a",
            headers: &[("Nats-Msg-Id", "d"), ("Nats-Expected-Stream", "X")],
            want: Err(StoreError::ExpectedStreamMismatch),
        },
        Case {
            name: "check order: last subject sequence before last sequence",
            limits: StreamLimits::default(),
            setup: &[("a", &[]), ("b", &[])],
            subject: "a",
            headers: &[
                ("Nats-Expected-Last-Sequence", "9"),
                ("Nats-Expected-Last-Subject-Sequence", "7"),
            ],
            want: Err(StoreError::WrongLastSequence { last_seq: 1 }),
        },
        Case {
            name: "check order: rollup before message size",
            limits: StreamLimits {
                max_msg_size: 1,
                ..StreamLimits::default()
            },
            setup: &[],
            subject: "a",
            headers: &[("Nats-Rollup", "sub")],
            want: Err(StoreError::RollupNotPermitted),
        },
    ];
    for c in cases {
        let mut s = stream(c.limits.clone());
        for (i, (subj, h)) in c.setup.iter().enumerate() {
            stored(s.publish(
                subj.as_bytes(),
                &if h.is_empty() { Vec::new() } else { hdrs(h) },
                b"x",
                T0 + i as u64,
            ));
        }
        let before = s.state();
        let got = pub_h(&mut s, c.subject, c.headers, T0 + 100).map(|o| match o {
            PublishOutcome::Stored { seq, .. } => seq,
            PublishOutcome::Duplicate { seq } => {
                panic!("{}: unexpected duplicate of {seq}", c.name)
            }
        });
        assert_eq!(got, c.want, "{}", c.name);
        if got.is_err() {
            assert_eq!(
                s.state(),
                before,
                "{}: a refused publish changes nothing",
                c.name
            );
        }
    }
}

#[test]
fn duplicate_window_and_its_expiry() {
    let mut s = stream(StreamLimits {
        duplicate_window_ns: 2 * SEC,
        ..StreamLimits::default()
    });
    let id = [("Nats-Msg-Id", "abc")];
    assert_eq!(stored(pub_h(&mut s, "a", &id, T0)).0, 1);
    pub_ok(&mut s, "a", b"", T0);
    assert_eq!(
        pub_h(&mut s, "a", &id, T0 + SEC),
        Ok(PublishOutcome::Duplicate { seq: 1 })
    );
    // Duplicates beat the expected-* checks (they come later in nats-server's order).
    assert_eq!(
        pub_h(
            &mut s,
            "a",
            &[
                ("Nats-Msg-Id", "abc"),
                ("Nats-Expected-Last-Sequence", "99")
            ],
            T0 + SEC
        ),
        Ok(PublishOutcome::Duplicate { seq: 1 })
    );
    assert_eq!(s.state().messages, 2, "a duplicate stores nothing");
    // The window is [ts, ts + window): at exactly ts + window the id is forgotten.
    assert_eq!(
        pub_h(&mut s, "a", &id, T0 + 2 * SEC - 1),
        Ok(PublishOutcome::Duplicate { seq: 1 })
    );
    assert_eq!(stored(pub_h(&mut s, "a", &id, T0 + 2 * SEC)).0, 3);
    assert_eq!(
        pub_h(&mut s, "a", &id, T0 + 3 * SEC),
        Ok(PublishOutcome::Duplicate { seq: 3 })
    );
    // A deleted original is still a duplicate inside the window (nats-server keeps the id).
    s.delete_msg(3).unwrap();
    assert_eq!(
        pub_h(&mut s, "a", &id, T0 + 3 * SEC),
        Ok(PublishOutcome::Duplicate { seq: 3 })
    );
    // expire() also forgets old ids.
    s.expire(T0 + 10 * SEC);
    assert_eq!(stored(pub_h(&mut s, "a", &id, T0 + 10 * SEC)).0, 4);

    // A zero window disables de-duplication.
    let mut s = stream(StreamLimits {
        duplicate_window_ns: 0,
        ..StreamLimits::default()
    });
    stored(pub_h(&mut s, "a", &id, T0));
    assert_eq!(stored(pub_h(&mut s, "a", &id, T0)).0, 2);
}

#[test]
fn message_and_header_size_limits() {
    let mut s = stream(StreamLimits {
        max_msg_size: 10,
        ..StreamLimits::default()
    });
    assert_eq!(
        s.publish(b"a", b"", &[0; 11], T0),
        Err(StoreError::MessageTooLarge)
    );
    assert_eq!(stored(s.publish(b"a", b"", &[0; 10], T0)).0, 1);
    let h = hdrs(&[("A", "12345")]);
    assert_eq!(
        s.publish(b"a", &h, b"", T0),
        Err(StoreError::MessageTooLarge)
    );

    let mut s = stream(StreamLimits::default());
    let mut big = b"NATS/1.0\r\nX: ".to_vec();
    big.resize(MAX_HEADERS_BYTES - 4, b'v');
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(big.len(), MAX_HEADERS_BYTES);
    stored(s.publish(b"a", &big, b"", T0));
    big.insert(12, b'v');
    let long_subject = vec![b's'; MAX_SUBJECT_BYTES + 1];
    assert_eq!(
        s.publish(&long_subject, b"", b"", T0),
        Err(StoreError::MessageTooLarge)
    );
    stored(s.publish(&long_subject[1..], b"", b"", T0));
    assert_eq!(
        s.publish(b"a", &big, b"", T0),
        Err(StoreError::HeadersTooLarge)
    );
}

#[test]
fn discard_old_limits_evict_oldest_first() {
    let mut s = stream(StreamLimits {
        max_msgs: 3,
        ..StreamLimits::default()
    });
    for i in 0..5 {
        pub_ok(&mut s, "a", b"", T0 + i);
    }
    assert_eq!(seqs(&s), vec![3, 4, 5]);
    let (_, effects) = stored(s.publish(b"a", b"", b"", T0 + 9));
    assert_eq!(effects.len(), 2);
    assert!(matches!(
        &effects[0],
        Effect::Append(Record::Message { seq: 6, .. })
    ));
    assert_eq!(
        effects[1],
        Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 4
        })
    );
    assert_eq!(s.state().first_ts_ns, T0 + 3);

    // max_bytes: 3 messages of 38 bytes fit in 120; the 4th evicts the 1st.
    let mut s = stream(StreamLimits {
        max_bytes: 120,
        ..StreamLimits::default()
    });
    for i in 0..4 {
        pub_ok(&mut s, "a.b", b"hello", T0 + i);
    }
    assert_eq!(seqs(&s), vec![2, 3, 4]);
    assert_eq!(s.state().bytes, 114);
    // A message bigger than max_bytes evicts everything, itself included (as nats-server).
    pub_ok(&mut s, "a.b", &[0; 200], T0 + 9);
    let st = s.state();
    assert_eq!(
        (st.messages, st.first_seq, st.last_seq, st.bytes),
        (0, 6, 5, 0)
    );
}

#[test]
fn discard_new_limits_refuse_with_10077() {
    let new = |max_msgs, max_bytes, per, per_subject_refuses| StreamLimits {
        max_msgs,
        max_bytes,
        max_msgs_per_subject: per,
        discard: Discard::New,
        discard_new_per_subject: per_subject_refuses,
        ..StreamLimits::default()
    };
    let mut s = stream(new(2, -1, -1, false));
    pub_ok(&mut s, "a", b"", T0);
    pub_ok(&mut s, "b", b"", T0);
    assert_eq!(
        s.publish(b"c", b"", b"", T0),
        Err(StoreError::MaxMsgsExceeded)
    );
    assert_eq!(seqs(&s), vec![1, 2]);

    // bytes + size >= max_bytes refuses (nats-server's comparison): 31-byte messages, 3 fit in
    // 94 but only 2 in 93.
    let mut s = stream(new(-1, 94, -1, false));
    for _ in 0..3 {
        pub_ok(&mut s, "a", b"", T0);
    }
    assert_eq!(s.state().bytes, 93);
    assert_eq!(
        s.publish(b"a", b"", b"", T0),
        Err(StoreError::MaxBytesExceeded)
    );
    let mut s = stream(new(-1, 93, -1, false));
    pub_ok(&mut s, "a", b"", T0);
    pub_ok(&mut s, "a", b"", T0);
    assert_eq!(
        s.publish(b"a", b"", b"", T0),
        Err(StoreError::MaxBytesExceeded)
    );

    // Per subject with discard_new_per_subject: refused.
    let mut s = stream(new(-1, -1, 1, true));
    pub_ok(&mut s, "k", b"", T0);
    assert_eq!(
        s.publish(b"k", b"", b"", T0),
        Err(StoreError::MaxMsgsPerSubjectExceeded)
    );
    pub_ok(&mut s, "j", b"", T0);

    // Without it, the subject's oldest is evicted even under discard new (KV), and a full
    // stream still accepts a write to a subject at its limit (the count does not grow).
    let mut s = stream(new(2, -1, 1, false));
    pub_ok(&mut s, "k", b"1", T0);
    pub_ok(&mut s, "j", b"1", T0);
    let (seq, effects) = stored(s.publish(b"k", b"", b"2", T0));
    assert_eq!(seq, 3);
    assert_eq!(
        effects[1],
        Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 2
        })
    );
    assert_eq!(seqs(&s), vec![2, 3]);
    assert_eq!(
        s.publish(b"z", b"", b"", T0),
        Err(StoreError::MaxMsgsExceeded)
    );

    // At the subject limit and max_bytes: allowed only if the evicted message is bigger.
    let mut s = stream(new(-1, 100, 1, false));
    pub_ok(&mut s, "k", &[0; 60], T0); // 90 bytes
    assert_eq!(
        s.publish(b"k", b"", &[0; 60], T0),
        Err(StoreError::MaxBytesExceeded)
    );
    pub_ok(&mut s, "k", &[0; 59], T0);
    assert_eq!(seqs(&s), vec![2]);
}

#[test]
fn per_subject_limit_evicts_that_subjects_oldest() {
    let mut s = stream(StreamLimits {
        max_msgs_per_subject: 2,
        ..StreamLimits::default()
    });
    pub_ok(&mut s, "k.a", b"", T0);
    pub_ok(&mut s, "k.b", b"", T0);
    pub_ok(&mut s, "k.a", b"", T0);
    let (_, effects) = stored(s.publish(b"k.a", b"", b"", T0));
    assert_eq!(
        effects[1],
        Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 2
        })
    );
    let (_, effects) = stored(s.publish(b"k.a", b"", b"", T0));
    assert_eq!(effects[1], Effect::Append(Record::Tombstone { seq: 3 }));
    assert_eq!(seqs(&s), vec![2, 4, 5]);
    let mut counts = s.subjects_count(b">");
    counts.sort();
    assert_eq!(
        counts,
        vec![
            (Bytes::from_static(b"k.a"), 2),
            (Bytes::from_static(b"k.b"), 1)
        ]
    );
    assert_eq!(s.state().num_deleted, 1);
    assert_eq!(s.state().deleted, vec![3]);
}

#[test]
fn rollups() {
    let limits = StreamLimits {
        allow_rollup_hdrs: true,
        ..StreamLimits::default()
    };
    let mut s = stream(limits.clone());
    for subj in ["kv.a", "kv.b", "kv.a", "kv.a"] {
        pub_ok(&mut s, subj, b"", T0);
    }
    let (seq, effects) = stored(pub_h(&mut s, "kv.a", &[("Nats-Rollup", "sub")], T0));
    assert_eq!(seq, 5);
    assert_eq!(seqs(&s), vec![2, 5]);
    assert_eq!(
        effects.last(),
        Some(&Effect::Append(Record::Purge {
            filter: Bytes::from_static(b"kv.a"),
            below_seq: 5
        }))
    );

    // `all`: 3 messages + rollup => 1 message, first_seq = rollup seq.
    let mut s = stream(limits);
    for subj in ["a", "b", "c"] {
        pub_ok(&mut s, subj, b"", T0);
    }
    stored(pub_h(&mut s, "d", &[("Nats-Rollup", "all")], T0));
    let st = s.state();
    assert_eq!(
        (st.messages, st.first_seq, st.last_seq, st.num_subjects),
        (1, 4, 4, 1)
    );
}

#[test]
fn max_age_expiry() {
    let mut s = stream(StreamLimits {
        max_age_ns: 10 * SEC,
        ..StreamLimits::default()
    });
    assert_eq!(s.next_expiry_ns(), None);
    pub_ok(&mut s, "a", b"", T0);
    pub_ok(&mut s, "b", b"", T0 + SEC);
    pub_ok(&mut s, "a", b"", T0 + 2 * SEC);
    assert_eq!(s.next_expiry_ns(), Some(T0 + 10 * SEC));
    assert!(s.expire(T0 + 10 * SEC - 1).is_empty());
    // ts <= now - max_age expires.
    let effects = s.expire(T0 + 11 * SEC);
    assert_eq!(
        effects,
        vec![Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 3
        })]
    );
    assert_eq!(seqs(&s), vec![3]);
    assert_eq!(s.next_expiry_ns(), Some(T0 + 12 * SEC));
    s.expire(T0 + 100 * SEC);
    let st = s.state();
    assert_eq!(
        (
            st.messages,
            st.first_seq,
            st.last_seq,
            st.first_ts_ns,
            st.last_ts_ns
        ),
        (0, 4, 3, 0, T0 + 2 * SEC)
    );
    assert!(s.expire(T0 + 200 * SEC).is_empty());
    // No max_age: nothing ever expires.
    let mut s = stream(StreamLimits::default());
    pub_ok(&mut s, "a", b"", 1);
    assert!(s.expire(u64::MAX).is_empty());
}

#[test]
fn purge_variants() {
    fn fill(subjects: &[&str]) -> Stream {
        let mut s = stream(StreamLimits::default());
        for (i, subj) in subjects.iter().enumerate() {
            pub_ok(&mut s, subj, b"", T0 + i as u64);
        }
        s
    }
    let subjects = [
        "ra.a", "ra.b", "ra.c", "rb.a", "ra.a", "ra.b", "rb.a", "ra.c", "ra.a",
    ];

    // Everything: first = last + 1, last and last_ts kept, first_ts zero.
    let mut s = fill(&subjects);
    assert_eq!(s.purge(None, None, None).unwrap().0, 9);
    let st = s.state();
    assert_eq!(
        (
            st.messages,
            st.first_seq,
            st.last_seq,
            st.first_ts_ns,
            st.last_ts_ns
        ),
        (0, 10, 9, 0, T0 + 8)
    );
    assert_eq!(pub_ok(&mut s, "x", b"", T0), 10);

    // By filter (wildcard and literal).
    let mut s = fill(&subjects);
    assert_eq!(s.purge(Some(b"ra.*"), None, None).unwrap().0, 7);
    assert_eq!(seqs(&s), vec![4, 7]);
    assert_eq!(s.purge(Some(b"rb.a"), None, None).unwrap().0, 2);
    assert_eq!((s.state().first_seq, s.state().last_seq), (10, 9));

    // Up to a sequence (jetstream-api.md: 4..9, seq 7 => purged 3, first 7).
    let mut s = fill(&subjects);
    s.purge(Some(b">"), Some(4), None).unwrap();
    assert_eq!(s.purge(None, Some(7), None).unwrap().0, 3);
    assert_eq!(s.state().first_seq, 7);
    // Filter + seq: only matching below seq.
    assert_eq!(s.purge(Some(b"rb.*"), Some(9), None).unwrap().0, 1);
    assert_eq!(seqs(&s), vec![8, 9]);

    // Keep N (unfiltered) and filter + keep (newest N matching in total).
    let mut s = fill(&subjects);
    assert_eq!(s.purge(None, None, Some(4)).unwrap().0, 5);
    assert_eq!(seqs(&s), vec![6, 7, 8, 9]);
    let mut s = fill(&subjects);
    assert_eq!(s.purge(Some(b"ra.*"), None, Some(1)).unwrap().0, 6);
    assert_eq!(seqs(&s), vec![4, 7, 9]);
    assert_eq!(
        s.purge(Some(b"ra.*"), None, Some(1)).unwrap().0,
        0,
        "keep >= matching purges nothing"
    );
    assert_eq!(s.purge(Some(b"rb.a"), None, Some(1)).unwrap().0, 1);
    assert_eq!(seqs(&s), vec![7, 9]);
    // keep >= messages: nothing.
    assert_eq!(s.purge(None, None, Some(2)).unwrap(), (0, Vec::new()));

    // nats-server quirk: unfiltered keep cuts at last_seq - keep + 1, so gaps keep fewer.
    let mut s = fill(&subjects);
    s.delete_msg(8).unwrap();
    assert_eq!(s.purge(None, None, Some(3)).unwrap().0, 6);
    assert_eq!(seqs(&s), vec![7, 9]);

    // Unfiltered seq 1 purges everything (nats-server treats 0 and 1 alike).
    let mut s = fill(&subjects);
    assert_eq!(s.purge(None, Some(1), None).unwrap().0, 9);
    // Seq past the end: the next message gets that sequence.
    let mut s = fill(&subjects);
    let (n, effects) = s.purge(None, Some(100), None).unwrap();
    assert_eq!(n, 9);
    assert_eq!(
        effects,
        vec![Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 100
        })]
    );
    assert_eq!((s.state().first_seq, s.state().last_seq), (100, 99));
    assert_eq!(pub_ok(&mut s, "x", b"", T0), 100);

    // A pristine stream purged reads first 1 / last 0, as nats-server.
    let mut s = stream(StreamLimits::default());
    s.purge(None, None, None).unwrap();
    assert_eq!((s.state().first_seq, s.state().last_seq), (1, 0));
    let mut s = stream(StreamLimits::default());
    s.purge(Some(b"a"), None, None).unwrap();
    assert_eq!((s.state().first_seq, s.state().last_seq), (0, 0));

    // Errors.
    let mut s = fill(&subjects);
    assert_eq!(
        s.purge(None, Some(3), Some(1)),
        Err(StoreError::PurgeSeqAndKeep)
    );
    let mut s = stream(StreamLimits {
        deny_purge: true,
        ..StreamLimits::default()
    });
    assert_eq!(
        s.purge(None, None, None),
        Err(StoreError::PurgeNotPermitted)
    );
    // Some(0) means absent.
    let mut s = fill(&subjects);
    assert_eq!(s.purge(None, Some(0), Some(0)).unwrap().0, 9);
}

#[test]
fn delete_message() {
    let mut s = stream(StreamLimits::default());
    for i in 0..5 {
        pub_ok(&mut s, "a", b"", T0 + i);
    }
    assert_eq!(
        s.delete_msg(3).unwrap(),
        vec![Effect::Append(Record::Tombstone { seq: 3 })]
    );
    assert_eq!(
        s.delete_msg(3),
        Err(StoreError::DeleteMissing {
            seq: 3,
            last_seq: 5
        })
    );
    assert_eq!(
        s.delete_msg(99),
        Err(StoreError::DeleteMissing {
            seq: 99,
            last_seq: 5
        })
    );
    s.delete_msg(5).unwrap();
    let st = s.state();
    assert_eq!(
        (st.messages, st.first_seq, st.last_seq, st.num_deleted),
        (3, 1, 5, 2)
    );
    assert_eq!(st.deleted, vec![3, 5]);
    assert_eq!(
        st.last_ts_ns,
        T0 + 4,
        "last_ts kept when the last message is deleted"
    );
    assert_eq!(s.state_summary().deleted, Vec::<u64>::new());
    assert_eq!(s.state_summary().num_deleted, 2);
    s.delete_msg(1).unwrap();
    assert_eq!((s.state().first_seq, s.state().first_ts_ns), (2, T0 + 1));
    s.delete_msg(2).unwrap();
    s.delete_msg(4).unwrap();
    let st = s.state();
    assert_eq!(
        (st.messages, st.first_seq, st.last_seq, st.num_deleted),
        (0, 6, 5, 0)
    );

    let mut s = stream(StreamLimits {
        deny_delete: true,
        ..StreamLimits::default()
    });
    pub_ok(&mut s, "a", b"", T0);
    assert_eq!(s.delete_msg(1), Err(StoreError::DeleteNotPermitted));
    assert_eq!(s.delete_msg(2), Err(StoreError::DeleteNotPermitted));
}

#[test]
fn lookups_by_sequence_and_subject() {
    let mut s = stream(StreamLimits::default());
    for (i, subj) in ["o.new", "o.old", "o.new", "p.x", "o.old"]
        .iter()
        .enumerate()
    {
        pub_ok(&mut s, subj, format!("{i}").as_bytes(), T0);
    }
    assert_eq!(&s.get(2).unwrap().payload[..], b"1");
    assert!(s.get(0).is_none() && s.get(6).is_none());
    let last = |s: &Stream, f: &str| s.last_by_subject(f.as_bytes()).map(|m| m.seq);
    let next = |s: &Stream, f: &str, from| s.next_by_subject(f.as_bytes(), from).map(|m| m.seq);
    assert_eq!(last(&s, "o.new"), Some(3));
    assert_eq!(last(&s, "o.*"), Some(5));
    assert_eq!(last(&s, "p.>"), Some(4));
    assert_eq!(last(&s, ">"), Some(5));
    assert_eq!(last(&s, ""), Some(5));
    assert_eq!(last(&s, "q"), None);
    assert_eq!(next(&s, "o.new", 0), Some(1));
    assert_eq!(next(&s, "o.new", 2), Some(3));
    assert_eq!(next(&s, "o.new", 4), None);
    assert_eq!(next(&s, "*.old", 3), Some(5));
    assert_eq!(next(&s, ">", 4), Some(4));
    assert_eq!(next(&s, "*.x", 0), Some(4));
    s.delete_msg(3).unwrap();
    assert_eq!(last(&s, "o.new"), Some(1));
    assert_eq!(next(&s, "o.new", 2), None);
    s.delete_msg(5).unwrap();
    assert_eq!(last(&s, ">"), Some(4));
    let mut counts = s.subjects_count(b"o.*");
    counts.sort();
    assert_eq!(
        counts,
        vec![
            (Bytes::from_static(b"o.new"), 1),
            (Bytes::from_static(b"o.old"), 1)
        ]
    );
    assert_eq!(
        s.subjects_count(b"p.x"),
        vec![(Bytes::from_static(b"p.x"), 1)]
    );
    assert_eq!(s.subjects_count(b"nope"), vec![]);
    assert_eq!(s.state().num_subjects, 3);
    assert!(s.has_live_in(1, 2) && !s.has_live_in(5, 9) && !s.has_live_in(3, 1));
}

#[test]
fn time_index_finds_first_sequence_at_or_after() {
    let mut s = stream(StreamLimits::default());
    for (i, ts) in [10u64, 20, 20, 30, 40, 50].iter().enumerate() {
        assert_eq!(pub_ok(&mut s, "a", b"", *ts), i as u64 + 1);
    }
    let at = |s: &Stream, ts| s.first_seq_at_or_after(ts);
    assert_eq!(at(&s, 0), Some(1));
    assert_eq!(at(&s, 10), Some(1));
    assert_eq!(at(&s, 11), Some(2));
    assert_eq!(at(&s, 20), Some(2));
    assert_eq!(at(&s, 21), Some(4));
    assert_eq!(at(&s, 50), Some(6));
    assert_eq!(at(&s, 51), None);
    s.delete_msg(4).unwrap();
    s.delete_msg(2).unwrap();
    assert_eq!(at(&s, 11), Some(3));
    assert_eq!(at(&s, 21), Some(5));
    s.purge(None, Some(6), None).unwrap();
    assert_eq!(at(&s, 0), Some(6));
    s.delete_msg(6).unwrap();
    assert_eq!(at(&s, 0), None);
}

#[test]
fn time_index_stays_small_under_interior_deletes() {
    // One key written once, another updated many times (KV with history 1): the index compacts.
    let mut s = stream(StreamLimits {
        max_msgs_per_subject: 1,
        ..StreamLimits::default()
    });
    pub_ok(&mut s, "kv.pinned", b"", 1);
    for i in 0..20_000 {
        pub_ok(&mut s, "kv.hot", b"", 2 + i);
    }
    assert_eq!(s.len(), 2);
    // At most the active (last) block's slots: no per-message time index left behind.
    assert!(
        s.msgs.index_heap_bytes() < 256 * 1024,
        "message map holds {} bytes",
        s.msgs.index_heap_bytes()
    );
    assert_eq!(s.first_seq_at_or_after(0), Some(1));
    assert_eq!(s.first_seq_at_or_after(2), Some(20_001));
}

#[test]
fn set_limits_applies_new_limits() {
    let mut s = stream(StreamLimits::default());
    for i in 0..6 {
        pub_ok(&mut s, if i % 2 == 0 { "a" } else { "b" }, b"", T0 + i);
    }
    let effects = s.set_limits(StreamLimits {
        max_msgs: 4,
        ..StreamLimits::default()
    });
    assert_eq!(
        effects,
        vec![Effect::Append(Record::Purge {
            filter: Bytes::new(),
            below_seq: 3
        })]
    );
    assert_eq!(seqs(&s), vec![3, 4, 5, 6]);
    // Discard new: lowering max_msgs keeps what is there.
    assert!(s
        .set_limits(StreamLimits {
            max_msgs: 1,
            discard: Discard::New,
            ..StreamLimits::default()
        })
        .is_empty());
    assert_eq!(s.len(), 4);
    // Per-subject limit applies under either policy, as one purge record per subject.
    let mut effects = s.set_limits(StreamLimits {
        max_msgs_per_subject: 1,
        discard: Discard::New,
        ..StreamLimits::default()
    });
    effects.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        effects,
        vec![
            Effect::Append(Record::Purge {
                filter: Bytes::from_static(b"a"),
                below_seq: 5
            }),
            Effect::Append(Record::Purge {
                filter: Bytes::from_static(b"b"),
                below_seq: 6
            }),
        ]
    );
    assert_eq!(seqs(&s), vec![5, 6]);
}

#[test]
fn replay_rebuilds_the_same_state() {
    let limits = StreamLimits {
        max_msgs_per_subject: 2,
        allow_rollup_hdrs: true,
        ..StreamLimits::default()
    };
    let mut s = stream(limits.clone());
    let mut seg = Vec::new();
    persist(&mut seg, &[Effect::Append(s.checkpoint_record())]);
    for i in 0..10u64 {
        let subj = ["k.a", "k.b", "k.c"][(i % 3) as usize];
        let h = hdrs(&[("Nats-Msg-Id", &format!("id{i}"))]);
        let (_, e) = stored(s.publish(subj.as_bytes(), &h, b"v", T0 + i));
        persist(&mut seg, &e);
    }
    persist(&mut seg, &s.delete_msg(8).unwrap());
    let (_, e) = stored(pub_h(&mut s, "k.a", &[("Nats-Rollup", "sub")], T0 + 20));
    persist(&mut seg, &e);
    persist(&mut seg, &s.purge(Some(b"k.b"), None, None).unwrap().1);

    let r = recover("ORDERS", limits, 0, &[&seg]);
    assert_eq!(r.state(), s.state());
    for seq in 0..=s.last_seq() + 1 {
        assert_eq!(r.get(seq), s.get(seq), "seq {seq}");
    }
    assert_eq!(r.last_msg_id, s.last_msg_id);
    let mut a = r.subjects_count(b">");
    let mut b = s.subjects_count(b">");
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // De-duplication survives the restart.
    let mut r = r;
    assert_eq!(
        pub_h(&mut r, "k.c", &[("Nats-Msg-Id", "id3")], T0 + 30),
        Ok(PublishOutcome::Duplicate { seq: 4 })
    );
}

#[test]
fn checkpoint_keeps_sequences_when_old_segments_are_deleted() {
    let mut s = stream(StreamLimits::default());
    let mut seg1 = Vec::new();
    persist(&mut seg1, &[Effect::Append(s.checkpoint_record())]);
    for i in 0..5 {
        let (_, e) = stored(s.publish(b"a", b"", b"x", T0 + i));
        persist(&mut seg1, &e);
    }
    persist(&mut seg1, &s.purge(None, None, None).unwrap().1);
    // Roll: the new segment starts with a checkpoint; seg1 holds only dead messages and goes.
    let mut seg2 = Vec::new();
    persist(&mut seg2, &[Effect::Append(s.checkpoint_record())]);
    let r = recover("ORDERS", StreamLimits::default(), 0, &[&seg2]);
    assert_eq!(r.state(), s.state());
    assert_eq!(r.state().last_ts_ns, T0 + 4);
    let mut r = r;
    assert_eq!(pub_ok(&mut r, "a", b"", T0 + 10), 6);

    // Deleting the last message, then rolling and dropping the old segment.
    let mut s = stream(StreamLimits::default());
    let mut seg1 = Vec::new();
    for i in 0..3 {
        let (_, e) = stored(s.publish(b"a", b"", b"x", T0 + i));
        persist(&mut seg1, &e);
    }
    persist(&mut seg1, &s.delete_msg(3).unwrap());
    let mut seg2 = Vec::new();
    persist(&mut seg2, &[Effect::Append(s.checkpoint_record())]);
    persist(&mut seg2, &s.delete_msg(1).unwrap());
    persist(&mut seg2, &s.delete_msg(2).unwrap());
    let r = recover("ORDERS", StreamLimits::default(), 0, &[&seg2]);
    assert_eq!(r.state(), s.state());
    assert_eq!((r.state().first_seq, r.state().last_seq), (4, 3));
}

#[test]
fn replay_ignores_records_that_no_longer_apply() {
    let mut s = stream(StreamLimits::default());
    s.replay(RecordRef::Tombstone { seq: 5 });
    s.replay(RecordRef::Purge {
        filter: b"a.*",
        below_seq: 9,
    });
    let st = s.state();
    assert_eq!(
        (st.messages, st.first_seq, st.last_seq),
        (0, 1, 0),
        "a removal record marks the stream emptied"
    );
    let m = MessageRef {
        seq: 3,
        ts_ns: T0,
        subject: b"a",
        headers: b"",
        payload: b"p",
    };
    s.replay(RecordRef::Message(m));
    s.replay(RecordRef::Message(MessageRef { seq: 2, ..m }));
    assert_eq!(seqs(&s), vec![3]);
    assert_eq!(s.state().first_seq, 3);
}

/// True when `b` points into `owner`'s bytes.
fn inside(b: &Bytes, owner: &Bytes) -> bool {
    let r = owner.as_ptr_range();
    !b.is_empty() && r.contains(&b.as_ptr())
}

#[test]
fn bulk_shared_replay_matches_record_by_record_replay() {
    let limits = StreamLimits {
        max_msgs_per_subject: 3,
        ..StreamLimits::default()
    };
    let mut s = stream(limits.clone());
    let mut seg = Vec::new();
    for i in 0..200u64 {
        let subject = format!("k.{}", i % 7);
        let effects = if i % 5 == 0 {
            let h = hdrs(&[("Nats-Msg-Id", &format!("id-{i}"))]);
            stored(s.publish(subject.as_bytes(), &h, b"with headers", T0 + i)).1
        } else {
            stored(s.publish(subject.as_bytes(), b"", format!("p{i}").as_bytes(), T0 + i)).1
        };
        persist(&mut seg, &effects);
        if i % 40 == 39 {
            let live = seqs(&s);
            persist(&mut seg, &s.delete_msg(live[live.len() / 2]).unwrap());
        }
    }
    let one_by_one = recover("ORDERS", limits.clone(), 0, &[&seg]);
    let owner = Bytes::from(seg.clone());
    let mut bulk = Stream::new("ORDERS".to_string(), limits, 0);
    bulk.replay_all(
        scan(&owner).records.into_iter().map(|(_, r)| r),
        Some(&owner),
    );
    assert_eq!(bulk.state(), one_by_one.state());
    assert_eq!(bulk.state(), s.state());
    let all: Vec<StoredMsg> = bulk.range_from(0).collect();
    assert_eq!(all, one_by_one.range_from(0).collect::<Vec<_>>());
    assert!(
        all.iter().all(|m| inside(&m.payload, &owner)),
        "bodies are slices of the segment"
    );
    assert!(
        all.iter().all(|m| inside(&m.subject, &owner)),
        "recovered messages are read from the segment, subjects too"
    );
    // Dedupe state came back too.
    let h = hdrs(&[("Nats-Msg-Id", "id-195")]);
    assert!(matches!(
        bulk.publish(b"k.6", &h, b"again", T0 + 300),
        Ok(PublishOutcome::Duplicate { .. })
    ));

    // A live stream re-points its in-memory bodies at the sealed segment's bytes.
    let before: Vec<StoredMsg> = s.range_from(0).collect();
    let index: Vec<(u64, u64)> = scan(&owner)
        .records
        .into_iter()
        .filter_map(|(off, r)| match r {
            RecordRef::Message(m) => Some((m.seq, off)),
            _ => None,
        })
        .collect();
    // The last entry claims an offset past the end: left in memory.
    let mut bad = index.clone();
    let last_seq = bad.last().unwrap().0;
    bad.last_mut().unwrap().1 = owner.len() as u64;
    let rebased = s.rebase_bodies(&owner, &bad);
    assert_eq!(rebased as usize, before.len() - 1);
    let after: Vec<StoredMsg> = s.range_from(0).collect();
    assert_eq!(after, before, "same messages, now backed by the segment");
    for m in &after {
        assert_eq!(
            inside(&m.payload, &owner),
            m.seq != last_seq,
            "seq {}",
            m.seq
        );
        assert!(m.headers.is_empty() || inside(&m.headers, &owner) == (m.seq != last_seq));
    }
    assert_eq!(s.rebase_bodies(&owner, &index), before.len() as u64);
}

#[test]
fn sealed_refuses_every_write_first_and_still_reads() {
    let mut s = stream(StreamLimits::default());
    for now in 1..=3 {
        pub_ok(&mut s, "a", b"x", now);
    }
    // Sealing as nats-server applies it: deny delete and purge too.
    s.set_limits(StreamLimits {
        sealed: true,
        deny_delete: true,
        deny_purge: true,
        discard: Discard::New,
        ..StreamLimits::default()
    });
    let sealed = StoreError::Sealed;
    assert_eq!(s.publish(b"a", &[], b"y", 4).unwrap_err(), sealed);
    let id = hdrs(&[("Nats-Msg-Id", "m")]);
    assert_eq!(s.publish(b"a", &id, b"y", 4).unwrap_err(), sealed);
    assert_eq!(s.delete_msg(1).unwrap_err(), sealed);
    assert_eq!(s.delete_msg(99).unwrap_err(), sealed);
    assert_eq!(s.purge(None, None, None).unwrap_err(), sealed);
    assert_eq!(s.purge(Some(b"a"), None, Some(1)).unwrap_err(), sealed);
    // A malformed purge is a bad request before anything else.
    assert_eq!(
        s.purge(None, Some(2), Some(1)).unwrap_err(),
        StoreError::PurgeSeqAndKeep
    );
    assert_eq!(seqs(&s), vec![1, 2, 3]);
    assert_eq!(s.get(2).map(|m| m.seq), Some(2));
}

#[test]
fn forgotten_refused_messages_free_their_ids_and_sequences() {
    let mut s = stream(StreamLimits {
        duplicate_window_ns: 60 * SEC,
        ..StreamLimits::default()
    });
    stored(pub_h(&mut s, "a", &[("Nats-Msg-Id", "one")], SEC));
    stored(pub_h(&mut s, "a", &[("Nats-Msg-Id", "two")], 2 * SEC));
    stored(pub_h(&mut s, "b", &[("Nats-Msg-Id", "three")], 3 * SEC));
    // The tail is refused: gone, ids forgotten, sequences reused.
    assert_eq!(s.forget_refused(2, 3), 2);
    assert_eq!((seqs(&s), s.last_seq()), (vec![1], 1));
    assert_eq!(s.state_summary().messages, 1);
    assert!(s.last_by_subject(b"b").is_none());
    let (seq, _) = stored(pub_h(&mut s, "a", &[("Nats-Msg-Id", "two")], 4 * SEC));
    assert_eq!(seq, 2, "a retry is stored under the freed sequence");
    assert!(matches!(
        pub_h(&mut s, "a", &[("Nats-Msg-Id", "one")], 5 * SEC),
        Ok(PublishOutcome::Duplicate { seq: 1 })
    ));
    // The expected last message id goes back with the last sequence.
    pub_ok(&mut s, "c", b"p", 6 * SEC);
    assert_eq!(s.forget_refused(3, 3), 1);
    assert!(pub_h(
        &mut s,
        "a",
        &[("Nats-Expected-Last-Msg-Id", "two")],
        7 * SEC
    )
    .is_ok());
    // Messages assigned after the refused ones keep theirs: a gap, no reuse.
    pub_ok(&mut s, "d", b"p", 8 * SEC);
    pub_ok(&mut s, "e", b"p", 9 * SEC);
    assert_eq!(s.forget_refused(4, 4), 1);
    assert_eq!((seqs(&s), s.last_seq()), (vec![1, 2, 3, 5], 5));
    // Everything refused: empty, and the next message is the first again.
    let mut e = stream(StreamLimits::default());
    pub_ok(&mut e, "a", b"p", SEC);
    assert_eq!(e.forget_refused(1, 1), 1);
    let st = e.state_summary();
    assert_eq!((st.messages, st.last_seq), (0, 0));
    assert_eq!(pub_ok(&mut e, "a", b"q", 2 * SEC), 1);
}
