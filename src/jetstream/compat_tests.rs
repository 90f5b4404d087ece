//! Client compatibility: what async-nats 0.51 and nats-py 2.16 send must decode, and what we
//! render must decode into async-nats's own response types.

use async_nats::jetstream::account::Account;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::response::Response;
use async_nats::jetstream::stream::{self, Info, RawMessage};
use async_nats::jetstream::ErrorCode;
use serde::Deserialize;

use super::*;

const SERVER: ServerMeta<'static> = ServerMeta {
    server_name: "natrix-test",
    version: "2.15.1",
    api_level: 1,
};

/// Serialises an async-nats config exactly as `Context::create_stream` puts it on the wire.
fn async_nats_wire(config: &stream::Config) -> Vec<u8> {
    serde_json::to_vec(config).unwrap()
}

#[test]
fn async_nats_default_config_literal_decodes() {
    // async-nats 0.51 serialises `stream::Config { name: "events", subjects: vec!["events.>"],
    // ..Default::default() }` as exactly this (no serde default on discard/retention/storage/
    // num_replicas; consumer_limits is sent as null).
    let literal = r#"{"name":"events","max_bytes":0,"max_msgs":0,"max_msgs_per_subject":0,"discard":"old","subjects":["events.>"],"retention":"limits","max_consumers":0,"max_age":0,"storage":"file","num_replicas":0,"consumer_limits":null}"#;
    let config = stream::Config {
        name: "events".into(),
        subjects: vec!["events.>".into()],
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(async_nats_wire(&config)).unwrap(),
        literal
    );
    let cfg = prepare_create("events", literal.as_bytes()).unwrap();
    assert_eq!(
        (
            cfg.max_msgs,
            cfg.max_bytes,
            cfg.max_consumers,
            cfg.num_replicas
        ),
        (-1, -1, -1, 1)
    );
    assert_eq!(cfg.subjects, ["events.>"]);
    assert_eq!(cfg.duplicate_window_ns, 120_000_000_000);
}

#[test]
fn async_nats_rich_configs_decode() {
    let kv_like = stream::Config {
        name: "KV_cfg".into(),
        subjects: vec!["$KV.cfg.>".into()],
        max_messages_per_subject: 5,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        max_age: std::time::Duration::from_secs(60),
        duplicate_window: std::time::Duration::from_secs(30),
        description: Some("kv".into()),
        storage: stream::StorageType::Memory,
        num_replicas: 1,
        allow_message_ttl: true,
        compression: Some(stream::Compression::None),
        metadata: [("owner".to_owned(), "me".to_owned())].into(),
        placement: Some(stream::Placement {
            cluster: None,
            tags: vec!["ssd".into()],
        }),
        consumer_limits: Some(stream::ConsumerLimits {
            inactive_threshold: std::time::Duration::from_secs(5),
            max_ack_pending: 10,
        }),
        first_sequence: Some(100),
        persist_mode: Some(stream::PersistenceMode::Default),
        ..Default::default()
    };
    let cfg = prepare_create("KV_cfg", &async_nats_wire(&kv_like)).unwrap();
    cfg.check_supported().unwrap();
    assert_eq!(cfg.max_msgs_per_subject, 5);
    assert_eq!(
        (cfg.max_age_ns, cfg.duplicate_window_ns),
        (60_000_000_000, 30_000_000_000)
    );
    assert_eq!(cfg.storage, StorageType::Memory);
    assert!(cfg.allow_msg_ttl && cfg.allow_rollup_hdrs && cfg.deny_delete && cfg.allow_direct);
    assert_eq!(cfg.first_seq, 100);
    assert_eq!(cfg.consumer_limits.inactive_threshold_ns, 5_000_000_000);
    assert_eq!(cfg.metadata["owner"], "me");

    // Every feature async-nats can express is at least a known field.
    let everything = stream::Config {
        name: "ALL".into(),
        mirror: Some(stream::Source {
            name: "O".into(),
            start_sequence: Some(2),
            filter_subject: Some("x".into()),
            external: Some(stream::External {
                api_prefix: "$JS.h.API".into(),
                delivery_prefix: Some("d".into()),
            }),
            subject_transforms: vec![stream::SubjectTransform {
                source: "a".into(),
                destination: "b".into(),
            }],
            ..Default::default()
        }),
        sources: Some(vec![stream::Source {
            name: "S".into(),
            ..Default::default()
        }]),
        republish: Some(stream::Republish {
            source: ">".into(),
            destination: "r.>".into(),
            headers_only: true,
        }),
        subject_transform: Some(stream::SubjectTransform {
            source: ">".into(),
            destination: "t.>".into(),
        }),
        sealed: true,
        no_ack: true,
        mirror_direct: true,
        discard_new_per_subject: true,
        subject_delete_marker_ttl: Some(std::time::Duration::from_secs(1)),
        allow_atomic_publish: true,
        allow_message_schedules: true,
        allow_message_counter: true,
        allow_batch_publish: true,
        ..Default::default()
    };
    let cfg = parse_stream_config(&async_nats_wire(&everything)).unwrap();
    assert!(cfg.mirror.is_some() && cfg.sources.len() == 1 && cfg.republish.is_some());
    assert!(
        cfg.allow_atomic && cfg.allow_msg_schedules && cfg.allow_msg_counter && cfg.allow_batched
    );
}

#[test]
fn nats_py_configs_decode() {
    // nats-py 2.16 `StreamConfig(name="X", subjects=["x"]).as_dict()` and a KV bucket config.
    let plain = r#"{"name": "X", "subjects": ["x"], "discard": "old", "discard_new_per_subject": false, "max_msgs_per_subject": -1, "max_msg_size": -1, "no_ack": false, "duplicate_window": 0, "sealed": false, "deny_delete": false, "deny_purge": false, "allow_rollup_hdrs": false, "max_age": 0}"#;
    let cfg = prepare_create("X", plain.as_bytes()).unwrap();
    assert_eq!(
        (cfg.max_msgs, cfg.duplicate_window_ns),
        (-1, 120_000_000_000)
    );
    let kv = r#"{"name": "KV_b", "subjects": ["$KV.b.>"], "max_bytes": -1, "discard": "new", "discard_new_per_subject": false, "max_age": 0, "max_msgs_per_subject": 1, "max_msg_size": -1, "storage": "file", "num_replicas": 1, "no_ack": false, "duplicate_window": 0, "sealed": false, "deny_delete": true, "deny_purge": false, "allow_rollup_hdrs": true, "allow_direct": false, "allow_msg_ttl": true}"#;
    let cfg = prepare_create("KV_b", kv.as_bytes()).unwrap();
    cfg.check_supported().unwrap();
    assert!(cfg.allow_msg_ttl && cfg.deny_delete && cfg.allow_rollup_hdrs);
    assert_eq!(cfg.metadata["_nats.req.level"], "1");
    // nats-py request bodies.
    assert_eq!(
        StreamInfoRequest::parse(br#"{"subjects_filter": "py.>"}"#)
            .unwrap()
            .subjects_filter(),
        Some("py.>")
    );
    assert_eq!(
        StreamListRequest::parse(br#"{"subject": "py.a"}"#)
            .unwrap()
            .subject_filter(),
        Some("py.a")
    );
    assert_eq!(
        parse_msg_get(br#"{"last_by_subj": "py.a"}"#).unwrap().query,
        MsgQuery::LastBySubject("py.a".into())
    );
    assert_eq!(MsgDeleteRequest::parse(br#"{"seq": 3}"#).unwrap().seq, 3);
}

fn sample_info_parts() -> (StreamConfig, StreamStateView) {
    let config = prepare_create("ORDERS", br#"{"name":"ORDERS","subjects":["orders.>"]}"#).unwrap();
    let (subjects, _) = page_subjects(
        [("orders.new".to_owned(), 2), ("orders.old".to_owned(), 2)],
        0,
    );
    let state = StreamStateView {
        messages: 4,
        bytes: 413,
        first_seq: 1,
        first_ts_ns: 1_795_318_411_674_664_328,
        last_seq: 5,
        last_ts_ns: 1_795_318_415_706_389_407,
        num_subjects: 2,
        num_deleted: 1,
        consumer_count: 0,
        deleted: vec![2],
        subjects,
    };
    (config, state)
}

#[test]
fn stream_info_responses_decode_into_async_nats_info() {
    let (config, state) = sample_info_parts();
    let view = StreamInfoView {
        config: &config,
        created_ns: 1_795_318_411_000_000_001,
        state: &state,
        now_ns: 1_795_318_420_000_000_000,
    };
    let paging = Paging {
        total: 2,
        offset: 0,
        limit: 100_000,
    };
    for body in [
        render_stream_create(&view, &SERVER),
        render_stream_update(&view, &SERVER),
        render_stream_info(&view, &SERVER, paging),
    ] {
        let info: Info = match serde_json::from_slice::<Response<Info>>(&body).unwrap() {
            Response::Ok(info) => info,
            Response::Err { error } => panic!("{error}"),
        };
        assert_eq!(info.config.name, "ORDERS");
        assert_eq!(info.config.subjects, ["orders.>"]);
        assert_eq!(info.config.max_messages, -1);
        assert_eq!(
            info.config.duplicate_window,
            std::time::Duration::from_secs(120)
        );
        assert_eq!(info.config.metadata["_nats.ver"], "2.15.1");
        assert_eq!(
            info.created.unix_timestamp_nanos(),
            1_795_318_411_000_000_001
        );
        assert_eq!(info.state.messages, 4);
        assert_eq!(info.state.bytes, 413);
        assert_eq!(
            (info.state.first_sequence, info.state.last_sequence),
            (1, 5)
        );
        assert_eq!(
            info.state.first_timestamp.unix_timestamp_nanos(),
            1_795_318_411_674_664_328
        );
        assert_eq!(
            info.state.last_timestamp.unix_timestamp_nanos(),
            1_795_318_415_706_389_407
        );
        assert_eq!(info.state.subjects_count, 2);
        assert_eq!(info.state.deleted_count, Some(1));
        assert_eq!(info.state.deleted, Some(vec![2]));
        assert_eq!(info.state.consumer_count, 0);
    }
    // An empty stream: zero-time timestamps decode too.
    let empty = StreamStateView::default();
    let view = StreamInfoView {
        state: &empty,
        ..view
    };
    let info: Info =
        match serde_json::from_slice(&render_stream_info(&view, &SERVER, Paging::default()))
            .unwrap()
        {
            Response::Ok(info) => info,
            Response::Err { error } => panic!("{error}"),
        };
    assert_eq!(info.state.first_timestamp.year(), 1);
    assert_eq!(
        info.cluster.and_then(|c| c.leader).as_deref(),
        Some("natrix-test")
    );
}

#[test]
fn list_entries_decode_into_async_nats_info() {
    #[derive(Deserialize)]
    struct ListPage {
        total: usize,
        streams: Vec<Info>,
    }
    let (config, state) = sample_info_parts();
    let view = StreamInfoView {
        config: &config,
        created_ns: 1,
        state: &state,
        now_ns: 2,
    };
    let page: ListPage = serde_json::from_slice(&render_stream_list(&[view], 0)).unwrap();
    assert_eq!(
        (page.total, page.streams[0].config.name.as_str()),
        (1, "ORDERS")
    );
    #[derive(Deserialize)]
    struct NamesPage {
        streams: Option<Vec<String>>,
    }
    let names: NamesPage = serde_json::from_slice(&render_stream_names(&["B", "A"], 0)).unwrap();
    assert_eq!(names.streams.unwrap(), ["A", "B"]);
    let none: NamesPage = serde_json::from_slice(&render_stream_names(&[], 0)).unwrap();
    assert!(none.streams.is_none());
}

#[test]
fn error_envelopes_decode_as_async_nats_errors() {
    for (err, code) in [
        (JsApiError::stream_not_found(), ErrorCode::STREAM_NOT_FOUND),
        (
            JsApiError::stream_name_exists(),
            ErrorCode::STREAM_NAME_EXIST,
        ),
        (JsApiError::replicas_not_supported(), ErrorCode(10074)),
    ] {
        for response in [
            ResponseType::StreamInfo,
            ResponseType::StreamCreate,
            ResponseType::StreamUpdate,
        ] {
            match serde_json::from_slice::<Response<Info>>(&render_error(response, &err)).unwrap() {
                Response::Err { error } => {
                    assert_eq!(error.error_code(), code);
                    assert_eq!(error.code(), usize::from(err.code));
                }
                Response::Ok(_) => panic!("error decoded as success"),
            }
        }
    }
}

#[test]
fn account_info_decodes_into_async_nats_account() {
    let body = render_account_info(&AccountInfoView {
        storage_bytes: 228,
        streams: 3,
        api_level: 1,
        api_total: 10,
        api_errors: 2,
        ..Default::default()
    });
    let account: Account = match serde_json::from_slice(&body).unwrap() {
        Response::Ok(account) => account,
        Response::Err { error } => panic!("{error}"),
    };
    assert_eq!((account.storage, account.streams), (228, 3));
    assert_eq!(
        (
            account.requests.total,
            account.requests.errors,
            account.requests.level
        ),
        (10, 2, 1)
    );
    assert_eq!(account.limits.max_memory, None);
    assert_eq!(account.limits.max_ack_pending, -1);
}

#[test]
fn pub_acks_decode_into_async_nats_publish_ack() {
    let ack: PublishAck = serde_json::from_slice(&pub_ack("ORDERS", 7, false)).unwrap();
    assert_eq!(
        (ack.stream.as_str(), ack.sequence, ack.duplicate),
        ("ORDERS", 7, false)
    );
    let dup: PublishAck = serde_json::from_slice(&pub_ack("ORDERS", 7, true)).unwrap();
    assert!(dup.duplicate);
    match serde_json::from_slice::<Response<PublishAck>>(&pub_error(
        "ORDERS",
        &JsApiError::wrong_last_sequence(3),
    ))
    .unwrap()
    {
        Response::Err { error } => assert_eq!(error.error_code(), ErrorCode(10071)),
        Response::Ok(_) => panic!("error decoded as ack"),
    }
}

#[test]
fn msg_get_decodes_into_async_nats_stream_message() {
    #[derive(Deserialize)]
    struct GetRawMessage {
        message: RawMessage,
    }
    let stored = StoredMessageView {
        subject: b"orders.new",
        seq: 2,
        headers: b"NATS/1.0\r\nNats-Msg-Id: abc\r\nX-Foo: bar\r\n\r\n",
        payload: b"two",
        ts_ns: 1_795_318_415_695_621_708,
    };
    for (no_hdr, payload) in [(false, &b"two"[..]), (true, b"two")] {
        let body = render_msg_get(&stored, no_hdr);
        let raw: GetRawMessage = serde_json::from_slice(&body).unwrap();
        let msg = StreamMessage::try_from(raw.message).unwrap();
        assert_eq!(msg.subject.as_str(), "orders.new");
        assert_eq!((msg.sequence, &msg.payload[..]), (2, payload));
        assert_eq!(msg.time.unix_timestamp_nanos(), 1_795_318_415_695_621_708);
        let id = msg
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned());
        assert_eq!(id.as_deref(), (!no_hdr).then_some("abc"));
    }
    // No headers and no payload: both keys omitted, still decodes.
    let bare = StoredMessageView {
        headers: b"",
        payload: b"",
        ..stored
    };
    let raw: GetRawMessage = serde_json::from_slice(&render_msg_get(&bare, false)).unwrap();
    let msg = StreamMessage::try_from(raw.message).unwrap();
    assert!(msg.payload.is_empty() && msg.headers.is_empty());
}

#[test]
fn our_config_decodes_into_async_nats_config() {
    let cfg = prepare_create(
        "K",
        br#"{"name":"K","subjects":["k.>"],"max_msgs_per_subject":3,"discard":"new","allow_rollup_hdrs":true,"allow_direct":true,"allow_msg_ttl":true,"max_age":1000000000}"#,
    )
    .unwrap();
    let back: stream::Config = serde_json::from_value(
        serde_json::to_value(cfg.with_dynamic_metadata(1, "2.15.1")).unwrap(),
    )
    .unwrap();
    assert_eq!(back.name, "K");
    assert_eq!(back.max_messages_per_subject, 3);
    assert_eq!(back.discard, stream::DiscardPolicy::New);
    assert!(back.allow_rollup && back.allow_direct && back.allow_message_ttl);
    assert_eq!(back.max_age, std::time::Duration::from_secs(1));
    assert_eq!(back.duplicate_window, std::time::Duration::from_secs(1));
    assert_eq!(back.num_replicas, 1);
    // And what async-nats sends back on update (its view of our config) is accepted again.
    let again = prepare_update("K", &async_nats_wire(&back)).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn async_nats_consumer_configs_decode() {
    use async_nats::jetstream::consumer::{self, pull, push, IntoConsumerConfig};
    let stream = prepare_create("C", br#"{"name":"C","subjects":["c.>"]}"#).unwrap();
    let wire = |cfg: &consumer::Config, name: Option<&str>| {
        let body = serde_json::json!({"stream_name": "C", "config": cfg, "action": ""});
        let subject = match name {
            Some(n) => format!("CREATE.C.{n}"),
            None => "CREATE.C".to_owned(),
        };
        let api = ConsumerApi::parse(&subject).unwrap();
        let mut req = parse_consumer_create(&api, &serde_json::to_vec(&body).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {body}"));
        req.config.normalize(&stream);
        req.config
            .validate(&stream)
            .unwrap_or_else(|e| panic!("{e}: {body}"));
        req.config
    };
    let pull_default: consumer::Config = pull::Config {
        durable_name: Some("D".into()),
        ..Default::default()
    }
    .into_consumer_config();
    let c = wire(&pull_default, Some("D"));
    assert_eq!((c.ack_policy, c.max_waiting), (AckPolicy::Explicit, 512));
    let pull_rich: consumer::Config = pull::Config {
        name: Some("R".into()),
        filter_subjects: vec!["c.a".into(), "c.b".into()],
        max_deliver: 5,
        backoff: vec![std::time::Duration::from_secs(1)],
        inactive_threshold: std::time::Duration::from_secs(30),
        max_batch: 10,
        max_bytes: 100,
        max_expires: std::time::Duration::from_secs(5),
        metadata: [("k".to_owned(), "v".to_owned())].into(),
        ..Default::default()
    }
    .into_consumer_config();
    let c = wire(&pull_rich, Some("R"));
    assert_eq!((c.ack_wait_ns, c.max_deliver), (1_000_000_000, 5));
    let push_ordered: consumer::Config = push::OrderedConfig {
        deliver_subject: "_INBOX.x".into(),
        filter_subject: "c.a".into(),
        ..Default::default()
    }
    .into_consumer_config();
    let c = wire(&push_ordered, None);
    assert!(c.is_push() && c.flow_control && c.mem_storage);
    // What we render decodes into async-nats's own ConsumerInfo.
    let view = ConsumerInfoView {
        stream_name: "C",
        name: "D",
        created_ns: 1,
        config: &c,
        delivered: SequenceInfo::default(),
        ack_floor: SequenceInfo::default(),
        num_ack_pending: 0,
        num_redelivered: 0,
        num_waiting: 0,
        num_pending: 4,
        push_bound: true,
        now_ns: 2,
        pinned: None,
    };
    let body = render_consumer_info(&view, &SERVER, ResponseType::ConsumerInfo);
    let info: Response<consumer::Info> = serde_json::from_slice(&body).unwrap();
    match info {
        Response::Ok(info) => assert_eq!((info.num_pending, info.name.as_str()), (4, "D")),
        Response::Err { error } => panic!("{error:?}"),
    }
}
