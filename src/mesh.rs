//! What crosses the per-core-pair SPSC rings: the only data cores ever exchange.
//!
//! Every item between two cores travels on the one ring of that ordered pair, so items
//! keep their order: an interest update sent before a message is applied before that
//! message is routed on the receiving core. Items are batched: the per-peer flusher task
//! pushes everything queued since its last push as one [`RingBatch`].

use bytes::Bytes;

/// One push onto a ring: many items, to amortise the ring hop.
pub type RingBatch = Vec<RingItem>;

/// An item a core sends another core.
#[derive(Debug, Clone)]
pub enum RingItem {
    /// A published message the receiving core has interest in.
    Deliver(RemoteMsg),
    /// The sender's interest in (subject, queue) changed; applying it twice is harmless.
    Interest(InterestUpdate),
    /// The sender has applied every interest update of ours up to and including `seq`.
    InterestAck { seq: u64 },
    /// The sender has delivered `bytes` of our forwarded messages and is ready for more
    /// (byte-based flow control: it is sent after any stall on a congested subscriber).
    Credit { bytes: u64 },
    /// JetStream traffic between the meta core and stream owners of one account (each
    /// account with JetStream has its own stream host on every core).
    Js(crate::accounts::AccountId, crate::js_ring::JsItem),
    /// A leaf link from server `name` (cluster, local account) came up on the sender: links
    /// from that same server elsewhere are stale and are replaced (as nats-server does).
    LeafUp {
        /// The remote server's name.
        name: String,
        /// Its cluster name.
        cluster: String,
        /// The local account the link is bound to.
        account: String,
    },
    /// The sender's leaf-link members of a queue group changed (how many, their weights):
    /// queue picks weigh links across cores (`leaf::weights`).
    LeafWeights(crate::leaf::weights::LinkWeights),
    /// Shutdown: the sender has stopped taking client input and this is its last item on
    /// this ring, so everything it forwarded to us has arrived.
    Quiesce,
}

/// A publish forwarded to a core that has matching subscriptions.
#[derive(Debug, Clone)]
pub struct RemoteMsg {
    /// The account it is routed in (the receiver matches only that account's subscriptions).
    pub account: crate::accounts::AccountId,
    /// The subject it was published to (what subscriptions match).
    pub subject: Bytes,
    /// What MSG shows instead, when set (consumer deliveries show the stored subject).
    pub shown_subject: Option<Bytes>,
    /// The publisher's reply subject.
    pub reply: Option<Bytes>,
    /// Length of the header block at the front of `message`; 0 = no headers.
    pub header_len: usize,
    /// Headers followed by payload, a slice of the publisher's read buffer (no copy).
    pub message: Bytes,
    /// Deliver to every matching plain (non-queue) subscription on the receiving core.
    pub deliver_plain: bool,
    /// Queue groups whose one delivery the origin core assigned to the receiving core.
    pub queue_groups: Vec<Bytes>,
}

/// Absolute interest of the sending core in one (account, subject, queue).
///
/// `member_count` is the number of local subscriptions behind it (queue groups use it to
/// weigh the pick across cores; plain interest only ever says 1 or 0). Zero removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestUpdate {
    /// Per-sender sequence number, increasing by one per update; acknowledged by the receiver.
    pub seq: u64,
    /// The account the subscriptions belong to.
    pub account: crate::accounts::AccountId,
    /// The subscription subject (may hold wildcards).
    pub subject: Bytes,
    /// The queue group, if any.
    pub queue: Option<Bytes>,
    /// Local subscriptions on the sender with this (subject, queue); 0 = none left.
    pub member_count: u32,
}
