//! Priority groups of a pull consumer (nats-server 2.11+, ADR-42): which waiting pull
//! request a message goes to under `priority_policy` `overflow`, `pinned_client` or
//! `prioritized`; the pin (`Nats-Pin-Id`) and its timeout (`priority_timeout`); the refusals
//! of a pull request's priority fields; CONSUMER.UNPIN.
//!
//! nats-server's model, kept here: the waiting queue is served from its head. A request
//! that may not take the message now (another client holds the pin, `min_pending` /
//! `min_ack_pending` not reached) is moved to the back; once every request was looked at,
//! the message waits. A request that took a message and wants more goes to the back
//! (round robin), or under `prioritized` behind the last request of its priority. The pin
//! goes to the first request without an id when a message is there to deliver; it lapses
//! `priority_timeout` after it was given or last renewed by a request carrying it
//! (checked on [`Consumer::tick`], time passed in, monotonic).

use bytes::Bytes;

use super::{status_block, Consumer, Interest, MessageSource, Output, PullWait};

pub use crate::jetstream::consumer_api::PullGroup;

/// `priority_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// No priority groups: plain pull requests.
    #[default]
    None,
    /// A request with `min_pending` / `min_ack_pending` is served only past either threshold.
    Overflow,
    /// One client at a time (the pinned one) gets messages.
    PinnedClient,
    /// Requests with a lower `priority` value are served first.
    Prioritized,
}

/// The priority settings of a consumer config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriorityParams {
    /// `priority_policy`.
    pub policy: Policy,
    /// `priority_groups` (nats-server uses one; requests must name one of these).
    pub groups: Vec<String>,
    /// `priority_timeout` of `pinned_client`, ns.
    pub pinned_ttl_ns: u64,
}

/// The pin of a `pinned_client` consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The pin id (`Nats-Pin-Id`, `pinned_client_id`), nuid-like: 22 base-62 characters.
    pub id: String,
    /// The group of the request that got it.
    pub group: String,
    /// When it was given (monotonic ns; `pinned_ts` in consumer info).
    pub since_ns: u64,
    /// When it lapses unless renewed (monotonic ns).
    pub deadline_ns: u64,
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SEQ_SPAN: u64 = 62u64.pow(10);

/// Pin ids as nats-server's nuid: a 12-character prefix and a 10-character sequence that
/// advances by a pseudo-random step. Seeded by the host's inputs (no randomness read here).
#[derive(Debug, Clone)]
pub(super) struct PinIds {
    prefix: [u8; 12],
    seq: u64,
    inc: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PinIds {
    /// Ids seeded from the consumer's names and creation time.
    pub(super) fn new(stream: &str, name: &str, now_ns: u64) -> Self {
        // FNV-1a of the names, mixed with the time.
        let mut state = now_ns;
        for b in stream.bytes().chain([b'.']).chain(name.bytes()) {
            state = (state ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let mut prefix = [0u8; 12];
        for p in &mut prefix {
            *p = BASE62[(splitmix(&mut state) % 62) as usize];
        }
        let seq = splitmix(&mut state) % SEQ_SPAN;
        let inc = 33 + splitmix(&mut state) % 300;
        PinIds { prefix, seq, inc }
    }

    fn next_id(&mut self) -> String {
        self.seq = (self.seq + self.inc) % SEQ_SPAN;
        let mut out = self.prefix.to_vec();
        let mut digits = [0u8; 10];
        let mut v = self.seq;
        for d in digits.iter_mut().rev() {
            *d = BASE62[(v % 62) as usize];
            v /= 62;
        }
        out.extend_from_slice(&digits);
        String::from_utf8(out).expect("base62 is ASCII")
    }
}

/// A status to `reply` without pending counts.
fn refusal(reply: &Bytes, code: u16, description: &str) -> Output {
    Output::Status {
        to: reply.clone(),
        headers: status_block(code, description, None),
        reply: None,
    }
}

/// The priority of a waiting request in the `prioritized` order (no priority fields: last).
fn rank(w: &PullWait) -> i64 {
    w.group.as_ref().map_or(i64::from(i32::MAX), |g| g.priority)
}

impl Consumer {
    /// nats-server's checks of a pull request's priority fields, in its order; `false` once
    /// refused (the status is queued). A request carrying the current pin id renews the pin.
    /// `group` is `None` for a non-JSON request, which nothing here checks.
    pub(super) fn admit_priority(
        &mut self,
        reply: &Bytes,
        group: Option<&PullGroup>,
        now_ns: u64,
    ) -> bool {
        let Some(g) = group else { return true };
        let policy = self.params.priority.policy;
        let refused =
            if (g.min_pending != 0 || g.min_ack_pending != 0) && policy != Policy::Overflow {
                Some((400, "Bad Request - Not a Overflow Priority consumer"))
            } else if !g.id.is_empty() && policy != Policy::PinnedClient {
                Some((400, "Bad Request - Not a Pinned Client Priority consumer"))
            } else if !(0..=9).contains(&g.priority) {
                Some((400, "Bad Request - Priority must be between 0 and 9"))
            } else if policy == Policy::None {
                None
            } else if g.group.is_empty() {
                Some((400, "Bad Request - Priority Group missing"))
            } else if !self.params.priority.groups.contains(&g.group) {
                Some((400, "Bad Request - Invalid Priority Group"))
            } else {
                let ttl = self.params.priority.pinned_ttl_ns;
                match &mut self.pin {
                    Some(pin) if pin.id == g.id => {
                        pin.deadline_ns = now_ns.saturating_add(ttl);
                        None
                    }
                    Some(_) if !g.id.is_empty() => Some((423, "Nats-Pin-Id mismatch")),
                    _ => None,
                }
            };
        if let Some((code, text)) = refused {
            self.outputs.push(refusal(reply, code, text));
            return false;
        }
        true
    }

    /// Queues a request: at the back, or under `prioritized` behind every request of the
    /// same or a more urgent priority.
    pub(super) fn enqueue(&mut self, w: PullWait) {
        if self.params.priority.policy == Policy::Prioritized {
            let p = rank(&w);
            let at = self
                .waiting
                .iter()
                .position(|o| rank(o) > p)
                .unwrap_or(self.waiting.len());
            self.waiting.insert(at, w);
        } else {
            self.waiting.push_back(w);
        }
    }

    /// nats-server's `nextWaiting`: settles the head of the queue for a message of `size`
    /// bytes (`redelivery` or a first delivery): requests past their deadline end (`408`),
    /// a request with a stale pin id ends (`423 Nats-Wrong-Pin-Id`), one that may not take it
    /// now is moved to the back, one whose byte budget is too small ends (`409`), one nobody
    /// listens for any more is dropped; the first to pass is at the head, and may get the
    /// pin. `false`: no request may take the message now.
    pub(super) fn settle_head(
        &mut self,
        now_ns: u64,
        size: u64,
        redelivery: bool,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) -> bool {
        let policy = self.params.priority.policy;
        // As nats-server, decided once per message: a pin given to a request that then
        // turns out abandoned is replaced by the next request's.
        let need_new_pin = self.pin.is_none() && policy == Policy::PinnedClient;
        let mut cycled = 0usize;
        loop {
            let Some(w) = self.waiting.front() else {
                return false;
            };
            if w.expires_at_ns.is_some_and(|t| t <= now_ns) {
                let w = self.waiting.pop_front().expect("head");
                self.outputs
                    .push(super::pull::ended(w, 408, "Request Timeout"));
                continue;
            }
            let wid = w.group.as_ref().map_or("", |g| g.id.as_str());
            let mut assigned = false;
            if need_new_pin {
                if !wid.is_empty() {
                    let w = self.waiting.pop_front().expect("head");
                    self.outputs
                        .push(super::pull::ended(w, 423, "Nats-Wrong-Pin-Id"));
                    continue;
                }
                assigned = self.assign_pin(now_ns);
            } else if let Some(pin) = &self.pin {
                if wid.is_empty() {
                    if self.rotate_head(&mut cycled) {
                        continue;
                    }
                    return false;
                }
                if wid != pin.id {
                    let w = self.waiting.pop_front().expect("head");
                    self.outputs
                        .push(super::pull::ended(w, 423, "Nats-Wrong-Pin-Id"));
                    continue;
                }
            }
            let w = self.waiting.front().expect("head");
            if policy == Policy::Overflow {
                let (min_pending, min_ack_pending) = w
                    .group
                    .as_ref()
                    .map_or((0, 0), |g| (g.min_pending, g.min_ack_pending));
                if min_pending > 0 || min_ack_pending > 0 {
                    // nats-server counts pending with this message (+1 for a redelivery,
                    // which it never took off).
                    let pending = self.num_pending(src) + u64::from(redelivery);
                    let acks = self.pending.len() as u64;
                    let over = (min_pending > 0 && min_pending as u64 <= pending)
                        || (min_ack_pending > 0 && min_ack_pending as u64 <= acks);
                    if !over {
                        if self.rotate_head(&mut cycled) {
                            continue;
                        }
                        return false;
                    }
                }
            }
            let w = self.waiting.front().expect("head");
            if let Some(left) = w.bytes_left {
                if size > left {
                    let w = self.waiting.pop_front().expect("head");
                    self.outputs.push(Output::Status {
                        to: w.reply,
                        headers: status_block(
                            409,
                            "Message Size Exceeds MaxBytes",
                            Some((w.batch_left, left)),
                        ),
                        reply: None,
                    });
                    if assigned {
                        self.pin = None;
                    }
                    continue;
                }
            }
            // Someone must still listen on the reply subject; asked once per request and
            // poll (nothing changes interest while one poll runs).
            let pass = self.poll_pass;
            let w = self.waiting.front_mut().expect("head");
            if w.seen_pass != pass {
                if !interest.has_interest(&w.reply) {
                    self.waiting.pop_front();
                    continue;
                }
                w.seen_pass = pass;
            }
            return true;
        }
    }

    /// Moves the head to the back; `false` once every request was looked at.
    fn rotate_head(&mut self, cycled: &mut usize) -> bool {
        if let Some(w) = self.waiting.pop_front() {
            self.waiting.push_back(w);
        }
        *cycled += 1;
        *cycled < self.waiting.len()
    }

    /// Gives the pin to the head request if it names a group (nats-server: a request
    /// without priority fields gets messages but no pin). Whether it did.
    fn assign_pin(&mut self, now_ns: u64) -> bool {
        let Some(group) = self
            .waiting
            .front()
            .and_then(|w| w.group.as_ref())
            .filter(|g| !g.group.is_empty())
            .map(|g| g.group.clone())
        else {
            return false;
        };
        let id = self.pin_ids.next_id();
        if let Some(g) = self.waiting.front_mut().and_then(|w| w.group.as_mut()) {
            g.id = id.clone();
        }
        self.pin = Some(Pin {
            id: id.clone(),
            group: group.clone(),
            since_ns: now_ns,
            deadline_ns: now_ns.saturating_add(self.params.priority.pinned_ttl_ns),
        });
        self.outputs.push(Output::Pinned { group, id });
        true
    }

    /// After the head took a message: done ⇒ removed; otherwise to the back (round robin),
    /// or under `prioritized` behind the last request of its priority.
    pub(super) fn requeue_head(&mut self) {
        let Some(w) = self.waiting.front() else {
            return;
        };
        if w.batch_left == 0 {
            self.waiting.pop_front();
        } else if self.waiting.len() > 1 {
            let w = self.waiting.pop_front().expect("head");
            self.enqueue(w);
        }
    }

    /// `pinned_client`: the last delivery (just queued) carries `Nats-Pin-Id` (empty when
    /// nobody holds the pin, as nats-server).
    pub(super) fn mark_pin(&mut self) {
        if self.params.priority.policy != Policy::PinnedClient {
            return;
        }
        let id = self.pin.as_ref().map_or("", |p| p.id.as_str());
        if let Some(Output::Deliver { headers, .. }) = self.outputs.last_mut() {
            *headers = super::delivery_headers::with_header(headers, b"Nats-Pin-Id", id.as_bytes());
        }
    }

    /// The pin lapses `priority_timeout` after it was given or last renewed.
    pub(super) fn expire_pin(&mut self, now_ns: u64) {
        if self.pin.as_ref().is_some_and(|p| p.deadline_ns <= now_ns) {
            let pin = self.pin.take().expect("pinned");
            self.outputs.push(Output::Unpinned {
                group: pin.group,
                reason: "timeout",
            });
        }
    }

    /// CONSUMER.UNPIN of `group` (checked by the host to be one of the consumer's): the pin
    /// is dropped, whoever holds it (the advisory goes out even when nobody did, as
    /// nats-server's); the next pull without an id gets a new one.
    pub fn unpin(
        &mut self,
        group: &str,
        now_ns: u64,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) {
        self.pin = None;
        self.outputs.push(Output::Unpinned {
            group: group.to_owned(),
            reason: "admin",
        });
        self.poll(now_ns, interest, src);
    }

    /// The current pin, if any.
    pub fn pin(&self) -> Option<&Pin> {
        self.pin.as_ref()
    }
}

#[cfg(test)]
#[path = "priority_tests.rs"]
mod tests;
