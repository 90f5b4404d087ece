//! What may cross one leaf link (sans-IO): a remote's `deny_exports` (subjects this server
//! never sends over it) and `deny_imports` (subjects it never takes from it), with
//! nats-server's rules for leaf connections:
//!
//! - a message is sent only if its subject matches no export deny (and a literal `LS+` for
//!   such a subject is ignored: the soliciting side's "no-op" violation; a hub refuses it);
//! - a received message whose subject matches an import deny is dropped;
//! - interest is announced only for subscriptions no import deny covers (a subscription's
//!   own wildcards are literals: `foo.*` is covered by `foo.>`, `>` is not covered by `foo`,
//!   and messages of the denied part are then dropped on receipt);
//! - the soliciting side tells the hub its import denies (`deny_pub` in CONNECT), which the
//!   hub adds to its export denies for the link.

use crate::subject::{is_literal, subject_matches};

/// One link's deny lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPerms {
    deny_exports: Vec<Vec<u8>>,
    deny_imports: Vec<Vec<u8>>,
}

impl LinkPerms {
    /// Deny lists from config strings.
    pub fn new(deny_exports: &[String], deny_imports: &[String]) -> LinkPerms {
        let conv = |v: &[String]| v.iter().map(|s| s.as_bytes().to_vec()).collect();
        LinkPerms {
            deny_exports: conv(deny_exports),
            deny_imports: conv(deny_imports),
        }
    }

    /// Whether nothing is denied (the common case: no checks on the message path).
    pub fn is_open(&self) -> bool {
        self.deny_exports.is_empty() && self.deny_imports.is_empty()
    }

    /// The import denies, as sent in CONNECT's `deny_pub`.
    pub fn deny_imports(&self) -> Vec<String> {
        self.deny_imports
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect()
    }

    /// Adds export denies (a hub: the leaf's `deny_pub`).
    pub fn add_deny_exports(&mut self, subjects: &[String]) {
        for s in subjects {
            let s = s.as_bytes().to_vec();
            if !self.deny_exports.contains(&s) {
                self.deny_exports.push(s);
            }
        }
    }

    /// Whether a message on `subject` may be sent over the link.
    pub fn may_send(&self, subject: &[u8]) -> bool {
        !self
            .deny_exports
            .iter()
            .any(|d| subject_matches(d, subject))
    }

    /// Whether a message on `subject` received from the link may be delivered here.
    pub fn may_receive(&self, subject: &[u8]) -> bool {
        !self
            .deny_imports
            .iter()
            .any(|d| subject_matches(d, subject))
    }

    /// Whether interest in `subject` (a subscription, maybe with wildcards) is announced.
    pub fn may_announce(&self, subject: &[u8]) -> bool {
        self.may_receive(subject)
    }

    /// Whether the other side's `LS+ subject` is taken: a literal subject this side may not
    /// send is not (a wildcard one is, its messages checked one by one).
    pub fn accepts_interest(&self, subject: &[u8]) -> bool {
        !is_literal(subject) || self.may_send(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn denies_as_nats_server() {
        let p = LinkPerms::new(&v(&["secret.>", "x"]), &v(&["private.*"]));
        assert!(!p.is_open());
        assert!(!p.may_send(b"secret.a.b"));
        assert!(!p.may_send(b"x"));
        assert!(p.may_send(b"xy"));
        assert!(p.may_receive(b"secret.a"));
        assert!(!p.may_receive(b"private.a"));
        assert!(p.may_receive(b"private.a.b"));
        assert!(!p.may_announce(b"private.*"));
        assert!(!p.may_announce(b"private.a"));
        assert!(p.may_announce(b">"), "a wider subscription is announced");
        assert!(!p.accepts_interest(b"secret.q"));
        assert!(
            p.accepts_interest(b"secret.*"),
            "wildcards checked per message"
        );
        assert_eq!(p.deny_imports(), v(&["private.*"]));
        let mut hub = LinkPerms::default();
        assert!(hub.is_open());
        hub.add_deny_exports(&v(&["private.*"]));
        assert!(!hub.may_send(b"private.z"));
    }
}
