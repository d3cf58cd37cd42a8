//! The embedded demo service: a small search API that rolls from one
//! version to the next, and a webhook dispatcher with a circuit breaker.
//! `loadcheck demo` (in `cmd/demo.rs`) runs the whole pipeline against it.

pub mod breaker;
pub mod dispatch;
mod latency;
mod serve;
mod service;

pub use latency::{Route, Shaping};
pub use serve::serve_standalone;
pub use service::{DISPATCH_STATS_PATH, DemoConfig, DemoDispatcher, DemoRollout, router, serve};
