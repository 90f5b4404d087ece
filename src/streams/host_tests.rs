//! Stream host tests: engines and hosts of several cores wired together by hand, no
//! runtime and no disk (storage ops are inspected, then "completed" by releasing replies).

use bytes::BytesMut;

use super::*;
use crate::engine::tests::{info, limits};
use crate::engine::{Engine, EngineConfig, OutputState, ReadStatus};
use crate::protocol::info::ADVERTISED_VERSION;
use crate::session::ConnId;
use crate::shell::js_drive::JsDriver;

const CONNECT: &str = "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n";

struct Node {
    engine: Engine,
    host: StreamHost,
    driver: JsDriver,
}

impl Node {
    fn drive(&mut self, now: Clock) {
        self.driver.drive(&mut self.host, &mut self.engine, now);
    }
}

struct Cluster {
    nodes: Vec<Node>,
    /// The time every host is given (tests move it by hand).
    now: Clock,
    /// Storage ops seen, per core, in order.
    ops: Vec<Vec<StorageOp>>,
}

fn engine_cfg(core_id: usize, n_cores: usize) -> EngineConfig {
    EngineConfig {
        core_id,
        n_cores,
        limits: limits(),
        info: info(),
    }
}

impl Cluster {
    fn new(n: usize) -> Self {
        let mut nodes: Vec<Node> = (0..n)
            .map(|core_id| Node {
                engine: Engine::new(engine_cfg(core_id, n)),
                host: StreamHost::new(
                    HostConfig {
                        core_id,
                        n_cores: n,
                        store_dir: PathBuf::from("/nonexistent"),
                        server_name: "t".into(),
                        version: ADVERTISED_VERSION.into(),
                        max_memory_bytes: -1,
                        max_file_bytes: -1,
                        counts: Default::default(),
                        dead_letter: Default::default(),
                        domain: None,
                        batch: Default::default(),
                    },
                    7,
                ),
                driver: JsDriver::new(),
            })
            .collect();
        let now = Clock {
            mono_ns: 1_000_000_000,
            wall_ns: 1_700_000_000_000_000_000,
        };
        for node in &mut nodes {
            node.host.start();
            node.drive(now);
        }
        let mut c = Cluster {
            nodes,
            now,
            ops: (0..n).map(|_| Vec::new()).collect(),
        };
        c.settle();
        c
    }

    /// Runs hosts and rings until nothing moves; durable replies are released at once
    /// (as if every group commit succeeded), and the ops are recorded.
    fn settle(&mut self) {
        let n = self.nodes.len();
        for _round in 0..200 {
            let mut moved = false;
            for core in 0..n {
                let now = self.now;
                let node = &mut self.nodes[core];
                node.drive(now);
                let (ops, replies) = node.host.take_storage_batch(now);
                node.host.handle_storage_done(&[]);
                moved |= !ops.is_empty() || !replies.is_empty();
                self.ops[core].extend(ops);
                for r in replies {
                    node.engine
                        .publish_internal(&r.subject, None, 0, &r.payload);
                }
            }
            for from in 0..n {
                for to in 0..n {
                    if from == to {
                        continue;
                    }
                    let batch = self.nodes[from].engine.take_outgoing(to);
                    if !batch.is_empty() {
                        moved = true;
                        let bytes = self.nodes[to].engine.on_ring(from, batch);
                        self.nodes[to].engine.credit_peer(from, bytes);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("cluster never settled");
    }

    fn connect(&mut self, core: usize) -> ConnId {
        let e = &mut self.nodes[core].engine;
        let id = e.open_conn("127.0.0.1", 0, true);
        let mut buf = BytesMut::from(format!("{CONNECT}SUB _INBOX.> 1\r\n").as_bytes());
        assert_eq!(e.on_read(id, &mut buf, 0), ReadStatus::Continue);
        self.settle();
        self.output(core, id);
        id
    }

    fn send(&mut self, core: usize, conn: ConnId, bytes: &str) {
        let mut buf = BytesMut::from(bytes.as_bytes());
        self.nodes[core].engine.on_read(conn, &mut buf, 0);
        self.settle();
    }

    fn output(&mut self, core: usize, conn: ConnId) -> String {
        let mut all = Vec::new();
        loop {
            let mut buf = BytesMut::new();
            match self.nodes[core].engine.take_output(conn, &mut buf) {
                OutputState::Data => {
                    all.extend_from_slice(&buf);
                    self.nodes[core].engine.write_done(conn);
                }
                _ => break,
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    }

    /// A request on `subject` with JSON `body`; returns the reply payload.
    fn request(&mut self, core: usize, conn: ConnId, subject: &str, body: &str) -> String {
        self.send(
            core,
            conn,
            &format!("PUB {subject} _INBOX.r {}\r\n{body}\r\n", body.len()),
        );
        let out = self.output(core, conn);
        out.split("\r\n").nth(1).unwrap_or_default().to_string()
    }
}

#[test]
fn create_places_streams_round_robin_and_catalog_answers_names() {
    let mut c = Cluster::new(2);
    let conn = c.connect(1);
    for name in ["A", "B", "C"] {
        let r = c.request(
            1,
            conn,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &format!(
                "{{\"name\":\"{name}\",\"subjects\":[\"{}.>\"],\"storage\":\"memory\"}}",
                name.to_lowercase()
            ),
        );
        assert!(r.contains("\"did_create\":true"), "{r}");
    }
    assert_eq!(
        c.nodes[0].host.by_name.len() + c.nodes[1].host.by_name.len(),
        3
    );
    assert_eq!(
        c.nodes[0].host.by_name.len(),
        2,
        "round robin: A and C on core 0"
    );
    let names = c.request(1, conn, "$JS.API.STREAM.NAMES", "");
    assert!(names.contains("\"streams\":[\"A\",\"B\",\"C\"]"), "{names}");
    let filtered = c.request(1, conn, "$JS.API.STREAM.NAMES", "{\"subject\":\"b.x\"}");
    assert!(filtered.contains("\"streams\":[\"B\"]"), "{filtered}");
}

#[test]
fn publish_anywhere_is_stored_by_the_owner_and_acked() {
    let mut c = Cluster::new(2);
    let admin = c.connect(0);
    c.request(
        0,
        admin,
        "$JS.API.STREAM.CREATE.S",
        "{\"name\":\"S\",\"subjects\":[\"s.*\"],\"storage\":\"memory\"}",
    );
    let owner = if c.nodes[0].host.by_name.contains_key("S") {
        0
    } else {
        1
    };
    for core in [0, 1] {
        let p = c.connect(core);
        for i in 0..3 {
            let r = c.request(core, p, "s.x", &format!("m{i}"));
            assert!(
                r.starts_with("{\"stream\":\"S\",\"seq\":"),
                "core {core}: {r}"
            );
        }
    }
    let slot = c.nodes[owner].host.by_name["S"];
    let st = c.nodes[owner].host.streams[slot as usize].as_ref().unwrap();
    assert_eq!(st.store.state_summary().messages, 6);
}

#[test]
fn file_stream_acks_wait_for_storage_and_ops_are_ordered() {
    let mut c = Cluster::new(1);
    let conn = c.connect(0);
    // Drive by hand instead of settle, so the group commit is held and replies stay deferred.
    let feed = |c: &mut Cluster, bytes: String| {
        let mut buf = BytesMut::from(bytes.as_bytes());
        let node = &mut c.nodes[0];
        node.engine.on_read(conn, &mut buf, 0);
        node.drive(c.now);
    };
    let body = "{\"name\":\"F\",\"subjects\":[\"f\"]}";
    feed(
        &mut c,
        format!(
            "PUB $JS.API.STREAM.CREATE.F _INBOX.c {}\r\n{body}\r\n",
            body.len()
        ),
    );
    assert_eq!(
        c.output(0, conn),
        "",
        "create not answered before its files are durable"
    );
    feed(
        &mut c,
        "PUB f _INBOX.p 2\r\nhi\r\nPUB f _INBOX.q 2\r\nho\r\n".to_string(),
    );
    assert_eq!(
        c.output(0, conn),
        "",
        "nothing acknowledged before the storage batch is durable"
    );
    let (ops, replies) = c.nodes[0].host.take_storage_batch(c.now);
    assert!(matches!(ops[0], StorageOp::Create { first_seq: 1, .. }));
    assert!(
        matches!(&ops[1], StorageOp::Append { index, checkpoint: (1, 2, _), .. } if index.len() == 2),
        "both publishes in one append op, with the state after the second: {ops:?}"
    );
    assert_eq!(ops.len(), 2, "no compaction op without removals: {ops:?}");
    assert_eq!(
        replies.len(),
        3,
        "one group commit releases the create reply and both acks"
    );
    for r in replies {
        c.nodes[0]
            .engine
            .publish_internal(&r.subject, None, 0, &r.payload);
    }
    let out = c.output(0, conn);
    let create = out.find("did_create").expect("create reply");
    let ack1 = out.find("{\"stream\":\"F\",\"seq\":1}").expect("first ack");
    let ack2 = out
        .find("{\"stream\":\"F\",\"seq\":2}")
        .expect("second ack");
    assert!(create < ack1 && ack1 < ack2, "replies in order: {out}");
}

#[test]
fn per_stream_requests_are_forwarded_to_the_owner() {
    let mut c = Cluster::new(3);
    let conn = c.connect(2);
    for name in ["X", "Y"] {
        c.request(
            2,
            conn,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &format!("{{\"name\":\"{name}\",\"storage\":\"memory\"}}"),
        );
    }
    c.request(2, conn, "Y", "payload");
    let info = c.request(2, conn, "$JS.API.STREAM.INFO.Y", "");
    assert!(info.contains("\"messages\":1"), "{info}");
    let got = c.request(2, conn, "$JS.API.STREAM.MSG.GET.Y", "{\"seq\":1}");
    assert!(got.contains("\"data\":\"cGF5bG9hZA==\""), "{got}");
    let del = c.request(2, conn, "$JS.API.STREAM.DELETE.Y", "");
    assert!(del.contains("\"success\":true"), "{del}");
    let gone = c.request(2, conn, "$JS.API.STREAM.INFO.Y", "");
    assert!(gone.contains("10059"), "{gone}");
    // With the stream gone its subject has no responders.
    c.send(2, conn, "PUB Y _INBOX.z 0\r\n\r\n");
    assert!(c.output(2, conn).contains("503"));
}

#[test]
fn direct_get_only_with_allow_direct() {
    let mut c = Cluster::new(2);
    let conn = c.connect(0);
    c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.D",
        "{\"name\":\"D\",\"subjects\":[\"d.>\"],\"storage\":\"memory\",\"allow_direct\":true}",
    );
    c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.N",
        "{\"name\":\"N\",\"subjects\":[\"n.>\"],\"storage\":\"memory\"}",
    );
    c.request(0, conn, "d.k", "v1");
    c.request(0, conn, "d.k", "v2");
    c.send(0, conn, "PUB $JS.API.DIRECT.GET.D.d.k _INBOX.g 0\r\n\r\n");
    let out = c.output(0, conn);
    assert!(out.contains("Nats-Sequence: 2"), "{out}");
    assert!(out.ends_with("v2\r\n"), "{out}");
    c.send(0, conn, "PUB $JS.API.DIRECT.GET.N.n.k _INBOX.g 0\r\n\r\n");
    assert!(c.output(0, conn).contains("NATS/1.0 503"));
}

impl Cluster {
    /// Moves both clocks on (the wall clock by `wall_delta`, which may be negative: a jump)
    /// and runs every core's consumer timers, then settles.
    fn advance(&mut self, mono_ns: u64, wall_delta: i64) {
        self.now.mono_ns += mono_ns;
        self.now.wall_ns = self.now.wall_ns.saturating_add_signed(wall_delta);
        let now = self.now;
        for node in &mut self.nodes {
            node.driver
                .tick_consumers(&mut node.host, &mut node.engine, now);
        }
        self.settle();
    }
}

/// One memory stream `S` on `s.>` with a pull consumer `C` (explicit acks, 2 s ack wait)
/// and one message delivered to a pull request and left unacked; returns the connection.
fn one_unacked_delivery(c: &mut Cluster, consumer_extra: &str) -> ConnId {
    let conn = c.connect(0);
    let r = c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.S",
        "{\"name\":\"S\",\"subjects\":[\"s.>\"],\"storage\":\"memory\"}",
    );
    assert!(r.contains("did_create"), "{r}");
    let r = c.request(
        0,
        conn,
        "$JS.API.CONSUMER.CREATE.S.C",
        &format!(
            "{{\"stream_name\":\"S\",\"config\":{{\"name\":\"C\",\"ack_policy\":\"explicit\",\"ack_wait\":{ACK_WAIT_NS}{consumer_extra}}}}}"
        ),
    );
    assert!(r.contains("\"name\":\"C\""), "{r}");
    c.request(0, conn, "s.x", "hi");
    c.send(
        0,
        conn,
        "PUB $JS.API.CONSUMER.MSG.NEXT.S.C _INBOX.n 11\r\n{\"batch\":1}\r\n",
    );
    conn
}

#[test]
fn monitor_view_reports_owned_streams_and_consumers() {
    let mut c = Cluster::new(2);
    one_unacked_delivery(&mut c, "");
    let views: Vec<JsCoreView> = c
        .nodes
        .iter_mut()
        .map(|n| n.host.monitor_view(false, false))
        .collect();
    assert_eq!(views.iter().map(|v| v.streams).sum::<u64>(), 1);
    assert_eq!(views.iter().map(|v| v.consumers).sum::<u64>(), 1);
    assert_eq!(views.iter().map(|v| v.messages).sum::<u64>(), 1);
    assert!(views.iter().map(|v| v.memory).sum::<u64>() > 0);
    assert_eq!(views.iter().map(|v| v.storage).sum::<u64>(), 0);
    assert!(views.iter().all(|v| v.stream_detail.is_empty()));
    assert!(views[0].api_total >= 2, "the meta core counts API requests");
    assert_eq!(views[1].api_total, 0);

    let owner = (0..2)
        .find(|&i| c.nodes[i].host.by_name.contains_key("S"))
        .unwrap();
    let v = c.nodes[owner].host.monitor_view(true, false);
    assert_eq!(v.stream_detail.len(), 1);
    assert!(v.stream_detail[0].consumers.is_empty());
    let v = c.nodes[owner].host.monitor_view(true, true);
    let s = &v.stream_detail[0];
    assert_eq!(s.config.name, "S");
    assert_eq!((s.state.messages, s.state.consumer_count), (1, 1));
    let cv = &s.consumers[0];
    assert_eq!(cv.name, "C");
    assert_eq!(cv.delivered.stream_seq, 1);
    assert_eq!(cv.ack_floor.stream_seq, 0);
    assert_eq!((cv.num_ack_pending, cv.num_pending), (1, 0));
}

const ACK_WAIT_NS: u64 = 2_000_000_000;

/// A waiting pull request (60 s), so a redelivery has somewhere to go.
fn wait_for_more(c: &mut Cluster, conn: ConnId) {
    let body = "{\"batch\":1,\"expires\":60000000000}";
    c.send(
        0,
        conn,
        &format!(
            "PUB $JS.API.CONSUMER.MSG.NEXT.S.C _INBOX.w {}\r\n{body}\r\n",
            body.len()
        ),
    );
}

#[test]
fn redelivery_fires_at_exactly_ack_wait_on_the_injected_clock() {
    let mut c = Cluster::new(1);
    let conn = one_unacked_delivery(&mut c, "");
    let first = c.output(0, conn);
    assert!(
        first.contains("$JS.ACK.S.C.1.1.1."),
        "first delivery: {first}"
    );
    wait_for_more(&mut c, conn);
    assert_eq!(c.output(0, conn), "", "nothing more to deliver yet");
    c.advance(ACK_WAIT_NS - 1, 0);
    assert_eq!(c.output(0, conn), "", "1 ns before ack_wait: not yet");
    c.advance(1, 0);
    let again = c.output(0, conn);
    assert!(
        again.contains("MSG s.x 1 $JS.ACK.S.C.2.1.2."),
        "redelivered at ack_wait, second delivery: {again}"
    );
}

#[test]
fn redelivery_ignores_wall_clock_jumps() {
    let mut c = Cluster::new(1);
    let conn = one_unacked_delivery(&mut c, "");
    c.output(0, conn);
    wait_for_more(&mut c, conn);
    // The wall clock jumps an hour ahead, then a day back: no effect on the timer.
    c.advance(1_000_000, 3_600_000_000_000);
    assert_eq!(c.output(0, conn), "", "a forward jump redelivers nothing");
    c.advance(ACK_WAIT_NS - 2_000_000, -86_400_000_000_000);
    assert_eq!(
        c.output(0, conn),
        "",
        "still 1 ms to go on the monotonic clock"
    );
    c.advance(1_000_000, 0);
    assert!(
        c.output(0, conn).contains("$JS.ACK.S.C.2.1.2."),
        "redelivered when the monotonic clock says so"
    );
}

#[test]
fn acked_message_is_not_redelivered() {
    let mut c = Cluster::new(1);
    let conn = one_unacked_delivery(&mut c, "");
    let first = c.output(0, conn);
    let ack = first
        .split_whitespace()
        .find(|t| t.starts_with("$JS.ACK."))
        .expect("ack subject")
        .to_string();
    c.send(0, conn, &format!("PUB {ack} 0\r\n\r\n"));
    wait_for_more(&mut c, conn);
    c.advance(10 * ACK_WAIT_NS, 0);
    assert_eq!(c.output(0, conn), "", "an acked message stays acked");
}

#[test]
fn pause_until_is_kept_on_the_monotonic_clock() {
    let mut c = Cluster::new(1);
    // Paused until 5 s after the (wall) time of creation.
    let until_ns = c.now.wall_ns + 5_000_000_000;
    let until = crate::jetstream::time::format_rfc3339_nanos(until_ns);
    let conn = one_unacked_delivery(&mut c, &format!(",\"pause_until\":\"{until}\""));
    assert!(
        !c.output(0, conn).contains("MSG s.x"),
        "nothing delivered while paused"
    );
    // A wall clock jump past the pause does not end it.
    c.advance(4_000_000_000, 3_600_000_000_000);
    assert!(!c.output(0, conn).contains("MSG s.x"), "still paused");
    c.advance(1_000_000_000, 0);
    assert!(
        c.output(0, conn).contains("MSG s.x 1 $JS.ACK.S.C.1.1.1."),
        "delivered once the pause ended on the monotonic clock"
    );
}

#[test]
fn internal_publishes_of_a_round_survive_consumer_polling() {
    // Round 1 stores a message (the NAMES reply captured by LOG) and produces another internal
    // publish (the forwarded INFO's reply, also captured by LOG); round 2 polls LOG's
    // consumers before handling that publish, which must not drop it.
    let mut c = Cluster::new(1);
    let conn = c.connect(0);
    for (name, subject) in [("A", "a.>"), ("LOG", "log.>")] {
        let r = c.request(
            0,
            conn,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &format!("{{\"name\":\"{name}\",\"subjects\":[\"{subject}\"],\"storage\":\"memory\"}}"),
        );
        assert!(r.contains("did_create"), "{r}");
    }
    c.send(
        0,
        conn,
        "PUB $JS.API.STREAM.NAMES log.names 0\r\n\r\nPUB $JS.API.STREAM.INFO.A log.info 0\r\n\r\n",
    );
    let slot = c.nodes[0].host.by_name["LOG"];
    let st = c.nodes[0].host.streams[slot as usize].as_ref().unwrap();
    let subjects: Vec<String> = st
        .store
        .range_from(0)
        .map(|m| String::from_utf8_lossy(&m.subject).into_owned())
        .collect();
    assert_eq!(subjects, ["log.names", "log.info"], "both replies stored");
}

#[test]
fn create_reply_waits_until_the_new_subjects_are_visible_on_every_core() {
    let mut c = Cluster::new(2);
    let conn = c.connect(0);
    // Stream A goes to core 0, so B (the one watched) is placed on core 1.
    c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.A",
        "{\"name\":\"A\",\"subjects\":[\"a\"],\"storage\":\"memory\"}",
    );
    let body = "{\"name\":\"B\",\"subjects\":[\"b.>\"],\"storage\":\"memory\"}";
    let mut buf = BytesMut::from(
        format!(
            "PUB $JS.API.STREAM.CREATE.B _INBOX.c {}\r\n{body}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let now = c.now;
    c.nodes[0].engine.on_read(conn, &mut buf, 0);
    c.nodes[0].drive(now);
    // The meta core placed B on core 1: hand it the Create item only.
    let batch = c.nodes[0].engine.take_outgoing(1);
    assert!(!batch.is_empty(), "create forwarded to core 1");
    c.nodes[1].engine.on_ring(0, batch);
    c.nodes[1].drive(now);
    assert!(
        c.nodes[1].host.by_name.contains_key("B"),
        "B installed on core 1"
    );
    assert!(
        c.nodes[1].host.has_own_work(),
        "the create reply is held until core 0 has applied B's subjects"
    );
    let early = c.nodes[1].engine.take_outgoing(0);
    let held = early.iter().any(|item| {
        matches!(item, crate::mesh::RingItem::Deliver(m) if m.subject.as_ref() == b"_INBOX.c")
    });
    assert!(!held, "no reply before the interest is visible");
    // Core 0 applies the interest (and acks it); then the reply goes out.
    c.nodes[0].engine.on_ring(1, early);
    c.settle();
    let out = c.output(0, conn);
    assert!(
        out.contains("did_create"),
        "reply released once visible: {out}"
    );
    assert!(!c.nodes[1].host.has_own_work());
}

#[test]
fn a_refused_commit_is_forgotten_before_consumers_see_it() {
    let mut c = Cluster::new(1);
    let conn = c.connect(0);
    let r = c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.F",
        "{\"name\":\"F\",\"subjects\":[\"f\"]}",
    );
    assert!(r.contains("\"did_create\":true"), "{r}");
    let r = c.request(
        0,
        conn,
        "$JS.API.CONSUMER.DURABLE.CREATE.F.C",
        "{\"stream_name\":\"F\",\"config\":{\"durable_name\":\"C\",\"ack_policy\":\"explicit\"}}",
    );
    assert!(r.contains("\"num_pending\":0"), "{r}");
    let slot = c.nodes[0].host.by_name["F"];
    let pending = |c: &mut Cluster| {
        let st = c.nodes[0].host.streams[slot as usize].as_mut().unwrap();
        let view = Visible::new(&st.store, st.visible_upto);
        st.consumers
            .get_mut("C")
            .unwrap()
            .machine
            .num_pending(&view)
    };
    // Two publishes with message ids, held in one group commit by driving by hand.
    let hpub = |id: &str| {
        let h = format!("NATS/1.0\r\nNats-Msg-Id: {id}\r\n\r\n");
        format!("HPUB f _INBOX.p {} {}\r\n{h}hi\r\n", h.len(), h.len() + 2)
    };
    let mut buf = BytesMut::from(format!("{}{}", hpub("a"), hpub("b")).as_bytes());
    c.nodes[0].engine.on_read(conn, &mut buf, 0);
    c.nodes[0].drive(c.now);
    {
        let st = c.nodes[0].host.streams[slot as usize].as_ref().unwrap();
        assert_eq!(st.store.last_seq(), 2, "applied in memory");
    }
    assert_eq!(
        pending(&mut c),
        0,
        "consumers see nothing before it is durable"
    );
    let (ops, replies) = c.nodes[0].host.take_storage_batch(c.now);
    assert_eq!(ops.len(), 1, "both publishes in one append op");
    assert_eq!(replies.len(), 2);
    // The commit failed: the storage task reports it before the error replies go out.
    assert_eq!(
        c.nodes[0].host.handle_storage_done(&[StorageRefusal {
            slot,
            from_seq: 1,
            stopped: None,
        }]),
        2
    );
    {
        let st = c.nodes[0].host.streams[slot as usize].as_ref().unwrap();
        let s = state_view(st, false);
        assert_eq!(
            (s.messages, s.last_seq),
            (0, 0),
            "refused messages forgotten"
        );
    }
    c.settle();
    assert_eq!(pending(&mut c), 0);
    // A retry with the same message id is stored (not a duplicate of nothing), reusing seq 1.
    let mut buf = BytesMut::from(hpub("a").as_bytes());
    c.nodes[0].engine.on_read(conn, &mut buf, 0);
    c.settle();
    let out = c.output(0, conn);
    assert!(out.contains("{\"stream\":\"F\",\"seq\":1}"), "{out}");
    assert!(!out.contains("duplicate"), "{out}");
    assert_eq!(pending(&mut c), 1, "visible once durable");
}

#[test]
fn a_stopped_stream_refuses_publishes_at_once_and_still_answers_info() {
    let mut c = Cluster::new(1);
    let conn = c.connect(0);
    c.request(
        0,
        conn,
        "$JS.API.STREAM.CREATE.F",
        "{\"name\":\"F\",\"subjects\":[\"f\"]}",
    );
    let r = c.request(0, conn, "f", "one");
    assert_eq!(r, "{\"stream\":\"F\",\"seq\":1}");
    let slot = c.nodes[0].host.by_name["F"];
    // A publish whose commit fails its fdatasync: refused, and the stream stops.
    let mut buf = BytesMut::from("PUB f _INBOX.p 3\r\ntwo\r\n".as_bytes());
    c.nodes[0].engine.on_read(conn, &mut buf, 0);
    c.nodes[0].drive(c.now);
    let _ = c.nodes[0].host.take_storage_batch(c.now);
    let why = "fdatasync: input/output error".to_string();
    c.nodes[0].host.handle_storage_done(&[StorageRefusal {
        slot,
        from_seq: 2,
        stopped: Some(why.clone()),
    }]);
    c.settle();
    // Later publishes are refused by the host itself, with the reason; nothing is applied.
    let r = c.request(0, conn, "f", "three");
    assert_eq!(
        r,
        "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":\"fdatasync: input/output error\"},\"stream\":\"F\",\"seq\":0}"
    );
    let r = c.request(0, conn, "$JS.API.STREAM.INFO.F", "");
    assert!(r.contains("\"messages\":1,"), "{r}");
    assert!(r.contains("\"last_seq\":1,"), "{r}");
    let summary = c.nodes[0]
        .host
        .catalog
        .entries
        .get("F")
        .expect("in catalog");
    assert_eq!(summary.failed.as_deref(), Some(why.as_str()));
}
