//! NATS JWTs and `.creds` files as a client (CONNECT `jwt`) or the config (`resolver_preload`,
//! `jwt_file`) hands them over: decoding never panics, and a token that decodes is signed, so
//! changing the first byte of its payload makes every decoder refuse it.

use crate::auth::jwt::claims::{AccountClaims, OperatorClaims, UserClaims};
use crate::auth::jwt::token;

/// The `jwt` fuzz target's property check.
pub fn check_jwt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut tokens = vec![text.as_ref()];
    if let Some(inner) = token::creds_jwt(&text) {
        tokens.push(inner);
    }
    for tok in tokens {
        if !decodes(tok) {
            continue;
        }
        let Some(dot) = tok.find('.') else {
            panic!("a decoded token has no parts: {tok:?}");
        };
        let mut tampered = tok.as_bytes().to_vec();
        let Some(b) = tampered.get_mut(dot + 1) else {
            panic!("a decoded token has no payload: {tok:?}");
        };
        *b = if *b == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ASCII change of UTF-8");
        assert!(
            !decodes(&tampered),
            "a changed payload still decodes: {tampered:?}"
        );
    }
}

fn decodes(tok: &str) -> bool {
    token::decode::<UserClaims>(tok).is_ok()
        || token::decode::<AccountClaims>(tok).is_ok()
        || token::decode::<OperatorClaims>(tok).is_ok()
}
