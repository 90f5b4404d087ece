//! What a stream refuses: every write to a sealed stream (10109, as nats-server), a
//! `mirror_direct` stream without a mirror (10052, as nats-server), and the configurations
//! natrix does not implement (10052 naming the field; nats-server accepts them, so that test
//! asserts natrix's refusal and nats-server's acceptance side by side).
//!
//! `NATRIX_TEST_SERVER=nats-server cargo test --test js_stream_refusals` runs them against
//! nats-server 2.15.1.

mod common;

use futures::StreamExt;
use serde_json::{json, Value};

use common::{assert_js_error, bounded, js, js_api, js_publish_raw, TestServer};

const SEALED: &str = "invalid operation on sealed stream";

fn assert_ok(v: &Value, what: &str) {
    assert!(v.get("error").is_none(), "{what}: {v}");
}

/// Everything that writes to a sealed stream answers 10109; everything that reads works.
async fn assert_sealed(c: &async_nats::Client, messages: u64) {
    let info = js_api(c, "STREAM.INFO.SEAL", &Value::Null).await;
    assert_ok(&info, "info");
    assert_eq!(info["config"]["sealed"], true, "{info}");
    assert_eq!(info["state"]["messages"], messages, "{info}");
    // Publishes, plain and with an id already stored (sealing is checked before duplicates).
    for headers in [vec![], vec![("Nats-Msg-Id", "m1")]] {
        let ack = js_publish_raw(c, "seal.a", &headers, b"late").await;
        assert_js_error(&ack, 400, 10109, SEALED);
        assert_eq!((&ack["stream"], &ack["seq"]), (&json!("SEAL"), &json!(0)));
    }
    // Message deletes, of a stored and a missing sequence, erasing or not.
    for body in [
        json!({"seq": 1}),
        json!({"seq": 1, "no_erase": true}),
        json!({"seq": 99}),
    ] {
        let r = js_api(c, "STREAM.MSG.DELETE.SEAL", &body).await;
        assert_js_error(&r, 400, 10109, SEALED);
    }
    // Purges of every kind; a malformed purge (seq and keep) is a bad request first.
    for body in [
        Value::Null,
        json!({"filter": "seal.a"}),
        json!({"keep": 1}),
        json!({"seq": 2}),
    ] {
        let r = js_api(c, "STREAM.PURGE.SEAL", &body).await;
        assert_js_error(&r, 400, 10109, SEALED);
    }
    let r = js_api(c, "STREAM.PURGE.SEAL", &json!({"seq": 2, "keep": 1})).await;
    assert_js_error(&r, 400, 10003, "bad request");
    // Nothing changed.
    let info = js_api(c, "STREAM.INFO.SEAL", &Value::Null).await;
    assert_eq!(
        (
            &info["state"]["messages"],
            &info["state"]["first_seq"],
            &info["state"]["last_seq"]
        ),
        (&json!(messages), &json!(1), &json!(messages)),
        "{info}"
    );
    // Reads: MSG.GET and a consumer.
    let got = js_api(c, "STREAM.MSG.GET.SEAL", &json!({"seq": 2})).await;
    assert_eq!(got["message"]["seq"], 2, "{got}");
    let stream = bounded("get stream", js(c).get_stream("SEAL"))
        .await
        .expect("get sealed stream");
    let consumer = bounded(
        "create consumer",
        stream.create_consumer(async_nats::jetstream::consumer::pull::Config::default()),
    )
    .await
    .expect("consumer on a sealed stream");
    let mut msgs = bounded(
        "fetch",
        consumer.fetch().max_messages(messages as usize).messages(),
    )
    .await
    .expect("fetch");
    let mut seen = 0;
    while let Some(m) = bounded("next message", msgs.next()).await {
        m.expect("message");
        seen += 1;
    }
    assert_eq!(seen, messages);
}

#[tokio::test]
async fn sealed_stream_refuses_writes_stays_readable_and_survives_restart() {
    let mut server = TestServer::start_default();
    let c = server.client().await;
    let created = js_api(
        &c,
        "STREAM.CREATE.SEAL",
        &json!({"name": "SEAL", "subjects": ["seal.>"]}),
    )
    .await;
    assert_ok(&created, "create");
    for seq in 1..=3u64 {
        // The first carries the id that the sealed stream is later sent again.
        let headers: &[(&str, &str)] = if seq == 1 {
            &[("Nats-Msg-Id", "m1")]
        } else {
            &[]
        };
        let ack = js_publish_raw(&c, "seal.a", headers, b"before").await;
        assert_eq!(ack["seq"], seq, "{ack}");
    }
    let sealed = js_api(
        &c,
        "STREAM.UPDATE.SEAL",
        &json!({"name": "SEAL", "subjects": ["seal.>"], "sealed": true}),
    )
    .await;
    assert_ok(&sealed, "seal");
    let cfg = &sealed["config"];
    assert_eq!(
        (
            &cfg["sealed"],
            &cfg["deny_delete"],
            &cfg["deny_purge"],
            &cfg["discard"]
        ),
        (&json!(true), &json!(true), &json!(true), &json!("new")),
        "{sealed}"
    );
    assert_sealed(&c, 3).await;
    // Unsealing is refused.
    let r = js_api(
        &c,
        "STREAM.UPDATE.SEAL",
        &json!({"name": "SEAL", "subjects": ["seal.>"], "deny_delete": true,
                "deny_purge": true, "discard": "new"}),
    )
    .await;
    assert_js_error(
        &r,
        500,
        10052,
        "stream configuration update can not unseal a sealed stream",
    );
    // Sealing is part of the stored configuration.
    drop(c);
    server.restart();
    let c = server.client().await;
    assert_sealed(&c, 3).await;
    // The stream as a whole can still be deleted.
    let r = js_api(&c, "STREAM.DELETE.SEAL", &Value::Null).await;
    assert_eq!(r["success"], true, "{r}");
    let r = js_api(&c, "STREAM.INFO.SEAL", &Value::Null).await;
    assert_js_error(&r, 404, 10059, "stream not found");
}

#[tokio::test]
async fn mirror_direct_without_a_mirror_is_refused_on_create() {
    let server = TestServer::start_default();
    let c = server.client().await;
    let want = "stream has no mirror but does have mirror direct";
    for body in [
        json!({"name": "MD", "subjects": ["md"], "mirror_direct": true}),
        json!({"name": "MD", "mirror_direct": true}),
        // Checked before the config is validated.
        json!({"name": "MD", "mirror_direct": true, "max_age": -1}),
    ] {
        let r = js_api(&c, "STREAM.CREATE.MD", &body).await;
        assert_js_error(&r, 500, 10052, want);
    }
    // After the create-only refusal of `sealed`.
    let r = js_api(
        &c,
        "STREAM.CREATE.MD",
        &json!({"name": "MD", "mirror_direct": true, "sealed": true}),
    )
    .await;
    assert_js_error(
        &r,
        500,
        10052,
        "stream configuration for create can not be sealed",
    );
    let r = js_api(&c, "STREAM.INFO.MD", &Value::Null).await;
    assert_js_error(&r, 404, 10059, "stream not found");
}

/// A feature natrix does not implement: the create body, the update body and what nats-server
/// answers to that update (it accepts every create).
struct Unsupported {
    field: &'static str,
    natrix_says: &'static str,
    create: Value,
    update: Value,
    nats_server_update_refusal: Option<(u64, u64, &'static str)>,
}

fn unsupported() -> Vec<Unsupported> {
    let with = |field: &str, value: Value| {
        let mut v = json!({"name": "U", "subjects": ["u.>"]});
        v[field] = value;
        v
    };
    let case = |field: &'static str, natrix_says: &'static str, value: Value| Unsupported {
        field,
        natrix_says,
        create: with(field, value.clone()),
        update: with(field, value),
        nats_server_update_refusal: None,
    };
    vec![
        Unsupported {
            field: "mirror",
            natrix_says: "stream mirrors are not supported (field mirror)",
            create: json!({"name": "U", "mirror": {"name": "ORIGIN"}}),
            update: json!({"name": "U", "subjects": ["u.>"], "mirror": {"name": "ORIGIN"}}),
            nats_server_update_refusal: Some((
                400,
                10034,
                "stream mirrors can not contain subjects",
            )),
        },
        case(
            "sources",
            "stream sources are not supported (field sources)",
            json!([{"name": "ORIGIN"}]),
        ),
        case(
            "subject_transform",
            "stream subject transforms are not supported (field subject_transform)",
            json!({"src": "u.>", "dest": "v.>"}),
        ),
        case(
            "republish",
            "stream republish is not supported (field republish)",
            json!({"src": "u.>", "dest": "rp.>"}),
        ),
        case(
            "allow_batched",
            "batched publish is not supported (field allow_batched)",
            json!(true),
        ),
    ]
}

/// natrix refuses what it would otherwise silently ignore, at create and at update, naming the
/// field; nats-server implements these and accepts them (documented here side by side).
#[tokio::test]
async fn unimplemented_features_are_refused_by_natrix_and_accepted_by_nats_server() {
    let server = TestServer::start_default();
    let c = server.client().await;
    for u in unsupported() {
        let r = js_api(&c, "STREAM.CREATE.U", &u.create).await;
        if server.is_natrix() {
            assert_js_error(&r, 500, 10052, u.natrix_says);
        } else {
            assert_ok(&r, u.field);
            assert_eq!(r["config"][u.field], u.create[u.field], "{}: {r}", u.field);
            let d = js_api(&c, "STREAM.DELETE.U", &Value::Null).await;
            assert_eq!(d["success"], true, "{d}");
        }
        let r = js_api(&c, "STREAM.INFO.U", &Value::Null).await;
        assert_js_error(&r, 404, 10059, "stream not found");

        let plain = js_api(
            &c,
            "STREAM.CREATE.U",
            &json!({"name": "U", "subjects": ["u.>"]}),
        )
        .await;
        assert_ok(&plain, "plain create");
        let r = js_api(&c, "STREAM.UPDATE.U", &u.update).await;
        if server.is_natrix() {
            assert_js_error(&r, 500, 10052, u.natrix_says);
        } else if let Some((code, err_code, description)) = u.nats_server_update_refusal {
            assert_js_error(&r, code, err_code, description);
        } else {
            assert_ok(&r, u.field);
            assert_eq!(r["config"][u.field], u.update[u.field], "{}: {r}", u.field);
        }
        // A refused update leaves the stream as it was.
        let info = js_api(&c, "STREAM.INFO.U", &Value::Null).await;
        if server.is_natrix() {
            assert!(
                info["config"].get(u.field).is_none_or(|v| v == false),
                "{info}"
            );
        }
        let d = js_api(&c, "STREAM.DELETE.U", &Value::Null).await;
        assert_eq!(d["success"], true, "{d}");
    }
}
