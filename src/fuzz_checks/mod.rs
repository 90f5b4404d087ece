//! Property checks shared by the `cargo fuzz` targets in `fuzz/` and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so both run exactly the same code on the same bytes.
//!
//! Each `check_*` function takes arbitrary bytes (from the network or the disk, as an attacker
//! or a damaged disk would hand them over) and panics only when a property is violated:
//! beyond "never panics", the parser is split-independent and always makes progress, decoders
//! round-trip through their encoders, errors are values (rendered as valid JSON / well-formed
//! header blocks), never panics. Not part of the server: no production code calls these.

mod config;
pub mod connect;
mod headers;
mod js_api;
mod jwt;
mod protocol;
mod record;

pub use config::check_config_toml;
pub use connect::check_connect_json;
pub use headers::check_headers;
pub use js_api::check_js_api_request;
pub use jwt::check_jwt;
pub use protocol::check_protocol_parser;
pub use record::check_record_decoder;

/// A property check over arbitrary bytes; panics when a property does not hold.
pub type Check = fn(&[u8]);

/// The fuzz targets by name (the directory names under `fuzz/corpus/`), with their check.
pub const TARGETS: &[(&str, Check)] = &[
    ("protocol_parser", check_protocol_parser),
    ("connect_json", check_connect_json),
    ("js_api_request", check_js_api_request),
    ("headers", check_headers),
    ("record_decoder", check_record_decoder),
    ("config_toml", check_config_toml),
    ("jwt", check_jwt),
];

/// A cursor over fuzz input: takes small control values off the front, the rest is data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Input { bytes }
    }

    /// The next byte, or 0 once the input is exhausted.
    pub(crate) fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// The next little-endian u16 (missing bytes read as 0).
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next little-endian u64 (missing bytes read as 0).
    pub(crate) fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// A length-prefixed (one byte) slice.
    pub(crate) fn chunk(&mut self) -> &'a [u8] {
        let n = self.byte() as usize;
        self.take(n)
    }

    /// Everything left.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
