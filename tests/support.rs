//! Running the `flow` binary the way a user would, with stable output.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `flow ARGS...` from the crate root, no colour, 80 columns, no keys.
pub fn flow(args: &[&str]) -> Output {
    flow_env(args, &[])
}

/// As [`flow`], with extra environment variables (e.g. a test key), and
/// killed after two minutes so a hung run fails its test instead of the suite.
pub fn flow_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd =
        assert_cmd::Command::cargo_bin("flow").expect("the flow binary is built for tests");
    cmd.current_dir(root())
        .args(args)
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("FLOW_CACHE");
    // Requests to the in-process test server must not detour through a proxy.
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("flow runs")
}

/// The user cache directory the `flow` a test starts sees: one per test (a
/// test runs on a thread named after it), so a test's re-runs share their
/// default cache and no two tests, nor the user's own cache, ever do.
pub fn cache_home() -> PathBuf {
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    let dir = std::env::temp_dir()
        .join(format!("flow-test-cache-{}", std::process::id()))
        .join(test);
    let _ = std::fs::create_dir_all(&dir);
    dir
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

/// Standard output as JSON; fails the test with both streams if it is not.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

/// A program written to a fresh temporary folder, for tests that need one
/// of their own. Keep the folder alive as long as the file is used.
pub struct TempProgram {
    pub dir: tempfile::TempDir,
    pub path: String,
}

impl TempProgram {
    pub fn new(source: &str) -> TempProgram {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("main.flow");
        std::fs::write(&path, source).expect("write the program");
        TempProgram {
            path: path.to_string_lossy().into_owned(),
            dir,
        }
    }

    /// A path inside the program's folder (for traces and input files).
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

/// A diagnostic as prose: miette's line wrapping and gutter (`│`) removed and
/// white space collapsed, so a test can look for a whole sentence.
pub fn prose(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│" && *w != "·")
        .collect::<Vec<_>>()
        .join(" ")
}

/// One test per file of a folder: `module => function [name, ...]` becomes
/// `mod module { #[test] fn name() }`, each calling `function("name")` in the
/// module that invokes it, plus `module::LISTED`, the names, for
/// [`assert_listed`]. A failing file then cannot hide the others, and each is
/// named in the test output.
macro_rules! per_file_tests {
    ($($module:ident => $test:ident [$($name:ident),* $(,)?])*) => {
        $(#[allow(non_snake_case)] // `check_type_mismatch__input_default`: a case of a code
        mod $module {
            $(#[test]
            fn $name() {
                super::$test(stringify!($name));
            })*

            pub const LISTED: &[&str] = &[$(stringify!($name)),*];
        })*
    };
}
pub(crate) use per_file_tests;

/// The `.flow` files in `dir` are exactly those `listed` (by stem): a new file
/// without a test, or a test whose file is gone, fails.
pub fn assert_listed(dir: &str, listed: &[&str]) {
    let found: Vec<String> = flow_files(dir).iter().map(|f| stem(f)).collect();
    let unlisted: Vec<&String> = found
        .iter()
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    let missing: Vec<&&str> = listed
        .iter()
        .filter(|l| !found.iter().any(|f| f == *l))
        .collect();
    assert!(
        unlisted.is_empty(),
        "{dir} has files with no test; add them to its `per_file_tests!` list: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "tests list files that {dir} lacks: {missing:?}"
    );
}

/// Proxy settings a `flow` started by a test must not see: requests to the
/// in-process test server must not detour through a proxy.
pub const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];
