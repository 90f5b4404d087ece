//! `$JS.API` request side: the subject parser and the request bodies of the stream APIs, decoded
//! and checked the way nats-server 2.15.1 does (empty bodies, `null`, strict unknown-field
//! refusal, 10003 combinations), all observed against a live server.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;

use super::errors::{invalid_json_error, JsApiError};
use super::gocompat::serde_go::null_as_default;
use super::gocompat::time::{clamp_unix_nanos, parse_rfc3339_nanos};
use super::stream_config::{check_stream_name_token, StreamConfig};
use super::ResponseType;

/// Prefix of every JetStream API subject.
pub const API_PREFIX: &str = "$JS.API.";

/// A request recognised from its `$JS.API.` subject; names are the raw subject tokens (see
/// `check_stream_name_token` and `StreamConfig::validate` for the name rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRequest<'a> {
    /// `$JS.API.INFO`: account info (body ignored).
    AccountInfo,
    /// `$JS.API.STREAM.CREATE.<stream>`.
    StreamCreate(&'a str),
    /// `$JS.API.STREAM.UPDATE.<stream>`.
    StreamUpdate(&'a str),
    /// `$JS.API.STREAM.INFO.<stream>`.
    StreamInfo(&'a str),
    /// `$JS.API.STREAM.DELETE.<stream>`.
    StreamDelete(&'a str),
    /// `$JS.API.STREAM.PURGE.<stream>`.
    StreamPurge(&'a str),
    /// `$JS.API.STREAM.NAMES`.
    StreamNames,
    /// `$JS.API.STREAM.LIST`.
    StreamList,
    /// `$JS.API.STREAM.MSG.GET.<stream>`.
    StreamMsgGet(&'a str),
    /// `$JS.API.STREAM.MSG.DELETE.<stream>`.
    StreamMsgDelete(&'a str),
    /// `$JS.API.DIRECT.GET.<stream>` (body form) or `...<stream>.<subject...>` (last by subject).
    DirectGet {
        /// Stream name token.
        stream: &'a str,
        /// The subject tokens after the stream, for the subject form.
        subject: Option<&'a str>,
    },
    /// `$JS.API.CONSUMER.<...>`: recognised but not implemented yet (the rest of the subject).
    Consumer(&'a str),
}

impl<'a> ApiRequest<'a> {
    /// Recognises a stream API subject; `None` for anything else (nats-server leaves such
    /// requests unanswered), including wrong token counts like `STREAM.INFO.A.B`.
    pub fn parse(subject: &'a [u8]) -> Option<Self> {
        let subject = std::str::from_utf8(subject).ok()?;
        let rest = subject.strip_prefix(API_PREFIX)?;
        if rest.split('.').any(str::is_empty) {
            return None;
        }
        if rest == "INFO" {
            return Some(Self::AccountInfo);
        }
        if let Some(consumer) = rest.strip_prefix("CONSUMER.") {
            return Some(Self::Consumer(consumer));
        }
        if let Some(direct) = rest.strip_prefix("DIRECT.GET.") {
            return Some(match direct.split_once('.') {
                Some((stream, subject)) => Self::DirectGet {
                    stream,
                    subject: Some(subject),
                },
                None => Self::DirectGet {
                    stream: direct,
                    subject: None,
                },
            });
        }
        let stream_op = rest.strip_prefix("STREAM.")?;
        match stream_op {
            "NAMES" => return Some(Self::StreamNames),
            "LIST" => return Some(Self::StreamList),
            _ => {}
        }
        if let Some(msg_op) = stream_op.strip_prefix("MSG.") {
            let (op, name) = msg_op.split_once('.')?;
            if name.contains('.') {
                return None;
            }
            return match op {
                "GET" => Some(Self::StreamMsgGet(name)),
                "DELETE" => Some(Self::StreamMsgDelete(name)),
                _ => None,
            };
        }
        let (op, name) = stream_op.split_once('.')?;
        if name.contains('.') {
            return None;
        }
        match op {
            "CREATE" => Some(Self::StreamCreate(name)),
            "UPDATE" => Some(Self::StreamUpdate(name)),
            "INFO" => Some(Self::StreamInfo(name)),
            "DELETE" => Some(Self::StreamDelete(name)),
            "PURGE" => Some(Self::StreamPurge(name)),
            _ => None,
        }
    }

    /// The stream the request is about, if any.
    pub fn stream(&self) -> Option<&'a str> {
        match *self {
            Self::StreamCreate(s)
            | Self::StreamUpdate(s)
            | Self::StreamInfo(s)
            | Self::StreamDelete(s)
            | Self::StreamPurge(s)
            | Self::StreamMsgGet(s)
            | Self::StreamMsgDelete(s) => Some(s),
            Self::DirectGet { stream, .. } => Some(stream),
            Self::AccountInfo | Self::StreamNames | Self::StreamList | Self::Consumer(_) => None,
        }
    }

    /// The JSON response type; `None` for direct get (raw message replies) and consumers.
    pub fn response_type(&self) -> Option<ResponseType> {
        Some(match self {
            Self::AccountInfo => ResponseType::AccountInfo,
            Self::StreamCreate(_) => ResponseType::StreamCreate,
            Self::StreamUpdate(_) => ResponseType::StreamUpdate,
            Self::StreamInfo(_) => ResponseType::StreamInfo,
            Self::StreamDelete(_) => ResponseType::StreamDelete,
            Self::StreamPurge(_) => ResponseType::StreamPurge,
            Self::StreamNames => ResponseType::StreamNames,
            Self::StreamList => ResponseType::StreamList,
            Self::StreamMsgGet(_) => ResponseType::StreamMsgGet,
            Self::StreamMsgDelete(_) => ResponseType::StreamMsgDelete,
            Self::DirectGet { .. } | Self::Consumer(_) => return None,
        })
    }
}

/// nats-server's "empty request": no bytes, or a JSON object without members (`{}`, `{ }`).
pub fn is_empty_request(body: &[u8]) -> bool {
    match body.trim_ascii() {
        [] => body.is_empty(),
        [b'{', inner @ .., b'}'] => inner.trim_ascii().is_empty(),
        _ => false,
    }
}

/// Decodes like Go's `json.Unmarshal` into a zero value: `null` (and, as nats-server's strict
/// decoder does, a whitespace-only body) leave every field at its default.
fn decode<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, JsApiError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(T::default());
    }
    if trimmed.starts_with(b"[") {
        // serde would fill a struct from an array; Go refuses it.
        return Err(JsApiError::invalid_json(
            "json: cannot unmarshal array into Go value of an object type",
        ));
    }
    serde_json::from_slice(body).map_err(|e| invalid_json_error(&e))
}

/// Decodes a StreamConfig body (no normalisation); an empty body is a config without a name.
pub fn parse_stream_config(body: &[u8]) -> Result<StreamConfig, JsApiError> {
    decode(body)
}

/// STREAM.CREATE request handling up to the stateful checks, in nats-server's order:
/// [`prepare_create_head`], then [`finish_create`]. The meta core runs the account's limit
/// checks between the two (streams, consumers, memory: nats-server checks those before
/// validating the config) and the file storage limit after them. The caller then checks
/// existing streams (identical ⇒ `did_create` again, different ⇒ 10058) and subject overlap
/// (10065).
pub fn prepare_create(stream: &str, body: &[u8]) -> Result<StreamConfig, JsApiError> {
    finish_create(prepare_create_head(stream, body)?)
}

/// The checks of a STREAM.CREATE before the account limits: decoding (10025), name mismatch
/// (10056), path separators (10128), the create-only refusal of `sealed`, `mirror_direct`
/// without a mirror. The config is not normalised yet.
pub fn prepare_create_head(stream: &str, body: &[u8]) -> Result<StreamConfig, JsApiError> {
    let cfg = parse_stream_config(body)?;
    if cfg.name != stream {
        return Err(JsApiError::stream_name_mismatch());
    }
    check_stream_name_token(stream)?;
    if cfg.sealed {
        return Err(JsApiError::stream_invalid_config(
            "stream configuration for create can not be sealed",
        ));
    }
    if cfg.mirror_direct && cfg.mirror.is_none() {
        return Err(JsApiError::stream_invalid_config(
            "stream has no mirror but does have mirror direct",
        ));
    }
    Ok(cfg)
}

/// The rest of a STREAM.CREATE's stateless checks: normalisation and validation
/// (10052/10133/10074) and natrix's refusal of the features it lacks (10052,
/// `StreamConfig::check_supported`).
pub fn finish_create(mut cfg: StreamConfig) -> Result<StreamConfig, JsApiError> {
    cfg.normalize();
    cfg.validate()?;
    cfg.check_supported()?;
    Ok(cfg)
}

/// STREAM.UPDATE request handling up to the stateful checks. Unlike create, nats-server
/// validates the config (10052, including a missing or path-like name) before comparing names
/// (10056), and checks replicas (10074) and natrix's unsupported features (10052) after that. The caller then looks the stream up (10059), runs `StreamConfig::validate_update`
/// and checks overlap (10065).
pub fn prepare_update(stream: &str, body: &[u8]) -> Result<StreamConfig, JsApiError> {
    let mut cfg = parse_stream_config(body)?;
    cfg.normalize();
    cfg.validate_config()?;
    if cfg.name != stream {
        return Err(JsApiError::stream_name_mismatch());
    }
    cfg.check_replicas_supported()?;
    cfg.check_supported()?;
    Ok(cfg)
}

/// A per-stream request with its body decoded ([`ApiRequest::decode_stream_body`]): what
/// the owner's handlers take instead of raw bytes.
#[derive(Debug)]
pub enum StreamRequest {
    /// STREAM.CREATE (on the owner: the idempotent repeat), after [`prepare_create`].
    Create(Box<StreamConfig>),
    /// STREAM.UPDATE, after [`prepare_update`].
    Update(Box<StreamConfig>),
    /// STREAM.INFO.
    Info(StreamInfoRequest),
    /// STREAM.DELETE (an empty body).
    Delete,
    /// STREAM.PURGE.
    Purge(StreamPurgeRequest),
    /// STREAM.MSG.GET.
    MsgGet(MsgGetQuery),
    /// STREAM.MSG.DELETE.
    MsgDelete(MsgDeleteRequest),
}

impl ApiRequest<'_> {
    /// Decodes the body of a per-stream request (create, update, info, delete, purge, msg
    /// get/delete) with the checks nats-server makes before looking at the stream's state;
    /// `None` for the other requests.
    pub fn decode_stream_body(&self, body: &[u8]) -> Option<Result<StreamRequest, JsApiError>> {
        Some(match *self {
            Self::StreamCreate(name) => {
                prepare_create(name, body).map(|c| StreamRequest::Create(Box::new(c)))
            }
            Self::StreamUpdate(name) => {
                prepare_update(name, body).map(|c| StreamRequest::Update(Box::new(c)))
            }
            Self::StreamInfo(_) => StreamInfoRequest::parse(body).map(StreamRequest::Info),
            Self::StreamDelete(_) => check_delete_body(body).map(|()| StreamRequest::Delete),
            Self::StreamPurge(_) => StreamPurgeRequest::parse(body).map(StreamRequest::Purge),
            Self::StreamMsgGet(_) => parse_msg_get(body).map(StreamRequest::MsgGet),
            Self::StreamMsgDelete(_) => MsgDeleteRequest::parse(body).map(StreamRequest::MsgDelete),
            _ => return None,
        })
    }
}

/// A consumer API request with its body decoded ([`decode_consumer_body`]): what the
/// owner's consumer handlers take instead of raw bytes.
#[derive(Debug)]
pub enum ConsumerRequest {
    /// CONSUMER.CREATE / DURABLE.CREATE.
    Create(Box<crate::jetstream::consumer_api::ConsumerCreateRequest>),
    /// CONSUMER.INFO (empty request only, else 10038).
    Info,
    /// CONSUMER.DELETE (empty request only, else 10038).
    Delete,
    /// CONSUMER.PAUSE: pause until this time (unix ns), or resume (`None`).
    Pause(Option<u64>),
    /// CONSUMER.RESET: to the ack floor, a sequence or (natrix) a time.
    Reset(crate::jetstream::consumer_reset::ResetRequest),
    /// CONSUMER.UNPIN: the priority group whose pin goes.
    Unpin(String),
    /// CONSUMER.NAMES / CONSUMER.LIST paging.
    Listing(crate::jetstream::consumer_api::ListRequest),
    /// MSG.NEXT reaching the API handler (answered by the consumer's own subscription).
    MsgNext,
}

/// Decodes the body of a consumer API request, as nats-server does before it looks at the
/// consumer.
pub fn decode_consumer_body(
    api: &crate::jetstream::consumer_api::ConsumerApi<'_>,
    body: &[u8],
) -> Result<ConsumerRequest, JsApiError> {
    use crate::jetstream::consumer_api::{
        check_consumer_empty_body, parse_consumer_create, parse_pause_request, ConsumerApi,
        ListRequest,
    };
    Ok(match api {
        ConsumerApi::Create { .. } | ConsumerApi::DurableCreate { .. } => {
            ConsumerRequest::Create(Box::new(parse_consumer_create(api, body)?))
        }
        ConsumerApi::Info { .. } => {
            check_consumer_empty_body(body)?;
            ConsumerRequest::Info
        }
        ConsumerApi::Delete { .. } => {
            check_consumer_empty_body(body)?;
            ConsumerRequest::Delete
        }
        ConsumerApi::Pause { .. } => ConsumerRequest::Pause(parse_pause_request(body)),
        ConsumerApi::Reset { .. } => {
            ConsumerRequest::Reset(crate::jetstream::consumer_reset::ResetRequest::parse(body)?)
        }
        ConsumerApi::Unpin { .. } => {
            ConsumerRequest::Unpin(crate::jetstream::consumer_unpin::parse_unpin_request(body)?)
        }
        ConsumerApi::Names { .. } | ConsumerApi::List { .. } => {
            ConsumerRequest::Listing(ListRequest::parse(body)?)
        }
        ConsumerApi::MsgNext { .. } => ConsumerRequest::MsgNext,
    })
}

/// STREAM.DELETE takes no body: anything but an empty request is 10038.
pub fn check_delete_body(body: &[u8]) -> Result<(), JsApiError> {
    if is_empty_request(body) {
        Ok(())
    } else {
        Err(JsApiError::not_empty_request())
    }
}

/// Decodes an optional RFC 3339 time into clamped Unix nanoseconds.
fn optional_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => parse_rfc3339_nanos(&text)
            .map(|ns| Some(clamp_unix_nanos(ns)))
            .map_err(serde::de::Error::custom),
    }
}

/// STREAM.INFO body: `{"subjects_filter","deleted_details","offset"}` (async-nats always sends
/// all three, with `""` for no filter).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamInfoRequest {
    /// Subjects whose counts to report (`state.subjects`); empty = none.
    #[serde(deserialize_with = "null_as_default")]
    pub subjects_filter: String,
    /// Include `state.deleted`.
    #[serde(deserialize_with = "null_as_default")]
    pub deleted_details: bool,
    /// Paging offset into the subject map.
    #[serde(deserialize_with = "null_as_default")]
    pub offset: u64,
}

impl StreamInfoRequest {
    /// Decodes the body (empty/`null` = defaults; unknown fields ⇒ 10025).
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        decode(body)
    }

    /// The subject filter, when one was asked for.
    pub fn subjects_filter(&self) -> Option<&str> {
        (!self.subjects_filter.is_empty()).then_some(self.subjects_filter.as_str())
    }
}

/// STREAM.NAMES and STREAM.LIST body: `{"offset","subject"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamListRequest {
    /// Paging offset.
    #[serde(deserialize_with = "null_as_default")]
    pub offset: u64,
    /// Only streams whose subjects intersect this filter (`StreamConfig::subjects_intersect`).
    #[serde(deserialize_with = "null_as_default")]
    pub subject: String,
}

impl StreamListRequest {
    /// Decodes the body (empty/`null` = defaults; unknown fields ⇒ 10025).
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        decode(body)
    }

    /// The subject filter, when one was given.
    pub fn subject_filter(&self) -> Option<&str> {
        (!self.subject.is_empty()).then_some(self.subject.as_str())
    }
}

/// STREAM.PURGE body: `{"filter","seq","keep"}`; empty = purge everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamPurgeRequest {
    /// Only subjects matching this (wildcards allowed); empty = all.
    #[serde(deserialize_with = "null_as_default")]
    pub filter: String,
    /// Purge everything below this sequence (0 = no bound).
    #[serde(deserialize_with = "null_as_default")]
    pub seq: u64,
    /// Keep the newest N matching messages in total (0 = keep none).
    #[serde(deserialize_with = "null_as_default")]
    pub keep: u64,
}

impl StreamPurgeRequest {
    /// Decodes the body; `seq` together with `keep` ⇒ 10003.
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        let req: Self = decode(body)?;
        if req.seq > 0 && req.keep > 0 {
            return Err(JsApiError::bad_request());
        }
        Ok(req)
    }

    /// The subject filter, when one was given.
    pub fn filter(&self) -> Option<&str> {
        (!self.filter.is_empty()).then_some(self.filter.as_str())
    }
}

/// STREAM.MSG.DELETE body: `{"seq","no_erase"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MsgDeleteRequest {
    /// Sequence to delete.
    #[serde(deserialize_with = "null_as_default")]
    pub seq: u64,
    /// Delete without overwriting the record on disk.
    #[serde(deserialize_with = "null_as_default")]
    pub no_erase: bool,
}

impl MsgDeleteRequest {
    /// Decodes the body: empty request (no bytes, `{}`) ⇒ 10003; `null`/whitespace give seq 0.
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        if is_empty_request(body) {
            return Err(JsApiError::bad_request());
        }
        decode(body)
    }
}

/// Fields shared by STREAM.MSG.GET and DIRECT.GET bodies (nats-server's `JSApiMsgGetRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
struct MsgGetFields {
    #[serde(deserialize_with = "null_as_default")]
    seq: u64,
    #[serde(deserialize_with = "null_as_default")]
    last_by_subj: String,
    #[serde(deserialize_with = "null_as_default")]
    next_by_subj: String,
    #[serde(deserialize_with = "null_as_default")]
    batch: i64,
    #[serde(deserialize_with = "null_as_default")]
    max_bytes: i64,
    #[serde(deserialize_with = "optional_time")]
    start_time: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    multi_last: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    up_to_seq: u64,
    #[serde(deserialize_with = "optional_time")]
    up_to_time: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    no_hdr: bool,
}

/// The same fields, refusing unknown keys (STREAM.MSG.GET is strict; DIRECT.GET is not).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StrictMsgGetFields {
    #[serde(deserialize_with = "null_as_default")]
    seq: u64,
    #[serde(deserialize_with = "null_as_default")]
    last_by_subj: String,
    #[serde(deserialize_with = "null_as_default")]
    next_by_subj: String,
    #[serde(deserialize_with = "null_as_default")]
    batch: i64,
    #[serde(deserialize_with = "null_as_default")]
    max_bytes: i64,
    #[serde(deserialize_with = "optional_time")]
    start_time: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    multi_last: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    up_to_seq: u64,
    #[serde(deserialize_with = "optional_time")]
    up_to_time: Option<u64>,
    #[serde(deserialize_with = "null_as_default")]
    no_hdr: bool,
}

impl From<StrictMsgGetFields> for MsgGetFields {
    fn from(s: StrictMsgGetFields) -> Self {
        Self {
            seq: s.seq,
            last_by_subj: s.last_by_subj,
            next_by_subj: s.next_by_subj,
            batch: s.batch,
            max_bytes: s.max_bytes,
            start_time: s.start_time,
            multi_last: s.multi_last,
            up_to_seq: s.up_to_seq,
            up_to_time: s.up_to_time,
            no_hdr: s.no_hdr,
        }
    }
}

/// Which stored message(s) a get asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgQuery {
    /// Exactly this sequence.
    Seq(u64),
    /// The last message whose subject matches (wildcards allowed).
    LastBySubject(String),
    /// The first message at or after `from_seq` whose subject matches (wildcards allowed).
    NextBySubject {
        /// Subject filter.
        subject: String,
        /// Lowest sequence to consider (0 = from the start).
        from_seq: u64,
    },
    /// The first message stored at or after `start_ns`, optionally matching `subject`.
    FirstAtTime {
        /// Unix nanoseconds (client times before 1970 clamp to 0).
        start_ns: u64,
        /// Subject filter, when `next_by_subj` was also given.
        subject: Option<String>,
    },
    /// Direct get only: the last message of each subject, bounded by sequence/time.
    MultiLast {
        /// Subject filters.
        subjects: Vec<String>,
        /// Highest sequence to consider (0 = no bound).
        up_to_seq: u64,
        /// Latest time to consider.
        up_to_ns: Option<u64>,
    },
}

impl MsgGetFields {
    /// The lookup asked for; `multi_last` only counts for direct get (MSG.GET ignores it).
    fn query(&self, direct: bool) -> MsgQuery {
        if direct && !self.multi_last.is_empty() {
            MsgQuery::MultiLast {
                subjects: self.multi_last.clone(),
                up_to_seq: self.up_to_seq,
                up_to_ns: self.up_to_time,
            }
        } else if let Some(start_ns) = self.start_time {
            MsgQuery::FirstAtTime {
                start_ns,
                subject: (!self.next_by_subj.is_empty()).then(|| self.next_by_subj.clone()),
            }
        } else if !self.last_by_subj.is_empty() {
            MsgQuery::LastBySubject(self.last_by_subj.clone())
        } else if !self.next_by_subj.is_empty() {
            MsgQuery::NextBySubject {
                subject: self.next_by_subj.clone(),
                from_seq: self.seq,
            }
        } else {
            MsgQuery::Seq(self.seq)
        }
    }

    /// Combinations both get APIs refuse.
    fn conflicting(&self) -> bool {
        let last = !self.last_by_subj.is_empty();
        let next = !self.next_by_subj.is_empty();
        // `last_by_subj` excludes `seq` and `next_by_subj`; `start_time` excludes `seq` and `last_by_subj`.
        (last && (self.seq > 0 || next)) || (self.start_time.is_some() && (self.seq > 0 || last))
    }
}

/// A decoded STREAM.MSG.GET request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgGetQuery {
    /// What to look up.
    pub query: MsgQuery,
    /// Leave `hdrs` out of the reply.
    pub no_hdr: bool,
}

/// Decodes a STREAM.MSG.GET body. 10003 for: nothing selected (empty body, `{}`, `null`, seq
/// 0), `seq`+`last_by_subj`, `last_by_subj`+`next_by_subj`, `start_time` with `seq` or
/// `last_by_subj`, and `batch`/`max_bytes`; `multi_last` is ignored; 10025 for bad JSON.
pub fn parse_msg_get(body: &[u8]) -> Result<MsgGetQuery, JsApiError> {
    if is_empty_request(body) {
        return Err(JsApiError::bad_request());
    }
    let req: MsgGetFields = decode::<StrictMsgGetFields>(body)?.into();
    let nothing = req.seq == 0
        && req.last_by_subj.is_empty()
        && req.next_by_subj.is_empty()
        && req.start_time.is_none();
    if nothing || req.conflicting() || req.batch > 0 || req.max_bytes > 0 {
        return Err(JsApiError::bad_request());
    }
    Ok(MsgGetQuery {
        query: req.query(false),
        no_hdr: req.no_hdr,
    })
}

/// Why a direct get is answered with a status-only message instead of the stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectGetError {
    /// No message at the requested position (also deleted sequences).
    #[error("404 Message Not Found")]
    NotFound,
    /// Body form without a body, or selecting nothing.
    #[error("408 Empty Request")]
    EmptyRequest,
    /// Body is not valid JSON for the request.
    #[error("408 Malformed Request")]
    MalformedRequest,
    /// Conflicting fields, or a subject-form body that selects something itself.
    #[error("408 Bad Request")]
    BadRequest,
}

impl DirectGetError {
    /// The complete header block of the status reply (sent with an empty payload).
    pub fn status_headers(self) -> &'static [u8] {
        match self {
            Self::NotFound => b"NATS/1.0 404 Message Not Found\r\n\r\n",
            Self::EmptyRequest => b"NATS/1.0 408 Empty Request\r\n\r\n",
            Self::MalformedRequest => b"NATS/1.0 408 Malformed Request\r\n\r\n",
            Self::BadRequest => b"NATS/1.0 408 Bad Request\r\n\r\n",
        }
    }
}

/// A decoded DIRECT.GET request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectGetQuery {
    /// What to look up.
    pub query: MsgQuery,
    /// Batch size; 0 = a single reply without `Nats-Num-Pending`/`Nats-Last-Sequence` and no EOB.
    pub batch: u64,
    /// Byte cap for a batch (0 = none).
    pub max_bytes: u64,
    /// Reply with the payload only, no headers at all.
    pub no_hdr: bool,
}

fn decode_direct(body: &[u8]) -> Result<MsgGetFields, DirectGetError> {
    // Go's plain json.Unmarshal: `null` is a zero request, whitespace alone is malformed.
    match body.trim_ascii() {
        b"null" => return Ok(MsgGetFields::default()),
        [b'[', ..] => return Err(DirectGetError::MalformedRequest),
        _ => {}
    }
    serde_json::from_slice(body).map_err(|_| DirectGetError::MalformedRequest)
}

/// Decodes a DIRECT.GET request as nats-server 2.15.1 answers it. `subject` is the tail of the
/// subject form (`$JS.API.DIRECT.GET.<stream>.<subject>`): its body must be empty or select
/// nothing itself (`{}`, `{"no_hdr":true}`). Unknown JSON fields are ignored here.
pub fn parse_direct_get(
    subject: Option<&str>,
    body: &[u8],
) -> Result<DirectGetQuery, DirectGetError> {
    if let Some(subject) = subject {
        let no_hdr = if body.is_empty() {
            false
        } else {
            let req = decode_direct(body)?;
            if req.seq > 0
                || !req.last_by_subj.is_empty()
                || !req.next_by_subj.is_empty()
                || req.batch > 0
                || req.start_time.is_some()
                || !req.multi_last.is_empty()
                || req.up_to_seq > 0
                || req.up_to_time.is_some()
            {
                return Err(DirectGetError::BadRequest);
            }
            req.no_hdr
        };
        return Ok(DirectGetQuery {
            query: MsgQuery::LastBySubject(subject.to_owned()),
            batch: 0,
            max_bytes: 0,
            no_hdr,
        });
    }
    if body.is_empty() {
        return Err(DirectGetError::EmptyRequest);
    }
    let req = decode_direct(body)?;
    if req.seq == 0
        && req.last_by_subj.is_empty()
        && req.next_by_subj.is_empty()
        && req.multi_last.is_empty()
        && req.start_time.is_none()
    {
        return Err(DirectGetError::EmptyRequest);
    }
    let by_subject = !req.last_by_subj.is_empty() || !req.next_by_subj.is_empty();
    if req.conflicting()
        || (req.batch > 0 && !req.last_by_subj.is_empty())
        || (!req.multi_last.is_empty() && by_subject)
    {
        return Err(DirectGetError::BadRequest);
    }
    Ok(DirectGetQuery {
        query: req.query(true),
        batch: u64::try_from(req.batch).unwrap_or(0),
        max_bytes: u64::try_from(req.max_bytes).unwrap_or(0),
        no_hdr: req.no_hdr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_api_subjects() {
        fn p(s: &str) -> Option<ApiRequest<'_>> {
            ApiRequest::parse(s.as_bytes())
        }
        assert_eq!(p("$JS.API.INFO"), Some(ApiRequest::AccountInfo));
        assert_eq!(
            p("$JS.API.STREAM.CREATE.S1"),
            Some(ApiRequest::StreamCreate("S1"))
        );
        assert_eq!(
            p("$JS.API.STREAM.UPDATE.S1"),
            Some(ApiRequest::StreamUpdate("S1"))
        );
        assert_eq!(
            p("$JS.API.STREAM.INFO.S1"),
            Some(ApiRequest::StreamInfo("S1"))
        );
        assert_eq!(
            p("$JS.API.STREAM.DELETE.S1"),
            Some(ApiRequest::StreamDelete("S1"))
        );
        assert_eq!(
            p("$JS.API.STREAM.PURGE.S1"),
            Some(ApiRequest::StreamPurge("S1"))
        );
        assert_eq!(p("$JS.API.STREAM.NAMES"), Some(ApiRequest::StreamNames));
        assert_eq!(p("$JS.API.STREAM.LIST"), Some(ApiRequest::StreamList));
        assert_eq!(
            p("$JS.API.STREAM.MSG.GET.S1"),
            Some(ApiRequest::StreamMsgGet("S1"))
        );
        assert_eq!(
            p("$JS.API.STREAM.MSG.DELETE.S1"),
            Some(ApiRequest::StreamMsgDelete("S1"))
        );
        // A stream may be called MSG, NAMES, ...
        assert_eq!(
            p("$JS.API.STREAM.INFO.MSG"),
            Some(ApiRequest::StreamInfo("MSG"))
        );
        assert_eq!(
            p("$JS.API.STREAM.CREATE.NAMES"),
            Some(ApiRequest::StreamCreate("NAMES"))
        );
        assert_eq!(
            p("$JS.API.DIRECT.GET.KV_b"),
            Some(ApiRequest::DirectGet {
                stream: "KV_b",
                subject: None
            })
        );
        assert_eq!(
            p("$JS.API.DIRECT.GET.KV_b.$KV.b.key.x"),
            Some(ApiRequest::DirectGet {
                stream: "KV_b",
                subject: Some("$KV.b.key.x")
            })
        );
        assert_eq!(
            p("$JS.API.CONSUMER.CREATE.S1.C1"),
            Some(ApiRequest::Consumer("CREATE.S1.C1"))
        );
        // Wildcard names are structural matches (nats-server answers STREAM.INFO.* with 10059).
        assert_eq!(
            p("$JS.API.STREAM.INFO.*"),
            Some(ApiRequest::StreamInfo("*"))
        );
        for bad in [
            "$JS.API",
            "$JS.API.",
            "$JS.API.INFO.X",
            "$JS.API.FOO",
            "$JS.API.FOO.BAR",
            "$JS.API.STREAM",
            "$JS.API.STREAM.CREATE",
            "$JS.API.STREAM.CREATE.B.D",
            "$JS.API.STREAM.INFO.R1.x",
            "$JS.API.STREAM.NAMES.X",
            "$JS.API.STREAM.MSG.GET",
            "$JS.API.STREAM.MSG.GET.A.B",
            "$JS.API.STREAM.MSG.PUT.A",
            "$JS.API.STREAM.SNAPSHOT.A",
            "$JS.API.STREAM.INFO.",
            "$JS.API.STREAM..INFO",
            "$JS.API.DIRECT.GET",
            "$JS.API.DIRECT.GET.",
            "$JS.API.DIRECT.GET.S.",
            "$JS.API.CONSUMER",
            "$JS.APIX.INFO",
            "JS.API.INFO",
            "orders.new",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(ApiRequest::parse(b"$JS.API.STREAM.INFO.\xff"), None);
    }

    #[test]
    fn request_accessors() {
        let r = ApiRequest::parse(b"$JS.API.STREAM.PURGE.P1").unwrap();
        assert_eq!(r.stream(), Some("P1"));
        assert_eq!(r.response_type(), Some(ResponseType::StreamPurge));
        let d = ApiRequest::parse(b"$JS.API.DIRECT.GET.P1.a").unwrap();
        assert_eq!((d.stream(), d.response_type()), (Some("P1"), None));
        assert_eq!(ApiRequest::AccountInfo.stream(), None);
        assert_eq!(
            ApiRequest::AccountInfo.response_type(),
            Some(ResponseType::AccountInfo)
        );
    }

    #[test]
    fn empty_request_detection() {
        for empty in [&b""[..], b"{}", b"{ }", b" {} ", b"\n{\t}\r\n"] {
            assert!(is_empty_request(empty), "{empty:?}");
        }
        for not_empty in [&b" "[..], b"null", b"{\"a\":1}", b"[]", b"{"] {
            assert!(!is_empty_request(not_empty), "{not_empty:?}");
        }
    }

    #[test]
    fn create_and_update_preparation() {
        let ok = prepare_create("S1", br#"{"name":"S1"}"#).unwrap();
        assert_eq!(ok.subjects, vec!["S1".to_owned()]);
        let code = |r: Result<StreamConfig, JsApiError>| r.unwrap_err().err_code;
        // Observed on nats-server 2.15.1:
        assert_eq!(code(prepare_create("S2", b"")), 10056);
        assert_eq!(code(prepare_create("S2", b" ")), 10056);
        assert_eq!(code(prepare_create("S2", b"null")), 10056);
        assert_eq!(code(prepare_create("S2", b"{}")), 10056);
        assert_eq!(code(prepare_create("S2", br#"{"name":null}"#)), 10056);
        assert_eq!(code(prepare_create("S2", br#"{"name":"S3"}"#)), 10056);
        assert_eq!(code(prepare_create("a/b", br#"{"name":"a/b"}"#)), 10128);
        assert_eq!(code(prepare_create("a\\b", br#"{"name":"a\\b"}"#)), 10128);
        assert_eq!(code(prepare_create("a/b", br#"{"name":"zz"}"#)), 10056);
        assert_eq!(code(prepare_create("a/b", b"{")), 10025);
        assert_eq!(code(prepare_update("a/b", br#"{"name":"a/b"}"#)), 10052);
        assert_eq!(code(prepare_update("a/b", br#"{"name":"zz"}"#)), 10056);
        let sealed_first = prepare_create("O1", br#"{"name":"O1","sealed":true,"max_age":-1}"#);
        assert_eq!(
            sealed_first.unwrap_err().description,
            "stream configuration for create can not be sealed"
        );
        assert_eq!(
            code(prepare_create("O1", br#"{"name":"O2","sealed":true}"#)),
            10056
        );
        assert_eq!(code(prepare_create("S*", br#"{"name":"S*"}"#)), 10052);
        assert_eq!(code(prepare_create("S2", b"{")), 10025);
        assert_eq!(code(prepare_create("S2", br#"{"name":"S2","x":1}"#)), 10025);
        assert_eq!(
            code(prepare_create(
                "S2",
                br#"{"name":"S2","template_owner":"x"}"#
            )),
            10025
        );
        assert_eq!(
            code(prepare_create("S2", br#"{"name":"S2","num_replicas":3}"#)),
            10074
        );
        let sealed = prepare_create("S7", br#"{"name":"S7","sealed":true}"#).unwrap_err();
        assert_eq!(
            sealed.description,
            "stream configuration for create can not be sealed"
        );
        // Update validates before comparing names.
        assert_eq!(code(prepare_update("R1", b"")), 10052);
        assert_eq!(code(prepare_update("R1", b"{}")), 10052);
        assert_eq!(code(prepare_update("R1", br#"{"name":"R*"}"#)), 10052);
        let e = prepare_update("R1", br#"{"name":"R3","max_age":-1}"#).unwrap_err();
        assert_eq!(e.description, "max age can not be negative");
        assert_eq!(code(prepare_update("R1", br#"{"name":"R3"}"#)), 10056);
        assert_eq!(
            code(prepare_update("R1", br#"{"name":"R3","num_replicas":3}"#)),
            10056
        );
        assert_eq!(
            code(prepare_update("R1", br#"{"name":"R1","num_replicas":3}"#)),
            10074
        );
        assert_eq!(
            code(prepare_update("R1", br#"{"name":"R1","qq":1}"#)),
            10025
        );
        assert!(prepare_update("R1", br#"{"name":"R1","sealed":true}"#).is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_enums_match_go_wording() {
        let d = |body: &str| {
            parse_stream_config(body.as_bytes())
                .unwrap_err()
                .description
        };
        assert_eq!(
            d(r#"{"name":"S2","x":1}"#),
            r#"invalid JSON: json: unknown field "x""#
        );
        assert_eq!(
            d(r#"{"name":"S2","placement":{"zone":1}}"#),
            r#"invalid JSON: json: unknown field "zone""#
        );
        assert_eq!(
            d(r#"{"name":"S2","storage":"disk"}"#),
            r#"invalid JSON: can not unmarshal "\"disk\"""#
        );
        assert_eq!(
            d(r#"{"name":"S2","discard":"newest"}"#),
            r#"invalid JSON: can not unmarshal "\"newest\"""#
        );
        assert_eq!(
            d(r#"{"name":"S2","retention":1}"#),
            r#"invalid JSON: can not unmarshal "1""#
        );
        assert_eq!(
            d(r#"{"name":"S2","storage":0}"#),
            r#"invalid JSON: can not unmarshal "0""#
        );
        assert_eq!(
            d(r#"{"name":"S2","retention":null}"#),
            r#"invalid JSON: can not unmarshal "null""#
        );
        assert_eq!(
            d(r#"{"name":"S2","persist_mode":"fast"}"#),
            r#"invalid JSON: can not unmarshal "\"fast\"""#
        );
        assert_eq!(
            d(r#"{"name":"S2","compression":"zstd"}"#),
            "invalid JSON: unknown compression algorithm"
        );
        assert_eq!(d("{"), "invalid JSON: unexpected EOF");
        // Go refuses these as type errors (texts differ; the code is what clients use).
        for body in [
            r#"{"name":5}"#,
            r#"{"name":"S","subjects":"a"}"#,
            r#"{"name":"S","metadata":{"a":1}}"#,
            r#"{"name":"S","max_age":1.5}"#,
            r#"{"name":"S","max_msgs":1e30}"#,
            r#"{"name":"S","max_msg_size":3000000000}"#,
            r#"{"name":"S","sealed":"true"}"#,
            r#"{"name":"S","max_msgs":"5"}"#,
            r#"{"name":"S","first_seq":-1}"#,
            r#"{"name":"S"} x"#,
            "[1]",
            r#"{"name":"S",}"#,
        ] {
            let e = parse_stream_config(body.as_bytes()).unwrap_err();
            assert_eq!(e.err_code, 10025, "{body}");
            assert!(e.description.starts_with("invalid JSON: "), "{body}");
        }
        // Go accepts null for plain fields.
        let cfg = parse_stream_config(
            br#"{"name":"Z9","max_msgs":null,"subjects":null,"consumer_limits":null,"metadata":null,"placement":null}"#,
        )
        .unwrap();
        assert_eq!(
            (cfg.max_msgs, cfg.subjects.len(), cfg.placement),
            (0, 0, None)
        );
    }

    #[test]
    fn info_names_purge_bodies() {
        assert_eq!(
            StreamInfoRequest::parse(b"").unwrap(),
            StreamInfoRequest::default()
        );
        assert_eq!(
            StreamInfoRequest::parse(b" ").unwrap(),
            StreamInfoRequest::default()
        );
        assert_eq!(
            StreamInfoRequest::parse(b"null").unwrap(),
            StreamInfoRequest::default()
        );
        // What async-nats sends on every info call.
        let r = StreamInfoRequest::parse(
            br#"{"offset":0,"deleted_details":false,"subjects_filter":""}"#,
        )
        .unwrap();
        assert_eq!(r.subjects_filter(), None);
        let r = StreamInfoRequest::parse(
            br#"{"subjects_filter":">","deleted_details":true,"offset":1}"#,
        )
        .unwrap();
        assert_eq!(
            (r.subjects_filter(), r.deleted_details, r.offset),
            (Some(">"), true, 1)
        );
        assert_eq!(
            StreamInfoRequest::parse(br#"{"x":1}"#)
                .unwrap_err()
                .description,
            r#"invalid JSON: json: unknown field "x""#
        );
        assert_eq!(StreamInfoRequest::parse(b"{").unwrap_err().err_code, 10025);

        let n = StreamListRequest::parse(br#"{"subject":"f1.x","offset":1}"#).unwrap();
        assert_eq!((n.subject_filter(), n.offset), (Some("f1.x"), 1));
        assert_eq!(
            StreamListRequest::parse(b"").unwrap().subject_filter(),
            None
        );
        // nats-py's list request.
        assert_eq!(
            StreamListRequest::parse(br#"{"offset":0}"#).unwrap().offset,
            0
        );
        assert_eq!(
            StreamListRequest::parse(br#"{"x":1}"#)
                .unwrap_err()
                .err_code,
            10025
        );

        for all in [&b""[..], b"{}", b"null", b" "] {
            assert_eq!(
                StreamPurgeRequest::parse(all).unwrap(),
                StreamPurgeRequest::default()
            );
        }
        let p = StreamPurgeRequest::parse(br#"{"filter":"ra.*","keep":1}"#).unwrap();
        assert_eq!((p.filter(), p.keep, p.seq), (Some("ra.*"), 1, 0));
        assert_eq!(
            StreamPurgeRequest::parse(br#"{"seq":3,"keep":1}"#)
                .unwrap_err()
                .err_code,
            10003
        );
        assert_eq!(
            StreamPurgeRequest::parse(br#"{"zz":1}"#)
                .unwrap_err()
                .err_code,
            10025
        );
        assert_eq!(
            StreamPurgeRequest::parse(b"{").unwrap_err().description,
            "invalid JSON: unexpected EOF"
        );
    }

    #[test]
    fn msg_delete_bodies() {
        assert_eq!(MsgDeleteRequest::parse(br#"{"seq":2}"#).unwrap().seq, 2);
        let r = MsgDeleteRequest::parse(br#"{"seq":3,"no_erase":true}"#).unwrap();
        assert!(r.no_erase);
        for bad in [&b""[..], b"{}", b"{ }"] {
            assert_eq!(MsgDeleteRequest::parse(bad).unwrap_err().err_code, 10003);
        }
        // These reach the store with seq 0 (10057 `no message found` there).
        for zero in [&b"null"[..], b"  ", br#"{"seq":null}"#, br#"{"seq":0}"#] {
            assert_eq!(MsgDeleteRequest::parse(zero).unwrap().seq, 0);
        }
        assert_eq!(
            MsgDeleteRequest::parse(br#"{"seq":4,"zz":1}"#)
                .unwrap_err()
                .err_code,
            10025
        );
        assert_eq!(check_delete_body(b""), Ok(()));
        assert_eq!(check_delete_body(b"{}"), Ok(()));
        for bad in [&b"null"[..], b" ", br#"{"a":1}"#] {
            assert_eq!(check_delete_body(bad).unwrap_err().err_code, 10038);
        }
    }

    #[test]
    fn msg_get_bodies() {
        let q = |body: &str| parse_msg_get(body.as_bytes());
        assert_eq!(q(r#"{"seq":1}"#).unwrap().query, MsgQuery::Seq(1));
        assert_eq!(
            q(r#"{"last_by_subj":"m1.*"}"#).unwrap().query,
            MsgQuery::LastBySubject("m1.*".into())
        );
        assert_eq!(
            q(r#"{"next_by_subj":"m1.a","seq":2}"#).unwrap().query,
            MsgQuery::NextBySubject {
                subject: "m1.a".into(),
                from_seq: 2
            }
        );
        // nats-py's get_msg(next=True) without seq sends "seq": null.
        assert_eq!(
            q(r#"{"seq":null,"next_by_subj":"m1.a"}"#).unwrap().query,
            MsgQuery::NextBySubject {
                subject: "m1.a".into(),
                from_seq: 0
            }
        );
        assert_eq!(
            q(r#"{"start_time":"1970-01-01T00:00:01Z"}"#).unwrap().query,
            MsgQuery::FirstAtTime {
                start_ns: 1_000_000_000,
                subject: None
            }
        );
        assert_eq!(
            q(r#"{"start_time":"2020-01-01T00:00:00Z","next_by_subj":"g1.b"}"#)
                .unwrap()
                .query,
            MsgQuery::FirstAtTime {
                start_ns: 1_577_836_800_000_000_000,
                subject: Some("g1.b".into())
            }
        );
        let no_hdr = q(r#"{"seq":1,"no_hdr":true,"up_to_seq":2}"#).unwrap();
        assert_eq!((no_hdr.query, no_hdr.no_hdr), (MsgQuery::Seq(1), true));
        // 10003 cases observed on nats-server 2.15.1.
        for bad in [
            "",
            " ",
            "null",
            "{}",
            "{ }",
            r#"{"seq":0}"#,
            r#"{"seq":1,"last_by_subj":"m1.a"}"#,
            r#"{"next_by_subj":"m1.a","last_by_subj":"m1.a"}"#,
            r#"{"seq":1,"batch":2}"#,
            r#"{"seq":1,"max_bytes":2}"#,
            r#"{"multi_last":["g1.a"]}"#,
            r#"{"multi_last":["g1.a"],"up_to_seq":2}"#,
            r#"{"start_time":"2020-01-01T00:00:00Z","seq":2}"#,
            r#"{"start_time":"2020-01-01T00:00:00Z","last_by_subj":"g1.b"}"#,
        ] {
            assert_eq!(q(bad).unwrap_err(), JsApiError::bad_request(), "{bad:?}");
        }
        // multi_last is ignored by MSG.GET when something else selects.
        assert_eq!(
            q(r#"{"seq":2,"multi_last":["g1.a"]}"#).unwrap().query,
            MsgQuery::Seq(2)
        );
        assert_eq!(
            q(r#"{"last_by_subj":"g1.*","multi_last":["g1.a"]}"#)
                .unwrap()
                .query,
            MsgQuery::LastBySubject("g1.*".into())
        );
        for bad in [
            "[]",
            r#"{"seq":1,"x":1}"#,
            r#"{"seq":-1}"#,
            r#"{"start_time":"yesterday"}"#,
            "{",
        ] {
            assert_eq!(q(bad).unwrap_err().err_code, 10025, "{bad:?}");
        }
        assert_eq!(
            q(r#"{"seq":1,"x":1}"#).unwrap_err().description,
            r#"invalid JSON: json: unknown field "x""#
        );
        assert!(q(r#"{"start_time":"yesterday"}"#)
            .unwrap_err()
            .description
            .starts_with("invalid JSON: parsing time \"yesterday\""));
    }

    #[test]
    fn direct_get_bodies() {
        let d = |subject: Option<&str>, body: &str| parse_direct_get(subject, body.as_bytes());
        use DirectGetError::*;
        // Body form, observed on nats-server 2.15.1.
        assert_eq!(d(None, r#"{"seq":2}"#).unwrap().query, MsgQuery::Seq(2));
        assert_eq!(
            d(None, r#"{"seq":1,"zz":1}"#).unwrap().query,
            MsgQuery::Seq(1)
        );
        assert_eq!(
            d(None, r#"{"next_by_subj":"g1.b"}"#).unwrap().query,
            MsgQuery::NextBySubject {
                subject: "g1.b".into(),
                from_seq: 0
            }
        );
        assert_eq!(
            d(None, r#"{"last_by_subj":"g1.*"}"#).unwrap().query,
            MsgQuery::LastBySubject("g1.*".into())
        );
        assert!(matches!(
            d(None, r#"{"start_time":"2020-01-01T00:00:00Z"}"#)
                .unwrap()
                .query,
            MsgQuery::FirstAtTime { subject: None, .. }
        ));
        let batch = d(None, r#"{"seq":1,"batch":5,"max_bytes":100}"#).unwrap();
        assert_eq!((batch.batch, batch.max_bytes), (5, 100));
        assert_eq!(
            d(None, r#"{"multi_last":["g1.*"],"up_to_seq":7}"#)
                .unwrap()
                .query,
            MsgQuery::MultiLast {
                subjects: vec!["g1.*".into()],
                up_to_seq: 7,
                up_to_ns: None
            }
        );
        assert!(d(None, r#"{"seq":2,"no_hdr":true}"#).unwrap().no_hdr);
        for (body, want) in [
            ("", EmptyRequest),
            ("null", EmptyRequest),
            ("{}", EmptyRequest),
            (r#"{"seq":0}"#, EmptyRequest),
            (r#"{"batch":2}"#, EmptyRequest),
            (r#"{"max_bytes":10}"#, EmptyRequest),
            (r#"{"up_to_seq":2}"#, EmptyRequest),
            (" ", MalformedRequest),
            ("{", MalformedRequest),
            ("[]", MalformedRequest),
            (r#"{"seq":-1}"#, MalformedRequest),
            (r#"{"seq":1,"last_by_subj":"m1.a"}"#, BadRequest),
            (
                r#"{"next_by_subj":"g1.b","last_by_subj":"g1.b"}"#,
                BadRequest,
            ),
            (
                r#"{"start_time":"2020-01-01T00:00:00Z","seq":2}"#,
                BadRequest,
            ),
            (r#"{"last_by_subj":"d1.a","batch":2}"#, BadRequest),
            (
                r#"{"multi_last":["d1.a"],"last_by_subj":"d1.*"}"#,
                BadRequest,
            ),
            (
                r#"{"multi_last":["d1.a"],"next_by_subj":"d1.>"}"#,
                BadRequest,
            ),
        ] {
            assert_eq!(d(None, body).unwrap_err(), want, "{body:?}");
        }
        // Subject form.
        let last = d(Some("$KV.b.k"), "").unwrap();
        assert_eq!(
            (last.query, last.batch, last.no_hdr),
            (MsgQuery::LastBySubject("$KV.b.k".into()), 0, false)
        );
        assert!(d(Some("g1.a"), "{}").is_ok());
        assert!(d(Some("g1.a"), r#"{"no_hdr":true}"#).unwrap().no_hdr);
        for (body, want) in [
            (r#"{"seq":1}"#, BadRequest),
            (r#"{"batch":2}"#, BadRequest),
            (r#"{"next_by_subj":"g1.b"}"#, BadRequest),
            (r#"{"start_time":"2020-01-01T00:00:00Z"}"#, BadRequest),
            (r#"{"up_to_seq":2}"#, BadRequest),
            ("{", MalformedRequest),
            (" ", MalformedRequest),
        ] {
            assert_eq!(d(Some("g1.a"), body).unwrap_err(), want, "{body:?}");
        }
        assert_eq!(
            NotFound.status_headers(),
            b"NATS/1.0 404 Message Not Found\r\n\r\n"
        );
        assert_eq!(
            EmptyRequest.status_headers(),
            b"NATS/1.0 408 Empty Request\r\n\r\n"
        );
        assert_eq!(
            MalformedRequest.status_headers(),
            b"NATS/1.0 408 Malformed Request\r\n\r\n"
        );
        assert_eq!(
            BadRequest.status_headers(),
            b"NATS/1.0 408 Bad Request\r\n\r\n"
        );
    }
}
