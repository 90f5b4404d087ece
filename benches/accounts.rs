//! What accounts cost on the publish path: one engine, a publisher and a subscriber on the
//! same core, `PUB` of 16 bytes parsed, matched and written to the subscriber, per message:
//! - `global_only`: no `[accounts]` (every session in `$G`), as before accounts existed;
//! - `plain_account`: accounts configured, both clients in an account without exports or
//!   imports (its own sublist; the crossing test is one flag);
//! - `exporting_account`: the publisher's account exports a stream another account imports
//!   (each publish also checks the import's subject and routes it there: no subscriber);
//! - `permissions`: as `plain_account`, the user with publish and subscribe allow/deny lists
//!   (each publish checks the publish permission; the delivery the subscribe one).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use natrix::accounts::config::AccountConfig;
use natrix::accounts::Accounts;
use natrix::auth::Authenticator;
use natrix::engine::{Engine, EngineConfig, EngineEvents, EngineLimits, OutputState};
use natrix::protocol::info::ServerInfo;
use natrix::session::ConnId;

const ACCOUNTS: &str = r#"
[accounts.A]
users = [ { user = "a", password = "a" } ]
exports = [ { stream = "public.>" } ]
[accounts.B]
users = [ { user = "b", password = "b" } ]
imports = [ { stream = { account = "A", subject = "public.>" }, prefix = "x" } ]
[accounts.C]
users = [ { user = "c", password = "c" }, { user = "p", password = "p", permissions = { publish = { allow = ["public.>", "_INBOX.>"], deny = ["secret.>"] }, subscribe = { allow = ["public.>", "_INBOX.>"], deny = ["secret.>"] } } } ]
"#;

fn engine(accounts: bool) -> Engine {
    let mut e = Engine::new(EngineConfig {
        core_id: 0,
        n_cores: 1,
        limits: EngineLimits {
            max_payload_bytes: 1 << 20,
            max_control_line_bytes: 4096,
            max_pending_bytes: 1 << 30,
            max_subscriptions: 0,
            ping_interval_ns: u64::MAX / 4,
            max_pings_outstanding: 2,
        },
        info: ServerInfo {
            server_id: "NBENCH".into(),
            server_name: "bench".into(),
            version: "2.11.0".into(),
            proto: 1,
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            max_payload: 1 << 20,
            jetstream: false,
            ..ServerInfo::default()
        },
    });
    if accounts {
        #[derive(serde::Deserialize)]
        struct W {
            accounts: BTreeMap<String, AccountConfig>,
        }
        let w: W = toml::from_str(ACCOUNTS).unwrap();
        e.set_auth(Authenticator::from_configs(None, &w.accounts).map(Arc::new));
        e.set_accounts(Arc::new(
            Accounts::build(&w.accounts, None, false, [1; 4]).unwrap(),
        ));
    }
    e
}

fn conn(e: &mut Engine, user: Option<&str>, ops: &str) -> ConnId {
    let id = e.open_conn("127.0.0.1", 0, true);
    let creds = user.map_or(String::new(), |u| {
        format!(",\"user\":\"{u}\",\"pass\":\"{u}\"")
    });
    let text = format!("CONNECT {{\"verbose\":false{creds}}}\r\n{ops}");
    let mut buf = BytesMut::from(text.as_bytes());
    e.on_read(id, &mut buf, 0);
    drain(e, id);
    id
}

fn drain(e: &mut Engine, id: ConnId) {
    let mut out = BytesMut::new();
    while e.take_output(id, &mut out) == OutputState::Data {
        e.write_done(id);
        out.clear();
    }
}

fn bench_case(c: &mut Criterion, name: &str, accounts: bool, user: Option<&str>, subject: &str) {
    let mut e = engine(accounts);
    let sub = conn(&mut e, user, &format!("SUB {subject} 1\r\n"));
    let publisher = conn(&mut e, user, "");
    let op = format!("PUB {subject} 16\r\n0123456789abcdef\r\n");
    let mut events = EngineEvents::default();
    let mut buf = BytesMut::with_capacity(op.len());
    c.bench_function(name, |b| {
        b.iter(|| {
            buf.extend_from_slice(op.as_bytes());
            black_box(e.on_read(publisher, &mut buf, 0));
            drain(&mut e, sub);
            e.take_events(&mut events);
        })
    });
}

fn publish(c: &mut Criterion) {
    bench_case(c, "publish/global_only", false, None, "public.news");
    bench_case(c, "publish/plain_account", true, Some("c"), "public.news");
    bench_case(c, "publish/permissions", true, Some("p"), "public.news");
    bench_case(
        c,
        "publish/exporting_account",
        true,
        Some("a"),
        "public.news",
    );
}

criterion_group!(benches, publish);
criterion_main!(benches);
