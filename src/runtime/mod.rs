//! Executes a `FlowGraph`: every node starts the moment its inputs are ready.
