//! Engine tests: several cores wired together by hand-pumping their ring batches.

use super::*;
use crate::protocol::info::ADVERTISED_VERSION;

const CONNECT: &str =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n";

/// Limits for tests (also used by the stream host tests).
pub(crate) fn limits() -> EngineLimits {
    EngineLimits {
        max_payload_bytes: 1024 * 1024,
        max_control_line_bytes: 4096,
        max_pending_bytes: 64 * 1024 * 1024,
        max_subscriptions: 0,
        ping_interval_ns: 1_000_000_000,
        max_pings_outstanding: 2,
    }
}

/// INFO template for tests (also used by the stream host tests).
pub(crate) fn info() -> ServerInfo {
    ServerInfo {
        server_id: "NTEST".into(),
        server_name: "test".into(),
        version: ADVERTISED_VERSION.into(),
        proto: 1,
        host: "127.0.0.1".into(),
        port: 4222,
        headers: true,
        max_payload: 1024 * 1024,
        jetstream: false,
        ..ServerInfo::default()
    }
}

/// Several engines and a hand-driven mesh between them.
struct Cluster {
    cores: Vec<Engine>,
    now_ns: u64,
}

impl Cluster {
    fn new(n: usize, limits: EngineLimits) -> Self {
        let cores = (0..n)
            .map(|core_id| {
                Engine::new(EngineConfig {
                    core_id,
                    n_cores: n,
                    limits: limits.clone(),
                    info: info(),
                })
            })
            .collect();
        Cluster { cores, now_ns: 0 }
    }

    /// Opens a connection on `core` and sends CONNECT; drops the INFO.
    fn connect(&mut self, core: usize) -> ConnId {
        let id = self.cores[core].open_conn("127.0.0.1", self.now_ns, true);
        assert_eq!(self.send(core, id, CONNECT), ReadStatus::Continue);
        self.output(core, id);
        id
    }

    fn send(&mut self, core: usize, conn: ConnId, bytes: &str) -> ReadStatus {
        let mut buf = BytesMut::from(bytes.as_bytes());
        let status = self.cores[core].on_read(conn, &mut buf, self.now_ns);
        if status != ReadStatus::Blocked {
            assert!(
                buf.is_empty() || status == ReadStatus::Closed,
                "unparsed: {buf:?}"
            );
        }
        status
    }

    /// Delivers every queued ring batch until all rings are empty; returns items moved.
    fn pump(&mut self) -> usize {
        let n = self.cores.len();
        let mut moved = 0;
        for _round in 0..100 {
            let mut any = false;
            for from in 0..n {
                for to in 0..n {
                    if from == to {
                        continue;
                    }
                    let batch = self.cores[from].take_outgoing(to);
                    if !batch.is_empty() {
                        any = true;
                        moved += batch.len();
                        let bytes = self.cores[to].on_ring(from, batch);
                        self.cores[to].credit_peer(from, bytes);
                    }
                }
            }
            if !any {
                return moved;
            }
        }
        panic!("rings never drained");
    }

    fn output(&mut self, core: usize, conn: ConnId) -> String {
        let mut all = Vec::new();
        loop {
            let mut buf = BytesMut::new();
            match self.cores[core].take_output(conn, &mut buf) {
                OutputState::Data => {
                    all.extend_from_slice(&buf);
                    self.cores[core].write_done(conn);
                }
                OutputState::Idle | OutputState::Close => break,
            }
        }
        String::from_utf8(all).expect("utf8 output")
    }

    /// SUB + PING, pumping the rings until the PONG arrives.
    fn subscribe(&mut self, core: usize, conn: ConnId, sub: &str) {
        self.send(core, conn, &format!("{sub}\r\nPING\r\n"));
        self.pump();
        let mut buf = BytesMut::new();
        assert_eq!(
            self.cores[core].on_read(conn, &mut buf, self.now_ns),
            ReadStatus::Continue
        );
        let out = self.output(core, conn);
        assert!(out.contains("PONG\r\n"), "no PONG after {sub}: {out:?}");
    }

    fn events(&mut self, core: usize) -> EngineEvents {
        let mut ev = EngineEvents::default();
        self.cores[core].take_events(&mut ev);
        ev
    }
}

fn msg_count(out: &str) -> usize {
    out.matches("MSG ").count()
}

#[test]
fn info_first_with_client_id_encoding_the_core() {
    let mut c = Cluster::new(3, limits());
    let id = c.cores[2].open_conn("10.0.0.1", 0, true);
    let out = c.output(2, id);
    assert!(out.starts_with("INFO {"), "{out}");
    assert!(out.ends_with("} \r\n"));
    let cid = c.cores[2].session(id).client_id;
    assert_eq!(cid % 3, 2);
    assert!(out.contains(&format!("\"client_id\":{cid}")));
    assert!(out.contains("\"client_ip\":\"10.0.0.1\""));
}

#[test]
fn local_pub_sub_and_headers() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    let p = c.connect(0);
    c.subscribe(0, s, "SUB foo.* 7");
    c.send(
        0,
        p,
        "PUB foo.bar r.1 5\r\nhello\r\nHPUB foo.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    );
    assert_eq!(
        c.output(0, s),
        "MSG foo.bar 7 r.1 5\r\nhello\r\nHMSG foo.x 7 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    );
}

#[test]
fn headers_stripped_for_client_without_headers() {
    let mut c = Cluster::new(1, limits());
    let s = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.send(0, s, "CONNECT {\"verbose\":false}\r\nSUB a 1\r\n");
    c.output(0, s);
    let p = c.connect(0);
    c.send(0, p, "HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(c.output(0, s), "MSG a 1 2\r\nhi\r\n");
}

#[test]
fn pong_waits_until_every_core_applied_the_sub() {
    let mut c = Cluster::new(3, limits());
    let s = c.connect(1);
    assert_eq!(c.send(1, s, "SUB x 1\r\nPING\r\n"), ReadStatus::Blocked);
    assert!(!c.output(1, s).contains("PONG"));
    assert!(c.cores[1].is_blocked(s));
    c.pump();
    assert!(!c.cores[1].is_blocked(s));
    assert!(c.events(1).unblocked.contains(&s));
    assert!(c.output(1, s).contains("PONG\r\n"));
    // Now a publisher on any other core reaches it.
    let p0 = c.connect(0);
    let p2 = c.connect(2);
    c.send(0, p0, "PUB x 1\r\na\r\n");
    c.send(2, p2, "PUB x 1\r\nb\r\n");
    c.pump();
    let out = c.output(1, s);
    assert_eq!(msg_count(&out), 2, "{out}");
}

#[test]
fn bytes_after_a_blocked_ping_wait_in_the_buffer() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(0);
    let mut buf = BytesMut::from(&b"SUB x 1\r\nPING\r\nPUB x 1\r\nz\r\n"[..]);
    assert_eq!(c.cores[0].on_read(s, &mut buf, 0), ReadStatus::Blocked);
    assert_eq!(&buf[..], b"PUB x 1\r\nz\r\n");
    c.pump();
    assert_eq!(c.cores[0].on_read(s, &mut buf, 0), ReadStatus::Continue);
    let out = c.output(0, s);
    assert!(out.starts_with("PONG\r\nINFO {"), "{out}");
    assert!(out.ends_with("} \r\nMSG x 1 1\r\nz\r\n"), "{out}");
}

#[test]
fn single_core_pong_is_immediate() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    assert_eq!(c.send(0, s, "SUB x 1\r\nPING\r\n"), ReadStatus::Continue);
    assert!(c.output(0, s).starts_with("PONG\r\n"));
}

#[test]
fn interest_announced_once_per_subject_not_per_sub() {
    let mut c = Cluster::new(2, limits());
    let a = c.connect(0);
    let b = c.connect(0);
    c.send(0, a, "SUB s 1\r\nSUB s 2\r\n");
    c.send(0, b, "SUB s 9\r\n");
    let items = c.cores[0].take_outgoing(1);
    let interest: Vec<_> = items
        .iter()
        .filter(|i| matches!(i, RingItem::Interest(_)))
        .collect();
    assert_eq!(interest.len(), 1);
}

#[test]
fn cross_core_delivery_is_one_ring_item_per_interested_core_and_zero_copy() {
    let mut c = Cluster::new(3, limits());
    for core in [1, 2] {
        for i in 0..3 {
            let s = c.connect(core);
            c.subscribe(core, s, &format!("SUB t.> {i}"));
        }
    }
    let p = c.connect(0);
    let mut buf = BytesMut::from(&b"PUB t.1 3\r\nabc\r\n"[..]);
    let base = buf.as_ptr() as usize;
    c.cores[0].on_read(p, &mut buf, 0);
    for peer in [1, 2] {
        let batch = c.cores[0].take_outgoing(peer);
        assert_eq!(batch.len(), 1);
        let RingItem::Deliver(m) = &batch[0] else {
            panic!("expected a delivery")
        };
        assert!(m.deliver_plain);
        let at = m.message.as_ptr() as usize;
        assert!(
            at >= base && at < base + 16,
            "payload must be a slice of the read buffer"
        );
        c.cores[peer].on_ring(0, batch);
    }
}

#[test]
fn order_is_kept_across_cores() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB seq 1");
    let p = c.connect(0);
    let mut sent = String::new();
    for i in 0..2000 {
        let body = i.to_string();
        sent.push_str(&format!("PUB seq {}\r\n{}\r\n", body.len(), body));
        if i % 37 == 0 {
            c.send(0, p, &sent);
            sent.clear();
            c.pump();
        }
    }
    c.send(0, p, &sent);
    c.pump();
    let out = c.output(1, s);
    let got: Vec<u32> = out
        .split("\r\n")
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|ch| ch[0].starts_with("MSG"))
        .map(|ch| ch[1].parse().unwrap())
        .collect();
    assert_eq!(got, (0..2000).collect::<Vec<u32>>());
}

#[test]
fn queue_group_exactly_once_spread_across_cores_by_members() {
    let mut c = Cluster::new(2, limits());
    let mut members = Vec::new();
    for (core, count) in [(0, 3), (1, 1)] {
        for _ in 0..count {
            let s = c.connect(core);
            c.subscribe(core, s, "SUB work wq 1");
            members.push((core, s));
        }
    }
    let plain = c.connect(1);
    c.subscribe(1, plain, "SUB work 5");
    let pubs = [c.connect(0), c.connect(1)];
    let total = 4000;
    for i in 0..total {
        let (core, p) = if i % 2 == 0 {
            (0, pubs[0])
        } else {
            (1, pubs[1])
        };
        c.send(core, p, "PUB work 1\r\nx\r\n");
        if i % 100 == 0 {
            c.pump();
        }
    }
    c.pump();
    let counts: Vec<usize> = members
        .iter()
        .map(|(core, s)| msg_count(&c.output(*core, *s)))
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), total, "{counts:?}");
    for n in &counts {
        // Four equal members: each near 1000.
        assert!((700..1300).contains(n), "uneven spread {counts:?}");
    }
    assert_eq!(msg_count(&c.output(1, plain)), total);
}

#[test]
fn no_echo_suppresses_own_messages_and_counts_as_no_delivery() {
    let mut c = Cluster::new(1, limits());
    let s = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.send(
        0,
        s,
        "CONNECT {\"verbose\":false,\"echo\":false,\"headers\":true,\"no_responders\":true}\r\nSUB me 1\r\nSUB _INBOX.* 2\r\n",
    );
    c.output(0, s);
    c.send(0, s, "PUB me 1\r\na\r\nPUB me _INBOX.1 1\r\nb\r\n");
    let out = c.output(0, s);
    assert_eq!(
        out,
        "HMSG _INBOX.1 2 34 34\r\nNATS/1.0 503\r\nNats-Subject: me\r\n\r\n\r\n"
    );
}

#[test]
fn no_responders_needs_remote_interest_absent() {
    let mut c = Cluster::new(2, limits());
    let r = c.connect(1);
    c.subscribe(1, r, "SUB svc 1");
    let q = c.connect(0);
    c.subscribe(0, q, "SUB _INBOX.q.* 1");
    c.send(
        0,
        q,
        "PUB svc _INBOX.q.1 0\r\n\r\nPUB none _INBOX.q.2 0\r\n\r\n",
    );
    c.pump();
    let out = c.output(0, q);
    assert_eq!(out.matches("503").count(), 1, "{out}");
    assert!(out.contains("Nats-Subject: none"));
    assert_eq!(msg_count(&c.output(1, r)), 1);
}

#[test]
fn auto_unsubscribe_after_n_across_cores() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB a 1\r\nUNSUB 1 2");
    let p = c.connect(0);
    for _ in 0..5 {
        c.send(0, p, "PUB a 1\r\nx\r\n");
    }
    c.pump();
    assert_eq!(msg_count(&c.output(1, s)), 2);
    assert_eq!(c.cores[1].subscription_count(), 0);
    // The interest is withdrawn from core 0 too: further publishes cross no ring.
    c.pump();
    c.send(0, p, "PUB a 1\r\nx\r\n");
    assert!(c.cores[0].take_outgoing(1).is_empty());
}

#[test]
fn unsub_with_max_below_delivered_removes_now() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    c.subscribe(0, s, "SUB a 1");
    let p = c.connect(0);
    c.send(0, p, "PUB a 0\r\n\r\nPUB a 0\r\n\r\n");
    c.send(0, s, "UNSUB 1 1\r\nUNSUB 99\r\n");
    c.send(0, p, "PUB a 0\r\n\r\n");
    assert_eq!(msg_count(&c.output(0, s)), 2);
}

#[test]
fn duplicate_sid_keeps_first_subscription() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    c.send(0, s, "SUB a 1\r\nSUB b 1\r\n");
    let p = c.connect(0);
    c.send(0, p, "PUB a 0\r\n\r\nPUB b 0\r\n\r\n");
    assert_eq!(c.output(0, s), "MSG a 1 0\r\n\r\n");
}

#[test]
fn slow_consumer_is_closed_without_error_and_others_keep_flowing() {
    let mut l = limits();
    l.max_pending_bytes = 10_000;
    let mut c = Cluster::new(1, l);
    let slow = c.connect(0);
    let fast = c.connect(0);
    c.subscribe(0, slow, "SUB f 1");
    c.subscribe(0, fast, "SUB f 1");
    let p = c.connect(0);
    let payload = "y".repeat(1000);
    let mut fast_got = 0;
    for _ in 0..50 {
        c.send(0, p, &format!("PUB f 1000\r\n{payload}\r\n"));
        fast_got += msg_count(&c.output(0, fast));
    }
    assert_eq!(fast_got, 50);
    let s = c.cores[0].session(slow);
    assert_eq!(s.close, Some(CloseReason::SlowConsumerPendingBytes));
    assert!(!s.flush_before_close);
    assert!(c.events(0).closed.contains(&slow));
    assert_eq!(c.cores[0].stats().slow_consumers, 1);
}

#[test]
fn stale_connection_after_unanswered_pings() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    let second = 1_000_000_000;
    c.cores[0].tick(second / 2);
    assert_eq!(c.output(0, s), "");
    c.cores[0].tick(second);
    assert_eq!(c.output(0, s), "PING\r\n");
    c.cores[0].tick(2 * second);
    assert_eq!(c.output(0, s), "PING\r\n");
    c.cores[0].tick(3 * second);
    assert_eq!(c.output(0, s), "-ERR 'Stale Connection'\r\n");
    assert_eq!(
        c.cores[0].session(s).close,
        Some(CloseReason::StaleConnection)
    );
}

#[test]
fn answered_pings_keep_the_connection() {
    let mut c = Cluster::new(1, limits());
    let s = c.connect(0);
    let second = 1_000_000_000;
    for i in 1..10 {
        c.now_ns = i * second;
        c.cores[0].tick(c.now_ns);
        c.send(0, s, "PONG\r\n");
    }
    assert!(c.cores[0].session(s).is_open());
}

#[test]
fn connect_errors_close_with_exact_text() {
    let mut c = Cluster::new(1, limits());
    let a = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.output(0, a);
    assert_eq!(
        c.send(0, a, "CONNECT {\"protocol\":2}\r\n"),
        ReadStatus::Closed
    );
    assert_eq!(c.output(0, a), "-ERR 'invalid client protocol'\r\n");
    let b = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.output(0, b);
    c.send(0, b, "CONNECT {\"no_responders\":true}\r\n");
    assert_eq!(
        c.output(0, b),
        "-ERR 'no responders requires headers support'\r\n"
    );
    let d = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.output(0, d);
    assert_eq!(c.send(0, d, "CONNECT {nope\r\n"), ReadStatus::Closed);
    assert_eq!(c.output(0, d), "");
}

#[test]
fn verbose_defaults_before_connect_and_pedantic_publish() {
    let mut c = Cluster::new(1, limits());
    let a = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.output(0, a);
    c.send(0, a, "SUB foo.* 1\r\nPUB foo.* 1\r\nx\r\n");
    assert_eq!(
        c.output(0, a),
        "+OK\r\n+OK\r\n-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\nx\r\n"
    );
}

#[test]
fn reserved_reply_refused_connection_kept() {
    let mut c = Cluster::new(1, limits());
    let a = c.connect(0);
    c.subscribe(0, a, "SUB x 1");
    c.send(0, a, "PUB x _R_.abc 1\r\nx\r\nPING\r\n");
    assert_eq!(
        c.output(0, a),
        "-ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\nPONG\r\n"
    );
}

#[test]
fn hpub_without_headers_closes_silently() {
    let mut c = Cluster::new(1, limits());
    let a = c.cores[0].open_conn("127.0.0.1", 0, true);
    c.output(0, a);
    c.send(0, a, "CONNECT {\"verbose\":false}\r\n");
    assert_eq!(
        c.send(0, a, "HPUB x 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
        ReadStatus::Closed
    );
    assert_eq!(c.output(0, a), "");
}

#[test]
fn refused_connection_gets_the_error_then_closes() {
    let mut c = Cluster::new(1, limits());
    let _a = c.connect(0);
    let b = c.cores[0].open_conn("127.0.0.1", 0, false);
    let out = c.output(0, b);
    assert!(
        out.ends_with("-ERR 'maximum connections exceeded'\r\n"),
        "{out}"
    );
    assert_eq!(
        c.cores[0].session(b).close,
        Some(CloseReason::MaxConnectionsExceeded)
    );
}

#[test]
fn closing_a_connection_withdraws_its_interest_everywhere() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB gone.> 1");
    c.cores[1].close(s, CloseReason::ClientClosed, false);
    c.cores[1].remove_conn(s);
    c.pump();
    let p = c.connect(0);
    c.send(0, p, "PUB gone.x 0\r\n\r\n");
    assert!(c.cores[0].take_outgoing(1).is_empty());
}

#[test]
fn shutdown_closes_everyone_with_flush() {
    let mut c = Cluster::new(1, limits());
    let a = c.connect(0);
    c.cores[0].begin_shutdown();
    assert!(c.cores[0].session(a).flush_before_close);
    assert_eq!(
        c.cores[0].take_output(a, &mut BytesMut::new()),
        OutputState::Close
    );
}

#[test]
fn congested_subscriber_is_reported_before_it_is_dropped() {
    let mut l = limits();
    l.max_pending_bytes = 8_000;
    let mut c = Cluster::new(1, l);
    let s = c.connect(0);
    c.subscribe(0, s, "SUB c 1");
    let p = c.connect(0);
    let payload = "z".repeat(1000);
    let mut list = Vec::new();
    for i in 0..5 {
        c.send(0, p, &format!("PUB c 1000\r\n{payload}\r\n"));
        c.cores[0].take_congested(&mut list);
        // 3/4 of 8000 = 6000 bytes: crossed at the 6th ~1010-byte message, not before.
        assert!(list.is_empty(), "congested too early at {i}");
    }
    c.send(0, p, &format!("PUB c 1000\r\n{payload}\r\n"));
    c.cores[0].take_congested(&mut list);
    assert_eq!(list, vec![s]);
    assert!(c.cores[0].is_congested(s));
    c.output(0, s);
    assert!(!c.cores[0].is_congested(s));
    assert!(c.cores[0].session(s).is_open());
}

#[test]
fn forwarded_bytes_are_credited_back() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB big 1");
    let p = c.connect(0);
    let payload = "q".repeat(1 << 20);
    for _ in 0..(PEER_INFLIGHT_HIGH_WATER_BYTES >> 20) + 1 {
        c.send(0, p, &format!("PUB big {}\r\n{payload}\r\n", payload.len()));
    }
    assert!(
        c.cores[0].peers_backlogged(),
        "uncredited bytes over the high-water mark"
    );
    // The receiver delivers but has not credited yet: still backlogged.
    let batch = c.cores[0].take_outgoing(1);
    let bytes = c.cores[1].on_ring(0, batch);
    assert_eq!(bytes, ((PEER_INFLIGHT_HIGH_WATER_BYTES >> 20) + 1) << 20);
    c.output(1, s);
    assert!(c.cores[0].peers_backlogged());
    c.cores[1].credit_peer(0, bytes);
    c.pump();
    assert!(!c.cores[0].peers_backlogged());
}

#[test]
fn shutdown_quiesce_delivers_everything_in_flight_before_closing() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB q 1");
    let p = c.connect(0);
    for _ in 0..100 {
        c.send(0, p, "PUB q 1\r\nx\r\n");
    }
    // The messages are still queued for the ring when shutdown starts on both cores.
    c.cores[0].stop_input();
    c.cores[1].stop_input();
    assert!(!c.cores[1].all_peers_quiesced());
    assert_eq!(
        c.send(0, p, "PUB q 1\r\nlate\r\n"),
        ReadStatus::Closed,
        "input refused once stopped"
    );
    c.pump();
    assert!(c.cores[0].all_peers_quiesced() && c.cores[1].all_peers_quiesced());
    c.cores[1].begin_shutdown();
    assert_eq!(
        msg_count(&c.output(1, s)),
        100,
        "nothing in flight lost, nothing late taken"
    );
}

#[test]
fn shutdown_second_quiesce_round_carries_later_deliveries() {
    let mut c = Cluster::new(2, limits());
    let s = c.connect(1);
    c.subscribe(1, s, "SUB late 1");
    c.cores[0].stop_input();
    c.cores[1].stop_input();
    c.pump();
    assert!(c.cores[0].all_peers_quiesced() && c.cores[1].all_peers_quiesced());
    assert!(!c.cores[1].peers_quiesced(2));
    // Something core 0 produces after the first round (a JetStream answer) ...
    c.cores[0].publish_internal(
        &Bytes::from_static(b"late"),
        None,
        0,
        &Bytes::from_static(b"x"),
    );
    c.cores[0].quiesce_again();
    c.cores[1].quiesce_again();
    c.pump();
    // ... has reached core 1 once it holds the second marker.
    assert!(c.cores[0].peers_quiesced(2) && c.cores[1].peers_quiesced(2));
    c.cores[1].begin_shutdown();
    assert_eq!(msg_count(&c.output(1, s)), 1);
}

/// Two cores with `[accounts]` A (exports) and B (imports); users a/b.
fn accounts_cluster() -> Cluster {
    #[derive(serde::Deserialize)]
    struct W {
        accounts: std::collections::BTreeMap<String, crate::accounts::config::AccountConfig>,
    }
    let w: W = toml::from_str(
        r#"
[accounts.A]
users = [ { user = "a", password = "a" } ]
exports = [ { service = "svc" }, { stream = "public.>" } ]
[accounts.B]
users = [ { user = "b", password = "b" } ]
imports = [ { service = { account = "A", subject = "svc" } }, { stream = { account = "A", subject = "public.>" }, prefix = "x" } ]
"#,
    )
    .unwrap();
    let accounts = std::sync::Arc::new(Accounts::build(&w.accounts, None, true, [7; 4]).unwrap());
    let auth = crate::auth::Authenticator::from_configs(None, &w.accounts).map(std::sync::Arc::new);
    let mut c = Cluster::new(2, limits());
    for e in &mut c.cores {
        e.set_auth(auth.clone());
        e.set_accounts(accounts.clone());
    }
    c
}

fn login(c: &mut Cluster, core: usize, user: &str) -> ConnId {
    let id = c.cores[core].open_conn("127.0.0.1", c.now_ns, true);
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"user\":\"{user}\",\"pass\":\"{user}\"}}\r\n"
    );
    assert_eq!(c.send(core, id, &connect), ReadStatus::Continue);
    c.output(core, id);
    id
}

#[test]
fn accounts_isolate_subjects_across_cores() {
    let mut c = accounts_cluster();
    let a = login(&mut c, 0, "a");
    let b = login(&mut c, 1, "b");
    c.subscribe(0, a, "SUB > 1");
    c.subscribe(1, b, "SUB > 1");
    c.send(1, b, "PUB orders 1\r\nb\r\n");
    c.send(0, a, "PUB orders 1\r\na\r\n");
    c.pump();
    let out_a = c.output(0, a);
    let out_b = c.output(1, b);
    assert_eq!(out_a, "MSG orders 1 1\r\na\r\n");
    assert_eq!(out_b, "MSG orders 1 1\r\nb\r\n");
    assert_eq!(c.cores[1].session(b).account, 2, "ids: $G 0, A 1, B 2");
}

#[test]
fn stream_import_under_prefix_and_service_reply_back_across_cores() {
    let mut c = accounts_cluster();
    let a = login(&mut c, 0, "a");
    let b = login(&mut c, 1, "b");
    c.subscribe(1, b, "SUB x.public.> 1");
    c.subscribe(1, b, "SUB _INBOX.r 2");
    c.subscribe(0, a, "SUB svc 9");
    c.send(0, a, "PUB public.news 2\r\nhi\r\nPUB private 1\r\nz\r\n");
    c.pump();
    assert_eq!(c.output(1, b), "MSG x.public.news 1 2\r\nhi\r\n");
    // The request reaches A with its reply mapped; the answer comes back to B's inbox.
    c.send(1, b, "PUB svc _INBOX.r 1\r\nq\r\n");
    c.pump();
    let req = c.output(0, a);
    let reply = req.split(' ').nth(3).unwrap().to_string();
    assert!(reply.starts_with("_R_.2."), "{req:?}");
    c.send(0, a, &format!("PUB {reply} 3\r\nans\r\n"));
    c.pump();
    assert_eq!(c.output(1, b), "MSG _INBOX.r 2 3\r\nans\r\n");
    // A forged mapped reply goes nowhere.
    c.send(0, a, "PUB _R_.2.0000000000000000._INBOX.r 1\r\nf\r\n");
    c.pump();
    assert_eq!(c.output(1, b), "");
}

/// Payloads of `VECTORED_PAYLOAD_BYTES` or more are queued as shared segments between the
/// control lines around them: the writer's segments, joined, are byte for byte the stream
/// a contiguous buffer would hold (a PONG queued later comes after them), each take stays
/// within `WRITE_MAX_SEGMENTS`, and pending bytes account for all of it.
#[test]
fn vectored_output_keeps_order_and_bounds_a_take() {
    let mut c = Cluster::new(1, limits());
    let sub = c.connect(0);
    c.subscribe(0, sub, "SUB v 1");
    let publisher = c.connect(0);
    let big = "b".repeat(VECTORED_PAYLOAD_BYTES);
    let (n, m) = (big.len(), big.len() + 12);
    let mut input = String::new();
    let mut want = String::new();
    for i in 0..600 {
        let small = format!("s{i}");
        input += &format!("PUB v {n}\r\n{big}\r\nPUB v {}\r\n{small}\r\n", small.len());
        want += &format!(
            "MSG v 1 {n}\r\n{big}\r\nMSG v 1 {}\r\n{small}\r\n",
            small.len()
        );
    }
    input += &format!("HPUB v 12 {m}\r\nNATS/1.0\r\n\r\n{big}\r\n");
    want += &format!("HMSG v 1 12 {m}\r\nNATS/1.0\r\n\r\n{big}\r\nPONG\r\n");
    c.send(0, publisher, &input);
    c.send(0, sub, "PING\r\n");
    assert_eq!(c.cores[0].session(sub).pending_bytes(), want.len());
    let mut joined = Vec::new();
    let mut takes = 0;
    let mut segs = Vec::new();
    while c.cores[0].take_output_segments(sub, &mut segs) == OutputState::Data {
        takes += 1;
        assert!(segs.len() <= WRITE_MAX_SEGMENTS, "{} segments", segs.len());
        assert!(
            segs.iter().any(|s| s.len() >= n),
            "large payloads travel as segments"
        );
        let taken: usize = segs.iter().map(|s| s.len()).sum();
        assert_eq!(
            c.cores[0].session(sub).pending_bytes(),
            want.len() - joined.len()
        );
        assert_eq!(c.cores[0].session(sub).inflight_bytes, taken);
        for s in segs.drain(..) {
            joined.extend_from_slice(&s);
        }
        c.cores[0].write_done(sub);
    }
    assert!(takes >= 2, "a backlog goes out in bounded takes");
    assert_eq!(String::from_utf8(joined).unwrap(), want);
    assert_eq!(c.cores[0].session(sub).pending_bytes(), 0);
}
