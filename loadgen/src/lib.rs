//! natrix-loadgen: a NATS wire-protocol load generator that verifies what
//! it measures, plus the machine's own ceiling and the side-by-side report.
//!
//! Everything speaks raw NATS over blocking std sockets (one thread per
//! connection, large batched writes, a zero-copy frame reader), so the tool
//! stays cheap next to the server it measures and works against any
//! NATS-compatible server.

pub mod ceiling;
pub mod conn;
pub mod payload;
pub mod proto;
pub mod reader;
pub mod report;
pub mod result;
pub mod scenario;

#[cfg(test)]
mod testutil;
