//! Pull requests of a [`Consumer`]: the waiting queue, `no_wait`, exact expiry, the
//! requester's interest, `max_bytes`, and the answers at deletion and shutdown
//! (nats-server's semantics, see ARCHITECTURE.md "Life of a consumed message").

use bytes::Bytes;

use super::{status_block, Consumer, Interest, MessageSource, Output, PullSpec, PullWait};

impl Consumer {
    /// A pull request (already checked against the consumer's limits by the host).
    pub fn on_pull(
        &mut self,
        reply: Bytes,
        spec: PullSpec,
        now_ns: u64,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) {
        self.last_activity_ns = now_ns;
        if !self.admit_priority(&reply, spec.group.as_ref(), now_ns) {
            return;
        }
        // Requests past their deadline or whose requester left no longer count (for the
        // limit and for what earlier requests claim).
        if spec.no_wait || self.waiting.len() >= self.params.max_waiting.max(1) {
            self.expire_waiting(now_ns, interest);
        }
        if self.waiting.len() >= self.params.max_waiting.max(1) {
            self.outputs.push(Output::Status {
                to: reply,
                headers: status_block(409, "Exceeded MaxWaiting", None),
                reply: None,
            });
            return;
        }
        if spec.no_wait {
            // nats-server: nothing available and no expiry ends the request at once; when
            // earlier requests already claim everything available, 408 Requests Pending.
            let available = self.num_pending(src) + self.redeliver.len() as u64;
            if available == 0 && spec.expires_ns == 0 {
                self.outputs.push(Output::Status {
                    to: reply,
                    headers: status_block(404, "No Messages", None),
                    reply: None,
                });
                return;
            }
            let claimed: u64 = self.waiting.iter().map(|w| w.batch_left).sum();
            if available > 0 && available < claimed {
                self.outputs.push(Output::Status {
                    to: reply,
                    headers: status_block(408, "Requests Pending", None),
                    reply: None,
                });
                return;
            }
        }
        self.enqueue(PullWait {
            reply,
            batch_left: spec.batch.max(1),
            bytes_left: (spec.max_bytes > 0).then_some(spec.max_bytes),
            expires_at_ns: (spec.expires_ns > 0).then(|| now_ns.saturating_add(spec.expires_ns)),
            no_wait: spec.no_wait,
            heartbeat_ns: spec.heartbeat_ns,
            last_sent_ns: now_ns,
            delivered: 0,
            group: spec.group,
            seen_pass: 0,
        });
        self.poll(now_ns, interest, src);
    }

    /// Drops waiting requests that can take nothing more (past their deadline: `408`; nobody
    /// listening: silently), as nats-server does before it reports `num_waiting`.
    pub fn prune_waiting(&mut self, now_ns: u64, interest: &mut dyn Interest) {
        self.expire_waiting(now_ns, interest);
    }

    /// Ends waiting requests whose deadline has come (`408 Request Timeout`, exact: a
    /// request at or past its deadline is never handed anything) and silently drops those
    /// whose requester no longer listens on the reply subject (as nats-server does), so no
    /// message is handed to an inbox nobody reads.
    pub(super) fn expire_waiting(&mut self, now_ns: u64, interest: &mut dyn Interest) {
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            if w.expires_at_ns.is_some_and(|t| t <= now_ns) {
                let w = self.waiting.remove(i).expect("index in range");
                self.outputs.push(ended(w, 408, "Request Timeout"));
            } else if !interest.has_interest(&w.reply) {
                self.waiting.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The consumer is going away: tell waiting pull requests.
    pub fn on_delete(&mut self) {
        for w in self.waiting.drain(..) {
            self.outputs.push(Output::Status {
                to: w.reply,
                headers: status_block(409, "Consumer Deleted", None),
                reply: None,
            });
        }
    }

    /// The server is shutting down: every waiting pull request is told so (nats-server's
    /// `409 Server Shutdown` with what it still wanted), so its client pulls again from the
    /// restarted server instead of waiting out its expiry.
    pub fn on_shutdown(&mut self) {
        for w in std::mem::take(&mut self.waiting) {
            self.outputs.push(ended(w, 409, "Server Shutdown"));
        }
    }

    /// Hands messages to waiting requests, one at a time to the head of the queue as
    /// `priority::settle_head` leaves it (nats-server's `nextWaiting`), which then goes to
    /// the back while it wants more (round robin; `prioritized`: behind its priority).
    pub(super) fn deliver_pull(
        &mut self,
        now_ns: u64,
        interest: &mut dyn Interest,
        src: &dyn MessageSource,
    ) {
        self.poll_pass += 1;
        for _ in 0..65_536 {
            if self.waiting.is_empty() {
                return;
            }
            let Some((msg_seq, redelivery)) = self.next_candidate(src) else {
                self.finish_no_wait();
                return;
            };
            if !self.replay_due(msg_seq, now_ns, src) {
                return;
            }
            let size = src.get(msg_seq).map_or(0, |m| self.wire_size(&m));
            if !self.settle_head(now_ns, size, redelivery, interest, src) {
                // Nobody may take it now: one-shot requests end as when nothing is there.
                self.finish_no_wait();
                return;
            }
            let to = self.waiting.front().expect("settled head").reply.clone();
            let Some(size) = self.deliver_one(msg_seq, redelivery, &to, now_ns, src) else {
                continue;
            };
            self.mark_pin();
            let w = self.waiting.front_mut().expect("settled head");
            w.batch_left -= 1;
            w.delivered += 1;
            w.last_sent_ns = now_ns;
            if let Some(b) = &mut w.bytes_left {
                *b = b.saturating_sub(size);
            }
            self.requeue_head();
        }
    }

    /// Nothing more to deliver now: `no_wait` requests end here (`404 No Messages`) unless
    /// they have an expiry and got nothing yet — those wait for the first message or their
    /// expiry (nats-server's one-shot semantics).
    pub(super) fn finish_no_wait(&mut self) {
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            if w.no_wait && (w.expires_at_ns.is_none() || w.delivered > 0) {
                let w = self.waiting.remove(i).expect("index in range");
                self.outputs.push(Output::Status {
                    to: w.reply,
                    headers: status_block(404, "No Messages", None),
                    reply: None,
                });
            } else {
                i += 1;
            }
        }
    }

    /// The earliest deadline of a waiting pull request (unix ns), so the host can wake up
    /// for it rather than answer `408` up to a tick late.
    pub fn next_pull_expiry_ns(&self) -> Option<u64> {
        let pin = self.pin().map(|p| p.deadline_ns);
        self.waiting
            .iter()
            .filter_map(|w| w.expires_at_ns)
            .chain(pin)
            .min()
    }
}

/// The status that ends request `w`, with what it still wanted (`Nats-Pending-Messages`,
/// `Nats-Pending-Bytes`).
pub(super) fn ended(w: PullWait, code: u16, description: &str) -> Output {
    Output::Status {
        to: w.reply,
        headers: status_block(
            code,
            description,
            Some((w.batch_left, w.bytes_left.unwrap_or(0))),
        ),
        reply: None,
    }
}
