//! HTTP monitoring on `server.http_port` (nats-server's `/varz`, `/connz`, `/subsz`,
//! `/healthz`, `/jsz`, `/accountz`, plus `/metrics` for Prometheus).
//!
//! A dedicated thread (never a core) serves HTTP with `tiny_http`. It reads what the cores
//! publish into their [`CoreSlot`]s: each core keeps plain counters in its engine (no atomics
//! or locks on the message path) and copies them, with its connection list when asked, into
//! its slot when the monitor requests a snapshot (see [`slot`] for the staleness bound).
//! Rendering is sans-IO ([`render`], [`metrics`]).

pub mod accountz;
pub mod hist;
pub mod http;
pub mod jsz;
pub mod leafz;
pub mod metrics;
pub mod process;
pub mod render;
pub mod slot;
pub mod snapshot;
pub mod sys;
pub mod sys_account;

pub use http::{spawn, MonitorError, MonitorHandle};
pub use render::{JsFacts, ServerFacts};
pub use slot::{CoreSlot, MonitorShared};
