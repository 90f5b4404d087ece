//! Core pub/sub integration tests driven by the official Rust client (async-nats 0.51).
//!
//! Every test here also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`).
//! Core-placement assertions (natrix: INFO `client_id % cores`) only run against natrix.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, HeaderMap, Subscriber};
use bytes::Bytes;
use futures::StreamExt;

use common::{bounded, round_trip, sync_subs, RawConn, TestServer, WAIT};

/// Next message on a subscription, bounded by `WAIT`; skips the harness' `_itest.` probes
/// (which wide wildcard subscriptions like `>` also receive).
async fn next(sub: &mut Subscriber) -> async_nats::Message {
    for _ in 0..10_000 {
        let m = bounded("waiting for a message", sub.next())
            .await
            .expect("subscription ended unexpectedly");
        if !m.subject.starts_with("_itest.") {
            return m;
        }
    }
    panic!("only harness probes received");
}

/// Asserts a subscription yields exactly these payloads, in order.
async fn expect_payloads(sub: &mut Subscriber, want: &[&str]) {
    for w in want {
        let m = next(sub).await;
        assert_eq!(
            std::str::from_utf8(&m.payload).unwrap(),
            *w,
            "subject {}",
            m.subject
        );
    }
}

/// Flushes the client's socket buffer (no server round trip: see `common::round_trip`).
async fn flush(c: &Client) {
    bounded("flush", c.flush()).await.expect("flush failed");
}

/// Polls `cond` every 10 ms until true or `limit` passes; returns whether it became true.
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test]
async fn pub_sub_basic() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut sub = a.subscribe("greet.joe").await.unwrap();
    sync_subs(&a, &[&b]).await;
    b.publish("greet.joe", "hello".into()).await.unwrap();
    b.publish_with_reply("greet.joe", "reply.here", "again".into())
        .await
        .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "greet.joe");
    assert_eq!(&m.payload[..], b"hello");
    assert!(m.reply.is_none());
    let m = next(&mut sub).await;
    assert_eq!(&m.payload[..], b"again");
    assert_eq!(m.reply.as_deref(), Some("reply.here"));
}

#[tokio::test]
async fn wildcard_star() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut star = a.subscribe("foo.*").await.unwrap();
    let mut mid = a.subscribe("x.*.z").await.unwrap();
    sync_subs(&a, &[&b]).await;
    for subj in [
        "foo.a", "foo.a.b", "foo", "foo.b", "bar.a", "x.y.z", "x.y", "x.y.z.w", "x.q.z", "foo.z",
    ] {
        b.publish(subj, subj.to_string().into()).await.unwrap();
    }
    // The last matching publish of each sub acts as the end marker: order is per publisher.
    expect_payloads(&mut star, &["foo.a", "foo.b", "foo.z"]).await;
    expect_payloads(&mut mid, &["x.y.z", "x.q.z"]).await;
}

#[tokio::test]
async fn wildcard_full() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut gt = a.subscribe("foo.>").await.unwrap();
    let mut all = a.subscribe(">").await.unwrap();
    let mut mixed = a.subscribe("*.b.>").await.unwrap();
    sync_subs(&a, &[&b]).await;
    for subj in [
        "foo",
        "foo.a",
        "foob.x",
        "foo.a.b.c",
        "a.b",
        "a.b.c",
        "x.b.c.d",
        "foo.end",
    ] {
        b.publish(subj, subj.to_string().into()).await.unwrap();
    }
    expect_payloads(&mut gt, &["foo.a", "foo.a.b.c", "foo.end"]).await;
    expect_payloads(
        &mut all,
        &[
            "foo",
            "foo.a",
            "foob.x",
            "foo.a.b.c",
            "a.b",
            "a.b.c",
            "x.b.c.d",
            "foo.end",
        ],
    )
    .await;
    // `*.b.>` needs at least three tokens: "a.b" does not match.
    b.publish("z.b.end", "z.b.end".into()).await.unwrap();
    expect_payloads(&mut mixed, &["a.b.c", "x.b.c.d", "z.b.end"]).await;
}

#[tokio::test]
async fn overlapping_subscriptions_each_get_a_copy() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut subs = Vec::new();
    for subj in ["a.b", "a.b", "a.*", "a.>", ">", "*.b", "*.*"] {
        subs.push(a.subscribe(subj).await.unwrap());
    }
    sync_subs(&a, &[&b]).await;
    b.publish("a.b", "1".into()).await.unwrap();
    b.publish("a.b", "2".into()).await.unwrap();
    for sub in subs.iter_mut() {
        // exactly one copy each: the second message follows the first
        expect_payloads(sub, &["1", "2"]).await;
    }
}

/// Queue groups across cores: each message exactly once per group, no member starved.
/// Queue groups across cores: each message exactly once per group, no member starved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_groups_exactly_once_across_cores() {
    const MEMBERS: usize = 16;
    const H_MEMBERS: usize = 3;
    const PUBLISHERS: usize = 4;
    const PER_PUB: usize = 1000;
    const N: usize = PUBLISHERS * PER_PUB;

    let s = TestServer::start_default();
    // Publishers spread over the cores (natrix).
    let mut pub_clients = Vec::new();
    for p in 0..PUBLISHERS {
        pub_clients.push(s.client_on_core(p % s.cores, ConnectOptions::new).await);
    }
    let pub_refs: Vec<&Client> = pub_clients.iter().collect();

    // (group, member index) -> received ids
    type Got = Arc<Mutex<HashMap<(String, usize), Vec<String>>>>;
    let got: Got = Default::default();
    let total = Arc::new(AtomicUsize::new(0));
    let mut member_cores: HashMap<(String, usize), Option<usize>> = HashMap::new();
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    let groups: Vec<(String, usize)> = vec![
        ("g".into(), MEMBERS),
        ("h".into(), H_MEMBERS),
        ("plain".into(), 1),
    ];
    for (group, n) in &groups {
        for i in 0..*n {
            let c = s.client().await;
            let core = s.core_of(c.server_info().client_id);
            let mut sub = if group == "plain" {
                c.subscribe("work.items").await.unwrap()
            } else {
                c.queue_subscribe("work.*", group.clone()).await.unwrap()
            };
            sync_subs(&c, &pub_refs).await;
            member_cores.insert((group.clone(), i), core);
            let got = got.clone();
            let total = total.clone();
            let key = (group.clone(), i);
            tasks.push(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    let id = String::from_utf8(m.payload.to_vec()).unwrap();
                    got.lock().unwrap().entry(key.clone()).or_default().push(id);
                    total.fetch_add(1, Ordering::SeqCst);
                }
            }));
            clients.push(c);
        }
    }
    if s.is_natrix() {
        let cores: BTreeSet<usize> = member_cores
            .iter()
            .filter(|((g, _), _)| g == "g")
            .map(|(_, c)| c.unwrap())
            .collect();
        assert_eq!(
            cores.len(),
            s.cores,
            "16 queue members did not land on all {} cores: {cores:?}",
            s.cores
        );
    }

    let mut pubs = Vec::new();
    for (p, c) in pub_clients.iter().enumerate() {
        let c = c.clone();
        pubs.push(tokio::spawn(async move {
            for i in 0..PER_PUB {
                c.publish("work.items", format!("{p}-{i}").into())
                    .await
                    .unwrap();
            }
            c.flush().await.unwrap();
        }));
    }
    for p in pubs {
        bounded("publisher", p).await.unwrap();
    }
    let expected_total = N * groups.len();
    let done = wait_until(Duration::from_secs(30), || {
        total.load(Ordering::SeqCst) >= expected_total
    })
    .await;
    // Give duplicates a chance to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in &tasks {
        t.abort();
    }
    let got = got.lock().unwrap();
    assert!(
        done,
        "received {} of {expected_total} deliveries",
        total.load(Ordering::SeqCst)
    );
    assert_eq!(total.load(Ordering::SeqCst), expected_total);

    let all_ids: HashSet<String> = (0..PUBLISHERS)
        .flat_map(|p| (0..PER_PUB).map(move |i| format!("{p}-{i}")))
        .collect();
    for (group, n) in &groups {
        let mut seen = HashSet::new();
        let mut per_core: HashMap<Option<usize>, usize> = HashMap::new();
        for i in 0..*n {
            let ids = got.get(&(group.clone(), i)).cloned().unwrap_or_default();
            assert!(
                !ids.is_empty(),
                "group {group} member {i} starved (got nothing of {N})"
            );
            *per_core
                .entry(member_cores[&(group.clone(), i)])
                .or_default() += ids.len();
            for id in ids {
                assert!(seen.insert(id.clone()), "group {group}: duplicate {id}");
            }
        }
        assert_eq!(seen, all_ids, "group {group} did not get every message");
        if s.is_natrix() && group == "g" {
            for core in 0..s.cores {
                let n = per_core.get(&Some(core)).copied().unwrap_or(0);
                assert!(
                    n >= N / 20,
                    "members on core {core} got only {n} of {N}: {per_core:?}"
                );
            }
        }
    }
    drop(clients);
}

#[tokio::test]
async fn queue_group_member_unsubscribe_moves_load() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let p = s.client().await;
    let mut qa = a.queue_subscribe("jobs", "w".into()).await.unwrap();
    let mut qb = b.queue_subscribe("jobs", "w".into()).await.unwrap();
    sync_subs(&b, &[&p]).await;
    qa.unsubscribe().await.unwrap();
    // the UNSUB precedes the probe SUB on `a`, so once the probe is visible the member is gone
    sync_subs(&a, &[&p]).await;
    for i in 0..50 {
        p.publish("jobs", format!("{i}").into()).await.unwrap();
    }
    for i in 0..50 {
        let m = next(&mut qb).await;
        assert_eq!(m.payload, Bytes::from(format!("{i}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply() {
    let s = TestServer::start_default();
    let responder = s.client_on_core(0, ConnectOptions::new).await;
    let mut requesters = Vec::new();
    for core in 0..s.cores.max(2) {
        requesters.push(s.client_on_core(core % s.cores, ConnectOptions::new).await);
    }
    let mut svc = responder.subscribe("svc.echo").await.unwrap();
    sync_subs(&responder, &requesters.iter().collect::<Vec<_>>()).await;
    let r2 = responder.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = svc.next().await {
            let reply = m.reply.expect("request without reply subject");
            let mut out = b"re:".to_vec();
            out.extend_from_slice(&m.payload);
            r2.publish(reply, out.into()).await.unwrap();
        }
    });
    for req in &requesters {
        for i in 0..50 {
            let resp = bounded(
                "request",
                req.request("svc.echo", format!("q{i}").into_bytes().into()),
            )
            .await
            .expect("request failed");
            assert_eq!(resp.payload, Bytes::from(format!("re:q{i}")));
        }
    }
    task.abort();
}

#[tokio::test]
async fn headers_round_trip() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut raw = RawConn::connect_with(s.port, r#"{"verbose":false,"headers":true}"#).await;
    let mut sub = a.subscribe("hdr").await.unwrap();
    sync_subs(&a, &[&b]).await;
    raw.sync_subs(&a).await;
    let mut h = HeaderMap::new();
    h.insert("X-Mixed-Case", "Value With Spaces");
    h.append("Multi", "one");
    h.append("Multi", "two");
    h.insert("lower", "v:with:colons");
    b.publish_with_headers("hdr", h.clone(), "body".into())
        .await
        .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(&m.payload[..], b"body");
    let got = m.headers.expect("headers missing");
    assert_eq!(got, h);
    let multi: Vec<&str> = got.get_all("Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["one", "two"]);

    // Raw HPUB bytes -> async-nats subscriber sees exactly those headers and payload.
    let hdr = b"NATS/1.0\r\nA-Key: first\r\nA-Key: second\r\nlowercase: x\r\n\r\n";
    let mut frame = format!("HPUB hdr {} {}\r\n", hdr.len(), hdr.len() + 3).into_bytes();
    frame.extend_from_slice(hdr);
    frame.extend_from_slice(b"xyz\r\n");
    raw.send(&frame).await;
    let m = next(&mut sub).await;
    assert_eq!(&m.payload[..], b"xyz");
    let got = m.headers.expect("headers missing");
    let vals: Vec<&str> = got.get_all("A-Key").map(|v| v.as_str()).collect();
    assert_eq!(vals, ["first", "second"]);
    assert_eq!(got.get("lowercase").map(|v| v.as_str()), Some("x"));

    // async-nats HPUB -> raw subscriber: the header block arrives byte-for-byte as published.
    let mut rsub = RawConn::connect_with(s.port, r#"{"verbose":false,"headers":true}"#).await;
    rsub.send(b"SUB hdr2 5\r\n").await;
    rsub.ping_pong().await;
    let mut h1 = HeaderMap::new();
    h1.insert("Only-One", "v1");
    b.publish_with_headers("hdr2", h1, "pl".into())
        .await
        .unwrap();
    flush(&b).await;
    let block = b"NATS/1.0\r\nOnly-One: v1\r\n\r\n";
    let want = format!("HMSG hdr2 5 {} {}\r\n", block.len(), block.len() + 2);
    rsub.expect(want.as_bytes()).await;
    rsub.expect(block).await;
    rsub.expect(b"pl\r\n").await;
}

#[tokio::test]
async fn no_responders_fast() {
    let s = TestServer::start_default();
    let c = s.client().await;
    let t0 = Instant::now();
    let err = bounded("request", c.request("nobody.home", "x".into()))
        .await
        .expect_err("request to a subject without subscribers must fail");
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{err}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "no-responders took {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn unsubscribe_removes_interest_on_server() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut sub = a.subscribe("svc.gone").await.unwrap();
    sync_subs(&a, &[&b]).await;
    b.publish("svc.gone", "1".into()).await.unwrap();
    expect_payloads(&mut sub, &["1"]).await;
    sub.unsubscribe().await.unwrap();
    sync_subs(&a, &[&b]).await;
    // The server must have dropped the interest: a request now has no responders.
    let err = bounded("request", b.request("svc.gone", "x".into()))
        .await
        .expect_err("unsubscribed subject still has interest");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn unsubscribe_after_n() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    let mut sub = a.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(3).await.unwrap();
    sync_subs(&a, &[&b]).await;
    for i in 0..5 {
        b.publish("limited", format!("{i}").into()).await.unwrap();
    }
    expect_payloads(&mut sub, &["0", "1", "2"]).await;
    let end = bounded("subscription end", sub.next()).await;
    assert!(end.is_none(), "got a message after auto-unsubscribe");
    // Server-side: the interest is gone.
    sync_subs(&a, &[&b]).await;
    let err = bounded("request", b.request("limited", "x".into()))
        .await
        .expect_err("auto-unsubscribed subject still has interest");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn no_echo() {
    let s = TestServer::start_default();
    let quiet = s.client_with(ConnectOptions::new().no_echo()).await;
    let other = s.client().await;
    let mut own = quiet.subscribe("echo.test").await.unwrap();
    let mut theirs = other.subscribe("echo.test").await.unwrap();
    sync_subs(&quiet, &[&other]).await;
    sync_subs(&other, &[&quiet]).await;
    quiet.publish("echo.test", "mine".into()).await.unwrap();
    // After the round trip an echoed "mine" would already sit in `own`.
    round_trip(&quiet).await;
    other.publish("echo.test", "yours".into()).await.unwrap();
    // The no-echo connection sees only the other connection's message.
    expect_payloads(&mut own, &["yours"]).await;
    // Echo is on for `other`: it sees both.
    let mut got = vec![
        String::from_utf8(next(&mut theirs).await.payload.to_vec()).unwrap(),
        String::from_utf8(next(&mut theirs).await.payload.to_vec()).unwrap(),
    ];
    got.sort();
    assert_eq!(got, ["mine", "yours"]);
}

#[tokio::test]
async fn payload_sizes_and_max_payload() {
    let s = TestServer::start_default();
    let a = s.client().await;
    let b = s.client().await;
    assert_eq!(b.server_info().max_payload, 1_048_576);
    let mut sub = a.subscribe("sizes").await.unwrap();
    sync_subs(&a, &[&b]).await;
    let max = b.server_info().max_payload;
    let big: Bytes = (0..max)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    for p in [Bytes::new(), Bytes::from_static(b"x"), big.clone()] {
        b.publish("sizes", p.clone()).await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.payload.len(), p.len());
        assert!(m.payload == p, "payload of {} bytes corrupted", p.len());
    }
    let too_big: Bytes = vec![0u8; max + 1].into();
    let err = b
        .publish("sizes", too_big)
        .await
        .expect_err("max_payload + 1 must be refused by the client");
    assert_eq!(
        err.kind(),
        async_nats::client::PublishErrorKind::MaxPayloadExceeded
    );
    // The connection is still usable.
    b.publish("sizes", "after".into()).await.unwrap();
    expect_payloads(&mut sub, &["after"]).await;
}

/// 100,000 messages from one publisher arrive complete and in order, both on the publisher's
/// core and (natrix) on the other core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_100k_single_publisher() {
    const N: u64 = 100_000;
    let s = TestServer::start_default();
    let opts = || ConnectOptions::new().subscription_capacity(N as usize + 16);
    let publisher = s.client_on_core(0, ConnectOptions::new).await;
    let mut subs = Vec::new();
    let mut cores = BTreeSet::new();
    for core in 0..s.cores.max(2) {
        let c = s.client_on_core(core % s.cores, opts).await;
        cores.insert(s.core_of(c.server_info().client_id));
        let sub = c.subscribe("seq.stream").await.unwrap();
        sync_subs(&c, &[&publisher]).await;
        subs.push((c, sub));
    }
    if s.is_natrix() {
        assert_eq!(cores.len(), s.cores, "subscribers not on all cores");
    }
    let readers: Vec<_> = subs
        .into_iter()
        .map(|(c, mut sub)| {
            tokio::spawn(async move {
                let mut expect = 0u64;
                while expect < N {
                    let m = match tokio::time::timeout(WAIT, sub.next()).await {
                        Ok(Some(m)) => m,
                        Ok(None) => panic!("subscription ended after {expect}"),
                        Err(_) => panic!("stalled after {expect} of {N} messages"),
                    };
                    let seq = u64::from_be_bytes(m.payload[..8].try_into().unwrap());
                    assert_eq!(seq, expect, "out of order / missing message");
                    expect += 1;
                }
                drop(c);
                expect
            })
        })
        .collect();
    for i in 0..N {
        publisher
            .publish("seq.stream", Bytes::copy_from_slice(&i.to_be_bytes()))
            .await
            .unwrap();
    }
    flush(&publisher).await;
    for r in readers {
        let n = tokio::time::timeout(Duration::from_secs(120), r)
            .await
            .expect("reader timed out")
            .expect("reader panicked");
        assert_eq!(n, N);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_20_subscribers() {
    const SUBS: usize = 20;
    const N: u32 = 1000;
    let s = TestServer::start_default();
    let p = s.client().await;
    let mut readers = Vec::new();
    let mut cores = BTreeSet::new();
    for _ in 0..SUBS {
        let c = s.client().await;
        cores.insert(s.core_of(c.server_info().client_id));
        let mut sub = c.subscribe("fan.out").await.unwrap();
        sync_subs(&c, &[&p]).await;
        readers.push(tokio::spawn(async move {
            for i in 0..N {
                let m = match tokio::time::timeout(WAIT, sub.next()).await {
                    Ok(Some(m)) => m,
                    _ => panic!("subscriber stalled at {i}"),
                };
                assert_eq!(m.payload, Bytes::from(i.to_string()));
            }
            drop(c);
        }));
    }
    if s.is_natrix() {
        assert_eq!(cores.len(), s.cores, "subscribers not spread: {cores:?}");
    }
    for i in 0..N {
        p.publish("fan.out", i.to_string().into()).await.unwrap();
    }
    flush(&p).await;
    for r in readers {
        tokio::time::timeout(Duration::from_secs(60), r)
            .await
            .expect("reader timed out")
            .expect("reader failed");
    }
}

/// Once SUB + PING have been answered with PONG, a publish from any other connection must
/// reach the new subscription (interest visible on every core before PONG). The subscriber is a
/// raw connection because async-nats' `flush()` does not wait for a PONG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_ping_pong_then_publish_is_visible() {
    const PAIRS: usize = 40;
    let s = TestServer::start_default();
    let mut pubs = Vec::new();
    for core in 0..s.cores.max(2) {
        pubs.push(s.client_on_core(core % s.cores, ConnectOptions::new).await);
    }
    let mut combos = BTreeSet::new();
    for i in 0..PAIRS {
        let mut c = RawConn::connect_with(s.port, r#"{"verbose":false}"#).await;
        let sub_core = s.core_of(c.info["client_id"].as_u64().unwrap());
        c.send(format!("SUB vis.{i} 1\r\nPING\r\n").as_bytes())
            .await;
        c.expect(b"PONG\r\n").await;
        for (k, p) in pubs.iter().enumerate() {
            p.publish(format!("vis.{i}"), format!("{k}").into())
                .await
                .unwrap();
            combos.insert((sub_core, s.core_of(p.server_info().client_id)));
        }
        // one message per publisher (publishers are independent: any order)
        let mut got = Vec::new();
        for _ in 0..pubs.len() {
            let line = c.read_line().await;
            assert_eq!(line, format!("MSG vis.{i} 1 1\r\n").into_bytes());
            got.push(c.read_exact(3).await);
        }
        got.sort();
        let want: Vec<Vec<u8>> = (0..pubs.len())
            .map(|k| format!("{k}\r\n").into_bytes())
            .collect();
        assert_eq!(got, want, "pair {i}");
        // A second subscription on the now established connection.
        c.send(format!("SUB vis2.{i} 2\r\nPING\r\n").as_bytes())
            .await;
        c.expect(b"PONG\r\n").await;
        pubs[i % pubs.len()]
            .publish(format!("vis2.{i}"), "x".into())
            .await
            .unwrap();
        c.expect(format!("MSG vis2.{i} 2 1\r\nx\r\n").as_bytes())
            .await;
    }
    if s.is_natrix() && s.cores > 1 {
        assert!(
            combos.iter().any(|(a, b)| a != b),
            "no cross-core pair covered: {combos:?}"
        );
    }
}

/// Payload of message `i` in the large fan-out test: its sequence number, then bytes that
/// depend on it and on their position (so a segment written twice, skipped or out of order
/// shows as a wrong byte).
fn fanout_payload(i: u32) -> Bytes {
    let len = match i % 4 {
        0 => 16,
        1 => 600,
        2 => 40 * 1024,
        _ => 200 * 1024,
    };
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&i.to_be_bytes());
    p.extend((4..len).map(|j| ((i as usize * 7 + j) % 251) as u8));
    p.into()
}

/// A publisher sends large and small messages (some with headers) to a fast subscriber and
/// to a raw subscriber that reads nothing for a while: the server's writes to the slow one
/// fill its socket and wait, and both still get every message, whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payload_fan_out_with_a_slow_reader_delivers_everything_in_order() {
    // About 24 MB: more than the kernel's socket buffers hold, less than max_pending.
    const N: u32 = 400;
    let s = TestServer::start_default();
    let publisher = s.client().await;
    let fast_client = s
        .client_with(ConnectOptions::new().subscription_capacity(N as usize + 16))
        .await;
    let mut fast = fast_client.subscribe("big.>").await.unwrap();
    sync_subs(&fast_client, &[&publisher]).await;
    let mut slow = RawConn::connect_with(s.port, r#"{"verbose":false,"headers":true}"#).await;
    slow.send(b"SUB big.> 7\r\n").await;
    slow.ping_pong().await;
    slow.sync_subs(&publisher).await;
    for i in 0..N {
        let subject = format!("big.{i}");
        let payload = fanout_payload(i);
        if i % 3 == 0 {
            let mut headers = HeaderMap::new();
            headers.insert("Seq", i.to_string().as_str());
            publisher
                .publish_with_headers(subject, headers, payload)
                .await
                .unwrap();
        } else {
            publisher.publish(subject, payload).await.unwrap();
        }
    }
    flush(&publisher).await;
    for i in 0..N {
        let m = next(&mut fast).await;
        assert_eq!(m.subject.as_str(), format!("big.{i}"));
        assert!(
            m.payload == fanout_payload(i),
            "fast subscriber: message {i} corrupted"
        );
    }
    // The slow reader starts reading only now, its socket long since full.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..N {
        let line = String::from_utf8(slow.read_line().await).unwrap();
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let want = fanout_payload(i);
        if i % 3 == 0 {
            assert_eq!(fields[..3], ["HMSG", &format!("big.{i}"), "7"], "{line}");
            let (hdr, total): (usize, usize) =
                (fields[3].parse().unwrap(), fields[4].parse().unwrap());
            let body = slow.read_exact(total + 2).await;
            let headers = std::str::from_utf8(&body[..hdr]).unwrap();
            assert!(headers.contains(&format!("Seq: {i}\r\n")), "{headers}");
            assert!(
                body[hdr..total] == want[..],
                "slow subscriber: message {i} corrupted"
            );
            assert_eq!(&body[total..], b"\r\n");
        } else {
            assert_eq!(
                fields,
                ["MSG", &format!("big.{i}"), "7", &want.len().to_string()],
                "{line}"
            );
            let body = slow.read_exact(want.len() + 2).await;
            assert!(
                body[..want.len()] == want[..],
                "slow subscriber: message {i} corrupted"
            );
            assert_eq!(&body[want.len()..], b"\r\n");
        }
    }
    slow.ping_pong().await;
}
