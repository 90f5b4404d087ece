//! Decentralized JWT authentication (operator mode), sans-IO: decoding and verifying NATS
//! JWTs ([`token`]), their v2 claims ([`claims`]), the operator -> account -> user chain of
//! trust with a memory resolver ([`trust`]), and the `[operator]` config ([`config`]).
//! Time is always an argument; the only I/O is reading the operator JWT file at startup.

pub mod claims;
pub mod config;
pub mod token;
pub mod trust;

pub use self::claims::AccountLimits;
pub use self::token::{decode, JwtError};
pub use self::trust::{Denied, JwtGrant, JwtUser, ResolvedAccount, Trust, TrustError};
