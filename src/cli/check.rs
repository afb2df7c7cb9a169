//! `flow check`: every diagnostic, then a summary line per file.

use std::path::PathBuf;

use super::report::{self, Style};
use super::{exit, print_stderr, print_stdout, source};
use crate::graph::stats;

pub fn run(files: &[PathBuf], deny_warnings: bool, style: Style) -> u8 {
    let mut failed = false;
    for path in files {
        let src = match source::read(path) {
            Ok(src) => src,
            Err(e) => {
                print_stderr(&report::render(&e, None, style));
                failed = true;
                continue;
            }
        };
        let compiled = crate::compile(&src.text);
        for d in compiled.diagnostics.iter() {
            print_stderr(&report::render(d.as_ref(), Some(&src), style));
        }
        let errors = compiled.diagnostics.errors();
        let warnings = compiled.diagnostics.warnings();
        match compiled.graph {
            Some(graph) if errors == 0 && !(deny_warnings && warnings > 0) => {
                let mut line = format!("{}: {}", src.name, stats::summary(&graph));
                if warnings > 0 {
                    line.push_str(&format!(" ({})", plural(warnings, "warning")));
                }
                line.push('\n');
                if let Some(cost) = crate::check::cost::worst_case_cost(&graph) {
                    line.push_str(&format!("  {cost}\n"));
                }
                print_stdout(&line);
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
                print_stderr(&format!("error: `{}` has {why}\n", src.name));
            }
        }
    }
    if failed { exit::COMPILE } else { exit::OK }
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
