//! Parser tests: tiny trees, equivalences, every error kind, robustness.

use super::ast::*;
use super::*;

/// Renders errors the way the CLI would (no colour, width 80).
fn render(src: &str, errors: &[SyntaxError]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(80);
    let mut out = String::new();
    for e in errors {
        let report = miette::Report::new(e.clone()).with_source_code(src.to_string());
        handler.render_report(&mut out, report.as_ref()).unwrap();
    }
    out
}

#[test]
fn eyeball() {
    let cases = std::fs::read_to_string("/tmp/cases.txt").unwrap_or_default();
    for case in cases.split("\n---\n") {
        let case = case.replace("\\n", "\n");
        match parse(&case) {
            Ok(p) => println!("OK {case:?}\n{p:#?}"),
            Err(e) => println!("ERR {case:?}\n{}", render(&case, &e)),
        }
    }
}
