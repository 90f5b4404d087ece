//! JetStream scenarios over plain NATS request/reply: `js-pub` (publish
//! with W outstanding acks per publisher, every ack checked) and
//! `js-consume` (a durable pull consumer drained by S pullers in batches of
//! B, or a push consumer with flow control and idle heartbeats, with
//! explicit acks or none). The helpers here (API calls, ack parsing, the
//! windowed publisher) are shared with the KV and seek scenarios.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Common, JsOptions, Progress, ScenarioError, CONNECT_TIMEOUT, WRITE_TIMEOUT};
use crate::conn::{unique_token, Conn, ReqConn};
use crate::payload::{self, now_ns, SeqSet};
use crate::proto::{self, ServerFrame};
use crate::reader::Fill;
use crate::result::{new_histogram, Latency, Params, RunResult, Verification};

/// How long a JetStream API call may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest wait for acks during the (unmeasured) js-consume prefill.
pub const PREFILL_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Pull request expiry (ns in the request body).
pub const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// Idle heartbeat of push consumers (flow control needs one).
pub const PUSH_HEARTBEAT: Duration = Duration::from_secs(1);
/// Longest a prefill for `js-consume` may take.
pub const PREFILL_LIMIT: Duration = Duration::from_secs(300);

/// Sends one JetStream API request and returns the JSON reply, turning an
/// `error` object into [`ScenarioError::JetStream`].
pub fn api(ctl: &mut ReqConn, subject: &str, body: &Value) -> Result<Value, ScenarioError> {
    let payload = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let reply =
        ctl.request(subject, &payload, API_TIMEOUT)
            .map_err(|e| ScenarioError::JetStream {
                subject: subject.to_owned(),
                detail: e.to_string(),
            })?;
    let v: Value =
        serde_json::from_slice(&reply.payload).map_err(|e| ScenarioError::JetStream {
            subject: subject.to_owned(),
            detail: format!(
                "reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&reply.payload)
            ),
        })?;
    if let Some(err) = v.get("error") {
        return Err(ScenarioError::JetStream {
            subject: subject.to_owned(),
            detail: err
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_owned(),
        });
    }
    Ok(v)
}

/// Deletes (if present) and creates the stream so sequences start at 1.
pub(crate) fn fresh_stream(
    ctl: &mut ReqConn,
    o: &JsOptions,
    subjects: &[String],
) -> Result<(), ScenarioError> {
    let _ = api(
        ctl,
        &format!("$JS.API.STREAM.DELETE.{}", o.stream),
        &Value::Null,
    );
    api(
        ctl,
        &format!("$JS.API.STREAM.CREATE.{}", o.stream),
        &json!({
            "name": o.stream,
            "subjects": subjects,
            "storage": o.storage,
            "retention": "limits",
            "discard": "old",
            "num_replicas": 1,
        }),
    )?;
    Ok(())
}

/// Reads `state.messages` of a stream.
pub(crate) fn stream_messages(ctl: &mut ReqConn, stream: &str) -> Result<u64, ScenarioError> {
    let v = api(ctl, &format!("$JS.API.STREAM.INFO.{stream}"), &Value::Null)?;
    Ok(v.pointer("/state/messages")
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parsed publish acknowledgement.
#[derive(Debug, PartialEq, Eq)]
pub enum Ack {
    /// Stored at this stream sequence.
    Stored {
        /// Stream sequence.
        seq: u64,
        /// The server reported a duplicate.
        duplicate: bool,
    },
    /// Refused, with the server's description.
    Refused(String),
}

/// Parses a PubAck body without a JSON parser on the success path.
pub fn parse_ack(body: &[u8], stream: &str) -> Ack {
    if find(body, b"\"error\"").is_some() {
        let desc = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        return Ack::Refused(desc);
    }
    let want = format!("\"stream\":\"{stream}\"");
    if find(body, want.as_bytes()).is_none() {
        return Ack::Refused(format!(
            "ack not from stream {stream}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    let Some(at) = find(body, b"\"seq\":") else {
        return Ack::Refused(format!(
            "ack without seq: {}",
            String::from_utf8_lossy(body)
        ));
    };
    let digits: &[u8] = {
        let rest = &body[at + 6..];
        let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        &rest[..n]
    };
    match proto::parse_u64(digits) {
        Some(seq) => Ack::Stored {
            seq,
            duplicate: find(body, b"\"duplicate\"").is_some(),
        },
        None => Ack::Refused(format!(
            "ack with bad seq: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

struct JsPubPlan {
    id: u32,
    quota: u64,
    size: usize,
    subjects: Vec<Vec<u8>>,
    window: usize,
    deadline_ns: u64,
    stream: String,
    inbox: Vec<u8>,
    /// How long to wait without any ack before declaring the rest lost.
    ack_timeout: Duration,
}

/// What one windowed JetStream publisher saw.
#[derive(Default)]
pub(crate) struct JsPubOutcome {
    /// Publishes sent.
    pub sent: u64,
    /// Acks that reported the message stored.
    pub acked: u64,
    /// Publishes never acked, or refused.
    pub lost: u64,
    /// Acks whose sequence was not above the previous one.
    pub out_of_order: u64,
    /// Acks flagged duplicate.
    pub duplicates: u64,
    /// When the last ack arrived (payload clock, ns).
    pub end_ns: u64,
    /// Everything that went wrong.
    pub errors: Vec<String>,
    /// Publish→ack latency.
    pub hist: Option<hdrhistogram::Histogram<u64>>,
}

fn js_publisher(mut conn: Conn, plan: JsPubPlan, progress: Arc<AtomicU64>) -> JsPubOutcome {
    let mut out = JsPubOutcome {
        hist: Some(new_histogram()),
        ..Default::default()
    };
    let hist = out.hist.as_mut().expect("hist");
    let mut inflight: VecDeque<u64> = VecDeque::with_capacity(plan.window);
    let mut body = vec![b'j'; plan.size];
    let k = plan.subjects.len() as u64;
    let mut last_seq = 0u64;
    let mut idle_since = Instant::now();
    let mut n = 0u64;
    'run: loop {
        let now = now_ns();
        if now < plan.deadline_ns {
            while inflight.len() < plan.window && n < plan.quota {
                payload::stamp(&mut body, payload::seq_word(plan.id, n), now);
                proto::push_pub(
                    &mut conn.out,
                    &plan.subjects[(n % k) as usize],
                    Some(&plan.inbox),
                    &body,
                );
                inflight.push_back(now);
                n += 1;
            }
        }
        if let Err(e) = conn.flush_out() {
            out.errors
                .push(format!("js publisher {}: write: {e}", plan.id));
            out.lost += inflight.len() as u64;
            break;
        }
        if inflight.is_empty() {
            break;
        }
        let mut progressed = false;
        loop {
            let frame = match conn.reader.next_server() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    out.errors.push(format!("js publisher {}: {e}", plan.id));
                    out.lost += inflight.len() as u64;
                    break 'run;
                }
            };
            match frame {
                ServerFrame::Msg(m) if m.subject == plan.inbox.as_slice() => {
                    let Some(sent_at) = inflight.pop_front() else {
                        out.errors
                            .push(format!("js publisher {}: ack without publish", plan.id));
                        continue;
                    };
                    progressed = true;
                    if m.status() == Some(503) {
                        out.errors.push(format!(
                            "js publisher {}: no stream captures the subject (503)",
                            plan.id
                        ));
                        out.lost += 1;
                        continue;
                    }
                    match parse_ack(m.payload, &plan.stream) {
                        Ack::Stored { seq, duplicate } => {
                            if duplicate {
                                out.duplicates += 1;
                            }
                            if seq <= last_seq {
                                out.out_of_order += 1;
                            }
                            last_seq = seq;
                            out.acked += 1;
                            hist.saturating_record(now_ns().saturating_sub(sent_at).max(1));
                        }
                        Ack::Refused(why) => {
                            out.lost += 1;
                            if out.errors.len() < 100 {
                                out.errors
                                    .push(format!("js publisher {}: refused: {why}", plan.id));
                            }
                        }
                    }
                }
                ServerFrame::Ping => conn.out.extend_from_slice(b"PONG\r\n"),
                ServerFrame::Err(e) => out.errors.push(format!(
                    "js publisher {}: -ERR '{}'",
                    plan.id,
                    String::from_utf8_lossy(e)
                )),
                _ => {}
            }
        }
        progress.store(out.acked, Ordering::Relaxed);
        if progressed {
            idle_since = Instant::now();
            continue;
        }
        match conn.reader.fill() {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::Timeout) => {
                if idle_since.elapsed() >= plan.ack_timeout {
                    out.errors.push(format!(
                        "js publisher {}: {} acks missing after {:?}",
                        plan.id,
                        inflight.len(),
                        plan.ack_timeout
                    ));
                    out.lost += inflight.len() as u64;
                    break;
                }
            }
            Ok(Fill::Eof) | Err(_) => {
                out.errors
                    .push(format!("js publisher {}: connection lost", plan.id));
                out.lost += inflight.len() as u64;
                break;
            }
        }
    }
    out.sent = n;
    out.end_ns = now_ns();
    progress.store(out.acked, Ordering::Relaxed);
    conn.shutdown();
    out
}

/// How many JetStream publishers publish what, for how long.
pub(crate) struct PublishJob {
    /// Publisher connections.
    pub pubs: u32,
    /// Messages in total.
    pub msgs: u64,
    /// Outstanding acks per publisher.
    pub window: u32,
    /// Time cap for publishing.
    pub limit: Duration,
    /// Longest wait without any ack before the rest count as lost.
    pub ack_timeout: Duration,
}

/// Connects the job's publishers and runs them, publishing message `n` to
/// `subjects[n % len]`; returns outcomes and the start time.
pub(crate) fn publish_to(
    c: &Common,
    stream: &str,
    subjects: &[String],
    job: &PublishJob,
    progress: Option<&Progress>,
) -> Result<(Vec<JsPubOutcome>, u64), ScenarioError> {
    let PublishJob {
        pubs,
        msgs,
        window,
        limit,
        ack_timeout,
    } = *job;
    let subjects: Vec<Vec<u8>> = subjects.iter().map(|s| s.as_bytes().to_vec()).collect();
    let token = unique_token();
    let mut conns = Vec::new();
    for id in 0..pubs {
        let mut conn = Conn::connect(&c.url, &format!("loadgen-js-pub-{id}"), CONNECT_TIMEOUT)
            .map_err(|source| ScenarioError::Connect {
                url: c.url.clone(),
                source,
            })?;
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let inbox = format!("_INBOX.{token}.ack{id}").into_bytes();
        proto::push_sub(&mut conn.out, &inbox, None, 1);
        conn.roundtrip(CONNECT_TIMEOUT)?;
        conns.push((id, conn, inbox));
    }
    let start_ns = now_ns();
    let counters: Vec<Arc<AtomicU64>> = (0..pubs).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let handles: Vec<JoinHandle<JsPubOutcome>> = conns
        .into_iter()
        .map(|(id, conn, inbox)| {
            let extra = u64::from(u64::from(id) < msgs % u64::from(pubs));
            let plan = JsPubPlan {
                id,
                quota: msgs / u64::from(pubs) + extra,
                size: c.size,
                subjects: subjects.clone(),
                window: window.max(1) as usize,
                deadline_ns: start_ns + limit.as_nanos() as u64,
                stream: stream.to_owned(),
                inbox,
                ack_timeout,
            };
            let counter = Arc::clone(&counters[id as usize]);
            std::thread::Builder::new()
                .name(format!("js-pub-{id}"))
                .spawn(move || js_publisher(conn, plan, counter))
                .expect("spawn js publisher")
        })
        .collect();
    let hard = Instant::now() + limit + ack_timeout + Duration::from_secs(10);
    super::wait_until(hard, Duration::from_millis(100), || {
        if let Some(p) = progress {
            p.update(
                counters.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
                "acked",
            );
        }
        handles.iter().all(|h| h.is_finished())
    });
    let mut outs = Vec::new();
    for h in handles {
        if !h.is_finished() {
            outs.push(JsPubOutcome {
                errors: vec!["js publisher did not finish in time".into()],
                ..Default::default()
            });
            continue;
        }
        outs.push(h.join().unwrap_or_else(|_| JsPubOutcome {
            errors: vec!["js publisher panicked".into()],
            ..Default::default()
        }));
    }
    Ok((outs, start_ns))
}

/// [`publish_to`] the scenario's own stream and subjects.
fn publish_all(
    c: &Common,
    o: &JsOptions,
    job: &PublishJob,
    progress: Option<&Progress>,
) -> Result<(Vec<JsPubOutcome>, u64), ScenarioError> {
    publish_to(c, &o.stream, &c.subject_names(), job, progress)
}

/// Prefills a fresh stream with `msgs` messages (not measured), failing
/// unless every publish was acked and the stream holds exactly that many.
pub(crate) fn prefill(
    c: &Common,
    ctl: &mut ReqConn,
    stream: &str,
    subjects: &[String],
    job: &PublishJob,
) -> Result<u64, ScenarioError> {
    let (outs, _) = publish_to(c, stream, subjects, job, None)?;
    let acked: u64 = outs.iter().map(|x| x.acked).sum();
    if let Some(e) = outs.iter().flat_map(|x| x.errors.iter()).next() {
        return Err(ScenarioError::JetStream {
            subject: "prefill".into(),
            detail: e.clone(),
        });
    }
    let total = stream_messages(ctl, stream)?;
    if total != acked || acked != job.msgs {
        return Err(ScenarioError::JetStream {
            subject: "prefill".into(),
            detail: format!(
                "stream holds {total} messages, {acked} acked, {} wanted",
                job.msgs
            ),
        });
    }
    Ok(total)
}

/// Connects the control connection (JetStream API requests) and checks
/// that the server announces JetStream; returns it with the server's name.
pub(crate) fn control(c: &Common) -> Result<(ReqConn, String), ScenarioError> {
    let conn = Conn::connect(&c.url, "loadgen-js-ctl", CONNECT_TIMEOUT).map_err(|source| {
        ScenarioError::Connect {
            url: c.url.clone(),
            source,
        }
    })?;
    let server = format!("{} {}", conn.info.server_name, conn.info.version);
    if !conn.info.jetstream {
        return Err(ScenarioError::JetStream {
            subject: "INFO".into(),
            detail: "server does not announce JetStream".into(),
        });
    }
    Ok((ReqConn::new(conn)?, server))
}

/// `js-pub`: publishes with a window of outstanding acks and checks every ack.
pub fn run_pub(c: &Common, o: &JsOptions) -> Result<RunResult, ScenarioError> {
    let (mut ctl, server) = control(c)?;
    let subjects = c.subject_names();
    fresh_stream(&mut ctl, o, &subjects)?;
    let progress = Progress::new(c.progress, "js-pub");
    let (outs, start_ns) = publish_all(
        c,
        o,
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
    let (mut sent, mut acked, mut end_ns) = (0, 0, start_ns);
    for out in &outs {
        sent += out.sent;
        acked += out.acked;
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
        .push("every publish acked as stored, sequences increasing per publisher".into());
    match stream_messages(&mut ctl, &o.stream) {
        Ok(stored) => {
            v.checked.push(format!("stream holds {stored} messages"));
            if stored != acked {
                v.errors.push(format!(
                    "stream holds {stored} messages but {acked} were acked"
                ));
            }
        }
        Err(e) => v.errors.push(format!("stream info: {e}")),
    }
    if !o.keep {
        let _ = api(
            &mut ctl,
            &format!("$JS.API.STREAM.DELETE.{}", o.stream),
            &Value::Null,
        );
    }
    v.finish();
    Ok(RoundTrips {
        scenario: "js-pub",
        headline: "acked",
        latency_label: "publish→ack round trip",
        params: window_params(c, o, subjects.len() as u32),
        sent,
        answered: acked,
        start_ns,
        end_ns,
    }
    .result(c, server, &hist, v))
}

/// The params of a run with `window` requests in flight per client.
pub fn window_params(c: &Common, o: &JsOptions, subjects: u32) -> Params {
    Params {
        size: c.size,
        pubs: c.pubs,
        subs: 0,
        subjects,
        msgs: c.msgs,
        duration_s: c.duration.as_secs_f64(),
        window: Some(o.window),
        ..Default::default()
    }
}

/// A windowed request/reply run (publish→ack, get→reply), as its result reports it.
pub struct RoundTrips<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// What `received` counts ("acked", "puts", …).
    pub headline: &'a str,
    /// What the latency histogram measured.
    pub latency_label: &'a str,
    /// Run parameters.
    pub params: Params,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered as expected.
    pub answered: u64,
    /// First send, unix ns.
    pub start_ns: u64,
    /// Last answer, unix ns.
    pub end_ns: u64,
}

impl RoundTrips<'_> {
    /// The run's result: rates over the time from the first send to the last answer.
    pub fn result(
        self,
        c: &Common,
        server: String,
        hist: &hdrhistogram::Histogram<u64>,
        verification: Verification,
    ) -> RunResult {
        let elapsed = (self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9).max(1e-9);
        let rate = self.answered as f64 / elapsed;
        RunResult {
            scenario: self.scenario.into(),
            url: c.url.clone(),
            server,
            params: self.params,
            sent: self.sent,
            expected: self.sent,
            received: self.answered,
            elapsed_s: elapsed,
            pub_msgs_per_s: self.sent as f64 / elapsed,
            recv_msgs_per_s: rate,
            msgs_per_s: rate,
            mb_per_s: rate * c.size as f64 / 1e6,
            headline: self.headline.into(),
            latency: Latency::from_histogram(hist, self.latency_label),
            send_lag: None,
            verification,
        }
    }
}

/// Fields of a `$JS.ACK…` reply subject the consumer checks.
#[derive(Debug, PartialEq, Eq)]
pub struct AckInfo {
    /// Delivery attempt (1 = first).
    pub delivered: u64,
    /// Stream sequence of the message.
    pub stream_seq: u64,
}

/// Reads delivery count and stream sequence from a v1 (9-token) or v2
/// (11/12-token, with domain and account hash) ack subject.
pub fn parse_ack_subject(reply: &[u8]) -> Option<AckInfo> {
    let mut toks = [&[][..]; 12];
    let mut n = 0;
    for t in reply.split(|&b| b == b'.') {
        if n == toks.len() {
            return None;
        }
        toks[n] = t;
        n += 1;
    }
    if toks[0] != b"$JS" || toks[1] != b"ACK" {
        return None;
    }
    let (d, s) = match n {
        9 => (4, 5),
        11 | 12 => (6, 7),
        _ => return None,
    };
    Some(AckInfo {
        delivered: proto::parse_u64(toks[d])?,
        stream_seq: proto::parse_u64(toks[s])?,
    })
}

/// The value of header `name` (case-sensitive, as the servers write it).
pub(crate) fn header_value<'a>(headers: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    headers.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
        Some(&rest[rest.iter().take_while(|b| **b == b' ').count()..])
    })
}

/// A numeric header value.
pub(crate) fn header_u64(headers: &[u8], name: &[u8]) -> Option<u64> {
    header_value(headers, name).and_then(proto::parse_u64)
}

struct PullPlan {
    idx: usize,
    next_subject: Vec<u8>,
    inbox: Vec<u8>,
    request: Vec<u8>,
    batch: u64,
    explicit: bool,
    /// Push consumer: no pull requests; answer flow control instead.
    push: bool,
    total: u64,
    deadline: Instant,
}

struct PullShared {
    consumed: AtomicU64,
    stop: AtomicBool,
}

struct PullOutcome {
    set: SeqSet,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    redelivered: u64,
    /// Flow-control requests answered (push).
    flow_control: u64,
    /// Idle heartbeats seen (push).
    heartbeats: u64,
    last_ns: u64,
    errors: Vec<String>,
}

fn puller(mut conn: Conn, plan: PullPlan, shared: Arc<PullShared>) -> PullOutcome {
    let mut out = PullOutcome {
        set: SeqSet::default(),
        received: 0,
        duplicates: 0,
        out_of_order: 0,
        redelivered: 0,
        flow_control: 0,
        heartbeats: 0,
        last_ns: 0,
        errors: Vec::new(),
    };
    let who = format!("puller {}", plan.idx);
    let mut outstanding: u64 = 0;
    let mut last_seq = 0;
    'run: loop {
        if shared.stop.load(Ordering::Acquire)
            || shared.consumed.load(Ordering::Relaxed) >= plan.total
            || Instant::now() >= plan.deadline
        {
            break;
        }
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
                    if let Some(status) = m.status() {
                        let h = m.headers.unwrap_or_default();
                        match status {
                            100 if plan.push => {
                                if let Some(reply) = m.reply {
                                    // Flow-control request: an empty reply releases the consumer.
                                    proto::push_pub(&mut conn.out, reply, None, b"");
                                    out.flow_control += 1;
                                } else {
                                    // Idle heartbeat; a stalled consumer names the FC subject to answer.
                                    out.heartbeats += 1;
                                    if let Some(fc) = header_value(h, b"Nats-Consumer-Stalled") {
                                        proto::push_pub(&mut conn.out, fc, None, b"");
                                        out.flow_control += 1;
                                    }
                                }
                            }
                            100 => {}
                            404 | 408 => {
                                let unfilled =
                                    header_u64(h, b"Nats-Pending-Messages").unwrap_or(outstanding);
                                outstanding = outstanding.saturating_sub(unfilled);
                            }
                            _ => {
                                out.errors.push(format!(
                                    "{who}: status {}",
                                    String::from_utf8_lossy(h).trim()
                                ));
                                outstanding = 0;
                            }
                        }
                        continue;
                    }
                    let Some(info) = m.reply.and_then(parse_ack_subject) else {
                        out.errors
                            .push(format!("{who}: delivery without a $JS.ACK reply"));
                        continue;
                    };
                    outstanding = outstanding.saturating_sub(1);
                    out.received += 1;
                    if info.delivered > 1 {
                        out.redelivered += 1;
                    }
                    if info.stream_seq == 0 || !out.set.insert(info.stream_seq - 1) {
                        out.duplicates += 1;
                    }
                    if info.stream_seq <= last_seq {
                        out.out_of_order += 1;
                    }
                    last_seq = info.stream_seq;
                    if plan.explicit {
                        proto::push_pub(&mut conn.out, m.reply.unwrap_or_default(), None, b"+ACK");
                    }
                    shared.consumed.fetch_add(1, Ordering::Relaxed);
                    out.last_ns = now_ns();
                }
                ServerFrame::Ping => conn.out.extend_from_slice(b"PONG\r\n"),
                ServerFrame::Err(e) => out
                    .errors
                    .push(format!("{who}: -ERR '{}'", String::from_utf8_lossy(e))),
                _ => {}
            }
        }
        // Ask for more before blocking: keep up to two batches in flight.
        if !plan.push
            && outstanding <= plan.batch / 2
            && shared.consumed.load(Ordering::Relaxed) < plan.total
            && !shared.stop.load(Ordering::Acquire)
        {
            proto::push_pub(
                &mut conn.out,
                &plan.next_subject,
                Some(&plan.inbox),
                &plan.request,
            );
            outstanding += plan.batch;
        }
        if let Err(e) = conn.flush_out() {
            out.errors.push(format!("{who}: write: {e}"));
            break;
        }
        match conn.reader.fill() {
            Ok(Fill::Data(_)) | Ok(Fill::Timeout) => {}
            Ok(Fill::Eof) | Err(_) => {
                out.errors.push(format!("{who}: connection lost"));
                break;
            }
        }
    }
    // Make sure the server has read our last acks before the checks.
    if let Err(e) = conn
        .flush_out()
        .map_err(|e| e.to_string())
        .and_then(|_| conn.roundtrip(CONNECT_TIMEOUT).map_err(|e| e.to_string()))
    {
        out.errors.push(format!("{who}: final flush: {e}"));
    }
    conn.shutdown();
    out
}

/// `js-consume`: prefills a stream, then drains it with a durable pull
/// consumer (S pullers) or a push consumer with flow control (one subscriber).
pub fn run_consume(c: &Common, o: &JsOptions) -> Result<RunResult, ScenarioError> {
    if c.subs == 0 {
        return Err(ScenarioError::Options(
            "js-consume needs at least one puller (--subs)".into(),
        ));
    }
    if o.push && c.subs != 1 {
        return Err(ScenarioError::Options(
            "js-consume --push has exactly one subscriber (--subs 1)".into(),
        ));
    }
    if o.ack != "explicit" && o.ack != "none" {
        return Err(ScenarioError::Options(
            "--ack must be explicit or none".into(),
        ));
    }
    let (mut ctl, server) = control(c)?;
    let subjects = c.subject_names();
    fresh_stream(&mut ctl, o, &subjects)?;
    // Prefill, not measured.
    let total = prefill(
        c,
        &mut ctl,
        &o.stream,
        &subjects,
        &PublishJob {
            pubs: 1,
            msgs: c.msgs,
            window: o.window.max(1),
            limit: PREFILL_LIMIT,
            ack_timeout: c.drain_timeout.max(PREFILL_ACK_TIMEOUT),
        },
    )?;
    let explicit = o.ack == "explicit";
    let token = unique_token();
    let mut config = json!({
        "durable_name": o.durable,
        "deliver_policy": "all",
        "ack_policy": o.ack,
        "replay_policy": "instant",
    });
    if o.push {
        config["deliver_subject"] = json!(format!("_INBOX.{token}.push"));
        config["flow_control"] = json!(true);
        config["idle_heartbeat"] = json!(PUSH_HEARTBEAT.as_nanos() as u64);
    } else {
        config["max_waiting"] = json!(512);
    }
    if explicit {
        config["max_ack_pending"] = json!((u64::from(o.batch) * u64::from(c.subs) * 4).max(1000));
    }
    let create_subject = format!("$JS.API.CONSUMER.CREATE.{}.{}", o.stream, o.durable);
    let create_body = json!({"stream_name": o.stream, "config": config, "action": "create"});
    if !o.push {
        api(&mut ctl, &create_subject, &create_body)?;
    }

    let shared = Arc::new(PullShared {
        consumed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let request = json!({"batch": o.batch, "expires": PULL_EXPIRES.as_nanos() as u64})
        .to_string()
        .into_bytes();
    let mut conns = Vec::new();
    for i in 0..c.subs as usize {
        let mut conn = Conn::connect(&c.url, &format!("loadgen-puller-{i}"), CONNECT_TIMEOUT)
            .map_err(|source| ScenarioError::Connect {
                url: c.url.clone(),
                source,
            })?;
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let inbox = if o.push {
            format!("_INBOX.{token}.push").into_bytes()
        } else {
            format!("_INBOX.{token}.pull{i}").into_bytes()
        };
        proto::push_sub(&mut conn.out, &inbox, None, 1);
        conn.roundtrip(CONNECT_TIMEOUT)?;
        conns.push((i, conn, inbox));
    }
    let start_ns = now_ns();
    let start = Instant::now();
    let deadline = start + c.duration;
    let handles: Vec<JoinHandle<PullOutcome>> = conns
        .into_iter()
        .map(|(idx, conn, inbox)| {
            let plan = PullPlan {
                idx,
                next_subject: format!("$JS.API.CONSUMER.MSG.NEXT.{}.{}", o.stream, o.durable)
                    .into_bytes(),
                inbox,
                request: request.clone(),
                batch: u64::from(o.batch.max(1)),
                explicit,
                push: o.push,
                total,
                deadline,
            };
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("puller-{idx}"))
                .spawn(move || puller(conn, plan, shared))
                .expect("spawn puller")
        })
        .collect();
    if o.push {
        // The subscriber is listening: creating the consumer starts delivery,
        // so the measured time includes it.
        if let Err(e) = api(&mut ctl, &create_subject, &create_body) {
            shared.stop.store(true, Ordering::Release);
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
    }
    let progress = Progress::new(c.progress, "js-consume");
    let hard = deadline + c.drain_timeout + Duration::from_secs(5);
    // A consumer that stops delivering for --drain-timeout ends the run
    // (the missing sequences then count as lost) instead of idling to --duration.
    let mut last_progress = (0, Instant::now());
    let mut stalled = false;
    super::wait_until(hard, Duration::from_millis(50), || {
        let consumed = shared.consumed.load(Ordering::Relaxed);
        progress.update(consumed, "consumed");
        if consumed != last_progress.0 {
            last_progress = (consumed, Instant::now());
        } else if last_progress.1.elapsed() >= c.drain_timeout {
            stalled = true;
            shared.stop.store(true, Ordering::Release);
        }
        handles.iter().all(|h| h.is_finished())
    });
    progress.finish();
    shared.stop.store(true, Ordering::Release);
    let mut v = Verification::default();
    let mut union = SeqSet::default();
    let (mut received, mut last_ns, mut redelivered) = (0, start_ns, 0);
    let (mut flow_control, mut heartbeats) = (0, 0);
    for h in handles {
        let Ok(p) = h.join() else {
            v.errors.push("puller panicked".into());
            continue;
        };
        received += p.received;
        redelivered += p.redelivered;
        flow_control += p.flow_control;
        heartbeats += p.heartbeats;
        last_ns = last_ns.max(p.last_ns);
        v.duplicates += p.duplicates + union.merge(&p.set);
        v.out_of_order += p.out_of_order;
        v.errors.extend(p.errors);
    }
    v.lost = union.missing_below(total);
    if stalled {
        v.errors.push(format!(
            "no delivery for {:?}: stopped with {} of {total} consumed",
            c.drain_timeout, received
        ));
    }
    if redelivered > 0 {
        v.errors
            .push(format!("{redelivered} messages were redelivered"));
    }
    if o.push {
        v.checked.push(format!(
            "every stream sequence 1..={total} delivered once to the push subscriber \
             ({flow_control} flow-control requests answered, {heartbeats} idle heartbeats)"
        ));
    } else {
        v.checked.push(format!(
            "every stream sequence 1..={total} delivered once across {} puller(s)",
            c.subs
        ));
    }
    if explicit && v.lost == 0 {
        // Acks are applied asynchronously: poll the consumer until it settles.
        let info_subject = format!("$JS.API.CONSUMER.INFO.{}.{}", o.stream, o.durable);
        let mut last = String::new();
        let settled = super::wait_until(
            Instant::now() + Duration::from_secs(3),
            Duration::from_millis(50),
            || match api(&mut ctl, &info_subject, &Value::Null) {
                Ok(info) => {
                    let pending = info.get("num_ack_pending").and_then(Value::as_u64);
                    let floor = info
                        .pointer("/ack_floor/stream_seq")
                        .and_then(Value::as_u64);
                    last = format!("num_ack_pending {pending:?}, ack_floor {floor:?}");
                    pending == Some(0) && floor == Some(total)
                }
                Err(e) => {
                    last = e.to_string();
                    false
                }
            },
        );
        if settled {
            v.checked
                .push("consumer ack floor reached the last sequence".into());
        } else {
            v.errors.push(format!("acks not applied: {last}"));
        }
    }
    if !o.keep {
        let _ = api(
            &mut ctl,
            &format!("$JS.API.CONSUMER.DELETE.{}.{}", o.stream, o.durable),
            &Value::Null,
        );
        let _ = api(
            &mut ctl,
            &format!("$JS.API.STREAM.DELETE.{}", o.stream),
            &Value::Null,
        );
    }
    v.finish();
    let elapsed = (last_ns.saturating_sub(start_ns) as f64 / 1e9).max(1e-9);
    let rate = received as f64 / elapsed;
    Ok(RunResult {
        scenario: "js-consume".into(),
        url: c.url.clone(),
        server,
        params: Params {
            size: c.size,
            pubs: 0,
            subs: c.subs,
            subjects: subjects.len() as u32,
            msgs: c.msgs,
            duration_s: c.duration.as_secs_f64(),
            rate: 0,
            batch: (!o.push).then_some(o.batch),
            ack: Some(o.ack.clone()),
            window: Some(o.window),
            mode: Some(if o.push { "push" } else { "pull" }.into()),
            ..Default::default()
        },
        sent: total,
        expected: total,
        received,
        elapsed_s: elapsed,
        pub_msgs_per_s: 0.0,
        recv_msgs_per_s: rate,
        msgs_per_s: rate,
        mb_per_s: rate * c.size as f64 / 1e6,
        headline: "consumed".into(),
        latency: None,
        send_lag: None,
        verification: v,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn acks_parse_success_duplicate_and_error() {
        assert_eq!(
            parse_ack(br#"{"stream":"S","seq":42}"#, "S"),
            Ack::Stored {
                seq: 42,
                duplicate: false
            }
        );
        assert_eq!(
            parse_ack(br#"{"stream":"S","seq":2,"duplicate": true}"#, "S"),
            Ack::Stored {
                seq: 2,
                duplicate: true
            }
        );
        assert_eq!(
            parse_ack(
                br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"},"stream":"S","seq":0}"#,
                "S"
            ),
            Ack::Refused("wrong last sequence: 2".into())
        );
        assert!(matches!(
            parse_ack(br#"{"stream":"T","seq":1}"#, "S"),
            Ack::Refused(_)
        ));
        assert!(matches!(
            parse_ack(br#"{"stream":"S"}"#, "S"),
            Ack::Refused(_)
        ));
    }

    #[test]
    fn ack_subjects_v1_and_v2() {
        assert_eq!(
            parse_ack_subject(b"$JS.ACK.C2.D1.1.7.3.1795318454902422089.5"),
            Some(AckInfo {
                delivered: 1,
                stream_seq: 7
            })
        );
        assert_eq!(
            parse_ack_subject(b"$JS.ACK.dom.acchash.C2.D1.2.9.3.1795318454902422089.5.xyz"),
            Some(AckInfo {
                delivered: 2,
                stream_seq: 9
            })
        );
        assert_eq!(parse_ack_subject(b"_INBOX.a.b"), None);
        assert_eq!(parse_ack_subject(b"$JS.ACK.a.b.c"), None);
    }

    #[test]
    fn pending_header_is_read() {
        let h = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 17\r\nNats-Pending-Bytes: 0\r\n\r\n";
        assert_eq!(header_u64(h, b"Nats-Pending-Messages"), Some(17));
        assert_eq!(header_u64(h, b"Nats-Missing"), None);
    }
}
