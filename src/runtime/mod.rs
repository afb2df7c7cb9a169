//! Executes a `FlowGraph`: every node starts the moment its inputs are ready.

pub mod input;
pub mod reply;
pub mod vote;
