//! Accounts (`[accounts.NAME]`): isolated subject spaces with their own users, stream and
//! service exports/imports, per-account JetStream. A message never crosses accounts except
//! through an export/import.
//!
//! Every test also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`); the
//! harness turns `[accounts.NAME]` into nats-server's `accounts { NAME { ... } }` block.

mod common;

use std::time::Duration;

use async_nats::ConnectOptions;
use common::{bounded, ServerOpts, TestServer};
use futures::StreamExt;

/// Two tenants (one TOML line per key: the harness translates line by line), and a third
/// account without JetStream.
const ACCOUNTS: &str = concat!(
    "[accounts.TEAM_A]\n",
    "jetstream = true\n",
    "users = [ { user = \"alice\", password = \"alice-pw\" }, ",
    "{ user = \"reader\", password = \"reader-pw\", permissions = { publish = { deny = [\">\"] }, ",
    "subscribe = { allow = [\"a.>\", \"_INBOX.>\"] } } } ]\n",
    "exports = [ { service = \"svc.time\" }, { stream = \"public.>\" } ]\n",
    "[accounts.TEAM_B]\n",
    "jetstream = true\n",
    "users = [ { user = \"bob\", password = \"bob-pw\" } ]\n",
    "imports = [ { service = { account = \"TEAM_A\", subject = \"svc.time\" } }, ",
    "{ stream = { account = \"TEAM_A\", subject = \"public.>\" }, prefix = \"a\" } ]\n",
    "[accounts.TEAM_C]\n",
    "users = [ { user = \"carol\", password = \"carol-pw\" } ]\n",
    "[accounts.TEAM_C.limits]\n",
    "max_subscriptions = 2\n",
    "max_payload = 8\n",
    "[accounts.TEAM_D]\n",
    "users = [ { user = \"dave\", password = \"dave-pw\" } ]\n",
    "[accounts.TEAM_D.jetstream]\n",
    "max_file = 4096\n",
    "max_mem = 4096\n",
    "[accounts.TEAM_E]\n",
    "users = [ { user = \"erin\", password = \"erin-pw\" } ]\n",
    "[accounts.TEAM_E.limits]\n",
    "max_connections = 1\n",
    "[accounts.TEAM_F]\n",
    "users = [ { user = \"frank\", password = \"frank-pw\" } ]\n",
    "[accounts.TEAM_F.jetstream]\n",
    "max_streams = 2\n",
    "max_consumers = 2\n",
    "max_ack_pending = 10\n",
);

fn start() -> TestServer {
    TestServer::start(ServerOpts::with_toml(ACCOUNTS))
}

/// Publishes `subject` ("probe" payload) from `publisher` until `sub` receives a message on
/// `seen_as`: the way to know a subscription is visible across accounts (async-nats' flush
/// is no round trip). Probes still queued are skipped by [`next_real`].
async fn probe_until_seen(
    publisher: &async_nats::Client,
    subject: &str,
    sub: &mut async_nats::Subscriber,
    seen_as: &str,
) {
    for _ in 0..250 {
        publisher
            .publish(subject.to_string(), "probe".into())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(40);
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
            if m.subject.as_str() == seen_as && &m.payload[..] == b"probe" {
                return;
            }
        }
    }
    panic!("{seen_as} never reached the subscriber");
}

/// The next message that is not a probe.
async fn next_real(sub: &mut async_nats::Subscriber, what: &str) -> async_nats::Message {
    loop {
        let m = bounded(what, sub.next()).await.unwrap();
        if &m.payload[..] != b"probe" {
            return m;
        }
    }
}

fn user(name: &str, pass: &str) -> ConnectOptions {
    ConnectOptions::with_user_and_password(name.into(), pass.into())
}

/// A client of `name` (password `<name>-pw`), on `core` when natrix runs several.
async fn client(s: &TestServer, name: &str, core: usize) -> async_nats::Client {
    let pass = format!("{name}-pw");
    s.client_on_core(core % s.cores, || user(name, &pass)).await
}

/// Asserts that nothing but probes arrives on `sub` for a while.
async fn assert_quiet(sub: &mut async_nats::Subscriber, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if &m.payload[..] != b"probe" && !m.subject.starts_with("_itest.sync.") {
            panic!("{what}: unexpected message on {:?}", m.subject);
        }
    }
}

#[tokio::test]
async fn a_subscriber_on_everything_never_sees_another_accounts_messages() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let bob = client(&s, "bob", 1).await;
    // A second client of each account on the other's core proves each `>` is visible there.
    let alice2 = client(&s, "alice", 1).await;
    let bob2 = client(&s, "bob", 0).await;
    let mut a_all = alice.subscribe(">").await.unwrap();
    let mut b_all = bob.subscribe(">").await.unwrap();
    common::sync_subs(&alice, &[&alice2]).await;
    common::sync_subs(&bob, &[&bob2]).await;
    // The probes of the sync came through `>` too: drop them.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), a_all.next()).await {}
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), b_all.next()).await {}

    bob.publish("orders.new", "b-secret".into()).await.unwrap();
    bob.flush().await.unwrap();
    alice
        .publish("orders.new", "a-secret".into())
        .await
        .unwrap();
    alice.flush().await.unwrap();

    let m = bounded("alice's own message", a_all.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"a-secret");
    let m = bounded("bob's own message", b_all.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"b-secret");
    assert_quiet(&mut a_all, "TEAM_A's `>`").await;
    assert_quiet(&mut b_all, "TEAM_B's `>`").await;
}

#[tokio::test]
async fn users_of_one_account_share_its_subjects_and_the_connect_info_names_it() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let reader = client(&s, "reader", 1).await;
    let mut sub = reader.subscribe("a.>").await.unwrap();
    probe_until_seen(&alice, "a.probe", &mut sub, "a.probe").await;
    alice.publish("a.news", "hello".into()).await.unwrap();
    alice.flush().await.unwrap();
    let m = next_real(&mut sub, "same-account delivery").await;
    assert_eq!(&m.payload[..], b"hello");

    // Raw: after CONNECT, the INFO sent with PONG names the account (protocol 1).
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":false,\"protocol\":1,\"user\":\"bob\",\"pass\":\"bob-pw\"}\r\nPING\r\n")
        .await;
    let mut saw_pong = false;
    for _ in 0..3 {
        let line = c.read_line().await;
        if line.starts_with(b"PONG") {
            saw_pong = true;
        }
        if line.starts_with(b"INFO ") {
            let info: serde_json::Value = serde_json::from_slice(&line[5..]).unwrap();
            assert_eq!(info["remote_account"], "TEAM_B", "{}", common::show(&line));
            return;
        }
    }
    panic!("no INFO after CONNECT (pong seen: {saw_pong})");
}

#[tokio::test]
async fn permissions_apply_inside_an_account() {
    let s = start();
    let reader = client(&s, "reader", 0).await;
    let mut raw = s.raw().await;
    raw.handshake(r#"{"verbose":false,"pedantic":false,"user":"reader","pass":"reader-pw"}"#)
        .await;
    raw.send(b"PUB a.x 2\r\nhi\r\n").await;
    raw.expect_err(r#"Permissions Violation for Publish to "a.x""#)
        .await;
    raw.send(b"SUB b.x 1\r\n").await;
    raw.expect_err(r#"Permissions Violation for Subscription to "b.x""#)
        .await;
    // Allowed subscriptions work, and only see the account's own traffic.
    let mut sub = reader.subscribe("a.>").await.unwrap();
    let alice = client(&s, "alice", 1).await;
    probe_until_seen(&alice, "a.probe", &mut sub, "a.probe").await;
    let bob = client(&s, "bob", 1).await;
    bob.publish("a.x", "from-b".into()).await.unwrap();
    bob.flush().await.unwrap();
    alice.publish("a.x", "from-a".into()).await.unwrap();
    alice.flush().await.unwrap();
    let m = next_real(&mut sub, "alice's a.x").await;
    assert_eq!(&m.payload[..], b"from-a");
    assert_quiet(&mut sub, "reader's a.>").await;
}

#[tokio::test]
async fn stream_import_delivers_exported_subjects_under_the_prefix() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let bob = client(&s, "bob", 1).await;
    let mut b_all = bob.subscribe(">").await.unwrap();
    probe_until_seen(&alice, "public.probe", &mut b_all, "a.public.probe").await;
    alice
        .publish("private.x", "not exported".into())
        .await
        .unwrap();
    alice
        .publish("public.news", "exported".into())
        .await
        .unwrap();
    alice.flush().await.unwrap();
    let m = next_real(&mut b_all, "imported stream").await;
    assert_eq!(m.subject.as_str(), "a.public.news");
    assert_eq!(&m.payload[..], b"exported");
    assert_quiet(&mut b_all, "TEAM_B's `>`").await;

    // The importer's own publish on the prefixed subject stays in its account.
    let mut a_all = alice.subscribe(">").await.unwrap();
    let alice2 = client(&s, "alice", 1).await;
    common::sync_subs(&alice, &[&alice2]).await;
    bob.publish("a.public.news", "b's own".into())
        .await
        .unwrap();
    bob.publish("public.news", "b's own".into()).await.unwrap();
    bob.flush().await.unwrap();
    assert_quiet(&mut a_all, "TEAM_A's `>`").await;
}

#[tokio::test]
async fn service_import_request_reaches_the_exporter_and_the_reply_comes_back() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let bob = client(&s, "bob", 1).await;
    let mut svc = alice.subscribe("svc.time").await.unwrap();
    // Until the responder's subscription is visible, requests get no responders.
    let mut visible = false;
    for _ in 0..250 {
        match bob.request("svc.time", "probe".into()).await {
            Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            _ => {
                visible = true;
                break;
            }
        }
    }
    assert!(visible, "the exported service never became visible");
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), svc.next()).await {}
    let responder = tokio::spawn({
        let alice = alice.clone();
        async move {
            while let Some(req) = svc.next().await {
                let reply = req.reply.expect("request has a reply subject");
                let mut answer = b"time for ".to_vec();
                answer.extend_from_slice(&req.payload);
                alice.publish(reply, answer.into()).await.unwrap();
                alice.flush().await.unwrap();
            }
        }
    });
    for i in 0..3 {
        let body = format!("bob-{i}");
        let resp = bounded(
            "service reply",
            bob.request("svc.time", body.clone().into()),
        )
        .await
        .expect("the exporter answers");
        assert_eq!(resp.payload, format!("time for {body}").as_bytes());
    }
    // A subject that is not imported goes nowhere: no responders in TEAM_B.
    let err = bounded("not imported", bob.request("svc.other", "x".into()))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        async_nats::client::RequestErrorKind::NoResponders,
        "{err}"
    );
    responder.abort();
}

#[tokio::test]
async fn service_replies_go_only_to_the_requester() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let bob = client(&s, "bob", 1).await;
    let mut svc = alice.subscribe("svc.time").await.unwrap();
    // A third party in TEAM_A listening everywhere sees the request (its own account's
    // traffic) but not the answer delivered in TEAM_B.
    probe_until_seen(&bob, "svc.time", &mut svc, "svc.time").await;
    let mut b_all = bob.subscribe(">").await.unwrap();
    let inbox = bob.new_inbox();
    let mut replies = bob.subscribe(inbox.clone()).await.unwrap();
    bob.publish_with_reply("svc.time", inbox.clone(), "q".into())
        .await
        .unwrap();
    bob.flush().await.unwrap();
    let req = next_real(&mut svc, "request in TEAM_A").await;
    let mapped = req.reply.clone().unwrap();
    alice
        .publish(mapped.clone(), "answer".into())
        .await
        .unwrap();
    alice.flush().await.unwrap();
    let m = bounded("reply", replies.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"answer");
    assert_eq!(m.subject.as_str(), inbox);
    // TEAM_B's `>` saw its own request and the reply, nothing else.
    let first = next_real(&mut b_all, "b's own request").await;
    assert_eq!(first.subject.as_str(), "svc.time");
    let second = next_real(&mut b_all, "the reply in b").await;
    assert_eq!(second.subject.as_str(), inbox);
    assert_quiet(&mut b_all, "TEAM_B's `>`").await;
}

/// `$JS.API` request as `client`, parsed.
async fn js_api(client: &async_nats::Client, subject: &str, body: &str) -> serde_json::Value {
    let resp = bounded(
        subject,
        client.request(subject.to_string(), body.to_string().into()),
    )
    .await
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&resp.payload).unwrap()
}

#[tokio::test]
async fn jetstream_streams_are_named_per_account() {
    let s = start();
    let alice = client(&s, "alice", 0).await;
    let bob = client(&s, "bob", 1).await;
    let a = js_api(
        &alice,
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"]}"#,
    )
    .await;
    assert!(a.get("error").is_none(), "{a}");
    let b = js_api(
        &bob,
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"]}"#,
    )
    .await;
    assert!(b.get("error").is_none(), "{b}");
    let only_a = js_api(
        &alice,
        "$JS.API.STREAM.CREATE.ONLY_A",
        r#"{"name":"ONLY_A","subjects":["only.a"]}"#,
    )
    .await;
    assert!(only_a.get("error").is_none(), "{only_a}");

    // Each account's publishes land in its own ORDERS.
    for _ in 0..2 {
        let ack = bounded("a publish", alice.request("orders.1", "a".into()))
            .await
            .unwrap();
        let ack: serde_json::Value = serde_json::from_slice(&ack.payload).unwrap();
        assert_eq!(ack["stream"], "ORDERS", "{ack}");
    }
    let ack = bounded("b publish", bob.request("orders.1", "b".into()))
        .await
        .unwrap();
    let ack: serde_json::Value = serde_json::from_slice(&ack.payload).unwrap();
    assert_eq!(ack["seq"], 1, "{ack}");

    let info = js_api(&alice, "$JS.API.STREAM.INFO.ORDERS", "").await;
    assert_eq!(info["state"]["messages"], 2, "{info}");
    let info = js_api(&bob, "$JS.API.STREAM.INFO.ORDERS", "").await;
    assert_eq!(info["state"]["messages"], 1, "{info}");

    let names = js_api(&bob, "$JS.API.STREAM.NAMES", "").await;
    assert_eq!(names["streams"], serde_json::json!(["ORDERS"]), "{names}");
    let names = js_api(&alice, "$JS.API.STREAM.NAMES", "").await;
    let mut got: Vec<String> = serde_json::from_value(names["streams"].clone()).unwrap();
    got.sort();
    assert_eq!(got, ["ONLY_A", "ORDERS"], "{names}");
    let missing = js_api(&bob, "$JS.API.STREAM.INFO.ONLY_A", "").await;
    assert_eq!(missing["error"]["err_code"], 10059, "{missing}");

    let info = js_api(&bob, "$JS.API.INFO", "").await;
    assert_eq!(info["streams"], 1, "{info}");
}

#[tokio::test]
async fn an_account_without_jetstream_is_refused() {
    let s = start();
    let carol = client(&s, "carol", 0).await;
    let resp = bounded(
        "JS API in an account without JetStream",
        carol.request("$JS.API.INFO", "".into()),
    )
    .await;
    match resp {
        // nats-server answers a JetStream request of such an account with its error.
        Ok(m) => {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(v["error"]["err_code"], 10039, "{v}");
            assert_eq!(v["error"]["code"], 503, "{v}");
            assert_eq!(
                v["error"]["description"], "JetStream not enabled for account",
                "{v}"
            );
        }
        Err(e) => panic!("no answer: {e}"),
    }
}

#[tokio::test]
async fn unknown_users_are_refused() {
    let s = start();
    let res = bounded("refused", user("mallory", "x").connect(s.url())).await;
    let Err(e) = res else {
        panic!("mallory was let in")
    };
    let err = e.to_string();
    assert!(err.contains("authorization violation"), "{err}");
}

#[tokio::test]
async fn each_accounts_streams_survive_a_restart() {
    let mut s = start();
    for (name, n) in [("alice", 2), ("bob", 1)] {
        let c = client(&s, name, 0).await;
        let r = js_api(
            &c,
            "$JS.API.STREAM.CREATE.ORDERS",
            r#"{"name":"ORDERS","subjects":["orders.>"]}"#,
        )
        .await;
        assert!(r.get("error").is_none(), "{r}");
        for _ in 0..n {
            bounded("publish", c.request("orders.x", name.to_string().into()))
                .await
                .unwrap();
        }
    }
    if s.is_natrix() {
        // Each account's streams live under its own directory; $G's stay at the top.
        let dir = s
            .store_dir()
            .join(".accounts")
            .join("TEAM_A")
            .join("ORDERS");
        assert!(dir.join("meta.json").exists(), "{}", dir.display());
    }
    s.restart();
    for (name, n) in [("alice", 2), ("bob", 1)] {
        let c = client(&s, name, 1).await;
        let info = js_api(&c, "$JS.API.STREAM.INFO.ORDERS", "").await;
        assert_eq!(info["state"]["messages"], n, "{name}: {info}");
    }
}

#[tokio::test]
async fn account_limits_apply_to_its_users_only() {
    let s = start();
    let mut carol = s.raw().await;
    carol
        .handshake(r#"{"verbose":false,"pedantic":false,"user":"carol","pass":"carol-pw"}"#)
        .await;
    carol.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n").await;
    carol.expect_err("maximum subscriptions exceeded").await;
    // Alice's account has no limits: the server's apply.
    let mut alice = s.raw().await;
    alice
        .handshake(r#"{"verbose":false,"pedantic":false,"user":"alice","pass":"alice-pw"}"#)
        .await;
    alice
        .send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB z 9\r\n123456789\r\n")
        .await;
    alice.ping_pong().await;
    carol.send(b"PUB a 9\r\n123456789\r\n").await;
    carol
        .expect_err_and_close("Maximum Payload Violation")
        .await;
}

#[tokio::test]
async fn an_accounts_max_connections_are_counted_across_the_server() {
    let s = start();
    const ERIN: &str = r#"{"verbose":false,"pedantic":false,"user":"erin","pass":"erin-pw"}"#;
    let mut first = s.raw().await;
    first.handshake(ERIN).await;
    // The second of the account's users is refused whichever core takes it.
    let mut second = s.raw().await;
    second
        .send(format!("CONNECT {ERIN}\r\nPING\r\n").as_bytes())
        .await;
    second
        .expect_err_and_close("maximum account active connections exceeded")
        .await;
    // Other accounts are not limited by it.
    let mut alice = s.raw().await;
    alice
        .handshake(r#"{"verbose":false,"pedantic":false,"user":"alice","pass":"alice-pw"}"#)
        .await;
    // The slot comes back when the first connection closes.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        let mut again = s.raw().await;
        again
            .send(format!("CONNECT {ERIN}\r\nPING\r\n").as_bytes())
            .await;
        if again.read_line().await.starts_with(b"PONG") {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(admitted, "the closed connection's slot was not given back");
}

#[tokio::test]
async fn an_accounts_jetstream_limits_bound_its_reservations() {
    let s = start();
    let dave = client(&s, "dave", 0).await;
    let ok = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.SMALL",
        r#"{"name":"SMALL","subjects":["small"],"max_bytes":4096}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");
    let refused = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.MORE",
        r#"{"name":"MORE","subjects":["more"],"max_bytes":1024}"#,
    )
    .await;
    assert_eq!(refused["error"]["err_code"], 10047, "{refused}");
    // Another account's reservations are its own.
    let alice = client(&s, "alice", 1).await;
    let ok = js_api(
        &alice,
        "$JS.API.STREAM.CREATE.MORE",
        r#"{"name":"MORE","subjects":["more"],"max_bytes":1024}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");
}

/// The `error` of a `$JS.API` response, checked whole against nats-server's.
fn assert_js_error(resp: &serde_json::Value, kind: &str, code: u64, err_code: u64, text: &str) {
    assert_eq!(
        resp["type"],
        format!("io.nats.jetstream.api.v1.{kind}"),
        "{resp}"
    );
    assert_eq!(
        resp["error"],
        serde_json::json!({"code": code, "err_code": err_code, "description": text}),
        "{resp}"
    );
}

#[tokio::test]
async fn an_accounts_max_streams_and_max_consumers_are_enforced() {
    let s = start();
    let frank = client(&s, "frank", 0).await;
    for name in ["S1", "S2"] {
        let ok = js_api(
            &frank,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &format!(
                r#"{{"name":"{name}","subjects":["{}"]}}"#,
                name.to_lowercase()
            ),
        )
        .await;
        assert!(ok.get("error").is_none(), "{ok}");
    }
    let third = js_api(
        &frank,
        "$JS.API.STREAM.CREATE.S3",
        r#"{"name":"S3","subjects":["s3"]}"#,
    )
    .await;
    let streams_full = "maximum number of streams reached";
    assert_js_error(&third, "stream_create_response", 400, 10027, streams_full);
    // Creating an existing stream again with its config is no new stream.
    let again = js_api(
        &frank,
        "$JS.API.STREAM.CREATE.S1",
        r#"{"name":"S1","subjects":["s1"]}"#,
    )
    .await;
    assert!(again.get("error").is_none(), "{again}");
    // A stream may not allow more consumers than the account.
    let consumers_full = "maximum consumers limit reached";
    let upd = js_api(
        &frank,
        "$JS.API.STREAM.UPDATE.S2",
        r#"{"name":"S2","subjects":["s2"],"max_consumers":3}"#,
    )
    .await;
    assert_js_error(&upd, "stream_update_response", 400, 10026, consumers_full);
    let del = js_api(&frank, "$JS.API.STREAM.DELETE.S2", "").await;
    assert_eq!(del["success"], true, "{del}");
    let wide = js_api(
        &frank,
        "$JS.API.STREAM.CREATE.S4",
        r#"{"name":"S4","subjects":["s4"],"max_consumers":3}"#,
    )
    .await;
    assert_js_error(&wide, "stream_create_response", 400, 10026, consumers_full);
    let ok = js_api(
        &frank,
        "$JS.API.STREAM.CREATE.S4",
        r#"{"name":"S4","subjects":["s4"]}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");

    // The account's max_consumers applies to each stream.
    for stream in ["S1", "S4"] {
        for c in ["C1", "C2"] {
            let ok = js_api(
                &frank,
                &format!("$JS.API.CONSUMER.CREATE.{stream}.{c}"),
                &format!(r#"{{"stream_name":"{stream}","config":{{"durable_name":"{c}","ack_policy":"explicit"}}}}"#),
            )
            .await;
            assert!(ok.get("error").is_none(), "{stream}.{c}: {ok}");
        }
        let third = js_api(
            &frank,
            &format!("$JS.API.CONSUMER.CREATE.{stream}.C3"),
            &format!(r#"{{"stream_name":"{stream}","config":{{"durable_name":"C3","ack_policy":"explicit"}}}}"#),
        )
        .await;
        assert_js_error(
            &third,
            "consumer_create_response",
            400,
            10026,
            consumers_full,
        );
    }
    let info = js_api(&frank, "$JS.API.INFO", "").await;
    assert_eq!(info["streams"], 2, "{info}");
    assert_eq!(info["limits"]["max_streams"], 2, "{info}");
    assert_eq!(info["limits"]["max_consumers"], 2, "{info}");
    assert_eq!(info["limits"]["max_ack_pending"], 10, "{info}");

    // Another account is not bound by them.
    let alice = client(&s, "alice", 1).await;
    for name in ["A1", "A2", "A3"] {
        let ok = js_api(
            &alice,
            &format!("$JS.API.STREAM.CREATE.{name}"),
            &format!(
                r#"{{"name":"{name}","subjects":["{}"]}}"#,
                name.to_lowercase()
            ),
        )
        .await;
        assert!(ok.get("error").is_none(), "{ok}");
    }
}

#[tokio::test]
async fn an_accounts_max_ack_pending_is_its_consumers_default_and_bound() {
    let s = start();
    let frank = client(&s, "frank", 0).await;
    let ok = js_api(
        &frank,
        "$JS.API.STREAM.CREATE.P",
        r#"{"name":"P","subjects":["p"]}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");
    let c = js_api(
        &frank,
        "$JS.API.CONSUMER.CREATE.P.D",
        r#"{"stream_name":"P","config":{"durable_name":"D","ack_policy":"explicit"}}"#,
    )
    .await;
    assert_eq!(c["config"]["max_ack_pending"], 10, "{c}");
    let too_many = js_api(
        &frank,
        "$JS.API.CONSUMER.CREATE.P.E",
        r#"{"stream_name":"P","config":{"durable_name":"E","ack_policy":"explicit","max_ack_pending":11}}"#,
    )
    .await;
    assert_js_error(
        &too_many,
        "consumer_create_response",
        400,
        10121,
        "consumer max ack pending exceeds system limit of 10",
    );
    let fits = js_api(
        &frank,
        "$JS.API.CONSUMER.CREATE.P.E",
        r#"{"stream_name":"P","config":{"durable_name":"E","ack_policy":"explicit","max_ack_pending":5}}"#,
    )
    .await;
    assert_eq!(fits["config"]["max_ack_pending"], 5, "{fits}");
}

/// With accounts configured, `$G` (here: the `[authorization]` users) has no JetStream, as
/// nats-server: its `$JS.API` requests get 10039 while a JetStream account's work.
#[tokio::test]
async fn the_global_account_has_no_jetstream_when_accounts_are_configured() {
    let s = TestServer::start(ServerOpts::with_toml(concat!(
        "[authorization]\n",
        "users = [ { user = \"gus\", password = \"gus-pw\" } ]\n",
        "[accounts.A]\n",
        "jetstream = true\n",
        "users = [ { user = \"al\", password = \"al-pw\" } ]\n",
    )));
    let gus = s.client_with(user("gus", "gus-pw")).await;
    let v = js_api(&gus, "$JS.API.INFO", "").await;
    assert_eq!(
        v["error"],
        serde_json::json!({"code": 503, "err_code": 10039,
            "description": "JetStream not enabled for account"}),
        "{v}"
    );
    let al = s.client_with(user("al", "al-pw")).await;
    let v = js_api(&al, "$JS.API.INFO", "").await;
    assert!(v.get("error").is_none(), "{v}");
}
