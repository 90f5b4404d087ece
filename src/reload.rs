//! Configuration reload (SIGHUP, nats-server's `--signal reload`): which settings may change
//! while the server runs, and how a new configuration reaches the cores.
//!
//! The file is re-read and validated off the cores (the signal thread, see `main.rs`); a
//! configuration that does not load, or that changes a setting only a restart can apply, is
//! refused as a whole and the running one stays (as nats-server's `config reload not
//! supported for ...`). An accepted one becomes a new [`LiveSettings`] generation in the shared
//! [`Reloadable`]; each core looks at the generation counter in its shutdown/lame-duck poll
//! loop (never on the message path) and installs the new settings into its engine: new
//! connections authenticate against the new `[authorization]` and get the new limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::auth::Authenticator;
use crate::config::{Config, LimitsConfig};
use crate::engine::EngineLimits;

/// Dotted keys (or key prefixes ending in `.`) a reload may change. Everything else (ports,
/// cores, JetStream storage, the log format, sections added later) needs a restart.
pub const RELOADABLE: &[&str] = &[
    "logging.level",
    "limits.max_payload_bytes",
    "limits.max_control_line_bytes",
    "limits.max_pending_bytes",
    "limits.max_connections",
    "limits.max_subscriptions",
    "limits.ping_interval_ms",
    "limits.max_pings_outstanding",
    "authorization",
    "authorization.",
    "system",
    "system.",
];

/// What the cores apply from a reloaded configuration.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Limits for the engines (payload, control line, pending, subscriptions, pings).
    pub limits: EngineLimits,
    /// `[authorization]`; None = no authentication.
    pub auth: Option<Arc<Authenticator>>,
    /// `[system] users`: who may use the `$SYS.REQ.SERVER` requests.
    pub system_users: Arc<[String]>,
}

impl LiveSettings {
    /// The live part of `cfg`.
    pub fn of(cfg: &Config) -> LiveSettings {
        LiveSettings {
            limits: engine_limits(&cfg.limits),
            auth: authenticator(cfg),
            system_users: cfg.system.users.clone().into(),
        }
    }
}

/// The engine's limits for `[limits]`.
pub fn engine_limits(limits: &LimitsConfig) -> EngineLimits {
    EngineLimits {
        max_payload_bytes: limits.max_payload_bytes,
        max_control_line_bytes: limits.max_control_line_bytes,
        max_pending_bytes: limits.max_pending_bytes,
        max_subscriptions: limits.max_subscriptions,
        ping_interval_ns: limits.ping_interval_ms * 1_000_000,
        max_pings_outstanding: limits.max_pings_outstanding,
    }
}

/// The authenticator for `[authorization]`, None when it is absent or empty.
pub fn authenticator(cfg: &Config) -> Option<Arc<Authenticator>> {
    Authenticator::from_configs(cfg.authorization.as_ref(), &cfg.accounts).map(Arc::new)
}

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A setting that only a restart can apply differs.
    #[error(
        "config reload not supported for {key}: old={old}, new={new} (restart to apply; nothing was changed)"
    )]
    NotReloadable {
        /// Dotted key.
        key: String,
        /// Its running value (JSON).
        old: String,
        /// Its value in the file (JSON).
        new: String,
    },
}

/// The settings the cores share across reloads: a generation counter they poll and the
/// current [`LiveSettings`] behind a lock taken once per core per reload.
#[derive(Debug)]
pub struct Reloadable {
    generation: AtomicU64,
    current: Mutex<(Config, Arc<LiveSettings>)>,
}

impl Reloadable {
    /// Generation 0: the configuration the server started with.
    /// `auth` is the authenticator the server started with (from `[authorization]` or, in
    /// operator mode, from `[operator]`, which a reload keeps: it is not reloadable).
    pub fn new(cfg: &Config, auth: Option<Arc<Authenticator>>) -> Arc<Reloadable> {
        let mut live = LiveSettings::of(cfg);
        live.auth = auth;
        Arc::new(Reloadable {
            generation: AtomicU64::new(0),
            current: Mutex::new((cfg.clone(), Arc::new(live))),
        })
    }

    /// The current generation (cores compare it with the one they applied).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current settings and their generation.
    pub fn current(&self) -> (u64, Arc<LiveSettings>) {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (self.generation(), guard.1.clone())
    }

    /// The running configuration and its generation (for `/varz`; not for the cores).
    pub fn config(&self) -> (u64, Config) {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (self.generation(), guard.0.clone())
    }

    /// Checks `new` against the running configuration and, when only reloadable settings
    /// differ, publishes it as the next generation. Returns the changed keys.
    pub fn reload(&self, new: Config) -> Result<Vec<String>, ReloadError> {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let changed = changed_keys(&guard.0, &new);
        if let Some(key) = changed.iter().find(|k| !reloadable(k)) {
            let (old, new) = (value_at(&guard.0, key), value_at(&new, key));
            return Err(ReloadError::NotReloadable {
                key: key.clone(),
                old,
                new,
            });
        }
        if changed.is_empty() {
            return Ok(changed);
        }
        let mut live = LiveSettings::of(&new);
        if new.operator.is_some() {
            // Operator mode: users come from JWTs; the trust loaded at start stays.
            live.auth = guard.1.auth.clone();
        }
        let live = Arc::new(live);
        *guard = (new, live);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(changed)
    }
}

fn reloadable(key: &str) -> bool {
    RELOADABLE
        .iter()
        .any(|r| key == *r || (r.ends_with('.') && key.starts_with(r)))
}

fn as_json(cfg: &Config) -> serde_json::Value {
    serde_json::to_value(cfg).unwrap_or(serde_json::Value::Null)
}

fn value_at(cfg: &Config, key: &str) -> String {
    let root = as_json(cfg);
    let mut cur = &root;
    for part in key.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return "null".to_owned(),
        }
    }
    cur.to_string()
}

/// Dotted keys whose values differ (leaves of the two configurations' JSON forms; a section
/// present in only one is one key).
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    diff("", &as_json(old), &as_json(new), &mut out);
    out
}

fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(&key, p, q, out),
                    _ => out.push(key),
                }
            }
        }
        _ if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml: &str) -> Config {
        Config::from_toml_str(toml, "t.toml").unwrap()
    }

    #[test]
    fn reloadable_changes_make_a_new_generation() {
        let r = Reloadable::new(&cfg(""), authenticator(&cfg("")));
        assert_eq!(r.generation(), 0);
        let new = cfg("[limits]\nmax_payload_bytes = 4096\nmax_connections = 7\n[logging]\nlevel = \"debug\"\n");
        let keys = r.reload(new).unwrap();
        assert_eq!(
            keys,
            [
                "limits.max_connections",
                "limits.max_payload_bytes",
                "logging.level"
            ]
        );
        assert_eq!(r.generation(), 1);
        assert_eq!(r.current().1.limits.max_payload_bytes, 4096);
    }

    #[test]
    fn authorization_changes_reload() {
        let r = Reloadable::new(
            &cfg("[authorization]\ntoken = \"a\"\n"),
            authenticator(&cfg("[authorization]\ntoken = \"a\"\n")),
        );
        assert!(r.current().1.auth.is_some());
        r.reload(cfg("")).unwrap();
        assert!(r.current().1.auth.is_none(), "auth removed");
        assert_eq!(r.generation(), 1);
        r.reload(cfg(
            "[authorization]\nusers = [ { user = \"u\", password = \"p\" } ]\n",
        ))
        .unwrap();
        assert!(r.current().1.auth.is_some());
    }

    #[test]
    fn restart_only_changes_are_refused_whole() {
        let r = Reloadable::new(&cfg(""), authenticator(&cfg("")));
        let err = r
            .reload(cfg("[server]\nport = 4333\n[logging]\nlevel = \"debug\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.port") && err.contains("old=4222, new=4333"),
            "{err}"
        );
        assert_eq!(r.generation(), 0, "nothing applied");
        let err = r
            .reload(cfg("[logging]\nformat = \"json\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("logging.format"), "{err}");
    }

    #[test]
    fn unchanged_file_is_no_new_generation() {
        let r = Reloadable::new(&cfg(""), authenticator(&cfg("")));
        assert!(r.reload(cfg("")).unwrap().is_empty());
        assert_eq!(r.generation(), 0);
    }
}
