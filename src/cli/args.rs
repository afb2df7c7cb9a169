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
    Run(RunArgs),
    /// Serve the program over HTTP, as an OpenAI-compatible chat model
    Serve(ServeArgs),
    /// Run the `test` blocks of each program, all at once
    Test {
        /// Programs whose tests to run
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Only the tests whose name contains this text
        #[arg(long, value_name = "SUBSTRING")]
        filter: Option<String>,
        /// Print one JSON document of results
        #[arg(long)]
        json: bool,
        /// Run each test N times and report its pass rate (for real models)
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10000))]
        repeat: u32,
        /// Replace every model a test leaves real by one that invents placeholders
        #[arg(long)]
        offline: bool,
    },
    /// Rewrite programs in flow's one layout (`-` formats standard input to standard output)
    Fmt {
        /// Programs to format
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Change nothing: print a diff of each file that would change, and exit 1 if any would
        #[arg(long)]
        check: bool,
    },
    /// Inspect or empty the call cache
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Serve editors: the Language Server Protocol over standard input and output
    ///
    /// Started by an editor, not by hand; see docs/editors.md.
    Lsp {
        /// Accepted for clients that pass it; standard input and output is the only transport
        #[arg(long)]
        stdio: bool,
    },
    /// Print a shell completion script
    ///
    /// For example: `flow completions bash > ~/.local/share/bash-completion/completions/flow`
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `flow run`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The program to run
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// An input value, parsed by its declared type; `NAME=@PATH` reads a file
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Print `{"outputs": ..., "stats": ...}` as JSON
    #[arg(long)]
    pub json: bool,
    /// Print the output that streams (the text of one `ask`) as it arrives, once its conditions allow
    #[arg(long, conflicts_with_all = ["json", "rows"])]
    pub stream: bool,
    /// Replace every model by a mock that invents placeholders: no key, no network
    #[arg(long)]
    pub offline: bool,
    /// Swap a model at run time: `NAME=openai:gpt-4o`, `NAME=anthropic:MODEL`, `NAME=mock[:REPLY]`
    #[arg(long = "model", short = 'm', value_name = "NAME=SPEC")]
    pub models: Vec<String>,
    /// Write a Chrome trace-event file (open it in Perfetto or chrome://tracing)
    #[arg(long, value_name = "TRACE.json")]
    pub trace: Option<PathBuf>,
    /// Refuse to start if the worst case exceeds N calls, and stop at N calls
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// `flow serve`'s arguments; the engine's are `flow run`'s.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The program to serve
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The address to listen on
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub host: String,
    /// The port to listen on; 0 takes any free one (the address is printed on stderr)
    #[arg(long, short = 'p', default_value_t = 8080, value_name = "PORT")]
    pub port: u16,
    /// The output that is the assistant's message (default: `answer`, `reply`, or the only text output)
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Runs in flight at once; more requests get 429
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_runs: u32,
    /// The largest request body in bytes; a larger one gets 413
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body: usize,
    /// Require `Authorization: Bearer TOKEN`, the token read from this environment variable
    #[arg(long, value_name = "VAR")]
    pub auth_env: Option<String>,
    /// Seconds runs in flight may take to finish on Ctrl-C or SIGTERM; the rest are cancelled
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub shutdown_timeout: u64,
    /// Write each run's Chrome trace to DIR/REQUEST_ID.json
    #[arg(long, value_name = "DIR")]
    pub trace_dir: Option<PathBuf>,
    /// Replace every model by a mock that invents placeholders: no key, no network
    #[arg(long)]
    pub offline: bool,
    /// Swap a model at run time: `NAME=openai:gpt-4o`, `NAME=anthropic:MODEL`, `NAME=mock[:REPLY]`
    #[arg(long = "model", short = 'm', value_name = "NAME=SPEC")]
    pub models: Vec<String>,
    /// Refuse to start if the worst case exceeds N calls, and stop each run at N calls
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Where completed calls are kept, so a re-run does not pay for them again.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CacheArgs {
    /// The call cache: a file, or a `postgres://` URL shared by many processes (default: `$FLOW_CACHE`, else `flow/cache.db` in the user's cache directory, e.g. `~/.cache`)
    #[arg(long = "cache", value_name = "PATH|URL", conflicts_with = "no_cache")]
    pub path: Option<PathBuf>,
    /// Make every call, and save none
    #[arg(long)]
    pub no_cache: bool,
}

/// `flow run FILE --inputs rows.jsonl`: one run per row.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BatchArgs {
    /// Run once per JSON object in this file (one per line; keys are input names; `-` reads stdin)
    #[arg(long = "inputs", value_name = "ROWS.jsonl", conflicts_with_all = ["inputs", "trace"])]
    pub rows: Option<PathBuf>,
    /// Write the results here instead of standard output: the run's outputs, or with `--inputs` one JSON line per row in input order
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Stop the batch at the first row that fails
    #[arg(long, requires = "rows")]
    pub fail_fast: bool,
    /// Rows in flight at once (default: enough to keep every model's `concurrency` busy)
    #[arg(long, value_name = "N", requires = "rows", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Rows held at once, running or finished and waiting for an earlier row to be written (default: 4 × `--jobs`, at least 256)
    #[arg(long, value_name = "N", requires = "rows", value_parser = clap::value_parser!(u32).range(1..))]
    pub window: Option<u32>,
    /// Run only the I-th (from 0) of N equal, contiguous slices of the rows file's lines
    #[arg(long, value_name = "I/N", requires = "rows", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// With `--shard`, give each shard the models' whole `concurrency`, `rpm` and `tpm` instead of 1/N of them
    #[arg(long, requires = "shard")]
    pub full_limits: bool,
    /// Send the calls through the providers' batch APIs: half price, replies within hours (docs/scale.md)
    #[arg(long, conflicts_with_all = ["stream", "shard"])]
    pub batch_api: bool,
    /// With `--batch-api`, the longest wait between polls of a batch, in seconds (default 60; the first is at most 1)
    #[arg(long, value_name = "SECS", requires = "batch_api", value_parser = parse_poll)]
    pub batch_poll: Option<std::time::Duration>,
    /// With `--batch-api`, submit the first batches and stop: a re-run picks them up
    #[arg(long, requires = "batch_api")]
    pub batch_submit_only: bool,
}

fn parse_poll(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 86400"
        )),
    }
}

/// One slice of a batch: `index` counts from 0, as a Kubernetes Indexed
/// Job's `JOB_COMPLETION_INDEX` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

fn parse_shard(raw: &str) -> Result<Shard, String> {
    let Some((i, n)) = raw.split_once('/') else {
        return Err("expected I/N, for example `0/4` for the first of four shards".into());
    };
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} `{}` is not a whole number", s.trim()))
    };
    let (index, count) = (number(i, "the shard")?, number(n, "the shard count")?);
    if count == 0 {
        return Err("the shard count must be at least 1".into());
    }
    if index >= count {
        return Err(format!(
            "shards are numbered from 0: the last of {count} is `{}/{count}`",
            count - 1
        ));
    }
    Ok(Shard { index, count })
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries, tokens and size of the cache, per program and per model
    Stats {
        /// Show only this program's entries (with the cache's totals)
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        cache: CachePath,
        /// Print the statistics as JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete the entries one program made, or with `--all` every entry
    Clear {
        /// The program whose entries to delete
        #[arg(
            value_name = "FILE",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        file: Option<PathBuf>,
        /// Delete every entry, whichever program made it
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        cache: CachePath,
    },
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct CachePath {
    /// The cache file or `postgres://` URL, instead of `$FLOW_CACHE` or the default file
    #[arg(long = "cache", value_name = "PATH|URL")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}
