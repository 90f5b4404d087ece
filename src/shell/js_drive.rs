//! The shell side of the stream host: feeds the sans-IO [`StreamHost`] what the engine
//! matched for JetStream, with the time, and applies the [`HostAction`]s it returns to the
//! engine. No I/O here either (so host tests drive it too); the glommio tasks in
//! `shell/mod.rs` call it.

use ahash::AHashMap;
use bytes::Bytes;

use crate::accounts::AccountId;
use crate::engine::{Engine, InternalDelivery};
use crate::js_ring::JsItem;
use crate::session::SubKey;
use crate::streams::{Clock, EngineQueries, HostAction, StreamHost, SubHandle};

/// Rounds of take → handle → publish → take again before giving up on settling.
const MAX_ROUNDS: usize = 64;

/// The last interest answer the engine gave, valid while its interest epoch stands (every
/// subscription added or removed here, every interest update from a peer moves it). A
/// push consumer asks about its deliver subject after every ack, a pull consumer about
/// its requester's inbox on every pass: mostly the same subject again.
#[derive(Default)]
struct InterestMemo {
    epoch: u64,
    subject: Option<Bytes>,
    answer: bool,
}

/// The engine as the host may see it: queries only, in the host's account.
struct Queries<'a>(&'a mut Engine, AccountId, &'a mut InterestMemo);

impl crate::consumer::Interest for Queries<'_> {
    fn has_interest(&mut self, subject: &Bytes) -> bool {
        let epoch = self.0.interest_epoch();
        let memo = &mut *self.2;
        if memo.epoch == epoch && memo.subject.as_ref() == Some(subject) {
            return memo.answer;
        }
        let answer = self.0.has_interest_in(self.1, subject);
        *memo = InterestMemo {
            epoch,
            subject: Some(subject.clone()),
            answer,
        };
        answer
    }
}

impl EngineQueries for Queries<'_> {
    fn interest_seq(&self) -> u64 {
        self.0.interest_seq()
    }

    fn interest_visible(&self, seq: u64) -> bool {
        self.0.interest_visible(seq)
    }
}

/// One core's link between its engine and the stream host of one account.
#[derive(Default)]
pub struct JsDriver {
    /// The account the host serves: its subscriptions, publishes and ring items are there.
    account: AccountId,
    /// The engine's key of each internal subscription the host made.
    subs: AHashMap<SubHandle, SubKey>,
    actions: Vec<HostAction>,
    internal: Vec<InternalDelivery>,
    more_internal: Vec<InternalDelivery>,
    js: Vec<(usize, JsItem)>,
    interest: InterestMemo,
}

impl JsDriver {
    /// A driver of `$G`'s host with no subscriptions yet (host tests).
    #[cfg(test)]
    pub fn new() -> Self {
        Self::for_account(crate::accounts::GLOBAL)
    }

    /// A driver of `account`'s host with no subscriptions yet.
    pub fn for_account(account: AccountId) -> Self {
        JsDriver {
            account,
            ..Self::default()
        }
    }

    /// Applies what the host asked for since the last call, then tells it so (which may
    /// release held replies: applied too).
    pub fn apply(&mut self, host: &mut StreamHost, engine: &mut Engine) {
        // Called after every input: most acks change nothing the engine must hear of.
        if host.actions_settled() {
            return;
        }
        loop {
            host.take_actions(&mut self.actions);
            let any = !self.actions.is_empty();
            for a in self.actions.drain(..) {
                apply_one(&mut self.subs, engine, self.account, a);
            }
            // Replies held for the subscriptions just made wait for their interest sequence.
            host.handle_actions_applied(&mut Queries(engine, self.account, &mut self.interest));
            if !any {
                return;
            }
        }
    }

    /// Processes everything the engine matched for JetStream, repeatedly, since answering
    /// can itself produce deliveries (bounded).
    pub fn drive(&mut self, host: &mut StreamHost, engine: &mut Engine, now: Clock) {
        self.apply(host, engine);
        host.handle_interest_progress(&mut Queries(engine, self.account, &mut self.interest));
        self.apply(host, engine);
        for _round in 0..MAX_ROUNDS {
            engine.take_internal_in(self.account, &mut self.internal);
            engine.take_js_in(self.account, &mut self.js);
            let own = host.take_own_items();
            if host.has_new_messages() {
                host.handle_new_messages(
                    now,
                    &mut Queries(engine, self.account, &mut self.interest),
                );
                self.apply(host, engine);
                // Deliveries may have fed internal subscribers: look again.
                engine.take_internal_in(self.account, &mut self.more_internal);
                self.internal.append(&mut self.more_internal);
            }
            if self.internal.is_empty() && self.js.is_empty() && own.is_empty() {
                let sent = host.handle_idle();
                self.apply(host, engine);
                if sent {
                    continue;
                }
                return;
            }
            let mut internal = std::mem::take(&mut self.internal);
            for d in internal.drain(..) {
                host.handle_delivery(
                    d,
                    now,
                    &mut Queries(engine, self.account, &mut self.interest),
                );
                self.apply(host, engine);
            }
            self.internal = internal;
            let mut js = std::mem::take(&mut self.js);
            for (peer, item) in js.drain(..) {
                host.handle_ring_item(
                    peer,
                    item,
                    now,
                    &mut Queries(engine, self.account, &mut self.interest),
                );
                self.apply(host, engine);
            }
            self.js = js;
            let me = engine.core_id();
            for item in own {
                host.handle_ring_item(
                    me,
                    item,
                    now,
                    &mut Queries(engine, self.account, &mut self.interest),
                );
                self.apply(host, engine);
            }
        }
        tracing::warn!("jetstream: internal message loop did not settle in {MAX_ROUNDS} rounds");
    }

    /// Interest changed (a subscription appeared here or on a peer): push consumers that
    /// waited for a subscriber deliver now.
    pub fn interest_changed(&mut self, host: &mut StreamHost, engine: &mut Engine, now: Clock) {
        host.handle_interest_change(now, &mut Queries(engine, self.account, &mut self.interest));
        self.apply(host, engine);
    }

    /// Shutdown: waiting pull requests are answered (`409 Server Shutdown`), and what that
    /// produces is routed.
    pub fn shutdown(&mut self, host: &mut StreamHost, engine: &mut Engine, now: Clock) {
        host.handle_shutdown(now, &mut Queries(engine, self.account, &mut self.interest));
        self.apply(host, engine);
        self.drive(host, engine, now);
    }

    /// Periodic work: age-based expiry, then whatever follows from it.
    pub fn tick(&mut self, host: &mut StreamHost, engine: &mut Engine, now: Clock) {
        host.handle_expiry_tick(now);
        self.drive(host, engine, now);
    }

    /// Consumer timers (redeliveries, pull expiry, heartbeats, inactivity) and expiry.
    pub fn tick_consumers(&mut self, host: &mut StreamHost, engine: &mut Engine, now: Clock) {
        host.handle_tick(now, &mut Queries(engine, self.account, &mut self.interest));
        self.apply(host, engine);
        self.drive(host, engine, now);
    }
}

fn apply_one(
    subs: &mut AHashMap<SubHandle, SubKey>,
    engine: &mut Engine,
    account: AccountId,
    a: HostAction,
) {
    match a {
        HostAction::Subscribe {
            handle,
            subject,
            target,
        } => {
            let key = engine.add_internal_sub_in(account, &subject, target);
            subs.insert(handle, key);
        }
        HostAction::Unsubscribe { handle } => {
            if let Some(key) = subs.remove(&handle) {
                engine.remove_internal_sub(key);
            }
        }
        HostAction::Publish {
            subject,
            reply,
            header_len,
            message,
        } => {
            engine.publish_internal_in(account, &subject, reply.as_ref(), header_len, &message);
        }
        HostAction::PublishAs {
            to,
            shown,
            reply,
            header_len,
            message,
        } => {
            engine.publish_internal_as_in(account, &to, &shown, Some(&reply), header_len, &message);
        }
        HostAction::Send { core, item } => engine.send_js_in(core, account, item),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::consumer::Interest;
    use crate::engine::tests::{info, limits};
    use crate::engine::EngineConfig;

    /// The remembered answer follows subscribe and unsubscribe (the epoch moves both ways).
    #[test]
    fn interest_memo_follows_subscribe_and_unsubscribe() {
        let mut engine = Engine::new(EngineConfig {
            core_id: 0,
            n_cores: 1,
            limits: limits(),
            info: info(),
        });
        let conn = engine.open_conn("127.0.0.1", 0, true);
        let mut memo = InterestMemo::default();
        let subject = Bytes::from_static(b"_INBOX.x");
        let feed = |engine: &mut Engine, s: &str| {
            let mut buf = BytesMut::from(s.as_bytes());
            engine.on_read(conn, &mut buf, 0);
        };
        feed(&mut engine, "CONNECT {\"verbose\":false}\r\n");
        assert!(!Queries(&mut engine, crate::accounts::GLOBAL, &mut memo).has_interest(&subject));
        feed(&mut engine, "SUB _INBOX.* 1\r\n");
        assert!(Queries(&mut engine, crate::accounts::GLOBAL, &mut memo).has_interest(&subject));
        assert!(Queries(&mut engine, crate::accounts::GLOBAL, &mut memo).has_interest(&subject));
        feed(&mut engine, "UNSUB 1\r\n");
        assert!(!Queries(&mut engine, crate::accounts::GLOBAL, &mut memo).has_interest(&subject));
        assert!(!Queries(&mut engine, crate::accounts::GLOBAL, &mut memo)
            .has_interest(&Bytes::from_static(b"other")));
    }
}
