//! Decoding and signature check of one NATS JWT, as nats-io/jwt v2's `Decode`: three
//! base64url (unpadded) parts, a header `{"typ":"JWT","alg":"ed25519-nkey"}`, and an ed25519
//! signature over `header.payload` by the nkey in `iss`, whose prefix must fit the claim
//! type (operator tokens by an operator key, accounts by an operator key, users by an account
//! key). Only v2 tokens are accepted (v1 tokens, `nats.version` < 2, have been obsolete since
//! nats-server 2.2). No clock: expiry is checked by the caller with its own time.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::claims::{
    AccountClaims, ActivationClaims, ClaimsData, Generic, OperatorClaims, UserClaims,
};

/// nats-io/jwt's `MaxTokenSize`.
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Larger than [`MAX_TOKEN_BYTES`].
    #[error("token size {0} exceeds maximum of {MAX_TOKEN_BYTES} bytes")]
    TooLarge(usize),
    /// Not `header.payload.signature`.
    #[error("expected 3 chunks")]
    Chunks,
    /// A part is not base64url.
    #[error("{0} is not base64url")]
    Base64(&'static str),
    /// Header or payload is not the expected JSON.
    #[error("{0} is not valid JSON: {1}")]
    Json(&'static str, String),
    /// Header type is not `JWT`.
    #[error("not supported type {0:?}")]
    Type(String),
    /// Header algorithm is not `ed25519-nkey`.
    #[error("unexpected {0:?} algorithm")]
    Algorithm(String),
    /// Claims of another kind than asked for.
    #[error("expected a {expected} JWT, got {got:?}")]
    Kind {
        /// What the caller wanted.
        expected: &'static str,
        /// What the token says it is.
        got: String,
    },
    /// Not a v2 token.
    #[error("JWT version {0} is not supported (only v2)")]
    Version(i64),
    /// `iss` is not a public key of the kind this claim type needs.
    #[error("issuer {0:?} is not a valid {1} public key")]
    Issuer(String, &'static str),
    /// `sub` is not a public key of the kind this claim type needs.
    #[error("subject {0:?} is not a valid {1} public key")]
    Subject(String, &'static str),
    /// The signature does not verify with `iss`.
    #[error("claim failed V2 signature verification")]
    Signature,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// The claim types natrix decodes, with the key prefixes their issuer and subject need.
pub trait Claim: DeserializeOwned {
    /// `nats.type` value.
    const KIND: &'static str;
    /// nkeys prefix of the issuer (`O` operator, `A` account).
    const ISSUER: (char, &'static str);
    /// nkeys prefix of the subject.
    const SUBJECT: (char, &'static str);
    /// Registered claims.
    fn data(&self) -> &ClaimsData;
}

impl Claim for OperatorClaims {
    const KIND: &'static str = "operator";
    const ISSUER: (char, &'static str) = ('O', "operator");
    const SUBJECT: (char, &'static str) = ('O', "operator");
    fn data(&self) -> &ClaimsData {
        &self.data
    }
}

impl Claim for AccountClaims {
    const KIND: &'static str = "account";
    const ISSUER: (char, &'static str) = ('O', "operator");
    const SUBJECT: (char, &'static str) = ('A', "account");
    fn data(&self) -> &ClaimsData {
        &self.data
    }
}

impl Claim for ActivationClaims {
    const KIND: &'static str = "activation";
    const ISSUER: (char, &'static str) = ('A', "account");
    const SUBJECT: (char, &'static str) = ('A', "account");
    fn data(&self) -> &ClaimsData {
        &self.data
    }
}

impl Claim for UserClaims {
    const KIND: &'static str = "user";
    const ISSUER: (char, &'static str) = ('A', "account");
    const SUBJECT: (char, &'static str) = ('U', "user");
    fn data(&self) -> &ClaimsData {
        &self.data
    }
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Base64(what))
}

fn is_public_key(key: &str, prefix: char) -> bool {
    key.starts_with(prefix) && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Decodes `token` as a `C` and checks its header, version, key prefixes and signature.
pub fn decode<C: Claim>(token: &str) -> Result<C, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge(token.len()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Chunks);
    };
    let header: Header = serde_json::from_slice(&b64(h, "header")?)
        .map_err(|e| JwtError::Json("header", e.to_string()))?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::Type(header.typ));
    }
    // nats-io/jwt also reads the old `ed25519` algorithm, but only for v1 tokens.
    if !header.alg.eq_ignore_ascii_case("ed25519-nkey") {
        return Err(JwtError::Algorithm(header.alg));
    }
    let payload = b64(p, "payload")?;
    let sig = b64(s, "signature")?;

    #[derive(Deserialize)]
    struct Kind {
        #[serde(default, rename = "type")]
        v1_type: String,
        #[serde(default)]
        nats: Generic,
    }
    let kind: Kind =
        serde_json::from_slice(&payload).map_err(|e| JwtError::Json("payload", e.to_string()))?;
    if !kind.v1_type.is_empty() {
        return Err(JwtError::Version(1));
    }
    if kind.nats.kind != C::KIND {
        return Err(JwtError::Kind {
            expected: C::KIND,
            got: kind.nats.kind,
        });
    }
    if kind.nats.version != 2 {
        return Err(JwtError::Version(kind.nats.version));
    }
    let claims: C =
        serde_json::from_slice(&payload).map_err(|e| JwtError::Json("payload", e.to_string()))?;
    let data = claims.data();
    if !is_public_key(&data.iss, C::ISSUER.0) {
        return Err(JwtError::Issuer(data.iss.clone(), C::ISSUER.1));
    }
    if !is_public_key(&data.sub, C::SUBJECT.0) {
        return Err(JwtError::Subject(data.sub.clone(), C::SUBJECT.1));
    }
    let signed = &token[..h.len() + 1 + p.len()];
    let issuer = nkeys::KeyPair::from_public_key(&data.iss)
        .map_err(|_| JwtError::Issuer(data.iss.clone(), C::ISSUER.1))?;
    issuer
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    Ok(claims)
}

/// The user JWT of a `.creds` file's text (the block after `-----BEGIN NATS USER JWT-----`).
pub fn creds_jwt(creds: &str) -> Option<&str> {
    let mut lines = creds.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN NATS USER JWT"))?;
    lines.find(|l| !l.is_empty())
}
