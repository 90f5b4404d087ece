//! `reqrep`: C requester threads, each with one request in flight at a
//! time on its own connection and wildcard inbox (like the official
//! clients), against R responders sharing a queue group. Measures round
//! trips per second and round-trip latency; every reply must match its
//! request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Common, Progress, ScenarioError, CONNECT_TIMEOUT, READY_TIMEOUT, WRITE_TIMEOUT};
use crate::conn::{unique_token, Conn};
use crate::payload::{self, now_ns};
use crate::proto::{self, ServerFrame};
use crate::reader::Fill;
use crate::result::{new_histogram, Latency, Params, RunResult, Verification};

/// Queue group the responders share so each request is answered once.
pub const RESPONDER_GROUP: &str = "loadgen-responders";

struct ReqOutcome {
    sent: u64,
    ok: u64,
    lost: u64,
    late: u64,
    hist: hdrhistogram::Histogram<u64>,
    end_ns: u64,
    errors: Vec<String>,
}

fn responder(
    mut conn: Conn,
    idx: usize,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut n = 0u64;
    loop {
        loop {
            match conn.reader.next_server() {
                Ok(Some(ServerFrame::Msg(m))) => {
                    if let Some(reply) = m.reply {
                        proto::push_pub(&mut conn.out, reply, None, m.payload);
                        n += 1;
                    }
                }
                Ok(Some(ServerFrame::Ping)) => conn.out.extend_from_slice(b"PONG\r\n"),
                Ok(Some(ServerFrame::Err(e))) => errors.push(format!(
                    "responder {idx}: -ERR '{}'",
                    String::from_utf8_lossy(e)
                )),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    errors.push(format!("responder {idx}: {e}"));
                    return errors;
                }
            }
        }
        if let Err(e) = conn.flush_out() {
            errors.push(format!("responder {idx}: write: {e}"));
            return errors;
        }
        answered.store(n, Ordering::Relaxed);
        if stop.load(Ordering::Acquire) {
            conn.shutdown();
            return errors;
        }
        match conn.reader.fill() {
            Ok(Fill::Data(_)) | Ok(Fill::Timeout) => {}
            Ok(Fill::Eof) => {
                if !stop.load(Ordering::Acquire) {
                    errors.push(format!("responder {idx}: connection closed by server"));
                }
                return errors;
            }
            Err(e) => {
                errors.push(format!("responder {idx}: {e}"));
                return errors;
            }
        }
    }
}

/// Outcome of waiting for one reply.
enum Wait {
    Matched,
    TimedOut,
    Failed(String),
}

struct Requester {
    conn: Conn,
    id: u32,
    inbox: String,
    reply: Vec<u8>,
    late: u64,
}

impl Requester {
    /// Sends request `n` (body stamped with `word`) and waits for its reply.
    fn request(
        &mut self,
        subject: &[u8],
        body: &mut [u8],
        word: u64,
        n: u64,
        timeout: Duration,
    ) -> Wait {
        self.reply.clear();
        self.reply.extend_from_slice(self.inbox.as_bytes());
        self.reply.push(b'.');
        proto::push_u64(&mut self.reply, n);
        payload::stamp(body, word, now_ns());
        proto::push_pub(&mut self.conn.out, subject, Some(&self.reply), body);
        if let Err(e) = self.conn.flush_out() {
            return Wait::Failed(format!("requester {}: write: {e}", self.id));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let mut matched = false;
            loop {
                match self.conn.reader.next_server() {
                    Ok(Some(ServerFrame::Msg(m))) => {
                        if m.subject != self.reply.as_slice() {
                            self.late += 1;
                            continue;
                        }
                        if m.status() == Some(503) {
                            return Wait::Failed(format!(
                                "requester {}: no responders (503)",
                                self.id
                            ));
                        }
                        if body.len() >= payload::SEQ_BYTES
                            && payload::read_stamp(m.payload).0 != Some(word)
                        {
                            return Wait::Failed(format!(
                                "requester {}: reply {n} carries another request's body",
                                self.id
                            ));
                        }
                        if m.payload.len() != body.len() {
                            return Wait::Failed(format!(
                                "requester {}: reply {n} has {} bytes, request had {}",
                                self.id,
                                m.payload.len(),
                                body.len()
                            ));
                        }
                        matched = true;
                    }
                    Ok(Some(ServerFrame::Ping)) => self.conn.out.extend_from_slice(b"PONG\r\n"),
                    Ok(Some(ServerFrame::Err(e))) => {
                        return Wait::Failed(format!(
                            "requester {}: -ERR '{}'",
                            self.id,
                            String::from_utf8_lossy(e)
                        ))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => return Wait::Failed(format!("requester {}: {e}", self.id)),
                }
            }
            if !self.conn.out.is_empty() {
                if let Err(e) = self.conn.flush_out() {
                    return Wait::Failed(format!("requester {}: write: {e}", self.id));
                }
            }
            if matched {
                return Wait::Matched;
            }
            match self.conn.reader.fill() {
                Ok(Fill::Data(_)) => {}
                Ok(Fill::Timeout) if Instant::now() >= deadline => return Wait::TimedOut,
                Ok(Fill::Timeout) => {}
                Ok(Fill::Eof) => {
                    return Wait::Failed(format!(
                        "requester {}: connection closed by server",
                        self.id
                    ))
                }
                Err(e) => return Wait::Failed(format!("requester {}: {e}", self.id)),
            }
        }
    }
}

struct ReqPlan {
    quota: u64,
    size: usize,
    subjects: Vec<Vec<u8>>,
    /// Measured-phase length, counted from the start barrier.
    duration: Duration,
    /// How long one request may wait for its reply before it counts as lost.
    timeout: Duration,
}

fn requester_thread(
    mut r: Requester,
    plan: ReqPlan,
    barrier: Arc<Barrier>,
    done: Arc<AtomicU64>,
) -> ReqOutcome {
    let mut out = ReqOutcome {
        sent: 0,
        ok: 0,
        lost: 0,
        late: 0,
        hist: new_histogram(),
        end_ns: 0,
        errors: Vec::new(),
    };
    let mut body = vec![b'r'; plan.size];
    // Warm-up: one answered request proves the path (both subscriptions
    // visible) before measuring; retried because interest may propagate late.
    let warm_deadline = Instant::now() + READY_TIMEOUT;
    let mut warm = false;
    let mut attempt = 0u64;
    while Instant::now() < warm_deadline {
        attempt += 1;
        let word = payload::seq_word(payload::PROBE_PUB_ID, attempt);
        match r.request(
            &plan.subjects[0],
            &mut body,
            word,
            u64::MAX - attempt,
            Duration::from_millis(200),
        ) {
            Wait::Matched => {
                warm = true;
                break;
            }
            Wait::TimedOut => {}
            Wait::Failed(e) if e.contains("no responders") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Wait::Failed(e) => {
                out.errors.push(e);
                break;
            }
        }
    }
    if !warm && out.errors.is_empty() {
        out.errors
            .push(format!("requester {}: no reply during warm-up", r.id));
    }
    r.late = 0;
    barrier.wait();
    if !out.errors.is_empty() {
        out.end_ns = now_ns();
        return out;
    }
    let deadline = Instant::now() + plan.duration;
    let k = plan.subjects.len() as u64;
    let mut n = 0;
    while n < plan.quota && Instant::now() < deadline {
        let word = payload::seq_word(r.id, n);
        let t0 = now_ns();
        let subject = &plan.subjects[(n % k) as usize];
        out.sent += 1;
        match r.request(subject, &mut body, word, n, plan.timeout) {
            Wait::Matched => {
                out.ok += 1;
                out.hist.saturating_record((now_ns() - t0).max(1));
            }
            Wait::TimedOut => {
                out.lost += 1;
                out.errors
                    .push(format!("requester {}: request {n} got no reply", r.id));
            }
            Wait::Failed(e) => {
                out.lost += 1;
                out.errors.push(e);
                break;
            }
        }
        n += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
    out.end_ns = now_ns();
    out.late = r.late;
    r.conn.shutdown();
    out
}

/// Runs request/reply and verifies every reply.
pub fn run(c: &Common) -> Result<RunResult, ScenarioError> {
    if c.subs == 0 {
        return Err(ScenarioError::Options(
            "reqrep needs at least one responder (--subs)".into(),
        ));
    }
    let subjects: Vec<Vec<u8>> = c
        .subject_names()
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let connect = |name: String| {
        Conn::connect(&c.url, &name, CONNECT_TIMEOUT).map_err(|source| ScenarioError::Connect {
            url: c.url.clone(),
            source,
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = {
        let stop = Arc::clone(&stop);
        super::StopOnDrop(move || stop.store(true, Ordering::Release))
    };
    let answered: Vec<Arc<AtomicU64>> = (0..c.subs).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut responders: Vec<JoinHandle<Vec<String>>> = Vec::new();
    let mut server = String::new();
    for i in 0..c.subs as usize {
        let mut conn = connect(format!("loadgen-responder-{i}"))?;
        server = format!("{} {}", conn.info.server_name, conn.info.version);
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        for (j, s) in subjects.iter().enumerate() {
            proto::push_sub(
                &mut conn.out,
                s,
                Some(RESPONDER_GROUP.as_bytes()),
                j as u64 + 1,
            );
        }
        conn.roundtrip(CONNECT_TIMEOUT)?;
        let stop = Arc::clone(&stop);
        let answered = Arc::clone(&answered[i]);
        responders.push(
            std::thread::Builder::new()
                .name(format!("responder-{i}"))
                .spawn(move || responder(conn, i, stop, answered))
                .expect("spawn responder"),
        );
    }
    let barrier = Arc::new(Barrier::new(c.pubs as usize + 1));
    let done = Arc::new(AtomicU64::new(0));
    let token = unique_token();
    let mut requesters = Vec::new();
    let quota_of = |id: u32| {
        c.msgs / u64::from(c.pubs) + u64::from(u64::from(id) < c.msgs % u64::from(c.pubs))
    };
    let mut conns = Vec::new();
    for id in 0..c.pubs {
        let mut conn = connect(format!("loadgen-requester-{id}"))?;
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let inbox = format!("_INBOX.{token}.{id}");
        proto::push_sub(&mut conn.out, format!("{inbox}.*").as_bytes(), None, 1);
        conn.roundtrip(CONNECT_TIMEOUT)?;
        conns.push((id, conn, inbox));
    }
    for (id, conn, inbox) in conns {
        let barrier = Arc::clone(&barrier);
        let done = Arc::clone(&done);
        let plan = ReqPlan {
            quota: quota_of(id),
            size: c.size,
            subjects: subjects.clone(),
            duration: c.duration,
            timeout: c.drain_timeout,
        };
        requesters.push(
            std::thread::Builder::new()
                .name(format!("requester-{id}"))
                .spawn(move || {
                    let r = Requester {
                        conn,
                        id,
                        inbox,
                        reply: Vec::new(),
                        late: 0,
                    };
                    requester_thread(r, plan, barrier, done)
                })
                .expect("spawn requester"),
        );
    }
    barrier.wait();
    let start_ns = now_ns();
    let start = Instant::now();
    let progress = Progress::new(c.progress, "reqrep");
    let limit = start + c.duration + c.drain_timeout + READY_TIMEOUT + Duration::from_secs(5);
    let finished = super::wait_until(limit, Duration::from_millis(100), || {
        progress.update(done.load(Ordering::Relaxed), "requests");
        requesters.iter().all(|h| h.is_finished())
    });
    progress.finish();
    let mut verification = Verification::default();
    if !finished {
        verification
            .errors
            .push("requesters did not finish in time".into());
    }
    let mut hist = new_histogram();
    let (mut sent, mut ok, mut late, mut end_ns) = (0, 0, 0, start_ns);
    for h in requesters {
        if !h.is_finished() {
            continue;
        }
        match h.join() {
            Ok(o) => {
                sent += o.sent;
                ok += o.ok;
                late += o.late;
                verification.lost += o.lost;
                end_ns = end_ns.max(o.end_ns);
                hist.add(&o.hist).expect("same bounds");
                verification.errors.extend(o.errors);
            }
            Err(_) => verification.errors.push("requester thread panicked".into()),
        }
    }
    stop.store(true, Ordering::Release);
    let mut answered_total = 0;
    for (h, a) in responders.into_iter().zip(&answered) {
        match h.join() {
            Ok(errs) => verification.errors.extend(errs),
            Err(_) => verification.errors.push("responder thread panicked".into()),
        }
        answered_total += a.load(Ordering::Relaxed);
    }
    if late > 0 {
        verification.errors.push(format!(
            "{late} replies arrived for requests already given up"
        ));
    }
    verification.checked.push(format!(
        "every request answered once with its own body ({answered_total} answers incl. warm-up)"
    ));
    verification.finish();
    let elapsed = ((end_ns.saturating_sub(start_ns)) as f64 / 1e9).max(1e-9);
    let rate = ok as f64 / elapsed;
    Ok(RunResult {
        scenario: "reqrep".into(),
        url: c.url.clone(),
        server,
        params: Params {
            size: c.size,
            pubs: c.pubs,
            subs: c.subs,
            subjects: subjects.len() as u32,
            msgs: c.msgs,
            duration_s: c.duration.as_secs_f64(),
            rate: 0,
            queue: Some(RESPONDER_GROUP.into()),
            ..Default::default()
        },
        sent,
        expected: sent,
        received: ok,
        elapsed_s: elapsed,
        pub_msgs_per_s: sent as f64 / elapsed,
        recv_msgs_per_s: rate,
        msgs_per_s: rate,
        mb_per_s: rate * c.size as f64 / 1e6,
        headline: "round trips".into(),
        latency: Latency::from_histogram(&hist, "request→reply round trip"),
        send_lag: None,
        verification,
    })
}
