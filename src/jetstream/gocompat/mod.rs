//! Go compatibility helpers at the bottom of `jetstream`: JSON text as Go's `encoding/json`
//! writes it, Go's `%q`, `time.Duration` printing and parsing, RFC 3339 timestamps as
//! nats-server writes them, and serde helpers that decode like Go. Nothing here imports from
//! the rest of the crate, so any layer (store, consumer, jetstream) may use it.

pub mod duration;
pub mod json;
pub mod serde_go;
pub mod time;

pub use duration::{go_duration, parse_go_duration, parse_go_duration_exact};
pub use json::{go_escape_html, go_quote, write_json_str, write_u64};

#[cfg(test)]
mod tests {
    /// The helpers stay at the bottom: no path out of `gocompat` into the crate.
    #[test]
    fn imports_nothing_from_the_crate() {
        let files = [
            ("duration.rs", include_str!("duration.rs")),
            ("json.rs", include_str!("json.rs")),
            ("serde_go.rs", include_str!("serde_go.rs")),
            ("time.rs", include_str!("time.rs")),
        ];
        for (name, src) in files {
            for reach in ["crate::", "super::super", "natrix::"] {
                assert!(!src.contains(reach), "{name} uses `{reach}`");
            }
        }
    }
}
