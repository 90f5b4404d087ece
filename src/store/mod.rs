//! Sans-IO storage core of JetStream streams: no file descriptor, no runtime.
//!
//! * [`record`]: the self-checking on-disk record (message, tombstone, purge, checkpoint).
//! * [`segment`]: recovery scanning of segment bytes, the rkyv per-segment sequence index,
//!   segment/index file names.
//! * [`stream`]: the stream state machine: publish rules and limits, deletes, purges, lookups
//!   by sequence/subject/time, and replay of records at recovery. Every change comes back as
//!   [`stream::Effect`]s that the I/O shell appends to the active segment before acknowledging.
//!
//! The glommio shell owns files, group commit and segment rolling; it feeds this module bytes
//! and a clock.

mod headers;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod seq_map;
pub mod stream;

pub use record::{decode, encode_into, MessageRef, Record, RecordError, RecordRef};
pub use segment::{scan, IndexError, IndexView, ScanResult, Scanner};
pub use stream::{
    Discard, Effect, JsErrorInfo, PublishOutcome, StoredMsg, Stream, StreamLimits, StreamStateView,
};
