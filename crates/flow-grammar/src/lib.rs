//! The parser pest generates from `grammar/flow.pest`, and its `Rule`s.
//!
//! It is a crate of its own for build time alone: the generated parser is a
//! quarter of the code LLVM sees when compiling flow, and as a separate crate
//! it compiles in parallel with flow's other dependencies instead of at the
//! end, alone, inside flow. Everything else about parsing (walking the pairs,
//! wording errors) lives in `flow::syntax`; nothing outside it uses this crate.

#![allow(missing_docs)]

/// The generated parser: `FlowParser::parse(Rule::program, source)`.
#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/flow.pest"]
pub struct FlowParser;
