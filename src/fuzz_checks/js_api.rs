//! `$JS.API` request bodies: every decoder the stream and consumer APIs use. Errors must
//! render as valid JSON carrying the error (or as a well-formed status header block), and
//! accepted configs must survive what the server does with them next: serialisation to the
//! stream/consumer meta file and decoding it again after a restart, and a second normalisation.

use std::sync::OnceLock;

use crate::jetstream::api::{
    check_delete_body, decode_consumer_body, parse_direct_get, parse_msg_get, parse_stream_config,
    prepare_create, prepare_update, ApiRequest, MsgDeleteRequest, StreamInfoRequest,
    StreamListRequest, StreamPurgeRequest,
};
use crate::jetstream::consumer_api::{
    parse_consumer_create, parse_pause_request, parse_pull_request, ConsumerApi, ListRequest,
};
use crate::jetstream::{render_error, ConsumerConfig, JsApiError, ResponseType, StreamConfig};

/// The stream name the per-stream decoders are called with.
const STREAM: &str = "S";

/// The stream consumers are created on (normalised and valid).
fn stream() -> &'static StreamConfig {
    static STREAM_CFG: OnceLock<StreamConfig> = OnceLock::new();
    STREAM_CFG.get_or_init(|| {
        prepare_create(STREAM, br#"{"name":"S","subjects":["s.>"]}"#).expect("valid stream")
    })
}

/// The error reply a client gets is valid JSON and says what the error says.
fn check_error(response: ResponseType, err: &JsApiError) {
    let out = render_error(response, err);
    let v: serde_json::Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("error reply is not JSON ({e}): {out:?}"));
    assert_eq!(v["error"]["err_code"], u64::from(err.err_code));
    assert_eq!(v["error"]["code"], u64::from(err.code));
    assert_eq!(v["error"]["description"], err.description.as_str());
}

/// A status-only reply: one status line, no other line, ends with the blank line.
fn check_status_block(block: &[u8]) {
    let text = std::str::from_utf8(block).expect("status block is UTF-8");
    let Some(line) = text
        .strip_prefix("NATS/1.0 ")
        .and_then(|t| t.strip_suffix("\r\n\r\n"))
    else {
        panic!("malformed status block {text:?}");
    };
    assert!(
        !line.contains(['\r', '\n']),
        "status text breaks the header block: {text:?}"
    );
}

/// An accepted stream config survives the meta file (serde round trip) and a second create.
fn check_stream_config(
    cfg: &StreamConfig,
    again: impl Fn(&[u8]) -> Result<StreamConfig, JsApiError>,
) {
    let json = serde_json::to_vec(cfg).expect("a config serialises");
    let back: StreamConfig = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "meta JSON does not decode ({e}): {}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(&back, cfg, "stream config changes through its JSON");
    assert_eq!(
        again(&json).as_ref(),
        Ok(cfg),
        "re-submitting the config changes it"
    );
}

/// An accepted consumer config, normalised and valid, survives its meta file and renormalising.
fn check_consumer_config(mut cfg: ConsumerConfig) {
    let stream = stream();
    cfg.normalize(stream);
    if cfg.validate(stream).is_err() {
        return;
    }
    let json = serde_json::to_vec(&cfg).expect("a config serialises");
    let back: ConsumerConfig = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "meta JSON does not decode ({e}): {}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(back, cfg, "consumer config changes through its JSON");
    let mut twice = cfg.clone();
    twice.normalize(stream);
    assert_eq!(twice, cfg, "normalize is not idempotent");
}

fn pull_consumer(push: bool) -> ConsumerConfig {
    let mut cfg = ConsumerConfig {
        durable_name: "D".into(),
        max_batch: 10,
        max_expires_ns: 1_000_000_000,
        max_bytes: 1000,
        ..ConsumerConfig::default()
    };
    if push {
        cfg.deliver_subject = "deliver".into();
    }
    cfg.normalize(stream());
    cfg
}

fn check_pull(body: &[u8], cfg: &ConsumerConfig) {
    match parse_pull_request(body, cfg) {
        Ok(req) => {
            assert!(req.batch >= 1, "batch 0 accepted");
            assert!(
                req.batch <= cfg.max_batch as u64,
                "batch over the consumer's max"
            );
            assert!(
                req.max_bytes <= cfg.max_bytes as u64,
                "max_bytes over the consumer's"
            );
            assert!(
                req.expires_ns <= cfg.max_expires_ns as u64,
                "expires over the consumer's"
            );
        }
        Err(block) => check_status_block(&block),
    }
}

/// A subject and body through the same dispatch the API handler uses.
fn check_dispatch(subject: &[u8], body: &[u8]) {
    let Some(req) = ApiRequest::parse(subject) else {
        return;
    };
    if let ApiRequest::DirectGet { subject, .. } = req {
        let _ = parse_direct_get(subject, body);
        return;
    }
    if let Some(result) = req.decode_stream_body(body) {
        if let Err(e) = result {
            check_error(req.response_type().expect("stream API"), &e);
        }
        return;
    }
    if let ApiRequest::Consumer(rest) = req {
        if let Some(api) = ConsumerApi::parse(rest) {
            match decode_consumer_body(&api, body) {
                Ok(crate::jetstream::api::ConsumerRequest::Create(c)) => {
                    check_consumer_config(c.config)
                }
                Ok(_) => {}
                Err(e) => check_error(
                    api.response_type().unwrap_or(ResponseType::ConsumerCreate),
                    &e,
                ),
            }
        }
    }
}

/// Input layout: a selector byte picks the decoder, the rest is the body (for the dispatch
/// selector: `subject \n body`).
pub fn check_js_api_request(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 13 {
        0 => match prepare_create(STREAM, body) {
            Ok(cfg) => check_stream_config(&cfg, |j| prepare_create(STREAM, j)),
            Err(e) => check_error(ResponseType::StreamCreate, &e),
        },
        1 => match prepare_update(STREAM, body) {
            Ok(cfg) => check_stream_config(&cfg, |j| prepare_update(STREAM, j)),
            Err(e) => check_error(ResponseType::StreamUpdate, &e),
        },
        2 => match parse_stream_config(body) {
            Ok(cfg) => check_stream_config(&cfg, parse_stream_config),
            Err(e) => check_error(ResponseType::StreamCreate, &e),
        },
        3 => {
            if let Err(e) = StreamInfoRequest::parse(body) {
                check_error(ResponseType::StreamInfo, &e);
            }
            if let Err(e) = StreamListRequest::parse(body) {
                check_error(ResponseType::StreamList, &e);
            }
        }
        4 => match StreamPurgeRequest::parse(body) {
            Ok(req) => assert!(req.seq == 0 || req.keep == 0, "seq with keep accepted"),
            Err(e) => check_error(ResponseType::StreamPurge, &e),
        },
        5 => {
            if let Err(e) = MsgDeleteRequest::parse(body) {
                check_error(ResponseType::StreamMsgDelete, &e);
            }
            if let Err(e) = check_delete_body(body) {
                check_error(ResponseType::StreamDelete, &e);
            }
        }
        6 => {
            if let Err(e) = parse_msg_get(body) {
                check_error(ResponseType::StreamMsgGet, &e);
            }
        }
        7 => {
            for subject in [None, Some("s.a")] {
                if let Err(e) = parse_direct_get(subject, body) {
                    let block = e.status_headers();
                    check_status_block(block);
                }
            }
        }
        8 | 9 => {
            let apis = [
                ConsumerApi::Create {
                    stream: STREAM,
                    name: None,
                    filter: None,
                },
                ConsumerApi::Create {
                    stream: STREAM,
                    name: Some("C"),
                    filter: None,
                },
                ConsumerApi::Create {
                    stream: STREAM,
                    name: Some("C"),
                    filter: Some("s.a"),
                },
                ConsumerApi::DurableCreate {
                    stream: STREAM,
                    durable: "C",
                },
            ];
            for api in &apis {
                match parse_consumer_create(api, body) {
                    Ok(req) => check_consumer_config(req.config),
                    Err(e) => check_error(ResponseType::ConsumerCreate, &e),
                }
            }
        }
        10 => {
            static CFGS: OnceLock<[ConsumerConfig; 2]> = OnceLock::new();
            let [pull, push] = CFGS.get_or_init(|| [pull_consumer(false), pull_consumer(true)]);
            check_pull(body, pull);
            check_pull(body, push);
            let mut unlimited = ConsumerConfig::default();
            unlimited.normalize(stream());
            if let Ok(req) = parse_pull_request(body, &unlimited) {
                assert!(req.batch >= 1);
            }
        }
        11 => {
            if let Err(e) = ListRequest::parse(body) {
                check_error(ResponseType::ConsumerList, &e);
            }
            let _ = parse_pause_request(body);
        }
        _ => {
            let (subject, body) = match body.iter().position(|&b| b == b'\n') {
                Some(i) => (&body[..i], &body[i + 1..]),
                None => (body, &b""[..]),
            };
            check_dispatch(subject, body);
        }
    }
}
