//! Accounts (sans-IO): isolated subject spaces on one server, as nats-server has them.
//!
//! [`Accounts`] is the server's immutable account table, built once from the config and
//! shared by every core: each account gets a small [`AccountId`] (an index; `$G` is 0),
//! which is what sessions, subscriptions, interest updates and forwarded messages carry on
//! the hot path. A message never crosses accounts except through an export/import, and
//! the table precomputes those crossings per account so an account without any costs one
//! flag test per publish:
//! - **stream imports** are kept on the *exporting* account: a publish there on a matching
//!   subject is routed again in the importing account (under its prefix);
//! - **service imports** are kept on the *importing* account: a request there on the
//!   imported subject is routed again in the exporting account, its reply subject mapped to
//!   `_R_.<importer>.<tag>.<reply>`; a publish on such a subject in the exporter goes back
//!   to the importer's `<reply>` only when `tag` (a keyed hash of exporter, importer and
//!   reply) is right, so responses flow only back to the requester.

pub mod activation;
pub mod config;
pub mod from_operator;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use self::config::{AccountConfig, ImportKind, JetStreamCounts, DEFAULT_SYSTEM_ACCOUNT};
use crate::auth::GLOBAL_ACCOUNT;
use crate::subject;

/// An account's index in the server's [`Accounts`] table (the same on every core).
pub type AccountId = u32;

/// `$G`, the account of users not bound to a configured account.
pub const GLOBAL: AccountId = 0;

/// Prefix of service-import reply subjects (nats-server's, reserved for clients).
pub const SERVICE_REPLY_PREFIX: &[u8] = b"_R_.";

/// A service this account imports: requests on `local` go to `remote` in `exporter`.
#[derive(Debug, Clone)]
pub struct ServiceImport {
    /// Subject (pattern) in the importing account.
    pub local: Bytes,
    /// The exporting account.
    pub exporter: AccountId,
    /// The exporter's subject (pattern); equal to `local` unless `to` renamed it.
    pub remote: Bytes,
}

/// Where this account's publishes on `subject` also go: a stream import of another account.
#[derive(Debug, Clone)]
pub struct StreamExportRoute {
    /// The imported subject (pattern) in this (exporting) account.
    pub subject: Bytes,
    /// The importing account.
    pub importer: AccountId,
    /// `prefix.` put in front of the subject in the importer (empty = none).
    pub prefix: Bytes,
    /// The importer's subject (pattern) the subject is mapped to (empty = none;
    /// [`map_import_subject`]).
    pub local: Bytes,
}

/// One export of an account, as monitoring shows it (`/accountz`); routing uses the
/// precomputed crossings, not this list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountExport {
    /// The exported subject (pattern).
    pub subject: Arc<str>,
    /// A service (request/reply) rather than a stream.
    pub service: bool,
    /// The only accounts that may import it (empty = every account).
    pub approved: Vec<Arc<str>>,
    /// Importers need an activation token (account JWTs); `approved` is then not shown.
    pub token_req: bool,
    /// Revoked activations (account JWTs): importing account (or `*`) -> unix seconds.
    pub revoked: Vec<(Arc<str>, i64)>,
}

/// One account, compiled.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its name (`$G`, `$SYS`, or the config's).
    pub name: Arc<str>,
    /// Whether JetStream is enabled for it.
    pub jetstream: bool,
    /// Its JetStream memory / file reservation limits (None = the server's).
    pub jetstream_limits: (Option<i64>, Option<i64>),
    /// Its JetStream stream / consumer-per-stream / ack-pending limits.
    pub jetstream_counts: JetStreamCounts,
    /// Connections of its users on the whole server (None = only the server's limit).
    pub max_connections: Option<usize>,
    /// Its connections now, all cores together: claimed on CONNECT, released on close
    /// ([`Account::try_admit`]); touched only then, never on the message path.
    connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Subscriptions per connection (None = the server's limit).
    pub max_subscriptions: Option<usize>,
    /// Largest payload its users may publish (None = the server's limit).
    pub max_payload: Option<usize>,
    /// Services it imports.
    pub service_imports: Vec<ServiceImport>,
    /// Other accounts' stream imports of its subjects.
    pub stream_routes: Vec<StreamExportRoute>,
    /// Whether it exports a service (its publishes may be service replies).
    pub exports_services: bool,
    /// Its exports, services first, each kind in config order (for monitoring).
    pub exports: Vec<AccountExport>,
    /// Any of the above: a publish in it may have to be routed into another account.
    crosses: bool,
}

impl Account {
    fn new(name: &str, jetstream: bool) -> Account {
        Account {
            name: Arc::from(name),
            jetstream,
            jetstream_limits: (None, None),
            jetstream_counts: JetStreamCounts::default(),
            max_connections: None,
            connections: Arc::default(),
            max_subscriptions: None,
            max_payload: None,
            service_imports: Vec::new(),
            stream_routes: Vec::new(),
            exports_services: false,
            exports: Vec::new(),
            crosses: false,
        }
    }

    /// Claims a connection slot: false (nothing claimed) when `max_connections` are in use.
    pub fn try_admit(&self) -> bool {
        use std::sync::atomic::Ordering;
        let Some(max) = self.max_connections else {
            return true;
        };
        let prior = self.connections.fetch_add(1, Ordering::AcqRel);
        if prior >= max {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back a slot [`Account::try_admit`] claimed.
    pub fn release(&self) {
        use std::sync::atomic::Ordering;
        if self.max_connections.is_some() {
            let prior = self.connections.fetch_sub(1, Ordering::AcqRel);
            assert!(prior > 0, "account connection count below zero");
        }
    }

    /// Whether a publish in this account may have to be routed into another one.
    #[inline]
    pub fn crosses(&self) -> bool {
        self.crosses
    }
}

/// The server's accounts (immutable; shared by every core).
#[derive(Debug, Clone)]
pub struct Accounts {
    accounts: Vec<Account>,
    by_name: HashMap<Arc<str>, AccountId>,
    system: AccountId,
    /// JetStream is on but not for `$G` (accounts are configured): `$G`'s `$JS.API`
    /// requests get 10039, as another account's without JetStream.
    global_js_refused: bool,
    reply_key: ahash::RandomState,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::build(&BTreeMap::new(), None, true, [0; 4]).expect("no accounts")
    }
}

fn limit(v: Option<i64>) -> Option<usize> {
    v.filter(|v| *v > 0).map(|v| v as usize)
}

impl Accounts {
    /// The table of a validated config: `$G` (id 0, JetStream as the server when no account
    /// is configured; with accounts, nats-server gives `$G` none), each
    /// `[accounts.NAME]`, and `$SYS` unless `system_account` names a configured account.
    /// `seeds` key the service-reply tags (random per process; fixed in tests).
    pub fn build(
        cfgs: &BTreeMap<String, AccountConfig>,
        system_account: Option<&str>,
        global_jetstream: bool,
        seeds: [u64; 4],
    ) -> Option<Accounts> {
        let global_js_refused = global_jetstream && !cfgs.is_empty();
        let mut accounts = vec![Account::new(
            GLOBAL_ACCOUNT,
            global_jetstream && !global_js_refused,
        )];
        for (name, c) in cfgs {
            let mut a = Account::new(name, global_jetstream && c.jetstream_enabled());
            let l = c.limits.clone().unwrap_or_default();
            a.max_connections = limit(l.max_connections);
            a.max_subscriptions = limit(l.max_subscriptions);
            a.max_payload = limit(l.max_payload);
            a.jetstream_limits = c.jetstream_limits();
            a.jetstream_counts = c.jetstream_counts();
            a.exports_services = c.exports.iter().any(|e| e.service.is_some());
            for service in [true, false] {
                for e in &c.exports {
                    let subject = if service { &e.service } else { &e.stream };
                    if let Some(subject) = subject {
                        a.exports.push(AccountExport {
                            subject: Arc::from(subject.as_str()),
                            service,
                            token_req: e.token_req,
                            revoked: e
                                .revocations
                                .iter()
                                .map(|(k, t)| (Arc::from(k.as_str()), *t))
                                .collect(),
                            approved: e
                                .accounts
                                .iter()
                                .flatten()
                                .map(|n| Arc::from(n.as_str()))
                                .collect(),
                        });
                    }
                }
            }
            accounts.push(a);
        }
        let sys_name = system_account.unwrap_or(DEFAULT_SYSTEM_ACCOUNT);
        if !cfgs.contains_key(sys_name) {
            accounts.push(Account::new(sys_name, false));
        }
        let by_name: HashMap<Arc<str>, AccountId> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i as AccountId))
            .collect();
        let system = by_name[sys_name];
        for (name, c) in cfgs {
            let importer = by_name[name.as_str()];
            for im in &c.imports {
                match im.kind()? {
                    ImportKind::Service {
                        account,
                        subject,
                        local,
                    } => {
                        let exporter = *by_name.get(account.as_str())?;
                        accounts[importer as usize]
                            .service_imports
                            .push(ServiceImport {
                                local: Bytes::from(local),
                                exporter,
                                remote: Bytes::from(subject),
                            });
                    }
                    ImportKind::Stream {
                        account,
                        subject,
                        prefix,
                        to,
                    } => {
                        let exporter = *by_name.get(account.as_str())?;
                        let prefix = prefix.map(|p| format!("{p}.")).unwrap_or_default();
                        accounts[exporter as usize]
                            .stream_routes
                            .push(StreamExportRoute {
                                subject: Bytes::from(subject),
                                importer,
                                prefix: Bytes::from(prefix),
                                local: Bytes::from(to.unwrap_or_default()),
                            });
                    }
                }
            }
        }
        for a in &mut accounts {
            a.crosses =
                !a.service_imports.is_empty() || !a.stream_routes.is_empty() || a.exports_services;
        }
        Some(Accounts {
            accounts,
            by_name,
            system,
            global_js_refused,
            reply_key: ahash::RandomState::with_seeds(seeds[0], seeds[1], seeds[2], seeds[3]),
        })
    }

    /// Number of accounts (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Always false: `$G` exists.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The account with this id.
    #[inline]
    pub fn get(&self, id: AccountId) -> &Account {
        &self.accounts[id as usize]
    }

    /// The id of the account named `name`.
    pub fn id(&self, name: &str) -> Option<AccountId> {
        self.by_name.get(name).copied()
    }

    /// The system account.
    pub fn system(&self) -> AccountId {
        self.system
    }

    /// Whether `account`'s `$JS.API` requests get nats-server's 10039 (JetStream is not
    /// enabled for it) rather than no responders: every account without JetStream but `$G`
    /// when the server runs without JetStream or without accounts.
    pub fn refuses_jetstream(&self, account: AccountId) -> bool {
        !self.get(account).jetstream && (account != GLOBAL || self.global_js_refused)
    }

    /// All accounts, by id.
    pub fn iter(&self) -> impl Iterator<Item = (AccountId, &Account)> {
        self.accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (i as AccountId, a))
    }

    fn reply_tag(&self, exporter: AccountId, importer: AccountId, reply: &[u8]) -> u64 {
        let mut h = self.reply_key.build_hasher();
        h.write_u32(exporter);
        h.write_u32(importer);
        h.write(reply);
        h.finish()
    }

    /// The reply subject a service request from `importer` carries into `exporter`.
    pub fn map_service_reply(
        &self,
        exporter: AccountId,
        importer: AccountId,
        reply: &[u8],
    ) -> Bytes {
        let tag = self.reply_tag(exporter, importer, reply);
        let mut out = BytesMut::with_capacity(SERVICE_REPLY_PREFIX.len() + 28 + reply.len());
        out.put_slice(SERVICE_REPLY_PREFIX);
        out.put_slice(format!("{importer}.{tag:016x}.").as_bytes());
        out.put_slice(reply);
        out.freeze()
    }

    /// Where a publish in `exporter` on a mapped reply subject goes: the importing account
    /// and the requester's own reply subject; None when it is not a genuine mapped reply.
    pub fn unmap_service_reply(
        &self,
        exporter: AccountId,
        subject: &Bytes,
    ) -> Option<(AccountId, Bytes)> {
        let rest = subject.strip_prefix(SERVICE_REPLY_PREFIX)?;
        let dot = rest.iter().position(|b| *b == b'.')?;
        let importer: AccountId = std::str::from_utf8(&rest[..dot]).ok()?.parse().ok()?;
        let rest = &rest[dot + 1..];
        let dot = rest.iter().position(|b| *b == b'.')?;
        let tag = u64::from_str_radix(std::str::from_utf8(&rest[..dot]).ok()?, 16).ok()?;
        let reply = &rest[dot + 1..];
        if (importer as usize) >= self.accounts.len()
            || reply.is_empty()
            || self.reply_tag(exporter, importer, reply) != tag
        {
            return None;
        }
        let start = subject.len() - reply.len();
        Some((importer, subject.slice(start..)))
    }
}

/// The exporter's subject for a request on `subject` matching a service import `imp`
/// (the same subject unless the import renamed it with `to`).
pub fn service_subject(imp: &ServiceImport, subject: &Bytes) -> Bytes {
    if imp.local == imp.remote || !subject::is_literal(&imp.remote) {
        return subject.clone();
    }
    imp.remote.clone()
}

/// The importer's subject for a message on `subject` through a stream import of `from`
/// mapped to `to` (nats-server's mapped stream import): `to`'s `*` tokens take `from`'s
/// `*`-matched tokens in order, `$N` the N-th, `>` the tokens `from`'s `>` matched; other
/// tokens are literal. `subject` matches `from`.
pub fn map_import_subject(from: &[u8], to: &[u8], subject: &[u8]) -> Bytes {
    let mut stars: Vec<&[u8]> = Vec::new();
    let mut rest: &[u8] = b"";
    let mut offset = 0;
    for (i, (p, t)) in from
        .split(|b| *b == b'.')
        .zip(subject.split(|b| *b == b'.'))
        .enumerate()
    {
        if p == b">" {
            rest = &subject[offset..];
            break;
        }
        if p == b"*" {
            stars.push(t);
        }
        offset += t.len() + 1;
        let _ = i;
    }
    let mut out = BytesMut::with_capacity(to.len() + subject.len());
    let mut next_star = 0;
    for (i, t) in to.split(|b| *b == b'.').enumerate() {
        if i > 0 {
            out.put_u8(b'.');
        }
        let reference = t
            .strip_prefix(b"$")
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
        match (t, reference) {
            (b"*", _) => {
                out.put_slice(stars.get(next_star).copied().unwrap_or(b"*"));
                next_star += 1;
            }
            (b">", _) => out.put_slice(rest),
            (_, Some(n)) if n >= 1 && n <= stars.len() => out.put_slice(stars[n - 1]),
            _ => out.put_slice(t),
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_stream_import_subjects() {
        let m = |from: &str, to: &str, s: &str| {
            String::from_utf8(
                map_import_subject(from.as_bytes(), to.as_bytes(), s.as_bytes()).to_vec(),
            )
            .unwrap()
        };
        assert_eq!(m("a.b", "c.d", "a.b"), "c.d");
        assert_eq!(m("public.*.news", "news.*", "public.eu.news"), "news.eu");
        assert_eq!(m("p.*.*", "q.$2.$1", "p.x.y"), "q.y.x");
        assert_eq!(m("p.*.>", "q.*.>", "p.x.y.z"), "q.x.y.z");
        assert_eq!(m("public.>", "mine.>", "public.a.b"), "mine.a.b");
    }

    fn cfg(text: &str) -> BTreeMap<String, AccountConfig> {
        #[derive(serde::Deserialize)]
        struct W {
            accounts: BTreeMap<String, AccountConfig>,
        }
        toml::from_str::<W>(text).unwrap().accounts
    }

    const TWO: &str = r#"
[accounts.A]
exports = [ { service = "svc.time" }, { stream = "public.>" } ]
[accounts.B]
imports = [ { service = { account = "A", subject = "svc.time" } }, { stream = { account = "A", subject = "public.>" }, prefix = "a" } ]
"#;

    #[test]
    fn ids_and_crossings() {
        let a = Accounts::build(&cfg(TWO), None, true, [1, 2, 3, 4]).unwrap();
        assert_eq!(a.id("$G"), Some(GLOBAL));
        assert_eq!(a.len(), 4);
        let (ia, ib) = (a.id("A").unwrap(), a.id("B").unwrap());
        assert_eq!(a.system(), a.id("$SYS").unwrap());
        assert!(!a.get(GLOBAL).crosses());
        assert!(a.get(ia).crosses() && a.get(ib).crosses());
        assert_eq!(&a.get(ia).stream_routes[0].prefix[..], b"a.");
        assert_eq!(a.get(ib).service_imports[0].exporter, ia);
    }

    #[test]
    fn service_replies_round_trip_and_refuse_forgeries() {
        let a = Accounts::build(&cfg(TWO), None, true, [1, 2, 3, 4]).unwrap();
        let (ia, ib) = (a.id("A").unwrap(), a.id("B").unwrap());
        let mapped = a.map_service_reply(ia, ib, b"_INBOX.abc.1");
        assert!(mapped.starts_with(b"_R_."));
        let (to, reply) = a.unmap_service_reply(ia, &mapped).unwrap();
        assert_eq!((to, &reply[..]), (ib, &b"_INBOX.abc.1"[..]));
        // Only the exporter may answer, and the requester's subject cannot be changed.
        assert!(a.unmap_service_reply(ib, &mapped).is_none());
        let forged = Bytes::from(
            String::from_utf8(mapped.to_vec())
                .unwrap()
                .replace("_INBOX.abc.1", "orders.new"),
        );
        assert!(a.unmap_service_reply(ia, &forged).is_none());
        assert!(a
            .unmap_service_reply(ia, &Bytes::from_static(b"_R_.x"))
            .is_none());
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod config_tests;
