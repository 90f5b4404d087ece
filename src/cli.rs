//! natrix's command line: a config file plus a few flags for the settings operators change most,
//! layered as flags > file > built-in defaults.

use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigError};

/// Command-line arguments; each flag overrides the matching key of the config file.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "natrix",
    version,
    about = "A thread-per-core, NATS-compatible message broker",
    long_about = "A thread-per-core, NATS-compatible message broker.\n\n\
                  Settings come from the built-in defaults (config/natrix.toml), then the file \
                  given with --config, then the flags below, each overriding the previous."
)]
pub struct Cli {
    /// TOML config file; without it the embedded default configuration is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// IP address to listen on (server.addr).
    #[arg(long, value_name = "IP")]
    pub addr: Option<String>,
    /// Client port (server.port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// HTTP monitoring port, 0 to disable (server.http_port).
    #[arg(long, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Number of executors, 0 for one per available CPU (server.cores).
    #[arg(long, value_name = "N")]
    pub cores: Option<usize>,
    /// Directory for stream data (jetstream.store_dir).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Log level or tracing directive, e.g. `debug` or `natrix=debug,info` (logging.level).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl Cli {
    /// Loads the file (or the embedded default), applies the flags on top, validates: flags override the file, the file overrides built-in defaults.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let (mut cfg, mut origin) = config::load_with_provenance(self.config.as_deref())?;
        if let Some(addr) = &self.addr {
            cfg.server.addr = addr.clone();
            origin.set_by_flag("server.addr", "--addr");
        }
        if let Some(port) = self.port {
            cfg.server.port = port;
            origin.set_by_flag("server.port", "--port");
        }
        if let Some(http_port) = self.http_port {
            cfg.server.http_port = http_port;
            origin.set_by_flag("server.http_port", "--http-port");
        }
        if let Some(cores) = self.cores {
            cfg.server.cores = cores;
            origin.set_by_flag("server.cores", "--cores");
        }
        if let Some(store_dir) = &self.store_dir {
            cfg.jetstream.store_dir = store_dir.clone();
            origin.set_by_flag("jetstream.store_dir", "--store-dir");
        }
        if let Some(level) = &self.log_level {
            cfg.logging.level = level.clone();
            origin.set_by_flag("logging.level", "--log-level");
        }
        cfg.validate_with(&origin)?;
        Ok(cfg)
    }

    /// The config file in use, for start-up logging (`None` means the embedded default).
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// A config file in a fresh temp dir, removed on drop.
    struct TempConfig {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempConfig {
        fn new(name: &str, text: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("natrix-cli-test-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("natrix.toml");
            std::fs::write(&path, text).unwrap();
            TempConfig { dir, path }
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const FILE: &str = "\
[server]
addr = \"127.0.0.1\"
port = 5222
http_port = 9222
cores = 1

[logging]
level = \"debug\"

[jetstream]
store_dir = \"/var/lib/natrix\"
";

    #[test]
    fn no_flags_no_file_gives_builtin_defaults() {
        assert_eq!(Cli::default().resolve().unwrap(), Config::default());
    }

    #[test]
    fn file_overrides_defaults() {
        let f = TempConfig::new("file", FILE);
        let cli = Cli {
            config: Some(f.path.clone()),
            ..Cli::default()
        };
        let cfg = cli.resolve().unwrap();
        assert_eq!(cfg.server.addr, "127.0.0.1");
        assert_eq!(cfg.server.port, 5222);
        assert_eq!(cfg.server.http_port, 9222);
        assert_eq!(cfg.server.cores, 1);
        assert_eq!(cfg.logging.level, "debug");
        assert_eq!(cfg.jetstream.store_dir, PathBuf::from("/var/lib/natrix"));
        // Keys the file leaves out keep the built-in defaults.
        assert_eq!(cfg.limits, Config::default().limits);
        assert_eq!(
            cfg.server.io_memory_bytes,
            Config::default().server.io_memory_bytes
        );
    }

    #[test]
    fn flags_override_file() {
        let f = TempConfig::new("flags", FILE);
        let cli = Cli {
            config: Some(f.path.clone()),
            addr: Some("::1".into()),
            port: Some(6222),
            http_port: Some(0),
            cores: Some(0),
            store_dir: Some("/tmp/js".into()),
            log_level: Some("natrix=trace,warn".into()),
        };
        let cfg = cli.resolve().unwrap();
        assert_eq!(cfg.server.addr, "::1");
        assert_eq!(cfg.server.port, 6222);
        assert_eq!(cfg.server.http_port, 0);
        assert_eq!(cfg.server.cores, 0);
        assert_eq!(cfg.jetstream.store_dir, PathBuf::from("/tmp/js"));
        assert_eq!(cfg.logging.level, "natrix=trace,warn");
    }

    #[test]
    fn flags_override_defaults_without_file() {
        let cli = Cli {
            port: Some(7000),
            log_level: Some("warn".into()),
            ..Cli::default()
        };
        let cfg = cli.resolve().unwrap();
        assert_eq!(cfg.server.port, 7000);
        assert_eq!(cfg.logging.level, "warn");
        assert_eq!(cfg.server.http_port, 8222);
    }

    #[test]
    fn bad_flag_value_is_blamed_on_the_flag() {
        let f = TempConfig::new("badflag", FILE);
        let cli = Cli {
            config: Some(f.path.clone()),
            port: Some(0),
            ..Cli::default()
        };
        let msg = cli.resolve().unwrap_err().to_string();
        assert!(
            msg.starts_with("command line (--port): server.port: must not be 0"),
            "{msg}"
        );
        let cli = Cli {
            log_level: Some("verbose".into()),
            ..Cli::default()
        };
        let msg = cli.resolve().unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "command line (--log-level): logging.level: `verbose` is not a log level"
            ),
            "{msg}"
        );
    }

    #[test]
    fn bad_file_value_is_blamed_on_the_file_line_even_with_flags() {
        let f = TempConfig::new("badfile", "[limits]\nmax_pending_bytes = 10\n");
        let cli = Cli {
            config: Some(f.path.clone()),
            port: Some(4333),
            ..Cli::default()
        };
        let msg = cli.resolve().unwrap_err().to_string();
        let expected = format!(
            "{}:2: limits.max_pending_bytes: must be at least limits.max_payload_bytes (1048576), got 10",
            f.path.display()
        );
        assert_eq!(msg, expected);
    }

    #[test]
    fn flag_colliding_with_file_value_names_the_key() {
        // --port equal to the file's http_port: the error is about server.http_port, at its line.
        let f = TempConfig::new("collide", FILE);
        let cli = Cli {
            config: Some(f.path.clone()),
            port: Some(9222),
            ..Cli::default()
        };
        let msg = cli.resolve().unwrap_err().to_string();
        let expected = format!(
            "{}:4: server.http_port: must differ from server.port (9222), got 9222",
            f.path.display()
        );
        assert_eq!(msg, expected);
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let cli = Cli {
            config: Some("/nonexistent/natrix.toml".into()),
            ..Cli::default()
        };
        let err = cli.resolve().unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/natrix.toml: cannot read config file:"));
    }

    #[test]
    fn parses_kebab_case_flags() {
        let cli = Cli::try_parse_from([
            "natrix",
            "--config",
            "x.toml",
            "--addr",
            "127.0.0.1",
            "--port",
            "4333",
            "--http-port",
            "8333",
            "--cores",
            "2",
            "--store-dir",
            "/data",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert_eq!(cli.config_path(), Some(Path::new("x.toml")));
        assert_eq!(cli.addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(cli.port, Some(4333));
        assert_eq!(cli.http_port, Some(8333));
        assert_eq!(cli.cores, Some(2));
        assert_eq!(cli.store_dir, Some(PathBuf::from("/data")));
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn clap_rejects_out_of_range_port() {
        let err = Cli::try_parse_from(["natrix", "--port", "70000"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
