//! TLS on client connections (`[tls]`): INFO advertises `tls_required`/`tls_verify`, pub/sub
//! over TLS (small and multi-record messages), mutual TLS (a certificate from the CA accepted,
//! none or one from another CA refused), `handshake_first`, the handshake timeout, and a
//! plaintext client against a TLS server (closed without an answer, as nats-server does).
//!
//! Every test also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`); the
//! harness turns `[tls]` into nats-server's `tls { ... }` block. Fixtures: tests/fixtures/tls,
//! made by scripts/gen-test-certs.sh.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectOptions;
use common::{bounded, ServerOpts, TestServer, WAIT};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A `[tls]` section with the fixture certificates plus `extra` lines.
fn tls_toml(extra: &str) -> String {
    format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\n{extra}",
        fixture("server-cert.pem"),
        fixture("server-key.pem"),
        fixture("ca.pem"),
    )
}

fn start(extra: &str) -> TestServer {
    TestServer::start(ServerOpts::with_toml(&tls_toml(extra)))
}

/// Client options trusting the test CA.
fn tls_client() -> ConnectOptions {
    ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(fixture("ca.pem"))
}

fn with_cert(opts: ConnectOptions, name: &str) -> ConnectOptions {
    opts.add_client_certificate(
        fixture(&format!("{name}-cert.pem")),
        fixture(&format!("{name}-key.pem")),
    )
}

/// A round trip on `subject`: a small message and one spanning many TLS records.
async fn round_trip(client: &async_nats::Client, subject: &str) {
    let mut sub = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    client
        .publish(subject.to_string(), "hi".into())
        .await
        .unwrap();
    client
        .publish(subject.to_string(), big.clone().into())
        .await
        .unwrap();
    let m = bounded("small message", sub.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"hi");
    let m = bounded("big message", sub.next()).await.unwrap();
    assert!(m.payload[..] == big[..], "big message corrupted");
}

/// The error async-nats reports when the server refuses the connection.
async fn refused(s: &TestServer, opts: ConnectOptions) -> String {
    let attempt = async {
        let client = opts.connect(s.url()).await?;
        // TLS 1.3: a refused client certificate shows after the client's last flight.
        client.flush().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(client)
    };
    match bounded("refused connect", attempt).await {
        Ok(_) => panic!("connection was accepted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn info_advertises_tls_required() {
    let s = start("");
    let c = s.raw().await;
    assert_eq!(
        c.info["tls_required"],
        true,
        "{}",
        common::show(&c.info_line)
    );
    assert!(
        c.info.get("tls_verify").is_none(),
        "{}",
        common::show(&c.info_line)
    );
    let s = start("verify = true\n");
    let c = s.raw().await;
    assert_eq!(
        c.info["tls_required"],
        true,
        "{}",
        common::show(&c.info_line)
    );
    assert_eq!(c.info["tls_verify"], true, "{}", common::show(&c.info_line));
}

#[tokio::test]
async fn pub_sub_over_tls() {
    let s = start("");
    let a = s.client_with(tls_client()).await;
    let b = s.client_with(tls_client()).await;
    round_trip(&a, "tls.one").await;
    // Across two connections (and, on natrix, likely two cores).
    let mut sub = b.subscribe("tls.two").await.unwrap();
    common::sync_subs(&b, &[&a]).await;
    for i in 0..200u32 {
        a.publish("tls.two", i.to_string().into()).await.unwrap();
    }
    a.flush().await.unwrap();
    for i in 0..200u32 {
        let m = bounded("message across connections", sub.next())
            .await
            .unwrap();
        assert_eq!(m.payload, i.to_string().as_bytes());
    }
    // Request/reply over TLS.
    let mut svc = b.subscribe("tls.svc").await.unwrap();
    common::sync_subs(&b, &[&a]).await;
    let responder = b.clone();
    tokio::spawn(async move {
        if let Some(req) = svc.next().await {
            let reply = req.reply.unwrap();
            responder.publish(reply, "pong".into()).await.unwrap();
            responder.flush().await.unwrap();
        }
    });
    let resp = bounded("request", a.request("tls.svc", "ping".into()))
        .await
        .unwrap();
    assert_eq!(&resp.payload[..], b"pong");
}

#[tokio::test]
async fn mutual_tls_accepts_a_certificate_from_the_ca() {
    let s = start("verify = true\n");
    let c = s.client_with(with_cert(tls_client(), "client")).await;
    round_trip(&c, "mtls.ok").await;
}

#[tokio::test]
async fn mutual_tls_refuses_no_certificate_and_a_foreign_one() {
    let s = start("verify = true\n");
    refused(&s, tls_client()).await;
    refused(&s, with_cert(tls_client(), "rogue")).await;
    // The server is still fine for a good client.
    let c = s.client_with(with_cert(tls_client(), "client")).await;
    round_trip(&c, "mtls.after").await;
}

#[tokio::test]
async fn handshake_first() {
    let s = start("handshake_first = true\n");
    let c = s.client_with(tls_client().tls_first()).await;
    round_trip(&c, "first.one").await;
    // No plaintext INFO for a client that waits for one.
    let mut raw = bounded(
        "tcp connect",
        tokio::net::TcpStream::connect(("127.0.0.1", s.port)),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_millis(500), raw.read(&mut buf)).await;
    assert!(got.is_err(), "server sent {got:?} before any TLS handshake");
}

#[tokio::test]
async fn plaintext_client_is_closed_without_an_answer() {
    let s = start("");
    let mut c = s.raw().await;
    assert_eq!(c.info["tls_required"], true);
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n").await;
    let rest = c.read_to_eof(WAIT).await;
    assert!(rest.is_empty(), "got {}", common::show(&rest));

    let s = start("handshake_first = true\n");
    let mut raw = bounded(
        "tcp connect",
        tokio::net::TcpStream::connect(("127.0.0.1", s.port)),
    )
    .await
    .unwrap();
    raw.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    bounded("close", raw.read_to_end(&mut rest)).await.ok();
    assert!(rest.is_empty(), "got {}", common::show(&rest));
}

#[tokio::test]
async fn a_client_that_never_starts_tls_is_closed_after_the_timeout() {
    let s = start("timeout = 0.5\n");
    let mut c = s.raw().await;
    let rest = c.read_to_eof(WAIT).await;
    assert!(rest.is_empty(), "got {}", common::show(&rest));

    let s = start("timeout = 0.5\nhandshake_first = true\n");
    let mut raw = bounded(
        "tcp connect",
        tokio::net::TcpStream::connect(("127.0.0.1", s.port)),
    )
    .await
    .unwrap();
    let mut rest = Vec::new();
    bounded(
        "close after the handshake timeout",
        raw.read_to_end(&mut rest),
    )
    .await
    .ok();
    assert!(rest.is_empty(), "got {}", common::show(&rest));
}

#[tokio::test]
async fn verify_and_map_names_the_user_by_certificate() {
    let toml = format!(
        "{}[authorization]\nusers = [ {{ user = \"alice@example.com\", permissions = {{ publish = [\"ok.>\"] }} }} ]\n",
        tls_toml("verify_and_map = true\n")
    );
    let s = TestServer::start(ServerOpts::with_toml(&toml));
    // alice's certificate names her (email SAN first); she sends no password.
    let c = s.client_with(with_cert(tls_client(), "client")).await;
    let mut allowed = c.subscribe("ok.1").await.unwrap();
    let mut denied = c.subscribe("nope").await.unwrap();
    c.flush().await.unwrap();
    // Her permissions apply: the publish to `nope` is dropped, the one to `ok.1` goes through.
    c.publish("nope", "x".into()).await.unwrap();
    c.publish("ok.1", "y".into()).await.unwrap();
    let m = bounded("allowed message", allowed.next()).await.unwrap();
    assert_eq!(&m.payload[..], b"y");
    let leaked = tokio::time::timeout(Duration::from_millis(300), denied.next()).await;
    assert!(leaked.is_err(), "denied publish delivered: {leaked:?}");
    // bob's certificate is from the CA but names no configured user.
    let err = refused(&s, with_cert(tls_client(), "nobody")).await;
    assert!(
        err.to_lowercase().contains("authorization violation"),
        "{err}"
    );
    // No certificate at all: refused by the handshake.
    refused(&s, tls_client()).await;
}

#[test]
fn nats_py_tls_mtls_and_handshake_first() {
    let Some(py) = common::py::python_or_skip("nats_py_tls_mtls_and_handshake_first") else {
        return;
    };
    let plain = start("");
    let mutual = start("verify = true\n");
    let first = start("handshake_first = true\n");
    let url = |s: &TestServer| format!("tls://127.0.0.1:{}", s.port);
    common::py::run_script_with_args(
        &py,
        "tests/py/tls_test.py",
        &[
            url(&plain),
            url(&mutual),
            url(&first),
            fixture("").display().to_string(),
        ],
        Duration::from_secs(60),
    );
}
