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

#[test]
fn imports_come_through_a_source_loader_and_diagnostics_name_their_file() {
    use flow::engine::{MemoryLoader, Program};
    let loader = MemoryLoader::new()
        .with(
            "lib/moderation.flow",
            "model j = mock(reply: \"no\")\nfn flagged(t: text) = ask j \"{t}\" as bool vote 3 by majority\n",
        )
        .with("lib/broken.flow", "fn f(t: text) = ask nobody \"{t}\"\n");
    let good = "import \"./moderation.flow\" as moderation\ninput q: text\noutput o = moderation.flagged(q)\n";
    let program = match Program::compile_with("lib/bot.flow", good, &loader) {
        Ok(p) => p,
        Err(f) => panic!("{:?}", f.diagnostics),
    };
    assert!(program.graph().models.contains_key("moderation.j"));
    assert_eq!(program.source().imported.len(), 1);
    assert_eq!(program.source().imported[0].name, "lib/moderation.flow");

    let bad = "import \"./broken.flow\" as b\ninput q: text\noutput o = b.f(q)\n";
    let failure = match Program::compile_with("lib/bot.flow", bad, &loader) {
        Ok(_) => panic!("compiles"),
        Err(f) => f,
    };
    let d = failure.diagnostics.iter().next().expect("a diagnostic");
    let label = d.labels().and_then(|mut l| l.next()).expect("a label");
    let (file, text, base) = failure.source.file_at(label.offset());
    assert_eq!(file, "lib/broken.flow");
    assert_eq!(&text[label.offset() - base..][..6], "nobody");

    let missing = Program::compile_path("lib/none.flow", &loader);
    assert!(missing.is_err());
}
