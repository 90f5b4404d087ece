//! A JetStream consumer's delivery and acknowledgement state machine, sans-IO.
//!
//! A [`Consumer`] lives on its stream's owner core. The host feeds it events — a pull
//! request, an ack, a flow-control reply, the passage of time — together with read access to
//! the stream ([`MessageSource`]); the consumer answers with [`Output`]s (deliveries, status
//! replies, advisories, released messages) that the host turns into publishes. It never
//! touches a socket, a file or a clock of its own.
//!
//! State follows nats-server's model: `delivered` (last consumer/stream sequence handed out),
//! `ack_floor`, and `pending` (delivered, not yet acknowledged, with a redelivery deadline).
//! Everything at or below `delivered.stream_seq` that is not pending counts as acknowledged,
//! so a persisted snapshot ([`state::Snapshot`]) can only ever cause a redelivery after a
//! crash, never a skipped message.

pub mod ack;
mod acks;
mod delivery_headers;
use delivery_headers::{fc_token, with_msg_size};
pub mod priority;
mod pull;
mod reset;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::store::{StoredMsg, Stream};
use crate::subject::subject_matches;

pub use ack::{parse_ack_reply, AckKind, AckReply};
pub use priority::{Pin, Policy, PriorityParams, PullGroup};

/// Read access to the stream a consumer reads from.
pub trait MessageSource {
    /// First stored message at or after `from_seq` matching `filters` (empty = all).
    fn next_matching(&self, from_seq: u64, filters: &[Bytes]) -> Option<StoredMsg>;
    /// Stored messages at or after `from_seq` matching `filters`.
    fn count_matching_from(&self, from_seq: u64, filters: &[Bytes]) -> u64;
    /// Message `seq`, if stored.
    fn get(&self, seq: u64) -> Option<StoredMsg>;
    /// Last sequence assigned.
    fn last_seq(&self) -> u64;
    /// Changes whenever a message is removed.
    fn removal_epoch(&self) -> u64;
}

impl MessageSource for Stream {
    fn next_matching(&self, from_seq: u64, filters: &[Bytes]) -> Option<StoredMsg> {
        Stream::next_matching(self, from_seq, filters)
    }
    fn count_matching_from(&self, from_seq: u64, filters: &[Bytes]) -> u64 {
        Stream::count_matching_from(self, from_seq, filters)
    }
    fn get(&self, seq: u64) -> Option<StoredMsg> {
        Stream::get(self, seq)
    }
    fn last_seq(&self) -> u64 {
        Stream::last_seq(self)
    }
    fn removal_epoch(&self) -> u64 {
        Stream::removal_epoch(self)
    }
}

/// Who listens: the host's view of subscription interest (this core's subscriptions and the
/// other cores' announced interest). The consumer asks it before handing a message to a pull
/// request's reply subject or a push consumer's deliver subject; it never reads it itself.
pub trait Interest {
    /// Whether some subscription anywhere matches `subject`.
    fn has_interest(&mut self, subject: &Bytes) -> bool;
}

/// Everyone listens (or no one does), whatever the subject: for tests and simple hosts.
#[derive(Debug, Clone, Copy)]
pub struct Everyone(pub bool);

impl Interest for Everyone {
    fn has_interest(&mut self, _subject: &Bytes) -> bool {
        self.0
    }
}

/// How deliveries are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// No acks: delivered means done.
    None,
    /// An ack covers every pending message up to it.
    All,
    /// Each message is acked on its own.
    Explicit,
}

/// Push delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushParams {
    /// Where messages go.
    pub deliver_subject: Bytes,
    /// Whether to interleave flow-control requests and stall until they are answered.
    pub flow_control: bool,
    /// Idle heartbeat period (0 = none).
    pub idle_heartbeat_ns: u64,
    /// Delivery rate cap in bits per second (0 = none), as `rate_limit_bps`.
    pub rate_limit_bps: u64,
    /// Bytes that may go out at once under the rate cap (nats-server: the stream's
    /// max_msg_size, else the max payload).
    pub rate_burst_bytes: u64,
}

impl PushParams {
    /// The rate cap in bytes per second, if any.
    fn rate_bytes_per_s(&self) -> Option<u64> {
        (self.rate_limit_bps > 0).then(|| (self.rate_limit_bps / 8).max(1))
    }
}

/// Everything the state machine needs from a consumer config, in its own units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Stream name (ack subjects).
    pub stream: String,
    /// Consumer name (ack subjects).
    pub name: String,
    /// Ack policy.
    pub ack: AckMode,
    /// How long a delivery waits for its ack before redelivery.
    pub ack_wait_ns: u64,
    /// Redelivery delays per attempt (overrides `ack_wait_ns` when set).
    pub backoff_ns: Vec<u64>,
    /// Deliveries per message at most (`None` = unlimited).
    pub max_deliver: Option<u64>,
    /// Unacknowledged deliveries at most (`None` = unlimited).
    pub max_ack_pending: Option<u64>,
    /// Subject filters (empty = all).
    pub filters: Vec<Bytes>,
    /// Push settings; `None` = pull consumer.
    pub push: Option<PushParams>,
    /// Waiting pull requests at most.
    pub max_waiting: usize,
    /// Deliver headers and `Nats-Msg-Size` only.
    pub headers_only: bool,
    /// Reproduce the original spacing of messages.
    pub replay_original: bool,
    /// Percentage of acks reported as ack metrics (`sample_freq`; 0 = none).
    pub ack_sample_percent: u8,
    /// Nothing is delivered before this time, unix ns (`pause_until`; 0 = not paused).
    /// Pull requests still queue, expire and get heartbeats meanwhile.
    pub paused_until_ns: u64,
    /// Priority groups of a pull consumer (see `priority.rs`).
    pub priority: PriorityParams,
}

/// Where delivery starts, resolved from the deliver policy when the consumer is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// First stream sequence to consider.
    pub from_seq: u64,
    /// Sequences to deliver first (last-per-subject), ascending; all below `from_seq`.
    pub initial: Vec<u64>,
}

/// What the host must do for the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Publish a stored message to `to` showing its own `subject`, with reply `ack_reply`.
    Deliver {
        /// Routing subject (pull inbox or deliver subject).
        to: Bytes,
        /// The stored subject, shown to the subscriber.
        subject: Bytes,
        /// `$JS.ACK…` reply.
        ack_reply: Bytes,
        /// Header block (possibly extended for headers-only).
        headers: Bytes,
        /// Payload (empty for headers-only).
        payload: Bytes,
    },
    /// A status message (header block only) to `to`, optionally with a reply subject.
    Status {
        /// Where it goes.
        to: Bytes,
        /// The `NATS/1.0 …` header block.
        headers: Vec<u8>,
        /// Reply subject (flow-control requests).
        reply: Option<Bytes>,
    },
    /// A message reached `max_deliver` without an ack.
    MaxDeliveries {
        /// Stream sequence.
        stream_seq: u64,
        /// Deliveries made.
        deliveries: u64,
    },
    /// A message was terminated by `+TERM`.
    Terminated {
        /// Consumer sequence of its last delivery.
        consumer_seq: u64,
        /// Stream sequence.
        stream_seq: u64,
        /// Deliveries made.
        deliveries: u64,
        /// The reason given, if any.
        reason: String,
    },
    /// A message was negatively acknowledged (advisory).
    Naked {
        /// Consumer sequence of its last delivery.
        consumer_seq: u64,
        /// Stream sequence.
        stream_seq: u64,
        /// Deliveries made.
        deliveries: u64,
    },
    /// A sampled ack (`sample_freq`): the ack metric.
    AckSampled {
        /// Consumer sequence of the acked delivery.
        consumer_seq: u64,
        /// Stream sequence.
        stream_seq: u64,
        /// Deliveries made.
        deliveries: u64,
        /// Time from that delivery to its ack.
        ack_time_ns: u64,
    },
    /// The consumer is done with this message (acked, terminated or out of deliveries):
    /// retention policies may release it.
    Done {
        /// Stream sequence.
        stream_seq: u64,
    },
    /// A pull request of `group` got the pin (advisory).
    Pinned {
        /// Priority group.
        group: String,
        /// The new pin id.
        id: String,
    },
    /// The pin of `group` ended (advisory): `timeout` or `admin` (CONSUMER.UNPIN).
    Unpinned {
        /// Priority group.
        group: String,
        /// Why.
        reason: &'static str,
    },
}

/// One outstanding delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingEntry {
    /// Consumer sequence of its latest delivery.
    pub consumer_seq: u64,
    /// Deliveries so far.
    pub deliveries: u64,
    /// When it is redelivered unless acked (unix ns); `u64::MAX` = queued for redelivery now.
    pub deadline_ns: u64,
    /// When its latest delivery went out (unix ns; restart time after a restore).
    pub delivered_ns: u64,
}

/// A waiting pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullWait {
    /// The requester's inbox.
    pub reply: Bytes,
    /// Messages still wanted.
    pub batch_left: u64,
    /// Bytes still allowed (`None` = no limit).
    pub bytes_left: Option<u64>,
    /// When it expires (unix ns).
    pub expires_at_ns: Option<u64>,
    /// Answer at once instead of waiting.
    pub no_wait: bool,
    /// Heartbeat period (0 = none).
    pub heartbeat_ns: u64,
    /// Last time anything was sent to it.
    pub last_sent_ns: u64,
    /// Messages delivered to it so far.
    pub delivered: u64,
    /// Its priority fields (JSON requests; under `pinned_client` the pin it was given).
    pub group: Option<PullGroup>,
    /// The last poll that saw someone listening on `reply`.
    pub seen_pass: u64,
}

/// A pull request as the host decoded it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullSpec {
    /// Messages wanted (≥ 1).
    pub batch: u64,
    /// Byte budget (0 = none).
    pub max_bytes: u64,
    /// Lifetime (0 = until satisfied).
    pub expires_ns: u64,
    /// Answer at once.
    pub no_wait: bool,
    /// Heartbeat period (0 = none).
    pub heartbeat_ns: u64,
    /// Priority fields of a JSON request (`None`: empty or bare-number body).
    pub group: Option<PullGroup>,
}

/// Flow-control window of push consumers: a request after this many bytes…
const FC_REQUEST_BYTES: u64 = 1 << 20;
/// …and a stall once this many are outstanding without a reply.
const FC_STALL_BYTES: u64 = 2 << 20;

#[derive(Debug, Clone, Copy)]
struct PendingCount {
    epoch: u64,
    last_seq: u64,
    count: u64,
}

/// One consumer's state.
#[derive(Debug)]
pub struct Consumer {
    params: Params,
    /// Last consumer sequence handed out (counts redeliveries).
    delivered_cseq: u64,
    /// Highest stream sequence handed out.
    delivered_sseq: u64,
    /// Next stream sequence to consider for a first delivery.
    next_sseq: u64,
    initial: VecDeque<u64>,
    pending: BTreeMap<u64, PendingEntry>,
    /// (deadline, stream seq) of every pending entry with a finite deadline.
    deadlines: BTreeSet<(u64, u64)>,
    /// Pending entries due for redelivery, lowest stream sequence first.
    redeliver: BTreeSet<u64>,
    /// Messages redelivered at least once (for `num_redelivered`).
    redelivered: BTreeSet<u64>,
    waiting: VecDeque<PullWait>,
    pending_count: Option<PendingCount>,
    /// Push: bytes delivered since the last flow-control request was answered.
    fc_bytes: u64,
    /// Push: the outstanding flow-control reply subject.
    fc_pending: Option<Bytes>,
    fc_counter: u64,
    last_activity_ns: u64,
    last_delivery_ns: u64,
    /// replay original: (wall time of the first replayed message, its store time).
    replay_anchor: Option<(u64, u64)>,
    /// Earliest time `poll` has something to do because of replay spacing.
    replay_wait_until_ns: u64,
    /// Bytes the rate cap still lets out now (may dip below 0 by one message).
    rate_allowance_bytes: i64,
    /// Time up to which `rate_allowance_bytes` has been refilled.
    rate_refilled_ns: u64,
    /// Push: the last poll found no subscriber on the deliver subject.
    awaiting_interest: bool,
    /// Ack-sampling accumulator (percent points; a sample each time it passes 100).
    ack_sample_acc: u32,
    /// `pinned_client`: who holds the pin.
    pin: Option<Pin>,
    pin_ids: priority::PinIds,
    /// Counts pull polls (a request's listener is asked once per poll).
    poll_pass: u64,
    dirty: bool,
    outputs: Vec<Output>,
}

pub use crate::jetstream::consumer_api::status_headers as status_block;

/// Idle heartbeat block with the last consumer/stream sequences (and a stalled FC reply).
fn heartbeat_block(last_cseq: u64, last_sseq: u64, stalled: Option<&[u8]>) -> Vec<u8> {
    crate::jetstream::consumer_api::idle_heartbeat_headers(
        last_cseq,
        last_sseq,
        stalled.and_then(|s| std::str::from_utf8(s).ok()),
    )
}

impl Consumer {
    /// A new consumer starting at `start`, at time `now_ns`.
    pub fn new(params: Params, start: Start, now_ns: u64) -> Self {
        debug_assert!(start.initial.iter().all(|&s| s < start.from_seq));
        let delivered_sseq = start
            .initial
            .first()
            .copied()
            .unwrap_or(start.from_seq)
            .saturating_sub(1);
        let pin_ids = priority::PinIds::new(&params.stream, &params.name, now_ns);
        Consumer {
            params,
            delivered_cseq: 0,
            delivered_sseq,
            next_sseq: start.from_seq.max(1),
            initial: start.initial.into(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            redeliver: BTreeSet::new(),
            redelivered: BTreeSet::new(),
            waiting: VecDeque::new(),
            pending_count: None,
            fc_bytes: 0,
            fc_pending: None,
            fc_counter: 0,
            last_activity_ns: now_ns,
            last_delivery_ns: now_ns,
            replay_anchor: None,
            replay_wait_until_ns: 0,
            rate_allowance_bytes: 0,
            rate_refilled_ns: now_ns,
            ack_sample_acc: 0,
            awaiting_interest: true,
            pin: None,
            pin_ids,
            poll_pass: 0,
            dirty: true,
            outputs: Vec::new(),
        }
        .with_full_rate_allowance()
    }

    fn with_full_rate_allowance(mut self) -> Self {
        self.rate_allowance_bytes = self.rate_burst_bytes();
        self
    }

    fn rate_burst_bytes(&self) -> i64 {
        self.params
            .push
            .as_ref()
            .map_or(0, |p| p.rate_burst_bytes.min(i64::MAX as u64) as i64)
    }

    /// Tops up the rate allowance for the time passed, up to the burst; whether any may go out.
    fn rate_allows(&mut self, now_ns: u64) -> bool {
        let Some(per_s) = self
            .params
            .push
            .as_ref()
            .and_then(PushParams::rate_bytes_per_s)
        else {
            return true;
        };
        let burst = self.rate_burst_bytes();
        let elapsed_ns = now_ns.saturating_sub(self.rate_refilled_ns) as u128;
        let add = elapsed_ns * per_s as u128 / 1_000_000_000;
        if add > 0 {
            let topped = (self.rate_allowance_bytes as i128 + add as i128).min(burst as i128);
            self.rate_allowance_bytes = topped as i64;
            // Advance by the time those bytes took, so fractions carry over to the next call.
            self.rate_refilled_ns = if topped == burst as i128 {
                now_ns
            } else {
                self.rate_refilled_ns + (add * 1_000_000_000 / per_s as u128) as u64
            };
        }
        self.rate_allowance_bytes > 0
    }

    /// Rebuilds a consumer from a persisted snapshot: every pending message is due for
    /// redelivery at once, everything else at or below the delivered sequence counts as acked.
    pub fn restore(params: Params, snap: &state::Snapshot, now_ns: u64) -> Self {
        let mut c = Consumer::new(
            params,
            Start {
                from_seq: snap.delivered_sseq + 1,
                initial: Vec::new(),
            },
            now_ns,
        );
        c.delivered_cseq = snap.delivered_cseq;
        c.delivered_sseq = snap.delivered_sseq;
        for p in &snap.pending {
            c.pending.insert(
                p.stream_seq,
                PendingEntry {
                    consumer_seq: p.consumer_seq,
                    deliveries: p.deliveries.max(1),
                    deadline_ns: u64::MAX,
                    delivered_ns: now_ns,
                },
            );
            c.redeliver.insert(p.stream_seq);
            if p.deliveries > 1 {
                c.redelivered.insert(p.stream_seq);
            }
        }
        c.dirty = false;
        c
    }

    /// The persisted form of the current state.
    pub fn snapshot(&self) -> state::Snapshot {
        let (floor_c, floor_s) = self.ack_floor();
        state::Snapshot {
            delivered_cseq: self.delivered_cseq,
            delivered_sseq: self.delivered_sseq,
            ack_floor_cseq: floor_c,
            ack_floor_sseq: floor_s,
            pending: self
                .pending
                .iter()
                .map(|(&s, p)| state::PendingRecord {
                    stream_seq: s,
                    consumer_seq: p.consumer_seq,
                    deliveries: p.deliveries,
                })
                .collect(),
        }
    }

    /// The settings in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Replaces the mutable settings (config update).
    pub fn set_params(&mut self, params: Params) {
        let had_rate = self
            .params
            .push
            .as_ref()
            .is_some_and(|p| p.rate_limit_bps > 0);
        self.params = params;
        if self.params.priority.policy != Policy::PinnedClient {
            self.pin = None;
        }
        if had_rate {
            self.rate_allowance_bytes = self.rate_allowance_bytes.min(self.rate_burst_bytes());
        } else {
            self.rate_allowance_bytes = self.rate_burst_bytes();
        }
    }

    /// Whether the state changed since the last [`Consumer::take_dirty`].
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Drains the outputs produced so far.
    pub fn take_outputs(&mut self, into: &mut Vec<Output>) {
        into.append(&mut self.outputs);
    }

    /// Last time a client did something with this consumer (request, ack, interest).
    pub fn last_activity_ns(&self) -> u64 {
        self.last_activity_ns
    }

    /// Marks client activity (e.g. a push consumer whose deliver subject has interest).
    pub fn touch(&mut self, now_ns: u64) {
        self.last_activity_ns = now_ns;
    }

    /// (consumer seq, stream seq) last delivered.
    pub fn delivered(&self) -> (u64, u64) {
        (self.delivered_cseq, self.delivered_sseq)
    }

    /// (consumer seq, stream seq) below which everything is acknowledged.
    pub fn ack_floor(&self) -> (u64, u64) {
        match self.pending.iter().next() {
            None => (self.delivered_cseq, self.delivered_sseq),
            Some((&sseq, p)) => (
                p.consumer_seq.saturating_sub(1).min(self.delivered_cseq),
                sseq - 1,
            ),
        }
    }

    /// Delivered, unacknowledged messages.
    pub fn num_ack_pending(&self) -> u64 {
        self.pending.len() as u64
    }

    /// Messages delivered more than once and still pending.
    pub fn num_redelivered(&self) -> u64 {
        self.redelivered.len() as u64
    }

    /// Waiting pull requests.
    pub fn num_waiting(&self) -> u64 {
        self.waiting.len() as u64
    }

    /// Messages matching the filter not yet delivered.
    pub fn num_pending(&mut self, src: &dyn MessageSource) -> u64 {
        let epoch = src.removal_epoch();
        let last = src.last_seq();
        let count = match self.pending_count {
            Some(mut c) if c.epoch == epoch => {
                if last > c.last_seq {
                    let from = (c.last_seq + 1).max(self.next_sseq);
                    c.count += src.count_matching_from(from, &self.params.filters);
                    c.last_seq = last;
                }
                c
            }
            _ => PendingCount {
                epoch,
                last_seq: last,
                count: src.count_matching_from(self.next_sseq, &self.params.filters),
            },
        };
        self.pending_count = Some(count);
        count.count + self.initial.len() as u64
    }

    fn acking(&self) -> bool {
        self.params.ack != AckMode::None
    }

    fn wait_for(&self, deliveries: u64) -> u64 {
        let b = &self.params.backoff_ns;
        if b.is_empty() {
            self.params.ack_wait_ns
        } else {
            b[((deliveries as usize).saturating_sub(1)).min(b.len() - 1)]
        }
    }

    fn set_deadline(&mut self, sseq: u64, deadline_ns: u64) {
        if let Some(p) = self.pending.get_mut(&sseq) {
            if p.deadline_ns != u64::MAX {
                self.deadlines.remove(&(p.deadline_ns, sseq));
            }
            p.deadline_ns = deadline_ns;
            if deadline_ns != u64::MAX {
                self.deadlines.insert((deadline_ns, sseq));
            }
        }
    }

    /// `sseq` used up its deliveries: the advisory (and dead letter), and retention may
    /// release it.
    fn give_up(&mut self, sseq: u64, deliveries: u64) {
        self.forget(sseq);
        self.outputs.push(Output::MaxDeliveries {
            stream_seq: sseq,
            deliveries,
        });
        self.outputs.push(Output::Done { stream_seq: sseq });
    }

    fn forget(&mut self, sseq: u64) -> Option<PendingEntry> {
        let p = self.pending.remove(&sseq)?;
        if p.deadline_ns != u64::MAX {
            self.deadlines.remove(&(p.deadline_ns, sseq));
        }
        self.redeliver.remove(&sseq);
        self.redelivered.remove(&sseq);
        self.dirty = true;
        Some(p)
    }

    // ----- pull requests: see pull.rs -----------------------------------------------------

    // ----- acks: see acks.rs -------------------------------------------------------------

    // ----- time -------------------------------------------------------------------------

    /// Timers: ack-wait expiry, pull expiry, heartbeats; then delivers what became possible.
    pub fn tick(&mut self, now_ns: u64, interest: &mut dyn Interest, src: &dyn MessageSource) {
        while let Some(&(deadline, sseq)) = self.deadlines.iter().next() {
            if deadline > now_ns {
                break;
            }
            self.deadlines.remove(&(deadline, sseq));
            let Some(p) = self.pending.get_mut(&sseq) else {
                continue;
            };
            p.deadline_ns = u64::MAX;
            let deliveries = p.deliveries;
            if self.params.max_deliver.is_some_and(|m| deliveries >= m) {
                self.give_up(sseq, deliveries);
            } else {
                self.redeliver.insert(sseq);
            }
        }
        // Pull expiry, lost interest, the pin's timeout and heartbeats.
        self.expire_waiting(now_ns, interest);
        self.expire_pin(now_ns);
        for w in &mut self.waiting {
            if w.heartbeat_ns > 0 && now_ns.saturating_sub(w.last_sent_ns) >= w.heartbeat_ns {
                w.last_sent_ns = now_ns;
                let to = w.reply.clone();
                self.outputs.push(Output::Status {
                    to,
                    headers: heartbeat_block(self.delivered_cseq, self.delivered_sseq, None),
                    reply: None,
                });
            }
        }
        if let Some(push) = &self.params.push {
            let hb = push.idle_heartbeat_ns;
            if hb > 0 && now_ns.saturating_sub(self.last_delivery_ns) >= hb {
                self.last_delivery_ns = now_ns;
                let block = heartbeat_block(
                    self.delivered_cseq,
                    self.delivered_sseq,
                    self.fc_pending.as_deref(),
                );
                self.outputs.push(Output::Status {
                    to: push.deliver_subject.clone(),
                    headers: block,
                    reply: None,
                });
            }
        }
        self.poll(now_ns, interest, src);
    }

    /// Whether a first delivery or a redelivery could be made now (ignoring targets).
    fn has_work(&self, src: &dyn MessageSource) -> bool {
        !self.redeliver.is_empty()
            || !self.initial.is_empty()
            || src
                .next_matching(self.next_sseq, &self.params.filters)
                .is_some()
    }

    /// Delivers whatever can be delivered now: a push consumer while its deliver subject
    /// has a subscriber, a pull consumer to waiting requests that are still live (before
    /// their deadline, requester still listening).
    pub fn poll(&mut self, now_ns: u64, interest: &mut dyn Interest, src: &dyn MessageSource) {
        if now_ns < self.params.paused_until_ns {
            return;
        }
        if let Some(push) = &self.params.push {
            self.awaiting_interest = !interest.has_interest(&push.deliver_subject);
            if !self.awaiting_interest {
                self.last_activity_ns = now_ns;
                self.deliver_push(now_ns, src);
            }
        } else {
            self.deliver_pull(now_ns, interest, src);
        }
    }

    fn ack_pending_full(&self) -> bool {
        self.acking()
            && self
                .params
                .max_ack_pending
                .is_some_and(|m| self.pending.len() as u64 >= m)
    }

    fn deliver_push(&mut self, now_ns: u64, src: &dyn MessageSource) {
        let push = self.params.push.clone().expect("push consumer");
        // Bounded per call: the rest follows on the next poll.
        for _ in 0..4096 {
            if push.flow_control && self.fc_pending.is_some() && self.fc_bytes >= FC_STALL_BYTES {
                return;
            }
            if !self.rate_allows(now_ns) {
                return;
            }
            let Some((msg_seq, redelivery)) = self.next_candidate(src) else {
                return;
            };
            if !self.replay_due(msg_seq, now_ns, src) {
                return;
            }
            let Some(size) =
                self.deliver_one(msg_seq, redelivery, &push.deliver_subject, now_ns, src)
            else {
                continue;
            };
            if push.rate_limit_bps > 0 {
                self.rate_allowance_bytes -= size.min(i64::MAX as u64) as i64;
            }
            if push.flow_control {
                self.fc_bytes += size;
                if self.fc_pending.is_none() && self.fc_bytes >= FC_REQUEST_BYTES {
                    self.fc_counter += 1;
                    let reply = Bytes::from(format!(
                        "$JS.FC.{}.{}.{}",
                        self.params.stream,
                        self.params.name,
                        fc_token(self.fc_counter)
                    ));
                    self.fc_pending = Some(reply.clone());
                    self.outputs.push(Output::Status {
                        to: push.deliver_subject.clone(),
                        headers: crate::jetstream::consumer_api::flow_control_headers(),
                        reply: Some(reply),
                    });
                }
            }
        }
    }

    /// The next message to hand out: a due redelivery first, then the next new one.
    fn next_candidate(&mut self, src: &dyn MessageSource) -> Option<(u64, bool)> {
        while let Some(&sseq) = self.redeliver.iter().next() {
            // Every way back here (NAK, NAK with delay, ack_wait, backoff, restore) counts
            // against max_deliver: a message out of deliveries is dropped, not redelivered.
            let deliveries = self.pending.get(&sseq).map_or(0, |p| p.deliveries);
            if self.params.max_deliver.is_some_and(|m| deliveries >= m) {
                self.give_up(sseq, deliveries);
                continue;
            }
            if src.get(sseq).is_some() {
                return Some((sseq, true));
            }
            // Gone from the stream meanwhile: nothing left to redeliver.
            self.forget(sseq);
        }
        if self.ack_pending_full() {
            return None;
        }
        while let Some(&sseq) = self.initial.front() {
            if src.get(sseq).is_some() {
                return Some((sseq, false));
            }
            self.initial.pop_front();
        }
        src.next_matching(self.next_sseq, &self.params.filters)
            .map(|m| (m.seq, false))
    }

    /// replay_policy original: is `seq` due yet?
    fn replay_due(&mut self, seq: u64, now_ns: u64, src: &dyn MessageSource) -> bool {
        if !self.params.replay_original {
            return true;
        }
        let Some(ts) = src.get(seq).map(|m| m.ts_ns) else {
            return true;
        };
        match self.replay_anchor {
            None => {
                self.replay_anchor = Some((now_ns, ts));
                true
            }
            Some((wall, first_ts)) => {
                let due = wall.saturating_add(ts.saturating_sub(first_ts));
                if due <= now_ns {
                    true
                } else {
                    self.replay_wait_until_ns = due;
                    false
                }
            }
        }
    }

    fn wire_size(&self, m: &StoredMsg) -> u64 {
        // subject + ack reply (approximate: 60 bytes of numbers) + headers + payload
        (m.subject.len() + 9 + self.params.stream.len() + self.params.name.len() + 50) as u64
            + m.headers.len() as u64
            + if self.params.headers_only {
                0
            } else {
                m.payload.len() as u64
            }
    }

    /// Hands out `seq` to `to`; returns the bytes it counts for, or `None` if it vanished.
    fn deliver_one(
        &mut self,
        seq: u64,
        redelivery: bool,
        to: &Bytes,
        now_ns: u64,
        src: &dyn MessageSource,
    ) -> Option<u64> {
        let Some(msg) = src.get(seq) else {
            if redelivery {
                self.forget(seq);
            } else if self.initial.front() == Some(&seq) {
                self.initial.pop_front();
            } else {
                self.next_sseq = seq + 1;
            }
            return None;
        };
        let msg = msg.clone();
        self.delivered_cseq += 1;
        let cseq = self.delivered_cseq;
        self.dirty = true;
        self.last_delivery_ns = now_ns;
        let deliveries = if redelivery {
            self.redeliver.remove(&seq);
            let p = self.pending.get_mut(&seq).expect("redelivery is pending");
            p.deliveries += 1;
            p.consumer_seq = cseq;
            p.delivered_ns = now_ns;
            self.redelivered.insert(seq);
            p.deliveries
        } else {
            if self.initial.front() == Some(&seq) {
                self.initial.pop_front();
            } else {
                self.next_sseq = seq + 1;
                if let Some(c) = &mut self.pending_count {
                    if seq <= c.last_seq {
                        c.count = c.count.saturating_sub(1);
                    }
                }
            }
            self.delivered_sseq = self.delivered_sseq.max(seq);
            if self.acking() {
                self.pending.insert(
                    seq,
                    PendingEntry {
                        consumer_seq: cseq,
                        deliveries: 1,
                        deadline_ns: u64::MAX,
                        delivered_ns: now_ns,
                    },
                );
            } else {
                self.outputs.push(Output::Done { stream_seq: seq });
            }
            1
        };
        if self.acking() {
            let wait = self.wait_for(deliveries);
            self.set_deadline(seq, now_ns.saturating_add(wait));
        }
        let left = self.num_pending(src);
        let ack_reply = ack::ack_subject(
            &self.params.stream,
            &self.params.name,
            deliveries,
            seq,
            cseq,
            msg.ts_ns,
            left,
        );
        let (headers, payload) = if self.params.headers_only {
            (with_msg_size(&msg.headers, msg.payload.len()), Bytes::new())
        } else {
            (msg.headers.clone(), msg.payload.clone())
        };
        let size = (msg.subject.len() + ack_reply.len() + headers.len() + payload.len()) as u64;
        self.outputs.push(Output::Deliver {
            to: to.clone(),
            subject: msg.subject.clone(),
            ack_reply,
            headers,
            payload,
        });
        Some(size)
    }

    /// A push consumer whose deliver subject had no subscriber when it last looked: the host
    /// polls it again as soon as interest changes.
    pub fn awaiting_interest(&self) -> bool {
        self.params.push.is_some() && self.awaiting_interest
    }

    /// Whether the consumer has anything that needs a timer soon (used to skip idle ticks).
    pub fn is_idle(&self, src: &dyn MessageSource) -> bool {
        self.deadlines.is_empty()
            && self.waiting.is_empty()
            && self.pin.is_none()
            && self.params.push.is_none()
            && !self.has_work(src)
    }

    /// Whether a message the consumer has not finished with is at `seq` (interest retention).
    pub fn still_needs(&self, seq: u64, subject: &[u8]) -> bool {
        let matches = self.params.filters.is_empty()
            || self
                .params
                .filters
                .iter()
                .any(|f| subject_matches(f, subject));
        if !matches {
            return false;
        }
        self.pending.contains_key(&seq) || seq > self.delivered_sseq || self.initial.contains(&seq)
    }
}
