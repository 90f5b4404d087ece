//! The leaf node protocol (sans-IO), as nats-server 2.15.1 speaks it: natrix accepts leaf
//! links from other servers (hub role, `[leafnodes] port`) and solicits links to hubs
//! (leaf role, `[[leafnodes.remotes]]`).
//!
//! - [`parser`]: `LS+`/`LS-`/`LMSG`/`HMSG`/`INFO`/`CONNECT`/`PING`/`PONG`/`-ERR` in.
//! - [`wire`]: the same out, and the INFO/CONNECT JSON.
//! - [`remote`]: hub URLs, `.creds`, reconnect backoff.
//! - [`weights`]: queue weights of links across cores.
//! - [`LeafLink`]: one link's handshake state and the interest it has announced, so each
//!   change of this server's interest becomes at most one `LS+`/`LS-` line.
//!
//! The engine (`engine_leaf.rs`) owns a `LeafLink` per leaf connection; the shell
//! (`shell/leaf.rs`) accepts and solicits the sockets.

pub mod auth;
pub mod config;
pub mod parser;
pub mod perms;
pub mod remote;
pub mod tls;
pub mod weights;
pub mod wire;

use std::sync::Arc;

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};

pub use parser::{LeafOp, LeafParseError, LeafParser};
pub use remote::{Creds, LeafUrl};

/// The account a link is bound to until accounts exist (`account = ...` is passed through).
pub const GLOBAL_ACCOUNT: &str = "$G";

/// Subjects that never cross a leaf link: the local JetStream API (a JetStream request
/// answered on both sides would get two replies; domains reach a remote JetStream).
pub fn is_local_only(subject: &[u8]) -> bool {
    subject.starts_with(b"$JS.API.") || subject == b"$JS.API.>"
}

/// Whether `subject` is a loop-detection subject (`$LDS.<random>`).
pub fn is_loop_subject(subject: &[u8]) -> bool {
    subject.starts_with(b"$LDS.")
}

/// This server's identity on leaf links (same on every core).
#[derive(Debug, Clone)]
pub struct LeafSettings {
    /// Server id (as in client INFO).
    pub server_id: String,
    /// Server name; also the cluster name a standalone server announces.
    pub server_name: String,
    /// Version string.
    pub version: String,
    /// This server's loop-detection subject, `$LDS.<random>`, announced on every link.
    pub loop_subject: Bytes,
    /// Host and port of the leaf listener, for the hub INFO (`leafnode_urls`).
    pub listen_host: String,
    /// Leaf listener port (0 = not a hub).
    pub listen_port: u16,
    /// Largest message accepted.
    pub max_payload: usize,
    /// Longest control line.
    pub max_control_line: usize,
    /// JetStream domain, when set.
    pub domain: Option<String>,
    /// JetStream enabled here.
    pub jetstream: bool,
    /// `[leafnodes.authorization]` (hub role); None = leafs authenticate as clients do.
    pub auth: Option<Arc<auth::LeafAuthorization>>,
    /// `[leafnodes.tls]`: the leaf port's INFO says `tls_required` (and `tls_verify`).
    pub tls_required: bool,
    /// How long an accepted link has to send its CONNECT (`[leafnodes.authorization]
    /// timeout`; nats-server's default: 2 s, or the TLS timeout plus 1 s on a TLS port).
    pub auth_timeout_ns: u64,
    /// Leafs must present a certificate.
    pub tls_verify: bool,
}

/// What a soliciting link presents to its hub.
#[derive(Debug, Clone, Default)]
pub struct SolicitAuth {
    /// User from the URL.
    pub user: Option<String>,
    /// Password from the URL.
    pub pass: Option<String>,
    /// `.creds` (JWT + seed).
    pub creds: Option<Arc<Creds>>,
    /// The remote's `deny_exports` / `deny_imports`.
    pub perms: perms::LinkPerms,
    /// The link runs TLS (the shell did the handshake).
    pub tls: bool,
}

/// Which side of the link we are.
#[derive(Debug, Clone)]
pub enum LeafRole {
    /// We accepted it on the leaf port (hub).
    Accept,
    /// We dialled out to a hub (leaf).
    Solicit(SolicitAuth),
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Soliciting: waiting for the hub's INFO.
    AwaitInfo,
    /// Accepting: INFO sent, waiting for the leaf's CONNECT.
    AwaitConnect,
    /// Interest and messages flow.
    Up,
}

/// Key of one announced interest.
pub type InterestKey = (Bytes, Option<Bytes>);

/// One leaf link's protocol state (owned by the engine, inside the link's session).
pub struct LeafLink {
    /// Our side.
    pub role: LeafRole,
    /// Handshake progress.
    pub state: LinkState,
    /// Input parser.
    pub parser: LeafParser,
    /// Local account bound to the link (`$G` until accounts land).
    pub account: String,
    /// The other server's name (from INFO or CONNECT).
    pub remote_name: String,
    /// The other server's id.
    pub remote_id: String,
    /// The other server's cluster name (from CONNECT).
    pub remote_cluster: String,
    /// Hub role: the leaf's CONNECT while its bcrypt password is checked off the core.
    pub pending_connect: Option<Box<wire::LeafConnect>>,
    /// What may cross the link (a remote's deny lists; a hub adds the leaf's `deny_pub`).
    pub perms: perms::LinkPerms,
    /// The other side's queue weights (`LS+ subject queue weight`), by subscription sid:
    /// how many members the one subscription of the group stands for in queue picks.
    pub queue_weights: AHashMap<Bytes, u32>,
    announced: AHashMap<InterestKey, u32>,
}

impl LeafLink {
    /// A fresh link; `Accept` starts waiting for CONNECT, `Solicit` for INFO.
    pub fn new(role: LeafRole, account: String, settings: &LeafSettings) -> Self {
        let (state, perms) = match &role {
            LeafRole::Accept => (LinkState::AwaitConnect, perms::LinkPerms::default()),
            LeafRole::Solicit(a) => (LinkState::AwaitInfo, a.perms.clone()),
        };
        LeafLink {
            role,
            state,
            parser: LeafParser::new(settings.max_control_line, settings.max_payload),
            account,
            remote_name: String::new(),
            remote_id: String::new(),
            remote_cluster: String::new(),
            pending_connect: None,
            perms,
            queue_weights: AHashMap::new(),
            announced: AHashMap::new(),
        }
    }

    /// Whether the handshake is done.
    pub fn is_up(&self) -> bool {
        self.state == LinkState::Up
    }

    /// Brings the announced interest of `(subject, queue)` to `members` (the number of
    /// subscriptions behind it on this server, not counting the link's own), writing the
    /// `LS+`/`LS-` line that says so, if any: plain interest only when it appears or goes,
    /// queue interest whenever its weight changes (as nats-server).
    pub fn announce(
        &mut self,
        subject: &Bytes,
        queue: Option<&Bytes>,
        members: u32,
        out: &mut BytesMut,
    ) -> bool {
        if !self.is_up() || is_local_only(subject) || !self.perms.may_announce(subject) {
            return false;
        }
        let key = (subject.clone(), queue.cloned());
        let before = self.announced.get(&key).copied().unwrap_or(0);
        let wanted = match queue {
            None => members.min(1),
            Some(_) => members,
        };
        if wanted == before {
            return false;
        }
        if wanted == 0 {
            self.announced.remove(&key);
            wire::write_ls_minus(out, subject, queue.map(|q| &q[..]));
        } else {
            self.announced.insert(key, wanted);
            wire::write_ls_plus(out, subject, queue.map(|q| (&q[..], wanted)));
        }
        true
    }

    /// How many interests are announced (monitoring).
    pub fn announced_len(&self) -> usize {
        self.announced.len()
    }
}

/// The sid under which the engine stores a link's `LS+ subject [queue]` subscription.
pub fn link_sid(subject: &[u8], queue: Option<&[u8]>) -> Bytes {
    let mut s = Vec::with_capacity(subject.len() + queue.map_or(0, |q| q.len() + 1));
    s.extend_from_slice(subject);
    if let Some(q) = queue {
        s.push(b' ');
        s.extend_from_slice(q);
    }
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LeafSettings {
        LeafSettings {
            server_id: "NID".into(),
            server_name: "n".into(),
            version: "2.11.0".into(),
            loop_subject: Bytes::from_static(b"$LDS.x"),
            listen_host: "127.0.0.1".into(),
            listen_port: 7422,
            max_payload: 1 << 20,
            max_control_line: 4096,
            domain: None,
            jetstream: false,
            auth: None,
            tls_required: false,
            tls_verify: false,
            auth_timeout_ns: 2_000_000_000,
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn announce_plain_on_appear_and_disappear_only() {
        let mut l = LeafLink::new(LeafRole::Accept, GLOBAL_ACCOUNT.into(), &settings());
        let mut out = BytesMut::new();
        assert!(!l.announce(&b("foo"), None, 1, &mut out), "not up yet");
        l.state = LinkState::Up;
        assert!(l.announce(&b("foo"), None, 1, &mut out));
        assert!(!l.announce(&b("foo"), None, 3, &mut out));
        assert!(l.announce(&b("foo"), None, 0, &mut out));
        assert!(!l.announce(&b("$JS.API.>"), None, 1, &mut out));
        assert_eq!(&out[..], b"LS+ foo\r\nLS- foo\r\n");
    }

    #[test]
    fn announce_queue_weights() {
        let mut l = LeafLink::new(LeafRole::Accept, GLOBAL_ACCOUNT.into(), &settings());
        l.state = LinkState::Up;
        let mut out = BytesMut::new();
        let (s, q) = (b("w"), b("g"));
        l.announce(&s, Some(&q), 1, &mut out);
        l.announce(&s, Some(&q), 2, &mut out);
        l.announce(&s, Some(&q), 2, &mut out);
        l.announce(&s, Some(&q), 0, &mut out);
        assert_eq!(&out[..], b"LS+ w g 1\r\nLS+ w g 2\r\nLS- w g\r\n");
        assert_eq!(l.announced_len(), 0);
    }

    #[test]
    fn sids() {
        assert_eq!(&link_sid(b"a.b", None)[..], b"a.b");
        assert_eq!(&link_sid(b"a.b", Some(b"q")), &b"a.b q"[..]);
    }
}
