//! Static costs of a graph: worst-case calls and the longest chain of calls.
