//! The command line: argument parsing and the only place that prints.
