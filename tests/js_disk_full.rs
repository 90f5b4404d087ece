//! A full disk gets an answer, not silence: with the store on a small tmpfs filled up behind
//! the server's back, publishes are refused (both servers). natrix answers every one at once
//! with nats-server's store-failure error (`10077`, `no space left on device`) — nats-server
//! 2.15.1 logs a critical write error and sends no reply, so its publishers time out — core
//! NATS traffic keeps flowing, the stream resumes by itself once space is freed, and every
//! acknowledged message is still there, also after a restart (natrix only from there on).
//!
//! Needs root to mount a tmpfs; skips (with a note) where the mount fails.
//! Run: `cargo test --test js_disk_full` or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_disk_full`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;

use common::{assert_js_error, bounded, js_api, ServerOpts, TestServer, WAIT};

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size_mib: u64) -> Option<Tmpfs> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
        .arg(at)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Tmpfs(at.to_path_buf()))
}

/// Fills the file system holding `dir` until a write fails; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create filler");
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let buf = vec![0xa5u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.flush();
    path
}

/// One publish as a request: the reply JSON, or `None` when the server said no responders.
async fn publish(
    c: &async_nats::Client,
    subject: &str,
    payload: Bytes,
) -> Option<serde_json::Value> {
    publish_id(c, subject, None, payload).await
}

/// [`publish`] with an optional `Nats-Msg-Id`.
async fn publish_id(
    c: &async_nats::Client,
    subject: &str,
    msg_id: Option<&str>,
    payload: Bytes,
) -> Option<serde_json::Value> {
    let mut h = async_nats::HeaderMap::new();
    if let Some(id) = msg_id {
        h.insert("Nats-Msg-Id", id);
    }
    match c
        .request_with_headers(subject.to_string(), h, payload)
        .await
    {
        Ok(m) => Some(serde_json::from_slice(&m.payload).expect("JSON reply")),
        Err(e) => {
            assert_eq!(
                e.kind(),
                async_nats::RequestErrorKind::NoResponders,
                "unexpected request error {e}"
            );
            None
        }
    }
}

#[tokio::test]
async fn a_full_disk_answers_every_publish_and_the_stream_resumes_when_space_is_freed() {
    let mut server = TestServer::start(ServerOpts {
        cores: 1,
        ..ServerOpts::default()
    });
    server.stop();
    let store = server.store_dir().to_path_buf();
    let Some(_mount) = mount_tmpfs(&store, 24) else {
        eprintln!("disk-full test skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    server.start_again();
    let c = server.client().await;
    let v = js_api(
        &c,
        "STREAM.CREATE.DATA",
        &json!({"name": "DATA", "subjects": ["data.>"], "storage": "file"}),
    )
    .await;
    assert!(v.get("error").is_none(), "{v}");

    let body = |i: u64| Bytes::from(format!("{i:08}").repeat(1024)); // 8 KiB
    let mut acked: Vec<(u64, Bytes)> = Vec::new();
    for i in 0..20 {
        let v = publish(&c, "data.x", body(i))
            .await
            .expect("stream answers");
        assert!(v.get("error").is_none(), "{v}");
        acked.push((v["seq"].as_u64().unwrap(), body(i)));
    }

    let filler = fill(&store);
    let mut refused = 0;
    let mut refused_ids: Vec<u64> = Vec::new();
    // natrix zeroes a segment ahead of its records (up to 8 MiB): publishes keep landing in
    // that space, durably, after the disk filled; they are refused once it is used up.
    for i in 100..1400 {
        if refused >= 3 {
            break;
        }
        let id = format!("id-{i}");
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            publish_id(&c, "data.x", Some(&id), body(i)),
        )
        .await;
        let Ok(r) = r else {
            // nats-server 2.15.1 logs "critical write error ... no space left on device" and
            // sends no reply (verified): the timeout natrix must not have.
            assert!(
                !server.is_natrix(),
                "publish {i} to a full disk was not answered within 3 s (an error beats a timeout)"
            );
            refused += 1;
            if i > 101 {
                break;
            }
            continue;
        };
        match r {
            None => refused += 1,
            Some(v) if v.get("error").is_some() => {
                refused += 1;
                refused_ids.push(i);
                if server.is_natrix() {
                    assert_js_error(&v, 503, 10077, "no space left on device");
                    assert_eq!(v["stream"], "DATA", "{v}");
                }
            }
            Some(v) => acked.push((v["seq"].as_u64().unwrap(), body(i))),
        }
    }
    assert!(
        refused > 0,
        "the disk was full, yet every publish was acked"
    );
    if !server.is_natrix() {
        // nats-server stops the stream on a full disk; what follows is natrix's policy.
        return;
    }

    // Core NATS traffic keeps flowing on the same core.
    let mut sub = c.subscribe("core.ping").await.unwrap();
    c.flush().await.unwrap();
    c.publish("core.ping", "hi".into()).await.unwrap();
    let m = bounded("core message while the disk is full", sub.next())
        .await
        .unwrap();
    assert_eq!(&m.payload[..], b"hi");

    // Space comes back: the stream resumes by itself.
    std::fs::remove_file(&filler).unwrap();

    // The refused messages are not in the stream (they were forgotten when their write was
    // rolled back): its state counts the acknowledged ones only, and the next sequence is
    // the one after the last acknowledged message.
    let last_acked = acked.iter().map(|(s, _)| *s).max().unwrap();
    let v = js_api(&c, "STREAM.INFO.DATA", &json!({})).await;
    assert_eq!(v["state"]["messages"], acked.len() as u64, "{v}");
    assert_eq!(v["state"]["last_seq"], last_acked, "{v}");
    // A retry of a refused publish with the same Nats-Msg-Id is stored, not a duplicate.
    let retry = *refused_ids.first().expect("a refused publish had a reply");
    let deadline = Instant::now() + WAIT;
    loop {
        let v = publish_id(&c, "data.x", Some(&format!("id-{retry}")), body(retry))
            .await
            .expect("stream answers");
        if v.get("error").is_none() {
            assert!(
                v.get("duplicate").is_none(),
                "retry called a duplicate: {v}"
            );
            assert_eq!(v["seq"], last_acked + 1, "{v}");
            acked.push((last_acked + 1, body(retry)));
            break;
        }
        assert!(Instant::now() < deadline, "the stream did not resume: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A consumer reading the whole stream gets exactly the acknowledged messages.
    let js = async_nats::jetstream::new(c.clone());
    let stream = bounded("get stream", js.get_stream("DATA")).await.unwrap();
    let consumer = bounded(
        "create consumer",
        stream.create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("ALL".into()),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    // In fetches of at most 500 (clients cap a pull batch), until the stream is drained.
    let mut got: Vec<(u64, Bytes)> = Vec::new();
    loop {
        let batch = bounded(
            "fetch",
            consumer
                .fetch()
                .max_messages(500)
                .expires(Duration::from_millis(500))
                .messages(),
        )
        .await
        .unwrap();
        let msgs: Vec<_> = bounded("fetch all", batch.collect::<Vec<_>>()).await;
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            let m = m.unwrap();
            got.push((m.info().unwrap().stream_sequence, m.payload.clone()));
            m.ack().await.unwrap();
        }
        assert!(
            got.len() <= acked.len(),
            "the consumer saw a refused message"
        );
    }
    assert_eq!(got.len(), acked.len(), "the consumer saw a refused message");
    for ((seq, payload), (want_seq, want)) in got.iter().zip(&acked) {
        assert_eq!((seq, payload), (want_seq, want), "consumer delivery");
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let v = publish(&c, "data.x", body(999))
            .await
            .expect("stream answers");
        if v.get("error").is_none() {
            acked.push((v["seq"].as_u64().unwrap(), body(999)));
            break;
        }
        assert!(Instant::now() < deadline, "the stream did not resume: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every acknowledged message is there, before and after a restart.
    for round in 0..2 {
        let c = server.client().await;
        for (seq, payload) in &acked {
            let v = js_api(&c, "STREAM.MSG.GET.DATA", &json!({"seq": seq})).await;
            let data = v["message"]["data"]
                .as_str()
                .unwrap_or_else(|| panic!("message {seq} missing (round {round}): {v}"));
            use base64::Engine;
            let got = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            assert_eq!(&got[..], &payload[..], "message {seq} (round {round})");
        }
        if round == 0 {
            server.restart();
        }
    }
}
