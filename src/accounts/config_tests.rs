//! `[accounts]` config: the shipped example loads; refusals name file, line and key.

use crate::config::Config;

fn err(text: &str) -> String {
    Config::from_toml_str(text, "mt.toml")
        .unwrap_err()
        .to_string()
}

const A: &str = "[accounts.A]\nusers = [ { user = \"a\", password = \"p\" } ]\nexports = [ { service = \"svc.>\" }, { stream = \"public.>\", accounts = [\"B\"] } ]\n";

#[test]
fn multi_tenant_example_loads() {
    let cfg = Config::from_toml_str(
        include_str!("../../config/multi-tenant.toml"),
        "multi-tenant.toml",
    )
    .unwrap();
    assert_eq!(cfg.system_account.as_deref(), Some("SYS"));
    assert!(cfg.accounts["TEAM_A"].jetstream_enabled());
    let a = super::Accounts::build(&cfg.accounts, Some("SYS"), true, [0; 4]).unwrap();
    assert_eq!(a.len(), 4, "$G + SYS + TEAM_A + TEAM_B");
    assert_eq!(a.system(), a.id("SYS").unwrap());
    assert_eq!(a.get(a.id("TEAM_A").unwrap()).max_payload, Some(1_048_576));
}

#[test]
fn imports_resolve_and_prefix_is_accepted_in_both_places() {
    for import in [
        "{ stream = { account = \"A\", subject = \"public.x\" }, prefix = \"a\" }",
        "{ stream = { account = \"A\", subject = \"public.x\", prefix = \"a\" } }",
        "{ service = { account = \"A\", subject = \"svc.time\" }, to = \"time\" }",
    ] {
        let text = format!("{A}[accounts.B]\nimports = [ {import} ]\n");
        Config::from_toml_str(&text, "mt.toml").unwrap_or_else(|e| panic!("{import}: {e}"));
    }
}

#[test]
fn refusals_name_file_line_and_key() {
    let cases = [
        (
            "[accounts.B]\nimports = [ { stream = { account = \"NOPE\", subject = \"x\" } } ]\n",
            "mt.toml:5: accounts.B.imports[0].stream.account: account \"NOPE\" is not defined",
        ),
        (
            "[accounts.B]\nimports = [ { service = { account = \"A\", subject = \"other\" } } ]\n",
            "mt.toml:5: accounts.B.imports[0].service.subject: service \"other\" is not exported by account \"A\" to \"B\"",
        ),
        (
            "[accounts.C]\nimports = [ { stream = { account = \"A\", subject = \"public.x\" } } ]\n[accounts.B]\n",
            "mt.toml:5: accounts.C.imports[0].stream.subject: stream \"public.x\" is not exported by account \"A\" to \"C\"",
        ),
        (
            "[accounts.B]\nexports = [ { stream = \"a..b\" } ]\n",
            "mt.toml:5: accounts.B.exports[0]: invalid subject \"a..b\"",
        ),
        (
            "[accounts.B]\nusers = [ { user = \"a\", password = \"x\" } ]\n",
            "mt.toml:5: accounts.B.users[0]: duplicate user \"a\" (also accounts.A.users[0])",
        ),
        (
            "[accounts.B]\nimports = [ { stream = { account = \"A\", subject = \"public.x\" }, prefix = \"a.*\" } ]\n",
            "mt.toml:5: accounts.B.imports[0].prefix: invalid prefix \"a.*\" (a subject without wildcards)",
        ),
        (
            "[accounts.B.jetstream]\nmax_consumers = 0\n",
            "mt.toml:5: accounts.B.jetstream.max_consumers: must be -1 (unlimited) or positive, got 0",
        ),
        (
            "[accounts.B.limits]\nmax_payload = 0\n",
            "mt.toml:5: accounts.B.limits.max_payload: must be -1 (unlimited) or positive, got 0",
        ),
    ];
    for (tail, want) in cases {
        let got = err(&format!("{A}{tail}"));
        assert_eq!(got, want, "every tail's key is on line 5");
    }
    let got = err("[accounts.\"a/b\"]\n");
    assert_eq!(
        got,
        "mt.toml:1: accounts.a/b: \"a/b\" is not a valid account name"
    );
    let got = err(&format!("system_account = \"X\"\n{A}[accounts.B]\n"));
    assert_eq!(
        got,
        "mt.toml:1: system_account: account \"X\" is not defined"
    );
}
