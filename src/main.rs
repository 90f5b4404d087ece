//! The `natrix` binary: resolve configuration, start the cores, stop on SIGINT/SIGTERM.

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
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
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
    let handle = match natrix::server::start_with_shutdown(cfg, flag) {
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
