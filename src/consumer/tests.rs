//! Consumer state machine tests against a real (in-memory) `Stream`.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::store::{Stream, StreamLimits};

const SEC: u64 = 1_000_000_000;

fn stream_with(n: u64) -> Stream {
    let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
    for i in 0..n {
        let subj = format!("s.{}", i % 3);
        s.publish(subj.as_bytes(), b"", format!("m{i}").as_bytes(), 1_000 + i)
            .unwrap();
    }
    s
}

fn params(ack: AckMode) -> Params {
    Params {
        stream: "S".into(),
        name: "C".into(),
        ack,
        ack_wait_ns: 30 * SEC,
        backoff_ns: Vec::new(),
        max_deliver: None,
        max_ack_pending: None,
        filters: Vec::new(),
        push: None,
        max_waiting: 512,
        headers_only: false,
        replay_original: false,
        ack_sample_percent: 0,
        paused_until_ns: 0,
        priority: Default::default(),
    }
}

fn start_all() -> Start {
    Start {
        from_seq: 1,
        initial: Vec::new(),
    }
}

fn pull(batch: u64) -> PullSpec {
    PullSpec {
        batch,
        ..PullSpec::default()
    }
}

fn inbox() -> Bytes {
    Bytes::from_static(b"_INBOX.1")
}

/// (stream seq, delivery count, consumer seq, pending) of one delivery.
type Delivery = (u64, u64, u64, u64);

/// Every delivery, and statuses as text.
fn drain(c: &mut Consumer) -> (Vec<Delivery>, Vec<String>) {
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    let mut d = Vec::new();
    let mut st = Vec::new();
    for o in out {
        match o {
            Output::Deliver { ack_reply, .. } => {
                let s = std::str::from_utf8(&ack_reply).unwrap().to_owned();
                let t: Vec<u64> = s.split('.').skip(4).map(|x| x.parse().unwrap()).collect();
                d.push((t[1], t[0], t[2], t[4]));
            }
            Output::Status { headers, .. } => {
                let h = String::from_utf8(headers).unwrap();
                st.push(h.lines().next().unwrap().to_owned());
            }
            Output::MaxDeliveries { stream_seq, .. } => st.push(format!("maxdeliver {stream_seq}")),
            Output::Terminated { stream_seq, .. } => st.push(format!("term {stream_seq}")),
            Output::Done { .. } | Output::Naked { .. } | Output::AckSampled { .. } => {}
            Output::Pinned { .. } | Output::Unpinned { .. } => {}
        }
    }
    (d, st)
}

fn ack_of(seq: u64) -> AckReply<'static> {
    AckReply {
        stream: "S",
        consumer: "C",
        delivered: 1,
        stream_seq: seq,
        consumer_seq: 0,
    }
}

#[test]
fn pull_batch_delivers_in_order_with_pending_counts() {
    let s = stream_with(5);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    c.on_pull(inbox(), pull(3), 0, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert_eq!(d, vec![(1, 1, 1, 4), (2, 1, 2, 3), (3, 1, 3, 2)]);
    assert!(st.is_empty());
    assert_eq!(c.num_ack_pending(), 3);
    assert_eq!(c.num_pending(&s), 2);
    assert_eq!(c.num_waiting(), 0);
}

#[test]
fn waiting_request_is_served_when_a_message_arrives() {
    let mut s = stream_with(0);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    c.on_pull(inbox(), pull(2), 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![]);
    assert_eq!(c.num_waiting(), 1);
    s.publish(b"s.1", b"", b"x", 5).unwrap();
    c.poll(10, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(1, 1, 1, 0)]);
    assert_eq!(c.num_waiting(), 1);
}

#[test]
fn no_wait_and_expiry_statuses() {
    let s = stream_with(1);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    let spec = PullSpec {
        batch: 5,
        no_wait: true,
        ..PullSpec::default()
    };
    c.on_pull(inbox(), spec, 0, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert_eq!(d.len(), 1);
    assert_eq!(st, vec!["NATS/1.0 404 No Messages"]);
    let spec = PullSpec {
        batch: 2,
        expires_ns: SEC,
        ..PullSpec::default()
    };
    c.on_pull(inbox(), spec, 0, &mut Everyone(true), &s);
    c.tick(SEC / 2, &mut Everyone(true), &s);
    assert!(drain(&mut c).1.is_empty());
    c.tick(SEC, &mut Everyone(true), &s);
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    match &out[..] {
        [Output::Status { headers, .. }] => assert_eq!(
            &headers[..],
            b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ack_wait_redelivers_until_max_deliver() {
    let s = stream_with(1);
    let mut p = params(AckMode::Explicit);
    p.ack_wait_ns = SEC;
    p.max_deliver = Some(2);
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(1, 1, 1, 0)]);
    c.tick(SEC - 1, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty());
    c.tick(SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(1, 2, 2, 0)]);
    assert_eq!(c.num_redelivered(), 1);
    c.tick(2 * SEC, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert!(d.is_empty());
    assert_eq!(st, vec!["maxdeliver 1"]);
    assert_eq!(c.num_ack_pending(), 0);
    assert_eq!(c.ack_floor(), (2, 1));
}

#[test]
fn nak_with_delay_and_backoff() {
    let s = stream_with(2);
    let mut p = params(AckMode::Explicit);
    p.backoff_ns = vec![SEC, 5 * SEC];
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(1), 0, &mut Everyone(true), &s);
    drain(&mut c);
    c.on_ack(
        &ack_of(1),
        &AckKind::Nak {
            delay_ns: Some(3 * SEC),
        },
        None,
        0,
        &mut Everyone(true),
        &s,
    );
    c.on_pull(inbox(), pull(1), 0, &mut Everyone(true), &s);
    // The waiting request takes the next new message, not the delayed one.
    assert_eq!(drain(&mut c).0, vec![(2, 1, 2, 0)]);
    // Seq 2 was delivered at 0 with backoff[0] = 1 s; seq 1 was naked with a 3 s delay.
    c.on_pull(inbox(), pull(1), 0, &mut Everyone(true), &s);
    c.tick(SEC / 2, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty());
    c.tick(2 * SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(2, 2, 3, 0)]);
    c.on_pull(inbox(), pull(1), 2 * SEC, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty(), "the nak delay holds seq 1");
    c.tick(3 * SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(1, 2, 4, 0)]);
    // Second redelivery of seq 2 waits backoff[1] = 5 s after its last delivery (2 s).
    c.on_pull(inbox(), pull(1), 3 * SEC, &mut Everyone(true), &s);
    c.tick(6 * SEC, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty());
    c.tick(7 * SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(2, 3, 5, 0)]);
}

#[test]
fn ack_all_acks_everything_below() {
    let s = stream_with(4);
    let mut c = Consumer::new(params(AckMode::All), start_all(), 0);
    c.on_pull(inbox(), pull(4), 0, &mut Everyone(true), &s);
    drain(&mut c);
    assert!(c.on_ack(&ack_of(3), &AckKind::Ack, None, 0, &mut Everyone(true), &s));
    assert_eq!(c.num_ack_pending(), 1);
    assert_eq!(c.ack_floor(), (3, 3));
}

#[test]
fn term_and_progress() {
    let s = stream_with(2);
    let mut p = params(AckMode::Explicit);
    p.ack_wait_ns = SEC;
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(2), 0, &mut Everyone(true), &s);
    drain(&mut c);
    c.on_ack(
        &ack_of(1),
        &AckKind::Term {
            reason: "bad".into(),
        },
        None,
        0,
        &mut Everyone(true),
        &s,
    );
    c.on_ack(
        &ack_of(2),
        &AckKind::Progress,
        None,
        SEC / 2,
        &mut Everyone(true),
        &s,
    );
    c.on_pull(inbox(), pull(1), SEC / 2, &mut Everyone(true), &s);
    c.tick(SEC, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert!(d.is_empty(), "progress postponed the redelivery: {d:?}");
    assert_eq!(st, vec!["term 1"]);
    c.tick(SEC + SEC / 2, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(2, 2, 3, 0)]);
}

#[test]
fn max_ack_pending_holds_new_deliveries() {
    let s = stream_with(5);
    let mut p = params(AckMode::Explicit);
    p.max_ack_pending = Some(2);
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(5), 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 2);
    c.on_ack(&ack_of(1), &AckKind::Ack, None, 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0, vec![(3, 1, 3, 2)]);
}

#[test]
fn filters_and_last_per_subject_start() {
    let s = stream_with(9); // s.0: 1,4,7  s.1: 2,5,8  s.2: 3,6,9
    let mut p = params(AckMode::None);
    p.filters = vec![Bytes::from_static(b"s.1")];
    let mut c = Consumer::new(p, start_all(), 0);
    assert_eq!(c.num_pending(&s), 3);
    c.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    let seqs: Vec<u64> = drain(&mut c).0.iter().map(|d| d.0).collect();
    assert_eq!(seqs, vec![2, 5, 8]);
    let start = Start {
        from_seq: s.last_seq() + 1,
        initial: s.last_per_subject(&[]),
    };
    let mut c = Consumer::new(params(AckMode::None), start, 0);
    assert_eq!(c.num_pending(&s), 3);
    c.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    let d = drain(&mut c).0;
    assert_eq!(d, vec![(7, 1, 1, 2), (8, 1, 2, 1), (9, 1, 3, 0)]);
}

#[test]
fn push_waits_for_interest_and_sends_heartbeats() {
    let s = stream_with(2);
    let mut p = params(AckMode::None);
    p.push = Some(PushParams {
        deliver_subject: Bytes::from_static(b"dlv"),
        flow_control: false,
        idle_heartbeat_ns: SEC,
        rate_limit_bps: 0,
        rate_burst_bytes: 0,
    });
    let mut c = Consumer::new(p, start_all(), 0);
    assert!(c.awaiting_interest());
    c.poll(0, &mut Everyone(false), &s);
    assert!(drain(&mut c).0.is_empty());
    assert!(c.awaiting_interest());
    c.poll(1, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 2);
    assert!(!c.awaiting_interest());
    c.tick(SEC + 1, &mut Everyone(true), &s);
    let st = drain(&mut c).1;
    assert_eq!(st, vec!["NATS/1.0 100 Idle Heartbeat"]);
}

#[test]
fn push_rate_limit_paces_deliveries_by_bytes() {
    let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
    let body = vec![b'x'; 1000];
    for i in 0..100 {
        s.publish(b"r", b"", &body, i).unwrap();
    }
    let mut p = params(AckMode::None);
    // 80,000 bit/s = 10,000 B/s; burst 4,000 B.
    p.push = Some(PushParams {
        deliver_subject: Bytes::from_static(b"dlv"),
        flow_control: false,
        idle_heartbeat_ns: 0,
        rate_limit_bps: 80_000,
        rate_burst_bytes: 4_000,
    });
    let mut c = Consumer::new(p.clone(), start_all(), 0);
    c.poll(0, &mut Everyone(true), &s);
    // Each delivery counts ~1,060 bytes: the burst lets 4 out (the last dips below zero).
    let first = drain(&mut c).0.len();
    assert_eq!(first, 4, "burst");
    c.poll(0, &mut Everyone(true), &s);
    assert!(
        drain(&mut c).0.is_empty(),
        "nothing more without time passing"
    );
    // Over 5 s at 10,000 B/s about 47 more messages, never more than rate + burst.
    let mut total = first;
    for step in 1..=500u64 {
        c.tick(step * 10_000_000, &mut Everyone(true), &s);
        total += drain(&mut c).0.len();
    }
    assert!((48..=53).contains(&total), "{total} delivered in 5 s");
    // Lifting the limit by an update lets the rest out at once.
    let mut unlimited = p;
    unlimited.push.as_mut().unwrap().rate_limit_bps = 0;
    c.set_params(unlimited);
    c.poll(5 * SEC, &mut Everyone(true), &s);
    assert_eq!(total + drain(&mut c).0.len(), 100);
}

#[test]
fn sampled_acks_report_ack_time() {
    let s = stream_with(10);
    let mut p = params(AckMode::Explicit);
    p.ack_sample_percent = 50;
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 10);
    let mut samples = Vec::new();
    for seq in 1..=10u64 {
        c.on_ack(
            &ack_of(seq),
            &AckKind::Ack,
            None,
            seq * 1_000,
            &mut Everyone(true),
            &s,
        );
        let mut out = Vec::new();
        c.take_outputs(&mut out);
        samples.extend(out.into_iter().filter_map(|o| match o {
            Output::AckSampled {
                stream_seq,
                ack_time_ns,
                deliveries,
                ..
            } => Some((stream_seq, ack_time_ns, deliveries)),
            _ => None,
        }));
    }
    // Every second ack, with the time since its delivery (at 0).
    assert_eq!(
        samples,
        vec![
            (2, 2_000, 1),
            (4, 4_000, 1),
            (6, 6_000, 1),
            (8, 8_000, 1),
            (10, 10_000, 1)
        ]
    );
}

#[test]
fn paused_consumer_queues_pulls_and_resumes_at_the_time() {
    let s = stream_with(3);
    let mut p = params(AckMode::Explicit);
    p.paused_until_ns = 2 * SEC;
    let mut c = Consumer::new(p.clone(), start_all(), 0);
    c.on_pull(inbox(), pull(3), 0, &mut Everyone(true), &s);
    c.tick(SEC, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty(), "paused: nothing delivered");
    assert_eq!(c.num_waiting(), 1, "the request waits");
    c.tick(2 * SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 3, "resumed at pause_until");
    // Pausing again by an update, then resuming early.
    let mut c = Consumer::new(p.clone(), start_all(), 0);
    c.on_pull(inbox(), pull(3), 0, &mut Everyone(true), &s);
    p.paused_until_ns = 0;
    c.set_params(p);
    c.poll(1, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 3);
}

#[test]
fn push_flow_control_stalls_until_answered() {
    let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
    let body = vec![b'x'; 64 * 1024];
    for i in 0..64 {
        s.publish(b"big", b"", &body, i).unwrap();
    }
    let mut p = params(AckMode::None);
    p.push = Some(PushParams {
        deliver_subject: Bytes::from_static(b"dlv"),
        flow_control: true,
        idle_heartbeat_ns: 5 * SEC,
        rate_limit_bps: 0,
        rate_burst_bytes: 0,
    });
    let mut c = Consumer::new(p, start_all(), 0);
    c.poll(0, &mut Everyone(true), &s);
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    let delivered = out
        .iter()
        .filter(|o| matches!(o, Output::Deliver { .. }))
        .count();
    assert!((16..64).contains(&delivered), "{delivered}");
    let fc = out
        .iter()
        .find_map(|o| match o {
            Output::Status { reply: Some(r), .. } => Some(r.clone()),
            _ => None,
        })
        .expect("a flow control request");
    assert!(fc.starts_with(b"$JS.FC.S.C."));
    c.poll(1, &mut Everyone(true), &s);
    assert!(drain(&mut c).0.is_empty(), "stalled");
    c.on_flow_control_reply(&fc, 2, &mut Everyone(true), &s);
    assert!(!drain(&mut c).0.is_empty());
}

#[test]
fn headers_only_adds_msg_size() {
    let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
    s.publish(b"a", b"NATS/1.0\r\nK: v\r\n\r\n", b"hello", 1)
        .unwrap();
    let mut p = params(AckMode::None);
    p.headers_only = true;
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(1), 0, &mut Everyone(true), &s);
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    out.retain(|o| matches!(o, Output::Deliver { .. }));
    match &out[0] {
        Output::Deliver {
            headers, payload, ..
        } => {
            assert_eq!(
                &headers[..],
                b"NATS/1.0\r\nK: v\r\nNats-Msg-Size: 5\r\n\r\n"
            );
            assert!(payload.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn restore_redelivers_pending_and_skips_nothing() {
    let s = stream_with(6);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    c.on_pull(inbox(), pull(4), 0, &mut Everyone(true), &s);
    drain(&mut c);
    c.on_ack(&ack_of(2), &AckKind::Ack, None, 0, &mut Everyone(true), &s);
    c.on_ack(&ack_of(4), &AckKind::Ack, None, 0, &mut Everyone(true), &s);
    let snap = state::Snapshot::decode(&c.snapshot().encode()).unwrap();
    let mut r = Consumer::restore(params(AckMode::Explicit), &snap, 0);
    r.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    let seqs: Vec<(u64, u64)> = drain(&mut r).0.iter().map(|d| (d.0, d.1)).collect();
    assert_eq!(seqs, vec![(1, 2), (3, 2), (5, 1), (6, 1)]);
}

/// A model of the consumer: which stream sequences were ever acked, delivered, etc.
#[derive(Debug, Clone)]
enum Op {
    Pull(u64),
    Ack(usize),
    Nak(usize),
    NakDelay(usize),
    Term(usize),
    Time(u64),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..5).prop_map(Op::Pull),
        (0usize..8).prop_map(Op::Ack),
        (0usize..8).prop_map(Op::Nak),
        (0usize..8).prop_map(Op::NakDelay),
        (0usize..8).prop_map(Op::Term),
        (1u64..3).prop_map(Op::Time),
        Just(Op::Restart),
    ]
}

proptest! {
    /// Whatever happens — acks, naks, terms, timeouts, restarts from a snapshot — every message
    /// is eventually either acked/terminated/exhausted or still pending/undelivered; a message
    /// acked is never delivered again unless a restart lost that ack (never: snapshots are taken
    /// after every step here), and no message is skipped.
    #[test]
    fn consumer_never_skips_or_redelivers_acked(ops in proptest::collection::vec(op(), 1..60)) {
        let s = stream_with(8);
        let mut p = params(AckMode::Explicit);
        p.ack_wait_ns = SEC;
        p.max_deliver = Some(4);
        let mut c = Consumer::new(p.clone(), start_all(), 0);
        let mut now = 0u64;
        let mut finished: std::collections::BTreeSet<u64> = Default::default();
        let mut outstanding: Vec<u64> = Vec::new();
        let mut seen: std::collections::BTreeSet<u64> = Default::default();
        for op in ops {
            match op {
                Op::Pull(n) => c.on_pull(inbox(), pull(n), now, &mut Everyone(true), &s),
                Op::Ack(i) | Op::Nak(i) | Op::NakDelay(i) | Op::Term(i) if !outstanding.is_empty() => {
                    let seq = outstanding[i % outstanding.len()];
                    let kind = match op {
                        Op::Ack(_) => AckKind::Ack,
                        Op::Nak(_) => AckKind::Nak { delay_ns: None },
                        Op::NakDelay(_) => AckKind::Nak { delay_ns: Some(SEC / 2) },
                        _ => AckKind::Term { reason: String::new() },
                    };
                    if !matches!(kind, AckKind::Nak { .. }) {
                        finished.insert(seq);
                        outstanding.retain(|&x| x != seq);
                    }
                    c.on_ack(&ack_of(seq), &kind, None, now, &mut Everyone(true), &s);
                }
                Op::Time(n) => {
                    now += n * SEC;
                    c.tick(now, &mut Everyone(true), &s);
                }
                Op::Restart => {
                    let snap = state::Snapshot::decode(&c.snapshot().encode()).unwrap();
                    c = Consumer::restore(p.clone(), &snap, now);
                }
                _ => {}
            }
            let mut out = Vec::new();
            c.take_outputs(&mut out);
            for o in out {
                match o {
                    Output::Deliver { ack_reply, .. } => {
                        let r = parse_ack_reply(&ack_reply).unwrap();
                        let seq = r.stream_seq;
                        // max_deliver holds whichever way a message came back (NAK, NAK with
                        // delay, ack_wait, restart).
                        prop_assert!(r.delivered <= 4, "seq {} delivered {} times", seq, r.delivered);
                        prop_assert!(!finished.contains(&seq), "finished seq {} delivered again", seq);
                        // Never skipped: every lower sequence was delivered before.
                        prop_assert!((1..seq).all(|x| seen.contains(&x)), "seq {} skipped a lower one", seq);
                        seen.insert(seq);
                        if !outstanding.contains(&seq) {
                            outstanding.push(seq);
                        }
                    }
                    Output::MaxDeliveries { stream_seq, .. } => {
                        finished.insert(stream_seq);
                        outstanding.retain(|&x| x != stream_seq);
                    }
                    _ => {}
                }
            }
            // Every pending entry is something delivered and not finished.
            let snap = c.snapshot();
            for p in &snap.pending {
                prop_assert!(seen.contains(&p.stream_seq) && !finished.contains(&p.stream_seq));
            }
        }
    }
}

/// Interest in exactly these reply subjects.
struct Listening(Vec<Bytes>);

impl Interest for Listening {
    fn has_interest(&mut self, subject: &Bytes) -> bool {
        self.0.contains(subject)
    }
}

fn no_wait_expiring(batch: u64, expires_ns: u64) -> PullSpec {
    PullSpec {
        batch,
        expires_ns,
        no_wait: true,
        ..PullSpec::default()
    }
}

#[test]
fn no_wait_with_expires_ends_after_what_is_available() {
    let mut s = stream_with(1);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    c.on_pull(
        inbox(),
        no_wait_expiring(3, 2 * SEC),
        0,
        &mut Everyone(true),
        &s,
    );
    let (d, st) = drain(&mut c);
    assert_eq!(d.len(), 1);
    assert_eq!(st, vec!["NATS/1.0 404 No Messages"]);
    assert_eq!(c.num_waiting(), 0);
    s.publish(b"s.1", b"", b"later", 5).unwrap();
    c.poll(SEC / 2, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c), (vec![], vec![]));
}

#[test]
fn no_wait_with_expires_and_nothing_waits_for_the_first_message_then_ends() {
    let mut s = stream_with(0);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    c.on_pull(
        inbox(),
        no_wait_expiring(3, 2 * SEC),
        0,
        &mut Everyone(true),
        &s,
    );
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!(c.num_waiting(), 1);
    s.publish(b"s.1", b"", b"later", 5).unwrap();
    c.poll(SEC / 2, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert_eq!(d.len(), 1);
    assert_eq!(st, vec!["NATS/1.0 404 No Messages"]);
    // Nothing arriving: 408 at expiry.
    c.on_pull(
        inbox(),
        no_wait_expiring(3, SEC),
        SEC,
        &mut Everyone(true),
        &s,
    );
    c.tick(2 * SEC, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).1, vec!["NATS/1.0 408 Request Timeout"]);
}

#[test]
fn no_wait_behind_requests_that_claim_everything_is_408_requests_pending() {
    let s = stream_with(2);
    let mut p = params(AckMode::Explicit);
    p.max_ack_pending = Some(1);
    let mut c = Consumer::new(p, start_all(), 0);
    // Takes seq 1, then waits for 4 more (held back by max_ack_pending).
    c.on_pull(inbox(), pull(5), 0, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 1);
    assert_eq!(c.num_waiting(), 1);
    // One message available, four already claimed.
    c.on_pull(
        inbox(),
        no_wait_expiring(1, SEC),
        0,
        &mut Everyone(true),
        &s,
    );
    assert_eq!(
        drain(&mut c),
        (vec![], vec!["NATS/1.0 408 Requests Pending".to_owned()])
    );
    assert_eq!(c.num_waiting(), 1);
}

#[test]
fn a_request_past_its_deadline_gets_nothing_even_between_ticks() {
    let mut s = stream_with(0);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    let spec = PullSpec {
        batch: 1,
        expires_ns: SEC,
        ..PullSpec::default()
    };
    assert_eq!(c.next_pull_expiry_ns(), None);
    c.on_pull(inbox(), spec.clone(), 0, &mut Everyone(true), &s);
    assert_eq!(c.next_pull_expiry_ns(), Some(SEC));
    s.publish(b"s.1", b"", b"late", 5).unwrap();
    // The tick has not run since the deadline: the delivery must still see it.
    c.poll(SEC, &mut Everyone(true), &s);
    let (d, st) = drain(&mut c);
    assert_eq!(d, vec![]);
    assert_eq!(st, vec!["NATS/1.0 408 Request Timeout"]);
    assert_eq!(c.num_ack_pending(), 0);
    assert_eq!(c.num_pending(&s), 1);
    // One nanosecond before the deadline it is still served.
    c.on_pull(inbox(), spec, SEC, &mut Everyone(true), &s);
    c.poll(2 * SEC - 1, &mut Everyone(true), &s);
    assert_eq!(drain(&mut c).0.len(), 1);
}

#[test]
fn a_request_whose_requester_left_gets_nothing() {
    let mut s = stream_with(0);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    let gone = Bytes::from_static(b"_INBOX.gone");
    let live = Bytes::from_static(b"_INBOX.live");
    let mut both = Listening(vec![gone.clone(), live.clone()]);
    c.on_pull(gone.clone(), pull(1), 0, &mut both, &s);
    // The first requester unsubscribes; a second one pulls.
    let mut only_live = Listening(vec![live.clone()]);
    c.on_pull(live.clone(), pull(1), 1, &mut only_live, &s);
    c.prune_waiting(1, &mut only_live);
    assert_eq!(c.num_waiting(), 1, "the abandoned request is dropped");
    s.publish(b"s.1", b"", b"x", 5).unwrap();
    c.poll(2, &mut only_live, &s);
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    let to: Vec<&Bytes> = out
        .iter()
        .filter_map(|o| match o {
            Output::Deliver { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(to, vec![&live]);
    // Nobody listens at all: the message stays undelivered.
    s.publish(b"s.1", b"", b"y", 6).unwrap();
    c.on_pull(live.clone(), pull(1), 3, &mut only_live, &s);
    drain(&mut c);
    c.on_pull(gone, pull(1), 4, &mut Listening(vec![]), &s);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    s.publish(b"s.1", b"", b"z", 7).unwrap();
    c.poll(5, &mut Listening(vec![]), &s);
    assert_eq!(drain(&mut c), (vec![], vec![]));
    assert_eq!(c.num_waiting(), 0);
    assert_eq!(c.num_pending(&s), 1);
    assert_eq!(c.num_ack_pending(), 2);
}

#[test]
fn nak_counts_against_max_deliver_and_the_next_message_follows() {
    for delay in [None, Some(SEC)] {
        let s = stream_with(2);
        let mut p = params(AckMode::Explicit);
        p.max_deliver = Some(2);
        let mut c = Consumer::new(p, start_all(), 0);
        let mut now = 0;
        let mut seen = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..6 {
            c.on_pull(inbox(), pull(1), now, &mut Everyone(true), &s);
            now += 2 * SEC;
            c.tick(now, &mut Everyone(true), &s);
            let (d, st) = drain(&mut c);
            statuses.extend(st);
            for (seq, dc, _, _) in d {
                seen.push((seq, dc));
                if seq == 1 {
                    c.on_ack(
                        &ack_of(1),
                        &AckKind::Nak { delay_ns: delay },
                        None,
                        now,
                        &mut Everyone(true),
                        &s,
                    );
                    statuses.extend(drain(&mut c).1);
                }
            }
        }
        // A NAK redelivers at once; a delayed one lets the next message go first.
        let expected = match delay {
            None => vec![(1, 1), (1, 2), (2, 1)],
            Some(_) => vec![(1, 1), (2, 1), (1, 2)],
        };
        assert_eq!(seen, expected, "delay {delay:?}");
        assert_eq!(statuses, vec!["maxdeliver 1"], "delay {delay:?}");
    }
}

#[test]
fn backoff_redeliveries_count_against_max_deliver() {
    let s = stream_with(1);
    let mut p = params(AckMode::Explicit);
    p.max_deliver = Some(3);
    p.backoff_ns = vec![SEC, 2 * SEC];
    let mut c = Consumer::new(p, start_all(), 0);
    c.on_pull(inbox(), pull(10), 0, &mut Everyone(true), &s);
    let mut dcs = Vec::new();
    let mut statuses = Vec::new();
    for t in 0..20 {
        c.tick(t * SEC / 2, &mut Everyone(true), &s);
        let (d, st) = drain(&mut c);
        dcs.extend(d.into_iter().map(|x| x.1));
        statuses.extend(st);
    }
    let (d, _) = drain(&mut c);
    dcs.extend(d.into_iter().map(|x| x.1));
    assert_eq!(dcs, vec![1, 2, 3]);
    assert_eq!(statuses, vec!["maxdeliver 1"]);
}

#[test]
fn shutdown_answers_every_waiting_request() {
    let s = stream_with(0);
    let mut c = Consumer::new(params(AckMode::Explicit), start_all(), 0);
    let spec = PullSpec {
        batch: 7,
        max_bytes: 1000,
        expires_ns: 10 * SEC,
        ..PullSpec::default()
    };
    c.on_pull(inbox(), spec, 0, &mut Everyone(true), &s);
    c.on_pull(inbox(), pull(2), 0, &mut Everyone(true), &s);
    c.on_shutdown();
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    let h: Vec<String> = out
        .iter()
        .map(|o| match o {
            Output::Status { headers, .. } => String::from_utf8(headers.clone()).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        h,
        vec![
            "NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 7\r\nNats-Pending-Bytes: 1000\r\n\r\n",
            "NATS/1.0 409 Server Shutdown\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n",
        ]
    );
    assert_eq!(c.num_waiting(), 0);
}
