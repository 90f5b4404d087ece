//! The priority-group state machine under random pulls, publishes, acks, unpins and the
//! passage of time, checked against a model (proptest), plus a few exact cases.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::super::{AckMode, Consumer, Everyone, Output, Params, PullSpec, Start};
use super::{Policy, PriorityParams, PullGroup};
use crate::consumer::{AckKind, AckReply};
use crate::store::{Stream, StreamLimits};

const MS: u64 = 1_000_000;
const TTL: u64 = 500 * MS;

fn params(policy: Policy) -> Params {
    Params {
        stream: "S".into(),
        name: "C".into(),
        ack: AckMode::Explicit,
        // No redeliveries in these runs: every message goes out once.
        ack_wait_ns: u64::MAX / 4,
        backoff_ns: Vec::new(),
        max_deliver: None,
        max_ack_pending: None,
        filters: Vec::new(),
        push: None,
        max_waiting: 8,
        headers_only: false,
        replay_original: false,
        ack_sample_percent: 0,
        paused_until_ns: 0,
        priority: PriorityParams {
            policy,
            groups: if policy == Policy::None {
                Vec::new()
            } else {
                vec!["g".into()]
            },
            pinned_ttl_ns: if policy == Policy::PinnedClient {
                TTL
            } else {
                0
            },
        },
    }
}

fn consumer(policy: Policy) -> Consumer {
    Consumer::new(
        params(policy),
        Start {
            from_seq: 1,
            initial: Vec::new(),
        },
        0,
    )
}

fn publish(s: &mut Stream, n: u64) {
    for _ in 0..n {
        let ts = s.last_seq() + 1;
        s.publish(b"s.a", b"", b"x", ts).unwrap();
    }
}

/// Which pin id a pull carries.
#[derive(Debug, Clone, Copy)]
enum IdChoice {
    None,
    Current,
    Stale,
}

#[derive(Debug, Clone)]
enum Op {
    Pull {
        json: bool,
        group_ok: bool,
        id: IdChoice,
        batch: u64,
        priority: i64,
        min_pending: i64,
        min_ack_pending: i64,
        expires_ms: u64,
        no_wait: bool,
    },
    Publish(u64),
    Ack(usize),
    Time(u64),
    Unpin,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.9),
            prop_oneof![2 => Just(IdChoice::None), 3 => Just(IdChoice::Current), 1 => Just(IdChoice::Stale)],
            1u64..4,
            prop_oneof![6 => 0i64..10, 1 => Just(-1i64), 1 => Just(10i64)],
            prop_oneof![3 => Just(0i64), 2 => 1i64..8],
            prop_oneof![3 => Just(0i64), 1 => 1i64..4],
            prop_oneof![Just(0u64), 100u64..2_000],
            prop::bool::weighted(0.2),
        )
            .prop_map(
                |(json, group_ok, id, batch, priority, min_pending, min_ack_pending, expires_ms, no_wait)| Op::Pull {
                    json,
                    group_ok,
                    id,
                    batch,
                    priority,
                    min_pending,
                    min_ack_pending,
                    expires_ms,
                    no_wait,
                }
            ),
        3 => (1u64..4).prop_map(Op::Publish),
        2 => any::<usize>().prop_map(Op::Ack),
        3 => (1u64..400).prop_map(Op::Time),
        1 => Just(Op::Unpin),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::None),
        Just(Policy::Overflow),
        Just(Policy::PinnedClient),
        Just(Policy::Prioritized),
    ]
}

/// What the model remembers of a pull request.
#[derive(Debug, Clone)]
struct Req {
    batch: u64,
    got: u64,
    group: Option<PullGroup>,
    /// Ended (status) or refused.
    closed: bool,
}

fn pin_header(headers: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(headers).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Nats-Pin-Id:"))
        .map(|v| v.trim().to_owned())
}

fn rank(w: &super::PullWait) -> i64 {
    w.group.as_ref().map_or(i64::from(i32::MAX), |g| g.priority)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Every policy: a request never gets more than it asked for, a refused or ended request
    /// gets nothing after its status, messages go out once in order; `overflow` serves a
    /// request with thresholds only past one of them; `pinned_client` stamps every delivery
    /// with the current pin, gives a pin only once, serves only its holder while it holds
    /// and drops it `priority_timeout` after its last renewal; `prioritized` keeps the queue
    /// ordered by priority; CONSUMER.UNPIN always drops the pin it finds.
    #[test]
    fn priority_groups_keep_their_promises(policy in policy(), ops in prop::collection::vec(op(), 1..80)) {
        let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
        let mut c = consumer(policy);
        let mut now = 0u64;
        let mut reqs: BTreeMap<Bytes, Req> = BTreeMap::new();
        let mut next_req = 0u64;
        let mut last_delivered = 0u64;
        let mut unacked: Vec<u64> = Vec::new();
        let mut pins_seen: BTreeSet<String> = BTreeSet::new();
        // The model's pin: id, the reply that got it, last renewal.
        let mut pin: Option<(String, Bytes, u64)> = None;
        let mut out = Vec::new();
        for op in ops {
            let mut sent: Option<Bytes> = None;
            let mut before_unpin: Option<String> = None;
            match op.clone() {
                Op::Pull { json, group_ok, id, batch, priority, min_pending, min_ack_pending, expires_ms, no_wait } => {
                    next_req += 1;
                    let reply = Bytes::from(format!("_INBOX.{next_req}"));
                    let id = match id {
                        IdChoice::None => String::new(),
                        IdChoice::Current => pin.as_ref().map_or_else(String::new, |p| p.0.clone()),
                        IdChoice::Stale => "stale".to_owned(),
                    };
                    let group = json.then(|| PullGroup {
                        group: if group_ok { "g".into() } else { "h".into() },
                        id,
                        min_pending,
                        min_ack_pending,
                        priority,
                    });
                    reqs.insert(reply.clone(), Req { batch, got: 0, group: group.clone(), closed: false });
                    let spec = PullSpec {
                        batch,
                        expires_ns: expires_ms * MS,
                        no_wait,
                        group,
                        ..PullSpec::default()
                    };
                    c.on_pull(reply.clone(), spec, now, &mut Everyone(true), &s);
                    sent = Some(reply);
                }
                Op::Publish(n) => {
                    publish(&mut s, n);
                    c.poll(now, &mut Everyone(true), &s);
                }
                Op::Ack(i) if !unacked.is_empty() => {
                    let seq = unacked.remove(i % unacked.len());
                    let ack = AckReply { stream: "S", consumer: "C", delivered: 1, stream_seq: seq, consumer_seq: 0 };
                    c.on_ack(&ack, &AckKind::Ack, None, now, &mut Everyone(true), &s);
                }
                Op::Ack(_) => {}
                Op::Time(ms) => {
                    now += ms * MS;
                    c.tick(now, &mut Everyone(true), &s);
                    if let Some(p) = c.pin() {
                        prop_assert!(p.deadline_ns > now, "pin outlived its timeout");
                    }
                }
                Op::Unpin => {
                    before_unpin = c.pin().map(|p| p.id.clone());
                    c.unpin("g", now, &mut Everyone(true), &s);
                }
            }
            out.clear();
            c.take_outputs(&mut out);
            // The pin a valid request carrying its id renewed.
            if let (Some(reply), Some((id, _, renewed))) = (&sent, &mut pin) {
                let renews = reqs[reply].group.as_ref().is_some_and(|g| {
                    g.group == "g"
                        && &g.id == id
                        && (0..=9).contains(&g.priority)
                        && g.min_pending == 0
                        && g.min_ack_pending == 0
                });
                if renews {
                    *renewed = now;
                }
            }
            let mut just_pinned: Option<String> = None;
            for o in out.drain(..) {
                match o {
                    Output::Pinned { group, id } => {
                        prop_assert_eq!(policy, Policy::PinnedClient);
                        prop_assert_eq!(group.as_str(), "g");
                        prop_assert!(pins_seen.insert(id.clone()), "pin id {} given twice", id);
                        just_pinned = Some(id);
                    }
                    Output::Unpinned { reason, .. } => {
                        prop_assert!(matches!(reason, "timeout" | "admin"));
                        if reason == "timeout" {
                            let (_, _, renewed) = pin.as_ref().expect("a pin timed out");
                            prop_assert!(now >= renewed + TTL, "pin timed out early");
                        }
                        pin = None;
                    }
                    Output::Deliver { to, ack_reply, headers, .. } => {
                        let seq: u64 = std::str::from_utf8(&ack_reply).unwrap().split('.').nth(5).unwrap().parse().unwrap();
                        prop_assert_eq!(seq, last_delivered + 1, "out of order");
                        last_delivered = seq;
                        let acks_before = unacked.len() as u64;
                        unacked.push(seq);
                        let r = reqs.get_mut(&to).expect("delivery to a known request");
                        prop_assert!(!r.closed, "delivery after the request's status");
                        r.got += 1;
                        prop_assert!(r.got <= r.batch, "more than the batch");
                        if let Some(id) = just_pinned.take() {
                            pin = Some((id, to.clone(), now));
                        }
                        match policy {
                            Policy::PinnedClient => {
                                let header = pin_header(&headers);
                                let want = pin.as_ref().map_or_else(String::new, |p| p.0.clone());
                                prop_assert_eq!(header, Some(want.clone()));
                                if let Some((id, holder, _)) = &pin {
                                    let carried = r.group.as_ref().is_some_and(|g| &g.id == id);
                                    prop_assert!(carried || *holder == to, "pinned message to a non-holder");
                                }
                            }
                            Policy::Overflow => {
                                let (mp, map) = r.group.as_ref().map_or((0, 0), |g| (g.min_pending, g.min_ack_pending));
                                let pending = s.last_seq() - seq + 1;
                                let ok = (mp == 0 && map == 0)
                                    || (mp > 0 && mp as u64 <= pending)
                                    || (map > 0 && map as u64 <= acks_before);
                                prop_assert!(ok, "overflow threshold not reached: {:?} pending {} acks {}", r.group, pending, acks_before);
                                prop_assert_eq!(pin_header(&headers), None);
                            }
                            _ => prop_assert_eq!(pin_header(&headers), None),
                        }
                    }
                    Output::Status { to, headers, .. } => {
                        let line = String::from_utf8(headers).unwrap();
                        let line = line.lines().next().unwrap().to_owned();
                        if let Some(r) = reqs.get_mut(&to) {
                            prop_assert!(!r.closed, "second status to a request: {}", line);
                            if !line.starts_with("NATS/1.0 100") {
                                r.closed = true;
                            }
                            if line == "NATS/1.0 423 Nats-Pin-Id mismatch" {
                                let id = &r.group.as_ref().unwrap().id;
                                prop_assert!(!id.is_empty());
                                prop_assert!(c.pin().is_some_and(|p| &p.id != id));
                            }
                            if line.starts_with("NATS/1.0 400 Bad Request - Invalid Priority Group") {
                                prop_assert_ne!(policy, Policy::None);
                            }
                        }
                    }
                    other => prop_assert!(matches!(other, Output::Done { .. }), "{:?}", other),
                }
            }
            if matches!(op, Op::Unpin) {
                // Dropped; a waiting request may have got a new one at once.
                prop_assert!(c.pin().is_none_or(|p| Some(&p.id) != before_unpin.as_ref()));
            }
            prop_assert_eq!(c.pin().map(|p| p.id.clone()), pin.as_ref().map(|p| p.0.clone()));
            prop_assert!(c.num_waiting() <= 8);
            if policy == Policy::Prioritized {
                let ranks: Vec<i64> = c.waiting.iter().map(rank).collect();
                prop_assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "queue out of priority order: {:?}", ranks);
            }
            // A request that got everything it asked for is gone from the queue.
            for w in &c.waiting {
                prop_assert!(w.batch_left > 0);
            }
        }
    }
}

#[test]
fn a_stale_pin_waiting_in_the_queue_is_told_when_a_message_comes() {
    let mut s = Stream::new("S".into(), StreamLimits::default(), 0);
    let mut c = consumer(Policy::PinnedClient);
    let group = |id: &str| PullGroup {
        group: "g".into(),
        id: id.into(),
        ..PullGroup::default()
    };
    let pull = |batch, id: &str| PullSpec {
        batch,
        group: Some(group(id)),
        ..PullSpec::default()
    };
    c.on_pull(
        Bytes::from_static(b"a"),
        pull(2, "old"),
        0,
        &mut Everyone(true),
        &s,
    );
    c.on_pull(
        Bytes::from_static(b"b"),
        pull(1, ""),
        0,
        &mut Everyone(true),
        &s,
    );
    let mut out = Vec::new();
    c.take_outputs(&mut out);
    assert!(out.is_empty(), "{out:?}");
    publish(&mut s, 1);
    c.poll(0, &mut Everyone(true), &s);
    c.take_outputs(&mut out);
    assert!(
        matches!(&out[0], Output::Status { to, headers, .. } if &to[..] == b"a"
            && headers == b"NATS/1.0 423 Nats-Wrong-Pin-Id\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"),
        "{out:?}"
    );
    let id = c.pin().expect("b got the pin").id.clone();
    assert!(matches!(&out[1], Output::Pinned { id: i, .. } if *i == id));
    assert!(
        matches!(&out[2], Output::Deliver { to, headers, .. } if &to[..] == b"b"
            && pin_header(headers) == Some(id.clone())),
        "{out:?}"
    );
}

#[test]
fn pin_ids_look_like_nuids_and_differ() {
    let mut ids = super::PinIds::new("S", "C", 7);
    let a = ids.next_id();
    let b = ids.next_id();
    assert_eq!((a.len(), b.len()), (22, 22));
    assert_ne!(a, b);
    assert_eq!(a[..12], b[..12]);
    assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    let other = super::PinIds::new("S", "D", 7).next_id();
    assert_ne!(a[..12], other[..12]);
}
