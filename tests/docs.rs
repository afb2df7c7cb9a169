//! What the documentation promises: every diagnostic code flow can emit has
//! a heading in docs/errors.md, so a user who sees a code can always look it
//! up; and every ```flow block in README.md and docs/*.md is a real program.
//!
//! # Fences
//!
//! The info string after ```flow says what the block must do. GitHub (like
//! CommonMark) takes the language from the info string's first word only, so
//! words after `flow`, separated by spaces, change nothing in how the block
//! renders. (Not by commas as rustdoc's `rust,ignore`: GitHub would then take
//! all of `flow,fails=...` for the language.)
//!
//! - ```` ```flow ```` — a whole program: it compiles with no error and no
//!   warning.
//! - ```` ```flow fails=flow::check::cycle ```` — it fails to compile, and
//!   every diagnostic it gets has exactly that code, so the block shows the
//!   one mistake its text is about.
//!
//! Every block is a whole program (models declared, an output), not a
//! fragment: a reader can paste it into a file and run `flow check`. Any other
//! word after `flow` is refused, so a misspelt attribute cannot silently
//! turn a check off.

use crate::support::root;

/// One ```flow block: where it is, its info string and its text.
struct Block {
    place: String,
    info: String,
    source: String,
}

/// The fenced ```flow blocks of a Markdown file. A fence may be indented (in
/// a list item); that indentation is removed from the block's lines. As in
/// CommonMark, a run of backticks followed by more backticks is a code span,
/// not a fence, and a fence closes only with at least as many backticks.
fn flow_blocks(file: &str, text: &str) -> Vec<Block> {
    let ticks = |s: &str| s.len() - s.trim_start_matches('`').len();
    let mut blocks = Vec::new();
    // (first line, fence indentation, fence length, info string, text so far)
    let mut open: Option<(usize, usize, usize, String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        match &mut open {
            None => {
                let fence = ticks(trimmed);
                let info = &trimmed[fence..];
                if fence >= 3 && !info.contains('`') {
                    open = Some((n + 1, indent, fence, info.trim().to_string(), String::new()));
                }
            }
            Some((start, fence_indent, fence, info, source)) => {
                if ticks(trimmed) >= *fence && ticks(trimmed) == trimmed.len() {
                    if info.split_whitespace().next() == Some("flow") {
                        blocks.push(Block {
                            place: format!("{file}:{start}"),
                            info: std::mem::take(info),
                            source: std::mem::take(source),
                        });
                    }
                    open = None;
                } else {
                    let cut = indent.min(*fence_indent);
                    source.push_str(line.get(cut..).unwrap_or(""));
                    source.push('\n');
                }
            }
        }
    }
    blocks
}

/// What is wrong with one block, if anything.
fn block_problem(block: &Block) -> Option<String> {
    let mut fails = None;
    for word in block.info.split_whitespace().skip(1) {
        match word.strip_prefix("fails=") {
            Some(code) if code.starts_with("flow::") => fails = Some(code),
            _ => return Some(format!("unknown fence attribute `{word}`")),
        }
    }
    let compiled = flow::compile(&block.source);
    let codes: Vec<String> = compiled
        .diagnostics
        .iter()
        .map(|d| d.code().map(|c| c.to_string()).unwrap_or_default())
        .collect();
    match fails {
        None if codes.is_empty() => None,
        None => Some(format!("should compile cleanly, got {codes:?}")),
        Some(code) if compiled.graph.is_some() => Some(format!(
            "should fail with `{code}`, but compiles ({codes:?})"
        )),
        Some(code) if codes.iter().all(|c| c == code) => None,
        Some(code) => Some(format!("should fail with `{code}` only, got {codes:?}")),
    }
}

#[test]
fn every_flow_block_in_the_docs_compiles_or_fails_as_marked() {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .expect("the docs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable doc");
        blocks.extend(flow_blocks(&crate::support::rel(file), &text));
    }
    assert!(
        blocks.len() >= 20,
        "found only {} flow blocks",
        blocks.len()
    );
    let problems: Vec<String> = blocks
        .iter()
        .filter_map(|b| block_problem(b).map(|p| format!("{}: {p}\n{}", b.place, b.source)))
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} flow blocks are wrong:\n\n{}",
        problems.len(),
        blocks.len(),
        problems.join("\n")
    );
}

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

#[test]
fn flow_blocks_follow_commonmark_fences() {
    let text = "Text with ```` ```flow ```` in a code span.\n\
                \n\
                - a list item:\n\
                \n\
                \x20 ```flow fails=flow::syntax::expected_expression\n\
                \x20 output a = +\n\
                \x20 ```\n\
                \n\
                ````md\n\
                ```flow\n\
                not a block: inside another fence\n\
                ```\n\
                ````\n\
                ```text\n\
                output x = 1\n\
                ```\n";
    let blocks = flow_blocks("t.md", text);
    assert_eq!(
        blocks.len(),
        1,
        "{:?}",
        blocks.iter().map(|b| &b.place).collect::<Vec<_>>()
    );
    assert_eq!(blocks[0].place, "t.md:5");
    assert_eq!(
        blocks[0].info,
        "flow fails=flow::syntax::expected_expression"
    );
    assert_eq!(blocks[0].source, "output a = +\n");
    assert_eq!(block_problem(&blocks[0]), None);

    let typo = Block {
        place: "t.md:1".into(),
        info: "flow fail=flow::syntax::unexpected".into(),
        source: "output a = +\n".into(),
    };
    assert_eq!(
        block_problem(&typo).as_deref(),
        Some("unknown fence attribute `fail=flow::syntax::unexpected`")
    );
}

/// The docs' claims that issue 11 found contradicted by behaviour, each held
/// to the behaviour here so that they cannot drift apart again.
mod item_25 {
    use crate::support::*;

    fn doc(name: &str) -> String {
        std::fs::read_to_string(root().join("docs").join(name)).expect("a doc")
    }

    #[test]
    fn item_25_section_records_are_not_interpolated() {
        let p = TempProgram::new(
            "model m = mock(echo: true)\nr = section <\n  a = ask m \"x\"\n>\noutput o = \"{r}\"\n",
        );
        let out = flow(&["check", &p.path]);
        assert_eq!(code(&out), 1);
        assert!(
            stderr(&out).contains("flow::check::interpolate_record"),
            "{}",
            stderr(&out)
        );
        let language = doc("language.md");
        assert!(
            language.contains("| section record | not allowed (`flow::check::interpolate_record`)")
        );
        assert!(!language.contains("compact JSON of its members"));
    }

    #[test]
    fn item_25_plain_output_of_several_values_is_a_flat_object() {
        let p =
            TempProgram::new("model m = mock(echo: true)\noutput a = ask m \"x\"\noutput n = 3\n");
        let out = flow(&["run", &p.path, "--no-cache"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        assert_eq!(v, serde_json::json!({"a": "x", "n": 3}));
        let cli = doc("cli.md");
        assert!(cli.contains("standard output is one JSON object of the outputs, keyed by name"));
    }

    #[test]
    fn item_25_offline_runs_have_no_cost() {
        let p = TempProgram::new(
            "model m = openai(\"gpt-4o\", price_in: 1, price_out: 1)\noutput a = ask m \"x\"\n",
        );
        let out = flow(&["run", &p.path, "--offline", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        assert_eq!(v["stats"]["cost_usd"], serde_json::Value::Null);
        assert!(doc("providers.md").contains("`cost_usd`\nis `null` offline"));
    }

    #[test]
    fn item_25_an_unreadable_file_exits_2_everywhere() {
        for args in [
            ["check", "no/such.flow"],
            ["graph", "no/such.flow"],
            ["run", "no/such.flow"],
        ] {
            let out = flow(&args);
            assert_eq!(code(&out), 2, "{args:?}");
            assert!(stderr(&out).contains("flow::io::unreadable"), "{args:?}");
        }
        assert!(doc("cli.md").contains("a file could not be read or written"));
    }
}
