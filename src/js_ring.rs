//! The JetStream items that cross the per-core-pair rings (meta core <-> stream owners).
//!
//! They sit below the router: [`crate::mesh`] and [`crate::engine`] carry them without
//! knowing what a stream host does with them, and the stream host (`streams/`) builds and
//! reads them. Only configs and state views of [`crate::jetstream`] appear here.

use bytes::Bytes;

use crate::jetstream::{StreamConfig, StreamStateView};

/// What JetStream items cross the rings.
#[derive(Debug, Clone)]
pub enum JsItem {
    /// A per-stream API request, forwarded by the meta core to the stream's owner.
    Request {
        /// The `$JS.API…` subject.
        subject: Bytes,
        /// Where the answer goes.
        reply: Option<Bytes>,
        /// The request body.
        body: Bytes,
    },
    /// Create this (validated, normalised) stream on the receiving core.
    Create {
        /// The stream's config.
        config: Box<StreamConfig>,
        /// Where the answer goes.
        reply: Option<Bytes>,
    },
    /// An owner's view of one of its streams, for the catalog.
    Summary(Box<StreamSummary>),
    /// A stream is gone (deleted, or its creation failed).
    Removed {
        /// The stream's name.
        name: String,
    },
    /// The meta core's view of stored bytes per core, (memory, file), so owners can enforce
    /// the server-wide `max_memory_bytes` / `max_file_bytes`.
    Usage {
        /// Index = core.
        by_core: Vec<(u64, u64)>,
    },
}

/// What the catalog knows of a stream.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// The core that owns it.
    pub owner: usize,
    /// Its config.
    pub config: StreamConfig,
    /// Creation time, unix ns.
    pub created_ns: u64,
    /// Its state when last reported.
    pub state: StreamStateView,
    /// Why its storage stopped (fail-stop until restart), if it did: for monitoring.
    pub failed: Option<String>,
    /// Its mirror's or sources' state (STREAM.LIST shows it), if it has any.
    pub origins: Option<Box<crate::jetstream::stream_origins::OriginsSummary>>,
}
