//! The v2 NATS JWT claims natrix reads (nats-io/jwt v2's JSON names): the registered claims
//! every token has, and the `nats` part of operator, account and user tokens. Fields natrix
//! does not act on yet (exports, imports, mappings) are still decoded, as data for the
//! accounts layer.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

/// The registered claims of every NATS JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClaimsData {
    /// Unique id (a hash of the claims).
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Public key of the signer.
    pub iss: String,
    /// Human-readable name.
    pub name: String,
    /// Public key the claims are about.
    pub sub: String,
    /// Expires at (unix seconds; 0 = never).
    pub exp: i64,
    /// Not valid before (unix seconds; 0 = always).
    pub nbf: i64,
}

/// Why a token is not valid at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeCheck {
    /// `exp` has passed.
    #[error("claim is expired")]
    Expired,
    /// `nbf` is still to come.
    #[error("claim is not yet valid")]
    NotYetValid,
}

impl ClaimsData {
    /// nats-io/jwt's `ClaimsData.Validate`: expired when `now > exp`, early when `nbf > now`.
    pub fn check_time(&self, now_unix: i64) -> Result<(), TimeCheck> {
        if self.exp > 0 && now_unix > self.exp {
            return Err(TimeCheck::Expired);
        }
        if self.nbf > 0 && self.nbf > now_unix {
            return Err(TimeCheck::NotYetValid);
        }
        Ok(())
    }
}

/// `nats.type` and `nats.version` (v1 tokens put `type` at the top level instead).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Generic {
    /// `operator`, `account`, `user`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// 2 for the tokens natrix accepts.
    pub version: i64,
    /// Free-form tags.
    pub tags: Vec<String>,
}

/// An operator token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OperatorClaims {
    /// Registered claims (`sub` = operator public key, self-signed).
    #[serde(flatten)]
    pub data: ClaimsData,
    /// The operator part.
    #[serde(default)]
    pub nats: Operator,
}

/// `nats` of an operator token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Operator {
    /// Other operator keys that may sign account tokens.
    pub signing_keys: Vec<String>,
    /// The system account the operator names (informational; the config's wins).
    pub system_account: String,
    /// Account server URL (unused: natrix resolves from memory).
    pub account_server_url: String,
    /// Only the signing keys may sign accounts, not the operator's own key.
    pub strict_signing_key_usage: bool,
    /// Type and version.
    #[serde(flatten)]
    pub generic: Generic,
}

/// An account token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AccountClaims {
    /// Registered claims (`sub` = account public key, `iss` = operator or its signing key).
    #[serde(flatten)]
    pub data: ClaimsData,
    /// The account part.
    #[serde(default)]
    pub nats: Account,
}

/// `nats` of an account token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Account {
    /// Keys that may sign user tokens for this account: plain, or with a user scope.
    pub signing_keys: SigningKeys,
    /// Connection, subscription, payload and JetStream limits.
    pub limits: AccountLimits,
    /// User key (or `*`) -> unix time: users issued at or before it are revoked.
    pub revocations: HashMap<String, i64>,
    /// Permissions of users whose token carries none.
    pub default_permissions: JwtPermissions,
    /// What the account exports (data for the accounts layer).
    pub exports: Vec<Export>,
    /// What the account imports (data for the accounts layer).
    pub imports: Vec<Import>,
    /// Type and version.
    #[serde(flatten)]
    pub generic: Generic,
}

/// An account's limits (`-1` = unlimited; JetStream `0` = disabled, as nats-server).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Subscriptions across the account.
    pub subs: i64,
    /// Bytes of data (messages) per ... (nats-server does not enforce it for accounts).
    pub data: i64,
    /// Largest message payload.
    pub payload: i64,
    /// Imports allowed.
    pub imports: i64,
    /// Exports allowed.
    pub exports: i64,
    /// Wildcard exports allowed.
    pub wildcards: bool,
    /// User tokens may not be bearer tokens.
    pub disallow_bearer: bool,
    /// Client connections across the account.
    pub conn: i64,
    /// Leaf node connections.
    pub leaf: i64,
    /// JetStream memory storage bytes.
    pub mem_storage: i64,
    /// JetStream file storage bytes.
    pub disk_storage: i64,
    /// JetStream streams.
    pub streams: i64,
    /// JetStream consumers.
    pub consumer: i64,
    /// Max ack pending per consumer.
    pub max_ack_pending: i64,
    /// Largest memory stream.
    pub mem_max_stream_bytes: i64,
    /// Largest file stream.
    pub disk_max_stream_bytes: i64,
    /// Streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

impl Default for AccountLimits {
    /// What an account token without `limits` means: no NATS limits, JetStream off.
    fn default() -> Self {
        AccountLimits {
            subs: -1,
            data: -1,
            payload: -1,
            imports: -1,
            exports: -1,
            wildcards: true,
            disallow_bearer: false,
            conn: -1,
            leaf: -1,
            mem_storage: 0,
            disk_storage: 0,
            streams: 0,
            consumer: 0,
            max_ack_pending: 0,
            mem_max_stream_bytes: 0,
            disk_max_stream_bytes: 0,
            max_bytes_required: false,
        }
    }
}

impl AccountLimits {
    /// Whether the account may use JetStream (memory or disk storage granted).
    pub fn jetstream_enabled(&self) -> bool {
        self.mem_storage != 0 || self.disk_storage != 0
    }
}

/// One export (`type` is `stream` or `service`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Export {
    /// Name.
    pub name: String,
    /// Exported subject (may hold wildcards).
    pub subject: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Importers need an activation token.
    pub token_req: bool,
    /// `Singleton`, `Stream` or `Chunked` (services).
    pub response_type: String,
    /// Revoked activations: importing account public key (or `*`, every one) -> unix time;
    /// tokens issued at or before it are revoked.
    pub revocations: HashMap<String, i64>,
}

/// An activation token: the exporter (or one of its signing keys) lets the account `sub`
/// import `nats.subject` of a private export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ActivationClaims {
    /// Registered claims (`iss` exporter or its signing key, `sub` importing account).
    #[serde(flatten)]
    pub data: ClaimsData,
    /// The activation.
    pub nats: Activation,
}

/// The `nats` part of an activation token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Activation {
    /// The subject (pattern) the importer may import.
    pub subject: String,
    /// `stream` or `service`.
    pub kind: String,
    /// The exporting account when a signing key of it signed.
    pub issuer_account: String,
    /// Type and version.
    #[serde(flatten)]
    pub generic: Generic,
}

/// One import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Import {
    /// Name.
    pub name: String,
    /// Subject in the exporting account.
    pub subject: String,
    /// Exporting account's public key.
    pub account: String,
    /// Activation token, when the export requires one.
    pub token: String,
    /// Local subject (renaming), if any.
    pub local_subject: String,
    /// Deprecated `to` prefix.
    pub to: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `pub`/`sub` allow and deny lists and `resp` of a user (or a scope template, or an
/// account's default permissions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JwtPermissions {
    /// Publish permission.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// Subscribe permission (entries may be `"subject queue"`).
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// Response permission.
    pub resp: Option<ResponsePermission>,
}

impl JwtPermissions {
    /// No pub/sub rule and no response permission.
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.resp.is_none()
    }
}

/// One allow/deny pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Permission {
    /// Allowed subjects (empty = all).
    #[serde(deserialize_with = "null_as_empty")]
    pub allow: Vec<String>,
    /// Denied subjects.
    #[serde(deserialize_with = "null_as_empty")]
    pub deny: Vec<String>,
}

impl Permission {
    /// Neither list has an entry.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: responses allowed per request (`max`) within `ttl` nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResponsePermission {
    /// Responses per request (0 = default 1, negative = unlimited).
    pub max: i64,
    /// Window in nanoseconds (Go `time.Duration`; 0 = default 2 minutes).
    pub ttl: i64,
}

/// A user token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserClaims {
    /// Registered claims (`sub` = user public key, `iss` = account or signing key).
    #[serde(flatten)]
    pub data: ClaimsData,
    /// The user part.
    #[serde(default)]
    pub nats: User,
}

/// `nats` of a user token (also the `template` of a user scope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct User {
    /// Pub/sub/resp permissions.
    #[serde(flatten)]
    pub permissions: JwtPermissions,
    /// Subscriptions this user may hold (-1 = unlimited, 0 = absent).
    pub subs: i64,
    /// Data bytes (-1 = unlimited).
    pub data: i64,
    /// Largest payload (-1 = unlimited).
    pub payload: i64,
    /// CIDRs the user may connect from (comma separated in v2 tokens, or a list).
    #[serde(deserialize_with = "string_or_list")]
    pub src: Vec<String>,
    /// Times of day the user may connect.
    pub times: Vec<serde_json::Value>,
    /// Time zone of `times`.
    pub times_location: String,
    /// No nonce signature needed.
    pub bearer_token: bool,
    /// Must come through a trusted proxy.
    pub proxy_required: bool,
    /// Connection types the user may use (empty = all).
    #[serde(deserialize_with = "null_as_empty")]
    pub allowed_connection_types: Vec<String>,
    /// The account when the token was signed by one of its signing keys.
    pub issuer_account: String,
    /// Type and version.
    #[serde(flatten)]
    pub generic: Generic,
}

impl User {
    /// nats-io/jwt `HasEmptyPermissions`: nothing of its own (what a scoped signer requires).
    pub fn has_empty_permissions(&self) -> bool {
        self.permissions.is_empty()
            && self.subs == 0
            && self.data == 0
            && self.payload == 0
            && self.src.is_empty()
            && self.times.is_empty()
            && self.times_location.is_empty()
            && !self.bearer_token
            && !self.proxy_required
            && self.allowed_connection_types.is_empty()
    }
}

/// An account's signing keys: key -> its user scope (`None` for a plain key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningKeys(pub Vec<(String, Option<UserScope>)>);

/// A scoped signing key: users it signs get `template` instead of their own permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserScope {
    /// `user_scope`.
    pub kind: String,
    /// The signing key.
    pub key: String,
    /// Role name.
    pub role: String,
    /// Permissions and limits of every user the key signs.
    pub template: User,
    /// Description.
    pub description: String,
}

impl SigningKeys {
    /// The scope of `key` if it is one of the keys (`Some(None)` for a plain key).
    pub fn get(&self, key: &str) -> Option<Option<&UserScope>> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.as_ref())
    }
}

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Plain(String),
            Scoped(Box<UserScope>),
        }
        let entries = Option::<Vec<Entry>>::deserialize(d)?.unwrap_or_default();
        let mut keys = Vec::with_capacity(entries.len());
        for e in entries {
            match e {
                Entry::Plain(k) => keys.push((k, None)),
                Entry::Scoped(s) if s.kind == "user_scope" => keys.push((s.key.clone(), Some(*s))),
                Entry::Scoped(s) => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown scope type {:?}",
                        s.kind
                    )))
                }
            }
        }
        Ok(SigningKeys(keys))
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Src {
        One(String),
        List(Vec<String>),
    }
    Ok(match Option::<Src>::deserialize(d)? {
        None => Vec::new(),
        Some(Src::One(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Src::List(l)) => l,
    })
}
