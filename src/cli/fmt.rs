//! `flow fmt`: rewrite programs in the canonical layout, check that they
//! are in it (`--check`, for CI), or format standard input to standard
//! output (`-`).

use std::path::PathBuf;

use similar::TextDiff;

use super::exit;
use super::source;
use super::terminal::{Failure, Terminal};
use crate::engine::SourceFile;
use crate::internal::InternalError;

pub fn run(files: &[PathBuf], check: bool, term: &mut Terminal) -> Result<(), Failure> {
    let mut refused = false;
    let mut changed = Vec::new();
    for path in files {
        let src = match source::read(path) {
            Ok(src) => src,
            Err(e) => {
                term.diagnostic(&e, None);
                refused = true;
                continue;
            }
        };
        let formatted = match crate::format::format(&src.text) {
            Ok(f) => f,
            Err(diagnostics) => {
                term.diagnostics(diagnostics.iter(), Some(&src));
                term.err(&format!(
                    "error: `{}` does not parse, so it was left as it is\n",
                    src.name
                ));
                refused = true;
                continue;
            }
        };
        if source::is_stdin(path) && !check {
            term.out(&formatted);
            continue;
        }
        if formatted == src.text {
            continue;
        }
        if check {
            term.out(&diff(&src, &formatted));
            changed.push(src.name);
        } else if let Err(e) = std::fs::write(path, &formatted) {
            term.diagnostic(
                &InternalError::new(format!(
                    "cannot write `{}`: {}",
                    src.name,
                    crate::text::io_reason(&e)
                )),
                None,
            );
            refused = true;
        }
    }
    if check && !changed.is_empty() {
        let what = super::check::plural(changed.len(), "file");
        term.err(&format!(
            "error: {what} not formatted; run `flow fmt` on them\n"
        ));
    }
    if refused {
        Err(Failure::quiet(exit::FAILURE))
    } else if !changed.is_empty() {
        Err(Failure::quiet(exit::COMPILE))
    } else {
        Ok(())
    }
}

fn diff(src: &SourceFile, formatted: &str) -> String {
    TextDiff::from_lines(src.text.as_str(), formatted)
        .unified_diff()
        .context_radius(3)
        .header(&src.name, &format!("{} (formatted)", src.name))
        .to_string()
}
