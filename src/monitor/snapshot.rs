//! What a core publishes for the monitor thread: its counters and, when asked, a list of its
//! connections. Plain data (sans-IO); built by [`crate::engine::Engine::monitor_snapshot`]
//! on the owning core and only read afterwards.

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
}

impl CoreSnapshot {
    /// Unix time (ns) of a core clock value.
    pub fn unix_ns(&self, clock_ns: u64) -> u64 {
        self.epoch_unix_ns + clock_ns
    }
}
