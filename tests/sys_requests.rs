//! The `$SYS.REQ.SERVER` requests (`PING`, `PING.<KIND>`, `<server id>.<KIND>`) that
//! `nats server ping`, `nats server check` and nats-surveyor send, answered with nats-server
//! 2.15.1's JSON shapes, only to the system account's users (natrix: `[system] users`;
//! nats-server: `system_account`).
//!
//! Run: `cargo test --test sys_requests` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test sys_requests` (reference). The natscli
//! part runs when `nats` is on PATH (or `NATS_CLI`), and says why when it is skipped.

mod common;

use std::time::Duration;

use common::{bounded, ServerOpts, TestServer, WAIT};
use futures::StreamExt;
use serde_json::Value;

const NATRIX_CONF: &str = "[authorization]
users = [ { user = \"sys\", password = \"sys-pw\" }, { user = \"app\", password = \"app-pw\" } ]
[system]
users = [\"sys\"]
";

const NATS_CONF: &str = "accounts {
  SYS { users [ { user: sys, password: sys-pw } ] }
  APP { users [ { user: app, password: app-pw } ], jetstream: enabled }
}
system_account: SYS
";

fn start() -> TestServer {
    TestServer::start_with_nats_conf(ServerOpts::with_toml(NATRIX_CONF), Some(NATS_CONF))
}

async fn login(server: &TestServer, user: &str, pass: &str) -> async_nats::Client {
    server
        .client_with(async_nats::ConnectOptions::with_user_and_password(
            user.into(),
            pass.into(),
        ))
        .await
}

async fn ask(c: &async_nats::Client, subject: &str, body: &str) -> Value {
    let msg = bounded(
        subject,
        c.request(subject.to_owned(), body.to_owned().into()),
    )
    .await
    .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&msg.payload)
        .unwrap_or_else(|e| panic!("{subject}: not JSON ({e}): {:?}", msg.payload))
}

/// The `server` object every answer but IDZ starts with (nats-server's `ServerInfo`).
fn check_server_info(v: &Value, what: &str) -> String {
    let s = &v["server"];
    for k in ["name", "host", "id", "ver", "time"] {
        assert!(s[k].is_string(), "{what}: server.{k} missing: {v}");
    }
    assert!(s["jetstream"].is_boolean(), "{what}: server.jetstream: {v}");
    assert!(s["seq"].is_u64() && s["flags"].is_u64(), "{what}: {v}");
    assert!(s["id"].as_str().unwrap().starts_with('N'), "{what}: {v}");
    s["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ping_answers_statsz_to_the_system_user() {
    let server = start();
    let app = login(&server, "app", "app-pw").await;
    let mut sub = app.subscribe("work").await.unwrap();
    for _ in 0..5 {
        app.publish("work", "hello".into()).await.unwrap();
    }
    app.flush().await.unwrap();
    for _ in 0..5 {
        bounded("work message", sub.next()).await.unwrap();
    }
    let sys = login(&server, "sys", "sys-pw").await;
    let v = ask(&sys, "$SYS.REQ.SERVER.PING", "").await;
    check_server_info(&v, "PING");
    let st = &v["statsz"];
    assert!(
        v.get("data").is_none(),
        "PING answers statsz, not data: {v}"
    );
    assert!(st["start"].is_string(), "{v}");
    assert!(st["connections"].as_u64().unwrap() >= 2, "{v}");
    assert!(st["total_connections"].as_u64().unwrap() >= 2, "{v}");
    assert!(st["received"]["msgs"].as_u64().unwrap() >= 5, "{v}");
    assert!(st["sent"]["msgs"].as_u64().unwrap() >= 5, "{v}");
    assert!(st["received"]["bytes"].as_u64().unwrap() >= 25, "{v}");
    for k in [
        "mem",
        "cores",
        "subscriptions",
        "slow_consumers",
        "active_servers",
    ] {
        assert!(st[k].is_u64(), "statsz.{k}: {v}");
    }
    assert!(st["jetstream"]["config"]["max_memory"].is_i64(), "{v}");
    let again = ask(&sys, "$SYS.REQ.SERVER.PING.STATSZ", "").await;
    assert!(again["statsz"]["connections"].is_u64(), "{again}");
    assert!(
        again["server"]["seq"].as_u64() > v["server"]["seq"].as_u64(),
        "seq grows: {v} then {again}"
    );
}

#[tokio::test]
async fn each_kind_answers_in_nats_server_envelope() {
    let server = start();
    let sys = login(&server, "sys", "sys-pw").await;
    let _app = login(&server, "app", "app-pw").await;

    let varz = ask(&sys, "$SYS.REQ.SERVER.PING.VARZ", "").await;
    let id = check_server_info(&varz, "VARZ");
    assert_eq!(varz["data"]["server_id"], id.as_str(), "{varz}");
    assert!(varz["data"]["connections"].as_u64().unwrap() >= 2, "{varz}");
    assert!(varz["data"]["max_payload"].is_u64(), "{varz}");

    let connz = ask(
        &sys,
        "$SYS.REQ.SERVER.PING.CONNZ",
        r#"{"subscriptions":true}"#,
    )
    .await;
    check_server_info(&connz, "CONNZ");
    assert!(
        connz["data"]["num_connections"].as_u64().unwrap() >= 2,
        "{connz}"
    );
    let conns = connz["data"]["connections"].as_array().unwrap();
    assert!(conns.iter().all(|c| c["cid"].is_u64()), "{connz}");
    assert!(
        conns.iter().any(|c| c["subscriptions_list"].is_array()),
        "subscriptions option honoured: {connz}"
    );

    let subsz = ask(&sys, "$SYS.REQ.SERVER.PING.SUBSZ", "").await;
    check_server_info(&subsz, "SUBSZ");
    assert!(subsz["data"]["num_subscriptions"].is_u64(), "{subsz}");

    let jsz = ask(&sys, "$SYS.REQ.SERVER.PING.JSZ", "").await;
    check_server_info(&jsz, "JSZ");
    for k in [
        "streams",
        "consumers",
        "messages",
        "bytes",
        "memory",
        "storage",
    ] {
        assert!(jsz["data"][k].is_u64(), "jsz data.{k}: {jsz}");
    }
    assert!(jsz["data"]["config"].is_object(), "{jsz}");

    let health = ask(&sys, "$SYS.REQ.SERVER.PING.HEALTHZ", "").await;
    check_server_info(&health, "HEALTHZ");
    assert_eq!(health["data"]["status"], "ok", "{health}");
    assert_eq!(health["data"]["status_code"], 200, "{health}");

    let accz = ask(&sys, "$SYS.REQ.SERVER.PING.ACCOUNTZ", "").await;
    check_server_info(&accz, "ACCOUNTZ");
    assert!(accz["data"]["system_account"].is_string(), "{accz}");
    assert!(
        accz["data"]["accounts"].as_array().unwrap().len() >= 2,
        "{accz}"
    );

    let idz = ask(&sys, "$SYS.REQ.SERVER.PING.IDZ", "").await;
    assert_eq!(idz["id"], id.as_str(), "{idz}");
    assert!(idz["name"].is_string() && idz["host"].is_string(), "{idz}");
    assert!(idz.get("server").is_none(), "IDZ is bare: {idz}");

    // Addressed to this server by id.
    let by_id = ask(&sys, &format!("$SYS.REQ.SERVER.{id}.VARZ"), "").await;
    assert_eq!(by_id["data"]["server_id"], id.as_str(), "{by_id}");
    // A filter naming another server: no answer at all (nobody else listens: no responders).
    let other = tokio::time::timeout(
        Duration::from_millis(1500),
        sys.request(
            "$SYS.REQ.SERVER.PING.VARZ",
            r#"{"server_name":"no-such-server","exact":true}"#.into(),
        ),
    )
    .await;
    assert!(
        !matches!(other, Ok(Ok(_))),
        "answered a filter for another server: {other:?}"
    );
}

#[tokio::test]
async fn other_users_get_no_responders() {
    let server = start();
    let app = login(&server, "app", "app-pw").await;
    // (`$SYS.REQ.SERVER.PING.CONNZ` is answered to every account, about its own
    // connections only: tests/monitoring_accounts.rs.)
    for subject in [
        "$SYS.REQ.SERVER.PING",
        "$SYS.REQ.SERVER.PING.VARZ",
        "$SYS.REQ.SERVER.PING.STATSZ",
        "$SYS.REQ.SERVER.PING.JSZ",
    ] {
        let r = tokio::time::timeout(WAIT, app.request(subject, "".into()))
            .await
            .expect("a non-system request must be answered by no-responders, not time out");
        match r {
            Err(e) => assert_eq!(
                e.kind(),
                async_nats::RequestErrorKind::NoResponders,
                "{subject}: {e}"
            ),
            Ok(m) => panic!("{subject} answered to a non-system user: {:?}", m.payload),
        }
    }
    // And unknown kinds are not answered to the system user either.
    let sys = login(&server, "sys", "sys-pw").await;
    let r = tokio::time::timeout(
        Duration::from_millis(1500),
        sys.request("$SYS.REQ.SERVER.PING.BOGUS", "".into()),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "{r:?}");
}

/// `nats server ping` and `nats server check connection` (natscli), when installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natscli_server_ping_and_check() {
    let cli = std::env::var("NATS_CLI").unwrap_or_else(|_| "nats".into());
    let found = std::process::Command::new(&cli)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "skipped: natscli `{cli}` not found (go install github.com/nats-io/natscli/nats@latest, \
             or set NATS_CLI); the async-nats tests above cover the same requests"
        );
        return;
    }
    let server = start();
    let url = format!("nats://127.0.0.1:{}", server.port);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&cli)
            .args(["--server", &url, "--user", "sys", "--password", "sys-pw"])
            .args(args)
            .output()
            .expect("run nats");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (status, text) =
        tokio::task::block_in_place(|| run(&["server", "ping", "1", "--timeout", "3s"]));
    assert!(status.success(), "nats server ping: {text}");
    assert!(
        text.contains("1 replies") || text.contains("responses"),
        "{text}"
    );
    let (status, text) = tokio::task::block_in_place(|| run(&["server", "check", "connection"]));
    assert!(status.success(), "nats server check connection: {text}");
    assert!(text.contains("OK"), "{text}");
    let (status, text) = tokio::task::block_in_place(|| run(&["server", "info", "--json"]));
    assert!(status.success(), "nats server info: {text}");
}
