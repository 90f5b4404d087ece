//! Mirrors and sources in the stream config (`mirror`, `sources`): nats-server's checks with
//! its codes and texts, a source's index name (`composeIName`, which its `Nats-Stream-Source`
//! header carries), subject transforms, the internal consumer's create request, and the
//! `mirror`/`sources` state STREAM.INFO shows. Plain data; the machine that runs them is
//! `streams::sourcing`.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ExternalStream, JsApiError, StreamConfig, StreamSource};
use crate::subject::{is_valid_subscribe_subject as is_valid_subject, subjects_overlap};

/// The `{err}` text nats-server gives a bad transform source (`ErrBadSubject`).
const BAD_SUBJECT: &str = "invalid subject";

/// nats-server's `getHash`: SHA-256 of `name`, its first 8 bytes as base-62 digits.
pub fn get_hash(name: &str) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let sum = Sha256::digest(name.as_bytes());
    sum[..8]
        .iter()
        .map(|b| DIGITS[(*b % 62) as usize] as char)
        .collect()
}

/// A source's index name (`composeIName`): `<name>[:<hash of external api>] <filters> <dests>`,
/// filters and destinations `\f`-joined, `>` standing for an empty one.
pub fn index_name(src: &StreamSource) -> String {
    let mut name = src.name.clone();
    if let Some(ext) = &src.external {
        name = format!("{name}:{}", get_hash(&ext.api));
    }
    if let Some(c) = src.consumer.as_ref().filter(|c| !c.name.is_empty()) {
        name = format!("{name}:C={}", get_hash(&c.name));
    }
    let or_all = |s: &str| {
        if s.is_empty() {
            ">".to_owned()
        } else {
            s.to_owned()
        }
    };
    let (filter, dest) = if src.subject_transforms.is_empty() {
        (or_all(&src.filter_subject), ">".to_owned())
    } else {
        let f: Vec<String> = src
            .subject_transforms
            .iter()
            .map(|t| or_all(&t.src))
            .collect();
        let d: Vec<String> = src
            .subject_transforms
            .iter()
            .map(|t| or_all(&t.dest))
            .collect();
        (f.join("\u{c}"), d.join("\u{c}"))
    };
    format!("{name} {filter} {dest}")
}

fn is_valid_asset_name(name: &str) -> bool {
    super::stream_config::is_valid_stream_name(name)
}

fn collide(a: &str, b: &str) -> bool {
    subjects_overlap(a.as_bytes(), b.as_bytes())
}

/// nats-server's mirror and source checks (`checkStreamCfg`), in its order.
pub fn check_origins(cfg: &StreamConfig) -> Result<(), JsApiError> {
    if let Some(m) = &cfg.mirror {
        if cfg.first_seq > 0 {
            return Err(JsApiError::mirror_with_first_seq());
        }
        if !cfg.subjects.is_empty() {
            return Err(JsApiError::mirror_with_subjects());
        }
        if !cfg.sources.is_empty() {
            return Err(JsApiError::mirror_with_sources());
        }
        if cfg.allow_msg_counter {
            return Err(JsApiError::mirror_with_counters());
        }
        if !m.filter_subject.is_empty() && !m.subject_transforms.is_empty() {
            return Err(JsApiError::mirror_multiple_filters_not_allowed());
        }
        if cfg.subject_delete_marker_ttl_ns > 0 {
            return Err(JsApiError::stream_invalid_config(
                "subject delete markers forbidden on mirrors",
            ));
        }
        for (i, t) in m.subject_transforms.iter().enumerate() {
            if !t.src.is_empty() && !is_valid_subject(t.src.as_bytes()) {
                return Err(JsApiError::mirror_invalid_subject_filter(format!(
                    "{BAD_SUBJECT} {}",
                    t.src
                )));
            }
            if m.subject_transforms
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && collide(&t.src, &o.src))
            {
                return Err(JsApiError::mirror_overlapping_subject_filters());
            }
        }
        if m.external.is_none() && !is_valid_asset_name(&m.name) {
            return Err(JsApiError::mirror_invalid_stream_name());
        }
    }
    let mut seen = Vec::new();
    for src in &cfg.sources {
        if !is_valid_asset_name(&src.name) {
            return Err(JsApiError::source_invalid_stream_name());
        }
        let iname = index_name(src);
        if seen.contains(&iname) {
            return Err(JsApiError::source_duplicate_detected());
        }
        seen.push(iname);
        if !src.filter_subject.is_empty() && !src.subject_transforms.is_empty() {
            return Err(JsApiError::source_multiple_filters_not_allowed());
        }
        for t in &src.subject_transforms {
            if !t.src.is_empty() && !is_valid_subject(t.src.as_bytes()) {
                return Err(JsApiError::source_invalid_subject_filter(format!(
                    "{BAD_SUBJECT} {}",
                    t.src
                )));
            }
        }
        for (i, t) in src.subject_transforms.iter().enumerate() {
            if src.subject_transforms.iter().enumerate().any(|(j, o)| {
                j != i && super::stream_config::subject_is_subset(or_all(&t.src), or_all(&o.src))
            }) {
                return Err(JsApiError::source_overlapping_subject_filters());
            }
        }
    }
    Ok(())
}

/// nats-server's cycle check (`checkStreamCfg`): from `cfg`, follow the local (not
/// `external`) sources and mirrors through the account's streams (`lookup`, by name, the
/// stored configs); reaching a visited stream again is a cycle (10052 "detected cycle") —
/// for a source only when the visiting stream's subjects meet its filter (or it has none).
pub fn check_cycle<'a>(
    cfg: &'a StreamConfig,
    lookup: impl Fn(&str) -> Option<&'a StreamConfig>,
) -> Result<(), JsApiError> {
    let cycle = || JsApiError::stream_invalid_config("detected cycle");
    let mut to_visit: std::collections::VecDeque<&StreamConfig> = [cfg].into();
    let mut visited: Vec<&str> = Vec::new();
    while let Some(c) = to_visit.pop_front() {
        visited.push(&c.name);
        for src in c.sources.iter().filter(|s| s.external.is_none()) {
            if visited.contains(&src.name.as_str()) {
                let meets = src.filter_subject.is_empty()
                    || c.subjects.iter().any(|s| collide(s, &src.filter_subject));
                if meets {
                    return Err(cycle());
                }
            } else if let Some(next) = lookup(&src.name) {
                to_visit.push_back(next);
            }
        }
        if let Some(m) = c.mirror.as_ref().filter(|m| m.external.is_none()) {
            if visited.contains(&m.name.as_str()) {
                return Err(cycle());
            }
            if let Some(next) = lookup(&m.name) {
                to_visit.push_back(next);
            }
        }
    }
    Ok(())
}

fn or_all(s: &str) -> &str {
    if s.is_empty() {
        ">"
    } else {
        s
    }
}

/// One token of a transform's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DestToken {
    Literal(String),
    /// The n-th (0-based) wildcard of the source (`{{wildcard(n+1)}}`, `$n+1`, or a
    /// positional `*`).
    Wildcard(usize),
    /// What the source's `>` matched.
    Rest,
}

/// A subject transform (`src` → `dest`): the source's `*` tokens are captured in order and
/// its `>` tail; the destination places them by `{{wildcard(n)}}`/`$n`, or positionally by
/// `*` and `>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    src: Vec<String>,
    dest: Vec<DestToken>,
}

impl Transform {
    /// Compiles `src` → `dest` (empty = `>`, empty dest = unchanged).
    pub fn new(src: &str, dest: &str) -> Transform {
        let src: Vec<String> = or_all(src).split('.').map(str::to_owned).collect();
        let dest_s = if dest.is_empty() {
            src.join(".")
        } else {
            dest.to_owned()
        };
        let mut star = 0;
        let dest = dest_s
            .split('.')
            .map(|t| {
                if t == "*" {
                    star += 1;
                    DestToken::Wildcard(star - 1)
                } else if t == ">" {
                    DestToken::Rest
                } else if let Some(n) = wildcard_index(t) {
                    DestToken::Wildcard(n.saturating_sub(1))
                } else {
                    DestToken::Literal(t.to_owned())
                }
            })
            .collect();
        Transform { src, dest }
    }

    /// The transformed subject, if `subject` matches the source.
    pub fn apply(&self, subject: &str) -> Option<String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut stars = Vec::new();
        let mut rest: Option<String> = None;
        for (i, s) in self.src.iter().enumerate() {
            match s.as_str() {
                ">" => {
                    if i >= tokens.len() {
                        return None;
                    }
                    rest = Some(tokens[i..].join("."));
                    break;
                }
                "*" => stars.push(*tokens.get(i)?),
                lit => {
                    if tokens.get(i) != Some(&lit) {
                        return None;
                    }
                }
            }
        }
        if rest.is_none() && tokens.len() != self.src.len() {
            return None;
        }
        let mut out = Vec::with_capacity(self.dest.len());
        for d in &self.dest {
            match d {
                DestToken::Literal(l) => out.push(l.clone()),
                DestToken::Wildcard(n) => out.push((*stars.get(*n)?).to_owned()),
                DestToken::Rest => out.push(rest.clone()?),
            }
        }
        Some(out.join("."))
    }
}

/// `{{wildcard(n)}}` / `{{ wildcard( n ) }}` / `$n`.
fn wildcard_index(token: &str) -> Option<usize> {
    if let Some(n) = token.strip_prefix('$') {
        return n.parse().ok();
    }
    let inner = token.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let args = inner
        .strip_prefix("wildcard")
        .or_else(|| inner.strip_prefix("Wildcard"))?
        .trim();
    args.strip_prefix('(')?
        .strip_suffix(')')?
        .trim()
        .parse()
        .ok()
}

/// A source's (or the mirror's) state as STREAM.INFO shows it (`StreamSourceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// Origin stream.
    pub name: String,
    /// Cross-domain prefixes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalStream>,
    /// Messages the origin holds that are not here yet.
    pub lag: u64,
    /// Nanoseconds since the origin was last heard from; -1 never.
    pub active: i64,
    /// Why the link is not working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsApiError>,
    /// Filter.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Transforms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_transforms: Vec<super::SubjectTransform>,
    /// The last origin sequence received (nats-server 2.15 shows it; 0: none yet).
    #[serde(skip_serializing_if = "is_zero")]
    pub seq: u64,
}

/// The consumer config a mirror or source asks the origin for (nats-server's
/// `setupMirrorConsumer`/`trySetupSourceConsumer` request, in its key order, without the
/// `sourcing` flag and API level 4 that servers older than 2.14 refuse).
#[derive(Debug, Clone, Serialize)]
pub struct OriginConsumerRequest {
    /// Origin stream.
    #[serde(rename = "stream_name")]
    pub stream: String,
    /// The consumer config.
    pub config: OriginConsumerConfig,
}

/// See [`OriginConsumerRequest`].
#[derive(Debug, Clone, Serialize)]
pub struct OriginConsumerConfig {
    /// Unique consumer name.
    pub name: String,
    /// Where messages go.
    pub deliver_subject: String,
    /// `all`, `by_start_sequence`, `by_start_time`.
    pub deliver_policy: &'static str,
    /// Start sequence.
    #[serde(skip_serializing_if = "is_zero")]
    pub opt_start_seq: u64,
    /// Start time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<String>,
    /// Always `none`.
    pub ack_policy: &'static str,
    /// 22 h, ns.
    pub ack_wait: u64,
    /// 1.
    pub max_deliver: i64,
    /// Filter.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Filters (transforms' sources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter_subjects: Vec<String>,
    /// `instant`.
    pub replay_policy: &'static str,
    /// 1 s, ns.
    pub idle_heartbeat: u64,
    /// True.
    pub flow_control: bool,
    /// True.
    pub direct: bool,
    /// 10 s, ns.
    pub inactive_threshold: u64,
    /// `_nats.mirror.*` / `_nats.src.*`.
    pub metadata: std::collections::BTreeMap<String, String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_map_wildcards() {
        let t = Transform::new("orders.*.>", "shop.{{wildcard(1)}}.x.>");
        assert_eq!(t.apply("orders.eu.a.b").as_deref(), Some("shop.eu.x.a.b"));
        assert_eq!(t.apply("other.eu.a"), None);
        let t = Transform::new("a.*", "b.*");
        assert_eq!(t.apply("a.1").as_deref(), Some("b.1"));
        assert_eq!(t.apply("a.1.2"), None);
        let t = Transform::new("", "copy.>");
        assert_eq!(t.apply("x.y").as_deref(), Some("copy.x.y"));
        let t = Transform::new("a.>", "");
        assert_eq!(t.apply("a.b").as_deref(), Some("a.b"));
        let t = Transform::new("a.*.*", "$2.$1");
        assert_eq!(t.apply("a.x.y").as_deref(), Some("y.x"));
    }

    #[test]
    fn index_names_as_nats_server() {
        let src = StreamSource {
            name: "O".into(),
            ..Default::default()
        };
        assert_eq!(index_name(&src), "O > >");
        let src = StreamSource {
            name: "O".into(),
            filter_subject: "o.a".into(),
            ..Default::default()
        };
        assert_eq!(index_name(&src), "O o.a >");
        assert_eq!(get_hash("$JS.hub.API").len(), 8);
    }
}

/// A mirror's or sources' state as a stream's summary carries it to the catalog (for
/// STREAM.LIST, as nats-server lists `mirror`/`sources`): `active` of each is made at
/// rendering time from when that origin was last heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginsSummary {
    /// A mirror (one entry) or sources.
    pub mirror: bool,
    /// The states, `active` left as -1.
    pub infos: Vec<SourceInfo>,
    /// Per entry: monotonic ns it was last heard from.
    pub last_seen_mono_ns: Vec<Option<u64>>,
}

impl OriginsSummary {
    /// (mirror, sources) as seen at monotonic time `now_mono_ns`.
    pub fn at(&self, now_mono_ns: u64) -> (Option<SourceInfo>, Vec<SourceInfo>) {
        let mut infos = self.infos.clone();
        for (i, seen) in infos.iter_mut().zip(&self.last_seen_mono_ns) {
            i.active = seen.map_or(-1, |t| now_mono_ns.saturating_sub(t) as i64);
        }
        if self.mirror {
            (infos.pop(), Vec::new())
        } else {
            (None, infos)
        }
    }
}
