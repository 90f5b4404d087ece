//! The `natrix` binary: resolve configuration, start the cores, stop on SIGINT/SIGTERM,
//! enter lame duck mode on SIGUSR2 and reload the configuration on SIGHUP (as nats-server);
//! SIGUSR1 (log reopen) is logged and otherwise ignored.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::{reload, EnvFilter};

use natrix::cli::Cli;
use natrix::config::LogFormat;
use signal_hook::consts::{SIGHUP, SIGUSR1};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The configuration names the log format, so it is read before the subscriber exists;
    // its error (if any) is logged right after, in the default format.
    let resolved = cli.resolve();
    let format = resolved
        .as_ref()
        .map(|c| c.logging.format)
        .unwrap_or_default();
    // Log at info until the configuration (which names the level) is applied.
    let reload_handle = install_logging(format);
    let cfg = match resolved {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!("configuration refused: {e}");
            return ExitCode::from(2);
        }
    };
    match EnvFilter::try_new(&cfg.logging.level) {
        Ok(f) => {
            let _ = reload_handle.reload(f);
            sync_log_max_level();
        }
        Err(e) => {
            tracing::warn!(level = %cfg.logging.level, error = %e, "bad log level; keeping info")
        }
    }
    // Signal handlers go in before any core accepts a client, so a signal can never hit the
    // default action (immediate death, queued messages lost).
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
            tracing::error!(error = %e, "cannot install signal handler");
            return ExitCode::from(1);
        }
    }
    // SIGUSR2: lame duck mode. The handler only sets a flag; each core acts on it.
    let lame_duck = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGUSR2, lame_duck.clone()) {
        tracing::error!(error = %e, "cannot install signal handler");
        return ExitCode::from(1);
    }
    // SIGHUP (reload) and SIGUSR1 are caught from here on; they are acted on once the
    // server runs (a SIGHUP during start-up is queued, not lost).
    let signals = match signal_hook::iterator::Signals::new([SIGHUP, SIGUSR1]) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handler");
            return ExitCode::from(1);
        }
    };
    let handle = match natrix::server::start_with_signals(cfg, flag, lame_duck) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let reloader = handle.reloader();
    if let Err(e) = std::thread::Builder::new()
        .name("natrix-signals".into())
        .spawn(move || on_signals(signals, cli, reload_handle, reloader))
    {
        tracing::error!(error = %e, "cannot start the signal thread");
        handle.shutdown();
        return ExitCode::from(1);
    }
    handle.wait();
    tracing::info!("natrix stopped");
    ExitCode::SUCCESS
}

/// The level filter's reload handle (SIGHUP and the configuration change it).
type LevelHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// Installs the global subscriber writing to stderr in `format`, at level info; colour codes
/// only when stderr is a terminal (a pipe, a file or journald gets plain text).
fn install_logging(format: LogFormat) -> LevelHandle {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    let (filter, handle) = reload::Layer::new(EnvFilter::new("info"));
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json);
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    // Instead of tracing-subscriber's `init()` (which installs a plain `LogTracer`).
    if log::set_boxed_logger(Box::new(GlommioLogBridge(tracing_log::LogTracer::new()))).is_ok() {
        sync_log_max_level();
    }
    handle
}

/// The signal thread (never a core): SIGHUP re-reads the configuration (the same file and
/// flags as at start) and applies what may change while running, as nats-server's
/// `--signal reload`; a file that does not load, or that changes a restart-only setting, is
/// refused with the reason and the running configuration stays. SIGUSR1 (nats-server: reopen
/// the log file) is logged and ignored: natrix logs to stderr only.
fn on_signals(
    mut signals: signal_hook::iterator::Signals,
    cli: Cli,
    level: LevelHandle,
    reloader: natrix::server::Reloader,
) {
    for sig in signals.forever() {
        if sig != SIGHUP {
            tracing::warn!("SIGUSR1 received: natrix logs to stderr only, nothing to reopen");
            continue;
        }
        let file = cli
            .config_path()
            .map_or("the embedded default".to_owned(), |p| {
                p.display().to_string()
            });
        tracing::info!(config = %file, "SIGHUP received: reloading the configuration");
        let cfg = match cli.resolve() {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::error!(
                    "configuration reload refused: {e}; the running configuration stays"
                );
                continue;
            }
        };
        let filter = match EnvFilter::try_new(&cfg.logging.level) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(level = %cfg.logging.level, error = %e,
                    "configuration reload refused: bad log level; the running configuration stays");
                continue;
            }
        };
        match reloader.reload(cfg) {
            Ok(changed) if changed.is_empty() => {
                tracing::info!("configuration reloaded: nothing changed")
            }
            Ok(changed) => {
                if changed.iter().any(|k| k == "logging.level") {
                    let _ = level.reload(filter);
                    sync_log_max_level();
                }
                tracing::info!(changed = %changed.join(", "), "configuration reloaded");
            }
            Err(e) => tracing::error!("configuration reload refused: {e}"),
        }
    }
}

/// Lets `log` macros (glommio's) skip records below the level tracing logs, as
/// tracing-subscriber's `init()` does, and follow the configured level.
fn sync_log_max_level() {
    use tracing_log::AsLog;
    log::set_max_level(tracing::level_filters::LevelFilter::current().as_log());
}

/// Forwards `log` records (glommio's) to tracing, with one of glommio's messages lowered from
/// ERROR to DEBUG: when a core opens its first DMA file on a device, glommio 0.9
/// (`Reactor::probe_iopoll_support`) probes the poll ring by *reading* from that file, and the
/// segment files are created write-only (`DmaFile::create`), so the read fails with EBADF and
/// glommio logs "got unexpected error when probing iopoll support … Bad file descriptor" at
/// ERROR on a healthy server (once per core). Its outcome — no poll ring, interrupt-driven
/// completions — is what natrix uses anyway. Opening the files read-write instead would let the probe
/// "succeed" on an empty file (a read at end of file need not reach the device) and so turn the
/// poll ring on for every file on a guess; the message is quietened instead.
struct GlommioLogBridge(tracing_log::LogTracer);

impl GlommioLogBridge {
    fn is_iopoll_probe(record: &log::Record<'_>) -> bool {
        record.level() == log::Level::Error
            && record.target() == "glommio::reactor"
            && record
                .args()
                .to_string()
                .starts_with("got unexpected error when probing iopoll support")
    }
}

impl log::Log for GlommioLogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if Self::is_iopoll_probe(record) {
            self.0.log(
                &log::Record::builder()
                    .args(*record.args())
                    .level(log::Level::Debug)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        } else {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}
