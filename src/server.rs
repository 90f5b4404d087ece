//! Starting and stopping a natrix server: probes the host, pins one glommio executor per
//! core, builds the ring mesh between them, and waits for every core to listen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

use crate::config::Config;
use crate::engine::EngineConfig;
use crate::mesh::RingBatch;
use crate::monitor::{self, JsFacts, MonitorHandle, MonitorShared, ServerFacts};
use crate::probe::{self, ProbeError};
use crate::protocol::info::{new_server_id, ServerInfo, ADVERTISED_VERSION};
use crate::shell::{self, ConnectionLimit, CoreSpec, JetStreamSpec, LameDuckSpec, SyncMode};
use crate::streams::HostConfig;

/// Batches each ring holds; generous, since small mesh capacities have deadlocked (glommio #555).
pub const RING_CAPACITY_BATCHES: usize = 4096;
/// How long start-up waits for every core to report that it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The host lacks io_uring or locked memory.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// Fewer CPUs are available to this process than cores were asked for.
    #[error("server.cores = {wanted} but only {available} CPUs are available to this process (check taskset / cgroup cpusets)")]
    NotEnoughCpus {
        /// Cores asked for.
        wanted: usize,
        /// CPUs in this process's affinity mask.
        available: usize,
    },
    /// An executor thread could not be created.
    #[error("cannot start executor for core {core}: {reason}")]
    Executor {
        /// The core index.
        core: usize,
        /// glommio's error.
        reason: String,
    },
    /// A core could not bind its listener or join the mesh.
    #[error("{0}")]
    Core(String),
    /// The monitoring port could not be served.
    #[error(transparent)]
    Monitor(#[from] monitor::MonitorError),
    /// `[tls]` could not be loaded (checked again here: files may change after validation).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsConfigError),
    /// A core did not report in time.
    #[error("cores did not start within {0:?}")]
    Timeout(Duration),
}

/// A running server: its executor threads and the switch that stops them.
pub struct ServerHandle {
    handles: Vec<ExecutorJoinHandle<()>>,
    shutdown: Arc<AtomicBool>,
    monitor: Option<MonitorHandle>,
    reloader: Reloader,
}

/// Applies a reloaded configuration to a running server (SIGHUP); see [`crate::reload`].
#[derive(Clone)]
pub struct Reloader {
    reload: Arc<crate::reload::Reloadable>,
    connections: Arc<ConnectionLimit>,
}

impl Reloader {
    /// Checks `cfg` against the running configuration and hands what changed to the cores
    /// (they apply it within their poll period). Returns the changed keys; on error nothing
    /// changed.
    pub fn reload(&self, cfg: Config) -> Result<Vec<String>, crate::reload::ReloadError> {
        let max_connections = cfg.limits.max_connections;
        let changed = self.reload.reload(cfg)?;
        self.connections.set_max(max_connections);
        Ok(changed)
    }
}

impl ServerHandle {
    /// The handle a signal thread reloads the configuration through.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The flag that stops the server when set (signal handlers set it).
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }

    /// Stops accepting, flushes queued output to clients, and joins every core.
    pub fn shutdown(self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.wait();
    }

    /// Blocks until every core has exited (after the shutdown flag is set).
    pub fn wait(self) {
        for h in self.handles {
            if let Err(e) = h.join() {
                tracing::error!(error = %e, "core exited with an error");
            }
        }
        if let Some(m) = self.monitor {
            m.join();
        }
    }
}

/// The CPUs this process may run on, in order (honours taskset and cpusets).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
            .collect()
    }
}

/// Shortest ticker period when it enforces an auth timeout.
const MIN_AUTH_TICK: Duration = Duration::from_millis(20);

/// Whether clients beyond this host can connect and no authentication is configured.
pub(crate) fn open_without_auth(cfg: &Config) -> bool {
    let loopback = cfg
        .server
        .addr
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    !loopback
        && !cfg.authorization.as_ref().is_some_and(|a| a.is_enabled())
        && cfg.operator.is_none()
        && cfg.accounts.values().all(|a| a.users.is_empty())
}

/// Warns when clients beyond this host can connect and no authentication is configured.
fn warn_if_open(cfg: &Config) {
    if open_without_auth(cfg) {
        tracing::warn!(
            addr = %cfg.server.addr,
            "listening beyond loopback with no authentication: any client that reaches this \
             port can publish and subscribe to everything (configure [authorization])"
        );
    }
}

/// Starts a server on `cfg` and returns once every core listens.
pub fn start(cfg: Config) -> Result<ServerHandle, StartError> {
    start_with_shutdown(cfg, Arc::new(AtomicBool::new(false)))
}

/// Like [`start`], with the stop switch made by the caller, so signal handlers can be in
/// place before the first client is accepted.
pub fn start_with_shutdown(
    cfg: Config,
    shutdown: Arc<AtomicBool>,
) -> Result<ServerHandle, StartError> {
    start_with_signals(cfg, shutdown, Arc::new(AtomicBool::new(false)))
}

/// Like [`start_with_shutdown`], with lame duck mode (SIGUSR2) entered when `lame_duck` is set.
pub fn start_with_signals(
    cfg: Config,
    shutdown: Arc<AtomicBool>,
    lame_duck: Arc<AtomicBool>,
) -> Result<ServerHandle, StartError> {
    let n_cores = cfg.effective_cores().max(1);
    probe::check_host(n_cores, cfg.server.io_memory_bytes)?;
    let cpus = allowed_cpus();
    if cpus.len() < n_cores {
        return Err(StartError::NotEnoughCpus {
            wanted: n_cores,
            available: cpus.len(),
        });
    }
    let mesh =
        (n_cores > 1).then(|| MeshBuilder::<RingBatch, _>::full(n_cores, RING_CAPACITY_BATCHES));
    let limits = &cfg.limits;
    let server_id = new_server_id();
    let info = ServerInfo {
        server_name: cfg
            .server
            .server_name
            .clone()
            .unwrap_or_else(|| server_id.clone()),
        server_id,
        version: ADVERTISED_VERSION.to_string(),
        proto: 1,
        git_commit: String::new(),
        go: format!("natrix {}", env!("CARGO_PKG_VERSION")),
        host: cfg.server.addr.clone(),
        port: cfg.server.port,
        headers: true,
        auth_required: false,
        max_payload: limits.max_payload_bytes,
        jetstream: cfg.jetstream.enabled,
        client_id: 0,
        client_ip: String::new(),
        nonce: None,
        domain: cfg
            .jetstream
            .enabled
            .then(|| cfg.jetstream.domain.clone())
            .flatten(),
        api_lvl: Some(crate::streams::API_LEVEL),
        connect_info: None,
        remote_account: None,
        lame_duck_mode: false,
        tls_required: cfg.tls.is_some(),
        tls_verify: cfg
            .tls
            .as_ref()
            .is_some_and(|t| t.verify || t.verify_and_map),
    };
    let engine = EngineConfig {
        core_id: 0,
        n_cores,
        limits: crate::reload::engine_limits(limits),
        info,
    };
    // Operator mode: users come from JWTs and the accounts from the resolver's account JWTs.
    let trust = match &cfg.operator {
        Some(op) => Some(
            op.load()
                .map_err(|e| StartError::Core(format!("{}: {}", e.key, e.reason)))?,
        ),
        None => None,
    };
    let (account_cfgs, system_account) = match &trust {
        Some(t) => (
            // Activation tokens are checked against the wall clock once, at start-up.
            crate::accounts::from_operator::accounts_of(
                t,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            ),
            Some(t.system_account().to_owned()),
        ),
        None => (cfg.accounts.clone(), cfg.system_account.clone()),
    };
    let accounts = {
        // Keys the service-reply tags: std's per-process random hash keys are enough.
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        let seeds = [0u64, 1, 2, 3].map(|i| r.hash_one(i));
        let a = crate::accounts::Accounts::build(
            &account_cfgs,
            system_account.as_deref(),
            cfg.jetstream.enabled,
            seeds,
        )
        .ok_or_else(|| StartError::Core("accounts do not form a valid set".to_owned()))?;
        Arc::new(a)
    };
    let auth = match trust {
        Some(t) => Some(Arc::new(crate::auth::Authenticator::from_operator(t))),
        None => crate::reload::authenticator(&cfg),
    };
    let reload = crate::reload::Reloadable::new(&cfg, auth.clone());
    let mut tick = Duration::from_millis((limits.ping_interval_ms / 10).clamp(50, 1000));
    match &auth {
        // The ticker also enforces the auth timeout: a tenth of it is precise enough.
        Some(a) => tick = tick.min(Duration::from_nanos(a.timeout_ns() / 10).max(MIN_AUTH_TICK)),
        None => warn_if_open(&cfg),
    }
    // Certificates and keys are read here, before any core starts.
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(t.load()?)),
        None => None,
    };
    let write_deadline = Duration::from_millis(limits.write_deadline_ms);
    let connections = Arc::new(ConnectionLimit::new(limits.max_connections));
    let js = &cfg.jetstream;
    let jetstream = js.enabled.then(|| JetStreamSpec {
        host: HostConfig {
            core_id: 0,
            n_cores,
            store_dir: js.store_dir.clone(),
            server_name: engine.info.server_name.clone(),
            version: ADVERTISED_VERSION.to_string(),
            max_memory_bytes: js.max_memory_bytes,
            max_file_bytes: js.max_file_bytes,
            counts: Default::default(),
            dead_letter: js
                .dead_letter
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            domain: js.domain.clone(),
            batch: crate::streams::BatchLimits {
                max_size: js.max_batch_size,
                max_inflight_per_stream: js.max_batch_inflight_per_stream as usize,
                max_inflight_total: js.max_batch_inflight_total as usize,
                timeout_ns: js.max_batch_timeout_ms.saturating_mul(1_000_000),
            },
        },
        max_segment_bytes: js.max_segment_bytes,
        domain: js.domain.clone(),
        sync: match js.sync.interval_ms() {
            None => SyncMode::Always,
            Some(ms) => SyncMode::Interval(Duration::from_millis(ms)),
        },
    });
    if let Some(j) = &jetstream {
        std::fs::create_dir_all(&j.host.store_dir).map_err(|e| {
            StartError::Core(format!(
                "jetstream.store_dir {}: cannot create: {e}",
                j.host.store_dir.display()
            ))
        })?;
    }
    let listen_addr = cfg
        .listen_addr()
        .map_err(|e| StartError::Core(e.to_string()))?
        .to_string();
    // Monitoring starts first, so `/healthz` answers 503 while the cores recover streams.
    // The cores' snapshot slots and the `$SYS.REQ.SERVER` responder exist even with the
    // HTTP port off.
    let monitor_shared = Some(MonitorShared::new(n_cores));
    let mut facts = server_facts(&cfg, &engine.info, n_cores);
    facts.accounts = accounts.clone();
    facts.reload = Some(reload.clone());
    let monitor = match (&monitor_shared, cfg.server.http_port) {
        (Some(shared), port) if port != 0 => {
            let mut http_addr = cfg
                .listen_addr()
                .map_err(|e| StartError::Core(e.to_string()))?;
            http_addr.set_port(port);
            Some(monitor::spawn(
                &http_addr.to_string(),
                facts.clone(),
                shared.clone(),
                shutdown.clone(),
            )?)
        }
        _ => None,
    };
    if let Some(shared) = &monitor_shared {
        monitor::sys::spawn(facts, shared.clone(), shutdown.clone())
            .map_err(monitor::MonitorError::Thread)?;
    }
    let lame_duck = LameDuckSpec {
        flag: lame_duck,
        duration: Duration::from_millis(cfg.server.lame_duck_duration_ms),
        grace: Duration::from_millis(cfg.server.lame_duck_grace_period_ms),
        cores_done: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    };
    let leaf = leaf_spec(&cfg, &engine.info)?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let started_cores = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(n_cores);
    for (i, cpu) in cpus.iter().take(n_cores).enumerate() {
        let spec = CoreSpec {
            engine: engine.clone(),
            listen_addr: listen_addr.clone(),
            write_deadline,
            tick,
            mesh: mesh.clone(),
            shutdown: shutdown.clone(),
            connections: connections.clone(),
            jetstream: jetstream.clone(),
            started_cores: started_cores.clone(),
            ready: ready_tx.clone(),
            monitor: monitor_shared.clone(),
            auth: auth.clone(),
            accounts: accounts.clone(),
            lame_duck: lame_duck.clone(),
            leaf: leaf.clone(),
            reload: reload.clone(),
            tls: tls.clone(),
        };
        let handle = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("natrix-core-{i}"))
            .io_memory(cfg.server.io_memory_bytes)
            .spawn(move || shell::run_core(spec))
            .map_err(|e| StartError::Executor {
                core: i,
                reason: e.to_string(),
            })?;
        handles.push(handle);
    }
    drop(ready_tx);
    let handle = ServerHandle {
        handles,
        shutdown,
        monitor,
        reloader: Reloader {
            reload,
            connections,
        },
    };
    for _ in 0..n_cores {
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(core)) => tracing::debug!(core, "core ready"),
            Ok(Err(reason)) => {
                handle.shutdown();
                return Err(StartError::Core(reason));
            }
            Err(_) => {
                handle.shutdown();
                return Err(StartError::Timeout(START_TIMEOUT));
            }
        }
    }
    tracing::info!(
        cores = n_cores,
        addr = %listen_addr,
        version = env!("CARGO_PKG_VERSION"),
        "natrix ready"
    );
    Ok(handle)
}

/// What `/varz` shows of the configuration.
fn server_facts(cfg: &Config, info: &ServerInfo, n_cores: usize) -> ServerFacts {
    let limits = &cfg.limits;
    let js = &cfg.jetstream;
    ServerFacts {
        server_id: info.server_id.clone(),
        server_name: info.server_name.clone(),
        version: info.version.clone(),
        go: info.go.clone(),
        host: cfg.server.addr.clone(),
        port: cfg.server.port,
        max_connections: limits.max_connections as u64,
        ping_interval_ns: limits.ping_interval_ms * 1_000_000,
        ping_max: limits.max_pings_outstanding,
        http_host: cfg.server.addr.clone(),
        http_port: cfg.server.http_port,
        max_control_line: limits.max_control_line_bytes as u64,
        max_payload: limits.max_payload_bytes as u64,
        max_pending: limits.max_pending_bytes as u64,
        write_deadline_ns: limits.write_deadline_ms * 1_000_000,
        cores: n_cores,
        start_unix_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        jetstream: js.enabled.then(|| JsFacts {
            max_memory: js.max_memory_bytes,
            max_storage: js.max_file_bytes,
            store_dir: js.store_dir.display().to_string(),
            sync_interval: js.sync.interval_ms().unwrap_or(0) * 1_000_000,
            sync_always: js.sync.interval_ms().is_none(),
            strict: true,
        }),
        accounts: Default::default(),
        reload: None,
        config_generation: 0,
        config_load_unix_ns: 0,
    }
}

/// `[leafnodes]` → what every core needs: this server's identity on links, the leaf listener
/// and the remotes (their `.creds` files read now, before any core runs).
fn leaf_spec(
    cfg: &Config,
    info: &ServerInfo,
) -> Result<Option<Arc<crate::shell::LeafSpec>>, StartError> {
    use crate::leaf::remote::RemoteSpec;
    use crate::leaf::{Creds, LeafSettings, LeafUrl};
    let Some(lc) = &cfg.leafnodes else {
        return Ok(None);
    };
    if lc.port == 0 && lc.remotes.is_empty() {
        return Ok(None);
    }
    let host = lc.host.clone().unwrap_or_else(|| cfg.server.addr.clone());
    let mut remotes = Vec::new();
    for (i, r) in lc.remotes.iter().enumerate() {
        let urls = r
            .urls
            .iter()
            .map(|u| LeafUrl::parse(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StartError::Core(format!("leafnodes.remotes[{i}].urls: {e}")))?;
        let creds = match &r.credentials {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StartError::Core(format!(
                        "leafnodes.remotes[{i}].credentials {}: {e}",
                        path.display()
                    ))
                })?;
                let c = Creds::parse(&text).map_err(|e| {
                    StartError::Core(format!(
                        "leafnodes.remotes[{i}].credentials {}: {e}",
                        path.display()
                    ))
                })?;
                Some(Arc::new(c))
            }
        };
        let tls = match &r.tls {
            None => None,
            Some(t) => Some(Arc::new(
                t.load(&format!("leafnodes.remotes[{i}].tls"))
                    .map_err(|e| StartError::Core(format!("{}: {}", e.key, e.reason)))?,
            )),
        };
        remotes.push(Arc::new(RemoteSpec {
            urls,
            account: r
                .account
                .clone()
                .unwrap_or_else(|| crate::leaf::GLOBAL_ACCOUNT.to_string()),
            creds,
            perms: crate::leaf::perms::LinkPerms::new(&r.deny_exports, &r.deny_imports),
            tls,
        }));
    }
    let tls = match &lc.tls {
        None => None,
        Some(t) => Some(Arc::new(t.load().map_err(|e| {
            StartError::Core(format!("leafnodes.{}: {}", e.key, e.reason))
        })?)),
    };
    let loop_id: String = new_server_id().chars().skip(1).take(22).collect();
    Ok(Some(Arc::new(crate::shell::LeafSpec {
        settings: Arc::new(LeafSettings {
            server_id: info.server_id.clone(),
            server_name: info.server_name.clone(),
            version: info.version.clone(),
            loop_subject: bytes::Bytes::from(format!("$LDS.{loop_id}")),
            listen_host: host.clone(),
            listen_port: lc.port,
            max_payload: cfg.limits.max_payload_bytes,
            max_control_line: cfg.limits.max_control_line_bytes,
            domain: cfg
                .jetstream
                .enabled
                .then(|| cfg.jetstream.domain.clone())
                .flatten(),
            jetstream: cfg.jetstream.enabled,
            auth: lc
                .authorization
                .clone()
                .map(|a| Arc::new(crate::leaf::auth::LeafAuthorization::new(a))),
            tls_required: tls.is_some(),
            tls_verify: tls.as_ref().is_some_and(|t| t.verify),
            auth_timeout_ns: {
                let secs = lc
                    .authorization
                    .as_ref()
                    .and_then(|a| a.timeout.map(|s| s.0))
                    .unwrap_or_else(|| match &tls {
                        Some(t) => t.timeout.as_secs_f64() + 1.0,
                        None => crate::auth::config::DEFAULT_AUTH_TIMEOUT_SECS,
                    });
                (secs * 1e9) as u64
            },
        }),
        tls,
        listen_addr: (lc.port != 0).then(|| format!("{host}:{}", lc.port)),
        remotes,
    })))
}
