//! `$JS.API.CONSUMER.*` JSON layer, sans-IO: subject parsing, create/list request decoding with
//! nats-server 2.15.1's rules, ConsumerInfo/NAMES/LIST rendering, pull-request bodies, the
//! status-header blocks of pull/push delivery, (all observed live); consumer advisories are in `consumer_advisory`
//! (re-exported here).

use serde::{Deserialize, Serialize};

use super::consumer_config::ConsumerConfig;
use super::errors::{invalid_json_error, JsApiError};
use super::gocompat::go_duration;
use super::gocompat::time::{format_rfc3339_nanos, ZERO_TIME};
use super::gocompat::{go_escape_html, write_json_str, write_u64};
use super::responses::{ResponseType, ServerMeta};
use super::stream_config::{go_enum, null_as_default, RawText, RawVisitor};
use serde::de::{self, Deserializer};
use serde::Serializer;

/// Page size of CONSUMER.NAMES.
pub const CONSUMER_NAMES_LIMIT: usize = 1024;
/// Page size of CONSUMER.LIST.
pub const CONSUMER_LIST_LIMIT: usize = 256;

/// A `$JS.API.CONSUMER.` request recognised from the subject tokens after `CONSUMER.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerApi<'a> {
    /// `CREATE.<stream>[.<name>[.<filter…>]]`.
    Create {
        /// Stream token.
        stream: &'a str,
        /// Consumer name token (absent = legacy ephemeral, the caller generates a name).
        name: Option<&'a str>,
        /// The remaining tokens: the single filter subject.
        filter: Option<&'a str>,
    },
    /// `DURABLE.CREATE.<stream>.<durable>` (legacy durable create).
    DurableCreate {
        /// Stream token.
        stream: &'a str,
        /// Durable name token.
        durable: &'a str,
    },
    /// `INFO.<stream>.<consumer>`.
    Info {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
    /// `DELETE.<stream>.<consumer>`.
    Delete {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
    /// `NAMES.<stream>`.
    Names {
        /// Stream token.
        stream: &'a str,
    },
    /// `LIST.<stream>`.
    List {
        /// Stream token.
        stream: &'a str,
    },
    /// `PAUSE.<stream>.<consumer>` (2.11).
    Pause {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
    /// `RESET.<stream>.<consumer>` (2.15): move the consumer to a sequence (or a time).
    Reset {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
    /// `UNPIN.<stream>.<consumer>` (2.11): drop a priority group's pin.
    Unpin {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
    /// `MSG.NEXT.<stream>.<consumer>` (pull request; replies are deliveries and status headers).
    MsgNext {
        /// Stream token.
        stream: &'a str,
        /// Consumer token.
        consumer: &'a str,
    },
}

/// Splits `rest` into exactly two non-empty tokens.
fn two(rest: &str) -> Option<(&str, &str)> {
    let (a, b) = rest.split_once('.')?;
    (!a.is_empty() && !b.is_empty() && !b.contains('.')).then_some((a, b))
}

impl<'a> ConsumerApi<'a> {
    /// Recognises the subject after `$JS.API.CONSUMER.`; `None` for other consumer APIs
    /// (PAUSE, UNPIN, LEADER.STEPDOWN, ...) and wrong token counts, which nats-server leaves
    /// unanswered.
    pub fn parse(rest: &'a str) -> Option<Self> {
        if rest.split('.').any(str::is_empty) {
            return None;
        }
        let (op, args) = rest.split_once('.')?;
        match op {
            "CREATE" => {
                let mut parts = args.splitn(3, '.');
                let stream = parts.next()?;
                Some(Self::Create {
                    stream,
                    name: parts.next(),
                    filter: parts.next(),
                })
            }
            "DURABLE" => {
                let (stream, durable) = two(args.strip_prefix("CREATE.")?)?;
                Some(Self::DurableCreate { stream, durable })
            }
            "INFO" => two(args).map(|(stream, consumer)| Self::Info { stream, consumer }),
            "DELETE" => two(args).map(|(stream, consumer)| Self::Delete { stream, consumer }),
            "PAUSE" => two(args).map(|(stream, consumer)| Self::Pause { stream, consumer }),
            "RESET" => two(args).map(|(stream, consumer)| Self::Reset { stream, consumer }),
            "UNPIN" => two(args).map(|(stream, consumer)| Self::Unpin { stream, consumer }),
            "MSG" => two(args.strip_prefix("NEXT.")?)
                .map(|(stream, consumer)| Self::MsgNext { stream, consumer }),
            "NAMES" if !args.contains('.') => Some(Self::Names { stream: args }),
            "LIST" if !args.contains('.') => Some(Self::List { stream: args }),
            _ => None,
        }
    }

    /// The stream token.
    pub fn stream(&self) -> &'a str {
        match *self {
            Self::Create { stream, .. }
            | Self::DurableCreate { stream, .. }
            | Self::Info { stream, .. }
            | Self::Delete { stream, .. }
            | Self::Pause { stream, .. }
            | Self::Reset { stream, .. }
            | Self::Unpin { stream, .. }
            | Self::Names { stream }
            | Self::List { stream }
            | Self::MsgNext { stream, .. } => stream,
        }
    }

    /// The JSON response type; `None` for MSG.NEXT (answered with messages and status headers).
    pub fn response_type(&self) -> Option<ResponseType> {
        Some(match self {
            Self::Create { .. } | Self::DurableCreate { .. } => ResponseType::ConsumerCreate,
            Self::Info { .. } => ResponseType::ConsumerInfo,
            Self::Delete { .. } => ResponseType::ConsumerDelete,
            Self::Pause { .. } => ResponseType::ConsumerPause,
            Self::Reset { .. } => ResponseType::ConsumerReset,
            Self::Unpin { .. } => ResponseType::ConsumerUnpin,
            Self::Names { .. } => ResponseType::ConsumerNames,
            Self::List { .. } => ResponseType::ConsumerList,
            Self::MsgNext { .. } => return None,
        })
    }
}

go_enum!(
    /// `action` of a create request: `""` create-or-update, `"create"`, `"update"`.
    CreateAction, unknown(raw) => format!("unknown consumer action: {raw}"),
    {
        /// Create, or update an existing consumer.
        #[default]
        CreateOrUpdate => "",
        /// Create only; an existing consumer with a different config is 10148.
        Create => "create",
        /// Update only; a missing consumer is 10149.
        Update => "update",
    }
);

/// The decoded body of CONSUMER.CREATE / DURABLE.CREATE after the subject rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerCreateRequest {
    /// The config (not yet normalised); `name` is the subject's name (empty for a nameless
    /// legacy ephemeral: generate one, but leave it out of the config as nats-server does).
    pub config: ConsumerConfig,
    /// Create/update semantics.
    pub action: CreateAction,
}

/// nats-server's `CreateConsumerRequest`, strict like its decoder.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CreateBody {
    #[serde(deserialize_with = "null_as_default")]
    stream_name: String,
    #[serde(deserialize_with = "null_as_default")]
    config: ConsumerConfig,
    action: CreateAction,
    #[serde(deserialize_with = "null_as_default")]
    #[allow(dead_code)]
    pedantic: bool,
}

/// Decodes like Go's `json.Unmarshal` into a zero value (empty/whitespace/`null` = defaults).
fn decode_go<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    go_type: &str,
) -> Result<T, JsApiError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(T::default());
    }
    if trimmed.starts_with(b"[") {
        return Err(JsApiError::invalid_json(format_args!(
            "json: cannot unmarshal array into Go value of type {go_type}"
        )));
    }
    serde_json::from_slice(body).map_err(|e| invalid_json_error(&e))
}

/// Decodes `{"stream_name","config","action"[,"pedantic"]}` and applies nats-server's subject
/// rules in its order: 10025 decoding, 10056 stream name, 10020 (legacy ephemeral with a
/// durable), 10017 (durable differs from the subject name), 10018 (DURABLE.CREATE without a
/// durable), 10137/10131 for the filter form, 10127 path separators. The subject's name
/// overwrites `config.name`. Normalisation and `validate` are the caller's next steps.
pub fn parse_consumer_create(
    api: &ConsumerApi,
    body: &[u8],
) -> Result<ConsumerCreateRequest, JsApiError> {
    let req: CreateBody = decode_go(body, "server.CreateConsumerRequest")?;
    if req.stream_name != api.stream() {
        return Err(JsApiError::stream_name_mismatch());
    }
    let mut config = req.config;
    match *api {
        ConsumerApi::Create {
            name: None,
            filter: None,
            ..
        } => {
            if config.is_durable() {
                return Err(JsApiError::consumer_ephemeral_with_durable_name());
            }
        }
        ConsumerApi::Create {
            name: Some(name),
            filter,
            ..
        } => {
            if config.is_durable() && config.durable_name != name {
                return Err(JsApiError::consumer_durable_name_not_match_subject());
            }
            if let Some(filter) = filter {
                if !config.filter_subjects.is_empty() {
                    return Err(JsApiError::consumer_multiple_filters_not_allowed());
                }
                if config.filter_subject != filter {
                    return Err(JsApiError::consumer_create_filter_subject_mismatch());
                }
            }
            config.name = name.to_owned();
        }
        ConsumerApi::DurableCreate { durable, .. } => {
            if !config.is_durable() {
                return Err(JsApiError::consumer_durable_name_not_set());
            }
            if config.durable_name != durable {
                return Err(JsApiError::consumer_durable_name_not_match_subject());
            }
            config.name = durable.to_owned();
        }
        _ => return Err(JsApiError::bad_request()),
    }
    if [&config.name, &config.durable_name]
        .iter()
        .any(|n| n.contains(['/', '\\']))
    {
        return Err(JsApiError::consumer_name_contains_path_separators());
    }
    Ok(ConsumerCreateRequest {
        config,
        action: req.action,
    })
}

/// Decides a create given the existing consumer of that name (both configs normalised):
/// `Ok(true)` create it, `Ok(false)` update/keep the existing one (run
/// `ConsumerConfig::validate_update` next), 10149 for `update` of a missing consumer, 10148
/// for `create` over a different config (`_nats.req.level` ignored, as nats-server does).
pub fn resolve_action(
    action: CreateAction,
    existing: Option<&ConsumerConfig>,
    new: &ConsumerConfig,
) -> Result<bool, JsApiError> {
    match (existing, action) {
        (None, CreateAction::Update) => Err(JsApiError::consumer_does_not_exist()),
        (None, _) => Ok(true),
        (Some(old), CreateAction::Create) if !old.same_for_create(new) => {
            Err(JsApiError::consumer_already_exists())
        }
        (Some(_), _) => Ok(false),
    }
}

/// CONSUMER.NAMES / CONSUMER.LIST body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListRequest {
    /// Paging offset (negative values count as 0, like Go's int).
    pub offset: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListBody {
    #[serde(deserialize_with = "null_as_default")]
    offset: i64,
}

impl ListRequest {
    /// Decodes the body: `{"offset":n}` strictly (unknown keys ⇒ 10025); empty, `null` and
    /// bodies that are not a JSON object or array (`x`, `5`) mean offset 0, as observed.
    pub fn parse(body: &[u8]) -> Result<Self, JsApiError> {
        let trimmed = body.trim_ascii();
        if !matches!(trimmed.first(), Some(b'{' | b'[')) {
            return Ok(Self::default());
        }
        let parsed: ListBody = decode_go(body, "server.JSApiConsumersRequest")?;
        Ok(Self {
            offset: u64::try_from(parsed.offset).unwrap_or(0),
        })
    }
}

/// CONSUMER.INFO and CONSUMER.DELETE take no body: anything but an empty request is 10038.
pub fn check_consumer_empty_body(body: &[u8]) -> Result<(), JsApiError> {
    super::check_delete_body(body)
}

/// A delivered/ack-floor position (`delivered`, `ack_floor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequenceInfo {
    /// Consumer sequence.
    pub consumer_seq: u64,
    /// Stream sequence.
    pub stream_seq: u64,
    /// Last activity, Unix ns (`last_active`, omitted when `None`).
    pub last_active_ns: Option<u64>,
}

/// Everything a ConsumerInfo body needs; counts are the caller's state.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerInfoView<'a> {
    /// Stream name.
    pub stream_name: &'a str,
    /// Consumer name (the generated one for legacy ephemerals).
    pub name: &'a str,
    /// Creation time, Unix ns.
    pub created_ns: u64,
    /// The stored (normalised) config.
    pub config: &'a ConsumerConfig,
    /// Last delivered position.
    pub delivered: SequenceInfo,
    /// Ack floor.
    pub ack_floor: SequenceInfo,
    /// Deliveries awaiting ack.
    pub num_ack_pending: u64,
    /// Messages redelivered at least once.
    pub num_redelivered: u64,
    /// Queued pull requests.
    pub num_waiting: u64,
    /// Matching messages not yet delivered.
    pub num_pending: u64,
    /// Push consumer whose deliver subject has interest (`push_bound`, omitted when false).
    pub push_bound: bool,
    /// Time of the response, Unix ns (`ts`); also decides `paused`.
    pub now_ns: u64,
    /// `pinned_client`: the pin id and when it was given (Unix ns).
    pub pinned: Option<(&'a str, u64)>,
}

#[derive(Serialize)]
struct SequenceJson {
    consumer_seq: u64,
    stream_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_active: Option<String>,
}

impl From<SequenceInfo> for SequenceJson {
    fn from(s: SequenceInfo) -> Self {
        Self {
            consumer_seq: s.consumer_seq,
            stream_seq: s.stream_seq,
            last_active: s.last_active_ns.map(format_rfc3339_nanos),
        }
    }
}

#[derive(Serialize)]
struct PriorityGroupJson<'a> {
    group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_client_id: Option<&'a str>,
    pinned_ts: String,
}

fn is_false(v: &bool) -> bool {
    !*v
}

#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    stream_name: &'a str,
    name: &'a str,
    created: String,
    config: ConsumerConfig,
    delivered: SequenceJson,
    ack_floor: SequenceJson,
    num_ack_pending: u64,
    num_redelivered: u64,
    num_waiting: u64,
    num_pending: u64,
    #[serde(skip_serializing_if = "is_false")]
    push_bound: bool,
    #[serde(skip_serializing_if = "is_false")]
    paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pause_remaining: Option<u64>,
    ts: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    priority_groups: Vec<PriorityGroupJson<'a>>,
}

impl<'a> InfoJson<'a> {
    fn new(view: &ConsumerInfoView<'a>, config: ConsumerConfig) -> Self {
        let pause_remaining = view
            .config
            .pause_until_ns
            .filter(|&until| until > view.now_ns)
            .map(|until| until - view.now_ns);
        Self {
            kind: None,
            stream_name: view.stream_name,
            name: view.name,
            created: format_rfc3339_nanos(view.created_ns),
            config,
            delivered: view.delivered.into(),
            ack_floor: view.ack_floor.into(),
            num_ack_pending: view.num_ack_pending,
            num_redelivered: view.num_redelivered,
            num_waiting: view.num_waiting,
            num_pending: view.num_pending,
            push_bound: view.push_bound,
            paused: pause_remaining.is_some(),
            pause_remaining,
            ts: format_rfc3339_nanos(view.now_ns),
            // nats-server reports the first group (the one it pins in).
            priority_groups: view
                .config
                .priority_groups
                .first()
                .map(|group| PriorityGroupJson {
                    group,
                    pinned_client_id: view.pinned.map(|(id, _)| id),
                    pinned_ts: view
                        .pinned
                        .map_or_else(|| ZERO_TIME.to_owned(), |(_, ts)| format_rfc3339_nanos(ts)),
                })
                .into_iter()
                .collect(),
        }
    }
}

fn to_go_json(value: &impl Serialize) -> Vec<u8> {
    // Serialising plain structs and maps into memory cannot fail.
    go_escape_html(serde_json::to_vec(value).unwrap_or_default())
}

/// CONSUMER.CREATE (`kind` = `ConsumerCreate`) or CONSUMER.INFO (`ConsumerInfo`) success: the
/// ConsumerInfo with the config's dynamic `_nats.level`/`_nats.ver` metadata, `paused` /
/// `pause_remaining` while `pause_until` is ahead, and one `priority_groups` entry per group.
pub fn render_consumer_info(
    view: &ConsumerInfoView,
    server: &ServerMeta,
    kind: ResponseType,
) -> Vec<u8> {
    let config = view
        .config
        .with_dynamic_metadata(server.api_level, server.version);
    let mut json = InfoJson::new(view, config);
    json.kind = Some(kind.type_name());
    to_go_json(&json)
}

/// Sorts names, clamps `offset` to the total (as nats-server reports it) and cuts one page.
pub fn page_consumer_names<'a>(names: &[&'a str], offset: u64) -> (Vec<&'a str>, u64, u64) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let total = sorted.len() as u64;
    let offset = offset.min(total);
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let page = sorted
        .into_iter()
        .skip(start)
        .take(CONSUMER_NAMES_LIMIT)
        .collect();
    (page, total, offset)
}

/// CONSUMER.NAMES success for one page (`names` already sorted and paged, see
/// `page_consumer_names`; `"consumers":[]` when empty).
pub fn render_consumer_names(names: &[&str], total: u64, offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + names.iter().map(|n| n.len() + 3).sum::<usize>());
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ResponseType::ConsumerNames.type_name().as_bytes());
    out.extend_from_slice(b"\",\"total\":");
    write_u64(&mut out, total);
    out.extend_from_slice(b",\"offset\":");
    write_u64(&mut out, offset);
    out.extend_from_slice(b",\"limit\":");
    write_u64(&mut out, CONSUMER_NAMES_LIMIT as u64);
    out.extend_from_slice(b",\"consumers\":[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, name);
    }
    out.extend_from_slice(b"]}");
    out
}

/// CONSUMER.LIST success for one page (`infos` sorted by name and paged by the caller at
/// `CONSUMER_LIST_LIMIT`); entries carry the stored config without dynamic metadata and no
/// `type`, as nats-server's do.
pub fn render_consumer_list(infos: &[ConsumerInfoView], total: u64, offset: u64) -> Vec<u8> {
    #[derive(Serialize)]
    struct ListJson<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        total: u64,
        offset: u64,
        limit: usize,
        consumers: Vec<InfoJson<'a>>,
    }
    to_go_json(&ListJson {
        kind: ResponseType::ConsumerList.type_name(),
        total,
        offset,
        limit: CONSUMER_LIST_LIMIT,
        consumers: infos
            .iter()
            .map(|view| InfoJson::new(view, view.config.clone()))
            .collect(),
    })
}

/// A decoded pull request (`$JS.API.CONSUMER.MSG.NEXT` body).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullRequest {
    /// Messages wanted (≥ 1).
    pub batch: u64,
    /// Byte budget (0 = none); per message `subject + reply + headers + payload`.
    pub max_bytes: u64,
    /// Lifetime, ns (0 = until satisfied or interest is lost).
    pub expires_ns: u64,
    /// Answer `404 No Messages` instead of waiting when nothing is pending.
    pub no_wait: bool,
    /// Idle heartbeat interval, ns (0 = none).
    pub idle_heartbeat_ns: u64,
    /// The priority-group fields; `Some` for every JSON request (nats-server's
    /// `PriorityGroup`, checked by the consumer), `None` for an empty or bare-number body.
    pub priority_group: Option<PullGroup>,
}

/// The priority-group fields of a JSON pull request (nats-server's `PriorityGroup`, ADR-42).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullGroup {
    /// Priority group (`group`).
    pub group: String,
    /// Pin id of a `pinned_client` consumer (`id`).
    pub id: String,
    /// `overflow`: serve only once this many messages are pending (`min_pending`).
    pub min_pending: i64,
    /// `overflow`: serve only once this many acks are pending (`min_ack_pending`).
    pub min_ack_pending: i64,
    /// `prioritized`: 0 (first) to 9 (`priority`).
    pub priority: i64,
}

/// nats-server's `JSApiConsumerGetNextRequest`; not strict (unknown keys are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PullBody {
    #[serde(deserialize_with = "null_as_default")]
    batch: i64,
    #[serde(deserialize_with = "null_as_default")]
    expires: i64,
    #[serde(deserialize_with = "null_as_default")]
    max_bytes: i64,
    #[serde(deserialize_with = "null_as_default")]
    no_wait: bool,
    #[serde(deserialize_with = "null_as_default")]
    idle_heartbeat: i64,
    #[serde(deserialize_with = "null_as_default")]
    group: String,
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    min_pending: i64,
    #[serde(deserialize_with = "null_as_default")]
    min_ack_pending: i64,
    #[serde(deserialize_with = "null_as_default")]
    priority: i64,
}

/// Decodes a pull request the way nats-server does: empty ⇒ batch 1; a bare integer ⇒ that
/// batch; other non-JSON text ⇒ batch 1; JSON as `PullBody` (batch ≤ 0 ⇒ 1). `Err` is the
/// status header block to reply with, in nats-server's order: `409 Consumer is push based`,
/// `400 Bad Request - <decode error>`, `400 Bad Request - heartbeat value too large`
/// (`2*idle_heartbeat > expires`), `409 Exceeded MaxRequestBatch of N`,
/// `409 Exceeded MaxRequestExpires of <go duration>`, `409 Exceeded MaxRequestMaxBytes of N`.
pub fn parse_pull_request(body: &[u8], cfg: &ConsumerConfig) -> Result<PullRequest, Vec<u8>> {
    if cfg.is_push() {
        return Err(status_headers(409, "Consumer is push based", None));
    }
    let trimmed = body.trim_ascii();
    let req = if trimmed.first() == Some(&b'{') {
        let parsed: PullBody = serde_json::from_slice(trimmed).map_err(|e| {
            let text = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let text = text
                .strip_suffix(suffix.as_str())
                .unwrap_or(&text)
                .to_owned();
            status_headers(400, &format!("Bad Request - {text}"), None)
        })?;
        if parsed.idle_heartbeat > 0 && parsed.idle_heartbeat.saturating_mul(2) > parsed.expires {
            return Err(status_headers(
                400,
                "Bad Request - heartbeat value too large",
                None,
            ));
        }
        PullRequest {
            batch: u64::try_from(parsed.batch).unwrap_or(0),
            max_bytes: u64::try_from(parsed.max_bytes).unwrap_or(0),
            expires_ns: u64::try_from(parsed.expires).unwrap_or(0),
            no_wait: parsed.no_wait,
            idle_heartbeat_ns: u64::try_from(parsed.idle_heartbeat).unwrap_or(0),
            priority_group: Some(PullGroup {
                group: parsed.group,
                id: parsed.id,
                min_pending: parsed.min_pending,
                min_ack_pending: parsed.min_ack_pending,
                priority: parsed.priority,
            }),
        }
    } else {
        let batch = std::str::from_utf8(trimmed)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(1);
        PullRequest {
            batch: u64::try_from(batch).unwrap_or(0),
            ..PullRequest::default()
        }
    };
    if cfg.max_batch > 0 && req.batch > cfg.max_batch as u64 {
        return Err(status_headers(
            409,
            &format!("Exceeded MaxRequestBatch of {}", cfg.max_batch),
            None,
        ));
    }
    if req.expires_ns > 0 && cfg.max_expires_ns > 0 && req.expires_ns > cfg.max_expires_ns as u64 {
        return Err(status_headers(
            409,
            &format!(
                "Exceeded MaxRequestExpires of {}",
                go_duration(cfg.max_expires_ns)
            ),
            None,
        ));
    }
    if req.max_bytes > 0 && cfg.max_bytes > 0 && req.max_bytes > cfg.max_bytes as u64 {
        return Err(status_headers(
            409,
            &format!("Exceeded MaxRequestMaxBytes of {}", cfg.max_bytes),
            None,
        ));
    }
    Ok(PullRequest {
        batch: req.batch.max(1),
        ..req
    })
}

/// A status-only header block as nats-server sends it, e.g. `NATS/1.0 404 No Messages\r\n\r\n`;
/// `pending` = (messages, bytes) adds `Nats-Pending-Messages` / `Nats-Pending-Bytes` (sent with
/// `408 Request Timeout`, `409 Message Size Exceeds MaxBytes`, `409 Batch Completed`).
pub fn status_headers(code: u16, description: &str, pending: Option<(u64, u64)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + description.len());
    out.extend_from_slice(b"NATS/1.0 ");
    write_u64(&mut out, u64::from(code));
    out.push(b' ');
    out.extend_from_slice(description.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some((messages, bytes)) = pending {
        out.extend_from_slice(b"Nats-Pending-Messages: ");
        write_u64(&mut out, messages);
        out.extend_from_slice(b"\r\nNats-Pending-Bytes: ");
        write_u64(&mut out, bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `100 Idle Heartbeat` with `Nats-Last-Consumer` / `Nats-Last-Stream`, plus
/// `Nats-Consumer-Stalled: <$JS.FC reply>` while a push consumer waits on flow control.
pub fn idle_heartbeat_headers(
    last_consumer_seq: u64,
    last_stream_seq: u64,
    stalled_fc_reply: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: ");
    write_u64(&mut out, last_consumer_seq);
    out.extend_from_slice(b"\r\nNats-Last-Stream: ");
    write_u64(&mut out, last_stream_seq);
    out.extend_from_slice(b"\r\n");
    if let Some(reply) = stalled_fc_reply {
        out.extend_from_slice(b"Nats-Consumer-Stalled: ");
        out.extend_from_slice(reply.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The push flow-control request (sent with a `$JS.FC.<stream>.<consumer>.<id>` reply).
pub fn flow_control_headers() -> Vec<u8> {
    b"NATS/1.0 100 FlowControl Request\r\n\r\n".to_vec()
}

pub use super::consumer_advisory::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::{render_error, StreamConfig};

    const SERVER: ServerMeta<'static> = ServerMeta {
        server_name: "probe-srv",
        version: "2.15.1",
        api_level: 5,
    };

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    fn stream(json: &str) -> StreamConfig {
        let mut s: StreamConfig = serde_json::from_str(json).unwrap();
        s.normalize();
        s
    }

    /// parse + normalize + validate against stream `C2` (`c2.>`), as the caller will.
    fn create(subject_rest: &str, body: &str) -> Result<ConsumerConfig, JsApiError> {
        let api = ConsumerApi::parse(subject_rest).unwrap();
        let s = stream(r#"{"name":"C2","subjects":["c2.>"]}"#);
        let mut req = parse_consumer_create(&api, body.as_bytes())?;
        req.config.normalize(&s);
        req.config.validate(&s)?;
        Ok(req.config)
    }

    fn info<'a>(
        name: &'a str,
        config: &'a ConsumerConfig,
        created_ns: u64,
        now_ns: u64,
    ) -> ConsumerInfoView<'a> {
        ConsumerInfoView {
            stream_name: "C2",
            name,
            created_ns,
            config,
            delivered: SequenceInfo::default(),
            ack_floor: SequenceInfo::default(),
            num_ack_pending: 0,
            num_redelivered: 0,
            num_waiting: 0,
            num_pending: 3,
            push_bound: false,
            now_ns,
            pinned: None,
        }
    }

    #[test]
    fn parses_consumer_subjects() {
        use ConsumerApi::*;
        let cases: Vec<(&str, Option<ConsumerApi>)> = vec![
            (
                "CREATE.S",
                Some(Create {
                    stream: "S",
                    name: None,
                    filter: None,
                }),
            ),
            (
                "CREATE.S.N",
                Some(Create {
                    stream: "S",
                    name: Some("N"),
                    filter: None,
                }),
            ),
            (
                "CREATE.S.N.a.b.>",
                Some(Create {
                    stream: "S",
                    name: Some("N"),
                    filter: Some("a.b.>"),
                }),
            ),
            (
                "DURABLE.CREATE.S.D",
                Some(DurableCreate {
                    stream: "S",
                    durable: "D",
                }),
            ),
            ("DURABLE.CREATE.S.D.x", None),
            ("DURABLE.CREATE.S", None),
            (
                "INFO.S.C",
                Some(Info {
                    stream: "S",
                    consumer: "C",
                }),
            ),
            ("INFO.S", None),
            ("INFO.S.C.D", None),
            (
                "DELETE.S.C",
                Some(Delete {
                    stream: "S",
                    consumer: "C",
                }),
            ),
            ("NAMES.S", Some(Names { stream: "S" })),
            ("NAMES.S.X", None),
            ("LIST.S", Some(List { stream: "S" })),
            (
                "MSG.NEXT.S.C",
                Some(MsgNext {
                    stream: "S",
                    consumer: "C",
                }),
            ),
            ("MSG.NEXT.S", None),
            (
                "PAUSE.S.C",
                Some(Pause {
                    stream: "S",
                    consumer: "C",
                }),
            ),
            ("PAUSE.S", None),
            ("LEADER.STEPDOWN.S.C", None),
            ("CREATE", None),
            ("CREATE.S..x", None),
        ];
        for (rest, want) in cases {
            assert_eq!(ConsumerApi::parse(rest), want, "{rest}");
        }
        let api = ConsumerApi::parse("MSG.NEXT.S.C").unwrap();
        assert_eq!((api.stream(), api.response_type()), ("S", None));
        for (rest, want) in [
            ("CREATE.S", ResponseType::ConsumerCreate),
            ("DURABLE.CREATE.S.D", ResponseType::ConsumerCreate),
            ("INFO.S.C", ResponseType::ConsumerInfo),
            ("DELETE.S.C", ResponseType::ConsumerDelete),
            ("NAMES.S", ResponseType::ConsumerNames),
            ("LIST.S", ResponseType::ConsumerList),
        ] {
            assert_eq!(
                ConsumerApi::parse(rest).unwrap().response_type(),
                Some(want)
            );
        }
    }

    #[test]
    fn create_subject_rules_match_nats_server() {
        // (subject after CONSUMER., body, err_code, description), all from nats-server 2.15.1.
        let cases = [
            ("CREATE.C2", r#"{"stream_name":"C2","config":{"durable_name":"X"}}"#, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"B"}}"#, 10017, "consumer name in subject does not match durable name in request"),
            ("CREATE.C2.A.c2.x", r#"{"stream_name":"C2","config":{"durable_name":"A","filter_subject":"c2.y"}}"#, 10131, "Consumer create request did not match filtered subject from create subject"),
            ("CREATE.C2.A.c2.x", r#"{"stream_name":"C2","config":{"durable_name":"A"}}"#, 10131, "Consumer create request did not match filtered subject from create subject"),
            ("CREATE.C2.A.c2.x", r#"{"stream_name":"C2","config":{"durable_name":"A","filter_subjects":["c2.x"]}}"#, 10137, "consumer with multiple subject filters cannot use subject based API"),
            ("CREATE.C2.Y3.c2.b", r#"{"stream_name":"C2","config":{"filter_subject":"","filter_subjects":["c2.b"]}}"#, 10137, "consumer with multiple subject filters cannot use subject based API"),
            ("CREATE.C2.A.B", r#"{"stream_name":"C2","config":{"durable_name":"A.B"}}"#, 10017, "consumer name in subject does not match durable name in request"),
            ("CREATE.C2.A.B", r#"{"stream_name":"C2","config":{"name":"A.B"}}"#, 10131, "Consumer create request did not match filtered subject from create subject"),
            ("CREATE.C2.A", r#"{"stream_name":"ZZ","config":{"durable_name":"A"}}"#, 10056, "stream name in subject does not match request"),
            ("CREATE.C2.A", r#"{"config":{"durable_name":"A"}}"#, 10056, "stream name in subject does not match request"),
            ("CREATE.C2.A", "", 10056, "stream name in subject does not match request"),
            ("CREATE.C2.A", "  ", 10056, "stream name in subject does not match request"),
            ("CREATE.C2.A", "null", 10056, "stream name in subject does not match request"),
            ("CREATE.C2.A", "{", 10025, "invalid JSON: unexpected EOF"),
            ("CREATE.C2.A", "[]", 10025, "invalid JSON: json: cannot unmarshal array into Go value of type server.CreateConsumerRequest"),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A","bogus":1}}"#, 10025, "invalid JSON: json: unknown field \"bogus\""),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A"},"bogus":1}"#, 10025, "invalid JSON: json: unknown field \"bogus\""),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A","ack_policy":"bad"}}"#, 10025, "invalid JSON: can not unmarshal \"\\\"bad\\\"\""),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A","priority_policy":"bad"}}"#, 10025, "invalid JSON: unknown priority policy: \"bad\""),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A"},"action":"bad"}"#, 10025, "invalid JSON: unknown consumer action: \"bad\""),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A"},"action":null}"#, 10025, "invalid JSON: unknown consumer action: null"),
            ("CREATE.C2.A", r#"{"stream_name":"C2","config":{"durable_name":"A","ack_policy":null}}"#, 10025, "invalid JSON: can not unmarshal \"null\""),
            ("CREATE.C2.A/B", r#"{"stream_name":"C2","config":{"durable_name":"A/B"}}"#, 10127, "Consumer name can not contain path separators"),
            ("CREATE.C2.Q", r#"{"stream_name":"C2","config":{"durable_name":"Q\\B"}}"#, 10017, "consumer name in subject does not match durable name in request"),
            ("CREATE.C2", r#"{"stream_name":"C2","config":{"name":"A/B"}}"#, 10127, "Consumer name can not contain path separators"),
            ("CREATE.C2", r#"{"stream_name":"C2","config":{"name":"A.B"}}"#, 10052, "consumer name can not contain '.', '*', '>', '\\', '/'"),
            ("CREATE.C2.A*", r#"{"stream_name":"C2","config":{"durable_name":"A*"}}"#, 10052, "consumer name can not contain '.', '*', '>', '\\', '/'"),
            ("DURABLE.CREATE.C2.A*", r#"{"stream_name":"C2","config":{"durable_name":"A*"}}"#, 10052, "consumer name can not contain '.', '*', '>', '\\', '/'"),
            ("DURABLE.CREATE.C2.D9", r#"{"stream_name":"C2","config":{}}"#, 10018, "consumer expected to be durable but a durable name was not set"),
            ("DURABLE.CREATE.C2.D9", r#"{"stream_name":"C2","config":{"name":"D9"}}"#, 10018, "consumer expected to be durable but a durable name was not set"),
            ("DURABLE.CREATE.C2.D9", r#"{"stream_name":"C2","config":{"durable_name":"D8"}}"#, 10017, "consumer name in subject does not match durable name in request"),
        ];
        for (rest, body, err_code, description) in cases {
            let err = create(rest, body).expect_err(body);
            assert_eq!(
                (err.err_code, err.description.as_str()),
                (err_code, description),
                "{rest} {body}"
            );
        }
        // The subject's name wins over the body's; DURABLE.CREATE names the durable.
        let c = create(
            "CREATE.C2.X1",
            r#"{"stream_name":"C2","config":{"name":"A.B"}}"#,
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.durable_name.as_str()), ("X1", ""));
        let c = create(
            "CREATE.C2.X1",
            r#"{"stream_name":"C2","config":{"durable_name":"X1","name":"Y1"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, "X1");
        let c = create(
            "DURABLE.CREATE.C2.D9",
            r#"{"stream_name":"C2","config":{"durable_name":"D9","name":"D7"}}"#,
        )
        .unwrap();
        assert_eq!(c.name, "D9");
        let c = create(
            "CREATE.C2",
            r#"{"stream_name":"C2","config":{"ack_policy":"none"}}"#,
        )
        .unwrap();
        assert!(c.name.is_empty());
        let c = create("CREATE.C2.F1.c2.a", r#"{"stream_name":"C2","config":{"durable_name":"F1","filter_subject":"c2.a","ack_policy":"explicit"}}"#).unwrap();
        assert_eq!(c.filter_subject, "c2.a");
        let api = ConsumerApi::parse("CREATE.C2.A").unwrap();
        let req = parse_consumer_create(&api, br#"{"stream_name":"C2","config":{"durable_name":"A"},"action":"create","pedantic":false}"#).unwrap();
        assert_eq!(req.action, CreateAction::Create);
        let req = parse_consumer_create(&api, br#"{"stream_name":"C2","config":null,"action":""}"#)
            .unwrap();
        assert_eq!(req.action, CreateAction::CreateOrUpdate);
        assert!(parse_consumer_create(
            &ConsumerApi::parse("INFO.C2.A").unwrap(),
            br#"{"stream_name":"C2"}"#
        )
        .is_err());
    }

    #[test]
    fn actions_match_nats_server() {
        let s = stream(r#"{"name":"C5","subjects":["c5.>"]}"#);
        let norm = |json: &str| {
            let mut c: ConsumerConfig = serde_json::from_str(json).unwrap();
            c.normalize(&s);
            c
        };
        let u1 = norm(r#"{"durable_name":"U1"}"#);
        let described = norm(r#"{"durable_name":"U1","description":"x"}"#);
        assert_eq!(
            resolve_action(CreateAction::Update, None, &u1)
                .unwrap_err()
                .err_code,
            10149
        );
        assert!(resolve_action(CreateAction::Create, None, &u1).unwrap());
        assert!(resolve_action(CreateAction::CreateOrUpdate, None, &u1).unwrap());
        assert!(!resolve_action(CreateAction::Create, Some(&u1), &u1).unwrap());
        let err = resolve_action(CreateAction::Create, Some(&u1), &described).unwrap_err();
        assert_eq!(
            (err.err_code, err.description.as_str()),
            (10148, "consumer already exists")
        );
        assert!(!resolve_action(CreateAction::Update, Some(&u1), &described).unwrap());
        assert!(!resolve_action(CreateAction::CreateOrUpdate, Some(&u1), &described).unwrap());
        // `_nats.req.level` differences do not count.
        let mut leveled = described.clone();
        leveled
            .metadata
            .insert("_nats.req.level".into(), "3".into());
        assert!(!resolve_action(CreateAction::Create, Some(&described), &leveled).unwrap());
    }

    #[test]
    fn list_bodies() {
        for (body, offset) in [
            ("", 0),
            ("{}", 0),
            ("null", 0),
            ("x", 0),
            ("abc", 0),
            ("5", 0),
            ("\"s\"", 0),
            (r#"{"offset":5}"#, 5),
            (r#"{"offset":-1}"#, 0),
            (r#"{"offset":null}"#, 0),
        ] {
            assert_eq!(
                ListRequest::parse(body.as_bytes()).unwrap().offset,
                offset,
                "{body}"
            );
        }
        for (body, want) in [
            ("{", "invalid JSON: unexpected EOF"),
            ("[1]", "invalid JSON: json: cannot unmarshal array into Go value of type server.JSApiConsumersRequest"),
            (r#"{"bogus":1}"#, "invalid JSON: json: unknown field \"bogus\""),
            (r#"{"subject":"x"}"#, "invalid JSON: json: unknown field \"subject\""),
        ] {
            let err = ListRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!((err.err_code, err.description.as_str()), (10025, want), "{body}");
        }
        assert!(check_consumer_empty_body(b"").is_ok());
        assert!(check_consumer_empty_body(b"{}").is_ok());
        assert_eq!(check_consumer_empty_body(b"x").unwrap_err().err_code, 10038);
    }

    #[test]
    fn info_bodies_match_nats_server() {
        // Captured from nats-server 2.15.1 (stream C2 with 3 messages).
        let d1 = create(
            "CREATE.C2.D1",
            r#"{"stream_name":"C2","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
        )
        .unwrap();
        let view = info(
            "D1",
            &d1,
            1_796_428_099_824_624_337,
            1_796_428_099_825_236_455,
        );
        assert_eq!(
            text(&render_consumer_info(
                &view,
                &SERVER,
                ResponseType::ConsumerCreate
            )),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"C2","name":"D1","created":"2026-12-04T23:48:19.824624337Z","config":{"durable_name":"D1","name":"D1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.1"}},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"ts":"2026-12-04T23:48:19.825236455Z"}"#
        );
        let info_kind = render_consumer_info(&view, &SERVER, ResponseType::ConsumerInfo);
        assert!(text(&info_kind).starts_with(
            r#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"C2""#
        ));

        // Legacy ephemeral: the generated name is only in `name`, not in the config.
        let eph = create(
            "CREATE.C2",
            r#"{"stream_name":"C2","config":{"ack_policy":"none"}}"#,
        )
        .unwrap();
        let view = info(
            "ZhVhcA2s",
            &eph,
            1_796_428_100_004_429_454,
            1_796_428_100_005_058_925,
        );
        assert_eq!(
            text(&render_consumer_info(
                &view,
                &SERVER,
                ResponseType::ConsumerCreate
            )),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"C2","name":"ZhVhcA2s","created":"2026-12-04T23:48:20.004429454Z","config":{"deliver_policy":"all","ack_policy":"none","max_deliver":-1,"replay_policy":"instant","max_waiting":512,"inactive_threshold":5000000000,"num_replicas":0,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.1"}},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"ts":"2026-12-04T23:48:20.005058925Z"}"#
        );

        // Priority groups are listed after `ts`.
        let pg = create("CREATE.C2.PG", r#"{"stream_name":"C2","config":{"durable_name":"PG","ack_policy":"explicit","priority_groups":["g1"],"priority_policy":"pinned_client"}}"#).unwrap();
        let view = info(
            "PG",
            &pg,
            1_796_428_100_400_467_332,
            1_796_428_100_400_916_465,
        );
        assert_eq!(
            text(&render_consumer_info(
                &view,
                &SERVER,
                ResponseType::ConsumerCreate
            )),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"C2","name":"PG","created":"2026-12-04T23:48:20.400467332Z","config":{"durable_name":"PG","name":"PG","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.level":"5","_nats.req.level":"1","_nats.ver":"2.15.1"},"priority_groups":["g1"],"priority_policy":"pinned_client","priority_timeout":120000000000},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"ts":"2026-12-04T23:48:20.400916465Z","priority_groups":[{"group":"g1","pinned_ts":"0001-01-01T00:00:00Z"}]}"#
        );

        // deliver_policy new: positions are the caller's (stream_seq 3 on a 3-message stream).
        let n1 = create("CREATE.C2.N1", r#"{"stream_name":"C2","config":{"durable_name":"N1","ack_policy":"all","deliver_policy":"new","backoff":[1000000000,2000000000],"max_deliver":5,"metadata":{"a":"b"},"description":"d","filter_subjects":["c2.a","c2.b"],"replay_policy":"original","sample_freq":"50%","max_batch":10,"max_expires":5000000000,"max_bytes":1000,"inactive_threshold":60000000000,"num_replicas":1,"mem_storage":true,"headers_only":true,"max_waiting":7,"max_ack_pending":3}}"#).unwrap();
        let at3 = SequenceInfo {
            consumer_seq: 0,
            stream_seq: 3,
            last_active_ns: None,
        };
        let view = ConsumerInfoView {
            delivered: at3,
            ack_floor: at3,
            num_pending: 0,
            ..info(
                "N1",
                &n1,
                1_796_428_100_268_473_218,
                1_796_428_100_268_633_408,
            )
        };
        assert_eq!(
            text(&render_consumer_info(
                &view,
                &SERVER,
                ResponseType::ConsumerCreate
            )),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"C2","name":"N1","created":"2026-12-04T23:48:20.268473218Z","config":{"durable_name":"N1","name":"N1","description":"d","deliver_policy":"new","ack_policy":"all","ack_wait":1000000000,"max_deliver":5,"backoff":[1000000000,2000000000],"filter_subjects":["c2.a","c2.b"],"replay_policy":"original","sample_freq":"50%","max_waiting":7,"max_ack_pending":3,"headers_only":true,"max_batch":10,"max_expires":5000000000,"max_bytes":1000,"inactive_threshold":60000000000,"num_replicas":1,"mem_storage":true,"metadata":{"_nats.level":"5","_nats.req.level":"0","_nats.ver":"2.15.1","a":"b"}},"delivered":{"consumer_seq":0,"stream_seq":3},"ack_floor":{"consumer_seq":0,"stream_seq":3},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":0,"ts":"2026-12-04T23:48:20.268633408Z"}"#
        );

        // Pause: `paused` and `pause_remaining` (ns until pause_until) before `ts`.
        let t1 = create("CREATE.C2.T1", r#"{"stream_name":"C2","config":{"durable_name":"T1","ack_policy":"explicit","pause_until":"2030-01-01T00:00:00Z"}}"#).unwrap();
        let view = info(
            "T1",
            &t1,
            1_796_428_100_356_445_416,
            1_796_428_100_357_044_589,
        );
        let body = render_consumer_info(&view, &SERVER, ResponseType::ConsumerCreate);
        assert!(text(&body).ends_with(r#""num_pending":3,"paused":true,"pause_remaining":97027899642955411,"ts":"2026-12-04T23:48:20.357044589Z"}"#), "{}", text(&body));
        assert!(text(&body).contains(r#""metadata":{"_nats.level":"5","_nats.req.level":"1","_nats.ver":"2.15.1"},"pause_until":"2030-01-01T00:00:00Z"}"#));
        // A past pause_until shows no pause.
        let view = info("T1", &t1, 0, 1_900_000_000_000_000_000);
        assert!(!text(&render_consumer_info(
            &view,
            &SERVER,
            ResponseType::ConsumerInfo
        ))
        .contains("paused"));

        // last_active and push_bound.
        let p1 = create("CREATE.C2.P1", r#"{"stream_name":"C2","config":{"durable_name":"P1","ack_policy":"explicit","deliver_subject":"dlv.p1"}}"#).unwrap();
        let view = ConsumerInfoView {
            delivered: SequenceInfo {
                consumer_seq: 2,
                stream_seq: 2,
                last_active_ns: Some(1_796_428_100_357_044_589),
            },
            push_bound: true,
            ..info("P1", &p1, 1, 2)
        };
        let body = render_consumer_info(&view, &SERVER, ResponseType::ConsumerInfo);
        assert!(text(&body).contains(r#""delivered":{"consumer_seq":2,"stream_seq":2,"last_active":"2026-12-04T23:48:20.357044589Z"}"#));
        assert!(text(&body).contains(r#""num_pending":3,"push_bound":true,"ts""#));
    }

    #[test]
    fn names_and_list_match_nats_server() {
        let (page, total, offset) = page_consumer_names(&["X", "D"], 0);
        assert_eq!(
            text(&render_consumer_names(&page, total, offset)),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_names_response","total":2,"offset":0,"limit":1024,"consumers":["D","X"]}"#
        );
        let (page, total, offset) = page_consumer_names(&["X", "D"], 5);
        assert_eq!(
            text(&render_consumer_names(&page, total, offset)),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_names_response","total":2,"offset":2,"limit":1024,"consumers":[]}"#
        );
        let d1 = create(
            "CREATE.C2.D1",
            r#"{"stream_name":"C2","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
        )
        .unwrap();
        let view = info(
            "D1",
            &d1,
            1_796_428_099_824_624_337,
            1_796_428_100_576_364_580,
        );
        assert_eq!(
            text(&render_consumer_list(&[view], 1, 0)),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_list_response","total":1,"offset":0,"limit":256,"consumers":[{"stream_name":"C2","name":"D1","created":"2026-12-04T23:48:19.824624337Z","config":{"durable_name":"D1","name":"D1","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"metadata":{"_nats.req.level":"0"}},"delivered":{"consumer_seq":0,"stream_seq":0},"ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,"num_pending":3,"ts":"2026-12-04T23:48:20.57636458Z"}]}"#
        );
        assert_eq!(
            text(&render_consumer_list(&[], 1, 1)),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_list_response","total":1,"offset":1,"limit":256,"consumers":[]}"#
        );
    }

    #[test]
    fn error_envelopes_match_nats_server() {
        let cases = [
            (
                ResponseType::ConsumerInfo,
                JsApiError::consumer_not_found(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}"#,
            ),
            (
                ResponseType::ConsumerInfo,
                JsApiError::stream_not_found(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"}}"#,
            ),
            (
                ResponseType::ConsumerInfo,
                JsApiError::not_empty_request(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_info_response","error":{"code":400,"err_code":10038,"description":"expected an empty request payload"}}"#,
            ),
            (
                ResponseType::ConsumerDelete,
                JsApiError::consumer_not_found(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_delete_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}"#,
            ),
            (
                ResponseType::ConsumerNames,
                JsApiError::stream_not_found(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_names_response","error":{"code":404,"err_code":10059,"description":"stream not found"},"total":0,"offset":0,"limit":0,"consumers":[]}"#,
            ),
            (
                ResponseType::ConsumerList,
                JsApiError::invalid_json("json: unknown field \"bogus\""),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_list_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"bogus\""},"total":0,"offset":0,"limit":0,"consumers":[]}"#,
            ),
            (
                ResponseType::ConsumerCreate,
                JsApiError::consumer_small_heartbeat(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10083,"description":"consumer idle heartbeat needs to be \u003e= 100ms"}}"#,
            ),
            (
                ResponseType::ConsumerCreate,
                JsApiError::consumer_invalid_sampling("<nil>"),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10095,"description":"failed to parse consumer sampling configuration: \u003cnil\u003e"}}"#,
            ),
            (
                ResponseType::ConsumerCreate,
                JsApiError::maximum_consumers_limit(),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":400,"err_code":10026,"description":"maximum consumers limit reached"}}"#,
            ),
            (
                ResponseType::ConsumerCreate,
                JsApiError::consumer_create("ack policy can not be updated"),
                r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":500,"err_code":10012,"description":"ack policy can not be updated"}}"#,
            ),
        ];
        for (kind, err, want) in cases {
            assert_eq!(text(&render_error(kind, &err)), want);
        }
        assert_eq!(
            text(&crate::jetstream::render_success(
                ResponseType::ConsumerDelete
            )),
            r#"{"type":"io.nats.jetstream.api.v1.consumer_delete_response","success":true}"#
        );
    }

    #[test]
    fn pull_requests_match_nats_server() {
        let s = stream(r#"{"name":"P6","subjects":["p6.>"]}"#);
        let mut limited: ConsumerConfig = serde_json::from_str(r#"{"durable_name":"D","ack_policy":"explicit","max_batch":5,"max_expires":2000000000,"max_bytes":1000}"#).unwrap();
        limited.normalize(&s);
        let plain = {
            let mut c: ConsumerConfig =
                serde_json::from_str(r#"{"durable_name":"E","ack_policy":"explicit"}"#).unwrap();
            c.normalize(&s);
            c
        };
        let mut push: ConsumerConfig =
            serde_json::from_str(r#"{"durable_name":"PU","deliver_subject":"dl.pu"}"#).unwrap();
        push.normalize(&s);
        let refused = |body: &str, cfg: &ConsumerConfig| {
            String::from_utf8(parse_pull_request(body.as_bytes(), cfg).unwrap_err()).unwrap()
        };
        assert_eq!(
            refused("", &push),
            "NATS/1.0 409 Consumer is push based\r\n\r\n"
        );
        assert_eq!(
            refused(r#"{"batch":6}"#, &limited),
            "NATS/1.0 409 Exceeded MaxRequestBatch of 5\r\n\r\n"
        );
        assert_eq!(
            refused(r#"{"expires":3000000000}"#, &limited),
            "NATS/1.0 409 Exceeded MaxRequestExpires of 2s\r\n\r\n"
        );
        assert_eq!(
            refused(r#"{"max_bytes":1001}"#, &limited),
            "NATS/1.0 409 Exceeded MaxRequestMaxBytes of 1000\r\n\r\n"
        );
        assert_eq!(
            refused(
                r#"{"batch":1,"idle_heartbeat":600000000,"expires":1000000000}"#,
                &limited
            ),
            "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n"
        );
        assert_eq!(
            refused(r#"{"batch":1,"idle_heartbeat":1}"#, &plain),
            "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n"
        );
        assert!(refused("{bad", &plain).starts_with("NATS/1.0 400 Bad Request - "));
        assert!(refused(r#"{"batch":"x"}"#, &plain).starts_with("NATS/1.0 400 Bad Request - "));
        let ok = |body: &str| parse_pull_request(body.as_bytes(), &plain).unwrap();
        assert_eq!(ok("").batch, 1);
        assert_eq!(ok("  ").batch, 1);
        assert_eq!(ok("2").batch, 2);
        assert_eq!(ok("abc").batch, 1);
        assert_eq!(ok(r#"{"batch":-1}"#).batch, 1);
        assert_eq!(
            ok(r#"{"batch":0,"no_wait":true}"#),
            PullRequest {
                batch: 1,
                no_wait: true,
                priority_group: Some(PullGroup::default()),
                ..Default::default()
            }
        );
        assert_eq!(ok(r#"{"batch":1,"bogus":1}"#).batch, 1);
        assert_eq!(
            ok(
                r#"{"batch":10,"expires":30000000000,"max_bytes":2048,"idle_heartbeat":5000000000,"group":"g","id":"p","min_pending":3,"min_ack_pending":4,"priority":2}"#
            ),
            PullRequest {
                batch: 10,
                max_bytes: 2048,
                expires_ns: 30_000_000_000,
                no_wait: false,
                idle_heartbeat_ns: 5_000_000_000,
                priority_group: Some(PullGroup {
                    group: "g".into(),
                    id: "p".into(),
                    min_pending: 3,
                    min_ack_pending: 4,
                    priority: 2,
                }),
            }
        );
        let within = parse_pull_request(
            br#"{"batch":5,"expires":2000000000,"max_bytes":1000}"#,
            &limited,
        )
        .unwrap();
        assert_eq!(
            (within.batch, within.expires_ns, within.max_bytes),
            (5, 2_000_000_000, 1000)
        );
    }

    #[test]
    fn status_headers_match_nats_server() {
        let cases: [(Vec<u8>, &str); 10] = [
            (status_headers(404, "No Messages", None), "NATS/1.0 404 No Messages\r\n\r\n"),
            (status_headers(408, "Request Timeout", Some((2, 0))), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n"),
            (status_headers(408, "Request Timeout", Some((2, 10))), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 10\r\n\r\n"),
            (status_headers(409, "Message Size Exceeds MaxBytes", Some((2, 10))), "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 10\r\n\r\n"),
            (status_headers(409, "Batch Completed", Some((0, 106))), "NATS/1.0 409 Batch Completed\r\nNats-Pending-Messages: 0\r\nNats-Pending-Bytes: 106\r\n\r\n"),
            (status_headers(409, "Consumer Deleted", None), "NATS/1.0 409 Consumer Deleted\r\n\r\n"),
            (status_headers(409, "Exceeded MaxWaiting", None), "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n"),
            (idle_heartbeat_headers(6, 3, None), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 6\r\nNats-Last-Stream: 3\r\n\r\n"),
            (idle_heartbeat_headers(6, 3, Some("$JS.FC.FCS.FC.BoGb")), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 6\r\nNats-Last-Stream: 3\r\nNats-Consumer-Stalled: $JS.FC.FCS.FC.BoGb\r\n\r\n"),
            (flow_control_headers(), "NATS/1.0 100 FlowControl Request\r\n\r\n"),
        ];
        for (got, want) in cases {
            assert_eq!(text(&got), want);
        }
    }

    #[test]
    fn advisories_match_nats_server() {
        let meta = |id: &'static str, ts: u64| AdvisoryMeta {
            id,
            timestamp_ns: ts,
            domain: "",
        };
        assert_eq!(
            text(&render_consumer_action_advisory(
                &meta("Sx34F6RU0LLxpWV5uNnaPn", 1_796_428_238_100_879_932),
                "P6",
                "PU",
                true
            )),
            r#"{"type":"io.nats.jetstream.advisory.v1.consumer_action","id":"Sx34F6RU0LLxpWV5uNnaPn","timestamp":"2026-12-04T23:50:38.100879932Z","stream":"P6","consumer":"PU","action":"create"}"#
        );
        assert!(text(&render_consumer_action_advisory(
            &meta("i", 1),
            "P6",
            "E",
            false
        ))
        .ends_with(r#""consumer":"E","action":"delete"}"#));
        assert_eq!(
            text(&render_max_deliveries_advisory(
                &meta("Sx34F6RU0LLxpWV5uNnaq7", 1_796_428_247_387_495_916),
                "P6",
                "D",
                1,
                2
            )),
            r#"{"type":"io.nats.jetstream.advisory.v1.max_deliver","id":"Sx34F6RU0LLxpWV5uNnaq7","timestamp":"2026-12-04T23:50:47.387495916Z","stream":"P6","consumer":"D","stream_seq":1,"deliveries":2}"#
        );
        assert_eq!(
            text(&render_terminated_advisory(
                &meta("Sx34F6RU0LLxpWV5uNnb3H", 1_796_428_263_549_927_905),
                "P6",
                "D",
                7,
                4,
                1,
                "because"
            )),
            r#"{"type":"io.nats.jetstream.advisory.v1.terminated","id":"Sx34F6RU0LLxpWV5uNnb3H","timestamp":"2026-12-04T23:51:03.549927905Z","stream":"P6","consumer":"D","consumer_seq":7,"stream_seq":4,"deliveries":1,"reason":"because"}"#
        );
        assert!(!text(&render_terminated_advisory(
            &meta("i", 1),
            "P6",
            "D",
            7,
            4,
            1,
            ""
        ))
        .contains("reason"));
        assert_eq!(
            text(&render_nak_advisory(
                &meta("Sx34F6RU0LLxpWV5uNnb7f", 1_796_428_263_550_261_421),
                "P6",
                "D",
                8,
                5,
                1
            )),
            r#"{"type":"io.nats.jetstream.advisory.v1.nak","id":"Sx34F6RU0LLxpWV5uNnb7f","timestamp":"2026-12-04T23:51:03.550261421Z","stream":"P6","consumer":"D","consumer_seq":8,"stream_seq":5,"deliveries":1}"#
        );
        let with_domain = AdvisoryMeta {
            id: "i",
            timestamp_ns: 1,
            domain: "hub",
        };
        assert!(text(&render_nak_advisory(&with_domain, "S", "C", 1, 1, 1))
            .ends_with(r#","domain":"hub"}"#));
        assert_eq!(
            text(&render_ack_metric(
                &meta("Sx34F6RU0LLxpWV5uNnb7f", 1_796_428_263_550_261_421),
                "P6",
                "D",
                8,
                5,
                1_500_000,
                2
            )),
            r#"{"type":"io.nats.jetstream.metric.v1.consumer_ack","id":"Sx34F6RU0LLxpWV5uNnb7f","timestamp":"2026-12-04T23:51:03.550261421Z","stream":"P6","consumer":"D","consumer_seq":8,"stream_seq":5,"ack_time":1500000,"deliveries":2}"#
        );
        assert_eq!(
            ack_metric_subject("S", "C"),
            "$JS.EVENT.METRIC.CONSUMER.ACK.S.C"
        );
        assert_eq!(
            ["", "0", "30", "30%", "100%", " 7% "].map(sample_percent),
            [0, 0, 30, 30, 100, 7]
        );
        assert_eq!(
            consumer_advisory_subject(ConsumerAdvisory::MaxDeliveries, "P6", "D"),
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.P6.D"
        );
        for (kind, token) in [
            (ConsumerAdvisory::Created, "CREATED"),
            (ConsumerAdvisory::Deleted, "DELETED"),
            (ConsumerAdvisory::MsgTerminated, "MSG_TERMINATED"),
            (ConsumerAdvisory::MsgNaked, "MSG_NAKED"),
        ] {
            assert_eq!(
                consumer_advisory_subject(kind, "S", "C"),
                format!("$JS.EVENT.ADVISORY.CONSUMER.{token}.S.C")
            );
        }
        use rand::SeedableRng as _;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let id = new_advisory_id(&mut rng);
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, new_advisory_id(&mut rng));
    }
}
