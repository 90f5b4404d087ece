//! KV scenarios on a bucket built the way the NATS clients build one (a
//! stream `KV_<bucket>` on `$KV.<bucket>.>`, one message kept per key, rollup
//! headers and direct get allowed, deletes denied): `kv-put` (P writers,
//! W outstanding acks each, K keys) and `kv-get` (P readers, W outstanding
//! direct gets each, every reply checked against the key's known sequence).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::js::{
    api, control, header_u64, header_value, prefill, publish_to, window_params, PublishJob,
    RoundTrips, PREFILL_ACK_TIMEOUT, PREFILL_LIMIT,
};
use super::{Common, JsOptions, Progress, ScenarioError, CONNECT_TIMEOUT, WRITE_TIMEOUT};
use crate::conn::{unique_token, Conn, ReqConn};
use crate::payload::now_ns;
use crate::proto::{self, ServerFrame};
use crate::reader::Fill;
use crate::result::{new_histogram, Params, RunResult, Verification};

/// The stream behind a bucket.
pub fn kv_stream(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// The subject of key number `i` (`$KV.<bucket>.k<i>`).
pub fn key_subject(bucket: &str, i: u64) -> String {
    format!("$KV.{bucket}.k{i}")
}

fn validate(o: &JsOptions) -> Result<(), ScenarioError> {
    if o.keys == 0 {
        return Err(ScenarioError::Options("--keys must be at least 1".into()));
    }
    if o.bucket.is_empty()
        || o.bucket
            .contains(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
    {
        return Err(ScenarioError::Options(
            "--bucket must be letters, digits, '_' or '-'".into(),
        ));
    }
    Ok(())
}

/// Deletes (if present) and creates the bucket's stream with history 1.
fn fresh_bucket(ctl: &mut ReqConn, o: &JsOptions) -> Result<String, ScenarioError> {
    let stream = kv_stream(&o.bucket);
    let _ = api(
        ctl,
        &format!("$JS.API.STREAM.DELETE.{stream}"),
        &Value::Null,
    );
    api(
        ctl,
        &format!("$JS.API.STREAM.CREATE.{stream}"),
        &json!({
            "name": stream,
            "subjects": [format!("$KV.{}.>", o.bucket)],
            "storage": o.storage,
            "retention": "limits",
            "discard": "new",
            "max_msgs_per_subject": 1,
            "num_replicas": 1,
            "allow_rollup_hdrs": true,
            "deny_delete": true,
            "deny_purge": false,
            "allow_direct": true,
        }),
    )?;
    Ok(stream)
}

fn delete_stream(ctl: &mut ReqConn, o: &JsOptions, stream: &str) {
    if !o.keep {
        let _ = api(
            ctl,
            &format!("$JS.API.STREAM.DELETE.{stream}"),
            &Value::Null,
        );
    }
}

fn keys(o: &JsOptions) -> Vec<String> {
    (0..o.keys).map(|i| key_subject(&o.bucket, i)).collect()
}

/// `kv-put`: P writers put to K keys with W outstanding acks each.
pub fn run_put(c: &Common, o: &JsOptions) -> Result<RunResult, ScenarioError> {
    validate(o)?;
    let (mut ctl, server) = control(c)?;
    let stream = fresh_bucket(&mut ctl, o)?;
    let progress = Progress::new(c.progress, "kv-put");
    let (outs, start_ns) = publish_to(
        c,
        &stream,
        &keys(o),
        &PublishJob {
            pubs: c.pubs,
            msgs: c.msgs,
            window: o.window,
            limit: c.duration,
            ack_timeout: c.drain_timeout,
        },
        Some(&progress),
    )?;
    progress.finish();
    let mut v = Verification::default();
    let mut hist = new_histogram();
    let (mut sent, mut acked, mut end_ns, mut widest) = (0, 0, start_ns, 0);
    for out in &outs {
        sent += out.sent;
        acked += out.acked;
        widest = widest.max(out.acked);
        v.lost += out.lost;
        v.out_of_order += out.out_of_order;
        v.duplicates += out.duplicates;
        end_ns = end_ns.max(out.end_ns);
        v.errors.extend(out.errors.iter().cloned());
        if let Some(h) = &out.hist {
            hist.add(h).expect("same bounds");
        }
    }
    v.checked
        .push("every put acked as stored, sequences increasing per writer".into());
    // Writer i puts its n-th value to key n % K: the bucket holds the keys
    // the busiest writer reached, and the last sequence counts every put.
    let want_keys = widest.min(o.keys);
    match api(
        &mut ctl,
        &format!("$JS.API.STREAM.INFO.{stream}"),
        &Value::Null,
    ) {
        Ok(info) => {
            let msgs = info.pointer("/state/messages").and_then(Value::as_u64);
            let last = info.pointer("/state/last_seq").and_then(Value::as_u64);
            if msgs == Some(want_keys) && last == Some(acked) {
                v.checked.push(format!(
                    "bucket holds {want_keys} keys, last sequence {acked} = puts acked"
                ));
            } else {
                v.errors.push(format!(
                    "bucket holds {msgs:?} values with last sequence {last:?}; \
                     expected {want_keys} keys and last sequence {acked}"
                ));
            }
        }
        Err(e) => v.errors.push(format!("stream info: {e}")),
    }
    delete_stream(&mut ctl, o, &stream);
    v.finish();
    Ok(RoundTrips {
        scenario: "kv-put",
        headline: "puts",
        latency_label: "put→ack round trip",
        params: Params {
            keys: Some(o.keys),
            ..window_params(c, o, 1)
        },
        sent,
        answered: acked,
        start_ns,
        end_ns,
    }
    .result(c, server, &hist, v))
}

struct GetPlan {
    id: u32,
    readers: u32,
    quota: u64,
    keys: u64,
    window: usize,
    bucket: String,
    size: usize,
    inbox_prefix: Vec<u8>,
    deadline_ns: u64,
    reply_timeout: Duration,
}

#[derive(Default)]
struct GetOutcome {
    sent: u64,
    answered: u64,
    lost: u64,
    end_ns: u64,
    errors: Vec<String>,
    hist: Option<hdrhistogram::Histogram<u64>>,
}

/// One in-flight direct get: request number, key, send time.
#[derive(Clone, Copy)]
struct Slot {
    n: u64,
    key: u64,
    sent_ns: u64,
}

/// Checks one direct-get reply for key `key` (stored at sequence `key + 1`).
fn check_get(m: &proto::Msg<'_>, bucket: &str, key: u64, size: usize) -> Result<(), String> {
    let Some(h) = m.headers else {
        return Err(format!("key {key}: reply without headers"));
    };
    if let Some(status) = m.status() {
        return Err(format!(
            "key {key}: status {status} ({})",
            String::from_utf8_lossy(h).trim()
        ));
    }
    let seq = header_u64(h, b"Nats-Sequence");
    if seq != Some(key + 1) {
        return Err(format!(
            "key {key}: Nats-Sequence {seq:?}, expected {}",
            key + 1
        ));
    }
    let subject = key_subject(bucket, key);
    if header_value(h, b"Nats-Subject") != Some(subject.as_bytes()) {
        return Err(format!("key {key}: Nats-Subject is not {subject}"));
    }
    if m.payload.len() != size {
        return Err(format!(
            "key {key}: value of {} bytes, expected {size}",
            m.payload.len()
        ));
    }
    Ok(())
}

fn getter(
    mut conn: Conn,
    plan: GetPlan,
    progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> GetOutcome {
    let mut out = GetOutcome {
        hist: Some(new_histogram()),
        ..Default::default()
    };
    let hist = out.hist.as_mut().expect("hist");
    let who = format!("kv reader {}", plan.id);
    let stream = kv_stream(&plan.bucket);
    let mut slots: Vec<Option<Slot>> = vec![None; plan.window];
    let mut inflight = 0usize;
    let mut n = 0u64;
    let mut reply = plan.inbox_prefix.clone();
    let mut idle_since = Instant::now();
    'run: loop {
        let now = now_ns();
        if now < plan.deadline_ns && !stop.load(Ordering::Acquire) {
            while inflight < plan.window && n < plan.quota {
                let slot = (n % plan.window as u64) as usize;
                if slots[slot].is_some() {
                    break; // the oldest request in this slot is still unanswered
                }
                let key = (u64::from(plan.id) + n * u64::from(plan.readers)) % plan.keys;
                let subject = format!(
                    "$JS.API.DIRECT.GET.{stream}.{}",
                    key_subject(&plan.bucket, key)
                );
                reply.truncate(plan.inbox_prefix.len());
                proto::push_u64(&mut reply, n);
                proto::push_pub(&mut conn.out, subject.as_bytes(), Some(&reply), b"");
                slots[slot] = Some(Slot {
                    n,
                    key,
                    sent_ns: now,
                });
                inflight += 1;
                n += 1;
            }
        }
        if let Err(e) = conn.flush_out() {
            out.errors.push(format!("{who}: write: {e}"));
            break;
        }
        if inflight == 0 {
            break;
        }
        let mut progressed = false;
        loop {
            let frame = match conn.reader.next_server() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    out.errors.push(format!("{who}: {e}"));
                    break 'run;
                }
            };
            match frame {
                ServerFrame::Msg(m) => {
                    let num = m
                        .subject
                        .strip_prefix(plan.inbox_prefix.as_slice())
                        .and_then(proto::parse_u64);
                    let slot = num.map(|x| (x % plan.window as u64) as usize);
                    let found = match (num, slot) {
                        (Some(x), Some(i)) => slots[i].filter(|s| s.n == x).map(|s| (i, s)),
                        _ => None,
                    };
                    let Some((i, s)) = found else {
                        out.errors.push(format!(
                            "{who}: reply on unexpected subject {}",
                            String::from_utf8_lossy(m.subject)
                        ));
                        continue;
                    };
                    slots[i] = None;
                    inflight -= 1;
                    progressed = true;
                    match check_get(&m, &plan.bucket, s.key, plan.size) {
                        Ok(()) => {
                            out.answered += 1;
                            hist.saturating_record(now_ns().saturating_sub(s.sent_ns).max(1));
                        }
                        Err(e) => {
                            out.lost += 1;
                            if out.errors.len() < 100 {
                                out.errors.push(format!("{who}: {e}"));
                            }
                        }
                    }
                }
                ServerFrame::Ping => conn.out.extend_from_slice(b"PONG\r\n"),
                ServerFrame::Err(e) => out
                    .errors
                    .push(format!("{who}: -ERR '{}'", String::from_utf8_lossy(e))),
                _ => {}
            }
        }
        progress.store(out.answered, Ordering::Relaxed);
        if progressed {
            idle_since = Instant::now();
            continue;
        }
        match conn.reader.fill() {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::Timeout) => {
                if idle_since.elapsed() >= plan.reply_timeout {
                    out.errors.push(format!(
                        "{who}: {inflight} replies missing after {:?}",
                        plan.reply_timeout
                    ));
                    break;
                }
            }
            Ok(Fill::Eof) | Err(_) => {
                out.errors.push(format!("{who}: connection lost"));
                break;
            }
        }
    }
    out.lost += inflight as u64;
    out.sent = n;
    out.end_ns = now_ns();
    progress.store(out.answered, Ordering::Relaxed);
    conn.shutdown();
    out
}

/// `kv-get`: puts K keys (not measured), then P readers issue direct gets
/// with W outstanding each, checking every reply's key and sequence.
pub fn run_get(c: &Common, o: &JsOptions) -> Result<RunResult, ScenarioError> {
    validate(o)?;
    let (mut ctl, server) = control(c)?;
    let stream = fresh_bucket(&mut ctl, o)?;
    // One writer in key order: key i is stored at sequence i + 1.
    prefill(
        c,
        &mut ctl,
        &stream,
        &keys(o),
        &PublishJob {
            pubs: 1,
            msgs: o.keys,
            window: o.window.max(1),
            limit: PREFILL_LIMIT,
            ack_timeout: c.drain_timeout.max(PREFILL_ACK_TIMEOUT),
        },
    )?;
    let token = unique_token();
    let mut conns = Vec::new();
    for id in 0..c.pubs {
        let mut conn = Conn::connect(&c.url, &format!("loadgen-kv-get-{id}"), CONNECT_TIMEOUT)
            .map_err(|source| ScenarioError::Connect {
                url: c.url.clone(),
                source,
            })?;
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let prefix = format!("_INBOX.{token}.g{id}.");
        proto::push_sub(&mut conn.out, format!("{prefix}*").as_bytes(), None, 1);
        conn.roundtrip(CONNECT_TIMEOUT)?;
        conns.push((id, conn, prefix.into_bytes()));
    }
    let start_ns = now_ns();
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicU64>> = (0..c.pubs).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let handles: Vec<JoinHandle<GetOutcome>> = conns
        .into_iter()
        .map(|(id, conn, inbox_prefix)| {
            let extra = u64::from(u64::from(id) < c.msgs % u64::from(c.pubs));
            let plan = GetPlan {
                id,
                readers: c.pubs,
                quota: c.msgs / u64::from(c.pubs) + extra,
                keys: o.keys,
                window: o.window.max(1) as usize,
                bucket: o.bucket.clone(),
                size: c.size,
                inbox_prefix,
                deadline_ns: start_ns + c.duration.as_nanos() as u64,
                reply_timeout: c.drain_timeout,
            };
            let counter = Arc::clone(&counters[id as usize]);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("kv-get-{id}"))
                .spawn(move || getter(conn, plan, counter, stop))
                .expect("spawn kv reader")
        })
        .collect();
    let progress = Progress::new(c.progress, "kv-get");
    let hard = Instant::now() + c.duration + c.drain_timeout + Duration::from_secs(10);
    super::wait_until(hard, Duration::from_millis(100), || {
        progress.update(
            counters.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
            "gets",
        );
        handles.iter().all(|h| h.is_finished())
    });
    progress.finish();
    stop.store(true, Ordering::Release);
    let mut v = Verification::default();
    let mut hist = new_histogram();
    let (mut sent, mut answered, mut end_ns) = (0, 0, start_ns);
    for h in handles {
        let Ok(out) = h.join() else {
            v.errors.push("kv reader panicked".into());
            continue;
        };
        sent += out.sent;
        answered += out.answered;
        v.lost += out.lost;
        end_ns = end_ns.max(out.end_ns);
        v.errors.extend(out.errors);
        if let Some(h) = &out.hist {
            hist.add(h).expect("same bounds");
        }
    }
    v.checked.push(format!(
        "every get answered once with its key's subject, sequence and {}-byte value ({} keys)",
        c.size, o.keys
    ));
    delete_stream(&mut ctl, o, &stream);
    v.finish();
    Ok(RoundTrips {
        scenario: "kv-get",
        headline: "gets",
        latency_label: "direct get round trip",
        params: Params {
            keys: Some(o.keys),
            ..window_params(c, o, 1)
        },
        sent,
        answered,
        start_ns,
        end_ns,
    }
    .result(c, server, &hist, v))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn direct_get_replies_are_checked() {
        let ok_h = b"NATS/1.0\r\nNats-Stream: KV_b\r\nNats-Subject: $KV.b.k4\r\nNats-Sequence: 5\r\nNats-Time-Stamp: x\r\n\r\n";
        let m = |h: &'static [u8], p: &'static [u8]| proto::Msg {
            subject: b"_INBOX.x.g0.1",
            sid: 1,
            reply: None,
            headers: Some(h),
            payload: p,
        };
        assert_eq!(check_get(&m(ok_h, b"abcd"), "b", 4, 4), Ok(()));
        assert!(check_get(&m(ok_h, b"abcd"), "b", 3, 4).is_err());
        assert!(check_get(&m(ok_h, b"abc"), "b", 4, 4).is_err());
        assert!(check_get(
            &m(b"NATS/1.0 404 Message Not Found\r\n\r\n", b""),
            "b",
            4,
            0
        )
        .is_err());
        assert_eq!(kv_stream("b"), "KV_b");
    }
}
