//! Every program in `examples/` is real: it checks cleanly and draws. One
//! test per example (`examples::checks::guardrails`); add a new example's
//! name to the list.

use crate::support::*;

per_file_tests! {
    checks => example [
        best_of_n,
        chatbot,
        code_review,
        document_analysis,
        fact_check,
        guardrails,
        inbox,
        local_ollama,
        map_reduce,
        mock_triage,
        moderation,
        moderation_panel,
        self_consistency,
        split_review,
    ]
}

#[test]
fn every_example_has_a_test() {
    assert!(
        checks::LISTED.len() >= 7,
        "expected at least seven examples"
    );
    assert_listed("examples", checks::LISTED);
}

fn example(name: &str) {
    let path = format!("examples/{name}.flow");
    let out = flow(&["check", "--deny-warnings", &path]);
    assert_eq!(code(&out), 0, "{path}:\n{}", stderr(&out));
    assert!(
        stdout(&out).contains("LLM call"),
        "{path} summary:\n{}",
        stdout(&out)
    );
}
