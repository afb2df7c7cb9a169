//! The VS Code extension's TextMate grammar against its committed scope
//! snapshots, on every example (`editors/vscode/test/snap.js`, which runs
//! `vscode-tmgrammar-snap`). Needs Node and `npm ci` in editors/vscode;
//! without them the test says so and passes, unless `FLOW_REQUIRE_NODE=1`.

use std::path::Path;
use std::process::Command;

#[test]
fn grammar_scopes_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    let required = std::env::var("FLOW_REQUIRE_NODE").is_ok_and(|v| v == "1");
    let skip = |why: &str| {
        assert!(!required, "FLOW_REQUIRE_NODE=1 but {why}");
        eprintln!("skipping the grammar snapshots: {why}");
    };
    if !dir.join("node_modules/vscode-tmgrammar-test").exists() {
        return skip("editors/vscode/node_modules is missing (run `npm ci` there)");
    }
    let out = match Command::new("node")
        .arg("test/snap.js")
        .current_dir(&dir)
        .output()
    {
        Ok(out) => out,
        Err(e) => return skip(&format!("`node` cannot be run: {e}")),
    };
    assert!(
        out.status.success(),
        "grammar snapshots differ (after reviewing, `npm run snap:update` in editors/vscode):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
