//! Fixture folders drive these tests: every `ok/*.flow` must check and has its
//! graph snapshotted; every `err/*.flow` must fail with a snapshotted diagnostic.

use crate::support::*;

fn settings(folder: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/snapshots").join(folder));
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn ok_fixtures_check_and_draw() {
    let files = flow_files("tests/fixtures/ok");
    assert!(!files.is_empty(), "no ok fixtures found");
    for file in files {
        let path = rel(&file);
        let check = flow(&["check", &path]);
        assert_eq!(code(&check), 0, "{path} should check:\n{}", stderr(&check));
        let dot = flow(&["graph", &path]);
        assert_eq!(code(&dot), 0, "{path} should draw:\n{}", stderr(&dot));
        settings("ok").bind(|| {
            insta::assert_snapshot!(format!("{}.dot", stem(&file)), stdout(&dot));
        });
    }
}

#[test]
fn err_fixtures_fail_with_their_diagnostic() {
    let files = flow_files("tests/fixtures/err");
    assert!(!files.is_empty(), "no err fixtures found");
    for file in files {
        let path = rel(&file);
        let out = flow(&["check", &path]);
        let name = stem(&file);
        let text = stderr(&out);
        // Warning fixtures pass `check` but must fail under --deny-warnings.
        if code(&out) == 0 {
            let denied = flow(&["check", "--deny-warnings", &path]);
            assert_eq!(code(&denied), 1, "{path} should warn:\n{text}");
            assert!(
                stdout(&out).contains("warning"),
                "{path} should warn:\n{text}"
            );
        } else {
            assert_eq!(code(&out), 1, "{path} should fail to check:\n{text}");
        }
        // The file name says which code it demonstrates: `check_cycle.flow`
        // must report `flow::check::cycle`.
        if let Some((stage, kind)) = name.split_once('_') {
            let code = format!("flow::{stage}::{kind}");
            assert!(text.contains(&code), "{path} should report {code}:\n{text}");
        }
        settings("err").bind(|| {
            insta::assert_snapshot!(name, text);
        });
    }
}
