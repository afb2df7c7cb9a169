//! Every diagnostic code flow can emit has a heading in docs/errors.md, so a
//! user who sees a code can always look it up.

use crate::support::root;

fn codes_in(dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            codes_in(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // `code(flow::stage::kind)` in derives, `"flow::stage::kind"` in hand-written impls.
            for piece in text.split("flow::").skip(1) {
                let code: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let parts: Vec<&str> = code.split("::").collect();
                let stages = ["syntax", "check", "run", "io", "cache", "batch", "input"];
                // Codes of their own, not of a stage: `flow::internal`.
                let whole = ["internal"];
                let staged = parts.len() == 2 && stages.contains(&parts[0]) && !parts[1].is_empty();
                if staged || (parts.len() == 1 && whole.contains(&parts[0])) {
                    out.push(format!("flow::{code}"));
                }
            }
        }
    }
}

#[test]
fn every_diagnostic_code_is_documented() {
    let mut codes = Vec::new();
    codes_in(&root().join("src"), &mut codes);
    codes.sort();
    codes.dedup();
    assert!(codes.len() > 50, "found only {} codes", codes.len());
    let docs = std::fs::read_to_string(root().join("docs/errors.md")).expect("docs/errors.md");
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| !docs.contains(&format!("\n### {c}\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "not documented in docs/errors.md: {missing:?}"
    );
}
