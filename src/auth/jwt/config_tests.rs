//! `[operator]` config errors name file, line and key; a good one loads.

use crate::config::Config;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn id(name: &str) -> String {
    let ids: std::collections::HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(fixture("ids.json")).unwrap()).unwrap();
    ids[name].clone()
}

fn jwt(name: &str) -> String {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .trim()
        .to_owned()
}

/// `[operator]` with `jwt_file` on line 2 and the preload entries from line 6 on.
fn toml(jwt_file: &str, system_account: &str, preload: &[(String, String)]) -> String {
    let mut s = format!(
        "[operator]\njwt_file = \"{jwt_file}\"\nsystem_account = \"{system_account}\"\n\
         resolver = \"memory\"\n[operator.resolver_preload]\n"
    );
    for (k, v) in preload {
        s.push_str(&format!("\"{k}\" = \"{v}\"\n"));
    }
    s
}

fn err(text: &str) -> String {
    Config::from_toml_str(text, "op.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_valid_operator_config_loads() {
    let text = toml(
        &fixture("op.jwt"),
        &id("sys"),
        &[
            (id("sys"), jwt("sys.jwt")),
            (id("team_a"), jwt("team_a.jwt")),
        ],
    );
    let cfg = Config::from_toml_str(&text, "op.toml").unwrap();
    let trust = cfg.operator.unwrap().load().unwrap();
    assert_eq!(trust.operator(), id("operator"));
    assert_eq!(trust.accounts().count(), 2);
    let a = trust.account(&id("team_a")).unwrap();
    assert_eq!(a.limits.streams, 5);
}

#[test]
fn errors_name_file_line_and_key() {
    let e = err(&toml("/nonexistent/op.jwt", &id("sys"), &[]));
    assert!(
        e.starts_with("op.toml:2: operator.jwt_file: cannot read /nonexistent/op.jwt"),
        "{e}"
    );

    let e = err(&toml(&fixture("team_a.jwt"), &id("sys"), &[]));
    assert!(e.starts_with("op.toml:2: operator.jwt_file: "), "{e}");
    assert!(e.contains("not a valid operator JWT"), "{e}");

    let e = err(&toml(&fixture("op.jwt"), "not-a-key", &[]));
    assert!(e.starts_with("op.toml:3: operator.system_account: "), "{e}");

    // TEAM_A's JWT filed under TEAM_B's key (line 7: the second entry).
    let e = err(&toml(
        &fixture("op.jwt"),
        &id("sys"),
        &[
            (id("sys"), jwt("sys.jwt")),
            (id("team_b"), jwt("team_a.jwt")),
        ],
    ));
    let key = format!("op.toml:7: operator.resolver_preload.{}: ", id("team_b"));
    assert!(e.starts_with(&key), "{e}");
    assert!(e.contains("differs from its key"), "{e}");

    let e = err(&toml(
        &fixture("op.jwt"),
        &id("sys"),
        &[(id("untrusted_account"), jwt("untrusted_account.jwt"))],
    ));
    let key = format!(
        "op.toml:6: operator.resolver_preload.{}: ",
        id("untrusted_account")
    );
    assert!(e.starts_with(&key), "{e}");
    assert!(e.contains("not signed by the operator"), "{e}");

    let e = err(&toml(&fixture("op.jwt"), &id("sys"), &[]).replace("\"memory\"", "\"full\""));
    assert!(e.starts_with("op.toml:4: operator.resolver: "), "{e}");

    let both = format!(
        "[authorization]\ntoken = \"t\"\n{}",
        toml(&fixture("op.jwt"), &id("sys"), &[])
    );
    let e = err(&both);
    assert!(e.starts_with("op.toml:3: operator: "), "{e}");
}

#[test]
fn a_directory_resolver_reads_key_named_files() {
    let dir = std::env::temp_dir().join(format!("natrix-jwt-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{}.jwt", id("team_a"))), jwt("team_a.jwt")).unwrap();
    std::fs::write(dir.join("README"), "not a jwt").unwrap();
    let text = format!(
        "[operator]\njwt_file = \"{}\"\nsystem_account = \"{}\"\n\
         resolver = {{ type = \"full\", dir = \"{}\" }}\n",
        fixture("op.jwt"),
        id("sys"),
        dir.display()
    );
    let cfg = Config::from_toml_str(&text, "op.toml").unwrap();
    let trust = cfg.operator.unwrap().load().unwrap();
    assert!(trust.account(&id("team_a")).is_some());
    // A file whose name is not its JWT's subject.
    std::fs::write(dir.join(format!("{}.jwt", id("team_b"))), jwt("team_a.jwt")).unwrap();
    let e = err(&text);
    assert!(e.starts_with("op.toml:4: operator.resolver.dir: "), "{e}");
    assert!(e.contains(&id("team_b")), "{e}");
    let e = err(&text.replace("\"full\"", "\"url\""));
    assert!(e.contains("operator.resolver"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    let e = err(&text);
    assert!(e.contains("operator.resolver.dir: cannot read"), "{e}");
}
