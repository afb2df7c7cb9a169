//! `flow check`: every diagnostic, then a summary line per file.

use std::path::PathBuf;

use super::exit;
use super::source;
use super::terminal::{Failure, Terminal};
use crate::engine::Program;
use crate::graph::stats;

pub fn run(files: &[PathBuf], deny_warnings: bool, term: &mut Terminal) -> Result<(), Failure> {
    let mut failed = false;
    // A file that cannot be read is not a program with errors: exit 2, as
    // for every command (docs/cli.md's exit-status table).
    let mut unreadable = false;
    for path in files {
        let src = match source::read(path) {
            Ok(src) => src,
            Err(e) => {
                term.diagnostic(&e, None);
                unreadable = true;
                continue;
            }
        };
        let compiled = Program::compile(src.name, src.text);
        let (source, diagnostics) = match &compiled {
            Ok(p) => (p.source(), p.warnings()),
            Err(f) => (&f.source, &f.diagnostics),
        };
        term.diagnostics(diagnostics.iter(), Some(source));
        let errors = diagnostics.errors();
        let warnings = diagnostics.warnings();
        match &compiled {
            Ok(program) if !(deny_warnings && warnings > 0) => {
                let graph = program.graph();
                let mut line = format!("{}: {}", source.name, stats::summary(graph));
                if warnings > 0 {
                    line.push_str(&format!(" ({})", plural(warnings, "warning")));
                }
                line.push('\n');
                if let Some(cost) = crate::check::cost::worst_case_cost(graph) {
                    line.push_str(&format!("  {cost}\n"));
                }
                term.out(&line);
            }
            _ => {
                failed = true;
                let mut why = plural(errors, "error");
                if warnings > 0 {
                    if deny_warnings {
                        why = format!("{why} and {} (denied)", plural(warnings, "warning"));
                    } else {
                        why = format!("{why} and {}", plural(warnings, "warning"));
                    }
                }
                term.err(&format!("error: `{}` has {why}\n", source.name));
            }
        }
    }
    if unreadable {
        Err(Failure::quiet(exit::FAILURE))
    } else if failed {
        Err(Failure::quiet(exit::COMPILE))
    } else {
        Ok(())
    }
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
