//! Raw-socket conformance tests: exact bytes on the wire for the core NATS protocol.
//!
//! Every test here also passes against nats-server 2.15.1 (`NATRIX_TEST_SERVER=nats-server`).

mod common;

use std::time::Duration;

use common::{RawConn, TestServer};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const QUIET_HDRS: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;

async fn quiet(s: &TestServer) -> RawConn {
    RawConn::connect_with(s.port, QUIET).await
}

async fn quiet_hdrs(s: &TestServer) -> RawConn {
    RawConn::connect_with(s.port, QUIET_HDRS).await
}

/// A subscriber connection with `SUB <subject> <sid>` already registered (PING/PONG confirmed).
async fn subscriber(s: &TestServer, connect: &str, subs: &[&str]) -> RawConn {
    let mut c = RawConn::connect_with(s.port, connect).await;
    for line in subs {
        c.send(format!("{line}\r\n").as_bytes()).await;
    }
    c.ping_pong().await;
    c
}

#[tokio::test]
async fn info_is_first_line_and_json() {
    let s = TestServer::start_default();
    let c = s.raw().await;
    let line = &c.info_line;
    assert!(line.starts_with(b"INFO {"), "{}", common::show(line));
    assert!(line.ends_with(b"\r\n"));
    let info = &c.info;
    assert_eq!(info["headers"], serde_json::json!(true), "headers: {info}");
    assert_eq!(info["proto"], serde_json::json!(1), "proto: {info}");
    let version = info["version"].as_str().expect("version string");
    assert!(version.starts_with("2."), "version {version}");
    assert_eq!(info["max_payload"].as_u64(), Some(1_048_576), "{info}");
    assert!(info["client_id"].is_u64(), "client_id: {info}");
    assert!(
        info["server_id"].as_str().is_some_and(|s| !s.is_empty()),
        "server_id: {info}"
    );
    assert_eq!(
        info["port"].as_u64(),
        Some(u64::from(s.port)),
        "port: {info}"
    );
    assert!(info.get("auth_required").is_none_or(|v| v == false));
    // A second connection gets a different client_id.
    let c2 = s.raw().await;
    assert_ne!(c.info["client_id"], c2.info["client_id"]);
}

#[tokio::test]
async fn connect_verbose_gets_ok() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":true}\r\n").await;
    c.expect(b"+OK\r\n").await;
    // verbose also acknowledges SUB and PUB
    c.send(b"SUB foo 1\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.send(b"PUB bar 2\r\nhi\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.ping_pong().await;
}

#[tokio::test]
async fn ping_before_connect_and_default_verbose() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"PING\r\n").await;
    c.expect(b"PONG\r\n").await;
    // Before CONNECT the defaults apply: verbose=true, so SUB is acknowledged.
    c.send(b"SUB foo 1\r\n").await;
    c.expect(b"+OK\r\n").await;
    // An empty CONNECT keeps verbose=true too.
    c.send(b"CONNECT {}\r\n").await;
    c.expect(b"+OK\r\n").await;
    c.ping_pong().await;
}

#[tokio::test]
async fn msg_framing_exact() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET, &["SUB foo 1"]).await;
    let mut p = quiet(&s).await;
    p.send(b"PUB foo 5\r\nhello\r\n").await;
    sub.expect(b"MSG foo 1 5\r\nhello\r\n").await;
    p.send(b"PUB foo bar 5\r\nhello\r\n").await;
    sub.expect(b"MSG foo 1 bar 5\r\nhello\r\n").await;
    // zero-length payload
    p.send(b"PUB foo 0\r\n\r\n").await;
    sub.expect(b"MSG foo 1 0\r\n\r\n").await;
    // binary payload containing CR LF is opaque
    p.send(b"PUB foo 6\r\na\r\nb\r\n\r\n").await;
    sub.expect(b"MSG foo 1 6\r\na\r\nb\r\n\r\n").await;
    sub.ping_pong().await;
    p.ping_pong().await;
}

#[tokio::test]
async fn hmsg_framing_exact() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET_HDRS, &["SUB foo 7"]).await;
    let mut p = quiet_hdrs(&s).await;
    let hdr: &[u8] = b"NATS/1.0\r\nA: b\r\nX-Mixed-Case:  two  spaces \r\nA: c\r\n\r\n";
    let payload: &[u8] = b"hello\r\nworld";
    let (h, t) = (hdr.len(), hdr.len() + payload.len());

    let mut frame = format!("HPUB foo {h} {t}\r\n").into_bytes();
    frame.extend_from_slice(hdr);
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    p.send(&frame).await;
    let mut want = format!("HMSG foo 7 {h} {t}\r\n").into_bytes();
    want.extend_from_slice(hdr);
    want.extend_from_slice(payload);
    want.extend_from_slice(b"\r\n");
    sub.expect(&want).await;

    // with reply subject
    let mut frame = format!("HPUB foo rep.ly {h} {t}\r\n").into_bytes();
    frame.extend_from_slice(hdr);
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    p.send(&frame).await;
    let mut want = format!("HMSG foo 7 rep.ly {h} {t}\r\n").into_bytes();
    want.extend_from_slice(hdr);
    want.extend_from_slice(payload);
    want.extend_from_slice(b"\r\n");
    sub.expect(&want).await;

    // The server does not validate header syntax on core pub/sub: junk is forwarded verbatim.
    let junk: &[u8] = b"NATS/1.0\r\nno colon here\r\n\r\n";
    let mut frame = format!("HPUB foo {} {}\r\n", junk.len(), junk.len() + 2).into_bytes();
    frame.extend_from_slice(junk);
    frame.extend_from_slice(b"ok\r\n");
    p.send(&frame).await;
    let mut want = format!("HMSG foo 7 {} {}\r\n", junk.len(), junk.len() + 2).into_bytes();
    want.extend_from_slice(junk);
    want.extend_from_slice(b"ok\r\n");
    sub.expect(&want).await;
    sub.ping_pong().await;
}

#[tokio::test]
async fn headers_stripped_for_non_header_connection() {
    let s = TestServer::start_default();
    let mut plain = subscriber(&s, QUIET, &["SUB foo 1"]).await;
    let mut hdrs = subscriber(&s, QUIET_HDRS, &["SUB foo 2"]).await;
    let mut p = quiet_hdrs(&s).await;
    let hdr: &[u8] = b"NATS/1.0\r\nK: v\r\n\r\n";
    let mut frame = format!("HPUB foo r {} {}\r\n", hdr.len(), hdr.len() + 5).into_bytes();
    frame.extend_from_slice(hdr);
    frame.extend_from_slice(b"hello\r\n");
    p.send(&frame).await;
    plain.expect(b"MSG foo 1 r 5\r\nhello\r\n").await;
    let mut want = format!("HMSG foo 2 r {} {}\r\n", hdr.len(), hdr.len() + 5).into_bytes();
    want.extend_from_slice(hdr);
    want.extend_from_slice(b"hello\r\n");
    hdrs.expect(&want).await;
}

#[tokio::test]
async fn hpub_with_zero_header_length_is_plain_msg() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET_HDRS, &["SUB foo 1"]).await;
    let mut p = quiet_hdrs(&s).await;
    p.send(b"HPUB foo 0 2\r\nhi\r\n").await;
    sub.expect(b"MSG foo 1 2\r\nhi\r\n").await;
}

#[tokio::test]
async fn no_responders_exact_bytes() {
    let s = TestServer::start_default();
    let mut c = RawConn::connect_with(
        s.port,
        r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#,
    )
    .await;
    c.send(b"SUB _INBOX.abc.* 1\r\nPUB nobody _INBOX.abc.1 0\r\n\r\n")
        .await;
    let want = b"HMSG _INBOX.abc.1 1 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n";
    assert_eq!(38, 32 + "nobody".len());
    c.expect(want).await;
    // With a payload and a longer subject: header length is 32 + len(subject), payload not echoed.
    c.send(b"PUB no.body.here _INBOX.abc.2 3\r\nabc\r\n").await;
    let hl = 32 + "no.body.here".len();
    let want = format!(
        "HMSG _INBOX.abc.2 1 {hl} {hl}\r\nNATS/1.0 503\r\nNats-Subject: no.body.here\r\n\r\n\r\n"
    );
    c.expect(want.as_bytes()).await;
    c.ping_pong().await;
}

#[tokio::test]
async fn no_responders_only_when_requested() {
    let s = TestServer::start_default();
    // headers but no no_responders: nothing comes back.
    let mut c = subscriber(&s, QUIET_HDRS, &["SUB _INBOX.x.* 1"]).await;
    c.send(b"PUB nobody _INBOX.x.1 0\r\n\r\n").await;
    c.ping_pong().await;
    c.expect_silence(Duration::from_millis(300)).await;
    // no_responders but the publisher has no subscription on the reply subject: nothing either.
    let mut d = RawConn::connect_with(
        s.port,
        r#"{"verbose":false,"headers":true,"no_responders":true}"#,
    )
    .await;
    d.send(b"PUB nobody _INBOX.y.1 0\r\n\r\n").await;
    d.ping_pong().await;
    d.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn err_unknown_protocol_operation() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"FOO bar\r\n").await;
    c.expect_err_and_close("Unknown Protocol Operation").await;
}

#[tokio::test]
async fn err_empty_line() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"\r\n").await;
    c.expect_err_and_close("Unknown Protocol Operation").await;
}

#[tokio::test]
async fn err_client_sent_msg() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"MSG foo 1 5\r\nhello\r\n").await;
    c.expect_err_and_close("Unknown Protocol Operation").await;
}

#[tokio::test]
async fn err_unsub_without_args() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"UNSUB\r\n").await;
    c.expect_err_and_close("Unknown Protocol Operation").await;
}

#[tokio::test]
async fn err_payload_not_followed_by_crlf() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"PUB foo 2\r\nhiXX").await;
    c.expect_err_and_close("Unknown Protocol Operation").await;
}

#[tokio::test]
async fn err_maximum_control_line_exceeded() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    let line = format!("SUB {} 1\r\n", "a".repeat(5000));
    c.send(line.as_bytes()).await;
    c.expect_err_and_close("maximum control line exceeded")
        .await;
}

#[tokio::test]
async fn err_maximum_payload_violation() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    // Checked on the control line, before any payload is sent.
    c.send(b"PUB foo 1048577\r\n").await;
    c.expect_err_and_close("Maximum Payload Violation").await;
}

#[tokio::test]
async fn exactly_max_payload_is_accepted_raw() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET, &["SUB big 1"]).await;
    let mut p = quiet(&s).await;
    let payload: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let mut frame = b"PUB big 1048576\r\n".to_vec();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    p.send(&frame).await;
    sub.expect(b"MSG big 1 1048576\r\n").await;
    let got = sub.read_exact(payload.len() + 2).await;
    assert!(got[..payload.len()] == payload[..], "payload corrupted");
    assert_eq!(&got[payload.len()..], b"\r\n");
    p.ping_pong().await;
}

#[tokio::test]
async fn err_invalid_client_protocol() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":false,\"protocol\":2}\r\n")
        .await;
    c.expect_err_and_close("invalid client protocol").await;
}

#[tokio::test]
async fn err_no_responders_requires_headers() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":false,\"no_responders\":true}\r\n")
        .await;
    c.expect_err_and_close("no responders requires headers support")
        .await;
}

#[tokio::test]
async fn err_invalid_subject_keeps_connection() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    for bad in ["foo..bar", ".foo", "foo.", "foo.>.bar"] {
        c.send(format!("SUB {bad} 1\r\n").as_bytes()).await;
        c.expect_err("Invalid Subject").await;
        c.ping_pong().await;
    }
    // Nothing was subscribed with sid 1: a valid SUB with sid 1 works and delivers.
    c.send(b"SUB ok 1\r\nPUB ok 1\r\nx\r\n").await;
    c.expect(b"MSG ok 1 1\r\nx\r\n").await;
    c.ping_pong().await;
}

#[tokio::test]
async fn err_reserved_reply_prefix_keeps_connection() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET, &["SUB foo 1", "SUB sentinel 2"]).await;
    let mut c = quiet(&s).await;
    c.send(b"PUB foo _R_.x 2\r\nhi\r\n").await;
    c.expect_err("Permissions Violation for Publish with Reply of \"_R_.x\"")
        .await;
    c.ping_pong().await;
    // The message was dropped: the subscriber sees only the sentinel published afterwards.
    c.send(b"PUB sentinel 1\r\nz\r\n").await;
    sub.expect(b"MSG sentinel 2 1\r\nz\r\n").await;
    c.ping_pong().await;
}

#[tokio::test]
async fn silent_close_on_bad_pub_args() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"PUB a b c 1\r\n").await;
    c.expect_closed().await;

    let mut c = quiet(&s).await;
    c.send(b"PUB foo abc\r\n").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn silent_close_on_bad_sub_args_and_hpub_without_headers() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"SUB a\r\n").await;
    c.expect_closed().await;

    let mut c = quiet(&s).await;
    c.send(b"SUB a b c d\r\n").await;
    c.expect_closed().await;

    // HPUB on a connection that did not announce headers
    let mut c = quiet(&s).await;
    c.send(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n").await;
    c.expect_closed().await;

    // header size larger than total size
    let mut c = quiet_hdrs(&s).await;
    c.send(b"HPUB foo 12 10\r\n").await;
    c.expect_closed().await;

    // invalid CONNECT JSON
    let mut c = s.raw().await;
    c.send(b"CONNECT {nope\r\n").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn case_insensitive_ops() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"connect {\"verbose\":false}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nPuB foo 1\r\nx\r\nping\r\n")
        .await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.expect(b"MSG foo 1 1\r\nx\r\n").await;
    c.expect(b"PONG\r\n").await;
    c.send(b"unsub 1\r\npub foo 1\r\ny\r\nPiNg\r\n").await;
    c.expect(b"PONG\r\n").await;
}

#[tokio::test]
async fn tabs_multiple_spaces_and_trailing_whitespace() {
    let s = TestServer::start_default();
    let mut c = quiet(&s).await;
    c.send(b"SUB\tfoo \t 1\r\nSUB  bar\tq\t 2\r\n").await;
    c.send(b"PUB  foo\t  2\r\nhi\r\n").await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.send(b"PUB foo 2 \r\nho\r\n").await;
    c.expect(b"MSG foo 1 2\r\nho\r\n").await;
    c.send(b"PUB\tbar\treply\t3\t\r\nabc\r\n").await;
    c.expect(b"MSG bar 2 reply 3\r\nabc\r\n").await;
    c.send(b"UNSUB 1 \r\nPUB foo 1\r\nz\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
}

#[tokio::test]
async fn lf_only_control_lines() {
    let s = TestServer::start_default();
    let mut c = s.raw().await;
    c.send(b"CONNECT {\"verbose\":false}\nPING\n").await;
    c.expect(b"PONG\r\n").await;
    c.send(b"SUB foo 1\nPUB foo 2\nhi\r\nPING\n").await;
    c.expect(b"MSG foo 1 2\r\nhi\r\n").await;
    c.expect(b"PONG\r\n").await;
}

#[tokio::test]
async fn split_writes_byte_by_byte() {
    let s = TestServer::start_default();
    let mut sub = s.raw().await;
    for &b in b"CONNECT {\"verbose\":false}\r\nSUB foo.bar 42\r\nPING\r\n" {
        sub.send(&[b]).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sub.expect(b"PONG\r\n").await;
    let mut p = quiet_hdrs(&s).await;
    for &b in b"PUB foo.bar rr 12\r\nhello\r\nworld\r\n" {
        p.send(&[b]).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sub.expect(b"MSG foo.bar 42 rr 12\r\nhello\r\nworld\r\n")
        .await;
    for &b in b"HPUB foo.bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" {
        p.send(&[b]).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // `sub` did not announce headers: it receives the stripped message.
    sub.expect(b"MSG foo.bar 42 2\r\nhi\r\n").await;
    p.ping_pong().await;
}

#[tokio::test]
async fn raw_unsub_and_auto_unsub() {
    let s = TestServer::start_default();
    let mut sub = subscriber(
        &s,
        QUIET,
        &[
            "SUB foo 1",
            "UNSUB 1 2",
            "SUB bar 3",
            "UNSUB 3",
            "SUB end 9",
        ],
    )
    .await;
    let mut p = quiet(&s).await;
    p.send(b"PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPUB bar 1\r\nd\r\nPUB end 1\r\ne\r\n")
        .await;
    sub.expect(b"MSG foo 1 1\r\na\r\n").await;
    sub.expect(b"MSG foo 1 1\r\nb\r\n").await;
    sub.expect(b"MSG end 9 1\r\ne\r\n").await;

    // UNSUB sid N with N <= already delivered removes immediately; unknown sids are ignored.
    sub.send(b"SUB baz 4\r\nPING\r\n").await;
    sub.expect(b"PONG\r\n").await;
    p.send(b"PUB baz 1\r\nf\r\n").await;
    sub.expect(b"MSG baz 4 1\r\nf\r\n").await;
    sub.send(b"UNSUB 4 1\r\nUNSUB 999\r\nPING\r\n").await;
    sub.expect(b"PONG\r\n").await;
    p.send(b"PUB baz 1\r\ng\r\nPUB end 1\r\nh\r\n").await;
    sub.expect(b"MSG end 9 1\r\nh\r\n").await;
    sub.ping_pong().await;
}

#[tokio::test]
async fn duplicate_sid_keeps_first_subscription() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET, &["SUB foo 1", "SUB bar 1", "SUB end 2"]).await;
    let mut p = quiet(&s).await;
    p.send(b"PUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\nPUB end 1\r\ne\r\n")
        .await;
    sub.expect(b"MSG foo 1 1\r\nf\r\n").await;
    sub.expect(b"MSG end 2 1\r\ne\r\n").await;
}

#[tokio::test]
async fn raw_overlapping_subs_and_queue_on_one_connection() {
    let s = TestServer::start_default();
    let mut sub = subscriber(
        &s,
        QUIET,
        &["SUB q.a grp 1", "SUB q.a grp 2", "SUB q.* 3", "SUB q.> 4"],
    )
    .await;
    let mut p = quiet(&s).await;
    for i in 0..20 {
        p.send(format!("PUB q.a 2\r\n{i:02}\r\n").as_bytes()).await;
        // one MSG per plain sub + exactly one for the group, in some order
        let mut sids = Vec::new();
        for _ in 0..3 {
            let line = sub.read_line().await;
            let text = String::from_utf8(line).unwrap();
            let parts: Vec<&str> = text.trim_end().split(' ').collect();
            assert_eq!(parts.len(), 4, "{text:?}");
            assert_eq!((parts[0], parts[1], parts[3]), ("MSG", "q.a", "2"));
            sids.push(parts[2].to_string());
            let payload = sub.read_exact(4).await;
            assert_eq!(payload, format!("{i:02}\r\n").into_bytes());
        }
        sids.sort();
        assert!(
            sids == ["1", "3", "4"] || sids == ["2", "3", "4"],
            "sids {sids:?}"
        );
    }
    p.ping_pong().await;
    sub.ping_pong().await;
}

#[tokio::test]
async fn empty_token_publish_subject_matches_nothing() {
    let s = TestServer::start_default();
    let mut sub = subscriber(&s, QUIET, &["SUB > 1"]).await;
    let mut p = quiet(&s).await;
    p.send(b"PUB foo..bar 1\r\na\r\nPUB .foo 1\r\nb\r\nPUB foo. 1\r\nc\r\nPUB ok 1\r\nd\r\n")
        .await;
    sub.expect(b"MSG ok 1 1\r\nd\r\n").await;
    p.ping_pong().await;
}

#[tokio::test]
async fn echo_false_suppresses_own_messages() {
    let s = TestServer::start_default();
    let mut c = RawConn::connect_with(s.port, r#"{"verbose":false,"echo":false}"#).await;
    c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
    let mut p = quiet(&s).await;
    p.send(b"PUB foo 1\r\nb\r\n").await;
    c.expect(b"MSG foo 1 1\r\nb\r\n").await;
}
