//! The per-core engine (sans-IO): every decision a core makes about its connections and
//! messages — parse, subscribe, match, route to local subscribers and to other cores,
//! queue-group picks, no-responders, keepalive, slow consumers — with no I/O.
//!
//! The glommio shell feeds it socket bytes, ring batches and clock ticks, and carries out
//! what it asks for: bytes to write (each session's outbound buffer), ring batches to
//! push (per-peer outgoing queues), connections to wake or close ([`EngineEvents`]).
//! Tests drive it directly, without a runtime.

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::accounts::{AccountId, Accounts, GLOBAL};
use crate::interest::{LocalInterest, PeerInterest, RemoteInterest};
use crate::mesh::{InterestUpdate, RemoteMsg, RingBatch, RingItem};
use crate::protocol::encode;
use crate::protocol::info::{ConnectOptions, ServerInfo};
use crate::protocol::ClientOp;
use crate::session::{CloseReason, ConnId, Session, SubKey};
use crate::subject;
use crate::sublist::Sublist;

/// Entries kept in each match cache (local subscriptions, remote interest).
const MATCH_CACHE_ENTRIES: usize = 4096;
/// Most queued output bytes one [`Engine::take_output`] hands the writer (one socket write).
pub const WRITE_CHUNK_BYTES: usize = 256 * 1024;
/// Most segments one [`Engine::take_output_segments`] hands the writer (Linux `IOV_MAX`).
pub const WRITE_MAX_SEGMENTS: usize = 1024;
/// Payloads of at least this size are queued for a subscriber as shared segments and
/// gathered by the socket write, not copied into its output buffer.
pub const VECTORED_PAYLOAD_BYTES: usize = 512;
/// Capacity an idle connection's emptied output buffer may keep (more is released): the
/// least it grows by (`session::OUT_ALLOC_BYTES`) and then some, so a request/reply cycle does not free
/// and allocate it again each time.
const IDLE_OUT_BYTES: usize = 2 * crate::session::OUT_ALLOC_BYTES;
/// Items queued for one peer beyond which readers on this core pause (ring overflow policy).
pub const PEER_BACKLOG_HIGH_WATER_ITEMS: usize = 64 * 1024;
/// Message bytes forwarded to one peer and not yet credited back, beyond which readers on
/// this core pause: the cross-core half of the fast-producer stall. Kept near the 64 KiB a
/// local read may push between two stall checks, so a subscriber on another core sees the
/// same bounded pressure as a local one (a window of megabytes would let one batch overrun a
/// briefly slow subscriber's max_pending); a credit round trip is microseconds, so this
/// still allows gigabytes per second between two cores.
pub const PEER_INFLIGHT_HIGH_WATER_BYTES: u64 = 256 * 1024;
/// Reply prefixes clients may not use (service imports, JetStream acks, gateway replies).
const RESERVED_REPLY_PREFIXES: [&[u8]; 3] = [b"_R_.", b"$JS.ACK.", b"_GR_."];

/// The limits one core enforces, with units.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Largest payload (headers included) a client may publish.
    pub max_payload_bytes: usize,
    /// Longest control-line argument part.
    pub max_control_line_bytes: usize,
    /// Outbound bytes a connection may hold before it is dropped as a slow consumer.
    pub max_pending_bytes: usize,
    /// Subscriptions per connection; 0 = unlimited.
    pub max_subscriptions: usize,
    /// Idle time before the server PINGs a client.
    pub ping_interval_ns: u64,
    /// Unanswered PINGs after which the connection is stale.
    pub max_pings_outstanding: u32,
}

/// Static facts about this core and the server, for INFO and routing.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This core's index (0..n_cores), also its place in the ring mesh.
    pub core_id: usize,
    /// Number of cores (executors) in the server.
    pub n_cores: usize,
    /// Limits to enforce.
    pub limits: EngineLimits,
    /// The INFO every connection starts from (client_id/client_ip filled per connection).
    pub info: ServerInfo,
}

/// What the shell must do after an engine call.
#[derive(Debug, Default)]
pub struct EngineEvents {
    /// Connections with new output for their writer.
    pub writable: Vec<ConnId>,
    /// Connections whose PONG barrier completed: their reader may go on.
    pub unblocked: Vec<ConnId>,
    /// Connections the engine decided to close (flush first if their session says so).
    pub closed: Vec<ConnId>,
    /// Peers with queued ring items for their flusher.
    pub peers_with_output: Vec<usize>,
}

impl EngineEvents {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.writable.is_empty()
            && self.unblocked.is_empty()
            && self.closed.is_empty()
            && self.peers_with_output.is_empty()
    }

    fn clear(&mut self) {
        self.writable.clear();
        self.unblocked.clear();
        self.closed.clear();
        self.peers_with_output.clear();
    }
}

/// Result of feeding bytes read from a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// All complete ops were processed; read more.
    Continue,
    /// A PING waits for other cores to apply this core's interest; stop reading until unblocked.
    Blocked,
    /// The connection is closing; stop reading.
    Closed,
}

/// What the writer should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputState {
    /// The buffer passed in now holds bytes to write.
    Data,
    /// Nothing to write; wait for a writable event.
    Idle,
    /// Nothing more will be written: close the socket.
    Close,
}

/// Counters a core keeps (monitoring reads them later).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CoreStats {
    /// Messages published by this core's clients.
    pub in_msgs: u64,
    /// Bytes published by this core's clients.
    pub in_bytes: u64,
    /// Messages delivered to this core's clients.
    pub out_msgs: u64,
    /// Bytes delivered to this core's clients.
    pub out_bytes: u64,
    /// Connections dropped as slow consumers.
    pub slow_consumers: u64,
    /// Connections dropped as stale.
    pub stale_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Items this core pushed toward other cores' rings.
    pub ring_items_sent: u64,
    /// Items this core took off other cores' rings.
    pub ring_items_received: u64,
    /// Leaf node links on this core (a gauge: set when a snapshot is taken).
    pub leafnodes: u64,
}

/// Who receives a subscription's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubTarget {
    /// A client connection on this core.
    Conn(ConnId),
    /// A handler inside the server (JetStream API, a stream's capture, direct get).
    Internal(InternalTarget),
}

/// A server-side subscriber; what it is for is up to the component that registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InternalTarget {
    /// The component's own tag (e.g. which API or which stream).
    pub kind: u32,
    /// The component's own index (e.g. a stream slot).
    pub index: u32,
}

/// A message for an internal subscriber, handed to its component after routing.
#[derive(Debug, Clone)]
pub struct InternalDelivery {
    /// Which internal subscriber matched.
    pub target: InternalTarget,
    /// The account it was published in (the subscription's account).
    pub account: AccountId,
    /// The subject it was published to.
    pub subject: Bytes,
    /// The publisher's reply subject.
    pub reply: Option<Bytes>,
    /// Length of the header block at the front of `message`; 0 = none.
    pub header_len: usize,
    /// Headers followed by payload.
    pub message: Bytes,
}

struct SubEntry {
    target: SubTarget,
    account: AccountId,
    sid: Bytes,
    subject: Bytes,
    queue: Option<Bytes>,
    max_msgs: Option<u64>,
    delivered: u64,
    generation: u32,
}

/// A message being routed, borrowed from the publish that carries it.
#[derive(Clone, Copy)]
struct Routed<'a> {
    subject: &'a Bytes,
    /// The subject MSG shows when it differs from the routing subject (consumer deliveries).
    shown: Option<&'a Bytes>,
    reply: Option<&'a Bytes>,
    header_len: usize,
    message: &'a Bytes,
    /// From a leaf link: only these queue groups may get it (LMSG's queue names).
    leaf_queues: Option<&'a [Bytes]>,
}

/// Per-peer routing decision for one publish, reused between publishes.
#[derive(Default)]
struct PeerRoute {
    plain: bool,
    queues: Vec<Bytes>,
}

/// One core's whole broker state.
pub struct Engine {
    cfg: EngineConfig,
    sessions: Vec<Option<Session>>,
    free_sessions: Vec<ConnId>,
    live_sessions: usize,
    subs: Vec<Option<SubEntry>>,
    free_subs: Vec<u32>,
    next_generation: u32,
    /// Subscriptions on this core, one sublist per account (by id): a publish looks only
    /// at its own account's.
    local: Vec<Sublist<SubKey>>,
    /// The server's accounts (one `$G` unless `[accounts]` configures more).
    accounts: std::sync::Arc<Accounts>,
    local_interest: LocalInterest,
    remote: RemoteInterest,
    peer_acked_seq: Vec<u64>,
    peer_inflight_bytes: Vec<u64>,
    congested: Vec<ConnId>,
    internal_inbox: Vec<InternalDelivery>,
    js_inbox: Vec<(usize, AccountId, crate::js_ring::JsItem)>,
    outgoing: Vec<RingBatch>,
    outgoing_signalled: Vec<bool>,
    blocked: Vec<(ConnId, u64)>,
    events: EngineEvents,
    route_scratch: Vec<PeerRoute>,
    rng: SmallRng,
    next_client_seq: u64,
    shutting_down: bool,
    input_stopped: bool,
    /// Bumped whenever interest appears or changes on this core or is announced by a peer.
    interest_epoch: u64,
    /// Quiesce markers received from each peer (shutdown rounds).
    quiesced: Vec<u32>,
    stats: CoreStats,
    /// Authentication rules; None = every client is welcome (see `engine_auth.rs`).
    auth: Option<std::sync::Arc<crate::auth::Authenticator>>,
    /// Unix nanoseconds at clock zero (JWT expiry is wall-clock time; see `engine_auth.rs`).
    wall_epoch_ns: u64,
    /// The latest time the shell told us (reads and ticks), for reply permissions.
    clock_ns: u64,
    /// Leaf node links on this core (see `engine_leaf.rs`).
    leaf: leaf_link::LeafState,
    /// `$SYS.REQ.SERVER` responder: its gate and admitted requests (`engine_sys.rs`).
    sys: sys::SysService,
}

impl Engine {
    /// A core with no connections.
    pub fn new(cfg: EngineConfig) -> Self {
        let n = cfg.n_cores;
        debug_assert!(cfg.core_id < n);
        let seed = 0x9e37_79b9_7f4a_7c15u64 ^ (cfg.core_id as u64).wrapping_mul(0x2545_f491);
        Engine {
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            live_sessions: 0,
            subs: Vec::new(),
            free_subs: Vec::new(),
            next_generation: 0,
            local: vec![Sublist::new(MATCH_CACHE_ENTRIES)],
            accounts: std::sync::Arc::new(Accounts::default()),
            local_interest: LocalInterest::default(),
            remote: RemoteInterest::new(n, MATCH_CACHE_ENTRIES),
            peer_acked_seq: vec![0; n],
            peer_inflight_bytes: vec![0; n],
            congested: Vec::new(),
            internal_inbox: Vec::new(),
            js_inbox: Vec::new(),
            outgoing: (0..n).map(|_| Vec::new()).collect(),
            outgoing_signalled: vec![false; n],
            blocked: Vec::new(),
            events: EngineEvents::default(),
            route_scratch: (0..n).map(|_| PeerRoute::default()).collect(),
            rng: SmallRng::seed_from_u64(seed),
            next_client_seq: 1,
            shutting_down: false,
            input_stopped: false,
            quiesced: vec![0; n],
            interest_epoch: 0,
            stats: CoreStats::default(),
            auth: None,
            wall_epoch_ns: 0,
            clock_ns: 0,
            leaf: Default::default(),
            sys: Default::default(),
            cfg,
        }
    }

    /// This core's index.
    pub fn core_id(&self) -> usize {
        self.cfg.core_id
    }

    /// Counters since start.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Open connections on this core.
    pub fn connection_count(&self) -> usize {
        self.live_sessions
    }

    /// Subscriptions held on this core.
    pub fn subscription_count(&self) -> usize {
        self.local.iter().map(Sublist::len).sum()
    }

    /// Hands the shell everything it must act on since the last call.
    pub fn take_events(&mut self, into: &mut EngineEvents) {
        into.clear();
        std::mem::swap(into, &mut self.events);
    }

    // ----- connections -------------------------------------------------------------------

    /// Registers an accepted socket and queues its INFO. When the server-wide connection
    /// limit refused it (`admitted` false, decided by the shell) the session is created
    /// already closing, with the -ERR queued.
    pub fn open_conn(&mut self, client_ip: &str, now_ns: u64, admitted: bool) -> ConnId {
        let mut session = self.new_session(client_ip, now_ns);
        let client_id = session.client_id;
        let mut info = self.cfg.info.clone();
        info.client_id = client_id;
        info.client_ip = client_ip.to_string();
        self.prepare_auth(&mut session, &mut info, now_ns);
        encode::write_info(&mut session.out, &info);
        let id = self.store_session(session);
        if !admitted || self.shutting_down {
            let s = self.session_mut(id);
            encode::write_err(&mut s.out, "maximum connections exceeded");
            self.close(id, CloseReason::MaxConnectionsExceeded, true);
        }
        id
    }

    /// The session of an open or closing connection.
    pub fn session(&self, conn: ConnId) -> &Session {
        self.sessions[conn as usize]
            .as_ref()
            .expect("connection id of a removed session")
    }

    fn session_mut(&mut self, conn: ConnId) -> &mut Session {
        self.sessions[conn as usize]
            .as_mut()
            .expect("connection id of a removed session")
    }

    /// Forgets a connection once its socket is closed; its id may be reused after this.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if self.sessions[conn as usize]
            .as_ref()
            .is_some_and(|s| s.is_open())
        {
            self.close(conn, CloseReason::ClientClosed, false);
        }
        self.sessions[conn as usize] = None;
        self.free_sessions.push(conn);
        self.live_sessions -= 1;
    }

    /// Starts closing a connection: its subscriptions go now; its output is flushed first
    /// when `flush` (to deliver an -ERR), else dropped.
    pub fn close(&mut self, conn: ConnId, reason: CloseReason, flush: bool) {
        let Some(s) = self.sessions[conn as usize].as_mut() else {
            return;
        };
        if s.close.is_some() {
            return;
        }
        s.close = Some(reason);
        s.flush_before_close = flush;
        if !flush {
            s.discard_output();
        }
        if s.barrier_seq.take().is_some() {
            self.blocked.retain(|(c, _)| *c != conn);
        }
        let keys: Vec<SubKey> = s.subs.values().copied().collect();
        for key in keys {
            self.remove_sub(key);
        }
        self.leaf_closed(conn);
        self.release_account_slot(conn);
        match reason {
            CloseReason::ClientClosed | CloseReason::ServerShutdown => {
                tracing::debug!(
                    cid = self.session(conn).client_id,
                    reason = reason.as_str(),
                    "connection closed"
                )
            }
            _ => tracing::info!(
                cid = self.session(conn).client_id,
                reason = reason.as_str(),
                "closing connection"
            ),
        }
        self.events.closed.push(conn);
    }

    /// Shutdown, first phase: stop taking client input (readers end), then tell every peer
    /// this core forwards nothing more. Deliveries and writes go on.
    pub fn stop_input(&mut self) {
        self.input_stopped = true;
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(peer, RingItem::Quiesce);
            }
        }
    }

    /// Changes whenever interest appeared, went away or changed here or on a peer (so a
    /// push consumer waiting for a subscriber can start at once rather than on its next
    /// timer tick). While it stands, [`Engine::has_interest`] answers the same for every
    /// subject: the JetStream driver remembers answers by it (`shell::js_drive`).
    pub fn interest_epoch(&self) -> u64 {
        self.interest_epoch
    }

    /// Whether every other core has sent its last forwarded message to us.
    pub fn all_peers_quiesced(&self) -> bool {
        self.peers_quiesced(1)
    }

    /// Shutdown, a further round once every peer has quiesced: what this core produced since
    /// (JetStream's last answers to waiting requests) is followed by one more marker on every
    /// ring, so a peer that holds it has received all of it.
    pub fn quiesce_again(&mut self) {
        debug_assert!(self.input_stopped);
        for peer in 0..self.cfg.n_cores {
            if peer != self.cfg.core_id {
                self.push_peer(peer, RingItem::Quiesce);
            }
        }
    }

    /// Whether every other core has sent `rounds` quiesce markers to us.
    pub fn peers_quiesced(&self, rounds: u32) -> bool {
        (0..self.cfg.n_cores).all(|p| p == self.cfg.core_id || self.quiesced[p] >= rounds)
    }

    /// Closes every connection (flushing what is queued) and refuses new ones.
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        for id in 0..self.sessions.len() as ConnId {
            if self.sessions[id as usize]
                .as_ref()
                .is_some_and(|s| s.is_open())
            {
                self.close(id, CloseReason::ServerShutdown, true);
            }
        }
    }

    // ----- the writer side -------------------------------------------------------------

    /// Hands the connection's queued output to the writer in `buf` (which must be empty),
    /// copied into one buffer (tests and callers that need contiguous bytes; the writer
    /// task uses [`Engine::take_output_segments`]): the queued segments, then at most
    /// [`WRITE_CHUNK_BYTES`] of `out`, without letting a buffer be freed and faulted in
    /// again page by page (a small `out` is swapped with `buf`, a backlog is copied a
    /// bounded chunk at a time while `out` keeps its grown buffer).
    pub fn take_output(&mut self, conn: ConnId, buf: &mut BytesMut) -> OutputState {
        debug_assert!(buf.is_empty());
        let s = self.session_mut(conn);
        s.write_signalled = false;
        if s.has_output() {
            if s.out_segs.is_empty()
                && s.out.len() <= WRITE_CHUNK_BYTES
                && s.out.capacity() <= 2 * WRITE_CHUNK_BYTES
            {
                std::mem::swap(&mut s.out, buf);
            } else {
                for seg in s.out_segs.drain(..) {
                    buf.extend_from_slice(&seg);
                }
                s.out_segs_bytes = 0;
                let n = s.out.len().min(WRITE_CHUNK_BYTES);
                buf.extend_from_slice(&s.out[..n]);
                // The writer comes back for the rest as soon as this chunk is written.
                bytes::Buf::advance(&mut s.out, n);
            }
            s.inflight_bytes = buf.len();
            return OutputState::Data;
        }
        if s.close.is_some() {
            OutputState::Close
        } else {
            OutputState::Idle
        }
    }

    /// Hands the connection's queued output to the writer as segments in `segs` (which must
    /// be empty), for one vectored socket write: the queued segments (header lines and the
    /// payloads they announce, shared, not copied), then `out` split off as one more, up to
    /// [`WRITE_CHUNK_BYTES`] and [`WRITE_MAX_SEGMENTS`]. `out` keeps the rest of its buffer
    /// and, once the writer dropped what it took, reuses it from the start (no buffer is
    /// freed and faulted in again page by page).
    pub fn take_output_segments(&mut self, conn: ConnId, segs: &mut Vec<Bytes>) -> OutputState {
        debug_assert!(segs.is_empty());
        let s = self.session_mut(conn);
        s.write_signalled = false;
        if !s.has_output() {
            return if s.close.is_some() {
                OutputState::Close
            } else {
                OutputState::Idle
            };
        }
        let mut taken = 0;
        while taken < WRITE_CHUNK_BYTES && segs.len() < WRITE_MAX_SEGMENTS {
            let Some(seg) = s.out_segs.pop_front() else {
                break;
            };
            taken += seg.len();
            s.out_segs_bytes -= seg.len();
            segs.push(seg);
        }
        if s.out_segs.is_empty()
            && !s.out.is_empty()
            && taken < WRITE_CHUNK_BYTES
            && segs.len() < WRITE_MAX_SEGMENTS
        {
            let n = s.out.len().min(WRITE_CHUNK_BYTES - taken);
            let chunk = s.out.split_to(n).freeze();
            taken += chunk.len();
            segs.push(chunk);
        }
        s.inflight_bytes = taken;
        OutputState::Data
    }

    /// The writer of `conn` has nothing to write and waits: an emptied output buffer grown
    /// past [`IDLE_OUT_BYTES`] is released (an idle connection holds little memory).
    pub fn output_idle(&mut self, conn: ConnId) {
        if let Some(s) = self.sessions[conn as usize].as_mut() {
            if s.out.is_empty() && s.out.capacity() > IDLE_OUT_BYTES {
                s.out = BytesMut::new();
            }
        }
    }

    /// The writer finished writing what it last took.
    pub fn write_done(&mut self, conn: ConnId) {
        self.session_mut(conn).inflight_bytes = 0;
    }

    /// Whether every other core has applied all interest this core announced (start-up
    /// waits for this before accepting clients).
    pub fn interest_synced(&self) -> bool {
        self.barrier_met(self.local_interest.last_seq())
    }

    /// Whether the reader of `conn` must wait for its PONG barrier.
    pub fn is_blocked(&self, conn: ConnId) -> bool {
        self.session(conn).barrier_seq.is_some()
    }

    /// Whether some peer has more queued items or uncredited bytes than its high-water
    /// mark; readers on this core then wait before reading more.
    pub fn peers_backlogged(&self) -> bool {
        self.outgoing
            .iter()
            .any(|q| q.len() > PEER_BACKLOG_HIGH_WATER_ITEMS)
            || self
                .peer_inflight_bytes
                .iter()
                .any(|b| *b > PEER_INFLIGHT_HIGH_WATER_BYTES)
    }

    /// Takes the subscribers that went over 3/4 of `max_pending_bytes` in the last call;
    /// the caller stalls its producer (reader or ring) until they drain or a bound passes.
    pub fn take_congested(&mut self, into: &mut Vec<ConnId>) {
        into.clear();
        std::mem::swap(into, &mut self.congested);
    }

    /// Whether a connection holds more than 3/4 of `max_pending_bytes` and is still open.
    pub fn is_congested(&self, conn: ConnId) -> bool {
        self.sessions
            .get(conn as usize)
            .and_then(|s| s.as_ref())
            .is_some_and(|s| s.is_open() && s.pending_bytes() > self.stall_threshold_bytes())
    }

    fn stall_threshold_bytes(&self) -> usize {
        self.cfg.limits.max_pending_bytes / 4 * 3
    }

    /// Returns flow-control credit to `peer` for message bytes it forwarded to us.
    pub fn credit_peer(&mut self, peer: usize, bytes: u64) {
        if bytes > 0 {
            self.push_peer(peer, RingItem::Credit { bytes });
        }
    }

    /// Takes the ring items queued for `peer`, to push as one batch.
    pub fn take_outgoing(&mut self, peer: usize) -> RingBatch {
        self.outgoing_signalled[peer] = false;
        let batch = std::mem::take(&mut self.outgoing[peer]);
        self.stats.ring_items_sent += batch.len() as u64;
        batch
    }

    fn signal_writable(&mut self, conn: ConnId) {
        let s = self.session_mut(conn);
        if !s.write_signalled {
            s.write_signalled = true;
            self.events.writable.push(conn);
        }
    }

    fn push_peer(&mut self, peer: usize, item: RingItem) {
        debug_assert_ne!(peer, self.cfg.core_id);
        self.outgoing[peer].push(item);
        if !self.outgoing_signalled[peer] {
            self.outgoing_signalled[peer] = true;
            self.events.peers_with_output.push(peer);
        }
    }

    // ----- the reader side ---------------------------------------------------------------

    /// Processes every complete op at the front of `buf` (bytes just read from `conn`).
    pub fn on_read(&mut self, conn: ConnId, buf: &mut BytesMut, now_ns: u64) -> ReadStatus {
        if self.input_stopped {
            // Shutting down: input is no longer taken; the writer still flushes.
            return ReadStatus::Closed;
        }
        self.session_mut(conn).last_inbound_ns = now_ns;
        self.clock_ns = self.clock_ns.max(now_ns);
        if self.session(conn).leaf.is_some() {
            return self.on_leaf_read(conn, buf);
        }
        loop {
            let s = self.session_mut(conn);
            if s.close.is_some() {
                return ReadStatus::Closed;
            }
            if s.barrier_seq.is_some() || s.auth_pending.is_some() {
                return ReadStatus::Blocked;
            }
            match s.parser.next_op(buf) {
                Ok(Some(op)) => self.handle_op(conn, op),
                Ok(None) => return ReadStatus::Continue,
                Err(e) => {
                    if let Some(text) = e.err_text() {
                        encode::write_err(&mut s.out, text);
                        self.signal_writable(conn);
                    }
                    tracing::debug!(error = %e, "protocol error");
                    self.close(conn, CloseReason::ProtocolViolation, true);
                    return ReadStatus::Closed;
                }
            }
        }
    }

    fn send_ok(&mut self, conn: ConnId) {
        let s = self.session_mut(conn);
        if s.opts.verbose {
            s.out.extend_from_slice(encode::OK);
            self.signal_writable(conn);
        }
    }

    fn send_err(&mut self, conn: ConnId, text: &str) {
        encode::write_err(&mut self.session_mut(conn).out, text);
        self.signal_writable(conn);
    }

    fn handle_op(&mut self, conn: ConnId, op: ClientOp) {
        if self.auth.is_some()
            && !self.session(conn).connected
            && !matches!(op, ClientOp::Connect(_))
        {
            // nats-server: with auth required, anything before CONNECT is a violation.
            self.auth_violation(conn);
            return;
        }
        match op {
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => self.on_pub(conn, subject, reply, 0, payload),
            ClientOp::Hpub {
                subject,
                reply,
                header_len,
                message,
            } => {
                if !self.session(conn).opts.headers {
                    // nats-server closes silently when headers were not negotiated.
                    self.close(conn, CloseReason::ProtocolViolation, true);
                    return;
                }
                self.on_pub(conn, subject, reply, header_len, message)
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.on_sub(conn, subject, queue, sid),
            ClientOp::Unsub { sid, max_msgs } => self.on_unsub(conn, sid, max_msgs),
            ClientOp::Ping => self.on_ping(conn),
            ClientOp::Pong => self.session_mut(conn).pings_outstanding = 0,
            ClientOp::Connect(json) => self.on_connect(conn, &json),
            ClientOp::Info | ClientOp::Ok => {}
            ClientOp::Err(text) => {
                tracing::info!(
                    cid = self.session(conn).client_id,
                    error = %String::from_utf8_lossy(&text),
                    "client sent -ERR"
                );
                self.close(conn, CloseReason::ProtocolViolation, true);
            }
        }
    }

    fn on_connect(&mut self, conn: ConnId, json: &[u8]) {
        let opts: ConnectOptions = match serde_json::from_slice(json) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(error = %e, "invalid CONNECT json");
                self.close(conn, CloseReason::ProtocolViolation, true);
                return;
            }
        };
        if !(0..=1).contains(&opts.protocol) {
            self.send_err(conn, "invalid client protocol");
            self.close(conn, CloseReason::ProtocolViolation, true);
            return;
        }
        if opts.no_responders && !opts.headers {
            self.send_err(conn, "no responders requires headers support");
            self.close(conn, CloseReason::ProtocolViolation, true);
            return;
        }
        let s = self.session_mut(conn);
        s.opts = opts;
        // A repeated CONNECT keeps the identity the first one authenticated.
        if s.connected || self.authenticate(conn) {
            self.session_mut(conn).connected = true;
            self.send_ok(conn);
        }
    }

    fn on_ping(&mut self, conn: ConnId) {
        let needed = self.local_interest.last_seq();
        if !self.barrier_met(needed) {
            self.session_mut(conn).barrier_seq = Some(needed);
            self.blocked.push((conn, needed));
            return;
        }
        self.send_pong(conn);
    }

    fn send_pong(&mut self, conn: ConnId) {
        let s = self.session_mut(conn);
        s.out.extend_from_slice(encode::PONG);
        let connect_info = s.connected && s.opts.protocol >= 1 && !s.sent_connect_info;
        if connect_info {
            s.sent_connect_info = true;
            let mut info = self.cfg.info.clone();
            let s = self.sessions[conn as usize].as_mut().expect("live session");
            info.client_id = s.client_id;
            info.client_ip = s.client_ip.clone();
            info.connect_info = Some(true);
            info.remote_account = Some(self.accounts.get(s.account).name.to_string());
            encode::write_info(&mut s.out, &info);
        }
        self.signal_writable(conn);
    }

    /// The sequence of this core's latest interest change (see [`Engine::interest_visible`]).
    pub fn interest_seq(&self) -> u64 {
        self.local_interest.last_seq()
    }

    /// Whether every other core has applied this core's interest changes up to `seq`: from
    /// then on a publish anywhere sees the subscriptions made before it.
    pub fn interest_visible(&self, seq: u64) -> bool {
        self.barrier_met(seq)
    }

    fn barrier_met(&self, seq: u64) -> bool {
        self.peer_acked_seq
            .iter()
            .enumerate()
            .all(|(peer, acked)| peer == self.cfg.core_id || *acked >= seq)
    }

    // ----- time ----------------------------------------------------------------------------

    /// Sends keepalive PINGs to idle clients and closes the ones that stopped answering.
    pub fn tick(&mut self, now_ns: u64) {
        self.clock_ns = self.clock_ns.max(now_ns);
        self.check_auth_timeouts(now_ns);
        let interval = self.cfg.limits.ping_interval_ns;
        let max_out = self.cfg.limits.max_pings_outstanding;
        for id in 0..self.sessions.len() as ConnId {
            let Some(s) = self.sessions[id as usize].as_mut() else {
                continue;
            };
            if !s.is_open()
                || s.auth_deadline_ns.is_some() // not authenticated yet: the auth timeout rules
                || now_ns.saturating_sub(s.last_inbound_ns) < interval
                || now_ns.saturating_sub(s.last_ping_ns) < interval
            {
                continue;
            }
            if s.pings_outstanding >= max_out {
                encode::write_err(&mut s.out, "Stale Connection");
                self.stats.stale_connections += 1;
                self.signal_writable(id);
                self.close(id, CloseReason::StaleConnection, true);
            } else {
                s.out.extend_from_slice(encode::PING);
                s.pings_outstanding += 1;
                s.last_ping_ns = now_ns;
                self.signal_writable(id);
            }
        }
    }
}

#[path = "engine_accounts.rs"]
mod engine_accounts;
#[path = "engine_auth.rs"]
mod engine_auth;
#[path = "engine_ring.rs"]
mod ring;
#[path = "engine_route.rs"]
mod route;
#[path = "engine_snapshot.rs"]
mod snapshot;

#[path = "engine_leaf.rs"]
mod leaf_link;

#[path = "engine_leaf_auth.rs"]
mod leaf_auth;
#[path = "engine_leaf_hubs.rs"]
mod leaf_hubs;

#[path = "engine_lame_duck.rs"]
mod lame_duck;

#[path = "engine_sys.rs"]
mod sys;

#[path = "engine_subs.rs"]
mod subs;
pub use sys::{SysRequest, SYS_TARGET};

#[cfg(test)]
#[path = "engine_tests.rs"]
pub(crate) mod tests;
