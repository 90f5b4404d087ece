//! Monitoring of operational state: TLS details in `/connz` (`tls_version`,
//! `tls_cipher_suite`, and with `auth=true` the client's `tls_peer_certs`), and `/varz`
//! showing the limits of a configuration reloaded with SIGHUP.
//!
//! Run: `cargo test --test monitoring_ops` or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test monitoring_ops`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use common::http::get_json;
use common::{ServerOpts, TestServer, WAIT};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// `[tls]` with the fixture certificates, client certificates required.
fn tls_toml() -> String {
    format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\nverify = true\n",
        fixture("server-cert.pem"),
        fixture("server-key.pem"),
        fixture("ca.pem"),
    )
}

/// The connection named `name` in a `/connz` answer.
fn conn<'a>(connz: &'a Value, name: &str) -> &'a Value {
    connz["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("{connz:#}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection {name}: {connz:#}"))
}

#[tokio::test]
async fn connz_shows_tls_version_suite_and_peer_certificates() {
    let server = TestServer::start(ServerOpts::with_toml(&tls_toml()));
    let client = server
        .client_with(
            ConnectOptions::new()
                .require_tls(true)
                .add_root_certificates(fixture("ca.pem"))
                .add_client_certificate(fixture("client-cert.pem"), fixture("client-key.pem"))
                .name("tls-mon"),
        )
        .await;
    common::round_trip(&client).await;
    let connz = get_json(server.http_port, "/connz");
    let c = conn(&connz, "tls-mon");
    let version = c["tls_version"].as_str().expect("tls_version");
    assert!(version == "1.3" || version == "1.2", "{c:#}");
    let suite = c["tls_cipher_suite"].as_str().expect("tls_cipher_suite");
    assert!(
        suite.starts_with("TLS_") && !suite.starts_with("TLS13_"),
        "Go's suite names: {c:#}"
    );
    assert!(c.get("tls_peer_certs").is_none(), "only with auth: {c:#}");

    let connz = get_json(server.http_port, "/connz?auth=true");
    let c = conn(&connz, "tls-mon");
    let certs = c["tls_peer_certs"].as_array().expect("tls_peer_certs");
    let leaf = &certs[0];
    assert_eq!(leaf["subject"], "CN=alice,O=natrix tests", "{c:#}");
    // `openssl x509 -in tests/fixtures/tls/client-cert.pem -noout -fingerprint -sha256`
    assert_eq!(
        leaf["cert_sha256"], "c4e35df5334fefd2cea456d83abf01672f988bb0dcc27b5b63ab6b08f488bf7b",
        "{c:#}"
    );
    let spki = leaf["spki_sha256"].as_str().expect("spki_sha256");
    assert_eq!(spki.len(), 64, "{c:#}");
    assert!(spki.bytes().all(|b| b.is_ascii_hexdigit()), "{c:#}");
}

#[tokio::test]
async fn plaintext_connections_have_no_tls_fields() {
    let server = TestServer::start_default();
    let client = server
        .client_with(ConnectOptions::new().name("plain-mon"))
        .await;
    common::round_trip(&client).await;
    let connz = get_json(server.http_port, "/connz?auth=true");
    let c = conn(&connz, "plain-mon");
    for k in [
        "tls_version",
        "tls_cipher_suite",
        "tls_peer_certs",
        "tls_first",
    ] {
        assert!(c.get(k).is_none(), "{k}: {c:#}");
    }
}

#[tokio::test]
async fn varz_shows_limits_after_a_reload() {
    let server = TestServer::start(ServerOpts::with_toml(
        "[limits]\nmax_payload_bytes = 65536\nmax_connections = 500\n",
    ));
    let port = server.http_port;
    let before = get_json(port, "/varz");
    assert_eq!(before["max_payload"], 65536, "{before:#}");
    assert_eq!(before["max_connections"], 500, "{before:#}");
    let loaded = before["config_load_time"].as_str().unwrap().to_owned();
    // Distinct load times even on a coarse clock.
    std::thread::sleep(Duration::from_millis(20));
    server.rewrite_config("[limits]\nmax_payload_bytes = 4096\nmax_connections = 300\n");
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let v = get_json(port, "/varz");
        if v["max_payload"] == 4096 {
            break v;
        }
        assert!(Instant::now() < deadline, "/varz still {v:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(after["max_connections"], 300, "{after:#}");
    assert_ne!(after["config_load_time"], loaded.as_str(), "{after:#}");
    assert_eq!(after["start"], before["start"], "{after:#}");
}

/// Messages in the stream recovered at start-up: enough that recovery takes observable time
/// (hundreds of ms in a debug build), few enough to publish in a few seconds.
const RECOVERY_MSGS: u64 = 50_000;

/// Both servers answer not-ok while they recover (500, "failed to be ready for connections
/// after 1ms: server"; natrix for about 0.5 s with 50k messages in a debug build), then 200 with the whole
/// stream there. Run with `--nocapture` to see the status transitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_not_ok_until_a_large_stream_is_recovered() {
    let mut server = TestServer::start_default();
    let client = server.client().await;
    common::js(&client)
        .create_stream(async_nats::jetstream::stream::Config {
            name: "BIG".into(),
            subjects: vec!["big.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Plain PUBs (no acks): the fastest way to fill a stream.
    let mut raw = server.raw().await;
    raw.handshake(r#"{"verbose":false}"#).await;
    let batch: Vec<u8> = (0..10_000)
        .flat_map(|i| format!("PUB big.{} 16\r\n0123456789abcdef\r\n", i % 64).into_bytes())
        .collect();
    let filling = Instant::now();
    for _ in 0..RECOVERY_MSGS / 10_000 {
        raw.send(&batch).await;
    }
    let port = server.http_port;
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_json(port, "/jsz")["messages"].as_u64() != Some(RECOVERY_MSGS) {
        assert!(
            Instant::now() < deadline,
            "stream not filled: {}",
            get_json(port, "/jsz")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("filled in {:?}", filling.elapsed());
    drop((client, raw));
    let status = server.stop();
    assert!(status.success(), "{status}: {}", server.stderr());

    // Restart; poll /healthz as fast as possible until it says ok. The restart runs on this
    // thread: the harness's servers die with the thread that spawned them (PR_SET_PDEATHSIG
    // is per thread), so a helper thread must not start one.
    let (not_ok, first_ok) = std::thread::scope(|s| {
        let poller = s.spawn(move || {
            let (mut not_ok, mut first_ok) = (Vec::new(), None);
            let deadline = Instant::now() + Duration::from_secs(60);
            let t0 = Instant::now();
            let mut last = String::new();
            while Instant::now() < deadline {
                let r = common::http::try_http_get(port, "/healthz");
                let now = format!("{:?}", r.as_ref().map(|x| x.0));
                if now != last {
                    eprintln!("{:?} {now}", t0.elapsed());
                    last = now;
                }
                match r {
                    Some((200, body)) => {
                        first_ok = Some(body);
                        break;
                    }
                    Some((code, body)) => not_ok.push((code, body)),
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (not_ok, first_ok)
        });
        server.start_again();
        poller.join().expect("poller")
    });
    let ok = first_ok.unwrap_or_else(|| {
        panic!(
            "/healthz never said ok within 60 s: {} answers, last {:?}; stderr:\n{}",
            not_ok.len(),
            not_ok.last(),
            server.stderr_all()
        )
    });
    let ok: Value = serde_json::from_str(&ok).unwrap();
    assert_eq!(ok["status"], "ok", "{ok}");
    assert!(
        !not_ok.is_empty(),
        "recovery of {RECOVERY_MSGS} messages was never observed as not-ok"
    );
    for (code, body) in &not_ok {
        // Before the client listener is up (both recover JetStream first).
        assert_eq!(*code, 500, "{body}");
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["status"], "error", "{v}");
        assert_eq!(
            v["error"], "failed to be ready for connections after 1ms: server",
            "{v}"
        );
    }
    // Ok means ready: the whole stream is there.
    let (code, jsz) = common::http::try_http_get(port, "/jsz")
        .unwrap_or_else(|| panic!("/jsz after ok; stderr:\n{}", server.stderr()));
    assert_eq!(code, 200, "{jsz}");
    let jsz: Value = serde_json::from_str(&jsz).unwrap();
    assert_eq!(jsz["messages"], RECOVERY_MSGS, "{jsz:#}");
    eprintln!(
        "{} not-ok answers before ok; first: {:?}",
        not_ok.len(),
        not_ok.first()
    );
}
