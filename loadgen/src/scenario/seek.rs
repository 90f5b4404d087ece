//! `js-seek`: replay by start time. Prefills a stream with M messages,
//! takes the stored time T of the middle message, then R times creates an
//! ephemeral pull consumer with `deliver_policy: by_start_time` at T and
//! measures from sending the create to receiving the first message, which
//! must be the first message stored at or after T.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::js::{api, control, fresh_stream, parse_ack_subject, prefill, PublishJob};
use super::{Common, JsOptions, ScenarioError};
use crate::conn::{unique_token, Conn, OwnedMsg, ReqConn};
use crate::proto::{self, ServerFrame};
use crate::reader::Fill;
use crate::result::{new_histogram, Latency, Params, RunResult, Verification};

/// How long a seek's first message may take (pull request expiry).
pub const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a seek prefill may take (10 M messages on a slow server).
pub const SEEK_PREFILL_LIMIT: Duration = Duration::from_secs(1800);
/// How far back from the middle message to look for equal timestamps.
const MAX_EQUAL_TIMES: u64 = 1000;

/// The stored `time` of message `seq` (as the server formats it).
fn stored_time(ctl: &mut ReqConn, stream: &str, seq: u64) -> Result<String, ScenarioError> {
    let v = api(
        ctl,
        &format!("$JS.API.STREAM.MSG.GET.{stream}"),
        &json!({ "seq": seq }),
    )?;
    v.pointer("/message/time")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ScenarioError::JetStream {
            subject: format!("$JS.API.STREAM.MSG.GET.{stream}"),
            detail: format!("message {seq} has no time: {v}"),
        })
}

/// Sends a pull request for one message and waits for what arrives on the
/// inbox: the message (delivered under its own subject) or a status.
fn pull_one(
    conn: &mut Conn,
    next: &[u8],
    inbox: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<OwnedMsg, String> {
    proto::push_pub(&mut conn.out, next, Some(inbox), body);
    let deadline = Instant::now() + timeout;
    loop {
        conn.flush_out().map_err(|e| format!("write: {e}"))?;
        while let Some(f) = conn.reader.next_server().map_err(|e| e.to_string())? {
            match f {
                ServerFrame::Msg(m) => {
                    return Ok(OwnedMsg {
                        subject: m.subject.to_vec(),
                        reply: m.reply.map(<[u8]>::to_vec),
                        headers: m.headers.map(<[u8]>::to_vec),
                        payload: m.payload.to_vec(),
                    })
                }
                ServerFrame::Ping => conn.out.extend_from_slice(b"PONG\r\n"),
                ServerFrame::Err(e) => {
                    return Err(format!("-ERR '{}'", String::from_utf8_lossy(e)))
                }
                _ => {}
            }
        }
        conn.flush_out().map_err(|e| format!("write: {e}"))?;
        match conn.reader.fill() {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::Timeout) if Instant::now() < deadline => {}
            Ok(Fill::Timeout) => return Err("no message before the pull expired".into()),
            Ok(Fill::Eof) | Err(_) => return Err("connection lost".into()),
        }
    }
}

/// `js-seek`: see the module documentation.
pub fn run(c: &Common, o: &JsOptions) -> Result<RunResult, ScenarioError> {
    if o.repeats == 0 {
        return Err(ScenarioError::Options(
            "--repeats must be at least 1".into(),
        ));
    }
    if c.msgs < 2 {
        return Err(ScenarioError::Options(
            "js-seek needs at least 2 messages (--msgs)".into(),
        ));
    }
    let (mut ctl, server) = control(c)?;
    let subjects = c.subject_names();
    fresh_stream(&mut ctl, o, &subjects)?;
    let fill_start = Instant::now();
    let total = prefill(
        c,
        &mut ctl,
        &o.stream,
        &subjects,
        &PublishJob {
            pubs: c.pubs,
            msgs: c.msgs,
            window: o.window.max(1),
            limit: SEEK_PREFILL_LIMIT,
            ack_timeout: c.drain_timeout.max(super::js::PREFILL_ACK_TIMEOUT),
        },
    )?;
    let fill_s = fill_start.elapsed().as_secs_f64();
    // T = the middle message's stored time; the expected first message is
    // the earliest one stored at T (timestamps may repeat).
    let mid = total / 2;
    let t = stored_time(&mut ctl, &o.stream, mid)?;
    let mut expected = mid;
    while expected > 1
        && mid - expected < MAX_EQUAL_TIMES
        && stored_time(&mut ctl, &o.stream, expected - 1)? == t
    {
        expected -= 1;
    }
    let mut v = Verification::default();
    let mut hist = new_histogram();
    let mut create_hist = new_histogram();
    let token = unique_token();
    let inbox = format!("_INBOX.{token}.seek").into_bytes();
    let mut puller =
        Conn::connect(&c.url, "loadgen-seek", super::CONNECT_TIMEOUT).map_err(|source| {
            ScenarioError::Connect {
                url: c.url.clone(),
                source,
            }
        })?;
    proto::push_sub(&mut puller.out, &inbox, None, 1);
    puller.roundtrip(super::CONNECT_TIMEOUT)?;
    let mut done = 0u64;
    let mut seek_ns_total = 0u64;
    for r in 0..o.repeats {
        let name = format!("seek{token}x{r}");
        let create_subject = format!("$JS.API.CONSUMER.CREATE.{}.{name}", o.stream);
        let body = json!({
            "stream_name": o.stream,
            "config": {
                "name": name,
                "deliver_policy": "by_start_time",
                "opt_start_time": t,
                "ack_policy": "none",
                "replay_policy": "instant",
                "inactive_threshold": Duration::from_secs(60).as_nanos() as u64,
            },
            "action": "create",
        });
        let next = format!("$JS.API.CONSUMER.MSG.NEXT.{}.{name}", o.stream);
        let pull = json!({"batch": 1, "expires": FIRST_MESSAGE_TIMEOUT.as_nanos() as u64})
            .to_string()
            .into_bytes();
        let t0 = Instant::now();
        api(&mut ctl, &create_subject, &body)?;
        let created = t0.elapsed();
        let first = pull_one(
            &mut puller,
            next.as_bytes(),
            &inbox,
            &pull,
            FIRST_MESSAGE_TIMEOUT + Duration::from_secs(5),
        )
        .map_err(|detail| ScenarioError::JetStream {
            subject: next.clone(),
            detail,
        });
        let took = t0.elapsed();
        let _ = api(
            &mut ctl,
            &format!("$JS.API.CONSUMER.DELETE.{}.{name}", o.stream),
            &Value::Null,
        );
        let first = first?;
        let status = first.headers.as_deref().and_then(|h| {
            proto::Msg {
                subject: &[],
                sid: 0,
                reply: None,
                headers: Some(h),
                payload: &[],
            }
            .status()
        });
        if let Some(s) = status {
            v.lost += 1;
            v.errors
                .push(format!("seek {r}: status {s} instead of a message"));
            continue;
        }
        let got = first.reply.as_deref().and_then(parse_ack_subject);
        match got {
            Some(a) if a.stream_seq == expected => {
                done += 1;
                seek_ns_total += took.as_nanos() as u64;
                hist.saturating_record((took.as_nanos() as u64).max(1));
                create_hist.saturating_record((created.as_nanos() as u64).max(1));
            }
            Some(a) => {
                v.out_of_order += 1;
                v.errors.push(format!(
                    "seek {r}: first message is sequence {}, expected {expected} (first at or after {t})",
                    a.stream_seq
                ));
            }
            None => {
                v.lost += 1;
                v.errors
                    .push(format!("seek {r}: first message has no $JS.ACK reply"));
            }
        }
    }
    v.checked.push(format!(
        "{done} of {} consumers started at sequence {expected} of {total} (first stored at or after {t}); prefill {:.1} s ({:.0} msgs/s)",
        o.repeats,
        fill_s,
        total as f64 / fill_s.max(1e-9)
    ));
    if let Some(l) = Latency::from_histogram(&create_hist, "create") {
        v.checked.push(format!(
            "consumer create alone: p50 {:.2} ms, max {:.2} ms",
            l.p50_us / 1000.0,
            l.max_us / 1000.0
        ));
    }
    if !o.keep {
        let _ = api(
            &mut ctl,
            &format!("$JS.API.STREAM.DELETE.{}", o.stream),
            &Value::Null,
        );
    }
    v.finish();
    let elapsed = (seek_ns_total as f64 / 1e9).max(1e-9);
    Ok(RunResult {
        scenario: "js-seek".into(),
        url: c.url.clone(),
        server,
        params: Params {
            size: c.size,
            pubs: c.pubs,
            subs: 1,
            subjects: subjects.len() as u32,
            msgs: c.msgs,
            duration_s: 0.0,
            window: Some(o.window),
            repeats: Some(o.repeats),
            ..Default::default()
        },
        sent: u64::from(o.repeats),
        expected: u64::from(o.repeats),
        received: done,
        elapsed_s: elapsed,
        pub_msgs_per_s: 0.0,
        recv_msgs_per_s: done as f64 / elapsed,
        msgs_per_s: done as f64 / elapsed,
        mb_per_s: 0.0,
        headline: "seeks".into(),
        latency: Latency::from_histogram(&hist, "consumer create → first message"),
        send_lag: None,
        verification: v,
    })
}
