//! The `natrix` binary: resolve configuration, start the cores, stop on SIGINT/SIGTERM,
//! enter lame duck mode on SIGUSR2 (as nats-server). SIGHUP (reload) and SIGUSR1 (log reopen)
//! are logged and otherwise ignored.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::{reload, EnvFilter};

use natrix::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Log at info until the configuration (which names the level) is known.
    let (filter, reload_handle) = reload::Layer::new(EnvFilter::new("info"));
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        // Instead of tracing-subscriber's `init()` (which installs a plain `LogTracer`).
        if log::set_boxed_logger(Box::new(GlommioLogBridge(tracing_log::LogTracer::new()))).is_ok()
        {
            sync_log_max_level();
        }
    }
    let cfg = match cli.resolve() {
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
    if let Err(e) = warn_on_unsupported_signals() {
        tracing::error!(error = %e, "cannot install signal handler");
        return ExitCode::from(1);
    }
    let handle = match natrix::server::start_with_signals(cfg, flag, lame_duck) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    handle.wait();
    tracing::info!("natrix stopped");
    ExitCode::SUCCESS
}

/// nats-server acts on SIGHUP (configuration reload) and SIGUSR1 (log file reopen); natrix
/// does neither yet. Without a handler their default action
/// would kill the process without a word, so a thread of its own (not a core) waits for them
/// and logs that the signal was ignored.
fn warn_on_unsupported_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGUSR1};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGUSR1])?;
    std::thread::Builder::new()
        .name("natrix-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let what = match sig {
                    SIGHUP => "SIGHUP received: configuration reload is not supported",
                    _ => "SIGUSR1 received: log file reopening is not supported",
                };
                tracing::warn!("{what}; signal ignored (SIGTERM stops the server)");
            }
        })?;
    Ok(())
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
