//! Sans-IO storage core of JetStream streams: no file descriptor, no runtime.
//!
//! * [`record`]: the self-checking on-disk record (message, tombstone, purge, checkpoint).
//! * [`segment`]: recovery scanning of segment bytes, the rkyv per-segment sequence index,
//!   segment/index file names.
//! * [`stream`]: the stream state machine: publish rules and limits, deletes, purges, lookups
//!   by sequence/subject/time, and replay of records at recovery. Every change comes back as
//!   [`stream::Effect`]s that the I/O shell appends to the active segment before acknowledging.
//! * [`error`]: [`StoreError`], why the stream refused a request, as domain facts (the
//!   JetStream layer maps them onto nats-server's API errors in one place).
//! * [`state`]: [`StreamStateView`], the stream's numbers, shared with STREAM.INFO rendering.
//! * [`limits`]: [`StreamLimits`], the config fields the store enforces.
//!
//! The glommio shell owns files, group commit and segment rolling; it feeds this module bytes
//! and a clock.

pub mod error;
pub(crate) mod headers;
pub mod limits;
pub mod msg;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod seq_map;
pub mod state;
pub mod stream;

pub use error::StoreError;
pub use record::{decode, encode_into, MessageRef, Record, RecordError, RecordRef};
pub use segment::{scan, IndexError, IndexView, ScanResult, Scanner};
pub use state::StreamStateView;
pub use stream::{Discard, Effect, PublishOutcome, StoredMsg, Stream, StreamLimits};
