//! The hand-off between a core and the monitor thread: a request counter the monitor bumps
//! and the core checks every few milliseconds, and the last snapshot the core published.
//!
//! The message path never touches any of this: a core builds a snapshot only when asked
//! (its monitor task polls `requested`), and the mutex is held only to swap an `Arc`.
//! Staleness: a scrape waits (up to [`SNAPSHOT_WAIT`]) for every core to answer its request,
//! so its values are never older than the request; the wait is at most one poll period
//! ([`SNAPSHOT_POLL`] while scrapes keep coming, [`SNAPSHOT_POLL_IDLE`] for the first one
//! after [`ACTIVE_FOR`] without any). A core that does not answer in time (stalled) is shown
//! from its previous snapshot.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::snapshot::CoreSnapshot;
use super::sys::{SysAnswer, SysJob};

/// How often a core looks for a snapshot request while scrapes keep coming.
pub const SNAPSHOT_POLL: Duration = Duration::from_millis(10);
/// How often it looks when nobody asked for [`ACTIVE_FOR`] (keeps an idle core quiet).
pub const SNAPSHOT_POLL_IDLE: Duration = Duration::from_millis(200);
/// How long after a request a core keeps polling at [`SNAPSHOT_POLL`].
pub const ACTIVE_FOR: Duration = Duration::from_secs(5);
/// How long a scrape waits for the cores' fresh snapshots.
pub const SNAPSHOT_WAIT: Duration = Duration::from_millis(500);

/// How much of its JetStream state a core adds to its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum JsDetail {
    /// None (`/connz`, `/subsz`).
    #[default]
    None,
    /// Totals only (`/varz`, `/metrics`, `/jsz`): one summary per stream, O(streams).
    Totals,
    /// Totals and each stream (`/jsz?streams=true`).
    Streams,
    /// Streams and their consumers (`/jsz?consumers=true`).
    Consumers,
}

impl JsDetail {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => JsDetail::None,
            1 => JsDetail::Totals,
            2 => JsDetail::Streams,
            _ => JsDetail::Consumers,
        }
    }
}

/// One core's snapshot slot.
#[derive(Default)]
pub struct CoreSlot {
    requested: AtomicU64,
    want_detail: AtomicBool,
    /// The [`JsDetail`] wished for, as a number.
    want_js: AtomicU8,
    published: AtomicU64,
    snapshot: Mutex<Arc<CoreSnapshot>>,
}

impl CoreSlot {
    /// The core's side: `Some((request, detail))` when a snapshot is wanted.
    pub fn pending_request(&self) -> Option<(u64, bool)> {
        let req = self.requested.load(Ordering::Acquire);
        (req > self.published.load(Ordering::Relaxed))
            .then(|| (req, self.want_detail.load(Ordering::Relaxed)))
    }

    /// The core's side: how much JetStream state the pending request wants.
    pub fn js_detail(&self) -> JsDetail {
        JsDetail::from_u8(self.want_js.load(Ordering::Relaxed))
    }

    /// The core's side: publishes the snapshot answering request `req`.
    pub fn publish(&self, req: u64, snap: CoreSnapshot) {
        let snap = Arc::new(snap);
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snap;
        self.published.store(req, Ordering::Release);
    }

    /// The monitor's side: asks for a fresh snapshot; returns the request number.
    pub fn request(&self, detail: bool) -> u64 {
        self.request_js(detail, JsDetail::None)
    }

    /// The monitor's side: asks for a fresh snapshot with JetStream state; returns the
    /// request number.
    pub fn request_js(&self, detail: bool, js: JsDetail) -> u64 {
        if detail {
            self.want_detail.store(true, Ordering::Relaxed);
        }
        self.want_js.fetch_max(js as u8, Ordering::Relaxed);
        self.requested.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The monitor's side: whether request `req` has been answered.
    pub fn answered(&self, req: u64) -> bool {
        self.published.load(Ordering::Acquire) >= req
    }

    /// The monitor's side: the last published snapshot; clears the detail wish.
    pub fn latest(&self) -> Arc<CoreSnapshot> {
        self.want_detail.store(false, Ordering::Relaxed);
        self.want_js.store(0, Ordering::Relaxed);
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// State shared between the cores and the monitor thread.
pub struct MonitorShared {
    /// One slot per core, by core index.
    pub slots: Vec<CoreSlot>,
    /// Cores that recovered their streams and accept clients (`/healthz` is 503 until all have).
    started_cores: AtomicUsize,
    /// `$SYS.REQ.SERVER` requests the cores admitted, for the responder thread.
    sys_jobs: Mutex<VecDeque<SysJob>>,
    sys_ready: Condvar,
    /// Rendered answers, per requesting core, and how many wait in all.
    sys_answers: Vec<Mutex<Vec<SysAnswer>>>,
    sys_answers_waiting: Vec<AtomicUsize>,
}

impl MonitorShared {
    /// Slots for `n_cores` cores, not started.
    pub fn new(n_cores: usize) -> Arc<Self> {
        Arc::new(MonitorShared {
            slots: (0..n_cores).map(|_| CoreSlot::default()).collect(),
            started_cores: AtomicUsize::new(0),
            sys_jobs: Mutex::new(VecDeque::new()),
            sys_ready: Condvar::new(),
            sys_answers: (0..n_cores).map(|_| Mutex::new(Vec::new())).collect(),
            sys_answers_waiting: (0..n_cores).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// A core's side: queues an admitted `$SYS` request for the responder thread.
    pub fn submit_sys(&self, job: SysJob) {
        self.sys_jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
        self.sys_ready.notify_one();
    }

    /// The responder's side: the next request, waiting at most `timeout`.
    pub fn next_sys_job(&self, timeout: Duration) -> Option<SysJob> {
        let jobs = self.sys_jobs.lock().unwrap_or_else(|e| e.into_inner());
        let (mut jobs, _) = self
            .sys_ready
            .wait_timeout_while(jobs, timeout, |j| j.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        jobs.pop_front()
    }

    /// The responder's side: an answer for `core` to publish.
    pub fn push_sys_answer(&self, core: usize, answer: SysAnswer) {
        let (Some(slot), Some(count)) = (
            self.sys_answers.get(core),
            self.sys_answers_waiting.get(core),
        ) else {
            return;
        };
        slot.lock().unwrap_or_else(|e| e.into_inner()).push(answer);
        count.fetch_add(1, Ordering::Release);
    }

    /// A core's side: the answers waiting for it (no lock when there are none).
    pub fn take_sys_answers(&self, core: usize) -> Vec<SysAnswer> {
        match (
            self.sys_answers.get(core),
            self.sys_answers_waiting.get(core),
        ) {
            (Some(slot), Some(count)) if count.load(Ordering::Acquire) > 0 => {
                let taken = std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner()));
                count.fetch_sub(taken.len(), Ordering::AcqRel);
                taken
            }
            _ => Vec::new(),
        }
    }

    /// A core's side: it has recovered its streams and is about to accept clients.
    pub fn core_started(&self) {
        self.started_cores.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every core has started.
    pub fn is_started(&self) -> bool {
        self.started_cores.load(Ordering::Acquire) >= self.slots.len()
    }

    /// Asks every core for a snapshot and waits (bounded) for their answers.
    pub fn gather(&self, detail: bool) -> Vec<Arc<CoreSnapshot>> {
        self.gather_js(detail, JsDetail::None)
    }

    /// [`Self::gather`], with each core's JetStream state at `js` detail.
    pub fn gather_js(&self, detail: bool, js: JsDetail) -> Vec<Arc<CoreSnapshot>> {
        let reqs: Vec<u64> = self
            .slots
            .iter()
            .map(|s| s.request_js(detail, js))
            .collect();
        let deadline = Instant::now() + SNAPSHOT_WAIT;
        while Instant::now() < deadline
            && !self.slots.iter().zip(&reqs).all(|(s, r)| s.answered(*r))
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.slots.iter().map(CoreSlot::latest).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_publish_round_trip() {
        let slot = CoreSlot::default();
        assert_eq!(slot.pending_request(), None);
        let r = slot.request(true);
        assert_eq!(slot.pending_request(), Some((r, true)));
        assert!(!slot.answered(r));
        slot.publish(
            r,
            CoreSnapshot {
                connections: 3,
                ..Default::default()
            },
        );
        assert!(slot.answered(r));
        assert_eq!(slot.pending_request(), None);
        assert_eq!(slot.latest().connections, 3);
        assert_eq!(slot.request(false), r + 1);
        assert_eq!(slot.pending_request(), Some((r + 1, false)));
        assert_eq!(slot.js_detail(), JsDetail::None);
        slot.request_js(false, JsDetail::Consumers);
        slot.request_js(false, JsDetail::Totals);
        assert_eq!(slot.js_detail(), JsDetail::Consumers);
        slot.latest();
        assert_eq!(slot.js_detail(), JsDetail::None);
    }

    #[test]
    fn started_once_every_core_is() {
        let m = MonitorShared::new(2);
        assert!(!m.is_started());
        m.core_started();
        assert!(!m.is_started());
        m.core_started();
        assert!(m.is_started());
    }
}
