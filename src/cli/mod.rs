//! The command line: argument parsing, commands, and the only place that prints.

mod args;
mod batch;
mod batch_api;
mod cache_cmd;
mod check;
mod features;
mod fmt;
mod graph;
mod lsp;
mod progress;
mod report;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod setup;
mod source;
mod terminal;
mod test_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use terminal::Terminal;

/// Exit codes, documented in docs/cli.md.
pub(crate) mod exit {
    /// Success: the command did what was asked.
    pub const OK: u8 = 0;
    /// The program has compile errors (or warnings with `--deny-warnings`).
    pub const COMPILE: u8 = 1;
    /// Bad usage, an unreadable file, or a run that failed.
    pub const FAILURE: u8 = 2;
    /// Interrupted by Ctrl-C (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM (128 + SIGTERM), as a container or service manager does.
    pub const TERMINATED: u8 = 143;
}

/// Runs the `flow` command line on this process's arguments and returns its
/// exit code; `src/main.rs` is nothing but a call to this.
pub fn main() -> ExitCode {
    // A fan-out opens a connection per call in flight: let it use what the
    // system allows, not the usual soft default of 1,024 files.
    let _ = crate::providers::http::raise_file_limit();
    // Parsing and checking recurse over the program; a large stack keeps any
    // input within the depth bound far from an overflow, even in debug builds.
    let worker = std::thread::Builder::new()
        .name("flow".into())
        .stack_size(256 << 20)
        .spawn(main_on_big_stack);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            let bug = crate::internal::InternalError::new("the command's thread stopped");
            print_stderr(&report::render(&bug, None, report::Style::detect()));
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn main_on_big_stack() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::FAILURE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut term = Terminal::new(report::Style::detect());
    term.set_json(match &cli.command {
        Command::Run(args) => args.json,
        Command::Test { json, .. } => *json,
        Command::Cache {
            action: args::CacheAction::Stats { json, .. },
        } => *json,
        _ => false,
    });
    let result = match cli.command {
        Command::Check {
            files,
            deny_warnings,
        } => check::run(&files, deny_warnings, &mut term),
        Command::Graph {
            file,
            format,
            output,
        } => graph::run(&file, format, output.as_deref(), &mut term),
        // A batch and a single run share their set-up (`setup`), not each other.
        Command::Run(args) if args.batch.rows.is_some() => batch::run(&args, &mut term),
        Command::Run(args) => run::run(args, &mut term),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args, &mut term),
        #[cfg(not(feature = "serve"))]
        Command::Serve(_) => Err(features::missing("serve", "flow serve")),
        Command::Cache { action } => cache_cmd::run(action, &mut term),
        Command::Fmt { files, check } => fmt::run(&files, check, &mut term),
        Command::Test {
            files,
            filter,
            json,
            repeat,
            offline,
        } => test_cmd::run(
            test_cmd::Options {
                files: &files,
                filter: filter.as_deref(),
                json,
                repeat,
                offline,
            },
            &mut term,
        ),
        Command::Lsp { .. } => lsp::run(),
        Command::Completions { shell } => {
            completions(shell, &mut term);
            Ok(())
        }
    };
    ExitCode::from(term.finish(result))
}

/// The completion script for `shell`, generated from the same clap
/// definition the parser uses, so it never falls behind the options.
fn completions(shell: clap_complete::Shell, term: &mut Terminal) {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "flow", &mut script);
    term.out(&String::from_utf8_lossy(&script));
}

/// For the one message that cannot wait for a terminal: the command's own
/// thread died.
fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}
