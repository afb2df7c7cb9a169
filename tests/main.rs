//! The one integration test binary: CLI behaviour, fixture folders, examples.

mod cli;
mod docs;
mod examples;
mod fixtures;
mod robustness;
mod support;
