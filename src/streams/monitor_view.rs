//! A read-only view of this core's streams and consumers for `/jsz` and `/varz` (plain data;
//! the monitor renders it). Built on the owning core only when the monitor asks.

use super::{state_view, StreamHost, META_CORE};
use crate::jetstream::StreamStateView;
use crate::jetstream::{ConsumerConfig, SequenceInfo, StorageType, StreamConfig};

/// One consumer as `/jsz?consumers=true` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerView {
    /// Consumer name.
    pub name: String,
    /// Creation time, Unix ns.
    pub created_ns: u64,
    /// The stored config.
    pub config: ConsumerConfig,
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
}

/// One stream as `/jsz?streams=true` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamView {
    /// The stored config (its name is the stream's).
    pub config: StreamConfig,
    /// Creation time, Unix ns.
    pub created_ns: u64,
    /// Current state (summary: no deleted list, no subject counts).
    pub state: StreamStateView,
    /// Its consumers, by name (only when asked).
    pub consumers: Vec<ConsumerView>,
}

/// This core's JetStream usage: totals always, streams only when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsCoreView {
    /// Streams owned.
    pub streams: u64,
    /// Their consumers.
    pub consumers: u64,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored (all storage types).
    pub bytes: u64,
    /// Bytes stored in memory streams.
    pub memory: u64,
    /// Bytes stored in file streams.
    pub storage: u64,
    /// `max_bytes` reserved by memory streams.
    pub reserved_memory: u64,
    /// `max_bytes` reserved by file streams.
    pub reserved_storage: u64,
    /// API requests seen (counted by the meta core; 0 elsewhere).
    pub api_total: u64,
    /// API error answers sent by this core.
    pub api_errors: u64,
    /// Stream details, by name (only when asked).
    pub stream_detail: Vec<StreamView>,
}

impl StreamHost {
    /// This core's streams for monitoring: totals, with `streams` each owned stream and with
    /// `consumers` their consumers too. Changes nothing observable (`num_pending` refreshes a
    /// cached count).
    pub fn monitor_view(&mut self, streams: bool, consumers: bool) -> JsCoreView {
        let mut v = JsCoreView {
            api_total: if self.cfg.core_id == META_CORE {
                self.catalog.api_total
            } else {
                0
            },
            api_errors: self.out.api_errors,
            ..JsCoreView::default()
        };
        for st in self.streams.iter_mut().flatten() {
            let state = state_view(st, false);
            v.streams += 1;
            v.consumers += st.consumers.len() as u64;
            v.messages += state.messages;
            v.bytes += state.bytes;
            let reserved = st.config.max_bytes.max(0) as u64;
            match st.config.storage {
                StorageType::Memory => {
                    v.memory += state.bytes;
                    v.reserved_memory += reserved;
                }
                StorageType::File => {
                    v.storage += state.bytes;
                    v.reserved_storage += reserved;
                }
            }
            if !streams {
                continue;
            }
            let mut detail = StreamView {
                config: st.config.clone(),
                created_ns: st.created_ns,
                state,
                consumers: Vec::new(),
            };
            if consumers {
                // Consumers see the stream up to its last durable message, and so does /jsz.
                let store = &super::Visible::new(&st.store, st.visible_upto);
                for (name, c) in st.consumers.iter_mut() {
                    let (delivered, ack_floor) = c.sequence_infos();
                    detail.consumers.push(ConsumerView {
                        name: name.clone(),
                        created_ns: c.created_ns,
                        config: c.config.clone(),
                        delivered,
                        ack_floor,
                        num_ack_pending: c.machine.num_ack_pending(),
                        num_redelivered: c.machine.num_redelivered(),
                        num_waiting: c.machine.num_waiting(),
                        num_pending: c.machine.num_pending(store),
                    });
                }
            }
            v.stream_detail.push(detail);
        }
        v.stream_detail
            .sort_by(|a, b| a.config.name.cmp(&b.config.name));
        v
    }
}
