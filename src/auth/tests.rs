use super::config::*;
use super::*;

fn cfg(toml_text: &str) -> AuthorizationConfig {
    toml::from_str(toml_text).expect("parses")
}

fn connect(json: &str) -> ConnectOptions {
    serde_json::from_str(json).expect("connect json")
}

fn accepted(d: Decision) -> Authenticated {
    match d {
        Decision::Accept(a) => a,
        other => panic!("expected Accept, got {other:?}"),
    }
}

#[test]
fn nothing_configured_is_no_authenticator() {
    assert!(Authenticator::from_config(&AuthorizationConfig::default()).is_none());
    let t = cfg("timeout = 3");
    assert!(Authenticator::from_config(&t).is_none());
}

#[test]
fn token() {
    let a = Authenticator::from_config(&cfg("token = \"s3cr3t\"")).unwrap();
    assert_eq!(a.timeout_ns(), 2_000_000_000);
    assert!(!a.wants_nonce());
    accepted(a.check(&connect(r#"{"auth_token":"s3cr3t"}"#), None));
    assert_eq!(
        a.check(&connect(r#"{"auth_token":"nope"}"#), None),
        Decision::Reject
    );
    assert_eq!(a.check(&connect("{}"), None), Decision::Reject);
    assert_eq!(
        a.check(&connect(r#"{"user":"x","pass":"s3cr3t"}"#), None),
        Decision::Reject
    );
}

#[test]
fn users_and_permissions() {
    let a = Authenticator::from_config(&cfg(r#"
        timeout = 0.5
        users = [ { user = "alice", password = "alice-pw" },
                  { user = "reader", password = "r", permissions = { publish = { deny = [">"] },
                    subscribe = { allow = ["a.>", "_INBOX.>"] } } } ]
    "#))
    .unwrap();
    assert_eq!(a.timeout_ns(), 500_000_000);
    let alice = accepted(a.check(&connect(r#"{"user":"alice","pass":"alice-pw"}"#), None));
    assert_eq!(alice.user, "alice");
    assert!(alice.permissions.is_none());
    for bad in [
        r#"{"user":"alice","pass":"reader-pw"}"#,
        r#"{"user":"alice"}"#,
        r#"{"user":"bob","pass":"alice-pw"}"#,
        r#"{"auth_token":"alice-pw"}"#,
    ] {
        assert_eq!(a.check(&connect(bad), None), Decision::Reject, "{bad}");
    }
    let reader = accepted(a.check(&connect(r#"{"user":"reader","pass":"r"}"#), None));
    let p = reader.permissions.unwrap();
    assert!(!p.static_publish_allowed(b"a.b"));
    assert!(p.subscribe_allowed(b"a.b", None));
    assert!(!p.subscribe_allowed(b"b", None));
}

#[test]
fn bcrypt_is_deferred_and_the_hash_itself_fails() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let a = Authenticator::from_config(&cfg(&format!(
        "users = [ {{ user = \"h\", password = \"{hash}\" }} ]"
    )))
    .unwrap();
    match a.check(&connect(r#"{"user":"h","pass":"pw"}"#), None) {
        Decision::VerifyBcrypt {
            password,
            hash: h,
            then,
        } => {
            assert_eq!(then.user, "h");
            assert!(bcrypt_matches(&password, &h));
            assert!(!bcrypt_matches("wrong", &h));
            assert!(!bcrypt_matches(&h, &h), "sending the hash must fail");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nkey_signature_over_the_nonce() {
    let kp = nkeys::KeyPair::new_user();
    let pk = kp.public_key();
    let a =
        Authenticator::from_config(&cfg(&format!("users = [ {{ nkey = \"{pk}\" }} ]"))).unwrap();
    assert!(a.wants_nonce());
    let nonce = encode_nonce(&[7; NONCE_RAW_BYTES]);
    assert_eq!(nonce.len(), 15);
    let sig = kp.sign(nonce.as_bytes()).unwrap();
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig);
    let std = base64::engine::general_purpose::STANDARD.encode(&sig);
    for s in [&url, &std] {
        let c = connect(&format!(r#"{{"nkey":"{pk}","sig":"{s}"}}"#));
        assert_eq!(accepted(a.check(&c, Some(&nonce))).user, pk);
    }
    // Wrong nonce, no nonce, no sig, another key, garbage.
    let c = connect(&format!(r#"{{"nkey":"{pk}","sig":"{url}"}}"#));
    assert_eq!(a.check(&c, Some("other")), Decision::Reject);
    assert_eq!(a.check(&c, None), Decision::Reject);
    let c = connect(&format!(r#"{{"nkey":"{pk}"}}"#));
    assert_eq!(a.check(&c, Some(&nonce)), Decision::Reject);
    let other = nkeys::KeyPair::new_user();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(other.sign(nonce.as_bytes()).unwrap());
    let c = connect(&format!(
        r#"{{"nkey":"{}","sig":"{sig}"}}"#,
        other.public_key()
    ));
    assert_eq!(a.check(&c, Some(&nonce)), Decision::Reject);
    let c = connect(&format!(r#"{{"nkey":"{pk}","sig":"!!"}}"#));
    assert_eq!(a.check(&c, Some(&nonce)), Decision::Reject);
}

#[test]
fn allow_responses_forms() {
    let a = Authenticator::from_config(&cfg(r#"
        users = [ { user = "a", password = "p", permissions = { allow_responses = true } },
                  { user = "b", password = "p", permissions = { publish = ["x"],
                    allow_responses = { max = 3, expires = "1m" } } },
                  { user = "c", password = "p", permissions = { publish = "y" } } ]
    "#))
    .unwrap();
    let perms = |u: &str| {
        accepted(a.check(&connect(&format!(r#"{{"user":"{u}","pass":"p"}}"#)), None))
            .permissions
            .unwrap()
    };
    let pa = perms("a");
    assert_eq!(
        pa.responses,
        Some(ResponsePermission {
            max_msgs: 1,
            expires_ns: 120_000_000_000
        })
    );
    assert!(
        !pa.static_publish_allowed(b"anything"),
        "allow_responses removes the blanket publish allow"
    );
    let pb = perms("b");
    assert_eq!(
        pb.responses,
        Some(ResponsePermission {
            max_msgs: 3,
            expires_ns: 60_000_000_000
        })
    );
    assert!(pb.static_publish_allowed(b"x"));
    assert!(!pb.static_publish_allowed(b"z"));
    let pc = perms("c");
    assert!(pc.static_publish_allowed(b"y") && !pc.static_publish_allowed(b"x"));
}

#[test]
fn validation_names_the_key() {
    let err = |t: &str| cfg(t).validate().unwrap_err();
    let e = err("token = \"t\"\nusers = [ { user = \"a\", password = \"b\" } ]");
    assert_eq!(e.key, "authorization.token");
    let e = err(r#"users = [ { user = "a", password = "b" }, { nkey = "UABC" } ]"#);
    assert_eq!(e.key, "authorization.users[1].nkey");
    let account_key = nkeys::KeyPair::new_account().public_key();
    let e = err(&format!(r#"users = [ {{ nkey = "{account_key}" }} ]"#));
    assert_eq!(e.key, "authorization.users[0].nkey");
    let e =
        err(r#"users = [ { user = "a", password = "b", permissions = { publish = ["a..b"] } } ]"#);
    assert_eq!(e.key, "authorization.users[0].permissions.publish");
    let e =
        err(r#"users = [ { user = "a", password = "b", permissions = { publish = ["a q"] } } ]"#);
    assert_eq!(e.key, "authorization.users[0].permissions.publish");
    let e = err(r#"users = [ { user = "a" } ]"#);
    assert_eq!(e.key, "authorization.users[0].password");
    let e = err(r#"users = [ { user = "a", password = "b" }, { user = "a", password = "c" } ]"#);
    assert_eq!(e.key, "authorization.users[1]");
    let e = err("token = \"t\"\ntimeout = 0");
    assert_eq!(e.key, "authorization.timeout");
    let e = err(
        r#"users = [ { user = "a", password = "b", permissions = { allow_responses = { expires = "soon" } } } ]"#,
    );
    assert_eq!(
        e.key,
        "authorization.users[0].permissions.allow_responses.expires"
    );
    // Fine: queue entries in subscribe lists, a real user key.
    let pk = nkeys::KeyPair::new_user().public_key();
    cfg(&format!(
        r#"users = [ {{ nkey = "{pk}", permissions = {{ subscribe = {{ allow = ["jobs.* workers"] }} }} }} ]"#
    ))
    .validate()
    .unwrap();
}

#[test]
fn config_errors_name_file_line_and_key() {
    use crate::config::Config;
    let text = "[authorization]\nusers = [\n  { user = \"a\", password = \"b\" },\n  { nkey = \"UNOPE\" },\n]\n";
    let e = Config::from_toml_str(text, "auth.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "auth.toml:4: authorization.users[1].nkey: \"UNOPE\" is not a valid user nkey public key (U...)"
    );
    let text = "[authorization]\ntoken = \"t\"\nusers = [ { user = \"a\", password = \"b\" } ]\n";
    let e = Config::from_toml_str(text, "auth.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("auth.toml:2: authorization.token: "), "{e}");
    let text = "[authorization]\nusers = [ { user = \"a\", pasword = \"b\" } ]\n";
    let e = Config::from_toml_str(text, "auth.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("auth.toml:2:"), "{e}");
    assert!(e.contains("pasword"), "{e}");
    let ok = Config::from_toml_str(include_str!("../../config/auth.toml"), "auth.toml").unwrap();
    let auth = ok.authorization.expect("authorization");
    let hashed = auth
        .users
        .iter()
        .find(|u| u.user.as_deref() == Some("hashed"));
    let hash = hashed
        .and_then(|u| u.password.clone())
        .expect("hashed user");
    assert!(
        bcrypt_matches("bcrypt-pw", &hash),
        "the example's comment tells the truth"
    );
}

#[test]
fn open_listener_without_auth_is_detected() {
    use crate::config::Config;
    use crate::server::open_without_auth;
    let mut c = Config::default();
    c.server.addr = "0.0.0.0".into();
    assert!(open_without_auth(&c));
    c.server.addr = "127.0.0.1".into();
    assert!(!open_without_auth(&c));
    c.server.addr = "::1".into();
    assert!(!open_without_auth(&c));
    c.server.addr = "::".into();
    c.authorization = Some(cfg("token = \"t\""));
    assert!(!open_without_auth(&c));
    c.authorization = Some(cfg("timeout = 1"));
    assert!(
        open_without_auth(&c),
        "a timeout alone authenticates nobody"
    );
}
