//! Operator mode's accounts from the fixture JWTs (`scripts/gen-jwt-fixtures.sh`).

use std::collections::HashMap;

use super::accounts_of;
use crate::accounts::config::ImportKind;
use crate::accounts::Accounts;
use crate::auth::jwt::Trust;

fn fixture(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt/");
    std::fs::read_to_string(format!("{dir}{name}")).unwrap()
}

fn trust() -> (Trust, HashMap<String, String>) {
    let ids: HashMap<String, String> = serde_json::from_str(&fixture("ids.json")).unwrap();
    let preload: HashMap<String, String> = toml::from_str(&fixture("preload.toml")).unwrap();
    let preload: Vec<_> = preload.into_iter().collect();
    (
        Trust::new(&fixture("op.jwt"), &ids["sys"], &preload).unwrap(),
        ids,
    )
}

#[test]
fn jetstream_limits_come_from_the_account_jwt() {
    let (trust, ids) = trust();
    let cfgs = accounts_of(&trust);
    let d = &cfgs[&ids["team_d"]];
    assert!(d.jetstream_enabled());
    assert_eq!(d.jetstream_limits(), (Some(4096), Some(4096)));
    let counts = d.jetstream_counts();
    assert_eq!(
        (
            counts.max_streams,
            counts.max_consumers,
            counts.max_ack_pending
        ),
        (Some(2), Some(2), Some(10))
    );
    // TEAM_C's JWT grants no storage: no JetStream.
    assert!(!cfgs[&ids["team_c"]].jetstream_enabled());
}

#[test]
fn public_exports_and_their_imports_are_wired_token_ones_are_left_out() {
    let (trust, ids) = trust();
    let cfgs = accounts_of(&trust);
    let a = &cfgs[&ids["team_a"]];
    let mut exported: Vec<_> = a
        .exports
        .iter()
        .map(|e| (e.service.as_deref(), e.stream.as_deref()))
        .collect();
    exported.sort();
    assert_eq!(
        exported,
        [(None, Some("public.>")), (Some("svc.time"), None)],
        "the token-required private.> export is left out"
    );
    let b = &cfgs[&ids["team_b"]];
    let imports: Vec<_> = b.imports.iter().map(|i| i.kind().unwrap()).collect();
    let want = [
        ImportKind::Service {
            account: ids["team_a"].clone(),
            subject: "svc.time".into(),
            local: "svc.time".into(),
        },
        ImportKind::Stream {
            account: ids["team_a"].clone(),
            subject: "public.>".into(),
            prefix: None,
        },
    ];
    assert_eq!(
        imports.len(),
        2,
        "the private.> import is left out: {imports:?}"
    );
    assert!(want.iter().all(|w| imports.contains(w)), "{imports:?}");
    let accounts = Accounts::build(&cfgs, Some(trust.system_account()), true, [0; 4]).unwrap();
    let (ia, ib) = (
        accounts.id(&ids["team_a"]).unwrap(),
        accounts.id(&ids["team_b"]).unwrap(),
    );
    assert_eq!(accounts.get(ib).service_imports[0].exporter, ia);
    assert_eq!(accounts.get(ia).stream_routes[0].importer, ib);
}
