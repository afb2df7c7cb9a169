//! The one integration test binary: CLI behaviour, fixture folders, examples.

mod cache;
mod cli;
mod examples;
mod fixtures;
mod robustness;
mod support;
