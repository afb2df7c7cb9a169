//! The one integration test binary: CLI behaviour, fixture folders, examples,
//! `flow run` end to end, and real HTTP against an in-process server.

mod cache;
mod cli;
mod docs;
mod engine;
mod examples;
mod fixtures;
mod http;
mod library;
mod robustness;
mod run;
mod support;
