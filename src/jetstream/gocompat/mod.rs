//! Go compatibility helpers at the bottom of `jetstream`: JSON text as Go's `encoding/json`
//! writes it, Go's `%q`, `time.Duration` printing and parsing, RFC 3339 timestamps as
//! nats-server writes them, and serde helpers that decode like Go. Nothing here imports from
//! the rest of the crate, so any layer (store, consumer, jetstream) may use it.

pub mod duration;
pub mod json;
pub mod serde;
pub mod time;

pub use duration::{go_duration, parse_go_duration};
pub use json::{go_escape_html, go_quote, write_json_str, write_u64};
