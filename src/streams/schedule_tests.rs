use super::*;
use crate::jetstream::gocompat::time::parse_rfc3339_nanos;

const SEC: u64 = 1_000_000_000;

fn t(s: &str) -> u64 {
    parse_rfc3339_nanos(s).unwrap() as u64
}

fn msg(seq: u64, ts: u64, subject: &str, hdrs: &[(&str, &str)], payload: &str) -> StoredMsg {
    let mut h = Vec::new();
    if !hdrs.is_empty() {
        h.extend_from_slice(b"NATS/1.0\r\n");
        for (k, v) in hdrs {
            h.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
    }
    StoredMsg {
        seq,
        ts_ns: ts,
        subject: Bytes::copy_from_slice(subject.as_bytes()),
        headers: Bytes::from(h),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

fn fire_all(s: &mut Schedules, now: u64, msgs: &[StoredMsg]) -> Vec<Fire> {
    s.handle_tick(
        now,
        |seq| msgs.iter().find(|m| m.seq == seq).cloned(),
        |subj| msgs.iter().rev().find(|m| &m.subject[..] == subj).cloned(),
    )
}

fn stored(f: &Fire, seq: u64, ts: u64) -> StoredMsg {
    StoredMsg {
        seq,
        ts_ns: ts,
        subject: f.subject.clone(),
        headers: Bytes::from(f.headers.clone()),
        payload: f.payload.clone(),
    }
}

#[test]
fn at_fires_once_with_nats_server_headers() {
    let now = t("2026-12-07T21:18:21.4Z");
    let sched = msg(
        1,
        now,
        "s.sched.a",
        &[
            ("Nats-Schedule", "@at 2026-12-07T21:18:22Z"),
            ("Nats-Schedule-Target", "s.out.a"),
            ("Nats-Schedule-TTL", "5m"),
            ("X-Custom", "1"),
            ("Nats-Msg-Id", "m1"),
            ("Nats-Rollup", "sub"),
        ],
        "hello",
    );
    let mut s = Schedules::default();
    assert_eq!(s.observe(&sched, now), None);
    assert_eq!(s.next_due_ns(), Some(t("2026-12-07T21:18:22Z")));
    let msgs = vec![sched];
    assert!(fire_all(&mut s, now, &msgs).is_empty());
    let fires = fire_all(&mut s, t("2026-12-07T21:18:22.001Z"), &msgs);
    assert_eq!(fires.len(), 1);
    let f = &fires[0];
    assert_eq!(&f.subject[..], b"s.out.a");
    assert_eq!(&f.payload[..], b"hello");
    assert_eq!(
        String::from_utf8_lossy(&f.headers),
        "NATS/1.0\r\nX-Custom: 1\r\nNats-Scheduler: s.sched.a\r\nNats-Schedule-Next: purge\r\nNats-TTL: 5m\r\n\r\n"
    );
    // In flight: not due again until its produced message is observed.
    assert!(fire_all(&mut s, now + 10 * SEC, &msgs).is_empty());
    let produced = stored(f, 2, now + SEC);
    assert_eq!(
        s.observe(&produced, now + SEC),
        Some(Bytes::from_static(b"s.sched.a"))
    );
    assert_eq!(s.len(), 0);
}

#[test]
fn every_moves_on_with_each_produced_message() {
    let ts = t("2026-12-07T21:18:21.47Z");
    let sched = msg(
        2,
        ts,
        "s.sched.e",
        &[
            ("Nats-Schedule", "@every 1s"),
            ("Nats-Schedule-Target", "s.out.e"),
            ("Nats-Rollup", "sub"),
        ],
        "every",
    );
    let mut s = Schedules::default();
    s.observe(&sched, ts);
    assert_eq!(s.next_due_ns(), Some(t("2026-12-07T21:18:22Z")));
    let msgs = vec![sched];
    let now = t("2026-12-07T21:18:22.01Z");
    let fires = fire_all(&mut s, now, &msgs);
    assert_eq!(
        String::from_utf8_lossy(&fires[0].headers),
        "NATS/1.0\r\nNats-Scheduler: s.sched.e\r\nNats-Schedule-Next: 2026-12-07T21:18:23Z\r\n\r\n"
    );
    assert_eq!(s.observe(&stored(&fires[0], 3, now), now), None);
    assert_eq!(s.next_due_ns(), Some(t("2026-12-07T21:18:23Z")));
    // A plain message on the schedule's subject disarms it.
    s.observe(&msg(4, now, "s.sched.e", &[], "x"), now);
    assert_eq!((s.len(), s.next_due_ns()), (0, None));
}

#[test]
fn replay_in_order_never_fires_a_fired_schedule_again() {
    let ts = t("2026-12-07T21:00:00Z");
    let at = msg(
        1,
        ts,
        "a",
        &[
            ("Nats-Schedule", "@at 2026-12-07T21:00:05Z"),
            ("Nats-Schedule-Target", "out"),
        ],
        "",
    );
    let mut live = Schedules::default();
    live.observe(&at, ts);
    let fires = fire_all(&mut live, ts + 6 * SEC, std::slice::from_ref(&at));
    let produced = stored(&fires[0], 2, ts + 6 * SEC);
    // After a restart the log holds both (the purge record was torn off): the produced
    // message still ends the schedule, and asks for the purge again.
    let mut rebuilt = Schedules::default();
    let later = ts + 3600 * SEC;
    assert_eq!(rebuilt.observe(&at, later), None);
    assert_eq!(
        rebuilt.observe(&produced, later),
        Some(Bytes::from_static(b"a"))
    );
    assert_eq!(rebuilt.len(), 0);
    assert!(fire_all(&mut rebuilt, later, &[at, produced]).is_empty());
}

#[test]
fn gone_or_broken_schedules_are_dropped_when_due() {
    let ts = t("2026-12-07T21:00:00Z");
    let a = msg(
        1,
        ts,
        "a",
        &[
            ("Nats-Schedule", "@every 1s"),
            ("Nats-Schedule-Target", "o"),
        ],
        "",
    );
    let mut s = Schedules::default();
    s.observe(&a, ts);
    // The message was deleted meanwhile.
    assert!(fire_all(&mut s, ts + 2 * SEC, &[]).is_empty());
    assert_eq!(s.len(), 0);
    // A zoned @every is not a schedule at all.
    let z = msg(
        2,
        ts,
        "z",
        &[
            ("Nats-Schedule", "@every 1s"),
            ("Nats-Schedule-Target", "o"),
            ("Nats-Schedule-Time-Zone", "UTC"),
        ],
        "",
    );
    s.observe(&z, ts);
    assert_eq!(s.len(), 0);
}

#[test]
fn source_supplies_the_content() {
    let ts = t("2026-12-07T21:00:00Z");
    let src = msg(1, ts, "src", &[("X-From", "src")], "sampled");
    let a = msg(
        2,
        ts,
        "a",
        &[
            ("Nats-Schedule", "@at 2026-12-07T21:00:00Z"),
            ("Nats-Schedule-Target", "o"),
            ("Nats-Schedule-Source", "src"),
            ("Nats-Schedule-Rollup", "sub"),
        ],
        "own",
    );
    let mut s = Schedules::default();
    s.observe(&src, ts);
    s.observe(&a, ts);
    let fires = fire_all(&mut s, ts, &[src, a]);
    assert_eq!(&fires[0].payload[..], b"sampled");
    assert_eq!(
        String::from_utf8_lossy(&fires[0].headers),
        "NATS/1.0\r\nX-From: src\r\nNats-Scheduler: a\r\nNats-Schedule-Next: purge\r\nNats-Rollup: sub\r\n\r\n"
    );
}

#[test]
fn many_due_fire_in_sequence_order() {
    let ts = t("2026-12-07T21:00:00Z");
    let mut s = Schedules::default();
    let msgs: Vec<StoredMsg> = (1..=100u64)
        .map(|i| {
            let at = format!("@at 2026-12-07T21:00:{:02}Z", 59 - (i % 50));
            msg(
                i,
                ts,
                &format!("s.{i}"),
                &[("Nats-Schedule", &at), ("Nats-Schedule-Target", "o")],
                "",
            )
        })
        .collect();
    for m in &msgs {
        s.observe(m, ts);
    }
    let fires = fire_all(&mut s, ts + 60 * SEC, &msgs);
    assert_eq!(fires.len(), 100);
    let order: Vec<String> = fires
        .iter()
        .map(|f| String::from_utf8_lossy(&f.headers).into_owned())
        .collect();
    assert!(order[0].contains("Nats-Scheduler: s.1\r\n"));
    assert!(order[99].contains("Nats-Scheduler: s.100\r\n"));
}
