//! Running the `flow` binary the way a user would, with stable output.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `flow ARGS...` from the crate root, no colour, 80 columns, no keys.
pub fn flow(args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("flow")
        .expect("the flow binary is built for tests")
        .current_dir(root())
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .expect("flow runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Every `.flow` file in `dir` (relative to the crate root), sorted.
pub fn flow_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "flow"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The path as written relative to the crate root, for stable snapshots.
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

pub fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
