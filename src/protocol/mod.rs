//! Sans-IO NATS client protocol: parsing what clients send, framing what the server sends.
//!
//! Knows nothing about sockets or executors so it can be tested and benchmarked alone.

pub mod encode;
pub mod info;
pub mod parser;

pub use parser::{ClientOp, ParseError, Parser};
