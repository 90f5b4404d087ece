//! The engine's side of monitoring: a copy of the counters and connections, taken on the
//! owning core when the monitor asks (never on the message path).

use super::{Engine, SubTarget};
use crate::monitor::snapshot::{ConnSnapshot, CoreSnapshot, SubSnapshot};
use crate::session::ConnId;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Engine {
    /// Remembers the peer's TCP port of a connection (shown by `/connz`).
    pub fn set_client_port(&mut self, conn: ConnId, port: u16) {
        self.session_mut(conn).client_port = port;
    }

    /// This core's counters, and with `detail` its connections with their subscriptions.
    pub fn monitor_snapshot(&self, now_ns: u64, detail: bool) -> CoreSnapshot {
        let mut snap = CoreSnapshot {
            core: self.cfg.core_id,
            epoch_unix_ns: 0,
            taken_ns: now_ns,
            stats: self.stats,
            connections: self.live_sessions as u64,
            subscriptions: self.local.len() as u64,
            conns: Vec::new(),
        };
        if !detail {
            return snap;
        }
        for s in self.sessions.iter().flatten() {
            let subs =
                s.subs
                    .values()
                    .filter_map(|key| {
                        let e = self.subs[key.slot as usize].as_ref()?;
                        (e.generation == key.generation && matches!(e.target, SubTarget::Conn(_)))
                            .then(|| SubSnapshot {
                                subject: text(&e.subject),
                                queue: e.queue.as_deref().map(text),
                                sid: text(&e.sid),
                                msgs: e.delivered,
                            })
                    })
                    .collect();
            snap.conns.push(ConnSnapshot {
                cid: s.client_id,
                ip: s.client_ip.clone(),
                port: s.client_port,
                start_ns: s.start_ns,
                last_activity_ns: s.last_inbound_ns,
                pending_bytes: s.pending_bytes() as u64,
                in_msgs: s.in_msgs,
                out_msgs: s.out_msgs,
                in_bytes: s.in_bytes,
                out_bytes: s.out_bytes,
                num_subs: s.subs.len() as u32,
                subs,
                name: s.opts.name.clone().filter(|n| !n.is_empty()),
                lang: s.opts.lang.clone().filter(|n| !n.is_empty()),
                version: s.opts.version.clone().filter(|n| !n.is_empty()),
            });
        }
        snap
    }
}
