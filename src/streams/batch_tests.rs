//! The batch staging machine, driven with a hand-held clock.

use super::*;

const SEC: u64 = 1_000_000_000;

fn hdrs(id: &str, seq: &str, commit: Option<&str>) -> Vec<u8> {
    let mut h = format!("NATS/1.0\r\nNats-Batch-Id: {id}\r\nNats-Batch-Sequence: {seq}\r\n");
    if let Some(c) = commit {
        h.push_str(&format!("Nats-Batch-Commit: {c}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn msg<'a>(slot: u32, id: &'a str, h: &'a [u8], payload: &'a [u8]) -> Incoming<'a> {
    Incoming {
        slot,
        created_ns: 7,
        id: id.as_bytes(),
        subject: b"orders.new",
        headers: h,
        payload,
    }
}

/// Sends message `seq` of batch `id` on stream 0.
fn send(b: &mut Batches, id: &str, seq: u64, commit: Option<&str>, now: u64) -> Step {
    let h = hdrs(id, &seq.to_string(), commit);
    b.on_message(msg(0, id, &h, b"p"), 1, now)
}

#[test]
fn stages_until_commit_then_hands_over_every_message_in_order() {
    let mut b = Batches::new(BatchLimits::default());
    assert_eq!(send(&mut b, "a", 1, None, 0), Step::Staged);
    assert_eq!(send(&mut b, "a", 2, None, 1), Step::Staged);
    assert_eq!(b.open_count(), 1);
    let Step::Commit(msgs) = send(&mut b, "a", 3, Some("1"), 2) else {
        panic!("no commit")
    };
    assert_eq!(msgs.len(), 3);
    for (i, m) in msgs.iter().enumerate() {
        let seq = (i + 1).to_string();
        assert_eq!(headers::get(&m.headers, BATCH_SEQ), Some(seq.as_bytes()));
        assert_eq!(&m.payload[..], b"p");
        assert_eq!(&m.subject[..], b"orders.new");
    }
    assert_eq!(
        headers::get(&msgs[2].headers, BATCH_COMMIT),
        Some(&b"1"[..])
    );
    assert_eq!(b.open_count(), 0);
    // The id can start again after its commit.
    assert!(matches!(send(&mut b, "a", 1, Some("1"), 3), Step::Commit(m) if m.len() == 1));
}

#[test]
fn eob_is_not_stored_and_the_last_message_gets_the_commit_header() {
    let mut b = Batches::new(BatchLimits::default());
    send(&mut b, "e", 1, None, 0);
    let Step::Commit(msgs) = send(&mut b, "e", 2, Some("eob"), 0) else {
        panic!("no commit")
    };
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        &msgs[0].headers[..],
        b"NATS/1.0\r\nNats-Batch-Id: e\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n\r\n"
    );
    // A batch of only `eob` is incomplete.
    assert_eq!(
        send(&mut b, "f", 1, Some("eob"), 0),
        Step::Refused(BatchError::Incomplete)
    );
    assert_eq!(b.open_count(), 0);
}

#[test]
fn a_gap_drops_the_batch_and_later_messages_are_incomplete() {
    let mut b = Batches::new(BatchLimits::default());
    assert_eq!(
        send(&mut b, "g", 2, None, 0),
        Step::Refused(BatchError::Incomplete)
    );
    assert_eq!(b.open_count(), 0);
    send(&mut b, "g", 1, None, 0);
    assert_eq!(
        send(&mut b, "g", 3, None, 0),
        Step::Refused(BatchError::Incomplete)
    );
    assert_eq!(
        send(&mut b, "g", 2, Some("1"), 0),
        Step::Refused(BatchError::Incomplete)
    );
    assert_eq!(b.open_count(), 0);
    // A repeated sequence is a gap too.
    send(&mut b, "h", 1, None, 0);
    assert_eq!(
        send(&mut b, "h", 1, None, 0),
        Step::Refused(BatchError::Incomplete)
    );
}

#[test]
fn header_refusals_in_nats_server_order() {
    let mut b = Batches::new(BatchLimits::default());
    let long = "x".repeat(65);
    let h = hdrs(&long, "1", None);
    assert_eq!(
        b.on_message(msg(0, &long, &h, b""), 1, 0),
        Step::Refused(BatchError::InvalidId)
    );
    let ok_64 = "y".repeat(64);
    assert_eq!(send(&mut b, &ok_64, 1, None, 0), Step::Staged);
    for bad in ["", "abc", "-1", "1.0", "18446744073709551616"] {
        let h = hdrs("s", bad, None);
        assert_eq!(
            b.on_message(msg(0, "s", &h, b""), 1, 0),
            Step::Refused(BatchError::MissingSeq),
            "{bad:?}"
        );
    }
    let h = b"NATS/1.0\r\nNats-Batch-Id: s\r\n\r\n".to_vec();
    assert_eq!(
        b.on_message(msg(0, "s", &h, b""), 1, 0),
        Step::Refused(BatchError::MissingSeq)
    );
    // An unknown commit value drops the batch.
    send(&mut b, "c", 1, None, 0);
    assert_eq!(
        send(&mut b, "c", 2, Some("yes"), 0),
        Step::Refused(BatchError::InvalidCommit)
    );
    assert_eq!(
        send(&mut b, "c", 3, Some("1"), 0),
        Step::Refused(BatchError::Incomplete)
    );
    // ... but a fresh id past 1 is incomplete first.
    assert_eq!(
        send(&mut b, "d", 2, Some("yes"), 0),
        Step::Refused(BatchError::Incomplete)
    );
    // Sequence 0 is never a start.
    assert_eq!(
        send(&mut b, "z", 0, None, 0),
        Step::Refused(BatchError::Incomplete)
    );
}

#[test]
fn size_limit_counts_messages_but_not_eob() {
    let limits = BatchLimits {
        max_size: 3,
        ..BatchLimits::default()
    };
    let mut b = Batches::new(limits);
    assert_eq!(
        send(&mut b, "k", 4, None, 0),
        Step::Refused(BatchError::TooLarge(3))
    );
    assert_eq!(
        send(&mut b, "k", 4, Some("eob"), 0),
        Step::Refused(BatchError::Incomplete)
    );
    for seq in 1..=3 {
        assert_eq!(send(&mut b, "k", seq, None, 0), Step::Staged);
    }
    assert!(matches!(send(&mut b, "k", 4, Some("eob"), 0), Step::Commit(m) if m.len() == 3));
    for seq in 1..=3 {
        send(&mut b, "l", seq, None, 0);
    }
    assert_eq!(
        send(&mut b, "l", 4, Some("1"), 0),
        Step::Refused(BatchError::TooLarge(3))
    );
    assert_eq!(b.open_count(), 0);
}

#[test]
fn inflight_limits_per_stream_and_in_all() {
    let limits = BatchLimits {
        max_inflight_per_stream: 2,
        max_inflight_total: 3,
        ..BatchLimits::default()
    };
    let mut b = Batches::new(limits);
    let h = hdrs("a", "1", None);
    assert_eq!(b.on_message(msg(0, "a", &h, b""), 1, 0), Step::Staged);
    let h = hdrs("b", "1", None);
    assert_eq!(b.on_message(msg(0, "b", &h, b""), 1, 0), Step::Staged);
    let h = hdrs("c", "1", None);
    assert_eq!(
        b.on_message(msg(0, "c", &h, b""), 1, 0),
        Step::Refused(BatchError::TooManyInflight)
    );
    // Another stream has its own allowance, within the total.
    assert_eq!(b.on_message(msg(1, "c", &h, b""), 1, 0), Step::Staged);
    let h = hdrs("d", "1", None);
    assert_eq!(
        b.on_message(msg(2, "d", &h, b""), 1, 0),
        Step::Refused(BatchError::TooManyInflight)
    );
    // Ids are per stream; an open batch takes more messages at the limit.
    let h = hdrs("a", "2", None);
    assert_eq!(b.on_message(msg(0, "a", &h, b""), 1, 0), Step::Staged);
    b.drop_stream(0);
    assert_eq!(b.open_count(), 1);
    let h = hdrs("d", "1", None);
    assert_eq!(b.on_message(msg(2, "d", &h, b""), 1, 0), Step::Staged);
}

#[test]
fn a_batch_without_a_message_for_the_timeout_is_abandoned() {
    let mut b = Batches::new(BatchLimits::default());
    send(&mut b, "t", 1, None, 0);
    send(&mut b, "t", 2, None, 9 * SEC);
    // The timer restarts with every message.
    assert!(b.handle_tick(18 * SEC).is_empty());
    assert_eq!(b.handle_tick(19 * SEC), vec![(0, Bytes::from_static(b"t"))]);
    assert_eq!(
        send(&mut b, "t", 3, Some("1"), 19 * SEC),
        Step::Refused(BatchError::Incomplete)
    );
    // Due but not yet swept by a tick: abandoned all the same.
    send(&mut b, "u", 1, None, 20 * SEC);
    assert_eq!(
        send(&mut b, "u", 2, Some("1"), 30 * SEC),
        Step::Refused(BatchError::Incomplete)
    );
    assert_eq!(b.open_count(), 0);
}

#[test]
fn a_batch_does_not_outlive_its_stream() {
    let mut b = Batches::new(BatchLimits::default());
    send(&mut b, "r", 1, None, 0);
    let h = hdrs("r", "2", Some("1"));
    let mut m = msg(0, "r", &h, b"");
    m.created_ns = 8; // another stream in the same slot
    assert_eq!(b.on_message(m, 1, 0), Step::Refused(BatchError::Incomplete));
    assert_eq!(b.open_count(), 0);
}

#[test]
fn required_api_level_refuses_above_and_is_not_stored() {
    let mut b = Batches::new(BatchLimits::default());
    let h = b"NATS/1.0\r\nNats-Batch-Id: q\r\nNats-Batch-Sequence: 1\r\nNats-Required-Api-Level: 2\r\n\r\n";
    assert_eq!(
        b.on_message(msg(0, "q", h, b""), 1, 0),
        Step::Refused(BatchError::RequiredApiLevel)
    );
    assert_eq!(b.open_count(), 0);
    let h = b"NATS/1.0\r\nNats-Batch-Id: q\r\nNats-Required-Api-Level: 1\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n\r\n";
    let Step::Commit(msgs) = b.on_message(msg(0, "q", h, b""), 1, 0) else {
        panic!("no commit")
    };
    assert_eq!(
        &msgs[0].headers[..],
        b"NATS/1.0\r\nNats-Batch-Id: q\r\nNats-Batch-Sequence: 1\r\nNats-Batch-Commit: 1\r\n\r\n"
    );
}

#[test]
fn header_edits_match_nats_server() {
    assert_eq!(
        remove_header(b"NATS/1.0\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n", b"A"),
        b"NATS/1.0\r\nB: 2\r\n\r\n"
    );
    assert!(remove_header(b"NATS/1.0\r\nA: 1\r\n\r\n", b"A").is_empty());
    assert_eq!(
        add_header(b"NATS/1.0\r\nB: 2\r\n\r\n", b"C", b"1"),
        b"NATS/1.0\r\nB: 2\r\nC: 1\r\n\r\n"
    );
    assert_eq!(add_header(b"", b"C", b"1"), b"NATS/1.0\r\nC: 1\r\n\r\n");
    assert_eq!(batch_id(b"NATS/1.0\r\nNats-Batch-Id:\r\n\r\n"), None);
    assert_eq!(batch_id(b""), None);
    assert_eq!(
        batch_id(b"NATS/1.0\r\nNats-Batch-Id: x\r\n\r\n"),
        Some(&b"x"[..])
    );
}
