//! `/leafz`: the leaf node links of every core, in nats-server's shape (sans-IO).

use std::sync::Arc;

use serde::Serialize;

use super::render::ServerFacts;
use super::snapshot::CoreSnapshot;
use crate::jetstream::time::format_rfc3339_nanos;

#[derive(Serialize)]
struct Leafz<'a> {
    server_id: &'a str,
    now: String,
    leafnodes: usize,
    leafs: Vec<Leaf<'a>>,
}

#[derive(Serialize)]
struct Leaf<'a> {
    /// The link's connection id (as nats-server's `id`).
    id: u64,
    name: &'a str,
    is_spoke: bool,
    account: &'a str,
    ip: &'a str,
    port: u16,
    rtt: &'static str,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    compression: &'static str,
}

/// Renders `/leafz` from snapshots taken with detail (their connections).
pub fn leafz(facts: &ServerFacts, cores: &[Arc<CoreSnapshot>], now_unix_ns: u64) -> Vec<u8> {
    let mut leafs: Vec<(u64, Leaf<'_>)> = cores
        .iter()
        .flat_map(|c| c.conns.iter())
        .filter_map(|c| {
            let l = c.leaf.as_ref()?;
            Some((
                c.cid,
                Leaf {
                    id: c.cid,
                    name: &l.name,
                    is_spoke: l.solicited,
                    account: &l.account,
                    ip: &c.ip,
                    port: c.port,
                    rtt: "0s",
                    in_msgs: c.in_msgs,
                    out_msgs: c.out_msgs,
                    in_bytes: c.in_bytes,
                    out_bytes: c.out_bytes,
                    subscriptions: c.num_subs,
                    compression: "off",
                },
            ))
        })
        .collect();
    leafs.sort_by_key(|(cid, _)| *cid);
    let body = Leafz {
        server_id: &facts.server_id,
        now: format_rfc3339_nanos(now_unix_ns),
        leafnodes: leafs.len(),
        leafs: leafs.into_iter().map(|(_, l)| l).collect(),
    };
    let mut out = serde_json::to_vec_pretty(&body).expect("leafz serialises");
    out.push(b'\n');
    out
}
