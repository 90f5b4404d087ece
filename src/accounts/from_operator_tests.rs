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
    let cfgs = accounts_of(&trust, now());
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
fn public_exports_and_their_imports_are_wired() {
    let (trust, ids) = trust();
    let cfgs = accounts_of(&trust, now());
    let a = &cfgs[&ids["team_a"]];
    let mut exported: Vec<_> = a
        .exports
        .iter()
        .filter(|e| !e.token_req)
        .map(|e| {
            (
                e.service.as_deref(),
                e.stream.as_deref(),
                e.accounts.is_none(),
            )
        })
        .collect();
    exported.sort();
    assert_eq!(
        exported,
        [
            (None, Some("feed.>"), true),
            (None, Some("public.>"), true),
            (Some("svc.time"), None, true)
        ],
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
            to: None,
        },
    ];
    assert_eq!(
        imports.len(),
        5,
        "three public imports, two private ones with valid tokens: {imports:?}"
    );
    assert!(
        imports.contains(&ImportKind::Stream {
            account: ids["team_a"].clone(),
            subject: "feed.*".into(),
            prefix: None,
            to: Some("myfeed.*".into()),
        }),
        "{imports:?}"
    );
    assert!(want.iter().all(|w| imports.contains(w)), "{imports:?}");
    let accounts = Accounts::build(&cfgs, Some(trust.system_account()), true, [0; 4]).unwrap();
    let (ia, ib) = (
        accounts.id(&ids["team_a"]).unwrap(),
        accounts.id(&ids["team_b"]).unwrap(),
    );
    assert!(accounts
        .get(ib)
        .service_imports
        .iter()
        .all(|i| i.exporter == ia));
    assert!(accounts
        .get(ia)
        .stream_routes
        .iter()
        .all(|r| r.importer == ib));
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn private_exports_admit_only_valid_activation_tokens() {
    let (trust, ids) = trust();
    let cfgs = accounts_of(&trust, now());
    let a = &cfgs[&ids["team_a"]];
    let approved = |subject: &str| {
        a.exports
            .iter()
            .find(|e| {
                [&e.service, &e.stream]
                    .into_iter()
                    .flatten()
                    .any(|s| s == subject)
            })
            .and_then(|e| e.accounts.clone())
            .unwrap_or_else(|| panic!("{subject} not a private export: {a:?}"))
    };
    assert_eq!(approved("private.>"), [ids["team_b"].clone()]);
    assert_eq!(approved("svc.private"), [ids["team_b"].clone()]);
    assert!(approved("expired.>").is_empty());
    assert!(approved("revoked.>").is_empty());
    let b = &cfgs[&ids["team_b"]];
    let mut imported: Vec<&str> = b
        .imports
        .iter()
        .filter_map(|i| i.stream.as_ref().or(i.service.as_ref()))
        .map(|s| s.subject.as_str())
        .collect();
    imported.sort_unstable();
    assert_eq!(
        imported,
        ["feed.*", "private.>", "public.>", "svc.private", "svc.time"]
    );
}
