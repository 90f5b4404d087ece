//! The `[accounts.<NAME>]` TOML schema, mirroring nats-server's `accounts { NAME { ... } }`
//! block (users, exports, imports, `jetstream`, limits) plus the top-level `system_account`,
//! and their semantic checks. Errors return the dotted key of the offending value (e.g.
//! `accounts.TEAM_B.imports[0]`) so the caller can name its line.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::auth::config::{AuthConfigError, AuthorizationConfig, UserConfig};
use crate::subject;

/// nats-server's name of the system account when `system_account` is not set.
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";

/// One `[accounts.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Whether the account may use JetStream (`jetstream = true`; nats-server also
    /// accepts `"enabled"` / `"disabled"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<JetStreamFlag>,
    /// The account's users (same forms as `[authorization]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserConfig>,
    /// Subjects other accounts may import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExportConfig>,
    /// Subjects taken from other accounts' exports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ImportConfig>,
    /// The account's limits (`[accounts.NAME.limits]`, nats-server's `limits { ... }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AccountLimits>,
}

/// `limits = { max_connections = N, max_subscriptions = N, max_payload = N }`; -1 or
/// absent = the server's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLimits {
    /// Connections of the account's users on the whole server, all cores together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i64>,
    /// Subscriptions per connection of the account's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_subscriptions: Option<i64>,
    /// Largest payload (headers included) the account's users may publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<i64>,
}

/// `jetstream = true | false | "enabled" | "disabled"`, or the table
/// `[accounts.NAME.jetstream]` with the account's storage limits (enabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JetStreamFlag {
    /// `true` / `false`.
    Flag(bool),
    /// `"enabled"` / `"disabled"` (nats-server's spelling).
    Word(String),
    /// Enabled, with limits.
    Limits(AccountJetStreamLimits),
}

/// `[accounts.NAME.jetstream]`: bytes the account's streams may reserve (`max_bytes`), as
/// nats-server's `max_mem` / `max_file` (aliases `max_memory` / `max_store`), and how many
/// streams it may have and consumers each of its streams (`max_streams`, `max_consumers`,
/// nats-server's names); -1 = the server's limit (none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountJetStreamLimits {
    /// Memory storage.
    #[serde(default, alias = "max_memory", skip_serializing_if = "Option::is_none")]
    pub max_mem: Option<i64>,
    /// File storage.
    #[serde(default, alias = "max_store", skip_serializing_if = "Option::is_none")]
    pub max_file: Option<i64>,
    /// Streams of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<i64>,
    /// Consumers per stream of the account (nats-server applies the account's limit to each
    /// stream, and refuses a stream whose own `max_consumers` is larger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_consumers: Option<i64>,
    /// Largest `max_ack_pending` of the account's consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ack_pending: Option<i64>,
}

/// An account's JetStream count limits (None = unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JetStreamCounts {
    /// Streams of the account.
    pub max_streams: Option<i64>,
    /// Consumers per stream.
    pub max_consumers: Option<i64>,
    /// Largest `max_ack_pending` of a consumer (its default when lower than nats-server's).
    pub max_ack_pending: Option<i64>,
    /// No memory storage granted (its limit is 0, the other one not): memory streams are
    /// refused with nats-server's 10028.
    pub no_memory: bool,
    /// No file storage granted: file streams are refused with 10047.
    pub no_file: bool,
}

impl JetStreamFlag {
    fn enabled(&self) -> Option<bool> {
        match self {
            JetStreamFlag::Flag(b) => Some(*b),
            JetStreamFlag::Word(w) => match w.to_ascii_lowercase().as_str() {
                "enabled" | "enable" | "true" => Some(true),
                "disabled" | "disable" | "false" => Some(false),
                _ => None,
            },
            JetStreamFlag::Limits(_) => Some(true),
        }
    }
}

/// `{ service = "subject" }` or `{ stream = "subject" }`, optionally restricted to some
/// importing `accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// A service (request/reply) subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// A stream (one-way) subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Only these accounts may import it (absent = every account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// An account JWT's private export (`token_req`): `accounts` are those whose
    /// activation token was valid. Not a config key.
    #[serde(skip)]
    pub token_req: bool,
    /// An account JWT's revoked activations: importing account (or `*`) -> unix seconds.
    /// Not a config key.
    #[serde(skip)]
    pub revocations: BTreeMap<String, i64>,
}

/// `{ service = { account, subject }, to = "local" }` or
/// `{ stream = { account, subject }, prefix = "p" }` (nats-server's form; `prefix` is also
/// accepted inside the `stream` table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// A service of another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ImportSource>,
    /// A stream of another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<ImportSource>,
    /// Stream imports: the subjects appear under `prefix.` in the importing account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Service imports: the subject the importing account publishes requests to (default:
    /// the exported subject). Stream imports: the subject the messages appear on in the
    /// importing account (nats-server's mapped stream import; its `*` and `>` take the
    /// imported subject's wildcard tokens in order, `$N` the N-th).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `{ account = "NAME", subject = "..." }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSource {
    /// The exporting account.
    pub account: String,
    /// The exported subject (or a subset of it).
    pub subject: String,
    /// Stream imports: the prefix (also accepted beside the `stream` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// What an import takes, resolved: kind, exporter, subject, and prefix or local subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKind {
    /// A service: requests on `local` go to `subject` in the exporter.
    Service {
        /// Exporting account.
        account: String,
        /// The exporter's subject.
        subject: String,
        /// The subject in the importing account.
        local: String,
    },
    /// A stream: the exporter's messages on `subject` appear as `prefix.subject`, or mapped
    /// to `to`.
    Stream {
        /// Exporting account.
        account: String,
        /// The exporter's subject.
        subject: String,
        /// The prefix, if any.
        prefix: Option<String>,
        /// The local subject (pattern) it is mapped to, if any.
        to: Option<String>,
    },
}

impl ImportConfig {
    /// The import, resolved (after validation).
    pub fn kind(&self) -> Option<ImportKind> {
        match (&self.service, &self.stream) {
            (Some(s), None) => Some(ImportKind::Service {
                account: s.account.clone(),
                subject: s.subject.clone(),
                local: self.to.clone().unwrap_or_else(|| s.subject.clone()),
            }),
            (None, Some(s)) => Some(ImportKind::Stream {
                account: s.account.clone(),
                subject: s.subject.clone(),
                prefix: self.prefix.clone().or_else(|| s.prefix.clone()),
                to: self.to.clone().filter(|t| *t != s.subject),
            }),
            _ => None,
        }
    }
}

impl AccountConfig {
    /// The account's JetStream storage limits (memory, file), when given.
    pub fn jetstream_limits(&self) -> (Option<i64>, Option<i64>) {
        match &self.jetstream {
            Some(JetStreamFlag::Limits(l)) => (l.max_mem, l.max_file),
            _ => (None, None),
        }
    }

    /// The account's JetStream stream/consumer count limits, when given (positive).
    pub fn jetstream_counts(&self) -> JetStreamCounts {
        match &self.jetstream {
            Some(JetStreamFlag::Limits(l)) => JetStreamCounts {
                max_streams: l.max_streams.filter(|v| *v > 0),
                max_consumers: l.max_consumers.filter(|v| *v > 0),
                max_ack_pending: l.max_ack_pending.filter(|v| *v > 0),
                no_memory: l.max_mem == Some(0),
                no_file: l.max_file == Some(0),
            },
            _ => JetStreamCounts::default(),
        }
    }

    /// Whether JetStream is enabled for the account.
    pub fn jetstream_enabled(&self) -> bool {
        self.jetstream
            .as_ref()
            .and_then(JetStreamFlag::enabled)
            .unwrap_or(false)
    }
}

fn refuse<T>(key: String, reason: impl Into<String>) -> Result<T, AuthConfigError> {
    Err(AuthConfigError {
        key,
        reason: reason.into(),
    })
}

/// Whether every subject `sub` matches also matches `pattern` (both may hold wildcards).
pub fn is_subset(pattern: &[u8], sub: &[u8]) -> bool {
    let mut p = pattern.split(|b| *b == b'.');
    let mut s = sub.split(|b| *b == b'.');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(t)) if t != b">" => {}
            (Some(pt), Some(st)) if pt == st && pt != b">" && pt != b"*" => {}
            _ => return false,
        }
    }
}

/// A name usable as a subject-free identifier and as a directory name (JetStream files).
fn is_account_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '/' | '\\'))
}

/// Checks `[accounts]`, `system_account` and users across `[authorization]` and accounts.
pub fn validate(
    accounts: &BTreeMap<String, AccountConfig>,
    system_account: Option<&str>,
    authorization: Option<&AuthorizationConfig>,
) -> Result<(), AuthConfigError> {
    // Users are unique server-wide: a name (or nkey) identifies one account.
    let mut users: HashMap<String, String> = HashMap::new();
    if let Some(a) = authorization {
        for (i, u) in a.users.iter().enumerate() {
            let id = u.user.as_deref().or(u.nkey.as_deref()).unwrap_or_default();
            users.insert(id.to_owned(), format!("authorization.users[{i}]"));
        }
    }
    for (name, acc) in accounts {
        let base = format!("accounts.{name}");
        if !is_account_name(name) || name == crate::auth::GLOBAL_ACCOUNT {
            return refuse(base, format!("{name:?} is not a valid account name"));
        }
        let (mem, file) = acc.jetstream_limits();
        let (streams, consumers, ack_pending) = match &acc.jetstream {
            Some(JetStreamFlag::Limits(l)) => (l.max_streams, l.max_consumers, l.max_ack_pending),
            _ => (None, None, None),
        };
        for (key, v) in [
            ("max_mem", mem),
            ("max_file", file),
            ("max_streams", streams),
            ("max_consumers", consumers),
            ("max_ack_pending", ack_pending),
        ] {
            if let Some(v) = v {
                if v == 0 || v < -1 {
                    return refuse(
                        format!("{base}.jetstream.{key}"),
                        format!("must be -1 (unlimited) or positive, got {v}"),
                    );
                }
            }
        }
        if let Some(js) = &acc.jetstream {
            if js.enabled().is_none() {
                return refuse(
                    format!("{base}.jetstream"),
                    "must be true, false, \"enabled\" or \"disabled\"",
                );
            }
        }
        let limits = acc.limits.clone().unwrap_or_default();
        for (key, v) in [
            ("max_connections", limits.max_connections),
            ("max_subscriptions", limits.max_subscriptions),
            ("max_payload", limits.max_payload),
        ] {
            if let Some(v) = v {
                if v == 0 || v < -1 {
                    return refuse(
                        format!("{base}.limits.{key}"),
                        format!("must be -1 (unlimited) or positive, got {v}"),
                    );
                }
            }
        }
        for (i, u) in acc.users.iter().enumerate() {
            let key = format!("{base}.users[{i}]");
            u.validate(&key, false)?;
            let id = u.user.as_deref().or(u.nkey.as_deref()).unwrap_or_default();
            if let Some(other) = users.insert(id.to_owned(), key.clone()) {
                return refuse(key, format!("duplicate user {id:?} (also {other})"));
            }
        }
        for (i, e) in acc.exports.iter().enumerate() {
            let key = format!("{base}.exports[{i}]");
            let subj = match (&e.service, &e.stream) {
                (Some(s), None) => s,
                (None, Some(s)) => s,
                _ => return refuse(key, "needs exactly one of `service` or `stream`"),
            };
            if !subject::is_valid_subscribe_subject(subj.as_bytes()) {
                return refuse(key, format!("invalid subject {subj:?}"));
            }
            for a in e.accounts.iter().flatten() {
                if !accounts.contains_key(a) {
                    return refuse(
                        format!("{key}.accounts"),
                        format!("account {a:?} is not defined"),
                    );
                }
            }
        }
        for (i, im) in acc.imports.iter().enumerate() {
            validate_import(accounts, name, im, &format!("{base}.imports[{i}]"))?;
        }
    }
    if let Some(sys) = system_account {
        if sys != DEFAULT_SYSTEM_ACCOUNT && !accounts.contains_key(sys) {
            return refuse(
                "system_account".to_owned(),
                format!("account {sys:?} is not defined"),
            );
        }
    }
    Ok(())
}

/// Checks one import of `importer` against the accounts (their exports); `key` names it.
pub(crate) fn validate_import(
    accounts: &BTreeMap<String, AccountConfig>,
    importer: &str,
    im: &ImportConfig,
    key: &str,
) -> Result<(), AuthConfigError> {
    let (src, service) = match (&im.service, &im.stream) {
        (Some(s), None) => (s, true),
        (None, Some(s)) => (s, false),
        _ => return refuse(key.to_owned(), "needs exactly one of `service` or `stream`"),
    };
    let which = if service { "service" } else { "stream" };
    let Some(exporter) = accounts.get(&src.account) else {
        return refuse(
            format!("{key}.{which}.account"),
            format!("account {:?} is not defined", src.account),
        );
    };
    if src.account == importer {
        return refuse(
            format!("{key}.{which}.account"),
            "an account cannot import from itself",
        );
    }
    let subj = src.subject.as_bytes();
    if !subject::is_valid_subscribe_subject(subj) {
        return refuse(
            format!("{key}.{which}.subject"),
            format!("invalid subject {:?}", src.subject),
        );
    }
    let exported = exporter.exports.iter().any(|e| {
        let pattern = if service { &e.service } else { &e.stream };
        pattern
            .as_deref()
            .is_some_and(|p| is_subset(p.as_bytes(), subj))
            && e.accounts
                .as_ref()
                .is_none_or(|l| l.iter().any(|a| a == importer))
    });
    if !exported {
        return refuse(
            format!("{key}.{which}.subject"),
            format!(
                "{which} {:?} is not exported by account {:?} to {importer:?}",
                src.subject, src.account
            ),
        );
    }
    if service {
        if im.prefix.is_some() || src.prefix.is_some() {
            return refuse(format!("{key}.prefix"), "applies to stream imports only");
        }
        if let Some(to) = &im.to {
            if !subject::is_valid_subscribe_subject(to.as_bytes()) {
                return refuse(format!("{key}.to"), format!("invalid subject {to:?}"));
            }
            if subject::is_literal(subj) != subject::is_literal(to.as_bytes()) {
                return refuse(
                    format!("{key}.to"),
                    "must have wildcards exactly when the imported subject does",
                );
            }
        }
    } else {
        if let Some(to) = &im.to {
            if im.prefix.is_some() || src.prefix.is_some() {
                return refuse(format!("{key}.to"), "a stream import has a prefix or a to");
            }
            let count = |s: &[u8], w: &[u8]| s.split(|b| *b == b'.').filter(|t| *t == w).count();
            let fits = subject::is_valid_subscribe_subject(to.as_bytes())
                && count(to.as_bytes(), b"*") <= count(subj, b"*")
                && count(to.as_bytes(), b">") <= count(subj, b">");
            if !fits {
                return refuse(
                    format!("{key}.to"),
                    format!("cannot map {:?} to {to:?}", src.subject),
                );
            }
        }
        if im.prefix.is_some() && src.prefix.is_some() {
            return refuse(format!("{key}.prefix"), "given twice");
        }
        if let Some(p) = im.prefix.as_deref().or(src.prefix.as_deref()) {
            if !subject::is_valid_publish_subject(p.as_bytes()) {
                return refuse(
                    format!("{key}.prefix"),
                    format!("invalid prefix {p:?} (a subject without wildcards)"),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset() {
        assert!(is_subset(b"public.>", b"public.a"));
        assert!(is_subset(b"public.>", b"public.*.b"));
        assert!(is_subset(b"public.>", b"public.>"));
        assert!(!is_subset(b"public.>", b"public"));
        assert!(!is_subset(b"public.*", b"public.>"));
        assert!(is_subset(b"public.*", b"public.*"));
        assert!(!is_subset(b"svc.time", b"svc.*"));
        assert!(is_subset(b"svc.time", b"svc.time"));
        assert!(!is_subset(b"svc.time", b"svc.time.x"));
    }
}
