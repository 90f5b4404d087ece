//! The engine's side of monitoring: a copy of the counters and connections, taken on the
//! owning core when the monitor asks (never on the message path).

use super::{CoreStats, Engine, SubTarget};
use crate::monitor::snapshot::{
    AccountCounts, ConnSnapshot, CoreSnapshot, LeafConnSnapshot, SubSnapshot, TlsSnapshot,
};
use crate::session::ConnId;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Engine {
    /// Remembers the peer's TCP port of a connection (shown by `/connz`).
    pub fn set_client_port(&mut self, conn: ConnId, port: u16) {
        self.session_mut(conn).client_port = port;
    }

    /// Remembers a TLS connection's session facts (shown by `/connz`).
    pub fn set_tls_info(&mut self, conn: ConnId, info: TlsSnapshot) {
        if let Some(Some(s)) = self.sessions.get_mut(conn as usize) {
            s.tls_info = Some(Box::new(info));
        }
    }

    /// Per account: connections, leaf links, subscriptions, sublist counters and the
    /// message counters of its open connections (O(connections), only when asked).
    fn account_counts(&self) -> Vec<AccountCounts> {
        let mut counts: Vec<AccountCounts> = (0..self.accounts.len().max(self.local.len()))
            .map(|i| {
                self.local
                    .get(i)
                    .map(|sl| AccountCounts {
                        subscriptions: sl.len() as u64,
                        sublist: sl.stats(),
                        ..AccountCounts::default()
                    })
                    .unwrap_or_default()
            })
            .collect();
        for s in self.sessions.iter().flatten() {
            let Some(a) = counts.get_mut(s.account as usize) else {
                continue;
            };
            if s.leaf.is_some() {
                a.leafnodes += 1;
            } else {
                a.connections += 1;
            }
            a.in_msgs += s.in_msgs;
            a.in_bytes += s.in_bytes;
            a.out_msgs += s.out_msgs;
            a.out_bytes += s.out_bytes;
        }
        counts
    }

    /// This core's counters, and with `detail` its connections with their subscriptions.
    pub fn monitor_snapshot(&self, now_ns: u64, detail: bool) -> CoreSnapshot {
        let accounts = self.account_counts();
        let mut sublist = crate::sublist::SublistStats::default();
        for a in &accounts {
            crate::monitor::snapshot::add_sublist(&mut sublist, &a.sublist);
        }
        let mut snap = CoreSnapshot {
            core: self.cfg.core_id,
            epoch_unix_ns: 0,
            taken_ns: now_ns,
            stats: CoreStats {
                leafnodes: self.leaf_link_count() as u64,
                ..self.stats
            },
            // As nats-server: leaf links are not client connections (`/leafz` lists them).
            connections: (self.live_sessions - self.leaf_link_count()) as u64,
            subscriptions: self.subscription_count() as u64,
            conns: Vec::new(),
            sublist,
            js: None,
            commits: None,
            accounts,
            js_accounts: Vec::new(),
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
                leaf: s.leaf.as_ref().map(|l| LeafConnSnapshot {
                    name: l.remote_name.clone(),
                    account: l.account.clone(),
                    solicited: matches!(l.role, crate::leaf::LeafRole::Solicit(_)),
                }),
                account: s.account,
                user: s.user.clone(),
                tls: s.tls_info.as_deref().cloned(),
            });
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::tests::{info, limits};
    use super::super::{Engine, EngineConfig};

    #[test]
    fn snapshot_counts_per_connection_and_core() {
        let mut e = Engine::new(EngineConfig {
            core_id: 0,
            n_cores: 1,
            limits: limits(),
            info: info(),
        });
        let connect = |name: &str| {
            format!("CONNECT {{\"verbose\":false,\"headers\":true,\"name\":\"{name}\",\"lang\":\"rust\"}}\r\n")
        };
        let sub = e.open_conn("127.0.0.1", 10, true);
        e.set_client_port(sub, 5001);
        let publ = e.open_conn("127.0.0.1", 20, true);
        let mut buf = BytesMut::from(format!("{}SUB a.* q1 7\r\n", connect("s")).as_bytes());
        e.on_read(sub, &mut buf, 30);
        let mut buf = BytesMut::from(
            format!(
                "{}PUB a.b 5\r\nhello\r\nHPUB a.c 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                connect("p")
            )
            .as_bytes(),
        );
        e.on_read(publ, &mut buf, 40);

        let light = e.monitor_snapshot(50, false);
        assert_eq!(light.connections, 2);
        assert_eq!(light.subscriptions, 1);
        assert!(light.conns.is_empty());
        assert_eq!(light.stats.in_msgs, 2);
        assert_eq!(light.stats.in_bytes, 5 + 14);
        assert_eq!(light.stats.out_msgs, 2);
        // Message bytes, headers included (the subscriber takes headers), not MSG framing.
        assert_eq!(light.stats.out_bytes, 5 + 14);
        assert_eq!((light.sublist.inserts, light.sublist.matches), (1, 2));

        let full = e.monitor_snapshot(60, true);
        assert_eq!(full.taken_ns, 60);
        let s = full
            .conns
            .iter()
            .find(|c| c.name.as_deref() == Some("s"))
            .unwrap();
        assert_eq!((s.port, s.start_ns, s.last_activity_ns), (5001, 10, 30));
        assert_eq!((s.out_msgs, s.out_bytes, s.in_msgs), (2, 19, 0));
        assert_eq!(s.num_subs, 1);
        assert_eq!(s.subs[0].subject, "a.*");
        assert_eq!(s.subs[0].queue.as_deref(), Some("q1"));
        assert_eq!(s.subs[0].sid, "7");
        assert_eq!(s.subs[0].msgs, 2);
        assert_eq!(s.lang.as_deref(), Some("rust"));
        let p = full
            .conns
            .iter()
            .find(|c| c.name.as_deref() == Some("p"))
            .unwrap();
        assert_eq!(
            (p.in_msgs, p.in_bytes, p.out_msgs, p.num_subs),
            (2, 19, 0, 0)
        );
        assert!(p.subs.is_empty());
    }
}
