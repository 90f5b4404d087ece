//! Decode, verify and chain checks against the fixtures nats-io/jwt generated
//! (`scripts/gen-jwt-fixtures.sh`), plus tokens forged here to break one thing at a time.

use std::collections::HashMap;

use base64::Engine as _;

use super::*;
use crate::auth::jwt::claims::{AccountClaims, OperatorClaims, UserClaims};
use crate::auth::jwt::token::{creds_jwt, decode, JwtError};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/jwt/",
            $name
        ))
    };
}

const OP: &str = fixture!("op.jwt");
const SYS: &str = fixture!("sys.jwt");
const TEAM_A: &str = fixture!("team_a.jwt");
const TEAM_B: &str = fixture!("team_b.jwt");
const PRELOAD: &str = fixture!("preload.toml");
const UNTRUSTED_ACCOUNT: &str = fixture!("untrusted_account.jwt");

fn ids() -> HashMap<String, String> {
    serde_json::from_str(fixture!("ids.json")).unwrap()
}

fn id(name: &str) -> String {
    ids()[name].clone()
}

/// The operator with every account of `preload.toml` (SYS, TEAM_A to TEAM_E).
fn trust() -> Trust {
    let preload: HashMap<String, String> = toml::from_str(PRELOAD).unwrap();
    let preload: Vec<_> = preload.into_iter().collect();
    assert_eq!(preload.len(), 6);
    Trust::new(OP, &id("sys"), &preload).unwrap()
}

/// The user JWT and key pair of a fixture `.creds` file.
fn creds(text: &str) -> (String, nkeys::KeyPair) {
    let jwt = creds_jwt(text).unwrap().to_owned();
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN USER NKEY SEED"));
    let seed = lines.find(|l| !l.is_empty()).unwrap();
    (jwt, nkeys::KeyPair::from_seed(seed).unwrap())
}

const NONCE: &str = "pZ5fQ2xP0S-9lEo";

fn sign(kp: &nkeys::KeyPair, nonce: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce.as_bytes()).unwrap())
}

fn iat(jwt: &str) -> i64 {
    decode::<UserClaims>(jwt).unwrap().data.iat
}

/// Authenticates a `.creds` fixture from 127.0.0.1 a few seconds after it was issued.
fn connect(text: &str) -> Result<JwtUser, Denied> {
    let (jwt, kp) = creds(text);
    let now = iat(&jwt) + 5;
    let ip = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    trust().authenticate(&jwt, Some(&sign(&kp, NONCE)), Some(NONCE), ip, now)
}

/// Re-signs `payload` (JSON) with `kp` under the standard header.
fn forge(payload: &str, kp: &nkeys::KeyPair) -> String {
    let b = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let signed = format!(
        "{}.{}",
        b(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        b(payload.as_bytes())
    );
    let sig = kp.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b(&sig))
}

#[test]
fn decodes_the_fixture_tokens() {
    let op: OperatorClaims = decode(OP.trim()).unwrap();
    assert_eq!(op.data.sub, id("operator"));
    assert_eq!(op.data.iss, op.data.sub);
    assert_eq!(op.nats.signing_keys, vec![id("operator_signing_key")]);
    assert_eq!(op.nats.system_account, id("sys"));

    let a: AccountClaims = decode(TEAM_A).unwrap();
    assert_eq!(a.data.name, "TEAM_A");
    assert_eq!(a.data.iss, id("operator"));
    let l = &a.nats.limits;
    assert_eq!(
        (
            l.conn,
            l.subs,
            l.payload,
            l.mem_storage,
            l.disk_storage,
            l.streams,
            l.consumer
        ),
        (100, 1000, 1 << 20, 1 << 20, 10 << 20, 5, 10)
    );
    assert!(l.jetstream_enabled());
    assert_eq!(
        a.nats.signing_keys.get(&id("team_a_signing_key")),
        Some(None)
    );
    let scope = a.nats.signing_keys.get(&id("team_a_scoped_key")).unwrap();
    assert_eq!(
        scope.unwrap().template.permissions.publish.allow,
        ["scoped.>"]
    );
    assert!(a.nats.revocations.contains_key(&id("revoked")));
    let mut exports: Vec<_> = a
        .nats
        .exports
        .iter()
        .map(|e| (e.kind.as_str(), e.subject.as_str()))
        .collect();
    exports.sort();
    assert_eq!(
        exports,
        [
            ("service", "svc.private"),
            ("service", "svc.time"),
            ("stream", "expired.>"),
            ("stream", "feed.>"),
            ("stream", "private.>"),
            ("stream", "public.>"),
            ("stream", "revoked.>")
        ]
    );
    assert!(a.nats.exports.iter().any(|e| e.token_req));

    let b: AccountClaims = decode(TEAM_B).unwrap();
    assert_eq!(b.data.iss, id("operator_signing_key"));
    assert_eq!(b.nats.imports.len(), 7);
    assert!(b.nats.imports.iter().any(|i| !i.token.is_empty()));
    assert_eq!(b.nats.imports[0].account, id("team_a"));
    assert!(!b.nats.limits.jetstream_enabled());

    let (jwt, _) = creds(fixture!("limited.creds"));
    let u: UserClaims = decode(&jwt).unwrap();
    assert_eq!(u.nats.permissions.publish.allow, ["ok.>"]);
    assert_eq!(u.nats.permissions.publish.deny, ["ok.secret"]);
    assert_eq!(u.nats.permissions.subscribe.allow, ["ok.>", "_INBOX.>"]);
}

#[test]
fn decode_refuses_wrong_kind_shape_and_signature() {
    assert!(matches!(
        decode::<AccountClaims>(OP.trim()),
        Err(JwtError::Kind { .. })
    ));
    assert_eq!(decode::<UserClaims>("a.b"), Err(JwtError::Chunks));
    assert_eq!(decode::<UserClaims>("a.b.c.d"), Err(JwtError::Chunks));
    assert_eq!(
        decode::<UserClaims>("*.b.c"),
        Err(JwtError::Base64("header"))
    );
    // One changed payload byte breaks the signature.
    let mut parts: Vec<String> = TEAM_A.split('.').map(str::to_owned).collect();
    let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&parts[1])
        .unwrap();
    let pos = payload.windows(4).position(|w| w == b"1000").unwrap();
    payload[pos] = b'9'; // subs 1000 -> 9000
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
    assert_eq!(
        decode::<AccountClaims>(&parts.join(".")),
        Err(JwtError::Signature)
    );
    // A header with another algorithm.
    let kp = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let good = forge(
        &format!(
            r#"{{"iss":"{}","sub":"{}","nats":{{"type":"user","version":2}}}}"#,
            kp.public_key(),
            user.public_key()
        ),
        &kp,
    );
    assert!(decode::<UserClaims>(&good).is_ok());
    let b = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let rest = good.split_once('.').unwrap().1;
    let hs256 = format!("{}.{rest}", b(br#"{"typ":"JWT","alg":"HS256"}"#));
    assert!(matches!(
        decode::<UserClaims>(&hs256),
        Err(JwtError::Algorithm(_))
    ));
    // v1 tokens and wrong key kinds.
    let v1 = forge(
        &format!(
            r#"{{"iss":"{}","sub":"{}","type":"user"}}"#,
            kp.public_key(),
            user.public_key()
        ),
        &kp,
    );
    assert_eq!(decode::<UserClaims>(&v1), Err(JwtError::Version(1)));
    let by_user = forge(
        &format!(
            r#"{{"iss":"{0}","sub":"{0}","nats":{{"type":"user","version":2}}}}"#,
            user.public_key()
        ),
        &user,
    );
    assert!(matches!(
        decode::<UserClaims>(&by_user),
        Err(JwtError::Issuer(..))
    ));
}

#[test]
fn trust_refuses_untrusted_or_misfiled_accounts() {
    let e = Trust::new(
        OP,
        &id("sys"),
        &[(id("untrusted_account"), UNTRUSTED_ACCOUNT.into())],
    )
    .unwrap_err();
    assert!(matches!(e, (Some(0), TrustError::Untrusted(_))), "{e:?}");
    let e = Trust::new(
        OP,
        &id("sys"),
        &[(id("sys"), SYS.into()), (id("team_b"), TEAM_A.into())],
    )
    .unwrap_err();
    assert!(
        matches!(e, (Some(1), TrustError::SubjectMismatch { .. })),
        "{e:?}"
    );
    let e = Trust::new(TEAM_A, &id("sys"), &[]).unwrap_err();
    assert!(
        matches!(e, (None, TrustError::Operator(JwtError::Kind { .. }))),
        "{e:?}"
    );
    let e = Trust::new(OP, "nope", &[]).unwrap_err();
    assert!(
        matches!(e, (None, TrustError::SystemAccountMismatch(_))),
        "{e:?}"
    );
}

#[test]
fn system_account_defaults_to_the_operators_and_must_match_it() {
    let t = Trust::new(OP, "", &[]).unwrap();
    assert_eq!(t.system_account(), id("sys"));
    let e = Trust::new(OP, &id("team_a"), &[]).unwrap_err();
    assert!(
        matches!(e, (None, TrustError::SystemAccountMismatch(_))),
        "{e:?}"
    );
}

#[test]
fn strict_signing_key_usage_leaves_the_operator_key_out() {
    let op = nkeys::KeyPair::new_operator();
    let sk = nkeys::KeyPair::new_operator();
    let operator = forge(
        &format!(
            r#"{{"iss":"{0}","sub":"{0}","nats":{{"signing_keys":["{1}"],"strict_signing_key_usage":true,"type":"operator","version":2}}}}"#,
            op.public_key(),
            sk.public_key()
        ),
        &op,
    );
    let account = |signer: &nkeys::KeyPair, acc: &nkeys::KeyPair| {
        let jwt = forge(
            &format!(
                r#"{{"iss":"{}","sub":"{}","nats":{{"type":"account","version":2}}}}"#,
                signer.public_key(),
                acc.public_key()
            ),
            signer,
        );
        (acc.public_key(), jwt)
    };
    let (a, b) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_account());
    assert!(Trust::new(&operator, "", &[account(&sk, &a)]).is_ok());
    let e = Trust::new(&operator, "", &[account(&sk, &a), account(&op, &b)]).unwrap_err();
    assert!(matches!(e, (Some(1), TrustError::Untrusted(_))), "{e:?}");
}

#[test]
fn valid_users_get_their_account_limits_and_permissions() {
    let alice = connect(fixture!("alice.creds")).unwrap();
    assert_eq!(alice.user, id("alice"));
    assert_eq!(&*alice.account, id("team_a").as_str());
    assert!(alice.permissions.is_none());
    assert_eq!(alice.grant.account_limits.conn, 100);
    assert_eq!(alice.grant.expires_unix, None);

    let bob = connect(fixture!("bob.creds")).unwrap();
    assert_eq!(
        &*bob.account,
        id("team_b").as_str(),
        "account signed by an operator signing key"
    );

    let signer = connect(fixture!("signer.creds")).unwrap();
    assert_eq!(&*signer.account, id("team_a").as_str());

    let limited = connect(fixture!("limited.creds")).unwrap();
    let p = limited.permissions.unwrap();
    assert!(p.static_publish_allowed(b"ok.1"));
    assert!(!p.static_publish_allowed(b"ok.secret"));
    assert!(!p.static_publish_allowed(b"nope"));
    assert!(p.subscribe_allowed(b"_INBOX.x", None));
    assert!(!p.subscribe_allowed(b"nope", None));

    let scoped = connect(fixture!("scoped.creds")).unwrap();
    let p = scoped.permissions.expect("the scope's template");
    assert!(p.static_publish_allowed(b"scoped.x"));
    assert!(!p.static_publish_allowed(b"ok.1"));

    assert_eq!(
        connect(fixture!("local_src.creds")).unwrap().user,
        id("local_src")
    );

    // Bearer: no signature needed.
    let (jwt, _) = creds(fixture!("bearer.creds"));
    let u = trust().authenticate(&jwt, None, Some(NONCE), None, iat(&jwt) + 1);
    assert_eq!(u.unwrap().user, id("bearer"));
}

#[test]
fn each_broken_link_is_refused() {
    type Want = fn(&Denied) -> bool;
    let cases: [(&str, Want); 9] = [
        (fixture!("wrong_src.creds"), |d| {
            matches!(d, Denied::Source(_))
        }),
        (fixture!("websocket_only.creds"), |d| {
            *d == Denied::ConnectionType
        }),
        (fixture!("bearer_disallowed.creds"), |d| {
            *d == Denied::BearerDisallowed
        }),
        (fixture!("expired.creds"), |d| {
            *d == Denied::UserTime(TimeCheck::Expired)
        }),
        (fixture!("not_yet_valid.creds"), |d| {
            *d == Denied::UserTime(TimeCheck::NotYetValid)
        }),
        (fixture!("revoked.creds"), |d| *d == Denied::Revoked),
        (fixture!("untrusted.creds"), |d| {
            matches!(d, Denied::UnknownAccount(_))
        }),
        (fixture!("no_issuer_account.creds"), |d| {
            matches!(d, Denied::UnknownAccount(_))
        }),
        (fixture!("wrong_issuer_account.creds"), |d| {
            *d == Denied::UnknownIssuer
        }),
    ];
    for (text, want) in cases {
        let got = connect(text).unwrap_err();
        assert!(want(&got), "{got:?} for {}", creds_jwt(text).unwrap());
    }
    let (jwt, kp) = creds(fixture!("alice.creds"));
    let now = iat(&jwt) + 1;
    let t = trust();
    let other = nkeys::KeyPair::new_user();
    for (sig, nonce, want) in [
        (None, Some(NONCE), Denied::SignatureMissing),
        (Some(sign(&kp, NONCE)), None, Denied::SignatureMissing),
        (
            Some(sign(&kp, "another nonce")),
            Some(NONCE),
            Denied::BadSignature,
        ),
        (Some(sign(&other, NONCE)), Some(NONCE), Denied::BadSignature),
        (Some("!!".to_owned()), Some(NONCE), Denied::BadSignature),
    ] {
        assert_eq!(
            t.authenticate(&jwt, sig.as_deref(), nonce, None, now),
            Err(want)
        );
    }
    // Standard base64 (nats-py) works as well as base64url.
    let std_sig =
        base64::engine::general_purpose::STANDARD.encode(kp.sign(NONCE.as_bytes()).unwrap());
    assert!(t
        .authenticate(&jwt, Some(&std_sig), Some(NONCE), None, now)
        .is_ok());
}

#[test]
fn account_rules_apply_to_forged_users() {
    // A user signed by TEAM_A's key cannot be forged without it: sign with a fresh key that
    // claims to be TEAM_A's signing key.
    let fake = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let t = trust();
    let token = forge(
        &format!(
            r#"{{"iat":1,"iss":"{}","sub":"{}","nats":{{"issuer_account":"{}","type":"user","version":2}}}}"#,
            fake.public_key(),
            user.public_key(),
            id("team_a")
        ),
        &fake,
    );
    let sig = sign(&user, NONCE);
    assert_eq!(
        t.authenticate(&token, Some(&sig), Some(NONCE), None, 10),
        Err(Denied::UnknownIssuer)
    );
}

#[test]
fn revocations_cidrs_and_connection_types() {
    let mut r = HashMap::new();
    r.insert("U1".to_owned(), 100);
    assert!(is_revoked(&r, "U1", 100));
    assert!(is_revoked(&r, "U1", 99));
    assert!(!is_revoked(&r, "U1", 101));
    assert!(!is_revoked(&r, "U2", 1));
    r.insert("*".to_owned(), 50);
    assert!(is_revoked(&r, "U2", 50));
    assert!(!is_revoked(&r, "U2", 51));

    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(cidr_contains("127.0.0.0/8", ip("127.1.2.3")));
    assert!(!cidr_contains("10.0.0.0/8", ip("127.0.0.1")));
    assert!(cidr_contains("192.168.1.7", ip("192.168.1.7")));
    assert!(cidr_contains("::1/128", ip("::1")));
    assert!(cidr_contains("0.0.0.0/0", ip("8.8.8.8")));
    assert!(!cidr_contains("garbage", ip("8.8.8.8")));
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn shared_trust() -> &'static Trust {
        static TRUST: std::sync::OnceLock<Trust> = std::sync::OnceLock::new();
        TRUST.get_or_init(trust)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary text, and arbitrary base64url parts, never panic the decoder.
        #[test]
        fn decode_never_panics(s in "\\PC{0,300}", parts in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..200), 3)) {
            let _ = decode::<UserClaims>(&s);
            let b = |p: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p);
            let token = format!("{}.{}.{}", b(&parts[0]), b(&parts[1]), b(&parts[2]));
            prop_assert!(decode::<UserClaims>(&token).is_err());
            let _ = shared_trust().authenticate(&token, Some("x"), Some(NONCE), None, 0);
        }

        /// Any change to a valid user JWT's payload is refused.
        #[test]
        fn a_changed_payload_is_refused(pos in 0usize..10_000, byte in any::<u8>()) {
            let (jwt, _) = creds(fixture!("alice.creds"));
            let (h, rest) = jwt.split_once('.').unwrap();
            let (p, sig) = rest.split_once('.').unwrap();
            let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap();
            let i = pos % payload.len();
            prop_assume!(payload[i] != byte);
            payload[i] = byte;
            let p2 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
            let changed = format!("{h}.{p2}.{sig}");
            prop_assert!(decode::<UserClaims>(&changed).is_err());
        }
    }
}
