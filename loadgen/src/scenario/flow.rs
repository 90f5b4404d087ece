//! Publish/subscribe flows: `pub`, `pubsub`, `fanout`, `queue` and `latency`
//! share one engine — P publisher threads, S subscriber threads, a readiness
//! probe, a drain phase and exact per-message verification.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{
    varz_in_msgs, Common, Progress, ScenarioError, BATCH_BYTES, CONNECT_TIMEOUT, FLUSH_TIMEOUT,
    READY_TIMEOUT, WRITE_TIMEOUT,
};
use crate::conn::{Conn, PubConn};
use crate::payload::{self, now_ns, Tracker};
use crate::proto::{self, ServerFrame};
use crate::reader::Fill;
use crate::result::{new_histogram, Latency, Params, RunResult, Verification};

/// Largest number of overdue messages a paced publisher sends in one write.
const MAX_PACED_BATCH: u64 = 1024;

/// What kind of flow to run.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    scenario: &'static str,
    with_subscribers: bool,
    queue: Option<String>,
    latency_headline: bool,
}

impl FlowSpec {
    /// Publishers only.
    pub fn publish_only() -> Self {
        Self {
            scenario: "pub",
            with_subscribers: false,
            queue: None,
            latency_headline: false,
        }
    }

    /// Plain subscribers, each receiving everything (`pubsub`, `fanout`).
    pub fn pubsub(name: &'static str) -> Self {
        Self {
            scenario: name,
            with_subscribers: true,
            queue: None,
            latency_headline: false,
        }
    }

    /// Members of one queue group, each message delivered to exactly one.
    pub fn queue(group: &str) -> Self {
        Self {
            scenario: "queue",
            with_subscribers: true,
            queue: Some(group.to_owned()),
            latency_headline: false,
        }
    }

    /// Fixed-rate one-way latency.
    pub fn latency() -> Self {
        Self {
            scenario: "latency",
            with_subscribers: true,
            queue: None,
            latency_headline: true,
        }
    }
}

/// State the main thread shares with subscriber threads.
struct SubShared {
    stop: AtomicBool,
    received: Vec<AtomicU64>,
    /// `probes[sub][subject]`: the subscriber saw a readiness probe on it.
    probes: Vec<Vec<AtomicBool>>,
}

/// What a subscriber thread hands back.
struct SubOutcome {
    tracker: Tracker,
    hist: Histogram<u64>,
    last_ns: u64,
    errors: Vec<String>,
}

/// What a publisher thread hands back.
struct PubOutcome {
    sent: u64,
    end_ns: u64,
    errors: Vec<String>,
    /// Paced mode: how late each write left against its oldest message's intended time.
    lag: Option<Histogram<u64>>,
}

fn subscriber(
    mut conn: Conn,
    idx: usize,
    shared: Arc<SubShared>,
    pubs: u32,
    subjects: u32,
) -> SubOutcome {
    let mut tracker = Tracker::new(pubs, u64::from(subjects));
    let mut hist = new_histogram();
    let mut last_ns = 0;
    let mut errors = Vec::new();
    let mut now = now_ns();
    'outer: loop {
        loop {
            let frame = match conn.reader.next_server() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    errors.push(format!("subscriber {idx}: {e}"));
                    break 'outer;
                }
            };
            match frame {
                ServerFrame::Msg(m) => {
                    if let Some(s) = payload::probe_subject(m.payload) {
                        if let Some(flag) = shared.probes[idx].get(s as usize) {
                            flag.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let (word, ts) = payload::read_stamp(m.payload);
                    if !tracker.observe(word) {
                        errors.push(format!("subscriber {idx}: body from unknown publisher"));
                    }
                    if let Some(ts) = ts {
                        hist.saturating_record(now.saturating_sub(ts).max(1));
                    }
                    last_ns = now;
                }
                ServerFrame::Ping => conn.out.extend_from_slice(b"PONG\r\n"),
                ServerFrame::Err(e) => {
                    errors.push(format!(
                        "subscriber {idx}: -ERR '{}'",
                        String::from_utf8_lossy(e)
                    ));
                }
                ServerFrame::Pong | ServerFrame::Ok | ServerFrame::Info(_) => {}
            }
        }
        if let Err(e) = conn.flush_out() {
            errors.push(format!("subscriber {idx}: write: {e}"));
            break;
        }
        shared.received[idx].store(tracker.received, Ordering::Relaxed);
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        match conn.reader.fill() {
            Ok(Fill::Data(_)) => now = now_ns(),
            Ok(Fill::Timeout) => {}
            Ok(Fill::Eof) => {
                errors.push(format!("subscriber {idx}: connection closed by server"));
                break;
            }
            Err(e) => {
                errors.push(format!("subscriber {idx}: {e}"));
                break;
            }
        }
    }
    shared.received[idx].store(tracker.received, Ordering::Relaxed);
    conn.shutdown();
    SubOutcome {
        tracker,
        hist,
        last_ns,
        errors,
    }
}

struct PubPlan {
    id: u32,
    quota: u64,
    size: usize,
    lines: Vec<Vec<u8>>,
    start_ns: u64,
    deadline_ns: u64,
    /// Per-publisher rate, msgs/s (0 = unlimited).
    rate: f64,
}

fn publisher(conn: PubConn, plan: PubPlan, sent: Arc<AtomicU64>) -> PubOutcome {
    let mut errors = Vec::new();
    let k = plan.lines.len() as u64;
    let msg_len = plan.lines.iter().map(Vec::len).max().unwrap_or(0) + plan.size + 2;
    let mut buf = Vec::with_capacity(BATCH_BYTES + msg_len);
    let body = vec![b'x'; plan.size];
    let mut n: u64 = 0;
    let mut lag_hist = None;
    let append = |buf: &mut Vec<u8>, n: u64, ts: u64| {
        buf.extend_from_slice(&plan.lines[(n % k) as usize]);
        let at = buf.len();
        buf.extend_from_slice(&body);
        payload::stamp(&mut buf[at..], payload::seq_word(plan.id, n), ts);
        buf.extend_from_slice(b"\r\n");
    };
    if plan.rate <= 0.0 {
        while n < plan.quota {
            let ts = now_ns();
            if ts >= plan.deadline_ns {
                break;
            }
            buf.clear();
            while buf.len() < BATCH_BYTES && n < plan.quota {
                append(&mut buf, n, ts);
                n += 1;
            }
            if let Err(e) = conn.write_all(&buf) {
                errors.push(format!("publisher {}: write: {e}", plan.id));
                n -= count_unwritten(&buf, &plan);
                break;
            }
            sent.store(n, Ordering::Relaxed);
        }
    } else {
        lag_hist = Some(new_histogram());
        let lag = lag_hist.as_mut().expect("lag histogram");
        let interval_ns = 1e9 / plan.rate;
        loop {
            let now = now_ns();
            if n >= plan.quota || now >= plan.deadline_ns {
                break;
            }
            let due = ((now - plan.start_ns) as f64 / interval_ns) as u64 + 1;
            let due = due.min(plan.quota);
            if n < due {
                buf.clear();
                let oldest = plan.start_ns + (n as f64 * interval_ns) as u64;
                lag.saturating_record(now.saturating_sub(oldest).max(1));
                let end = due.min(n + MAX_PACED_BATCH);
                while n < end {
                    // Stamp the intended send time: latency then includes any
                    // time the message spent waiting behind a stalled send
                    // (coordinated-omission correction).
                    let intended = plan.start_ns + (n as f64 * interval_ns) as u64;
                    append(&mut buf, n, intended);
                    n += 1;
                }
                if let Err(e) = conn.write_all(&buf) {
                    errors.push(format!("publisher {}: write: {e}", plan.id));
                    n -= count_unwritten(&buf, &plan);
                    break;
                }
                sent.store(n, Ordering::Relaxed);
            } else {
                let next = plan.start_ns + (n as f64 * interval_ns) as u64;
                let wait = next.saturating_sub(now);
                if wait > 20_000 {
                    std::thread::sleep(Duration::from_nanos(wait - 10_000));
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
    sent.store(n, Ordering::Relaxed);
    if errors.is_empty() {
        if let Err(e) = conn.flush(FLUSH_TIMEOUT) {
            errors.push(format!("publisher {}: final flush: {e}", plan.id));
        }
    }
    let end_ns = now_ns();
    errors.extend(conn.close());
    PubOutcome {
        sent: n,
        end_ns,
        errors,
        lag: lag_hist,
    }
}

/// A failed write may have been partial; the whole batch is counted as unsent
/// (the run is failed anyway, this only keeps the numbers conservative).
fn count_unwritten(buf: &[u8], plan: &PubPlan) -> u64 {
    let per = plan.lines[0].len() + plan.size + 2;
    (buf.len() / per.max(1)) as u64
}

fn lower_timer_slack() {
    // Sleeps of tens of microseconds need a small timer slack (default 50 µs)
    // or every paced send is late by that much.
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Runs a flow and verifies it.
pub fn run(c: &Common, spec: &FlowSpec) -> Result<RunResult, ScenarioError> {
    let subjects = c.subject_names();
    let k = subjects.len() as u32;
    let subs = if spec.with_subscribers { c.subs } else { 0 };
    if spec.with_subscribers && subs == 0 {
        return Err(ScenarioError::Options(format!(
            "{} needs at least one subscriber",
            spec.scenario
        )));
    }
    let connect = |name: String| {
        Conn::connect(&c.url, &name, CONNECT_TIMEOUT).map_err(|source| ScenarioError::Connect {
            url: c.url.clone(),
            source,
        })
    };

    // Subscribers: connect, subscribe, confirm with a round trip.
    let mut sub_conns = Vec::new();
    for s in 0..subs {
        let mut conn = connect(format!("loadgen-sub-{s}"))?;
        for (i, subj) in subjects.iter().enumerate() {
            proto::push_sub(
                &mut conn.out,
                subj.as_bytes(),
                spec.queue.as_deref().map(str::as_bytes),
                i as u64 + 1,
            );
        }
        conn.roundtrip(CONNECT_TIMEOUT)?;
        sub_conns.push(conn);
    }
    let mut ctl = connect("loadgen-ctl".into())?;
    let server_name = format!("{} {}", ctl.info.server_name, ctl.info.version);
    let shared = Arc::new(SubShared {
        stop: AtomicBool::new(false),
        received: (0..subs).map(|_| AtomicU64::new(0)).collect(),
        probes: (0..subs)
            .map(|_| (0..k).map(|_| AtomicBool::new(false)).collect())
            .collect(),
    });
    let _stop_guard = {
        let shared = Arc::clone(&shared);
        super::StopOnDrop(move || shared.stop.store(true, Ordering::Release))
    };
    let sub_handles: Vec<JoinHandle<SubOutcome>> = sub_conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let shared = Arc::clone(&shared);
            let pubs = c.pubs;
            std::thread::Builder::new()
                .name(format!("sub-{i}"))
                .spawn(move || subscriber(conn, i, shared, pubs, k))
                .expect("spawn subscriber")
        })
        .collect();

    // Readiness: publish probes until every subscription has seen one (or,
    // for a queue group, every subject has reached some member). Servers that
    // propagate interest asynchronously (across cores) are then measured
    // from a settled state.
    if subs > 0 {
        let ready = |shared: &SubShared| -> bool {
            if spec.queue.is_some() {
                (0..k as usize).all(|j| shared.probes.iter().any(|p| p[j].load(Ordering::Relaxed)))
            } else {
                shared
                    .probes
                    .iter()
                    .all(|p| p.iter().all(|f| f.load(Ordering::Relaxed)))
            }
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut ok = false;
        while Instant::now() < deadline {
            for (i, subj) in subjects.iter().enumerate() {
                proto::push_pub(
                    &mut ctl.out,
                    subj.as_bytes(),
                    None,
                    &payload::probe_payload(i as u64),
                );
            }
            ctl.roundtrip(CONNECT_TIMEOUT)?;
            if super::wait_until(
                Instant::now() + Duration::from_millis(20),
                Duration::from_millis(1),
                || ready(&shared),
            ) {
                ok = true;
                break;
            }
        }
        if !ok {
            shared.stop.store(true, Ordering::Release);
            for h in sub_handles {
                let _ = h.join();
            }
            return Err(ScenarioError::NotReady(READY_TIMEOUT));
        }
    }
    ctl.shutdown();

    let varz_before = match (&c.monitor, subs) {
        (Some(m), 0) => Some(varz_in_msgs(m)),
        _ => None,
    };

    // Publishers.
    let mut pub_conns = Vec::new();
    for p in 0..c.pubs {
        let conn = connect(format!("loadgen-pub-{p}"))?;
        conn.writer.set_write_timeout(Some(WRITE_TIMEOUT))?;
        pub_conns.push(conn.into_pub_conn());
    }
    let lines: Vec<Vec<u8>> = subjects
        .iter()
        .map(|s| {
            let mut l = Vec::new();
            proto::push_pub_line(&mut l, s.as_bytes(), None, c.size);
            l
        })
        .collect();
    let per_pub_rate = c.rate as f64 / f64::from(c.pubs);
    let start_ns = now_ns();
    let start = Instant::now();
    let deadline_ns = start_ns + c.duration.as_nanos() as u64;
    let sent_counters: Vec<Arc<AtomicU64>> =
        (0..c.pubs).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let pub_handles: Vec<JoinHandle<PubOutcome>> = pub_conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let id = i as u32;
            let extra = u64::from(u64::from(id) < c.msgs % u64::from(c.pubs));
            let quota = c.msgs / u64::from(c.pubs) + extra;
            let plan = PubPlan {
                id,
                quota,
                size: c.size,
                lines: lines.clone(),
                start_ns,
                deadline_ns,
                rate: per_pub_rate,
            };
            let sent = Arc::clone(&sent_counters[i]);
            std::thread::Builder::new()
                .name(format!("pub-{i}"))
                .spawn(move || {
                    if plan.rate > 0.0 {
                        lower_timer_slack();
                    }
                    publisher(conn, plan, sent)
                })
                .expect("spawn publisher")
        })
        .collect();

    let progress = Progress::new(c.progress, spec.scenario);
    let total_sent = || {
        sent_counters
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let total_recv = || {
        shared
            .received
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    // Publishing phase: bounded by the duration plus flush and write timeouts.
    let pub_limit = start + c.duration + FLUSH_TIMEOUT + WRITE_TIMEOUT + Duration::from_secs(5);
    let pubs_done = super::wait_until(pub_limit, Duration::from_millis(100), || {
        if subs == 0 {
            progress.update(total_sent(), "publishing");
        } else {
            progress.update(total_recv(), "publishing");
        }
        pub_handles.iter().all(|h| h.is_finished())
    });
    let mut verification = Verification::default();
    let mut sent_per_pub = Vec::new();
    let mut pub_end_ns = start_ns;
    let mut lag = new_histogram();
    if !pubs_done {
        verification
            .errors
            .push("publishers did not finish in time".into());
    }
    for h in pub_handles {
        if !h.is_finished() {
            // Leave a stuck thread behind rather than hang; it dies with the process.
            sent_per_pub.push(0);
            continue;
        }
        match h.join() {
            Ok(o) => {
                sent_per_pub.push(o.sent);
                pub_end_ns = pub_end_ns.max(o.end_ns);
                if let Some(h) = &o.lag {
                    lag.add(h).expect("same histogram bounds");
                }
                verification.errors.extend(o.errors);
            }
            Err(_) => verification.errors.push("publisher thread panicked".into()),
        }
    }
    let sent: u64 = sent_per_pub.iter().sum();
    let expected = if spec.queue.is_some() {
        sent
    } else {
        sent * u64::from(subs)
    };

    // Drain: wait while receivers make progress, at most drain_timeout without any.
    if subs > 0 {
        let mut last = total_recv();
        let mut last_change = Instant::now();
        let hard = Instant::now() + Duration::from_secs(300);
        super::wait_until(hard, Duration::from_millis(20), || {
            let now_recv = total_recv();
            progress.update(now_recv, "draining");
            if now_recv != last {
                last = now_recv;
                last_change = Instant::now();
            }
            now_recv >= expected || last_change.elapsed() >= c.drain_timeout
        });
    }
    progress.finish();
    shared.stop.store(true, Ordering::Release);
    let mut outcomes = Vec::new();
    for h in sub_handles {
        match h.join() {
            Ok(o) => outcomes.push(o),
            Err(_) => verification
                .errors
                .push("subscriber thread panicked".into()),
        }
    }

    // Verification.
    let mut hist = new_histogram();
    let mut received = 0;
    let mut last_recv_ns = start_ns;
    for o in &outcomes {
        received += o.tracker.received;
        last_recv_ns = last_recv_ns.max(o.last_ns);
        hist.add(&o.hist).expect("same histogram bounds");
        verification.errors.extend(o.errors.iter().cloned());
    }
    let checked_bodies = c.size >= payload::SEQ_BYTES;
    if subs > 0 {
        if !checked_bodies {
            verification.lost = expected.saturating_sub(received);
            if received > expected {
                verification
                    .errors
                    .push(format!("received {received} messages, expected {expected}"));
            }
            verification.checked.push(format!(
                "count only ({} B bodies carry no sequence)",
                c.size
            ));
        } else if spec.queue.is_some() {
            for (p, &sent_p) in sent_per_pub.iter().enumerate() {
                let mut union = crate::payload::SeqSet::default();
                for o in &outcomes {
                    verification.duplicates += union.merge(&o.tracker.sets()[p]);
                }
                verification.lost += union.missing_below(sent_p);
                if union.len() > sent_p {
                    verification
                        .errors
                        .push(format!("publisher {p}: received messages never sent"));
                }
            }
            for o in &outcomes {
                verification.duplicates += o.tracker.duplicates;
                verification.out_of_order += o.tracker.out_of_order;
            }
            verification.checked.push(format!(
                "every message delivered to exactly one of {subs} queue members"
            ));
        } else {
            for o in &outcomes {
                for (p, &sent_p) in sent_per_pub.iter().enumerate() {
                    let set = &o.tracker.sets()[p];
                    verification.lost += set.missing_below(sent_p);
                    if set.len() > sent_p {
                        verification
                            .errors
                            .push(format!("publisher {p}: received messages never sent"));
                    }
                }
                verification.duplicates += o.tracker.duplicates;
                verification.out_of_order += o.tracker.out_of_order;
            }
            verification.checked.push(format!(
                "each of {subs} subscribers got every message once, in order per publisher and subject"
            ));
        }
    } else {
        verification
            .checked
            .push("server acknowledged every batch (final PING/PONG)".into());
        if let (Some(Ok(before)), Some(m)) = (&varz_before, &c.monitor) {
            // Stats may be aggregated lazily: give them a moment to catch up.
            let mut delta = 0;
            let mut err = None;
            super::wait_until(
                Instant::now() + Duration::from_secs(2),
                Duration::from_millis(100),
                || match varz_in_msgs(m) {
                    Ok(after) => {
                        delta = after.saturating_sub(*before);
                        delta >= sent
                    }
                    Err(e) => {
                        err = Some(e);
                        true
                    }
                },
            );
            match err {
                Some(e) => verification
                    .checked
                    .push(format!("/varz cross-check skipped: {e}")),
                None => {
                    verification
                        .checked
                        .push(format!("/varz in_msgs grew by {delta}"));
                    if delta < sent {
                        verification.lost += sent - delta;
                        verification.errors.push(format!(
                            "server counted {delta} messages in, loadgen sent {sent}"
                        ));
                    } else if delta > sent {
                        verification.errors.push(format!(
                            "server counted {delta} messages in, loadgen sent {sent} (other traffic?)"
                        ));
                    }
                }
            }
        } else if let Some(Err(e)) = &varz_before {
            verification
                .checked
                .push(format!("/varz cross-check skipped: {e}"));
        }
    }
    verification.finish();

    let secs = |ns: u64| (ns.saturating_sub(start_ns)) as f64 / 1e9;
    let pub_elapsed = secs(pub_end_ns).max(1e-9);
    let recv_elapsed = secs(last_recv_ns).max(1e-9);
    let pub_rate = sent as f64 / pub_elapsed;
    let recv_rate = if subs > 0 {
        received as f64 / recv_elapsed
    } else {
        0.0
    };
    let (headline, rate) = if subs == 0 {
        ("published", pub_rate)
    } else {
        ("delivered", recv_rate)
    };
    let latency_kind = if c.rate > 0 {
        "one-way, corrected for coordinated omission (intended send time)"
    } else {
        "one-way under full load (batch send time)"
    };
    Ok(RunResult {
        scenario: spec.scenario.into(),
        url: c.url.clone(),
        server: server_name,
        params: Params {
            size: c.size,
            pubs: c.pubs,
            subs,
            subjects: k,
            msgs: c.msgs,
            duration_s: c.duration.as_secs_f64(),
            rate: c.rate,
            queue: spec.queue.clone(),
            ..Default::default()
        },
        sent,
        expected,
        received,
        elapsed_s: if subs > 0 {
            pub_elapsed.max(recv_elapsed)
        } else {
            pub_elapsed
        },
        pub_msgs_per_s: pub_rate,
        recv_msgs_per_s: recv_rate,
        msgs_per_s: rate,
        mb_per_s: rate * c.size as f64 / 1e6,
        headline: if spec.latency_headline {
            "delivered (latency run)".into()
        } else {
            headline.into()
        },
        latency: if checked_bodies && c.size >= payload::STAMP_BYTES {
            Latency::from_histogram(&hist, latency_kind)
        } else {
            None
        },
        send_lag: Latency::from_histogram(
            &lag,
            "publisher lateness against the intended send time",
        ),
        verification,
    })
}
