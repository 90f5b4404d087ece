//! Publish/subscribe permissions (sans-IO): the compiled rules of one user, shared by its
//! connections, and each connection's small decision cache plus its `allow_responses`
//! reply tracking. Rules match as nats-server's: an allow list (absent = everything), then
//! a deny list (deny wins); a published or subscribed subject's own wildcards are literals.

use ahash::AHashMap;
use bytes::Bytes;

use crate::subject::subject_matches;

/// Publish decisions kept per connection; the cache is emptied when full (allowed subjects
/// then cost one lookup and no allocation).
pub const PUB_CACHE_ENTRIES: usize = 256;
/// Tracked reply subjects per connection beyond which expired/used ones are pruned.
const REPLY_PRUNE_AT: usize = 1024;
/// `allow_responses = true`: one response per request (nats-server's default).
pub const DEFAULT_RESPONSE_MAX_MSGS: i64 = 1;
/// `allow_responses = true`: within two minutes of the request (nats-server's default).
pub const DEFAULT_RESPONSE_EXPIRES_NS: u64 = 120 * 1_000_000_000;

/// One allow or deny entry of a subscribe list: a subject pattern and maybe a queue group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
}

impl Rule {
    fn parse(s: &str) -> Rule {
        let mut parts = s.split_whitespace();
        let subject = parts.next().unwrap_or_default().as_bytes().to_vec();
        let queue = parts.next().map(|q| q.as_bytes().to_vec());
        Rule { subject, queue }
    }
}

/// An allow list (None = all) and a deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectRules {
    allow: Option<Vec<Rule>>,
    deny: Vec<Rule>,
}

impl SubjectRules {
    /// Rules from config strings (`"subject"` or, for subscribe, `"subject queue"`).
    pub fn new(allow: Option<&[String]>, deny: &[String]) -> SubjectRules {
        SubjectRules {
            allow: allow.map(|a| a.iter().map(|s| Rule::parse(s)).collect()),
            deny: deny.iter().map(|s| Rule::parse(s)).collect(),
        }
    }

    /// Makes an absent allow list an empty one (nothing allowed), as `allow_responses` does to a user without a publish allow list.
    pub fn ensure_allow_list(&mut self) {
        self.allow.get_or_insert_with(Vec::new);
    }

    /// Publish check: allow list (if any) matches, and no deny entry matches.
    fn allows_publish(&self, subject: &[u8]) -> bool {
        let allowed = self.allow.as_ref().is_none_or(|a| {
            a.iter()
                .any(|r| r.queue.is_none() && subject_matches(&r.subject, subject))
        });
        allowed
            && !self
                .deny
                .iter()
                .any(|r| subject_matches(&r.subject, subject))
    }

    /// Subscribe check with nats-server's queue rules: an allow entry with a queue admits only
    /// that queue; a deny entry with a queue refuses only that queue.
    fn allows_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let mut allowed = true;
        if let Some(allow) = &self.allow {
            let plain = allow
                .iter()
                .any(|r| r.queue.is_none() && subject_matches(&r.subject, subject));
            allowed = plain;
            if let Some(q) = queue {
                let mut queue_rules = allow
                    .iter()
                    .filter(|r| r.queue.is_some() && subject_matches(&r.subject, subject))
                    .peekable();
                if queue_rules.peek().is_some() {
                    allowed = queue_rules.any(|r| queue_matches(r.queue.as_deref(), q));
                }
            }
        }
        if allowed {
            allowed = !self
                .deny
                .iter()
                .any(|r| r.queue.is_none() && subject_matches(&r.subject, subject));
            if let (true, Some(q)) = (allowed, queue) {
                allowed = !self.deny.iter().any(|r| {
                    r.queue.is_some()
                        && subject_matches(&r.subject, subject)
                        && queue_matches(r.queue.as_deref(), q)
                });
            }
        }
        allowed
    }
}

/// A queue rule matches a queue name like a subject pattern (nats-server's `queueMatches`).
fn queue_matches(rule: Option<&[u8]>, queue: &[u8]) -> bool {
    rule.is_some_and(|r| subject_matches(r, queue))
}

/// `allow_responses` bounds: responses per request (<= 0 = unlimited) and their window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per received request; <= 0 = unlimited.
    pub max_msgs: i64,
    /// Window after the request; 0 = no expiry.
    pub expires_ns: u64,
}

/// One user's compiled permissions (shared by all its connections).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Publish rules; `None` = publish anything.
    pub publish: Option<SubjectRules>,
    /// Subscribe rules; `None` = subscribe to anything.
    pub subscribe: Option<SubjectRules>,
    /// Dynamic reply permission.
    pub responses: Option<ResponsePermission>,
}

impl Permissions {
    /// Whether the rules alone (no reply tracking) let the user publish to `subject`.
    pub fn static_publish_allowed(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|p| p.allows_publish(subject))
    }

    /// Whether the user may subscribe to `subject` (in `queue`, if given).
    pub fn subscribe_allowed(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_none_or(|s| s.allows_subscribe(subject, queue))
    }
}

/// A reply subject this connection may answer: when it arrived and how often it was used.
#[derive(Debug, Clone, Copy)]
struct TrackedReply {
    at_ns: u64,
    used: i64,
}

/// One connection's view of its user's permissions: the rules plus a bounded cache of
/// publish decisions and the replies it may answer (`allow_responses`).
#[derive(Debug)]
pub struct ConnPermissions {
    perms: std::sync::Arc<Permissions>,
    pub_cache: AHashMap<Bytes, bool>,
    replies: AHashMap<Bytes, TrackedReply>,
    /// Set once a wildcard or queue subscription may overlap a subscribe deny entry: from
    /// then on every delivery is checked against the deny list (nats-server's deny filter).
    deny_filter: bool,
    /// Delivery decisions of the deny filter for plain subscriptions (true = denied).
    deny_cache: AHashMap<Bytes, bool>,
}

impl ConnPermissions {
    /// A connection of a user with these permissions.
    pub fn new(perms: std::sync::Arc<Permissions>) -> ConnPermissions {
        ConnPermissions {
            perms,
            pub_cache: AHashMap::new(),
            replies: AHashMap::new(),
            deny_filter: false,
            deny_cache: AHashMap::new(),
        }
    }

    /// Whether the connection may publish to `subject` now (rules, then tracked replies).
    /// A cached decision costs one hash lookup and no allocation.
    pub fn can_publish(&mut self, subject: &[u8], now_ns: u64) -> bool {
        if self.perms.publish.is_none() {
            return true;
        }
        let allowed = match self.pub_cache.get(subject) {
            Some(&a) => a,
            None => {
                let a = self.perms.static_publish_allowed(subject);
                if self.pub_cache.len() >= PUB_CACHE_ENTRIES {
                    self.pub_cache.clear();
                }
                self.pub_cache.insert(Bytes::copy_from_slice(subject), a);
                a
            }
        };
        allowed || self.response_allowed(subject, now_ns)
    }

    /// Whether the connection may subscribe to `subject` (in `queue`). An allowed wildcard
    /// or queue subscription that may overlap a deny entry turns the delivery filter on.
    pub fn can_subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.perms.subscribe_allowed(subject, queue) {
            return false;
        }
        if !self.deny_filter && (queue.is_some() || !crate::subject::is_literal(subject)) {
            if let Some(rules) = &self.perms.subscribe {
                self.deny_filter = rules
                    .deny
                    .iter()
                    .any(|r| crate::subject::subjects_overlap(&r.subject, subject));
            }
        }
        true
    }

    /// Whether a message on `subject` for a subscription in `queue` must not be delivered
    /// (the subscribe deny list, once the filter is on). Cached for plain subscriptions.
    pub fn delivery_denied(&mut self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !self.deny_filter {
            return false;
        }
        let Some(rules) = &self.perms.subscribe else {
            return false;
        };
        if let Some(q) = queue {
            return rules.deny.iter().any(|r| {
                subject_matches(&r.subject, subject)
                    && r.queue.as_deref().is_none_or(|rq| subject_matches(rq, q))
            });
        }
        if let Some(&d) = self.deny_cache.get(subject) {
            return d;
        }
        let denied = rules
            .deny
            .iter()
            .any(|r| r.queue.is_none() && subject_matches(&r.subject, subject));
        if self.deny_cache.len() >= PUB_CACHE_ENTRIES {
            self.deny_cache.clear();
        }
        self.deny_cache
            .insert(Bytes::copy_from_slice(subject), denied);
        denied
    }

    /// Whether the connection tracks replies (`allow_responses`), i.e. wants
    /// [`ConnPermissions::on_request_delivered`] for each message with a reply it receives.
    pub fn tracks_replies(&self) -> bool {
        self.perms.responses.is_some()
    }

    /// A message with reply subject `reply` was delivered to this connection: it may answer.
    pub fn on_request_delivered(&mut self, reply: &[u8], now_ns: u64) {
        let Some(rp) = self.perms.responses else {
            return;
        };
        if reply.is_empty() || self.perms.static_publish_allowed(reply) {
            return;
        }
        if self.replies.len() >= REPLY_PRUNE_AT {
            self.replies.retain(|_, t| {
                let used_up = rp.max_msgs > 0 && t.used >= rp.max_msgs;
                let expired = rp.expires_ns > 0 && now_ns.saturating_sub(t.at_ns) > rp.expires_ns;
                !(used_up || expired)
            });
        }
        self.replies.insert(
            Bytes::copy_from_slice(reply),
            TrackedReply {
                at_ns: now_ns,
                used: 0,
            },
        );
    }

    fn response_allowed(&mut self, subject: &[u8], now_ns: u64) -> bool {
        let Some(rp) = self.perms.responses else {
            return false;
        };
        let Some(t) = self.replies.get_mut(subject) else {
            return false;
        };
        t.used += 1;
        let exhausted = rp.max_msgs > 0 && t.used > rp.max_msgs;
        let expired = rp.expires_ns > 0 && now_ns.saturating_sub(t.at_ns) > rp.expires_ns;
        if exhausted || expired {
            self.replies.remove(subject);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn perms(pub_allow: Option<&[&str]>, pub_deny: &[&str]) -> Permissions {
        let allow = pub_allow.map(s);
        Permissions {
            publish: Some(SubjectRules::new(allow.as_deref(), &s(pub_deny))),
            ..Permissions::default()
        }
    }

    #[test]
    fn allow_then_deny_with_wildcards() {
        let p = perms(Some(&["a.>", "b.*"]), &["a.secret.>"]);
        assert!(p.static_publish_allowed(b"a.x"));
        assert!(p.static_publish_allowed(b"a.x.y"));
        assert!(p.static_publish_allowed(b"b.x"));
        assert!(!p.static_publish_allowed(b"b.x.y"));
        assert!(!p.static_publish_allowed(b"a.secret.k"));
        assert!(!p.static_publish_allowed(b"c"));
        let deny_all = perms(None, &[">"]);
        assert!(!deny_all.static_publish_allowed(b"x"));
        assert!(Permissions::default().static_publish_allowed(b"x"));
    }

    #[test]
    fn subscribe_rules_treat_subject_wildcards_as_literals() {
        let p = Permissions {
            subscribe: Some(SubjectRules::new(Some(&s(&["a.>"])), &s(&["a.b"]))),
            ..Permissions::default()
        };
        assert!(p.subscribe_allowed(b"a.*", None));
        assert!(p.subscribe_allowed(b"a.>", None));
        assert!(!p.subscribe_allowed(b"a.b", None));
        assert!(!p.subscribe_allowed(b">", None));
        assert!(!p.subscribe_allowed(b"b", Some(b"q")));
    }

    #[test]
    fn queue_rules() {
        let p = Permissions {
            subscribe: Some(SubjectRules::new(
                Some(&s(&["jobs.* workers", "other.>"])),
                &s(&["other.x bad"]),
            )),
            ..Permissions::default()
        };
        assert!(p.subscribe_allowed(b"jobs.a", Some(b"workers")));
        assert!(!p.subscribe_allowed(b"jobs.a", Some(b"thieves")));
        assert!(!p.subscribe_allowed(b"jobs.a", None));
        assert!(p.subscribe_allowed(b"other.x", Some(b"good")));
        assert!(!p.subscribe_allowed(b"other.x", Some(b"bad")));
        assert!(p.subscribe_allowed(b"other.x", None));
    }

    #[test]
    fn deny_filter_only_after_an_overlapping_wildcard_sub() {
        let p = Permissions {
            subscribe: Some(SubjectRules::new(None, &s(&["a.secret"]))),
            ..Permissions::default()
        };
        let mut c = ConnPermissions::new(Arc::new(p));
        assert!(!c.can_subscribe(b"a.secret", None));
        assert!(c.can_subscribe(b"b.*", None));
        assert!(
            !c.delivery_denied(b"a.secret", None),
            "no overlapping sub yet"
        );
        assert!(c.can_subscribe(b"a.*", None));
        assert!(c.delivery_denied(b"a.secret", None));
        assert!(c.delivery_denied(b"a.secret", None), "cached");
        assert!(!c.delivery_denied(b"a.public", None));
        assert!(c.delivery_denied(b"a.secret", Some(b"q")));
    }

    #[test]
    fn cache_is_bounded_and_consistent() {
        let mut c = ConnPermissions::new(Arc::new(perms(Some(&["ok.>"]), &[])));
        for i in 0..(PUB_CACHE_ENTRIES * 3) {
            let subj = format!("ok.{i}");
            assert!(c.can_publish(subj.as_bytes(), 0));
            assert!(!c.can_publish(format!("no.{i}").as_bytes(), 0));
            assert!(c.pub_cache.len() <= PUB_CACHE_ENTRIES);
        }
        assert!(c.can_publish(b"ok.1", 0));
    }

    #[test]
    fn responses_bounded_by_max_and_expiry() {
        let mut p = perms(Some(&[]), &[]);
        p.responses = Some(ResponsePermission {
            max_msgs: 2,
            expires_ns: 1_000,
        });
        let mut c = ConnPermissions::new(Arc::new(p));
        assert!(!c.can_publish(b"_INBOX.r1", 0));
        c.on_request_delivered(b"_INBOX.r1", 10);
        assert!(c.can_publish(b"_INBOX.r1", 20));
        assert!(c.can_publish(b"_INBOX.r1", 30));
        assert!(!c.can_publish(b"_INBOX.r1", 40), "max 2 responses");
        c.on_request_delivered(b"_INBOX.r2", 100);
        assert!(!c.can_publish(b"_INBOX.r2", 2_000), "expired");
        assert!(!c.can_publish(b"_INBOX.other", 100));
    }

    #[test]
    fn unlimited_responses() {
        let mut p = perms(Some(&[]), &[]);
        p.responses = Some(ResponsePermission {
            max_msgs: -1,
            expires_ns: 0,
        });
        let mut c = ConnPermissions::new(Arc::new(p));
        c.on_request_delivered(b"r", 0);
        for t in 0..10 {
            assert!(c.can_publish(b"r", t * 1_000_000_000_000));
        }
    }
}
