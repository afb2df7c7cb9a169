//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "flow",
    version,
    about = "Check, draw and run LLM workflows written in the flow language"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report every error and warning, then a summary per file
    Check {
        /// Programs to check
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat warnings as errors
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the program's dataflow graph
    Graph {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Output format
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Write to this file instead of standard output
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Run the program: every independent call at the same time
    Run {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// An input value, parsed by its declared type; `NAME=@PATH` reads a file
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Print `{"outputs": ..., "stats": ...}` as JSON
        #[arg(long)]
        json: bool,
        /// Replace every model by a mock that invents placeholders: no key, no network
        #[arg(long)]
        offline: bool,
        /// Swap a model at run time: `NAME=openai:gpt-4o`, `NAME=anthropic:MODEL`, `NAME=mock[:REPLY]`
        #[arg(long = "model", short = 'm', value_name = "NAME=SPEC")]
        models: Vec<String>,
        /// Write a Chrome trace-event file (open it in Perfetto or chrome://tracing)
        #[arg(long, value_name = "TRACE.json")]
        trace: Option<PathBuf>,
        /// Refuse to start if the worst case exceeds N calls, and stop at N calls
        #[arg(long, value_name = "N")]
        max_calls: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}
