//! What the stream host hands the shell: [`HostAction`]s to apply to the engine (publish,
//! subscribe, unsubscribe, send to a core), [`StorageOp`]s for the storage task and the
//! replies that wait for them, and the replies held until this core's subscriptions are
//! visible on every core. The host never touches the engine: it pushes here, and the shell
//! drains and applies after every input (`shell::js_drive`).

use bytes::Bytes;

use super::{DeferredReply, EngineQueries, JsItem, StorageOp};
use crate::engine::InternalTarget;
use crate::jetstream::{render_error, JsApiError, ResponseType};

/// The host's name for one of its internal subscriptions; the shell maps it to the
/// engine's key when it applies [`HostAction::Subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubHandle(pub u64);

/// One thing the shell must do to the engine on the host's behalf, in order.
#[derive(Debug, Clone)]
pub enum HostAction {
    /// Add an internal subscription (`Engine::add_internal_sub`), known as `handle`.
    Subscribe {
        /// The host's name for it.
        handle: SubHandle,
        /// A valid subscribe subject.
        subject: Bytes,
        /// Where its messages go.
        target: InternalTarget,
    },
    /// Remove the internal subscription `handle` (`Engine::remove_internal_sub`).
    Unsubscribe {
        /// The host's name for it.
        handle: SubHandle,
    },
    /// Publish through normal routing (`Engine::publish_internal`).
    Publish {
        /// Subject.
        subject: Bytes,
        /// Reply subject.
        reply: Option<Bytes>,
        /// Length of the header block at the front of `message`.
        header_len: usize,
        /// Headers followed by payload.
        message: Bytes,
    },
    /// Publish routed by `to` but shown as `shown` (`Engine::publish_internal_as`):
    /// consumer deliveries.
    PublishAs {
        /// Routing subject (inbox or deliver subject).
        to: Bytes,
        /// The stored subject subscribers see.
        shown: Bytes,
        /// The ack reply subject.
        reply: Bytes,
        /// Length of the header block at the front of `message`.
        header_len: usize,
        /// Headers followed by payload.
        message: Bytes,
    },
    /// Send a JetStream item to another core (`Engine::send_js`).
    Send {
        /// The receiving core (never this one: those items stay in the host).
        core: usize,
        /// The item.
        item: JsItem,
    },
}

/// Everything the host produced and has not handed over yet.
pub(crate) struct Outbox {
    core_id: usize,
    actions: Vec<HostAction>,
    pub(crate) ops: Vec<StorageOp>,
    pub(crate) deferred: Vec<DeferredReply>,
    /// Items this core sent itself (the meta core owning a stream), handled next round.
    pub(crate) self_queue: Vec<JsItem>,
    /// Replies held until the subscriptions made before them are visible on every core
    /// (interest sequence, reply, file-backed), so a client acting on a create response
    /// (publishing, pulling) from any core is never told "no responders". `None`: the
    /// sequence is read once the shell applied the subscriptions queued with it.
    after_sync: Vec<(Option<u64>, DeferredReply, bool)>,
    next_handle: u64,
    /// API requests answered with an error.
    pub(crate) api_errors: u64,
}

impl Outbox {
    pub(crate) fn new(core_id: usize) -> Self {
        Outbox {
            core_id,
            actions: Vec::new(),
            ops: Vec::new(),
            deferred: Vec::new(),
            self_queue: Vec::new(),
            after_sync: Vec::new(),
            next_handle: 0,
            api_errors: 0,
        }
    }

    /// Moves the queued actions to `into` (appended, in order). An empty `into` swaps
    /// buffers instead of copying: a pull batch queues hundreds of deliveries at once.
    pub(crate) fn take_actions(&mut self, into: &mut Vec<HostAction>) {
        if into.is_empty() {
            std::mem::swap(into, &mut self.actions);
        } else {
            into.append(&mut self.actions);
        }
    }

    /// Whether the shell has nothing to apply and no held reply waits to learn the
    /// interest sequence of the actions it applied (then applying is a no-op).
    pub(crate) fn settled(&self) -> bool {
        self.actions.is_empty() && self.after_sync.iter().all(|(s, _, _)| s.is_some())
    }

    pub(crate) fn has_after_sync(&self) -> bool {
        !self.after_sync.is_empty()
    }

    /// Subscribes an internal target; returns the handle to unsubscribe it with.
    pub(crate) fn subscribe(&mut self, subject: Bytes, target: InternalTarget) -> SubHandle {
        self.next_handle += 1;
        let handle = SubHandle(self.next_handle);
        self.actions.push(HostAction::Subscribe {
            handle,
            subject,
            target,
        });
        handle
    }

    pub(crate) fn unsubscribe(&mut self, handle: SubHandle) {
        self.actions.push(HostAction::Unsubscribe { handle });
    }

    pub(crate) fn publish(
        &mut self,
        subject: &Bytes,
        reply: Option<&Bytes>,
        header_len: usize,
        message: &Bytes,
    ) {
        self.actions.push(HostAction::Publish {
            subject: subject.clone(),
            reply: reply.cloned(),
            header_len,
            message: message.clone(),
        });
    }

    /// A consumer delivery. Takes its parts by value: they move into the action (a clone
    /// of a freshly built `Bytes`, such as the ack reply, would allocate).
    pub(crate) fn publish_as(
        &mut self,
        to: Bytes,
        shown: Bytes,
        reply: Bytes,
        header_len: usize,
        message: Bytes,
    ) {
        self.actions.push(HostAction::PublishAs {
            to,
            shown,
            reply,
            header_len,
            message,
        });
    }

    /// Sends an item to a core (to this core: queued for the next round).
    pub(crate) fn send_to(&mut self, core: usize, item: JsItem) {
        if core == self.core_id {
            self.self_queue.push(item);
        } else {
            self.actions.push(HostAction::Send { core, item });
        }
    }

    pub(crate) fn reply_now_bytes(&mut self, reply: Option<&Bytes>, payload: Bytes) {
        if let Some(r) = reply {
            self.publish(r, None, 0, &payload);
        }
    }

    pub(crate) fn reply_now(&mut self, reply: Option<&Bytes>, payload: Vec<u8>) {
        self.reply_now_bytes(reply, Bytes::from(payload));
    }

    /// Replies after the storage ops queued so far are durable (memory streams: now).
    pub(crate) fn reply_durable(&mut self, file: bool, reply: Option<&Bytes>, payload: Bytes) {
        self.reply_durable_in(None, file, reply, payload);
    }

    /// A publish ack: replies after the storage ops of stream `slot` queued so far are
    /// durable (other streams' ops are not waited for).
    pub(crate) fn reply_durable_in(
        &mut self,
        slot: Option<u32>,
        file: bool,
        reply: Option<&Bytes>,
        payload: Bytes,
    ) {
        let Some(r) = reply else { return };
        if file {
            self.deferred.push(DeferredReply {
                subject: r.clone(),
                payload,
                stream: slot,
            });
        } else {
            self.publish(r, None, 0, &payload);
        }
    }

    /// Answers once this core's subscriptions so far are visible everywhere and, for
    /// file-backed changes, durable.
    pub(crate) fn reply_after_sync(&mut self, file: bool, reply: Option<&Bytes>, payload: Bytes) {
        let Some(r) = reply else { return };
        self.after_sync.push((
            None,
            DeferredReply {
                subject: r.clone(),
                payload,
                stream: None,
            },
            file,
        ));
    }

    /// Called once the shell applied the actions queued with the held replies: they wait
    /// for the interest sequence as it is now (released at once if already visible).
    pub(crate) fn resolve_after_sync(&mut self, q: &mut dyn EngineQueries) {
        if !self.after_sync.iter().any(|(s, _, _)| s.is_none()) {
            return;
        }
        let seq = q.interest_seq();
        let waiting = std::mem::take(&mut self.after_sync);
        for (s, r, file) in waiting {
            match s {
                None if q.interest_visible(seq) => {
                    self.reply_durable(file, Some(&r.subject), r.payload)
                }
                None => self.after_sync.push((Some(seq), r, file)),
                Some(s) => self.after_sync.push((Some(s), r, file)),
            }
        }
    }

    /// Releases the held replies whose subscriptions are visible by now.
    pub(crate) fn release_after_sync(&mut self, q: &mut dyn EngineQueries) {
        if self.after_sync.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.after_sync);
        for (seq, r, file) in waiting {
            match seq {
                Some(s) if q.interest_visible(s) => {
                    self.reply_durable(file, Some(&r.subject), r.payload)
                }
                other => self.after_sync.push((other, r, file)),
            }
        }
    }

    /// Answers an API request with an error (counted for account info).
    pub(crate) fn api_err(&mut self, reply: Option<&Bytes>, kind: ResponseType, e: &JsApiError) {
        self.api_errors += 1;
        self.reply_now(reply, render_error(kind, e));
    }
}
