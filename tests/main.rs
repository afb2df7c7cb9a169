//! The one integration test binary: CLI behaviour, fixture folders, examples,
//! `flow run` end to end, and real HTTP against an in-process server.

mod batch_api;
mod cache;
mod cli;
mod docs;
// The DOT check the unit tests use, so both judge `flow graph` output alike.
#[path = "../src/graph/dot_check.rs"]
mod dot_check;
mod engine;
mod examples;
mod fixtures;
mod format;
mod functions;
mod grammar;
mod http;
mod library;
#[cfg(feature = "lsp")]
mod lsp;
mod robustness;
mod routes;
mod run;
mod scale;
#[cfg(feature = "serve")]
mod serve;
// The generated large programs the front-end bench times too.
#[path = "../benches/support/shapes.rs"]
mod shapes;
// The throwaway PostgreSQL cluster the cache unit tests use too.
#[cfg(feature = "postgres")]
#[path = "../src/cache/pg_cluster.rs"]
mod pg_cluster;
mod structured;
mod support;
mod testing;
mod typed;
