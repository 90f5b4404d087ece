//! natrix's configuration: the TOML schema, its built-in defaults and the semantic checks that
//! refuse impossible values before any executor starts.
//!
//! Precedence is: command-line flags (see `crate::cli`) over the config file over the built-in
//! defaults. The built-in defaults live in `config/natrix.toml`, which is embedded in the binary
//! and doubles as the fully commented reference configuration.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The reference configuration, embedded so the server runs without a file and so the shipped
/// defaults and the documented defaults can never drift apart (a test holds them equal).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config/natrix.toml");

/// The name errors use for the embedded default configuration.
const EMBEDDED_SOURCE: &str = "natrix.toml (embedded default)";
/// The name errors use when a configuration was built in code rather than read from a file.
const IN_MEMORY_SOURCE: &str = "config";

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

/// Largest payload NATS allows a server to advertise; larger values break client assumptions.
const MAX_PAYLOAD_CEILING_BYTES: usize = 64 * MIB;
/// Below this a `PUB` line with a long subject plus reply subject no longer fits.
const MIN_CONTROL_LINE_BYTES: usize = 256;
/// Below this glommio's buffer allocator has too little room for even a few socket reads.
const MIN_IO_MEMORY_BYTES: usize = 256 * KIB;
/// The kernel refuses to register a single io_uring buffer larger than 1 GiB.
const MAX_IO_MEMORY_BYTES: usize = GIB;

/// The whole configuration file: one table per concern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listener, executor and per-core resource settings (`[server]`).
    pub server: ServerConfig,
    /// Protocol and connection limits advertised to or enforced on clients (`[limits]`).
    pub limits: LimitsConfig,
    /// Log verbosity (`[logging]`).
    pub logging: LoggingConfig,
    /// Persistence settings, reserved for the JetStream work (`[jetstream]`).
    pub jetstream: JetStreamConfig,
    /// Users of the default account and their permissions (`[authorization]`); absent = no
    /// authentication. Schema and checks: `crate::auth::config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<crate::auth::config::AuthorizationConfig>,
    /// Leaf node links (`[leafnodes]`): hub port and remotes; absent = none.
    /// Schema and checks: `crate::leaf::config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leafnodes: Option<crate::leaf::config::LeafNodesConfig>,
    /// Who may use the `$SYS.REQ.SERVER` requests (`[system]`), until accounts name a
    /// system account.
    #[serde(skip_serializing_if = "SystemConfig::is_empty")]
    pub system: SystemConfig,
    /// TLS on client connections (`[tls]`); absent = plaintext. Schema and loading: `crate::tls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Decentralized JWT auth (`[operator]`): the trusted operator, the system account and
    /// the memory resolver's accounts. Schema and checks: `crate::auth::jwt::config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<crate::auth::jwt::config::OperatorConfig>,
    /// The system account's name (nats-server's top-level `system_account`; default `$SYS`,
    /// which always exists). Schema and checks: `crate::accounts::config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_account: Option<String>,
    /// Accounts (`[accounts.NAME]`): isolated subject spaces with their users, exports,
    /// imports, JetStream and limits. Schema and checks: `crate::accounts::config`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub accounts: std::collections::BTreeMap<String, crate::accounts::config::AccountConfig>,
}

/// `[system]`: the users (names or nkeys of `[authorization] users`) whose connections may ask the server
/// requests (`$SYS.REQ.SERVER.PING`, `...PING.VARZ`, ...) that nats-server answers on its
/// system account. Empty = nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// User names from `[authorization] users`.
    pub users: Vec<String>,
}

impl SystemConfig {
    fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Shortest `server.lame_duck_duration_ms` (nats-server refuses less than 30 s).
pub const MIN_LAME_DUCK_DURATION_MS: u64 = 30_000;

/// `[server]`: where natrix listens and how many thread-per-core executors it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// IP address every core's listener binds to (an IP literal, not a host name).
    pub addr: String,
    /// Client port; every core binds its own `SO_REUSEPORT` listener on it, so it cannot be 0.
    pub port: u16,
    /// Monitoring port, reserved for the HTTP monitoring endpoint; 0 disables it.
    pub http_port: u16,
    /// Number of executors (one per core); 0 starts one per available CPU.
    pub cores: usize,
    /// Name reported in `INFO` as `server_name`; `None` lets the server pick one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Memory each executor registers with io_uring for its I/O buffers.
    pub io_memory_bytes: usize,
    /// Lame duck mode (SIGUSR2): time from the signal to the last client closed
    /// (nats-server's `lame_duck_duration`, default 2 min).
    pub lame_duck_duration_ms: u64,
    /// Lame duck mode: wait after the signal before the first client is closed
    /// (nats-server's `lame_duck_grace_period`, default 10 s); below the duration.
    pub lame_duck_grace_period_ms: u64,
}

/// `[limits]`: the protocol limits that protect the server from clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest message payload a client may publish; advertised as `max_payload` in `INFO`.
    pub max_payload_bytes: usize,
    /// Longest protocol control line (e.g. a `PUB`/`SUB` line) accepted before `-ERR`.
    pub max_control_line_bytes: usize,
    /// Outbound bytes buffered for one connection before it is closed as a slow consumer.
    pub max_pending_bytes: usize,
    /// Client connections accepted across all cores before new ones are refused.
    pub max_connections: usize,
    /// Subscriptions one connection may hold; 0 means unlimited.
    pub max_subscriptions: usize,
    /// Interval between server `PING`s used to detect dead connections.
    pub ping_interval_ms: u64,
    /// Unanswered server `PING`s after which a connection is declared stale and closed.
    pub max_pings_outstanding: u32,
    /// How long a flush to one connection may stall before it is closed as a slow consumer.
    pub write_deadline_ms: u64,
}

/// `[logging]`: what the tracing subscriber prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A level (`trace`..`error`, `off`) or a tracing `EnvFilter` directive like `natrix=debug,info`.
    pub level: String,
    /// `"text"` (human-readable; colours only when stderr is a terminal) or `"json"` (one JSON
    /// object per line, for log shippers). Read at start-up only.
    pub format: LogFormat,
}

/// `logging.format`: how each log line is written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// tracing-subscriber's human-readable format.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

/// `[jetstream]`: persistence, reserved until streams are implemented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JetStreamConfig {
    /// Whether JetStream (streams, the `$JS.API`) is served.
    pub enabled: bool,
    /// Directory holding one subdirectory per file-backed stream.
    pub store_dir: PathBuf,
    /// When appends reach the disk: `"always"` (fsync before every ack, group commit) or an
    /// interval in milliseconds (ack after the write; opt-in, loses acked writes on a crash).
    pub sync: SyncPolicy,
    /// Size at which a stream's active segment file is sealed and a new one started.
    pub max_segment_bytes: u64,
    /// Server-wide limit on memory-stored stream bytes (-1 = unlimited), enforced on create and publish.
    pub max_memory_bytes: i64,
    /// Server-wide limit on file-stored stream bytes (-1 = unlimited), enforced on create and publish.
    pub max_file_bytes: i64,
    /// `[jetstream.dead_letter]`: per stream name, the subject where its consumers republish
    /// messages that exhausted `max_deliver` or were terminated (unless a consumer names its
    /// own `dead_letter_subject`).
    pub dead_letter: std::collections::BTreeMap<String, String>,
    /// This server's JetStream domain: `$JS.<domain>.API.>` reaches its `$JS.API.>` (also
    /// from across a leaf link); absent = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    // Atomic batch limits: nats-server's `jetstream { limits { batch { max_msgs,
    // max_inflight_per_stream, max_inflight_total, timeout } } }`, which its /varz shows as
    // `max_batch_size`, `max_batch_inflight_per_stream`, `max_batch_inflight_total`,
    // `max_batch_timeout`. Defaults are nats-server's.
    /// Messages in one atomic batch (10199 beyond).
    pub max_batch_size: u64,
    /// Open atomic batches per stream (429 / 10210 beyond).
    pub max_batch_inflight_per_stream: u64,
    /// Open atomic batches in all, per core (429 / 10210 beyond).
    pub max_batch_inflight_total: u64,
    /// An open batch without a message for this long is abandoned (ms).
    pub max_batch_timeout_ms: u64,
}

/// `jetstream.sync`: "always", or a sync interval in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum SyncPolicy {
    /// Only `"always"` is accepted (checked by `validate`).
    Named(String),
    /// fsync every this many milliseconds; acks do not wait for it.
    IntervalMs(u64),
}

impl SyncPolicy {
    /// The interval, or None for "always".
    pub fn interval_ms(&self) -> Option<u64> {
        match self {
            SyncPolicy::Named(_) => None,
            SyncPolicy::IntervalMs(ms) => Some(*ms),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "0.0.0.0".to_owned(),
            port: 4222,
            http_port: 8222,
            cores: 0,
            server_name: None,
            io_memory_bytes: MIB,
            lame_duck_duration_ms: 120_000,
            lame_duck_grace_period_ms: 10_000,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_payload_bytes: MIB,
            max_control_line_bytes: 4096,
            max_pending_bytes: 64 * MIB,
            max_connections: 65_536,
            max_subscriptions: 0,
            ping_interval_ms: 120_000,
            max_pings_outstanding: 2,
            write_deadline_ms: 10_000,
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            enabled: true,
            store_dir: PathBuf::from("./natrix-data"),
            sync: SyncPolicy::Named("always".to_owned()),
            max_segment_bytes: 64 * MIB as u64,
            max_memory_bytes: -1,
            max_file_bytes: -1,
            dead_letter: Default::default(),
            domain: None,
            max_batch_size: 1000,
            max_batch_inflight_per_stream: 50,
            max_batch_inflight_total: 1000,
            max_batch_timeout_ms: 10_000,
        }
    }
}

/// Why a configuration could not be loaded; every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(key))]
    Parse {
        /// The file (or source name) being parsed.
        file: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// Dotted key the problem belongs to, when it could be located.
        key: Option<String>,
        /// What is wrong, as reported by the TOML parser / deserializer.
        message: String,
    },
    /// The value parses but is impossible (e.g. port 0, pending limit below payload limit).
    #[error("{file}{}: {key}: {reason}", line_suffix(*line))]
    Invalid {
        /// The file the value came from, or `command line (--flag)` for a flag.
        file: String,
        /// Dotted key, e.g. `limits.max_pending_bytes`.
        key: String,
        /// 1-based line of the key in the file, when it was set there.
        line: Option<usize>,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Where each setting came from, so semantic errors can point at a file line or a flag.
#[derive(Debug, Clone)]
pub(crate) struct Provenance {
    /// Name of the file the settings were read from.
    file: String,
    /// Dotted key -> 1-based line where the file set it.
    key_lines: HashMap<String, usize>,
    /// Dotted key -> command-line flag that overrode it.
    flags: HashMap<&'static str, &'static str>,
}

impl Provenance {
    /// Provenance of a configuration that was not read from any file.
    pub(crate) fn in_memory() -> Self {
        Provenance {
            file: IN_MEMORY_SOURCE.to_owned(),
            key_lines: HashMap::new(),
            flags: HashMap::new(),
        }
    }

    /// Records that `flag` set `key`, so errors about `key` blame the flag, not the file.
    pub(crate) fn set_by_flag(&mut self, key: &'static str, flag: &'static str) {
        self.flags.insert(key, flag);
    }

    fn invalid(&self, key: &str, reason: String) -> ConfigError {
        if let Some(flag) = self.flags.get(key) {
            return ConfigError::Invalid {
                file: format!("command line ({flag})"),
                key: key.to_owned(),
                line: None,
                reason,
            };
        }
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_owned(),
            line: self.key_lines.get(key).copied(),
            reason,
        }
    }
}

/// One key as it appears in the file: its dotted path and the byte ranges of key and value.
struct KeySite {
    path: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
}

fn collect_sites(table: &toml::de::DeTable<'_>, prefix: &str, out: &mut Vec<KeySite>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_sites(inner, &path, out),
            toml::de::DeValue::Array(items) => collect_array_sites(items, &path, out),
            _ => {}
        }
        out.push(KeySite {
            path,
            key_span: key.span(),
            value_span: value.span(),
        });
    }
}

/// Array items get `key[i]` paths, so errors inside e.g. `users = [ {...} ]` name their line.
fn collect_array_sites(
    items: &[toml::Spanned<toml::de::DeValue<'_>>],
    prefix: &str,
    out: &mut Vec<KeySite>,
) {
    for (i, item) in items.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        match item.get_ref() {
            toml::de::DeValue::Table(inner) => collect_sites(inner, &path, out),
            toml::de::DeValue::Array(inner) => collect_array_sites(inner, &path, out),
            _ => {}
        }
        out.push(KeySite {
            path,
            key_span: item.span(),
            value_span: item.span(),
        });
    }
}

/// 1-based (line, column) of a byte offset; the column counts characters.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn parse_error(text: &str, file: &str, err: &toml::de::Error, sites: &[KeySite]) -> ConfigError {
    let offset = err.span().map(|s| s.start).unwrap_or(0);
    let (line, column) = line_column(text, offset);
    // The innermost key whose name or value covers the error is the one to blame.
    let key = sites
        .iter()
        .filter(|s| s.key_span.contains(&offset) || s.value_span.contains(&offset))
        .max_by_key(|s| s.path.matches('.').count())
        .map(|s| s.path.clone());
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        key,
        message: err.message().trim_end().to_owned(),
    }
}

/// Parses TOML into a `Config` without semantic checks, remembering the line of every key.
pub(crate) fn parse_with_provenance(
    text: &str,
    source: &str,
) -> Result<(Config, Provenance), ConfigError> {
    let document =
        toml::de::DeTable::parse(text).map_err(|e| parse_error(text, source, &e, &[]))?;
    let mut sites = Vec::new();
    collect_sites(document.get_ref(), "", &mut sites);
    let config: Config = toml::from_str(text).map_err(|e| parse_error(text, source, &e, &sites))?;
    let key_lines = sites
        .iter()
        .map(|s| (s.path.clone(), line_column(text, s.key_span.start).0))
        .collect();
    Ok((
        config,
        Provenance {
            file: source.to_owned(),
            key_lines,
            flags: HashMap::new(),
        },
    ))
}

/// Reads and parses a file (or the embedded default) without semantic checks.
pub(crate) fn load_with_provenance(
    path: Option<&Path>,
) -> Result<(Config, Provenance), ConfigError> {
    match path {
        None => parse_with_provenance(DEFAULT_CONFIG_TOML, EMBEDDED_SOURCE),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_owned(),
                source,
            })?;
            parse_with_provenance(&text, &path.display().to_string())
        }
    }
}

/// CPUs this process may run on (affinity mask and cgroup quota included).
fn available_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

const LEVEL_NAMES: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Accepts a bare level or an `EnvFilter` directive, refusing bare words that are not levels:
/// `EnvFilter` would read a typo like `verbose` as "everything from target `verbose`".
fn check_log_level(level: &str) -> Result<(), String> {
    let hint = "expected one of trace, debug, info, warn, error, off, \
                or a tracing directive like `natrix=debug,info`";
    if level.trim().is_empty() {
        return Err(format!("must not be empty; {hint}"));
    }
    for part in level.split(',') {
        let part = part.trim();
        let is_directive = part.contains('=') || part.contains('[');
        if !is_directive && !LEVEL_NAMES.iter().any(|l| l.eq_ignore_ascii_case(part)) {
            return Err(format!("`{part}` is not a log level; {hint}"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(level)
        .map(|_| ())
        .map_err(|e| format!("`{level}` is not a valid filter ({e}); {hint}"))
}

impl Config {
    /// Parse + validate TOML text; `source` names the file in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Config, ConfigError> {
        let (config, provenance) = parse_with_provenance(text, source)?;
        config.validate_with(&provenance)?;
        Ok(config)
    }

    /// `None` loads the embedded default.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (config, provenance) = load_with_provenance(path)?;
        config.validate_with(&provenance)?;
        Ok(config)
    }

    /// Semantic checks (also run after CLI overrides); errors name the key (dotted, e.g. `limits.max_pending_bytes`) and, when it came from a file, its line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Provenance::in_memory())
    }

    /// The number of executors to start: `server.cores`, or all available CPUs when 0.
    pub fn effective_cores(&self) -> usize {
        match self.server.cores {
            0 => available_cpus(),
            n => n,
        }
    }

    /// The socket address every core's listener binds, built from `server.addr` and
    /// `server.port` (IPv6 included, which `format!("{addr}:{port}")` would get wrong).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let ip: IpAddr = self.server.addr.parse().map_err(|_| {
            Provenance::in_memory().invalid(
                "server.addr",
                format!("must be an IP address, got {:?}", self.server.addr),
            )
        })?;
        Ok(SocketAddr::new(ip, self.server.port))
    }

    /// `validate` with knowledge of where each value came from, for precise error locations.
    pub(crate) fn validate_with(&self, origin: &Provenance) -> Result<(), ConfigError> {
        let s = &self.server;
        let l = &self.limits;
        let bad = |key: &str, reason: String| Err(origin.invalid(key, reason));

        if s.addr.parse::<IpAddr>().is_err() {
            return bad(
                "server.addr",
                format!(
                    "must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, got {:?}",
                    s.addr
                ),
            );
        }
        if s.port == 0 {
            return bad(
                "server.port",
                "must not be 0: every core binds its own SO_REUSEPORT listener, \
                 so an ephemeral port cannot work"
                    .to_owned(),
            );
        }
        if s.lame_duck_duration_ms < MIN_LAME_DUCK_DURATION_MS {
            // nats-server: "invalid lame_duck_duration of …, minimum is 30 seconds".
            return bad(
                "server.lame_duck_duration_ms",
                format!(
                    "must be at least {MIN_LAME_DUCK_DURATION_MS} (30 s, as nats-server), got {}",
                    s.lame_duck_duration_ms
                ),
            );
        }
        if s.lame_duck_grace_period_ms >= s.lame_duck_duration_ms {
            // nats-server: "lame duck grace period should be strictly lower than lame duck duration".
            return bad(
                "server.lame_duck_grace_period_ms",
                format!(
                    "must be below server.lame_duck_duration_ms ({}), got {}",
                    s.lame_duck_duration_ms, s.lame_duck_grace_period_ms
                ),
            );
        }
        if s.http_port != 0 && s.http_port == s.port {
            return bad(
                "server.http_port",
                format!(
                    "must differ from server.port ({}), got {}",
                    s.port, s.http_port
                ),
            );
        }
        let cpus = available_cpus();
        if s.cores > cpus {
            return bad(
                "server.cores",
                format!(
                    "must be at most the {cpus} CPUs available to this process \
                     (0 uses all of them), got {}",
                    s.cores
                ),
            );
        }
        if let Some(name) = &s.server_name {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return bad(
                    "server.server_name",
                    format!("must be non-empty and contain no whitespace, got {name:?}"),
                );
            }
        }
        if s.io_memory_bytes < MIN_IO_MEMORY_BYTES || s.io_memory_bytes > MAX_IO_MEMORY_BYTES {
            return bad(
                "server.io_memory_bytes",
                format!(
                    "must be between {} (256 KiB) and {} (1 GiB, the largest buffer io_uring \
                     registers), got {}",
                    MIN_IO_MEMORY_BYTES, MAX_IO_MEMORY_BYTES, s.io_memory_bytes
                ),
            );
        }
        if l.max_payload_bytes == 0 || l.max_payload_bytes > MAX_PAYLOAD_CEILING_BYTES {
            return bad(
                "limits.max_payload_bytes",
                format!(
                    "must be between 1 and {} (64 MiB), got {}",
                    MAX_PAYLOAD_CEILING_BYTES, l.max_payload_bytes
                ),
            );
        }
        if l.max_control_line_bytes < MIN_CONTROL_LINE_BYTES {
            return bad(
                "limits.max_control_line_bytes",
                format!(
                    "must be at least {MIN_CONTROL_LINE_BYTES}, got {}",
                    l.max_control_line_bytes
                ),
            );
        }
        if l.max_pending_bytes < l.max_payload_bytes {
            return bad(
                "limits.max_pending_bytes",
                format!(
                    "must be at least limits.max_payload_bytes ({}), got {}",
                    l.max_payload_bytes, l.max_pending_bytes
                ),
            );
        }
        if l.max_connections == 0 {
            return bad(
                "limits.max_connections",
                "must be at least 1, got 0".to_owned(),
            );
        }
        if l.ping_interval_ms == 0 {
            return bad(
                "limits.ping_interval_ms",
                "must be at least 1, got 0".to_owned(),
            );
        }
        if l.max_pings_outstanding == 0 {
            return bad(
                "limits.max_pings_outstanding",
                "must be at least 1, got 0".to_owned(),
            );
        }
        if l.write_deadline_ms == 0 {
            return bad(
                "limits.write_deadline_ms",
                "must be at least 1, got 0".to_owned(),
            );
        }
        if let Err(reason) = check_log_level(&self.logging.level) {
            return bad("logging.level", reason);
        }
        for name in &self.system.users {
            let known = self.authorization.as_ref().is_some_and(|a| {
                a.users
                    .iter()
                    .any(|u| u.user.as_deref() == Some(name) || u.nkey.as_deref() == Some(name))
            });
            if !known {
                return bad(
                    "system.users",
                    format!("`{name}` is not a user of [authorization] users"),
                );
            }
        }
        match &self.jetstream.sync {
            SyncPolicy::Named(name) if name != "always" => {
                return bad(
                    "jetstream.sync",
                    format!("must be \"always\" or an interval in milliseconds, got {name:?}"),
                );
            }
            SyncPolicy::IntervalMs(0) => {
                return bad(
                    "jetstream.sync",
                    "an interval must be at least 1 ms (use \"always\" to sync before every ack)"
                        .to_owned(),
                );
            }
            _ => {}
        }
        if self.jetstream.max_segment_bytes < 4096 {
            return bad(
                "jetstream.max_segment_bytes",
                format!(
                    "must be at least 4096, got {}",
                    self.jetstream.max_segment_bytes
                ),
            );
        }
        for (key, v) in [
            (
                "jetstream.max_memory_bytes",
                self.jetstream.max_memory_bytes,
            ),
            ("jetstream.max_file_bytes", self.jetstream.max_file_bytes),
        ] {
            if v < -1 || v == 0 {
                return bad(key, format!("must be -1 (unlimited) or positive, got {v}"));
            }
        }
        for (key, v) in [
            ("jetstream.max_batch_size", self.jetstream.max_batch_size),
            (
                "jetstream.max_batch_inflight_per_stream",
                self.jetstream.max_batch_inflight_per_stream,
            ),
            (
                "jetstream.max_batch_inflight_total",
                self.jetstream.max_batch_inflight_total,
            ),
            (
                "jetstream.max_batch_timeout_ms",
                self.jetstream.max_batch_timeout_ms,
            ),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".to_owned());
            }
        }
        for (stream, subject) in &self.jetstream.dead_letter {
            if !crate::subject::is_valid_publish_subject(subject.as_bytes()) {
                return bad(
                    &format!("jetstream.dead_letter.{stream}"),
                    format!("must be a valid subject without wildcards, got {subject:?}"),
                );
            }
        }
        if let Some(d) = &self.jetstream.domain {
            if d.is_empty()
                || d.bytes()
                    .any(|b| b <= b' ' || matches!(b, b'.' | b'*' | b'>'))
            {
                return bad(
                    "jetstream.domain",
                    format!("must be one subject token (no dots, wildcards or spaces), got {d:?}"),
                );
            }
        }
        if self.jetstream.store_dir.as_os_str().is_empty() {
            return bad("jetstream.store_dir", "must not be empty".to_owned());
        }
        if let Some(auth) = &self.authorization {
            let cert_users = self.tls.as_ref().is_some_and(|t| t.verify_and_map);
            if let Err(e) = auth.validate_for(cert_users) {
                return bad(&e.key, e.reason);
            }
        }
        if let Some(leaf) = &self.leafnodes {
            if let Err(e) = leaf.validate() {
                return bad(&e.key, e.reason);
            }
            if leaf.port != 0
                && (leaf.port == self.server.port || leaf.port == self.server.http_port)
            {
                return bad(
                    "leafnodes.port",
                    format!("{} is already the client or monitoring port", leaf.port),
                );
            }
        }
        if let Some(tls) = &self.tls {
            // Loads the files: an unreadable cert or a key that does not match fails here,
            // with the line of the key in the config file.
            if let Err(e) = tls.load() {
                return bad(e.key, e.reason);
            }
        }
        if let Some(op) = &self.operator {
            if self.authorization.as_ref().is_some_and(|a| a.is_enabled()) {
                return bad(
                    "operator",
                    "cannot be combined with [authorization] users or token \
                     (in operator mode users come from JWTs)"
                        .to_owned(),
                );
            }
            if let Err(e) = op.load() {
                return bad(&e.key, e.reason);
            }
        }
        if let Err(e) = crate::accounts::config::validate(
            &self.accounts,
            self.system_account.as_deref(),
            self.authorization.as_ref(),
        ) {
            return bad(&e.key, e.reason);
        }
        // A remote's local account must exist (operator mode: accounts are JWT keys).
        if let (Some(leaf), None) = (&self.leafnodes, &self.operator) {
            for (i, r) in leaf.remotes.iter().enumerate() {
                let Some(a) = r.account.as_deref() else {
                    continue;
                };
                if a != crate::auth::GLOBAL_ACCOUNT && !self.accounts.contains_key(a) {
                    return bad(
                        &format!("leafnodes.remotes[{i}].account"),
                        format!("no account {a:?} in [accounts]"),
                    );
                }
            }
        }
        // Leaf TLS files load (an unreadable cert or a key that does not match fails here).
        if let Some(leaf) = &self.leafnodes {
            if let Some(t) = &leaf.tls {
                if let Err(e) = t.load() {
                    return bad(&format!("leafnodes.{}", e.key), e.reason);
                }
            }
            for (i, r) in leaf.remotes.iter().enumerate() {
                if let Some(t) = &r.tls {
                    if let Err(e) = t.load(&format!("leafnodes.remotes[{i}].tls")) {
                        return bad(&e.key, e.reason);
                    }
                }
            }
        }
        // Leaf authorization's accounts must exist too (nats-server: "cannot find local
        // account"); operator mode takes no leaf users.
        if let Some(auth) = self
            .leafnodes
            .as_ref()
            .and_then(|l| l.authorization.as_ref())
        {
            if self.operator.is_some() && !auth.users.is_empty() {
                return bad(
                    "leafnodes.authorization.users",
                    "operator mode does not allow specifying users in leafnode config".to_owned(),
                );
            }
            if self.operator.is_none() {
                for (key, a) in auth.accounts() {
                    if a != crate::auth::GLOBAL_ACCOUNT && !self.accounts.contains_key(a) {
                        return bad(&key, format!("no account {a:?} in [accounts]"));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err_text(toml_text: &str) -> String {
        Config::from_toml_str(toml_text, "test.toml")
            .unwrap_err()
            .to_string()
    }

    /// Every leaf key of a config, dotted, with its value rendered as TOML.
    fn leaves(cfg: &Config) -> Vec<(String, String)> {
        fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    toml::Value::Table(t) => walk(&path, t, out),
                    other => out.push((path, other.to_string())),
                }
            }
        }
        let table = toml::Table::try_from(cfg).unwrap();
        let mut out = Vec::new();
        walk("", &table, &mut out);
        out
    }

    #[test]
    fn default_equals_embedded_file() {
        let parsed = Config::from_toml_str(DEFAULT_CONFIG_TOML, "natrix.toml").unwrap();
        assert_eq!(parsed, Config::default());
        assert_eq!(Config::load(None).unwrap(), Config::default());
    }

    #[test]
    fn embedded_file_spells_out_every_key() {
        let (_, origin) = parse_with_provenance(DEFAULT_CONFIG_TOML, "natrix.toml").unwrap();
        let mut all = Config::default();
        all.server.server_name = Some("x".into());
        for (key, _) in leaves(&all) {
            if key == "server.server_name" {
                // Optional: documented as a commented-out example.
                assert!(DEFAULT_CONFIG_TOML.contains("# server_name = "));
                continue;
            }
            assert!(
                origin.key_lines.contains_key(&key),
                "{key} is missing from config/natrix.toml"
            );
        }
    }

    #[test]
    fn example_configs_are_valid() {
        for (name, text) in [
            ("throughput.toml", include_str!("../config/throughput.toml")),
            ("small-host.toml", include_str!("../config/small-host.toml")),
        ] {
            let cfg = Config::from_toml_str(text, name)
                .unwrap_or_else(|e| panic!("{name} does not load: {e}"));
            assert_ne!(cfg, Config::default(), "{name} changes nothing");
        }
    }

    #[test]
    fn every_key_is_overridable() {
        let changed = Config {
            server: ServerConfig {
                addr: "127.0.0.1".into(),
                port: 5222,
                http_port: 9222,
                cores: 1,
                server_name: Some("natrix-test".into()),
                io_memory_bytes: 4 * MIB,
                lame_duck_duration_ms: 30_000,
                lame_duck_grace_period_ms: 5_000,
            },
            limits: LimitsConfig {
                max_payload_bytes: 2 * MIB,
                max_control_line_bytes: 8192,
                max_pending_bytes: 128 * MIB,
                max_connections: 1000,
                max_subscriptions: 500,
                ping_interval_ms: 30_000,
                max_pings_outstanding: 5,
                write_deadline_ms: 2_000,
            },
            logging: LoggingConfig {
                level: "natrix=debug,warn".into(),
                format: LogFormat::Json,
            },
            jetstream: JetStreamConfig {
                enabled: false,
                store_dir: "/var/lib/natrix".into(),
                sync: SyncPolicy::IntervalMs(1000),
                max_segment_bytes: 1 << 20,
                max_memory_bytes: 1 << 30,
                max_file_bytes: 1 << 40,
                dead_letter: [("ORDERS".to_owned(), "dlq.orders".to_owned())].into(),
                domain: None,
                max_batch_size: 3,
                max_batch_inflight_per_stream: 4,
                max_batch_inflight_total: 5,
                max_batch_timeout_ms: 6,
            },
            authorization: None,
            leafnodes: None,
            system: SystemConfig::default(),
            tls: None,
            operator: None,
            system_account: None,
            accounts: Default::default(),
        };
        // Every leaf differs from the default, so the round trip below proves each key is read.
        let defaults: HashMap<_, _> = leaves(&Config::default()).into_iter().collect();
        let changed_leaves = leaves(&changed);
        // + server_name, + one dead_letter entry (the table is empty by default)
        assert_eq!(changed_leaves.len(), defaults.len() + 2);
        for (key, value) in &changed_leaves {
            assert_ne!(
                defaults.get(key),
                Some(value),
                "{key} not changed by the test"
            );
        }
        let text = toml::to_string(&changed).unwrap();
        let (parsed, _) = parse_with_provenance(&text, "all.toml").unwrap();
        assert_eq!(parsed, changed);
        // The changed config also passes validation.
        let text_valid = changed.clone();
        let text = toml::to_string(&text_valid).unwrap();
        assert_eq!(
            Config::from_toml_str(&text, "all.toml").unwrap(),
            text_valid
        );
    }

    #[test]
    fn partial_file_keeps_defaults_for_the_rest() {
        let cfg = Config::from_toml_str("[limits]\nmax_subscriptions = 10\n", "t.toml").unwrap();
        let mut expected = Config::default();
        expected.limits.max_subscriptions = 10;
        assert_eq!(cfg, expected);
        assert_eq!(
            Config::from_toml_str("", "t.toml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn dotted_and_inline_keys_work_and_are_located() {
        let cfg = Config::from_toml_str(
            "server.port = 5000\nlimits = { max_connections = 7 }\n",
            "t",
        )
        .unwrap();
        assert_eq!(cfg.server.port, 5000);
        assert_eq!(cfg.limits.max_connections, 7);
        assert_eq!(
            err_text("\n\nlimits = { max_connections = 0 }\n"),
            "test.toml:3: limits.max_connections: must be at least 1, got 0"
        );
        assert_eq!(
            err_text("# comment\nserver.port = 0\n"),
            "test.toml:2: server.port: must not be 0: every core binds its own SO_REUSEPORT \
             listener, so an ephemeral port cannot work"
        );
    }

    #[test]
    fn refusals_name_key_and_line() {
        let too_many_cores = available_cpus() + 1;
        let cases: Vec<(String, &str)> = vec![
            (
                "[server]\naddr = \"localhost\"\n".into(),
                "test.toml:2: server.addr: must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, got \"localhost\"",
            ),
            (
                "[server]\nport = 0\n".into(),
                "test.toml:2: server.port: must not be 0",
            ),
            (
                "[server]\nport = 4222\nhttp_port = 4222\n".into(),
                "test.toml:3: server.http_port: must differ from server.port (4222), got 4222",
            ),
            (
                format!("[server]\n\ncores = {too_many_cores}\n"),
                "test.toml:3: server.cores: must be at most the",
            ),
            (
                "[server]\nserver_name = \"my server\"\n".into(),
                "test.toml:2: server.server_name: must be non-empty and contain no whitespace",
            ),
            (
                "[server]\nlame_duck_duration_ms = 29999\n".into(),
                "test.toml:2: server.lame_duck_duration_ms: must be at least 30000 (30 s, as nats-server), got 29999",
            ),
            (
                "[server]\nlame_duck_duration_ms = 30000\nlame_duck_grace_period_ms = 30000\n".into(),
                "test.toml:3: server.lame_duck_grace_period_ms: must be below server.lame_duck_duration_ms (30000), got 30000",
            ),
            (
                "[server]\nio_memory_bytes = 262143\n".into(),
                "test.toml:2: server.io_memory_bytes: must be between 262144 (256 KiB) and 1073741824",
            ),
            (
                "[server]\nio_memory_bytes = 1073741825\n".into(),
                "test.toml:2: server.io_memory_bytes: must be between",
            ),
            (
                "[limits]\nmax_payload_bytes = 0\n".into(),
                "test.toml:2: limits.max_payload_bytes: must be between 1 and 67108864 (64 MiB), got 0",
            ),
            (
                "[limits]\nmax_pending_bytes = 1000000000\nmax_payload_bytes = 67108865\n".into(),
                "test.toml:3: limits.max_payload_bytes: must be between 1 and 67108864 (64 MiB), got 67108865",
            ),
            (
                "[limits]\nmax_control_line_bytes = 255\n".into(),
                "test.toml:2: limits.max_control_line_bytes: must be at least 256, got 255",
            ),
            (
                "[limits]\nmax_payload_bytes = 2048\nmax_pending_bytes = 1000\n".into(),
                "test.toml:3: limits.max_pending_bytes: must be at least limits.max_payload_bytes (2048), got 1000",
            ),
            (
                "[limits]\nmax_connections = 0\n".into(),
                "test.toml:2: limits.max_connections: must be at least 1, got 0",
            ),
            (
                "[limits]\nping_interval_ms = 0\n".into(),
                "test.toml:2: limits.ping_interval_ms: must be at least 1, got 0",
            ),
            (
                "[limits]\nmax_pings_outstanding = 0\n".into(),
                "test.toml:2: limits.max_pings_outstanding: must be at least 1, got 0",
            ),
            (
                "[limits]\nwrite_deadline_ms = 0\n".into(),
                "test.toml:2: limits.write_deadline_ms: must be at least 1, got 0",
            ),
            (
                "[logging]\nlevel = \"verbose\"\n".into(),
                "test.toml:2: logging.level: `verbose` is not a log level",
            ),
            (
                "[logging]\nlevel = \"natrix=loud\"\n".into(),
                "test.toml:2: logging.level: `natrix=loud` is not a valid filter",
            ),
            (
                "[logging]\nlevel = \"\"\n".into(),
                "test.toml:2: logging.level: must not be empty",
            ),
            (
                "[logging]\nformat = \"xml\"\n".into(),
                "test.toml:2:10: logging.format: unknown variant `xml`",
            ),
            (
                "[authorization]\nusers = [ { user = \"a\", password = \"b\" } ]\n[system]\nusers = [\"root\"]\n".into(),
                "test.toml:4: system.users: `root` is not a user of [authorization] users",
            ),
            (
                "[jetstream]\nsync = \"sometimes\"\n".into(),
                "test.toml:2: jetstream.sync: must be \"always\" or an interval in milliseconds",
            ),
            (
                "[jetstream]\nsync = 0\n".into(),
                "test.toml:2: jetstream.sync: an interval must be at least 1 ms",
            ),
            (
                "[jetstream]\nmax_segment_bytes = 10\n".into(),
                "test.toml:2: jetstream.max_segment_bytes: must be at least 4096",
            ),
            (
                "[jetstream]\nmax_batch_inflight_total = 0\n".into(),
                "test.toml:2: jetstream.max_batch_inflight_total: must be at least 1",
            ),
            (
                "[jetstream]\nmax_file_bytes = 0\n".into(),
                "test.toml:2: jetstream.max_file_bytes: must be -1 (unlimited) or positive",
            ),
            (
                "[jetstream]\nstore_dir = \"\"\n".into(),
                "test.toml:2: jetstream.store_dir: must not be empty",
            ),
        ];
        for (text, expected) in cases {
            let msg = err_text(&text);
            assert!(
                msg.starts_with(expected),
                "for {text:?}\n got: {msg}\nwant: {expected}"
            );
        }
    }

    #[test]
    fn refusal_of_a_defaulted_key_has_no_line() {
        // http_port is not in the file; it collides with the port that is.
        assert_eq!(
            err_text("[server]\nport = 8222\n"),
            "test.toml: server.http_port: must differ from server.port (8222), got 8222"
        );
    }

    #[test]
    fn validate_without_file_uses_generic_source() {
        let mut cfg = Config::default();
        cfg.limits.ping_interval_ms = 0;
        let err = cfg.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "config: limits.ping_interval_ms: must be at least 1, got 0"
        );
        match err {
            ConfigError::Invalid { key, line, .. } => {
                assert_eq!(key, "limits.ping_interval_ms");
                assert_eq!(line, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn accepted_log_levels() {
        for level in [
            "trace",
            "DEBUG",
            "info",
            "warn",
            "error",
            "off",
            "natrix=debug,info",
            "warn,natrix::conn=trace",
        ] {
            let mut cfg = Config::default();
            cfg.logging.level = level.into();
            cfg.validate().unwrap_or_else(|e| panic!("{level}: {e}"));
        }
    }

    #[test]
    fn unknown_key_reports_name_and_line() {
        let msg = err_text("[server]\nport = 4222\nprot = 4223\n");
        assert!(
            msg.starts_with("test.toml:3:1: server.prot: unknown field `prot`, expected one of"),
            "{msg}"
        );
        let msg = err_text("# top\n[srever]\nport = 1\n");
        assert!(
            msg.starts_with("test.toml:2:2: srever: unknown field `srever`"),
            "{msg}"
        );
        let msg = err_text("limits = { max_connections = 1, bogus = 2 }\n");
        assert!(
            msg.starts_with("test.toml:1:33: limits.bogus: unknown field `bogus`"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_reports_key_and_line() {
        assert_eq!(
            err_text("[limits]\n\nmax_payload_bytes = \"1MB\"\n"),
            "test.toml:3:21: limits.max_payload_bytes: invalid type: string \"1MB\", expected usize"
        );
        assert_eq!(
            err_text("[server]\nport = 70000\n"),
            "test.toml:2:8: server.port: invalid value: integer `70000`, expected u16"
        );
        assert_eq!(
            err_text("[server]\ncores = -1\n"),
            "test.toml:2:9: server.cores: invalid value: integer `-1`, expected usize"
        );
        let msg = err_text("server = 5\n");
        assert!(
            msg.starts_with("test.toml:1:10: server: invalid type: integer `5`"),
            "{msg}"
        );
        let msg = err_text("[jetstream]\nenabled = \"yes\"\n");
        assert!(
            msg.starts_with("test.toml:2:11: jetstream.enabled: invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn a_leaf_remote_names_a_configured_account() {
        let msg = err_text(
            "[leafnodes]\n[[leafnodes.remotes]]\nurls = [\"nats-leaf://127.0.0.1:7422\"]\naccount = \"NOPE\"\n",
        );
        assert!(
            msg.contains("leafnodes.remotes[0].account: no account \"NOPE\" in [accounts]"),
            "{msg}"
        );
        let ok = "[accounts.TEAM_A]\n[leafnodes]\n[[leafnodes.remotes]]\nurls = [\"nats-leaf://127.0.0.1:7422\"]\naccount = \"TEAM_A\"\n";
        assert!(Config::from_toml_str(ok, "test.toml").is_ok());
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = Config::from_toml_str("[server]\nport = \n", "bad.toml").unwrap_err();
        match &err {
            ConfigError::Parse {
                file, line, key, ..
            } => {
                assert_eq!(file, "bad.toml");
                assert_eq!(*line, 2);
                assert_eq!(*key, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("bad.toml:2:"), "{err}");
        let msg = err_text("[server]\nport = 1\nport = 2\n");
        assert!(msg.starts_with("test.toml:3:1: duplicate key"), "{msg}");
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "a\néé=x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (2, 1));
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 5), (2, 2)); // inside a char: snapped back
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn load_reads_a_file_and_names_it() {
        let dir = std::env::temp_dir().join(format!("natrix-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.toml");
        std::fs::write(&path, "[server]\nport = 4333\n").unwrap();
        assert_eq!(Config::load(Some(&path)).unwrap().server.port, 4333);
        std::fs::write(&path, "[server]\n\nport = 0\n").unwrap();
        let msg = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}:3: server.port:", path.display())),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    }

    #[test]
    fn listen_addr_handles_ipv4_and_ipv6() {
        let mut cfg = Config::default();
        assert_eq!(cfg.listen_addr().unwrap().to_string(), "0.0.0.0:4222");
        cfg.server.addr = "::".into();
        cfg.server.port = 5000;
        assert_eq!(cfg.listen_addr().unwrap().to_string(), "[::]:5000");
        cfg.server.addr = "example.com".into();
        assert_eq!(
            cfg.listen_addr().unwrap_err().to_string(),
            "config: server.addr: must be an IP address, got \"example.com\""
        );
    }

    #[test]
    fn effective_cores_follows_setting() {
        let mut cfg = Config::default();
        assert_eq!(cfg.effective_cores(), available_cpus());
        assert!(cfg.effective_cores() >= 1);
        cfg.server.cores = 1;
        assert_eq!(cfg.effective_cores(), 1);
    }

    const TOML_MAX: i64 = i64::MAX;

    fn arb_config() -> impl Strategy<Value = Config> {
        let server = (
            prop_oneof![Just("0.0.0.0"), Just("127.0.0.1"), Just("::"), Just("::1")],
            1u16..,
            any::<u16>(),
            0..=available_cpus(),
            proptest::option::of("[a-z][a-z0-9_-]{0,15}"),
            MIN_IO_MEMORY_BYTES..=MAX_IO_MEMORY_BYTES,
        )
            .prop_filter("http_port collides", |(_, p, h, ..)| h != p)
            .prop_map(
                |(addr, port, http_port, cores, server_name, io)| ServerConfig {
                    addr: addr.into(),
                    port,
                    http_port,
                    cores,
                    server_name,
                    io_memory_bytes: io,
                    ..ServerConfig::default()
                },
            );
        let limits = (
            1..=MAX_PAYLOAD_CEILING_BYTES,
            0usize..(1 << 30),
            MIN_CONTROL_LINE_BYTES..(1 << 20),
            // TOML integers are i64, so larger values cannot appear in a file at all.
            1..=TOML_MAX as usize,
            0..=TOML_MAX as usize,
            1..=TOML_MAX as u64,
            1u32..,
            1..=TOML_MAX as u64,
        )
            .prop_map(
                |(payload, extra, ctl, conns, subs, ping, pings, wd)| LimitsConfig {
                    max_payload_bytes: payload,
                    max_control_line_bytes: ctl,
                    max_pending_bytes: payload + extra,
                    max_connections: conns,
                    max_subscriptions: subs,
                    ping_interval_ms: ping,
                    max_pings_outstanding: pings,
                    write_deadline_ms: wd,
                },
            );
        let level = prop_oneof![Just("info"), Just("debug"), Just("natrix=trace,warn")];
        (server, limits, level, "[a-z/._-]{1,20}").prop_map(|(server, limits, level, dir)| Config {
            server,
            limits,
            logging: LoggingConfig {
                level: level.into(),
                ..LoggingConfig::default()
            },
            jetstream: JetStreamConfig {
                store_dir: dir.into(),
                ..JetStreamConfig::default()
            },
            authorization: None,
            leafnodes: None,
            system: SystemConfig::default(),
            tls: None,
            operator: None,
            system_account: None,
            accounts: Default::default(),
        })
    }

    proptest! {
        #[test]
        fn valid_configs_round_trip_through_toml(cfg in arb_config()) {
            cfg.validate().unwrap();
            let text = toml::to_string(&cfg).unwrap();
            prop_assert_eq!(Config::from_toml_str(&text, "rt.toml").unwrap(), cfg);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[\\[\\]a-z_.=\" 0-9\n]{0,80}") {
            let _ = Config::from_toml_str(&text, "fuzz.toml");
        }

        #[test]
        fn any_refusal_names_a_real_key(
            port in any::<u16>(), http in any::<u16>(), payload in 0usize..(100 << 20),
            pending in 0usize..(100 << 20), ctl in 0usize..1024, io in 0usize..(2 << 20),
        ) {
            let text = format!(
                "[server]\nport = {port}\nhttp_port = {http}\nio_memory_bytes = {io}\n\
                 [limits]\nmax_payload_bytes = {payload}\nmax_pending_bytes = {pending}\n\
                 max_control_line_bytes = {ctl}\n"
            );
            let lines: HashMap<&str, usize> = [
                ("server.port", 2), ("server.http_port", 3), ("server.io_memory_bytes", 4),
                ("limits.max_payload_bytes", 6), ("limits.max_pending_bytes", 7),
                ("limits.max_control_line_bytes", 8),
            ].into_iter().collect();
            match Config::from_toml_str(&text, "p.toml") {
                Ok(_) => {}
                Err(ConfigError::Invalid { key, line, .. }) => {
                    prop_assert_eq!(Some(line.unwrap()), lines.get(key.as_str()).copied());
                }
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }
    }
}
