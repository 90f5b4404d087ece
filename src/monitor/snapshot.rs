//! What a core publishes for the monitor thread: its counters and, when asked, a list of its
//! connections. Plain data (sans-IO); built by [`crate::engine::Engine::monitor_snapshot`]
//! on the owning core and only read afterwards.

use crate::accounts::AccountId;
use crate::engine::CoreStats;
use crate::streams::JsCoreView;
use crate::sublist::SublistStats;

/// One subscription of a connection, as `/connz?subs=detail` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubSnapshot {
    /// Subject subscribed to.
    pub subject: String,
    /// Queue group, if any.
    pub queue: Option<String>,
    /// Client-chosen sid.
    pub sid: String,
    /// Messages delivered on it.
    pub msgs: u64,
}

/// One client connection at the time of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// Client id (`cid`).
    pub cid: u64,
    /// Peer IP address.
    pub ip: String,
    /// Peer TCP port.
    pub port: u16,
    /// Accepted at (core clock, ns).
    pub start_ns: u64,
    /// Last inbound activity (core clock, ns).
    pub last_activity_ns: u64,
    /// Outbound bytes queued or being written.
    pub pending_bytes: u64,
    /// Messages published by the client.
    pub in_msgs: u64,
    /// Messages delivered to the client.
    pub out_msgs: u64,
    /// Message bytes published by the client.
    pub in_bytes: u64,
    /// Message bytes delivered to the client.
    pub out_bytes: u64,
    /// Subscriptions it holds.
    pub num_subs: u32,
    /// Its subscriptions (only in snapshots taken with detail).
    pub subs: Vec<SubSnapshot>,
    /// CONNECT `name`.
    pub name: Option<String>,
    /// CONNECT `lang`.
    pub lang: Option<String>,
    /// CONNECT `version`.
    pub version: Option<String>,
    /// Set for a leaf node link (shown by `/leafz`, not `/connz`).
    pub leaf: Option<LeafConnSnapshot>,
    /// Its account.
    pub account: AccountId,
    /// Who it authenticated as (empty: nobody, or a token).
    pub user: String,
    /// TLS session facts, on a TLS connection.
    pub tls: Option<TlsSnapshot>,
}

/// What `/connz` shows of a TLS connection (nats-server's `tls_*` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSnapshot {
    /// `1.2` or `1.3`.
    pub version: String,
    /// The negotiated suite, IANA name (`TLS_AES_128_GCM_SHA256`).
    pub cipher_suite: String,
    /// The client's certificate chain (leaf first), when it presented one.
    pub peer_certs: Vec<PeerCertSnapshot>,
    /// TLS before INFO (`handshake_first`).
    pub first: bool,
}

/// One client certificate as nats-server's `tls_peer_certs[]` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCertSnapshot {
    /// Subject distinguished name (Go's `pkix.Name.String()` order).
    pub subject: String,
    /// Hex SHA-256 of the subject public key info.
    pub subject_pk_sha256: String,
    /// Hex SHA-256 of the DER certificate.
    pub cert_sha256: String,
}

/// One account's figures on one core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountCounts {
    /// Its client connections on this core (leaf links not counted).
    pub connections: u64,
    /// Its leaf node links on this core.
    pub leafnodes: u64,
    /// Subscriptions in its subject space on this core (client and internal).
    pub subscriptions: u64,
    /// Its subscription index's counters on this core.
    pub sublist: SublistStats,
    /// Messages and bytes its open connections published (in) and received (out).
    pub in_msgs: u64,
    /// See `in_msgs`.
    pub in_bytes: u64,
    /// See `in_msgs`.
    pub out_msgs: u64,
    /// See `in_msgs`.
    pub out_bytes: u64,
}

/// A leaf node link's own facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafConnSnapshot {
    /// The other server's name.
    pub name: String,
    /// Local account bound to the link.
    pub account: String,
    /// We dialled it (we are the spoke).
    pub solicited: bool,
}

/// One core's state as of one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreSnapshot {
    /// The core's index.
    pub core: usize,
    /// Unix time (ns) of the core clock's zero: add it to the `*_ns` clock values.
    pub epoch_unix_ns: u64,
    /// The core clock when the snapshot was taken.
    pub taken_ns: u64,
    /// Counters since start.
    pub stats: CoreStats,
    /// Open connections.
    pub connections: u64,
    /// Subscriptions on this core (client and internal).
    pub subscriptions: u64,
    /// Its client connections (only in snapshots taken with detail).
    pub conns: Vec<ConnSnapshot>,
    /// Its subscription index's counters.
    pub sublist: SublistStats,
    /// Its JetStream streams (only in snapshots asked for JetStream state, JetStream on).
    pub js: Option<JsCoreView>,
    /// Its group-commit histograms (with `js`).
    pub commits: Option<super::hist::CommitHistograms>,
    /// Per account, by [`AccountId`].
    pub accounts: Vec<AccountCounts>,
    /// Each JetStream account's streams on this core (`js` is their sum).
    pub js_accounts: Vec<(AccountId, JsCoreView)>,
}

impl CoreSnapshot {
    /// Unix time (ns) of a core clock value.
    pub fn unix_ns(&self, clock_ns: u64) -> u64 {
        self.epoch_unix_ns + clock_ns
    }
}

/// Adds `s`'s counters to `t` (max fanout: the larger).
pub fn add_sublist(t: &mut SublistStats, s: &SublistStats) {
    t.inserts += s.inserts;
    t.removes += s.removes;
    t.matches += s.matches;
    t.cache_hits += s.cache_hits;
    t.cache_entries += s.cache_entries;
    t.max_fanout = t.max_fanout.max(s.max_fanout);
    t.total_fanout += s.total_fanout;
}
