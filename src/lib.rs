//! natrix: a thread-per-core, NATS-compatible message broker.
//!
//! Sans-IO core (no runtime inside): [`protocol`] (wire parsing and framing), [`subject`]
//! and [`sublist`] (subject matching), [`interest`] and [`mesh`] (what cores tell each
//! other), [`session`] and [`engine`] (one core's decisions). Runtime shell: [`shell`]
//! (glommio tasks per core), [`server`] (start/stop) and [`monitor`] (HTTP monitoring thread). Plus [`config`], [`cli`], [`probe`].
#![deny(clippy::await_holding_refcell_ref)]

pub mod accounts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod engine;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod interest;
pub mod jetstream;
pub mod js_ring;
pub mod leaf;
pub mod mesh;
pub mod monitor;
pub mod probe;
pub mod protocol;
pub mod reload;
pub mod server;
pub mod session;
pub mod shell;
pub mod store;
pub mod streams;
pub mod subject;
pub mod sublist;
pub mod tls;
pub mod tls_map;
