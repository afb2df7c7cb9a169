//! Every feature at every offset of every fixture and example: no panic,
//! and every range inside the document.

use super::analysis::Analysis;
use super::{completion, hints, hover, navigate, tokens};

fn files() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/fixtures/err", "tests/fixtures/ok", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "flow")
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn every_feature_answers_everywhere_without_panicking() {
    let uri = "file:///t.flow".parse().unwrap();
    let files = files();
    assert!(files.len() > 50, "found {} files", files.len());
    for (name, text) in files {
        let a = Analysis::new(&uri, text.clone(), "https://e.com/errors.md");
        let end = a.lines.position(&text, text.len());
        for d in &a.diagnostics {
            assert!(
                d.range.end <= end && d.range.start <= d.range.end,
                "{name}: {d:?}"
            );
        }
        let _ = tokens::semantic_tokens(&a);
        let _ = navigate::document_symbols(&a);
        if let Some(p) = &a.program {
            let _ = hints::hints(p, &text);
        }
        let step = (text.len() / 400).max(1);
        for offset in (0..=text.len()).step_by(step) {
            let _ = hover::hover(&a, offset);
            let _ = completion::complete(&a, offset);
            let _ = navigate::definition(&a, &uri, offset);
            let _ = navigate::references(&a, offset, true);
            let _ = navigate::rename(&a, offset, "renamed");
        }
    }
}
