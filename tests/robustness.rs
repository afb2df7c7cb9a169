//! No input makes the front end panic or hang: random token soup, every
//! prefix of every example, absurd nesting. Each must give diagnostics or a
//! graph, never a crash.

use proptest::prelude::*;

use crate::support::*;

pub(crate) fn examples() -> Vec<String> {
    flow_files("examples")
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

#[test]
fn every_prefix_of_every_example_compiles_or_reports() {
    for text in examples() {
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for &end in &boundaries {
            let compiled = flow::compile(&text[..end]);
            // A truncated program either still compiles or says why not.
            assert!(compiled.graph.is_some() || compiled.diagnostics.has_errors());
        }
    }
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_crash() {
    let n = 100_000;
    let cases = [
        format!("output x = {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("output x = {}true", "not ".repeat(n)),
        format!(
            "output x = {}1{}",
            "if true then ".repeat(n),
            " else 2".repeat(n)
        ),
        format!("output x = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!("output x = {}", "section < a = ".repeat(n)),
        "(".repeat(n),
    ];
    for src in cases {
        let compiled = flow::compile(&src);
        assert!(
            compiled.diagnostics.has_errors(),
            "no error for a {}-deep program",
            n
        );
    }
}

pub(crate) const TOKENS: &[&str] = &[
    "model",
    "input",
    "output",
    "section",
    "ask",
    "system",
    "as",
    "vote",
    "by",
    "repeat",
    "for",
    "in",
    "if",
    "then",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "timeout",
    "retry",
    "<",
    ">",
    "<=",
    ">=",
    "==",
    "!=",
    "=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "|",
    "\"",
    "\"\"\"",
    "\"a {x} b\"",
    "\"{\"",
    "\\",
    "x",
    "m",
    "q",
    "majority",
    "at_least",
    "judge",
    "mean",
    "openai",
    "mock",
    "text",
    "bool",
    "list",
    "json",
    "1",
    "0",
    "5",
    "-3",
    "0.7",
    "30s",
    "500ms",
    "2m",
    "#",
    "\n",
    " ",
    "\t",
    "é",
    "💥",
    "\u{0}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..60)) {
        let src: String = tokens.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        let _ = flow::compile(&src);
    }

    #[test]
    fn random_truncations_and_splices_never_panic(
        which in 0usize..64, cut in 0usize..4096, insert in 0..TOKENS.len()
    ) {
        let all = examples();
        prop_assume!(!all.is_empty());
        let text = &all[which % all.len()];
        let mut at = cut % (text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let _ = flow::compile(&text[..at]);
        let spliced = format!("{}{}{}", &text[..at], TOKENS[insert], &text[at..]);
        let _ = flow::compile(&spliced);
    }
}

/// Issue 11 item 1: miette pads underlines with `{:width$}`, which panics
/// past column 65,535; such a label is drawn in a window of its line.
#[test]
fn item_01_label_past_column_65535_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.flow");
    let prompt = "a".repeat(70_000);
    let text = format!("model m = mock()\nx = ask m \"{prompt} {{nope}}\"\noutput x\n");
    std::fs::write(&file, text).unwrap();
    let out = flow(&["check", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("`nope` is not defined"), "{err}");
    assert!(err.contains(":2:70014]"), "{err}");
}

/// Issue 11 item 2: every pass and the rendering of N diagnostics must be
/// near-linear. At 20,000 statements a quadratic takes many minutes (16,000
/// undefined names took 75 s in a release build), a linear pass seconds in a
/// debug build; the two-minute limit of [`flow`] tells them apart with room
/// to spare on a loaded machine.
#[test]
fn item_02_large_programs_check_in_near_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, text) in crate::shapes::large_shapes(20_000) {
        // Timed with its own assertions below.
        if shape == "syntax_errors" {
            continue;
        }
        let file = dir.path().join(format!("{shape}.flow"));
        std::fs::write(&file, text).unwrap();
        let out = flow(&["check", file.to_str().unwrap()]);
        assert!(
            code(&out) == 0 || code(&out) == 1,
            "{shape}: {}",
            stderr(&out)
        );
    }
}

/// Issue 11 item 24: recovery re-parses statements after a syntax error,
/// which must not make 10,000 syntax errors cost 10,000 parses of the file;
/// every one is reported, and the statements using the broken ones add none.
/// Bounded like item 2's shapes.
#[test]
fn item_24_ten_thousand_syntax_errors_in_near_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = crate::shapes::large_shapes(20_000)
        .into_iter()
        .find(|(shape, _)| *shape == "syntax_errors")
        .unwrap();
    let file = dir.path().join("syntax_errors.flow");
    std::fs::write(&file, text).unwrap();
    let out = flow(&["check", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1);
    assert!(
        err.contains("has 10000 errors\n"),
        "{}",
        err.lines().last().unwrap_or("")
    );
    assert_eq!(err.matches("flow::syntax::").count(), 10_000);
}
