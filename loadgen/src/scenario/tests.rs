//! Every scenario run briefly against the server under test (see
//! `testutil`: nats-server by default, natrix when selected) and against the
//! in-process ceiling: each must count exactly, and must fail when a proxy
//! drops one message.

use std::time::Duration;

use super::*;
use crate::payload::seq_word;
use crate::testutil::{
    nats_server_bin, or_skip, server_under_test, Direction, DropProxy, DropRule, ServerKind,
    TestServer,
};

fn core_server() -> Option<TestServer> {
    let kind = or_skip(server_under_test())?;
    or_skip(TestServer::start(&kind, false))
}

/// A core server whose /varz answers (pub-only runs can only be
/// cross-checked through the server's own counters).
fn server_with_varz() -> Option<TestServer> {
    let srv = core_server()?;
    let monitor = srv.monitor.clone().unwrap_or_default();
    or_skip(varz_in_msgs(&monitor).map_err(|e| format!("server has no usable /varz: {e}")))?;
    Some(srv)
}

fn nats_server(jetstream: bool) -> Option<TestServer> {
    let bin = or_skip(nats_server_bin().ok_or_else(|| "nats-server not found".to_owned()))?;
    or_skip(TestServer::start(&ServerKind::NatsServer(bin), jetstream))
}

fn js_server() -> Option<TestServer> {
    nats_server(true)
}

fn common(url: &str) -> Common {
    Common {
        url: url.to_owned(),
        msgs: 20_000,
        duration: Duration::from_secs(30),
        size: 32,
        drain_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

fn assert_exact(r: &RunResult, sent: u64, expected: u64) {
    assert!(r.verification.ok, "verification failed:\n{}", r.human());
    assert_eq!(r.sent, sent, "{}", r.human());
    assert_eq!(r.expected, expected, "{}", r.human());
    assert_eq!(r.received, expected, "{}", r.human());
    assert!(r.msgs_per_s > 0.0);
}

fn assert_one_lost(r: &RunResult, proxy: &DropProxy) {
    assert_eq!(
        proxy.dropped(),
        1,
        "the proxy must have dropped exactly one message:\n{}",
        r.human()
    );
    assert!(
        !r.verification.ok,
        "a dropped message went unnoticed:\n{}",
        r.human()
    );
    assert_eq!(r.verification.lost, 1, "{}", r.human());
}

fn drop_to_client(srv: &TestServer, pub_id: u32, n: u64) -> DropProxy {
    DropProxy::start(
        &srv.url,
        DropRule {
            seq_word: seq_word(pub_id, n),
            direction: Direction::ToClient,
        },
    )
}

fn drop_to_server(srv: &TestServer, pub_id: u32, n: u64) -> DropProxy {
    DropProxy::start(
        &srv.url,
        DropRule {
            seq_word: seq_word(pub_id, n),
            direction: Direction::ToServer,
        },
    )
}

#[test]
fn pub_counts_exactly_and_cross_checks_varz() {
    let Some(srv) = server_with_varz() else {
        return;
    };
    let c = Common {
        pubs: 2,
        monitor: srv.monitor.clone(),
        ..common(&srv.url)
    };
    let r = run(&Scenario::Pub, &c).unwrap();
    assert_exact(&r, 20_000, 0);
    assert!(
        r.verification
            .checked
            .iter()
            .any(|s| s.contains("in_msgs grew by 20000")),
        "{:?}",
        r.verification.checked
    );
}

#[test]
fn pub_detects_a_dropped_publish_through_varz() {
    let Some(srv) = server_with_varz() else {
        return;
    };
    let proxy = drop_to_server(&srv, 1, 4321);
    let c = Common {
        pubs: 2,
        monitor: srv.monitor.clone(),
        ..common(&proxy.url)
    };
    let r = run(&Scenario::Pub, &c).unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn pubsub_counts_exactly_over_several_subjects() {
    let Some(srv) = core_server() else { return };
    let c = Common {
        pubs: 2,
        subs: 2,
        subjects: 3,
        ..common(&srv.url)
    };
    let r = run(&Scenario::PubSub, &c).unwrap();
    assert_exact(&r, 20_000, 40_000);
    let lat = r.latency.expect("pubsub measures latency");
    assert_eq!(lat.count, 40_000);
}

#[test]
fn pubsub_detects_a_dropped_delivery() {
    let Some(srv) = core_server() else { return };
    let proxy = drop_to_client(&srv, 1, 5000);
    let c = Common {
        pubs: 2,
        subs: 2,
        ..common(&proxy.url)
    };
    let r = run(&Scenario::PubSub, &c).unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn fanout_counts_exactly_and_detects_a_drop() {
    let Some(srv) = core_server() else { return };
    let c = Common {
        subs: 4,
        msgs: 10_000,
        ..common(&srv.url)
    };
    let r = run(&Scenario::Fanout, &c).unwrap();
    assert_exact(&r, 10_000, 40_000);
    let proxy = drop_to_client(&srv, 0, 9_999);
    let r = run(
        &Scenario::Fanout,
        &Common {
            url: proxy.url.clone(),
            ..c
        },
    )
    .unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn fanout_refuses_several_publishers() {
    let c = Common {
        pubs: 2,
        ..common("ceiling:pipe")
    };
    assert!(matches!(
        run(&Scenario::Fanout, &c),
        Err(ScenarioError::Options(_))
    ));
}

#[test]
fn queue_delivers_each_message_once_and_detects_a_drop() {
    let Some(srv) = core_server() else { return };
    let q = Scenario::Queue {
        group: "workers".into(),
    };
    let c = Common {
        subs: 3,
        subjects: 2,
        ..common(&srv.url)
    };
    let r = run(&q, &c).unwrap();
    assert_exact(&r, 20_000, 20_000);
    let proxy = drop_to_client(&srv, 0, 123);
    let r = run(
        &q,
        &Common {
            url: proxy.url.clone(),
            ..c
        },
    )
    .unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn reqrep_matches_every_reply_and_detects_a_lost_request() {
    let Some(srv) = core_server() else { return };
    let c = Common {
        pubs: 4,
        subs: 2,
        msgs: 2_000,
        drain_timeout: Duration::from_secs(1),
        ..common(&srv.url)
    };
    let r = run(&Scenario::ReqRep, &c).unwrap();
    assert_exact(&r, 2_000, 2_000);
    assert_eq!(r.latency.as_ref().map(|l| l.count), Some(2_000));
    let proxy = drop_to_server(&srv, 2, 100);
    let r = run(
        &Scenario::ReqRep,
        &Common {
            url: proxy.url.clone(),
            ..c
        },
    )
    .unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn latency_paces_and_detects_a_drop() {
    let Some(srv) = core_server() else { return };
    let c = Common {
        rate: 5_000,
        msgs: 5_000,
        size: 16,
        ..common(&srv.url)
    };
    let r = run(&Scenario::Latency, &c).unwrap();
    assert_exact(&r, 5_000, 5_000);
    // 5000 msgs at 5000/s take about a second: pacing worked.
    assert!(r.elapsed_s > 0.9 && r.elapsed_s < 5.0, "{}", r.human());
    let lat = r.latency.as_ref().expect("latency");
    assert!(lat.kind.contains("coordinated omission"));
    assert!(lat.p50_us > 0.0 && lat.p50_us <= lat.p99_us && lat.p99_us <= lat.max_us);
    let proxy = drop_to_client(&srv, 0, 2_500);
    let r = run(
        &Scenario::Latency,
        &Common {
            url: proxy.url.clone(),
            ..c
        },
    )
    .unwrap();
    assert_one_lost(&r, &proxy);
    assert!(matches!(
        run(
            &Scenario::Latency,
            &Common {
                rate: 0,
                ..common(&srv.url)
            }
        ),
        Err(ScenarioError::Options(_))
    ));
}

#[test]
fn tiny_bodies_are_counted_even_without_sequence_words() {
    let Some(srv) = core_server() else { return };
    let c = Common {
        size: 0,
        subs: 2,
        msgs: 5_000,
        ..common(&srv.url)
    };
    let r = run(&Scenario::PubSub, &c).unwrap();
    assert_exact(&r, 5_000, 10_000);
    assert!(r.latency.is_none());
}

#[test]
fn unreachable_server_is_an_error_not_a_result() {
    let port = crate::testutil::free_port();
    let c = common(&format!("nats://127.0.0.1:{port}"));
    assert!(matches!(
        run(&Scenario::Pub, &c),
        Err(ScenarioError::Connect { .. })
    ));
}

fn js_opts() -> JsOptions {
    JsOptions {
        stream: "LGTEST".into(),
        window: 32,
        batch: 50,
        ..Default::default()
    }
}

#[test]
fn js_pub_checks_every_ack() {
    let Some(srv) = js_server() else { return };
    let c = Common {
        pubs: 2,
        msgs: 4_000,
        subjects: 2,
        ..common(&srv.url)
    };
    let r = run(&Scenario::JsPub(js_opts()), &c).unwrap();
    assert_exact(&r, 4_000, 4_000);
    assert!(r
        .verification
        .checked
        .iter()
        .any(|s| s.contains("stream holds 4000")));
    let memory = JsOptions {
        storage: "memory".into(),
        ..js_opts()
    };
    let r = run(&Scenario::JsPub(memory), &Common { pubs: 1, ..c }).unwrap();
    assert_exact(&r, 4_000, 4_000);
}

#[test]
fn js_pub_detects_a_lost_publish() {
    let Some(srv) = js_server() else { return };
    let proxy = drop_to_server(&srv, 0, 1_000);
    let c = Common {
        msgs: 3_000,
        drain_timeout: Duration::from_secs(1),
        ..common(&proxy.url)
    };
    let r = run(&Scenario::JsPub(js_opts()), &c).unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn js_pub_without_jetstream_is_an_error() {
    let Some(srv) = nats_server(false) else {
        return;
    };
    let c = Common {
        msgs: 10,
        ..common(&srv.url)
    };
    assert!(matches!(
        run(&Scenario::JsPub(js_opts()), &c),
        Err(ScenarioError::JetStream { .. })
    ));
}

#[test]
fn js_consume_explicit_acks_every_message_once() {
    let Some(srv) = js_server() else { return };
    let c = Common {
        subs: 2,
        msgs: 5_000,
        ..common(&srv.url)
    };
    let r = run(&Scenario::JsConsume(js_opts()), &c).unwrap();
    assert_exact(&r, 5_000, 5_000);
    assert!(
        r.verification
            .checked
            .iter()
            .any(|s| s.contains("ack floor")),
        "{:?}",
        r.verification.checked
    );
    let none = JsOptions {
        ack: "none".into(),
        ..js_opts()
    };
    let r = run(&Scenario::JsConsume(none), &Common { subs: 1, ..c }).unwrap();
    assert_exact(&r, 5_000, 5_000);
}

#[test]
fn js_consume_detects_a_dropped_delivery() {
    let Some(srv) = js_server() else { return };
    let proxy = drop_to_client(&srv, 0, 2_000);
    let none = JsOptions {
        ack: "none".into(),
        ..js_opts()
    };
    let c = Common {
        msgs: 4_000,
        duration: Duration::from_secs(3),
        ..common(&proxy.url)
    };
    let r = run(&Scenario::JsConsume(none), &c).unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn js_consume_push_answers_flow_control_and_gets_every_message_once() {
    let Some(srv) = js_server() else { return };
    let c = Common {
        msgs: 5_000,
        size: 1024,
        ..common(&srv.url)
    };
    for ack in ["explicit", "none"] {
        let push = JsOptions {
            push: true,
            ack: ack.into(),
            ..js_opts()
        };
        let r = run(&Scenario::JsConsume(push), &c).unwrap();
        assert_exact(&r, 5_000, 5_000);
        assert_eq!(r.params.mode.as_deref(), Some("push"));
        let fc = r
            .verification
            .checked
            .iter()
            .find(|s| s.contains("flow-control requests answered"))
            .expect("push run reports flow control");
        assert!(
            !fc.contains("(0 flow-control"),
            "5 MB must trigger flow control: {fc}"
        );
    }
    let two = JsOptions {
        push: true,
        ..js_opts()
    };
    assert!(matches!(
        run(&Scenario::JsConsume(two), &Common { subs: 2, ..c }),
        Err(ScenarioError::Options(_))
    ));
}

#[test]
fn js_consume_push_detects_a_dropped_delivery() {
    let Some(srv) = js_server() else { return };
    let proxy = drop_to_client(&srv, 0, 1_500);
    let push = JsOptions {
        push: true,
        ack: "none".into(),
        ..js_opts()
    };
    let c = Common {
        msgs: 3_000,
        duration: Duration::from_secs(3),
        ..common(&proxy.url)
    };
    let r = run(&Scenario::JsConsume(push), &c).unwrap();
    assert_one_lost(&r, &proxy);
}

fn kv_opts() -> JsOptions {
    JsOptions {
        bucket: "lgtest".into(),
        keys: 100,
        window: 32,
        ..Default::default()
    }
}

#[test]
fn kv_put_acks_every_put_and_keeps_one_value_per_key() {
    let Some(srv) = js_server() else { return };
    let c = Common {
        pubs: 2,
        msgs: 4_000,
        ..common(&srv.url)
    };
    let r = run(&Scenario::KvPut(kv_opts()), &c).unwrap();
    assert_exact(&r, 4_000, 4_000);
    assert_eq!(r.latency.as_ref().map(|l| l.count), Some(4_000));
    assert!(
        r.verification
            .checked
            .iter()
            .any(|s| s.contains("bucket holds 100 keys, last sequence 4000")),
        "{:?}",
        r.verification.checked
    );
    let few = Common { msgs: 30, ..c };
    let r = run(&Scenario::KvPut(kv_opts()), &few).unwrap();
    assert_exact(&r, 30, 30);
}

#[test]
fn kv_get_checks_every_reply_and_detects_a_lost_one() {
    let Some(srv) = js_server() else { return };
    let c = Common {
        pubs: 2,
        msgs: 5_000,
        drain_timeout: Duration::from_secs(1),
        ..common(&srv.url)
    };
    let r = run(&Scenario::KvGet(kv_opts()), &c).unwrap();
    assert_exact(&r, 5_000, 5_000);
    assert_eq!(r.latency.as_ref().map(|l| l.count), Some(5_000));
    // Key 7's value carries prefill message 7: drop its first get reply.
    let proxy = drop_to_client(&srv, 0, 7);
    let r = run(
        &Scenario::KvGet(kv_opts()),
        &Common {
            url: proxy.url.clone(),
            ..c
        },
    )
    .unwrap();
    assert_one_lost(&r, &proxy);
}

#[test]
fn kv_options_are_validated() {
    let c = common("nats://127.0.0.1:1");
    for bad in [
        JsOptions {
            keys: 0,
            ..kv_opts()
        },
        JsOptions {
            bucket: "a.b".into(),
            ..kv_opts()
        },
    ] {
        assert!(matches!(
            run(&Scenario::KvPut(bad.clone()), &c),
            Err(ScenarioError::Options(_))
        ));
        assert!(matches!(
            run(&Scenario::KvGet(bad), &c),
            Err(ScenarioError::Options(_))
        ));
    }
}

#[test]
fn js_seek_starts_every_consumer_at_the_middle_message() {
    let Some(srv) = js_server() else { return };
    let seek = JsOptions {
        window: 1024,
        repeats: 3,
        ..js_opts()
    };
    let c = Common {
        msgs: 20_000,
        size: 16,
        ..common(&srv.url)
    };
    let r = run(&Scenario::JsSeek(seek.clone()), &c).unwrap();
    assert_exact(&r, 3, 3);
    let lat = r.latency.as_ref().expect("seek times");
    assert_eq!(lat.count, 3);
    assert!(lat.p50_us > 0.0 && lat.max_us < 30e6, "{}", r.human());
    assert!(
        r.verification
            .checked
            .iter()
            .any(|s| s.contains("3 of 3 consumers started at sequence")),
        "{:?}",
        r.verification.checked
    );
    assert!(matches!(
        run(&Scenario::JsSeek(JsOptions { repeats: 0, ..seek }), &c),
        Err(ScenarioError::Options(_))
    ));
}

#[test]
fn ceiling_sink_counts_every_publish() {
    let c = Common {
        pubs: 2,
        ..common("ceiling:sink")
    };
    let r = run(&Scenario::Pub, &c).unwrap();
    assert_exact(&r, 20_000, 0);
    assert!(r
        .verification
        .checked
        .iter()
        .any(|s| s == "ceiling framed 20000 PUBs"));
    assert!(r.server.starts_with("ceiling-sink"));
}

#[test]
fn ceiling_pipe_carries_every_core_scenario() {
    let c = Common {
        subs: 3,
        msgs: 10_000,
        ..common("ceiling:pipe")
    };
    assert_exact(&run(&Scenario::PubSub, &c).unwrap(), 10_000, 30_000);
    let q = Scenario::Queue { group: "g".into() };
    assert_exact(&run(&q, &c).unwrap(), 10_000, 10_000);
    let rr = Common {
        pubs: 3,
        msgs: 900,
        ..c.clone()
    };
    assert_exact(&run(&Scenario::ReqRep, &rr).unwrap(), 900, 900);
}
