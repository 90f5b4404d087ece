//! Scenarios: the workloads the load generator drives, each measured and
//! verified. [`run`] dispatches by name and handles `ceiling:` targets.

pub mod flow;
pub mod js;
pub mod kv;
pub mod reqrep;
pub mod seek;

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ceiling::{CeilingMode, CeilingServer};
use crate::conn::ConnError;
use crate::result::RunResult;

/// How long connecting plus the handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a final flush (PING/PONG after a burst) may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Socket write timeout: a server that stops reading fails the run instead of hanging it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long subscriptions may take to become visible to publishers.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a publisher batches into one socket write.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Why a scenario could not run at all (as opposed to running and failing
/// verification, which is reported inside the [`RunResult`]).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Connecting or the handshake failed.
    #[error("connecting to {url}: {source}")]
    Connect {
        /// Target URL.
        url: String,
        /// Cause.
        source: ConnError,
    },
    /// A connection failed during setup.
    #[error(transparent)]
    Conn(#[from] ConnError),
    /// A socket option could not be set.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Options that make no sense together.
    #[error("invalid options: {0}")]
    Options(String),
    /// A JetStream API call was refused.
    #[error("JetStream API {subject}: {detail}")]
    JetStream {
        /// API subject.
        subject: String,
        /// Server's description.
        detail: String,
    },
    /// Subscriptions never became visible to publishers.
    #[error("subscriptions not visible after {0:?}")]
    NotReady(Duration),
    /// The in-process ceiling server could not start.
    #[error("ceiling server: {0}")]
    Ceiling(std::io::Error),
}

/// Options every scenario understands.
#[derive(Debug, Clone)]
pub struct Common {
    /// `nats://host:port`, or `ceiling:sink` / `ceiling:pipe` for an in-process ceiling.
    pub url: String,
    /// Message cap (total across publishers).
    pub msgs: u64,
    /// Time cap for the publishing phase.
    pub duration: Duration,
    /// Payload bytes.
    pub size: usize,
    /// Total publish rate in msgs/s (0 = as fast as possible).
    pub rate: u64,
    /// Publishers (requesters for reqrep).
    pub pubs: u32,
    /// Subscribers (members, responders, pullers).
    pub subs: u32,
    /// Subjects to spread the load over.
    pub subjects: u32,
    /// Base subject name.
    pub subject: String,
    /// How long receivers may go without progress once publishing ended.
    pub drain_timeout: Duration,
    /// Show a progress bar (only drawn on a terminal anyway).
    pub progress: bool,
    /// Monitoring base URL (`http://host:port`) used to cross-check `pub` via /varz.
    pub monitor: Option<String>,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            msgs: 1_000_000,
            duration: Duration::from_secs(60),
            size: 16,
            rate: 0,
            pubs: 1,
            subs: 1,
            subjects: 1,
            subject: "bench".into(),
            drain_timeout: Duration::from_secs(5),
            progress: false,
            monitor: None,
        }
    }
}

impl Common {
    /// The subjects a run uses: the base name, or `base.0 … base.K-1`.
    pub fn subject_names(&self) -> Vec<String> {
        if self.subjects <= 1 {
            vec![self.subject.clone()]
        } else {
            (0..self.subjects)
                .map(|i| format!("{}.{i}", self.subject))
                .collect()
        }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        if self.pubs == 0 || self.pubs > crate::payload::MAX_PUB_ID {
            return Err(ScenarioError::Options("--pubs must be at least 1".into()));
        }
        if self.subjects == 0 {
            return Err(ScenarioError::Options(
                "--subjects must be at least 1".into(),
            ));
        }
        if self.subject.is_empty() || self.subject.contains(char::is_whitespace) {
            return Err(ScenarioError::Options("--subject must be one token".into()));
        }
        Ok(())
    }
}

/// JetStream-specific options.
#[derive(Debug, Clone)]
pub struct JsOptions {
    /// Stream name.
    pub stream: String,
    /// `file` or `memory`.
    pub storage: String,
    /// Outstanding acks per publisher (js-pub, kv-put, and every prefill);
    /// outstanding requests per getter (kv-get).
    pub window: u32,
    /// Pull batch size (js-consume).
    pub batch: u32,
    /// `explicit` or `none` (js-consume).
    pub ack: String,
    /// Durable consumer name (js-consume).
    pub durable: String,
    /// Push consumer with flow control and idle heartbeats instead of pull (js-consume).
    pub push: bool,
    /// KV bucket name (kv-put, kv-get); the stream is `KV_<bucket>`.
    pub bucket: String,
    /// Distinct keys (kv-put, kv-get).
    pub keys: u64,
    /// Consumers created, one after the other (js-seek).
    pub repeats: u32,
    /// Keep the stream (and consumer) afterwards.
    pub keep: bool,
}

impl Default for JsOptions {
    fn default() -> Self {
        Self {
            stream: "LOADGEN".into(),
            storage: "file".into(),
            window: 64,
            batch: 100,
            ack: "explicit".into(),
            durable: "loadgen".into(),
            push: false,
            bucket: "LOADGEN".into(),
            keys: 1000,
            repeats: 10,
            keep: false,
        }
    }
}

/// A scenario with its specific options.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// Publishers only.
    Pub,
    /// P publishers, S subscribers.
    PubSub,
    /// One publisher, N subscribers.
    Fanout,
    /// One publisher, N members of one queue group.
    Queue {
        /// Queue group name.
        group: String,
    },
    /// C requesters, R responders.
    ReqRep,
    /// Fixed-rate one-way latency.
    Latency,
    /// JetStream publish with a window of outstanding acks.
    JsPub(JsOptions),
    /// Durable pull (or push) consumer.
    JsConsume(JsOptions),
    /// KV puts with a window of outstanding acks.
    KvPut(JsOptions),
    /// KV direct gets with a window of outstanding requests.
    KvGet(JsOptions),
    /// Replay by start time: consumer create to first message.
    JsSeek(JsOptions),
}

impl Scenario {
    /// The name used on the command line and in results.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::PubSub => "pubsub",
            Scenario::Fanout => "fanout",
            Scenario::Queue { .. } => "queue",
            Scenario::ReqRep => "reqrep",
            Scenario::Latency => "latency",
            Scenario::JsPub(_) => "js-pub",
            Scenario::JsConsume(_) => "js-consume",
            Scenario::KvPut(_) => "kv-put",
            Scenario::KvGet(_) => "kv-get",
            Scenario::JsSeek(_) => "js-seek",
        }
    }
}

/// Runs one scenario against `common.url`; a `ceiling:sink` or
/// `ceiling:pipe` URL starts an in-process ceiling server for the run.
pub fn run(scenario: &Scenario, common: &Common) -> Result<RunResult, ScenarioError> {
    common.validate()?;
    let ceiling = match common.url.as_str() {
        "ceiling:sink" | "ceiling" => Some(CeilingMode::Sink),
        "ceiling:pipe" => Some(CeilingMode::Pipe),
        _ => None,
    };
    let Some(mode) = ceiling else {
        return dispatch(scenario, common);
    };
    let server = CeilingServer::start(mode, "127.0.0.1:0".parse().expect("addr"))
        .map_err(ScenarioError::Ceiling)?;
    let mut c = common.clone();
    c.url = format!("nats://{}", server.addr());
    let r = dispatch(scenario, &c);
    let stats = server.stop();
    let mut r = r?;
    r.url = format!("{} ({})", common.url, c.url);
    if matches!(scenario, Scenario::Pub) {
        // The sink counted every PUB it framed: an exact cross-check.
        r.verification
            .checked
            .push(format!("ceiling framed {} PUBs", stats.pubs));
        if stats.pubs != r.sent {
            r.verification.lost += r.sent.saturating_sub(stats.pubs);
            r.verification.errors.push(format!(
                "ceiling received {} messages, loadgen sent {}",
                stats.pubs, r.sent
            ));
            r.verification.finish();
        }
    }
    Ok(r)
}

fn dispatch(scenario: &Scenario, c: &Common) -> Result<RunResult, ScenarioError> {
    match scenario {
        Scenario::Pub => flow::run(c, &flow::FlowSpec::publish_only()),
        Scenario::PubSub => flow::run(c, &flow::FlowSpec::pubsub("pubsub")),
        Scenario::Fanout => {
            if c.pubs != 1 {
                return Err(ScenarioError::Options(
                    "fanout has exactly one publisher".into(),
                ));
            }
            flow::run(c, &flow::FlowSpec::pubsub("fanout"))
        }
        Scenario::Queue { group } => flow::run(c, &flow::FlowSpec::queue(group)),
        Scenario::Latency => {
            if c.rate == 0 {
                return Err(ScenarioError::Options("latency needs --rate > 0".into()));
            }
            flow::run(c, &flow::FlowSpec::latency())
        }
        Scenario::ReqRep => reqrep::run(c),
        Scenario::JsPub(o) => js::run_pub(c, o),
        Scenario::JsConsume(o) => js::run_consume(c, o),
        Scenario::KvPut(o) => kv::run_put(c, o),
        Scenario::KvGet(o) => kv::run_get(c, o),
        Scenario::JsSeek(o) => seek::run(c, o),
    }
}

/// Live progress on stderr (hidden when stderr is not a terminal).
pub(crate) struct Progress {
    bar: ProgressBar,
    /// Position and time of the previous rate sample.
    last: std::cell::Cell<(u64, Instant)>,
    rate: std::cell::Cell<f64>,
}

impl Progress {
    pub(crate) fn new(enabled: bool, label: &str) -> Self {
        let bar = if enabled {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {human_pos} msgs  {msg}")
                .expect("template"),
        );
        bar.set_prefix(label.to_owned());
        Self {
            bar,
            last: std::cell::Cell::new((0, Instant::now())),
            rate: std::cell::Cell::new(0.0),
        }
    }

    /// Sets the position and recomputes the live rate (at most every 250 ms).
    pub(crate) fn update(&self, pos: u64, phase: &str) {
        if self.bar.is_hidden() {
            return;
        }
        let (last_pos, last_t) = self.last.get();
        let dt = last_t.elapsed().as_secs_f64();
        if dt >= 0.25 {
            self.rate.set(pos.saturating_sub(last_pos) as f64 / dt);
            self.last.set((pos, Instant::now()));
        }
        self.bar.set_position(pos);
        self.bar
            .set_message(format!("{}/s  {phase}", crate::result::si(self.rate.get())));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Raises a stop flag when dropped, so worker threads started before a
/// setup error (`?`) still wind down instead of polling forever.
pub(crate) struct StopOnDrop<F: Fn()>(pub(crate) F);

impl<F: Fn()> Drop for StopOnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Sleeps in small steps until `done()` or `deadline`; returns whether `done()` held.
pub(crate) fn wait_until(
    deadline: Instant,
    step: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(step.min(deadline - now));
    }
}

/// Reads `in_msgs` from a server's `/varz` (nats-server `-m`, natrix `--http-port`).
pub fn varz_in_msgs(monitor: &str) -> Result<u64, String> {
    use std::io::{Read, Write};
    let hp = monitor
        .strip_prefix("http://")
        .unwrap_or(monitor)
        .trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hp).map_err(|e| format!("connect {hp}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /varz HTTP/1.0\r\nHost: {hp}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    s.take(16 * 1024 * 1024)
        .read_to_end(&mut body)
        .map_err(|e| format!("read /varz: {e}"))?;
    let split = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header end")?;
    let v: serde_json::Value =
        serde_json::from_slice(&body[split + 4..]).map_err(|e| format!("/varz JSON: {e}"))?;
    v.get("in_msgs")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| "/varz has no in_msgs".to_owned())
}

#[cfg(test)]
mod tests;
