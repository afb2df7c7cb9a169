//! Diagnostics and run reports as JSON: what `flow run --json` prints and
//! `flow serve`'s `/v1/runs` answers, built once so the two never differ.
//! Scripts read one error object instead of parsing what stderr shows a
//! person:
//!
//! ```json
//! {"code": "flow::check::undefined_name", "message": "...", "help": "...",
//!  "labels": [{"label": "...", "line": 3, "column": 12, "end_line": 3, "end_column": 15}]}
//! ```
//!
//! Lines and columns start at 1; columns count characters, as editors do.

use miette::{Diagnostic, Severity};
use serde_json::{Value, json};

use crate::engine::SourceFile;
use crate::runtime::RunReport;
use crate::value::{outputs_json, placeholder_paths};

/// One diagnostic as a JSON object; labels get positions when `source` is
/// the text they point into.
pub fn to_json(d: &dyn Diagnostic, source: Option<&SourceFile>) -> Value {
    let mut labels = Vec::new();
    if let (Some(src), Some(ls)) = (source, d.labels()) {
        for l in ls {
            // A label may point into an imported file: positions are in it.
            let (name, text, base) = src.file_at(l.offset());
            let local = l.offset() - base;
            let start = local.min(text.len());
            let end = (local + l.len()).min(text.len());
            let (line, column) = position(text, start);
            let (end_line, end_column) = position(text, end);
            let mut label = json!({
                "label": l.label(),
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
            });
            if base > 0
                && let Some(obj) = label.as_object_mut()
            {
                obj.insert("file".into(), name.into());
            }
            labels.push(label);
        }
    }
    let severity = match d.severity() {
        Some(Severity::Warning) => "warning",
        Some(Severity::Advice) => "advice",
        _ => "error",
    };
    json!({
        "code": d.code().map(|c| c.to_string()),
        "severity": severity,
        "message": d.to_string(),
        "help": d.help().map(|h| h.to_string()),
        "file": source.map(|s| s.name.clone()),
        "labels": labels,
    })
}

/// A run's report as one document: `outputs` and `stats` (and the paths of
/// any `placeholders` an offline run invented), or for a failed run no
/// outputs, the `error` (also as `errors`, the shape every failed command
/// has), what `finished` before it, and `stats`.
pub fn report_json(report: &RunReport, source: &SourceFile) -> Value {
    match &report.outputs {
        Ok(outputs) => {
            let mut doc = json!({
                "outputs": outputs_json(outputs),
                "stats": report.stats,
            });
            let placeholders = placeholder_paths(outputs);
            if let (false, Some(obj)) = (placeholders.is_empty(), doc.as_object_mut()) {
                obj.insert("placeholders".into(), placeholders.into());
            }
            doc
        }
        Err(error) => {
            let finished: serde_json::Map<String, Value> = report
                .finished
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            let shown = to_json(error, Some(source));
            json!({
                "outputs": null,
                "error": shown,
                "errors": [shown],
                "finished": finished,
                "stats": report.stats,
            })
        }
    }
}

/// The document a failed `--json` command prints: no outputs, the first
/// error, and every error.
pub fn failure_doc(errors: Vec<Value>) -> Value {
    json!({
        "outputs": null,
        "error": errors.first().cloned().unwrap_or(Value::Null),
        "errors": errors,
    })
}

/// 1-based line and character column of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_14_positions_are_lines_and_character_columns() {
        let text = "ab\nçé = x\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 3), (2, 1));
        // `=` is after two two-byte characters and a space: column 4.
        assert_eq!(position(text, 8), (2, 4));
        assert_eq!(position(text, 999), (3, 1));
    }
}
