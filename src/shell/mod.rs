//! The per-core glommio shell: moves bytes between sockets, rings and the core's
//! [`Engine`], and decides nothing itself.
//!
//! Tasks on each core: one accept loop on the core's own SO_REUSEPORT listener; a reader
//! and a writer per connection; a flusher (our ring to that peer) and a receiver (that
//! peer's ring to us) per other core; a keepalive ticker; a shutdown watcher. They share
//! the engine through a `RefCell` that is never borrowed across an `.await`.

#[doc(hidden)]
pub mod commit_bench;
mod conn;
#[cfg(test)]
mod fault_fs;
pub mod js_drive;
mod lame_duck;
mod leaf;
mod notify;
mod segment_writer;
mod storage;
mod storage_chain;
mod storage_fs;
mod storage_policy;
mod storage_recover;
mod storage_task;
mod tls_io;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::net::TcpListener;

use crate::engine::{Engine, EngineConfig, EngineEvents};
use crate::mesh::RingBatch;
use crate::monitor::slot::{JsDetail, ACTIVE_FOR, SNAPSHOT_POLL, SNAPSHOT_POLL_IDLE};
use crate::monitor::MonitorShared;
use crate::session::ConnId;
use crate::streams::{Clock, HostConfig, StreamHost};

pub use storage::{StorageTuning, SyncMode};

pub use lame_duck::LameDuckSpec;
pub use notify::Notify;

/// How often the shutdown flag is looked at.
const SHUTDOWN_POLL_MS: u64 = 50;
/// How long shutdown waits for connections to flush before the core exits anyway.
const SHUTDOWN_GRACE_MS: u64 = 5_000;
/// Longest a producer (a reader or a ring) waits for congested subscribers to drain; a
/// subscriber still full afterwards keeps filling until it is dropped as a slow consumer.
const STALL_MAX: Duration = Duration::from_millis(10);
/// Poll period while stalled.
const STALL_POLL: Duration = Duration::from_micros(100);

/// The server-wide `max_connections` admission count: the one value all cores share. It is
/// touched only when a connection is accepted or closed, never on the message path.
pub struct ConnectionLimit {
    open: AtomicUsize,
    /// Changed by a configuration reload (`limits.max_connections`).
    max: AtomicUsize,
}

impl ConnectionLimit {
    /// A limit of `max` open connections across all cores.
    pub fn new(max: usize) -> Self {
        ConnectionLimit {
            open: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        }
    }

    /// A new cap for new connections (reload); open connections above it stay open, as
    /// nats-server.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// Claims a slot for a new connection; false (and nothing claimed) when full.
    pub fn try_admit(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max.load(Ordering::Relaxed)).then_some(n + 1)
            })
            .is_ok()
    }

    /// Returns the slot of a closed, admitted connection.
    pub fn release(&self) {
        let before = self.open.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0);
    }
}

/// JetStream settings of a core.
#[derive(Debug, Clone)]
pub struct JetStreamSpec {
    /// The stream host's settings (`core_id` is overwritten with the mesh position).
    pub host: HostConfig,
    /// Segment size limit.
    pub max_segment_bytes: u64,
    /// When appends reach the disk.
    pub sync: SyncMode,
    /// JetStream domain (`$JS.<domain>.API.>` maps to `$JS.API.>`).
    pub domain: Option<String>,
}

/// What a core needs to start, built by the server before the executors spawn.
pub struct CoreSpec {
    /// Engine settings; `core_id` is overwritten with the core's place in the mesh.
    pub engine: EngineConfig,
    /// Listen address (`host:port`).
    pub listen_addr: String,
    /// Socket write stall limit.
    pub write_deadline: Duration,
    /// Period of the keepalive ticker.
    pub tick: Duration,
    /// The ring mesh, joined by every core (None with a single core).
    pub mesh: Option<MeshBuilder<RingBatch, Full>>,
    /// Set by the signal handler or `ServerHandle::shutdown`.
    pub shutdown: Arc<AtomicBool>,
    /// Server-wide connection admission.
    pub connections: Arc<ConnectionLimit>,
    /// JetStream settings; None when JetStream is off.
    pub jetstream: Option<JetStreamSpec>,
    /// Cores that finished start-up (recovery, interest acknowledged everywhere); no core
    /// accepts clients before all have, so the first request anywhere finds every stream.
    pub started_cores: Arc<AtomicUsize>,
    /// Tells the starter that this core is listening (or why it could not).
    pub ready: Sender<Result<usize, String>>,
    /// Monitoring's slots (one per core, by index): HTTP monitoring and the `$SYS` responder.
    pub monitor: Option<Arc<MonitorShared>>,
    /// Authentication rules (`[authorization]`); None = no authentication.
    pub auth: Option<Arc<crate::auth::Authenticator>>,
    /// The server's accounts (`$G` alone unless `[accounts]` configures more).
    pub accounts: Arc<crate::accounts::Accounts>,
    /// Lame duck mode (SIGUSR2).
    pub lame_duck: LameDuckSpec,
    /// Leaf node links (`[leafnodes]`); None = off.
    pub leaf: Option<Arc<LeafSpec>>,
    /// Settings a configuration reload (SIGHUP) changes; polled with the shutdown flag.
    pub reload: Arc<crate::reload::Reloadable>,
    /// TLS on client connections (`[tls]`), loaded before the cores start; None = plaintext.
    pub tls: Option<Arc<crate::tls::TlsSetup>>,
}

/// Leaf node settings of every core.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// This server's identity on links.
    pub settings: Arc<crate::leaf::LeafSettings>,
    /// `host:port` of the leaf listener (hub role), if any.
    pub listen_addr: Option<String>,
    /// Hubs to solicit; remote `i` lives on core `i % n_cores`.
    pub remotes: Vec<Arc<crate::leaf::remote::RemoteSpec>>,
    /// `[leafnodes.tls]`: TLS on accepted links.
    pub tls: Option<Arc<crate::tls::TlsSetup>>,
}

/// One core's shared state, owned by the tasks of that core only.
pub(crate) struct CoreShell {
    pub(crate) engine: RefCell<Engine>,
    pub(crate) conns: RefCell<AHashMap<ConnId, Rc<conn::ConnIo>>>,
    events: RefCell<EngineEvents>,
    flush_notify: Vec<Notify>,
    stop_accepting: Notify,
    /// Ends the leaf port's accept loop.
    stop_leaf_accepting: Notify,
    /// The accept loop has ended and dropped the listener.
    listener_closed: Cell<bool>,
    all_closed: Notify,
    epoch: Instant,
    pub(crate) write_deadline: Duration,
    pub(crate) connections: Arc<ConnectionLimit>,
    /// One stream host per account with JetStream (`$G` first); empty without JetStream.
    pub(crate) hosts: Vec<HostSlot>,
    js_enabled: bool,
    /// The engine's interest epoch the stream hosts last saw.
    interest_epoch_seen: Cell<u64>,
    pub(crate) storage_stop: Cell<bool>,
    /// Where admitted `$SYS.REQ.SERVER` requests go (the monitor's responder thread).
    sys_monitor: Option<Arc<MonitorShared>>,
    /// TLS on client connections; None = plaintext.
    pub(crate) tls: Option<Arc<crate::tls::TlsSetup>>,
    /// Group-commit size and duration, recorded by the storage tasks for `/metrics`.
    pub(crate) commit_hist: RefCell<crate::monitor::hist::CommitHistograms>,
}

/// The stream host of one account on this core: its streams, consumers and files
/// (`<store_dir>` for `$G`, `<store_dir>/.accounts/<name>` for the others), its driver
/// and its storage task's signals.
pub(crate) struct HostSlot {
    pub(crate) account: crate::accounts::AccountId,
    pub(crate) host: RefCell<StreamHost>,
    js: RefCell<js_drive::JsDriver>,
    pub(crate) storage_notify: Notify,
    pub(crate) storage_done: Notify,
}

impl CoreShell {
    /// Whether some storage task was woken and has not run yet.
    pub(crate) fn storage_pending(&self) -> bool {
        self.hosts.iter().any(|h| h.storage_notify.is_pending())
    }
}

impl CoreShell {
    /// The fast-producer stall: after an engine call that pushed some subscribers over 3/4
    /// of their pending limit, waits (at most `STALL_MAX`) for them to drain, so a fast
    /// publisher is slowed to what its subscribers take instead of getting them dropped.
    pub(crate) async fn stall_if_congested(&self) {
        let mut congested = Vec::new();
        self.engine.borrow_mut().take_congested(&mut congested);
        if congested.is_empty() {
            return;
        }
        let deadline = Instant::now() + STALL_MAX;
        for conn in congested {
            while self.engine.borrow().is_congested(conn) && Instant::now() < deadline {
                glommio::timer::sleep(STALL_POLL).await;
            }
        }
    }

    /// Nanoseconds since this core started (the engine's clock).
    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The time the stream host is given: this core's monotonic clock and the wall clock.
    pub(crate) fn js_clock(&self) -> Clock {
        Clock {
            mono_ns: self.now_ns(),
            wall_ns: wall_now_ns(),
        }
    }

    /// Carries out what the engine asked for in its last calls (first letting the stream
    /// host handle what the engine matched for JetStream).
    pub(crate) fn process_events(&self) {
        if let Some(m) = &self.sys_monitor {
            sys_requests(&mut self.engine.borrow_mut(), m);
        }
        if self.js_enabled {
            let mut engine = self.engine.borrow_mut();
            let now = self.js_clock();
            let epoch = engine.interest_epoch();
            let changed = epoch != self.interest_epoch_seen.get();
            self.interest_epoch_seen.set(epoch);
            // A host's work may feed another account's host (a stream import): a few passes.
            for _pass in 0..4 {
                for slot in &self.hosts {
                    let mut host = slot.host.borrow_mut();
                    if changed && _pass == 0 {
                        slot.js
                            .borrow_mut()
                            .interest_changed(&mut host, &mut engine, now);
                    }
                    if engine.has_internal_work() || host.has_own_work() {
                        slot.js.borrow_mut().drive(&mut host, &mut engine, now);
                    }
                }
                if self.hosts.len() == 1 || !engine.has_internal_work() {
                    break;
                }
            }
            for slot in &self.hosts {
                if slot.host.borrow().has_storage_work(now) {
                    slot.storage_notify.notify();
                }
            }
        }
        let mut ev = self.events.borrow_mut();
        self.engine.borrow_mut().take_events(&mut ev);
        if ev.is_empty() {
            return;
        }
        let conns = self.conns.borrow();
        for c in &ev.writable {
            if let Some(io) = conns.get(c) {
                io.writable.notify();
            }
        }
        for c in &ev.unblocked {
            if let Some(io) = conns.get(c) {
                io.unblocked.notify();
            }
        }
        if !ev.closed.is_empty() {
            let engine = self.engine.borrow();
            for c in &ev.closed {
                if let Some(io) = conns.get(c) {
                    if !engine.session(*c).flush_before_close {
                        io.shutdown_socket();
                    }
                    io.writable.notify();
                    io.unblocked.notify();
                }
            }
        }
        for p in &ev.peers_with_output {
            self.flush_notify[*p].notify();
        }
    }
}

/// Runs one core until shutdown: joins the mesh, listens, serves.
pub async fn run_core(spec: CoreSpec) {
    let CoreSpec {
        mut engine,
        listen_addr,
        write_deadline,
        tick,
        mesh,
        shutdown,
        connections,
        jetstream,
        started_cores,
        ready,
        monitor,
        auth,
        accounts,
        lame_duck,
        leaf,
        reload,
        tls,
    } = spec;
    let (senders, receivers) = match mesh {
        Some(m) => match m.join().await {
            Ok((s, r)) => (Some(s), Some(r)),
            Err(e) => {
                let _ = ready.send(Err(format!("could not join the core mesh: {e}")));
                return;
            }
        },
        None => (None, None),
    };
    if let Some(s) = &senders {
        engine.core_id = s.peer_id();
    }
    let core_id = engine.core_id;
    let n_cores = engine.n_cores;
    let listener = match TcpListener::bind(listen_addr.as_str()) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "core {core_id}: cannot listen on {listen_addr}: {e}"
            )));
            return;
        }
    };
    let mut host_cfg = jetstream.as_ref().map(|j| j.host.clone());
    if let Some(h) = host_cfg.as_mut() {
        h.core_id = core_id;
    }
    let js_enabled = host_cfg.is_some();
    // One stream host per account with JetStream, each with its own store directory.
    let host_cfgs: Vec<(crate::accounts::AccountId, HostConfig)> = match &host_cfg {
        None => Vec::new(),
        Some(h) => accounts
            .iter()
            .filter(|(_, a)| a.jetstream)
            .map(|(id, a)| {
                let mut c = h.clone();
                if id != crate::accounts::GLOBAL {
                    c.store_dir = h.store_dir.join(".accounts").join(&*a.name);
                }
                let (mem, file) = a.jetstream_limits;
                c.max_memory_bytes = mem.unwrap_or(c.max_memory_bytes);
                c.max_file_bytes = file.unwrap_or(c.max_file_bytes);
                c.counts = a.jetstream_counts;
                (id, c)
            })
            .collect(),
    };
    let shell = Rc::new(CoreShell {
        hosts: host_cfgs
            .iter()
            .map(|(account, c)| HostSlot {
                account: *account,
                host: RefCell::new(StreamHost::new(c.clone(), wall_now_ns())),
                js: RefCell::new(js_drive::JsDriver::for_account(*account)),
                storage_notify: Notify::default(),
                storage_done: Notify::default(),
            })
            .collect(),
        js_enabled,
        interest_epoch_seen: Cell::new(0),
        storage_stop: Cell::new(false),
        sys_monitor: monitor.clone(),
        commit_hist: RefCell::default(),
        engine: RefCell::new({
            let server_id = engine.info.server_id.clone();
            let mut e = Engine::new(engine);
            e.set_auth(auth);
            e.set_accounts(accounts.clone());
            e.set_leaf(leaf.as_ref().map(|l| l.settings.clone()));
            e.set_system_users(reload.current().1.system_users.clone());
            if monitor.is_some() {
                for subject in crate::monitor::sys::subjects(&server_id) {
                    e.add_sys_service(&bytes::Bytes::from(subject));
                }
                e.add_sys_account_services();
            }
            e.set_wall_epoch_ns(wall_now_ns());
            e.set_js_domain(jetstream.as_ref().and_then(|j| j.domain.as_deref()));
            e
        }),
        conns: RefCell::new(AHashMap::new()),
        events: RefCell::new(EngineEvents::default()),
        flush_notify: (0..n_cores).map(|_| Notify::default()).collect(),
        stop_accepting: Notify::default(),
        stop_leaf_accepting: Notify::default(),
        listener_closed: Cell::new(false),
        all_closed: Notify::default(),
        epoch: Instant::now(),
        write_deadline,
        connections,
        tls,
    });
    if let (Some(senders), Some(receivers)) = (senders, receivers) {
        spawn_ring_tasks(&shell, senders, receivers);
    }
    let storage_running = match &jetstream {
        Some(js) => {
            for (idx, (_, h)) in host_cfgs.iter().enumerate() {
                if let Err(e) = std::fs::create_dir_all(&h.store_dir) {
                    // Start-up, before any client: std::fs is allowed here (as recovery).
                    tracing::error!(dir = %h.store_dir.display(), error = %e, "cannot create an account's JetStream directory");
                }
                let mut storage = storage::Storage::new(js.max_segment_bytes, js.sync);
                {
                    let slot = &shell.hosts[idx];
                    let mut engine = shell.engine.borrow_mut();
                    let mut host = slot.host.borrow_mut();
                    host.start();
                    for r in storage::recover(&h.store_dir, core_id, n_cores) {
                        let s = host.restore(r.meta, r.store, r.consumers, shell.js_clock());
                        storage.adopt(s, r.files);
                    }
                    slot.js.borrow_mut().apply(&mut host, &mut engine);
                }
                shell.process_events();
                glommio::spawn_local(storage::storage_task(shell.clone(), storage, idx)).detach();
            }
            true
        }
        None => false,
    };
    glommio::spawn_local(ticker(shell.clone(), tick)).detach();
    if let Some(m) = &monitor {
        glommio::spawn_local(monitor_publisher(shell.clone(), m.clone(), core_id)).detach();
    }
    if storage_running {
        glommio::spawn_local(consumer_ticker(shell.clone())).detach();
    }
    // Start-up barrier: our interest (API, recovered streams) applied on every core, then
    // every core done likewise. Bounded: a core that never gets there is logged, not waited on.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shell.engine.borrow().interest_synced() && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // Recovered: counted for /healthz before any core can accept a client.
    if let Some(m) = &monitor {
        m.core_started();
    }
    started_cores.fetch_add(1, Ordering::AcqRel);
    while started_cores.load(Ordering::Acquire) < n_cores && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    if Instant::now() >= deadline {
        tracing::warn!(
            core = core_id,
            "start-up barrier timed out; accepting anyway"
        );
    }
    glommio::spawn_local(conn::accept_loop(shell.clone(), listener)).detach();
    if let Some(l) = &leaf {
        start_leaf(&shell, l, core_id, n_cores, &shutdown);
    }
    tracing::info!(core = core_id, addr = %listen_addr, "core listening");
    let _ = ready.send(Ok(core_id));

    let mut reload_seen = 0;
    while !shutdown.load(Ordering::Relaxed) {
        if reload.generation() != reload_seen {
            let (generation, live) = reload.current();
            reload_seen = generation;
            shell.engine.borrow_mut().reload(&live);
            shell.process_events();
            tracing::debug!(core = core_id, generation, "reloaded settings applied");
        }
        if lame_duck.flag.load(Ordering::Relaxed) {
            lame_duck::run(&shell, &lame_duck, &shutdown, core_id, n_cores).await;
            break;
        }
        conn::maybe_trim_heap();
        glommio::timer::sleep(Duration::from_millis(SHUTDOWN_POLL_MS)).await;
    }
    tracing::info!(core = core_id, "shutting down: flushing connections");
    shell.stop_accepting.notify();
    shell.stop_leaf_accepting.notify();
    // Phase 1: stop client input everywhere and wait until every peer's last forwarded
    // message has reached us (the Quiesce marker follows it on the ring), so nothing the
    // server accepted is dropped in flight between cores.
    shell.engine.borrow_mut().stop_input();
    shell.process_events();
    let quiesce_deadline = Instant::now() + Duration::from_millis(SHUTDOWN_GRACE_MS);
    while !shell.engine.borrow().all_peers_quiesced() && Instant::now() < quiesce_deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // Phase 1b: no request can reach us any more, so answer every waiting pull request
    // (`409 Server Shutdown`, as nats-server) and quiesce once more: the answers to clients
    // of other cores travel ahead of the second marker, so they are queued there before
    // those cores close their connections.
    if js_enabled {
        let now = shell.js_clock();
        let mut engine = shell.engine.borrow_mut();
        for slot in &shell.hosts {
            let mut host = slot.host.borrow_mut();
            slot.js.borrow_mut().shutdown(&mut host, &mut engine, now);
        }
    }
    shell.engine.borrow_mut().quiesce_again();
    shell.process_events();
    while !shell.engine.borrow().peers_quiesced(2) && Instant::now() < quiesce_deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    // Phase 2: close every connection after flushing what is queued for it.
    shell.engine.borrow_mut().begin_shutdown();
    shell.process_events();
    let drained = futures_lite::future::or(
        async {
            while !shell.conns.borrow().is_empty() {
                shell.all_closed.wait().await;
            }
            true
        },
        async {
            glommio::timer::sleep(Duration::from_millis(SHUTDOWN_GRACE_MS)).await;
            false
        },
    )
    .await;
    if !drained {
        tracing::warn!(
            core = core_id,
            "shutdown grace expired with connections still open"
        );
    }
    if storage_running {
        // Let the storage task finish its last group commit and close segments cleanly.
        shell.storage_stop.set(true);
        for slot in &shell.hosts {
            slot.storage_notify.notify();
        }
        futures_lite::future::or(
            async {
                for slot in &shell.hosts {
                    slot.storage_done.wait().await;
                }
            },
            async { glommio::timer::sleep(Duration::from_millis(SHUTDOWN_GRACE_MS)).await },
        )
        .await;
    }
}

/// Listens on the leaf port (every core, like the client port) and solicits this core's
/// share of the remotes.
fn start_leaf(
    shell: &Rc<CoreShell>,
    spec: &LeafSpec,
    core_id: usize,
    n_cores: usize,
    shutdown: &Arc<AtomicBool>,
) {
    if let Some(addr) = &spec.listen_addr {
        match TcpListener::bind(addr.as_str()) {
            Ok(l) => {
                glommio::spawn_local(leaf::accept_loop(shell.clone(), l, spec.tls.clone()))
                    .detach();
                if core_id == 0 {
                    tracing::info!(%addr, "listening for leafnode connections");
                }
            }
            Err(e) => {
                tracing::error!(core = core_id, %addr, error = %e, "cannot listen for leafnode connections")
            }
        }
    }
    for (i, remote) in spec.remotes.iter().enumerate() {
        if i % n_cores == core_id {
            glommio::spawn_local(leaf::solicit(
                shell.clone(),
                remote.clone(),
                shutdown.clone(),
            ))
            .detach();
        }
    }
}

fn spawn_ring_tasks(
    shell: &Rc<CoreShell>,
    senders: Senders<RingBatch>,
    mut receivers: Receivers<RingBatch>,
) {
    let senders = Rc::new(senders);
    let me = senders.peer_id();
    for peer in 0..senders.nr_consumers() {
        if peer == me {
            continue;
        }
        let shell = shell.clone();
        let senders = senders.clone();
        glommio::spawn_local(async move {
            loop {
                shell.flush_notify[peer].wait().await;
                loop {
                    let batch = shell.engine.borrow_mut().take_outgoing(peer);
                    if batch.is_empty() {
                        break;
                    }
                    if senders.send_to(peer, batch).await.is_err() {
                        tracing::debug!(peer, "ring to peer closed");
                        return;
                    }
                }
            }
        })
        .detach();
    }
    for (peer, receiver) in receivers.streams() {
        let shell = shell.clone();
        glommio::spawn_local(async move {
            while let Some(batch) = receiver.recv().await {
                let bytes = shell.engine.borrow_mut().on_ring(peer, batch);
                shell.process_events();
                shell.stall_if_congested().await;
                shell.engine.borrow_mut().credit_peer(peer, bytes);
                shell.process_events();
            }
        })
        .detach();
    }
}

/// Period of consumer timers (redelivery, pull expiry, heartbeats): their resolution.
const CONSUMER_TICK: Duration = Duration::from_millis(10);

async fn consumer_ticker(shell: Rc<CoreShell>) {
    loop {
        // Every tick, or sooner when a pull request expires (exact 408s) or a message
        // schedule is due before it.
        let now = shell.js_clock();
        let wait = shell
            .hosts
            .iter()
            .filter_map(|s| {
                let host = s.host.borrow();
                match (host.next_pull_expiry_in(now), host.next_schedule_in(now)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .fold(CONSUMER_TICK, |a, d| a.min(d));
        glommio::timer::sleep(wait).await;
        {
            let mut engine = shell.engine.borrow_mut();
            let now = shell.js_clock();
            for slot in &shell.hosts {
                let mut host = slot.host.borrow_mut();
                slot.js
                    .borrow_mut()
                    .tick_consumers(&mut host, &mut engine, now);
            }
        }
        shell.process_events();
    }
}

/// Answers the monitor's snapshot requests (checked every `SNAPSHOT_POLL` while scrapes come,
/// every `SNAPSHOT_POLL_IDLE` otherwise): copies this core's counters (and, when asked, its
/// connections) into its slot. Never per message.
async fn monitor_publisher(shell: Rc<CoreShell>, shared: Arc<MonitorShared>, core: usize) {
    // Unix time of the core clock's zero, so snapshots carry wall-clock times.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let epoch_unix_ns = wall.saturating_sub(shell.now_ns());
    let Some(slot) = shared.slots.get(core) else {
        return;
    };
    let mut last_request: Option<Instant> = None;
    loop {
        let active = last_request.is_some_and(|t| t.elapsed() < ACTIVE_FOR);
        glommio::timer::sleep(if active {
            SNAPSHOT_POLL
        } else {
            SNAPSHOT_POLL_IDLE
        })
        .await;
        if let Some((req, detail)) = slot.pending_request() {
            last_request = Some(Instant::now());
            let mut snap = shell
                .engine
                .borrow()
                .monitor_snapshot(shell.now_ns(), detail);
            snap.epoch_unix_ns = epoch_unix_ns;
            let js = slot.js_detail();
            // Each JetStream account's streams; `js` is their sum.
            if js != JsDetail::None && !shell.hosts.is_empty() {
                snap.js_accounts = shell
                    .hosts
                    .iter()
                    .map(|slot| {
                        let view = slot
                            .host
                            .borrow_mut()
                            .monitor_view(js >= JsDetail::Streams, js >= JsDetail::Consumers);
                        (slot.account, view)
                    })
                    .collect();
                snap.js = Some(crate::monitor::jsz::sum_account_views(&snap.js_accounts));
                snap.commits = Some(shell.commit_hist.borrow().clone());
            }
            slot.publish(req, snap);
        }
        let answers = shared.take_sys_answers(core);
        if !answers.is_empty() {
            let mut engine = shell.engine.borrow_mut();
            for a in answers {
                engine.publish_internal_in(a.account, &a.reply, None, 0, &a.body);
            }
            drop(engine);
            shell.process_events();
        }
    }
}

/// Hands the `$SYS.REQ.SERVER` requests the engine admitted to the responder thread.
fn sys_requests(engine: &mut Engine, monitor: &MonitorShared) {
    if !engine.has_sys_requests() {
        return;
    }
    let mut requests = Vec::new();
    engine.take_sys_requests(&mut requests);
    let core = engine.core_id();
    for request in requests {
        monitor.submit_sys(crate::monitor::sys::SysJob { core, request });
    }
}

async fn ticker(shell: Rc<CoreShell>, period: Duration) {
    loop {
        glommio::timer::sleep(period).await;
        let now = shell.now_ns();
        shell.engine.borrow_mut().tick(now);
        if shell.js_enabled {
            let mut engine = shell.engine.borrow_mut();
            let now = shell.js_clock();
            for slot in &shell.hosts {
                let mut host = slot.host.borrow_mut();
                slot.js.borrow_mut().tick(&mut host, &mut engine, now);
            }
        }
        shell.process_events();
    }
}

/// Unix nanoseconds now (the stream host's wall clock: stored timestamps).
fn wall_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
