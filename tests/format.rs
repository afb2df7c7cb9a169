//! `flow fmt`: every example and fixture is in its layout, formatting is
//! idempotent and changes nothing `flow check` says (the same diagnostic
//! codes, the same graph), over the examples and the robustness corpus.

use proptest::prelude::*;

use crate::robustness::{TOKENS, examples};
use crate::support::*;

/// What `flow check` concludes about a text, spans aside.
fn verdict(text: &str) -> (Vec<String>, Option<String>) {
    let compiled = flow::compile(text);
    let mut codes: Vec<String> = compiled
        .diagnostics
        .iter()
        .map(|d| d.code().map(|c| c.to_string()).unwrap_or_default())
        .collect();
    codes.sort();
    let stats = compiled
        .graph
        .as_ref()
        .map(|g| flow::graph::stats::summary(g).to_string());
    (codes, stats)
}

fn assert_formats_the_same(text: &str) -> Result<(), TestCaseError> {
    if flow::syntax::parse(text).is_err() {
        prop_assert!(flow::format::format(text).is_err());
        return Ok(());
    }
    let once = flow::format::format(text);
    prop_assert!(once.is_ok(), "{text:?} parses but does not format");
    let once = once.unwrap_or_default();
    let twice = flow::format::format(&once).unwrap_or_default();
    prop_assert_eq!(&twice, &once, "not idempotent on {:?}", text);
    prop_assert_eq!(
        verdict(&once),
        verdict(text),
        "check differs after formatting {:?}",
        text
    );
    Ok(())
}

#[test]
fn every_example_and_fixture_is_formatted() {
    let mut files = flow_files("examples");
    files.extend(flow_files("tests/fixtures/ok"));
    files.extend(flow_files("tests/fixtures/err"));
    let mut unformatted = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // A fixture whose point is a syntax error cannot be formatted.
        let Ok(formatted) = flow::format::format(&text) else {
            continue;
        };
        if formatted != text {
            unformatted.push(path.display().to_string());
        }
    }
    assert!(
        unformatted.is_empty(),
        "run `flow fmt` on: {}",
        unformatted.join(" ")
    );
}

#[test]
fn formatting_the_examples_is_idempotent_and_changes_no_check() {
    for text in examples() {
        assert_formats_the_same(&text).unwrap();
    }
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.flow");
    std::fs::write(&path, "x =   \noutput x\n").unwrap();
    let out = flow(&["fmt", path.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "x =   \noutput x\n"
    );
}

#[test]
fn comments_stay_where_they_were() {
    let text = "# head\nmodel m = mock()  # trailing\n\n\n\n# before\nx = section <\n  # inside\n  a = ask m \"a\" # after a\n  b = ask m \"b\"\n  # last\n>\noutput x # end\n";
    let formatted = flow::format::format(text).unwrap();
    assert_eq!(
        formatted,
        "# head\nmodel m = mock() # trailing\n\n# before\nx = section <\n  # inside\n  a = ask m \"a\" # after a\n  b = ask m \"b\"\n  # last\n>\noutput x # end\n"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fmt_on_token_soup_is_idempotent_and_keeps_check(
        tokens in proptest::collection::vec(0..TOKENS.len(), 0..40)
    ) {
        let src: String = tokens.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        assert_formats_the_same(&src)?;
    }

    #[test]
    fn fmt_on_cut_and_respaced_examples_is_idempotent_and_keeps_check(
        which in 0usize..64, cut in 0usize..4096, spaces in proptest::collection::vec(0usize..4096, 0..12)
    ) {
        let all = examples();
        prop_assume!(!all.is_empty());
        let text = &all[which % all.len()];
        let mut at = cut % (text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        assert_formats_the_same(&text[..at])?;
        // Spaces and tabs added after spaces: whitespace the layout owns.
        let mut respaced = text.clone();
        for s in spaces {
            let at = s % (respaced.len() + 1);
            if respaced.is_char_boundary(at) && respaced[..at].ends_with(' ') {
                respaced.insert_str(at, " \t ");
            }
        }
        assert_formats_the_same(&respaced)?;
    }
}
