//! The library example in docs/library.md is examples/library.rs, word for
//! word, and it runs.

use crate::support::root;

mod example {
    include!("../examples/library.rs");

    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_documented_example_is_the_example_file() {
    let doc = std::fs::read_to_string(root().join("docs/library.md")).unwrap_or_default();
    let file = std::fs::read_to_string(root().join("examples/library.rs")).unwrap_or_default();
    assert!(!file.is_empty(), "examples/library.rs is missing");
    assert!(
        doc.contains(&format!("```rust\n{file}```\n")),
        "docs/library.md must hold examples/library.rs in a ```rust block, unchanged"
    );
}

#[test]
fn the_library_example_runs() {
    let result = example::run().map_err(|e| e.to_string());
    assert_eq!(result, Ok(()));
}
