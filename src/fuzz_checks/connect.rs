//! CONNECT JSON: decoded like the engine does, then authenticated against a token, a
//! password user and an nkey user. Only the right credentials may ever be accepted.

use std::sync::OnceLock;

use crate::auth::config::{is_user_public_key, AuthorizationConfig, UserConfig};
use crate::auth::{Authenticator, Decision};
use crate::protocol::info::ConnectOptions;

/// The nonce every fuzzed CONNECT answers (as if the INFO had carried it).
pub const NONCE: &str = "fuzz-nonce-0123";
/// The password user.
pub const USER: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "s3cret";
/// The token of the token-only server.
pub const TOKEN: &str = "t0ken";
/// Seed of the nkey user (the NATS documentation's example user seed); seeds corpora with a
/// valid signature of [`NONCE`] so the accepting path is reachable.
pub const NKEY_SEED: &str = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";

/// The nkey user's public key.
pub fn nkey_public() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        nkeys::KeyPair::from_seed(NKEY_SEED)
            .expect("valid example seed")
            .public_key()
    })
}

fn servers() -> &'static (Authenticator, Authenticator) {
    static AUTH: OnceLock<(Authenticator, Authenticator)> = OnceLock::new();
    AUTH.get_or_init(|| {
        let users = AuthorizationConfig {
            users: vec![
                UserConfig {
                    user: Some(USER.into()),
                    password: Some(PASSWORD.into()),
                    ..UserConfig::default()
                },
                UserConfig {
                    nkey: Some(nkey_public().to_owned()),
                    ..UserConfig::default()
                },
            ],
            ..AuthorizationConfig::default()
        };
        let token = AuthorizationConfig {
            token: Some(TOKEN.into()),
            ..AuthorizationConfig::default()
        };
        users.validate().expect("valid users config");
        token.validate().expect("valid token config");
        (
            Authenticator::from_config(&users).expect("users enabled"),
            Authenticator::from_config(&token).expect("token enabled"),
        )
    })
}

/// The bytes are a CONNECT's JSON (what follows `CONNECT `).
pub fn check_connect_json(data: &[u8]) {
    let Ok(opts) = serde_json::from_slice::<ConnectOptions>(data) else {
        return;
    };
    let nkey = opts.nkey.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = nkey {
        // The config validator's nkey decoding, on arbitrary text.
        let _ = is_user_public_key(k);
    }
    let (users, token) = servers();
    match users.check(&opts, Some(NONCE)) {
        Decision::Accept(who) => match nkey {
            Some(k) => {
                assert_eq!(k, nkey_public(), "accepted an unknown nkey");
                assert_eq!(who.user, k);
            }
            None => {
                assert_eq!(opts.user.as_deref(), Some(USER), "accepted a wrong user");
                assert_eq!(
                    opts.pass.as_deref(),
                    Some(PASSWORD),
                    "accepted a wrong password"
                );
                assert_eq!(who.user, USER);
            }
        },
        Decision::VerifyBcrypt { .. } => panic!("no bcrypt user is configured"),
        Decision::Reject => {}
    }
    // Without a nonce no nkey can be accepted.
    if nkey.is_some() {
        assert_eq!(users.check(&opts, None), Decision::Reject);
    }
    match token.check(&opts, Some(NONCE)) {
        Decision::Accept(_) => {
            assert!(nkey.is_none(), "token server accepted an nkey");
            assert_eq!(
                opts.auth_token.as_deref(),
                Some(TOKEN),
                "accepted a wrong token"
            );
        }
        Decision::VerifyBcrypt { .. } => panic!("the token is not a bcrypt hash"),
        Decision::Reject => {}
    }
}
