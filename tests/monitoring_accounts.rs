//! Account-aware monitoring: `/connz?acc=`, `/jsz?acc=` / `accounts=true`, `/subsz?acc=`,
//! `/accountz?acc=`, and the `$SYS.REQ.ACCOUNT.*` requests. An account sees only its own
//! connections through the requests it may make (`$SYS.REQ.ACCOUNT.PING.CONNZ|STATZ`,
//! `$SYS.REQ.SERVER.PING.CONNZ`); only the system account may name another account.
//! Field sets and JSON types are nats-server 2.15.1's (captured from its answers).
//!
//! Run: `cargo test --test monitoring_accounts` or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test monitoring_accounts`.

mod common;

use std::time::Duration;

use common::http::{get_json, http_get};
use common::{bounded, ServerOpts, TestServer, WAIT};
use serde_json::Value;

const NATRIX_CONF: &str = r#"system_account = "SYS"
[accounts.SYS]
users = [ { user = "sys", password = "sys-pw" } ]
[accounts.A]
jetstream = true
users = [ { user = "a", password = "a-pw" } ]
[accounts.B]
jetstream = true
users = [ { user = "b", password = "b-pw" } ]
"#;

const NATS_CONF: &str = "accounts {
  SYS { users [ { user: sys, password: sys-pw } ] }
  A { users [ { user: a, password: a-pw } ], jetstream: enabled }
  B { users [ { user: b, password: b-pw } ], jetstream: enabled }
}
system_account: SYS
";

fn start() -> TestServer {
    TestServer::start_with_nats_conf(ServerOpts::with_toml(NATRIX_CONF), Some(NATS_CONF))
}

async fn login(server: &TestServer, user: &str, name: &str) -> async_nats::Client {
    server
        .client_with(
            async_nats::ConnectOptions::with_user_and_password(user.into(), format!("{user}-pw"))
                .name(name),
        )
        .await
}

/// Two tenants with a subscription each and a stream each (A's with a message and a
/// consumer), plus a system user.
async fn tenants(
    server: &TestServer,
) -> (async_nats::Client, async_nats::Client, async_nats::Client) {
    let a = login(server, "a", "a-client").await;
    let b = login(server, "b", "b-client").await;
    let sys = login(server, "sys", "sys-client").await;
    let _sa = a.subscribe("a.data").await.unwrap();
    let _sb = b.subscribe("b.data").await.unwrap();
    std::mem::forget((_sa, _sb));
    let ja = common::js(&a);
    ja.create_stream(async_nats::jetstream::stream::Config {
        name: "SA".into(),
        subjects: vec!["sa.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    bounded("publish sa.x", async {
        ja.publish("sa.x", "hi".into())
            .await
            .unwrap()
            .await
            .unwrap()
    })
    .await;
    ja.create_consumer_on_stream(
        async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("C1".into()),
            ..Default::default()
        },
        "SA",
    )
    .await
    .unwrap();
    common::js(&b)
        .create_stream(async_nats::jetstream::stream::Config {
            name: "SB".into(),
            subjects: vec!["sb.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    for c in [&a, &b, &sys] {
        common::round_trip(c).await;
    }
    (a, b, sys)
}

fn names(connz: &Value) -> Vec<String> {
    let mut v: Vec<String> = connz["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("connections: {connz:#}"))
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

/// Every key in `fields` is present (nats-server's field set for what natrix shows).
fn has_fields(doc: &Value, what: &str, fields: &[&str]) {
    for k in fields {
        assert!(doc.get(*k).is_some(), "{what}: `{k}` missing in {doc:#}");
    }
}

const CONN_FIELDS: &[&str] = &[
    "cid",
    "kind",
    "type",
    "ip",
    "port",
    "start",
    "last_activity",
    "uptime",
    "idle",
    "pending_bytes",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    "name",
    "lang",
    "version",
];

const JS_ACCOUNT_FIELDS: &[&str] = &[
    "name",
    "id",
    "memory",
    "storage",
    "reserved_memory",
    "reserved_storage",
    "accounts",
    "ha_assets",
    "api",
];

const ACCOUNT_DETAIL_FIELDS: &[&str] = &[
    "account_name",
    "update_time",
    "expired",
    "complete",
    "jetstream_enabled",
    "leafnode_connections",
    "client_connections",
    "subscriptions",
    "name_tag",
    "sublist_stats",
];

const SUBLIST_FIELDS: &[&str] = &[
    "num_subscriptions",
    "num_cache",
    "num_inserts",
    "num_removes",
    "num_matches",
    "cache_hit_rate",
    "max_fanout",
    "avg_fanout",
];

const ACCOUNT_STAT_FIELDS: &[&str] = &[
    "acc",
    "name",
    "conns",
    "leafnodes",
    "total_conns",
    "num_subscriptions",
    "sent",
    "received",
    "slow_consumers",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_filter_by_account() {
    let server = start();
    let (_a, _b, _sys) = tenants(&server).await;
    let port = server.http_port;

    let all = get_json(port, "/connz");
    for n in ["a-client", "b-client", "sys-client"] {
        assert!(names(&all).contains(&n.to_owned()), "{all:#}");
    }
    let a = get_json(port, "/connz?acc=A");
    assert_eq!(names(&a), ["a-client"], "{a:#}");
    assert_eq!(a["num_connections"], 1, "{a:#}");
    assert_eq!(a["total"], 1, "{a:#}");
    has_fields(&a["connections"][0], "connz?acc=A", CONN_FIELDS);
    let nope = get_json(port, "/connz?acc=NOPE");
    assert_eq!(nope["num_connections"], 0, "{nope:#}");
    assert!(nope["connections"].is_null(), "{nope:#}");
    assert_eq!(nope["server_id"], "", "{nope:#}");

    // /jsz: acc= gives that account's details only; accounts=true every JetStream account.
    let jsz = get_json(port, "/jsz?acc=A&streams=true");
    let details = jsz["account_details"].as_array().expect("account_details");
    assert_eq!(details.len(), 1, "{jsz:#}");
    has_fields(&details[0], "jsz account", JS_ACCOUNT_FIELDS);
    assert_eq!(details[0]["name"], "A", "{jsz:#}");
    assert!(details[0]["storage"].as_u64().unwrap() > 0, "{jsz:#}");
    let streams: Vec<&str> = details[0]["stream_detail"]
        .as_array()
        .expect("stream_detail")
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(streams, ["SA"], "{jsz:#}");
    // Only A and B have JetStream: not SYS, and not $G (accounts are configured).
    assert_eq!(jsz["accounts"], 2, "{jsz:#}");
    assert_eq!(jsz["streams"], 2, "server-wide totals: {jsz:#}");
    let every = get_json(port, "/jsz?accounts=true");
    let mut listed: Vec<&str> = every["account_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["A", "B"], "{every:#}");
    assert_eq!(every["accounts"], 2, "{every:#}");
    let nope = get_json(port, "/jsz?acc=NOPE");
    assert!(nope.get("account_details").is_none(), "{nope:#}");

    // /varz's JetStream figures count every account's streams.
    let varz = get_json(port, "/varz");
    assert!(
        varz["jetstream"]["stats"]["storage"].as_u64().unwrap() > 0,
        "{varz:#}"
    );

    // /subsz?acc=: that account's subscriptions only.
    let subsz = get_json(port, "/subsz?acc=A&subs=1");
    let list = subsz["subscriptions_list"].as_array().expect("list");
    assert!(list.iter().all(|s| s["account"] == "A"), "{subsz:#}");
    assert!(list.iter().any(|s| s["subject"] == "a.data"), "{subsz:#}");
    assert!(!list.iter().any(|s| s["subject"] == "b.data"), "{subsz:#}");
    assert!(
        subsz["num_subscriptions"].as_u64().unwrap() >= 1,
        "{subsz:#}"
    );
    let all_subs = get_json(port, "/subsz");
    assert!(
        all_subs["num_subscriptions"].as_u64() > subsz["num_subscriptions"].as_u64(),
        "{all_subs:#}"
    );
    let nope = get_json(port, "/subsz?acc=NOPE&subs=1");
    assert_eq!(nope["num_subscriptions"], 0, "{nope:#}");

    // /accountz: every account; ?acc= one account's detail.
    let accz = get_json(port, "/accountz");
    assert_eq!(accz["system_account"], "SYS", "{accz:#}");
    let accounts: Vec<&str> = accz["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for n in ["A", "B", "SYS", "$G"] {
        assert!(accounts.contains(&n), "{n}: {accz:#}");
    }
    let acc_a = get_json(port, "/accountz?acc=A");
    let d = &acc_a["account_detail"];
    has_fields(d, "accountz?acc=A", ACCOUNT_DETAIL_FIELDS);
    has_fields(&d["sublist_stats"], "sublist_stats", SUBLIST_FIELDS);
    assert_eq!(d["account_name"], "A", "{acc_a:#}");
    assert_eq!(d["client_connections"], 1, "{acc_a:#}");
    assert_eq!(d["jetstream_enabled"], true, "{acc_a:#}");
    assert!(d.get("is_system").is_none(), "{acc_a:#}");
    let sys = get_json(port, "/accountz?acc=SYS");
    assert_eq!(sys["account_detail"]["is_system"], true, "{sys:#}");
    let (status, _) = http_get(port, "/accountz?acc=NOPE");
    assert_eq!(status, 400);
}

async fn ask(c: &async_nats::Client, subject: &str) -> Value {
    let msg = bounded(subject, c.request(subject.to_owned(), "".into()))
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&msg.payload)
        .unwrap_or_else(|e| panic!("{subject}: not JSON ({e}): {:?}", msg.payload))
}

async fn no_responders(c: &async_nats::Client, subject: &str) {
    let r = tokio::time::timeout(WAIT, c.request(subject.to_owned(), "".into()))
        .await
        .unwrap_or_else(|_| panic!("{subject}: timed out instead of no responders"));
    match r {
        Err(e) => assert_eq!(
            e.kind(),
            async_nats::RequestErrorKind::NoResponders,
            "{subject}: {e}"
        ),
        Ok(m) => panic!("{subject} answered: {:?}", m.payload),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_sees_only_its_own_connections() {
    let server = start();
    let (a, b, _sys) = tenants(&server).await;
    for subject in ["$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"] {
        let v = ask(&a, subject).await;
        assert_eq!(names(&v["data"]), ["a-client"], "{subject}: {v:#}");
        has_fields(&v["data"]["connections"][0], subject, CONN_FIELDS);
        let v = ask(&b, subject).await;
        assert_eq!(names(&v["data"]), ["b-client"], "{subject}: {v:#}");
    }
    let statz = ask(&a, "$SYS.REQ.ACCOUNT.PING.STATZ").await;
    let stats = statz["data"]["account_statz"].as_array().expect("statz");
    assert_eq!(stats.len(), 1, "{statz:#}");
    has_fields(&stats[0], "account_statz", ACCOUNT_STAT_FIELDS);
    assert_eq!(stats[0]["acc"], "A", "{statz:#}");
    assert_eq!(stats[0]["conns"], 1, "{statz:#}");
    // Naming an account, or any server-wide request: only the system account.
    for subject in [
        "$SYS.REQ.ACCOUNT.B.CONNZ",
        "$SYS.REQ.ACCOUNT.A.CONNZ",
        "$SYS.REQ.ACCOUNT.A.INFO",
        "$SYS.REQ.SERVER.PING.VARZ",
        "$SYS.REQ.SERVER.PING.JSZ",
        "$SYS.REQ.SERVER.PING",
    ] {
        no_responders(&a, subject).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_account_asks_about_any_account() {
    let server = start();
    let (_a, _b, sys) = tenants(&server).await;
    let all = ask(&sys, "$SYS.REQ.SERVER.PING.CONNZ").await;
    for n in ["a-client", "b-client", "sys-client"] {
        assert!(names(&all["data"]).contains(&n.to_owned()), "{all:#}");
    }
    let connz = ask(&sys, "$SYS.REQ.ACCOUNT.A.CONNZ").await;
    assert_eq!(names(&connz["data"]), ["a-client"], "{connz:#}");

    let subsz = ask(&sys, "$SYS.REQ.ACCOUNT.A.SUBSZ").await;
    let list = subsz["data"]["subscriptions_list"]
        .as_array()
        .unwrap_or_else(|| panic!("{subsz:#}"));
    assert!(list.iter().all(|s| s["account"] == "A"), "{subsz:#}");
    assert!(list.iter().any(|s| s["subject"] == "a.data"), "{subsz:#}");

    let jsz = ask(&sys, "$SYS.REQ.ACCOUNT.A.JSZ").await;
    has_fields(&jsz["data"], "ACCOUNT.A.JSZ", JS_ACCOUNT_FIELDS);
    assert_eq!(jsz["data"]["name"], "A", "{jsz:#}");
    assert!(jsz["data"]["storage"].as_u64().unwrap() > 0, "{jsz:#}");

    let info = ask(&sys, "$SYS.REQ.ACCOUNT.B.INFO").await;
    has_fields(&info["data"], "ACCOUNT.B.INFO", ACCOUNT_DETAIL_FIELDS);
    assert_eq!(info["data"]["account_name"], "B", "{info:#}");
    assert_eq!(info["data"]["client_connections"], 1, "{info:#}");

    let statz = ask(&sys, "$SYS.REQ.ACCOUNT.B.STATZ").await;
    let stat = &statz["data"]["account_statz"][0];
    has_fields(stat, "ACCOUNT.B.STATZ", ACCOUNT_STAT_FIELDS);
    assert_eq!(stat["acc"], "B", "{statz:#}");

    let conns = ask(&sys, "$SYS.REQ.ACCOUNT.A.CONNS").await;
    assert_eq!(
        conns["type"], "io.nats.server.advisory.v1.account_connections",
        "{conns:#}"
    );
    has_fields(&conns, "ACCOUNT.A.CONNS", ACCOUNT_STAT_FIELDS);
    assert_eq!(conns["conns"], 1, "{conns:#}");

    let leafz = ask(&sys, "$SYS.REQ.ACCOUNT.A.LEAFZ").await;
    assert_eq!(leafz["data"]["leafnodes"], 0, "{leafz:#}");
    // Unknown kinds: nobody answers.
    let r = tokio::time::timeout(
        Duration::from_millis(1500),
        sys.request("$SYS.REQ.ACCOUNT.A.BOGUS", "".into()),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "{r:?}");
}

/// Exports and imports between two accounts, in both servers' forms.
const CROSS_NATRIX: &str = r#"system_account = "SYS"
[accounts.SYS]
users = [ { user = "sys", password = "sys-pw" } ]
[accounts.A]
jetstream = true
users = [ { user = "a", password = "a-pw" } ]
exports = [ { service = "svc.time" }, { stream = "public.>" }, { service = "svc.priv", accounts = ["B"] }, { stream = "feed.>" } ]
[accounts.B]
users = [ { user = "b", password = "b-pw" } ]
imports = [ { service = { account = "A", subject = "svc.time" } }, { service = { account = "A", subject = "svc.priv" }, to = "priv" }, { stream = { account = "A", subject = "public.>" }, prefix = "a" }, { stream = { account = "A", subject = "public.x.>" } }, { stream = { account = "A", subject = "feed.*" }, to = "myfeed.*" } ]
"#;

const CROSS_NATS: &str = r#"accounts {
  SYS { users [ { user: sys, password: sys-pw } ] }
  A { users [ { user: a, password: a-pw } ], jetstream: enabled
      exports [ { service: "svc.time" }, { stream: "public.>" }, { service: "svc.priv", accounts: [B] }, { stream: "feed.>" } ] }
  B { users [ { user: b, password: b-pw } ]
      imports [ { service: { account: A, subject: "svc.time" } }, { service: { account: A, subject: "svc.priv" }, to: "priv" },
                { stream: { account: A, subject: "public.>" }, prefix: "a" }, { stream: { account: A, subject: "public.x.>" } },
                { stream: { account: A, subject: "feed.*" }, to: "myfeed.*" } ] }
}
system_account: SYS
"#;

/// `items` as a sorted list of their compact JSON (nats-server lists them in map order).
fn json_set(items: &Value) -> Vec<String> {
    let mut v: Vec<String> = items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items:#}"))
        .iter()
        .map(Value::to_string)
        .collect();
    v.sort();
    v
}

/// The automatic service imports of account `acc` from the system account `SYS` with
/// JetStream on (captured from nats-server 2.15.1).
fn system_imports(acc: &str) -> Vec<Value> {
    let imp = |subject: String, local: &str, share: bool| {
        serde_json::json!({"subject": subject, "account": "SYS", "to": local,
            "local_subject": local, "type": "service", "invalid": false, "share": share,
            "tracking": false})
    };
    vec![
        imp(
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
            "$SYS.REQ.ACCOUNT.PING.CONNZ",
            false,
        ),
        imp(
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
            "$SYS.REQ.SERVER.PING.CONNZ",
            false,
        ),
        imp(
            format!("$SYS.REQ.ACCOUNT.{acc}.STATZ"),
            "$SYS.REQ.ACCOUNT.PING.STATZ",
            false,
        ),
        imp(
            format!("$SYS.REQ.USER.{acc}.INFO"),
            "$SYS.REQ.USER.INFO",
            true,
        ),
        imp("$JS.API.>".into(), "$JS.API.>", true),
    ]
}

#[tokio::test]
async fn accountz_shows_exports_imports_and_the_automatic_system_ones() {
    use serde_json::json;
    let server =
        TestServer::start_with_nats_conf(ServerOpts::with_toml(CROSS_NATRIX), Some(CROSS_NATS));
    let port = server.http_port;
    let detail =
        |acc: &str| get_json(port, &format!("/accountz?acc={acc}"))["account_detail"].clone();

    let a = detail("A");
    assert_eq!(
        json_set(&a["exports"]),
        json_set(&json!([
            {"subject": "svc.time", "type": "service", "response_type": "Singleton"},
            {"subject": "svc.priv", "type": "service", "response_type": "Singleton",
             "approved_accounts": ["B"]},
            {"subject": "public.>", "type": "stream"},
            {"subject": "feed.>", "type": "stream"},
        ])),
        "{a:#}"
    );
    assert_eq!(
        json_set(&a["imports"]),
        json_set(&json!(system_imports("A"))),
        "{a:#}"
    );

    let b = detail("B");
    assert!(b.get("exports").is_none(), "{b:#}");
    let mut want = system_imports("B");
    want.extend([
        json!({"subject": "svc.time", "account": "A", "to": "svc.time", "local_subject": "svc.time",
               "type": "service", "invalid": false, "share": false, "tracking": false}),
        json!({"subject": "svc.priv", "account": "A", "to": "priv", "local_subject": "priv",
               "type": "service", "invalid": false, "share": false, "tracking": false}),
        json!({"subject": "public.>", "account": "A", "local_subject": "a.public.>",
               "type": "stream", "invalid": false, "share": false, "tracking": false}),
        json!({"subject": "public.x.>", "account": "A", "local_subject": "public.x.>",
               "type": "stream", "invalid": false, "share": false, "tracking": false}),
        json!({"subject": "feed.*", "account": "A", "local_subject": "myfeed.*",
               "type": "stream", "invalid": false, "share": false, "tracking": false}),
    ]);
    assert_eq!(json_set(&b["imports"]), json_set(&json!(want)), "{b:#}");

    // $G gets the same automatic imports (and no JetStream: accounts are configured).
    let g = detail("$G");
    assert_eq!(
        json_set(&g["imports"]),
        json_set(&json!(system_imports("$G"))),
        "{g:#}"
    );
    assert_eq!(g["jetstream_enabled"], false, "{g:#}");

    // The system account exports those services and imports only its own user info.
    let sys = detail("SYS");
    let svc = |subject: &str, rt: &str| json!({"subject": subject, "type": "service", "response_type": rt});
    assert_eq!(
        json_set(&sys["exports"]),
        json_set(&json!([
            svc("$SYS.REQ.ACCOUNT.*.CONNZ", "Streamed"),
            svc("$SYS.REQ.ACCOUNT.*.STATZ", "Streamed"),
            svc("$SYS.DEBUG.SUBSCRIBERS", "Singleton"),
            svc("$SYS.REQ.USER.*.INFO", "Singleton"),
            svc("$JS.API.>", "Singleton"),
        ])),
        "{sys:#}"
    );
    assert_eq!(
        json_set(&sys["imports"]),
        json_set(
            &json!([{"subject": "$SYS.REQ.USER.SYS.INFO", "account": "SYS",
            "to": "$SYS.REQ.USER.INFO", "local_subject": "$SYS.REQ.USER.INFO", "type": "service",
            "invalid": false, "share": true, "tracking": false}])
        ),
        "{sys:#}"
    );

    // /jsz?accounts=true: only A has JetStream.
    let every = get_json(port, "/jsz?accounts=true");
    let listed: Vec<&str> = every["account_details"]
        .as_array()
        .unwrap_or_else(|| panic!("{every:#}"))
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["A"], "{every:#}");

    // The stream import mapped with `to`: A's feed.eu reaches B as myfeed.eu.
    use futures::StreamExt;
    let a = login(&server, "a", "a-feed").await;
    let b = login(&server, "b", "b-feed").await;
    let mut mine = b.subscribe("myfeed.*").await.unwrap();
    b.flush().await.unwrap();
    let mut seen = None;
    for _ in 0..100 {
        a.publish("feed.eu", "x".into()).await.unwrap();
        a.flush().await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), mine.next()).await {
            seen = Some(m);
            break;
        }
    }
    assert_eq!(
        seen.expect("feed.eu never reached B").subject.as_str(),
        "myfeed.eu"
    );
}
