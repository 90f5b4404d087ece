//! Decentralized JWT auth (operator mode): `.creds` users connect through a trusted operator,
//! a memory resolver preloaded with account JWTs, and the nonce signature; every broken link
//! of the chain gets `-ERR 'Authorization Violation'` and a close; the user JWT's permissions
//! are enforced; an expiring JWT closes its connection.
//!
//! Fixtures: `tests/fixtures/jwt/` (made by `scripts/gen-jwt-fixtures.sh` with nats-io/jwt).
//! Every test also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`); the
//! harness turns `[operator]` into `operator`, `system_account`, `resolver: MEMORY` and
//! `resolver_preload`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectOptions;
use base64::Engine as _;
use common::{bounded, RawConn, ServerOpts, TestServer};
use futures::StreamExt;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

fn ids() -> HashMap<String, String> {
    serde_json::from_str(&fixture("ids.json")).unwrap()
}

/// The `[operator]` config over the fixtures (SYS, TEAM_A and TEAM_B preloaded).
fn operator_toml() -> String {
    format!(
        "[operator]\njwt_file = \"{}\"\nsystem_account = \"{}\"\nresolver = \"memory\"\n\
         [operator.resolver_preload]\n{}",
        fixtures().join("op.jwt").display(),
        ids()["sys"],
        fixture("preload.toml")
    )
}

fn start() -> TestServer {
    TestServer::start(ServerOpts::with_toml(&operator_toml()))
}

async fn creds(name: &str) -> ConnectOptions {
    ConnectOptions::with_credentials_file(fixtures().join(format!("{name}.creds")))
        .await
        .unwrap()
}

/// What async-nats reports when the server refuses a connection.
async fn refused(s: &TestServer, opts: ConnectOptions) -> String {
    match bounded("refused connect", opts.connect(s.url())).await {
        Ok(_) => panic!("connection was accepted"),
        Err(e) => e.to_string(),
    }
}

/// The user JWT and seed of a `.creds` text.
fn jwt_and_key(creds: &str) -> (String, nkeys::KeyPair) {
    let mut lines = creds.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN NATS USER JWT"));
    let jwt = lines.find(|l| !l.is_empty()).unwrap().to_owned();
    lines.find(|l| l.starts_with("-----BEGIN USER NKEY SEED"));
    let seed = lines.find(|l| !l.is_empty()).unwrap();
    (jwt, nkeys::KeyPair::from_seed(seed).unwrap())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A raw connection that sent CONNECT with `jwt` and the nonce signed by `key` (None: no sig).
async fn raw_jwt(s: &TestServer, jwt: &str, key: Option<&nkeys::KeyPair>) -> RawConn {
    let mut c = s.raw().await;
    let nonce = c.info["nonce"]
        .as_str()
        .expect("INFO has a nonce")
        .to_owned();
    let sig = key
        .map(|k| format!(",\"sig\":\"{}\"", b64(&k.sign(nonce.as_bytes()).unwrap())))
        .unwrap_or_default();
    c.send(format!("CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\"{sig}}}\r\nPING\r\n").as_bytes())
        .await;
    c
}

/// A raw connection logged in with a fixture `.creds` (PONG already read).
async fn raw_creds(s: &TestServer, name: &str) -> RawConn {
    let (jwt, kp) = jwt_and_key(&fixture(&format!("{name}.creds")));
    let mut c = raw_jwt(s, &jwt, Some(&kp)).await;
    c.expect(b"PONG\r\n").await;
    c
}

#[tokio::test]
async fn creds_users_connect_through_the_chain() {
    let s = start();
    let raw = s.raw().await;
    assert_eq!(raw.info["auth_required"], true);
    assert!(raw.info["nonce"].as_str().is_some_and(|n| !n.is_empty()));

    let alice = s.client_with(creds("alice").await).await;
    let mut sub = alice.subscribe("greet").await.unwrap();
    alice.flush().await.unwrap();
    // A user signed by TEAM_A's signing key, a scoped one, a bearer token and one limited to
    // loopback source addresses are in TEAM_A.
    for name in ["signer", "scoped", "bearer", "limited", "local_src"] {
        let c = s.client_with(creds(name).await).await;
        let subject = if name == "scoped" {
            "scoped.x"
        } else {
            "greet"
        };
        c.publish(subject, name.into()).await.unwrap();
        c.flush().await.unwrap();
        if !["scoped", "limited"].contains(&name) {
            let m = bounded(name, sub.next()).await.unwrap();
            assert_eq!(&m.payload[..], name.as_bytes());
        }
    }
    // bob's account (TEAM_B, signed by the operator's signing key) works too.
    let bob = s.client_with(creds("bob").await).await;
    let mut bsub = bob.subscribe("greet").await.unwrap();
    bob.flush().await.unwrap();
    bob.publish("greet", "bob".into()).await.unwrap();
    let m = bounded("bob's own message", bsub.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"bob");
}

#[tokio::test]
async fn each_broken_link_is_an_authorization_violation() {
    let s = start();
    for name in [
        "expired",
        "not_yet_valid",
        "revoked",
        "untrusted",
        "no_issuer_account",
        "wrong_issuer_account",
        "wrong_src",
        "websocket_only",
        "bearer_disallowed",
    ] {
        let err = refused(&s, creds(name).await).await;
        assert!(err.contains("authorization violation"), "{name}: {err}");
        // Exact bytes: the -ERR, then the close.
        let (jwt, kp) = jwt_and_key(&fixture(&format!("{name}.creds")));
        let mut c = raw_jwt(&s, &jwt, Some(&kp)).await;
        c.expect_err_and_close("Authorization Violation").await;
    }
    let (jwt, kp) = jwt_and_key(&fixture("alice.creds"));
    // No signature, a signature by another key, a JWT with a changed byte, no JWT at all.
    let mut c = raw_jwt(&s, &jwt, None).await;
    c.expect_err_and_close("Authorization Violation").await;
    let mut c = raw_jwt(&s, &jwt, Some(&nkeys::KeyPair::new_user())).await;
    c.expect_err_and_close("Authorization Violation").await;
    let tampered = {
        let (head, sig) = jwt.rsplit_once('.').unwrap();
        let mut sig = sig.to_owned().into_bytes();
        sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
        format!("{head}.{}", String::from_utf8(sig).unwrap())
    };
    let mut c = raw_jwt(&s, &tampered, Some(&kp)).await;
    c.expect_err_and_close("Authorization Violation").await;
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"x\"}\r\nPING\r\n")
        .await;
    c.expect_err_and_close("Authorization Violation").await;
}

#[tokio::test]
async fn user_jwt_permissions_are_enforced() {
    let s = start();
    let mut r = raw_creds(&s, "limited").await;
    r.send(b"PUB nope 1\r\nx\r\n").await;
    r.expect_err("Permissions Violation for Publish to \"nope\"")
        .await;
    r.send(b"PUB ok.secret 1\r\nx\r\n").await;
    r.expect_err("Permissions Violation for Publish to \"ok.secret\"")
        .await;
    r.send(b"SUB nope 1\r\n").await;
    r.expect_err("Permissions Violation for Subscription to \"nope\"")
        .await;
    // The connection stays; allowed subjects work.
    r.send(b"SUB ok.> 2\r\nPUB ok.1 2\r\nhi\r\nPING\r\n").await;
    r.expect(b"MSG ok.1 2 2\r\nhi\r\nPONG\r\n").await;

    // A user signed by the scoped key gets the scope's template (scoped.>) instead.
    let mut sc = raw_creds(&s, "scoped").await;
    sc.send(b"PUB ok.1 0\r\n\r\n").await;
    sc.expect_err("Permissions Violation for Publish to \"ok.1\"")
        .await;
    sc.send(b"SUB scoped.> 1\r\nPUB scoped.a 1\r\nz\r\nPING\r\n")
        .await;
    sc.expect(b"MSG scoped.a 1 1\r\nz\r\nPONG\r\n").await;
}

/// `resp` in the user JWT: one reply per request received, nothing else publishable.
#[tokio::test]
async fn user_jwt_response_permission() {
    let s = start();
    let mut svc = raw_creds(&s, "responder").await;
    svc.send(b"SUB svc.> 1\r\nPING\r\n").await;
    svc.expect(b"PONG\r\n").await;
    let alice = s.client_with(creds("alice").await).await;
    let mut inbox = alice.subscribe("_INBOX.t.1").await.unwrap();
    alice.flush().await.unwrap();
    svc.send(b"PUB _INBOX.t.1 1\r\nx\r\n").await;
    svc.expect_err("Permissions Violation for Publish to \"_INBOX.t.1\"")
        .await;
    alice
        .publish_with_reply("svc.echo", "_INBOX.t.1", "q".into())
        .await
        .unwrap();
    alice.flush().await.unwrap();
    svc.expect(b"MSG svc.echo 1 _INBOX.t.1 1\r\nq\r\n").await;
    svc.send(b"PUB _INBOX.t.1 1\r\na\r\nPING\r\n").await;
    svc.expect(b"PONG\r\n").await;
    let m = bounded("response", inbox.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"a");
    svc.send(b"PUB _INBOX.t.1 1\r\nb\r\n").await;
    svc.expect_err("Permissions Violation for Publish to \"_INBOX.t.1\"")
        .await;
    svc.send(b"PUB other 0\r\n\r\n").await;
    svc.expect_err("Permissions Violation for Publish to \"other\"")
        .await;
}

#[tokio::test]
async fn accounts_do_not_share_subjects() {
    // TEAM_A and TEAM_B are separate subject spaces on both servers (natrix: the account
    // of the user JWT is the account the session is bound to).
    let s = start();
    let alice = s.client_with(creds("alice").await).await;
    let bob = s.client_with(creds("bob").await).await;
    let mut asub = alice.subscribe("x").await.unwrap();
    alice.flush().await.unwrap();
    bob.publish("x", "from b".into()).await.unwrap();
    bob.flush().await.unwrap();
    alice.publish("x", "from a".into()).await.unwrap();
    let m = bounded("alice's own", asub.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"from a");
}

/// A user JWT of TEAM_A (signed by its signing key) that expires `secs` from now.
fn short_lived_user(secs: i64) -> (String, nkeys::KeyPair) {
    let ids = ids();
    let signer = nkeys::KeyPair::from_seed(fixture("team_a_signing_key.seed").trim()).unwrap();
    let user = nkeys::KeyPair::new_user();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let payload = format!(
        r#"{{"jti":"SHORT","iat":{now},"iss":"{}","name":"short","sub":"{}","exp":{},"nats":{{"pub":{{}},"sub":{{}},"subs":-1,"data":-1,"payload":-1,"issuer_account":"{}","type":"user","version":2}}}}"#,
        signer.public_key(),
        user.public_key(),
        now + secs,
        ids["team_a"]
    );
    let signed = format!(
        "{}.{}",
        b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        b64(payload.as_bytes())
    );
    let sig = signer.sign(signed.as_bytes()).unwrap();
    (format!("{signed}.{}", b64(&sig)), user)
}

#[tokio::test]
async fn an_expiring_user_jwt_closes_its_connection() {
    let s = start();
    let (jwt, kp) = short_lived_user(2);
    let mut c = raw_jwt(&s, &jwt, Some(&kp)).await;
    c.expect(b"PONG\r\n").await;
    let started = std::time::Instant::now();
    c.expect_err_and_close("User Authentication Expired").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Already expired: refused at CONNECT.
    let (jwt, kp) = short_lived_user(-5);
    let mut c = raw_jwt(&s, &jwt, Some(&kp)).await;
    c.expect_err_and_close("Authorization Violation").await;
}

/// nats-py with `user_credentials=`: a valid user works, the broken ones are refused, and a
/// permissions violation reaches the error callback (`tests/py/jwt_test.py`).
#[test]
fn nats_py_creds() {
    let Some(py) = common::py::python_or_skip("nats_py_creds") else {
        return;
    };
    let s = start();
    common::py::run_script_with_args(
        &py,
        "tests/py/jwt_test.py",
        &[s.url(), fixtures().display().to_string()],
        Duration::from_secs(60),
    );
}

/// `resolver = { type = "full", dir = ... }`: account JWTs from `<key>.jwt` files (natrix reads
/// them at startup; nats-server's full resolver serves the same directory).
#[tokio::test]
async fn directory_resolver_serves_account_jwts() {
    let ids = ids();
    let dir = std::env::temp_dir().join(format!("natrix-jwt-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, file) in [("sys", "sys.jwt"), ("team_a", "team_a.jwt")] {
        std::fs::write(dir.join(format!("{}.jwt", ids[name])), fixture(file)).unwrap();
    }
    let s = TestServer::start(ServerOpts::with_toml(&format!(
        "[operator]\njwt_file = \"{}\"\nsystem_account = \"{}\"\n\
         resolver = {{ type = \"full\", dir = \"{}\" }}\n",
        fixtures().join("op.jwt").display(),
        ids["sys"],
        dir.display()
    )));
    let alice = s.client_with(creds("alice").await).await;
    alice.flush().await.unwrap();
    // TEAM_B is not in the directory.
    let err = refused(&s, creds("bob").await).await;
    assert!(err.contains("authorization violation"), "{err}");
    let err = refused(&s, creds("revoked").await).await;
    assert!(err.contains("authorization violation"), "{err}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
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

/// The `error` of a `$JS.API` response, checked whole against nats-server's.
fn assert_js_error(resp: &serde_json::Value, code: u64, err_code: u64, text: &str) {
    assert_eq!(
        resp["error"],
        serde_json::json!({"code": code, "err_code": err_code, "description": text}),
        "{resp}"
    );
}

/// TEAM_D's account JWT grants 4 KiB of memory and of file storage, 2 streams, 2 consumers
/// per stream and `max_ack_pending` 10: each is enforced with nats-server's error.
#[tokio::test]
async fn account_jwt_jetstream_limits_are_enforced() {
    let s = start();
    let dave = s.client_with(creds("dave").await).await;
    let info = js_api(&dave, "$JS.API.INFO", "").await;
    assert_eq!(
        info["limits"],
        serde_json::json!({"max_memory": 4096, "max_storage": 4096, "max_streams": 2,
            "max_consumers": 2, "max_ack_pending": 10, "memory_max_stream_bytes": -1,
            "storage_max_stream_bytes": -1, "max_bytes_required": false}),
        "{info}"
    );
    let ok = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.F1",
        r#"{"name":"F1","subjects":["f1"],"max_bytes":4096}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");
    let full = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.F2",
        r#"{"name":"F2","subjects":["f2"],"max_bytes":1024}"#,
    )
    .await;
    assert_js_error(
        &full,
        500,
        10047,
        "insufficient storage resources available",
    );
    let ok = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.M1",
        r#"{"name":"M1","subjects":["m1"],"storage":"memory","max_bytes":1024}"#,
    )
    .await;
    assert!(ok.get("error").is_none(), "{ok}");
    let third = js_api(
        &dave,
        "$JS.API.STREAM.CREATE.M2",
        r#"{"name":"M2","subjects":["m2"],"storage":"memory","max_bytes":1024}"#,
    )
    .await;
    assert_js_error(&third, 400, 10027, "maximum number of streams reached");

    let c1 = js_api(
        &dave,
        "$JS.API.CONSUMER.CREATE.F1.C1",
        r#"{"stream_name":"F1","config":{"durable_name":"C1","ack_policy":"explicit"}}"#,
    )
    .await;
    assert_eq!(c1["config"]["max_ack_pending"], 10, "{c1}");
    let wide = js_api(
        &dave,
        "$JS.API.CONSUMER.CREATE.F1.C2",
        r#"{"stream_name":"F1","config":{"durable_name":"C2","ack_policy":"explicit","max_ack_pending":20}}"#,
    )
    .await;
    assert_js_error(
        &wide,
        400,
        10121,
        "consumer max ack pending exceeds system limit of 10",
    );
    let c2 = js_api(
        &dave,
        "$JS.API.CONSUMER.CREATE.F1.C2",
        r#"{"stream_name":"F1","config":{"durable_name":"C2","ack_policy":"explicit"}}"#,
    )
    .await;
    assert!(c2.get("error").is_none(), "{c2}");
    let c3 = js_api(
        &dave,
        "$JS.API.CONSUMER.CREATE.F1.C3",
        r#"{"stream_name":"F1","config":{"durable_name":"C3","ack_policy":"explicit"}}"#,
    )
    .await;
    assert_js_error(&c3, 400, 10026, "maximum consumers limit reached");
}

/// TEAM_A's JWT exports the service `svc.time` and the stream `public.>`; TEAM_B's JWT
/// imports both: bob's request reaches alice's responder and the answer comes back, and
/// alice's publishes on `public.>` reach bob's subscriber.
#[tokio::test]
async fn account_jwt_exports_and_imports_cross_accounts() {
    let s = start();
    let alice = s.client_with(creds("alice").await).await;
    let bob = s.client_with(creds("bob").await).await;
    let mut responder = alice.subscribe("svc.time").await.unwrap();
    let answering = alice.clone();
    tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                answering.publish(reply, "12:00".into()).await.unwrap();
                answering.flush().await.unwrap();
            }
        }
    });
    alice.flush().await.unwrap();
    // The responder's interest may take a moment to reach bob's core: ask until answered.
    let mut answer = None;
    for _ in 0..100 {
        let req = bob.request("svc.time", "now?".into());
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), req).await {
            answer = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = answer.expect("bob's request through the service import was never answered");
    assert_eq!(&answer.payload[..], b"12:00");

    let mut news = bob.subscribe("public.>").await.unwrap();
    bob.flush().await.unwrap();
    let mut seen = None;
    for _ in 0..100 {
        alice.publish("public.news", "hello".into()).await.unwrap();
        alice.flush().await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), news.next()).await {
            seen = Some(m);
            break;
        }
    }
    let m = seen.expect("alice's public.news never reached bob through the stream import");
    assert_eq!(m.subject.as_str(), "public.news");
    assert_eq!(&m.payload[..], b"hello");
    // Only exported subjects cross: TEAM_A's other subjects stay in TEAM_A.
    let mut other = bob.subscribe("greet").await.unwrap();
    bob.flush().await.unwrap();
    alice.publish("greet", "a".into()).await.unwrap();
    alice.flush().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.next())
            .await
            .is_err(),
        "a subject TEAM_A does not export reached TEAM_B"
    );
}

/// TEAM_A's private exports need an activation token signed by TEAM_A (or one of its
/// signing keys, naming TEAM_A as `issuer_account`) for the importing account, for the
/// imported subject, not expired and not revoked in the export. TEAM_B holds a good token for
/// `private.>` and `svc.private` (signed with TEAM_A's signing key), and a bad one for
/// `expired.>` and `revoked.>`: only the good imports deliver.
#[tokio::test]
async fn activation_tokens_admit_only_valid_private_imports() {
    let s = start();
    let alice = s.client_with(creds("alice").await).await;
    let bob = s.client_with(creds("bob").await).await;
    let mut all = bob.subscribe(">").await.unwrap();
    bob.flush().await.unwrap();
    // The subscription may take a moment to reach alice's core: publish until one arrives.
    let mut ready = false;
    for _ in 0..100 {
        alice.publish("private.ready", "".into()).await.unwrap();
        alice.flush().await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), all.next()).await {
            ready = true;
            break;
        }
    }
    assert!(
        ready,
        "private.> never reached TEAM_B through its activation token"
    );
    for subject in ["expired.x", "revoked.x", "private.x", "private.end"] {
        alice.publish(subject, "m".into()).await.unwrap();
    }
    alice.flush().await.unwrap();
    let mut got = Vec::new();
    while !got.iter().any(|s| s == "private.end") {
        let m = bounded("bob's deliveries", all.next()).await.unwrap();
        if m.subject.as_str() != "private.ready" {
            got.push(m.subject.to_string());
        }
    }
    assert_eq!(got, ["private.x", "private.end"]);

    // A service import whose token TEAM_A's signing key issued.
    let mut responder = alice.subscribe("svc.private").await.unwrap();
    let answering = alice.clone();
    tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                answering.publish(reply, "secret".into()).await.unwrap();
                answering.flush().await.unwrap();
            }
        }
    });
    alice.flush().await.unwrap();
    let mut answer = None;
    for _ in 0..100 {
        let req = bob.request("svc.private", "?".into());
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), req).await {
            answer = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = answer.expect("svc.private through a signing key's activation token");
    assert_eq!(&answer.payload[..], b"secret");
}

/// TEAM_E's JWT grants file storage only (`mem_storage` 0): a memory stream gets
/// nats-server's error, a file stream is created.
#[tokio::test]
async fn a_one_sided_storage_grant_refuses_the_other_storage() {
    let s = start();
    let erin = s.client_with(creds("erin").await).await;
    let info = js_api(&erin, "$JS.API.INFO", "").await;
    assert_eq!(info["limits"]["max_memory"], 0, "{info}");
    assert_eq!(info["limits"]["max_storage"], 1 << 20, "{info}");
    let mem = js_api(
        &erin,
        "$JS.API.STREAM.CREATE.M",
        r#"{"name":"M","subjects":["m"],"storage":"memory"}"#,
    )
    .await;
    assert_js_error(&mem, 500, 10028, "insufficient memory resources available");
    let file = js_api(
        &erin,
        "$JS.API.STREAM.CREATE.F",
        r#"{"name":"F","subjects":["f"]}"#,
    )
    .await;
    assert!(file.get("error").is_none(), "{file}");
}

/// A STREAM.CREATE that is both invalid and over one of TEAM_D's limits (2 streams, 2
/// consumers per stream, 4 KiB of each storage) gets the error nats-server 2.15.1 gives:
/// the stream and consumer counts and the memory reservation come before the config's
/// validation, the file reservation after it, and subject overlap last.
#[tokio::test]
async fn stream_create_errors_come_in_nats_servers_order() {
    let s = start();
    let dave = s.client_with(creds("dave").await).await;
    let create = |name: &'static str, body: &'static str| {
        let dave = dave.clone();
        async move { js_api(&dave, &format!("$JS.API.STREAM.CREATE.{name}"), body).await }
    };
    let ok = create("S1", r#"{"name":"S1","subjects":["s1"],"max_bytes":1024}"#).await;
    assert!(ok.get("error").is_none(), "{ok}");
    let cases: [(&str, &str, u64, u64, &str); 7] = [
        (
            "MEMSUBJ",
            r#"{"name":"MEMSUBJ","subjects":["a..b"],"storage":"memory","max_bytes":100000}"#,
            500,
            10028,
            "insufficient memory resources available",
        ),
        (
            "MEMDUP",
            r#"{"name":"MEMDUP","subjects":["s1"],"storage":"memory","max_bytes":100000}"#,
            500,
            10028,
            "insufficient memory resources available",
        ),
        (
            "CONSBAD",
            r#"{"name":"CONSBAD","subjects":["a..b"],"max_consumers":5}"#,
            400,
            10026,
            "maximum consumers limit reached",
        ),
        (
            "REPCONS",
            r#"{"name":"REPCONS","subjects":["rc"],"num_replicas":3,"max_consumers":5}"#,
            400,
            10026,
            "maximum consumers limit reached",
        ),
        (
            "BIGBAD",
            r#"{"name":"BIGBAD","subjects":["a..b"],"max_bytes":100000}"#,
            500,
            10052,
            "invalid subject",
        ),
        (
            "NEGBIG",
            r#"{"name":"NEGBIG","subjects":["n"],"max_age":-1,"max_bytes":100000}"#,
            500,
            10052,
            "max age can not be negative",
        ),
        (
            "DUPBIG",
            r#"{"name":"DUPBIG","subjects":["s1"],"max_bytes":100000}"#,
            500,
            10047,
            "insufficient storage resources available",
        ),
    ];
    for (name, body, code, err_code, text) in cases {
        let v = create(name, body).await;
        assert_js_error(&v, code, err_code, text);
    }
    let ok = create("S2", r#"{"name":"S2","subjects":["s2"],"max_bytes":1024}"#).await;
    assert!(ok.get("error").is_none(), "{ok}");
    // At the stream limit: 10027 before anything the config gets wrong.
    for (name, body) in [
        ("BADSUBJ", r#"{"name":"BADSUBJ","subjects":["a..b"]}"#),
        (
            "MIRR",
            r#"{"name":"MIRR","subjects":["mm"],"mirror":{"name":"S1"}}"#,
        ),
        (
            "REP",
            r#"{"name":"REP","subjects":["rr"],"num_replicas":3}"#,
        ),
        ("DUP", r#"{"name":"DUP","subjects":["s1"]}"#),
    ] {
        let v = create(name, body).await;
        assert_js_error(&v, 400, 10027, "maximum number of streams reached");
    }
    // What comes before the limits still wins.
    let v = create("BADNAME", r#"{"name":"OTHER","subjects":["x"]}"#).await;
    assert_js_error(
        &v,
        400,
        10056,
        "stream name in subject does not match request",
    );
}

/// TEAM_B imports TEAM_A's `feed.*` with the `local_subject` `myfeed.*` (nats-server 2.10+):
/// alice's `feed.eu` reaches bob as `myfeed.eu`, never as `feed.eu`.
#[tokio::test]
async fn a_jwt_stream_import_is_mapped_to_its_local_subject() {
    let s = start();
    let alice = s.client_with(creds("alice").await).await;
    let bob = s.client_with(creds("bob").await).await;
    let mut all = bob.subscribe(">").await.unwrap();
    bob.flush().await.unwrap();
    let mut seen = None;
    for _ in 0..100 {
        alice.publish("feed.eu", "x".into()).await.unwrap();
        alice.flush().await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), all.next()).await {
            seen = Some(m);
            break;
        }
    }
    let m = seen.expect("feed.eu never reached TEAM_B through the mapped import");
    assert_eq!(m.subject.as_str(), "myfeed.eu");
    // Beyond the imported subject (`feed.*`): nothing crosses.
    alice.publish("feed.eu.deep", "y".into()).await.unwrap();
    alice.publish("feed.end", "z".into()).await.unwrap();
    alice.flush().await.unwrap();
    loop {
        let m = bounded("bob's deliveries", all.next()).await.unwrap();
        assert!(m.subject.starts_with("myfeed."), "{}", m.subject);
        assert_ne!(m.subject.as_str(), "myfeed.eu.deep");
        if m.subject.as_str() == "myfeed.end" {
            break;
        }
    }
}

/// `/accountz` of JWT accounts as nats-server 2.15.1 shows them: TEAM_A's public and
/// private (`token_req`) exports with the revoked activations, TEAM_B's imports (the
/// mapped `local_subject` one included; the automatic `$SYS` ones are checked elsewhere).
#[tokio::test]
async fn accountz_shows_jwt_exports_and_imports() {
    let s = start();
    let ids = ids();
    // nats-server's memory resolver registers an account at its first user.
    let _alice = s.client_with(creds("alice").await).await;
    let _bob = s.client_with(creds("bob").await).await;
    let list = |acc: &str, key: &str| -> Vec<serde_json::Value> {
        let v = common::http::get_json(s.http_port, &format!("/accountz?acc={}", ids[acc]));
        let mut items: Vec<serde_json::Value> = v["account_detail"][key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|x| !x["subject"].as_str().unwrap_or_default().starts_with('$'))
            .collect();
        items.sort_by_key(|x| x.to_string());
        items
    };
    let exports = list("team_a", "exports");
    let revoked = exports
        .iter()
        .find(|e| e["subject"] == "revoked.>")
        .unwrap_or_else(|| panic!("{exports:#?}"));
    let when = revoked["revoked_activations"][&ids["team_b"]]
        .as_str()
        .unwrap_or_else(|| panic!("{revoked}"));
    assert!(when.ends_with('Z') && when.len() == 20, "{when}");
    let svc = |subject: &str, token_req: bool| {
        let mut e = serde_json::json!({"subject": subject, "type": "service", "response_type": "Singleton"});
        if token_req {
            e["token_req"] = true.into();
        }
        e
    };
    let stream = |subject: &str, token_req: bool| {
        let mut e = serde_json::json!({"subject": subject, "type": "stream"});
        if token_req {
            e["token_req"] = true.into();
        }
        e
    };
    let mut revoked_want = stream("revoked.>", true);
    revoked_want["revoked_activations"] = serde_json::json!({ ids["team_b"].clone(): when });
    let mut want = vec![
        svc("svc.private", true),
        svc("svc.time", false),
        stream("expired.>", true),
        stream("feed.>", false),
        stream("private.>", true),
        stream("public.>", false),
        revoked_want,
    ];
    want.sort_by_key(|x| x.to_string());
    assert_eq!(exports, want);

    let a = ids["team_a"].as_str();
    let imp = |subject: &str, local: &str, service: bool| {
        let mut i = serde_json::json!({"subject": subject, "account": a, "local_subject": local,
            "type": if service { "service" } else { "stream" }, "invalid": false,
            "share": false, "tracking": false});
        if service {
            i["to"] = local.into();
        }
        i
    };
    let mut want = vec![
        imp("feed.*", "myfeed.*", false),
        imp("private.>", "private.>", false),
        imp("public.>", "public.>", false),
        imp("svc.private", "svc.private", true),
        imp("svc.time", "svc.time", true),
    ];
    want.sort_by_key(|x| x.to_string());
    assert_eq!(list("team_b", "imports"), want);
}
