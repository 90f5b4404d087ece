//! The chain of trust of operator mode (sans-IO), as nats-server's `processClientOrLeafAuthentication`
//! for a CONNECT with a user JWT: the trusted operator (and its signing keys) sign account
//! JWTs, which a memory resolver holds; an account (or one of its signing keys, plain or
//! scoped) signs user JWTs; the user proves it holds the JWT's key by signing the INFO nonce
//! (unless the JWT is a bearer token). Time comes in as an argument.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::claims::{AccountClaims, AccountLimits, JwtPermissions, OperatorClaims, TimeCheck};
use super::claims::{User, UserClaims};
use super::token::{self, JwtError};
use crate::auth::permissions::{self, Permissions, ResponsePermission, SubjectRules};

/// An account the resolver holds, checked against the operator.
#[derive(Debug)]
pub struct ResolvedAccount {
    /// Its decoded, verified JWT.
    pub claims: AccountClaims,
    /// Its public key (the account's name in natrix, as in nats-server).
    pub name: Arc<str>,
    /// Its limits, shared with every user that connects to it.
    pub limits: Arc<AccountLimits>,
}

/// The trusted operator and the accounts of the memory resolver (immutable after start).
#[derive(Debug)]
pub struct Trust {
    operator: OperatorClaims,
    /// Operator key and its signing keys: who may sign account JWTs.
    trusted_keys: Vec<String>,
    system_account: String,
    accounts: HashMap<String, Arc<ResolvedAccount>>,
}

/// Why the operator or a preloaded account was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The operator JWT does not decode as an operator JWT.
    #[error("not a valid operator JWT: {0}")]
    Operator(JwtError),
    /// The operator JWT is not self-signed.
    #[error("operator JWT is not self-signed (issuer {0}, subject {1})")]
    NotSelfSigned(String, String),
    /// An account JWT does not decode.
    #[error("not a valid account JWT: {0}")]
    Account(JwtError),
    /// An account JWT's subject is not the key it is stored under.
    #[error("JWT subject {sub} differs from its key")]
    SubjectMismatch {
        /// The subject inside the JWT.
        sub: String,
    },
    /// An account JWT signed by a key the operator does not vouch for.
    #[error("account JWT is not signed by the operator or one of its signing keys (issuer {0})")]
    Untrusted(String),
    /// The system account is not an account public key.
    #[error("{0:?} is not an account public key")]
    SystemAccount(String),
    /// The config and the operator JWT name different system accounts.
    #[error("system_account in config and operator JWT must be identical (operator JWT: {0})")]
    SystemAccountMismatch(String),
}

/// The identity a valid user JWT proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    /// The user's public key (the JWT `sub`).
    pub user: String,
    /// The JWT `name`.
    pub name: String,
    /// The account's public key.
    pub account: Arc<str>,
    /// Permissions from the user JWT (or its scope's template, or the account's defaults).
    pub permissions: Option<Arc<Permissions>>,
    /// Limits and expiry that come with the identity.
    pub grant: Arc<JwtGrant>,
}

/// Limits a JWT user carries: the account's, the user's own, and when the user JWT expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtGrant {
    /// The account JWT's limits.
    pub account_limits: Arc<AccountLimits>,
    /// Subscriptions the user may hold (-1 or 0 = no user limit).
    pub user_subs: i64,
    /// Largest payload the user may publish (-1 or 0 = no user limit).
    pub user_payload: i64,
    /// Unix seconds when the user JWT expires (nats-server then closes the connection).
    pub expires_unix: Option<i64>,
}

/// Why a CONNECT with a user JWT is refused (all get `-ERR 'Authorization Violation'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The user JWT does not decode or verify.
    #[error("user JWT not valid: {0}")]
    Jwt(#[from] JwtError),
    /// The user JWT is expired or not yet valid.
    #[error("user JWT no longer valid: {0}")]
    UserTime(TimeCheck),
    /// The account JWT is expired or not yet valid.
    #[error("account JWT not valid: {0}")]
    AccountTime(TimeCheck),
    /// The resolver does not know the issuing account.
    #[error("account {0} not found")]
    UnknownAccount(String),
    /// The signer is neither the account nor one of its signing keys.
    #[error("user JWT issuer is not known")]
    UnknownIssuer,
    /// A user signed by a scoped key brings permissions or limits of its own.
    #[error("scoped users require no permissions or limits set")]
    ScopedUserHasPermissions,
    /// A scope template uses a function natrix does not expand.
    #[error("user JWT generated invalid permissions")]
    Template,
    /// A permission subject is invalid.
    #[error("invalid permission subject {0:?}")]
    PermissionSubject(String),
    /// The account refuses bearer tokens.
    #[error("account does not allow bearer tokens")]
    BearerDisallowed,
    /// The user may not use a standard client connection.
    #[error("connection type not allowed")]
    ConnectionType,
    /// No `sig` in CONNECT, or no nonce was sent.
    #[error("signature missing")]
    SignatureMissing,
    /// `sig` is not the user key's signature of the nonce.
    #[error("signature not verified")]
    BadSignature,
    /// The account revoked the user.
    #[error("user authentication revoked")]
    Revoked,
    /// The client's address is outside the user's `src` CIDRs.
    #[error("bad src ip {0}")]
    Source(String),
    /// Connect-time windows (`times`) are not supported: refused rather than ignored.
    #[error("connect time windows (times) are not supported")]
    Times,
}

impl Trust {
    /// Checks the operator JWT and every preloaded `(account key, account JWT)`.
    pub fn new(
        operator_jwt: &str,
        system_account: &str,
        preload: &[(String, String)],
    ) -> Result<Trust, (Option<usize>, TrustError)> {
        let operator: OperatorClaims =
            token::decode(operator_jwt.trim()).map_err(|e| (None, TrustError::Operator(e)))?;
        if operator.data.iss != operator.data.sub {
            return Err((
                None,
                TrustError::NotSelfSigned(operator.data.iss.clone(), operator.data.sub.clone()),
            ));
        }
        // As nats-server: the config's system account, else the operator JWT's; both named
        // must agree.
        let named = &operator.nats.system_account;
        if !system_account.is_empty() && !named.is_empty() && named != system_account {
            return Err((None, TrustError::SystemAccountMismatch(named.clone())));
        }
        let system_account = if system_account.is_empty() {
            named.as_str()
        } else {
            system_account
        };
        let is_account_key =
            |k: &str| k.starts_with('A') && nkeys::KeyPair::from_public_key(k).is_ok();
        if !system_account.is_empty() && !is_account_key(system_account) {
            return Err((None, TrustError::SystemAccount(system_account.to_owned())));
        }
        let system_account = system_account.to_owned();
        let mut trusted_keys = Vec::new();
        if !operator.nats.strict_signing_key_usage {
            trusted_keys.push(operator.data.sub.clone());
        }
        trusted_keys.extend(operator.nats.signing_keys.iter().cloned());
        let mut trust = Trust {
            operator,
            trusted_keys,
            system_account,
            accounts: HashMap::new(),
        };
        for (i, (key, jwt)) in preload.iter().enumerate() {
            let acc = trust.check_account(key, jwt).map_err(|e| (Some(i), e))?;
            trust.accounts.insert(key.clone(), Arc::new(acc));
        }
        Ok(trust)
    }

    fn check_account(&self, key: &str, jwt: &str) -> Result<ResolvedAccount, TrustError> {
        let claims: AccountClaims = token::decode(jwt.trim()).map_err(TrustError::Account)?;
        if claims.data.sub != key {
            return Err(TrustError::SubjectMismatch {
                sub: claims.data.sub.clone(),
            });
        }
        if !self.trusted_keys.contains(&claims.data.iss) {
            return Err(TrustError::Untrusted(claims.data.iss.clone()));
        }
        Ok(ResolvedAccount {
            name: Arc::from(key),
            limits: Arc::new(claims.nats.limits.clone()),
            claims,
        })
    }

    /// The operator's public key.
    pub fn operator(&self) -> &str {
        &self.operator.data.sub
    }

    /// The system account's public key (empty when neither the config nor the operator
    /// names one).
    pub fn system_account(&self) -> &str {
        &self.system_account
    }

    /// The accounts the resolver holds, by public key.
    pub fn accounts(&self) -> impl Iterator<Item = &Arc<ResolvedAccount>> {
        self.accounts.values()
    }

    /// One account, by public key.
    pub fn account(&self, key: &str) -> Option<&Arc<ResolvedAccount>> {
        self.accounts.get(key)
    }

    /// Checks a CONNECT's `jwt` and `sig` against the `nonce` its INFO carried, at `now_unix`
    /// seconds, from `client_ip`.
    pub fn authenticate(
        &self,
        jwt: &str,
        sig: Option<&str>,
        nonce: Option<&str>,
        client_ip: Option<IpAddr>,
        now_unix: i64,
    ) -> Result<JwtUser, Denied> {
        let mut uc: UserClaims = token::decode(jwt)?;
        uc.data.check_time(now_unix).map_err(Denied::UserTime)?;
        let issuer = if uc.nats.issuer_account.is_empty() {
            &uc.data.iss
        } else {
            &uc.nats.issuer_account
        };
        let acc = self
            .accounts
            .get(issuer)
            .ok_or_else(|| Denied::UnknownAccount(issuer.clone()))?;
        let ac = &acc.claims;
        if uc.data.iss != ac.data.sub {
            match ac.nats.signing_keys.get(&uc.data.iss) {
                None => return Err(Denied::UnknownIssuer),
                Some(None) => {}
                Some(Some(scope)) => {
                    if !uc.nats.has_empty_permissions() {
                        return Err(Denied::ScopedUserHasPermissions);
                    }
                    let issuer_account = std::mem::take(&mut uc.nats.issuer_account);
                    let generic = std::mem::take(&mut uc.nats.generic);
                    uc.nats = expand_template(&scope.template, &uc, acc)?;
                    uc.nats.issuer_account = issuer_account;
                    uc.nats.generic = generic;
                }
            }
        }
        ac.data.check_time(now_unix).map_err(Denied::AccountTime)?;
        let user = &uc.nats;
        if user.bearer_token && ac.nats.limits.disallow_bearer {
            return Err(Denied::BearerDisallowed);
        }
        if !user.allowed_connection_types.is_empty()
            && !user
                .allowed_connection_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case("STANDARD"))
        {
            return Err(Denied::ConnectionType);
        }
        if !user.bearer_token {
            let (Some(sig), Some(nonce)) = (sig.filter(|s| !s.is_empty()), nonce) else {
                return Err(Denied::SignatureMissing);
            };
            if !crate::auth::nonce_signed_by(&uc.data.sub, sig, nonce) {
                return Err(Denied::BadSignature);
            }
        }
        if is_revoked(&ac.nats.revocations, &uc.data.sub, uc.data.iat) {
            return Err(Denied::Revoked);
        }
        if !user.src.is_empty() {
            let ok = client_ip.is_some_and(|ip| user.src.iter().any(|c| cidr_contains(c, ip)));
            if !ok {
                return Err(Denied::Source(
                    client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                ));
            }
        }
        if !user.times.is_empty() {
            return Err(Denied::Times);
        }
        let permissions = if user.permissions.is_empty() {
            build_permissions(&ac.nats.default_permissions)?
        } else {
            build_permissions(&user.permissions)?
        };
        Ok(JwtUser {
            user: uc.data.sub.clone(),
            name: uc.data.name.clone(),
            account: acc.name.clone(),
            permissions,
            grant: Arc::new(JwtGrant {
                account_limits: acc.limits.clone(),
                user_subs: user.subs,
                user_payload: user.payload,
                expires_unix: (uc.data.exp > 0).then_some(uc.data.exp),
            }),
        })
    }
}

/// nats-server's `isRevoked`: the user's entry, or the `*` entry, is at or after its `iat`.
fn is_revoked(revocations: &HashMap<String, i64>, user: &str, issued_at: i64) -> bool {
    [user, "*"]
        .iter()
        .any(|k| revocations.get(*k).is_some_and(|t| *t >= issued_at))
}

/// Whether `cidr` (`10.0.0.0/8`, `::1/128`, or a bare address) contains `ip`.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match cidr.trim().split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    let (net, ip, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        (IpAddr::V6(n), IpAddr::V4(i)) => (u128::from(n), u128::from(i.to_ipv6_mapped()), 128),
        (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
            Some(i) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            None => return false,
        },
    };
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (net >> shift) == (ip >> shift)
}

/// A scope's template with nats-server's template functions expanded for this user
/// (`{{name()}}`, `{{subject()}}`, `{{account-name()}}`, `{{account-subject()}}`).
fn expand_template(
    template: &User,
    uc: &UserClaims,
    acc: &ResolvedAccount,
) -> Result<User, Denied> {
    let mut out = template.clone();
    let acc_name = if acc.claims.data.name.is_empty() {
        acc.name.to_string()
    } else {
        acc.claims.data.name.clone()
    };
    let expand = |list: &mut Vec<String>| -> Result<(), Denied> {
        for s in list.iter_mut() {
            if !s.contains("{{") {
                continue;
            }
            let mut e = s.clone();
            for (f, v) in [
                ("name()", uc.data.name.as_str()),
                ("subject()", uc.data.sub.as_str()),
                ("account-name()", acc_name.as_str()),
                ("account-subject()", acc.claims.data.sub.as_str()),
            ] {
                e = e.replace(&format!("{{{{{f}}}}}"), v);
                e = e.replace(&format!("{{{{ {f} }}}}"), v);
            }
            if e.contains("{{") {
                return Err(Denied::Template);
            }
            *s = e;
        }
        Ok(())
    };
    let p = &mut out.permissions;
    for list in [
        &mut p.publish.allow,
        &mut p.publish.deny,
        &mut p.subscribe.allow,
        &mut p.subscribe.deny,
    ] {
        expand(list)?;
    }
    Ok(out)
}

/// nats-server's `buildPermissionsFromJwt` + `validateResponsePermissions`.
fn build_permissions(p: &JwtPermissions) -> Result<Option<Arc<Permissions>>, Denied> {
    if p.is_empty() {
        return Ok(None);
    }
    for (list, queues) in [
        (&p.publish.allow, false),
        (&p.publish.deny, false),
        (&p.subscribe.allow, true),
        (&p.subscribe.deny, true),
    ] {
        if let Some(bad) = list
            .iter()
            .find(|s| !crate::auth::config::is_valid_permission_subject(s, queues))
        {
            return Err(Denied::PermissionSubject(bad.clone()));
        }
    }
    let rules = |p: &super::claims::Permission| {
        (!p.is_empty()).then(|| {
            let allow = (!p.allow.is_empty()).then_some(p.allow.as_slice());
            SubjectRules::new(allow, &p.deny)
        })
    };
    let responses = p.resp.map(|r| ResponsePermission {
        max_msgs: if r.max == 0 {
            permissions::DEFAULT_RESPONSE_MAX_MSGS
        } else {
            r.max
        },
        expires_ns: if r.ttl <= 0 {
            permissions::DEFAULT_RESPONSE_EXPIRES_NS
        } else {
            r.ttl as u64
        },
    });
    let mut publish = rules(&p.publish);
    if responses.is_some() {
        publish
            .get_or_insert_with(|| SubjectRules::new(None, &[]))
            .ensure_allow_list();
    }
    Ok(Some(Arc::new(Permissions {
        publish,
        subscribe: rules(&p.subscribe),
        responses,
    })))
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
