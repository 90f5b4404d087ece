//! Authentication and permissions of the default account (`[authorization]`): user/password,
//! token, nkey, bcrypt; exact -ERRs for bad credentials, the auth timeout and permission
//! violations; `allow_responses`.
//!
//! Every test also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`); the
//! harness turns `[authorization]` into nats-server's `authorization { ... }` block.

mod common;

use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use common::{bounded, RawConn, ServerOpts, TestServer};
use futures::StreamExt;

/// Users shared by most tests (one TOML line per key: the harness translates line by line).
const USERS: &str = concat!(
    "[authorization]\n",
    "users = [ { user = \"alice\", password = \"alice-pw\" }, ",
    "{ user = \"reader\", password = \"reader-pw\", permissions = { publish = { deny = [\">\"] }, ",
    "subscribe = { allow = [\"a.>\", \"_INBOX.>\", \"jobs.* workers\"] } } }, ",
    "{ user = \"service\", password = \"service-pw\", permissions = { publish = [\"status.>\"], ",
    "subscribe = [\"svc.>\"], allow_responses = true } } ]\n",
);

fn start(toml: &str) -> TestServer {
    TestServer::start(ServerOpts::with_toml(toml))
}

fn user(name: &str, pass: &str) -> ConnectOptions {
    ConnectOptions::with_user_and_password(name.into(), pass.into())
}

/// A quiet raw connection that authenticated as `name`.
async fn raw_as(s: &TestServer, name: &str, pass: &str) -> RawConn {
    let json = format!(r#"{{"verbose":false,"pedantic":false,"user":"{name}","pass":"{pass}"}}"#);
    RawConn::connect_with(s.port, &json).await
}

/// What async-nats reports when the server refuses a connection.
async fn refused(s: &TestServer, opts: ConnectOptions) -> String {
    let res = bounded("refused connect", opts.connect(s.url())).await;
    match res {
        Ok(_) => panic!("connection was accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn info_requires_auth_and_anything_before_connect_is_refused() {
    let s = start(USERS);
    let mut c = s.raw().await;
    assert_eq!(
        c.info["auth_required"],
        true,
        "{}",
        common::show(&c.info_line)
    );
    c.send(b"PING\r\n").await;
    c.expect_err_and_close("Authorization Violation").await;
    let mut c = s.raw().await;
    c.send(b"SUB a 1\r\n").await;
    c.expect_err_and_close("Authorization Violation").await;
}

#[tokio::test]
async fn user_password() {
    let s = start(USERS);
    let alice = s.client_with(user("alice", "alice-pw")).await;
    let mut sub = alice.subscribe("greet").await.unwrap();
    alice.flush().await.unwrap();
    alice.publish("greet", "hi".into()).await.unwrap();
    let m = bounded("greeting", sub.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"hi");

    let err = refused(&s, user("alice", "wrong")).await;
    assert!(err.contains("authorization violation"), "{err}");
    let err = refused(&s, user("mallory", "alice-pw")).await;
    assert!(err.contains("authorization violation"), "{err}");
    let err = refused(&s, ConnectOptions::new()).await;
    assert!(err.contains("authorization violation"), "{err}");

    // Exact bytes: the -ERR, then the close; verbose gets no +OK first.
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":true,\"user\":\"alice\",\"pass\":\"bad\"}\r\nPING\r\n")
        .await;
    c.expect_err_and_close("Authorization Violation").await;
}

#[tokio::test]
async fn token() {
    let s = start("[authorization]\ntoken = \"s3cr3t\"\n");
    let c = s
        .client_with(ConnectOptions::with_token("s3cr3t".into()))
        .await;
    c.publish("x", "1".into()).await.unwrap();
    c.flush().await.unwrap();
    let err = refused(&s, ConnectOptions::with_token("nope".into())).await;
    assert!(err.contains("authorization violation"), "{err}");
    let err = refused(&s, user("s3cr3t", "s3cr3t")).await;
    assert!(err.contains("authorization violation"), "{err}");
}

#[tokio::test]
async fn nkey() {
    let kp = nkeys::KeyPair::new_user();
    let other = nkeys::KeyPair::new_user();
    let s = start(&format!(
        "[authorization]\nusers = [ {{ nkey = \"{}\" }} ]\n",
        kp.public_key()
    ));
    let mut raw = s.raw().await;
    let nonce = raw.info["nonce"]
        .as_str()
        .expect("INFO has a nonce")
        .to_owned();
    assert!(!nonce.is_empty());

    let c = s
        .client_with(ConnectOptions::with_nkey(kp.seed().unwrap()))
        .await;
    let mut sub = c.subscribe("n").await.unwrap();
    c.flush().await.unwrap();
    c.publish("n", "k".into()).await.unwrap();
    assert_eq!(
        &bounded("nkey msg", sub.next()).await.unwrap().payload[..],
        b"k"
    );

    let err = refused(&s, ConnectOptions::with_nkey(other.seed().unwrap())).await;
    assert!(err.contains("authorization violation"), "{err}");

    // The right key signing the wrong bytes is refused too.
    use base64::Engine as _;
    let sig =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(b"not the nonce").unwrap());
    raw.send(
        format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
            kp.public_key()
        )
        .as_bytes(),
    )
    .await;
    raw.expect_err_and_close("Authorization Violation").await;
}

#[tokio::test]
async fn bcrypt_password() {
    let hash = bcrypt::hash("h-pw", 4).unwrap().replacen("$2b$", "$2a$", 1);
    let s = start(&format!(
        "[authorization]\nusers = [ {{ user = \"h\", password = \"{hash}\" }} ]\n"
    ));
    let c = s.client_with(user("h", "h-pw")).await;
    c.flush().await.unwrap();
    let err = refused(&s, user("h", "wrong")).await;
    assert!(err.contains("authorization violation"), "{err}");
    let err = refused(&s, user("h", &hash)).await;
    assert!(
        err.contains("authorization violation"),
        "sending the hash: {err}"
    );
}

#[tokio::test]
async fn permission_violations_keep_the_connection_open() {
    let s = start(USERS);
    let mut r = raw_as(&s, "reader", "reader-pw").await;
    r.send(b"PUB a.b 1\r\nx\r\n").await;
    r.expect_err("Permissions Violation for Publish to \"a.b\"")
        .await;
    r.send(b"SUB b 1\r\n").await;
    r.expect_err("Permissions Violation for Subscription to \"b\"")
        .await;
    r.send(b"SUB jobs.x thieves 2\r\n").await;
    r.expect_err("Permissions Violation for Subscription to \"jobs.x\" using queue \"thieves\"")
        .await;
    // Still open; allowed subscriptions work and the refused ones were not created.
    r.send(b"SUB a.> 3\r\nSUB jobs.x workers 4\r\n").await;
    r.ping_pong().await;
    let alice = s.client_with(user("alice", "alice-pw")).await;
    for subj in ["b", "a.b", "jobs.x"] {
        alice.publish(subj, "m".into()).await.unwrap();
    }
    alice.flush().await.unwrap();
    r.expect(b"MSG a.b 3 1\r\nm\r\n").await;
    r.expect(b"MSG jobs.x 4 1\r\nm\r\n").await;
    r.ping_pong().await;
    // Verbose: a refused PUB or SUB gets the -ERR and no +OK.
    let mut v = s.raw().await;
    v.send(b"CONNECT {\"verbose\":true,\"user\":\"reader\",\"pass\":\"reader-pw\"}\r\n")
        .await;
    v.send(b"PUB z 0\r\n\r\nSUB q 1\r\nSUB a.b 2\r\nPING\r\n")
        .await;
    v.expect(b"+OK\r\n").await;
    v.expect_err("Permissions Violation for Publish to \"z\"")
        .await;
    v.expect_err("Permissions Violation for Subscription to \"q\"")
        .await;
    v.expect(b"+OK\r\nPONG\r\n").await;
}

#[tokio::test]
async fn allow_responses_permits_one_reply_per_request() {
    let s = start(USERS);
    let mut svc = raw_as(&s, "service", "service-pw").await;
    svc.send(b"SUB svc.> 1\r\n").await;
    svc.ping_pong().await;
    let alice = s.client_with(user("alice", "alice-pw")).await;
    let mut inbox = alice.subscribe("_INBOX.t.1").await.unwrap();
    alice.flush().await.unwrap();

    // Before any request, the reply subject is not publishable.
    svc.send(b"PUB _INBOX.t.1 1\r\nx\r\n").await;
    svc.expect_err("Permissions Violation for Publish to \"_INBOX.t.1\"")
        .await;
    alice
        .publish_with_reply("svc.echo", "_INBOX.t.1", "q".into())
        .await
        .unwrap();
    alice.flush().await.unwrap();
    svc.expect(b"MSG svc.echo 1 _INBOX.t.1 1\r\nq\r\n").await;
    svc.send(b"PUB _INBOX.t.1 1\r\na\r\n").await;
    svc.ping_pong().await;
    let m = bounded("response", inbox.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"a");
    // One response per request (allow_responses = true): the second is refused.
    svc.send(b"PUB _INBOX.t.1 1\r\nb\r\n").await;
    svc.expect_err("Permissions Violation for Publish to \"_INBOX.t.1\"")
        .await;
    // Its static rules still apply.
    svc.send(b"PUB status.up 0\r\n\r\nPUB other 0\r\n\r\n")
        .await;
    svc.expect_err("Permissions Violation for Publish to \"other\"")
        .await;
    svc.ping_pong().await;
}

#[tokio::test]
async fn auth_timeout_closes_a_silent_client() {
    let s = start("[authorization]\ntoken = \"t\"\ntimeout = 1\n");
    let started = Instant::now();
    let mut c = s.raw().await;
    c.expect_err_and_close("Authentication Timeout").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    // A client that connects in time stays.
    let mut ok = s.raw().await;
    ok.handshake(r#"{"verbose":false,"auth_token":"t"}"#).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ok.ping_pong().await;
}

#[tokio::test]
async fn subscribe_deny_filters_deliveries_to_wildcard_subscriptions() {
    let s = start(concat!(
        "[authorization]\n",
        "users = [ { user = \"alice\", password = \"alice-pw\" }, ",
        "{ user = \"guard\", password = \"guard-pw\", permissions = { subscribe = { deny = [\"a.secret\"] } } } ]\n",
    ));
    let mut g = raw_as(&s, "guard", "guard-pw").await;
    g.send(b"SUB a.secret 1\r\n").await;
    g.expect_err("Permissions Violation for Subscription to \"a.secret\"")
        .await;
    g.send(b"SUB a.* 2\r\n").await;
    g.ping_pong().await;
    let alice = s.client_with(user("alice", "alice-pw")).await;
    alice.publish("a.secret", "s".into()).await.unwrap();
    alice.publish("a.public", "p".into()).await.unwrap();
    alice.flush().await.unwrap();
    // The secret is not delivered through the wildcard; the public message is.
    g.expect(b"MSG a.public 2 1\r\np\r\n").await;
    g.ping_pong().await;
}

#[tokio::test]
async fn jetstream_api_is_an_ordinary_subject_to_permissions() {
    let s = start(concat!(
        "[authorization]\n",
        "users = [ { user = \"ro\", password = \"ro-pw\", permissions = { publish = { allow = [\"$JS.API.>\"], ",
        "deny = [\"$JS.API.STREAM.CREATE.>\", \"$JS.API.STREAM.DELETE.>\"] }, subscribe = [\"_INBOX.>\"] } } ]\n",
    ));
    let mut c = raw_as(&s, "ro", "ro-pw").await;
    c.send(b"SUB _INBOX.js 1\r\nPUB $JS.API.STREAM.CREATE.ORDERS _INBOX.js 2\r\n{}\r\n")
        .await;
    c.expect_err("Permissions Violation for Publish to \"$JS.API.STREAM.CREATE.ORDERS\"")
        .await;
    // An allowed API request is answered as usual.
    c.send(b"PUB $JS.API.INFO _INBOX.js 0\r\n\r\n").await;
    let line = c.read_line().await;
    assert!(
        line.starts_with(b"MSG _INBOX.js 1 "),
        "{}",
        common::show(&line)
    );
}
