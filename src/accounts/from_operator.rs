//! Operator mode's accounts: each account JWT of the resolver becomes an account of the
//! server, named by its public key (as nats-server names them), with JetStream when the JWT
//! grants storage and its connection/subscription/payload limits. Users come from JWTs, not from here.

use std::collections::BTreeMap;

use super::config::{AccountConfig, AccountLimits, JetStreamFlag};
use crate::auth::jwt::Trust;

/// The `[accounts]` table operator mode implies, keyed by account public key.
pub fn accounts_of(trust: &Trust) -> BTreeMap<String, AccountConfig> {
    trust
        .accounts()
        .map(|a| {
            let l = &a.claims.nats.limits;
            let limit = |v: i64| (v >= 0).then_some(v);
            let cfg = AccountConfig {
                jetstream: Some(JetStreamFlag::Flag(l.jetstream_enabled())),
                limits: Some(AccountLimits {
                    max_connections: limit(l.conn),
                    max_subscriptions: limit(l.subs),
                    max_payload: limit(l.payload),
                }),
                ..AccountConfig::default()
            };
            (a.name.to_string(), cfg)
        })
        .collect()
}
