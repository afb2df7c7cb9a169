//! Program shapes that once made the front end quadratic (issue 11 item 2),
//! or could (a syntax error in every other statement, item 24), generated
//! rather than committed: the front-end bench times them, and a
//! robustness test (`tests/robustness.rs`, which includes this file) checks
//! them at a smaller size.

/// The program shapes of issue 11 items 2 and 24, each `n` statements long.
pub fn large_shapes(n: usize) -> Vec<(&'static str, String)> {
    let lines = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join("\n");
    vec![
        (
            "models",
            lines(&|i| format!("model m{i} = mock()")) + "\noutput x = ask m0 \"hi\"\n",
        ),
        (
            "cycle",
            lines(&|i| format!("b{i} = b{}", (i + 1) % n)) + "\noutput o = b0\n",
        ),
        (
            "undefined",
            lines(&|i| format!("b{i} = u{i}")) + "\noutput o = b0\n",
        ),
        (
            "duplicates",
            lines(&|_| "x = 1".into()) + "\noutput o = x\n",
        ),
        (
            // Every other statement fails to parse and the next one uses it:
            // `n / 2` syntax errors, and no cascade from the uses.
            "syntax_errors",
            lines(&|i| {
                if i % 2 == 0 {
                    format!("b{i} = {i} +")
                } else {
                    format!("b{i} = b{}", i - 1)
                }
            }) + "\noutput o = b1\n",
        ),
        (
            "section",
            format!(
                "output s = section <\n{}\n>\n",
                lines(&|i| format!("  m{i} = {i}"))
            ),
        ),
    ]
}
