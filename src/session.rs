//! Per-connection protocol state (sans-IO): what a client asked for in CONNECT, its
//! subscriptions by sid, its outbound buffer and keepalive state. Owned by the engine of
//! the core that accepted the connection, for the connection's whole life.

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};

use crate::protocol::info::ConnectOptions;
use crate::protocol::Parser;

/// Index of a connection in its core's engine (reused after the connection is removed).
pub type ConnId = u32;

/// Index of a subscription in its core's engine, with a generation so a stale key never
/// reaches a newer subscription that reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubKey {
    /// Slot in the engine's subscription table.
    pub slot: u32,
    /// Generation of the subscription stored in that slot.
    pub generation: u32,
}

/// Why a connection is being closed (logged, and later shown by monitoring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the socket or the read failed.
    ClientClosed,
    /// The client broke the protocol (an -ERR may have been sent first).
    ProtocolViolation,
    /// Its outbound bytes exceeded `max_pending_bytes`.
    SlowConsumerPendingBytes,
    /// A socket write stalled longer than `write_deadline_ms`.
    SlowConsumerWriteDeadline,
    /// It left `max_pings_outstanding` PINGs unanswered.
    StaleConnection,
    /// This core already holds its share of `max_connections`.
    MaxConnectionsExceeded,
    /// The server is shutting down.
    ServerShutdown,
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// Bad or missing credentials.
    AuthenticationViolation,
    /// A leaf link would close a loop (its own `$LDS` subject came back, or its own name).
    LeafLoopDetected,
    /// The TLS handshake failed or timed out.
    TlsHandshakeError,
    /// The user JWT expired while connected.
    AuthenticationExpired,
    /// A newer link from the same remote server replaced this one.
    DuplicateRemoteLeafnode,
    /// Its account's `max_connections` were all in use.
    MaxAccountConnectionsExceeded,
}

impl CloseReason {
    /// nats-server's name for the reason (as /connz shows it).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::LeafLoopDetected => "Leafnode Loop Detected",
            CloseReason::TlsHandshakeError => "TLS Handshake Error",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::DuplicateRemoteLeafnode => "Duplicate Remote LeafNode Connection",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
        }
    }
}

/// Least an outbound buffer grows by when it must (see [`Session::out_room`]).
pub const OUT_ALLOC_BYTES: usize = 4 * 1024;

/// One client connection's protocol state.
pub struct Session {
    /// The id advertised in INFO; `client_id % n_cores` is the owning core.
    pub client_id: u64,
    /// Peer address, for INFO and logs.
    pub client_ip: String,
    /// Streaming parser holding partial-op state between reads.
    pub parser: Parser,
    /// Options from CONNECT (nats-server defaults until one arrives).
    pub opts: ConnectOptions,
    /// Whether CONNECT has been received.
    pub connected: bool,
    /// Bytes queued for the socket, not yet handed to the writer: what `out_segs` holds,
    /// then `out`.
    pub out: BytesMut,
    /// Output queued ahead of `out` as shared segments: header lines split off `out` and
    /// the large payloads they announce, handed to the socket as they are (not copied).
    pub out_segs: std::collections::VecDeque<Bytes>,
    /// Bytes in `out_segs`.
    pub out_segs_bytes: usize,
    /// Bytes the writer has taken and is writing now (still count toward max pending).
    pub inflight_bytes: usize,
    /// Subscriptions by client-chosen sid.
    pub subs: AHashMap<Bytes, SubKey>,
    /// Server PINGs sent and not yet answered.
    pub pings_outstanding: u32,
    /// When the client last sent anything (postpones our PING).
    pub last_inbound_ns: u64,
    /// When we last sent a PING.
    pub last_ping_ns: u64,
    /// Set once the connection is closing; no more deliveries after that.
    pub close: Option<CloseReason>,
    /// Whether queued output (e.g. an -ERR) goes out before the socket closes.
    pub flush_before_close: bool,
    /// Already listed in the engine's writable events since the writer last took output.
    pub write_signalled: bool,
    /// Waiting for other cores to apply interest updates up to this sequence before PONG.
    pub barrier_seq: Option<u64>,
    /// The post-CONNECT INFO (`connect_info`) has been sent.
    pub sent_connect_info: bool,
    /// Peer TCP port (monitoring).
    pub client_port: u16,
    /// When the connection was accepted (engine clock).
    pub start_ns: u64,
    /// Messages this client published.
    pub in_msgs: u64,
    /// Message bytes this client published.
    pub in_bytes: u64,
    /// Messages delivered to this client.
    pub out_msgs: u64,
    /// Message bytes delivered to this client.
    pub out_bytes: u64,
    /// The nonce its INFO carried (nkey users sign it).
    pub nonce: Option<String>,
    /// With authentication on: when the client must have sent CONNECT by.
    pub auth_deadline_ns: Option<u64>,
    /// A JWT user: when its JWT expires (the connection is then closed).
    pub auth_expires_ns: Option<u64>,
    /// A bcrypt check of its CONNECT is running off the core; input waits for it.
    pub auth_pending: Option<crate::auth::PendingAuth>,
    /// `tls.verify_and_map`: the names the verified client certificate offers as its user.
    pub tls_names: Option<Vec<String>>,
    /// Who it authenticated as (empty without authentication or for a token).
    pub user: String,
    /// Its user's permissions, with the connection's decision cache; None = everything.
    pub perms: Option<crate::auth::ConnPermissions>,
    /// Set when this connection is a leaf node link (its input is the leaf protocol).
    pub leaf: Option<Box<crate::leaf::LeafLink>>,
    /// The account it belongs to (`$G` = 0 until a user of another account authenticates);
    /// it publishes and subscribes only in this account's subject space.
    pub account: crate::accounts::AccountId,
    /// Whether it holds one of its account's `max_connections` slots (released on close).
    pub account_slot: bool,
    /// TLS session facts `/connz` shows (set by the shell after the handshake).
    pub tls_info: Option<Box<crate::monitor::snapshot::TlsSnapshot>>,
}

impl Session {
    /// A fresh session for an accepted socket.
    pub fn new(
        client_id: u64,
        client_ip: String,
        max_control_line_bytes: usize,
        max_payload_bytes: usize,
        now_ns: u64,
    ) -> Self {
        Session {
            client_id,
            client_ip,
            parser: Parser::new(max_control_line_bytes, max_payload_bytes),
            opts: ConnectOptions::default(),
            connected: false,
            // Allocated on first use and released when the writer goes idle.
            out: BytesMut::new(),
            out_segs: std::collections::VecDeque::new(),
            out_segs_bytes: 0,
            inflight_bytes: 0,
            subs: AHashMap::new(),
            pings_outstanding: 0,
            last_inbound_ns: now_ns,
            last_ping_ns: now_ns,
            close: None,
            flush_before_close: false,
            write_signalled: false,
            barrier_seq: None,
            sent_connect_info: false,
            client_port: 0,
            start_ns: now_ns,
            in_msgs: 0,
            in_bytes: 0,
            out_msgs: 0,
            out_bytes: 0,
            nonce: None,
            auth_deadline_ns: None,
            auth_expires_ns: None,
            auth_pending: None,
            tls_names: None,
            user: String::new(),
            perms: None,
            leaf: None,
            account: crate::accounts::GLOBAL,
            account_slot: false,
            tls_info: None,
        }
    }

    /// Outbound bytes this connection holds (queued plus being written).
    pub fn pending_bytes(&self) -> usize {
        self.out.len() + self.out_segs_bytes + self.inflight_bytes
    }

    /// Makes room for `need` more bytes in `out`: when it lacks them, at least
    /// [`OUT_ALLOC_BYTES`] (its own buffer reclaimed once the writer dropped what it took,
    /// else a new one), so small writes after a handover do not allocate one by one.
    pub fn out_room(&mut self, need: usize) {
        if self.out.capacity() - self.out.len() < need {
            self.out.reserve(need.max(OUT_ALLOC_BYTES));
        }
    }

    /// Whether output is queued and not yet taken by the writer.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.out_segs.is_empty()
    }

    /// Drops queued output that was not taken by the writer.
    pub fn discard_output(&mut self) {
        self.out.clear();
        self.out_segs.clear();
        self.out_segs_bytes = 0;
    }

    /// Queues `payload` as a segment of its own after what `out` holds (which becomes a
    /// segment too): a large payload reaches the socket without being copied.
    pub fn queue_payload(&mut self, payload: Bytes) {
        if !self.out.is_empty() {
            let head = self.out.split().freeze();
            self.out_segs_bytes += head.len();
            self.out_segs.push_back(head);
        }
        self.out_segs_bytes += payload.len();
        self.out_segs.push_back(payload);
    }

    /// Whether the connection is still open for deliveries.
    pub fn is_open(&self) -> bool {
        self.close.is_none()
    }
}
