//! Exit codes and messages of the command line itself.

use crate::support::*;

#[test]
fn missing_file_is_a_clear_error() {
    let out = flow(&["check", "no/such/file.flow"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot read `no/such/file.flow`: no such file"),
        "{err}"
    );
    assert!(err.contains("flow::io::unreadable"), "{err}");
}

#[test]
fn non_utf8_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.flow");
    std::fs::write(&path, b"output x = \"\xff\xfe\"").unwrap();
    let out = flow(&["check", path.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not UTF-8 text (invalid byte at offset 12)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_arguments_is_a_usage_error() {
    let out = flow(&[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("Usage"), "{}", stderr(&out));
}

#[test]
fn check_without_files_is_a_usage_error() {
    let out = flow(&["check"]);
    assert_eq!(code(&out), 2);
}
