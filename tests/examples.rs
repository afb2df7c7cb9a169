//! Every program in `examples/` is real: it checks cleanly and draws.

use crate::support::*;

#[test]
fn every_example_checks_without_warnings() {
    let files = flow_files("examples");
    assert!(files.len() >= 7, "expected at least seven examples");
    for file in files {
        let path = rel(&file);
        let out = flow(&["check", "--deny-warnings", &path]);
        assert_eq!(code(&out), 0, "{path}:\n{}", stderr(&out));
        assert!(
            stdout(&out).contains("LLM call"),
            "{path} summary:\n{}",
            stdout(&out)
        );
    }
}
